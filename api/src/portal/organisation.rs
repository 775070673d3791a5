//! `/organisation`: a social organisation's own view — its applications,
//! its awards with the tranches paid and waiting (以奖代拨: a tranche that
//! needs an evaluation first says so), its evaluations, and what to file
//! next (this quarter's self-assessment, rounds open for applications).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use mingzhang_projections::{
    ApplicationView, Day, GrantRoundView, GrantView, OrganisationView, Projections, TrancheStatus,
};

use super::{portal_html, yuan};
use crate::auth::Principal;
use crate::session::{self, SignedIn};
use crate::state::AppState;

/// Something the organisation should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// The quarterly self-assessment of `quarter` ("2016-Q3") on a grant
    /// still open, not filed yet.
    SelfAssessment { grant_id: String, quarter: String },
    /// A tranche that is paid only after an evaluation passes (以奖代拨).
    AwaitingEvaluation { grant_id: String, tranche_no: u32 },
    /// A round taking applications today that it has not applied to.
    Apply { round: GrantRoundView },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationPortal {
    pub organisation: OrganisationView,
    pub applications: Vec<ApplicationView>,
    pub grants: Vec<GrantView>,
    pub next_steps: Vec<NextStep>,
}

/// "2016-Q3" of a day.
pub fn quarter_of(day: Day) -> String {
    let month = day.month_key() % 100;
    format!("{:04}-Q{}", day.year(), month.div_ceil(3))
}

pub fn organisation_model(
    projections: &Projections,
    organisation_id: &str,
    today: Day,
) -> Option<OrganisationPortal> {
    let organisation = projections
        .organisations()
        .into_iter()
        .find(|organisation| organisation.organisation_id == organisation_id)?;
    let applications: Vec<ApplicationView> = projections
        .grant_applications(None)
        .into_iter()
        .filter(|application| application.organisation_id == organisation_id)
        .collect();
    let grants: Vec<GrantView> = projections
        .grants()
        .into_iter()
        .filter(|grant| grant.organisation_id == organisation_id)
        .collect();
    let mut next_steps = Vec::new();
    let quarter = quarter_of(today);
    for grant in grants.iter().filter(|grant| !grant.closed) {
        if !grant
            .self_assessments
            .iter()
            .any(|assessment| assessment.quarter == quarter)
        {
            next_steps.push(NextStep::SelfAssessment {
                grant_id: grant.grant_id.clone(),
                quarter: quarter.clone(),
            });
        }
        for tranche in &grant.tranches {
            if tranche.status == TrancheStatus::AwaitingEvaluation {
                next_steps.push(NextStep::AwaitingEvaluation {
                    grant_id: grant.grant_id.clone(),
                    tranche_no: tranche.index + 1,
                });
            }
        }
    }
    for round in projections.grant_rounds() {
        let taking_applications =
            round.applications_open_on <= today && today <= round.applications_close_on;
        let applied = applications
            .iter()
            .any(|application| application.round_id == round.round_id);
        if taking_applications && !applied {
            next_steps.push(NextStep::Apply { round });
        }
    }
    Some(OrganisationPortal {
        organisation,
        applications,
        grants,
        next_steps,
    })
}

fn tranche_label(status: TrancheStatus) -> (&'static str, &'static str) {
    match status {
        TrancheStatus::Paid => ("已拨付", "paid"),
        TrancheStatus::Payable => ("可拨付", "payable"),
        TrancheStatus::AwaitingEvaluation => ("待评估后拨付", "awaiting evaluation"),
        TrancheStatus::Scheduled => ("待拨付", "scheduled"),
        TrancheStatus::Closed => ("已结项退回", "returned at closure"),
    }
}

