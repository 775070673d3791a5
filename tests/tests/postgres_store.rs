//! `mingzhang --store postgres://...`: the commands work on a log in
//! PostgreSQL, on a throwaway cluster started through ops/postgres.sh
//! (skipped, saying so, where PostgreSQL is not installed and CI is not set).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use mingzhang_store_postgres::cluster::ThrowawayCluster;
use mingzhang_tests::{binary, run_cli};

fn with_store(store: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--store".to_owned(), store.to_owned()];
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    all
}

fn run(data_dir: &Path, store: &str, args: &[&str]) -> String {
    let args = with_store(store, args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli(data_dir, &args)
}

#[test]
fn init_demo_balances_export_and_verify_work_on_a_postgres_store() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "init_demo_balances_export_and_verify_work_on_a_postgres_store",
    ) else {
        return;
    };
    let store = cluster.url().to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let data_dir = work.path().join("data");

    let init = run(&data_dir, &store, &["init"]);
    assert!(init.contains("0 records in the log, PostgreSQL"), "{init}");
    assert!(
        !data_dir.join("log").exists(),
        "the log is in the database, not in --data-dir"
    );
    let demo = run(&data_dir, &store, &["demo"]);
    assert!(demo.contains("0 commands were already recorded"), "{demo}");
    let again = run(&data_dir, &store, &["demo"]);
    assert!(
        again.contains(" 0 records written"),
        "a second demo records nothing: {again}"
    );

    let balances = run(&data_dir, &store, &["balances"]);
    assert!(balances.contains("total 0.00 (must be 0.00)"), "{balances}");

    // The same program with the same store in the environment, and the
    // store given to verify as its path: both read the database.
    let verified = Command::new(binary())
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["verify"])
        .env("MINGZHANG_STORE", &store)
        .output()
        .expect("verify runs");
    let stdout = String::from_utf8_lossy(&verified.stdout);
    let stderr = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("OK: "), "{stdout}");
    assert!(stdout.contains("signature valid, root matches, balances match the replay"));
    assert!(
        stderr.contains("from PostgreSQL"),
        "verify says what it read: {stderr}"
    );
    let by_path = run_cli(&data_dir, &["verify", &store]);
    assert!(by_path.starts_with("OK: "), "{by_path}");

    let bundle = work.path().join("bundle");
    let exported = run(
        &data_dir,
        &store,
        &["export", bundle.to_str().expect("utf-8")],
    );
    assert!(exported.contains("from PostgreSQL"), "{exported}");
    let bundle_verified = run_cli(&data_dir, &["verify", bundle.to_str().expect("utf-8")]);
    assert!(bundle_verified.starts_with("OK: "), "{bundle_verified}");
    assert_eq!(
        head_hash(&bundle_verified),
        head_hash(&stdout),
        "the bundle holds the database's records"
    );

    // An UPDATE through psql is refused by the table's trigger.
    if let Ok(output) = Command::new("psql")
        .arg(&store)
        .args([
            "-c",
            "UPDATE mingzhang_records SET hash = hash WHERE seq = 1",
        ])
        .output()
    {
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("append-only: UPDATE refused"), "{stderr}");
    }
}

fn head_hash(report: &str) -> &str {
    report
        .lines()
        .find_map(|line| line.strip_prefix("head hash:"))
        .expect("the report names the head hash")
        .trim()
}

#[test]
fn serve_answers_ready_on_a_postgres_store() {
    let Some(cluster) = ThrowawayCluster::start_or_skip("serve_answers_ready_on_a_postgres_store")
    else {
        return;
    };
    let store = cluster.url().to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let data_dir = work.path().join("data");
    run(&data_dir, &store, &["init"]);
    run(&data_dir, &store, &["demo"]);
    let mut server = Command::new(binary())
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "--store",
            &store,
            "serve",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let http = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http="))
        .expect("the HTTP address")
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let funds: serde_json::Value = runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ready = client.get(format!("http://{http}/readyz")).send().await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not ready in 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let response = client
            .get(format!("http://{http}/v1/funds"))
            .send()
            .await
            .expect("funds");
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.expect("json")
    });
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    server.wait().expect("serve stops");
    assert!(
        funds
            .to_string()
            .contains(mingzhang_ledger::scenario::CHARITY_FUND_ID),
        "the demo's funds are served from the database: {funds}"
    );
}

