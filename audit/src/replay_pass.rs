//! The audit's second pass over the log, after the chain has checked: every
//! record's Merkle leaf, re-decided by the rules, and applied to the read
//! models, with the balances and the Merkle roots snapshotted at the sizes
//! the checkpoint, the saved checkpoint and the server name. Reading and hashing run on the calling thread; the rules and
//! the read models each fold on a thread of their own
//! (`mingzhang_ledger::batch_worker`), so the three share the cores.

use std::path::Path;

use anyhow::Context;
use mingzhang_ledger::batch_worker::{BatchWorker, Batcher, PayloadBatch};
use mingzhang_ledger::merkle::{Frontier, Hash};
use mingzhang_ledger::record::{
    HEADER_LEN, PAYLOAD_LEN_MAX, RECORD_MAGIC, StoredRecord, TRAILER_LEN,
};
use mingzhang_ledger::replay::{ReplayError, ReplayThread};
use mingzhang_ledger::store::file::SEGMENT_HEADER_LEN;
use mingzhang_projections::{ProjectionError, Projections};

use crate::verify::{ProblemKind, segment_files};

/// The log sizes at which the replay keeps a snapshot of the balances.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotSizes {
    /// The signed checkpoint's size: its balances digest is compared.
    pub checkpoint: Option<u64>,
    /// The size a server says its published balances reflect.
    pub published: Option<u64>,
    /// The size of a checkpoint saved earlier (`--since`): its root is compared.
    pub since: Option<u64>,
}

/// What the read models made of the log.
pub struct Projected {
    pub projections: Projections,
    /// Records applied: all of them, or up to the first that does not apply.
    pub applied: u64,
    /// The balances digest (hex) at `SnapshotSizes::checkpoint`.
    pub digest_at_checkpoint: Option<String>,
    /// The fund balances, as a server renders them, at `SnapshotSizes::published`.
    pub funds_at_published: Option<serde_json::Value>,
    /// The first record that does not apply: seq, kind, message.
    pub not_applied: Option<(u64, ProblemKind, String)>,
}

/// What the second pass found.
pub struct ReplayPass {
    /// Records whose Merkle leaves were hashed: every whole record of the log.
    pub records: u64,
    /// The Merkle roots at the checkpoint's, the saved checkpoint's and the
    /// log's whole size, those of them the log reaches.
    pub roots: std::collections::BTreeMap<u64, Hash>,
    pub bytes_read: u64,
    pub projected: Projected,
    /// The first record the rules refuse.
    pub refused: Option<ReplayError>,
}

/// Runs the pass over the log in `log_dir`, whose chain pass counted
/// `records`; `progress` gets the bytes read.
pub fn replay(
    log_dir: &Path,
    sizes: SnapshotSizes,
    records: u64,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ReplayPass> {
    let mut tree = Frontier::new();
    let root_sizes: Vec<u64> = [sizes.checkpoint, sizes.since]
        .into_iter()
        .flatten()
        .collect();
    let mut roots = std::collections::BTreeMap::new();
    if root_sizes.contains(&0) {
        roots.insert(0, tree.root());
    }
    let mut rules = ReplayThread::spawn(records);
    let mut read_models = BatchWorker::spawn("projections", move |batches| {
        project(batches, sizes, records)
    });
    // One copy of each payload, shared by both folds.
    let mut batcher = Batcher::default();
    let mut bytes_read = 0u64;
    let (mut rules_folding, mut models_folding) = (true, true);
    let mut send = |batch: std::sync::Arc<PayloadBatch>| {
        // Either fold stops at the first record it refuses (`finish` names
        // it); the Merkle leaves go on to the end, so the signed root is
        // still checked over every record the chain holds.
        rules_folding = rules_folding && rules.send(batch.clone());
        models_folding = models_folding && read_models.send(batch);
    };
    for_each_record(log_dir, |record| {
        bytes_read += record.bytes.len() as u64;
        progress(bytes_read);
        tree.append_leaf(record.bytes);
        if root_sizes.contains(&tree.size()) {
            roots.insert(tree.size(), tree.root());
        }
        if let Some(batch) = batcher.push(record.seq(), record.payload()) {
            send(batch);
        }
        true
    })?;
    if let Some(batch) = batcher.take() {
        send(batch);
    }
    roots.insert(tree.size(), tree.root());
    Ok(ReplayPass {
        records: tree.size(),
        roots,
        bytes_read,
        refused: rules.finish().err(),
        projected: read_models.finish(),
    })
}

fn project(
    batches: std::sync::mpsc::Receiver<std::sync::Arc<PayloadBatch>>,
    sizes: SnapshotSizes,
    records: u64,
) -> Projected {
    let mut projections = Projections::default();
    projections.reserve_records(records);
    let mut projected = Projected {
        projections,
        applied: 0,
        digest_at_checkpoint: None,
        funds_at_published: None,
        not_applied: None,
    };
    let snapshot = |projected: &mut Projected| {
        if sizes.checkpoint == Some(projected.applied) {
            projected.digest_at_checkpoint =
                Some(hex::encode(projected.projections.balances_digest()));
        }
        if sizes.published == Some(projected.applied) {
            projected.funds_at_published = Some(crate::verify::funds_json(&projected.projections));
        }
    };
    snapshot(&mut projected);
    for batch in batches {
        for (seq, payload) in batch.records() {
            if let Err(error) = projected.projections.apply_payload(seq, payload) {
                let kind = match &error {
                    ProjectionError::Decode { .. } => ProblemKind::Damaged,
                    _ => ProblemKind::Mismatch,
                };
                projected.not_applied = Some((seq, kind, error.to_string()));
                return projected;
            }
            projected.applied += 1;
            snapshot(&mut projected);
        }
    }
    projected
}

/// One whole record as read from a segment, borrowed from the read buffer.
pub struct RecordView<'a> {
    pub bytes: &'a [u8],
}