pub fn render_organisation(view: &OrganisationPortal) -> Markup {
    html! {
        h1 { (view.organisation.name) " · 社会组织 " span lang="en" { "Social organisation" } }
        section aria-labelledby="next-h" {
            h2 #next-h { "下一步 " span lang="en" { "What to file next" } }
            @if view.next_steps.is_empty() {
                p { "目前没有待办。 " span lang="en" { "Nothing to do right now." } }
            }
            ul #next-steps {
                @for step in &view.next_steps {
                    @match step {
                        NextStep::SelfAssessment { grant_id, quarter } => li {
                            "提交 " (quarter) " 季度自评报告（资助 " code { (grant_id) } "）。 "
                            span lang="en" { "File the self-assessment for " (quarter) " on grant " (grant_id) "." }
                        },
                        NextStep::AwaitingEvaluation { grant_id, tranche_no } => li {
                            "第 " (tranche_no) " 笔拨付须待评估通过（以奖代拨，资助 " code { (grant_id) } "）。 "
                            span lang="en" { "Tranche " (tranche_no) " of grant " (grant_id) " is paid after an evaluation passes." }
                        },
                        NextStep::Apply { round } => li {
                            (round.name) " 正在接受申报，截止 " (round.applications_close_on.render()) "。 "
                            span lang="en" { "Round " (round.round_id) " takes applications until " (round.applications_close_on.render()) "." }
                        },
                    }
                }
            }
        }
        section aria-labelledby="grants-h" {
            h2 #grants-h { "资助与拨付 " span lang="en" { "Awards and tranches" } }
            @if view.grants.is_empty() {
                p { "暂无资助。 " span lang="en" { "No awards yet." } }
            }
            ul.cards {
                @for grant in &view.grants {
                    li.card data-grant=(grant.grant_id) {
                        h3 { a href=(format!("/grants/{}", grant.grant_id)) { (grant.title) } }
                        dl {
                            dt { "资助额 " span lang="en" { "Awarded" } } dd { (yuan(grant.amount_fen)) }
                            dt { "已拨付 " span lang="en" { "Paid" } } dd { (yuan(grant.disbursed_fen)) }
                            dt { "待拨付 " span lang="en" { "Waiting" } } dd { (yuan(grant.outstanding_commitment_fen)) }
                        }
                        @if grant.closed { p.hint { "已结项 " span lang="en" { "Closed" } } }
                        h4 { "拨付 " span lang="en" { "Tranches" } }
                        ol.tranches {
                            @for tranche in &grant.tranches {
                                @let (zh, en) = tranche_label(tranche.status);
                                li data-status=(en) {
                                    (yuan(tranche.amount_fen)) " · " (zh) " " span lang="en" { (en) }
                                    @if tranche.status == TrancheStatus::Paid { " · " (tranche.paid_on.render()) }
                                }
                            }
                        }
                        h4 { "评估 " span lang="en" { "Evaluations" } }
                        @if grant.evaluations.is_empty() { p.hint { "暂无 " span lang="en" { "None yet" } } }
                        ul {
                            @for evaluation in &grant.evaluations {
                                li {
                                    (evaluation.period) " · " (evaluation.evaluator) " · " (evaluation.score) " 分 · "
                                    @if evaluation.passed { "通过 " span lang="en" { "passed" } } @else { "未通过 " span lang="en" { "not passed" } }
                                }
                            }
                        }
                        p.hint {
                            "已交自评 " (grant.self_assessments.len()) " 份 "
                            span lang="en" { (grant.self_assessments.len()) " self-assessments filed" }
                        }
                    }
                }
            }
        }
        section aria-labelledby="applications-h" {
            h2 #applications-h { "申报 " span lang="en" { "Applications" } }
            @if view.applications.is_empty() {
                p { "暂无申报。 " span lang="en" { "No applications yet." } }
            }
            ul {
                @for application in &view.applications {
                    li {
                        (application.title) " · " (yuan(application.requested_fen)) " · "
                        @if !application.grant_id.is_empty() { "已资助 " span lang="en" { "awarded" } }
                        @else if application.shortlisted { "已入围 " span lang="en" { "shortlisted" } }
                        @else { "已提交 " span lang="en" { "submitted" } }
                    }
                }
            }
        }
    }
}

/// `GET /organisation`.
pub async fn page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let Principal::Organisation {
        organisation_id, ..
    } = &signed_in.principal
    else {
        return session::wrong_role(&signed_in, "organisation");
    };
    let view = organisation_model(&state.projections.read(), organisation_id, super::today());
    match view {
        Some(view) => portal_html(
            StatusCode::OK,
            "社会组织 · Organisation",
            &signed_in,
            render_organisation(&view),
        ),
        None => super::sponsor::not_registered(&signed_in, organisation_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::kaixuan_projections;

    #[test]
    fn quarters_are_named_as_self_assessments_name_them() {
        let quarter = |text| quarter_of(Day::parse(text).unwrap());
        assert_eq!(quarter("2016-01-01"), "2016-Q1");
        assert_eq!(quarter("2016-03-31"), "2016-Q1");
        assert_eq!(quarter("2016-04-01"), "2016-Q2");
        assert_eq!(quarter("2016-12-31"), "2016-Q4");
    }

    #[test]
    fn an_organisation_sees_its_awards_tranches_and_what_to_file() {
        let projections = kaixuan_projections();
        let grant = projections
            .grants()
            .into_iter()
            .find(|grant| !grant.closed)
            .unwrap();
        let today = Day::parse("2030-01-01").unwrap();
        let view = organisation_model(&projections, &grant.organisation_id, today).unwrap();
        assert!(
            view.grants
                .iter()
                .all(|g| g.organisation_id == grant.organisation_id)
        );
        assert!(
            view.applications
                .iter()
                .all(|a| a.organisation_id == grant.organisation_id)
        );
        assert!(view.next_steps.contains(&NextStep::SelfAssessment {
            grant_id: grant.grant_id.clone(),
            quarter: "2030-Q1".into(),
        }));
        let html = render_organisation(&view).into_string();
        assert!(html.contains(&grant.title));
        assert!(html.contains(&format!("data-grant=\"{}\"", grant.grant_id)));
        assert!(organisation_model(&projections, "no-such-org", today).is_none());
    }
}
