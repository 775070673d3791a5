//! The operator's to-do list, from the projections: instalments overdue
//! and falling due soon, tranches waiting for an evaluation (以奖代拨),
//! disclosures overdue or due soon (docs/disclosures.md), and claimed
//! projects whose funding has not reached their budget. Each item links
//! the form that deals with it, filled in.

use maud::{Markup, html};
use mingzhang_projections::{
    Day, InstalmentStatus, ObligationStatus, ProjectStatus, Projections, TrancheStatus,
};

use crate::page::public::cny;

/// How far ahead "due soon" looks, in calendar months.
pub const DUE_SOON_MONTHS: u32 = 1;
/// Items shown per list; the rest are counted.
pub const ITEMS_SHOWN_MAX: usize = 50;

pub struct ToDo {
    pub as_of: Day,
    /// (due on, pledge, donor, unpaid fen, overdue)
    pub instalments: Vec<(Day, String, String, i64, bool)>,
    /// (grant, title, tranche index, amount fen)
    pub awaiting_evaluation: Vec<(String, String, u32, i64)>,
    /// (due on, subject id, title, kind, overdue)
    pub disclosures: Vec<(Day, String, String, &'static str, bool)>,
    /// (project, title, sponsor, received fen, budget fen)
    pub unfunded_claims: Vec<(String, String, String, i64, i64)>,
}

pub fn to_do(projections: &Projections, as_of: Day) -> ToDo {
    let soon = as_of.plus_months(DUE_SOON_MONTHS);
    let mut instalments = Vec::new();
    if let Ok(report) = projections.pledge_status(&as_of.render()) {
        for pledge in report.pledges.iter().filter(|pledge| !pledge.cancelled) {
            for instalment in &pledge.instalments {
                let overdue = instalment.status == InstalmentStatus::Overdue;
                let due_soon =
                    instalment.status == InstalmentStatus::Due && instalment.due_on <= soon;
                if overdue || due_soon {
                    instalments.push((
                        instalment.due_on,
                        pledge.pledge_id.clone(),
                        pledge.donor_id.clone(),
                        instalment.unpaid_fen,
                        overdue,
                    ));
                }
            }
        }
    }
    instalments.sort_by_key(|item| item.0);
    let mut awaiting_evaluation = Vec::new();
    for grant in projections
        .grants()
        .into_iter()
        .filter(|grant| !grant.closed)
    {
        for tranche in &grant.tranches {
            if tranche.status == TrancheStatus::AwaitingEvaluation {
                awaiting_evaluation.push((
                    grant.grant_id.clone(),
                    grant.title.clone(),
                    tranche.index,
                    tranche.amount_fen,
                ));
            }
        }
    }
    let mut disclosures = Vec::new();
    for calendar in projections.disclosure_calendars(as_of) {
        for obligation in &calendar.obligations {
            let overdue = obligation.status == ObligationStatus::Overdue;
            let due_soon = obligation.status == ObligationStatus::NotYetDue
                && obligation.due_on >= as_of
                && obligation.due_on <= soon;
            if overdue || due_soon {
                disclosures.push((
                    obligation.due_on,
                    calendar.id.clone(),
                    calendar.title.clone(),
                    obligation.kind.name(),
                    overdue,
                ));
            }
        }
    }
    disclosures.sort_by_key(|item| item.0);
    let unfunded_claims = projections
        .projects()
        .into_iter()
        .filter(|project| project.status == ProjectStatus::Claimed)
        .map(|project| {
            (
                project.project_id,
                project.title,
                project.claimant_id.unwrap_or_default(),
                project.funding_received_fen,
                project.budget_fen,
            )
        })
        .collect();
    ToDo {
        as_of,
        instalments,
        awaiting_evaluation,
        disclosures,
        unfunded_claims,
    }
}

fn more(count: usize) -> Markup {
    html! {
        @if count > ITEMS_SHOWN_MAX {
            li.small { "另有 " (count - ITEMS_SHOWN_MAX) " 项 " span lang="en" { "and " (count - ITEMS_SHOWN_MAX) " more" } }
        }
    }
}

fn nothing() -> Markup {
    html! { p.none-yet { "没有待办。 " span lang="en" { "Nothing to do." } } }
}

pub fn render(todo: &ToDo) -> Markup {
    html! {
        section #todo aria-labelledby="todo-heading" {
            h2 #todo-heading { "待办 " span lang="en" { "To do" } }
            p.small { "判断日期 " span lang="en" { "As of" } " " strong { (todo.as_of.render()) } }
            h3 { "认捐分期：逾期与一个月内到期 " span lang="en" { "Instalments overdue or due within a month" } }
            @if todo.instalments.is_empty() { (nothing()) } @else {
                ul.todo #todo-instalments {
                    @for (due_on, pledge, donor, unpaid, overdue) in todo.instalments.iter().take(ITEMS_SHOWN_MAX) {
                        li {
                            @if *overdue { strong.overdue { "逾期 " span lang="en" { "Overdue" } } " " }
                            span.date { (due_on.render()) } " · " (pledge) " · " (donor) " · "
                            span.money { (cny(*unpaid)) } " "
                            a href={"/console/receive-pledge-payment?pledge_id=" (pledge) "&amount=" (crate::money::format_fen(*unpaid))} {
                                "记录付款 " span lang="en" { "Record the payment" }
                            }
                        }
                    }
                    (more(todo.instalments.len()))
                }
            }
            h3 { "等待评估的拨付（以奖代拨） " span lang="en" { "Tranches waiting for an evaluation" } }
            @if todo.awaiting_evaluation.is_empty() { (nothing()) } @else {
                ul.todo #todo-evaluations {
                    @for (grant, title, index, amount) in todo.awaiting_evaluation.iter().take(ITEMS_SHOWN_MAX) {
                        li {
                            (grant) " · " span translate="no" { (title) } " · "
                            "第 " (index + 1) " 批 " span lang="en" { "tranche " (index + 1) } " · "
                            span.money { (cny(*amount)) } " "
                            a href={"/console/record-evaluation?grant_id=" (grant)} {
                                "记录评估 " span lang="en" { "Record the evaluation" }
                            }
                        }
                    }
                    (more(todo.awaiting_evaluation.len()))
                }
            }
            h3 { "信息公开：逾期与一个月内到期 " span lang="en" { "Disclosures overdue or due within a month" } }
            @if todo.disclosures.is_empty() { (nothing()) } @else {
                ul.todo #todo-disclosures {
                    @for (due_on, id, title, kind, overdue) in todo.disclosures.iter().take(ITEMS_SHOWN_MAX) {
                        li {
                            @if *overdue { strong.overdue { "逾期 " span lang="en" { "Overdue" } } " " }
                            span.date { (due_on.render()) } " · " (id) " · " span translate="no" { (title) } " · "
                            @if *kind == "quarterly_report" { "季度报告 " span lang="en" { "quarterly report" } }
                            @else { "最终账目 " span lang="en" { "final account" } }
                        }
                    }
                    (more(todo.disclosures.len()))
                }
            }
            h3 { "已认领、出资未到位的项目 " span lang="en" { "Claimed projects not yet funded" } }
            @if todo.unfunded_claims.is_empty() { (nothing()) } @else {
                ul.todo #todo-claims {
                    @for (project, title, sponsor, received, budget) in todo.unfunded_claims.iter().take(ITEMS_SHOWN_MAX) {
                        li {
                            (project) " · " span translate="no" { (title) } " · " (sponsor) " · "
                            span.money { (cny(*received)) " / " (cny(*budget)) } " "
                            a href={"/console/fund-project?project_id=" (project) "&sponsor_id=" (sponsor)} {
                                "记录出资 " span lang="en" { "Record a funding" }
                            }
                        }
                    }
                    (more(todo.unfunded_claims.len()))
                }
            }
        }
    }
}
