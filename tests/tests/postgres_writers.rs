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
use mingzhang_tests::{Served, serve_with_env};
use parking_lot::Mutex;
use serde_json::json;

#[path = "support/acked_writes.rs"]
mod acked_writes;
use acked_writes::{
    Ack, Writes, assert_every_ack_in_the_log, post, run, wait_for_acks, wait_until_ready,
    write_until_stopped,
};

const FUND: &str = "writers-fund";
/// How long one write is retried (under its key, on every server).
const RETRY_FOR: Duration = Duration::from_secs(60);

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
            wait_until_ready(&client, http, Duration::from_secs(30)).await;
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
        let writes = Writes {
            servers: https.clone(),
            token: operator.clone(),
            fund: FUND,
            id_prefix: "wr",
            retry_for: RETRY_FOR,
        };
        let writing = tokio::spawn(write_until_stopped(
            client.clone(),
            writes,
            acks.clone(),
            stop.clone(),
        ));
        wait_for_acks(&acks, 30, RETRY_FOR).await;
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
        wait_for_acks(&acks, before + 30, RETRY_FOR).await;
        stop.store(true, Ordering::Relaxed);
        writing
            .await
            .expect("writer task")
            .expect("every write acknowledged in the end");

        // Every acknowledged write is in the log at its seq, on a survivor.
        let survivor = (0..3).find(|&n| n != killed).expect("a survivor");
        let acks = acks.lock().clone();
        assert_every_ack_in_the_log(&client, &https[survivor], &auditor, &acks).await;
        (acks, killed, killed_at)
    });

    // An answer already on its way when the writer was killed may be
    // counted a moment after the kill; the handover is the first write
    // another server acknowledged, and only that server writes after it.
    let handover = acks
        .iter()
        .position(|ack| ack.at > killed_at && ack.server != killed)
        .expect("writes acknowledged by another server after the kill");
    let new_writer = acks[handover].server;
    assert!(
        acks[handover..].iter().all(|ack| ack.server == new_writer),
        "one writer after the handover"
    );
    println!(
        "writer handover: {} writes acknowledged; the first on the new writer {} ms after the old one was killed",
        acks.len(),
        (acks[handover].at - killed_at).as_millis()
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
