//! The on-disk record: the unit of the hash chain, the Merkle leaf and the
//! replication stream. `docs/log-format.md` is the normative description; keep
//! the two in step.
//!
//! ```text
//! offset        size  field
//! 0             4     magic "MZR1"
//! 4             4     payload_len (u32 LE, <= PAYLOAD_LEN_MAX)
//! 8             8     seq (u64 LE), 0-based global sequence number
//! 16            32    prev_hash: `hash` of record seq-1 (32 zero bytes for seq 0);
//!                     binds this record to everything before it
//! 48            N     payload: a protobuf `mingzhang.v1.EventEnvelope`
//! 48+N          32    hash = SHA-256(bytes[0 .. 48+N]); what the next record's
//!                     prev_hash repeats
//! 80+N          4     crc32c(bytes[0 .. 80+N]) (Castagnoli); tells a torn or
//!                     damaged write (crc fails) from a deliberate edit (crc holds,
//!                     hash or chain does not)
//! ```
//! All integers are little-endian.

use sha2::{Digest, Sha256};

pub const RECORD_MAGIC: [u8; 4] = *b"MZR1";
pub const HEADER_LEN: usize = 48;
pub const TRAILER_LEN: usize = 36;
/// An envelope larger than this is a bug upstream (API bodies are capped far lower).
pub const PAYLOAD_LEN_MAX: usize = 1 << 20;
pub const GENESIS_PREV_HASH: Hash = [0u8; 32];

pub type Hash = [u8; 32];

/// One record exactly as stored. The bytes are the ground truth; the accessors
/// read fields out of them.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredRecord {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StoredRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredRecord")
            .field("seq", &self.seq())
            .field("payload_len", &self.payload().len())
            .field("hash", &hex::encode(self.hash()))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("bad record magic {found:02x?}")]
    BadMagic { found: [u8; 4] },
    #[error("payload_len {len} exceeds the maximum {PAYLOAD_LEN_MAX}")]
    PayloadTooLong { len: usize },
    #[error("crc32c mismatch: stored {stored:08x}, computed {computed:08x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("hash mismatch: the record's bytes do not hash to its stored hash")]
    HashMismatch,
}

impl StoredRecord {
    /// Builds the record for `payload` at `seq`, chained to `prev_hash`.
    pub fn encode(seq: u64, prev_hash: &Hash, payload: &[u8]) -> StoredRecord {
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len() + TRAILER_LEN);
        Self::encode_into(&mut bytes, seq, prev_hash, payload);
        let record = StoredRecord { bytes };
        debug_assert!(record.check().is_ok());
        record
    }

    /// Appends the bytes of the record for `payload` at `seq` to `out` and
    /// returns its hash: exactly the bytes `encode` produces, without an
    /// allocation of its own, so a writer can encode a whole batch into one buffer.
    pub fn encode_into(out: &mut Vec<u8>, seq: u64, prev_hash: &Hash, payload: &[u8]) -> Hash {
        assert!(
            payload.len() <= PAYLOAD_LEN_MAX,
            "payload over PAYLOAD_LEN_MAX"
        );
        let start = out.len();
        out.reserve(HEADER_LEN + payload.len() + TRAILER_LEN);
        out.extend_from_slice(&RECORD_MAGIC);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(prev_hash);
        out.extend_from_slice(payload);
        let hash: Hash = Sha256::digest(&out[start..]).into();
        out.extend_from_slice(&hash);
        let crc = crc32c::crc32c(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        hash
    }

    /// Total length of the record starting at `buf[0]`, read from its header,
    /// without checking anything else. `None` if the header is incomplete.
    pub fn framed_len(buf: &[u8]) -> Option<usize> {
        let len_bytes: [u8; 4] = buf.get(4..8)?.try_into().ok()?;
        Some(HEADER_LEN + u32::from_le_bytes(len_bytes) as usize + TRAILER_LEN)
    }

    /// Parses and fully checks (magic, length, crc, hash) the record at the start
    /// of `buf`; trailing bytes are ignored. The chain link is the caller's to check.
    pub fn decode(buf: &[u8]) -> Result<StoredRecord, RecordError> {
        let view = RecordRef::check(buf)?;
        Ok(StoredRecord {
            bytes: view.bytes().to_vec(),
        })
    }

    fn check(&self) -> Result<(), RecordError> {
        RecordRef::check(&self.bytes).map(|_| ())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn seq(&self) -> u64 {
        u64::from_le_bytes(self.bytes[8..16].try_into().expect("8 bytes"))
    }

    pub fn prev_hash(&self) -> Hash {
        self.bytes[16..48].try_into().expect("32 bytes")
    }

    pub fn payload(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..self.bytes.len() - TRAILER_LEN]
    }

    pub fn hash(&self) -> Hash {
        let at = self.bytes.len() - TRAILER_LEN;
        self.bytes[at..at + 32].try_into().expect("32 bytes")
    }
}

