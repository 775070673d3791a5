//! PIPL Article 47 end to end: the demo records its residents' names as
//! salted commitments, one resident is erased with the CLI and another over
//! the operator API, and afterwards the log still verifies, a receipt issued
//! before still verifies, every surface says 已删除 / erased, and no byte the
//! project stores (data directory, side store, log, checkpoints, an export
//! bundle) holds either name (docs/proofs.md, "Personal data").

use std::path::Path;
use std::process::{Command, Output};

use mingzhang_tests::{binary, run_cli, serve};
use serde_json::{Value, json};

/// 王丽华 agreed to be named in public, so every surface showed her name.
const ERASED_BY_CLI: (&str, &str) = ("resident-wang", "王丽华");
/// 张敏 did not; operators and auditors saw her name.
const ERASED_BY_API: (&str, &str) = ("resident-zhang", "张敏");
/// 李建国 is not erased: his name stays in the side store.
const KEPT: &str = "李建国";

fn mingzhang(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("MINGZHANG_TOKEN")
        .output()
        .expect("mingzhang runs")
}

fn token(data_dir: &Path, role: &str) -> String {
    run_cli(data_dir, &["token", "create", "--role", role])
        .trim()
        .to_owned()
}

/// Every file under `dir` holding `needle`, by path.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                if bytes.windows(needle.len()).any(|window| window == needle) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

/// `erase <kind> <subject>` on the stopped server's data directory; then
/// the log verifies, and so does `receipt` (of record `seq`, taken before).
fn erase_with_the_cli_then_verify(
    data: &Path,
    (kind, subject): (&str, &str),
    (receipt, seq): (&str, u64),
) {
    let erased = mingzhang(
        data,
        &[
            "erase",
            kind,
            subject,
            "--reason",
            "PIPL Art. 47 request of 2026-12-02",
        ],
    );
    assert!(erased.status.success(), "{erased:?}");
    let verified = mingzhang(data, &["verify"]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    let receipt_file = data.with_file_name("receipt.json");
    std::fs::write(&receipt_file, receipt).unwrap();
    let checked = run_cli(data, &["verify", "receipt", receipt_file.to_str().unwrap()]);
    assert!(
        checked.starts_with(&format!("OK: record {seq} ")),
        "{checked}"
    );
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn post(url: &str, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn an_erased_donor_is_gone_from_every_byte_and_every_proof_still_verifies() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_cli(&data, &["init"]);
    run_cli(&data, &["demo"]);
    let operator = token(&data, "operator");
    let auditor = token(&data, "auditor");

    // The log holds commitments only; the names live in the side store.
    for (_, name) in [ERASED_BY_CLI, ERASED_BY_API] {
        assert_eq!(
            files_holding(&data, name.as_bytes()),
            vec![data.join("personal/entries.jsonl").display().to_string()]
        );
    }

    // A receipt of one of 王丽华's donations, taken before the erasure.
    let served = serve(&data);
    let (status, records) = get(
        &format!("{}/v1/records?from=0&limit=1000", served.http),
        Some(&auditor),
    )
    .await;
    assert_eq!(status, 200, "{records}");
    let records: Value = serde_json::from_str(&records).unwrap();
    let donation_seq = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| {
            record["envelope"]["donation_received"]["donor_id"] == json!(ERASED_BY_CLI.0)
        })
        .expect("the demo records a gift of 王丽华")["seq"]
        .as_u64()
        .unwrap();
    let (status, receipt) = get(
        &format!("{}/v1/receipts/{donation_seq}", served.http),
        Some(&auditor),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    let (_, page) = get(&format!("{}/sponsors", served.http), None).await;
    assert!(page.contains(ERASED_BY_CLI.1), "named before erasure");

    // Over the operator API: an enterprise is refused, a person erased once.
    let erasure = |id: &str| format!("{}/v1/donors/{id}/erasure", served.http);
    let body =
        json!({"legal_basis": "PIPL Art. 47 request of 2026-12-01", "erased_on": "2026-12-07"});
    let (status, problem) = post(&erasure("unit-01"), &operator, body.clone()).await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("subject_not_individual")),
        "{problem}"
    );
    let (status, answer) = post(&erasure(ERASED_BY_API.0), &operator, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let (status, problem) = post(&erasure(ERASED_BY_API.0), &operator, body.clone()).await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (409, Some("already_erased")),
        "{problem}"
    );
    drop(served);

    // With the CLI, the server stopped.
    erase_with_the_cli_then_verify(&data, ("person", ERASED_BY_CLI.0), (&receipt, donation_seq));

    let served = serve(&data);
    let (_, page) = get(&format!("{}/sponsors", served.http), None).await;
    assert!(page.contains("已删除"), "{page}");
    let (_, donations) = get(&format!("{}/v1/donations?limit=1000", served.http), None).await;
    assert!(donations.contains("已删除 erased"), "{donations}");
    let (_, full_view) = get(
        &format!("{}/v1/donations?limit=1000", served.http),
        Some(&auditor),
    )
    .await;
    for (_, name) in [ERASED_BY_CLI, ERASED_BY_API] {
        assert!(!page.contains(name) && !full_view.contains(name));
    }
    let (_, csv) = get(&format!("{}/exports/donations.csv", served.http), None).await;
    assert!(
        !csv.contains(ERASED_BY_CLI.1) && csv.contains("已删除"),
        "{csv}"
    );
    // A late retry of a registration does not bring a name back.
    let registration =
        json!({"donor_id": ERASED_BY_API.0, "name": ERASED_BY_API.1, "kind": "individual"});
    let (status, problem) = post(
        &format!("{}/v1/donors", served.http),
        &operator,
        registration,
    )
    .await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (409, Some("id_taken")),
        "{problem}"
    );
    drop(served);
    // Nor does the demo run again (it is idempotent).
    run_cli(&data, &["demo"]);

    let bundle = work.path().join("bundle");
    run_cli(&data, &["export", bundle.to_str().unwrap()]);
    for (_, name) in [ERASED_BY_CLI, ERASED_BY_API] {
        assert_eq!(
            files_holding(work.path(), name.as_bytes()),
            Vec::<String>::new()
        );
    }
    // The search finds what is still there: the grep is not blind.
    assert_eq!(
        files_holding(work.path(), KEPT.as_bytes()),
        vec![data.join("personal/entries.jsonl").display().to_string()]
    );
}

