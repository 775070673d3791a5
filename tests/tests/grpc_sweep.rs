//! The gRPC half of "no server error for anything a client sends": every
//! method of LedgerService and TransparencyService, called as the public,
//! an operator, an auditor, a sponsor and an organisation, with empty,
//! out-of-range, malformed and oversized values, against the served Kaixuan
//! demo. No answer is INTERNAL, UNKNOWN or DATA_LOSS, and each refusal
//! that HTTP also makes carries the same `mz-rule` as its problem+json
//! `rule` (ARCHITECTURE.md has the status of each class).
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::path::Path;

use mingzhang_proto::Message;
use mingzhang_proto::v1 as pb;
use pb::ledger_service_client::LedgerServiceClient;
use pb::transparency_service_client::TransparencyServiceClient;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value as Field};
use serde_json::Value;
use tonic::transport::Channel;

use mingzhang_tests::run_cli;

/// The codes that mean the server, not the request, is at fault.
const SERVER_FAULTS: [tonic::Code; 3] = [
    tonic::Code::Internal,
    tonic::Code::Unknown,
    tonic::Code::DataLoss,
];

use mingzhang_tests::{Served, serve};

/// A request with `authorization: <value>` metadata, when given.
fn with_token<T>(message: T, authorization: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = authorization {
        request.metadata_mut().insert(
            "authorization",
            value.parse().expect("ASCII authorization metadata"),
        );
    }
    request
}

