//! The audit's two passes over the log after the files are listed.
//!
//! The first pass ([`first_pass`]) checks the chain (`verify_log`, on the
//! calling thread) and hands the bytes of each record it checked to a thread
//! of its own that hashes their Merkle leaves: the chain check is SHA-256 on
//! one core, so on two the leaves cost the audit little time there. The
//! second pass ([`replay`]) re-decides every record by the rules and applies
//! it to the read models, each folding on a thread of its own
//! (`mingzhang_ledger::batch_worker`) while the calling thread reads, with
//! the balances snapshotted at the sizes the checkpoint and the server name.
//!
//! The two passes read the files separately, so each also computes a
//! [`ReadTag`] of the record bytes it took in, under a key drawn for this
//! audit alone: equal tags show the replay took in the very bytes whose
//! Merkle root was compared with the signed one, even if the files changed
//! in between.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use mingzhang_ledger::batch_worker::{BatchWorker, Batcher, PayloadBatch};
use mingzhang_ledger::merkle::{Frontier, Hash};
use mingzhang_ledger::record::{
    HEADER_LEN, PAYLOAD_LEN_MAX, RECORD_MAGIC, StoredRecord, TRAILER_LEN,
};
use mingzhang_ledger::replay::{ReplayError, ReplayThread};
use mingzhang_ledger::store::StoreError;
use mingzhang_ledger::store::file::{SEGMENT_HEADER_LEN, VerifyReport, verify_log_visiting};
use mingzhang_projections::{ProjectionError, Projections};
use poly1305::universal_hash::{KeyInit, UniversalHash};

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

/// The key of one audit's [`ReadTag`]s: random, never shown, never reused.
pub struct ReadKey([u8; 32]);

impl ReadKey {
    pub fn generate() -> ReadKey {
        ReadKey(rand::random())
    }

    fn start(&self) -> ReadTagger {
        ReadTagger(poly1305::Poly1305::new(poly1305::Key::from_slice(&self.0)))
    }
}

/// A Poly1305 tag of the records one pass read, each padded to 16 bytes (a
/// record's length is in its header, so the padded sequence still tells
/// every sequence of records apart). Under a secret random key, two
/// different sequences of n 16-byte blocks get the same tag with a chance of
/// at most 8n / 2^106 whatever their bytes (about 2^-76 for a log of 2 GB):
/// a changed file cannot be made to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTag([u8; 16]);

struct ReadTagger(poly1305::Poly1305);

impl ReadTagger {
    fn add(&mut self, record_bytes: &[u8]) {
        self.0.update_padded(record_bytes);
    }

    fn finish(self) -> ReadTag {
        ReadTag(self.0.finalize().into())
    }
}

/// What the first pass found besides the chain.
pub struct MerklePass {
    /// Records hashed: every record whose chain checked.
    pub records: u64,
    /// The roots at the sizes asked for that the log reaches, and at its
    /// whole size.
    pub roots: BTreeMap<u64, Hash>,
    pub read_tag: ReadTag,
}

/// Record bytes handed from the chain check to the Merkle thread at a time.
const MERKLE_BATCH_BYTES: usize = 1 << 20;

/// The first pass over the log in `log_dir`: the chain checked on the
/// calling thread (`verify_log`), which also tags each record as it goes,
/// and the Merkle leaves of the same bytes hashed on a thread of its own,
/// keeping the roots at `root_sizes` and at the whole size. The chain check
/// is SHA-256 on one core, so on two the leaves take it little longer.
pub fn first_pass(
    log_dir: &Path,
    root_sizes: &[u64],
    read_key: &ReadKey,
    progress: impl FnMut(u64),
) -> (Result<VerifyReport, StoreError>, MerklePass) {
    std::thread::scope(|scope| {
        // Two batches in flight: the chain check never waits for the leaves
        // of the batch before last.
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let merkle = std::thread::Builder::new()
            .name("merkle".to_owned())
            .spawn_scoped(scope, move || merkle_roots(received, root_sizes))
            .expect("a thread for the Merkle leaves");
        let mut tagger = read_key.start();
        let mut batch = Vec::with_capacity(MERKLE_BATCH_BYTES);
        let chain = verify_log_visiting(log_dir, progress, |record| {
            tagger.add(record);
            batch.extend_from_slice(record);
            if batch.len() >= MERKLE_BATCH_BYTES {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(MERKLE_BATCH_BYTES));
                // The Merkle thread ends only when the batches do.
                let _ = batches.send(full);
            }
        });
        let _ = batches.send(batch);
        drop(batches);
        let (records, roots) = merkle.join().expect("the Merkle thread does not panic");
        let merkle = MerklePass {
            records,
            roots,
            read_tag: tagger.finish(),
        };
        (chain, merkle)
    })
}

