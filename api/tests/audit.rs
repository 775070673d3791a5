//! The auditor's `verify` over a data directory and an exported bundle: a good
//! ledger passes; an edited record, removed or zeroed records, a rewritten history and a
//! published balance that differs from the replayed one are each caught.

use std::path::Path;
use std::sync::Arc;

use mingzhang_api::transparency::{
    ProjectionsAt, Transparency, balances_digest_of, balances_line, key_paths, load_signer,
    sign_detached,
};
use mingzhang_audit::verify::{AuditInputs, ProblemKind, VerifyOptions};
use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey, VerifierKey};
use mingzhang_ledger::scenario;
use mingzhang_ledger::service::Ledger;
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, ReadOnlyLog};
use mingzhang_projections::Projections;

/// The auditor's crate under the name the tests use for its module.
mod audit {
    pub use mingzhang_audit::verify::*;
}

/// Loads the first `commands` of the Kaixuan scenario into `data_dir` and signs
/// a checkpoint over it; returns the signed note.
async fn ledger_with_checkpoint(data_dir: &Path, commands: usize) -> String {
    let (log, _) = FileLog::open(data_dir.join("log"), FileLogOptions::default()).unwrap();
    let store: Arc<dyn EventStore> = Arc::new(log);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    for (command, meta) in scenario::kaixuan().into_iter().take(commands) {
        ledger.submit(command, meta).await.unwrap();
    }
    let transparency =
        Transparency::open(data_dir, store.as_ref(), "test.mingzhang/ledger").unwrap();
    let mut projections = Projections::default();
    projections.catch_up(store.as_ref()).unwrap();
    let (_, note) = transparency.sign(store.as_ref(), &projections).unwrap();
    note
}

fn audit(data_dir: &Path, since: Option<&str>) -> audit::AuditReport {
    let options = VerifyOptions {
        since_note: since.map(str::to_owned),
        allow_unsigned: false,
        ..VerifyOptions::default()
    };
    audit_with(data_dir, &options)
}

fn audit_with(data_dir: &Path, options: &VerifyOptions) -> audit::AuditReport {
    let inputs = AuditInputs::locate(data_dir, None).unwrap();
    audit::verify(&inputs, options, |_, _| {}).unwrap()
}

/// The log's one segment (beside it is the durable watermark).
fn segment(data_dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(data_dir.join("log"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("segment-")
        })
        .unwrap()
}

fn durable_mark(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("log").join("durable")
}

fn assert_fails_with(report: &audit::AuditReport, problem: &str) {
    assert!(!report.ok);
    assert!(
        report
            .problems
            .iter()
            .any(|found| found.message.contains(problem)),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_faithful_ledger_passes_every_check() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 200).await;
    let report = audit(data.path(), None);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.records, 200);
    let checkpoint = report.checkpoint.unwrap();
    assert!(checkpoint.root_matches);
    assert_eq!(checkpoint.balances_match, Some(true));
    assert_eq!(report.trial_balance_fen, 0);
}

#[tokio::test]
async fn an_edited_record_is_caught_and_named() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 120).await;
    let path = segment(data.path());
    let mut bytes = std::fs::read(&path).unwrap();
    // Past the records the last segment holds the zeros reserved for more.
    let records_end = bytes.iter().rposition(|&byte| byte != 0).unwrap() + 1;
    bytes[records_end / 2] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let report = audit(data.path(), None);
    assert!(!report.ok);
    assert!(
        report.problems[0].message.starts_with("chain:")
            && report.problems[0].message.contains("seq"),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn removed_records_are_caught_by_the_checkpoint() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 120).await;
    // Cut the log back to 100 whole records, its durable watermark with it:
    // the chain alone still verifies.
    let shorter = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(shorter.path(), 100).await;
    std::fs::copy(segment(shorter.path()), segment(data.path())).unwrap();
    std::fs::copy(durable_mark(shorter.path()), durable_mark(data.path())).unwrap();
    assert_fails_with(&audit(data.path(), None), "records were removed");
}

