//! Three `mingzhang serve` on one PostgreSQL log: one holds the write role
//! (a session advisory lock), the others follow the log, serve reads from
//! their own projections and refuse writes with 503 `not_the_writer`
//! naming the writer. The writer is SIGKILLed under writes; another takes
//! the role and writes on. Every acknowledged write is in the log, none
//! twice, the chain never forks, and the checkpoints signed before and after
//! the handover are saved in the database: every server serves the same
//! bytes for each, the later is consistent with the earlier, and `verify`
//! with nothing but the key in its data directory checks the log against
//! the latest. Skipped, saying so, where PostgreSQL is not installed and CI
//! is not set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mingzhang_ledger::checkpoint::{Checkpoint, VerifierKey};
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

    let (acks, killed, killed_at, before_note) = runtime.block_on(async {
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
        // Signed by the writer under writes, just before it dies.
        let before_note = sign_now(&client, &https[killed], &operator).await;
        servers[killed]
            .take()
            .expect("running")
            .into_child()
            .kill()
            .expect("SIGKILL");
        let killed_at = Instant::now();
        let acked = acks.lock().len();
        wait_for_acks(&acks, acked + 30, RETRY_FOR).await;
        stop.store(true, Ordering::Relaxed);
        writing
            .await
            .expect("writer task")
            .expect("every write acknowledged in the end");

        // Every acknowledged write is in the log at its seq, on a survivor.
        let survivor = (0..3).find(|&n| n != killed).expect("a survivor");
        let acks = acks.lock().clone();
        assert_every_ack_in_the_log(&client, &https[survivor], &auditor, &acks).await;
        (acks, killed, killed_at, before_note)
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

    // The checkpoint the killed writer signed and the one the new writer
    // signs now are in the database: both survivors serve each byte for
    // byte, and the later is consistent with the earlier.
    let survivors: Vec<usize> = (0..3).filter(|&n| n != killed).collect();
    let after = runtime.block_on(async {
        let after_note = sign_now(&client, &https[new_writer], &operator).await;
        let key = get_text(&client, &format!("{}/v1/public-key", https[new_writer])).await;
        let key = VerifierKey::from_text(key.trim()).expect("verifier key");
        let before =
            Checkpoint::open_signed(&before_note, &key).expect("signed before, by the key");
        let after = Checkpoint::open_signed(&after_note, &key).expect("signed after, by the key");
        assert!(
            after.size() > before.size(),
            "{} after {}",
            after.size(),
            before.size()
        );
        // Longer than `LATEST_MAX_AGE`, so no server answers from memory.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (checkpoint, note) in [(&before, &before_note), (&after, &after_note)] {
            for &n in &survivors {
                let served = get_text(
                    &client,
                    &format!("{}/v1/checkpoints/{}", https[n], checkpoint.size()),
                )
                .await;
                assert_eq!(&served, note, "{} at size {}", https[n], checkpoint.size());
            }
        }
        let mut latest = Vec::new();
        for &n in &survivors {
            latest.push(get_text(&client, &format!("{}/v1/checkpoint", https[n])).await);
        }
        assert_eq!(
            latest[0], latest[1],
            "both survivors serve one latest checkpoint"
        );
        assert_eq!(latest[0], after_note);
        let follower = survivors
            .iter()
            .copied()
            .find(|&n| n != new_writer)
            .expect("a follower survives");
        let proof: serde_json::Value = client
            .get(format!(
                "{}/v1/proofs/consistency?from={}&to={}",
                https[follower],
                before.size(),
                after.size()
            ))
            .send()
            .await
            .expect("consistency proof")
            .json()
            .await
            .expect("json");
        let path: Vec<[u8; 32]> = proof["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|hash| {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(hash.as_str().expect("hex"), &mut bytes).expect("hex");
                bytes
            })
            .collect();
        mingzhang_ledger::merkle::verify_consistency(
            before.size(),
            after.size(),
            before.root_hash(),
            after.root_hash(),
            &path,
        )
        .expect("the checkpoint after the handover is consistent with the one before");
        after
    });

    // Stopped cleanly, the survivors sign nothing new (no write since); the
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
    // An auditor given the database and the verifier key, and no
    // checkpoint file: verify checks the log against the latest checkpoint
    // the servers saved in the database.
    let auditor_dir = work.path().join("auditor");
    std::fs::create_dir_all(auditor_dir.join("keys")).expect("keys dir");
    std::fs::copy(
        first_dir.join("keys/checkpoint.pub"),
        auditor_dir.join("keys/checkpoint.pub"),
    )
    .expect("copy the verifier key");
    let report: serde_json::Value =
        serde_json::from_str(&run(&auditor_dir, &store, &["verify", "--json"])).expect("json");
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(
        report["coverage"]["signed_size"],
        json!(after.size()),
        "{report}"
    );
    assert_eq!(
        report["checkpoint"]["root_matches"],
        json!(true),
        "{report}"
    );
}

/// `POST /v1/checkpoints` as an operator: the note signed over every record
/// durable when it arrived.
async fn sign_now(client: &reqwest::Client, http: &str, operator: &str) -> String {
    let response = client
        .post(format!("{http}/v1/checkpoints"))
        .bearer_auth(operator)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("sign a checkpoint");
    assert_eq!(response.status().as_u16(), 200, "{http}");
    response.text().await.expect("note")
}

async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.expect(url);
    assert_eq!(response.status().as_u16(), 200, "{url}");
    response.text().await.expect("body")
}
