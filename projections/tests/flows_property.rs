//! Property: on random ledgers the rules accept (the generator of
//! replay_property.rs, which tracks what every fund, project and grant
//! holds), the 善款去向 allocations (docs/flows.md) sum exactly to each
//! outflow and never exceed each income, are never negative, never cross a
//! restriction, account for every fund's money held, and are the same
//! after a rebuild in two halves.

use mingzhang_projections::{GiftFlow, OutflowKind, Projections};
use mingzhang_proto::Message;
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// The generator (common/ledger_generator.rs): a world of ids and holdings,
// turning random choices into events the write side would accept.

include!("common/ledger_generator.rs");

// ---------------------------------------------------------------------------
// The properties.

/// The gifts of a ledger with their recorded amounts, and the seqs of its
/// outflows.
fn gifts_and_outflows(envelopes: &[v1::EventEnvelope]) -> (Vec<(String, i64, bool)>, Vec<u64>) {
    let mut gifts = Vec::new();
    let mut outflows = Vec::new();
    for (seq, envelope) in envelopes.iter().enumerate() {
        match envelope.event.as_ref().unwrap() {
            Event::DonationReceived(e) => gifts.push((e.donation_id.clone(), e.amount_fen, false)),
            Event::PledgePaymentReceived(e) => {
                gifts.push((e.payment_id.clone(), e.amount_fen, true))
            }
            Event::DonationRefunded(_)
            | Event::DonationReversed(_)
            | Event::ExpenditureMade(_)
            | Event::GrantTrancheDisbursed(_) => outflows.push(seq as u64),
            _ => {}
        }
    }
    (gifts, outflows)
}

fn gift_flow(projections: &Projections, id: &str, pledge_payment: bool) -> GiftFlow {
    if pledge_payment {
        projections.pledge_payment_flow(id)
    } else {
        projections.donation_flow(id)
    }
    .unwrap_or_else(|| panic!("gift {id} has a flow"))
}

fn apply_all(projections: &mut Projections, envelopes: &[v1::EventEnvelope], from_seq: usize) {
    for (offset, envelope) in envelopes.iter().enumerate() {
        let seq = (from_seq + offset) as u64;
        projections
            .apply_payload(seq, &envelope.encode_to_vec())
            .unwrap_or_else(|error| panic!("record {seq} applies: {error}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn allocations_pay_each_outflow_exactly_within_its_restriction_and_rebuild_identically(
        choices in prop::collection::vec((0..CHOICES, any::<u64>()), 1..160)
    ) {
        let envelopes = generate(&choices);
        let mut whole = Projections::default();
        apply_all(&mut whole, &envelopes, 0);
        let (gifts, outflows) = gifts_and_outflows(&envelopes);

        let mut paid_by_gifts: std::collections::HashMap<u64, i64> = Default::default();
        for (id, recorded_fen, pledge_payment) in &gifts {
            let flow = gift_flow(&whole, id, *pledge_payment);
            prop_assert_eq!(flow.amount_fen, *recorded_fen, "gift {} keeps its recorded amount", id);
            prop_assert!(flow.unspent_fen >= 0, "gift {} unspent {}", id, flow.unspent_fen);
            let paid_fen: i64 = flow.paid_for.iter().map(|paid| paid.amount_fen).sum();
            prop_assert_eq!(flow.unspent_fen + paid_fen, flow.amount_fen, "gift {}", id);
            for paid in &flow.paid_for {
                prop_assert!(paid.amount_fen > 0, "gift {} paid {:?}", id, paid);
                // Never across a restriction: the outflow is paid from the
                // same fund and the same project's money (or the pool).
                prop_assert_eq!(&paid.fund_id, &flow.fund_id, "gift {} paid {:?}", id, paid);
                let outflow_project = match paid.kind {
                    OutflowKind::GrantTranche => "",
                    _ => paid.project_id.as_str(),
                };
                prop_assert_eq!(outflow_project, flow.restricted_to_project_id.as_str(), "gift {} paid {:?}", id, paid);
                *paid_by_gifts.entry(paid.seq).or_default() += paid.amount_fen;
            }
        }

        for seq in &outflows {
            let flow = whole.outflow_flow(*seq).expect("an outflow has a flow");
            prop_assert_eq!(flow.unattributed_fen, 0, "outflow {} paid in full", seq);
            let paid_fen: i64 = flow.paid_by.iter().map(|paid| paid.amount_fen).sum();
            prop_assert_eq!(paid_fen, flow.outflow.amount_fen, "outflow {}", seq);
            prop_assert!(flow.paid_by.iter().all(|paid| paid.amount_fen > 0));
            // Project fundings pay too; the gifts listed above are the rest.
            let from_listed_gifts = paid_by_gifts.get(seq).copied().unwrap_or(0);
            let from_fundings: i64 = flow.paid_by.iter()
                .filter(|paid| paid.kind == mingzhang_projections::IncomeKind::ProjectFunding)
                .map(|paid| paid.amount_fen)
                .sum();
            prop_assert_eq!(from_listed_gifts + from_fundings, paid_fen, "outflow {}", seq);
        }

        // The audit's check (verify runs it after its replay) agrees.
        prop_assert!(whole.check_flows().is_ok(), "{:?}", whole.check_flows());

        // Every fen a fund holds is some gift's unspent money.
        for (fund_id, unspent_fen) in whole.unspent_by_fund() {
            let (_, _, held_fen) = whole.fund_movement_sums(&fund_id).expect("fund");
            prop_assert_eq!(unspent_fen, held_fen, "fund {}", fund_id);
        }

        // Each donor's gifts, found through its own index, are the gifts
        // the log says it gave.
        let mut given_by: std::collections::BTreeMap<String, usize> = Default::default();
        let mut pledge_donor: std::collections::HashMap<String, String> = Default::default();
        for envelope in &envelopes {
            match envelope.event.as_ref().unwrap() {
                Event::DonationReceived(e) if !e.donor_id.is_empty() => {
                    *given_by.entry(e.donor_id.clone()).or_default() += 1
                }
                Event::PledgeMade(e) => {
                    pledge_donor.insert(e.pledge_id.clone(), e.donor_id.clone());
                }
                Event::PledgePaymentReceived(e) => {
                    *given_by.entry(pledge_donor[&e.pledge_id].clone()).or_default() += 1
                }
                Event::ProjectFunded(e) => *given_by.entry(e.sponsor_id.clone()).or_default() += 1,
                _ => {}
            }
        }
        for donor in 0..6 {
            let donor_id = format!("dn{donor}");
            let flows = whole.donor_gift_flows(&donor_id);
            prop_assert_eq!(flows.len(), given_by.get(&donor_id).copied().unwrap_or(0), "{}", donor_id);
        }

        // The same allocations after a rebuild in two halves.
        let half = envelopes.len() / 2;
        let mut halves = Projections::default();
        apply_all(&mut halves, &envelopes[..half], 0);
        apply_all(&mut halves, &envelopes[half..], half);
        prop_assert!(halves == whole, "two halves rebuild the same read models");
        for (id, _, pledge_payment) in &gifts {
            prop_assert_eq!(gift_flow(&halves, id, *pledge_payment), gift_flow(&whole, id, *pledge_payment));
        }
    }
}