#[tokio::test]
async fn records_zeroed_at_the_end_are_caught_by_the_checkpoint() {
    use mingzhang_ledger::record::StoredRecord;
    use mingzhang_ledger::store::file::{SEGMENT_HEADER_LEN, verify_log};
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 120).await;
    let path = segment(data.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let mut offset = SEGMENT_HEADER_LEN;
    for _ in 0..100 {
        offset += StoredRecord::framed_len(&bytes[offset..]).unwrap();
    }
    // Zeros from the 101st record on read as reserved space, but the
    // durable watermark says 120 records were synced.
    bytes[offset..].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let refused = verify_log(&data.path().join("log"), |_| {}).unwrap_err();
    assert!(refused.to_string().contains("missing"), "{refused}");
    // With the watermark deleted too, the chain alone verifies, 100 records long.
    std::fs::remove_file(durable_mark(data.path())).unwrap();
    let chain = verify_log(&data.path().join("log"), |_| {}).unwrap();
    assert_eq!((chain.records, chain.torn_tail), (100, None));
    assert_fails_with(&audit(data.path(), None), "records were removed");
}

#[tokio::test]
async fn a_rewritten_history_is_inconsistent_with_a_saved_checkpoint() {
    let honest = tempfile::tempdir().unwrap();
    let saved = ledger_with_checkpoint(honest.path(), 60).await;
    // The operator rebuilds the log with one gift left out, re-signs with the
    // same key: the chain and the new checkpoint are internally consistent.
    let rewritten = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(rewritten.path().join("keys")).unwrap();
    for path in [key_paths(honest.path()).0, key_paths(honest.path()).1] {
        std::fs::copy(
            &path,
            rewritten
                .path()
                .join("keys")
                .join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    {
        let (log, _) =
            FileLog::open(rewritten.path().join("log"), FileLogOptions::default()).unwrap();
        let store: Arc<dyn EventStore> = Arc::new(log);
        let ledger = Ledger::open(store.clone()).await.unwrap();
        for (index, (command, meta)) in scenario::kaixuan().into_iter().take(80).enumerate() {
            // Commands that named the dropped donor are refused, as they would be.
            if index != 5 {
                let _refused_or_recorded = ledger.submit(command, meta).await;
            }
        }
        let transparency =
            Transparency::open(rewritten.path(), store.as_ref(), "test.mingzhang/ledger").unwrap();
        let mut projections = Projections::default();
        projections.catch_up(store.as_ref()).unwrap();
        transparency.sign(store.as_ref(), &projections).unwrap();
    }
    assert!(
        audit(rewritten.path(), None).ok,
        "the rewrite is internally consistent"
    );
    let report = audit(rewritten.path(), Some(&saved));
    assert!(!report.ok);
    assert!(!report.since.unwrap().consistent);
    // The honest log extended is consistent with the same saved checkpoint.
    assert!(audit(honest.path(), Some(&saved)).since.unwrap().consistent);
}

#[tokio::test]
async fn a_published_balance_that_differs_from_the_replay_is_caught() {
    let data = tempfile::tempdir().unwrap();
    let note = ledger_with_checkpoint(data.path(), 150).await;
    let signer_text = std::fs::read_to_string(key_paths(data.path()).0).unwrap();
    let signer = SignerKey::from_text(signer_text.trim()).unwrap();
    let honest = Checkpoint::open_signed(&note, &signer.verifier()).unwrap();
    let lie = Checkpoint::new(
        honest.origin(),
        honest.size(),
        *honest.root_hash(),
        vec![balances_line(&[7u8; 32])],
    )
    .unwrap()
    .sign(&signer);
    std::fs::write(data.path().join("checkpoints").join("latest.note"), lie).unwrap();
    let report = audit(data.path(), None);
    assert!(!report.ok);
    assert_eq!(report.checkpoint.unwrap().balances_match, Some(false));
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_refused() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 30).await;
    let stranger = SignerKey::generate("mingzhang").unwrap();
    let stranger_pub = data.path().join("stranger.pub");
    std::fs::write(&stranger_pub, stranger.verifier().to_text()).unwrap();
    let inputs = AuditInputs::locate(data.path(), Some(&stranger_pub)).unwrap();
    let report = audit::verify(&inputs, &VerifyOptions::default(), |_, _| {}).unwrap();
    assert!(!report.ok);
    assert!(
        report.problems[0].message.starts_with("checkpoint:"),
        "{:?}",
        report.problems
    );
}

/// What `mingzhang export` does: the log read-only, a checkpoint signed
/// into the bundle only.
fn export_bundle(data_dir: &Path, out: &Path) {
    let (log, _) = ReadOnlyLog::open(data_dir.join("log")).unwrap();
    let mut projections = Projections::default();
    projections.catch_up(&log).unwrap();
    let signer = load_signer(data_dir).unwrap();
    let (_, note) = sign_detached(&log, &projections, &signer, "test.mingzhang/ledger").unwrap();
    let verifier = signer.verifier().to_text();
    audit::export(data_dir, out, log.segment_extents(), &note, &verifier).unwrap();
}

#[tokio::test]
async fn an_exported_bundle_verifies_with_no_server() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 100).await;
    let bundle = tempfile::tempdir().unwrap();
    let out = bundle.path().join("bundle");
    export_bundle(data.path(), &out);
    assert!(out.join("checkpoint.note").exists() && out.join("checkpoint.pub").exists());
    let exported = std::fs::read(segment(&out)).unwrap();
    assert_ne!(exported.last(), Some(&0), "the reserved zeros were copied");
    let report = audit(&out, None);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.checkpoint.unwrap().size, 100);
}

