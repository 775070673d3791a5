//! The two halves of `ops/chaos.sh` that need more than a shell:
//!
//! - `write` drives donations at a running `mingzhang serve` over HTTP and
//!   gRPC until its deadline or until the server is gone (killed), and
//!   appends one line per acknowledged write, `donation_id seq hash`, to a
//!   file: only what the server answered as committed goes there.
//! - `check` reads the log on disk and proves every acknowledged write is
//!   there (by seq, hash and donation id) and that nothing before the part
//!   checked last time changed.
//!
//! Loopback only, bounded in time.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Parser, Subcommand};
use mingzhang_ledger::store::{EventStore, ReadOnlyLog};
use mingzhang_proto::Message;
use mingzhang_proto::v1 as pb;
use mingzhang_proto::v1::event_envelope::Event;
use mingzhang_proto::v1::ledger_service_client::LedgerServiceClient;
use parking_lot::Mutex;

#[derive(Parser)]
#[command(about = "Acknowledged-write recorder and checker for ops/chaos.sh (loopback only)")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Write(WriteArgs),
    Check(CheckArgs),
}

#[derive(Parser)]
struct WriteArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// An operator token.
    #[arg(long, env = "MINGZHANG_TOKEN")]
    token: String,
    /// Where each acknowledged write is appended as `donation_id seq hash`.
    #[arg(long)]
    acks: PathBuf,
    /// Makes this run's donation ids unique (e.g. the kill's number).
    #[arg(long)]
    prefix: String,
    /// Gives up after this long even if the server is still up (at most 60).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    #[arg(long, default_value_t = 4)]
    http_connections: usize,
    #[arg(long, default_value_t = 2)]
    grpc_streams: usize,
    /// Donations per gRPC SubmitBatch.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Each worker waits this long after each answer, to bound the log's growth.
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
}

#[derive(Parser)]
struct CheckArgs {
    /// The server's data directory (the log is `log/` in it).
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    acks: PathBuf,
    /// Carries what was checked from one run to the next: how many ack lines
    /// and log records, and the hash of the last record checked.
    #[arg(long)]
    state: PathBuf,
}

/// The fund every chaos donation goes to; `write` opens it idempotently.
const FUND_ID: &str = "chaos-fund";
const SECONDS_MAX: f64 = 60.0;
/// The rules a write on a failed log is refused with.
const LOG_FAILED_RULES: [&str; 2] = ["log_failed", "insufficient_storage"];

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Write(args) => {
            loopback_only(&args.http)?;
            loopback_only(&args.grpc)?;
            ensure!(
                args.seconds > 0.0 && args.seconds <= SECONDS_MAX,
                "--seconds must be in (0, {SECONDS_MAX}]"
            );
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(write(args))
        }
        Command::Check(args) => check(&args),
    }
}

fn loopback_only(url: &str) -> anyhow::Result<()> {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or("");
    if !(host == "localhost" || host.starts_with("127.")) {
        bail!("{url}: chaos only targets loopback addresses");
    }
    Ok(())
}

/// Appends ack lines, one `write` each, so a reader never sees half a line.
struct AckLog {
    file: Mutex<std::fs::File>,
    count: AtomicU64,
}

