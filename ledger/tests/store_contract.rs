//! The shared `EventStore` contract, run against the file log (with tiny
//! segments, so reads cross many segment rolls) on a real disk and on a
//! simulated one that can fail, and against the in-memory store.

use mingzhang_ledger::store::contract::{StoreHarness, run_contract_suite};
use mingzhang_ledger::store::storage::SimulatedDisk;
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, MemoryStore, verify_log};

struct FileLogHarness {
    root: tempfile::TempDir,
    logs: usize,
    current: Option<std::path::PathBuf>,
}

fn small_segments() -> FileLogOptions {
    FileLogOptions {
        segment_bytes_max: 4096,
        index_every_records: 8,
        reserve_bytes: 1024,
        ..FileLogOptions::default()
    }
}

impl StoreHarness for FileLogHarness {
    type Store = FileLog;

    async fn fresh(&mut self) -> FileLog {
        self.logs += 1;
        let dir = self.root.path().join(format!("log-{}", self.logs));
        self.current = Some(dir.clone());
        let (log, report) = FileLog::open(&dir, small_segments()).expect("open a new log");
        assert_eq!(report.records, 0);
        assert_eq!(report.torn_tail, None);
        log
    }

    async fn reopen(&mut self, store: FileLog) -> FileLog {
        let head = store.head();
        store.close().expect("close");
        let dir = self.current.clone().expect("a log was opened");
        let (log, report) = FileLog::open(&dir, small_segments()).expect("reopen");
        assert_eq!(report.records, head.len);
        assert_eq!(report.torn_tail, None);
        log
    }

    /// A real disk cannot be made to fail on cue; the simulated one below can.
    async fn break_medium(&mut self, _store: &FileLog) -> bool {
        false
    }
}

/// The file log on a simulated disk: the same code, and a disk that fails
/// on cue.
#[derive(Default)]
struct SimulatedDiskHarness {
    disk: SimulatedDisk,
    logs: usize,
}

impl SimulatedDiskHarness {
    fn dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/logs/log-{}", self.logs))
    }
}

impl StoreHarness for SimulatedDiskHarness {
    type Store = FileLog<SimulatedDisk>;

    async fn fresh(&mut self) -> FileLog<SimulatedDisk> {
        self.logs += 1;
        let (log, report) =
            FileLog::open_on(self.disk.clone(), self.dir(), small_segments()).expect("open");
        assert_eq!(report.records, 0);
        log
    }

    async fn reopen(&mut self, store: FileLog<SimulatedDisk>) -> FileLog<SimulatedDisk> {
        let head = store.head();
        store.close().expect("close");
        let (log, report) =
            FileLog::open_on(self.disk.clone(), self.dir(), small_segments()).expect("reopen");
        assert_eq!(report.records, head.len);
        log
    }

    async fn break_medium(&mut self, _store: &FileLog<SimulatedDisk>) -> bool {
        self.disk.inject_io_errors(true);
        true
    }
}

struct MemoryHarness;

impl StoreHarness for MemoryHarness {
    type Store = MemoryStore;

    async fn fresh(&mut self) -> MemoryStore {
        MemoryStore::new()
    }

    async fn reopen(&mut self, store: MemoryStore) -> MemoryStore {
        store.clone()
    }

    async fn break_medium(&mut self, _store: &MemoryStore) -> bool {
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_log_keeps_the_store_contract_across_segment_rolls() {
    let mut harness = FileLogHarness {
        root: tempfile::tempdir().expect("tempdir"),
        logs: 0,
        current: None,
    };
    run_contract_suite(&mut harness).await;
    let mut segments_most = 0;
    for log in 1..=harness.logs {
        let dir = harness.root.path().join(format!("log-{log}"));
        let report = verify_log(&dir, |_| {}).expect("every log the suite wrote verifies");
        assert_eq!(report.torn_tail, None, "{}", dir.display());
        segments_most = segments_most.max(report.segments);
    }
    assert!(segments_most > 5, "segments rolled: {segments_most}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_log_on_a_failing_disk_keeps_the_store_contract() {
    run_contract_suite(&mut SimulatedDiskHarness::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_keeps_the_store_contract() {
    run_contract_suite(&mut MemoryHarness).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_counts_every_durable_record_once_across_its_syncs() {
    let root = tempfile::tempdir().unwrap();
    let (log, _) = FileLog::open(root.path().join("log"), small_segments()).unwrap();
    let log = std::sync::Arc::new(log);
    const WRITERS: u64 = 32;
    const APPENDS_EACH: u64 = 20;
    let next_seq = std::sync::Arc::new(parking_lot::Mutex::new(0u64));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (log, next_seq) = (log.clone(), next_seq.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..APPENDS_EACH {
                let pending = {
                    let mut next = next_seq.lock();
                    let pending = log.append(*next, vec![format!("{writer}-{n}").into_bytes()]);
                    *next += 1;
                    pending
                };
                pending.await.expect("durable");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let stats = log.sync_stats().expect("the file log counts its syncs");
    assert_eq!(stats.records, WRITERS * APPENDS_EACH);
    assert_eq!(stats.batch_records.iter().sum::<u64>(), stats.syncs);
    assert!(
        stats.syncs >= 1 && stats.syncs <= stats.records,
        "{stats:?}"
    );
}
