//! 信息公开: a grant's or project's disclosure calendar on its page
//! (docs/disclosures.md), judged as of the page's stated date.

use maud::{Markup, html};
use mingzhang_projections::{DisclosureCalendar, DisclosureKind, ObligationKind, ObligationStatus};

use super::render::{Lang, none_yet, recorded};

fn obligation_name(lang: Lang, kind: ObligationKind) -> &'static str {
    match kind {
        ObligationKind::QuarterlyReport => lang.t("季度报告", "quarterly report"),
        ObligationKind::FinalAccount => lang.t(
            "结项财务报告（含结余资金去向）",
            "final account (leftover money included)",
        ),
    }
}

fn disclosure_name(lang: Lang, kind: DisclosureKind) -> &'static str {
    match kind {
        DisclosureKind::SelfAssessment => lang.t("自评报告", "self-assessment"),
        DisclosureKind::Evaluation => lang.t("评估", "evaluation"),
        DisclosureKind::GrantClosure => lang.t("结项", "closure"),
        DisclosureKind::ProjectCompletion => lang.t("结项报告", "completion report"),
    }
}

fn status(lang: Lang, status: ObligationStatus) -> Markup {
    html! {
        @match status {
            ObligationStatus::OnTime => { (lang.t("按时公开", "on time")) }
            ObligationStatus::Late => { (lang.t("逾期后公开", "disclosed late")) }
            ObligationStatus::Overdue => { strong.overdue { (lang.t("已逾期", "overdue")) } }
            ObligationStatus::NotYetDue => { (lang.t("未到期", "not yet due")) }
        }
    }
}

/// The section: the rule in one sentence, what is owed and when, what was
/// disclosed.
pub fn disclosure_section(lang: Lang, calendar: &DisclosureCalendar, as_of: &str) -> Markup {
    html! {
        section #disclosures {
            h2 { (lang.t("信息公开", "Disclosures")) }
            p.small {
                (lang.t("按《慈善法》，实施超过六个月的项目至少每三个月公开一次进展；结束后三个月内公开结项财务报告，包括结余资金的去向。以下按 ",
                    "Under the Charity Law a project running longer than six months reports at least every three months, and gives a final account, leftover money included, within three months of its end. Judged as of "))
                (as_of)
                (lang.t(" 判断。", "."))
            }
            @if calendar.overdue > 0 {
                p #disclosures-overdue { strong.overdue { (lang.t("逾期未公开：", "Overdue: ")) (calendar.overdue) (lang.t(" 项", "")) } }
            }
            @if calendar.obligations.is_empty() { (none_yet(lang)) } @else {
                div.scroll { table {
                    thead { tr { th { (lang.t("应公开", "Owed")) } th.date { (lang.t("截止日期", "Due by")) } th { (lang.t("状态", "Status")) } th.date { (lang.t("公开日期", "Disclosed on")) } } }
                    tbody { @for obligation in &calendar.obligations {
                        tr {
                            td data-label=(lang.t("应公开", "Owed")) { (obligation_name(lang, obligation.kind)) }
                            td.date data-label=(lang.t("截止日期", "Due by")) { (obligation.due_on.render()) }
                            td data-label=(lang.t("状态", "Status")) { (status(lang, obligation.status)) }
                            td.date data-label=(lang.t("公开日期", "Disclosed on")) { (obligation.disclosed_on.render()) }
                        }
                    } }
                } }
            }
            h3 { (lang.t("已公开", "Disclosed")) }
            @if calendar.disclosures.is_empty() { (none_yet(lang)) }
            ul { @for record in &calendar.disclosures {
                li { (record.disclosed_on.render()) " · " (disclosure_name(lang, record.kind)) " · " (recorded(&record.label))
                    " · " (lang.t("账本记录 #", "log record #")) (record.seq) }
            } }
        }
    }
}
