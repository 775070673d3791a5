//! Downloads for people who want the figures in a spreadsheet or in the
//! 360Giving data standard. Names are masked exactly as on the page: the rows
//! come from the same view models.

use mingzhang_ledger::money::{decimal_from_fen, format_fen};
use mingzhang_projections::{LIST_PAGE_MAX, MovementFilter, Projections};

use super::model::{Directory, donation_row, expenditure_row, for_each_page};
use super::public::{Credit, public_counterparty};

/// Excel opens a UTF-8 CSV as UTF-8 (and shows Chinese correctly) only when
/// the file starts with a byte-order mark.
const UTF8_BOM: &str = "\u{feff}";

/// One CSV field: quoted when needed, and defused when a spreadsheet would
/// take it for a formula (text recorded by operators is not trusted as code).
fn field(text: &str) -> String {
    let defused = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn row(out: &mut String, fields: &[&str]) {
    for (position, value) in fields.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push_str(&field(value));
    }
    out.push_str("\r\n");
}

/// The giver's public label in an export: the name, or "匿名".
fn credit_label(credit: &Credit) -> &str {
    match credit {
        Credit::Named { name, .. } => name,
        Credit::Anonymous => "匿名",
    }
}

pub fn donations_csv(projections: &Projections, directory: &Directory) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "donation_id",
            "received_on",
            "donor",
            "amount_cny",
            "net_cny",
            "fund",
            "project_id",
            "channel",
        ],
    );
    for_each_page(
        projections.donations_count(),
        |offset, limit| projections.donations(offset, limit),
        |donation| {
            let view = donation_row(&donation, directory);
            let project_id = view
                .project
                .as_ref()
                .map(|project| project.project_id.as_str())
                .unwrap_or("");
            row(
                &mut out,
                &[
                    &view.donation_id,
                    &view.received_on,
                    credit_label(&view.giver),
                    &format_fen(view.amount_fen),
                    &format_fen(view.net_fen),
                    &view.fund_name,
                    project_id,
                    &view.channel,
                ],
            );
        },
    );
    out
}

pub fn expenditures_csv(projections: &Projections, directory: &Directory) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "expenditure_id",
            "paid_on",
            "payee",
            "payee_kind",
            "purpose",
            "category",
            "amount_cny",
            "reversed_cny",
            "fund",
            "project_id",
            "receipt_no",
        ],
    );
    for_each_page(
        projections.expenditures_count(),
        |offset, limit| projections.expenditures(offset, limit),
        |expenditure| {
            let view = expenditure_row(&expenditure, directory);
            let project_id = view
                .project
                .as_ref()
                .map(|project| project.project_id.as_str())
                .unwrap_or("");
            row(
                &mut out,
                &[
                    &view.expenditure_id,
                    &view.paid_on,
                    &view.payee,
                    &view.payee_kind,
                    &view.purpose,
                    &view.category,
                    &format_fen(view.amount_fen),
                    &format_fen(view.reversed_fen),
                    &view.fund_name,
                    project_id,
                    &view.receipt_no,
                ],
            );
        },
    );
    out
}

pub fn grants_csv(projections: &Projections) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "grant_id",
            "round_id",
            "organisation",
            "title",
            "awarded_cny",
            "disbursed_cny",
            "returned_cny",
            "closed",
        ],
    );
    for grant in projections.grants() {
        row(
            &mut out,
            &[
                &grant.grant_id,
                &grant.round_id,
                &grant.organisation_name,
                &grant.title,
                &format_fen(grant.amount_fen),
                &format_fen(grant.disbursed_fen),
                &format_fen(grant.returned_fen),
                if grant.closed { "true" } else { "false" },
            ],
        );
    }
    out
}

/// Grants in the 360Giving data standard's JSON shape. `amountAwarded` is a
/// JSON number written from the exact decimal (never through a float), so
/// 30000.00 stays 30000.00.
///
/// `awardDate` is the award decision's date; for an award recorded without
/// one, the date the first tranche was paid, or the round's closing date
/// before any payment.
pub fn grants_360giving(projections: &Projections, directory: &Directory) -> String {
    let rounds: std::collections::HashMap<String, mingzhang_projections::GrantRoundView> =
        projections
            .grant_rounds()
            .into_iter()
            .map(|round| (round.round_id.clone(), round))
            .collect();
    let mut out = String::from("{\"grants\":[");
    for (position, grant) in projections.grants().into_iter().enumerate() {
        let round = rounds.get(&grant.round_id);
        let award_date = Some(grant.awarded_on)
            .filter(|day| day.is_known())
            .or_else(|| {
                grant
                    .tranches
                    .iter()
                    .map(|tranche| tranche.paid_on)
                    .find(|day| day.is_known())
            })
            .map(|day| day.render())
            .or_else(|| round.map(|round| round.applications_close_on.render()))
            .unwrap_or_default();
        let fund_id = round.map(|round| round.fund_id.as_str()).unwrap_or("");
        let description = format!(
            "{} · {}",
            round.map(|round| round.name.as_str()).unwrap_or(""),
            grant.organisation_name
        );
        if position > 0 {
            out.push(',');
        }
        let text = |value: &str| serde_json::to_string(value).expect("strings always serialise");
        out.push_str(&format!(
            concat!(
                "{{\"id\":{},\"title\":{},\"description\":{},\"currency\":\"CNY\",",
                "\"amountAwarded\":{},\"awardDate\":{},",
                "\"recipientOrganization\":[{{\"id\":{},\"name\":{}}}],",
                "\"fundingOrganization\":[{{\"id\":{},\"name\":{}}}]}}"
            ),
            text(&format!("360G-mingzhang-{}", grant.grant_id)),
            text(&grant.title),
            text(&description),
            decimal_from_fen(grant.amount_fen),
            text(&award_date),
            text(&format!("XI-MINGZHANG-{}", grant.organisation_id)),
            text(&grant.organisation_name),
            text(&format!("XI-MINGZHANG-{fund_id}")),
            text(&directory.fund_name(fund_id)),
        ));
    }
    out.push_str("]}");
    out
}

/// Every fund's movements, fund by fund (by fund id), each in date order
/// with its running balance; counterparties masked as on the fund page.
pub fn transactions_csv(projections: &Projections) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "fund_id",
            "seq",
            "date",
            "kind",
            "direction",
            "amount_cny",
            "balance_after_cny",
            "reference_id",
            "reversed_cny",
            "counterparty_kind",
            "counterparty_id",
            "counterparty",
        ],
    );
    for fund in projections.fund_balances() {
        let mut offset = 0;
        loop {
            let page = projections
                .fund_movements(
                    &fund.fund_id,
                    MovementFilter::default(),
                    None,
                    offset,
                    LIST_PAGE_MAX,
                )
                .expect("a listed fund exists");
            for movement in &page.movements {
                let counterparty = public_counterparty(&movement.counterparty, false);
                row(
                    &mut out,
                    &[
                        &fund.fund_id,
                        &movement.seq.to_string(),
                        &movement.date.render(),
                        movement.kind.name(),
                        movement.direction.name(),
                        &format_fen(movement.amount_fen),
                        &format_fen(movement.balance_after_fen),
                        &movement.reference_id,
                        &format_fen(movement.reversed_fen),
                        counterparty.kind,
                        &counterparty.id,
                        &counterparty.name,
                    ],
                );
            }
            match page.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-5"), "'-5");
    }
}
