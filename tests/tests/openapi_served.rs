//! The OpenAPI document (`/openapi.json`) against the built `mingzhang`
//! serving the Kaixuan demo:
//!
//! - every JSON route's real answer, with real ids, validated against the
//!   schema the document gives it (python's `jsonschema`);
//! - schemathesis (from PyPI, pinned in ops/test.sh) with every check, as
//!   the operator, bounded in examples per operation and in time. Zero
//!   failures: a request the document allows is answered as documented, one
//!   it forbids is refused, no answer is a server error, and every answer
//!   matches its schema.
//!
//! Without the Python tools each test says so and passes, except under CI,
//! where a missing tool fails (the rule of the OpenAPI validator test).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mingzhang_tests::run_cli;

/// Test cases per operation and phase; with one worker the run takes about
/// half a minute on a loaded 2-core machine.
const EXAMPLES_PER_OPERATION: &str = "10";
/// Fixed, so a failure in CI reproduces; `MINGZHANG_SCHEMATHESIS_SEED`
/// explores others.
const SEED_DEFAULT: &str = "20260905";
const RUN_TIME_MAX: Duration = Duration::from_secs(240);

/// schemathesis's command line, run by the `python3` that ops/test.sh
/// installed it into (its script may not be on PATH).
fn schemathesis() -> Command {
    let mut command = Command::new("python3");
    command.args([
        "-c",
        "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; schemathesis()",
    ]);
    command
}

fn schemathesis_present() -> bool {
    schemathesis()
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// A Kaixuan demo data directory and an operator token for it.
fn demo() -> (tempfile::TempDir, String) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    run_cli(data_dir.path(), &["init"]);
    run_cli(data_dir.path(), &["demo"]);
    let token = run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
        .trim()
        .to_owned();
    (data_dir, token)
}

/// Validates each `[JSON pointer to a schema in the document, answer]`,
/// with the document's `components` in reach of the schemas' `$ref`s.
const VALIDATE_ANSWERS: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
document = json.load(open(sys.argv[1]))
failures = []
for pointer, answer in json.load(open(sys.argv[2])):
    root = dict(document)
    root["$ref"] = pointer
    for error in Draft202012Validator(root).iter_errors(answer):
        failures.append(f"{pointer}: {error.message[:300]} at {list(error.absolute_path)}")
print("\n".join(failures[:40]))
sys.exit(1 if failures else 0)
"#;

/// The pointer to the schema of `GET path`'s answer with `status`.
fn answer_schema(path: &str, status: u16, media_type: &str) -> String {
    let escape = |part: &str| part.replace('~', "~0").replace('/', "~1");
    format!(
        "#/paths/{}/get/responses/{status}/content/{}/schema",
        escape(path),
        escape(media_type)
    )
}

