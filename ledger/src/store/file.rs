//! Embedded segment-file backend: see docs/log-format.md.
//!
//! Group commit. A caller's `append` chains and encodes its records itself,
//! under a short lock, into chunks queued for the syncers: seqs and hashes
//! follow call order, and no thread hand-over stands between a caller and
//! the disk. Two syncer threads take turns: the one whose turn it is takes the
//! queued chunks and writes them, then, while the other takes the next turn,
//! `fdatasync`s, publishes the new durable length and only then completes the
//! callers' futures. So two `fdatasync`s are in flight, and the callers
//! released by one are already encoding their next records: the disk's
//! latency overlaps the CPU's work instead of adding to it. A reserver thread
//! keeps zeros written ahead of the records, so an `fdatasync` finds the
//! file's blocks and length on disk already. Readers use their own file
//! handles and a sparse in-memory index (just a cache, rebuilt on open) and
//! never see a record before it is durable.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use tokio::sync::{oneshot, watch};

use super::durable_mark::{
    DURABLE_MARK_FILE_LEN, DURABLE_MARK_FILE_NAME, DurableMark, MarkFile, read_mark_file,
    write_mark,
};
use super::storage::{RealStorage, Storage, StorageFile, read_full_at};
use super::{AppendFuture, EventStore, Head, LogPosition, RecordMeta, StoreError, SyncStats};
use crate::record::{
    GENESIS_PREV_HASH, HEADER_LEN, Hash, PAYLOAD_LEN_MAX, RECORD_MAGIC, RecordError, RecordRef,
    StoredRecord, TRAILER_LEN,
};

/// First bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"MZLOGSEG";
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// magic (8) + format version (4) + first_seq (8) + crc32c of the 20 bytes before (4).
pub const SEGMENT_HEADER_LEN: usize = 24;
/// The writer never has more unsynced bytes in flight than this (plus one record),
/// whatever its options say; open relies on it to bound what a torn write can reach.
pub const BATCH_BYTES_LIMIT: usize = 32 << 20;
/// The zeros kept written ahead of the last record, whatever the options say,
/// are at most twice this.
pub const RESERVE_BYTES_LIMIT: u64 = 16 << 20;
/// The reserver writes zeros in pieces this large, each written back before
/// the next.
const RESERVE_PIECE_BYTES: usize = 128 << 10;
/// How far from the end of the last segment a torn write can reach: the
/// unsynced bytes plus the zeros reserved after them.
pub const TORN_WRITE_BYTES_MAX: u64 =
    (BATCH_BYTES_LIMIT + HEADER_LEN + PAYLOAD_LEN_MAX + TRAILER_LEN) as u64
        + 2 * RESERVE_BYTES_LIMIT;
/// Disks tear writes at sector granularity at the finest.
const SECTOR_BYTES: u64 = 512;
/// A zero run this long ending on a sector boundary is taken as a sector never
/// written; records themselves hold at most about a dozen zero bytes in a row
/// outside payloads (the high bytes of payload_len and seq).
const UNWRITTEN_ZERO_RUN_MIN: u64 = 32;

const SCAN_CHUNK_BYTES: usize = 8 << 20;
const READ_CHUNK_BYTES: usize = 64 << 10;

#[derive(Debug, Clone)]
pub struct FileLogOptions {
    /// A segment that holds at least one record is closed once the next record
    /// would take it past this size.
    pub segment_bytes_max: u64,
    /// Records one `write` carries at most.
    pub batch_records_max: usize,
    /// Bytes written between two `fdatasync`s at most (<= `BATCH_BYTES_LIMIT`).
    pub batch_bytes_max: usize,
    /// Records queued for the syncer at most; `append` blocks its caller for
    /// room beyond this (back-pressure, reached only when the disk falls behind).
    pub queue_records_max: usize,
    /// The in-memory index remembers the offset of every n-th record.
    pub index_every_records: u64,
    /// Zeros a background thread keeps written and synced ahead of the last
    /// record of the active segment, topped up this much at a time
    /// (<= `RESERVE_BYTES_LIMIT`). Records then land in blocks the file
    /// already has, so an `fdatasync` has only data to flush, not the
    /// metadata of the file's new size and blocks as well. 0: the file
    /// grows with each write.
    pub reserve_bytes: u64,
    /// While the chunks the syncers write average at least this many bytes,
    /// no zeros are reserved: the records go into the file as it grows.
    /// Zeros cost the disk as much as the records they make room for; what
    /// they save is one metadata commit per `fdatasync`, a few blocks of
    /// journal, which chunks this large outweigh. Chunk sizes vary widely
    /// under the same load, hence the average.
    pub bulk_chunk_bytes: u64,
}

impl Default for FileLogOptions {
    fn default() -> FileLogOptions {
        FileLogOptions {
            segment_bytes_max: 256 << 20,
            batch_records_max: 4096,
            batch_bytes_max: 16 << 20,
            queue_records_max: 1 << 16,
            index_every_records: 64,
            reserve_bytes: 8 << 20,
            bulk_chunk_bytes: 32 << 10,
        }
    }
}

impl FileLogOptions {
    fn assert_valid(&self) {
        assert!(self.segment_bytes_max > SEGMENT_HEADER_LEN as u64);
        assert!(self.batch_records_max > 0);
        assert!(self.batch_bytes_max > 0 && self.batch_bytes_max * SYNCERS <= BATCH_BYTES_LIMIT);
        assert!(self.queue_records_max > 0);
        assert!(self.index_every_records > 0);
        assert!(self.reserve_bytes <= RESERVE_BYTES_LIMIT);
    }
}

/// The tail a crash left half-written, dropped (by open) or to be dropped (as
/// reported by `verify_log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub segment: String,
    pub offset: u64,
    pub first_lost_seq: u64,
    pub bytes_dropped: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    pub segments: usize,
    pub records: u64,
    pub torn_tail: Option<TornTail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: usize,
    pub records: u64,
    /// Bytes of all segment files read, torn tail included.
    pub bytes: u64,
    pub last_hash: Hash,
    /// What open would truncate; `None` for a clean log.
    pub torn_tail: Option<TornTail>,
}

pub fn segment_file_name(first_seq: u64) -> String {
    format!("segment-{first_seq:020}.log")
}

/// The first_seq a segment file name stands for; `None` for any other file.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub fn encode_segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

/// The first_seq of a well-formed segment header, or why it is not one.
fn decode_segment_header(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err(format!(
            "segment header is truncated: {} of {SEGMENT_HEADER_LEN} bytes",
            bytes.len()
        ));
    }
    let stored = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&bytes[0..20]);
    if stored != computed {
        return Err(format!(
            "segment header checksum failed: stored {stored:08x}, computed {computed:08x}"
        ));
    }
    if bytes[0..8] != SEGMENT_MAGIC {
        return Err(format!("bad segment magic {:02x?}", &bytes[0..8]));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != SEGMENT_FORMAT_VERSION {
        return Err(format!("unknown segment format version {version}"));
    }
    Ok(u64::from_le_bytes(
        bytes[12..20].try_into().expect("8 bytes"),
    ))
}

fn corrupt(segment: &str, offset: u64, seq: u64, reason: String) -> StoreError {
    StoreError::Corrupt {
        position: LogPosition {
            segment: segment.to_string(),
            offset,
            seq,
        },
        reason,
    }
}

/// Reads a file in large sequential chunks, handing out slices of it.
struct ChunkReader<'f, F: StorageFile> {
    file: &'f F,
    file_len: u64,
    chunk_bytes: usize,
    buf: Vec<u8>,
    buf_start: u64,
    buf_len: usize,
}

impl<'f, F: StorageFile> ChunkReader<'f, F> {
    fn new(file: &'f F, file_len: u64, chunk_bytes: usize) -> Self {
        ChunkReader {
            file,
            file_len,
            chunk_bytes,
            buf: Vec::new(),
            buf_start: 0,
            buf_len: 0,
        }
    }

    /// Up to `want` bytes at `offset`; fewer only at the end of the file.
    fn get(&mut self, offset: u64, want: usize) -> io::Result<&[u8]> {
        assert!(offset <= self.file_len, "read past the known end");
        let want = want.min((self.file_len - offset) as usize);
        let buf_end = self.buf_start + self.buf_len as u64;
        if offset >= self.buf_start && offset + want as u64 <= buf_end {
            let at = (offset - self.buf_start) as usize;
            return Ok(&self.buf[at..at + want]);
        }
        let read_len = want
            .max(self.chunk_bytes)
            .min((self.file_len - offset) as usize);
        if self.buf.len() < read_len {
            self.buf.resize(read_len, 0);
        }
        let n = read_full_at(self.file, offset, &mut self.buf[..read_len])?;
        self.buf_start = offset;
        self.buf_len = n;
        Ok(&self.buf[..want.min(n)])
    }
}