/// The side store is written and synced before the command is submitted, so
/// a server killed under registrations leaves no acknowledged record whose
/// name is lost: after the restart every acknowledged resident is named.
#[tokio::test]
async fn every_acknowledged_registration_keeps_its_name_across_a_sigkill() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_cli(&data, &["init"]);
    let operator = token(&data, "operator");
    let auditor = token(&data, "auditor");
    let served = serve(&data);
    let http = served.http.clone();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (http, operator) = (http.clone(), operator.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let donor_id = format!("resident-{writer}-{n}");
                    let body = json!({"donor_id": donor_id, "name": format!("居民{writer}之{n}"),
                                      "kind": "individual", "show_name_publicly": true});
                    let answer = reqwest::Client::new()
                        .post(format!("{http}/v1/donors"))
                        .bearer_auth(&operator)
                        .json(&body)
                        .send()
                        .await;
                    match answer {
                        Ok(answer) if answer.status() == 200 => acknowledged.push((writer, n)),
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut child = served.into_child();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() >= 8, "{acknowledged:?}");

    let served = serve(&data);
    for (writer, n) in &acknowledged {
        let (status, statement) = get(
            &format!("{}/v1/donors/resident-{writer}-{n}/statement", served.http),
            Some(&auditor),
        )
        .await;
        assert_eq!(status, 200, "{statement}");
        let statement: Value = serde_json::from_str(&statement).unwrap();
        assert_eq!(
            statement["donor"]["name"],
            json!(format!("居民{writer}之{n}")),
            "{statement}"
        );
    }
    drop(served);
    let verified = mingzhang(&data, &["verify", "--allow-unsigned"]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
}

/// A private payee is a person too: the demo pays 陈秀英 for a project's
/// delivery and 刘志强 as a lecturer, both named by commitments. One is
/// erased over the operator API, the other with `erase payee`; the log,
/// a receipt of the payment taken before and the balances still verify,
/// every surface says 已删除 / erased, and no byte the project stores holds
/// either name.
#[tokio::test]
async fn an_erased_private_payee_is_gone_from_every_byte_and_every_proof_still_verifies() {
    const BY_API: (&str, &str) = ("exp-pd2015-01", "陈秀英");
    const BY_CLI: (&str, &str) = ("exp-special-counsel", "刘志强");
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_cli(&data, &["init"]);
    run_cli(&data, &["demo"]);
    let operator = token(&data, "operator");
    let auditor = token(&data, "auditor");
    for (_, name) in [BY_API, BY_CLI] {
        assert_eq!(
            files_holding(&data, name.as_bytes()),
            vec![data.join("personal/entries.jsonl").display().to_string()]
        );
    }

    let served = serve(&data);
    let (_, records) = get(
        &format!("{}/v1/records?from=0&limit=1000", served.http),
        Some(&auditor),
    )
    .await;
    let records: Value = serde_json::from_str(&records).unwrap();
    let paid_seq = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["envelope"]["expenditure_made"]["expenditure_id"] == json!(BY_CLI.0))
        .expect("the demo pays 刘志强")["seq"]
        .as_u64()
        .unwrap();
    let (status, receipt) = get(
        &format!("{}/v1/receipts/{paid_seq}", served.http),
        Some(&auditor),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    let (_, before) = get(
        &format!("{}/v1/expenditures?limit=1000", served.http),
        Some(&auditor),
    )
    .await;
    assert!(
        before.contains(BY_API.1) && before.contains(BY_CLI.1),
        "{before}"
    );

    let erasure = |id: &str| format!("{}/v1/expenditures/{id}/payee-erasure", served.http);
    let body =
        json!({"legal_basis": "PIPL Art. 47 request of 2026-12-01", "erased_on": "2026-12-07"});
    // A company is a public entity.
    let (status, problem) = post(&erasure("exp-pd2015-00"), &operator, body.clone()).await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("payee_not_committed_person")),
        "{problem}"
    );
    let (status, problem) = post(&erasure("exp-nobody"), &operator, body.clone()).await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (404, Some("not_found")),
        "{problem}"
    );
    let (status, answer) = post(&erasure(BY_API.0), &operator, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let (status, problem) = post(&erasure(BY_API.0), &operator, body.clone()).await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (409, Some("already_erased")),
        "{problem}"
    );
    // A late retry of the payment does not bring the name back.
    let (status, problem) = post(
        &format!("{}/v1/expenditures", served.http),
        &operator,
        json!({"expenditure_id": BY_API.0, "fund_id": "partners-day", "amount": "1.00",
               "payee": BY_API.1, "payee_kind": "person", "purpose": "retry",
               "category": "purchase_of_services", "receipt_no": "R", "paid_on": "2015-12-10"}),
    )
    .await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (409, Some("id_taken")),
        "{problem}"
    );
    drop(served);

    erase_with_the_cli_then_verify(&data, ("payee", BY_CLI.0), (&receipt, paid_seq));

    let served = serve(&data);
    let (_, full_view) = get(
        &format!("{}/v1/expenditures?limit=1000", served.http),
        Some(&auditor),
    )
    .await;
    assert_eq!(full_view.matches("已删除 erased").count(), 2, "{full_view}");
    let (_, csv) = get(&format!("{}/exports/expenditures.csv", served.http), None).await;
    let (_, page) = get(&format!("{}/", served.http), None).await;
    for (_, name) in [BY_API, BY_CLI] {
        assert!(!full_view.contains(name) && !csv.contains(name) && !page.contains(name));
    }
    drop(served);
    run_cli(&data, &["demo"]);
    let bundle = work.path().join("bundle");
    run_cli(&data, &["export", bundle.to_str().unwrap()]);
    for (_, name) in [BY_API, BY_CLI] {
        assert_eq!(
            files_holding(work.path(), name.as_bytes()),
            Vec::<String>::new()
        );
    }
}