/// Folds the records in `batches` (whole records, back to back) into a
/// Merkle frontier: the number of leaves and the roots kept.
fn merkle_roots(
    batches: std::sync::mpsc::Receiver<Vec<u8>>,
    root_sizes: &[u64],
) -> (u64, BTreeMap<u64, Hash>) {
    let mut tree = Frontier::new();
    let mut roots = BTreeMap::new();
    if root_sizes.contains(&0) {
        roots.insert(0, tree.root());
    }
    for batch in batches {
        let mut rest = batch.as_slice();
        while !rest.is_empty() {
            let len = StoredRecord::framed_len(rest).expect("the chain check framed it");
            tree.append_leaf(&rest[..len]);
            rest = &rest[len..];
            if root_sizes.contains(&tree.size()) {
                roots.insert(tree.size(), tree.root());
            }
        }
    }
    roots.insert(tree.size(), tree.root());
    (tree.size(), roots)
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
    /// Records read: the first pass's count, unless the files lost some since.
    pub records: u64,
    pub bytes_read: u64,
    pub projected: Projected,
    /// The first record the rules refuse.
    pub refused: Option<ReplayError>,
    /// The tag of the records read, to compare with [`MerklePass::read_tag`].
    pub read_tag: ReadTag,
}

/// Runs the second pass over the first `records` records of the log in
/// `log_dir` (those the first pass hashed); `progress` gets the bytes read.
pub fn replay(
    log_dir: &Path,
    sizes: SnapshotSizes,
    records: u64,
    read_key: &ReadKey,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ReplayPass> {
    let mut rules = ReplayThread::spawn(records);
    let mut read_models = BatchWorker::spawn("projections", move |batches| {
        project(batches, sizes, records)
    });
    // One copy of each payload, shared by both folds.
    let mut batcher = Batcher::default();
    let mut tagger = read_key.start();
    let (mut read, mut bytes_read) = (0u64, 0u64);
    let (mut rules_folding, mut models_folding) = (true, true);
    let mut send = |batch: std::sync::Arc<PayloadBatch>| {
        // Either fold stops at the first record it refuses (`finish` names
        // it); reading goes on to the end, so the read tag covers every
        // record the first pass hashed.
        rules_folding = rules_folding && rules.send(batch.clone());
        models_folding = models_folding && read_models.send(batch);
    };
    for_each_record(log_dir, RecordCheck::Framing, |record| {
        // A record out of place (the files changed since the first pass)
        // ends the reading: the folds take records in order only, and the
        // read tag then differs from the first pass's.
        if read == records || record.seq() != read {
            return false;
        }
        read += 1;
        bytes_read += record.bytes.len() as u64;
        progress(bytes_read);
        tagger.add(record.bytes);
        if let Some(batch) = batcher.push(record.seq(), record.payload()) {
            send(batch);
        }
        true
    })?;
    if let Some(batch) = batcher.take() {
        send(batch);
    }
    Ok(ReplayPass {
        records: read,
        bytes_read,
        refused: rules.finish().err(),
        projected: read_models.finish(),
        read_tag: tagger.finish(),
    })
}

fn project(
    batches: std::sync::mpsc::Receiver<std::sync::Arc<PayloadBatch>>,
    sizes: SnapshotSizes,
    records: u64,
) -> Projected {
    let mut projections = Projections::default();
    projections.reserve_records(records);
    let mut applied = 0u64;
    let mut digest_at_checkpoint = None;
    let mut funds_at_published = None;
    let mut snapshot = |projections: &Projections, applied: u64| {
        if sizes.checkpoint == Some(applied) {
            digest_at_checkpoint = Some(hex::encode(projections.balances_digest()));
        }
        if sizes.published == Some(applied) {
            funds_at_published = Some(crate::verify::funds_json(projections));
        }
    };
    snapshot(&projections, applied);
    let mut not_applied = None;
    for batch in batches {
        let outcome = projections.apply_payloads(batch.records(), |projections| {
            applied += 1;
            snapshot(projections, applied);
        });
        if let Err(error) = outcome {
            let kind = match &error {
                ProjectionError::Decode { .. } => ProblemKind::Damaged,
                _ => ProblemKind::Mismatch,
            };
            not_applied = Some((applied, kind, error.to_string()));
            break;
        }
    }
    Projected {
        projections,
        applied,
        digest_at_checkpoint,
        funds_at_published,
        not_applied,
    }
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

/// How much of a record [`for_each_record`] checks before visiting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordCheck {
    /// Its framing and crc: a record whose crc fails ends the walk.
    FramingAndCrc,
    /// Its framing only, for the second pass: it reads no further than the
    /// first pass counted, and its read tag shows every byte it read is one
    /// the first pass read, whose crcs that pass checked.
    Framing,
}

/// Calls `visit` with every whole record in order, stopping at the first
/// incomplete one (the torn tail `verify_log` has already reported) or when
/// `visit` returns false. A record is checked for its framing and (with
/// `RecordCheck::FramingAndCrc`) its crc only: its hash and chain link are
/// `verify_log`'s to check, and the Merkle root (compared with the signed
/// root) and the read tags catch a byte that differs between that pass's
/// reading and these.
pub fn for_each_record(
    log_dir: &Path,
    check: RecordCheck,
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
            if check == RecordCheck::FramingAndCrc {
                let crc_at = len - 4;
                let stored_crc = u32::from_le_bytes(bytes[crc_at..].try_into().expect("4 bytes"));
                if crc32c::crc32c(&bytes[..crc_at]) != stored_crc {
                    return Ok(());
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions};

    fn append(dir: &Path, payloads: std::ops::Range<u64>) {
        let (log, _) = FileLog::open(dir, FileLogOptions::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for seq in payloads {
            let payload = format!("payload {seq:03}").into_bytes();
            runtime.block_on(log.append(seq, vec![payload])).unwrap();
        }
        log.close().unwrap();
    }

    fn replay_all(dir: &Path, records: u64, key: &ReadKey) -> ReplayPass {
        replay(dir, SnapshotSizes::default(), records, key, |_| {}).unwrap()
    }

    /// Rewrites the payload "payload 007" as "payload 700" and fixes the
    /// record's crc, as someone changing the file between the passes would.
    fn rewrite_record_7(dir: &Path) {
        let (_, path) = segment_files(dir).unwrap().remove(0);
        let mut bytes = std::fs::read(&path).unwrap();
        let mut at = SEGMENT_HEADER_LEN;
        loop {
            let len = StoredRecord::framed_len(&bytes[at..]).unwrap();
            let record = &mut bytes[at..at + len];
            if let Some(found) = record.windows(11).position(|w| w == b"payload 007") {
                record[found + 8..found + 11].copy_from_slice(b"700");
                let crc = crc32c::crc32c(&record[..len - 4]);
                record[len - 4..].copy_from_slice(&crc.to_le_bytes());
                break;
            }
            at += len;
        }
        std::fs::write(&path, bytes).unwrap();
    }

    #[test]
    fn the_replay_reads_the_bytes_the_merkle_pass_hashed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("log");
        append(&dir, 0..20);
        let key = ReadKey::generate();
        let (chain, merkle) = first_pass(&dir, &[5], &key, |_| {});
        assert_eq!(chain.unwrap().records, 20);
        assert_eq!(merkle.records, 20);
        assert_eq!(merkle.roots.keys().copied().collect::<Vec<_>>(), [5, 20]);
        let pass = replay_all(&dir, merkle.records, &key);
        assert_eq!(pass.records, 20);
        assert_eq!(pass.read_tag, merkle.read_tag);
    }

    #[test]
    fn a_record_rewritten_between_the_passes_changes_the_read_tag() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("log");
        append(&dir, 0..20);
        let key = ReadKey::generate();
        let merkle = first_pass(&dir, &[], &key, |_| {}).1;
        rewrite_record_7(&dir);
        let pass = replay_all(&dir, merkle.records, &key);
        assert_eq!(pass.records, 20, "the rewritten record still frames");
        assert_ne!(pass.read_tag, merkle.read_tag);
        // Checked afresh, the rewritten record breaks the chain.
        let (chain, _) = first_pass(&dir, &[], &key, |_| {});
        assert!(chain.is_err());
    }

    #[test]
    fn a_record_moved_out_of_place_between_the_passes_ends_the_replay() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("log");
        append(&dir, 0..20);
        let key = ReadKey::generate();
        let (_, merkle) = first_pass(&dir, &[], &key, |_| {});
        // Record 7 now says it is record 9, its crc fixed.
        let (_, path) = segment_files(&dir).unwrap().remove(0);
        let mut bytes = std::fs::read(&path).unwrap();
        let mut at = SEGMENT_HEADER_LEN;
        for _ in 0..7 {
            at += StoredRecord::framed_len(&bytes[at..]).unwrap();
        }
        let len = StoredRecord::framed_len(&bytes[at..]).unwrap();
        bytes[at + 8..at + 16].copy_from_slice(&9u64.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[at..at + len - 4]);
        bytes[at + len - 4..at + len].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let pass = replay_all(&dir, merkle.records, &key);
        assert_eq!(pass.records, 7);
        assert_ne!(pass.read_tag, merkle.read_tag);
    }

    #[test]
    fn records_appended_after_the_first_pass_are_not_replayed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("log");
        append(&dir, 0..20);
        let key = ReadKey::generate();
        let merkle = first_pass(&dir, &[], &key, |_| {}).1;
        append(&dir, 20..30);
        let pass = replay_all(&dir, merkle.records, &key);
        assert_eq!(pass.records, 20);
        assert_eq!(pass.read_tag, merkle.read_tag);
    }

    #[test]
    fn a_tag_under_another_key_differs() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("log");
        append(&dir, 0..3);
        let first = first_pass(&dir, &[], &ReadKey::generate(), |_| {}).1;
        let second = first_pass(&dir, &[], &ReadKey::generate(), |_| {}).1;
        assert_eq!(first.roots, second.roots);
        assert_ne!(first.read_tag, second.read_tag);
    }
}