/// The offset of the first record after `from` whose crc holds (whatever its
/// hash), if any: a record written whole after the damage.
fn find_written_record_after<F: StorageFile>(
    file: &F,
    from: u64,
    file_len: u64,
) -> io::Result<Option<u64>> {
    let mut reader = ChunkReader::new(file, file_len, SCAN_CHUNK_BYTES);
    let mut window_start = from;
    while window_start + RECORD_MAGIC.len() as u64 <= file_len {
        let window = reader.get(window_start, SCAN_CHUNK_BYTES)?.to_vec();
        let mut candidates = Vec::new();
        for (at, four) in window.windows(RECORD_MAGIC.len()).enumerate() {
            if four == RECORD_MAGIC {
                candidates.push(window_start + at as u64);
            }
        }
        for candidate in candidates {
            let probe = reader.get(candidate, 8)?;
            let Some(framed) = StoredRecord::framed_len(probe) else {
                continue;
            };
            let bytes = reader.get(
                candidate,
                framed.min(HEADER_LEN + PAYLOAD_LEN_MAX + TRAILER_LEN),
            )?;
            match RecordRef::check(bytes) {
                Ok(_) | Err(RecordError::HashMismatch) => return Ok(Some(candidate)),
                Err(_) => {}
            }
        }
        if window.len() < SCAN_CHUNK_BYTES {
            break;
        }
        // Overlap by 3 bytes so a magic split across windows is still seen.
        window_start += (window.len() - (RECORD_MAGIC.len() - 1)) as u64;
    }
    Ok(None)
}

/// Whether every byte from `offset` to the end of the file is zero: space
/// the writer reserved that no record has reached yet.
fn is_reserved_space<F: StorageFile>(file: &F, offset: u64, file_len: u64) -> io::Result<bool> {
    let mut reader = ChunkReader::new(file, file_len, SCAN_CHUNK_BYTES);
    let mut at = offset;
    while at < file_len {
        let bytes = reader.get(at, SCAN_CHUNK_BYTES)?;
        if bytes.is_empty() {
            break;
        }
        if bytes.iter().any(|&byte| byte != 0) {
            return Ok(false);
        }
        at += bytes.len() as u64;
    }
    Ok(true)
}

