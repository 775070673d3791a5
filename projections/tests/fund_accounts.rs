//! Fund accounts: every movement of a fund's money in date order with its
//! running balance, summing to the fund's totals; and correction notes.

mod common;

use common::*;
use mingzhang_projections::{
    CorrectionKind, Counterparty, Direction, MovementFilter, MovementKind, parse_month,
};
use mingzhang_proto::v1::{ExpenditureCategory, FundKind};

fn kaixuan_with_corrections() -> mingzhang_projections::Projections {
    given(vec![
        fund("kaixuan", FundKind::Unrestricted),
        resident("zhang"),
        donation(Gift {
            donation_id: "d1",
            donor_id: "zhang",
            fund_id: "kaixuan",
            amount_fen: cny(1_000),
            received_on: "2015-09-26",
            ..Gift::default()
        }),
        // Entered out of date order: listed before d1.
        donation(Gift {
            donation_id: "d0",
            fund_id: "kaixuan",
            amount_fen: cny(300),
            received_on: "2015-09-20",
            ..Gift::default()
        }),
        donation(Gift {
            donation_id: "dup",
            donor_id: "zhang",
            fund_id: "kaixuan",
            amount_fen: cny(1_288),
            received_on: "2015-10-01",
            ..Gift::default()
        }),
        reversal("dup", cny(1_288)),
        expenditure(
            "e1",
            "kaixuan",
            "",
            cny(500),
            ExpenditureCategory::Operations,
            "2015-10-08",
        ),
        expenditure_reversed("e1", cny(200)),
        // Recorded 2016-03-01 (CST).
        refund("rf1", "d1", cny(100)),
    ])
}

#[test]
fn movements_list_every_fund_movement_in_date_order_with_the_running_balance() {
    let projections = kaixuan_with_corrections();
    let page = projections
        .fund_movements("kaixuan", MovementFilter::default(), None, 0, 100)
        .unwrap();
    let rows: Vec<(&str, MovementKind, Direction, i64, i64)> = page
        .movements
        .iter()
        .map(|m| {
            (
                m.reference_id.as_str(),
                m.kind,
                m.direction,
                m.amount_fen,
                m.balance_after_fen,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "d0",
                MovementKind::Donation,
                Direction::In,
                cny(300),
                cny(300)
            ),
            (
                "d1",
                MovementKind::Donation,
                Direction::In,
                cny(1_000),
                cny(1_300)
            ),
            // The reversed duplicate moved nothing: not listed.
            (
                "e1",
                MovementKind::Expenditure,
                Direction::Out,
                cny(300),
                cny(1_000)
            ),
            (
                "d1",
                MovementKind::DonationRefund,
                Direction::Out,
                cny(100),
                cny(900)
            ),
        ]
    );
    assert_eq!(page.movements[2].reversed_fen, cny(200));
    assert_eq!(page.movements[3].date.render(), "2016-03-01");
    assert_eq!(page.next_offset, None);
    let fund = projections.fund_balance("kaixuan").unwrap();
    assert_eq!(
        (page.in_fen, page.out_fen, page.balance_fen),
        (fund.total_in_fen, fund.total_out_fen, fund.total_held_fen)
    );
    assert_eq!(
        fund.total_in_fen,
        cny(1_300),
        "a reversed duplicate is no income"
    );
    assert_eq!(fund.total_out_fen, cny(400));
    assert_eq!(
        projections.fund_movement_sums("kaixuan"),
        Some((cny(1_300), cny(400), cny(900)))
    );
}

#[test]
fn a_reversed_duplicate_leaves_the_monthly_series_of_its_month() {
    let projections = kaixuan_with_corrections();
    let flows: Vec<(String, i64, i64)> = projections
        .monthly_flows()
        .into_iter()
        .map(|m| (m.month, m.in_fen, m.out_fen))
        .collect();
    assert_eq!(
        flows,
        vec![
            ("2015-09".to_owned(), cny(1_300), 0),
            ("2015-10".to_owned(), 0, cny(300)),
            ("2016-03".to_owned(), 0, cny(100)),
        ]
    );
}

#[test]
fn movements_are_paged_and_filtered_by_kind_month_and_counterparty() {
    let projections = kaixuan_with_corrections();
    let first = projections
        .fund_movements("kaixuan", MovementFilter::default(), None, 0, 3)
        .unwrap();
    assert_eq!(first.movements.len(), 3);
    assert_eq!(first.next_offset, Some(3));
    let second = projections
        .fund_movements("kaixuan", MovementFilter::default(), None, 3, 3)
        .unwrap();
    assert_eq!(second.movements.len(), 1);
    assert_eq!(second.next_offset, None);
    assert_eq!(second.movements[0].balance_after_fen, cny(900));

    let donations = MovementFilter {
        kind: Some(MovementKind::Donation),
        ..MovementFilter::default()
    };
    let page = projections
        .fund_movements("kaixuan", donations, None, 0, 10)
        .unwrap();
    assert_eq!(page.movements.len(), 2);
    let october = MovementFilter {
        month_key: parse_month("2015-10"),
        ..MovementFilter::default()
    };
    let page = projections
        .fund_movements("kaixuan", october, None, 0, 10)
        .unwrap();
    assert_eq!(page.movements.len(), 1);
    assert_eq!(
        page.movements[0].balance_after_fen,
        cny(1_000),
        "the fund's balance, not the filtered sum"
    );
    let zhang = |counterparty: &Counterparty| matches!(counterparty, Counterparty::Donor { donor_id, .. } if donor_id == "zhang");
    let page = projections
        .fund_movements("kaixuan", MovementFilter::default(), Some(&zhang), 0, 10)
        .unwrap();
    assert_eq!(page.movements.len(), 2, "d1 and its refund");
    assert_eq!(parse_month("2015-13"), None);
    assert_eq!(parse_month("2015-1"), None);
    assert!(
        projections
            .fund_movements("nope", MovementFilter::default(), None, 0, 10)
            .is_none()
    );
}

