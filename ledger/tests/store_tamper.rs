//! Damage and tampering on a real log directory: every flipped byte, deleted,
//! reordered or re-checksummed record is reported at its segment, offset and
//! seq; a torn tail (damage above the durable watermark, where a write may
//! not have been synced) is repaired on open and not reported as tampering.

mod common;

use std::path::{Path, PathBuf};

use common::{append_one_by_one, snapshot};
use mingzhang_ledger::record::{HEADER_LEN, StoredRecord, TRAILER_LEN};
use mingzhang_ledger::store::contract::numbered_payload;
use mingzhang_ledger::store::file::{SEGMENT_HEADER_LEN, parse_segment_file_name};
use mingzhang_ledger::store::{
    EventStore, FileLog, FileLogOptions, LogPosition, StoreError, VerifyReport, verify_log,
};
use sha2::{Digest, Sha256};

const RECORDS: u64 = 30;

#[derive(Debug, Clone)]
struct RecordAt {
    segment: String,
    offset: u64,
    seq: u64,
    len: usize,
}

/// No reserved zeros: every byte of these files belongs to a record, so
/// flipping each of them tests the record format alone. Reserved space has
/// tests of its own below.
fn options() -> FileLogOptions {
    FileLogOptions {
        segment_bytes_max: 2500,
        reserve_bytes: 0,
        ..FileLogOptions::default()
    }
}

fn build_log() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let (log, _) = FileLog::open(&dir, options()).expect("open");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for seq in 0..RECORDS {
        runtime
            .block_on(log.append(seq, vec![numbered_payload(seq)]))
            .expect("append");
    }
    log.close().expect("close");
    (root, dir)
}

/// The watermark file as a power cut can leave it: from before the last
/// records were synced (its own sync comes later, lazily).
fn durable_mark_path(dir: &Path) -> PathBuf {
    dir.join("durable")
}

/// A log whose watermark lags: it was saved after `synced` records, then
/// `more` were appended and the saved watermark put back, so those records
/// are above it, where a power cut can tear them.
fn build_log_with_watermark_behind(
    options: FileLogOptions,
    synced: std::ops::Range<u64>,
    more: std::ops::Range<u64>,
    one_append: bool,
) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (log, _) = FileLog::open(&dir, options.clone()).expect("open");
    for seq in synced {
        runtime
            .block_on(log.append(seq, vec![numbered_payload(seq)]))
            .expect("append");
    }
    log.close().expect("close");
    let behind = std::fs::read(durable_mark_path(&dir)).expect("watermark");
    let (log, _) = FileLog::open(&dir, options).expect("reopen");
    if one_append {
        let first = more.start;
        runtime
            .block_on(log.append(first, more.map(numbered_payload).collect()))
            .expect("one append");
    } else {
        for seq in more {
            runtime
                .block_on(log.append(seq, vec![numbered_payload(seq)]))
                .expect("append");
        }
    }
    log.close().expect("close");
    std::fs::write(durable_mark_path(&dir), behind).expect("put the old watermark back");
    (root, dir)
}

fn segment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| parse_segment_file_name(name).is_some())
        .collect();
    names.sort();
    names
}

/// Where every record is, read independently of the log's own code.
fn layout(dir: &Path) -> Vec<RecordAt> {
    let mut records = Vec::new();
    for segment in segment_names(dir) {
        let bytes = std::fs::read(dir.join(&segment)).expect("read segment");
        let mut offset = SEGMENT_HEADER_LEN;
        while offset < bytes.len() {
            if bytes[offset..].iter().all(|&byte| byte == 0) {
                break; // space reserved for records to come
            }
            let len = StoredRecord::framed_len(&bytes[offset..]).expect("a record header");
            records.push(RecordAt {
                segment: segment.clone(),
                offset: offset as u64,
                seq: records.len() as u64,
                len,
            });
            offset += len;
        }
    }
    records
}