/// Whether `damaged` (the bytes from a damaged record's first byte, at file
/// offset `damaged_at`, up to the next whole record) shows a sector a torn write
/// never reached: a run of zeros ending on a sector boundary that either starts
/// at the damaged record's first byte or is at least `UNWRITTEN_ZERO_RUN_MIN`
/// long. Flipped or edited bytes leave no such run.
fn shows_unwritten_sector(damaged: &[u8], damaged_at: u64) -> bool {
    let mut i = 0;
    while i < damaged.len() {
        if damaged[i] != 0 {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < damaged.len() && damaged[i] == 0 {
            i += 1;
        }
        let start = damaged_at + run_start as u64;
        let end = damaged_at + i as u64;
        let needed = if run_start == 0 {
            1
        } else {
            UNWRITTEN_ZERO_RUN_MIN
        };
        let boundary = (start + needed).div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
        if boundary <= end {
            return true;
        }
    }
    false
}

struct ScannedSegment {
    name: String,
    first_seq: u64,
    /// Header plus whole, checked records.
    valid_len: u64,
    sparse: Vec<(u64, u64)>,
}

enum Repair {
    Truncate { segment: String, len: u64 },
    Remove { segment: String },
}

struct Scan {
    /// What the durable watermark file held; the log was checked against it.
    mark_file: MarkFile,
    segments: Vec<ScannedSegment>,
    head: Head,
    bytes: u64,
    torn_tail: Option<TornTail>,
    repair: Option<Repair>,
}

/// Walks every segment of the log in `dir` and checks everything: headers,
/// segment continuity, every record's crc and hash, seqs and the chain, and
/// that every record below the durable watermark is there, whole, as the
/// watermark describes it. Changes nothing.
fn scan_log<S: Storage>(
    storage: &S,
    dir: &Path,
    index_every_records: Option<u64>,
    progress: &mut dyn FnMut(u64),
    visit: &mut dyn FnMut(&[u8]),
) -> Result<Scan, StoreError> {
    // The watermark first: a writer running meanwhile moves it only after
    // the records (and segments) it counts are there, so a reader that
    // lists the segments afterwards finds them.
    let mark_file = read_mark_file(storage, dir)?;
    let mut names: Vec<(u64, String)> = storage
        .list_dir(dir)?
        .into_iter()
        .filter_map(|name| Some((parse_segment_file_name(&name)?, name)))
        .collect();
    names.sort();
    let mark = match mark_file {
        MarkFile::Found { mark, .. } => mark,
        MarkFile::Absent => DurableMark::empty(SEGMENT_HEADER_LEN as u64),
        MarkFile::Damaged => {
            return Err(corrupt(
                DURABLE_MARK_FILE_NAME,
                0,
                0,
                "damaged: neither slot of the durable watermark checks".to_string(),
            ));
        }
    };
    // Records below the watermark were synced: their damage is never a torn write.
    let below_mark = |seq: u64| seq < mark.seq;
    let mut scan = Scan {
        mark_file,
        segments: Vec::new(),
        head: Head {
            len: 0,
            last_hash: GENESIS_PREV_HASH,
        },
        bytes: 0,
        torn_tail: None,
        repair: None,
    };
    let segment_count = names.len();
    for (position, (name_seq, name)) in names.into_iter().enumerate() {
        let is_last = position + 1 == segment_count;
        let expected_seq = scan.head.len;
        if name_seq != expected_seq {
            return Err(corrupt(
                &name,
                0,
                expected_seq,
                format!(
                    "missing: this segment starts at seq {name_seq} but the log so far ends before seq \
                     {expected_seq}: a segment is missing, renamed or out of order"
                ),
            ));
        }
        let file = storage.open_read(&dir.join(&name))?;
        let file_len = file.file_len()?;
        let bytes_before = scan.bytes;
        let mut reader = ChunkReader::new(&file, file_len, SCAN_CHUNK_BYTES);
        match decode_segment_header(reader.get(0, SEGMENT_HEADER_LEN)?) {
            Ok(header_seq) if header_seq == name_seq => {}
            Ok(header_seq) => {
                return Err(corrupt(
                    &name,
                    0,
                    expected_seq,
                    format!(
                        "altered: the segment header says first_seq {header_seq}, its file name says {name_seq}"
                    ),
                ));
            }
            Err(reason) => {
                let written_after = find_written_record_after(&file, 0, file_len)?;
                if is_last && written_after.is_none() && !below_mark(expected_seq) {
                    scan.torn_tail = Some(TornTail {
                        segment: name.clone(),
                        offset: 0,
                        first_lost_seq: expected_seq,
                        bytes_dropped: file_len,
                        reason: format!("torn segment creation: {reason}"),
                    });
                    scan.repair = Some(Repair::Remove { segment: name });
                    scan.bytes += file_len;
                    break;
                }
                return Err(corrupt(
                    &name,
                    0,
                    expected_seq,
                    format!("damaged: {reason}"),
                ));
            }
        }
        let mut segment = ScannedSegment {
            name: name.clone(),
            first_seq: name_seq,
            valid_len: SEGMENT_HEADER_LEN as u64,
            sparse: vec![(name_seq, SEGMENT_HEADER_LEN as u64)],
        };
        let mut offset = SEGMENT_HEADER_LEN as u64;
        let mut reported_at = 0u64;
        while offset < file_len {
            let seq = scan.head.len;
            let probe = reader.get(offset, 8)?;
            let framed = StoredRecord::framed_len(probe)
                .unwrap_or(probe.len())
                .min(HEADER_LEN + PAYLOAD_LEN_MAX + TRAILER_LEN);
            let bytes = reader.get(offset, framed)?;
            let record = match RecordRef::check(bytes) {
                Ok(record) => record,
                Err(RecordError::HashMismatch) => {
                    return Err(corrupt(
                        &name,
                        offset,
                        seq,
                        "altered: the record's crc holds but its bytes do not hash to its stored hash \
                         (edited after it was written)"
                            .to_string(),
                    ));
                }
                Err(_) if is_last && is_reserved_space(&file, offset, file_len)? => break,
                Err(damage) if below_mark(seq) => {
                    return Err(corrupt(
                        &name,
                        offset,
                        seq,
                        format!(
                            "damaged: checksum failed ({damage}) below the durable watermark \
                             (seq {}): the record was synced, so this is not a torn tail",
                            mark.seq
                        ),
                    ));
                }
                Err(damage) => {
                    let written_after = find_written_record_after(&file, offset + 1, file_len)?;
                    let torn = is_last
                        && match written_after {
                            None => true,
                            Some(next) => {
                                file_len - offset <= TORN_WRITE_BYTES_MAX && {
                                    let mut gap = vec![0u8; (next - offset) as usize];
                                    read_full_at(&file, offset, &mut gap)?;
                                    shows_unwritten_sector(&gap, offset)
                                }
                            }
                        };
                    if !torn {
                        let why = match written_after {
                            _ if !is_last => "in a segment that is not the last".to_string(),
                            Some(next) => format!(
                                "a whole record follows at offset {next}, so this is not a torn tail"
                            ),
                            None => {
                                unreachable!("a damaged last record in the last segment is torn")
                            }
                        };
                        return Err(corrupt(
                            &name,
                            offset,
                            seq,
                            format!("damaged: checksum failed ({damage}); {why}"),
                        ));
                    }
                    scan.torn_tail = Some(TornTail {
                        segment: name.clone(),
                        offset,
                        first_lost_seq: seq,
                        bytes_dropped: file_len - offset,
                        reason: damage.to_string(),
                    });
                    scan.repair = Some(Repair::Truncate {
                        segment: name.clone(),
                        len: offset,
                    });
                    break;
                }
            };
            if record.seq() != seq {
                return Err(corrupt(
                    &name,
                    offset,
                    seq,
                    format!(
                        "altered: found seq {} where seq {seq} belongs (a record was deleted, inserted or reordered)",
                        record.seq()
                    ),
                ));
            }
            if record.prev_hash() != scan.head.last_hash {
                return Err(corrupt(
                    &name,
                    offset,
                    seq,
                    format!(
                        "altered: chain broken: prev_hash {} is not the hash of the record before ({})",
                        hex::encode(record.prev_hash()),
                        hex::encode(scan.head.last_hash)
                    ),
                ));
            }
            if let Some(every) = index_every_records
                && seq.is_multiple_of(every)
                && seq != name_seq
            {
                segment.sparse.push((seq, offset));
            }
            scan.head = Head {
                len: seq + 1,
                last_hash: record.hash(),
            };
            visit(&bytes[..record.len()]);
            offset += record.len() as u64;
            segment.valid_len = offset;
            if scan.head.len == mark.seq
                && (name_seq, offset, scan.head.last_hash) != (mark.segment, mark.offset, mark.hash)
            {
                return Err(corrupt(
                    &name,
                    offset - record.len() as u64,
                    seq,
                    format!(
                        "altered: the durable watermark says seq {seq} ends at offset {} of the \
                         segment starting at seq {} with hash {}",
                        mark.offset,
                        mark.segment,
                        hex::encode(mark.hash)
                    ),
                ));
            }
            if offset - reported_at >= SCAN_CHUNK_BYTES as u64 {
                reported_at = offset;
                progress(bytes_before + offset);
            }
        }
        scan.bytes = bytes_before + file_len;
        progress(scan.bytes);
        scan.segments.push(segment);
    }
    if below_mark(scan.head.len) {
        let (segment, offset) = scan
            .segments
            .last()
            .map_or((segment_file_name(mark.segment), 0), |last| {
                (last.name.clone(), last.valid_len)
            });
        return Err(corrupt(
            &segment,
            offset,
            scan.head.len,
            format!(
                "missing: the log ends at seq {} but the durable watermark says {} records were synced",
                scan.head.len, mark.seq
            ),
        ));
    }
    Ok(scan)
}

/// Checks a log directory read-only, everything open checks, and reports the
/// torn tail open would truncate without truncating it. `progress` is called
/// with the bytes read so far.
pub fn verify_log(dir: &Path, progress: impl FnMut(u64)) -> Result<VerifyReport, StoreError> {
    verify_log_on(&RealStorage, dir, progress)
}

pub fn verify_log_on<S: Storage>(
    storage: &S,
    dir: &Path,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    verify_log_visiting_on(storage, dir, progress, |_| {})
}

/// `verify_log`, handing `visit` the bytes of each record, in log order,
/// once its crc, hash, seq and chain link have checked: an audit hashes
/// the Merkle leaves of the very bytes whose chain it checked.
pub fn verify_log_visiting(
    dir: &Path,
    progress: impl FnMut(u64),
    visit: impl FnMut(&[u8]),
) -> Result<VerifyReport, StoreError> {
    verify_log_visiting_on(&RealStorage, dir, progress, visit)
}

fn verify_log_visiting_on<S: Storage>(
    storage: &S,
    dir: &Path,
    mut progress: impl FnMut(u64),
    mut visit: impl FnMut(&[u8]),
) -> Result<VerifyReport, StoreError> {
    let scan = scan_log(storage, dir, None, &mut progress, &mut visit)?;
    Ok(VerifyReport {
        segments: scan.segments.len(),
        records: scan.head.len,
        bytes: scan.bytes,
        last_hash: scan.head.last_hash,
        torn_tail: scan.torn_tail,
    })
}

struct SegmentIndex<F> {
    first_seq: u64,
    name: String,
    reader: Arc<F>,
    /// (seq, offset) of the first record and of every `index_every_records`-th.
    sparse: Vec<(u64, u64)>,
}

struct Index<F> {
    segments: Vec<SegmentIndex<F>>,
}

/// Whom to tell, and what, once an append's records are durable.
type Completion = (
    oneshot::Sender<Result<Vec<RecordMeta>, StoreError>>,
    Vec<RecordMeta>,
);

/// Records their callers encoded, for the syncer to write with one `write`.
struct Chunk {
    /// The segment to create, starting at this seq, before writing `bytes`.
    new_segment: Option<u64>,
    bytes: Vec<u8>,
    records: usize,
    end_seq: u64,
    last_hash: Hash,
    /// The first seq of the segment `bytes` land in, and where they end in it.
    segment_first_seq: u64,
    end_offset: u64,
    /// (seq, offset) entries for the sparse index of the segment `bytes` land in.
    index_entries: Vec<(u64, u64)>,
    completions: Vec<Completion>,
}

/// The tip of the chain as callers extend it, ahead of the disk.
struct Chain {
    next_seq: u64,
    prev_hash: Hash,
    /// First seq of the segment the last chunk lands in.
    segment_first_seq: u64,
    /// Length and record count of the segment the last chunk lands in, as
    /// they will be once every chunk is written.
    segment_len: u64,
    segment_records: u64,
    chunks: VecDeque<Chunk>,
    /// Records in `chunks`.
    queued_records: usize,
    /// Buffers of chunks written already, emptied, for the next chunks: a
    /// fresh buffer of a few hundred kilobytes costs page faults as it grows,
    /// which took 7% of the CPU with 256 writers.
    spare_buffers: Vec<Vec<u8>>,
    failed: Option<String>,
    closing: bool,
}

impl Chain {
    /// Encodes `payloads` as the next records, each chained to the one before,
    /// into the chunks waiting for the syncer.
    fn encode(&mut self, payloads: &[Vec<u8>], options: &FileLogOptions) -> Vec<RecordMeta> {
        let mut metas = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let record_len = HEADER_LEN + payload.len() + TRAILER_LEN;
            if self.segment_records > 0
                && self.segment_len + record_len as u64 > options.segment_bytes_max
            {
                self.segment_first_seq = self.next_seq;
                self.start_chunk(Some(self.next_seq));
                self.segment_len = SEGMENT_HEADER_LEN as u64;
                self.segment_records = 0;
            } else if self.chunks.back().is_none_or(|chunk| {
                chunk.records >= options.batch_records_max
                    || chunk.bytes.len() + record_len > options.batch_bytes_max
            }) {
                self.start_chunk(None);
            }
            let seq = self.next_seq;
            let chunk = self.chunks.back_mut().expect("a chunk was started");
            // A segment's first record is in its index from the start.
            if seq.is_multiple_of(options.index_every_records) && self.segment_records > 0 {
                chunk.index_entries.push((seq, self.segment_len));
            }
            let hash = StoredRecord::encode_into(&mut chunk.bytes, seq, &self.prev_hash, payload);
            chunk.records += 1;
            chunk.end_seq = seq + 1;
            chunk.last_hash = hash;
            metas.push(RecordMeta { seq, hash });
            self.prev_hash = hash;
            self.next_seq += 1;
            self.segment_len += record_len as u64;
            self.segment_records += 1;
            chunk.end_offset = self.segment_len;
            self.queued_records += 1;
        }
        metas
    }

    fn start_chunk(&mut self, new_segment: Option<u64>) {
        self.chunks.push_back(Chunk {
            new_segment,
            bytes: self.spare_buffers.pop().unwrap_or_default(),
            records: 0,
            end_seq: self.next_seq,
            last_hash: self.prev_hash,
            segment_first_seq: self.segment_first_seq,
            end_offset: self.segment_len,
            index_entries: Vec::new(),
            completions: Vec::new(),
        });
    }
}