/// gRPC writes through the generic `Submit`: a `PersonalDataErased` sent
/// there erases as the HTTP routes do, a donor (the default `subject_kind`)
/// and a payee (`subject_kind` payee) alike. The side store forgets both
/// names and gRPC's own queries say 已删除 erased.
#[tokio::test]
async fn a_person_and_a_payee_are_erased_through_grpc_submit() {
    use mingzhang_proto::v1 as pb;
    use pb::ledger_service_client::LedgerServiceClient;

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_cli(&data, &["init"]);
    run_cli(&data, &["demo"]);
    let operator = format!("Bearer {}", token(&data, "operator"));
    let auditor = format!("Bearer {}", token(&data, "auditor"));
    fn with_token<T>(message: T, authorization: &str) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", authorization.parse().unwrap());
        request
    }
    let served = serve(&data);
    let mut client = LedgerServiceClient::connect(served.grpc.clone())
        .await
        .unwrap();
    let erasures = [
        (ERASED_BY_CLI, pb::ErasedSubject::Donor),
        (("exp-special-counsel", "刘志强"), pb::ErasedSubject::Payee),
    ];
    for ((_, name), _) in erasures {
        assert!(
            !files_holding(&data.join("personal"), name.as_bytes()).is_empty(),
            "{name} is in the side store before"
        );
    }
    for ((subject_id, _), subject_kind) in erasures {
        let command = pb::EventEnvelope {
            event: Some(pb::event_envelope::Event::PersonalDataErased(
                pb::PersonalDataErased {
                    subject_id: subject_id.into(),
                    legal_basis: "PIPL Art. 47 request of 2026-12-04".into(),
                    erased_on: "2026-12-07".into(),
                    subject_kind: subject_kind as i32,
                },
            )),
            ..Default::default()
        };
        let request = pb::SubmitRequest {
            command: Some(command),
            idempotency_key: format!("erase-{subject_id}"),
        };
        client
            .submit(with_token(request, &operator))
            .await
            .unwrap_or_else(|status| panic!("{subject_id}: {status:?}"));
    }
    let side_store = std::fs::read(data.join("personal/entries.jsonl")).unwrap();
    for ((_, name), _) in erasures {
        let name = name.as_bytes();
        assert!(
            !side_store.windows(name.len()).any(|window| window == name),
            "the side store forgot the name"
        );
    }
    for query in ["donations", "expenditures"] {
        let answer = client
            .query(with_token(
                pb::QueryRequest {
                    query: query.into(),
                    limit: Some(1000),
                    ..Default::default()
                },
                &auditor,
            ))
            .await
            .unwrap();
        let answer = format!("{:?}", answer.get_ref().answer);
        assert!(answer.contains("已删除 erased"), "{query}: {answer}");
        for ((_, name), _) in erasures {
            assert!(!answer.contains(name), "{query}: {answer}");
        }
    }
}
