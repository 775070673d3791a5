//! Black-box: 善款去向 (docs/flows.md) of the Kaixuan demo over real HTTP
//! and gRPC: every donation's flow adds up, each outflow it paid names it
//! with the same amount, the public sees no masked giver, and an unknown id
//! is a problem+json 404.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use mingzhang_proto::v1 as pb;
use mingzhang_proto::v1::ledger_service_client::LedgerServiceClient;
use reqwest::StatusCode;
use serde_json::Value;

use mingzhang_tests::{binary, run_cli};

/// A server on the Kaixuan demo, stopped when dropped.
struct DemoServer {
    _data_dir: tempfile::TempDir,
    child: Child,
    http: String,
    grpc: String,
}

impl DemoServer {
    fn start() -> DemoServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        run_cli(data_dir.path(), &["demo"]);
        let mut child = Command::new(binary())
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped"))
            .read_line(&mut line)
            .expect("server prints its addresses");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                .to_owned()
        };
        DemoServer {
            http: format!("http://{}", field("http=")),
            grpc: format!("http://{}", field("grpc=")),
            _data_dir: data_dir,
            child,
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

impl Drop for DemoServer {
    fn drop(&mut self) {
        // The child this test started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn amount(value: &Value) -> i64 {
    value["amount_fen"].as_i64().expect("an amount")
}

#[tokio::test]
async fn every_demo_gift_flow_adds_up_and_each_outflow_names_the_gifts_that_paid_it() {
    let server = DemoServer::start();
    let donations = server.json("/v1/donations?limit=10000").await;
    let donations = donations.as_array().unwrap();
    assert!(donations.len() >= 10);
    let mut gifts: Vec<(String, Value)> = Vec::new();
    for donation in donations {
        let id = donation["donation_id"].as_str().unwrap();
        gifts.push((
            id.to_owned(),
            server.json(&format!("/v1/flows/donations/{id}")).await,
        ));
    }
    for id in ["pay-unit-02-2015", "pay-unit-02-2016"] {
        gifts.push((
            id.to_owned(),
            server
                .json(&format!("/v1/flows/pledge-payments/{id}"))
                .await,
        ));
    }
    let mut outflows_checked = 0;
    for (id, flow) in &gifts {
        let paid_for = flow["paid_for"].as_array().unwrap();
        let paid: i64 = paid_for.iter().map(amount).sum();
        assert_eq!(
            flow["unspent_fen"].as_i64().unwrap() + paid,
            amount(flow),
            "{id}"
        );
        for item in paid_for {
            let outflow = server
                .json(&format!("/v1/flows/outflows/{}", item["seq"]))
                .await;
            assert_eq!(outflow["unattributed_fen"], 0, "{outflow}");
            let by_gift: i64 = outflow["paid_by"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|paid| paid["id"] == id.as_str())
                .map(amount)
                .sum();
            assert_eq!(by_gift, amount(item), "{id} in {outflow}");
            let total: i64 = outflow["paid_by"]
                .as_array()
                .unwrap()
                .iter()
                .map(amount)
                .sum();
            assert_eq!(total, amount(&outflow));
            outflows_checked += 1;
        }
    }
    assert!(
        outflows_checked >= 12,
        "the demo spends gifts: {outflows_checked}"
    );

    // The worked example of docs/flows.md, and gRPC saying the same.
    let (_, example) = &gifts[gifts.len() - 2];
    assert_eq!(
        (amount(example), example["unspent_fen"].as_i64().unwrap()),
        (20_000_000, 0)
    );
    assert_eq!(example["paid_for"][0]["reference_id"], "grant-mv2016-011");
    assert_eq!(example["paid_for"][0]["tranche_no"], 1);
    assert_eq!(example["counterparty"], "景芳示例科技有限公司");
    let mut grpc = LedgerServiceClient::connect(server.grpc.clone())
        .await
        .expect("grpc connects");
    let response = grpc
        .query(pb::QueryRequest {
            query: "pledge-payment-flow".into(),
            id: "pay-unit-02-2015".into(),
            ..Default::default()
        })
        .await
        .expect("pledge-payment-flow over gRPC")
        .into_inner();
    let Some(pb::query_response::Answer::GiftFlow(typed)) = response.answer else {
        panic!("a gift flow answer");
    };
    assert_eq!(
        (typed.amount_fen, typed.unspent_fen, typed.paid_for.len()),
        (20_000_000, 0, 12)
    );
    assert_eq!(typed.paid_for[0].amount_fen, 1_600_000);

    // 李建国 gave anonymously: the public never sees who.
    let anonymous = server
        .get("/v1/flows/donations/don-2015-resident-1")
        .await
        .1;
    assert!(
        !anonymous.contains("李建国") && !anonymous.contains("resident-li"),
        "{anonymous}"
    );
    assert!(anonymous.contains("匿名"), "{anonymous}");

    for path in [
        "/v1/flows/donations/nobody",
        "/v1/flows/pledge-payments/nobody",
        "/v1/flows/outflows/0",
    ] {
        let response = reqwest::get(format!("{}{path}", server.http))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["rule"], "not_found", "{path}: {problem}");
    }
    let (status, _) = server
        .get("/v1/flows/donations/don-2015-resident-1?as_of=2016-01-01")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
