//! Black-box: the fund accounts of the Kaixuan demo over real HTTP and gRPC
//! reconcile with the funds answer and the trial balance, page after page;
//! bad filters are refused naming the parameter; the page honours `as_of`.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use mingzhang_proto::v1 as pb;
use mingzhang_proto::v1::ledger_service_client::LedgerServiceClient;
use reqwest::StatusCode;
use serde_json::Value;

use mingzhang_tests::run_cli;

/// A server on the Kaixuan demo, stopped when dropped.
struct DemoServer {
    _data_dir: tempfile::TempDir,
    _served: mingzhang_tests::Served,
    http: String,
    grpc: String,
}

impl DemoServer {
    fn start() -> DemoServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        run_cli(data_dir.path(), &["demo"]);
        let served = mingzhang_tests::serve(data_dir.path());
        DemoServer {
            http: served.http.clone(),
            grpc: served.grpc.clone(),
            _data_dir: data_dir,
            _served: served,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = reqwest::get(format!("{}{path}", self.http))
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    async fn json(&self, path: &str) -> Value {
        let (status, text) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }
}

#[tokio::test]
async fn every_demo_fund_account_reconciles_over_http_and_grpc_with_the_funds_and_trial_balance() {
    let server = DemoServer::start();
    let funds = server.json("/v1/funds").await;
    let trial = server.json("/v1/trial-balance").await;
    assert_eq!(trial["total_fen"], 0);
    let projects = server.json("/v1/projects").await;
    let grants = server.json("/v1/grants").await;
    let rounds = server.json("/v1/grant-rounds").await;
    let under = |prefix: &str| -> i64 {
        -trial["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|line| line["account"].as_str().unwrap().starts_with(prefix))
            .map(|line| line["balance_fen"].as_i64().unwrap())
            .sum::<i64>()
    };
    let mut grpc = LedgerServiceClient::connect(server.grpc.clone())
        .await
        .expect("grpc connects");
    let mut funds_seen = 0;
    for fund in funds.as_array().unwrap() {
        let fund_id = fund["fund_id"].as_str().unwrap();
        let total_in = fund["total_in_fen"].as_i64().unwrap();
        let total_out = fund["total_out_fen"].as_i64().unwrap();
        let held = fund["total_held_fen"].as_i64().unwrap();

        // The trial balance: the fund's accounts, its projects', its grants'.
        let round_of_fund = |round_id: &str| {
            rounds
                .as_array()
                .unwrap()
                .iter()
                .any(|round| round["round_id"] == round_id && round["fund_id"] == fund_id)
        };
        let trial_held = under(&format!("fund:{fund_id}:"))
            + projects
                .as_array()
                .unwrap()
                .iter()
                .filter(|project| project["fund_id"] == fund_id)
                .map(|project| {
                    under(&format!(
                        "project:{}:",
                        project["project_id"].as_str().unwrap()
                    ))
                })
                .sum::<i64>()
            + grants
                .as_array()
                .unwrap()
                .iter()
                .filter(|grant| round_of_fund(grant["round_id"].as_str().unwrap()))
                .map(|grant| {
                    under(&format!(
                        "liabilities:grants:{}",
                        grant["grant_id"].as_str().unwrap()
                    ))
                })
                .sum::<i64>();
        assert_eq!(trial_held, held, "trial balance of {fund_id}");

        // HTTP, five movements a page.
        let (mut sum_in, mut sum_out, mut last) = (0, 0, 0);
        let mut path = format!("/v1/funds/{fund_id}/transactions?limit=5");
        loop {
            let page = server.json(&path).await;
            assert_eq!(
                (
                    page["in_fen"].as_i64(),
                    page["out_fen"].as_i64(),
                    page["balance_fen"].as_i64()
                ),
                (Some(total_in), Some(total_out), Some(held))
            );
            for movement in page["movements"].as_array().unwrap() {
                for field in [
                    "seq",
                    "date",
                    "kind",
                    "direction",
                    "amount_fen",
                    "balance_after_fen",
                    "counterparty",
                ] {
                    assert!(!movement[field].is_null(), "{field} in {movement}");
                }
                let amount = movement["amount_fen"].as_i64().unwrap();
                assert!(amount > 0);
                match movement["direction"].as_str().unwrap() {
                    "in" => sum_in += amount,
                    "out" => sum_out += amount,
                    other => panic!("direction {other}"),
                }
                last = movement["balance_after_fen"].as_i64().unwrap();
            }
            match page["next_offset"].as_u64() {
                Some(next) => {
                    path = format!("/v1/funds/{fund_id}/transactions?limit=5&offset={next}")
                }
                None => break,
            }
        }
        assert_eq!(
            (sum_in, sum_out, last),
            (total_in, total_out, held),
            "HTTP {fund_id}"
        );

        // gRPC, seven a page.
        let (mut sum_in, mut sum_out, mut last) = (0, 0, 0);
        let mut offset = 0;
        loop {
            let response = grpc
                .query(pb::QueryRequest {
                    query: "fund-transactions".into(),
                    id: fund_id.into(),
                    offset: Some(offset),
                    limit: Some(7),
                    ..Default::default()
                })
                .await
                .expect("fund-transactions over gRPC")
                .into_inner();
            let Some(pb::query_response::Answer::FundTransactions(page)) = response.answer else {
                panic!("a fund-transactions answer");
            };
            assert_eq!(
                (page.in_fen, page.out_fen, page.balance_fen),
                (total_in, total_out, held)
            );
            for movement in &page.movements {
                match movement.direction.as_str() {
                    "in" => sum_in += movement.amount_fen,
                    _ => sum_out += movement.amount_fen,
                }
                last = movement.balance_after_fen;
            }
            match page.next_offset {
                Some(next) => offset = next as u32,
                None => break,
            }
        }
        assert_eq!(
            (sum_in, sum_out, last),
            (total_in, total_out, held),
            "gRPC {fund_id}"
        );

        let (status, html) = server.get(&format!("/funds/{fund_id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("资金流水"));
        funds_seen += 1;
    }
    assert!(funds_seen >= 3);

    let tranches = server
        .json("/v1/funds/kaixuan-charity/transactions?kind=grant_tranche&limit=10000")
        .await;
    let tranches = tranches["movements"].as_array().unwrap();
    assert!(!tranches.is_empty());
    assert!(
        tranches
            .iter()
            .all(|m| m["kind"] == "grant_tranche" && m["direction"] == "out")
    );
    let month = tranches[0]["date"].as_str().unwrap()[..7].to_owned();
    let in_month = server
        .json(&format!(
            "/v1/funds/kaixuan-charity/transactions?month={month}&limit=10000"
        ))
        .await;
    assert!(
        in_month["movements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["date"].as_str().unwrap().starts_with(&month))
    );
    let organisation = tranches[0]["counterparty_id"].as_str().unwrap().to_owned();
    let paid_to = server
        .json(&format!(
            "/v1/funds/kaixuan-charity/transactions?counterparty={organisation}"
        ))
        .await;
    let paid_to = paid_to["movements"].as_array().unwrap();
    assert!(!paid_to.is_empty());
    assert!(
        paid_to
            .iter()
            .all(|m| m["counterparty_id"] == organisation.as_str())
    );
}

#[tokio::test]
async fn bad_filters_and_dates_are_refused_naming_the_parameter() {
    let server = DemoServer::start();
    for (path, status, field) in [
        (
            "/v1/funds/kaixuan-charity/transactions?kind=gift",
            422,
            "kind",
        ),
        (
            "/v1/funds/kaixuan-charity/transactions?month=2016-13",
            422,
            "month",
        ),
        (
            "/v1/funds/kaixuan-charity/transactions?limit=0",
            422,
            "limit",
        ),
        (
            "/v1/funds/kaixuan-charity/transactions?limit=10001",
            422,
            "limit",
        ),
        (
            "/v1/funds/kaixuan-charity/transactions?offset=-1",
            422,
            "query",
        ),
        (
            "/v1/funds/kaixuan-charity/transactions?colour=red",
            422,
            "query",
        ),
        ("/v1/funds/no-such-fund/transactions", 404, "id"),
        ("/?as_of=2016-02-30x", 400, "as_of"),
        ("/funds/kaixuan-charity?as_of=tomorrow", 400, "as_of"),
    ] {
        let (got, text) = server.get(path).await;
        assert_eq!(got.as_u16(), status, "GET {path}: {text}");
        let problem: Value = serde_json::from_str(&text).expect("problem+json");
        assert_eq!(problem["field"], field, "GET {path}: {text}");
    }
    let (status, html) = server.get("/?as_of=2017-07-01").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"as-of-date\">2017-07-01<"));
    let mut grpc = LedgerServiceClient::connect(server.grpc.clone())
        .await
        .unwrap();
    let refused = grpc
        .query(pb::QueryRequest {
            query: "fund-transactions".into(),
            id: "kaixuan-charity".into(),
            month: "2016-1".into(),
            ..Default::default()
        })
        .await
        .expect_err("a bad month");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("month"), "{}", refused.message());
}
