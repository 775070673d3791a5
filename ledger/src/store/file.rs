//! Embedded segment-file backend: see docs/log-format.md.
//!
//! One writer owns the files and commits in groups, as a two-stage pipeline:
//! the encoder thread drains every queued append, encodes the records chained
//! to the previous hash into one buffer and writes it with one write; the
//! syncer thread `fdatasync`s everything written so far, publishes the new
//! durable length and only then completes the callers' futures. While one
//! `fdatasync` runs, the callers it released last time are already appending
//! again and the encoder writes their records, so the next `fdatasync` covers
//! them all: the disk's latency overlaps the CPU's work instead of adding to
//! it. Readers use their own file handles and a sparse in-memory index (just
//! a cache, rebuilt on open) and never see a record before it is durable.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex, RwLock};
use tokio::sync::{oneshot, watch};

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
/// How far from the end of the last segment a torn write can reach.
pub const TORN_WRITE_BYTES_MAX: u64 =
    (BATCH_BYTES_LIMIT + HEADER_LEN + PAYLOAD_LEN_MAX + TRAILER_LEN) as u64;
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
    /// Records one group commit takes from the queue at most.
    pub batch_records_max: usize,
    /// Bytes written between two `fdatasync`s at most (<= `BATCH_BYTES_LIMIT`).
    pub batch_bytes_max: usize,
    /// Records waiting for the writer at most; `append` blocks its caller for
    /// room beyond this (back-pressure, reached only when the disk falls behind).
    pub queue_records_max: usize,
    /// The in-memory index remembers the offset of every n-th record.
    pub index_every_records: u64,
}

impl Default for FileLogOptions {
    fn default() -> FileLogOptions {
        FileLogOptions {
            segment_bytes_max: 256 << 20,
            batch_records_max: 4096,
            batch_bytes_max: 16 << 20,
            queue_records_max: 1 << 16,
            index_every_records: 64,
        }
    }
}