fn edit(dir: &Path, segment: &str, change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let path = dir.join(segment);
    let original = std::fs::read(&path).expect("read");
    let mut bytes = original.clone();
    change(&mut bytes);
    std::fs::write(&path, bytes).expect("write");
    original
}

fn restore(dir: &Path, segment: &str, original: &[u8]) {
    std::fs::write(dir.join(segment), original).expect("restore");
}

fn expect_corrupt_at(
    outcome: Result<VerifyReport, StoreError>,
    at: (&str, u64, u64),
    reason_starts: &str,
    context: &str,
) -> String {
    match outcome {
        Err(StoreError::Corrupt { position, reason }) => {
            let expected = LogPosition {
                segment: at.0.to_string(),
                offset: at.1,
                seq: at.2,
            };
            assert_eq!(position, expected, "{context}: {reason}");
            assert!(
                reason.starts_with(reason_starts),
                "{context}: reason {reason:?} should start with {reason_starts:?}"
            );
            reason
        }
        other => panic!("{context}: expected corruption at {at:?}, got {other:?}"),
    }
}

fn recompute_crc(record: &mut [u8]) {
    let crc_at = record.len() - 4;
    let crc = crc32c::crc32c(&record[..crc_at]);
    record[crc_at..].copy_from_slice(&crc.to_le_bytes());
}

fn recompute_hash_and_crc(record: &mut [u8]) {
    let hash_at = record.len() - TRAILER_LEN;
    let hash = Sha256::digest(&record[..hash_at]);
    record[hash_at..hash_at + 32].copy_from_slice(&hash);
    recompute_crc(record);
}

/// The watermark covers every record of a closed log, the last one
/// included: a flipped byte anywhere is damage, never a torn tail.
#[test]
fn every_flipped_byte_is_reported_at_its_record() {
    let (_root, dir) = build_log();
    let records = layout(&dir);
    assert_eq!(records.len() as u64, RECORDS);
    assert!(
        segment_names(&dir).len() >= 3,
        "the log spans several segments"
    );
    let last = records.last().expect("records").clone();
    let first_segment_end = records
        .iter()
        .rfind(|r| r.segment == records[0].segment)
        .expect("first segment")
        .seq;
    for record in &records {
        let every_byte =
            record.seq == 0 || record.seq == first_segment_end || record.seq == last.seq;
        let positions: Vec<usize> = if every_byte {
            (0..record.len).collect()
        } else {
            let payload_mid = HEADER_LEN + (record.len - HEADER_LEN - TRAILER_LEN) / 2;
            vec![
                0,
                3,
                4,
                7,
                8,
                15,
                16,
                47,
                48,
                payload_mid,
                record.len - 36,
                record.len - 5,
                record.len - 1,
            ]
        };
        for at in positions {
            let context = format!("seq {} byte {at}", record.seq);
            let original = edit(&dir, &record.segment, |bytes| {
                bytes[record.offset as usize + at] ^= 0x01;
            });
            expect_corrupt_at(
                verify_log(&dir, |_| {}),
                (&record.segment, record.offset, record.seq),
                "damaged: checksum failed",
                &context,
            );
            restore(&dir, &record.segment, &original);
        }
    }
    let clean = verify_log(&dir, |_| {}).expect("restored log verifies");
    assert_eq!((clean.records, clean.torn_tail), (RECORDS, None));
}

