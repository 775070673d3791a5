//! The shared `EventStore` contract, run against the file log (with tiny
//! segments, so reads cross many segment rolls) and the in-memory store.

use mingzhang_ledger::store::contract::{StoreHarness, run_contract_suite};
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
        ..FileLogOptions::default()
    }
}

impl StoreHarness for FileLogHarness {
    type Store = FileLog;

    fn fresh(&mut self) -> FileLog {
        self.logs += 1;
        let dir = self.root.path().join(format!("log-{}", self.logs));
        self.current = Some(dir.clone());
        let (log, report) = FileLog::open(&dir, small_segments()).expect("open a new log");
        assert_eq!(report.records, 0);
        assert_eq!(report.torn_tail, None);
        log
    }

    fn reopen(&mut self, store: FileLog) -> FileLog {
        let head = store.head();
        store.close().expect("close");
        let dir = self.current.clone().expect("a log was opened");
        let (log, report) = FileLog::open(&dir, small_segments()).expect("reopen");
        assert_eq!(report.records, head.len);
        assert_eq!(report.torn_tail, None);
        log
    }
}

struct MemoryHarness;

impl StoreHarness for MemoryHarness {
    type Store = MemoryStore;

    fn fresh(&mut self) -> MemoryStore {
        MemoryStore::new()
    }

    fn reopen(&mut self, store: MemoryStore) -> MemoryStore {
        store.clone()
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
    let last = harness.current.clone().expect("a log");
    let report = verify_log(&last, |_| {}).expect("the log verifies");
    assert_eq!(report.records, 160);
    assert!(report.segments > 5, "segments rolled: {}", report.segments);
    assert_eq!(report.torn_tail, None);
}

#[tokio::test]
async fn memory_store_keeps_the_store_contract() {
    run_contract_suite(&mut MemoryHarness).await;
}
