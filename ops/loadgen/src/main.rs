//! Giving-day load against a running `mingzhang serve` on loopback: mostly
//! donations, some claims and releases, expenditures and queries over HTTP
//! keep-alive, and batched donations over gRPC. Prints throughput, latency
//! percentiles and the server's peak RSS. Every run is bounded in time and
//! request count, and targets loopback only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use mingzhang_proto::v1 as pb;
use mingzhang_proto::v1::event_envelope::Event;
use mingzhang_proto::v1::ledger_service_client::LedgerServiceClient;
use rand::{Rng, SeedableRng};
use serde_json::json;

mod wire;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Http,
    Grpc,
    Both,
}

#[derive(Parser, Clone)]
#[command(about = "Giving-day load generator for mingzhang serve (loopback only)")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// An operator token (`mingzhang token create --role operator`).
    #[arg(long, env = "MINGZHANG_TOKEN")]
    token: String,
    /// The server's pid, to read its peak RSS (VmHWM) from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, value_enum, default_value = "both")]
    mode: Mode,
    /// Seconds per phase (at most 300).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent HTTP connections, each with one request in flight. A giving
    /// day has many donors at once; with 64, the 2 cores of the reference
    /// machine sit partly idle while every request waits for an fsync.
    #[arg(long, default_value_t = 128)]
    http_connections: usize,
    /// Concurrent gRPC batch calls.
    #[arg(long, default_value_t = 8)]
    grpc_streams: usize,
    /// Commands per gRPC SubmitBatch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Hard cap on requests per phase.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
}

const SECONDS_MAX: u64 = 300;

fn loopback_only(url: &str) -> anyhow::Result<()> {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or("");
    if !(host == "localhost" || host.starts_with("127.") || host == "[") {
        bail!("{url}: the load generator only targets loopback addresses");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    loopback_only(&args.http)?;
    loopback_only(&args.grpc)?;
    if args.seconds == 0 || args.seconds > SECONDS_MAX {
        bail!("--seconds must be 1..={SECONDS_MAX}");
    }
    // One thread: the load generator needs well under a core and should not
    // contend with the server's two workers for the two cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.http_connections)
        .tcp_nodelay(true)
        .build()?;
    setup(&client, &args, &run_id).await?;
    if matches!(args.mode, Mode::Http | Mode::Both) {
        http_phase(&args, &run_id).await?;
    }
    if matches!(args.mode, Mode::Grpc | Mode::Both) {
        grpc_phase(&args, &run_id).await?;
    }
    if let Some(pid) = args.server_pid {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        for line in status.lines() {
            if line.starts_with("VmHWM") || line.starts_with("VmRSS") {
                println!("server {line}");
            }
        }
    }
    Ok(())
}

async fn post(
    client: &reqwest::Client,
    args: &Args,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let response = client
        .post(format!("{}{path}", args.http))
        .bearer_auth(&args.token)
        .json(&body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("{path}: {} {}", response.status(), response.text().await?);
    }
    Ok(())
}

async fn setup(client: &reqwest::Client, args: &Args, run_id: &str) -> anyhow::Result<()> {
    post(
        client,
        args,
        "/v1/funds",
        json!({"fund_id": format!("lg-{run_id}"), "name": "Giving day", "kind": "unrestricted"}),
    )
    .await?;
    post(
        client,
        args,
        "/v1/donors",
        json!({"donor_id": format!("lg-{run_id}-unit"), "name": "Giving-day sponsor",
               "kind": "enterprise", "alliance_member": true, "show_name_publicly": true}),
    )
    .await?;
    // A large opening gift so expenditures never outrun the fund.
    post(
        client,
        args,
        "/v1/donations",
        json!({"donation_id": format!("lg-{run_id}-seed"), "donor_id": format!("lg-{run_id}-unit"),
               "fund_id": format!("lg-{run_id}"), "amount": "100000000.00",
               "channel": "bank_transfer", "bank_reference": "SEED", "received_on": "2026-09-05"}),
    )
    .await?;
    for worker in 0..args.http_connections {
        post(
            client,
            args,
            "/v1/projects",
            json!({"project_id": format!("lg-{run_id}-p{worker}"), "title": "微心愿",
                   "need_kind": "micro_wish", "community": "景芳", "survey": "2026-H1",
                   "budget": "1000.00", "fund_id": format!("lg-{run_id}")}),
        )
        .await?;
    }
    Ok(())
}

struct Phase {
    histograms: Vec<Histogram<u64>>,
    writes: u64,
    reads: u64,
    errors: u64,
    elapsed: Duration,
    /// CPU time the server and this load generator spent in the phase.
    server_cpu: Option<Duration>,
    loadgen_cpu: Option<Duration>,
}

/// User plus system CPU time of process `pid` ("self" for this one), from
/// /proc; `None` where /proc cannot tell.
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks_per_second > 0).then(|| Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64))
}

