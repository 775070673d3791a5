//! The side store of personal data in PostgreSQL: two `mingzhang serve` on
//! one database, one writing and one following. A resident registered
//! through the writer is named by the follower, whose own data directory
//! never saw the name; an erasure through the writer makes both say
//! 已删除 erased, and the row is gone from `mingzhang_personal_data`
//! (docs/proofs.md, "Personal data"). Skipped, saying so, where PostgreSQL
//! is not installed and CI is not set.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mingzhang_store_postgres::cluster::ThrowawayCluster;
use mingzhang_tests::serve_with_env;
use serde_json::json;

#[path = "support/acked_writes.rs"]
mod acked_writes;
use acked_writes::{post, run, wait_until_ready};

const RESIDENT: (&str, &str) = ("resident-chen", "陈晓燕");

#[test]
fn a_name_kept_through_the_writer_is_named_by_a_follower_and_erased_on_both() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "a_name_kept_through_the_writer_is_named_by_a_follower_and_erased_on_both",
    ) else {
        return;
    };
    let store = cluster.url().to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let writer_dir = work.path().join("writer");
    let follower_dir = work.path().join("follower");
    run(&writer_dir, &store, &["init"]);
    run(&writer_dir, &store, &["demo"]);
    let operator = run(
        &writer_dir,
        &store,
        &["token", "create", "--role", "operator"],
    )
    .trim()
    .to_owned();
    let auditor = run(
        &writer_dir,
        &store,
        &["token", "create", "--role", "auditor"],
    )
    .trim()
    .to_owned();
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&writer_dir)
        .arg(&follower_dir)
        .status()
        .expect("cp");
    assert!(copied.success());
    // With a log in PostgreSQL no name is kept in a data directory.
    assert!(!writer_dir.join("personal").exists());

    let env = [("MINGZHANG_STORE", Path::new(&store))];
    let writer = serve_with_env(&writer_dir, &env);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    runtime.block_on(async {
        wait_until_ready(&client, &writer.http, Duration::from_secs(30)).await;
        let registration = json!({"donor_id": RESIDENT.0, "name": RESIDENT.1,
                                  "kind": "individual", "show_name_publicly": true});
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, answer) = post(
                &client,
                &writer.http,
                &operator,
                "/v1/donors",
                "register-chen",
                &registration,
            )
            .await;
            if status == 200 {
                break;
            }
            assert!(
                status == 503 && Instant::now() < deadline,
                "{status} {answer}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let donation = json!({"donation_id": "gift-chen", "fund_id": "kaixuan-charity",
                              "donor_id": RESIDENT.0, "amount": "200.00",
                              "channel": "cash", "received_on": "2026-12-01"});
        let (status, answer) = post(
            &client,
            &writer.http,
            &operator,
            "/v1/donations",
            "gift-chen",
            &donation,
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    });
    assert!(
        !files_hold(&writer_dir, RESIDENT.1.as_bytes()),
        "the name is in the database only"
    );

    let follower = serve_with_env(&follower_dir, &env);
    let servers = [writer.http.clone(), follower.http.clone()];
    runtime.block_on(async {
        wait_until_ready(&client, &follower.http, Duration::from_secs(30)).await;
        let (status, answer) = post(
            &client,
            &follower.http,
            &operator,
            "/v1/funds",
            "not-here",
            &json!({"fund_id": "f", "name": "f", "kind": "unrestricted"}),
        )
        .await;
        assert_eq!(
            (status, answer["rule"].as_str()),
            (503, Some("not_the_writer")),
            "{answer}"
        );
        for http in &servers {
            wait_for_donations_holding(&client, http, &auditor, RESIDENT.1).await;
        }

        let (status, answer) = post(
            &client,
            &writer.http,
            &operator,
            &format!("/v1/donors/{}/erasure", RESIDENT.0),
            "erase-chen",
            &json!({"legal_basis": "PIPL Art. 47 request of 2026-12-03",
                    "erased_on": "2026-12-07"}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        for http in &servers {
            let donations =
                wait_for_donations_holding(&client, http, &auditor, "已删除 erased").await;
            assert!(!donations.contains(RESIDENT.1), "{http}: {donations}");
        }
    });

    let rows = runtime.block_on(async {
        let (database, connection) = tokio_postgres_connect(&store).await;
        tokio::spawn(connection);
        let count = |subject: &'static str| {
            let database = &database;
            async move {
                database
                    .query_one(
                        "SELECT count(*) FROM mingzhang_personal_data WHERE subject_id = $1",
                        &[&subject],
                    )
                    .await
                    .expect("count")
                    .get::<_, i64>(0)
            }
        };
        (count(RESIDENT.0).await, count("resident-li").await)
    });
    assert_eq!(
        rows,
        (0, 1),
        "the erased resident's row is gone, the others stay"
    );
}

async fn tokio_postgres_connect(
    url: &str,
) -> (
    tokio_postgres::Client,
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
) {
    tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect")
}

/// The auditor's view of the donations once it holds `needle`.
async fn wait_for_donations_holding(
    client: &reqwest::Client,
    http: &str,
    auditor: &str,
    needle: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let donations = client
            .get(format!("{http}/v1/donations?limit=1000"))
            .bearer_auth(auditor)
            .send()
            .await
            .expect("donations")
            .text()
            .await
            .expect("body");
        if donations.contains(needle) {
            return donations;
        }
        assert!(
            Instant::now() < deadline,
            "{http} never showed {needle}: {donations}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn files_hold(dir: &Path, needle: &[u8]) -> bool {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .expect("read")
                .windows(needle.len())
                .any(|window| window == needle)
            {
                return true;
            }
        }
    }
    false
}