impl RecordView<'_> {
    pub fn seq(&self) -> u64 {
        u64::from_le_bytes(self.bytes[8..16].try_into().expect("8 bytes"))
    }

    pub fn payload(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..self.bytes.len() - TRAILER_LEN]
    }
}

/// Calls `visit` with every whole record in order, stopping at the first
/// incomplete one (the torn tail `verify_log` has already reported) or when
/// `visit` returns false. Only used after `verify_log` passed, so a record
/// is checked for its framing and crc only: its hash and chain link were
/// checked by that pass, and the Merkle root of this one, compared with the
/// signed root, catches a byte that changed in between.
pub fn for_each_record(
    log_dir: &Path,
    mut visit: impl FnMut(RecordView<'_>) -> bool,
) -> anyhow::Result<()> {
    // Streamed: a bundle downloaded by `verify URL` is one segment of the
    // whole log, gigabytes for a big one.
    let record_len_max = HEADER_LEN + PAYLOAD_LEN_MAX + TRAILER_LEN;
    let mut bytes = Vec::with_capacity(64 << 10);
    for (_, path) in segment_files(log_dir)? {
        let file =
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut segment = std::io::BufReader::with_capacity(1 << 20, file);
        let mut header = [0u8; SEGMENT_HEADER_LEN];
        if read_whole_or_nothing(&mut segment, &mut header)? != ReadOutcome::Whole {
            continue;
        }
        loop {
            bytes.resize(8, 0);
            match read_whole_or_nothing(&mut segment, &mut bytes)? {
                ReadOutcome::Whole => {}
                ReadOutcome::Nothing => break,
                ReadOutcome::Part => return Ok(()),
            }
            let len = StoredRecord::framed_len(&bytes).expect("8 bytes hold the length");
            if len > record_len_max || bytes[..4] != RECORD_MAGIC {
                return Ok(());
            }
            bytes.resize(len, 0);
            if read_whole_or_nothing(&mut segment, &mut bytes[8..])? != ReadOutcome::Whole {
                return Ok(());
            }
            let crc_at = len - 4;
            let stored_crc = u32::from_le_bytes(bytes[crc_at..].try_into().expect("4 bytes"));
            if crc32c::crc32c(&bytes[..crc_at]) != stored_crc {
                return Ok(());
            }
            if !visit(RecordView { bytes: &bytes }) {
                return Ok(());
            }
        }
    }
    Ok(())
}
#[derive(Debug, PartialEq, Eq)]
enum ReadOutcome {
    Whole,
    /// The file ended exactly where `buf` would start.
    Nothing,
    /// The file ended inside `buf`.
    Part,
}

/// Fills `buf` from `reader`, telling an end of file before it from one inside it.
fn read_whole_or_nothing(
    reader: &mut impl std::io::Read,
    buf: &mut [u8],
) -> std::io::Result<ReadOutcome> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => {
                return Ok(if filled == 0 {
                    ReadOutcome::Nothing
                } else {
                    ReadOutcome::Part
                });
            }
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(ReadOutcome::Whole)
}