impl FileLogOptions {
    fn assert_valid(&self) {
        assert!(self.segment_bytes_max > SEGMENT_HEADER_LEN as u64);
        assert!(self.batch_records_max > 0);
        assert!(self.batch_bytes_max > 0 && self.batch_bytes_max <= BATCH_BYTES_LIMIT);
        assert!(self.queue_records_max > 0);
        assert!(self.index_every_records > 0);
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
    segments: Vec<ScannedSegment>,
    head: Head,
    bytes: u64,
    torn_tail: Option<TornTail>,
    repair: Option<Repair>,
}

/// Walks every segment of the log in `dir` and checks everything: headers,
/// segment continuity, every record's crc and hash, seqs and the chain. Changes
/// nothing.
fn scan_log<S: Storage>(
    storage: &S,
    dir: &Path,
    index_every_records: Option<u64>,
    progress: &mut dyn FnMut(u64),
) -> Result<Scan, StoreError> {
    let mut names: Vec<(u64, String)> = storage
        .list_dir(dir)?
        .into_iter()
        .filter_map(|name| Some((parse_segment_file_name(&name)?, name)))
        .collect();
    names.sort();
    let mut scan = Scan {
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
                if is_last && written_after.is_none() {
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
            offset += record.len() as u64;
            segment.valid_len = offset;
            if offset - reported_at >= SCAN_CHUNK_BYTES as u64 {
                reported_at = offset;
                progress(bytes_before + offset);
            }
        }
        scan.bytes = bytes_before + file_len;
        progress(scan.bytes);
        scan.segments.push(segment);
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
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let scan = scan_log(storage, dir, None, &mut progress)?;
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

struct PendingAppend {
    first_seq: u64,
    payloads: Vec<Vec<u8>>,
    done: oneshot::Sender<Result<Vec<RecordMeta>, StoreError>>,
}

struct Queue {
    /// The seq the next enqueued record gets.
    next_seq: u64,
    pending: VecDeque<PendingAppend>,
    pending_records: usize,
    failed: Option<String>,
    closing: bool,
}

struct Shared<S: Storage> {
    storage: S,
    dir: PathBuf,
    options: FileLogOptions,
    queue: Mutex<Queue>,
    work_ready: Condvar,
    room_ready: Condvar,
    durable_len: AtomicU64,
    head: Mutex<Head>,
    durable_tx: watch::Sender<u64>,
    index: RwLock<Index<S::File>>,
    sync: Mutex<SyncQueue<S::File>>,
    /// The encoder wrote something for the syncer.
    written_ready: Condvar,
    /// The syncer made written bytes durable: room for the encoder.
    synced_ready: Condvar,
    sync_stats: Mutex<SyncStats>,
}

type Completion = (
    oneshot::Sender<Result<Vec<RecordMeta>, StoreError>>,
    Vec<RecordMeta>,
);

/// Records the encoder wrote (in the page cache, not yet durable) and whom to
/// tell once they are.
struct Written<F> {
    file: Arc<F>,
    bytes: usize,
    end_seq: u64,
    last_hash: Hash,
    updates: Vec<IndexUpdate<F>>,
    completions: Vec<Completion>,
}

/// The hand-over between the encoder and the syncer.
struct SyncQueue<F> {
    written: Vec<Written<F>>,
    /// Bytes written and not yet made durable; a torn write can reach them all.
    unsynced_bytes: usize,
    encoder_done: bool,
    failed: Option<String>,
}

/// The embedded, hash-chained, durable segment-file log.
pub struct FileLog<S: Storage = RealStorage> {
    shared: Arc<Shared<S>>,
    writer: Mutex<Option<JoinHandle<()>>>,
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
        let mut segments = Vec::with_capacity(scan.segments.len() + 1);
        for segment in scan.segments {
            segments.push(SegmentIndex {
                first_seq: segment.first_seq,
                reader: Arc::new(storage.open_read(&dir.join(&segment.name))?),
                name: segment.name,
                sparse: segment.sparse,
            });
        }
        let active = match segments.last() {
            Some(last) => {
                let file = storage.open_rw(&dir.join(&last.name))?;
                let len = file.file_len()?;
                ActiveSegment {
                    file: Arc::new(file),
                    len,
                    records: scan.head.len - last.first_seq,
                }
            }
            None => {
                let (active, index) = create_segment(&storage, &dir, 0)?;
                segments.push(index);
                active
            }
        };
        let (durable_tx, _) = watch::channel(scan.head.len);
        let shared = Arc::new(Shared {
            storage,
            dir,
            options,
            queue: Mutex::new(Queue {
                next_seq: scan.head.len,
                pending: VecDeque::new(),
                pending_records: 0,
                failed: None,
                closing: false,
            }),
            work_ready: Condvar::new(),
            room_ready: Condvar::new(),
            durable_len: AtomicU64::new(scan.head.len),
            head: Mutex::new(scan.head),
            durable_tx,
            index: RwLock::new(Index { segments }),
            sync: Mutex::new(SyncQueue {
                written: Vec::new(),
                unsynced_bytes: 0,
                encoder_done: false,
                failed: None,
            }),
            written_ready: Condvar::new(),
            synced_ready: Condvar::new(),
            sync_stats: Mutex::new(SyncStats::default()),
        });
        let syncer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mingzhang-log-sync".to_string())
                .spawn(move || sync_written(&shared))?
        };
        let writer = Writer {
            shared: shared.clone(),
            active,
            next_seq: scan.head.len,
            prev_hash: scan.head.last_hash,
            buf: Vec::new(),
            buf_completions: Vec::new(),
            buf_updates: Vec::new(),
        };
        let handle = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("mingzhang-log-writer".to_string())
                .spawn(move || {
                    writer.run();
                    join_syncer(&shared, syncer);
                })?
        };
        Ok((
            FileLog {
                shared,
                writer: Mutex::new(Some(handle)),
            },
            report,
        ))
    }

    /// Stops the writer once everything queued is durable.
    pub fn close(self) -> Result<(), StoreError> {
        self.shutdown();
        match &self.shared.queue.lock().failed {
            Some(reason) => Err(StoreError::Failed(reason.clone())),
            None => Ok(()),
        }
    }