#[test]
fn open_refuses_a_damaged_log_and_changes_nothing() {
    let (_root, dir) = build_log();
    let record = layout(&dir)[12].clone();
    edit(&dir, &record.segment, |bytes| {
        bytes[record.offset as usize + 50] ^= 0x80
    });
    let damaged = std::fs::read(dir.join(&record.segment)).expect("read");
    match FileLog::open(&dir, options()) {
        Err(StoreError::Corrupt { position, reason }) => {
            assert_eq!(
                (position.offset, position.seq),
                (record.offset, record.seq),
                "{reason}"
            );
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("a damaged log opened"),
    }
    assert_eq!(
        std::fs::read(dir.join(&record.segment)).expect("read"),
        damaged
    );
}

#[test]
fn deleted_record_is_reported_where_it_went_missing() {
    let (_root, dir) = build_log();
    let records = layout(&dir);
    let inside = records
        .windows(2)
        .find(|pair| pair[0].segment == pair[1].segment && pair[0].seq > 0)
        .expect("two records in one segment")[0]
        .clone();
    let original = edit(&dir, &inside.segment, |bytes| {
        bytes.drain(inside.offset as usize..inside.offset as usize + inside.len);
    });
    let reason = expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (&inside.segment, inside.offset, inside.seq),
        "altered",
        "deleted record",
    );
    assert!(
        reason.contains(&format!("found seq {}", inside.seq + 1)),
        "{reason}"
    );
    restore(&dir, &inside.segment, &original);

    // The last record of a segment gone: the next segment no longer continues.
    let segment_end = records
        .windows(2)
        .find(|pair| pair[0].segment != pair[1].segment)
        .expect("a segment boundary");
    let (gone, next) = (segment_end[0].clone(), segment_end[1].clone());
    edit(&dir, &gone.segment, |bytes| {
        bytes.truncate(gone.offset as usize);
    });
    expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (&next.segment, 0, gone.seq),
        "missing",
        "deleted last record of a segment",
    );
}

#[test]
fn reordered_records_are_reported_at_the_first_out_of_place() {
    let (_root, dir) = build_log();
    let records = layout(&dir);
    let pair = records
        .windows(2)
        .find(|pair| pair[0].segment == pair[1].segment && pair[0].seq > 2)
        .expect("two records in one segment");
    let (first, second) = (pair[0].clone(), pair[1].clone());
    edit(&dir, &first.segment, |bytes| {
        let start = first.offset as usize;
        let end = second.offset as usize + second.len;
        let mut swapped = bytes[second.offset as usize..end].to_vec();
        swapped.extend_from_slice(&bytes[start..second.offset as usize]);
        bytes[start..end].copy_from_slice(&swapped);
    });
    let reason = expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (&first.segment, first.offset, first.seq),
        "altered",
        "swapped records",
    );
    assert!(
        reason.contains(&format!("found seq {}", second.seq)),
        "{reason}"
    );
}

#[test]
fn edit_with_recomputed_checksums_is_reported_as_altered_not_damaged() {
    let (_root, dir) = build_log();
    let records = layout(&dir);
    for target in [records[5].clone(), records.last().expect("records").clone()] {
        let payload_at = target.offset as usize + HEADER_LEN;
        let record_range = target.offset as usize..target.offset as usize + target.len;
        let original = edit(&dir, &target.segment, |bytes| {
            bytes[payload_at] ^= 0x20;
            recompute_crc(&mut bytes[record_range.clone()]);
        });
        let reason = expect_corrupt_at(
            verify_log(&dir, |_| {}),
            (&target.segment, target.offset, target.seq),
            "altered",
            &format!("edited seq {} with its crc recomputed", target.seq),
        );
        assert!(reason.contains("hash"), "{reason}");
        assert!(
            FileLog::open(&dir, options()).is_err(),
            "open refuses an altered log"
        );
        restore(&dir, &target.segment, &original);
    }

    // Hash and crc both recomputed: the record is self-consistent, the chain is not.
    let target = records[5].clone();
    let next = records[6].clone();
    edit(&dir, &target.segment, |bytes| {
        bytes[target.offset as usize + HEADER_LEN] ^= 0x20;
        recompute_hash_and_crc(
            &mut bytes[target.offset as usize..target.offset as usize + target.len],
        );
    });
    let reason = expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (&next.segment, next.offset, next.seq),
        "altered: chain broken",
        "edited with hash and crc recomputed",
    );
    assert!(reason.contains("prev_hash"), "{reason}");
}

