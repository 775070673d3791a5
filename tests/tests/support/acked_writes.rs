//! Donations written to one or several servers on a PostgreSQL log while a
//! server or the database dies, each retried under its own key until one
//! server acknowledges it, and the acknowledged ones looked up in the log:
//! what the failover and the writer-handover tests share.

// Each test binary includes this module and reads what it needs of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mingzhang_tests::run_cli;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// `mingzhang --store STORE ARGS` on `data_dir`.
pub fn run(data_dir: &Path, store: &str, args: &[&str]) -> String {
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    run_cli(data_dir, &all)
}

/// A donation a server acknowledged: its id, seq and hash, which server, when.
#[derive(Debug, Clone)]
pub struct Ack {
    pub donation_id: String,
    pub seq: u64,
    pub hash: String,
    pub server: usize,
    pub at: Instant,
}

/// What the donation writer sends and how long it keeps trying one write.
pub struct Writes {
    pub servers: Vec<String>,
    pub token: String,
    pub fund: &'static str,
    pub id_prefix: &'static str,
    pub retry_for: Duration,
}

/// POSTs `body` under `key`; status 0 when the server does not answer.
pub async fn post(
    client: &reqwest::Client,
    http: &str,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    match client
        .post(format!("{http}{path}"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .timeout(Duration::from_secs(10))
        .json(body)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

pub async fn wait_until_ready(client: &reqwest::Client, http: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let ready = client.get(format!("{http}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{http} not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_for_acks(acks: &Mutex<Vec<Ack>>, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while acks.lock().len() < count {
        assert!(
            Instant::now() < deadline,
            "fewer than {count} writes acknowledged within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records donations one after another until `stop`. Each is sent to the
/// servers in turn, under its own key, until one acknowledges it, as a
/// client should: a server whose log failed or that follows another answers
/// 503, a dead one does not answer, and a retry of a write that did reach
/// the log answers with that record. Any other answer is an error.
pub async fn write_until_stopped(
    client: reqwest::Client,
    writes: Writes,
    acks: Arc<Mutex<Vec<Ack>>>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let donation_id = format!("{}-{n}", writes.id_prefix);
        let body = json!({
            "donation_id": donation_id, "fund_id": writes.fund,
            "amount": format!("{}.{:02}", 1 + n % 500, n % 100),
            "channel": "online", "received_on": "2026-09-05",
        });
        let deadline = Instant::now() + writes.retry_for;
        'acknowledged: loop {
            for (server, http) in writes.servers.iter().enumerate() {
                let (status, answer) = post(
                    &client,
                    http,
                    &writes.token,
                    "/v1/donations",
                    &donation_id,
                    &body,
                )
                .await;
                match status {
                    200 => {
                        let record = &answer["records"][0];
                        acks.lock().push(Ack {
                            donation_id: donation_id.clone(),
                            seq: record["seq"].as_u64().ok_or(format!("no seq: {answer}"))?,
                            hash: record["hash"]
                                .as_str()
                                .ok_or(format!("no hash: {answer}"))?
                                .to_owned(),
                            server,
                            at: Instant::now(),
                        });
                        break 'acknowledged;
                    }
                    0 | 503 => {}
                    other => return Err(format!("{donation_id} on {http}: {other} {answer}")),
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{donation_id}: not acknowledged within {:?}",
                    writes.retry_for
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Every acknowledged donation is in the log `http` serves, at its seq with
/// its hash, and no record was acknowledged twice.
pub async fn assert_every_ack_in_the_log(
    client: &reqwest::Client,
    http: &str,
    auditor: &str,
    acks: &[Ack],
) {
    for ack in acks {
        let page: Value = client
            .get(format!("{http}/v1/records?from={}&limit=1", ack.seq))
            .bearer_auth(auditor)
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
    let mut seqs: Vec<u64> = acks.iter().map(|ack| ack.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), acks.len(), "no record acknowledged twice");
}