#[test]
fn migrate_round_trips_the_embedded_log_through_postgres_and_resumes() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "migrate_round_trips_the_embedded_log_through_postgres_and_resumes",
    ) else {
        return;
    };
    let store = cluster.url().to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let embedded = work.path().join("embedded");
    run_cli(&embedded, &["init"]);
    run_cli(&embedded, &["demo"]);
    let original = run_cli(&embedded, &["verify"]);

    let to_postgres = run_cli(&embedded, &["migrate", "--to", &store]);
    assert!(
        to_postgres.contains("0 were already there"),
        "{to_postgres}"
    );
    let again = run_cli(&embedded, &["migrate", "--to", &store]);
    assert!(
        again.contains("0 copied"),
        "a second run copies nothing: {again}"
    );
    // The checkpoint the embedded log's writer signed holds for the copy,
    // and migrate saved it in the database, where verify reads it.
    let in_postgres = run(&embedded, &store, &["verify"]);
    assert_eq!(head_hash(&in_postgres), head_hash(&original));

    let back = work.path().join("back");
    let to_embedded = run(
        &embedded,
        &store,
        &["migrate", "--to", back.to_str().expect("utf-8")],
    );
    assert!(to_embedded.contains("copied"), "{to_embedded}");
    for (name, line) in [("postgres", &to_postgres), ("back", &to_embedded)] {
        let merkle = |report: &str| {
            report
                .split("merkle root ")
                .nth(1)
                .map(|rest| rest[..64].to_owned())
                .expect("the report names the root")
        };
        assert_eq!(merkle(line), merkle(&to_postgres), "{name}");
    }
    // The latest checkpoint went along both ways (into the table, then
    // into the data directory with the verifier key): no --allow-unsigned.
    let back_verified = run_cli(&back, &["verify"]);
    assert!(back_verified.starts_with("OK: "), "{back_verified}");
    // The residents' names went along both ways too (into the table, then
    // into the fresh data directory's side store), under their salts.
    let back_names = std::fs::read_to_string(back.join("personal/entries.jsonl"))
        .expect("the side store migrated back");
    assert!(back_names.contains("王丽华"), "{back_names}");
    assert_eq!(head_hash(&back_verified), head_hash(&original));

    // Into a log that is not a prefix of the source's: refused, naming why.
    let empty = work.path().join("empty");
    run_cli(&empty, &["init"]);
    let refused = Command::new(binary())
        .arg("--data-dir")
        .arg(&empty)
        .args(["migrate", "--to", back.to_str().expect("utf-8")])
        .output()
        .expect("migrate runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("it is another log"), "{stderr}");
    let still = run_cli(&back, &["verify", "--allow-unsigned"]);
    assert_eq!(
        head_hash(&still),
        head_hash(&original),
        "the target is left as it was"
    );
}

#[test]
fn verify_and_export_hold_the_log_to_the_latest_checkpoint_saved_in_the_database() {
    use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey};
    use mingzhang_ledger::checkpoint_store::CheckpointStore;
    use mingzhang_store_postgres::checkpoints::PostgresCheckpoints;

    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "verify_and_export_hold_the_log_to_the_latest_checkpoint_saved_in_the_database",
    ) else {
        return;
    };
    let store = cluster.url().to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let data_dir = work.path().join("data");
    run(&data_dir, &store, &["init"]);
    run(&data_dir, &store, &["demo"]);
    assert!(
        !data_dir.join("checkpoints").exists(),
        "the demo's checkpoint is in the database, not in --data-dir"
    );
    let records: u64 = run(&data_dir, &store, &["verify", "--json"])
        .parse::<serde_json::Value>()
        .expect("json")["records"]
        .as_u64()
        .expect("records");

    // Signed with the one key over more records than the table holds: as
    // if records were deleted after the servers signed.
    let signer = SignerKey::from_text(
        std::fs::read_to_string(data_dir.join("keys/checkpoint.key"))
            .expect("key")
            .trim(),
    )
    .expect("signer key");
    let beyond = records + 1;
    let note = Checkpoint::new("mingzhang.local/ledger", beyond, [7; 32], Vec::new())
        .expect("checkpoint")
        .sign(&signer);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let checkpoints = runtime
        .block_on(PostgresCheckpoints::open(&store, "test"))
        .expect("open the checkpoints");
    checkpoints.save(beyond, &note).expect("save");

    for args in [
        vec!["verify"],
        vec![
            "export",
            work.path().join("bundle").to_str().expect("utf-8"),
        ],
    ] {
        let output = Command::new(binary())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(with_store(&store, &args))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("records were removed"),
            "{args:?}: {stderr}"
        );
    }
}
