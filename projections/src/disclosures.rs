//! 信息公开: the disclosure calendar of every grant and project
//! (docs/disclosures.md). The Charity Law (amended 2023) asks a project
//! that runs longer than six months to report at least every three months,
//! and every project for a final account, leftover money included, within
//! three months of its end.
//!
//! Nothing here is applied: `apply` only stamps each disclosing record with
//! its seq and recorded day (`Disclosed`), so the rebuild pays nothing for
//! the calendar. [`disclosure_obligations`] is a pure function of one run's
//! dates, its disclosures and the day it is judged on.

use serde::Serialize;

use crate::{Day, Projections};

/// A run longer than this many months owes quarterly reports.
pub const LONG_RUN_MONTHS: u32 = 6;
/// A long run reports at least this often, counted from its start.
pub const QUARTERLY_REPORT_MONTHS: u32 = 3;
/// The final account is due this many months after the end.
pub const FINAL_ACCOUNT_MONTHS: u32 = 3;
/// Quarters one run is judged over at most (a century): a bound on the
/// loop, far past any real grant or project.
const QUARTERS_MAX: u32 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Grant,
    Project,
}

impl SubjectKind {
    pub fn name(self) -> &'static str {
        match self {
            SubjectKind::Grant => "grant",
            SubjectKind::Project => "project",
        }
    }
}

/// The records that count as a disclosure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisclosureKind {
    /// 自评报告, filed by the grantee.
    SelfAssessment,
    /// 评估, by the evaluator.
    Evaluation,
    /// A grant's closure: what was paid and what returned to the fund.
    GrantClosure,
    /// A project's completion (结项) report.
    ProjectCompletion,
}

impl DisclosureKind {
    pub fn name(self) -> &'static str {
        match self {
            DisclosureKind::SelfAssessment => "self_assessment",
            DisclosureKind::Evaluation => "evaluation",
            DisclosureKind::GrantClosure => "grant_closure",
            DisclosureKind::ProjectCompletion => "project_completion",
        }
    }
}

/// One disclosing record, dated by the day it entered the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosureRecord {
    pub seq: u64,
    pub kind: DisclosureKind,
    /// The quarter, period, closure reason or completion summary recorded.
    pub label: String,
    pub disclosed_on: Day,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationKind {
    QuarterlyReport,
    FinalAccount,
}