/// A fully checked record borrowed from a larger buffer: what a scan over a
/// segment uses so that verifying costs no copy.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    bytes: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// Checks (magic, length, crc, hash) the record at the start of `buf`, as
    /// `StoredRecord::decode` does; trailing bytes are ignored. The crc is checked
    /// before the hash, so `HashMismatch` means the crc held: the bytes were
    /// written as they are and then edited, not damaged in flight.
    pub fn check(buf: &'a [u8]) -> Result<RecordRef<'a>, RecordError> {
        if buf.len() < HEADER_LEN + TRAILER_LEN {
            return Err(RecordError::Truncated {
                needed: HEADER_LEN + TRAILER_LEN,
                available: buf.len(),
            });
        }
        let magic: [u8; 4] = buf[0..4].try_into().expect("4 bytes");
        if magic != RECORD_MAGIC {
            return Err(RecordError::BadMagic { found: magic });
        }
        let payload_len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
        if payload_len > PAYLOAD_LEN_MAX {
            return Err(RecordError::PayloadTooLong { len: payload_len });
        }
        let total = HEADER_LEN + payload_len + TRAILER_LEN;
        if buf.len() < total {
            return Err(RecordError::Truncated {
                needed: total,
                available: buf.len(),
            });
        }
        let bytes = &buf[..total];
        let crc_at = total - 4;
        let stored = u32::from_le_bytes(bytes[crc_at..].try_into().expect("4 bytes"));
        let computed = crc32c::crc32c(&bytes[..crc_at]);
        if stored != computed {
            return Err(RecordError::ChecksumMismatch { stored, computed });
        }
        let hash_at = crc_at - 32;
        let computed_hash: Hash = Sha256::digest(&bytes[..hash_at]).into();
        if computed_hash[..] != bytes[hash_at..crc_at] {
            return Err(RecordError::HashMismatch);
        }
        Ok(RecordRef { bytes })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn seq(&self) -> u64 {
        u64::from_le_bytes(self.bytes[8..16].try_into().expect("8 bytes"))
    }

    pub fn prev_hash(&self) -> Hash {
        self.bytes[16..48].try_into().expect("32 bytes")
    }

    pub fn hash(&self) -> Hash {
        let at = self.bytes.len() - TRAILER_LEN;
        self.bytes[at..at + 32].try_into().expect("32 bytes")
    }

    pub fn to_stored(&self) -> StoredRecord {
        StoredRecord {
            bytes: self.bytes.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_record_decodes_to_itself_and_chains() {
        let first = StoredRecord::encode(0, &GENESIS_PREV_HASH, b"first");
        let second = StoredRecord::encode(1, &first.hash(), b"second");
        assert_eq!(StoredRecord::decode(second.bytes()).unwrap(), second);
        assert_eq!(second.prev_hash(), first.hash());
        assert_eq!(second.payload(), b"second");
        assert_eq!(second.seq(), 1);
        assert_eq!(StoredRecord::framed_len(first.bytes()), Some(first.len()));
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let record = StoredRecord::encode(7, &[9u8; 32], b"payload bytes");
        for at in 0..record.len() {
            let mut bytes = record.bytes().to_vec();
            bytes[at] ^= 0x01;
            assert!(
                StoredRecord::decode(&bytes).is_err(),
                "flip at {at} accepted"
            );
        }
    }

    #[test]
    fn edit_with_recomputed_crc_is_a_hash_mismatch_not_a_checksum_one() {
        let record = StoredRecord::encode(3, &GENESIS_PREV_HASH, b"amount 100");
        let mut bytes = record.bytes().to_vec();
        bytes[HEADER_LEN] = b'A';
        let crc_at = bytes.len() - 4;
        let crc = crc32c::crc32c(&bytes[..crc_at]);
        bytes[crc_at..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(StoredRecord::decode(&bytes), Err(RecordError::HashMismatch));
    }
}
