//! The disclosure calendar (docs/disclosures.md) over projected grants and
//! projects: each record is dated by the day its command was recorded.

mod common;

use common::*;
use mingzhang_ledger::scenario::{self, unix_ms_at_0900_cst};
use mingzhang_ledger::state::LedgerState;
use mingzhang_projections::{
    Day, DisclosureKind, ObligationKind, ObligationStatus, Projections, SubjectKind,
};
use mingzhang_proto::v1::event_envelope::Event;
use mingzhang_proto::v1::{EventEnvelope, FundKind};

fn day(text: &str) -> Day {
    Day::parse(text).expect("a test date")
}

/// Applies each event as recorded at 09:00 CST on its date.
fn given_on(events: Vec<(&str, Event)>) -> Projections {
    let mut projections = Projections::default();
    for (date, event) in events {
        let seq = projections.applied_len();
        projections
            .apply(
                seq,
                &EventEnvelope {
                    recorded_at_unix_ms: unix_ms_at_0900_cst(date),
                    event: Some(event),
                    ..Default::default()
                },
            )
            .unwrap_or_else(|not_applied| panic!("{not_applied}"));
    }
    projections
}

/// A grant awarded 2016-04-28 whose grantee filed its first two quarterly
/// reports on time and then fell silent.
fn grant_with_two_reports() -> Vec<(&'static str, Event)> {
    vec![
        ("2016-01-05", fund("kaixuan", FundKind::Unrestricted)),
        ("2016-01-05", enterprise("greentown", true)),
        (
            "2016-01-06",
            donation(Gift {
                donation_id: "d1",
                donor_id: "greentown",
                fund_id: "kaixuan",
                amount_fen: cny(100_000),
                ..Gift::default()
            }),
        ),
        ("2016-02-01", organisation("org-1")),
        ("2016-03-01", round("mv2016", "kaixuan", cny(90_000))),
        (
            "2016-03-20",
            application("app-1", "mv2016", "org-1", cny(30_000)),
        ),
        (
            "2016-04-28",
            awarded("g1", "app-1", &[(cny(30_000), false)]),
        ),
        ("2016-05-05", disbursed("g1", 0, cny(30_000), "2016-05-05")),
        ("2016-07-05", self_assessed("g1", "2016-Q2", [1; 32])),
        ("2016-10-05", self_assessed("g1", "2016-Q3", [2; 32])),
    ]
}

fn statuses(
    projections: &Projections,
    grant_id: &str,
    as_of: &str,
) -> Vec<(ObligationKind, String, ObligationStatus)> {
    projections
        .grant_disclosure_calendar(grant_id, day(as_of))
        .expect("the grant exists")
        .obligations
        .iter()
        .map(|obligation| {
            (
                obligation.kind,
                obligation.due_on.render(),
                obligation.status,
            )
        })
        .collect()
}

#[test]
fn a_missing_quarterly_report_is_overdue_after_its_due_date() {
    use ObligationKind::QuarterlyReport;
    use ObligationStatus::{NotYetDue, OnTime, Overdue};
    let projections = given_on(grant_with_two_reports());
    assert_eq!(
        statuses(&projections, "g1", "2017-02-01"),
        [
            (QuarterlyReport, "2016-07-28".into(), OnTime),
            (QuarterlyReport, "2016-10-28".into(), OnTime),
            (QuarterlyReport, "2017-01-28".into(), Overdue),
            (QuarterlyReport, "2017-04-28".into(), NotYetDue),
        ]
    );
    let calendar = projections
        .grant_disclosure_calendar("g1", day("2017-02-01"))
        .unwrap();
    assert_eq!(calendar.kind, SubjectKind::Grant);
    assert_eq!(calendar.starts_on, day("2016-04-28"));
    assert!(calendar.runs_longer_than_six_months);
    assert_eq!(calendar.overdue, 1);
    assert_eq!(
        calendar
            .disclosures
            .iter()
            .map(|record| (record.kind, record.label.as_str(), record.disclosed_on))
            .collect::<Vec<_>>(),
        [
            (DisclosureKind::SelfAssessment, "2016-Q2", day("2016-07-05")),
            (DisclosureKind::SelfAssessment, "2016-Q3", day("2016-10-05")),
        ]
    );
}