#[test]
fn corrections_note_refunds_reversals_amendments_cancellations_releases_and_closures() {
    let mut projections = kaixuan_with_corrections();
    when(
        &mut projections,
        vec![
            enterprise("unit-01", true),
            enterprise("unit-02", true),
            pledge(
                "p1",
                "unit-01",
                "",
                "kaixuan",
                &[("2016-06-30", cny(1_000))],
            ),
            pledge_amended("p1", &[("2016-06-30", cny(600))]),
            pledge_cancelled("p1", cny(600)),
            project("svc-1", "kaixuan", cny(50_000)),
            claimed("svc-1", "unit-02"),
            funded("f1", "svc-1", "unit-02", cny(19_200), "2015-09-28"),
            claim_released("svc-1", "unit-02"),
            claimed("svc-1", "unit-01"),
        ],
    );
    let kinds: Vec<(CorrectionKind, String, bool)> = projections
        .corrections()
        .into_iter()
        .map(|note| (note.kind, note.subject_id, note.duplicate_entry))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (CorrectionKind::DonationReversal, "dup".to_owned(), true),
            (CorrectionKind::ExpenditureReversal, "e1".to_owned(), false),
            (CorrectionKind::DonationRefund, "d1".to_owned(), false),
            (CorrectionKind::PledgeAmended, "p1".to_owned(), false),
            (CorrectionKind::PledgeCancelled, "p1".to_owned(), false),
            (CorrectionKind::ClaimReleased, "svc-1".to_owned(), false),
        ]
    );
    let amended = &projections.corrections()[3];
    assert_eq!(
        (amended.previous_fen, amended.amount_fen),
        (cny(1_000), cny(600))
    );
    assert_eq!(amended.donor_id, "unit-01");
    assert_eq!(amended.recorded_on.render(), "2016-03-01");
    assert_eq!(projections.corrections()[5].donor_id, "unit-02");
    assert_eq!(projections.newest_recorded_on().render(), "2016-03-01");
}

#[test]
fn credit_for_a_project_follows_who_paid_not_who_holds_the_claim() {
    let projections = given(vec![
        fund("kaixuan", FundKind::Unrestricted),
        enterprise("unit-12", true),
        enterprise("unit-01", true),
        project("svc-8", "kaixuan", cny(20_000)),
        claimed("svc-8", "unit-12"),
        funded("f1", "svc-8", "unit-12", cny(19_200), "2015-09-28"),
        claim_released("svc-8", "unit-12"),
        claimed("svc-8", "unit-01"),
    ]);
    let project = projections.project("svc-8").unwrap();
    assert_eq!(project.claimant_id.as_deref(), Some("unit-01"));
    let paid: Vec<(&str, i64)> = project
        .claim_history
        .iter()
        .map(|claim| (claim.sponsor_id.as_str(), claim.funded_fen))
        .collect();
    assert_eq!(paid, vec![("unit-12", cny(19_200)), ("unit-01", 0)]);
    assert_eq!(project.funders.len(), 1);
    assert_eq!(project.funders[0].sponsor_id, "unit-12");
    assert_eq!(project.funders[0].funded_fen, cny(19_200));
}

#[test]
fn a_page_after_more_movements_merges_them_into_the_order_worked_out_before() {
    let gift = |id: &'static str, received_on: &'static str, yuan: i64| {
        donation(Gift {
            donation_id: id,
            fund_id: "kaixuan",
            amount_fen: cny(yuan),
            received_on,
            ..Gift::default()
        })
    };
    let mut projections = given(vec![
        fund("kaixuan", FundKind::Unrestricted),
        gift("d1", "2016-03-01", 1),
        gift("d2", "2016-01-01", 2),
        gift("d3", "2016-02-01", 3),
    ]);
    let all = |projections: &mingzhang_projections::Projections| {
        projections
            .fund_movements("kaixuan", MovementFilter::default(), None, 0, 100)
            .unwrap()
            .movements
            .into_iter()
            .map(|m| (m.reference_id, m.balance_after_fen))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        all(&projections),
        [("d2", 200), ("d3", 500), ("d1", 600)].map(|(id, fen)| (id.to_owned(), fen))
    );
    when(
        &mut projections,
        vec![
            gift("d4", "2016-02-01", 4),
            gift("d5", "2015-12-31", 5),
            gift("d6", "2016-03-02", 6),
        ],
    );
    let merged = all(&projections);
    assert_eq!(
        merged,
        all(&projections.clone()),
        "the same as a fresh sort"
    );
    let ids: Vec<&str> = merged.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["d5", "d2", "d3", "d4", "d1", "d6"]);
    assert_eq!(merged.last().unwrap().1, cny(21));
}
