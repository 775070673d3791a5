//! The log in PostgreSQL survives losing its server: a primary with a
//! synchronous streaming standby (ops/postgres.sh), the primary's postmaster
//! SIGKILLed while `mingzhang serve` takes donations, the standby promoted.
//! The server, given both in one connection string with
//! `target_session_attrs=read-write`, opens the log afresh on the promoted
//! standby and carries on; every acknowledged write is there, none twice,
//! and `verify` passes. Skipped, saying so, where PostgreSQL is not
//! installed and CI is not set.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mingzhang_store_postgres::cluster::ThrowawayPair;
use mingzhang_tests::{run_cli, serve_with_env};
use parking_lot::Mutex;
use serde_json::{Value, json};

const FUND: &str = "failover-fund";
/// How long a write is retried (under the same key) before the test gives up.
const RETRY_FOR: Duration = Duration::from_secs(90);

fn run(data_dir: &Path, store: &str, args: &[&str]) -> String {
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    run_cli(data_dir, &all)
}

/// A donation acknowledged by the server: its id, seq, hash and when.
#[derive(Debug, Clone)]
struct Ack {
    donation_id: String,
    seq: u64,
    hash: String,
    at: Instant,
}

#[test]
fn serve_carries_on_when_the_primary_dies_and_the_standby_is_promoted() {
    let Some(pair) = ThrowawayPair::start_or_skip(
        "serve_carries_on_when_the_primary_dies_and_the_standby_is_promoted",
    ) else {
        return;
    };
    let store = pair.read_write_url();
    let work = tempfile::tempdir().expect("tempdir");
    let data_dir = work.path().join("data");
    run(&data_dir, &store, &["init"]);
    run(&data_dir, &store, &["demo"]);
    let operator = run(
        &data_dir,
        &store,
        &["token", "create", "--role", "operator"],
    )
    .trim()
    .to_owned();
    let auditor = run(&data_dir, &store, &["token", "create", "--role", "auditor"])
        .trim()
        .to_owned();
    let served = serve_with_env(&data_dir, &[("MINGZHANG_STORE", Path::new(&store))]);
    let http = served.http.clone();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let (acks, killed_at) = runtime.block_on(async {
        let client = reqwest::Client::new();
        wait_until_ready(&client, &http, Duration::from_secs(30)).await;
        // A server on PostgreSQL follows until it has taken the write role
        // (503 `not_the_writer` meanwhile), a moment after it is ready.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let opened = client
                .post(format!("{http}/v1/funds"))
                .bearer_auth(&operator)
                .header("Idempotency-Key", "open-failover-fund")
                .json(&json!({"fund_id": FUND, "name": "Failover fund", "kind": "unrestricted"}))
                .send()
                .await
                .expect("open the fund");
            if opened.status().is_success() {
                break;
            }
            assert_eq!(opened.status().as_u16(), 503, "{}", opened.status());
            assert!(
                Instant::now() < deadline,
                "the server never took the write role"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write_until_stopped(
            client.clone(),
            http.clone(),
            operator.clone(),
            acks.clone(),
            stop.clone(),
        ));
        wait_for_acks(&acks, 30, Duration::from_secs(60)).await;

        pair.kill_primary();
        let killed_at = Instant::now();
        // The standby is promoted a moment later, as an operator (or
        // Patroni) would once the primary is declared dead.
        tokio::time::sleep(Duration::from_millis(500)).await;
        pair.promote_standby();
        let acked_before = acks.lock().len();
        wait_for_acks(&acks, acked_before + 30, RETRY_FOR).await;
        stop.store(true, Ordering::Relaxed);
        writer
            .await
            .expect("the writer task")
            .expect("every write is acknowledged in the end");
        wait_until_ready(&client, &http, Duration::from_secs(10)).await;

        // Every acknowledged write is in the log at its seq with its hash.
        let acks = acks.lock().clone();
        for ack in &acks {
            let page: Value = client
                .get(format!("{http}/v1/records?from={}&limit=1", ack.seq))
                .bearer_auth(&auditor)
                .send()
                .await
                .expect("records")
                .json()
                .await
                .expect("json");
            let record = &page["records"][0];
            assert_eq!(record["hash"], json!(ack.hash), "{ack:?}: {page}");
            assert_eq!(
                record["envelope"]["donation_received"]["donation_id"],
                json!(ack.donation_id),
                "{ack:?}"
            );
        }
        (acks, killed_at)
    });

    let mut seqs: Vec<u64> = acks.iter().map(|ack| ack.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), acks.len(), "no record acknowledged twice");
    let first_after_kill = acks
        .iter()
        .filter(|ack| ack.at > killed_at)
        .map(|ack| ack.at - killed_at)
        .min()
        .expect("writes acknowledged after the primary died");
    println!(
        "failover: {} writes acknowledged, first after the kill {} ms later (promotion at 500 ms)",
        acks.len(),
        first_after_kill.as_millis()
    );

    // A clean stop signs a checkpoint over everything; a strict verify of
    // the promoted standby's log checks chain, root, signature and balances.
    let mut server = served.into_child();
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert!(server.wait().expect("serve stops").success());
    let verified = run_cli(&data_dir, &["verify", pair.standby().url()]);
    assert!(verified.starts_with("OK: "), "{verified}");
}

async fn wait_until_ready(client: &reqwest::Client, http: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let ready = client.get(format!("{http}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "not ready within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_acks(acks: &Mutex<Vec<Ack>>, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while acks.lock().len() < count {
        assert!(
            Instant::now() < deadline,
            "fewer than {count} writes acknowledged within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records donations one after another; a write the server refuses because
/// its log failed (503) or cannot answer is sent again under the same key
/// until it is acknowledged, as a client should: a retry of a write that did
/// reach the log answers with that record.
async fn write_until_stopped(
    client: reqwest::Client,
    http: String,
    token: String,
    acks: Arc<Mutex<Vec<Ack>>>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let donation_id = format!("fo-{n}");
        let body = json!({
            "donation_id": donation_id, "fund_id": FUND,
            "amount": format!("{}.{:02}", 1 + n % 500, n % 100),
            "channel": "online", "received_on": "2026-09-05",
        });
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            let sent = client
                .post(format!("{http}/v1/donations"))
                .bearer_auth(&token)
                .header("Idempotency-Key", &donation_id)
                .timeout(Duration::from_secs(10))
                .json(&body)
                .send()
                .await;
            if let Ok(response) = sent {
                let status = response.status();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    let record = &answer["records"][0];
                    acks.lock().push(Ack {
                        donation_id: donation_id.clone(),
                        seq: record["seq"].as_u64().ok_or(format!("no seq: {answer}"))?,
                        hash: record["hash"]
                            .as_str()
                            .ok_or(format!("no hash: {answer}"))?
                            .to_owned(),
                        at: Instant::now(),
                    });
                    break;
                }
                if status.as_u16() != 503 {
                    return Err(format!("{donation_id}: {status} {answer}"));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{donation_id}: not acknowledged within {RETRY_FOR:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