    fn shutdown(&self) {
        self.shared.queue.lock().closing = true;
        self.shared.work_ready.notify_all();
        self.shared.room_ready.notify_all();
        if let Some(handle) = self.writer.lock().take() {
            handle.join().expect("the log writer panicked");
        }
    }

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
        let mut queue = self.shared.queue.lock();
        loop {
            if let Some(reason) = &queue.failed {
                return Err(StoreError::Failed(reason.clone()));
            }
            if queue.closing {
                return Err(StoreError::Closed);
            }
            let has_room = queue.pending_records == 0
                || queue.pending_records + records <= self.shared.options.queue_records_max;
            if has_room {
                break;
            }
            self.shared.room_ready.wait(&mut queue);
        }
        if expected_first_seq != queue.next_seq {
            return Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual: queue.next_seq,
            });
        }
        if records == 0 {
            let _ = done.send(Ok(Vec::new()));
            return Ok(());
        }
        let first_seq = queue.next_seq;
        queue.next_seq += records as u64;
        queue.pending_records += records;
        queue.pending.push_back(PendingAppend {
            first_seq,
            payloads,
            done,
        });
        drop(queue);
        self.shared.work_ready.notify_one();
        Ok(())
    }

    fn read_durable(
        &self,
        from_seq: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let durable = self.shared.durable_len.load(Ordering::Acquire);
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
            let (reader, name, mut seq, mut offset, segment_end) = {
                let index = self.shared.index.read();
                let at = index.segments.partition_point(|s| s.first_seq <= next);
                assert!(at > 0, "the first segment starts at seq 0");
                let segment = &index.segments[at - 1];
                let entry = segment.sparse.partition_point(|(seq, _)| *seq <= next);
                assert!(entry > 0, "a segment's index starts at its first record");
                let (seq, offset) = segment.sparse[entry - 1];
                let segment_end = index
                    .segments
                    .get(at)
                    .map_or(u64::MAX, |following| following.first_seq);
                (
                    segment.reader.clone(),
                    segment.name.clone(),
                    seq,
                    offset,
                    segment_end,
                )
            };
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
}

/// The segment the writer appends to.
struct ActiveSegment<F> {
    file: Arc<F>,
    /// Bytes written to the file, header included.
    len: u64,
    records: u64,
}

/// The writer's handle on a new segment and the readers' index entry for it.
type NewSegment<F> = (ActiveSegment<F>, SegmentIndex<F>);

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
    file.append(&encode_segment_header(first_seq))?;
    file.sync_data()?;
    storage.sync_dir(dir)?;
    let reader = Arc::new(storage.open_read(&path)?);
    Ok((
        ActiveSegment {
            file: Arc::new(file),
            len: SEGMENT_HEADER_LEN as u64,
            records: 0,
        },
        SegmentIndex {
            first_seq,
            name,
            reader,
            sparse: vec![(first_seq, SEGMENT_HEADER_LEN as u64)],
        },
    ))
}

enum IndexUpdate<F> {
    Segment(SegmentIndex<F>),
    Entry { seq: u64, offset: u64 },
}

struct Writer<S: Storage> {
    shared: Arc<Shared<S>>,
    active: ActiveSegment<S::File>,
    next_seq: u64,
    prev_hash: Hash,
    /// Encoded records not yet written; reused across batches.
    buf: Vec<u8>,
    /// Whom to tell once the records in `buf` are durable.
    buf_completions: Vec<Completion>,
    /// What the records in `buf` add to the readers' index.
    buf_updates: Vec<IndexUpdate<S::File>>,
}

impl<S: Storage> Writer<S> {
    /// The encoder: takes queued appends, chains and writes them, and hands
    /// them to the syncer; returns when the log closes or fails.
    fn run(mut self) {
        let mut batch: VecDeque<PendingAppend> = VecDeque::new();
        loop {
            {
                let mut queue = self.shared.queue.lock();
                while queue.pending.is_empty() && !queue.closing && queue.failed.is_none() {
                    self.shared.work_ready.wait(&mut queue);
                }
                if queue.failed.is_some() || queue.pending.is_empty() {
                    return;
                }
                let mut records = 0usize;
                let mut bytes = 0usize;
                while let Some(next) = queue.pending.front() {
                    let next_bytes: usize = next
                        .payloads
                        .iter()
                        .map(|p| HEADER_LEN + p.len() + TRAILER_LEN)
                        .sum();
                    let fits = records + next.payloads.len()
                        <= self.shared.options.batch_records_max
                        && bytes + next_bytes <= self.shared.options.batch_bytes_max;
                    if !batch.is_empty() && !fits {
                        break;
                    }
                    records += next.payloads.len();
                    bytes += next_bytes;
                    batch.push_back(queue.pending.pop_front().expect("front exists"));
                }
                queue.pending_records -= records;
            }
            self.shared.room_ready.notify_all();
            if let Err(err) = self.write_batch(&mut batch) {
                let reason = format!("write to {} failed: {err}", self.shared.dir.display());
                let unwritten = batch
                    .drain(..)
                    .map(|append| append.done)
                    .chain(self.buf_completions.drain(..).map(|(done, _)| done));
                fail_log(&self.shared, reason, unwritten);
                return;
            }
        }
    }