#[test]
fn a_grant_disclosed_on_time_shows_nothing_overdue_and_as_of_moves_the_answer() {
    let mut events = grant_with_two_reports();
    events.push(("2017-01-10", self_assessed("g1", "2016-Q4", [3; 32])));
    let projections = given_on(events);
    for as_of in ["2016-05-01", "2016-09-01", "2017-02-01", "2017-04-28"] {
        let calendar = projections
            .grant_disclosure_calendar("g1", day(as_of))
            .unwrap();
        assert_eq!(calendar.overdue, 0, "{as_of}: {calendar:?}");
    }
    // A day past the fourth quarter, with no fourth report, it is overdue.
    let calendar = projections
        .grant_disclosure_calendar("g1", day("2017-04-29"))
        .unwrap();
    assert_eq!(calendar.overdue, 1);
    // The day before the Q4 report was recorded it is not known yet.
    let calendar = projections
        .grant_disclosure_calendar("g1", day("2017-01-09"))
        .unwrap();
    assert_eq!(calendar.disclosures.len(), 2);
    assert_eq!(calendar.obligations[2].status, ObligationStatus::NotYetDue);
}

#[test]
fn a_closed_grant_gives_its_final_account_with_the_closure() {
    let mut events = grant_with_two_reports();
    events.pop();
    events.push(("2016-12-01", grant_closed("g1", cny(30_000), 0)));
    let projections = given_on(events);
    let calendar = projections
        .grant_disclosure_calendar("g1", day("2018-01-01"))
        .unwrap();
    assert_eq!(calendar.ended_on, day("2016-12-01"));
    let final_account = calendar.obligations.last().unwrap();
    assert_eq!(final_account.kind, ObligationKind::FinalAccount);
    assert_eq!(final_account.due_on, day("2017-03-01"));
    assert_eq!(final_account.status, ObligationStatus::OnTime);
    // The Q3 report was never filed: the quarter due 2016-10-28 stays missed.
    assert_eq!(calendar.overdue, 1);
}

#[test]
fn demo_grants_fall_overdue_after_their_third_quarter_and_its_open_projects_report_nothing() {
    let projections = demo();
    let as_of = day("2016-12-31");
    let calendars = projections.disclosure_calendars(as_of);
    let grants: Vec<_> = calendars
        .iter()
        .filter(|calendar| calendar.kind == SubjectKind::Grant)
        .collect();
    assert_eq!(grants.len(), 26);
    assert!(grants.iter().all(|grant| grant.overdue == 0), "{grants:?}");
    let later = projections.disclosure_calendars(day("2017-02-01"));
    let overdue_grants: Vec<&str> = later
        .iter()
        .filter(|calendar| calendar.kind == SubjectKind::Grant && calendar.overdue > 0)
        .map(|calendar| calendar.id.as_str())
        .collect();
    // The grant closed on 2016-12-31 owes no third quarter; the other 25 do.
    assert_eq!(overdue_grants.len(), 25, "{overdue_grants:?}");
    assert!(!overdue_grants.contains(&scenario::grant_id(25).as_str()));
    // A record is dated by the day it was recorded: the demo script records
    // grant 1's Q2 report after grant 0's Q3 one (2016-10-05), so it is late.
    let first_report = |index: usize| {
        let calendar = projections
            .grant_disclosure_calendar(&scenario::grant_id(index), as_of)
            .unwrap();
        (
            calendar.obligations[0].status,
            calendar.obligations[0].disclosed_on,
        )
    };
    assert_eq!(
        first_report(0),
        (ObligationStatus::OnTime, day("2016-07-05"))
    );
    assert_eq!(first_report(1), (ObligationStatus::Late, day("2016-10-05")));
    // The two projects completed in 2015 gave their final account on time;
    // the seven still open have run past six months with no report.
    let projects: Vec<_> = calendars
        .iter()
        .filter(|calendar| calendar.kind == SubjectKind::Project)
        .collect();
    assert_eq!(projects.len(), 9);
    for project in &projects {
        if project.ended_on.is_known() {
            assert_eq!(project.overdue, 0, "{project:?}");
            assert_eq!(project.obligations.len(), 1, "{project:?}");
            assert_eq!(project.obligations[0].status, ObligationStatus::OnTime);
        } else {
            assert!(project.overdue >= 4, "{project:?}");
        }
    }
}

fn demo() -> Projections {
    let mut state = LedgerState::default();
    let mut projections = Projections::default();
    for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate() {
        let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
            .expect("the Kaixuan scenario is valid");
        state.apply(&event);
        projections
            .apply(
                seq as u64,
                &EventEnvelope {
                    recorded_at_unix_ms: meta.at_unix_ms,
                    event: Some(event),
                    ..Default::default()
                },
            )
            .expect("the Kaixuan scenario applies");
    }
    projections
}
