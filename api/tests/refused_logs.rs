//! Logs the rules refuse, each chained correctly: a donation by an
//! unregistered donor, into an unknown fund, under a reused id. The auditor's
//! `verify` fails naming the record and the rule, and a server whose
//! projections meet such a record is not ready and answers no query.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mingzhang_api::auth::TokenRegistry;
use mingzhang_api::backend::LedgerHandle;
use mingzhang_api::state::AppState;
use mingzhang_audit::verify::{self as audit, AuditInputs, VerifyOptions};
use mingzhang_ledger::scenario::{LogTheRulesRefuse, logs_the_rules_refuse};
use mingzhang_ledger::service::Ledger;
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, MemoryStore};
use mingzhang_proto::Message;
use tower::ServiceExt;

async fn write_log(data_dir: &Path, log: &LogTheRulesRefuse) {
    let (file_log, _) = FileLog::open(data_dir.join("log"), FileLogOptions::default()).unwrap();
    let payloads = log.envelopes.iter().map(Message::encode_to_vec).collect();
    file_log.append(0, payloads).await.unwrap();
    file_log.close().unwrap();
}

/// These logs carry no checkpoint: the tests are about the rules, so the
/// auditor checks the chain alone, and the signature's absence is no finding.
fn chain_alone() -> VerifyOptions {
    VerifyOptions {
        since_note: None,
        allow_unsigned: true,
        ..VerifyOptions::default()
    }
}

#[tokio::test]
async fn verify_fails_naming_the_record_and_rule_of_each_log_the_rules_refuse() {
    for log in logs_the_rules_refuse() {
        let data = tempfile::tempdir().unwrap();
        write_log(data.path(), &log).await;
        let inputs = AuditInputs::locate(data.path(), None).unwrap();
        let report = audit::verify(&inputs, &chain_alone(), |_, _| {}).unwrap();
        assert!(!report.ok, "{}: verify said OK", log.what);
        assert_eq!(report.exit_code(), audit::EXIT_MISMATCH, "{}", log.what);
        let expected_start = format!(
            "record seq {}: refused by the rules: {}: ",
            log.refused_seq, log.field
        );
        assert!(
            report.problems.iter().any(|problem| {
                problem.message.starts_with(&expected_start)
                    && problem.message.ends_with(&format!("[{}]", log.rule))
            }),
            "{}: {:?}",
            log.what,
            report.problems
        );
        assert_eq!(report.replayed_records, log.refused_seq, "{}", log.what);
    }
}

#[tokio::test]
async fn verify_names_the_unregistered_donor_of_the_old_worked_example() {
    let data = tempfile::tempdir().unwrap();
    write_log(data.path(), &logs_the_rules_refuse()[0]).await;
    let inputs = AuditInputs::locate(data.path(), None).unwrap();
    let report = audit::verify(&inputs, &chain_alone(), |_, _| {}).unwrap();
    let messages: Vec<String> = report.problems.iter().map(|p| p.message.clone()).collect();
    assert_eq!(
        messages,
        vec![
            "record seq 1: refused by the rules: donor_id: no donor with id \"kailian-member-01\" [not_found]"
                .to_owned()
        ]
    );
}

async fn get(state: &AppState, path: &str) -> (StatusCode, serde_json::Value) {
    let response = mingzhang_api::http::router(state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_server_whose_projections_meet_a_record_that_does_not_apply_is_not_ready() {
    for log in logs_the_rules_refuse() {
        // The write side opens on an empty log; the records arrive behind its
        // back, as a bug or a foreign writer would leave them.
        let store = MemoryStore::new();
        let ledger = Ledger::open(Arc::new(store.clone())).await.unwrap();
        let tokens_dir = tempfile::tempdir().unwrap();
        let tokens = Arc::new(TokenRegistry::open(tokens_dir.path().join("tokens.json")).unwrap());
        let (_shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let state =
            AppState::start(LedgerHandle::start(ledger), tokens, shutdown_rx, None, None).unwrap();
        let payloads = log.envelopes.iter().map(Message::encode_to_vec).collect();
        store.append(0, payloads).await.unwrap();

        let mut waited = Duration::ZERO;
        while state.projections.read().not_applied().is_none() {
            assert!(
                waited < Duration::from_secs(5),
                "{}: projections never stopped",
                log.what
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
        let (status, body) = get(&state, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", log.what);
        let not_applied = body["not_applied"].as_str().unwrap_or_default();
        assert!(
            not_applied.starts_with(&format!("record seq {}: ", log.refused_seq)),
            "{}: {body}",
            log.what
        );
        assert_eq!(body["applied_records"], log.refused_seq, "{}", log.what);

        let (status, body) = get(&state, "/v1/funds").await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}: {body}",
            log.what
        );
        assert!(
            body.to_string()
                .contains(&format!("record seq {}", log.refused_seq)),
            "{}: {body}",
            log.what
        );
    }
}
