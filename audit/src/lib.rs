//! What an auditor runs, and nothing else: `verify` over a data directory, an
//! exported bundle, a running server's URL or published tlog-tiles, `export` of a bundle, and the
//! offline check of a receipt and of a flow receipt.
//!
//! **Architecture invariant:** this crate depends on `proto`, `ledger` and
//! `projections` only. It holds no HTTP or gRPC server code, so an auditor can
//! read and build the verifier without the server; it trusts nothing the
//! server computed. The server (`api`) uses the two names the two sides must
//! agree on from here: the checkpoint's balances line and the header that says
//! which log size an answer reflects.

pub mod flow_receipt;
pub mod receipt;
pub mod remote;
pub mod replay_pass;
pub mod tiles_source;
pub mod verify;

pub use verify::{AuditInputs, AuditReport, PublishedFunds, export, verify};

use mingzhang_ledger::checkpoint::Checkpoint;

/// The extension line of a checkpoint that binds the balances at its size.
pub const BALANCES_LINE_PREFIX: &str = "balances-sha256 ";

/// The checkpoint extension line carrying `digest`: the prefix, then 64
/// lowercase hex digits.
pub fn balances_line(digest: &[u8; 32]) -> String {
    format!("{BALANCES_LINE_PREFIX}{}", hex::encode(digest))
}

/// The balances digest a checkpoint carries (hex), if it carries one.
pub fn balances_digest_of(checkpoint: &Checkpoint) -> Option<String> {
    checkpoint
        .extensions()
        .iter()
        .find_map(|line| line.strip_prefix(BALANCES_LINE_PREFIX).map(str::to_owned))
}