impl ObligationKind {
    pub fn name(self) -> &'static str {
        match self {
            ObligationKind::QuarterlyReport => "quarterly_report",
            ObligationKind::FinalAccount => "final_account",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationStatus {
    /// Disclosed by the due date.
    OnTime,
    /// Disclosed, after the due date.
    Late,
    /// Past its due date with nothing disclosed, as of the day judged.
    Overdue,
    /// Not past its due date, or (a quarterly report) not owed unless the
    /// run goes past six months.
    NotYetDue,
}

impl ObligationStatus {
    pub fn name(self) -> &'static str {
        match self {
            ObligationStatus::OnTime => "on_time",
            ObligationStatus::Late => "late",
            ObligationStatus::Overdue => "overdue",
            ObligationStatus::NotYetDue => "not_yet_due",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Obligation {
    pub kind: ObligationKind,
    pub due_on: Day,
    pub status: ObligationStatus,
    /// The record that met it; `None` while unmet.
    pub met_by_seq: Option<u64>,
    /// When it was met; unknown while unmet.
    pub disclosed_on: Day,
}

/// What the rules are judged on for one grant or project.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Unknown: nothing is due yet (a grant neither dated nor paid).
    pub starts_on: Day,
    /// The day it ended and the record that says so and gives the final
    /// account (a grant's closure, a project's completion report), one of
    /// `disclosures`; `None` while it runs.
    pub ending: Option<(Day, &'a DisclosureRecord)>,
    /// Every disclosing record, the ending one included.
    pub disclosures: &'a [DisclosureRecord],
}

/// The disclosures `run` owes as of `as_of`, each with whether and when it
/// was met. Records after `as_of` are not known on that day, and neither is
/// an end recorded after it.
///
/// - Quarterly reports fall due `3k` calendar months after the start (k =
///   1, 2, ...) up to the end, or while it runs up to the first one after
///   `as_of`. They are owed once the run is longer than six months: a run
///   that ended within six months owes none, and one still running has
///   nothing overdue until it passes six months.
/// - Each report due is met by the earliest disclosure not used by an
///   earlier one and made on or after the previous due date (the start for
///   the first); the ending record is kept for the final account.
/// - The final account is due three months after the end and is met by the
///   ending record.
pub fn disclosure_obligations(run: &Run<'_>, as_of: Day) -> Vec<Obligation> {
    assert!(as_of.is_known(), "the calendar is judged on a known day");
    if !run.starts_on.is_known() || run.starts_on > as_of {
        return Vec::new();
    }
    let ending_seq = run.ending.map(|(_, record)| record.seq);
    let ended_on = run
        .ending
        .filter(|(_, record)| record.disclosed_on <= as_of)
        .map(|(ended_on, _)| ended_on);
    let mut reports: Vec<&DisclosureRecord> = run
        .disclosures
        .iter()
        .filter(|record| record.disclosed_on <= as_of && Some(record.seq) != ending_seq)
        .collect();
    reports.sort_by_key(|record| (record.disclosed_on, record.seq));
    let long_run_from = run.starts_on.plus_months(LONG_RUN_MONTHS);
    let runs_long = match ended_on {
        Some(ended_on) => ended_on > long_run_from,
        None => as_of > long_run_from,
    };
    let mut obligations = Vec::new();
    if ended_on.is_none() || runs_long {
        let mut used = vec![false; reports.len()];
        let mut previous_due = run.starts_on;
        for quarter in 1..=QUARTERS_MAX {
            if quarter > 1 && ended_on.is_none() && previous_due > as_of {
                break;
            }
            let due_on = run.starts_on.plus_months(QUARTERLY_REPORT_MONTHS * quarter);
            if !due_on.is_known() || ended_on.is_some_and(|ended_on| due_on >= ended_on) {
                break;
            }
            let met = (0..reports.len()).find(|&position| {
                !used[position] && reports[position].disclosed_on >= previous_due
            });
            let obligation = match met {
                Some(position) => {
                    used[position] = true;
                    met_obligation(ObligationKind::QuarterlyReport, due_on, reports[position])
                }
                None => unmet_obligation(
                    ObligationKind::QuarterlyReport,
                    due_on,
                    runs_long && as_of > due_on,
                ),
            };
            obligations.push(obligation);
            previous_due = due_on;
        }
    }
    if let (Some(ended_on), Some((_, ending))) = (ended_on, run.ending) {
        let due_on = ended_on.plus_months(FINAL_ACCOUNT_MONTHS);
        obligations.push(met_obligation(ObligationKind::FinalAccount, due_on, ending));
    }
    obligations
}

fn met_obligation(kind: ObligationKind, due_on: Day, record: &DisclosureRecord) -> Obligation {
    Obligation {
        kind,
        due_on,
        status: if record.disclosed_on <= due_on {
            ObligationStatus::OnTime
        } else {
            ObligationStatus::Late
        },
        met_by_seq: Some(record.seq),
        disclosed_on: record.disclosed_on,
    }
}

fn unmet_obligation(kind: ObligationKind, due_on: Day, overdue: bool) -> Obligation {
    Obligation {
        kind,
        due_on,
        status: if overdue {
            ObligationStatus::Overdue
        } else {
            ObligationStatus::NotYetDue
        },
        met_by_seq: None,
        disclosed_on: Day::UNKNOWN,
    }
}

/// One grant's or project's calendar as of a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosureCalendar {
    pub kind: SubjectKind,
    pub id: String,
    pub title: String,
    /// A grant's award date (its first payment's for an award recorded
    /// without one); a project's publication. Unknown: nothing is due yet.
    pub starts_on: Day,
    /// The grant's closure or the project's completion, as known on `as_of`.
    pub ended_on: Day,
    pub runs_longer_than_six_months: bool,
    pub obligations: Vec<Obligation>,
    /// What it disclosed by `as_of`, in log order.
    pub disclosures: Vec<DisclosureRecord>,
    pub overdue: u32,
}

impl Projections {
    /// Every grant's calendar (in award order), then every project's (by
    /// project id), as of `as_of`.
    pub fn disclosure_calendars(&self, as_of: Day) -> Vec<DisclosureCalendar> {
        let mut calendars: Vec<DisclosureCalendar> = (0..self.grants.len())
            .map(|index| self.grant_calendar(index, as_of))
            .collect();
        let mut projects: Vec<DisclosureCalendar> = (0..self.projects.len())
            .map(|index| self.project_calendar(index, as_of))
            .collect();
        projects.sort_by(|a, b| a.id.cmp(&b.id));
        calendars.extend(projects);
        calendars
    }

    pub fn grant_disclosure_calendar(
        &self,
        grant_id: &str,
        as_of: Day,
    ) -> Option<DisclosureCalendar> {
        let index = self.grants.index_of(grant_id)?;
        Some(self.grant_calendar(index as usize, as_of))
    }

    pub fn project_disclosure_calendar(
        &self,
        project_id: &str,
        as_of: Day,
    ) -> Option<DisclosureCalendar> {
        let index = self.projects.index_of(project_id)?;
        Some(self.project_calendar(index as usize, as_of))
    }

    fn grant_calendar(&self, index: usize, as_of: Day) -> DisclosureCalendar {
        let grant = &self.grants[index];
        let mut disclosures: Vec<DisclosureRecord> = grant
            .self_assessments
            .iter()
            .map(|assessment| {
                record(
                    assessment.disclosed,
                    DisclosureKind::SelfAssessment,
                    &assessment.quarter,
                )
            })
            .chain(grant.evaluations.iter().map(|evaluation| {
                record(
                    evaluation.disclosed,
                    DisclosureKind::Evaluation,
                    &evaluation.period,
                )
            }))
            .chain(grant.closure.iter().map(|closure| {
                record(
                    closure.disclosed,
                    DisclosureKind::GrantClosure,
                    &closure.reason,
                )
            }))
            .collect();
        disclosures.sort_by_key(|record| record.seq);
        let starts_on = if grant.awarded_on.is_known() {
            grant.awarded_on
        } else {
            grant
                .tranches
                .iter()
                .find_map(|tranche| tranche.paid.map(|(_, paid_on)| paid_on))
                .unwrap_or(Day::UNKNOWN)
        };
        let ending = grant.closure.as_ref().map(|closure| closure.disclosed);
        let title = self.applications[grant.application as usize].title.clone();
        calendar(
            SubjectKind::Grant,
            grant.id.to_string(),
            title,
            starts_on,
            ending.map(|d| (d.on, d.seq)),
            disclosures,
            as_of,
        )
    }

    fn project_calendar(&self, index: usize, as_of: Day) -> DisclosureCalendar {
        let project = &self.projects[index];
        let disclosures: Vec<DisclosureRecord> = project
            .completion
            .iter()
            .map(|completion| {
                record(
                    completion.disclosed,
                    DisclosureKind::ProjectCompletion,
                    &completion.summary,
                )
            })
            .collect();
        let ending = project
            .completion
            .as_ref()
            .map(|completion| (completion.completed_on, completion.disclosed.seq));
        calendar(
            SubjectKind::Project,
            project.id.to_string(),
            project.title.clone(),
            project.published_on,
            ending,
            disclosures,
            as_of,
        )
    }
}

fn record(disclosed: crate::Disclosed, kind: DisclosureKind, label: &str) -> DisclosureRecord {
    DisclosureRecord {
        seq: disclosed.seq,
        kind,
        label: label.to_owned(),
        disclosed_on: disclosed.on,
    }
}

/// `ending` is (the day it ended, the seq of the record that says so).
fn calendar(
    kind: SubjectKind,
    id: String,
    title: String,
    starts_on: Day,
    ending: Option<(Day, u64)>,
    disclosures: Vec<DisclosureRecord>,
    as_of: Day,
) -> DisclosureCalendar {
    let ending = ending.map(|(ended_on, seq)| {
        let record = disclosures
            .iter()
            .find(|record| record.seq == seq)
            .expect("the ending record is one of the disclosures");
        (ended_on, record)
    });
    let run = Run {
        starts_on,
        ending,
        disclosures: &disclosures,
    };
    let obligations = disclosure_obligations(&run, as_of);
    let ended_on = ending
        .filter(|(_, record)| record.disclosed_on <= as_of)
        .map_or(Day::UNKNOWN, |(ended_on, _)| ended_on);
    let runs_longer_than_six_months = starts_on.is_known()
        && starts_on <= as_of
        && if ended_on.is_known() { ended_on } else { as_of }
            > starts_on.plus_months(LONG_RUN_MONTHS);
    let overdue = obligations
        .iter()
        .filter(|obligation| obligation.status == ObligationStatus::Overdue)
        .count() as u32;
    let known: Vec<DisclosureRecord> = disclosures
        .into_iter()
        .filter(|record| record.disclosed_on <= as_of)
        .collect();
    DisclosureCalendar {
        kind,
        id,
        title,
        starts_on,
        ended_on,
        runs_longer_than_six_months,
        obligations,
        disclosures: known,
        overdue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        Day::parse(text).expect("a test date")
    }

    fn report(seq: u64, on: &str) -> DisclosureRecord {
        DisclosureRecord {
            seq,
            kind: DisclosureKind::SelfAssessment,
            label: format!("report {seq}"),
            disclosed_on: day(on),
        }
    }

    fn statuses(obligations: &[Obligation]) -> Vec<(ObligationKind, String, ObligationStatus)> {
        obligations
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

    use ObligationKind::{FinalAccount, QuarterlyReport};
    use ObligationStatus::{Late, NotYetDue, OnTime, Overdue};

    #[test]
    fn a_long_grant_missing_its_third_quarterly_report_is_overdue() {
        let reports = [report(10, "2016-07-05"), report(11, "2016-10-05")];
        let run = Run {
            starts_on: day("2016-04-28"),
            ending: None,
            disclosures: &reports,
        };
        assert_eq!(
            statuses(&disclosure_obligations(&run, day("2017-02-01"))),
            [
                (QuarterlyReport, "2016-07-28".into(), OnTime),
                (QuarterlyReport, "2016-10-28".into(), OnTime),
                (QuarterlyReport, "2017-01-28".into(), Overdue),
                (QuarterlyReport, "2017-04-28".into(), NotYetDue),
            ]
        );
    }

    #[test]
    fn as_of_moves_the_answer() {
        let reports = [report(10, "2016-07-05"), report(11, "2016-10-05")];
        let run = Run {
            starts_on: day("2016-04-28"),
            ending: None,
            disclosures: &reports,
        };
        // On the due date itself nothing is late yet.
        let on_due_date = disclosure_obligations(&run, day("2017-01-28"));
        assert!(
            on_due_date.iter().all(|o| o.status != Overdue),
            "{on_due_date:?}"
        );
        // Before the second report was filed, it was not yet owed.
        assert_eq!(
            statuses(&disclosure_obligations(&run, day("2016-09-01"))),
            [
                (QuarterlyReport, "2016-07-28".into(), OnTime),
                (QuarterlyReport, "2016-10-28".into(), NotYetDue),
            ]
        );
        // Before the run passed six months, a missing first report is not overdue.
        let silent = Run {
            disclosures: &[],
            ..run
        };
        assert_eq!(
            statuses(&disclosure_obligations(&silent, day("2016-10-28"))),
            [
                (QuarterlyReport, "2016-07-28".into(), NotYetDue),
                (QuarterlyReport, "2016-10-28".into(), NotYetDue),
                (QuarterlyReport, "2017-01-28".into(), NotYetDue),
            ]
        );
        // A day after it passed six months, both are.
        assert_eq!(
            statuses(&disclosure_obligations(&silent, day("2016-10-29"))),
            [
                (QuarterlyReport, "2016-07-28".into(), Overdue),
                (QuarterlyReport, "2016-10-28".into(), Overdue),
                (QuarterlyReport, "2017-01-28".into(), NotYetDue),
            ]
        );
        // Before it started, nothing.
        assert!(disclosure_obligations(&run, day("2016-04-27")).is_empty());
    }

    #[test]
    fn a_late_report_meets_its_quarter_late_and_the_next_quarter_still_needs_its_own() {
        let reports = [report(10, "2016-09-01")];
        let run = Run {
            starts_on: day("2016-04-28"),
            ending: None,
            disclosures: &reports,
        };
        let obligations = disclosure_obligations(&run, day("2016-12-01"));
        assert_eq!(
            statuses(&obligations),
            [
                (QuarterlyReport, "2016-07-28".into(), Late),
                (QuarterlyReport, "2016-10-28".into(), Overdue),
                (QuarterlyReport, "2017-01-28".into(), NotYetDue),
            ]
        );
        assert_eq!(obligations[0].met_by_seq, Some(10));
        assert_eq!(obligations[0].disclosed_on, day("2016-09-01"));
    }

    #[test]
    fn a_run_ended_within_six_months_owes_only_its_final_account() {
        let completion = DisclosureRecord {
            kind: DisclosureKind::ProjectCompletion,
            ..report(20, "2015-12-20")
        };
        let disclosures = [completion.clone()];
        let run = Run {
            starts_on: day("2015-08-01"),
            ending: Some((day("2015-12-20"), &completion)),
            disclosures: &disclosures,
        };
        assert_eq!(
            statuses(&disclosure_obligations(&run, day("2017-01-01"))),
            [(FinalAccount, "2016-03-20".into(), OnTime)]
        );
        // Known only from the day the completion was recorded.
        assert_eq!(
            statuses(&disclosure_obligations(&run, day("2015-12-19"))),
            [
                (QuarterlyReport, "2015-11-01".into(), NotYetDue),
                (QuarterlyReport, "2016-02-01".into(), NotYetDue),
            ]
        );
    }

    #[test]
    fn a_completion_recorded_more_than_three_months_after_the_end_is_a_late_final_account() {
        let completion = DisclosureRecord {
            kind: DisclosureKind::ProjectCompletion,
            ..report(20, "2016-05-01")
        };
        let disclosures = [completion.clone()];
        let run = Run {
            starts_on: day("2015-08-01"),
            ending: Some((day("2015-12-20"), &completion)),
            disclosures: &disclosures,
        };
        assert_eq!(
            statuses(&disclosure_obligations(&run, day("2016-06-01"))),
            [(FinalAccount, "2016-03-20".into(), Late)]
        );
    }

    #[test]
    fn a_closed_long_grant_keeps_its_missed_quarter_and_its_closure_is_the_final_account() {
        let closure = DisclosureRecord {
            kind: DisclosureKind::GrantClosure,
            ..report(30, "2016-12-31")
        };
        let disclosures = [report(10, "2016-07-05"), closure.clone()];
        let run = Run {
            starts_on: day("2016-04-28"),
            ending: Some((day("2016-12-31"), &closure)),
            disclosures: &disclosures,
        };
        let obligations = disclosure_obligations(&run, day("2017-06-01"));
        assert_eq!(
            statuses(&obligations),
            [
                (QuarterlyReport, "2016-07-28".into(), OnTime),
                (QuarterlyReport, "2016-10-28".into(), Overdue),
                (FinalAccount, "2017-03-31".into(), OnTime),
            ]
        );
        assert_eq!(obligations[2].met_by_seq, Some(30));
    }

    #[test]
    fn an_undated_unpaid_grant_owes_nothing_yet() {
        let run = Run {
            starts_on: Day::UNKNOWN,
            ending: None,
            disclosures: &[],
        };
        assert!(disclosure_obligations(&run, day("2030-01-01")).is_empty());
    }
}
