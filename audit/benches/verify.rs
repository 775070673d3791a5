//! What an audit costs: `verify` over a log of 10,000,000 records (by
//! default; `-- RECORDS` to change it), the chain-only pass against the whole
//! audit (chain, Merkle root, the replay that re-decides every event and
//! applies it to every projection, then the signed checkpoint's root and
//! balances digest), next to `openssl speed sha256` on the
//! same machine in the same run: the chain pass is SHA-256 over every byte.
//! Prints figures; asserts nothing about time.
//!
//! cargo bench -p mingzhang-audit --bench verify [-- RECORDS]
//!
//! The log is a giving day after the Kaixuan scenario: 50-yuan online gifts
//! to the five-year campaign, written through `Ledger::submit_many` so every
//! record is one the rules accept. It is written once per run into
//! `$MINGZHANG_BENCH_DIR` (default: a temporary directory), or kept in
//! `$MINGZHANG_BENCH_KEEP_LOG` and reused by the next run of the same size,
//! and read from the page cache, as an auditor re-running `verify` would.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use mingzhang_audit::balances_line;
use mingzhang_audit::verify::{AuditInputs, SourceKind, VerifyOptions, verify};
use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey};
use mingzhang_ledger::merkle::Frontier;
use mingzhang_ledger::scenario::{self, giving_day_donation};
use mingzhang_ledger::service::{CommandMeta, Ledger};
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, ReadOnlyLog, verify_log};
use mingzhang_projections::Projections;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS_DEFAULT: u64 = 10_000_000;
const DONATIONS_PER_CALL: u64 = 8_192;

fn main() {
    let records: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(RECORDS_DEFAULT);
    let parent = std::env::var_os("MINGZHANG_BENCH_DIR").map(std::path::PathBuf::from);
    let work = match &parent {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("bench directory");
    // A kept log saves minutes when the bench is run again (for a profile).
    let kept_log = std::env::var_os("MINGZHANG_BENCH_KEEP_LOG").map(std::path::PathBuf::from);
    let log_dir = kept_log.unwrap_or_else(|| work.path().join("log"));
    let kept_records = verify_log(&log_dir, |_| {}).map(|chain| chain.records);
    if kept_records.as_ref().is_ok_and(|&kept| kept == records) {
        println!("reusing the {records} records in {}", log_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&log_dir);
        let written = Instant::now();
        write_giving_day(&log_dir, records);
        println!(
            "wrote {records} records in {:.1} s",
            written.elapsed().as_secs_f64()
        );
    }

    let started = Instant::now();
    let cpu_before_chain = process_cpu_s();
    let chain = verify_log(&log_dir, |_| {}).expect("the chain holds");
    let chain_s = started.elapsed().as_secs_f64();
    let chain_cpu_s = process_cpu_s() - cpu_before_chain;
    assert_eq!(chain.records, records);

    let (checkpoint_note, verifier_key) = sign_checkpoint(&log_dir, records);
    let inputs = AuditInputs {
        source: SourceKind::Bundle,
        log_dir: log_dir.clone(),
        checkpoint_note: Some(checkpoint_note),
        verifier_key: Some(verifier_key),
        key_from: "the bench's own key".to_owned(),
        published_funds: None,
        source_problems: Vec::new(),
    };
    let options = VerifyOptions {
        since_note: None,
        allow_unsigned: false,
        ..VerifyOptions::default()
    };
    let started = Instant::now();
    let cpu_before_verify = process_cpu_s();
    let report = verify(&inputs, &options, |_, _| {}).expect("verify runs");
    let full_s = started.elapsed().as_secs_f64();
    let full_cpu_s = process_cpu_s() - cpu_before_verify;
    assert!(report.ok, "the bench log verifies: {:?}", report.problems);
    assert_eq!(report.records, records);
    // `verify` runs its first pass (the chain, with the Merkle leaves hashed
    // beside it on the other core) and then the replay pass, and reports the
    // speed of each; the difference from the chain-only pass is the time the
    // audit adds to walking the chain.
    let beyond_chain_s = (full_s - chain_s).max(f64::EPSILON);
    // Wall clock on a shared machine moves with the neighbours; the CPU
    // spent per event moves much less, and is what the target needs cut.
    let beyond_chain_cpu_s = (full_cpu_s - chain_cpu_s).max(0.0);

    let mb = chain.bytes as f64 / 1e6;
    let record_bytes = chain.bytes / records.max(1);
    let first_pass_s = mb / report.chain_mb_per_s;
    let replay_pass_s = records as f64 / report.replay_events_per_s;
    println!("log: {records} records, {mb:.0} MB, {record_bytes} bytes per record");
    println!(
        "chain only (verify_log):         {:>6.2} s  {:>12.0} records/s  {:>6.0} MB/s",
        chain_s,
        records as f64 / chain_s,
        mb / chain_s
    );
    println!(
        "whole audit (verify):            {:>6.2} s  {:>12.0} events/s",
        full_s,
        records as f64 / full_s
    );
    println!(
        "  its first pass (chain, Merkle leaves beside it): {:>6.2} s  {:>12.0} records/s",
        first_pass_s,
        records as f64 / first_pass_s
    );
    println!(
        "  its replay pass (re-decide + projections):       {:>6.2} s  {:>12.0} events/s  (target >= 1,000,000)",
        replay_pass_s, report.replay_events_per_s
    );
    println!(
        "  beyond the chain-only pass (whole - chain only): {:>6.2} s  {:>12.0} events/s",
        beyond_chain_s,
        records as f64 / beyond_chain_s
    );
    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "CPU (user + sys): chain only {:.3} µs/record; whole audit {:.3} µs/event ({:.2} cores busy), {:.3} beyond the chain-only pass; load average {}",
        chain_cpu_s * 1e6 / records as f64,
        full_cpu_s * 1e6 / records as f64,
        full_cpu_s / full_s,
        beyond_chain_cpu_s * 1e6 / records as f64,
        load_average
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Some(sha256_mb_s) = openssl_sha256_mb_per_s(record_bytes) {
        println!(
            "openssl speed sha256, {record_bytes}-byte blocks: {sha256_mb_s:.0} MB/s; chain pass at {:.0}% of it",
            100.0 * (mb / chain_s) / sha256_mb_s
        );
    }
}

/// The Kaixuan scenario, then giving-day donations up to `records` records.
fn write_giving_day(log_dir: &std::path::Path, records: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (log, _) = FileLog::open(log_dir, FileLogOptions::default()).expect("open");
        let store: Arc<dyn EventStore> = Arc::new(log);
        let ledger = Ledger::open(store.clone()).await.expect("ledger");
        for (command, meta) in scenario::kaixuan() {
            ledger.submit(command, meta).await.expect("scenario");
        }
        let mut next = store.head().len;
        let meta = CommandMeta::operator(
            scenario::unix_ms_at_0900_cst("2025-09-05"),
            "operator:bench",
        );
        while next < records {
            let count = DONATIONS_PER_CALL.min(records - next);
            let commands = (next..next + count)
                .map(|n| (giving_day_donation(format!("gd-{n}"), n), meta.clone()))
                .collect();
            for result in ledger.submit_many(commands).await {
                result.expect("a giving-day donation is accepted");
            }
            next += count;
        }
        assert_eq!(store.head().len, records);
    });
}

