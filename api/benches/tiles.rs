//! What publishing the log as tlog-tiles costs: `tiles::publish` of a log of
//! 1,000,000 records (by default; `-- RECORDS` to change it) into an empty
//! directory, then again after 10,000 more records (incremental), then once
//! more with nothing new, with the bytes published, next to SHA-256 over the
//! same record bytes (sha2, as publish hashes them, and `openssl speed
//! sha256`) in the same run. Prints figures; asserts nothing about time.
//!
//! cargo bench -p mingzhang-api --bench tiles [-- RECORDS]
//!
//! The records are giving-day gifts (50-yuan online donations to the
//! campaign by a registered donor id), written straight into one segment:
//! publish reads and hashes records and checks each for personal data; it
//! does not replay them. `$MINGZHANG_BENCH_DIR` holds the work (default: a
//! temporary directory).

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use mingzhang_api::tiles::publish;
use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey};
use mingzhang_ledger::merkle::Frontier;
use mingzhang_ledger::record::{GENESIS_PREV_HASH, Hash, StoredRecord};
use mingzhang_ledger::scenario::giving_day_donation;
use mingzhang_ledger::store::ReadOnlyLog;
use mingzhang_ledger::store::file::{encode_segment_header, segment_file_name};
use mingzhang_proto::v1::EventEnvelope;
use prost::Message;
use sha2::{Digest, Sha256};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS_DEFAULT: u64 = 1_000_000;
const GROWTH_RECORDS: u64 = 10_000;

/// The log's segment, and what a writer needs to go on appending.
struct Segment {
    file: std::io::BufWriter<std::fs::File>,
    next_seq: u64,
    prev_hash: Hash,
    frontier: Frontier,
    bytes: u64,
}

impl Segment {
    fn create(log_dir: &std::path::Path) -> Segment {
        std::fs::create_dir_all(log_dir).expect("log dir");
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(log_dir.join(segment_file_name(0))).expect("segment"),
        );
        file.write_all(&encode_segment_header(0)).expect("header");
        Segment {
            file,
            next_seq: 0,
            prev_hash: GENESIS_PREV_HASH,
            frontier: Frontier::new(),
            bytes: 0,
        }
    }

    fn append_gifts(&mut self, count: u64) {
        for _ in 0..count {
            let n = self.next_seq;
            let envelope = EventEnvelope {
                recorded_at_unix_ms: 1_757_034_000_000 + n as i64,
                actor: "operator:bench".into(),
                event: Some(giving_day_donation(format!("gd-{n}"), n)),
                ..Default::default()
            };
            let record = StoredRecord::encode(n, &self.prev_hash, &envelope.encode_to_vec());
            self.file.write_all(record.bytes()).expect("append");
            self.frontier.append_leaf(record.bytes());
            self.prev_hash = record.hash();
            self.bytes += record.len() as u64;
            self.next_seq += 1;
        }
        self.file.flush().expect("flush");
    }

    fn sign(&self, key: &SignerKey) -> String {
        Checkpoint::new(
            "bench.mingzhang/ledger",
            self.next_seq,
            self.frontier.root(),
            vec![],
        )
        .expect("a checkpoint")
        .sign(key)
    }
}

fn main() {
    let records: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(RECORDS_DEFAULT);
    let work = match std::env::var_os("MINGZHANG_BENCH_DIR") {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("bench directory");
    let log_dir = work.path().join("log");
    let out = work.path().join("tiles");
    let key = SignerKey::generate("bench.mingzhang/ledger").expect("a key");

    let mut segment = Segment::create(&log_dir);
    segment.append_gifts(records);
    let log_bytes = segment.bytes;
    println!(
        "log: {records} records, {:.1} MB, {} bytes per record",
        log_bytes as f64 / 1e6,
        log_bytes / records.max(1)
    );

    let note = segment.sign(&key);
    let (log, _) = ReadOnlyLog::open(&log_dir).expect("open read-only");
    let started = Instant::now();
    let first = publish(&log, &note, &key.verifier(), &out).expect("publish");
    let first_s = started.elapsed().as_secs_f64();
    println!(
        "publish into an empty directory: {first_s:>6.2} s  {:>10.0} records/s  {} files, {:.1} MB published ({:.2} x the log)",
        records as f64 / first_s,
        first.files_written,
        first.bytes_total as f64 / 1e6,
        first.bytes_total as f64 / log_bytes as f64
    );
    drop(log);

    segment.append_gifts(GROWTH_RECORDS);
    let note = segment.sign(&key);
    let (log, _) = ReadOnlyLog::open(&log_dir).expect("open read-only");
    let started = Instant::now();
    let grown = publish(&log, &note, &key.verifier(), &out).expect("publish");
    println!(
        "publish after {GROWTH_RECORDS} more records: {:>6.2} s  {} files written ({:.2} MB), {} full tiles kept",
        started.elapsed().as_secs_f64(),
        grown.files_written,
        grown.bytes_written as f64 / 1e6,
        grown.files_kept
    );
    let started = Instant::now();
    let again = publish(&log, &note, &key.verifier(), &out).expect("publish");
    assert_eq!(again.files_written, 0);
    println!(
        "publish with nothing new:        {:>6.2} s  0 files written",
        started.elapsed().as_secs_f64()
    );

    // SHA-256 over the same record bytes, as publish's leaf hashes take it.
    let (log, _) = ReadOnlyLog::open(&log_dir).expect("open read-only");
    let all =
        mingzhang_ledger::store::EventStore::read(&log, 0, (records + GROWTH_RECORDS) as usize)
            .expect("read");
    let started = Instant::now();
    let mut hasher_output = 0u8;
    for record in &all {
        let digest: [u8; 32] = Sha256::new()
            .chain_update([0u8])
            .chain_update(record.bytes())
            .finalize()
            .into();
        hasher_output ^= digest[0];
    }
    let sha_s = started.elapsed().as_secs_f64();
    let all_bytes: u64 = all.iter().map(|r| r.len() as u64).sum();
    println!(
        "sha2 leaf hashes of the same records: {sha_s:>6.2} s  {:.0} MB/s (xor {hasher_output})",
        all_bytes as f64 / 1e6 / sha_s
    );
    if let Some(mb_s) = openssl_sha256_mb_per_s(log_bytes / records.max(1)) {
        println!("openssl speed sha256, record-sized blocks: {mb_s:.0} MB/s");
    }
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
    let line = text.lines().rev().find(|line| line.starts_with("sha256"))?;
    let kilobytes: f64 = line
        .split_whitespace()
        .nth(1)?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(kilobytes * 1000.0 / 1e6)
}