/// Every caller the sweep calls as: its name and `authorization` metadata.
struct Callers(Vec<(&'static str, Option<String>)>);

impl Callers {
    fn create(data_dir: &Path) -> Callers {
        let token = |args: &[&str]| {
            let mut all = vec!["token", "create"];
            all.extend_from_slice(args);
            Some(format!("Bearer {}", run_cli(data_dir, &all).trim()))
        };
        Callers(vec![
            ("public", None),
            ("operator", token(&["--role", "operator"])),
            ("auditor", token(&["--role", "auditor"])),
            (
                "sponsor",
                token(&["--role", "sponsor", "--donor", "unit-01"]),
            ),
            (
                "organisation",
                token(&["--role", "organisation", "--organisation", "org-001"]),
            ),
            ("malformed token", Some("Basic eA==".to_owned())),
            (
                "unknown token",
                Some(format!("Bearer mz_{}", "0".repeat(64))),
            ),
        ])
    }

    fn operator(&self) -> Option<&str> {
        self.0[1].1.as_deref()
    }
}

/// Fails the sweep on a server fault; returns the refusal's rule, if any.
fn judged<T: std::fmt::Debug>(what: &str, answer: Result<T, tonic::Status>) -> Option<String> {
    match answer {
        Ok(_) => None,
        Err(status) => {
            assert!(
                !SERVER_FAULTS.contains(&status.code()),
                "{what}: a server fault: {status:?}"
            );
            status
                .metadata()
                .get("mz-rule")
                .map(|rule| rule.to_str().expect("ASCII rule").to_owned())
        }
    }
}

/// The values each kind of field is filled with, one profile at a time:
/// empty, out of range at either end, malformed text, oversized text.
const PROFILES: usize = 5;

fn field_value(kind: &Kind, profile: usize, depth: usize) -> Field {
    let pick = |values: &[Field]| values[profile % values.len()].clone();
    match kind {
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => pick(&[
            Field::I64(0),
            Field::I64(-1),
            Field::I64(i64::MIN),
            Field::I64(i64::MAX),
            Field::I64(1),
        ]),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => pick(&[
            Field::I32(0),
            Field::I32(-1),
            Field::I32(i32::MIN),
            Field::I32(i32::MAX),
            Field::I32(1),
        ]),
        Kind::Uint64 | Kind::Fixed64 => pick(&[Field::U64(0), Field::U64(u64::MAX)]),
        Kind::Uint32 | Kind::Fixed32 => pick(&[Field::U32(0), Field::U32(u32::MAX)]),
        Kind::Bool => pick(&[Field::Bool(false), Field::Bool(true)]),
        Kind::Float => Field::F32(f32::NAN),
        Kind::Double => Field::F64(f64::INFINITY),
        Kind::String => pick(&[
            Field::String(String::new()),
            Field::String("\u{0}\u{1b}[2J".to_owned()),
            Field::String("\u{202e}x".to_owned()),
            Field::String("名".repeat(5000)),
            Field::String("x".to_owned()),
        ]),
        Kind::Bytes => pick(&[
            Field::Bytes(Default::default()),
            Field::Bytes(vec![0xff; 33].into()),
            Field::Bytes(vec![0; 31].into()),
        ]),
        // 99: no value of any of the schema's enums.
        Kind::Enum(_) => pick(&[Field::EnumNumber(0), Field::EnumNumber(99)]),
        Kind::Message(descriptor) => Field::Message(filled(descriptor, profile, depth + 1)),
    }
}

/// A message of `descriptor` with every field set by `profile` (lists of
/// three), to a bounded depth.
fn filled(descriptor: &MessageDescriptor, profile: usize, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth > 3 {
        return message;
    }
    for field in descriptor.fields() {
        let value = field_value(&field.kind(), profile, depth);
        if field.is_list() {
            message.set_field(&field, Field::List(vec![value; 3]));
        } else if field.is_map() {
            continue;
        } else {
            message.set_field(&field, value);
        }
    }
    message
}

/// Every command there is: each `EventEnvelope.event` variant empty, then
/// filled by every profile.
fn every_command() -> Vec<(String, pb::EventEnvelope)> {
    let pool = DescriptorPool::decode(mingzhang_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let envelope = pool
        .get_message_by_name("mingzhang.v1.EventEnvelope")
        .expect("EventEnvelope");
    let oneof = envelope
        .oneofs()
        .find(|oneof| oneof.name() == "event")
        .expect("the event oneof");
    let mut commands = Vec::new();
    for variant in oneof.fields() {
        let Kind::Message(event) = variant.kind() else {
            panic!("{} is not a message", variant.name())
        };
        for profile in 0..=PROFILES {
            let body = if profile == PROFILES {
                DynamicMessage::new(event.clone())
            } else {
                filled(&event, profile, 0)
            };
            let mut dynamic = DynamicMessage::new(envelope.clone());
            dynamic.set_field(&variant, Field::Message(body));
            let command = pb::EventEnvelope::decode(dynamic.encode_to_vec().as_slice())
                .expect("the same schema decodes");
            commands.push((format!("{} profile {profile}", variant.name()), command));
        }
    }
    assert!(commands.len() > 100, "{}", commands.len());
    commands
}

async fn ledger(served: &Served) -> LedgerServiceClient<Channel> {
    LedgerServiceClient::connect(served.grpc.clone())
        .await
        .expect("grpc connects")
        .max_decoding_message_size(64 * 1024 * 1024)
}

async fn transparency(served: &Served) -> TransparencyServiceClient<Channel> {
    TransparencyServiceClient::connect(served.grpc.clone())
        .await
        .expect("grpc connects")
}

fn demo_server() -> (tempfile::TempDir, Served, Callers) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    run_cli(data_dir.path(), &["init"]);
    run_cli(data_dir.path(), &["demo"]);
    let callers = Callers::create(data_dir.path());
    let served = serve(data_dir.path());
    (data_dir, served, callers)
}

#[tokio::test]
async fn no_command_any_caller_submits_is_answered_with_a_server_fault() {
    let (_data_dir, served, callers) = demo_server();
    let mut client = ledger(&served).await;
    let commands = every_command();
    for (caller, token) in &callers.0 {
        for (name, command) in &commands {
            let mut tampered = command.clone();
            let answer = client
                .submit(with_token(
                    pb::SubmitRequest {
                        command: Some(command.clone()),
                        idempotency_key: String::new(),
                    },
                    token.as_deref(),
                ))
                .await;
            judged(&format!("Submit {name} as {caller}"), answer);
            tampered.actor = "someone else".into();
            tampered.recorded_at_unix_ms = i64::MIN;
            let answer = client
                .submit(with_token(
                    pb::SubmitRequest {
                        command: Some(tampered),
                        idempotency_key: "\u{7f}".repeat(300),
                    },
                    token.as_deref(),
                ))
                .await;
            judged(&format!("Submit {name} tampered as {caller}"), answer);
        }
        for request in [
            pb::SubmitRequest::default(),
            pb::SubmitRequest {
                command: Some(pb::EventEnvelope::default()),
                idempotency_key: "k".repeat(10_000),
            },
        ] {
            let answer = client.submit(with_token(request, token.as_deref())).await;
            judged(&format!("Submit empty as {caller}"), answer);
        }
        let batch: Vec<pb::SubmitRequest> = commands
            .iter()
            .map(|(_, command)| pb::SubmitRequest {
                command: Some(command.clone()),
                idempotency_key: String::new(),
            })
            .collect();
        let answer = client
            .submit_batch(with_token(
                pb::SubmitBatchRequest { commands: batch },
                token.as_deref(),
            ))
            .await;
        if let Ok(results) = &answer {
            for result in &results.get_ref().results {
                if let Some(pb::submit_result::Outcome::Error(error)) = &result.outcome {
                    let code = tonic::Code::from(error.code);
                    assert!(
                        !SERVER_FAULTS.contains(&code),
                        "SubmitBatch as {caller}: {error:?}"
                    );
                }
            }
        }
        judged(&format!("SubmitBatch of every command as {caller}"), answer);
        for commands in [Vec::new(), vec![pb::SubmitRequest::default(); 10_001]] {
            let answer = client
                .submit_batch(with_token(
                    pb::SubmitBatchRequest { commands },
                    token.as_deref(),
                ))
                .await;
            judged(
                &format!("SubmitBatch empty or too long as {caller}"),
                answer,
            );
        }
    }
    // Past the server's 16 MiB message limit: refused by gRPC itself.
    let huge = pb::EventEnvelope {
        event: Some(pb::event_envelope::Event::DonorRegistered(
            pb::DonorRegistered {
                donor_id: "huge".into(),
                name: "名".repeat(6 * 1024 * 1024),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let answer = client
        .submit(with_token(
            pb::SubmitRequest {
                command: Some(huge),
                idempotency_key: String::new(),
            },
            callers.operator(),
        ))
        .await;
    let refused = answer.expect_err("17 MiB is past the limit");
    assert!(
        !SERVER_FAULTS.contains(&refused.code()),
        "oversized: {refused:?}"
    );
}

#[tokio::test]
async fn no_read_with_bad_values_is_answered_with_a_server_fault() {
    let (_data_dir, served, callers) = demo_server();
    let mut client = ledger(&served).await;
    let mut proofs = transparency(&served).await;
    let queries = [
        "funds",
        "campaigns",
        "campaign",
        "pledges",
        "grant-rounds",
        "grants",
        "projects",
        "donor-statement",
        "donations",
        "expenditures",
        "trial-balance",
        "fund-transactions",
        "donation-flow",
        "pledge-payment-flow",
        "outflow-flow",
        "",
        "no-such-query",
    ];
    let ids = [
        "",
        "kaixuan-5y",
        "unit-01",
        "pay-unit-02-2015",
        "241",
        "\u{0}",
        &"i".repeat(5000),
    ];
    let numbers = [None, Some(0), Some(1), Some(u32::MAX)];
    let mut sent = 0usize;
    for (caller, token) in &callers.0 {
        let token = token.as_deref();
        for query in queries {
            for id in ids {
                for as_of in ["", "2016-12-31", "2016-02-30", "not a date"] {
                    // One paging and min_seq combination per call, in turn.
                    let turn = sent;
                    sent += 1;
                    let (offset, limit) = (numbers[turn % 4], numbers[(turn / 4 + 1) % 4]);
                    let min_seq = [None, Some(0), Some(u64::MAX)][turn % 3];
                    let request = pb::QueryRequest {
                        query: query.into(),
                        id: id.into(),
                        as_of: as_of.into(),
                        min_seq,
                        offset,
                        limit,
                        // The fund account's filters, valid and not, in turn.
                        kind: ["", "donation", "no-such-kind"][turn % 3].into(),
                        month: ["", "2016-03", "2016-13"][(turn / 3) % 3].into(),
                        counterparty: ["", "unit-01", "\u{0}"][(turn / 9) % 3].into(),
                    };
                    let answer = client.query(with_token(request, token)).await;
                    judged(
                        &format!(
                            "Query {query} {id:.10} {as_of} {offset:?} {limit:?} {min_seq:?} as {caller}"
                        ),
                        answer,
                    );
                }
            }
        }
        for from_seq in [0, 1, 394, 395, u64::MAX] {
            for limit in [0, 1, 1000, 1001, u32::MAX] {
                let answer = client
                    .get_records(with_token(pb::GetRecordsRequest { from_seq, limit }, token))
                    .await;
                judged(
                    &format!("GetRecords {from_seq} {limit} as {caller}"),
                    answer,
                );
            }
            let answer = client
                .follow(with_token(pb::FollowRequest { from_seq }, token))
                .await;
            if let Ok(mut stream) = judged_stream(answer, &format!("Follow {from_seq}"))
                && from_seq == 0
            {
                let first = stream.message().await;
                judged(&format!("Follow's first record as {caller}"), first);
            }
        }
        let sizes = [0, 1, 393, 394, 395, u64::MAX];
        for size in sizes {
            let answer = proofs
                .get_checkpoint(with_token(pb::GetCheckpointRequest { size }, token))
                .await;
            judged(&format!("GetCheckpoint {size} as {caller}"), answer);
            let answer = proofs
                .get_receipt(with_token(pb::GetReceiptRequest { seq: size }, token))
                .await;
            judged(&format!("GetReceipt {size} as {caller}"), answer);
            for other in sizes {
                let answer = proofs
                    .get_inclusion_proof(with_token(
                        pb::GetInclusionProofRequest { seq: other, size },
                        token,
                    ))
                    .await;
                judged(
                    &format!("GetInclusionProof {other} {size} as {caller}"),
                    answer,
                );
                let answer = proofs
                    .get_consistency_proof(with_token(
                        pb::GetConsistencyProofRequest {
                            from: other,
                            to: size,
                        },
                        token,
                    ))
                    .await;
                judged(
                    &format!("GetConsistencyProof {other} {size} as {caller}"),
                    answer,
                );
            }
        }
        for key in ["", "k", "\u{0}", "名", &"k".repeat(300)] {
            let answer = proofs
                .sign_checkpoint(with_token(
                    pb::SignCheckpointRequest {
                        idempotency_key: key.into(),
                    },
                    token,
                ))
                .await;
            judged(&format!("SignCheckpoint {key:.10} as {caller}"), answer);
        }
        let answer = proofs
            .get_latest_checkpoint(with_token(pb::GetLatestCheckpointRequest {}, token))
            .await;
        judged(&format!("GetLatestCheckpoint as {caller}"), answer);
        let answer = proofs
            .get_public_key(with_token(pb::GetPublicKeyRequest {}, token))
            .await;
        judged(&format!("GetPublicKey as {caller}"), answer);
    }
}

fn judged_stream<T>(
    answer: Result<tonic::Response<T>, tonic::Status>,
    what: &str,
) -> Result<T, ()> {
    match answer {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => {
            judged::<()>(what, Err(status));
            Err(())
        }
    }
}

/// A GET over HTTP: its status and problem+json body.
async fn http_problem(served: &Served, authorization: Option<&str>, path: &str) -> Value {
    let mut request = reqwest::Client::new().get(format!("{}{path}", served.http));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("HTTP answers");
    assert!(
        response.status().is_client_error(),
        "{path}: {}",
        response.status()
    );
    response.json().await.expect("problem+json")
}

/// The refusals both APIs make: the same `rule`, and the gRPC status the
/// HTTP status's class maps to.
#[tokio::test]
async fn grpc_refuses_with_the_rule_http_names_and_the_status_of_its_class() {
    let (_data_dir, served, callers) = demo_server();
    let mut client = ledger(&served).await;
    let mut proofs = transparency(&served).await;
    let operator = callers.operator();
    let sponsor = callers.0[3].1.as_deref();
    let query = |query: &str| pb::QueryRequest {
        query: query.into(),
        ..Default::default()
    };
    // (HTTP path, token, the gRPC call's answer, the status it should have)
    type Case<'t> = (
        String,
        Option<&'t str>,
        Result<(), tonic::Status>,
        tonic::Code,
    );
    let mut cases: Vec<Case> = Vec::new();
    macro_rules! case {
        ($path:expr, $token:expr, $call:expr, $code:expr) => {
            cases.push(($path.to_string(), $token, $call.await.map(|_| ()), $code));
        };
    }
    case!(
        "/v1/records?from=100000",
        operator,
        client.get_records(with_token(
            pb::GetRecordsRequest {
                from_seq: 100_000,
                limit: 1
            },
            operator
        )),
        tonic::Code::OutOfRange
    );
    case!(
        "/v1/records?limit=1001",
        operator,
        client.get_records(with_token(
            pb::GetRecordsRequest {
                from_seq: 0,
                limit: 1001
            },
            operator
        )),
        tonic::Code::InvalidArgument
    );
    case!(
        "/v1/records",
        None,
        client.get_records(with_token(pb::GetRecordsRequest::default(), None)),
        tonic::Code::Unauthenticated
    );
    case!(
        "/v1/records",
        sponsor,
        client.get_records(with_token(pb::GetRecordsRequest::default(), sponsor)),
        tonic::Code::PermissionDenied
    );
    case!(
        "/v1/pledges",
        sponsor,
        client.query(with_token(query("pledges"), sponsor)),
        tonic::Code::PermissionDenied
    );
    // Permission before the values: a bad page and a min_seq past the log
    // are not looked at for a role that may not read pledges at all.
    case!(
        "/v1/pledges?limit=0&min_seq=100000",
        sponsor,
        client.query(with_token(
            pb::QueryRequest {
                limit: Some(0),
                min_seq: Some(100_000),
                ..query("pledges")
            },
            sponsor
        )),
        tonic::Code::PermissionDenied
    );
    case!(
        "/v1/funds?as_of=2016-01-01",
        None,
        client.query(with_token(
            pb::QueryRequest {
                as_of: "2016-01-01".into(),
                ..query("funds")
            },
            None
        )),
        tonic::Code::InvalidArgument
    );
    case!(
        "/v1/pledges?as_of=not-a-date",
        operator,
        client.query(with_token(
            pb::QueryRequest {
                as_of: "not-a-date".into(),
                ..query("pledges")
            },
            operator
        )),
        tonic::Code::InvalidArgument
    );
    case!(
        "/v1/funds?min_seq=100000",
        None,
        client.query(with_token(
            pb::QueryRequest {
                min_seq: Some(100_000),
                ..query("funds")
            },
            None
        )),
        tonic::Code::OutOfRange
    );
    case!(
        "/v1/donations?limit=0",
        None,
        client.query(with_token(
            pb::QueryRequest {
                limit: Some(0),
                ..query("donations")
            },
            None
        )),
        tonic::Code::InvalidArgument
    );
    case!(
        "/v1/campaigns/no-such-campaign",
        None,
        client.query(with_token(
            pb::QueryRequest {
                id: "no-such-campaign".into(),
                ..query("campaign")
            },
            None
        )),
        tonic::Code::NotFound
    );
    case!(
        "/v1/checkpoints/100000",
        None,
        proofs.get_checkpoint(with_token(pb::GetCheckpointRequest { size: 100_000 }, None)),
        tonic::Code::InvalidArgument
    );
    case!(
        "/v1/proofs/inclusion?seq=5&size=5",
        None,
        proofs.get_inclusion_proof(with_token(
            pb::GetInclusionProofRequest { seq: 5, size: 5 },
            None
        )),
        tonic::Code::InvalidArgument
    );
    case!(
        "/v1/proofs/consistency?from=6&to=5",
        None,
        proofs.get_consistency_proof(with_token(
            pb::GetConsistencyProofRequest { from: 6, to: 5 },
            None
        )),
        tonic::Code::InvalidArgument
    );
    case!(
        "/v1/receipts/100000",
        operator,
        proofs.get_receipt(with_token(pb::GetReceiptRequest { seq: 100_000 }, operator)),
        tonic::Code::NotFound
    );
    case!(
        "/v1/receipts/0",
        Some("Bearer mz_unknown"),
        proofs.get_receipt(with_token(
            pb::GetReceiptRequest { seq: 0 },
            Some("Bearer mz_unknown")
        )),
        tonic::Code::Unauthenticated
    );
    // The public records nothing: told so before a batch's size is judged.
    let status = client
        .submit_batch(with_token(
            pb::SubmitBatchRequest {
                commands: vec![pb::SubmitRequest::default(); 10_001],
            },
            None,
        ))
        .await
        .expect_err("the public submits nothing");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    // A write the role may not make: the same rule before the body is read.
    let fund = pb::EventEnvelope {
        event: Some(pb::event_envelope::Event::FundOpened(pb::FundOpened {
            fund_id: "sponsor-fund".into(),
            name: "赞助方基金".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let status = client
        .submit(with_token(
            pb::SubmitRequest {
                command: Some(fund),
                idempotency_key: String::new(),
            },
            sponsor,
        ))
        .await
        .expect_err("a sponsor opens no fund");
    let response = reqwest::Client::new()
        .post(format!("{}/v1/funds", served.http))
        .header("authorization", sponsor.expect("a sponsor token"))
        .header("content-type", "application/json")
        .body(r#"{"fund_id": "sponsor-fund", "name": "赞助方基金", "kind": "unrestricted"}"#)
        .send()
        .await
        .expect("HTTP answers");
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
    let problem: Value = response.json().await.expect("problem+json");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get("mz-rule")
            .map(|rule| rule.to_str().unwrap()),
        problem["rule"].as_str(),
        "{status:?} {problem}"
    );
    for (path, token, grpc, code) in cases {
        let problem = http_problem(&served, token, &path).await;
        let status = grpc.expect_err(&path);
        assert_eq!(status.code(), code, "{path}: {status:?}");
        let rule = status
            .metadata()
            .get("mz-rule")
            .map(|rule| rule.to_str().expect("ASCII").to_owned());
        assert_eq!(
            rule.as_deref(),
            problem["rule"].as_str(),
            "{path}: gRPC {status:?}, HTTP {problem}"
        );
    }
}