/// CPU time of the server (if its pid is known) and of this process.
fn cpu_times(args: &Args) -> (Option<Duration>, Option<Duration>) {
    let server = args.server_pid.and_then(|pid| cpu_time(&pid.to_string()));
    (server, cpu_time("self"))
}

fn cpu_spent(
    before: (Option<Duration>, Option<Duration>),
    args: &Args,
) -> (Option<Duration>, Option<Duration>) {
    let after = cpu_times(args);
    let spent =
        |before: Option<Duration>, after: Option<Duration>| Some(after?.saturating_sub(before?));
    (spent(before.0, after.0), spent(before.1, after.1))
}

fn report(title: &str, unit: &str, phase: &Phase, events_per_request: u64) {
    let mut all = Histogram::<u64>::new(3).expect("histogram");
    for histogram in &phase.histograms {
        all.add(histogram).expect("same bounds");
    }
    let seconds = phase.elapsed.as_secs_f64();
    println!("== {title} ({seconds:.1} s) ==");
    println!(
        "writes: {} ({:.0} {unit}/s), reads: {} ({:.0}/s), errors: {}",
        phase.writes * events_per_request,
        (phase.writes * events_per_request) as f64 / seconds,
        phase.reads,
        phase.reads as f64 / seconds,
        phase.errors
    );
    println!(
        "latency per request: p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms",
        all.value_at_quantile(0.50) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.value_at_quantile(0.999) as f64 / 1000.0,
        all.max() as f64 / 1000.0
    );
    let requests = (phase.writes + phase.reads + phase.errors).max(1) as f64;
    for (who, cpu) in [
        ("server", phase.server_cpu),
        ("load generator", phase.loadgen_cpu),
    ] {
        if let Some(cpu) = cpu {
            println!(
                "{who} CPU: {:.2} cores, {:.1} us per request",
                cpu.as_secs_f64() / seconds,
                cpu.as_secs_f64() * 1e6 / requests
            );
        }
    }
}

async fn http_phase(args: &Args, run_id: &str) -> anyhow::Result<()> {
    let addr = args
        .http
        .strip_prefix("http://")
        .context("--http must be an http:// address")?
        .trim_end_matches('/')
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let issued = Arc::new(AtomicU64::new(0));
    let mut connections = Vec::new();
    for _ in 0..args.http_connections {
        connections.push(wire::Connection::open(&addr, &args.token).await?);
    }
    let cpu_before = cpu_times(args);
    let started = Instant::now();
    let mut workers = Vec::new();
    for (worker, mut connection) in connections.into_iter().enumerate() {
        let (args, run_id, issued) = (args.clone(), run_id.to_owned(), issued.clone());
        workers.push(tokio::spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let (mut writes, mut reads, mut errors, mut claimed) = (0u64, 0u64, 0u64, false);
            let project = format!("lg-{run_id}-p{worker}");
            let sponsor_id = format!("lg-{run_id}-unit");
            let (mut path, mut body, mut key) = (String::new(), String::new(), String::new());
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut sequence = 0u64;
            while Instant::now() < deadline
                && issued.fetch_add(1, Ordering::Relaxed) < args.max_requests
            {
                use std::fmt::Write;
                sequence += 1;
                let roll: u32 = rng.gen_range(0..100);
                let is_read = roll >= 95;
                path.clear();
                body.clear();
                key.clear();
                write!(key, "lg-{run_id}-{worker}-{sequence}").expect("to a string");
                if roll < 85 {
                    let cents: u32 = rng.gen_range(1..100_000);
                    path.push_str("/v1/donations");
                    write!(
                        body,
                        r#"{{"donation_id":"{key}","fund_id":"lg-{run_id}","amount":"{}.{:02}","channel":"online","received_on":"2026-09-05"}}"#,
                        cents / 100,
                        cents % 100
                    )
                    .expect("to a string");
                } else if roll < 90 {
                    claimed = !claimed;
                    if claimed {
                        write!(path, "/v1/projects/{project}/claim").expect("to a string");
                        write!(body, r#"{{"sponsor_id":"{sponsor_id}"}}"#).expect("to a string");
                    } else {
                        write!(path, "/v1/projects/{project}/release").expect("to a string");
                        write!(body, r#"{{"sponsor_id":"{sponsor_id}","reason":"换届交接"}}"#)
                            .expect("to a string");
                    }
                } else if !is_read {
                    path.push_str("/v1/expenditures");
                    write!(
                        body,
                        r#"{{"expenditure_id":"{key}-x","fund_id":"lg-{run_id}","amount":"1.00","payee":"社工服务中心","payee_kind":"organisation","purpose":"一次性扶持","category":"one_off_support","paid_on":"2026-09-05"}}"#
                    )
                    .expect("to a string");
                } else {
                    path.push_str("/v1/funds");
                }
                let sent = Instant::now();
                let outcome = if is_read {
                    connection.send("GET", &path, None, None).await
                } else {
                    connection.send("POST", &path, Some(&key), Some(&body)).await
                };
                histogram.saturating_record(sent.elapsed().as_micros() as u64);
                match outcome {
                    Ok(status) if (200..300).contains(&status) => {
                        if is_read {
                            reads += 1
                        } else {
                            writes += 1
                        }
                    }
                    Ok(_) => errors += 1,
                    Err(err) => {
                        eprintln!("connection {worker}: {err:#}; it stops here");
                        errors += 1;
                        break;
                    }
                }
            }
            (histogram, writes, reads, errors)
        }));
    }
    let mut phase = Phase {
        histograms: Vec::new(),
        writes: 0,
        reads: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        server_cpu: None,
        loadgen_cpu: None,
    };
    for worker in workers {
        let (histogram, writes, reads, errors) = worker.await?;
        phase.histograms.push(histogram);
        phase.writes += writes;
        phase.reads += reads;
        phase.errors += errors;
    }
    phase.elapsed = started.elapsed();
    (phase.server_cpu, phase.loadgen_cpu) = cpu_spent(cpu_before, args);
    report(
        &format!(
            "HTTP giving-day mix, {} keep-alive connections",
            args.http_connections
        ),
        "writes",
        &phase,
        1,
    );
    Ok(())
}

