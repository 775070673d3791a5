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
use serde_json::json;

#[path = "support/acked_writes.rs"]
mod acked_writes;
use acked_writes::{
    Ack, Writes, assert_every_ack_in_the_log, post, run, wait_for_acks, wait_until_ready,
    write_until_stopped,
};

const FUND: &str = "failover-fund";
/// How long a write is retried (under the same key) before the test gives up.
const RETRY_FOR: Duration = Duration::from_secs(90);

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
        let fund = json!({"fund_id": FUND, "name": "Failover fund", "kind": "unrestricted"});
        loop {
            let (status, answer) = post(
                &client,
                &http,
                &operator,
                "/v1/funds",
                "open-failover-fund",
                &fund,
            )
            .await;
            if status == 200 {
                break;
            }
            assert_eq!(status, 503, "{answer}");
            assert!(
                Instant::now() < deadline,
                "the server never took the write role"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Writes {
            servers: vec![http.clone()],
            token: operator.clone(),
            fund: FUND,
            id_prefix: "fo",
            retry_for: RETRY_FOR,
        };
        let writer = tokio::spawn(write_until_stopped(
            client.clone(),
            writes,
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
        assert_every_ack_in_the_log(&client, &http, &auditor, &acks).await;
        (acks, killed_at)
    });

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
