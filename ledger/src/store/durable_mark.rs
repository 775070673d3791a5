//! The durable watermark: the file `durable` beside the segments, saying how
//! many records were synced (see docs/log-format.md, "The durable
//! watermark"). Damage below it is corruption whatever follows it; only
//! above it can damage be a torn write.
//!
//! Two slots, a page apart, are written in turn, so a write torn by a power
//! cut spoils at most the slot it was writing and the other one still holds
//! an earlier, valid mark.

use std::io;
use std::path::Path;

use super::storage::{Storage, StorageFile, read_full_at};
use crate::record::{GENESIS_PREV_HASH, Hash};

pub const DURABLE_MARK_FILE_NAME: &str = "durable";
pub const DURABLE_MARK_MAGIC: [u8; 8] = *b"MZDURABL";
/// magic (8) + seq (8) + segment (8) + offset (8) + hash (32) + crc32c (4).
pub const DURABLE_MARK_SLOT_LEN: usize = 68;
/// Slot `n` starts at `n * DURABLE_MARK_SLOT_STRIDE`: a page apart, so no
/// torn write reaches both.
pub const DURABLE_MARK_SLOT_STRIDE: u64 = 4096;
pub const DURABLE_MARK_FILE_LEN: u64 = DURABLE_MARK_SLOT_STRIDE + DURABLE_MARK_SLOT_LEN as u64;

/// Records `[0, seq)` were synced; the last of them ends at `offset` in the
/// segment whose first seq is `segment`, and its hash is `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurableMark {
    pub seq: u64,
    pub segment: u64,
    pub offset: u64,
    pub hash: Hash,
}

impl DurableMark {
    /// The mark of an empty log.
    pub fn empty(header_len: u64) -> DurableMark {
        DurableMark {
            seq: 0,
            segment: 0,
            offset: header_len,
            hash: GENESIS_PREV_HASH,
        }
    }

    pub fn encode(&self) -> [u8; DURABLE_MARK_SLOT_LEN] {
        let mut slot = [0u8; DURABLE_MARK_SLOT_LEN];
        slot[0..8].copy_from_slice(&DURABLE_MARK_MAGIC);
        slot[8..16].copy_from_slice(&self.seq.to_le_bytes());
        slot[16..24].copy_from_slice(&self.segment.to_le_bytes());
        slot[24..32].copy_from_slice(&self.offset.to_le_bytes());
        slot[32..64].copy_from_slice(&self.hash);
        let crc = crc32c::crc32c(&slot[0..64]);
        slot[64..68].copy_from_slice(&crc.to_le_bytes());
        slot
    }

    /// The mark a slot holds, if it is whole.
    pub fn decode(slot: &[u8]) -> Option<DurableMark> {
        if slot.len() < DURABLE_MARK_SLOT_LEN || slot[0..8] != DURABLE_MARK_MAGIC {
            return None;
        }
        let stored = u32::from_le_bytes(slot[64..68].try_into().expect("4 bytes"));
        if crc32c::crc32c(&slot[0..64]) != stored {
            return None;
        }
        let u64_at = |at: usize| u64::from_le_bytes(slot[at..at + 8].try_into().expect("8 bytes"));
        Some(DurableMark {
            seq: u64_at(8),
            segment: u64_at(16),
            offset: u64_at(24),
            hash: slot[32..64].try_into().expect("32 bytes"),
        })
    }
}

/// What the watermark file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkFile {
    /// No file, or one shorter than both slots: its creation never finished
    /// (it is created whole and never changes length), so no mark in it was
    /// ever synced. The log is treated as one written before the watermark.
    Absent,
    /// The higher of the whole slots, and the slot it is in.
    Found { mark: DurableMark, slot: usize },
    /// Both slots are damaged although the file was created whole.
    Damaged,
}

pub fn read_mark_file<S: Storage>(storage: &S, dir: &Path) -> io::Result<MarkFile> {
    if !storage
        .list_dir(dir)?
        .iter()
        .any(|name| name == DURABLE_MARK_FILE_NAME)
    {
        return Ok(MarkFile::Absent);
    }
    let file = storage.open_read(&dir.join(DURABLE_MARK_FILE_NAME))?;
    if file.file_len()? < DURABLE_MARK_FILE_LEN {
        return Ok(MarkFile::Absent);
    }
    let mut best: Option<(DurableMark, usize)> = None;
    for slot in 0..2 {
        let mut bytes = [0u8; DURABLE_MARK_SLOT_LEN];
        read_full_at(&file, slot as u64 * DURABLE_MARK_SLOT_STRIDE, &mut bytes)?;
        if let Some(mark) = DurableMark::decode(&bytes)
            && best.is_none_or(|(held, _)| mark.seq > held.seq)
        {
            best = Some((mark, slot));
        }
    }
    Ok(match best {
        Some((mark, slot)) => MarkFile::Found { mark, slot },
        None => MarkFile::Damaged,
    })
}

/// Writes `mark` into `slot` of an open watermark file, with one `pwrite`.
pub fn write_mark<F: StorageFile + ?Sized>(
    file: &F,
    slot: usize,
    mark: &DurableMark,
) -> io::Result<()> {
    file.write_at(slot as u64 * DURABLE_MARK_SLOT_STRIDE, &mark.encode())
}

#[cfg(test)]
mod tests {
    use super::{DURABLE_MARK_SLOT_LEN, DurableMark};

    #[test]
    fn a_slot_decodes_to_the_mark_it_encodes_and_any_flip_spoils_it() {
        let mark = DurableMark {
            seq: 812_345,
            segment: 800_000,
            offset: 123_456_789,
            hash: [7u8; 32],
        };
        let slot = mark.encode();
        assert_eq!(DurableMark::decode(&slot), Some(mark));
        for at in 0..DURABLE_MARK_SLOT_LEN {
            let mut flipped = slot;
            flipped[at] ^= 0x10;
            assert_eq!(DurableMark::decode(&flipped), None, "byte {at}");
        }
        assert_eq!(DurableMark::decode(&[0u8; DURABLE_MARK_SLOT_LEN]), None);
    }
}
