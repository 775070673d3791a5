//! Receipt links over real HTTP and gRPC: recording a donation hands back a
//! link the donor opens without a token; the operator revokes it; a sponsor
//! fetches the receipts of its own donations only; the code never reaches
//! the hashed log.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::path::Path;

use mingzhang_proto::v1 as pb;
use mingzhang_proto::v1::event_envelope::Event;
use mingzhang_proto::v1::ledger_service_client::LedgerServiceClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use mingzhang_tests::{Served, run_cli};

struct Ledger {
    data_dir: tempfile::TempDir,
    /// `None` only while restarting.
    served: Option<Served>,
    operator: String,
    client: reqwest::Client,
}

impl Ledger {
    /// A server with a fund, a donor named in public and one who is not.
    async fn seeded() -> Ledger {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        let operator = token(data_dir.path(), &["--role", "operator"]);
        let ledger = Ledger {
            served: Some(mingzhang_tests::serve(data_dir.path())),
            data_dir,
            operator,
            client: reqwest::Client::new(),
        };
        for (path, body) in [
            (
                "/v1/funds",
                json!({"fund_id": "kaixuan-charity", "name": "凯旋街道社区发展基金", "kind": "unrestricted"}),
            ),
            (
                "/v1/donors",
                json!({"donor_id": "unit-01", "name": "凯旋示范商贸有限公司", "kind": "enterprise",
                       "alliance_member": true, "show_name_publicly": true}),
            ),
            (
                "/v1/donors",
                json!({"donor_id": "resident-07", "name": "李建国", "kind": "individual"}),
            ),
        ] {
            let (status, answer) = ledger.post(path, None, body).await;
            assert_eq!(status, StatusCode::OK, "seeding {path}: {answer}");
        }
        ledger
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.as_ref().expect("serving").http)
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.operator)
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Status, content type and body text of a GET.
    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.expect("body"))
    }

    async fn revoke(&self, link: &str, token: Option<&str>) -> (StatusCode, String) {
        let code = link.strip_prefix("/r/").expect("a receipt link");
        let mut request = self
            .client
            .delete(self.url(&format!("/v1/receipt-links/{code}")))
            .header("idempotency-key", format!("revoke-{code}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        (response.status(), response.text().await.expect("body"))
    }

    /// Every byte of the log's segments.
    fn log_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.data_dir.path().join("log")).expect("log dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                bytes.extend(std::fs::read(path).expect("segment"));
            }
        }
        assert!(!bytes.is_empty());
        bytes
    }
}

fn authorised<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}

fn token(data_dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    run_cli(data_dir, &all).trim().to_owned()
}

fn donation(id: &str, donor: &str, amount: &str, anonymous: bool) -> Value {
    json!({"donation_id": id, "donor_id": donor, "fund_id": "kaixuan-charity", "amount": amount,
           "channel": "bank_transfer", "bank_reference": format!("BR-{id}"),
           "received_on": "2015-11-20", "anonymous": anonymous})
}

fn receipt_link(answer: &Value) -> String {
    let link = answer["receipt_link"]
        .as_str()
        .unwrap_or_else(|| panic!("no receipt link in {answer}"))
        .to_owned();
    let code = link.strip_prefix("/r/").expect("/r/<code>");
    assert_eq!(code.len(), 22, "128 bits, URL-safe base64: {code}");
    assert!(
        code.bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    );
    link
}

