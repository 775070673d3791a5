//! The sponsor page's 善款去向 section: in plain words, what the sponsor's
//! money paid for (grant tranches, project spending, other expenditures,
//! refunds) and what is not yet spent, by the rule of docs/flows.md, with
//! links to the grant and project pages where results are shown.
//!
//! Only gifts the sponsor is named for count (the one masking rule,
//! `public::public_counterparty`): an anonymous gift stays unattributed here
//! as everywhere else on the page.

use maud::{Markup, html};
use mingzhang_projections::{OutflowKind, Projections};

use super::public::{cny, donor_is_named};
use super::render::{Lang, recorded};

/// One thing the sponsor's money paid for, summed over its gifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidForLine {
    pub kind: OutflowKind,
    /// The grant, expenditure or donation (refund) id.
    pub reference_id: String,
    pub tranche_no: u32,
    /// The project an expenditure paid for; "" otherwise.
    pub project_id: String,
    /// "YYYY-MM-DD".
    pub date: String,
    pub amount_fen: i64,
}

/// The sponsor's named gifts and where they went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SponsorFlowsView {
    pub given_fen: i64,
    pub spent_fen: i64,
    pub unspent_fen: i64,
    /// In the order the money went out.
    pub paid_for: Vec<PaidForLine>,
}

/// Where `donor_id`'s named gifts went: the gifts the one masking rule lets
/// the page name (`public::donor_is_named`), summed.
pub fn sponsor_flows(
    projections: &Projections,
    donor_id: &str,
    show_name_publicly: bool,
) -> SponsorFlowsView {
    let summary = projections.donor_flow_summary(donor_id, |gift_anonymous| {
        donor_is_named(show_name_publicly, gift_anonymous)
    });
    SponsorFlowsView {
        given_fen: summary.given_fen,
        spent_fen: summary.paid_for.iter().map(|paid| paid.amount_fen).sum(),
        unspent_fen: summary.unspent_fen,
        paid_for: summary
            .paid_for
            .into_iter()
            .map(|paid| PaidForLine {
                kind: paid.kind,
                reference_id: paid.reference_id,
                tranche_no: paid.tranche_no,
                project_id: paid.project_id,
                date: paid.date.render(),
                amount_fen: paid.amount_fen,
            })
            .collect(),
    }
}

fn line(lang: Lang, line: &PaidForLine) -> Markup {
    html! {
        @match line.kind {
            OutflowKind::GrantTranche => {
                (lang.t("微创投项目 ", "micro-venture grant "))
                a href=(lang.href(&format!("/grants/{}", line.reference_id))) { (line.reference_id) }
                @match lang {
                    Lang::Zh => { " 第" (line.tranche_no) "期拨款" }
                    Lang::En => { ", tranche " (line.tranche_no) }
                }
            }
            OutflowKind::Expenditure if !line.project_id.is_empty() => {
                (lang.t("认领项目 ", "project "))
                a href=(lang.href(&format!("/projects/{}", line.project_id))) { (line.project_id) }
                (lang.t(" 的支出 ", ": expenditure ")) (line.reference_id)
            }
            OutflowKind::Expenditure => {
                (lang.t("支出 ", "expenditure ")) (line.reference_id)
            }
            OutflowKind::DonationRefund => {
                (lang.t("退还捐赠 ", "refund of donation ")) (line.reference_id)
            }
            OutflowKind::DonationReversal => {
                (lang.t("更正重复登记的捐赠 ", "correction of duplicate donation ")) (line.reference_id)
            }
        }
        " (" (line.date) ") " span.money { (cny(line.amount_fen)) } (lang.t(" 元", " CNY"))
    }
}

