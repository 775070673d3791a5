//! The allocation rule of docs/flows.md (善款去向): its worked example on
//! the demo (the Kaixuan scenario) and each case the rule decides.

mod common;

use common::*;
use mingzhang_ledger::scenario;
use mingzhang_ledger::state::LedgerState;
use mingzhang_projections::Projections;
use mingzhang_projections::{GiftFlow, IncomeKind, OutflowKind};
use mingzhang_proto::v1::EventEnvelope;
use mingzhang_proto::v1::{ExpenditureCategory, FundKind};

fn demo() -> Projections {
    let mut state = LedgerState::default();
    let mut projections = Projections::default();
    for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate() {
        let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
            .expect("the Kaixuan scenario is valid");
        state.apply(&event);
        projections
            .apply(
                seq as u64,
                &EventEnvelope {
                    recorded_at_unix_ms: meta.at_unix_ms,
                    event: Some(event),
                    ..Default::default()
                },
            )
            .expect("the Kaixuan scenario applies");
    }
    projections
}

/// (outflow reference, tranche no., fen) of each outflow `gift` paid.
fn paid_for(gift: &GiftFlow) -> Vec<(String, u32, i64)> {
    gift.paid_for
        .iter()
        .map(|paid| (paid.reference_id.clone(), paid.tranche_no, paid.amount_fen))
        .collect()
}

#[test]
fn the_worked_example_unit_02s_first_payment_paid_twelve_first_tranches_in_fifo_order() {
    let projections = demo();
    let first = projections.pledge_payment_flow("pay-unit-02-2015").unwrap();
    assert_eq!((first.amount_fen, first.unspent_fen), (cny(200_000), 0));
    let mut expected = vec![("grant-mv2016-011".to_owned(), 1, cny(16_000))];
    expected.extend((12..=21).map(|n| (format!("grant-mv2016-0{n}"), 1, cny(18_000))));
    expected.push(("grant-mv2016-022".to_owned(), 1, cny(4_000)));
    assert_eq!(paid_for(&first), expected);
    assert!(
        first
            .paid_for
            .iter()
            .all(|paid| paid.kind == OutflowKind::GrantTranche
                && paid.date.render() == "2016-05-05"
                && paid.fund_id == "kaixuan-charity")
    );

    // Recorded after it in the same pool: nothing of them is spent yet.
    for later in ["don-pd2015-unit-02", "pay-unit-02-2016"] {
        let gift = projections
            .donation_flow(later)
            .or_else(|| projections.pledge_payment_flow(later))
            .unwrap();
        assert_eq!(gift.unspent_fen, gift.amount_fen, "{later}");
    }

    // The tranche it began with was paid by the end of unit-01's payment first.
    let tranche = projections.outflow_flow(first.paid_for[0].seq).unwrap();
    let paid_by: Vec<(&str, i64)> = tranche
        .paid_by
        .iter()
        .map(|paid| (paid.id.as_str(), paid.amount_fen))
        .collect();
    assert_eq!(
        paid_by,
        [
            ("pay-unit-01-2015", cny(2_000)),
            ("pay-unit-02-2015", cny(16_000))
        ]
    );
    assert_eq!(tranche.unattributed_fen, 0);
}

#[test]
fn every_fen_the_demo_holds_is_some_gifts_unspent_money() {
    let projections = demo();
    for (fund_id, unspent_fen) in projections.unspent_by_fund() {
        let (_, _, held_fen) = projections.fund_movement_sums(&fund_id).unwrap();
        assert_eq!(unspent_fen, held_fen, "{fund_id}");
    }
}

fn pool_with_two_gifts() -> Vec<mingzhang_proto::v1::event_envelope::Event> {
    vec![
        fund("f", FundKind::Unrestricted),
        resident("a"),
        donation(Gift {
            donation_id: "early",
            donor_id: "a",
            fund_id: "f",
            amount_fen: cny(100),
            ..Gift::default()
        }),
        donation(Gift {
            donation_id: "late",
            fund_id: "f",
            amount_fen: cny(100),
            ..Gift::default()
        }),
    ]
}

