//! `/sponsor`: a sponsor's own account — its pledges with the instalments
//! due and overdue, what its money paid for (善款去向), its receipts to
//! open, download or share, and the projects it claimed with their
//! progress.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use mingzhang_projections::{
    Day, DonationEntry, DonorFlowSummary, DonorView, IncomeKind, OutflowKind, PledgeView,
    ProjectStatus, ProjectView, Projections,
};

use super::{portal_html, yuan};
use crate::auth::Principal;
use crate::session::{self, SignedIn};
use crate::state::AppState;

/// Receipts listed at most: the newest; older ones stay reachable from the
/// receipt links already handed out.
pub const RECEIPTS_SHOWN_MAX: usize = 20;
/// Outflows listed at most under "what your money paid for"; the sums
/// cover them all.
pub const PAID_FOR_SHOWN_MAX: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstalmentState {
    Paid,
    Due,
    Overdue,
    /// The pledge was cancelled: nothing more is expected.
    Waived,
}

impl InstalmentState {
    fn label(self) -> (&'static str, &'static str, &'static str) {
        match self {
            InstalmentState::Paid => ("已付", "paid", "status-paid"),
            InstalmentState::Due => ("待付", "due", "status-due"),
            InstalmentState::Overdue => ("逾期", "overdue", "status-overdue"),
            InstalmentState::Waived => ("已免", "waived", ""),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalmentLine {
    pub due_on: Day,
    pub amount_fen: i64,
    pub unpaid_fen: i64,
    pub state: InstalmentState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeLine {
    pub pledge: PledgeView,
    pub instalments: Vec<InstalmentLine>,
}

/// A donation's receipt: `seq` opens its link, if one was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    pub donation: DonationEntry,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SponsorPortal {
    pub donor: DonorView,
    pub today: Day,
    pub pledges: Vec<PledgeLine>,
    pub flows: DonorFlowSummary,
    pub receipts: Vec<ReceiptLine>,
    pub claimed: Vec<ProjectView>,
}

/// An instalment's state on `today`: payments fulfil the earliest first
/// (`PledgeView`), what is unpaid is due from its date on and overdue after.
pub fn instalment_state(paid: bool, cancelled: bool, due_on: Day, today: Day) -> InstalmentState {
    if paid {
        InstalmentState::Paid
    } else if cancelled {
        InstalmentState::Waived
    } else if due_on >= today {
        InstalmentState::Due
    } else {
        InstalmentState::Overdue
    }
}

/// The portal of donor `donor_id` on `today`, or `None` for a donor the
/// log does not know (a token bound to a donor not registered yet).
pub fn sponsor_model(
    projections: &Projections,
    donor_id: &str,
    today: Day,
) -> Option<SponsorPortal> {
    let donor = projections.donor(donor_id)?;
    let pledges = projections
        .pledges_of(donor_id)
        .into_iter()
        .map(|pledge| {
            let instalments = pledge
                .instalments
                .iter()
                .map(|instalment| {
                    let paid = instalment.paid_fen >= instalment.amount_fen;
                    InstalmentLine {
                        due_on: instalment.due_on,
                        amount_fen: instalment.amount_fen,
                        unpaid_fen: if paid || pledge.cancelled {
                            0
                        } else {
                            instalment.amount_fen - instalment.paid_fen
                        },
                        state: instalment_state(paid, pledge.cancelled, instalment.due_on, today),
                    }
                })
                .collect();
            PledgeLine {
                pledge,
                instalments,
            }
        })
        .collect();
    let receipts = projections
        .newest_donations_of(donor_id, RECEIPTS_SHOWN_MAX)
        .into_iter()
        .map(|donation| {
            let seq = projections
                .gift_record_seq(IncomeKind::Donation, &donation.donation_id)
                .expect("a listed donation was recorded");
            ReceiptLine { donation, seq }
        })
        .collect();
    let claimed = donor
        .projects_claimed
        .iter()
        .filter_map(|project_id| projections.project(project_id))
        .collect();
    Some(SponsorPortal {
        flows: projections.donor_flow_summary(donor_id, |_| true),
        donor,
        today,
        pledges,
        receipts,
        claimed,
    })
}

fn outflow_label(kind: OutflowKind) -> (&'static str, &'static str) {
    match kind {
        OutflowKind::GrantTranche => ("微创投拨付", "grant tranche"),
        OutflowKind::Expenditure => ("支出", "expenditure"),
        OutflowKind::DonationRefund => ("退款", "refund"),
        OutflowKind::DonationReversal => ("冲正", "reversal"),
    }
}

pub fn project_status_label(status: ProjectStatus) -> (&'static str, &'static str) {
    match status {
        ProjectStatus::Published => ("待认领", "open"),
        ProjectStatus::Claimed => ("已认领", "claimed"),
        ProjectStatus::Funded => ("已筹足", "funded"),
        ProjectStatus::Completed => ("已完成", "completed"),
    }
}

/// A bar of `part` out of `whole`, with its percentage for screen readers.
pub fn meter(part_fen: i64, whole_fen: i64, label: &str) -> Markup {
    let percent = if whole_fen > 0 {
        (i128::from(part_fen.max(0)) * 100 / i128::from(whole_fen)).min(100) as i64
    } else {
        0
    };
    html! {
        div.meter role="progressbar" aria-label=(label) aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=(percent) {
            span style=(format!("width:{percent}%")) {}
        }
    }
}

/// The page's body; `receipt_link(seq)` is the donation's `/r/<code>`.
pub fn render_sponsor(
    view: &SponsorPortal,
    receipt_link: &dyn Fn(u64) -> Option<String>,
    claimed_now: Option<&str>,
    pledge_refused: Option<&super::Refusal>,
) -> Markup {
    html! {
        h1 { (view.donor.name) " · 企业账户 " span lang="en" { "Sponsor account" } }
        @if let Some(project_id) = claimed_now {
            p.done #claim-done role="status" {
                "已认领项目 " code { (project_id) } "。 "
                span lang="en" { "You claimed project " (project_id) "." }
            }
        }
        @if let Some(refusal) = pledge_refused {
            section #pledge-refused {
                h2 { "认捐未记录 " span lang="en" { "The pledge was not recorded" } }
                (refusal.render("pledge-error"))
            }
        }
        nav { p {
            a href="/sponsor/market" { "项目超市 " span lang="en" { "Project market" } }
            " · "
            a href=(format!("/sponsors/{}", view.donor.donor_id)) { "公开页 " span lang="en" { "Public page" } }
        } }
        @if !view.donor.alliance_member {
            p.hint { "贵单位不是凯联盟成员单位，不能认领项目。 " span lang="en" { "Your unit is not an alliance member unit, so it cannot claim projects." } }
        }
        section aria-labelledby="pledges-h" {
            h2 #pledges-h { "认捐 " span lang="en" { "Pledges" } }
            @if view.pledges.is_empty() {
                p { "暂无认捐。 " span lang="en" { "No pledges." } }
            }
            ul.cards {
                @for line in &view.pledges {
                    li.card {
                        h3 { code { (line.pledge.pledge_id) } }
                        dl {
                            dt { "认捐总额 " span lang="en" { "Pledged" } } dd { (yuan(line.pledge.total_fen)) }
                            dt { "已付 " span lang="en" { "Paid" } } dd { (yuan(line.pledge.paid_fen)) }
                            dt { "基金 " span lang="en" { "Fund" } } dd { code { (line.pledge.fund_id) } }
                        }
                        @if line.pledge.cancelled { p.hint { "已取消 " span lang="en" { "Cancelled" } } }
                        ol {
                            @for instalment in &line.instalments {
                                @let (zh, en, class) = instalment.state.label();
                                li.(class) data-state=(en) {
                                    (instalment.due_on.render()) " · " (yuan(instalment.amount_fen)) " · "
                                    (zh) " " span lang="en" { (en) }
                                    @if instalment.unpaid_fen > 0 && instalment.unpaid_fen != instalment.amount_fen {
                                        " (" "未付 " (yuan(instalment.unpaid_fen)) ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="flows-h" {
            h2 #flows-h { "善款去向 " span lang="en" { "What your money paid for" } }
            p {
                "捐出 " (yuan(view.flows.given_fen)) "，尚未使用 " (yuan(view.flows.unspent_fen)) "。 "
                span lang="en" { "Given " (yuan(view.flows.given_fen)) ", not yet spent " (yuan(view.flows.unspent_fen)) "." }
            }
            ul {
                @for outflow in view.flows.paid_for.iter().take(PAID_FOR_SHOWN_MAX) {
                    @let (zh, en) = outflow_label(outflow.kind);
                    li {
                        (outflow.date.render()) " · " (zh) " " span lang="en" { (en) } " "
                        code { (outflow.reference_id) }
                        @if !outflow.project_id.is_empty() { " → " a href=(format!("/projects/{}", outflow.project_id)) { (outflow.project_id) } }
                        " · " (yuan(outflow.amount_fen))
                    }
                }
            }
            @if view.flows.paid_for.len() > PAID_FOR_SHOWN_MAX {
                p.hint { "另有 " (view.flows.paid_for.len() - PAID_FOR_SHOWN_MAX) " 笔。 " span lang="en" { "And " (view.flows.paid_for.len() - PAID_FOR_SHOWN_MAX) " more." } }
            }
        }
        section aria-labelledby="receipts-h" {
            h2 #receipts-h { "收据 " span lang="en" { "Receipts" } }
            @if view.receipts.is_empty() {
                p { "暂无捐赠。 " span lang="en" { "No donations yet." } }
            }
            ul {
                @for receipt in &view.receipts {
                    li {
                        (receipt.donation.received_on.render()) " · " (yuan(receipt.donation.amount_fen)) " · "
                        code { (receipt.donation.donation_id) } " · "
                        @match receipt_link(receipt.seq) {
                            Some(link) => {
                                a href=(link) { "查看收据 " span lang="en" { "Open receipt" } } " · "
                                a href=(format!("{link}/receipt.json")) download { "下载 " span lang="en" { "Download" } } " · "
                                label for=(format!("share-{}", receipt.seq)) { "分享链接 " span lang="en" { "Share link" } }
                                " " input id=(format!("share-{}", receipt.seq)) type="text" readonly value=(link);
                            }
                            None => { span.hint { "尚无收据链接 " span lang="en" { "No receipt link issued" } } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="claimed-h" {
            h2 #claimed-h { "认领的项目 " span lang="en" { "Projects you claimed" } }
            @if view.claimed.is_empty() {
                p { "暂无。 " span lang="en" { "None yet." } " " a href="/sponsor/market" { "去项目超市 " span lang="en" { "Go to the market" } } }
            }
            ul.cards {
                @for project in &view.claimed {
                    @let (zh, en) = project_status_label(project.status);
                    li.card data-project=(project.project_id) {
                        h3 { a href=(format!("/projects/{}", project.project_id)) { (project.title) } }
                        p { (zh) " " span lang="en" { (en) } }
                        (meter(project.funding_received_fen, project.budget_fen, "筹款进度 Funding"))
                        dl {
                            dt { "预算 " span lang="en" { "Budget" } } dd { (yuan(project.budget_fen)) }
                            dt { "已筹 " span lang="en" { "Received" } } dd { (yuan(project.funding_received_fen)) }
                            dt { "已支出 " span lang="en" { "Spent" } } dd { (yuan(project.spent_fen)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /sponsor` (`?claimed=<project>` after a claim).
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let claimed_now = query
        .iter()
        .find(|(key, _)| key == "claimed")
        .map(|(_, value)| value.as_str());
    sponsor_response(&state, &signed_in, claimed_now, None)
}

/// The sponsor's page, saying it just claimed `claimed_now` and, when the
/// pledge made with the claim was refused, why.
pub fn sponsor_response(
    state: &AppState,
    signed_in: &SignedIn,
    claimed_now: Option<&str>,
    pledge_refused: Option<&super::Refusal>,
) -> Response {
    let Principal::Sponsor { donor_id, .. } = &signed_in.principal else {
        return session::wrong_role(signed_in, "sponsor");
    };
    let view = sponsor_model(&state.projections.read(), donor_id, super::today());
    let Some(view) = view else {
        return not_registered(signed_in, donor_id);
    };
    // Said only of a claim the sponsor holds, so a link cannot make the
    // page claim what did not happen.
    let claimed_now = claimed_now.filter(|project_id| {
        view.claimed
            .iter()
            .any(|project| project.project_id == *project_id)
    });
    let links = state.receipt_links.clone();
    let receipt_link = move |seq: u64| {
        links
            .as_ref()
            .and_then(|links| links.code_of(seq))
            .map(|code| code.link())
    };
    portal_html(
        if pledge_refused.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "企业账户 · Sponsor",
        signed_in,
        render_sponsor(&view, &receipt_link, claimed_now, pledge_refused),
    )
}

pub fn not_registered(signed_in: &SignedIn, donor_id: &str) -> Response {
    portal_html(
        StatusCode::NOT_FOUND,
        "未登记 · Not registered",
        signed_in,
        html! {
            h1 { "尚未登记 " span lang="en" { "Not registered yet" } }
            p.problem role="alert" {
                "令牌绑定的捐赠方 " code { (donor_id) } " 尚未在账本中登记，请联系街道工作人员。 "
                span lang="en" { "The donor your token is bound to, " (donor_id) ", is not registered in the ledger yet; ask the street office." }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::kaixuan_projections;

    #[test]
    fn instalments_are_paid_due_from_their_date_and_overdue_after_it() {
        let day = |text| Day::parse(text).unwrap();
        let today = day("2016-06-30");
        assert_eq!(
            instalment_state(true, false, day("2016-01-01"), today),
            InstalmentState::Paid
        );
        assert_eq!(
            instalment_state(false, false, today, today),
            InstalmentState::Due
        );
        assert_eq!(
            instalment_state(false, false, day("2016-06-29"), today),
            InstalmentState::Overdue
        );
        assert_eq!(
            instalment_state(false, true, day("2016-06-29"), today),
            InstalmentState::Waived
        );
    }

    #[test]
    fn newest_donations_of_a_sponsor_are_its_donations_newest_first() {
        let projections = kaixuan_projections();
        for donor in projections.donors() {
            let all = projections.donations_of(&donor.donor_id);
            for limit in [0, 1, 3, 1000] {
                let newest: Vec<_> = all.iter().rev().take(limit).cloned().collect();
                assert_eq!(
                    projections.newest_donations_of(&donor.donor_id, limit),
                    newest
                );
            }
        }
        assert!(
            projections
                .newest_donations_of("no-such-donor", 5)
                .is_empty()
        );
    }

    #[test]
    fn a_sponsor_sees_its_pledges_flows_receipts_and_claims() {
        let projections = kaixuan_projections();
        let sponsor = projections
            .donors()
            .into_iter()
            .find(|donor| !donor.projects_claimed.is_empty() && donor.pledged_fen > 0)
            .expect("the demo has a sponsor that pledged and claimed");
        let today = Day::parse("2017-01-01").unwrap();
        let view = sponsor_model(&projections, &sponsor.donor_id, today).unwrap();
        assert_eq!(
            view.pledges.len(),
            projections.pledges_of(&sponsor.donor_id).len()
        );
        assert_eq!(view.claimed.len(), sponsor.projects_claimed.len());
        let html =
            render_sponsor(&view, &|seq| Some(format!("/r/code{seq}")), None, None).into_string();
        for receipt in &view.receipts {
            assert!(html.contains(&format!("/r/code{}", receipt.seq)));
        }
        for project in &view.claimed {
            assert!(html.contains(&project.title));
        }
        assert!(sponsor_model(&projections, "no-such-donor", today).is_none());
    }
}