#[tokio::test]
async fn receipts_verify_offline_against_the_public_key() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 90).await;
    let (log, _) = FileLog::open(data.path().join("log"), FileLogOptions::default()).unwrap();
    let transparency = Transparency::open(data.path(), &log, "test.mingzhang/ledger").unwrap();
    let mut projections = Projections::default();
    projections.catch_up(&log).unwrap();
    let receipt = transparency.receipt(&log, &projections, 42).unwrap();
    let key = VerifierKey::from_text(
        std::fs::read_to_string(key_paths(data.path()).1)
            .unwrap()
            .trim(),
    )
    .unwrap();
    let verified = receipt.verify(&key).unwrap();
    assert_eq!(verified.record.seq(), 42);
    let mut forged = receipt.clone();
    forged.seq = 43;
    assert!(forged.verify(&key).is_err());
}

/// The server takes the projections' moment under their lock and signs after
/// letting it go, while they move on: the checkpoint binds that moment, and a
/// signer that finishes after a later one leaves the latest checkpoint alone.
#[tokio::test]
async fn a_checkpoint_signed_after_the_projections_moved_on_binds_the_moment_taken() {
    let data = tempfile::tempdir().unwrap();
    let (log, _) = FileLog::open(data.path().join("log"), FileLogOptions::default()).unwrap();
    let store: Arc<dyn EventStore> = Arc::new(log);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let mut commands = scenario::kaixuan().into_iter();
    for (command, meta) in commands.by_ref().take(100) {
        ledger.submit(command, meta).await.unwrap();
    }
    let transparency =
        Transparency::open(data.path(), store.as_ref(), "test.mingzhang/ledger").unwrap();
    let mut projections = Projections::default();
    projections.catch_up(store.as_ref()).unwrap();
    let taken = ProjectionsAt::taken_from(&projections);
    for (command, meta) in commands.take(100) {
        ledger.submit(command, meta).await.unwrap();
    }
    projections.catch_up(store.as_ref()).unwrap();
    let later = ProjectionsAt::taken_from(&projections);
    assert!(later.size > taken.size);
    assert_ne!(later.balances_digest, taken.balances_digest);

    let (size, note) = transparency.sign_at(store.as_ref(), taken).unwrap();
    assert_eq!(size, taken.size);
    let checkpoint = Checkpoint::open_signed(&note, &transparency.verifier_key()).unwrap();
    assert_eq!(checkpoint.size(), taken.size);
    assert_eq!(
        balances_digest_of(&checkpoint),
        Some(hex::encode(taken.balances_digest))
    );
    let report = audit(data.path(), None);
    assert!(report.ok, "{:?}", report.problems);

    let (later_size, later_note) = transparency.sign_at(store.as_ref(), later).unwrap();
    assert_eq!(later_size, later.size);
    let (size, note) = transparency.sign_at(store.as_ref(), taken).unwrap();
    assert_eq!((size, &note), (later_size, &later_note));
    assert_eq!(transparency.latest(), Some((later_size, later_note)));
    assert!(audit(data.path(), None).ok);
}

