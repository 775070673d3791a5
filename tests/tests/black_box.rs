//! Black-box tests of the built `mingzhang` binary: each test starts its own
//! server on a fresh data directory and free loopback ports, and talks to it
//! over HTTP (reqwest) and gRPC (the generated tonic client), as users do.
//!
//! Build first: `cargo build --workspace --bins && cargo test --workspace`.

use std::path::Path;
use std::process::{Child, Command};

use futures::StreamExt;
use mingzhang_proto::v1 as pb;
use mingzhang_proto::v1::event_envelope::Event;
use mingzhang_proto::v1::ledger_service_client::LedgerServiceClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use mingzhang_tests::{binary, run_cli};

struct Tokens {
    operator: String,
    auditor: String,
}

struct Server {
    data_dir: tempfile::TempDir,
    child: Option<Child>,
    http: String,
    grpc: String,
    tokens: Tokens,
    client: reqwest::Client,
}

impl Server {
    fn start() -> Server {
        Server::start_after(|_| {})
    }

    /// Like `start`, with `prepare` run on the initialised data directory
    /// before the server opens it (e.g. `mingzhang demo`).
    fn start_after(prepare: impl FnOnce(&Path)) -> Server {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        prepare(data_dir.path());
        let operator = run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
        let auditor = run_cli(data_dir.path(), &["token", "create", "--role", "auditor"])
            .trim()
            .to_owned();
        let mut server = Server {
            data_dir,
            child: None,
            http: String::new(),
            grpc: String::new(),
            tokens: Tokens { operator, auditor },
            client: reqwest::Client::new(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let served = mingzhang_tests::serve(self.data_dir.path());
        self.http = served.http.clone();
        self.grpc = served.grpc.clone();
        self.child = Some(served.into_child());
    }

    /// SIGTERM, and the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = child.id() as libc::pid_t;
        // SAFETY: signalling the child this test started, by its pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        child.wait().expect("server exits")
    }

    fn token(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        run_cli(self.data_dir.path(), &all).trim().to_owned()
    }

    async fn post(&self, token: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_keyed(token, path, None, body).await
    }

    async fn post_keyed(
        &self,
        token: Option<&str>,
        path: &str,
        key: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.post_raw(token, path, key, body.to_string()).await
    }

    async fn post_raw(
        &self,
        token: Option<&str>,
        path: &str,
        key: Option<&str>,
        body: String,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.http))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.http));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn log_len(&self) -> u64 {
        let (status, page) = self
            .get(Some(&self.tokens.auditor), "/v1/records?limit=1")
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["log_len"].as_u64().expect("log_len")
    }

    async fn grpc_client(&self) -> LedgerServiceClient<tonic::transport::Channel> {
        LedgerServiceClient::connect(self.grpc.clone())
            .await
            .expect("grpc connects")
    }

    fn op(&self) -> Option<&str> {
        Some(&self.tokens.operator)
    }

    /// A fund, a registered enterprise donor and a project to give to.
    async fn seed(&self) {
        for (path, body) in [
            (
                "/v1/funds",
                json!({"fund_id": "charity", "name": "Kaixuan Charity Fund", "kind": "unrestricted"}),
            ),
            (
                "/v1/donors",
                json!({"donor_id": "unit-01", "name": "凯旋示范商贸有限公司", "kind": "enterprise",
                       "alliance_member": true, "show_name_publicly": true}),
            ),
            (
                "/v1/donors",
                json!({"donor_id": "unit-02", "name": "景芳示例科技有限公司", "kind": "enterprise",
                       "alliance_member": true}),
            ),
            (
                "/v1/organisations",
                json!({"organisation_id": "org-01", "name": "社工服务中心", "registration_no": "5233"}),
            ),
            (
                "/v1/projects",
                json!({"project_id": "p-01", "title": "助老送餐", "need_kind": "service",
                       "community": "景芳", "survey": "2015-H1", "budget": "20000.00",
                       "fund_id": "charity"}),
            ),
        ] {
            let (status, body) = self.post(self.op(), path, body).await;
            assert_eq!(status, StatusCode::OK, "seeding {path}: {body}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn donation(id: &str, donor: &str, amount: &str) -> Value {
    json!({"donation_id": id, "donor_id": donor, "fund_id": "charity", "amount": amount,
           "channel": "bank_transfer", "bank_reference": format!("BR-{id}"),
           "received_on": "2015-06-01"})
}

#[tokio::test]
async fn a_recorded_donation_answers_with_its_sequence_number_and_hash() {
    let server = Server::start();
    server.seed().await;
    let before = server.log_len().await;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-1", "unit-01", "1234.56"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = &body["records"][0];
    assert_eq!(record["seq"].as_u64(), Some(before));
    assert_eq!(record["hash"].as_str().map(str::len), Some(64));
    assert_eq!(body["idempotent_replay"], json!(false));
    let (_, page) = server
        .get(
            Some(&server.tokens.auditor),
            &format!("/v1/records?from={before}"),
        )
        .await;
    assert_eq!(page["records"][0]["event_type"], json!("DonationReceived"));
    assert_eq!(page["records"][0]["hash"], record["hash"]);
    // Readable without a protobuf decoder: the envelope in canonical JSON.
    let gift = &page["records"][0]["envelope"]["donation_received"];
    assert_eq!(gift["donation_id"], json!("don-1"), "{page}");
    assert_eq!(gift["amount_fen"], json!("123456"));
    assert_eq!(server.log_len().await, before + 1);
}

#[tokio::test]
async fn retried_request_with_the_same_key_records_nothing_twice() {
    let server = Server::start();
    server.seed().await;
    let body = donation("don-1", "unit-01", "500.00");
    let (first_status, first) = server
        .post_keyed(server.op(), "/v1/donations", Some("retry-1"), body.clone())
        .await;
    assert_eq!(first_status, StatusCode::OK, "{first}");
    let len = server.log_len().await;
    // Same body written differently (field order, whitespace) is the same request.
    let reordered = format!(
        "{{ \"received_on\": \"2015-06-01\", {} }}",
        &body.to_string()[1..body.to_string().len() - 1]
            .replace(",\"received_on\":\"2015-06-01\"", "")
    );
    let (again_status, again) = server
        .post_raw(server.op(), "/v1/donations", Some("retry-1"), reordered)
        .await;
    assert_eq!(again_status, StatusCode::OK, "{again}");
    assert_eq!(again["records"], first["records"]);
    assert_eq!(again["idempotent_replay"], json!(true));
    assert_eq!(server.log_len().await, len);

    let (status, problem) = server
        .post_keyed(
            server.op(),
            "/v1/donations",
            Some("retry-1"),
            donation("don-1", "unit-01", "600.00"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["rule"], json!("idempotency_key_reused"));
    assert_eq!(server.log_len().await, len);
}

#[tokio::test]
async fn twenty_concurrent_retries_of_one_key_write_exactly_one_record() {
    let server = Server::start();
    server.seed().await;
    let before = server.log_len().await;
    let attempts = (0..20).map(|_| {
        server.post_keyed(
            server.op(),
            "/v1/donations",
            Some("giving-day-42"),
            donation("don-42", "unit-01", "88.00"),
        )
    });
    let answers = futures::future::join_all(attempts).await;
    let first_records = answers[0].1["records"].clone();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["records"], first_records);
    }
    let fresh = answers
        .iter()
        .filter(|(_, body)| body["idempotent_replay"] == json!(false))
        .count();
    assert_eq!(fresh, 1, "exactly one attempt wrote");
    assert_eq!(server.log_len().await, before + 1);
}

#[tokio::test]
async fn bad_input_names_the_field_and_the_rule_and_writes_nothing() {
    let server = Server::start();
    server.seed().await;
    let before = server.log_len().await;
    let with = |field: &str, value: Value| {
        let mut body = donation("don-bad", "unit-01", "10.00");
        body[field] = value;
        body
    };
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            with("amount", json!("0")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount",
            "amount_not_positive",
        ),
        (
            with("amount", json!("-5.00")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount",
            "amount_not_positive",
        ),
        (
            with("amount", json!("1.001")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount",
            "amount_too_precise",
        ),
        (
            with("amount", json!("ten")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount",
            "amount_not_decimal",
        ),
        (
            with("amount", json!(10.5)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount",
            "wrong_type",
        ),
        (
            with("colour", json!("red")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "colour",
            "unknown_field",
        ),
        (
            with("channel", json!("pigeon")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "channel",
            "invalid_value",
        ),
        (
            with("fund_id", json!("no-such-fund")),
            StatusCode::NOT_FOUND,
            "fund_id",
            "not_found",
        ),
    ];
    for (body, status, field, rule) in cases {
        let (got, problem) = server
            .post(server.op(), "/v1/donations", body.clone())
            .await;
        assert_eq!(got, status, "{body} -> {problem}");
        assert_eq!(problem["field"], json!(field), "{body} -> {problem}");
        assert_eq!(problem["rule"], json!(rule), "{body} -> {problem}");
        assert_eq!(problem["status"], json!(status.as_u16()));
    }
    let (status, problem) = server
        .post_raw(
            server.op(),
            "/v1/donations",
            None,
            "{\"donation_id\": ".into(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["rule"], json!("malformed_json"));
    let huge = json!({"donation_id": "x".repeat(100 * 1024)});
    let (status, problem) = server.post(server.op(), "/v1/donations", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(problem["rule"], json!("body_too_large"));
    let duplicate = json!({"fund_id": "charity", "name": "Again", "kind": "unrestricted"});
    let (status, problem) = server.post(server.op(), "/v1/funds", duplicate).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["field"], json!("fund_id"));
    assert_eq!(server.log_len().await, before, "nothing was written");
}

#[tokio::test]
async fn each_role_may_make_its_own_calls_and_is_refused_the_others() {
    let server = Server::start();
    server.seed().await;
    let sponsor = server.token(&["--role", "sponsor", "--donor", "unit-01"]);
    let organisation = server.token(&["--role", "organisation", "--organisation", "org-01"]);
    let auditor = server.tokens.auditor.clone();
    let fund = json!({"fund_id": "f2", "name": "Second", "kind": "unrestricted"});

    // Sponsor: gives, claims and funds as itself; nothing for another unit, no operator work.
    let (status, body) = server
        .post(
            Some(&sponsor),
            "/v1/donations",
            donation("s-1", "unit-01", "100.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post(
            Some(&sponsor),
            "/v1/donations",
            donation("s-2", "unit-02", "100.00"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rule"], json!("not_yours"));
    let (status, body) = server
        .post(
            Some(&sponsor),
            "/v1/projects/p-01/claim",
            json!({"sponsor_id": "unit-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server.post(Some(&sponsor), "/v1/funds", fund.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .get(Some(&sponsor), "/v1/donors/unit-01/statement")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .get(Some(&sponsor), "/v1/donors/unit-02/statement")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get(Some(&sponsor), "/v1/records").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Organisation: applies for itself only.
    let (status, body) = server
        .post(
            server.op(),
            "/v1/grant-rounds",
            json!({"round_id": "mv-2016", "fund_id": "charity", "name": "微创投 2016",
                   "budget": "100.00", "applications_open_on": "2016-03-01",
                   "applications_close_on": "2016-04-30"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let application = |org: &str| {
        json!({"application_id": format!("app-{org}"), "organisation_id": org,
               "title": "助老", "requested": "50.00", "submitted_on": "2016-03-10"})
    };
    let (status, body) = server
        .post(
            Some(&organisation),
            "/v1/grant-rounds/mv-2016/applications",
            application("org-01"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server
        .post(
            Some(&organisation),
            "/v1/grant-rounds/mv-2016/applications",
            application("org-02"),
        )
        .await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
        "{status}"
    );
    let (status, _) = server
        .post(Some(&organisation), "/v1/funds", fund.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Auditor reads everything and writes nothing.
    let (status, _) = server.post(Some(&auditor), "/v1/funds", fund.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get(Some(&auditor), "/v1/records").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .get(Some(&auditor), "/v1/donors/unit-02/statement")
        .await;
    assert_eq!(status, StatusCode::OK);

    // Public: transparency queries only.
    let (status, problem) = server.post(None, "/v1/funds", fund.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["rule"], json!("unauthenticated"));
    let (status, _) = server.get(None, "/v1/records").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.get(None, "/v1/funds").await;
    assert_eq!(status, StatusCode::OK);

    // A forged or revoked token is refused.
    let (status, _) = server
        .post(
            Some("mz_0000"),
            "/v1/donations",
            donation("s-3", "unit-01", "1.00"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let listing = run_cli(server.data_dir.path(), &["token", "list"]);
    let sponsor_id = listing
        .lines()
        .find(|line| line.contains("donor=unit-01"))
        .and_then(|line| line.split('\t').next())
        .expect("sponsor token listed")
        .to_owned();
    assert!(!listing.contains(&sponsor), "secrets are never listed");
    run_cli(server.data_dir.path(), &["token", "revoke", &sponsor_id]);
    let (status, problem) = server
        .post(
            Some(&sponsor),
            "/v1/donations",
            donation("s-4", "unit-01", "1.00"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
}

/// What the OpenAPI document says, found by schemathesis: a parameter a
/// read would ignore is refused, a path segment that is not UTF-8 is a
/// problem+json 400, integer fields take `3.0` as JSON Schema's integer
/// does, and a completion report needs its summary.
#[tokio::test]
async fn requests_are_answered_as_the_openapi_document_says() {
    let server = Server::start();
    server.seed().await;
    let cases = [
        (
            "/v1/funds?as_of=2016-01-01",
            StatusCode::UNPROCESSABLE_ENTITY,
            "as_of",
            "as_of_not_applicable",
        ),
        (
            "/v1/campaigns/%FF",
            StatusCode::BAD_REQUEST,
            "id",
            "bad_path",
        ),
        (
            "/v1/donors/%FF/statement",
            StatusCode::BAD_REQUEST,
            "id",
            "bad_path",
        ),
    ];
    for (path, expected, field, rule) in cases {
        let (status, content_type, text) = server
            .send(reqwest::Method::GET, server.op(), path, None, "")
            .await;
        assert_eq!(status, expected, "{path}: {text}");
        assert_eq!(content_type, "application/problem+json", "{path}");
        let problem: Value = serde_json::from_str(&text).expect("a problem");
        assert_eq!(
            (&problem["field"], &problem["rule"]),
            (&json!(field), &json!(rule)),
            "{path}"
        );
    }
    let (status, report) = server
        .get(
            server.tokens.operator.as_str().into(),
            "/v1/pledges?as_of=2016-01-01",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "pledges take as_of: {report}");
    let (status, problem) = server
        .post(
            server.op(),
            "/v1/projects/p-01/completion",
            json!({"report_sha256": "ab".repeat(32), "completed_on": "2016-01-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        (&problem["field"], &problem["rule"]),
        (&json!("summary"), &json!("missing_field"))
    );
    let (status, problem) = server
        .post(
            server.op(),
            "/v1/grant-applications/no-such-application/reviews",
            json!({"reviewer": "评审", "score": 80.0}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "80.0 is an integer: {problem}"
    );
}

#[tokio::test]
async fn queries_wait_for_min_seq_and_refuse_one_the_log_does_not_hold_at_once() {
    let server = Server::start();
    server.seed().await;
    let (_, body) = server
        .post(
            server.op(),
            "/v1/funds",
            json!({"fund_id": "fresh", "name": "Fresh", "kind": "unrestricted"}),
        )
        .await;
    let seq = body["records"][0]["seq"].as_u64().expect("seq");
    let (status, funds) = server.get(None, &format!("/v1/funds?min_seq={seq}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(funds.to_string().contains("\"fresh\""), "{funds}");
    // No write answered a seq past the log's end: nothing to wait for.
    let asked = std::time::Instant::now();
    let (status, problem) = server
        .get(None, &format!("/v1/funds?min_seq={}", seq + 1))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(
        (&problem["field"], &problem["rule"]),
        (&json!("min_seq"), &json!("min_seq_past_end"))
    );
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(1),
        "refused after {:?}; the wait for projections is 2 s",
        asked.elapsed()
    );
}

#[tokio::test]
async fn live_feed_over_sse_catches_up_then_follows_new_records() {
    let server = Server::start();
    server.seed().await;
    let existing = server.log_len().await;
    let response = server
        .client
        .get(format!("{}/v1/records/follow?from=0", server.http))
        .bearer_auth(&server.tokens.auditor)
        .send()
        .await
        .expect("feed opens");
    assert_eq!(response.status(), StatusCode::OK);
    let mut bytes = response.bytes_stream();
    let mut text = String::new();
    let mut wrote_new = false;
    let want = existing + 1;
    while (text.matches("event: record").count() as u64) < want {
        if !wrote_new && text.matches("event: record").count() as u64 == existing {
            let (status, _) = server
                .post(
                    server.op(),
                    "/v1/donations",
                    donation("live-1", "unit-01", "9.99"),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            wrote_new = true;
        }
        let chunk = bytes.next().await.expect("feed stays open").expect("chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(wrote_new);
    assert!(text.contains("DonationReceived"), "{text}");
    assert!(text.contains(&format!("id: {}", existing)), "{text}");
    let (status, _) = server.get(None, "/v1/records/follow?from=0").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

fn command(event: Event) -> Option<pb::EventEnvelope> {
    Some(pb::EventEnvelope {
        event: Some(event),
        ..Default::default()
    })
}

fn authorised<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

#[tokio::test]
async fn kaixuan_scenario_over_grpc_is_recorded_once_even_when_resent() {
    let server = Server::start();
    let mut client = server.grpc_client().await;
    let scenario = mingzhang_ledger::scenario::kaixuan();
    let mut written = 0u64;
    for (event, meta) in scenario.clone() {
        let request = pb::SubmitRequest {
            command: command(event),
            idempotency_key: meta.idempotency_key.clone().expect("scenario keys"),
        };
        let response = client
            .submit(authorised(request, &server.tokens.operator))
            .await
            .unwrap_or_else(|status| panic!("{meta:?}: {status}"))
            .into_inner();
        assert!(!response.idempotent_replay);
        written += response.records.len() as u64;
    }
    assert_eq!(written, scenario.len() as u64);
    assert_eq!(server.log_len().await, written);
    // Resent as one batch: every command is recognised, nothing is written.
    let batch = pb::SubmitBatchRequest {
        commands: scenario
            .iter()
            .map(|(event, meta)| pb::SubmitRequest {
                command: command(event.clone()),
                idempotency_key: meta.idempotency_key.clone().expect("scenario keys"),
            })
            .collect(),
    };
    let results = client
        .submit_batch(authorised(batch, &server.tokens.operator))
        .await
        .expect("batch accepted")
        .into_inner()
        .results;
    assert_eq!(results.len(), scenario.len());
    for result in results {
        match result.outcome {
            Some(pb::submit_result::Outcome::Committed(committed)) => {
                assert!(committed.idempotent_replay)
            }
            other => panic!("expected a replay, got {other:?}"),
        }
    }
    assert_eq!(server.log_len().await, written);
    let records = client
        .get_records(authorised(
            pb::GetRecordsRequest {
                from_seq: 0,
                limit: 1000,
            },
            &server.tokens.auditor,
        ))
        .await
        .expect("auditor reads records")
        .into_inner();
    assert_eq!(records.log_len, written);
    for pair in records.records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "records chain");
    }
}

#[tokio::test]
async fn grpc_errors_carry_the_status_field_and_rule() {
    let server = Server::start();
    server.seed().await;
    let mut client = server.grpc_client().await;
    let bad = pb::SubmitRequest {
        command: command(Event::DonationReceived(pb::DonationReceived {
            donation_id: "g-1".into(),
            fund_id: "no-such-fund".into(),
            amount_fen: 100,
            channel: pb::Channel::Cash as i32,
            received_on: "2015-06-01".into(),
            ..Default::default()
        })),
        idempotency_key: String::new(),
    };
    let status = client
        .submit(authorised(bad.clone(), &server.tokens.operator))
        .await
        .expect_err("unknown fund");
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(status.metadata().get("mz-field").unwrap(), "fund_id");
    assert_eq!(status.metadata().get("mz-rule").unwrap(), "not_found");
    let status = client
        .submit(tonic::Request::new(bad.clone()))
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let status = client
        .submit(authorised(bad, &server.tokens.auditor))
        .await
        .expect_err("auditor");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn a_grpc_batch_answers_each_command_and_writes_only_the_accepted_ones() {
    let server = Server::start();
    server.seed().await;
    let before = server.log_len().await;
    let mut client = server.grpc_client().await;
    let gift = |id: &str, fund: &str| pb::SubmitRequest {
        command: command(Event::DonationReceived(pb::DonationReceived {
            donation_id: id.into(),
            donor_id: "unit-01".into(),
            fund_id: fund.into(),
            amount_fen: 10_000,
            channel: pb::Channel::Online as i32,
            received_on: "2015-06-01".into(),
            ..Default::default()
        })),
        idempotency_key: format!("batch-{id}"),
    };
    let batch = pb::SubmitBatchRequest {
        commands: vec![
            gift("b-1", "charity"),
            gift("b-2", "no-such-fund"),
            pb::SubmitRequest {
                command: None,
                idempotency_key: String::new(),
            },
            gift("b-3", "charity"),
            // The same donation again: refused against the batch's own first command.
            pb::SubmitRequest {
                idempotency_key: "batch-b-1-again".into(),
                ..gift("b-1", "charity")
            },
        ],
    };
    let results = client
        .submit_batch(authorised(batch, &server.tokens.operator))
        .await
        .expect("batch accepted")
        .into_inner()
        .results;
    let outcome = |n: usize| results[n].outcome.clone().expect("an outcome");
    use pb::submit_result::Outcome;
    let Outcome::Committed(first) = outcome(0) else {
        panic!("b-1 recorded: {:?}", outcome(0));
    };
    assert_eq!(first.records[0].seq, before);
    assert!(matches!(outcome(1), Outcome::Error(error) if error.field == "fund_id"));
    assert!(matches!(outcome(2), Outcome::Error(error) if error.field == "command"));
    let Outcome::Committed(third) = outcome(3) else {
        panic!("b-3 recorded: {:?}", outcome(3));
    };
    assert_eq!(third.records[0].seq, before + 1);
    assert!(matches!(outcome(4), Outcome::Error(error) if error.field == "donation_id"));
    assert_eq!(server.log_len().await, before + 2);
}

#[tokio::test]
async fn grpc_follow_sends_history_then_new_records() {
    let server = Server::start();
    server.seed().await;
    let existing = server.log_len().await;
    let mut client = server.grpc_client().await;
    let mut feed = client
        .follow(authorised(
            pb::FollowRequest { from_seq: 0 },
            &server.tokens.auditor,
        ))
        .await
        .expect("follow opens")
        .into_inner();
    for seq in 0..existing {
        let record = feed.message().await.expect("stream ok").expect("record");
        assert_eq!(record.seq, seq);
    }
    let (status, _) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("follow-1", "unit-01", "3.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let record = feed
        .message()
        .await
        .expect("stream ok")
        .expect("new record");
    assert_eq!(record.seq, existing);
    assert!(matches!(
        record.envelope.and_then(|e| e.event),
        Some(Event::DonationReceived(_))
    ));
}

#[tokio::test]
async fn sigterm_stops_cleanly_with_exit_status_zero() {
    let mut server = Server::start();
    server.seed().await;
    let log_len = server.log_len().await;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    // The checkpoint signed on the way out covers every acknowledged write.
    let note = std::fs::read_to_string(
        server
            .data_dir
            .path()
            .join("checkpoints")
            .join("latest.note"),
    )
    .expect("a checkpoint was signed at shutdown");
    let size: u64 = note
        .lines()
        .nth(1)
        .and_then(|line| line.parse().ok())
        .expect("the note's second line is its tree size");
    assert_eq!(size, log_len, "{note}");
}

#[tokio::test]
async fn operational_endpoints_answer() {
    let server = Server::start();
    let (status, _) = server.get(None, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.get(None, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    server.seed().await;
    let (status, metrics) = server.get(None, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().expect("text").to_owned();
    assert!(
        metrics.contains(
            "mingzhang_http_requests_total{method=\"POST\",route=\"/v1/funds\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("mingzhang_appended_records_total 5"),
        "{metrics}"
    );
    // Group commit is visible: every durable record was counted in some fsync.
    let fsync_sum = metrics
        .lines()
        .find_map(|line| line.strip_prefix("mingzhang_log_fsync_batch_records_sum "))
        .and_then(|sum| sum.parse::<u64>().ok());
    assert_eq!(fsync_sum, Some(5), "{metrics}");
    let (status, spec) = server.get(None, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/v1/donations"]["post"].is_object(), "{spec}");
}

fn cny(fen: i64) -> String {
    assert!(fen > 0, "scenario amounts are positive");
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// "FUND_KIND_SPECIAL_SUPPORT" -> "special_support"
fn enum_json(proto_name: &str, prefix: &str) -> String {
    proto_name
        .strip_prefix(prefix)
        .expect("proto enum prefix")
        .to_lowercase()
}

/// The HTTP request a client sends to record `event`: the route and the JSON
/// body, amounts as decimal strings and derived fields left out.
fn http_request_for(event: &Event) -> (String, Value) {
    let channel = |value: i32| {
        enum_json(
            pb::Channel::try_from(value).expect("channel").as_str_name(),
            "CHANNEL_",
        )
    };
    let instalments = |list: &[pb::Instalment]| {
        list.iter()
            .map(|i| json!({"due_on": i.due_on, "amount": cny(i.amount_fen)}))
            .collect::<Vec<_>>()
    };
    match event {
        Event::FundOpened(e) => (
            "/v1/funds".into(),
            json!({"fund_id": e.fund_id, "name": e.name, "restriction": e.restriction,
                   "kind": enum_json(e.kind().as_str_name(), "FUND_KIND_")}),
        ),
        Event::CampaignOpened(e) => (
            "/v1/campaigns".into(),
            json!({"campaign_id": e.campaign_id, "name": e.name, "fund_id": e.fund_id,
                   "total_target": cny(e.total_target_fen), "first_year": e.first_year,
                   "yearly_targets": e.yearly_targets.iter()
                       .map(|t| json!({"year": t.year, "target": cny(t.target_fen)}))
                       .collect::<Vec<_>>()}),
        ),
        Event::DonorRegistered(e) => (
            "/v1/donors".into(),
            json!({"donor_id": e.donor_id, "name": e.name,
                   "kind": enum_json(e.kind().as_str_name(), "DONOR_KIND_"),
                   "alliance_member": e.alliance_member,
                   "show_name_publicly": e.show_name_publicly}),
        ),
        Event::PersonalDataErased(e) => (
            format!("/v1/donors/{}/erasure", e.subject_id),
            json!({"legal_basis": e.legal_basis, "erased_on": e.erased_on}),
        ),
        Event::OrganisationRegistered(e) => (
            "/v1/organisations".into(),
            json!({"organisation_id": e.organisation_id, "name": e.name,
                   "registration_no": e.registration_no}),
        ),
        Event::DonationReceived(e) => (
            "/v1/donations".into(),
            json!({"donation_id": e.donation_id, "donor_id": e.donor_id, "fund_id": e.fund_id,
                   "campaign_id": e.campaign_id, "project_id": e.project_id,
                   "amount": cny(e.amount_fen), "channel": channel(e.channel),
                   "bank_reference": e.bank_reference, "anonymous": e.anonymous,
                   "received_on": e.received_on}),
        ),
        Event::DonationRefunded(e) => (
            format!("/v1/donations/{}/refunds", e.donation_id),
            json!({"refund_id": e.refund_id, "amount": cny(e.amount_fen), "reason": e.reason}),
        ),
        Event::DonationReversed(e) => (
            format!("/v1/donations/{}/reversal", e.donation_id),
            json!({"reason": e.reason}),
        ),
        Event::PledgeMade(e) => (
            "/v1/pledges".into(),
            json!({"pledge_id": e.pledge_id, "donor_id": e.donor_id, "campaign_id": e.campaign_id,
                   "fund_id": e.fund_id, "total": cny(e.total_fen),
                   "instalments": instalments(&e.instalments)}),
        ),
        Event::PledgePaymentReceived(e) => (
            format!("/v1/pledges/{}/payments", e.pledge_id),
            json!({"payment_id": e.payment_id, "amount": cny(e.amount_fen),
                   "channel": channel(e.channel), "bank_reference": e.bank_reference,
                   "received_on": e.received_on}),
        ),
        Event::PledgeAmended(e) => (
            format!("/v1/pledges/{}/amendments", e.pledge_id),
            json!({"new_total": cny(e.new_total_fen), "instalments": instalments(&e.instalments),
                   "reason": e.reason}),
        ),
        Event::PledgeCancelled(e) => (
            format!("/v1/pledges/{}/cancellation", e.pledge_id),
            json!({"reason": e.reason}),
        ),
        Event::GrantRoundOpened(e) => (
            "/v1/grant-rounds".into(),
            json!({"round_id": e.round_id, "fund_id": e.fund_id, "name": e.name,
                   "budget": cny(e.budget_fen), "applications_open_on": e.applications_open_on,
                   "applications_close_on": e.applications_close_on}),
        ),
        Event::GrantApplicationSubmitted(e) => (
            format!("/v1/grant-rounds/{}/applications", e.round_id),
            json!({"application_id": e.application_id, "organisation_id": e.organisation_id,
                   "title": e.title, "summary": e.summary, "requested": cny(e.requested_fen),
                   "submitted_on": e.submitted_on}),
        ),
        Event::GrantApplicationReviewed(e) => (
            format!("/v1/grant-applications/{}/reviews", e.application_id),
            json!({"reviewer": e.reviewer, "score": e.score, "notes": e.notes}),
        ),
        Event::GrantApplicationShortlisted(e) => (
            format!("/v1/grant-applications/{}/shortlist", e.application_id),
            json!({}),
        ),
        Event::GrantAwarded(e) => (
            "/v1/grants".into(),
            json!({"grant_id": e.grant_id, "application_id": e.application_id,
                   "amount": cny(e.amount_fen), "awarded_on": e.awarded_on,
                   "tranches": e.tranches.iter()
                       .map(|t| json!({"amount": cny(t.amount_fen),
                                       "requires_evaluation": t.requires_evaluation}))
                       .collect::<Vec<_>>()}),
        ),
        Event::GrantTrancheDisbursed(e) => (
            format!("/v1/grants/{}/disbursements", e.grant_id),
            json!({"tranche_index": e.tranche_index, "paid_on": e.paid_on,
                   "bank_reference": e.bank_reference}),
        ),
        Event::GrantEvaluationRecorded(e) => (
            format!("/v1/grants/{}/evaluations", e.grant_id),
            json!({"evaluation_id": e.evaluation_id, "period": e.period,
                   "evaluator": e.evaluator, "score": e.score, "passed": e.passed}),
        ),
        Event::GrantSelfAssessmentFiled(e) => (
            format!("/v1/grants/{}/self-assessments", e.grant_id),
            json!({"quarter": e.quarter, "report_sha256": hex_of(&e.report_sha256),
                   "summary": e.summary}),
        ),
        Event::GrantClosed(e) => (
            format!("/v1/grants/{}/closure", e.grant_id),
            json!({"reason": e.reason}),
        ),
        Event::ProjectPublished(e) => (
            "/v1/projects".into(),
            json!({"project_id": e.project_id, "title": e.title, "description": e.description,
                   "need_kind": enum_json(e.need_kind().as_str_name(), "NEED_KIND_"),
                   "community": e.community, "survey": e.survey, "budget": cny(e.budget_fen),
                   "fund_id": e.fund_id}),
        ),
        Event::ProjectClaimed(e) => (
            format!("/v1/projects/{}/claim", e.project_id),
            json!({"sponsor_id": e.sponsor_id}),
        ),
        Event::ProjectClaimReleased(e) => (
            format!("/v1/projects/{}/release", e.project_id),
            json!({"sponsor_id": e.sponsor_id, "reason": e.reason}),
        ),
        Event::ProjectFunded(e) => (
            format!("/v1/projects/{}/fundings", e.project_id),
            json!({"funding_id": e.funding_id, "sponsor_id": e.sponsor_id,
                   "amount": cny(e.amount_fen), "channel": channel(e.channel),
                   "bank_reference": e.bank_reference, "received_on": e.received_on}),
        ),
        Event::ProjectCompleted(e) => (
            format!("/v1/projects/{}/completion", e.project_id),
            json!({"report_sha256": hex_of(&e.report_sha256), "summary": e.summary,
                   "completed_on": e.completed_on}),
        ),
        Event::ExpenditureMade(e) => (
            "/v1/expenditures".into(),
            json!({"expenditure_id": e.expenditure_id, "fund_id": e.fund_id,
                   "project_id": e.project_id, "amount": cny(e.amount_fen), "payee": e.payee,
                   "payee_kind": enum_json(e.payee_kind().as_str_name(), "PAYEE_KIND_"),
                   "purpose": e.purpose,
                   "category": enum_json(e.category().as_str_name(), "EXPENDITURE_CATEGORY_"),
                   "receipt_no": e.receipt_no, "paid_on": e.paid_on}),
        ),
        Event::ExpenditureReversed(e) => (
            format!("/v1/expenditures/{}/reversal", e.expenditure_id),
            json!({"reason": e.reason}),
        ),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The events recorded in `server`'s log, decoded through gRPC.
/// `events` with each salted commitment checked against, and replaced by,
/// the clear value the server's side store holds for it.
fn opened(server: &Server, events: Vec<Event>) -> Vec<Event> {
    let side_store =
        mingzhang_api::personal_data::FilePersonalData::open_for_reading(server.data_dir.path())
            .unwrap();
    let open = |subject: &str, clear: &mut String, commitment: &mut Vec<u8>| {
        if commitment.is_empty() {
            return;
        }
        assert!(
            clear.is_empty(),
            "{subject}: a clear name beside its commitment"
        );
        *clear = side_store
            .clear_value(subject, commitment)
            .unwrap_or_else(|| panic!("{subject}: the side store opens its commitment"));
        commitment.clear();
    };
    events
        .into_iter()
        .map(|mut event| {
            match &mut event {
                Event::DonorRegistered(e) => open(&e.donor_id, &mut e.name, &mut e.name_commitment),
                Event::ExpenditureMade(e) => {
                    open(&e.expenditure_id, &mut e.payee, &mut e.payee_commitment)
                }
                _ => {}
            }
            event
        })
        .collect()
}

async fn recorded_events(server: &Server) -> Vec<Event> {
    let mut client = server.grpc_client().await;
    let mut events = Vec::new();
    loop {
        let page = client
            .get_records(authorised(
                pb::GetRecordsRequest {
                    from_seq: events.len() as u64,
                    limit: 1000,
                },
                &server.tokens.auditor,
            ))
            .await
            .expect("records")
            .into_inner();
        if page.records.is_empty() {
            return events;
        }
        events.extend(
            page.records
                .into_iter()
                .map(|r| r.envelope.and_then(|e| e.event).expect("event")),
        );
    }
}

#[tokio::test]
async fn kaixuan_scenario_over_http_records_what_the_ledger_would_record_directly() {
    let over_http = Server::start();
    let over_grpc = Server::start();
    let scenario = mingzhang_ledger::scenario::kaixuan();
    let mut grpc = over_grpc.grpc_client().await;
    for (event, meta) in &scenario {
        let key = meta.idempotency_key.clone().expect("scenario keys");
        let (path, body) = http_request_for(event);
        let (status, answer) = over_http
            .post_keyed(over_http.op(), &path, Some(&key), body.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{path} {body} -> {answer}");
        grpc.submit(authorised(
            pb::SubmitRequest {
                command: command(event.clone()),
                idempotency_key: key,
            },
            &over_grpc.tokens.operator,
        ))
        .await
        .expect("grpc submit");
    }
    // Same commands, same decisions: the HTTP translation lost and added
    // nothing. Each server drew its own salts, so a person's name is
    // compared as what its commitment opens to in that server's side store.
    let recorded = recorded_events(&over_http).await;
    assert!(
        recorded.iter().all(|event| !matches!(event,
            Event::DonorRegistered(e) if e.kind() == pb::DonorKind::Individual && !e.name.is_empty())),
        "no resident's name in the clear in the log"
    );
    let via_http = opened(&over_http, recorded);
    assert_eq!(via_http.len(), scenario.len());
    assert_eq!(
        via_http,
        opened(&over_grpc, recorded_events(&over_grpc).await)
    );
    // And the read side agrees between the two servers.
    let last = scenario.len() - 1;
    let (status, funds_http) = over_http
        .get(None, &format!("/v1/funds?min_seq={last}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, funds_grpc) = over_grpc
        .get(None, &format!("/v1/funds?min_seq={last}"))
        .await;
    assert_eq!(funds_http, funds_grpc);
    assert!(
        funds_http.as_array().is_some_and(|funds| funds.len() == 3),
        "{funds_http}"
    );
    let campaign_path = format!("/v1/campaigns/{}", mingzhang_ledger::scenario::CAMPAIGN_ID);
    let (status, campaign) = over_http.get(None, &campaign_path).await;
    assert_eq!(status, StatusCode::OK, "{campaign}");
    // Kaixuan raised over 1,600,000 CNY in its first year alone.
    assert!(
        campaign["raised_fen"].as_i64().expect("raised") > 160_000_000,
        "{campaign}"
    );
    assert_eq!(campaign["total_target_fen"].as_i64(), Some(1_000_000_000));
    let (_, trial_balance) = over_http.get(None, "/v1/trial-balance").await;
    assert_eq!(trial_balance["total_fen"], json!(0), "{trial_balance}");
    for fund in funds_http.as_array().expect("funds") {
        let held = fund["total_held_fen"].as_i64().expect("held");
        let flows = fund["total_in_fen"].as_i64().expect("in")
            - fund["total_out_fen"].as_i64().expect("out");
        assert_eq!(held, flows, "{fund}");
    }
}

#[tokio::test]
async fn restart_after_sigterm_keeps_every_acknowledged_record() {
    let mut server = Server::start();
    server.seed().await;
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let (status, body) = server
            .post_keyed(
                server.op(),
                "/v1/donations",
                Some(&format!("restart-{n}")),
                donation(&format!("r-{n}"), "unit-01", "10.00"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        acknowledged.push(body["records"][0].clone());
    }
    let len = server.log_len().await;
    let (_, funds_before) = server
        .get(None, &format!("/v1/funds?min_seq={}", len - 1))
        .await;
    assert!(server.terminate().success());
    server.spawn();
    assert_eq!(server.log_len().await, len);
    let (_, funds_after) = server
        .get(None, &format!("/v1/funds?min_seq={}", len - 1))
        .await;
    assert_eq!(funds_after, funds_before);
    for (n, record) in acknowledged.iter().enumerate() {
        let seq = record["seq"].as_u64().expect("seq");
        let (_, page) = server
            .get(
                Some(&server.tokens.auditor),
                &format!("/v1/records?from={seq}&limit=1"),
            )
            .await;
        assert_eq!(page["records"][0]["hash"], record["hash"]);
        // A retry after the restart is still recognised: nothing new is written.
        let (status, again) = server
            .post_keyed(
                server.op(),
                "/v1/donations",
                Some(&format!("restart-{n}")),
                donation(&format!("r-{n}"), "unit-01", "10.00"),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["idempotent_replay"], json!(true));
        assert_eq!(&again["records"][0], record);
    }
    assert_eq!(server.log_len().await, len);
    let verified = run_cli(server.data_dir.path(), &["verify"]);
    assert!(
        verified.contains(&format!("OK: {len} records")),
        "{verified}"
    );
}

#[tokio::test]
async fn demo_twice_records_the_scenario_once_and_balances_reads_it() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    run_cli(data_dir.path(), &["init"]);
    let first = run_cli(data_dir.path(), &["demo"]);
    let scenario_len = mingzhang_ledger::scenario::kaixuan().len();
    assert!(
        first.contains(&format!("{scenario_len} records written")),
        "{first}"
    );
    let second = run_cli(data_dir.path(), &["demo"]);
    assert!(second.contains("0 records written"), "{second}");
    assert!(
        second.contains(&format!("log has {scenario_len} records")),
        "{second}"
    );
    let balances = run_cli(data_dir.path(), &["balances"]);
    assert!(
        balances.contains(mingzhang_ledger::scenario::CAMPAIGN_ID),
        "{balances}"
    );
    assert!(balances.contains("Trial balance"), "{balances}");
}

#[tokio::test]
async fn the_public_sees_donor_names_only_by_consent_and_auditors_see_all() {
    let server = Server::start();
    server.seed().await;
    for body in [
        donation("named", "unit-01", "100.00"),
        donation("unnamed", "unit-02", "200.00"),
        {
            let mut gift = donation("asked-anonymous", "unit-01", "300.00");
            gift["anonymous"] = json!(true);
            gift
        },
    ] {
        let (status, answer) = server.post(server.op(), "/v1/donations", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let last = server.log_len().await - 1;
    let by_id = |list: &Value, id: &str| {
        list.as_array()
            .expect("list")
            .iter()
            .find(|d| d["donation_id"] == json!(id))
            .cloned()
            .expect("listed")
    };
    let (status, public) = server
        .get(None, &format!("/v1/donations?min_seq={last}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id(&public, "named")["donor_id"], json!("unit-01"));
    assert_eq!(
        by_id(&public, "named")["donor_name"],
        json!("凯旋示范商贸有限公司")
    );
    assert_eq!(by_id(&public, "unnamed")["donor_id"], json!(""));
    assert_eq!(by_id(&public, "asked-anonymous")["donor_id"], json!(""));
    assert!(
        !public.to_string().contains("景芳示例科技有限公司"),
        "{public}"
    );
    let (_, audited) = server
        .get(Some(&server.tokens.auditor), "/v1/donations")
        .await;
    assert_eq!(by_id(&audited, "unnamed")["donor_id"], json!("unit-02"));
    assert_eq!(
        by_id(&audited, "asked-anonymous")["donor_id"],
        json!("unit-01")
    );
    let (status, page) = server.get(None, "/v1/donations?offset=1&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page[0]["donation_id"], public[1]["donation_id"]);
    let (status, problem) = server.get(None, "/v1/donations?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["rule"], json!("limit_out_of_range"));
}

#[tokio::test]
async fn verify_names_the_first_damaged_record_and_exits_non_zero() {
    let mut server = Server::start();
    server.seed().await;
    assert!(server.terminate().success());
    let log_dir = server.data_dir.path().join("log");
    let segment = std::fs::read_dir(&log_dir)
        .expect("log dir")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension().is_some_and(|ext| ext == "log"))
        .expect("a segment");
    let mut bytes = std::fs::read(&segment).expect("segment");
    // Halfway through the records, well past the first; after the records
    // the last segment holds the zeros reserved for more.
    let records_end = bytes.iter().rposition(|&byte| byte != 0).expect("records") + 1;
    bytes[records_end / 2] ^= 0x20;
    std::fs::write(&segment, bytes).expect("write back");
    let output = Command::new(binary())
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .arg("verify")
        .output()
        .expect("verify runs");
    assert!(
        !output.status.success(),
        "a damaged log must fail verification"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FAILED"), "{stderr}");
    assert!(stderr.contains("seq"), "names the record: {stderr}");
}

#[tokio::test]
async fn served_checkpoints_proofs_and_receipts_verify_with_the_public_key() {
    use base64::Engine;
    use mingzhang_ledger::checkpoint::{Checkpoint, VerifierKey};
    use mingzhang_ledger::merkle;
    use mingzhang_ledger::receipt::Receipt;

    let server = Server::start();
    server.seed().await;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-proof", "unit-01", "88.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let donation_seq = body["records"][0]["seq"].as_u64().unwrap();
    // Read-your-writes, so the checkpoint signed on demand covers the donation.
    server
        .get(None, &format!("/v1/funds?min_seq={donation_seq}"))
        .await;

    let text = |path: &str| {
        let request = server.client.get(format!("{}{path}", server.http));
        let path = path.to_owned();
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.text().await.unwrap()
        }
    };
    let key = VerifierKey::from_text(text("/v1/public-key").await.trim()).unwrap();
    let note = text("/v1/checkpoint").await;
    let checkpoint =
        Checkpoint::open_signed(&note, &key).expect("checkpoint signed by the served key");
    assert!(checkpoint.size() > donation_seq);
    assert!(
        checkpoint
            .extensions()
            .iter()
            .any(|line| line.starts_with("balances-sha256 "))
    );
    assert_eq!(
        text(&format!("/v1/checkpoints/{}", checkpoint.size())).await,
        note
    );

    // The auditor's receipt proves the donation against that checkpoint, offline.
    let (status, receipt) = server
        .get(
            Some(&server.tokens.auditor),
            &format!("/v1/receipts/{donation_seq}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let receipt: Receipt = serde_json::from_value(receipt).unwrap();
    let verified = receipt.verify(&key).expect("receipt verifies");
    assert_eq!(verified.record.seq(), donation_seq);
    let (status, _) = server
        .get(None, &format!("/v1/receipts/{donation_seq}"))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "receipts carry whole records: not for the public"
    );
    let (status, problem) = server
        .get(
            Some(&server.tokens.auditor),
            &format!("/v1/receipts/{}", donation_seq + 1000),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["rule"], json!("no_such_record"));

    // The public inclusion proof agrees with the signed root.
    let (status, proof) = server
        .get(
            None,
            &format!(
                "/v1/proofs/inclusion?seq={donation_seq}&size={}",
                checkpoint.size()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proof}");
    let hashes: Vec<[u8; 32]> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hash| {
            hex::decode(hash.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let leaf = merkle::leaf_hash(verified.record.bytes());
    assert_eq!(proof["leaf_hash"].as_str().unwrap(), hex::encode(leaf));
    merkle::verify_inclusion(
        &leaf,
        donation_seq,
        checkpoint.size(),
        &hashes,
        checkpoint.root_hash(),
    )
    .expect("inclusion proof verifies against the signed root");
    let (status, problem) = server
        .get(None, "/v1/proofs/inclusion?seq=5&size=999999")
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("size"))
    );

    // The page states the checkpoint it reflects.
    let page = text("/").await;
    let root = base64::engine::general_purpose::STANDARD.encode(checkpoint.root_hash());
    assert!(
        page.contains(&root),
        "page does not show the checkpoint root {root}"
    );
}

#[tokio::test]
async fn an_auditor_checks_receipts_bundles_and_history_offline_with_the_cli() {
    let mut server = Server::start();
    server.seed().await;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-audit", "unit-01", "66.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seq = body["records"][0]["seq"].as_u64().unwrap();
    server.get(None, &format!("/v1/funds?min_seq={seq}")).await;
    let (status, receipt) = server
        .get(Some(&server.tokens.auditor), &format!("/v1/receipts/{seq}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let saved_checkpoint = receipt["checkpoint"].as_str().unwrap().to_owned();
    assert!(server.terminate().success());

    let work = tempfile::tempdir().unwrap();
    let data_dir = server.data_dir.path();
    let receipt_file = work.path().join("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).unwrap();
    let checked = run_cli(
        data_dir,
        &["verify", "receipt", receipt_file.to_str().unwrap()],
    );
    assert!(
        checked.starts_with(&format!("OK: record {seq} ")),
        "{checked}"
    );

    let mut forged = receipt.clone();
    forged["seq"] = json!(seq + 1);
    std::fs::write(&receipt_file, forged.to_string()).unwrap();
    let refused = Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["verify", "receipt", receipt_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a forged receipt must be refused"
    );

    let bundle = work.path().join("bundle");
    let exported = run_cli(data_dir, &["export", bundle.to_str().unwrap()]);
    assert!(exported.contains("exported"), "{exported}");
    let since_file = work.path().join("saved.note");
    std::fs::write(&since_file, &saved_checkpoint).unwrap();
    let report: Value = serde_json::from_str(&run_cli(
        data_dir,
        &[
            "verify",
            bundle.to_str().unwrap(),
            "--since",
            since_file.to_str().unwrap(),
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(report["checkpoint"]["balances_match"], json!(true));
    assert_eq!(report["since"]["consistent"], json!(true));
    assert_eq!(report["trial_balance_fen"], json!(0));
}

async fn transparency_client(
    server: &Server,
) -> pb::transparency_service_client::TransparencyServiceClient<tonic::transport::Channel> {
    pb::transparency_service_client::TransparencyServiceClient::connect(server.grpc.clone())
        .await
        .expect("grpc connects")
}

fn hash32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("a hash is 32 bytes")
}

#[tokio::test]
async fn proofs_over_grpc_verify_against_signed_checkpoints_and_receipts_verify_offline() {
    use base64::Engine;
    use mingzhang_ledger::checkpoint::{Checkpoint, VerifierKey};
    use mingzhang_ledger::merkle;
    use mingzhang_ledger::receipt::Receipt;

    let server = Server::start();
    server.seed().await;
    let mut client = transparency_client(&server).await;
    let operator = &server.tokens.operator;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-grpc-1", "unit-01", "12.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first_seq = body["records"][0]["seq"].as_u64().unwrap();

    let key = client
        .get_public_key(pb::GetPublicKeyRequest {})
        .await
        .expect("public key is public")
        .into_inner()
        .verifier_key;
    let key = VerifierKey::from_text(&key).expect("a verifier key");
    let older = client
        .sign_checkpoint(authorised(pb::SignCheckpointRequest::default(), operator))
        .await
        .expect("an operator signs on demand")
        .into_inner();
    let older_checkpoint = Checkpoint::open_signed(&older.note, &key).expect("signed by the key");
    assert_eq!(older_checkpoint.size(), older.size);
    assert!(older.size > first_seq, "the signed log covers the donation");

    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-grpc-2", "unit-02", "34.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second_seq = body["records"][0]["seq"].as_u64().unwrap();
    client
        .sign_checkpoint(authorised(pb::SignCheckpointRequest::default(), operator))
        .await
        .expect("signs again");
    let latest = client
        .get_latest_checkpoint(pb::GetLatestCheckpointRequest {})
        .await
        .expect("latest checkpoint is public")
        .into_inner();
    let newer = Checkpoint::open_signed(&latest.note, &key).expect("signed by the key");
    assert!(newer.size() > second_seq);
    let at_size = client
        .get_checkpoint(pb::GetCheckpointRequest { size: older.size })
        .await
        .expect("the older checkpoint is kept")
        .into_inner();
    assert_eq!(at_size.note, older.note);

    // Inclusion of the first donation in the newer tree, consistency of the
    // older tree with the newer, both against signed roots.
    let inclusion = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            seq: first_seq,
            size: newer.size(),
        })
        .await
        .expect("inclusion proof")
        .into_inner();
    let path: Vec<[u8; 32]> = inclusion.proof.iter().map(|h| hash32(h)).collect();
    merkle::verify_inclusion(
        &hash32(&inclusion.leaf_hash),
        first_seq,
        newer.size(),
        &path,
        newer.root_hash(),
    )
    .expect("inclusion verifies against the signed root");
    let consistency = client
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            from: older.size,
            to: newer.size(),
        })
        .await
        .expect("consistency proof")
        .into_inner();
    let path: Vec<[u8; 32]> = consistency.proof.iter().map(|h| hash32(h)).collect();
    merkle::verify_consistency(
        older.size,
        newer.size(),
        older_checkpoint.root_hash(),
        newer.root_hash(),
        &path,
    )
    .expect("the newer signed tree extends the older");

    // A receipt over gRPC is the HTTP receipt in bytes; it verifies offline.
    let receipt = client
        .get_receipt(authorised(
            pb::GetReceiptRequest { seq: second_seq },
            &server.tokens.auditor,
        ))
        .await
        .expect("an auditor gets receipts")
        .into_inner();
    let receipt = Receipt {
        seq: receipt.seq,
        record: base64::engine::general_purpose::STANDARD.encode(&receipt.record),
        tree_size: receipt.tree_size,
        inclusion_proof: receipt.inclusion_proof.iter().map(hex::encode).collect(),
        checkpoint: receipt.checkpoint,
    };
    let verified = receipt.verify(&key).expect("the receipt verifies offline");
    assert_eq!(verified.record.seq(), second_seq);
    assert_eq!(
        merkle::leaf_hash(verified.record.bytes()),
        hash32(
            &client
                .get_inclusion_proof(pb::GetInclusionProofRequest {
                    seq: second_seq,
                    size: newer.size(),
                })
                .await
                .unwrap()
                .into_inner()
                .leaf_hash
        )
    );

    // The same errors and roles as over HTTP.
    let beyond = client
        .get_checkpoint(pb::GetCheckpointRequest { size: 999_999 })
        .await
        .expect_err("beyond the log");
    assert_eq!(beyond.code(), tonic::Code::InvalidArgument);
    assert_eq!(beyond.metadata().get("mz-field").unwrap(), "size");
    let never_signed = client
        .get_checkpoint(pb::GetCheckpointRequest { size: 2 })
        .await
        .expect_err("no checkpoint at size 2");
    assert_eq!(never_signed.code(), tonic::Code::NotFound);
    let beyond = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            seq: 1,
            size: 999_999,
        })
        .await
        .expect_err("beyond the log");
    assert_eq!(beyond.code(), tonic::Code::InvalidArgument);
    let unknown = client
        .get_receipt(authorised(
            pb::GetReceiptRequest {
                seq: second_seq + 1000,
            },
            &server.tokens.auditor,
        ))
        .await
        .expect_err("no such record");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert_eq!(unknown.metadata().get("mz-rule").unwrap(), "no_such_record");
    let public = client
        .get_receipt(pb::GetReceiptRequest { seq: first_seq })
        .await
        .expect_err("receipts carry whole records");
    assert_eq!(public.code(), tonic::Code::Unauthenticated);
    let sponsor = server.token(&["--role", "sponsor", "--donor", "unit-01"]);
    let denied = client
        .sign_checkpoint(authorised(pb::SignCheckpointRequest::default(), &sponsor))
        .await
        .expect_err("sponsors do not sign");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let denied = client
        .sign_checkpoint(pb::SignCheckpointRequest::default())
        .await
        .expect_err("the public does not sign");
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn an_operator_signs_a_checkpoint_on_demand_covering_the_write_just_made() {
    use mingzhang_ledger::checkpoint::{Checkpoint, VerifierKey};

    let server = Server::start();
    server.seed().await;
    let sign = |token: Option<String>, key: Option<&'static str>| {
        let mut request = server
            .client
            .post(format!("{}/v1/checkpoints", server.http));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        async move {
            let response = request.send().await.expect("request sent");
            let status = response.status();
            let replay = response.headers().get("idempotent-replay").is_some();
            (status, replay, response.text().await.expect("body"))
        }
    };
    let (_, key_text) = server.get(None, "/v1/public-key").await;
    let key = VerifierKey::from_text(key_text.as_str().unwrap().trim()).unwrap();
    let operator = Some(server.tokens.operator.clone());

    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-sign-1", "unit-01", "5.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seq = body["records"][0]["seq"].as_u64().unwrap();
    // No read-your-writes wait here: signing waits for the projections itself.
    let (status, replay, note) = sign(operator.clone(), Some("sign-1")).await;
    assert_eq!(status, StatusCode::OK, "{note}");
    assert!(!replay);
    let checkpoint = Checkpoint::open_signed(&note, &key).expect("signed by the served key");
    assert_eq!(checkpoint.size(), seq + 1, "covers the donation just made");
    let (_, latest) = server.get(None, "/v1/checkpoint").await;
    assert_eq!(latest.as_str(), Some(note.as_str()));

    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-sign-2", "unit-01", "6.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, replay, retried) = sign(operator.clone(), Some("sign-1")).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert!(replay, "a retried key is answered as a replay");
    assert_eq!(retried, note, "a retried key answers the same note");
    let (status, _, fresh) = sign(operator.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert_eq!(
        Checkpoint::open_signed(&fresh, &key).unwrap().size(),
        seq + 2,
        "a new call signs the grown log"
    );

    let sponsor = server.token(&["--role", "sponsor", "--donor", "unit-01"]);
    let (status, _, problem) = sign(Some(sponsor), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _, problem) = sign(Some(server.tokens.auditor.clone()), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    let (status, _, problem) = sign(None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
}

fn verify_cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("verify")
        .args(args)
        .env_remove("MINGZHANG_TOKEN")
        .output()
        .expect("mingzhang runs")
}

#[tokio::test]
async fn verify_url_audits_a_running_server_as_it_audits_a_bundle() {
    let server = Server::start();
    server.seed().await;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-url", "unit-01", "77.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seq = body["records"][0]["seq"].as_u64().unwrap();
    server.get(None, &format!("/v1/funds?min_seq={seq}")).await;
    let log_len = server.log_len().await;
    let work = tempfile::tempdir().unwrap();

    let output = verify_cli(
        work.path(),
        &[&server.http, "--token", &server.tokens.auditor, "--json"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(report["records"], json!(log_len));
    assert_eq!(report["checkpoint"]["root_matches"], json!(true));
    assert_eq!(report["checkpoint"]["balances_match"], json!(true));
    assert_eq!(report["published_balances"]["matches"], json!(true));
    assert_eq!(report["published_balances"]["size"], json!(log_len));
    assert!(
        report["key_from"]
            .as_str()
            .unwrap()
            .contains("only as trustworthy as the server"),
        "{report}"
    );

    // With a key obtained elsewhere, the human report says where it came from.
    let key_file = server.data_dir.path().join("keys").join("checkpoint.pub");
    let output = verify_cli(
        work.path(),
        &[
            &server.http,
            "--token",
            &server.tokens.auditor,
            "--key",
            key_file.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("OK: {log_len} records")),
        "{stdout}"
    );
    assert!(stdout.contains("verifier key:    from --key "), "{stdout}");

    // Raw records are not public: without a token the audit cannot start.
    let output = verify_cli(work.path(), &[&server.http]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("token"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Serves `upstream`'s GET routes unchanged, except that fund `charity`'s
/// published `available_fen` is one fen more than the server says.
async fn start_balance_altering_proxy(upstream: String) -> String {
    type ProxyState = (reqwest::Client, String);
    async fn forward(
        axum::extract::State((client, upstream)): axum::extract::State<ProxyState>,
        request: axum::extract::Request,
    ) -> axum::response::Response {
        let path = request
            .uri()
            .path_and_query()
            .map(|path| path.as_str().to_owned())
            .unwrap_or_default();
        let mut forwarded = client.get(format!("{upstream}{path}"));
        if let Some(token) = request.headers().get("authorization") {
            forwarded = forwarded.header("authorization", token.as_bytes());
        }
        let answer = forwarded.send().await.expect("upstream answers");
        let status = answer.status().as_u16();
        let applied_len = answer.headers().get("mingzhang-applied-len").cloned();
        let mut body = answer.bytes().await.expect("upstream body").to_vec();
        if request.uri().path() == "/v1/funds" {
            let mut funds: Value = serde_json::from_slice(&body).expect("funds JSON");
            let charity = funds
                .as_array_mut()
                .expect("a list of funds")
                .iter_mut()
                .find(|fund| fund["fund_id"] == json!("charity"))
                .expect("fund charity is published");
            charity["available_fen"] = json!(charity["available_fen"].as_i64().unwrap() + 1);
            body = serde_json::to_vec(&funds).unwrap();
        }
        let mut response = axum::http::Response::builder().status(status);
        if let Some(applied_len) = applied_len {
            response = response.header("mingzhang-applied-len", applied_len.as_bytes());
        }
        response.body(axum::body::Body::from(body)).unwrap()
    }
    let app = axum::Router::new()
        .fallback(forward)
        .with_state((reqwest::Client::new(), upstream));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_url_fails_naming_the_fund_whose_published_balance_differs_from_the_replay() {
    let server = Server::start();
    server.seed().await;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("don-lie", "unit-01", "50.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seq = body["records"][0]["seq"].as_u64().unwrap();
    server.get(None, &format!("/v1/funds?min_seq={seq}")).await;
    let lying = start_balance_altering_proxy(server.http.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let auditor = server.tokens.auditor.clone();
    let output = tokio::task::spawn_blocking(move || {
        verify_cli(work.path(), &[&lying, "--token", &auditor, "--json"])
    })
    .await
    .unwrap();
    assert!(!output.status.success(), "a wrong published balance fails");
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["ok"], json!(false));
    assert_eq!(report["published_balances"]["matches"], json!(false));
    let mismatch = report["published_balances"]["first_mismatch"]
        .as_str()
        .unwrap();
    assert!(
        mismatch.starts_with("fund charity: available_fen published "),
        "{mismatch}"
    );
    // Everything the checkpoint signs still holds: only the published balance lies.
    assert_eq!(report["checkpoint"]["root_matches"], json!(true));
    assert_eq!(report["checkpoint"]["balances_match"], json!(true));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("fund charity"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The typed `Query` answer in protobuf's JSON mapping, with the proto's own
/// field names and 64-bit integers as numbers: what a gRPC client reads.
fn typed_answer_json(response: &pb::QueryResponse) -> Value {
    use prost::Message;
    use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
    let descriptor = DescriptorPool::decode(mingzhang_proto::FILE_DESCRIPTOR_SET)
        .expect("the build embeds a valid descriptor set")
        .get_message_by_name("mingzhang.v1.QueryResponse")
        .expect("the schema defines QueryResponse");
    let message = DynamicMessage::decode(descriptor, response.encode_to_vec().as_slice())
        .expect("a QueryResponse decodes as one");
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(false);
    let mut json = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("serialises");
    let object = json.as_object_mut().expect("an object");
    object.remove("applied_len");
    assert_eq!(object.len(), 1, "exactly one answer is set: {json}");
    object.values().next().expect("one answer").clone()
}

/// JSON `null` is how HTTP says what an unset optional field says in protobuf.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key, without_nulls(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// The typed answer shaped as HTTP answers it: a bare HTTP list is the only
/// field of the answer message (`FundsAnswer.funds`, ...).
fn typed_as_http_shape(typed: Value, http: &Value) -> Value {
    match (http, typed) {
        (Value::Array(_), Value::Object(wrapper)) => {
            assert_eq!(wrapper.len(), 1, "a list answer has one field: {wrapper:?}");
            wrapper.into_iter().next().expect("one field").1
        }
        (_, typed) => typed,
    }
}

/// One query, asked over HTTP (`path`) and over gRPC (`request`).
struct QueryCase {
    path: String,
    request: pb::QueryRequest,
}

fn query_case(path: &str, query: &str, id: &str, as_of: &str) -> QueryCase {
    QueryCase {
        path: path.to_owned(),
        request: pb::QueryRequest {
            query: query.to_owned(),
            id: id.to_owned(),
            as_of: as_of.to_owned(),
            ..Default::default()
        },
    }
}

fn query_as(request: pb::QueryRequest, token: Option<&str>) -> tonic::Request<pb::QueryRequest> {
    match token {
        Some(token) => authorised(request, token),
        None => tonic::Request::new(request),
    }
}

/// Starts a server on the Kaixuan demo, records one more gift, and returns
/// the server with that gift's sequence number (for `min_seq`).
async fn demo_server_after_one_more_gift() -> (Server, u64) {
    let server = Server::start_after(|data_dir| {
        run_cli(data_dir, &["demo"]);
    });
    let mut gift = donation("after-the-demo", "resident-zhang", "66.60");
    gift["fund_id"] = json!(mingzhang_ledger::scenario::CHARITY_FUND_ID);
    let (status, written) = server.post(server.op(), "/v1/donations", gift).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    let seq = written["records"][0]["seq"].as_u64().expect("seq");
    (server, seq)
}

#[tokio::test]
async fn every_grpc_query_answers_typed_what_the_http_json_answers() {
    let (server, seq) = demo_server_after_one_more_gift().await;
    let mut client = server.grpc_client().await;
    let campaign = mingzhang_ledger::scenario::CAMPAIGN_ID;
    let mut paged = query_case("/v1/donations?offset=2&limit=3", "donations", "", "");
    paged.request.offset = Some(2);
    paged.request.limit = Some(3);
    let (_, example) = server
        .get(None, "/v1/flows/pledge-payments/pay-unit-02-2015")
        .await;
    let outflow_seq = example["paid_for"][0]["seq"].to_string();
    let public_cases = || {
        vec![
            query_case("/v1/funds", "funds", "", ""),
            query_case("/v1/campaigns", "campaigns", "", ""),
            query_case(
                &format!("/v1/campaigns/{campaign}"),
                "campaign",
                campaign,
                "",
            ),
            query_case("/v1/grant-rounds", "grant-rounds", "", ""),
            query_case("/v1/grants", "grants", "", ""),
            query_case("/v1/projects", "projects", "", ""),
            query_case("/v1/donations", "donations", "", ""),
            query_case("/v1/expenditures", "expenditures", "", ""),
            query_case("/v1/trial-balance", "trial-balance", "", ""),
            query_case(
                "/v1/flows/pledge-payments/pay-unit-02-2015",
                "pledge-payment-flow",
                "pay-unit-02-2015",
                "",
            ),
            // An anonymous gift: masked alike.
            query_case(
                "/v1/flows/donations/don-2015-resident-1",
                "donation-flow",
                "don-2015-resident-1",
                "",
            ),
            query_case(
                &format!("/v1/flows/outflows/{outflow_seq}"),
                "outflow-flow",
                &outflow_seq,
                "",
            ),
        ]
    };
    let full_view_cases = [
        query_case("/v1/pledges", "pledges", "", ""),
        query_case("/v1/pledges?as_of=2017-07-01", "pledges", "", "2017-07-01"),
        query_case(
            "/v1/donors/resident-zhang/statement",
            "donor-statement",
            "resident-zhang",
            "",
        ),
    ];
    let auditor = Some(server.tokens.auditor.as_str());
    let mut asked = Vec::new();
    for case in public_cases().into_iter().chain([paged]) {
        asked.push((case, None));
    }
    for case in public_cases().into_iter().chain(full_view_cases) {
        asked.push((case, auditor));
    }
    let mut typed_answers = Vec::new();
    for (case, token) in asked {
        let separator = if case.path.contains('?') { '&' } else { '?' };
        let (status, http) = server
            .get(token, &format!("{}{separator}min_seq={seq}", case.path))
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {http}", case.path);
        let mut request = case.request;
        request.min_seq = Some(seq);
        let response = client
            .query(query_as(request, token))
            .await
            .unwrap_or_else(|status| panic!("{}: {status}", case.path))
            .into_inner();
        assert!(
            response.applied_len > seq,
            "{}: read-your-writes",
            case.path
        );
        let http = without_nulls(http);
        let typed = typed_as_http_shape(typed_answer_json(&response), &http);
        assert_eq!(typed, http, "{} as {token:?}", case.path);
        typed_answers.push((case.path, response.answer.expect("an answer")));
    }
    // The comparison above must have had facts to compare.
    use pb::query_response::Answer;
    let mut seen = 0;
    for (path, answer) in typed_answers {
        match answer {
            Answer::Funds(funds) => {
                assert!(funds.funds.len() >= 3, "{path}: {funds:?}");
                for fund in funds.funds {
                    assert_eq!(
                        fund.total_held_fen,
                        fund.total_in_fen - fund.total_out_fen,
                        "{path}: {fund:?}"
                    );
                }
                seen += 1;
            }
            Answer::Campaign(campaign) => {
                assert!(campaign.years.len() >= 2, "{path}: {campaign:?}");
                let raised: i64 = campaign.years.iter().map(|year| year.raised_fen).sum();
                assert_eq!(raised, campaign.raised_fen, "{path}");
                seen += 1;
            }
            Answer::TrialBalance(trial_balance) => {
                assert!(!trial_balance.accounts.is_empty());
                assert_eq!(trial_balance.total_fen, 0, "{path}");
                seen += 1;
            }
            Answer::Donations(page) if path.contains("limit=3") => {
                assert_eq!(page.donations.len(), 3, "{path}");
                seen += 1;
            }
            Answer::DonorStatement(statement) => {
                // The gift recorded after the demo is in (read-your-writes).
                let gift = statement
                    .donations
                    .iter()
                    .find(|donation| donation.donation_id == "after-the-demo")
                    .expect("the new gift is in the statement");
                assert_eq!(gift.amount_fen, 6_660);
                assert_eq!(gift.received_on, "2015-06-01");
                assert_eq!(gift.donor_name, None, "a statement names no donor per gift");
                seen += 1;
            }
            Answer::PledgeStatus(report) => {
                assert_eq!(report.as_of, "2017-07-01");
                assert!(!report.sponsors.is_empty(), "{path}");
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(
        seen, 9,
        "funds, campaign and trial balance for both roles, a page, a statement, a report"
    );
}

#[tokio::test]
async fn the_public_reads_no_donor_over_grpc_that_http_masks() {
    let (server, seq) = demo_server_after_one_more_gift().await;
    let mut client = server.grpc_client().await;
    // 李建国 gave anonymously; 张敏 (who gave once more after the demo) did
    // not agree to be named; 刘志强 is a private person paid by the fund.
    let hidden = ["李建国", "张敏", "resident-li", "resident-zhang", "刘志强"];
    let mut ask = async |query: &str, token: Option<&str>| {
        let request = pb::QueryRequest {
            query: query.to_owned(),
            min_seq: Some(seq),
            ..Default::default()
        };
        let response = client
            .query(query_as(request, token))
            .await
            .unwrap_or_else(|status| panic!("{query}: {status}"))
            .into_inner();
        typed_answer_json(&response).to_string()
    };
    for query in ["funds", "projects", "donations", "expenditures"] {
        let public = ask(query, None).await;
        for name in hidden {
            assert!(
                !public.contains(name),
                "public {query} shows {name}: {public}"
            );
        }
    }
    let public = ask("donations", None).await;
    assert!(public.contains("匿名 anonymous"), "{public}");
    assert!(public.contains("王丽华"), "named by consent: {public}");
    let audited = ask("donations", Some(&server.tokens.auditor)).await;
    for name in ["resident-li", "resident-zhang", "李建国", "张敏"] {
        assert!(audited.contains(name), "auditors see {name}");
    }
    let audited = ask("expenditures", Some(&server.tokens.auditor)).await;
    assert!(audited.contains("刘志强"), "auditors see payees");
}

#[tokio::test]
async fn grpc_query_errors_say_which_field_and_keep_their_status_codes() {
    let server = Server::start();
    server.seed().await;
    let mut client = server.grpc_client().await;
    let sponsor = server.token(&["--role", "sponsor", "--donor", "unit-01"]);
    let request = |query: &str, id: &str| pb::QueryRequest {
        query: query.to_owned(),
        id: id.to_owned(),
        ..Default::default()
    };
    let limited = |limit: u32| pb::QueryRequest {
        limit: Some(limit),
        ..request("donations", "")
    };
    let auditor = Some(server.tokens.auditor.as_str());
    for (request, token, code, field, rule) in [
        (
            request("balances", ""),
            None,
            tonic::Code::InvalidArgument,
            Some("query"),
            Some("no_such_query"),
        ),
        (
            request("campaign", "no-such-campaign"),
            None,
            tonic::Code::NotFound,
            Some("id"),
            Some("not_found"),
        ),
        (
            request("donor-statement", "no-such-donor"),
            auditor,
            tonic::Code::NotFound,
            Some("id"),
            Some("not_found"),
        ),
        (
            limited(0),
            None,
            tonic::Code::InvalidArgument,
            Some("limit"),
            Some("limit_out_of_range"),
        ),
        (
            limited(10_001),
            None,
            tonic::Code::InvalidArgument,
            Some("limit"),
            Some("limit_out_of_range"),
        ),
        (
            request("pledges", ""),
            None,
            tonic::Code::Unauthenticated,
            Some("Authorization"),
            Some("unauthenticated"),
        ),
        (
            request("donor-statement", "unit-02"),
            Some(sponsor.as_str()),
            tonic::Code::PermissionDenied,
            None,
            Some("not_yours"),
        ),
    ] {
        let asked = format!("{request:?}");
        let status = client
            .query(query_as(request, token))
            .await
            .expect_err(&asked);
        assert_eq!(status.code(), code, "{asked}: {status:?}");
        let metadata = |key: &str| {
            status
                .metadata()
                .get(key)
                .map(|value| value.to_str().expect("ascii").to_owned())
        };
        assert_eq!(metadata("mz-field").as_deref(), field, "{asked}");
        assert_eq!(metadata("mz-rule").as_deref(), rule, "{asked}");
    }
    let own = client
        .query(query_as(
            request("donor-statement", "unit-01"),
            Some(&sponsor),
        ))
        .await
        .expect("a sponsor reads its own statement")
        .into_inner();
    match own.answer {
        Some(pb::query_response::Answer::DonorStatement(statement)) => {
            assert_eq!(statement.donor.expect("the donor").donor_id, "unit-01")
        }
        other => panic!("expected a donor statement, got {other:?}"),
    }
}

/// 10^4 maximal gifts (`AMOUNT_FEN_MAX`) bring one fund to `TOTAL_FEN_MAX`.
#[tokio::test]
async fn a_fund_driven_to_the_bound_refuses_the_next_gift_and_every_surface_stays_exact() {
    use mingzhang_ledger::money::{AMOUNT_FEN_MAX, TOTAL_FEN_MAX};
    use pb::submit_result::Outcome;
    const BOUND_GROUPED: &str = "1,000,000,000,000,000.00";

    let server = Server::start();
    for (path, body) in [
        (
            "/v1/funds",
            json!({"fund_id": "kaixuan", "name": "凯旋街道公益基金", "kind": "unrestricted"}),
        ),
        (
            "/v1/donors",
            json!({"donor_id": "unit-01", "name": "凯旋示范商贸有限公司", "kind": "enterprise",
                   "alliance_member": true, "show_name_publicly": true}),
        ),
        (
            "/v1/campaigns",
            json!({"campaign_id": "five-years", "name": "五年筹集一千万", "fund_id": "kaixuan",
                   "total_target": "10000000.00", "first_year": 2015,
                   "yearly_targets": [{"year": 2015, "target": "10000000.00"}]}),
        ),
    ] {
        let (status, body) = server.post(server.op(), path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let sponsor = server.token(&["--role", "sponsor", "--donor", "unit-01"]);
    let gift = |id: String, amount_fen: i64| pb::SubmitRequest {
        command: command(Event::DonationReceived(pb::DonationReceived {
            donation_id: id.clone(),
            donor_id: "unit-01".into(),
            fund_id: "kaixuan".into(),
            campaign_id: "five-years".into(),
            amount_fen,
            channel: pb::Channel::Online as i32,
            received_on: "2015-06-01".into(),
            ..Default::default()
        })),
        idempotency_key: format!("gift-{id}"),
    };
    let maximal_gifts = TOTAL_FEN_MAX / AMOUNT_FEN_MAX;
    let mut client = server.grpc_client().await;
    let batch = pb::SubmitBatchRequest {
        commands: (0..maximal_gifts)
            .map(|n| gift(format!("max-{n}"), AMOUNT_FEN_MAX))
            .collect(),
    };
    let results = client
        .submit_batch(authorised(batch, &sponsor))
        .await
        .expect("batch accepted")
        .into_inner()
        .results;
    assert_eq!(results.len() as i64, maximal_gifts);
    for result in &results {
        assert!(
            matches!(result.outcome, Some(Outcome::Committed(_))),
            "{result:?}"
        );
    }
    let at_the_bound = server.log_len().await;

    // The next gift, of one fen, is refused, naming the field, the rule and the total.
    let batch = pb::SubmitBatchRequest {
        commands: vec![gift("one-fen-more".into(), 1)],
    };
    let results = client
        .submit_batch(authorised(batch, &sponsor))
        .await
        .expect("batch answered")
        .into_inner()
        .results;
    let Some(Outcome::Error(error)) = &results[0].outcome else {
        panic!("refused: {results:?}");
    };
    assert_eq!(error.code, tonic::Code::InvalidArgument as i32);
    assert_eq!(error.field, "amount_fen");
    assert_eq!(error.rule, "total_out_of_range");
    assert_eq!(
        error.message,
        format!("would take fund kaixuan's total received past {BOUND_GROUPED} CNY")
    );
    let status = client
        .submit(authorised(gift("one-fen-more".into(), 1), &sponsor))
        .await
        .expect_err("refused alone too");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.metadata().get("mz-rule").unwrap(),
        "total_out_of_range"
    );
    let mut over_http = donation("one-fen-more-http", "unit-01", "0.01");
    over_http["fund_id"] = json!("kaixuan");
    let (status, problem) = server
        .post(Some(&sponsor), "/v1/donations", over_http)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["rule"], json!("total_out_of_range"), "{problem}");
    assert_eq!(server.log_len().await, at_the_bound, "nothing was written");

    // Every surface shows the total exactly: not wrapped, not negative.
    let min_seq = format!("min_seq={}", at_the_bound - 1);
    let (status, funds) = server.get(None, &format!("/v1/funds?{min_seq}")).await;
    assert_eq!(status, StatusCode::OK, "{funds}");
    let fund = funds
        .as_array()
        .and_then(|funds| funds.iter().find(|fund| fund["fund_id"] == "kaixuan"))
        .unwrap_or_else(|| panic!("kaixuan in {funds}"));
    for field in ["total_in_fen", "total_held_fen", "available_fen"] {
        assert_eq!(fund[field].as_i64(), Some(TOTAL_FEN_MAX), "{field}: {fund}");
    }
    assert_eq!(fund["total_out_fen"].as_i64(), Some(0), "{fund}");
    let typed = client
        .query(tonic::Request::new(pb::QueryRequest {
            query: "funds".into(),
            min_seq: Some(at_the_bound - 1),
            ..Default::default()
        }))
        .await
        .expect("funds over grpc")
        .into_inner();
    let typed = typed_answer_json(&typed);
    assert_eq!(typed["funds"][0]["fund_id"], "kaixuan", "{typed}");
    assert_eq!(
        typed["funds"][0]["total_in_fen"].as_i64(),
        Some(TOTAL_FEN_MAX)
    );
    let (status, campaign) = server
        .get(None, &format!("/v1/campaigns/five-years?{min_seq}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{campaign}");
    assert_eq!(
        campaign["raised_fen"].as_i64(),
        Some(TOTAL_FEN_MAX),
        "{campaign}"
    );
    assert_eq!(
        campaign["years"][0]["raised_fen"].as_i64(),
        Some(TOTAL_FEN_MAX)
    );
    let (status, statement) = server
        .get(
            Some(&sponsor),
            &format!("/v1/donors/unit-01/statement?{min_seq}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        statement["donor"]["donated_fen"].as_i64(),
        Some(TOTAL_FEN_MAX)
    );
    let (status, trial_balance) = server
        .get(
            Some(&server.tokens.auditor),
            &format!("/v1/trial-balance?{min_seq}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trial_balance}");
    assert_eq!(trial_balance["total_fen"].as_i64(), Some(0));
    let balance_of = |account: &str| {
        trial_balance["accounts"]
            .as_array()
            .and_then(|accounts| accounts.iter().find(|line| line["account"] == account))
            .and_then(|line| line["balance_fen"].as_i64())
    };
    assert_eq!(balance_of("assets:bank"), Some(TOTAL_FEN_MAX));
    assert_eq!(balance_of("fund:kaixuan:donations"), Some(-TOTAL_FEN_MAX));
    let page = server
        .client
        .get(format!("{}/", server.http))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(&format!("id=\"campaign-raised\">{BOUND_GROUPED}<")),
        "已筹 shows the exact total"
    );
}

// ---- Issue 14: the API's edges -------------------------------------------

impl Server {
    /// Any method, any content type: status, content type and body text.
    async fn send(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (StatusCode, String, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.http))
            .body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path} answered nothing: {error}"));
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.expect("body"))
    }

    async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let (status, _, text) = self.send(reqwest::Method::GET, None, path, None, "").await;
        (status, text)
    }
}

/// Donors who may not be named, each with a gift the public can see, and a
/// private person paid out of the fund.
async fn server_with_hidden_names() -> Server {
    let server = Server::start();
    server.seed().await;
    let writes = [
        (
            "/v1/donors",
            json!({"donor_id": "resident-sun", "name": "孙立", "kind": "individual"}),
        ),
        (
            "/v1/donors",
            json!({"donor_id": "resident-qian", "name": "龚隐名捐赠人", "kind": "individual",
                   "show_name_publicly": true}),
        ),
        (
            "/v1/donors",
            json!({"donor_id": "shy-company", "name": "蒋氏保密贸易有限公司", "kind": "enterprise"}),
        ),
        ("/v1/donations", donation("g-sun", "resident-sun", "200.00")),
        (
            "/v1/donations",
            json!({"donation_id": "g-qian", "donor_id": "resident-qian", "fund_id": "charity",
                   "amount": "300.00", "channel": "cash", "anonymous": true,
                   "received_on": "2015-06-02"}),
        ),
        ("/v1/donations", donation("g-shy", "shy-company", "400.00")),
        (
            "/v1/expenditures",
            json!({"expenditure_id": "e-1", "fund_id": "charity", "amount": "100.00",
                   "payee": "邹小明", "payee_kind": "person", "purpose": "助老补贴",
                   "category": "operations", "paid_on": "2015-07-01"}),
        ),
    ];
    let mut last_seq = 0;
    for (path, body) in writes {
        let (status, answer) = server.post(server.op(), path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        last_seq = answer["records"][0]["seq"].as_u64().expect("a seq");
    }
    // The page reads projections, which follow the log a moment behind the reply.
    server
        .get(None, &format!("/v1/funds?min_seq={last_seq}"))
        .await;
    server
}

#[tokio::test]
async fn a_donor_whose_only_gift_was_anonymous_has_no_public_page_in_either_language() {
    let server = server_with_hidden_names().await;
    for path in ["/sponsors/resident-qian", "/sponsors/resident-qian?lang=en"] {
        let (status, page) = server.get_text(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("龚隐名捐赠人"), "{path}");
    }
    let (status, _) = server.get_text("/sponsors/unit-01").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no public gift yet, no page");
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("g-01", "unit-01", "1.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seq = body["records"][0]["seq"].as_u64().expect("a seq");
    server.get(None, &format!("/v1/funds?min_seq={seq}")).await;
    let (status, page) = server.get_text("/sponsors/unit-01?lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("凯旋示范商贸有限公司"));
}

#[tokio::test]
async fn no_public_surface_shows_any_part_of_a_name_that_may_not_be_shown() {
    let server = server_with_hidden_names().await;
    let hidden = [
        "孙立",
        "龚隐名捐赠人",
        "蒋氏保密贸易有限公司",
        "邹小明",
        "resident-sun",
        "resident-qian",
        "shy-company",
    ];
    // Each name and its surname (or the company's first character).
    let mut searched: Vec<String> = hidden.iter().map(|name| name.to_string()).collect();
    searched.extend(
        hidden
            .iter()
            .filter(|name| !name.is_ascii())
            .map(|name| name.chars().next().expect("a name").to_string()),
    );
    let mut surfaces = Vec::new();
    for base in [
        "/",
        "/projects/p-01",
        "/sponsors/resident-sun",
        "/sponsors/resident-qian",
        "/sponsors/shy-company",
        "/exports/donations.csv",
        "/exports/expenditures.csv",
        "/exports/grants.csv",
        "/exports/grants-360giving.json",
        "/v1/funds",
        "/v1/campaigns",
        "/v1/donations",
        "/v1/expenditures",
        "/v1/projects",
        "/v1/grants",
        "/v1/grant-rounds",
        "/v1/trial-balance",
    ] {
        for lang in ["", "?lang=en"] {
            let path = format!("{base}{lang}");
            let (status, text) = server.get_text(&path).await;
            assert!(!status.is_server_error(), "{path}: {status}");
            surfaces.push((path, text));
        }
    }
    let mut client = server.grpc_client().await;
    for query in [
        "funds",
        "campaigns",
        "donations",
        "expenditures",
        "projects",
        "grants",
        "grant-rounds",
        "trial-balance",
    ] {
        let answer = client
            .query(pb::QueryRequest {
                query: query.into(),
                ..Default::default()
            })
            .await
            .expect("a public query");
        surfaces.push((
            format!("gRPC {query}"),
            format!("{:?}", answer.into_inner()),
        ));
    }
    for (surface, text) in &surfaces {
        for name in &searched {
            assert!(!text.contains(name.as_str()), "{surface} shows {name:?}");
        }
    }
    // The gifts themselves are public, credited to no one.
    let (_, page) = server.get_text("/").await;
    assert!(page.contains("匿名") && page.contains("400.00"));
}

#[tokio::test]
async fn reading_records_past_the_end_is_out_of_range_never_a_server_error() {
    let server = Server::start();
    server.seed().await;
    let auditor = Some(server.tokens.auditor.as_str());
    let len = server.log_len().await;
    let (status, page) = server
        .get(auditor, &format!("/v1/records?from={len}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"], json!([]));
    for path in [
        format!("/v1/records?from={}", len + 1),
        format!("/v1/records?from={}", u64::MAX),
        format!("/v1/records/follow?from={}", len + 1),
    ] {
        let (status, problem) = server.get(auditor, &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {problem}");
        assert_eq!(
            (&problem["field"], &problem["rule"]),
            (&json!("from"), &json!("from_past_end")),
            "{path}"
        );
    }
    let mut client = server.grpc_client().await;
    let status = client
        .get_records(authorised(
            pb::GetRecordsRequest {
                from_seq: len + 1,
                limit: 10,
            },
            &server.tokens.auditor,
        ))
        .await
        .expect_err("past the end");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    let status = client
        .follow(authorised(
            pb::FollowRequest { from_seq: len + 1 },
            &server.tokens.auditor,
        ))
        .await
        .expect_err("past the end");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get("mz-rule")
            .map(|rule| rule.to_str().unwrap()),
        Some("from_past_end")
    );
}

#[tokio::test]
async fn permission_is_refused_before_the_body_is_read_or_any_rule_is_applied() {
    let server = Server::start();
    server.seed().await;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donations",
            donation("d-1", "unit-01", "5.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sponsor_02 = server.token(&["--role", "sponsor", "--donor", "unit-02"]);
    let organisation = server.token(&["--role", "organisation", "--organisation", "org-01"]);
    let cases = [
        (
            None,
            "/v1/donations",
            json!({"nonsense": true}),
            StatusCode::UNAUTHORIZED,
        ),
        (None, "/v1/funds", json!([]), StatusCode::UNAUTHORIZED),
        (
            Some(organisation.as_str()),
            "/v1/grants/no-such-grant/disbursements",
            json!({"tranche_index": 0, "paid_on": "2016-01-01"}),
            StatusCode::FORBIDDEN,
        ),
        (
            Some(sponsor_02.as_str()),
            "/v1/projects",
            json!({"project_id": "", "budget": "-1"}),
            StatusCode::FORBIDDEN,
        ),
        // d-1 exists, as unit-01's: acting for unit-01 is what is refused,
        // so the answer says nothing of which ids exist.
        (
            Some(sponsor_02.as_str()),
            "/v1/donations",
            donation("d-1", "unit-01", "5.00"),
            StatusCode::FORBIDDEN,
        ),
        (
            Some(sponsor_02.as_str()),
            "/v1/donations",
            donation("d-unused", "unit-01", "5.00"),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (token, path, body, expected) in cases {
        let (status, problem) = server.post(token, path, body.clone()).await;
        assert_eq!(status, expected, "{path} {body}: {problem}");
    }
    let mut client = server.grpc_client().await;
    let status = client
        .submit(pb::SubmitRequest {
            command: Some(pb::EventEnvelope::default()),
            ..Default::default()
        })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
}

#[tokio::test]
async fn claims_by_non_members_and_names_with_control_characters_are_refused() {
    let server = Server::start();
    server.seed().await;
    let (status, body) = server
        .post(
            server.op(),
            "/v1/donors",
            json!({"donor_id": "unit-03", "name": "非成员公司", "kind": "enterprise"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, problem) = server
        .post(
            server.op(),
            "/v1/projects/p-01/claim",
            json!({"sponsor_id": "unit-03"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["rule"], json!("sponsor_not_alliance_member"));
    for name in ["坏\u{202e}名", "a\u{0}b", "\u{1b}[2J"] {
        let (status, problem) = server
            .post(
                server.op(),
                "/v1/donors",
                json!({"donor_id": "d-x", "name": name, "kind": "individual"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(
            (&problem["field"], &problem["rule"]),
            (&json!("name"), &json!("control_character"))
        );
    }
}

#[tokio::test]
async fn every_error_is_problem_json_naming_the_request_s_own_fields() {
    let server = Server::start();
    server.seed().await;
    let auditor = server.tokens.auditor.clone();
    use reqwest::Method;
    let cases = [
        (
            Method::DELETE,
            None,
            "/v1/funds",
            None,
            "",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            None,
            "/v1/checkpoints/abc",
            None,
            "",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            Some(auditor.as_str()),
            "/v1/receipts/abc",
            None,
            "",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            server.op(),
            "/v1/funds",
            Some("text/plain"),
            r#"{"fund_id": "f2", "name": "Second", "kind": "unrestricted"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::GET,
            None,
            "/v1/no-such-route",
            None,
            "",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, token, path, content_type, body, expected) in cases {
        let (status, answered_type, text) = server
            .send(method.clone(), token, path, content_type, body)
            .await;
        assert_eq!(status, expected, "{method} {path}: {text}");
        assert_eq!(answered_type, "application/problem+json", "{method} {path}");
        let problem: Value = serde_json::from_str(&text).expect("a problem document");
        assert_eq!(problem["status"], json!(expected.as_u16()));
        assert!(problem["rule"].is_string(), "{method} {path}: {problem}");
    }
    let (status, problem) = server
        .post(
            server.op(),
            "/v1/expenditures",
            json!({"expenditure_id": "e-big", "fund_id": "charity", "amount": "999999.00",
                   "payee": "某公司", "payee_kind": "company", "purpose": "x",
                   "category": "operations", "paid_on": "2015-07-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        (&problem["field"], &problem["rule"]),
        (&json!("amount"), &json!("exceeds_available"))
    );
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_caller_who_used_them() {
    let server = Server::start();
    server.seed().await;
    let sponsor = server.token(&["--role", "sponsor", "--donor", "unit-01"]);
    let (status, body) = server
        .post_keyed(
            server.op(),
            "/v1/donations",
            Some("gift-1"),
            donation("d-op", "unit-02", "5.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sponsors_gift = donation("d-sp", "unit-01", "6.00");
    let (status, first) = server
        .post_keyed(
            Some(&sponsor),
            "/v1/donations",
            Some("gift-1"),
            sponsors_gift.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["idempotent_replay"], json!(false));
    let (status, retry) = server
        .post_keyed(
            Some(&sponsor),
            "/v1/donations",
            Some("gift-1"),
            sponsors_gift,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(retry["idempotent_replay"], json!(true));
    assert_eq!(retry["records"], first["records"]);
}

/// Every route, sent values out of range, malformed and oversized, answers
/// without a server error.
#[tokio::test]
async fn no_route_answers_a_server_error_to_bad_values() {
    let server = Server::start();
    server.seed().await;
    let op = server.tokens.operator.clone();
    let huge = "9".repeat(70_000);
    let bodies = [
        "".to_owned(),
        "{".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        json!({"amount": "-1", "fund_id": "\u{0}", "tranche_index": -1}).to_string(),
        json!({"amount": "99999999999999999999.99"}).to_string(),
        format!("{{\"fund_id\": \"{huge}\"}}"),
    ];
    let ids = [
        "x",
        "%00",
        "%2F",
        "99999999999999999999999",
        &"a".repeat(5000),
    ];
    let mut paths: Vec<String> = Vec::new();
    for id in ids {
        for template in [
            "/v1/donations/{}/refunds",
            "/v1/donations/{}/reversal",
            "/v1/pledges/{}/payments",
            "/v1/pledges/{}/amendments",
            "/v1/pledges/{}/cancellation",
            "/v1/grant-rounds/{}/applications",
            "/v1/grant-applications/{}/reviews",
            "/v1/grant-applications/{}/shortlist",
            "/v1/grants/{}/disbursements",
            "/v1/grants/{}/evaluations",
            "/v1/grants/{}/self-assessments",
            "/v1/grants/{}/closure",
            "/v1/projects/{}/claim",
            "/v1/projects/{}/release",
            "/v1/projects/{}/fundings",
            "/v1/projects/{}/completion",
            "/v1/expenditures/{}/reversal",
        ] {
            paths.push(template.replace("{}", id));
        }
    }
    for plain in [
        "/v1/funds",
        "/v1/campaigns",
        "/v1/donors",
        "/v1/organisations",
        "/v1/donations",
        "/v1/pledges",
        "/v1/grant-rounds",
        "/v1/grants",
        "/v1/projects",
        "/v1/expenditures",
        "/v1/checkpoints",
    ] {
        paths.push(plain.to_owned());
    }
    for path in &paths {
        for body in &bodies {
            let (status, _, text) = server
                .send(
                    reqwest::Method::POST,
                    Some(&op),
                    path,
                    Some("application/json"),
                    body,
                )
                .await;
            assert!(!status.is_server_error(), "POST {path}: {status} {text}");
        }
    }
    for path in [
        "/v1/records?from=18446744073709551615&limit=1000",
        "/v1/records?limit=0",
        "/v1/records?from=-1",
        "/v1/donations?offset=18446744073709551615&limit=18446744073709551615",
        "/v1/expenditures?offset=-1",
        "/v1/campaigns/%00",
        "/v1/donors/x/statement",
        "/v1/checkpoints/18446744073709551615",
        "/v1/checkpoints/0",
        "/v1/receipts/18446744073709551615",
        "/v1/proofs/inclusion?seq=18446744073709551615&size=18446744073709551615",
        "/v1/proofs/consistency?from=18446744073709551615&to=1",
        "/v1/proofs/consistency?from=0&to=0",
        "/projects/%00",
        "/grants/x?lang=xx",
        "/sponsors/x?as_of=9999-99-99",
        "/?as_of=not-a-date",
    ] {
        let (status, _, text) = server
            .send(reqwest::Method::GET, Some(&op), path, None, "")
            .await;
        assert!(!status.is_server_error(), "GET {path}: {status} {text}");
    }
}

/// Overspending is what the projections would post and the rules refuse: a
/// fund, a gift of 100 yuan into it and an expenditure of 200, chained.
fn write_overspending_log(data_dir: &Path) {
    use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions};
    use mingzhang_proto::Message;
    let envelope = |event: Event| pb::EventEnvelope {
        actor: "operator:kaixuan-01".into(),
        event: Some(event),
        ..pb::EventEnvelope::default()
    };
    let events = vec![
        Event::FundOpened(pb::FundOpened {
            fund_id: "kaixuan-charity".into(),
            name: "凯旋公益基金".into(),
            kind: pb::FundKind::Unrestricted as i32,
            restriction: String::new(),
        }),
        Event::DonationReceived(pb::DonationReceived {
            donation_id: "d-1".into(),
            fund_id: "kaixuan-charity".into(),
            amount_fen: 10_000,
            channel: pb::Channel::Cash as i32,
            received_on: "2016-05-01".into(),
            ..pb::DonationReceived::default()
        }),
        Event::ExpenditureMade(pb::ExpenditureMade {
            expenditure_id: "e-1".into(),
            fund_id: "kaixuan-charity".into(),
            amount_fen: 20_000,
            payee: "闸弄口社工服务中心".into(),
            payee_kind: pb::PayeeKind::Organisation as i32,
            purpose: "社区服务".into(),
            category: pb::ExpenditureCategory::Operations as i32,
            paid_on: "2016-05-02".into(),
            ..pb::ExpenditureMade::default()
        }),
    ];
    let payloads = events
        .into_iter()
        .map(|event| envelope(event).encode_to_vec())
        .collect();
    let (log, _) = FileLog::open(data_dir.join("log"), FileLogOptions::default()).expect("log");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(log.append(0, payloads)).expect("append");
    log.close().expect("close");
}

#[test]
fn balances_and_verify_refuse_a_log_the_rules_refuse_naming_the_record() {
    let data = tempfile::tempdir().expect("tempdir");
    run_cli(data.path(), &["init"]);
    write_overspending_log(data.path());
    let expected = "record seq 2: refused by the rules: amount_fen: 20000 fen is more than the 10000 fen fund \"kaixuan-charity\" holds [exceeds_available]";
    for args in [&["balances"][..], &["verify"][..]] {
        let output = Command::new(binary())
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .output()
            .expect("mingzhang runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "{args:?} succeeded: {said}");
        assert!(said.contains(expected), "{args:?}: {said}");
    }
}