#[test]
fn missing_middle_segment_is_reported() {
    let (_root, dir) = build_log();
    let names = segment_names(&dir);
    let records = layout(&dir);
    let first_of_second = records
        .iter()
        .find(|r| r.segment == names[1])
        .expect("second segment")
        .seq;
    std::fs::remove_file(dir.join(&names[1])).expect("remove");
    expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (&names[2], 0, first_of_second),
        "missing",
        "middle segment removed",
    );
}

/// Damages the end of a segment file, given the last record in it.
type Tear = dyn Fn(&mut Vec<u8>, &RecordAt);

#[test]
fn torn_tail_is_truncated_on_open_and_not_reported_as_tampering() {
    let mut garbage: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    garbage.retain(|b| *b != b'M');
    let tails: Vec<(&str, Box<Tear>)> = vec![
        (
            "cut mid-record",
            Box::new(|bytes, last| bytes.truncate(last.offset as usize + last.len / 2)),
        ),
        (
            "cut inside the record header",
            Box::new(|bytes, last| bytes.truncate(last.offset as usize + 5)),
        ),
        (
            "garbage after the end",
            Box::new(move |bytes, _| bytes.extend_from_slice(&garbage)),
        ),
    ];
    for (what, tear) in tails {
        let (_root, dir) =
            build_log_with_watermark_behind(options(), 0..RECORDS - 1, RECORDS - 1..RECORDS, true);
        let records = layout(&dir);
        let last = records.last().expect("records").clone();
        let original_len = std::fs::metadata(dir.join(&last.segment))
            .expect("metadata")
            .len();
        edit(&dir, &last.segment, |bytes| tear(bytes, &last));
        let torn_len = std::fs::metadata(dir.join(&last.segment))
            .expect("metadata")
            .len();
        let (lost_seq, valid_end) = if torn_len < original_len {
            (last.seq, last.offset)
        } else {
            (last.seq + 1, original_len)
        };

        let reported = verify_log(&dir, |_| {}).unwrap_or_else(|err| panic!("{what}: {err}"));
        let torn = reported
            .torn_tail
            .clone()
            .unwrap_or_else(|| panic!("{what}: no torn tail"));
        assert_eq!(
            (torn.offset, torn.first_lost_seq),
            (valid_end, lost_seq),
            "{what}"
        );
        assert_eq!(torn.bytes_dropped, torn_len - valid_end, "{what}");
        assert_eq!(
            std::fs::metadata(dir.join(&last.segment))
                .expect("metadata")
                .len(),
            torn_len,
            "verify changes nothing"
        );

        let (log, report) =
            FileLog::open(&dir, options()).unwrap_or_else(|err| panic!("{what}: open: {err}"));
        assert_eq!(report.torn_tail, Some(torn), "{what}");
        assert_eq!(log.head().len, lost_seq, "{what}");
        assert_eq!(
            std::fs::metadata(dir.join(&last.segment))
                .expect("metadata")
                .len(),
            valid_end,
            "{what}"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime
            .block_on(log.append(lost_seq, vec![b"after repair".to_vec()]))
            .unwrap_or_else(|err| panic!("{what}: append after repair: {err}"));
        log.close().expect("close");
        let clean = verify_log(&dir, |_| {}).expect("repaired log verifies");
        assert_eq!(
            (clean.records, clean.torn_tail),
            (lost_seq + 1, None),
            "{what}"
        );
    }
}

/// A power cut can keep later pages of the last write and lose an earlier one,
/// which reads back as zeros: the records after the hole are whole, but the
/// hole shows the write never finished, so this is a torn tail too.
#[test]
fn unwritten_page_inside_the_last_write_is_a_torn_tail() {
    // The last write (one append, one batch, one write of several pages) is
    // above the watermark, as when the power went before it was synced.
    let (_root, dir) =
        build_log_with_watermark_behind(FileLogOptions::default(), 0..5, 5..80, true);
    let records = layout(&dir);
    let segment = records[0].segment.clone();
    let hole_start = 8192usize;
    let first_hit = records
        .iter()
        .find(|r| r.offset as usize + r.len > hole_start)
        .expect("a record over the hole")
        .clone();
    assert!(first_hit.seq >= 5, "the hole is inside the last write");
    let original = edit(&dir, &segment, |bytes| {
        bytes[hole_start..hole_start + 4096].fill(0)
    });

    let report = verify_log(&dir, |_| {}).expect("a hole in the last write is not damage");
    let torn = report.torn_tail.expect("torn tail");
    assert_eq!(
        (torn.offset, torn.first_lost_seq),
        (first_hit.offset, first_hit.seq)
    );
    let (log, opened) = FileLog::open(&dir, FileLogOptions::default()).expect("open repairs");
    assert_eq!(
        opened.torn_tail.map(|t| t.first_lost_seq),
        Some(first_hit.seq)
    );
    assert_eq!(log.head().len, first_hit.seq);
    drop(log);

    // The same hole below the watermark, which says the write was synced,
    // is damage: nothing is truncated.
    restore(&dir, &segment, &original);
    let (log, _) = FileLog::open(&dir, FileLogOptions::default()).expect("open");
    log.close()
        .expect("close: the watermark now covers every record");
    let synced = edit(&dir, &segment, |bytes| {
        bytes[hole_start..hole_start + 4096].fill(0)
    });
    expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (&segment, first_hit.offset, first_hit.seq),
        "damaged: checksum failed",
        "a zeroed page of synced records",
    );
    restore(&dir, &segment, &synced);
    let (_root, dir) =
        build_log_with_watermark_behind(FileLogOptions::default(), 0..5, 5..80, true);

    // The same record damaged without a zeroed sector is damage, not a torn write.
    edit(&dir, &segment, |bytes| {
        bytes[first_hit.offset as usize + 60] ^= 0x01
    });
    expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (&segment, first_hit.offset, first_hit.seq),
        "damaged: checksum failed",
        "flip inside the last write",
    );
}

