//! What a money-moving form is about to record, said in one sentence in
//! Chinese and in English, with names from the projections: the review
//! step the operator confirms before anything is written.

use mingzhang_projections::Projections;
use mingzhang_proto::v1::event_envelope::Event;

use crate::page::public::cny;

fn fund_name(projections: &Projections, fund_id: &str) -> String {
    projections
        .fund_balance(fund_id)
        .map(|fund| format!("{} ({fund_id})", fund.name))
        .unwrap_or_else(|| fund_id.to_owned())
}

fn donor_name(projections: &Projections, donor_id: &str) -> Option<String> {
    if donor_id.is_empty() {
        return None;
    }
    Some(
        projections
            .donor(donor_id)
            .map(|donor| format!("{} ({donor_id})", donor.name))
            .unwrap_or_else(|| donor_id.to_owned()),
    )
}

/// (中文, English) of what `event` records; `None` for an event that moves
/// no money.
pub fn review_sentence(projections: &Projections, event: &Event) -> Option<(String, String)> {
    Some(match event {
        Event::DonationReceived(gift) => {
            let amount = cny(gift.amount_fen);
            let fund = fund_name(projections, &gift.fund_id);
            let (donor_zh, donor_en) = match donor_name(projections, &gift.donor_id) {
                Some(name) => (name.clone(), name),
                None => (
                    "未登记的捐赠人".to_owned(),
                    "an unregistered donor".to_owned(),
                ),
            };
            (
                format!(
                    "您即将记录 {amount} 元，从 {donor_zh} 存入 {fund}（{}）。",
                    gift.received_on
                ),
                format!(
                    "You are about to record {amount} from {donor_en} into {fund} ({}).",
                    gift.received_on
                ),
            )
        }
        Event::DonationRefunded(refund) => {
            let amount = cny(refund.amount_fen);
            let fund = projections
                .donation(&refund.donation_id)
                .map(|gift| fund_name(projections, &gift.fund_id))
                .unwrap_or_else(|| "?".to_owned());
            (
                format!(
                    "您即将从 {fund} 退还 {amount} 元，退回捐赠 {} 的捐赠人。",
                    refund.donation_id
                ),
                format!(
                    "You are about to refund {amount} out of {fund} to the donor of donation {}.",
                    refund.donation_id
                ),
            )
        }
        Event::DonationReversed(reversal) => (
            format!(
                "您即将冲销捐赠 {} 尚未退还的全部金额，从其基金中扣回。",
                reversal.donation_id
            ),
            format!(
                "You are about to reverse what is left of donation {}, taking it back out of its fund.",
                reversal.donation_id
            ),
        ),
        Event::PledgePaymentReceived(payment) => {
            let amount = cny(payment.amount_fen);
            let pledge = projections.pledge(&payment.pledge_id);
            let (donor, fund) = match &pledge {
                Some(pledge) => (
                    donor_name(projections, &pledge.donor_id).unwrap_or_default(),
                    fund_name(projections, &pledge.fund_id),
                ),
                None => ("?".to_owned(), "?".to_owned()),
            };
            (
                format!(
                    "您即将记录 {amount} 元，从 {donor} 按认捐 {} 存入 {fund}（{}）。",
                    payment.pledge_id, payment.received_on
                ),
                format!(
                    "You are about to record {amount} from {donor} on pledge {} into {fund} ({}).",
                    payment.pledge_id, payment.received_on
                ),
            )
        }
        Event::GrantTrancheDisbursed(tranche) => {
            let grant = projections.grant(&tranche.grant_id);
            let (amount, organisation) = match &grant {
                Some(grant) => (
                    grant
                        .tranches
                        .iter()
                        .find(|row| row.index == tranche.tranche_index)
                        .map(|row| cny(row.amount_fen))
                        .unwrap_or_else(|| "?".to_owned()),
                    format!("{} ({})", grant.organisation_name, grant.organisation_id),
                ),
                None => ("?".to_owned(), "?".to_owned()),
            };
            (
                format!(
                    "您即将拨付资助 {} 的第 {} 批 {amount} 元给 {organisation}（{}）。",
                    tranche.grant_id,
                    tranche.tranche_index + 1,
                    tranche.paid_on
                ),
                format!(
                    "You are about to pay tranche {} of grant {}, {amount}, to {organisation} ({}).",
                    tranche.tranche_index + 1,
                    tranche.grant_id,
                    tranche.paid_on
                ),
            )
        }
        Event::GrantClosed(closure) => (
            format!(
                "您即将结项资助 {}：未拨付的余额退回基金。",
                closure.grant_id
            ),
            format!(
                "You are about to close grant {}: what is unpaid returns to the fund.",
                closure.grant_id
            ),
        ),
        Event::ProjectFunded(funding) => {
            let amount = cny(funding.amount_fen);
            let sponsor = donor_name(projections, &funding.sponsor_id).unwrap_or_default();
            let project = projections
                .project(&funding.project_id)
                .map(|project| format!("{} ({})", project.title, funding.project_id))
                .unwrap_or_else(|| funding.project_id.clone());
            (
                format!(
                    "您即将记录 {amount} 元，从 {sponsor} 存入项目 {project}（{}）。",
                    funding.received_on
                ),
                format!(
                    "You are about to record {amount} from {sponsor} into project {project} ({}).",
                    funding.received_on
                ),
            )
        }
        Event::ExpenditureMade(spend) => {
            let amount = cny(spend.amount_fen);
            let fund = fund_name(projections, &spend.fund_id);
            (
                format!(
                    "您即将从 {fund} 支付 {amount} 元给 {}，用途：{}（{}）。",
                    spend.payee, spend.purpose, spend.paid_on
                ),
                format!(
                    "You are about to pay {amount} out of {fund} to {} for {} ({}).",
                    spend.payee, spend.purpose, spend.paid_on
                ),
            )
        }
        Event::ExpenditureReversed(reversal) => (
            format!(
                "您即将冲销支出 {}，其金额退回原基金。",
                reversal.expenditure_id
            ),
            format!(
                "You are about to reverse expenditure {}; its amount returns to its fund.",
                reversal.expenditure_id
            ),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use mingzhang_proto::v1 as pb;

    use super::*;
    use crate::console::forms::forms;

    /// Every form with a review step has a sentence to show in it.
    #[test]
    fn every_money_moving_form_says_what_it_will_record() {
        let projections = Projections::default();
        let events = [
            Event::DonationReceived(pb::DonationReceived {
                amount_fen: 4_100_000,
                ..Default::default()
            }),
            Event::DonationRefunded(Default::default()),
            Event::DonationReversed(Default::default()),
            Event::PledgePaymentReceived(Default::default()),
            Event::GrantTrancheDisbursed(Default::default()),
            Event::GrantClosed(Default::default()),
            Event::ProjectFunded(Default::default()),
            Event::ExpenditureMade(Default::default()),
            Event::ExpenditureReversed(Default::default()),
        ];
        for form in forms().iter().filter(|form| form.moves_money()) {
            let event = events
                .iter()
                .find(|event| crate::auth::event_name(event) == form.route.event)
                .unwrap_or_else(|| panic!("{} has an example here", form.route.event));
            let (zh, en) = review_sentence(&projections, event)
                .unwrap_or_else(|| panic!("{} has no review sentence", form.route.event));
            assert!(zh.starts_with("您即将"), "{zh}");
            assert!(en.starts_with("You are about to"), "{en}");
        }
        let (zh, en) = review_sentence(&projections, &events[0]).unwrap();
        assert!(zh.contains("41,000.00 元"), "{zh}");
        assert!(en.contains("41,000.00 from an unregistered donor"), "{en}");
        assert!(review_sentence(&projections, &Event::FundOpened(Default::default())).is_none());
    }
}