#[test]
fn restricted_money_pays_only_its_project_and_pooled_money_never_pays_a_project() {
    let mut events = pool_with_two_gifts();
    events.extend([
        project("p", "f", cny(1_000)),
        donation(Gift {
            donation_id: "for-p",
            fund_id: "f",
            project_id: "p",
            amount_fen: cny(50),
            ..Gift::default()
        }),
        expenditure(
            "pay-p",
            "f",
            "p",
            cny(30),
            ExpenditureCategory::ProjectDelivery,
            "2015-02-01",
        ),
        expenditure(
            "ops",
            "f",
            "",
            cny(120),
            ExpenditureCategory::Operations,
            "2015-02-02",
        ),
    ]);
    let projections = given(events);
    let for_p = projections.donation_flow("for-p").unwrap();
    assert_eq!(for_p.restricted_to_project_id, "p");
    assert_eq!(paid_for(&for_p), [("pay-p".to_owned(), 0, cny(30))]);
    assert_eq!(for_p.unspent_fen, cny(20));
    let early = projections.donation_flow("early").unwrap();
    assert_eq!(paid_for(&early), [("ops".to_owned(), 0, cny(100))]);
    let late = projections.donation_flow("late").unwrap();
    assert_eq!(paid_for(&late), [("ops".to_owned(), 0, cny(20))]);
    assert_eq!(projections.project_unspent_fen("p"), Some(cny(20)));
}

#[test]
fn a_refund_takes_back_its_own_unspent_money_first_then_the_pools_earliest() {
    let mut events = pool_with_two_gifts();
    events.extend([
        expenditure(
            "ops",
            "f",
            "",
            cny(70),
            ExpenditureCategory::Operations,
            "2015-02-02",
        ),
        // "early" has 30 left: the refund of 50 takes those 30, then 20 of "late".
        refund("rf", "early", cny(50)),
    ]);
    let projections = given(events);
    let early = projections.donation_flow("early").unwrap();
    assert_eq!(
        paid_for(&early),
        [
            ("ops".to_owned(), 0, cny(70)),
            ("early".to_owned(), 0, cny(30))
        ]
    );
    assert_eq!(early.paid_for[1].kind, OutflowKind::DonationRefund);
    assert_eq!(early.unspent_fen, 0);
    let late = projections.donation_flow("late").unwrap();
    assert_eq!(paid_for(&late), [("early".to_owned(), 0, cny(20))]);
    assert_eq!(late.unspent_fen, cny(80));
}

#[test]
fn a_reversal_of_an_unspent_duplicate_takes_back_only_its_own_money() {
    let mut events = pool_with_two_gifts();
    events.push(reversal("late", cny(100)));
    let projections = given(events);
    let late = projections.donation_flow("late").unwrap();
    assert_eq!(paid_for(&late), [("late".to_owned(), 0, cny(100))]);
    assert_eq!(late.paid_for[0].kind, OutflowKind::DonationReversal);
    assert_eq!(
        projections.donation_flow("early").unwrap().unspent_fen,
        cny(100)
    );
}

#[test]
fn a_reversed_expenditure_gives_its_money_back_and_the_queue_starts_again_at_the_earliest() {
    let mut events = pool_with_two_gifts();
    events.extend([
        expenditure(
            "wrong",
            "f",
            "",
            cny(150),
            ExpenditureCategory::Operations,
            "2015-02-02",
        ),
        expenditure_reversed("wrong", cny(150)),
        expenditure(
            "right",
            "f",
            "",
            cny(40),
            ExpenditureCategory::Operations,
            "2015-02-03",
        ),
    ]);
    let projections = given(events);
    let early = projections.donation_flow("early").unwrap();
    assert_eq!(paid_for(&early), [("right".to_owned(), 0, cny(40))]);
    assert_eq!(early.unspent_fen, cny(60));
    assert_eq!(
        projections.donation_flow("late").unwrap().unspent_fen,
        cny(100)
    );
    let wrong_seq = 4;
    let wrong = projections.outflow_flow(wrong_seq).unwrap();
    assert_eq!((wrong.outflow.amount_fen, wrong.paid_by.len()), (0, 0));
}

#[test]
fn a_sponsors_project_funding_is_restricted_to_its_project_and_pledge_payments_are_pooled() {
    let projections = given(vec![
        fund("f", FundKind::Unrestricted),
        enterprise("s", true),
        project("p", "f", cny(1_000)),
        claimed("p", "s"),
        funded("pf1", "p", "s", cny(300), "2015-03-01"),
        pledge("pl", "s", "", "f", &[("2015-12-31", cny(500))]),
        pledge_payment("pay1", "pl", cny(200), "2015-03-02"),
        expenditure(
            "pay-p",
            "f",
            "p",
            cny(100),
            ExpenditureCategory::ProjectDelivery,
            "2015-04-01",
        ),
    ]);
    let funding = projections.project_funding_flow("pf1").unwrap();
    assert_eq!(funding.kind, IncomeKind::ProjectFunding);
    assert_eq!(paid_for(&funding), [("pay-p".to_owned(), 0, cny(100))]);
    let payment = projections.pledge_payment_flow("pay1").unwrap();
    assert_eq!((payment.unspent_fen, payment.paid_for.len()), (cny(200), 0));
    assert_eq!(projections.pledge_payment_ids("pl"), ["pay1"]);
    assert!(projections.pledge_payment_flow("nope").is_none());
    assert!(projections.donation_flow("nope").is_none());
}
