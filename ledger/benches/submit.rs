//! Durable donations per second through the ledger's own API
//! (`Ledger::submit`: decide, append, group commit, reply), with 1, 16 and
//! 256 concurrent writers on the file log. Prints figures; asserts nothing
//! about time.
//!
//! cargo bench -p mingzhang-ledger --bench submit [-- 256x8 growth ...]

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fresh_histograms, latency_histogram, process_cpu_time};
use mingzhang_ledger::scenario::{self, giving_day_donation};
use mingzhang_ledger::service::{CommandMeta, Ledger};
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions};

mod common;

// The allocator the `mingzhang` binary runs with: the ledger allocates and
// frees its commands' strings on every call, so the figures depend on it.
// (The log bench keeps the system allocator: its simulated disk grows
// buffers of hundreds of megabytes, and with mimalloc that growth, not the
// log, set its figure: 203,000 records/s for 256 writers against 674,000.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUN_FOR: Duration = Duration::from_secs(2);

/// A ledger on the file log in `dir`, with the Kaixuan scenario submitted.
fn kaixuan_ledger(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
) -> (Arc<dyn EventStore>, Arc<Ledger>) {
    let (log, _) = FileLog::open(dir, FileLogOptions::default()).expect("open");
    let store: Arc<dyn EventStore> = Arc::new(log);
    let ledger = runtime.block_on(async {
        let ledger = Ledger::open(store.clone()).await.expect("ledger");
        for (command, meta) in scenario::kaixuan() {
            ledger.submit(command, meta).await.expect("scenario");
        }
        ledger
    });
    (store, ledger)
}

const GROWTH_DONATIONS: u64 = 1_000_000;
const GROWTH_PER_CALL: u64 = 1_000;

/// One writer submitting batches until the ledger holds `GROWTH_DONATIONS`
/// donations, and its slowest call: the decision state grows all the while,
/// and a hash table that doubles in one insert holds up every write.
fn measure_growth(runtime: &tokio::runtime::Runtime, root: &std::path::Path) {
    let (_store, ledger) = kaixuan_ledger(runtime, &root.join("growth"));
    let started = Instant::now();
    let (latencies, slowest_at) = runtime.block_on(async {
        let mut latencies = latency_histogram();
        let mut slowest = (0, 0);
        for call in 0..GROWTH_DONATIONS / GROWTH_PER_CALL {
            let commands: Vec<_> = (0..GROWTH_PER_CALL)
                .map(|i| {
                    let n = call * GROWTH_PER_CALL + i;
                    let meta = CommandMeta::operator(1_757_034_000_000, "bench")
                        .with_idempotency_key(format!("growth-{n}"), [7; 32]);
                    (giving_day_donation(format!("bench-0-{n}"), n), meta)
                })
                .collect();
            let begun = Instant::now();
            for result in ledger.submit_many(commands).await {
                result.expect("donation accepted");
            }
            let took = begun.elapsed().as_micros().max(1) as u64;
            latencies.record(took).expect("record");
            if took > slowest.0 {
                slowest = (took, call * GROWTH_PER_CALL);
            }
        }
        (latencies, slowest.1)
    });
    let elapsed = started.elapsed();
    println!(
        "Ledger::submit_many, 1 writer x {GROWTH_PER_CALL} donations per call up to {GROWTH_DONATIONS} donations: {:>9.0} durable donations/s, call p50 {} us, p99 {} us, slowest {} us (with {slowest_at} donations in)",
        GROWTH_DONATIONS as f64 / elapsed.as_secs_f64(),
        latencies.value_at_quantile(0.50),
        latencies.value_at_quantile(0.99),
        latencies.max(),
    );
}

/// `writers` tasks, each submitting `per_call` donations per call (`submit`
/// for one, `submit_many` for more) and waiting for them before the next.
fn measure(
    runtime: &tokio::runtime::Runtime,
    root: &std::path::Path,
    writers: usize,
    per_call: usize,
) {
    let dir = root.join(format!("submit-{writers}-writers-{per_call}-per-call"));
    let (store, ledger) = kaixuan_ledger(runtime, &dir);
    let scenario_len = store.head().len;
    let syncs_before = store.sync_stats().expect("the file log counts its syncs");
    // Made before the clock starts: for 256 writers they are 36 MB to zero.
    let histograms = fresh_histograms(writers);
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let histogram = runtime.block_on(async {
        let mut tasks = Vec::new();
        for (writer, mut latencies) in histograms.into_iter().enumerate() {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < RUN_FOR {
                    let begun = Instant::now();
                    let commands: Vec<_> = (0..per_call as u64)
                        .map(|i| {
                            let n = n * per_call as u64 + i;
                            let meta = CommandMeta::operator(1_757_034_000_000, "bench")
                                .with_idempotency_key(format!("bench-{writer}-{n}"), [7; 32]);
                            (giving_day_donation(format!("bench-{writer}-{n}"), n), meta)
                        })
                        .collect();
                    if per_call == 1 {
                        let (command, meta) = commands.into_iter().next().expect("one");
                        ledger
                            .submit(command, meta)
                            .await
                            .expect("donation accepted");
                    } else {
                        for result in ledger.submit_many(commands).await {
                            result.expect("donation accepted");
                        }
                    }
                    latencies
                        .record(begun.elapsed().as_micros().max(1) as u64)
                        .expect("record");
                    n += 1;
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
    let submitted = store.head().len - scenario_len;
    let syncs = store.sync_stats().expect("the file log counts its syncs");
    let records_per_fsync = (syncs.records - syncs_before.records) as f64
        / (syncs.syncs - syncs_before.syncs).max(1) as f64;
    assert_eq!(
        submitted,
        histogram.len() * per_call as u64,
        "every acknowledged donation is in the log"
    );
    println!(
        "Ledger::submit, {writers:>4} writers x {per_call} donations per call: {:>9.0} durable donations/s ({submitted} in {:.2} s), latency p50 {} us, p99 {} us, {records_per_fsync:.0} records per fsync, {:.2} us CPU per donation",
        submitted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        cpu.as_secs_f64() * 1e6 / submitted.max(1) as f64,
    );
}

/// "256x32": 256 writers, 32 donations per call.
fn parse_case(case: &str) -> Option<(usize, usize)> {
    let (writers, per_call) = case.split_once('x')?;
    Some((writers.parse().ok()?, per_call.parse().ok()?))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // On the real disk: /tmp may be tmpfs elsewhere, the target dir is not.
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    // `cargo bench --bench submit -- 256x8 256x32 growth` runs only the cases
    // named, any writers x donations per call.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    // Writers x donations per call; the last is what a batch (gRPC
    // SubmitBatch, `submit_many`) lets the same writers reach.
    let default_cases = [(1, 1), (16, 1), (256, 1), (256, 8)];
    let cases: Vec<(usize, usize)> = if chosen.is_empty() {
        default_cases.to_vec()
    } else {
        chosen.iter().filter_map(|case| parse_case(case)).collect()
    };
    for (run, (writers, per_call)) in cases.into_iter().enumerate() {
        measure(
            &runtime,
            &root.path().join(run.to_string()),
            writers,
            per_call,
        );
    }
    if chosen.is_empty() || chosen.iter().any(|case| case == "growth") {
        measure_growth(&runtime, root.path());
    }
}