/// Defect: a rewritten bundle whose checkpoint was dropped passed with "only
/// the chain was checked". Now it fails as unsigned, and passes only when the
/// auditor asks for the chain alone, with a report that says so first.
#[tokio::test]
async fn a_bundle_without_its_checkpoint_fails_unless_the_chain_alone_is_asked_for() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 120).await;
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    export_bundle(data.path(), &bundle);
    std::fs::remove_file(bundle.join("checkpoint.note")).unwrap();
    std::fs::remove_file(bundle.join("checkpoint.pub")).unwrap();

    let report = audit(&bundle, None);
    assert_fails_with(&report, "no signed checkpoint");
    assert_eq!(report.exit_code(), audit::EXIT_UNSIGNED);
    assert!(
        audit::render_text(&report).starts_with("FAILED (unsigned, exit 5): no signed checkpoint"),
        "{}",
        audit::render_text(&report)
    );

    let chain_only = audit_with(
        &bundle,
        &VerifyOptions {
            since_note: None,
            allow_unsigned: true,
            ..VerifyOptions::default()
        },
    );
    assert!(chain_only.ok, "{:?}", chain_only.problems);
    assert!(chain_only.coverage.chain_only);
    assert_eq!(chain_only.exit_code(), audit::EXIT_OK);
    let text = audit::render_text(&chain_only);
    assert!(
        text.lines().next().unwrap().starts_with("CHAIN ONLY:"),
        "{text}"
    );
}

/// Defect: a correctly chained record appended after the signed checkpoint
/// (a forged donation) passed. A bundle must be signed to its end; a data
/// directory, which grows between checkpoints, reports the count.
#[tokio::test]
async fn records_after_the_signed_size_fail_a_bundle_and_are_counted_for_a_data_dir() {
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 100).await;
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    export_bundle(data.path(), &bundle);
    // The same history one record longer, chained and checksummed as the
    // writer would: only the signature is missing.
    let longer = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(longer.path(), 101).await;
    let bundle_segment = segment(&bundle);
    std::fs::copy(segment(longer.path()), &bundle_segment).unwrap();

    let report = audit(&bundle, None);
    assert_fails_with(
        &report,
        "1 records after the signed size 100 are not signed",
    );
    assert_eq!(report.exit_code(), audit::EXIT_UNSIGNED);
    assert_eq!(
        (
            report.coverage.signed_size,
            report.coverage.unsigned_records
        ),
        (100, 1)
    );
    assert!(
        report
            .problems
            .iter()
            .all(|problem| problem.kind == ProblemKind::Unsigned),
        "the signed part still matches: {:?}",
        report.problems
    );

    std::fs::copy(segment(longer.path()), segment(data.path())).unwrap();
    let report = audit(data.path(), None);
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.coverage.unsigned_records, 1);
    assert_eq!(
        report.notes,
        vec!["1 records after the signed size 100 are not signed".to_owned()]
    );
}