#[tokio::test]
async fn a_donor_opens_the_link_without_a_token_until_the_operator_revokes_it() {
    let ledger = Ledger::seeded().await;
    let (status, answer) = ledger
        .post(
            "/v1/donations",
            Some("gift-1"),
            donation("gift-1", "unit-01", "1234.56", false),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let link = receipt_link(&answer);
    let seq = answer["records"][0]["seq"].as_u64().expect("seq");

    // A retry with the same key records nothing and answers the same link.
    let (status, retried) = ledger
        .post(
            "/v1/donations",
            Some("gift-1"),
            donation("gift-1", "unit-01", "1234.56", false),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["idempotent_replay"], json!(true));
    assert_eq!(receipt_link(&retried), link);

    // Other writes carry no link.
    let (_, donor) = ledger
        .post(
            "/v1/donors",
            None,
            json!({"donor_id": "unit-03", "name": "三号单位", "kind": "enterprise"}),
        )
        .await;
    assert!(donor.get("receipt_link").is_none(), "{donor}");

    let (status, content_type, page) = ledger.get(&link, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.contains("一笔 <strong>1,234.56</strong> 元的捐赠，进入"),
        "{page}"
    );
    assert!(page.contains("凯旋街道社区发展基金"), "{page}");
    assert!(page.contains("2015-11-20"), "{page}");
    assert!(
        page.contains("凯旋示范商贸有限公司"),
        "named by consent: {page}"
    );
    assert!(page.contains("<script src=\"/assets/verify.js\">"));
    let (_, _, english) = ledger.get(&format!("{link}?lang=en"), None).await;
    assert!(
        english.contains("A donation of CNY <strong>1,234.56</strong> to"),
        "{english}"
    );

    let (status, content_type, file) = ledger.get(&format!("{link}/receipt.json"), None).await;
    assert_eq!(status, StatusCode::OK, "{file}");
    assert!(content_type.starts_with("application/json"));
    let receipt: Value = serde_json::from_str(&file).expect("JSON");
    assert_eq!(receipt["seq"].as_u64(), Some(seq));
    assert!(receipt["checkpoint"].as_str().is_some(), "{receipt}");

    // The code is a capability kept beside the log, never in it.
    let code = link.strip_prefix("/r/").expect("code");
    let log = ledger.log_bytes();
    assert!(
        !log.windows(code.len())
            .any(|window| window == code.as_bytes()),
        "the code is in the log"
    );

    // Only an operator revokes.
    let auditor = token(ledger.data_dir.path(), &["--role", "auditor"]);
    assert_eq!(ledger.revoke(&link, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ledger.revoke(&link, Some(&auditor)).await.0,
        StatusCode::FORBIDDEN
    );
    let log_len_before = ledger.log_bytes();
    let operator = ledger.operator.clone();
    assert_eq!(
        ledger.revoke(&link, Some(&operator)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ledger.revoke(&link, Some(&operator)).await.0,
        StatusCode::NO_CONTENT,
        "a retried revocation answers alike"
    );
    assert_eq!(ledger.log_bytes(), log_len_before, "the log is untouched");

    // Revoked and never issued read the same.
    let (revoked_status, _, revoked_page) = ledger.get(&link, None).await;
    let never = format!("/r/{}", "A".repeat(22));
    let (never_status, _, never_page) = ledger.get(&never, None).await;
    assert_eq!(revoked_status, StatusCode::NOT_FOUND);
    assert_eq!((never_status, never_page), (revoked_status, revoked_page));
    let (status, _, problem) = ledger.get(&format!("{link}/receipt.json"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert!(problem.contains("no_such_receipt_link"), "{problem}");
    let (status, body) = ledger.revoke(&never, Some(&operator)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no_such_receipt_link"), "{body}");

    // A retry after revocation hands out a fresh link to the same record.
    let (_, again) = ledger
        .post(
            "/v1/donations",
            Some("gift-1"),
            donation("gift-1", "unit-01", "1234.56", false),
        )
        .await;
    let replacement = receipt_link(&again);
    assert_ne!(replacement, link);
    assert_eq!(ledger.get(&replacement, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_receipt_link_survives_a_restart_and_masks_a_donor_by_the_one_rule() {
    let mut ledger = Ledger::seeded().await;
    let (status, answer) = ledger
        .post(
            "/v1/donations",
            None,
            donation("gift-2", "resident-07", "50.00", false),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let link = receipt_link(&answer);
    drop(ledger.served.take());
    ledger.served = Some(mingzhang_tests::serve(ledger.data_dir.path()));
    let (status, _, page) = ledger.get(&link, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("一笔 <strong>50.00</strong> 元的捐赠"),
        "{page}"
    );
    assert!(!page.contains("李"), "a person not to be named: {page}");
    assert!(page.contains("匿名"), "{page}");
}

#[tokio::test]
async fn a_sponsor_fetches_the_receipts_of_its_own_donations_and_no_others() {
    let ledger = Ledger::seeded().await;
    let sponsor = token(
        ledger.data_dir.path(),
        &["--role", "sponsor", "--donor", "unit-01"],
    );
    let (_, own) = ledger
        .post(
            "/v1/donations",
            None,
            donation("own", "unit-01", "10.00", false),
        )
        .await;
    let (_, other) = ledger
        .post(
            "/v1/donations",
            None,
            donation("other", "resident-07", "20.00", true),
        )
        .await;
    let own_seq = own["records"][0]["seq"].as_u64().expect("seq");
    let other_seq = other["records"][0]["seq"].as_u64().expect("seq");

    let (status, _, receipt) = ledger
        .get(&format!("/v1/receipts/{own_seq}"), Some(&sponsor))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let receipt: Value = serde_json::from_str(&receipt).expect("JSON");
    assert_eq!(receipt["seq"].as_u64(), Some(own_seq));

    // Another's gift, a record that is no gift, and one past the log all
    // answer alike: permission before anything is looked up.
    for seq in [other_seq, 0, 1_000_000] {
        let (status, _, problem) = ledger
            .get(&format!("/v1/receipts/{seq}"), Some(&sponsor))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "seq {seq}: {problem}");
        assert!(problem.contains("not_yours"), "{problem}");
    }
    let (status, _, _) = ledger.get(&format!("/v1/receipts/{own_seq}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn grpc_submit_and_batch_answer_a_receipt_link_per_donation() {
    let ledger = Ledger::seeded().await;
    let grpc = ledger.served.as_ref().expect("serving").grpc.clone();
    let mut client = LedgerServiceClient::connect(grpc)
        .await
        .expect("grpc connects");
    let gift = |id: &str| pb::SubmitRequest {
        command: Some(pb::EventEnvelope {
            event: Some(Event::DonationReceived(pb::DonationReceived {
                donation_id: id.into(),
                donor_id: "unit-01".into(),
                fund_id: "kaixuan-charity".into(),
                amount_fen: 10_000,
                channel: pb::Channel::Cash as i32,
                received_on: "2015-11-20".into(),
                ..Default::default()
            })),
            ..Default::default()
        }),
        idempotency_key: format!("key-{id}"),
    };
    let one = client
        .submit(authorised(gift("grpc-1"), &ledger.operator))
        .await
        .expect("recorded")
        .into_inner();
    assert!(one.receipt_link.starts_with("/r/"), "{one:?}");
    let again = client
        .submit(authorised(gift("grpc-1"), &ledger.operator))
        .await
        .expect("replayed")
        .into_inner();
    assert!(again.idempotent_replay);
    assert_eq!(again.receipt_link, one.receipt_link);

    let fund = pb::SubmitRequest {
        command: Some(pb::EventEnvelope {
            event: Some(Event::FundOpened(pb::FundOpened {
                fund_id: "second".into(),
                name: "第二基金".into(),
                kind: pb::FundKind::Unrestricted as i32,
                ..Default::default()
            })),
            ..Default::default()
        }),
        idempotency_key: String::new(),
    };
    let batch = client
        .submit_batch(authorised(
            pb::SubmitBatchRequest {
                commands: vec![gift("grpc-2"), fund, gift("grpc-3")],
            },
            &ledger.operator,
        ))
        .await
        .expect("batch")
        .into_inner();
    let links: Vec<String> = batch
        .results
        .iter()
        .map(|result| match &result.outcome {
            Some(pb::submit_result::Outcome::Committed(committed)) => {
                committed.receipt_link.clone()
            }
            other => panic!("refused: {other:?}"),
        })
        .collect();
    assert!(
        links[0].starts_with("/r/") && links[2].starts_with("/r/"),
        "{links:?}"
    );
    assert_eq!(links[1], "", "a fund has no receipt");
    assert_ne!(links[0], links[2]);
    for link in [&one.receipt_link, &links[0], &links[2]] {
        assert_eq!(ledger.get(link, None).await.0, StatusCode::OK, "{link}");
    }
}