    fn write_batch(&mut self, batch: &mut VecDeque<PendingAppend>) -> io::Result<()> {
        while let Some(append) = batch.pop_front() {
            assert_eq!(
                append.first_seq, self.next_seq,
                "seqs are assigned densely in queue order"
            );
            // An append's records may straddle a write-out; its caller hears
            // once the last of them is durable, which covers the earlier ones.
            match self.encode(&append.payloads) {
                Ok(metas) => self.buf_completions.push((append.done, metas)),
                Err(err) => {
                    self.buf_completions.push((append.done, Vec::new()));
                    return Err(err);
                }
            }
        }
        self.write_out()
    }

    fn encode(&mut self, payloads: &[Vec<u8>]) -> io::Result<Vec<RecordMeta>> {
        let shared = self.shared.clone();
        let options = &shared.options;
        let mut metas = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let record_len = (HEADER_LEN + payload.len() + TRAILER_LEN) as u64;
            if self.active.records > 0
                && self.active.len + self.buf.len() as u64 + record_len > options.segment_bytes_max
            {
                self.roll_over()?;
            } else if self.buf.len() >= options.batch_bytes_max {
                // Keeps what a torn write can reach within TORN_WRITE_BYTES_MAX.
                self.write_out()?;
            }
            let seq = self.next_seq;
            let offset = self.active.len + self.buf.len() as u64;
            if seq.is_multiple_of(options.index_every_records) && self.active.records > 0 {
                self.buf_updates.push(IndexUpdate::Entry { seq, offset });
            }
            let hash = StoredRecord::encode_into(&mut self.buf, seq, &self.prev_hash, payload);
            metas.push(RecordMeta { seq, hash });
            self.prev_hash = hash;
            self.next_seq += 1;
            self.active.records += 1;
        }
        Ok(metas)
    }

    /// A segment ends durable before the next one exists: open treats a damaged
    /// record in any segment but the last as tampering, never as a torn tail.
    fn roll_over(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.active.file.sync_data()?;
        let (active, index) =
            create_segment(&self.shared.storage, &self.shared.dir, self.next_seq)?;
        self.active = active;
        self.buf_updates.push(IndexUpdate::Segment(index));
        Ok(())
    }

    /// Writes the buffered records with one write and hands them to the syncer.
    /// Waits first while the bytes not yet durable would exceed
    /// `batch_bytes_max`, which bounds what a torn write can reach.
    fn write_out(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            if !self.buf_updates.is_empty() || !self.buf_completions.is_empty() {
                self.hand_over(0);
            }
            return Ok(());
        }
        {
            let mut sync = self.shared.sync.lock();
            while sync.unsynced_bytes > 0
                && sync.unsynced_bytes + self.buf.len() > self.shared.options.batch_bytes_max
                && sync.failed.is_none()
            {
                self.shared.synced_ready.wait(&mut sync);
            }
            if let Some(reason) = &sync.failed {
                return Err(io::Error::other(reason.clone()));
            }
        }
        self.active.file.append(&self.buf)?;
        self.active.len += self.buf.len() as u64;
        let bytes = self.buf.len();
        self.buf.clear();
        self.hand_over(bytes);
        Ok(())
    }

    fn hand_over(&mut self, bytes: usize) {
        let written = Written {
            file: self.active.file.clone(),
            bytes,
            end_seq: self.next_seq,
            last_hash: self.prev_hash,
            updates: std::mem::take(&mut self.buf_updates),
            completions: std::mem::take(&mut self.buf_completions),
        };
        let mut sync = self.shared.sync.lock();
        sync.unsynced_bytes += bytes;
        sync.written.push(written);
        drop(sync);
        self.shared.written_ready.notify_one();
    }
}