#[tokio::test]
async fn each_kind_of_finding_has_its_own_exit_code() {
    let data = tempfile::tempdir().unwrap();
    let note = ledger_with_checkpoint(data.path(), 60).await;
    assert_eq!(audit(data.path(), None).exit_code(), audit::EXIT_OK);

    let signer_text = std::fs::read_to_string(key_paths(data.path()).0).unwrap();
    let signer = SignerKey::from_text(signer_text.trim()).unwrap();
    let honest = Checkpoint::open_signed(&note, &signer.verifier()).unwrap();
    let wrong_root = Checkpoint::new(honest.origin(), honest.size(), [9u8; 32], vec![])
        .unwrap()
        .sign(&signer);
    let latest = data.path().join("checkpoints").join("latest.note");
    std::fs::write(&latest, wrong_root).unwrap();
    assert_eq!(audit(data.path(), None).exit_code(), audit::EXIT_MISMATCH);
    std::fs::write(&latest, &note).unwrap();

    let path = segment(data.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let records_end = bytes.iter().rposition(|&byte| byte != 0).unwrap() + 1;
    bytes[records_end / 3] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(audit(data.path(), None).exit_code(), audit::EXIT_DAMAGED);
}

/// An event the rules refuse, appended as the writer appends, with its chain
/// computed and the checkpoint re-signed over it by the operator's own key:
/// everything the operator can recompute holds, and the re-deciding replay
/// names the record and the rule.
#[tokio::test]
async fn a_refused_event_with_its_chain_recomputed_and_the_checkpoint_re_signed_is_named() {
    use mingzhang_ledger::merkle::{self, MemoryTree};
    use mingzhang_proto::Message;
    use mingzhang_proto::v1::{self as pb, event_envelope::Event};
    let data = tempfile::tempdir().unwrap();
    ledger_with_checkpoint(data.path(), 60).await;
    let forged = pb::EventEnvelope {
        recorded_at_unix_ms: scenario::unix_ms_at_0900_cst("2015-10-01"),
        actor: "operator:kaixuan-01".into(),
        event: Some(Event::DonationReceived(pb::DonationReceived {
            donation_id: "forged-999999".into(),
            donor_id: "nobody-registered".into(),
            fund_id: scenario::CHARITY_FUND_ID.into(),
            amount_fen: 99_999_900,
            channel: pb::Channel::Online as i32,
            received_on: "2015-10-01".into(),
            ..pb::DonationReceived::default()
        })),
        ..pb::EventEnvelope::default()
    };
    let forged_seq = {
        let (log, _) = FileLog::open(data.path().join("log"), FileLogOptions::default()).unwrap();
        let seq = log.head().len;
        log.append(seq, vec![forged.encode_to_vec()]).await.unwrap();
        log.close().unwrap();
        seq
    };
    let (log, _) = ReadOnlyLog::open(data.path().join("log")).unwrap();
    let size = log.head().len;
    let mut tree = MemoryTree::new();
    for record in log.read(0, size as usize).unwrap() {
        tree.append_leaf(record.bytes());
    }
    let root = merkle::root_from_leaves(tree.leaf_hashes());
    let signer = load_signer(data.path()).unwrap();
    let note = Checkpoint::new("test.mingzhang/ledger", size, root, vec![])
        .unwrap()
        .sign(&signer);
    std::fs::write(data.path().join("checkpoints").join("latest.note"), note).unwrap();

    let report = audit(data.path(), None);
    assert!(!report.ok);
    assert_eq!(report.exit_code(), audit::EXIT_MISMATCH);
    let checkpoint = report.checkpoint.clone().unwrap();
    assert!(
        checkpoint.root_matches,
        "the re-signed root holds: {:?}",
        report.problems
    );
    assert_eq!(
        (report.records, report.replayed_records),
        (size, forged_seq)
    );
    let expected = format!("record seq {forged_seq}: refused by the rules: donor_id: ");
    assert!(
        report.problems[0].message.starts_with(&expected)
            && report.problems[0].message.ends_with("[not_found]"),
        "{:?}",
        report.problems
    );
}
