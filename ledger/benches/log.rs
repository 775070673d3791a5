//! Durable append throughput and latency of the file log, then verify_log
//! throughput. Prints figures; asserts nothing about time.
//!
//! cargo bench -p mingzhang-ledger --bench log

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fresh_histograms, latency_histogram, process_cpu_time};
use hdrhistogram::Histogram;
use mingzhang_ledger::record::{HEADER_LEN, TRAILER_LEN};
use mingzhang_ledger::store::storage::{SimulatedDisk, Storage};
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, verify_log};

mod common;

const RUN_FOR: Duration = Duration::from_secs(2);
const PAYLOAD_BYTES: usize = 250;

fn run(writers: usize, records_per_append: usize, root: &std::path::Path) -> std::path::PathBuf {
    let dir = root.join(format!(
        "log-{writers}-writers-{records_per_append}-per-append"
    ));
    let (log, _) = FileLog::open(&dir, FileLogOptions::default()).expect("open");
    measure(log, writers, records_per_append, "real disk");
    dir
}

/// The same load on a log that grows its file with every write, for
/// comparison: what reserved space is worth on this disk.
fn run_without_reserved_space(writers: usize, root: &std::path::Path) {
    let dir = root.join(format!("log-{writers}-writers-no-reserve"));
    let options = FileLogOptions {
        reserve_bytes: 0,
        ..FileLogOptions::default()
    };
    let (log, _) = FileLog::open(&dir, options).expect("open");
    measure(log, writers, 1, "real disk, no reserved space");
}

/// The same load on the in-memory simulated disk, where fdatasync costs
/// nothing: what the writer and the callers cost in CPU.
fn run_without_fsync_latency(writers: usize) {
    let (log, _) = FileLog::open_on(
        SimulatedDisk::new(),
        "/simulated/bench",
        // Reserved space is for a real disk's journal; in memory it would
        // only cost copying.
        FileLogOptions {
            reserve_bytes: 0,
            ..FileLogOptions::default()
        },
    )
    .expect("open");
    measure(log, writers, 1, "simulated disk, no fsync latency");
}

/// `writers` tasks, each appending `records_per_append` records per call and
/// waiting for them to be durable before the next call.
fn measure<S: Storage>(log: FileLog<S>, writers: usize, records_per_append: usize, disk: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let log = Arc::new(log);
    let next_seq = Arc::new(parking_lot::Mutex::new(0u64));
    // Made before the clock starts: for 256 writers they are 36 MB to zero.
    let histograms = fresh_histograms(writers);
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let histogram = runtime.block_on(async {
        let mut tasks = Vec::new();
        for (writer, mut latencies) in histograms.into_iter().enumerate() {
            let (log, next_seq) = (log.clone(), next_seq.clone());
            tasks.push(tokio::spawn(async move {
                let payload = vec![b'a' + (writer % 26) as u8; PAYLOAD_BYTES];
                while started.elapsed() < RUN_FOR {
                    let begun = Instant::now();
                    let pending = {
                        let mut next = next_seq.lock();
                        let pending = log.append(*next, vec![payload.clone(); records_per_append]);
                        *next += records_per_append as u64;
                        pending
                    };
                    pending.await.expect("append");
                    latencies
                        .record(begun.elapsed().as_micros().max(1) as u64)
                        .expect("record");
                }
                latencies
            }));
        }
        let mut all = latency_histogram();
        for task in tasks {
            all.add(task.await.expect("writer")).expect("merge");
        }
        all
    });
    let elapsed = started.elapsed();
    let cpu = process_cpu_time() - cpu_before;
    let appended = log.head().len;
    let stats = log.sync_stats().expect("the file log counts its syncs");
    println!(
        "{disk}, {writers:>4} writers x {records_per_append} records per append: {:>9.0} durable records/s ({appended} in {:.2} s), latency p50 {} us, p99 {} us, {:.1} records per fsync, {:.2} us CPU per record",
        appended as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        stats.records as f64 / stats.syncs.max(1) as f64,
        cpu.as_secs_f64() * 1e6 / appended.max(1) as f64,
    );
    drop(log);
}

/// What one durable write of `bytes` costs on this disk, without the log: the
/// floor under every group commit.
fn raw_fdatasync(root: &std::path::Path, bytes: usize) -> (u64, Histogram<u64>) {
    use std::io::Write;
    let path = root.join("fdatasync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let buffer = vec![7u8; bytes];
    let mut latencies = latency_histogram();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        let begun = Instant::now();
        file.write_all(&buffer).expect("write");
        file.sync_data().expect("fdatasync");
        latencies
            .record(begun.elapsed().as_micros().max(1) as u64)
            .expect("record");
    }
    std::fs::remove_file(path).expect("remove probe");
    (latencies.len(), latencies)
}

/// The disk's own ceiling for `writers` writers with one append each in
/// flight: at best every one of them rides in every fdatasync.
fn disk_ceiling(root: &std::path::Path) {
    let record_bytes = HEADER_LEN + PAYLOAD_BYTES + TRAILER_LEN;
    for records in [1, 128, 256] {
        let (syncs, latencies) = raw_fdatasync(root, records * record_bytes);
        println!(
            "raw write+fdatasync of {records:>3} records ({:>6} bytes): {syncs} per s, p50 {} us, p99 {} us: at most {:.0} records/s",
            records * record_bytes,
            latencies.value_at_quantile(0.50),
            latencies.value_at_quantile(0.99),
            records as f64 * 1e6 / latencies.value_at_quantile(0.50) as f64,
        );
    }
}

fn main() {
    // On the real disk: /tmp may be tmpfs elsewhere, the target dir is not.
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    disk_ceiling(root.path());
    println!(
        "file log, {PAYLOAD_BYTES}-byte payloads, one append per writer at a time, {RUN_FOR:?} each"
    );
    let mut dirs = Vec::new();
    for writers in [1, 16, 256] {
        dirs.push(run(writers, 1, root.path()));
    }
    // What a batch API (gRPC SubmitBatch) lets the same writers reach.
    dirs.push(run(256, 8, root.path()));
    for writers in [16, 256] {
        run_without_reserved_space(writers, root.path());
    }
    for writers in [1, 256] {
        run_without_fsync_latency(writers);
    }
    for dir in dirs {
        let started = Instant::now();
        let report = verify_log(&dir, |_| {}).expect("verify");
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "verify_log {}: {} records, {:.1} MB in {:.3} s = {:.0} MB/s",
            dir.file_name().expect("name").to_string_lossy(),
            report.records,
            report.bytes as f64 / 1e6,
            elapsed,
            report.bytes as f64 / 1e6 / elapsed
        );
    }
    println!(
        "compare with single-core SHA-256 on 256-byte inputs: openssl speed -bytes 256 -evp sha256"
    );
}
