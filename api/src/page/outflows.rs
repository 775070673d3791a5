//! Where the money went (支出去向): every fen out of a fund, or out of all
//! funds, split by what paid it out: micro-venture grant tranches, claimed
//! projects' spending, the funds' own expenditures by category, and gifts
//! refunded. Read from the projections' own figures (grants, projects, the
//! trial balance's expense accounts, the refund correction notes), so the
//! lines add up to the funds' `total_out_fen` to the fen.

use std::collections::BTreeMap;

use mingzhang_projections::{CorrectionKind, Projections};

/// What paid money out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpentOn {
    GrantTranches,
    ProjectSpending,
    /// A fund's expenditure not for a project, by its category's account
    /// name (`one_off_support`, `purchase_of_services`, ...).
    Category(String),
    Refunds,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutflowLine {
    pub kind: SpentOn,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutflowView {
    /// Grants, projects, each expenditure category with an account, refunds:
    /// the first, second and last always (0 when nothing was paid so).
    pub lines: Vec<OutflowLine>,
    pub total_fen: i64,
}

/// The outflows of `fund_id`, or of every fund when `None`.
pub fn outflows(projections: &Projections, fund_id: Option<&str>) -> OutflowView {
    let in_fund = |candidate: &str| fund_id.is_none_or(|fund_id| fund_id == candidate);
    let round_funds: BTreeMap<String, String> = projections
        .grant_rounds()
        .into_iter()
        .map(|round| (round.round_id, round.fund_id))
        .collect();
    let grants_fen: i64 = projections
        .grants()
        .iter()
        .filter(|grant| {
            round_funds
                .get(&grant.round_id)
                .is_some_and(|fund| in_fund(fund))
        })
        .map(|grant| grant.disbursed_fen)
        .sum();
    let projects_fen: i64 = projections
        .projects()
        .iter()
        .filter(|project| in_fund(&project.fund_id))
        .map(|project| project.spent_fen)
        .sum();
    // `fund:F:expenses:<category>`; a category name has no colon, so the
    // last `:expenses:` splits it off whatever the fund id holds.
    let mut categories: BTreeMap<String, i64> = BTreeMap::new();
    for account in projections.trial_balance().accounts {
        let Some((fund, category)) = account
            .account
            .strip_prefix("fund:")
            .and_then(|rest| rest.rsplit_once(":expenses:"))
        else {
            continue;
        };
        if in_fund(fund) {
            *categories.entry(category.to_owned()).or_default() += account.balance_fen;
        }
    }
    let refunds_fen: i64 = projections
        .corrections()
        .iter()
        .filter(|note| note.kind == CorrectionKind::DonationRefund && in_fund(&note.fund_id))
        .map(|note| note.amount_fen)
        .sum();
    let mut lines = vec![
        OutflowLine {
            kind: SpentOn::GrantTranches,
            amount_fen: grants_fen,
        },
        OutflowLine {
            kind: SpentOn::ProjectSpending,
            amount_fen: projects_fen,
        },
    ];
    lines.extend(
        categories
            .into_iter()
            .map(|(category, amount_fen)| OutflowLine {
                kind: SpentOn::Category(category),
                amount_fen,
            }),
    );
    lines.push(OutflowLine {
        kind: SpentOn::Refunds,
        amount_fen: refunds_fen,
    });
    for line in &lines {
        assert!(
            line.amount_fen >= 0,
            "an outflow is never negative: {line:?}"
        );
    }
    let total_fen = lines.iter().map(|line| line.amount_fen).sum();
    OutflowView { lines, total_fen }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::kaixuan_projections;

    #[test]
    fn outflow_lines_add_up_to_every_funds_total_out_to_the_fen() {
        let projections = kaixuan_projections();
        let view = outflows(&projections, None);
        let total_out_fen: i64 = projections
            .fund_balances()
            .iter()
            .map(|fund| fund.total_out_fen)
            .sum();
        assert!(total_out_fen > 0);
        assert_eq!(view.total_fen, total_out_fen);
        let disbursed_fen: i64 = projections.grants().iter().map(|g| g.disbursed_fen).sum();
        assert_eq!(view.lines[0].amount_fen, disbursed_fen);
        assert!(disbursed_fen > 0, "the demo pays tranches");
        for fund in projections.fund_balances() {
            let of_fund = outflows(&projections, Some(&fund.fund_id));
            assert_eq!(of_fund.total_fen, fund.total_out_fen, "{}", fund.fund_id);
        }
    }

    #[test]
    fn each_expense_category_is_the_trial_balance_account_summed_over_funds() {
        let projections = kaixuan_projections();
        let view = outflows(&projections, None);
        let balance = projections.trial_balance();
        for line in &view.lines {
            if let SpentOn::Category(category) = &line.kind {
                let suffix = format!(":expenses:{category}");
                let expected: i64 = balance
                    .accounts
                    .iter()
                    .filter(|a| a.account.starts_with("fund:") && a.account.ends_with(&suffix))
                    .map(|a| a.balance_fen)
                    .sum();
                assert_eq!(line.amount_fen, expected, "{category}");
            }
        }
        assert!(
            view.lines
                .iter()
                .any(|line| matches!(line.kind, SpentOn::Category(_))),
            "the demo spends from its special support fund"
        );
    }

    #[test]
    fn a_fund_that_paid_nothing_shows_zero_lines() {
        let projections = kaixuan_projections();
        let view = outflows(&projections, Some("no-such-fund"));
        assert_eq!(view.total_fen, 0);
        assert_eq!(view.lines.first().unwrap().amount_fen, 0);
        assert_eq!(view.lines.last().unwrap().kind, SpentOn::Refunds);
    }

    #[tokio::test]
    async fn the_fund_page_shows_where_its_money_went_adding_up_to_its_total_out() {
        use axum::body::Body;
        use axum::http::Request;
        use tower::ServiceExt;
        let projections = kaixuan_projections();
        let fund = projections
            .fund_balance(mingzhang_ledger::scenario::SPECIAL_SUPPORT_FUND_ID)
            .expect("the special support fund");
        assert!(fund.total_out_fen > 0);
        let source = super::super::PageSource::new(std::sync::Arc::new(parking_lot::RwLock::new(
            projections,
        )));
        let path = format!("/funds/{}", fund.fund_id);
        let response = super::super::page_router(source)
            .oneshot(Request::get(&path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let html = String::from_utf8(
            axum::body::to_bytes(response.into_body(), 16 << 20)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let outflows = &html[html.find("id=\"outflows\"").expect("an outflow section")..];
        assert!(outflows.contains(&format!(
            "<td data-label=\"用途\">合计</td><td class=\"num\" data-label=\"金额\">{}</td>",
            super::super::public::cny(fund.total_out_fen)
        )));
    }
}