struct Shared<S: Storage> {
    storage: S,
    dir: PathBuf,
    options: FileLogOptions,
    chain: Mutex<Chain>,
    /// Chunks wait for the syncer, or the log closes.
    work_ready: Condvar,
    /// The syncer took the queued chunks: room for callers held back.
    room_ready: Condvar,
    durable_len: AtomicU64,
    head: Mutex<Head>,
    durable_tx: watch::Sender<u64>,
    index: RwLock<Index<S::File>>,
    sync_stats: Mutex<SyncStats>,
    reserve: Reserve<S::File>,
    writer: Mutex<Writer<S::File>>,
    /// Chunks written and not yet known to be durable, in seq order.
    awaiting: Mutex<VecDeque<Written<S::File>>>,
    mark: Mutex<MarkWriter<S::File>>,
    /// The log closes: the marker syncs the watermark one last time.
    mark_closing: Condvar,
}

/// The durable watermark as the syncers move it and the marker syncs it.
struct MarkWriter<F> {
    file: Arc<F>,
    /// The slot the next mark goes to: not the one holding the latest.
    next_slot: usize,
    /// Marks were written since the last `fdatasync` of the file.
    dirty: bool,
    closing: bool,
}

/// How long a mark written after a power cut can stay unsynced at most: the
/// records synced meanwhile are above the watermark on disk, where damage
/// may be taken for a torn write.
const MARK_SYNC_INTERVAL: Duration = Duration::from_millis(50);

/// The end of the active segment, as the syncers and the reserver share it.
struct Reservation<F> {
    file: Arc<F>,
    /// Where the next record goes: the end of the records written so far.
    written: u64,
    /// The file's length; from `written` up to here it holds zeros.
    file_len: u64,
    /// The reserver is writing zeros from `file_len` on, a piece at a time;
    /// a write that would reach past `file_len` waits for the piece.
    zeroing: bool,
    /// A syncer waits to close the segment: the reserver stops zeroing it.
    rolling: bool,
    /// A syncer caught up with the zeros: the reserver stops zeroing for a
    /// while.
    overtaken: bool,
    /// Bytes per chunk claimed, a moving average (the last eight weigh
    /// about two thirds).
    chunk_bytes_average: u64,
    /// The reserver starts zeroing again once `written` reaches this.
    resume_at: u64,
    closing: bool,
}

struct Reserve<F> {
    state: Mutex<Reservation<F>>,
    changed: Condvar,
    /// `FileLogOptions::reserve_bytes`.
    step: u64,
    /// `FileLogOptions::bulk_chunk_bytes`.
    bulk_chunk_bytes: u64,
}

impl<F> Reserve<F> {
    /// The reservation of the active segment `file`, whose records end at
    /// `written` and whose length is `file_len`.
    fn new(
        file: Arc<F>,
        written: u64,
        file_len: u64,
        step: u64,
        bulk_chunk_bytes: u64,
    ) -> Reserve<F> {
        Reserve {
            state: Mutex::new(Reservation {
                file,
                written,
                file_len,
                zeroing: false,
                rolling: false,
                overtaken: false,
                chunk_bytes_average: 0,
                resume_at: 0,
                closing: false,
            }),
            changed: Condvar::new(),
            step,
            bulk_chunk_bytes,
        }
    }

    /// Records come in chunks large enough to go without zeros.
    fn bulk(&self, state: &Reservation<F>) -> bool {
        state.chunk_bytes_average >= self.bulk_chunk_bytes
    }

    /// Whether the reserver has zeros to write: fewer than `step` are left
    /// after the records, and the records come in small chunks.
    fn wants_zeros(&self, state: &Reservation<F>) -> bool {
        self.step > 0 && !self.bulk(state) && state.file_len - state.written < self.step
    }

    /// The offset in the active segment where `len` bytes of records go,
    /// claimed; wakes the reserver once fewer than `step` zeros are left
    /// after small chunks.
    fn claim(&self, len: u64) -> u64 {
        let mut state = self.state.lock();
        let end = state.written + len;
        if end > state.file_len && state.zeroing {
            if end > state.file_len + RESERVE_PIECE_BYTES as u64 {
                // Records come faster than zeros: the reserver stops after
                // its current piece and the file grows with the records for
                // a while.
                state.overtaken = true;
            }
            while end > state.file_len && state.zeroing {
                self.changed.wait(&mut state);
            }
        }
        let offset = state.written;
        state.written = end;
        state.file_len = state.file_len.max(end);
        state.chunk_bytes_average = (state.chunk_bytes_average * 7 + len) / 8;
        if self.wants_zeros(&state) {
            self.changed.notify_all();
        }
        offset
    }
}

/// The embedded, hash-chained, durable segment-file log.
pub struct FileLog<S: Storage = RealStorage> {
    shared: Arc<Shared<S>>,
    syncers: Mutex<Vec<JoinHandle<()>>>,
    reserver: Mutex<Option<JoinHandle<()>>>,
    marker: Mutex<Option<JoinHandle<()>>>,
}

impl FileLog<RealStorage> {
    /// Opens the log in `dir`, creating it if missing; checks every record and
    /// repairs a torn tail (see `OpenReport`).
    pub fn open(
        dir: impl AsRef<Path>,
        options: FileLogOptions,
    ) -> Result<(FileLog<RealStorage>, OpenReport), StoreError> {
        FileLog::open_on(RealStorage, dir, options)
    }
}