/// The zeros the writer keeps after the last record are space, not a torn
/// tail: verify and open find a clean log and keep them, and the next record
/// lands right after the last one, over the zeros.
#[test]
fn reserved_zeros_after_the_last_record_are_a_clean_end() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let options = FileLogOptions {
        reserve_bytes: 4096,
        ..FileLogOptions::default()
    };
    let (log, _) = FileLog::open(&dir, options.clone()).expect("open");
    append_one_by_one(&log, 0..10);
    let segment = segment_names(&dir)[0].clone();
    let end_of_records = |dir: &Path| {
        let last = layout(dir).last().expect("records").clone();
        last.offset + last.len as u64
    };
    let end = end_of_records(&dir);
    // The reserver works in the background; give it time to top up.
    let waited_since = std::time::Instant::now();
    while std::fs::metadata(dir.join(&segment))
        .expect("metadata")
        .len()
        < end + 4096
    {
        assert!(
            waited_since.elapsed() < std::time::Duration::from_secs(10),
            "no space was reserved after the last record"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    log.close().expect("close");
    let file_len = std::fs::metadata(dir.join(&segment))
        .expect("metadata")
        .len();
    assert_eq!(layout(&dir).len(), 10);

    let verified = verify_log(&dir, |_| {}).expect("verify");
    assert_eq!(
        (verified.records, verified.torn_tail, verified.bytes),
        (10, None, file_len)
    );
    let (log, opened) = FileLog::open(&dir, options.clone()).expect("reopen");
    assert_eq!((opened.records, opened.torn_tail), (10, None));
    append_one_by_one(&log, 10..11);
    log.close().expect("close");
    let records = layout(&dir);
    assert_eq!(records.len(), 11);
    assert_eq!(
        records[10].offset, end,
        "the next record goes where the records end"
    );
    assert_eq!(verify_log(&dir, |_| {}).expect("verify").torn_tail, None);

    // One stray byte in the reserved space: no record wrote it whole, so it
    // is what a torn write leaves, and open would cut it off.
    let end = end_of_records(&dir);
    edit(&dir, &segment, |bytes| bytes[end as usize + 100] = 0x55);
    let torn = verify_log(&dir, |_| {})
        .expect("a stray byte after the records is a torn tail")
        .torn_tail
        .expect("torn tail");
    assert_eq!((torn.offset, torn.first_lost_seq), (end, 11));
}

/// Only the last segment has reserved space: a segment is cut back to its
/// last record before the next one starts, and zeros at the end of an
/// earlier segment are damage.
#[test]
fn a_closed_segment_ends_at_its_last_record() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let options = FileLogOptions {
        segment_bytes_max: 2500,
        reserve_bytes: 1024,
        ..FileLogOptions::default()
    };
    let (log, _) = FileLog::open(&dir, options).expect("open");
    append_one_by_one(&log, 0..RECORDS);
    log.close().expect("close");
    let records = layout(&dir);
    assert_eq!(records.len() as u64, RECORDS);
    let segments = segment_names(&dir);
    assert!(segments.len() >= 3);
    for segment in &segments[..segments.len() - 1] {
        let last = records
            .iter()
            .rfind(|record| &record.segment == segment)
            .expect("a closed segment holds records");
        assert_eq!(
            std::fs::metadata(dir.join(segment))
                .expect("metadata")
                .len(),
            last.offset + last.len as u64,
            "{segment} ends at its last record"
        );
    }

    let first = &segments[0];
    let closed_len = std::fs::metadata(dir.join(first)).expect("metadata").len();
    let next_seq = records
        .iter()
        .find(|record| record.segment == segments[1])
        .expect("records in the second segment")
        .seq;
    edit(&dir, first, |bytes| bytes.extend([0u8; 1024]));
    expect_corrupt_at(
        verify_log(&dir, |_| {}),
        (first, closed_len, next_seq),
        "damaged",
        "zeros after a closed segment's last record",
    );
}

