//! Receipts: everything a donor or auditor needs to prove, offline and
//! without trusting us, that one record is in the log a signed checkpoint
//! commits to. JSON shape and a by-hand check are in `docs/proofs.md`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError, VerifierKey};
use crate::merkle::{self, Hash, PROOF_LEN_MAX, ProofError};
use crate::record::{RecordError, StoredRecord};

/// A record, its inclusion proof and the signed checkpoint the proof leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The record's sequence number = its leaf index.
    pub seq: u64,
    /// Base64 (standard, padded) of the exact stored record bytes.
    pub record: String,
    /// Tree size the proof is for; equals the checkpoint's size.
    pub tree_size: u64,
    /// Audit path, nearest sibling first, each hash as 64 lowercase hex digits.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

/// What a successful `verify` established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub record: StoredRecord,
    pub checkpoint: Checkpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("record: not valid base64")]
    RecordNotBase64,
    #[error("record: damaged: {0}")]
    RecordDamaged(RecordError),
    #[error("record: {extra} bytes follow the record")]
    RecordTrailingBytes { extra: usize },
    #[error("seq: receipt says {receipt} but the record is seq {record}")]
    SeqMismatch { receipt: u64, record: u64 },
    #[error("checkpoint: {0}")]
    Checkpoint(CheckpointError),
    #[error("tree_size: receipt says {receipt} but the checkpoint says {checkpoint}")]
    TreeSizeMismatch { receipt: u64, checkpoint: u64 },
    #[error("seq: {seq} is not in a tree of size {tree_size}")]
    SeqBeyondTree { seq: u64, tree_size: u64 },
    #[error("inclusion_proof[{position}]: {reason}")]
    BadProofHash {
        position: usize,
        reason: &'static str,
    },
    #[error("inclusion_proof: {0}")]
    Proof(ProofError),
}

impl Receipt {
    /// Assembles a receipt. `proof` must be the inclusion proof of `record`
    /// in the tree of the checkpoint's size; the size is read from the
    /// (not yet verified) note so the two cannot disagree.
    pub fn build(
        record: &StoredRecord,
        proof: &[Hash],
        signed_checkpoint: &str,
    ) -> Result<Receipt, ReceiptError> {
        let body = signed_checkpoint
            .rfind("\n\n")
            .map(|split| &signed_checkpoint[..split + 1])
            .ok_or(ReceiptError::Checkpoint(CheckpointError::MalformedNote {
                reason: "no blank line before the signatures",
            }))?;
        let checkpoint = Checkpoint::parse_body(body).map_err(ReceiptError::Checkpoint)?;
        if record.seq() >= checkpoint.size() {
            return Err(ReceiptError::SeqBeyondTree {
                seq: record.seq(),
                tree_size: checkpoint.size(),
            });
        }
        Ok(Receipt {
            seq: record.seq(),
            record: BASE64.encode(record.bytes()),
            tree_size: checkpoint.size(),
            inclusion_proof: proof.iter().map(hex::encode).collect(),
            checkpoint: signed_checkpoint.to_owned(),
        })
    }

    /// Checks, in order: the record's own crc and hash, that it is the
    /// receipt's seq, the checkpoint's signature by `key`, that the sizes
    /// agree, and the inclusion proof against the checkpoint's root.
    pub fn verify(&self, key: &VerifierKey) -> Result<VerifiedReceipt, ReceiptError> {
        let bytes = BASE64
            .decode(&self.record)
            .map_err(|_| ReceiptError::RecordNotBase64)?;
        let record = StoredRecord::decode(&bytes).map_err(ReceiptError::RecordDamaged)?;
        if record.len() != bytes.len() {
            return Err(ReceiptError::RecordTrailingBytes {
                extra: bytes.len() - record.len(),
            });
        }
        if record.seq() != self.seq {
            return Err(ReceiptError::SeqMismatch {
                receipt: self.seq,
                record: record.seq(),
            });
        }
        let checkpoint =
            Checkpoint::open_signed(&self.checkpoint, key).map_err(ReceiptError::Checkpoint)?;
        if checkpoint.size() != self.tree_size {
            return Err(ReceiptError::TreeSizeMismatch {
                receipt: self.tree_size,
                checkpoint: checkpoint.size(),
            });
        }
        if self.seq >= self.tree_size {
            return Err(ReceiptError::SeqBeyondTree {
                seq: self.seq,
                tree_size: self.tree_size,
            });
        }
        if self.inclusion_proof.len() > PROOF_LEN_MAX {
            return Err(ReceiptError::BadProofHash {
                position: PROOF_LEN_MAX,
                reason: "more hashes than any tree needs",
            });
        }
        let proof = self
            .inclusion_proof
            .iter()
            .enumerate()
            .map(|(position, text)| decode_hash(position, text))
            .collect::<Result<Vec<Hash>, ReceiptError>>()?;
        merkle::verify_inclusion(
            &merkle::leaf_hash(record.bytes()),
            self.seq,
            self.tree_size,
            &proof,
            checkpoint.root_hash(),
        )
        .map_err(ReceiptError::Proof)?;
        Ok(VerifiedReceipt { record, checkpoint })
    }
}

fn decode_hash(position: usize, text: &str) -> Result<Hash, ReceiptError> {
    let canonical =
        text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !canonical {
        return Err(ReceiptError::BadProofHash {
            position,
            reason: "must be 64 lowercase hex digits",
        });
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).expect("checked hex above");
    Ok(hash)
}