impl<S: Storage> FileLog<S> {
    pub fn open_on(
        storage: S,
        dir: impl AsRef<Path>,
        options: FileLogOptions,
    ) -> Result<(FileLog<S>, OpenReport), StoreError> {
        options.assert_valid();
        let dir = dir.as_ref().to_path_buf();
        storage.create_dir_all(&dir)?;
        let scan = scan_log(
            &storage,
            &dir,
            Some(options.index_every_records),
            &mut |_| {},
            &mut |_| {},
        )?;
        match &scan.repair {
            None => {}
            Some(Repair::Truncate { segment, len }) => {
                let file = storage.open_rw(&dir.join(segment))?;
                file.truncate(*len)?;
                file.sync_data()?;
            }
            Some(Repair::Remove { segment }) => {
                storage.remove(&dir.join(segment))?;
                storage.sync_dir(&dir)?;
            }
        }
        if let Some(torn) = &scan.torn_tail {
            tracing::warn!(
                segment = %torn.segment,
                offset = torn.offset,
                first_lost_seq = torn.first_lost_seq,
                bytes_dropped = torn.bytes_dropped,
                reason = %torn.reason,
                "truncated the torn tail of the log"
            );
        }
        let report = OpenReport {
            segments: scan.segments.len(),
            records: scan.head.len,
            torn_tail: scan.torn_tail.clone(),
        };
        let last_valid_len = scan.segments.last().map(|segment| segment.valid_len);
        // Where the last record ends: a segment holding none is the last,
        // started just before a crash, and the record is in the one before.
        let head_mark = scan
            .segments
            .iter()
            .rfind(|segment| segment.valid_len > SEGMENT_HEADER_LEN as u64)
            .map_or(DurableMark::empty(SEGMENT_HEADER_LEN as u64), |segment| {
                DurableMark {
                    seq: scan.head.len,
                    segment: segment.first_seq,
                    offset: segment.valid_len,
                    hash: scan.head.last_hash,
                }
            });
        let mut segments = Vec::with_capacity(scan.segments.len() + 1);
        for segment in scan.segments {
            segments.push(SegmentIndex {
                first_seq: segment.first_seq,
                reader: Arc::new(storage.open_read(&dir.join(&segment.name))?),
                name: segment.name,
                sparse: segment.sparse,
            });
        }
        let (active, segment_len, segment_records) = match (segments.last(), last_valid_len) {
            (Some(last), Some(valid_len)) => {
                let file = storage.open_rw(&dir.join(&last.name))?;
                (Arc::new(file), valid_len, scan.head.len - last.first_seq)
            }
            _ => {
                let (file, index) = create_segment(&storage, &dir, 0)?;
                segments.push(index);
                (file, SEGMENT_HEADER_LEN as u64, 0)
            }
        };
        // Records the scan read may have been written and not synced by a
        // process that was killed: synced now, before the watermark counts
        // them and before readers see them as durable.
        active.sync_data()?;
        let active_first_seq = segments.last().expect("the log has a segment").first_seq;
        let mark_file = open_mark_file(&storage, &dir, scan.mark_file, &head_mark)?;
        let active_file_len = active.file_len()?;
        let active_name = segments.last().expect("the log has a segment").name.clone();
        let sync_handles = open_sync_handles(&storage, &dir.join(active_name))?;
        let reserve_step = options.reserve_bytes;
        let bulk_chunk_bytes = options.bulk_chunk_bytes;
        let (durable_tx, _) = watch::channel(scan.head.len);
        let shared = Arc::new(Shared {
            storage,
            dir,
            options,
            chain: Mutex::new(Chain {
                next_seq: scan.head.len,
                prev_hash: scan.head.last_hash,
                segment_first_seq: active_first_seq,
                segment_len,
                segment_records,
                chunks: VecDeque::new(),
                queued_records: 0,
                spare_buffers: Vec::new(),
                failed: None,
                closing: false,
            }),
            work_ready: Condvar::new(),
            room_ready: Condvar::new(),
            durable_len: AtomicU64::new(scan.head.len),
            head: Mutex::new(scan.head),
            durable_tx,
            index: RwLock::new(Index { segments }),
            sync_stats: Mutex::new(SyncStats::default()),
            reserve: Reserve::new(
                active.clone(),
                segment_len,
                active_file_len,
                reserve_step,
                bulk_chunk_bytes,
            ),
            writer: Mutex::new(Writer {
                active,
                sync_handles,
                written: scan.head,
            }),
            awaiting: Mutex::new(VecDeque::new()),
            mark: Mutex::new(mark_file),
            mark_closing: Condvar::new(),
        });
        let reserver = match reserve_step {
            0 => None,
            _ => {
                let shared = shared.clone();
                Some(
                    std::thread::Builder::new()
                        .name("mingzhang-log-reserve".to_string())
                        .spawn(move || run_reserver(&shared))?,
                )
            }
        };
        let marker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mingzhang-log-mark".to_string())
                .spawn(move || run_marker(&shared))?
        };
        let mut syncers = Vec::with_capacity(SYNCERS);
        for number in 0..SYNCERS {
            let syncer = Syncer {
                shared: shared.clone(),
                number,
                last_batch_records: 0,
                written_buffers: Vec::new(),
            };
            syncers.push(
                std::thread::Builder::new()
                    .name(format!("mingzhang-log-sync-{number}"))
                    .spawn(move || syncer.run())?,
            );
        }
        Ok((
            FileLog {
                shared,
                syncers: Mutex::new(syncers),
                reserver: Mutex::new(reserver),
                marker: Mutex::new(Some(marker)),
            },
            report,
        ))
    }

    /// Stops the syncer once everything queued is durable.
    pub fn close(self) -> Result<(), StoreError> {
        self.shutdown();
        match &self.shared.chain.lock().failed {
            Some(reason) => Err(StoreError::Failed(reason.clone())),
            None => Ok(()),
        }
    }

    fn shutdown(&self) {
        self.shared.chain.lock().closing = true;
        self.shared.work_ready.notify_all();
        self.shared.room_ready.notify_all();
        for handle in std::mem::take(&mut *self.syncers.lock()) {
            handle.join().expect("a log syncer panicked");
        }
        self.shared.reserve.state.lock().closing = true;
        self.shared.reserve.changed.notify_all();
        if let Some(handle) = self.reserver.lock().take() {
            handle.join().expect("the log reserver panicked");
        }
        self.shared.mark.lock().closing = true;
        self.shared.mark_closing.notify_all();
        if let Some(handle) = self.marker.lock().take() {
            handle.join().expect("the log marker panicked");
        }
    }

    /// Chains and encodes the records right here, in the caller, under the
    /// chain's lock: seqs and hashes are assigned in call order, and no thread
    /// hand-over stands between the caller and the syncer.
    fn enqueue(
        &self,
        expected_first_seq: u64,
        payloads: Vec<Vec<u8>>,
        done: oneshot::Sender<Result<Vec<RecordMeta>, StoreError>>,
    ) -> Result<(), StoreError> {
        for payload in &payloads {
            assert!(
                payload.len() <= PAYLOAD_LEN_MAX,
                "an envelope over PAYLOAD_LEN_MAX is a bug upstream"
            );
        }
        let records = payloads.len();
        let options = &self.shared.options;
        let mut chain = self.shared.chain.lock();
        loop {
            if let Some(reason) = &chain.failed {
                return Err(StoreError::Failed(reason.clone()));
            }
            if chain.closing {
                return Err(StoreError::Closed);
            }
            let has_room = chain.queued_records == 0
                || chain.queued_records + records <= options.queue_records_max;
            if has_room {
                break;
            }
            self.shared.room_ready.wait(&mut chain);
        }
        if expected_first_seq != chain.next_seq {
            return Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual: chain.next_seq,
            });
        }
        if records == 0 {
            let _ = done.send(Ok(Vec::new()));
            return Ok(());
        }
        let metas = chain.encode(&payloads, options);
        // An append whose records span chunks hears once the last of them is
        // durable, which covers the earlier ones.
        chain
            .chunks
            .back_mut()
            .expect("encode queued a chunk")
            .completions
            .push((done, metas));
        drop(chain);
        self.shared.work_ready.notify_one();
        Ok(())
    }

    fn read_durable(
        &self,
        from_seq: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let durable = self.shared.durable_len.load(Ordering::Acquire);
        read_records(
            |seq| self.shared.index.read().locate(seq),
            durable,
            from_seq,
            max_records,
        )
    }
}

/// Where to start reading for a seq: the segment holding it and the indexed
/// record at or before it.
struct ReadStart<F> {
    reader: Arc<F>,
    segment: String,
    seq: u64,
    offset: u64,
    /// The first seq of the next segment (`u64::MAX` for the last).
    segment_end: u64,
}

impl<F> Index<F> {
    fn locate(&self, next: u64) -> ReadStart<F> {
        let at = self.segments.partition_point(|s| s.first_seq <= next);
        assert!(at > 0, "the first segment starts at seq 0");
        let segment = &self.segments[at - 1];
        let entry = segment.sparse.partition_point(|(seq, _)| *seq <= next);
        assert!(entry > 0, "a segment's index starts at its first record");
        let (seq, offset) = segment.sparse[entry - 1];
        ReadStart {
            reader: segment.reader.clone(),
            segment: segment.name.clone(),
            seq,
            offset,
            segment_end: self
                .segments
                .get(at)
                .map_or(u64::MAX, |following| following.first_seq),
        }
    }
}

