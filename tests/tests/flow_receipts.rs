//! Black-box: a flow receipt (docs/proofs.md, "Flow receipts") served for
//! the demo's unit-02 2015 pledge payment, to auditors only, checked offline
//! by `mingzhang verify flow`, which refuses it once any record byte, proof
//! hash, allocated amount or the checkpoint's signature is altered.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use mingzhang_tests::{binary, run_cli, serve};

async fn get(http: &str, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(format!("{http}{path}"));
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

/// `mingzhang verify flow FILE --key KEY`: (exit success, stdout, stderr).
fn verify_flow(data_dir: &Path, receipt: &Value) -> (bool, String, String) {
    let file = data_dir.join("flow-receipt.json");
    std::fs::write(&file, serde_json::to_string_pretty(receipt).unwrap()).unwrap();
    let key = data_dir.join("keys/checkpoint.pub");
    let output = Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["verify", "flow"])
        .arg(&file)
        .arg("--key")
        .arg(&key)
        .output()
        .expect("mingzhang runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Flips the lowest bit of byte `at` of a base64 record.
fn flip_record_byte(record: &Value, at: usize) -> Value {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(record.as_str().unwrap()).unwrap();
    bytes[at] ^= 1;
    json!(engine.encode(bytes))
}

fn authorised<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// unit-02's 2015 payment's flow receipt over gRPC, as the HTTP JSON.
async fn grpc_flow_receipt(grpc: &str, token: &str) -> Value {
    use base64::Engine;
    use mingzhang_proto::v1 as pb;
    let mut client =
        pb::transparency_service_client::TransparencyServiceClient::connect(grpc.to_owned())
            .await
            .expect("grpc connects");
    let request = |kind: pb::FlowGiftKind| pb::GetFlowReceiptRequest {
        kind: kind as i32,
        id: "pay-unit-02-2015".into(),
    };
    let refused = client
        .get_flow_receipt(authorised(request(pb::FlowGiftKind::Unspecified), token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    let receipt = client
        .get_flow_receipt(authorised(request(pb::FlowGiftKind::PledgePayment), token))
        .await
        .expect("an auditor gets flow receipts")
        .into_inner();
    let engine = base64::engine::general_purpose::STANDARD;
    let proven = |proven: &pb::ProvenRecord| {
        (
            proven.seq,
            engine.encode(&proven.record),
            proven
                .inclusion_proof
                .iter()
                .map(hex::encode)
                .collect::<Vec<_>>(),
        )
    };
    let (seq, record, inclusion_proof) = proven(receipt.gift.as_ref().unwrap());
    json!({
        "format": receipt.format,
        "tree_size": receipt.tree_size,
        "checkpoint": receipt.checkpoint,
        "gift": {"kind": "pledge_payment", "id": receipt.gift_id, "amount_fen": receipt.gift_amount_fen,
                 "seq": seq, "record": record, "inclusion_proof": inclusion_proof},
        "unspent_fen": receipt.unspent_fen,
        "paid_for": receipt.paid_for.iter().map(|paid| {
            let (seq, record, inclusion_proof) = proven(paid.proven.as_ref().unwrap());
            json!({"kind": paid.kind, "reference_id": paid.reference_id, "tranche_no": paid.tranche_no,
                   "amount_fen": paid.amount_fen, "seq": seq, "record": record,
                   "inclusion_proof": inclusion_proof})
        }).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn an_auditor_gets_a_flow_receipt_that_verifies_offline_and_every_tamper_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    run_cli(&data_dir, &["init"]);
    run_cli(&data_dir, &["demo"]);
    let auditor = run_cli(&data_dir, &["token", "create", "--role", "auditor"])
        .trim()
        .to_owned();
    let sponsor = run_cli(
        &data_dir,
        &["token", "create", "--role", "sponsor", "--donor", "unit-02"],
    )
    .trim()
    .to_owned();
    let served = serve(&data_dir);
    let path = "/v1/flows/pledge-payments/pay-unit-02-2015/receipt";

    let (status, _) = get(&served.http, None, path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Even the donor's own sponsor token: outflow records name private payees.
    let (status, problem) = get(&served.http, Some(&sponsor), path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    // Permission before existence: no hint whether an id is a gift.
    let (status, _) = get(
        &served.http,
        Some(&sponsor),
        "/v1/flows/donations/no-such-gift/receipt",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = get(
        &served.http,
        Some(&auditor),
        "/v1/flows/donations/no-such-gift/receipt",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["field"], json!("id"), "{problem}");

    let (status, receipt) = get(&served.http, Some(&auditor), path).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["format"], json!("mingzhang-flow-receipt/1"));
    assert_eq!(receipt["paid_for"].as_array().unwrap().len(), 12);
    // The allocations are the query's, and its checkpoint covers the whole log.
    let (_, flow) = get(
        &served.http,
        None,
        "/v1/flows/pledge-payments/pay-unit-02-2015",
    )
    .await;
    let amounts = |list: &Value| -> Vec<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|item| item["amount_fen"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(amounts(&receipt["paid_for"]), amounts(&flow["paid_for"]));
    assert_eq!(receipt["unspent_fen"], flow["unspent_fen"]);
    let (_, donation_receipt) = get(
        &served.http,
        Some(&auditor),
        "/v1/flows/donations/don-special-support-seed/receipt",
    )
    .await;
    assert_eq!(donation_receipt["gift"]["kind"], json!("donation"));
    // gRPC answers the same receipt, bytes for base64 and hex.
    assert_eq!(grpc_flow_receipt(&served.grpc, &auditor).await, receipt);
    drop(served);

    let (ok, stdout, stderr) = verify_flow(&data_dir, &receipt);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("OK: pledge payment pay-unit-02-2015 of 200000.00 CNY"),
        "{stdout}"
    );
    assert!(stdout.contains("  unspent 0.00 CNY"), "{stdout}");
    assert!(stdout.contains("NOT CHECKED OFFLINE: "), "{stdout}");
    let (ok, _, stderr) = verify_flow(&data_dir, &donation_receipt);
    assert!(ok, "{stderr}");

    // The audit of the whole log recomputes every allocation and checks it.
    let report: Value =
        serde_json::from_str(&run_cli(&data_dir, &["verify", "--json"])).expect("a JSON report");
    assert_eq!(report["ok"], json!(true), "{report}");
    assert!(
        report["flows"]["allocations"].as_u64().unwrap()
            >= report["flows"]["outflows"].as_u64().unwrap(),
        "{report}"
    );
    assert!(
        report["flows"]["outflows"].as_u64().unwrap() > 12,
        "{report}"
    );

    let mut tampers: Vec<(&str, Value)> = Vec::new();
    let mut record = receipt.clone();
    record["paid_for"][3]["record"] = flip_record_byte(&receipt["paid_for"][3]["record"], 70);
    tampers.push(("paid_for[3]: record: damaged", record));
    let mut proof = receipt.clone();
    let hash = proof["gift"]["inclusion_proof"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if hash.starts_with('0') { "1" } else { "0" };
    proof["gift"]["inclusion_proof"][0] = json!(format!("{flipped}{}", &hash[1..]));
    tampers.push(("gift: inclusion_proof", proof));
    let mut amount = receipt.clone();
    amount["paid_for"][0]["amount_fen"] =
        json!(amount["paid_for"][0]["amount_fen"].as_i64().unwrap() + 1);
    tampers.push(("unspent_fen: 0 + paid_for", amount));
    let mut signature = receipt.clone();
    let note = signature["checkpoint"].as_str().unwrap().to_owned();
    let at = note.rfind(' ').unwrap() + 9;
    let replaced = if &note[at..at + 1] == "A" { "B" } else { "A" };
    signature["checkpoint"] = json!(format!("{}{replaced}{}", &note[..at], &note[at + 1..]));
    tampers.push(("gift: checkpoint", signature));
    let mut size = receipt.clone();
    size["tree_size"] = json!(size["tree_size"].as_u64().unwrap() + 1);
    tampers.push(("gift: tree_size", size));
    for (refusal, tampered) in tampers {
        let (ok, stdout, stderr) = verify_flow(&data_dir, &tampered);
        assert!(!ok, "{refusal}: accepted: {stdout}");
        assert!(
            stderr.contains(&format!("flow receipt verification FAILED: {refusal}")),
            "{refusal}: {stderr}"
        );
    }
}