/// The syncer: makes everything the encoder wrote durable with one
/// `fdatasync` per file, publishes it to readers and completes the callers.
fn sync_written<S: Storage>(shared: &Shared<S>) {
    loop {
        let (written, encoder_done) = {
            let mut sync = shared.sync.lock();
            while sync.written.is_empty() && !sync.encoder_done {
                shared.written_ready.wait(&mut sync);
            }
            (std::mem::take(&mut sync.written), sync.encoder_done)
        };
        if written.is_empty() && encoder_done {
            return;
        }
        let failed_before = shared.sync.lock().failed.clone();
        let outcome = match failed_before {
            Some(reason) => Err(reason),
            None => sync_files(&written)
                .map_err(|err| format!("fdatasync in {} failed: {err}", shared.dir.display())),
        };
        if let Err(reason) = outcome {
            let callers = written
                .into_iter()
                .flat_map(|written| written.completions)
                .map(|(done, _)| done);
            fail_log(shared, reason, callers);
            continue;
        }
        let bytes: usize = written.iter().map(|written| written.bytes).sum();
        let last = written.last().expect("at least one hand-over");
        let head = Head {
            len: last.end_seq,
            last_hash: last.last_hash,
        };
        let mut completions = Vec::new();
        let mut updates = Vec::new();
        for written in written {
            updates.extend(written.updates);
            completions.extend(written.completions);
        }
        let newly_durable = head.len - shared.durable_len.load(Ordering::Acquire);
        publish(shared, updates, head);
        shared.sync_stats.lock().record_batch(newly_durable);
        shared.sync.lock().unsynced_bytes -= bytes;
        shared.synced_ready.notify_all();
        for (done, metas) in completions {
            // A caller that stopped waiting has nothing to learn.
            let _ = done.send(Ok(metas));
        }
    }
}

fn sync_files<F: StorageFile>(written: &[Written<F>]) -> io::Result<()> {
    let mut synced: Option<&Arc<F>> = None;
    for written in written {
        if synced.is_none_or(|file| !Arc::ptr_eq(file, &written.file)) {
            written.file.sync_data()?;
            synced = Some(&written.file);
        }
    }
    Ok(())
}

fn publish<S: Storage>(shared: &Shared<S>, updates: Vec<IndexUpdate<S::File>>, head: Head) {
    if !updates.is_empty() {
        let mut index = shared.index.write();
        for update in updates {
            match update {
                IndexUpdate::Segment(segment) => index.segments.push(segment),
                IndexUpdate::Entry { seq, offset } => index
                    .segments
                    .last_mut()
                    .expect("the log has a segment")
                    .sparse
                    .push((seq, offset)),
            }
        }
    }
    *shared.head.lock() = head;
    shared.durable_len.store(head.len, Ordering::Release);
    shared.durable_tx.send_replace(head.len);
}

/// Crash-only: after an I/O error nobody knows what reached the disk, so
/// every pending and later append fails until the log is reopened.
fn fail_log<S: Storage>(
    shared: &Shared<S>,
    reason: String,
    callers: impl IntoIterator<Item = oneshot::Sender<Result<Vec<RecordMeta>, StoreError>>>,
) {
    let first_failure = {
        let mut sync = shared.sync.lock();
        let first = sync.failed.is_none();
        sync.failed.get_or_insert_with(|| reason.clone());
        first
    };
    if first_failure {
        tracing::error!(%reason, "the log has failed");
    }
    let pending: Vec<PendingAppend> = {
        let mut queue = shared.queue.lock();
        queue.failed.get_or_insert_with(|| reason.clone());
        queue.pending_records = 0;
        queue.pending.drain(..).collect()
    };
    shared.work_ready.notify_all();
    shared.room_ready.notify_all();
    shared.synced_ready.notify_all();
    for done in callers
        .into_iter()
        .chain(pending.into_iter().map(|append| append.done))
    {
        let _ = done.send(Err(StoreError::Failed(reason.clone())));
    }
}

/// Lets the syncer finish what the encoder wrote, then waits for it.
fn join_syncer<S: Storage>(shared: &Shared<S>, syncer: JoinHandle<()>) {
    shared.sync.lock().encoder_done = true;
    shared.written_ready.notify_one();
    syncer.join().expect("the log syncer panicked");
}