/// Records `[from_seq, from_seq + max_records)` of the `durable` first ones,
/// fewer at the end; `locate` finds where each segment's reading starts.
fn read_records<F: StorageFile>(
    locate: impl Fn(u64) -> ReadStart<F>,
    durable: u64,
    from_seq: u64,
    max_records: usize,
) -> Result<Vec<StoredRecord>, StoreError> {
    if from_seq > durable {
        return Err(StoreError::OutOfRange {
            seq: from_seq,
            len: durable,
        });
    }
    let end = durable.min(from_seq.saturating_add(max_records as u64));
    let mut records = Vec::with_capacity((end - from_seq).min(4096) as usize);
    let mut next = from_seq;
    while next < end {
        let ReadStart {
            reader,
            segment: name,
            mut seq,
            mut offset,
            segment_end,
        } = locate(next);
        let file_len = reader.file_len()?;
        let mut chunks = ChunkReader::new(&*reader, file_len, READ_CHUNK_BYTES);
        let stop = end.min(segment_end);
        while seq < stop {
            let probe = chunks.get(offset, 8)?;
            let Some(framed) = StoredRecord::framed_len(probe) else {
                return Err(corrupt(
                    &name,
                    offset,
                    seq,
                    "damaged after open: truncated record header".into(),
                ));
            };
            let bytes = chunks.get(offset, framed)?;
            if seq >= next {
                let record = StoredRecord::decode(bytes).map_err(|err| {
                    corrupt(&name, offset, seq, format!("damaged after open: {err}"))
                })?;
                if record.seq() != seq {
                    return Err(corrupt(
                        &name,
                        offset,
                        seq,
                        format!("altered after open: found seq {}", record.seq()),
                    ));
                }
                records.push(record);
            }
            offset += framed as u64;
            seq += 1;
        }
        next = seq;
    }
    Ok(records)
}

impl<S: Storage> Drop for FileLog<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl<S: Storage> EventStore for FileLog<S> {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        let (done, outcome) = oneshot::channel();
        let enqueued = self.enqueue(expected_first_seq, payloads, done);
        Box::pin(async move {
            enqueued?;
            outcome.await.unwrap_or_else(|_| {
                Err(StoreError::Failed(
                    "the log writer stopped before the append was durable".to_string(),
                ))
            })
        })
    }

    fn head(&self) -> Head {
        *self.shared.head.lock()
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.read_durable(from_seq, max_records)
    }

    fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.shared.durable_tx.subscribe()
    }

    fn sync_stats(&self) -> Option<SyncStats> {
        Some(self.shared.sync_stats.lock().clone())
    }

    fn failure(&self) -> Option<String> {
        self.shared.chain.lock().failed.clone()
    }
}

/// Where a segment's records end, as a read-only open found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentExtent {
    pub name: String,
    pub first_seq: u64,
    /// Header plus whole records: the bytes a copy of the log needs, without
    /// reserved zeros or a torn tail.
    pub records_end: u64,
}

/// The log opened for reading only: open's checks run, and nothing is
/// written, truncated, created or removed. A torn tail that a writing open
/// would cut off is reported in `OpenReport` and left in place; reads stop
/// at the last whole record before it. Appends fail with
/// `StoreError::ReadOnly`.
pub struct ReadOnlyLog<S: Storage = RealStorage> {
    index: Index<S::File>,
    head: Head,
    extents: Vec<SegmentExtent>,
    durable_tx: watch::Sender<u64>,
}

impl ReadOnlyLog<RealStorage> {
    pub fn open(dir: impl AsRef<Path>) -> Result<(ReadOnlyLog, OpenReport), StoreError> {
        ReadOnlyLog::open_on(RealStorage, dir)
    }
}

impl<S: Storage> ReadOnlyLog<S> {
    pub fn open_on(
        storage: S,
        dir: impl AsRef<Path>,
    ) -> Result<(ReadOnlyLog<S>, OpenReport), StoreError> {
        let dir = dir.as_ref();
        let index_every_records = FileLogOptions::default().index_every_records;
        let scan = scan_log(
            &storage,
            dir,
            Some(index_every_records),
            &mut |_| {},
            &mut |_| {},
        )?;
        let report = OpenReport {
            segments: scan.segments.len(),
            records: scan.head.len,
            torn_tail: scan.torn_tail,
        };
        let mut segments = Vec::with_capacity(scan.segments.len());
        let mut extents = Vec::with_capacity(scan.segments.len());
        for segment in scan.segments {
            extents.push(SegmentExtent {
                name: segment.name.clone(),
                first_seq: segment.first_seq,
                records_end: segment.valid_len,
            });
            segments.push(SegmentIndex {
                first_seq: segment.first_seq,
                reader: Arc::new(storage.open_read(&dir.join(&segment.name))?),
                name: segment.name,
                sparse: segment.sparse,
            });
        }
        let (durable_tx, _) = watch::channel(scan.head.len);
        Ok((
            ReadOnlyLog {
                index: Index { segments },
                head: scan.head,
                extents,
                durable_tx,
            },
            report,
        ))
    }

    /// Each segment and where its records end, in order.
    pub fn segment_extents(&self) -> &[SegmentExtent] {
        &self.extents
    }
}

impl<S: Storage> EventStore for ReadOnlyLog<S> {
    fn append(&self, _expected_first_seq: u64, _payloads: Vec<Vec<u8>>) -> AppendFuture {
        Box::pin(std::future::ready(Err(StoreError::ReadOnly)))
    }

    fn head(&self) -> Head {
        self.head
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        read_records(
            |seq| self.index.locate(seq),
            self.head.len,
            from_seq,
            max_records,
        )
    }

    fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.durable_tx.subscribe()
    }
}

/// The syncer's handle on a new segment and the readers' index entry for it.
type NewSegment<F> = (Arc<F>, SegmentIndex<F>);

/// Creates, fills in the header of and makes durable (data and directory entry)
/// a new segment starting at `first_seq`.
fn create_segment<S: Storage>(
    storage: &S,
    dir: &Path,
    first_seq: u64,
) -> io::Result<NewSegment<S::File>> {
    let name = segment_file_name(first_seq);
    let path = dir.join(&name);
    let file = storage.create_new(&path)?;
    file.write_at(0, &encode_segment_header(first_seq))?;
    file.sync_data()?;
    storage.sync_dir(dir)?;
    let reader = Arc::new(storage.open_read(&path)?);
    Ok((
        Arc::new(file),
        SegmentIndex {
            first_seq,
            name,
            reader,
            sparse: vec![(first_seq, SEGMENT_HEADER_LEN as u64)],
        },
    ))
}

/// Spare chunk buffers the chain keeps: one per chunk of a syncer's take
/// covers the usual few chunks in flight.
const SPARE_BUFFERS_MAX: usize = 8;
/// A buffer larger than this (a chunk of a bulk append) is let go rather than
/// kept for appends that may never need it again.
const SPARE_BUFFER_BYTES_MAX: usize = 4 << 20;

/// How many times a syncer yields to arriving callers before it takes chunks.
const LINGER_ROUNDS_MAX: usize = 4;
/// How long a syncer yields at most. With every core busy, one yield can
/// give the core away for a whole time slice: 256 writers saw the rounds
/// take 350-590 us on average, added to every waiting caller's fsync.
const LINGER_MAX: Duration = Duration::from_micros(100);

/// Two syncers: while one waits for its `fdatasync`, the other writes what
/// arrived meanwhile and starts the next, and the disk works on both at once.
/// An `fdatasync` covers everything written before it was called, so whichever
/// returns makes the records written up to its call durable.
const SYNCERS: usize = 2;

/// The active segment, as whichever syncer writes owns it.
struct Writer<F> {
    active: Arc<F>,
    /// One handle of the active segment per syncer, for its `fdatasync`s.
    /// Linux reports a failed write-back once per open file description: on
    /// a shared handle, one syncer's `fdatasync` could take the error and
    /// the other's succeed over the same lost pages.
    sync_handles: Vec<Arc<F>>,
    /// The chain's head after the last chunk written.
    written: Head,
}

/// A handle of the segment at `path` for each syncer (see `Writer::sync_handles`).
fn open_sync_handles<S: Storage>(storage: &S, path: &Path) -> io::Result<Vec<Arc<S::File>>> {
    (0..SYNCERS)
        .map(|_| storage.open_rw(path).map(Arc::new))
        .collect()
}

/// A chunk written (or being written), not yet known to be durable.
struct Written<F> {
    chunk: Chunk,
    /// The segment this chunk starts, for readers once it is durable.
    new_segment: Option<SegmentIndex<F>>,
}

/// One of the `SYNCERS` threads that write the files. Each, in turn, takes
/// queued chunks (up to `batch_bytes_max`, never two segments' worth) and
/// writes them; then, no longer in turn, `fdatasync`s, publishes what that
/// made durable and only then completes those callers.
struct Syncer<S: Storage> {
    shared: Arc<Shared<S>>,
    /// Which of `Writer::sync_handles` is this syncer's.
    number: usize,
    /// Records this syncer's last take held.
    last_batch_records: usize,
    /// The buffers of its last take, written: they go back to the chain with
    /// its next take, under the lock it takes anyway.
    written_buffers: Vec<Vec<u8>>,
}