/// A checkpoint over the whole log, signed as `serve` signs one (its root and
/// balances digest computed here the simple way), and its verifier key: the
/// audit then checks the root and the digest as it would for a real bundle.
fn sign_checkpoint(log_dir: &std::path::Path, records: u64) -> (String, String) {
    let (log, _) = ReadOnlyLog::open(log_dir).expect("open read-only");
    let mut frontier = Frontier::new();
    let mut projections = Projections::default();
    let mut seq = 0;
    while seq < records {
        for record in log.read(seq, 65_536).expect("read") {
            frontier.append_leaf(record.bytes());
            projections
                .apply_payload(seq, record.payload())
                .expect("the bench log applies");
            seq += 1;
        }
    }
    let checkpoint = Checkpoint::new(
        "bench.mingzhang/ledger",
        records,
        frontier.root(),
        vec![balances_line(&projections.balances_digest())],
    )
    .expect("a checkpoint");
    let key = SignerKey::generate("bench.mingzhang/ledger").expect("a key");
    (checkpoint.sign(&key), key.verifier().to_text())
}

/// User and system CPU seconds this process has spent, on every thread.
fn process_cpu_s() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes the struct it is given and reads nothing else.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(status, 0, "getrusage(RUSAGE_SELF) cannot fail");
    // SAFETY: initialised by the successful call above.
    let usage = unsafe { usage.assume_init() };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// `openssl speed`'s SHA-256 throughput at `block_bytes` (MB/s), or None
/// when openssl is not installed.
fn openssl_sha256_mb_per_s(block_bytes: u64) -> Option<f64> {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "2", "-bytes"])
        .arg(block_bytes.to_string())
        .arg("sha256")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // The last line: "sha256  <k bytes per second>k"
    let line = text.lines().rev().find(|line| line.starts_with("sha256"))?;
    let kilobytes: f64 = line
        .split_whitespace()
        .nth(1)?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(kilobytes * 1000.0 / 1e6)
}