/// The section: "其捐赠中 X 元已用于：…；尚未使用 Y 元。"
pub fn flows_section(lang: Lang, name: &str, view: &SponsorFlowsView) -> Markup {
    html! {
        section #flows {
            h2 { (lang.t("善款去向", "Where the money went")) }
            @if view.given_fen == 0 {
                p { (lang.t("尚无具名的捐赠或认捐付款。", "No named gift or pledge payment yet.")) }
            } @else {
                p {
                    @match lang {
                        Lang::Zh => {
                            (recorded(name)) "的捐赠与认捐付款共 " span.money #flows-given { (cny(view.given_fen)) } " 元，其中 "
                            span.money #flows-spent { (cny(view.spent_fen)) } " 元已用于："
                        }
                        Lang::En => {
                            "Of the " span.money #flows-given { (cny(view.given_fen)) } " CNY " (recorded(name)) " gave, "
                            span.money #flows-spent { (cny(view.spent_fen)) } " CNY has paid for:"
                        }
                    }
                }
                @if !view.paid_for.is_empty() {
                    ul { @for paid in &view.paid_for { li { (line(lang, paid)) } } }
                }
                p {
                    (lang.t("尚未使用 ", "Not yet spent: "))
                    span.money #flows-unspent { (cny(view.unspent_fen)) } (lang.t(" 元。", " CNY."))
                    " "
                    span.small { (lang.t(
                        "按“先进先出”规则分配：每笔支出由同一基金（或同一项目的定向资金）中最早尚未用完的善款支付。项目的评估与结项报告见各项目、资助页面。",
                        "Allocated first in, first out: each payment is met by the earliest unspent gifts of the same fund (or the same project's designated money). Evaluations and completion reports are on each grant and project page.",
                    )) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::public::public_counterparty;
    use crate::test_support::kaixuan_projections;

    /// A donor's donations, read through their own incomes, are the ones a
    /// pass over every donation finds, in the same order.
    #[test]
    fn a_donors_donations_are_those_a_full_pass_finds() {
        let projections = kaixuan_projections();
        let every = projections.donations(0, projections.donations_count());
        for donor in projections.donors() {
            let found: Vec<_> = every
                .iter()
                .filter(|donation| donation.donor_id == donor.donor_id)
                .cloned()
                .collect();
            assert_eq!(
                projections.donations_of(&donor.donor_id),
                found,
                "{}",
                donor.donor_id
            );
        }
    }

    /// The summary, summed from the allocation tables, says what summing
    /// every named gift's own flow says, for every donor of the demo.
    #[test]
    fn the_summary_equals_the_sum_of_each_named_gifts_flow() {
        let projections = kaixuan_projections();
        let mut donors_with_gifts = 0;
        for donor in projections.donors() {
            for show_name_publicly in [true, false] {
                let named: Vec<_> = projections
                    .donor_gift_flows(&donor.donor_id)
                    .into_iter()
                    .filter(|gift| {
                        let mut counterparty = gift.counterparty.clone();
                        if let mingzhang_projections::Counterparty::Donor {
                            show_name_publicly: shown,
                            ..
                        } = &mut counterparty
                        {
                            *shown = show_name_publicly;
                        }
                        !public_counterparty(&counterparty, false).id.is_empty()
                    })
                    .collect();
                let view = sponsor_flows(&projections, &donor.donor_id, show_name_publicly);
                let given: i64 = named.iter().map(|gift| gift.amount_fen).sum();
                let unspent: i64 = named.iter().map(|gift| gift.unspent_fen).sum();
                let mut by_seq = std::collections::BTreeMap::<u64, i64>::new();
                for paid in named.iter().flat_map(|gift| &gift.paid_for) {
                    *by_seq.entry(paid.seq).or_default() += paid.amount_fen;
                }
                assert_eq!(
                    (view.given_fen, view.unspent_fen),
                    (given, unspent),
                    "{}",
                    donor.donor_id
                );
                assert_eq!(
                    view.spent_fen,
                    by_seq.values().sum::<i64>(),
                    "{}",
                    donor.donor_id
                );
                assert_eq!(
                    view.paid_for
                        .iter()
                        .map(|line| line.amount_fen)
                        .collect::<Vec<_>>(),
                    by_seq.values().copied().collect::<Vec<_>>(),
                    "{}: one line per outflow, in log order",
                    donor.donor_id
                );
                donors_with_gifts += usize::from(given > 0);
            }
        }
        assert!(
            donors_with_gifts >= 10,
            "the demo's sponsors gave: {donors_with_gifts}"
        );
    }

    #[test]
    fn unit_02s_441000_paid_twelve_first_tranches_and_241000_is_not_yet_spent() {
        let view = sponsor_flows(&kaixuan_projections(), "unit-02", true);
        assert_eq!(
            (view.given_fen, view.spent_fen, view.unspent_fen),
            (44_100_000, 20_000_000, 24_100_000)
        );
        assert_eq!(view.paid_for.len(), 12);
        assert_eq!(
            view.paid_for[0],
            PaidForLine {
                kind: OutflowKind::GrantTranche,
                reference_id: "grant-mv2016-011".to_owned(),
                tranche_no: 1,
                project_id: String::new(),
                date: "2016-05-05".to_owned(),
                amount_fen: 1_600_000,
            }
        );
        let zh = flows_section(Lang::Zh, "景芳示例科技有限公司", &view).into_string();
        assert!(zh.contains("<span translate=\"no\">景芳示例科技有限公司</span>的捐赠与认捐付款共 <span class=\"money\" id=\"flows-given\">441,000.00</span> 元"), "{zh}");
        assert!(zh.contains("<a href=\"/grants/grant-mv2016-011\">grant-mv2016-011</a> 第1期拨款 (2016-05-05) <span class=\"money\">16,000.00</span> 元"), "{zh}");
        assert!(
            zh.contains(
                "尚未使用 <span class=\"money\" id=\"flows-unspent\">241,000.00</span> 元。"
            ),
            "{zh}"
        );
        let en = flows_section(Lang::En, "景芳示例科技有限公司", &view).into_string();
        assert!(en.contains("<a href=\"/grants/grant-mv2016-022?lang=en\">grant-mv2016-022</a>, tranche 1 (2016-05-05) <span class=\"money\">4,000.00</span> CNY"), "{en}");
        assert!(
            en.contains(
                "Not yet spent: <span class=\"money\" id=\"flows-unspent\">241,000.00</span>"
            ),
            "{en}"
        );
    }

    #[test]
    fn anonymous_gifts_are_not_attributed_and_a_sponsor_without_gifts_says_so() {
        let projections = kaixuan_projections();
        // 李建国 gave anonymously: nothing of it is his on a public page.
        assert_eq!(
            sponsor_flows(&projections, "resident-li", true),
            SponsorFlowsView::default()
        );
        let none = flows_section(Lang::Zh, "x", &SponsorFlowsView::default()).into_string();
        assert!(none.contains("尚无具名的捐赠或认捐付款"));
    }
}