async fn grpc_phase(args: &Args, run_id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let cpu_before = cpu_times(args);
    let started = Instant::now();
    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for stream in 0..args.grpc_streams {
        let (args, run_id, issued) = (args.clone(), run_id.to_owned(), issued.clone());
        let mut client = LedgerServiceClient::connect(args.grpc.clone())
            .await?
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        workers.push(tokio::spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let (mut committed, mut errors, mut batch_number) = (0u64, 0u64, 0u64);
            while Instant::now() < deadline
                && issued.fetch_add(args.batch as u64, Ordering::Relaxed) < args.max_requests
            {
                batch_number += 1;
                let commands = (0..args.batch)
                    .map(|index| pb::SubmitRequest {
                        command: Some(pb::EventEnvelope {
                            event: Some(Event::DonationReceived(pb::DonationReceived {
                                donation_id: format!(
                                    "lg-{run_id}-g{stream}-{batch_number}-{index}"
                                ),
                                fund_id: format!("lg-{run_id}"),
                                amount_fen: 100 + index as i64,
                                channel: pb::Channel::Online as i32,
                                received_on: "2026-09-05".into(),
                                ..Default::default()
                            })),
                            ..Default::default()
                        }),
                        idempotency_key: String::new(),
                    })
                    .collect();
                let mut request = tonic::Request::new(pb::SubmitBatchRequest { commands });
                request.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {}", args.token)
                        .parse()
                        .expect("ascii token"),
                );
                let sent = Instant::now();
                match client.submit_batch(request).await {
                    Ok(response) => {
                        for result in response.into_inner().results {
                            match result.outcome {
                                Some(pb::submit_result::Outcome::Committed(_)) => committed += 1,
                                _ => errors += 1,
                            }
                        }
                    }
                    Err(_) => errors += args.batch as u64,
                }
                histogram.saturating_record(sent.elapsed().as_micros() as u64);
            }
            (histogram, committed, errors)
        }));
    }
    let mut phase = Phase {
        histograms: Vec::new(),
        writes: 0,
        reads: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        server_cpu: None,
        loadgen_cpu: None,
    };
    for worker in workers {
        let (histogram, committed, errors) = worker.await?;
        phase.histograms.push(histogram);
        phase.writes += committed;
        phase.errors += errors;
    }
    phase.elapsed = started.elapsed();
    (phase.server_cpu, phase.loadgen_cpu) = cpu_spent(cpu_before, args);
    report(
        &format!(
            "gRPC SubmitBatch donations, {} concurrent calls of {} commands",
            args.grpc_streams, args.batch
        ),
        "events",
        &phase,
        1,
    );
    Ok(())
}