impl AckLog {
    fn record(&self, donation_id: &str, seq: u64, hash_hex: &str) -> anyhow::Result<()> {
        let line = format!("{donation_id} {seq} {hash_hex}\n");
        self.file.lock().write_all(line.as_bytes())?;
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn write(args: WriteArgs) -> anyhow::Result<()> {
    let acks = Arc::new(AckLog {
        file: Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&args.acks)
                .with_context(|| args.acks.display().to_string())?,
        ),
        count: AtomicU64::new(0),
    });
    let args = Arc::new(args);
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let stop_writing = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    if !open_fund(&client, &args).await {
        println!("acked=0 (server not answering)");
        return Ok(());
    }
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..args.http_connections {
        let (args, acks, gone, client) = (
            args.clone(),
            acks.clone(),
            stop_writing.clone(),
            client.clone(),
        );
        workers.spawn(
            async move { http_worker(worker, &client, &args, &acks, &gone, deadline).await },
        );
    }
    for stream in 0..args.grpc_streams {
        let (args, acks, gone) = (args.clone(), acks.clone(), stop_writing.clone());
        workers.spawn(async move { grpc_worker(stream, &args, &acks, &gone, deadline).await });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    println!("acked={}", acks.count.load(Ordering::Relaxed));
    Ok(())
}

/// Opens the chaos fund under a fixed idempotency key: the first run opens
/// it, every later one replays. False if the server does not answer.
async fn open_fund(client: &reqwest::Client, args: &WriteArgs) -> bool {
    let body =
        serde_json::json!({"fund_id": FUND_ID, "name": "Chaos fund", "kind": "unrestricted"});
    let sent = client
        .post(format!("{}/v1/funds", args.http))
        .bearer_auth(&args.token)
        .header("Idempotency-Key", "chaos-open-fund")
        .json(&body)
        .send()
        .await;
    matches!(sent, Ok(response) if response.status().is_success())
}

async fn http_worker(
    worker: usize,
    client: &reqwest::Client,
    args: &WriteArgs,
    acks: &AckLog,
    stop_writing: &AtomicBool,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut n = 0u64;
    while Instant::now() < deadline && !stop_writing.load(Ordering::Relaxed) {
        n += 1;
        let donation_id = format!("{}-h{worker}-{n}", args.prefix);
        let body = serde_json::json!({
            "donation_id": donation_id, "fund_id": FUND_ID,
            "amount": format!("{}.{:02}", 1 + n % 500, n % 100),
            "channel": "online", "received_on": "2026-09-05",
        });
        let sent = client
            .post(format!("{}/v1/donations", args.http))
            .bearer_auth(&args.token)
            .header("Idempotency-Key", &donation_id)
            .json(&body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // Refused or cut off: the server was killed. What it had not
            // answered is unacknowledged, whatever reached its log.
            Err(_) => {
                stop_writing.store(true, Ordering::Relaxed);
                break;
            }
        };
        let status = response.status();
        let Ok(answer) = response.json::<serde_json::Value>().await else {
            stop_writing.store(true, Ordering::Relaxed);
            break;
        };
        if !status.is_success() {
            // A failed log (full disk 507, failed fsync 503) takes no more
            // writes until restarted; any other refusal is one chaos should
            // never provoke.
            if !LOG_FAILED_RULES.contains(&answer["rule"].as_str().unwrap_or_default()) {
                bail!("{donation_id}: {status} {answer}");
            }
            stop_writing.store(true, Ordering::Relaxed);
            break;
        }
        let record = &answer["records"][0];
        let (Some(seq), Some(hash)) = (record["seq"].as_u64(), record["hash"].as_str()) else {
            bail!("{donation_id}: answer without its record: {answer}");
        };
        acks.record(&donation_id, seq, hash)?;
        pause(args).await;
    }
    Ok(())
}

async fn grpc_worker(
    stream: usize,
    args: &WriteArgs,
    acks: &AckLog,
    stop_writing: &AtomicBool,
    deadline: Instant,
) -> anyhow::Result<()> {
    let Ok(mut client) = LedgerServiceClient::connect(args.grpc.clone()).await else {
        stop_writing.store(true, Ordering::Relaxed);
        return Ok(());
    };
    let mut batch_number = 0u64;
    while Instant::now() < deadline && !stop_writing.load(Ordering::Relaxed) {
        batch_number += 1;
        let ids: Vec<String> = (0..args.batch)
            .map(|index| format!("{}-g{stream}-{batch_number}-{index}", args.prefix))
            .collect();
        let commands = ids
            .iter()
            .enumerate()
            .map(|(index, donation_id)| pb::SubmitRequest {
                command: Some(pb::EventEnvelope {
                    event: Some(Event::DonationReceived(pb::DonationReceived {
                        donation_id: donation_id.clone(),
                        fund_id: FUND_ID.into(),
                        amount_fen: 100 + index as i64,
                        channel: pb::Channel::Online as i32,
                        received_on: "2026-09-05".into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
                idempotency_key: donation_id.clone(),
            })
            .collect();
        let mut request = tonic::Request::new(pb::SubmitBatchRequest { commands });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {}", args.token).parse()?);
        let response = match client.submit_batch(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                // Unavailable is also what a cut connection looks like.
                stop_writing.store(true, Ordering::Relaxed);
                break;
            }
            Err(status) => {
                if status.message().contains("transport") || status.code() == tonic::Code::Unknown {
                    stop_writing.store(true, Ordering::Relaxed);
                    break;
                }
                bail!("gRPC batch {batch_number}: {status}");
            }
        };
        for (donation_id, result) in ids.iter().zip(response.results) {
            match result.outcome {
                Some(pb::submit_result::Outcome::Committed(committed)) => {
                    let record = committed
                        .records
                        .first()
                        .with_context(|| format!("{donation_id}: committed without a record"))?;
                    acks.record(donation_id, record.seq, &hex::encode(&record.hash))?;
                }
                Some(pb::submit_result::Outcome::Error(error))
                    if LOG_FAILED_RULES.contains(&error.rule.as_str()) =>
                {
                    stop_writing.store(true, Ordering::Relaxed);
                }
                other => bail!("{donation_id}: not committed: {other:?}"),
            }
        }
        pause(args).await;
    }
    Ok(())
}

async fn pause(args: &WriteArgs) {
    if args.pause_ms > 0 {
        tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
    }
}

/// What `check` carries between runs.
#[derive(Debug, Default)]
struct Checked {
    ack_lines: u64,
    records: u64,
    last_hash: String,
}

impl Checked {
    fn load(path: &Path) -> anyhow::Result<Checked> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(Checked::default());
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [ack_lines, records, last_hash] = fields[..] else {
            bail!("{}: expected `ack_lines records last_hash`", path.display());
        };
        Ok(Checked {
            ack_lines: ack_lines.parse()?,
            records: records.parse()?,
            last_hash: last_hash.into(),
        })
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = format!("{} {} {}\n", self.ack_lines, self.records, self.last_hash);
        std::fs::write(path, text)?;
        Ok(())
    }
}

/// Proves, on the log as a reader opens it: the record checked last time
/// as the last one is still there with the same hash (so, by the chain,
/// everything before it is too); every ack recorded since is the record at
/// its seq, with its hash, holding its donation. Prints the counts; fails
/// naming the first acknowledged write it cannot find.
fn check(args: &CheckArgs) -> anyhow::Result<()> {
    let mut checked = Checked::load(&args.state)?;
    let (log, _) = ReadOnlyLog::open(args.data_dir.join("log"))
        .with_context(|| format!("opening the log in {}", args.data_dir.display()))?;
    let head = log.head();
    ensure!(
        head.len >= checked.records,
        "lost: the log has {} records, {} were there before",
        head.len,
        checked.records
    );
    if checked.records > 0 {
        let last = read_one(&log, checked.records - 1)?;
        ensure!(
            hex::encode(last.hash()) == checked.last_hash,
            "lost: record {} changed since the last check",
            checked.records - 1
        );
    }
    let acks = std::io::BufReader::new(
        std::fs::File::open(&args.acks).with_context(|| args.acks.display().to_string())?,
    );
    let mut lines = 0u64;
    let mut newly_checked = 0u64;
    for line in acks.lines() {
        let line = line?;
        lines += 1;
        if lines <= checked.ack_lines {
            continue;
        }
        let [donation_id, seq, hash] = line.split(' ').collect::<Vec<_>>()[..] else {
            bail!("ack line {lines}: {line:?} is not `donation_id seq hash`");
        };
        let seq: u64 = seq.parse()?;
        ensure!(
            seq < head.len,
            "lost: acknowledged {donation_id} at seq {seq}, the log ends at {}",
            head.len
        );
        let record = read_one(&log, seq)?;
        ensure!(
            hex::encode(record.hash()) == hash,
            "lost: acknowledged {donation_id} at seq {seq} with hash {hash}, the log holds another record there"
        );
        let envelope = pb::EventEnvelope::decode(record.payload())?;
        let holds = matches!(&envelope.event,
            Some(Event::DonationReceived(donation)) if donation.donation_id == donation_id);
        ensure!(
            holds,
            "lost: record {seq} does not hold acknowledged {donation_id}"
        );
        newly_checked += 1;
    }
    let last_hash = if head.len == 0 {
        String::new()
    } else {
        hex::encode(read_one(&log, head.len - 1)?.hash())
    };
    checked = Checked {
        ack_lines: lines,
        records: head.len,
        last_hash,
    };
    checked.save(&args.state)?;
    println!(
        "checked={newly_checked} acked_total={lines} records={} lost=0",
        head.len
    );
    Ok(())
}

fn read_one(log: &ReadOnlyLog, seq: u64) -> anyhow::Result<mingzhang_ledger::record::StoredRecord> {
    log.read(seq, 1)?
        .into_iter()
        .next()
        .with_context(|| format!("record {seq} cannot be read"))
}