impl<S: Storage> Syncer<S> {
    /// Returns once the log is closed and everything queued is durable, or
    /// once it failed.
    fn run(mut self) {
        let shared = self.shared.clone();
        loop {
            let (file, through) = {
                let mut writer = shared.writer.lock();
                let Some(chunks) = self.take_chunks() else {
                    return;
                };
                match self.write(&mut writer, chunks) {
                    Ok(through) => (writer.sync_handles[self.number].clone(), through),
                    Err(err) => return self.fail(&err),
                }
            };
            if let Err(err) = file.sync_data() {
                return self.fail(&err);
            }
            if let Err(err) = complete_through(&self.shared, through) {
                return self.fail(&err);
            }
        }
    }

    /// Waits for queued chunks and takes the next batch of them; `None` once
    /// the log is closed with nothing queued, or failed.
    fn take_chunks(&mut self) -> Option<Vec<Chunk>> {
        let options = &self.shared.options;
        let mut chain = self.shared.chain.lock();
        for mut buffer in self.written_buffers.drain(..) {
            if chain.spare_buffers.len() < SPARE_BUFFERS_MAX
                && buffer.capacity() <= SPARE_BUFFER_BYTES_MAX
            {
                buffer.clear();
                chain.spare_buffers.push(buffer);
            }
        }
        while chain.chunks.is_empty() && !chain.closing && chain.failed.is_none() {
            self.shared.work_ready.wait(&mut chain);
        }
        if chain.failed.is_some() || chain.chunks.is_empty() {
            return None;
        }
        // Callers arriving one after another, as requests over a network
        // do, would each cost an fsync of their own: tens of microseconds of
        // CPU whatever it carries. Where the last take held several, yield
        // to them while they keep coming. A lone caller, or callers that all
        // wait already, go on at once.
        if self.last_batch_records > 1 {
            let lingering_since = Instant::now();
            for _ in 0..LINGER_ROUNDS_MAX {
                if lingering_since.elapsed() >= LINGER_MAX {
                    break;
                }
                let queued_before = chain.queued_records;
                parking_lot::MutexGuard::unlocked(&mut chain, std::thread::yield_now);
                if chain.queued_records == queued_before || chain.failed.is_some() {
                    break;
                }
            }
            if chain.failed.is_some() {
                return None;
            }
        }
        let mut taken: Vec<Chunk> = Vec::new();
        let mut bytes = 0;
        while let Some(next) = chain.chunks.front() {
            let fits = taken.is_empty()
                || (next.new_segment.is_none()
                    && bytes + next.bytes.len() <= options.batch_bytes_max);
            if !fits {
                break;
            }
            let chunk = chain.chunks.pop_front().expect("a front chunk");
            bytes += chunk.bytes.len();
            chain.queued_records -= chunk.records;
            taken.push(chunk);
        }
        self.last_batch_records = taken.iter().map(|chunk| chunk.records).sum();
        drop(chain);
        self.shared.room_ready.notify_all();
        Some(taken)
    }

    /// Writes `chunks` (starting the next segment first if they begin one)
    /// and returns the head they end at. Their callers are in `awaiting`
    /// before the first byte is written, so a failure reaches them.
    fn write(&mut self, writer: &mut Writer<S::File>, mut chunks: Vec<Chunk>) -> io::Result<Head> {
        let mut new_segment = None;
        if let Some(first_seq) = chunks[0].new_segment {
            // All written so far belongs in the current segment, which is
            // whole and synced before the next one exists.
            writer.sync_handles[self.number].sync_data()?;
            complete_through(&self.shared, writer.written)?;
            new_segment = Some(self.roll_over(writer, first_seq)?);
        }
        let last = chunks.last().expect("a take holds a chunk");
        let through = Head {
            len: last.end_seq,
            last_hash: last.last_hash,
        };
        let bytes: Vec<Vec<u8>> = chunks
            .iter_mut()
            .map(|chunk| std::mem::take(&mut chunk.bytes))
            .collect();
        {
            let mut awaiting = self.shared.awaiting.lock();
            for chunk in chunks {
                awaiting.push_back(Written {
                    chunk,
                    new_segment: new_segment.take(),
                });
            }
        }
        for chunk_bytes in bytes {
            let offset = self.shared.reserve.claim(chunk_bytes.len() as u64);
            writer.active.write_at(offset, &chunk_bytes)?;
            self.written_buffers.push(chunk_bytes);
        }
        writer.written = through;
        Ok(through)
    }

    /// Closes the active segment, synced already, at its last record, and
    /// starts the next one: only the last segment has reserved space.
    fn roll_over(
        &self,
        writer: &mut Writer<S::File>,
        first_seq: u64,
    ) -> io::Result<SegmentIndex<S::File>> {
        let reserve = &self.shared.reserve;
        let mut state = reserve.state.lock();
        state.rolling = true;
        while state.zeroing {
            reserve.changed.wait(&mut state);
        }
        state.rolling = false;
        if state.file_len > state.written {
            state.file.truncate(state.written)?;
            state.file.sync_data()?;
        }
        let (file, index) = create_segment(&self.shared.storage, &self.shared.dir, first_seq)?;
        state.file = file.clone();
        state.written = SEGMENT_HEADER_LEN as u64;
        state.file_len = SEGMENT_HEADER_LEN as u64;
        state.resume_at = 0;
        reserve.changed.notify_all();
        writer.sync_handles =
            open_sync_handles(&self.shared.storage, &self.shared.dir.join(&index.name))?;
        writer.active = file;
        Ok(index)
    }

    fn fail(&self, err: &io::Error) {
        let reason = format!("writing to {} failed: {err}", self.shared.dir.display());
        fail_log(&self.shared, reason);
    }
}

/// Publishes and completes every written chunk up to `through`, which an
/// `fdatasync` just made durable; chunks another syncer's `fdatasync`
/// published already are not there any more. An error writing the durable
/// watermark completes nobody: the caller fails the log, which tells them.
fn complete_through<S: Storage>(shared: &Shared<S>, through: Head) -> io::Result<()> {
    let durable: Vec<Written<S::File>> = {
        let mut awaiting = shared.awaiting.lock();
        let count = awaiting
            .iter()
            .take_while(|written| written.chunk.end_seq <= through.len)
            .count();
        if count == 0 {
            return Ok(());
        }
        let last = &awaiting[count - 1].chunk;
        let mark = DurableMark {
            seq: last.end_seq,
            segment: last.segment_first_seq,
            offset: last.end_offset,
            hash: last.last_hash,
        };
        // Before any of these callers hears: a SIGKILL keeps the write, so
        // the watermark never lags what was acknowledged by more than the
        // marker's last sync after a power cut. If it fails, the caller
        // fails the log, and these callers hear of it.
        advance_mark(shared, &mark)?;
        let mut durable: Vec<Written<S::File>> = awaiting.drain(..count).collect();
        // Under the lock, so heads are published in order.
        publish(shared, &mut durable);
        durable
    };
    for written in durable {
        for (done, metas) in written.chunk.completions {
            // A caller that stopped waiting has nothing to learn.
            let _ = done.send(Ok(metas));
        }
    }
    Ok(())
}

/// Readers see `durable` (chunks in seq order) from here on.
fn publish<S: Storage>(shared: &Shared<S>, durable: &mut [Written<S::File>]) {
    let last = &durable.last().expect("something to publish").chunk;
    let head = Head {
        len: last.end_seq,
        last_hash: last.last_hash,
    };
    let newly_durable = head.len - shared.durable_len.load(Ordering::Acquire);
    {
        let mut index = shared.index.write();
        for written in durable.iter_mut() {
            index.segments.extend(written.new_segment.take());
            let segment = index.segments.last_mut().expect("the log has a segment");
            segment
                .sparse
                .extend(written.chunk.index_entries.iter().copied());
        }
    }
    *shared.head.lock() = head;
    shared.durable_len.store(head.len, Ordering::Release);
    shared.durable_tx.send_replace(head.len);
    shared.sync_stats.lock().record_batch(newly_durable);
}

