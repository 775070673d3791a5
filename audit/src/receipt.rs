//! `mingzhang verify receipt FILE`: a donor's receipt checked offline, with
//! nothing but the receipt and a verifier key obtained elsewhere.

use std::path::Path;

use anyhow::Context;
use mingzhang_ledger::checkpoint::VerifierKey;
use mingzhang_ledger::receipt::Receipt;

/// What a receipt that verifies proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptFinding {
    pub seq: u64,
    pub record_hash: String,
    pub tree_size: u64,
    pub key_name: String,
}

/// Reads the verifier key at `key_path` (a C2SP note verifier key line).
pub fn read_verifier_key(key_path: &Path) -> anyhow::Result<VerifierKey> {
    let key_text = std::fs::read_to_string(key_path)
        .with_context(|| format!("reading {}", key_path.display()))?;
    VerifierKey::from_text(key_text.trim())
        .map_err(|error| anyhow::anyhow!("{}: {error}", key_path.display()))
}

/// Checks the receipt in `file`: the record's bytes, the checkpoint's
/// signature under `key`, and the inclusion proof from the record to the
/// signed root. `Err` names what failed.
pub fn check_receipt_file(file: &Path, key: &VerifierKey) -> anyhow::Result<ReceiptFinding> {
    let receipt: Receipt = serde_json::from_str(
        &std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
    )
    .with_context(|| format!("{} is not a receipt", file.display()))?;
    let verified = receipt
        .verify(key)
        .map_err(|error| anyhow::anyhow!("receipt verification FAILED: {error}"))?;
    Ok(ReceiptFinding {
        seq: verified.record.seq(),
        record_hash: hex::encode(verified.record.hash()),
        tree_size: verified.checkpoint.size(),
        key_name: key.name().to_owned(),
    })
}