async fn get_json(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = client.get(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let body = response
        .json()
        .await
        .unwrap_or_else(|error| panic!("{url}: not JSON: {error}"));
    (status, body)
}

#[tokio::test]
async fn every_json_route_answers_as_its_schema_in_the_document_says() {
    let present = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "python3 jsonschema is missing: ops/test.sh installs it with openapi-spec-validator"
        );
        eprintln!("skipped: python3 jsonschema is not installed");
        return;
    }
    let (data_dir, token) = demo();
    let served = mingzhang_tests::serve(data_dir.path());
    let base_url = served.http.clone();
    let client = reqwest::Client::new();
    let operator = Some(token.as_str());
    let url = |path: &str| format!("{base_url}{path}");
    let (_, donations) = get_json(&client, url("/v1/donations?limit=5"), operator).await;
    let donor = donations[0]["donor_id"].as_str().expect("a donor id");
    let (_, campaigns) = get_json(&client, url("/v1/campaigns"), None).await;
    let campaign = campaigns[0]["campaign_id"].as_str().expect("a campaign");
    let donation = donations[0]["donation_id"].as_str().expect("a donation id");
    let (_, gift_flow) = get_json(
        &client,
        url("/v1/flows/pledge-payments/pay-unit-02-2015"),
        None,
    )
    .await;
    let outflow_seq = &gift_flow["paid_for"][0]["seq"];
    // A document uploaded, so its metadata answers (docs/documents.md).
    let report = "completion report of pd2015-01";
    let report_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(report));
    let uploaded = client
        .put(url(&format!("/v1/documents/{report_sha256}")))
        .bearer_auth(&token)
        .body(report)
        .send()
        .await
        .expect("an answer");
    assert_eq!(uploaded.status().as_u16(), 201);
    // (the route, the path asked, token, the status it answers)
    let asked = [
        ("/v1/funds", "/v1/funds".to_owned(), None, 200),
        ("/v1/campaigns", "/v1/campaigns".into(), None, 200),
        (
            "/v1/campaigns/{id}",
            format!("/v1/campaigns/{campaign}"),
            None,
            200,
        ),
        ("/v1/donations", "/v1/donations".into(), None, 200),
        (
            "/v1/donations",
            "/v1/donations?limit=50".into(),
            operator,
            200,
        ),
        ("/v1/pledges", "/v1/pledges".into(), operator, 200),
        (
            "/v1/pledges",
            "/v1/pledges?as_of=2016-12-31".into(),
            operator,
            200,
        ),
        ("/v1/grant-rounds", "/v1/grant-rounds".into(), None, 200),
        ("/v1/grants", "/v1/grants".into(), None, 200),
        ("/v1/projects", "/v1/projects".into(), None, 200),
        ("/v1/expenditures", "/v1/expenditures".into(), None, 200),
        ("/v1/expenditures", "/v1/expenditures".into(), operator, 200),
        (
            "/v1/donors/{id}/statement",
            format!("/v1/donors/{donor}/statement"),
            operator,
            200,
        ),
        ("/v1/trial-balance", "/v1/trial-balance".into(), None, 200),
        (
            "/v1/records",
            "/v1/records?from=0&limit=50".into(),
            operator,
            200,
        ),
        (
            "/v1/proofs/inclusion",
            "/v1/proofs/inclusion?seq=3&size=40".into(),
            None,
            200,
        ),
        (
            "/v1/proofs/consistency",
            "/v1/proofs/consistency?from=3&to=40".into(),
            None,
            200,
        ),
        ("/v1/receipts/{seq}", "/v1/receipts/7".into(), operator, 200),
        ("/readyz", "/readyz".into(), None, 200),
        (
            "/exports/grants-360giving.json",
            "/exports/grants-360giving.json".into(),
            None,
            200,
        ),
        ("/v1/funds", "/v1/funds?limit=0".into(), None, 422),
        (
            "/v1/campaigns/{id}",
            "/v1/campaigns/no-such-campaign".into(),
            None,
            404,
        ),
        ("/v1/records", "/v1/records".into(), None, 401),
        (
            "/v1/flows/donations/{id}",
            format!("/v1/flows/donations/{donation}"),
            None,
            200,
        ),
        (
            "/v1/flows/pledge-payments/{id}",
            "/v1/flows/pledge-payments/pay-unit-02-2015".into(),
            None,
            200,
        ),
        (
            "/v1/flows/outflows/{seq}",
            format!("/v1/flows/outflows/{outflow_seq}"),
            None,
            200,
        ),
        (
            "/v1/flows/donations/{id}",
            "/v1/flows/donations/no-such-donation".into(),
            None,
            404,
        ),
        (
            "/v1/disclosures",
            "/v1/disclosures?overdue=true&as_of=2017-02-01&limit=5".into(),
            operator,
            200,
        ),
        ("/v1/disclosures", "/v1/disclosures".into(), operator, 200),
        ("/v1/disclosures", "/v1/disclosures".into(), None, 401),
        (
            "/v1/disclosures",
            "/v1/disclosures?as_of=2017-13-01".into(),
            operator,
            422,
        ),
        (
            "/v1/documents/{sha256}",
            format!("/v1/documents/{report_sha256}"),
            None,
            200,
        ),
        (
            "/v1/documents/{sha256}",
            format!("/v1/documents/{}", "0".repeat(64)),
            None,
            404,
        ),
    ];
    let mut answers = Vec::new();
    for (route, path, token, expected) in asked {
        let (status, body) = get_json(&client, url(&path), token).await;
        assert_eq!(status, expected, "{path}: {body}");
        let media_type = if status < 400 {
            "application/json"
        } else {
            "application/problem+json"
        };
        answers.push((answer_schema(route, status, media_type), body));
    }
    let (_, document) = get_json(&client, url("/openapi.json"), None).await;
    let files = tempfile::tempdir().expect("temp dir");
    let document_file = files.path().join("openapi.json");
    let answers_file = files.path().join("answers.json");
    std::fs::write(&document_file, document.to_string()).expect("write the document");
    let answers_json = serde_json::to_string(&answers).expect("answers as JSON");
    std::fs::write(&answers_file, answers_json).expect("write the answers");
    let output = Command::new("python3")
        .args(["-c", VALIDATE_ANSWERS])
        .arg(&document_file)
        .arg(&answers_file)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "answers that break their schema:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn schemathesis_finds_nothing_against_the_served_demo_with_every_check() {
    if !schemathesis_present() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "schemathesis is missing: ops/test.sh installs it"
        );
        eprintln!("skipped: schemathesis is not installed (ops/test.sh installs it)");
        return;
    }
    let (data_dir, token) = demo();
    let served = mingzhang_tests::serve(data_dir.path());
    let base_url = served.http.clone();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/schemathesis.toml");
    let seed = std::env::var("MINGZHANG_SCHEMATHESIS_SEED").unwrap_or(SEED_DEFAULT.to_owned());
    let report = tempfile::tempdir().expect("report dir");
    let mut run = schemathesis()
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run"])
        .arg(format!("{base_url}/openapi.json"))
        .args(["--checks", "all", "--workers", "1"])
        .args(["--max-examples", EXAMPLES_PER_OPERATION, "--seed", &seed])
        .args(["--generation-database", "none"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .current_dir(report.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis starts");
    // Read while it runs, so a full pipe cannot stall it.
    let mut stdout = run.stdout.take().expect("stdout piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().expect("schemathesis runs") {
            break status;
        }
        if started.elapsed() > RUN_TIME_MAX {
            let _ = run.kill();
            let _ = run.wait();
            panic!("schemathesis ran past {RUN_TIME_MAX:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = reader.join().expect("reader thread").expect("utf-8 output");
    let mut stderr = String::new();
    run.stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut stderr)
        .expect("utf-8 errors");
    eprintln!(
        "schemathesis (seed {seed}) took {:?}: {}",
        started.elapsed(),
        output.lines().last().unwrap_or_default()
    );
    assert!(
        status.success(),
        "schemathesis found failures (seed {seed}):\n{output}\n{stderr}"
    );
    assert!(output.contains(" passed"), "tested nothing:\n{output}");
}