/// Opens the watermark file for the writer and writes `mark` (the head open
/// found, synced) into it, creating the file whole if it is absent.
fn open_mark_file<S: Storage>(
    storage: &S,
    dir: &Path,
    found: MarkFile,
    mark: &DurableMark,
) -> Result<MarkWriter<S::File>, StoreError> {
    let path = dir.join(DURABLE_MARK_FILE_NAME);
    let next_slot = match found {
        MarkFile::Found { slot, .. } => {
            let file = storage.open_rw(&path)?;
            write_mark(&file, 1 - slot, mark)?;
            file.sync_data()?;
            return Ok(MarkWriter {
                file: Arc::new(file),
                next_slot: slot,
                dirty: false,
                closing: false,
            });
        }
        MarkFile::Absent => 0,
        MarkFile::Damaged => unreachable!("the scan refuses a damaged watermark"),
    };
    // Absent, or its creation cut short: both slots, at full length, synced
    // before the directory entry is.
    let file = match storage.create_new(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => storage.open_rw(&path)?,
        Err(err) => return Err(err.into()),
    };
    write_mark(&file, 0, mark)?;
    write_mark(&file, 1, mark)?;
    assert_eq!(file.file_len()?, DURABLE_MARK_FILE_LEN);
    file.sync_data()?;
    storage.sync_dir(dir)?;
    Ok(MarkWriter {
        file: Arc::new(file),
        next_slot,
        dirty: false,
        closing: false,
    })
}

/// Writes `mark`, which an `fdatasync` just made true, over the older slot.
fn advance_mark<S: Storage>(shared: &Shared<S>, mark: &DurableMark) -> io::Result<()> {
    let mut writer = shared.mark.lock();
    write_mark(&*writer.file, writer.next_slot, mark)?;
    writer.next_slot = 1 - writer.next_slot;
    writer.dirty = true;
    Ok(())
}

/// The marker thread: `fdatasync`s the watermark at most every
/// `MARK_SYNC_INTERVAL` while it moves, and once more when the log closes,
/// so no append waits for it.
fn run_marker<S: Storage>(shared: &Shared<S>) {
    loop {
        let (file, closing) = {
            let mut writer = shared.mark.lock();
            if !writer.closing {
                shared
                    .mark_closing
                    .wait_for(&mut writer, MARK_SYNC_INTERVAL);
            }
            if !std::mem::take(&mut writer.dirty) {
                if writer.closing {
                    return;
                }
                continue;
            }
            (writer.file.clone(), writer.closing)
        };
        if let Err(err) = file.sync_data() {
            let reason = format!(
                "syncing the durable watermark in {} failed: {err}",
                shared.dir.display()
            );
            fail_log(shared, reason);
            return;
        }
        if closing {
            return;
        }
    }
}

/// The reserver thread: keeps at least `step` zeros written after the last
/// record of the active segment, so the syncers' writes land in blocks the
/// file already has.
fn run_reserver<S: Storage>(shared: &Shared<S>) {
    let reserve = &shared.reserve;
    // Zeros go out piece by piece, each written back before the next: an
    // `fdatasync` of the file waits for every cached byte of it, so
    // megabytes of zeros in the cache would stall the records it is for.
    // The syncer may write into each piece as soon as it is written; the
    // `fdatasync` after the last piece makes the new length durable.
    let zeros = vec![0u8; RESERVE_PIECE_BYTES.min(reserve.step as usize)];
    loop {
        let (file, from) = {
            let mut state = reserve.state.lock();
            while !state.closing
                && (!reserve.wants_zeros(&state)
                    || state.written < state.resume_at
                    || state.rolling)
            {
                reserve.changed.wait(&mut state);
            }
            if state.closing {
                return;
            }
            state.zeroing = true;
            (state.file.clone(), state.file_len)
        };
        let zeroed = (|| {
            let mut at = from;
            while at < from + reserve.step {
                let len = zeros.len().min((from + reserve.step - at) as usize);
                file.write_at(at, &zeros[..len])?;
                // Only a hint, which some file systems refuse: the
                // `fdatasync` below, or the syncers', report real failures.
                let _ = file.write_back(at, len as u64);
                at += len as u64;
                let mut state = reserve.state.lock();
                state.file_len = state.file_len.max(at);
                reserve.changed.notify_all();
                if state.overtaken {
                    state.overtaken = false;
                    state.resume_at = state.written + reserve.step;
                    return Ok(());
                }
                // Bulk chunks' own `fdatasync`s make the length durable.
                if state.rolling || state.closing || reserve.bulk(&state) {
                    return Ok(());
                }
            }
            file.sync_data()
        })();
        let mut state = reserve.state.lock();
        state.zeroing = false;
        reserve.changed.notify_all();
        if let Err(err) = zeroed {
            drop(state);
            let reason = format!("reserving space in {} failed: {err}", shared.dir.display());
            fail_log(shared, reason);
            return;
        }
    }
}

/// Crash-only: after an I/O error nobody knows what reached the disk, so
/// every pending and later append fails until the log is reopened.
fn fail_log<S: Storage>(shared: &Shared<S>, reason: String) {
    tracing::error!(%reason, "the log has failed");
    let queued: VecDeque<Chunk> = {
        let mut chain = shared.chain.lock();
        chain.failed = Some(reason.clone());
        chain.queued_records = 0;
        std::mem::take(&mut chain.chunks)
    };
    shared.work_ready.notify_all();
    shared.room_ready.notify_all();
    // Written chunks may have reached the disk, or not: nobody can say, so
    // their callers hear of the failure too.
    let written: Vec<Chunk> = shared
        .awaiting
        .lock()
        .drain(..)
        .map(|written| written.chunk)
        .collect();
    for (done, _) in written
        .into_iter()
        .chain(queued)
        .flat_map(|chunk| chunk.completions)
    {
        let _ = done.send(Err(StoreError::Failed(reason.clone())));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{FileLog, FileLogOptions, Reserve};
    use crate::store::contract::numbered_payload;
    use crate::store::{EventStore, verify_log};

    const BULK_CHUNK_BYTES: u64 = 32 << 10;

    fn reserve_with_step(step: u64) -> Reserve<()> {
        Reserve::new(Arc::new(()), 4096, 4096, step, BULK_CHUNK_BYTES)
    }

    /// Zeros ahead of records that come in bulk would double what the disk
    /// writes for an `fdatasync` metadata commit they outweigh; the reserver
    /// rests while chunks are large on average, not on one chunk's size.
    #[test]
    fn the_reserver_rests_while_records_come_in_bulk() {
        let reserve = reserve_with_step(1 << 20);
        let wants_zeros = |reserve: &Reserve<()>| reserve.wants_zeros(&reserve.state.lock());
        reserve.claim(300);
        assert!(wants_zeros(&reserve), "a small chunk wants zeros ahead");
        for _ in 0..16 {
            reserve.claim(4 * BULK_CHUNK_BYTES);
        }
        assert!(!wants_zeros(&reserve), "bulk chunks want none");
        reserve.claim(300);
        assert!(
            !wants_zeros(&reserve),
            "one small chunk among bulk ones does not wake the reserver"
        );
        for _ in 0..32 {
            reserve.claim(300);
        }
        assert!(wants_zeros(&reserve), "small chunks again want zeros");
        let no_reserve = reserve_with_step(0);
        assert!(
            !no_reserve.wants_zeros(&no_reserve.state.lock()),
            "a log without reserve never wants zeros"
        );
    }

    /// Chunk buffers go back to the chain once written, and a reused buffer
    /// starts empty: a long batch followed by short ones would otherwise
    /// carry the long batch's bytes into the next records.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn written_chunk_buffers_are_reused_and_start_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = FileLog::open(dir.path(), FileLogOptions::default()).expect("open");
        let mut next = 0;
        for batch_len in [200, 1, 3, 1, 50, 2, 1] {
            let payloads = (next..next + batch_len).map(numbered_payload).collect();
            log.append(next, payloads).await.expect("durable");
            next += batch_len;
        }
        // A syncer hands its written buffers back when it next takes work,
        // just after the append it completed has answered.
        let handed_back = async {
            while log.shared.chain.lock().spare_buffers.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), handed_back)
            .await
            .expect("written buffers are kept for the next chunks");
        let records = log.read(0, next as usize).expect("read");
        assert_eq!(records.len() as u64, next);
        for (n, record) in records.iter().enumerate() {
            assert_eq!(record.seq(), n as u64);
            assert_eq!(record.payload(), numbered_payload(n as u64));
        }
        log.close().expect("close");
        let report = verify_log(dir.path(), |_| {}).expect("the chain verifies");
        assert_eq!(report.records, next);
    }
}