/// The first record that a damaged byte range reaches.
fn first_record_reaching(records: &[RecordAt], segment: &str, from: u64) -> RecordAt {
    records
        .iter()
        .find(|record| record.segment == segment && record.offset + record.len as u64 > from)
        .expect("a record reaches the damage")
        .clone()
}

/// A synced log with reserved zeros and several segments, for sector damage.
fn build_synced_log_with_reserve() -> (tempfile::TempDir, PathBuf, FileLogOptions) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let options = FileLogOptions {
        segment_bytes_max: 6000,
        reserve_bytes: 4096,
        ..FileLogOptions::default()
    };
    let (log, _) = FileLog::open(&dir, options.clone()).expect("open");
    append_one_by_one(&log, 0..80);
    log.close().expect("close");
    (root, dir, options)
}

/// One zeroed sector among synced records, with whole records after it, is
/// not a torn write wherever it is: near the end of the last segment (where
/// the reserved-space window used to call it one), at the end of a closed
/// segment, at the start of the last one, or over the very last record.
/// Open refuses, names segment, offset and seq, and changes nothing.
#[test]
fn a_zeroed_sector_among_synced_records_refuses_to_open_and_changes_nothing() {
    let (_root, dir, options) = build_synced_log_with_reserve();
    let records = layout(&dir);
    assert_eq!(records.len(), 80);
    let segments = segment_names(&dir);
    assert!(segments.len() >= 3, "the log spans several segments");
    let last_segment = segments.last().expect("segments").clone();
    let sector_at = |offset: u64| offset / 512 * 512;
    let last_of = |segment: &str| {
        records
            .iter()
            .rfind(|record| record.segment == segment)
            .expect("records")
            .clone()
    };
    let first_of = |segment: &str| {
        records
            .iter()
            .find(|record| record.segment == segment)
            .expect("records")
            .clone()
    };
    let last_record = last_of(&last_segment);
    let end_of_last = last_record.offset + last_record.len as u64;
    let cases: Vec<(&str, String, u64)> = vec![
        (
            "inside the reserved-space window, whole records after it",
            last_segment.clone(),
            sector_at(end_of_last.saturating_sub(1300).max(512)),
        ),
        (
            "over the end of a closed segment",
            segments[0].clone(),
            sector_at(last_of(&segments[0]).offset + 10),
        ),
        (
            "at the start of a segment after a boundary",
            segments[1].clone(),
            512,
        ),
        (
            "at the start of the last segment",
            last_segment.clone(),
            512,
        ),
        (
            "over the very last record and the zeros after it",
            last_segment.clone(),
            sector_at(last_record.offset + 5),
        ),
    ];
    assert!(first_of(&last_segment).offset < 512);
    for (what, segment, sector) in cases {
        let hit = first_record_reaching(&records, &segment, sector);
        let original = edit(&dir, &segment, |bytes| {
            let end = (sector as usize + 512).min(bytes.len());
            bytes[sector as usize..end].fill(0);
        });
        let before = snapshot(&dir);
        let outcome = FileLog::open(&dir, options.clone());
        let (position, reason) = match outcome {
            Err(StoreError::Corrupt { position, reason }) => (position, reason),
            Err(other) => panic!("{what}: expected corruption, got {other}"),
            Ok((_, report)) => panic!("{what}: opened, torn tail {:?}", report.torn_tail),
        };
        assert_eq!(
            position,
            LogPosition {
                segment: segment.clone(),
                offset: hit.offset,
                seq: hit.seq,
            },
            "{what}: {reason}"
        );
        assert!(
            reason.starts_with("damaged") || reason.starts_with("missing"),
            "{what}: {reason}"
        );
        assert_eq!(snapshot(&dir), before, "{what}: open changed the files");
        restore(&dir, &segment, &original);
    }
    let (log, report) = FileLog::open(&dir, options).expect("the restored log opens");
    assert_eq!((report.records, report.torn_tail), (80, None));
    drop(log);
}

