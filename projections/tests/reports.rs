//! Which records name each report (docs/documents.md): on the Kaixuan demo,
//! every report hash a grant or project shows finds exactly the records a
//! scan of every grant and project finds, with their seq, in log order.

use std::collections::BTreeMap;

use mingzhang_ledger::scenario;
use mingzhang_ledger::state::LedgerState;
use mingzhang_projections::{Projections, ReportKind, ReportReference};
use mingzhang_proto::v1::EventEnvelope;
use sha2::{Digest, Sha256};

fn kaixuan() -> Projections {
    let mut state = LedgerState::default();
    let mut projections = Projections::default();
    for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate() {
        let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
            .expect("the Kaixuan scenario is valid");
        state.apply(&event);
        let envelope = EventEnvelope {
            recorded_at_unix_ms: meta.at_unix_ms,
            event: Some(event),
            ..Default::default()
        };
        projections
            .apply(seq as u64, &envelope)
            .expect("the Kaixuan scenario applies");
    }
    projections
}

fn hash_of(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[test]
fn a_report_names_the_self_assessment_or_completion_that_recorded_it() {
    let projections = kaixuan();
    let assessment =
        projections.report_references(&hash_of("self-assessment grant-mv2016-001 2016-Q2"));
    assert_eq!(assessment.len(), 1);
    assert_eq!(
        (
            assessment[0].kind,
            assessment[0].id.as_str(),
            assessment[0].period.as_str(),
            assessment[0].organisation_id.as_deref()
        ),
        (
            ReportKind::GrantSelfAssessment,
            "grant-mv2016-001",
            "2016-Q2",
            Some("org-001")
        )
    );
    let completion = projections.report_references(&hash_of("completion report of pd2015-01"));
    assert_eq!(completion.len(), 1);
    assert_eq!(
        (
            completion[0].kind,
            completion[0].id.as_str(),
            completion[0].period.as_str(),
            completion[0].organisation_id.as_deref()
        ),
        (
            ReportKind::ProjectCompletion,
            "pd2015-01",
            "2015-12-20",
            None
        )
    );
    assert_ne!(completion[0].seq, assessment[0].seq);
    assert!(
        projections
            .report_references(&hash_of("no such report"))
            .is_empty()
    );
}

#[test]
fn the_index_finds_what_a_scan_of_every_grant_and_project_finds() {
    let projections = kaixuan();
    let mut scanned: BTreeMap<String, Vec<(ReportKind, String, String)>> = BTreeMap::new();
    for grant in projections.grants() {
        for assessment in &grant.self_assessments {
            scanned
                .entry(assessment.report_sha256.clone())
                .or_default()
                .push((
                    ReportKind::GrantSelfAssessment,
                    grant.grant_id.clone(),
                    assessment.quarter.clone(),
                ));
        }
    }
    for project in projections.projects() {
        if let Some(completion) = &project.completion {
            scanned
                .entry(completion.report_sha256.clone())
                .or_default()
                .push((
                    ReportKind::ProjectCompletion,
                    project.project_id.clone(),
                    completion.completed_on.render(),
                ));
        }
    }
    assert!(scanned.len() >= 50, "{}", scanned.len());
    for (hex_hash, mut expected) in scanned {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&hex_hash, &mut hash).unwrap();
        let found: Vec<ReportReference> = projections.report_references(&hash);
        assert!(found.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        let mut found: Vec<(ReportKind, String, String)> = found
            .into_iter()
            .map(|reference| (reference.kind, reference.id, reference.period))
            .collect();
        found.sort_by(|a, b| (a.1.as_str(), a.2.as_str()).cmp(&(b.1.as_str(), b.2.as_str())));
        expected.sort_by(|a, b| (a.1.as_str(), a.2.as_str()).cmp(&(b.1.as_str(), b.2.as_str())));
        assert_eq!(found, expected, "{hex_hash}");
    }
}
