//! Three `mingzhang serve` on one PostgreSQL log: one holds the write role
//! (a session advisory lock), the others follow the log, serve reads from
//! their own projections and refuse writes with 503 `not_the_writer`
//! naming the writer. The writer is SIGKILLed under writes; another takes
//! the role and writes on. Every acknowledged write is in the log, none
//! twice, the chain never forks, and the checkpoints signed before and after
//! the handover both verify against it. Skipped, saying so, where PostgreSQL
//! is not installed and CI is not set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mingzhang_store_postgres::cluster::ThrowawayCluster;
use mingzhang_tests::{Served, run_cli, serve_with_env};
use parking_lot::Mutex;
use serde_json::{Value, json};

const FUND: &str = "writers-fund";
/// How long one write is retried (under its key, on every server).
const RETRY_FOR: Duration = Duration::from_secs(60);

fn run(data_dir: &Path, store: &str, args: &[&str]) -> String {
    let mut all = vec!["--store", store];
    all.extend_from_slice(args);
    run_cli(data_dir, &all)
}

#[derive(Debug, Clone)]
struct Ack {
    donation_id: String,
    seq: u64,
    hash: String,
    server: usize,
    at: Instant,
}

#[test]
fn three_servers_one_writer_and_another_takes_the_role_when_it_dies() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "three_servers_one_writer_and_another_takes_the_role_when_it_dies",
    ) else {
        return;
    };
    let store = cluster.url().to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let first_dir = work.path().join("server-0");
    run(&first_dir, &store, &["init"]);
    run(&first_dir, &store, &["demo"]);
    let operator = run(
        &first_dir,
        &store,
        &["token", "create", "--role", "operator"],
    )
    .trim()
    .to_owned();
    let auditor = run(
        &first_dir,
        &store,
        &["token", "create", "--role", "auditor"],
    )
    .trim()
    .to_owned();
    // One checkpoint key and one token list for all three, as a deployment
    // copies them.
    let dirs: Vec<PathBuf> = (0..3)
        .map(|n| work.path().join(format!("server-{n}")))
        .collect();
    for dir in &dirs[1..] {
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&first_dir)
            .arg(dir)
            .status()
            .expect("cp");
        assert!(copied.success());
    }
    let servers: Vec<Served> = dirs
        .iter()
        .map(|dir| serve_with_env(dir, &[("MINGZHANG_STORE", Path::new(&store))]))
        .collect();
    let https: Vec<String> = servers.iter().map(|served| served.http.clone()).collect();
    let mut servers: Vec<Option<Served>> = servers.into_iter().map(Some).collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();

    let (acks, killed, killed_at) = runtime.block_on(async {
        for http in &https {
            wait_until_ready(&client, http).await;
        }
        // Exactly one writes; the others refuse, naming it.
        let body = json!({"fund_id": FUND, "name": "Writers fund", "kind": "unrestricted"});
        let deadline = Instant::now() + Duration::from_secs(30);
        let (writer, refusals) = loop {
            let mut accepted = Vec::new();
            let mut refusals = Vec::new();
            for (n, http) in https.iter().enumerate() {
                let (status, answer) =
                    post(&client, http, &operator, "/v1/funds", "open-fund", &body).await;
                match status {
                    200 => accepted.push(n),
                    503 if answer["rule"] == json!("not_the_writer") => refusals.push(answer),
                    other => panic!("{http}: {other} {answer}"),
                }
            }
            assert!(
                accepted.len() <= 1,
                "two servers took a write: {accepted:?}"
            );
            if accepted.len() == 1
                && refusals.iter().all(|answer| {
                    answer["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(&https[accepted[0]])
                })
            {
                break (accepted[0], refusals);
            }
            assert!(
                Instant::now() < deadline,
                "no single writer elected: {accepted:?} {refusals:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(refusals.len(), 2, "{refusals:?}");

        let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writing = tokio::spawn(write_until_stopped(
            client.clone(),
            https.clone(),
            operator.clone(),
            acks.clone(),
            stop.clone(),
        ));
        wait_for_acks(&acks, 30).await;
        let killed = acks.lock().last().expect("acks").server;
        assert_eq!(killed, writer, "the elected server took the writes");
        servers[killed]
            .take()
            .expect("running")
            .into_child()
            .kill()
            .expect("SIGKILL");
        let killed_at = Instant::now();
        let before = acks.lock().len();
        wait_for_acks(&acks, before + 30).await;
        stop.store(true, Ordering::Relaxed);
        writing
            .await
            .expect("writer task")
            .expect("every write acknowledged in the end");

        // Every acknowledged write is in the log at its seq, on a survivor.
        let survivor = (0..3).find(|&n| n != killed).expect("a survivor");
        let acks = acks.lock().clone();
        for ack in &acks {
            let page: Value = client
                .get(format!(
                    "{}/v1/records?from={}&limit=1",
                    https[survivor], ack.seq
                ))
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
        (acks, killed, killed_at)
    });

    let mut seqs: Vec<u64> = acks.iter().map(|ack| ack.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), acks.len(), "no record acknowledged twice");
    let after_kill: Vec<&Ack> = acks.iter().filter(|ack| ack.at > killed_at).collect();
    let new_writer = after_kill.first().expect("writes after the kill").server;
    assert_ne!(new_writer, killed);
    assert!(
        after_kill.iter().all(|ack| ack.server == new_writer),
        "one writer after the handover"
    );
    println!(
        "writer handover: {} writes acknowledged; the first on the new writer {} ms after the old one was killed",
        acks.len(),
        (after_kill[0].at - killed_at).as_millis()
    );

    // Stopped cleanly, each survivor signs a checkpoint over the log; the
    // killed writer's last checkpoint, signed before the handover with the
    // same key, verifies against the same log: no fork.
    for server in &mut servers {
        if let Some(served) = server.take() {
            let mut child = served.into_child();
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            assert!(child.wait().expect("serve stops").success());
        }
    }
    for dir in [&dirs[new_writer], &dirs[killed]] {
        let verified = run(dir, &store, &["verify"]);
        assert!(
            verified.starts_with("OK: "),
            "{}: {verified}",
            dir.display()
        );
    }
}

async fn post(
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

async fn wait_until_ready(client: &reqwest::Client, http: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("{http}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "{http} not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_acks(acks: &Mutex<Vec<Ack>>, count: usize) {
    let deadline = Instant::now() + RETRY_FOR;
    while acks.lock().len() < count {
        assert!(
            Instant::now() < deadline,
            "fewer than {count} writes acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records donations one after another, each sent to the servers in turn
/// under its own key until one acknowledges it: a follower refuses with 503
/// `not_the_writer`, a dead server does not answer.
async fn write_until_stopped(
    client: reqwest::Client,
    https: Vec<String>,
    token: String,
    acks: Arc<Mutex<Vec<Ack>>>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let donation_id = format!("wr-{n}");
        let body = json!({
            "donation_id": donation_id, "fund_id": FUND,
            "amount": format!("{}.{:02}", 1 + n % 500, n % 100),
            "channel": "online", "received_on": "2026-09-05",
        });
        let deadline = Instant::now() + RETRY_FOR;
        'acknowledged: loop {
            for (server, http) in https.iter().enumerate() {
                let (status, answer) =
                    post(&client, http, &token, "/v1/donations", &donation_id, &body).await;
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
                    "{donation_id}: not acknowledged within {RETRY_FOR:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