mod one_damaged_sector {
    use proptest::prelude::*;

    use super::*;

    /// A synced log: its files, the options it was written with and the
    /// hash of every record (all of them acknowledged).
    struct Template {
        files: Vec<(String, Vec<u8>)>,
        options: FileLogOptions,
        hashes: Vec<Vec<u8>>,
    }

    /// The synced log every case damages a copy of, built once.
    fn template() -> &'static Template {
        static TEMPLATE: std::sync::OnceLock<Template> = std::sync::OnceLock::new();
        TEMPLATE.get_or_init(|| {
            let (_root, dir, options) = build_synced_log_with_reserve();
            let (log, _) = mingzhang_ledger::store::ReadOnlyLog::open(&dir).expect("open");
            let hashes = log
                .read(0, usize::MAX)
                .expect("read")
                .iter()
                .map(|record| record.hash().to_vec())
                .collect();
            drop(log);
            Template {
                files: snapshot(&dir).into_iter().collect(),
                options,
                hashes,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Every record of a closed log was acknowledged. Whatever one
        /// sector of any of its files suffers (zeroed, one byte flipped,
        /// overwritten with noise), open either refuses and names where, or
        /// opens with every record there, unchanged.
        #[test]
        fn never_removes_an_acknowledged_record(
            file_pick in any::<prop::sample::Index>(),
            sector_pick in any::<prop::sample::Index>(),
            kind in 0..3u8,
            byte_in_sector in 0..512usize,
            noise_seed in any::<u64>(),
        ) {
            let Template { files, options, hashes } = template();
            let root = tempfile::tempdir().expect("tempdir");
            let dir = root.path().join("log");
            std::fs::create_dir_all(&dir).expect("mkdir");
            for (name, bytes) in files {
                std::fs::write(dir.join(name), bytes).expect("write");
            }
            let (name, bytes) = &files[file_pick.index(files.len())];
            let sectors = bytes.len().div_ceil(512);
            let sector = sector_pick.index(sectors) * 512;
            let end = (sector + 512).min(bytes.len());
            let mut damaged = bytes.clone();
            match kind {
                0 => damaged[sector..end].fill(0),
                1 => {
                    let at = (sector + byte_in_sector).min(end - 1);
                    damaged[at] ^= 0x40;
                }
                _ => {
                    let mut noise = noise_seed;
                    for byte in &mut damaged[sector..end] {
                        noise = noise.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        *byte = (noise >> 56) as u8;
                    }
                }
            }
            std::fs::write(dir.join(name), &damaged).expect("damage");
            let before = snapshot(&dir);
            match FileLog::open(&dir, options.clone()) {
                Ok((log, _)) => {
                    let records = log.read(0, usize::MAX).expect("read");
                    prop_assert_eq!(records.len(), hashes.len(), "records were dropped");
                    for (record, hash) in records.iter().zip(hashes) {
                        prop_assert_eq!(&record.hash().to_vec(), hash);
                    }
                }
                Err(StoreError::Corrupt { position, reason }) => {
                    prop_assert!(
                        reason.starts_with("damaged")
                            || reason.starts_with("altered")
                            || reason.starts_with("missing"),
                        "{}", reason
                    );
                    prop_assert_eq!(&position.segment, name, "{}", reason);
                    prop_assert!(position.offset <= end as u64, "{}: {}", position, reason);
                    prop_assert_eq!(snapshot(&dir), before, "a refused open changed the files");
                }
                Err(other) => prop_assert!(false, "open failed: {}", other),
            }
        }
    }
}

/// A log from before the watermark (no `durable` file), or one whose
/// watermark's creation was cut short (a short file), opens under the
/// torn-tail rule alone and gets a whole watermark; a full-length watermark
/// with both slots damaged refuses to open, naming the file.
#[test]
fn a_missing_or_short_watermark_is_created_and_a_damaged_one_refuses() {
    let (_root, dir) = build_log();
    let mark = durable_mark_path(&dir);
    let whole = std::fs::read(&mark).expect("a closed log has a watermark");
    assert_eq!(whole.len(), 4164);

    for (what, left) in [("missing", None), ("short", Some(&whole[..100]))] {
        match left {
            None => std::fs::remove_file(&mark).expect("remove"),
            Some(bytes) => std::fs::write(&mark, bytes).expect("shorten"),
        }
        let verified = verify_log(&dir, |_| {}).unwrap_or_else(|err| panic!("{what}: {err}"));
        assert_eq!(verified.records, RECORDS, "{what}");
        let (log, report) =
            FileLog::open(&dir, options()).unwrap_or_else(|err| panic!("{what}: {err}"));
        assert_eq!(
            (report.records, report.torn_tail),
            (RECORDS, None),
            "{what}"
        );
        drop(log);
        assert_eq!(
            std::fs::read(&mark).expect("recreated").len(),
            whole.len(),
            "{what}: open wrote a whole watermark"
        );
    }

    let original = edit(&dir, "durable", |bytes| {
        bytes[10] ^= 0x01;
        bytes[4096 + 10] ^= 0x01;
    });
    let before = snapshot(&dir);
    expect_corrupt_at(
        FileLog::open(&dir, options()).map(|_| unreachable!("opened")),
        ("durable", 0, 0),
        "damaged",
        "both watermark slots damaged",
    );
    assert_eq!(snapshot(&dir), before, "a refused open changed the files");

    // One slot damaged: the other still holds a mark, and the log opens.
    restore(&dir, "durable", &original);
    edit(&dir, "durable", |bytes| bytes[4096 + 10] ^= 0x01);
    let (_, report) = FileLog::open(&dir, options()).expect("one whole slot is enough");
    assert_eq!(report.records, RECORDS);
}
