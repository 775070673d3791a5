//! A read-only open checks what a writing open checks and changes nothing:
//! no reserved zeros, no truncated torn tail, no new file, byte for byte.

mod common;

use common::{append_one_by_one, snapshot};
use mingzhang_ledger::store::contract::numbered_payload;
use mingzhang_ledger::store::{
    EventStore, FileLog, FileLogOptions, ReadOnlyLog, StoreError, verify_log,
};

#[test]
fn a_read_only_open_reads_every_record_and_writes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let options = FileLogOptions {
        segment_bytes_max: 2500,
        reserve_bytes: 4096,
        ..FileLogOptions::default()
    };
    let (log, _) = FileLog::open(&dir, options).expect("open");
    append_one_by_one(&log, 0..40);
    log.close().expect("close");
    let before = snapshot(&dir);

    let (reader, report) = ReadOnlyLog::open(&dir).expect("read-only open");
    assert_eq!((report.records, report.torn_tail), (40, None));
    assert_eq!(reader.head().len, 40);
    let records = reader.read(0, usize::MAX).expect("read");
    assert_eq!(records.len(), 40);
    for (seq, record) in records.iter().enumerate() {
        assert_eq!(record.seq(), seq as u64);
        assert_eq!(record.payload(), numbered_payload(seq as u64));
    }
    assert_eq!(
        reader.read(38, 10).expect("read the end").len(),
        2,
        "reads stop at the last record"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert!(matches!(
        runtime.block_on(reader.append(40, vec![b"refused".to_vec()])),
        Err(StoreError::ReadOnly)
    ));
    let extents = reader.segment_extents().to_vec();
    assert_eq!(extents.len(), report.segments);
    let last = extents.last().expect("segments");
    assert!(
        (last.records_end as usize) < before[&last.name].len(),
        "the last segment's reserved zeros are not records"
    );
    drop(reader);
    assert_eq!(snapshot(&dir), before, "a read-only open changed the log");
}

#[test]
fn a_read_only_open_reports_a_torn_tail_and_leaves_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let (log, _) = FileLog::open(&dir, FileLogOptions::default()).expect("open");
    append_one_by_one(&log, 0..10);
    log.close().expect("close");
    let verified = verify_log(&dir, |_| {}).expect("verify");
    let segment = dir.join("segment-00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).expect("read");
    // Half a record past the last one, as a write cut short leaves it.
    let end = bytes.iter().rposition(|&byte| byte != 0).expect("records") + 1;
    bytes.truncate(end);
    let record = bytes[24..].to_vec();
    bytes.extend_from_slice(&record[..record.len().min(60)]);
    std::fs::write(&segment, &bytes).expect("write");
    let before = snapshot(&dir);

    let (reader, report) = ReadOnlyLog::open(&dir).expect("a torn tail opens read-only");
    let torn = report.torn_tail.expect("the torn tail is reported");
    assert_eq!(
        (torn.offset, torn.first_lost_seq),
        (end as u64, verified.records)
    );
    assert_eq!(reader.read(0, usize::MAX).expect("read").len(), 10);
    assert_eq!(reader.segment_extents()[0].records_end, end as u64);
    drop(reader);
    assert_eq!(snapshot(&dir), before, "the torn tail was repaired");
}

#[test]
fn a_read_only_open_of_a_missing_log_creates_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    assert!(matches!(ReadOnlyLog::open(&dir), Err(StoreError::Io(_))));
    assert!(!dir.exists(), "a read-only open created the log directory");
}
