//! Given / when / then tests of each read model with the Kaixuan figures.

mod common;

use common::*;
use mingzhang_projections::{
    InstalmentStatus, Posting, ProjectStatus, ProjectionError, Projections, TrancheStatus,
};
use mingzhang_proto::Message;
use mingzhang_proto::v1::{ExpenditureCategory, FundKind};
use sha2::{Digest, Sha256};

const KAIXUAN_TARGET_FEN: i64 = cny(10_000_000);
/// Year one's target: exceeded by the 1,600,000+ CNY raised.
const KAIXUAN_YEARLY: [(i32, i64); 5] = [
    (2014, cny(1_500_000)),
    (2015, cny(2_000_000)),
    (2016, cny(2_000_000)),
    (2017, cny(2_000_000)),
    (2018, cny(2_500_000)),
];

fn kaixuan_opened() -> Vec<mingzhang_proto::v1::event_envelope::Event> {
    vec![
        fund("kaixuan", FundKind::Unrestricted),
        campaign("kaixuan-5y", "kaixuan", KAIXUAN_TARGET_FEN, &KAIXUAN_YEARLY),
        enterprise("greentown", true),
        enterprise("zheneng", true),
        resident("r1"),
    ]
}

fn posting(account: &str, amount_fen: i64) -> Posting {
    Posting {
        account: account.to_owned(),
        amount_fen,
    }
}

#[test]
fn donation_posts_bank_debit_against_fund_credit() {
    let projections = given(
        [
            kaixuan_opened(),
            vec![donation(Gift {
                donation_id: "d1",
                donor_id: "greentown",
                fund_id: "kaixuan",
                amount_fen: cny(500_000),
                ..Gift::default()
            })],
        ]
        .concat(),
    );
    let seq = projections.applied_len() - 1;
    assert_eq!(
        projections.postings_for(seq).unwrap(),
        vec![
            posting("assets:bank", cny(500_000)),
            posting("fund:kaixuan:donations", -cny(500_000)),
        ]
    );
    assert_eq!(projections.postings_for(0).unwrap(), vec![]);
    assert_eq!(projections.postings_for(seq + 1), None);
    let trial = projections.trial_balance();
    assert_eq!(trial.total_fen, 0);
    assert_eq!(trial.accounts.len(), 2);
    assert_eq!(
        projections.account_balance("assets:bank"),
        Some(cny(500_000))
    );
}

#[test]
fn kaixuan_first_year_raises_beyond_its_yearly_target() {
    // Given the five-year 10,000,000 CNY campaign,
    let mut projections = given(kaixuan_opened());
    // when year one brings 1,000,000 + 5,000 CNY of gifts and 600,000 CNY of pledge payments,
    when(
        &mut projections,
        vec![
            donation(Gift {
                donation_id: "d1",
                donor_id: "greentown",
                fund_id: "kaixuan",
                campaign_id: "kaixuan-5y",
                amount_fen: cny(1_000_000),
                received_on: "2014-06-01",
                ..Gift::default()
            }),
            donation(Gift {
                donation_id: "d2",
                donor_id: "r1",
                fund_id: "kaixuan",
                campaign_id: "kaixuan-5y",
                amount_fen: cny(5_000),
                received_on: "2014-09-09",
                anonymous: true,
                ..Gift::default()
            }),
            pledge(
                "p1",
                "zheneng",
                "kaixuan-5y",
                "kaixuan",
                &[("2014-12-01", cny(600_000)), ("2015-12-01", cny(600_000))],
            ),
            pledge_payment("pp1", "p1", cny(600_000), "2014-12-01"),
        ],
    );
    // then the campaign shows 1,605,000 CNY raised, beyond year one's 1,500,000.
    let progress = projections.campaign("kaixuan-5y").unwrap();
    assert_eq!(progress.total_target_fen, 1_000_000_000);
    assert_eq!(progress.raised_fen, cny(1_605_000));
    assert_eq!(progress.pledged_fen, cny(1_200_000));
    assert_eq!(progress.target_reached_bp, 1_605);
    let year_one = &progress.years[0];
    assert_eq!(year_one.year, 2014);
    assert_eq!(year_one.raised_fen, cny(1_605_000));
    assert!(year_one.raised_fen > year_one.target_fen);
    assert_eq!(year_one.target_reached_bp, 10_700);
    assert_eq!(year_one.pledged_fen, cny(600_000));
    assert_eq!(progress.years[1].pledged_fen, cny(600_000));
    assert_eq!(progress.years[1].raised_fen, 0);
    assert_eq!(progress.years.len(), 5);

    // And when a 2014 gift is partly refunded in 2016, year one carries the loss.
    when(&mut projections, vec![refund("rf1", "d1", cny(100_000))]);
    let progress = projections.campaign("kaixuan-5y").unwrap();
    assert_eq!(progress.years[0].donations_fen, cny(905_000));
    assert_eq!(progress.raised_fen, cny(1_505_000));
    let seq = projections.applied_len() - 1;
    assert_eq!(
        projections.postings_for(seq).unwrap(),
        vec![
            posting("fund:kaixuan:refunds", cny(100_000)),
            posting("assets:bank", -cny(100_000)),
        ]
    );
    let gift = projections.donation("d1").unwrap();
    assert!(gift.refunded);
    assert_eq!(gift.net_fen, cny(900_000));
    assert_eq!(
        projections.donor("greentown").unwrap().donated_fen,
        cny(900_000)
    );
    assert!(projections.donation("d2").unwrap().anonymous);
}

#[test]
fn special_support_fund_spends_by_category_and_reversal_restores_it() {
    // Given the 1,000,000 CNY special support fund,
    let mut projections = given(vec![
        fund("special", FundKind::SpecialSupport),
        enterprise("greentown", true),
        donation(Gift {
            donation_id: "d1",
            donor_id: "greentown",
            fund_id: "special",
            amount_fen: cny(1_000_000),
            received_on: "2015-03-01",
            ..Gift::default()
        }),
    ]);
    // when it pays one-off support, purchase of services and an award for excellence,
    when(
        &mut projections,
        vec![
            expenditure(
                "e1",
                "special",
                "",
                cny(20_000),
                ExpenditureCategory::OneOffSupport,
                "2015-04-01",
            ),
            expenditure(
                "e2",
                "special",
                "",
                cny(300_000),
                ExpenditureCategory::PurchaseOfServices,
                "2015-05-01",
            ),
            expenditure(
                "e3",
                "special",
                "",
                cny(50_000),
                ExpenditureCategory::AwardForExcellence,
                "2015-05-20",
            ),
        ],
    );
    // then 630,000 CNY is available and each category has its own account.
    let special = projections.fund_balance("special").unwrap();
    assert_eq!(special.kind, "special_support");
    assert_eq!(special.available_fen, cny(630_000));
    assert_eq!(special.total_in_fen, cny(1_000_000));
    assert_eq!(special.total_out_fen, cny(370_000));
    assert_eq!(
        projections.account_balance("fund:special:expenses:purchase_of_services"),
        Some(cny(300_000))
    );
    assert_eq!(
        projections.account_balance("fund:special:expenses:award_for_excellence"),
        Some(cny(50_000))
    );
    // And when the award is returned, the money is back in the fund.
    when(
        &mut projections,
        vec![expenditure_reversed("e3", cny(50_000))],
    );
    let special = projections.fund_balance("special").unwrap();
    assert_eq!(special.available_fen, cny(680_000));
    let listed = projections.expenditures(0, 10);
    assert_eq!(listed.len(), 3);
    assert!(listed[2].reversed);
    assert_eq!(listed[2].category, "award_for_excellence");
    assert_eq!(listed[1].paid_on.render(), "2015-05-01");
}

#[test]
fn partners_day_nine_units_each_claim_and_fund_one_project() {
    // Given nine alliance member units and nine published service projects,
    let units: Vec<String> = (1..=9).map(|n| format!("unit-{n}")).collect();
    let budget = |n: usize| if n == 9 { cny(24_000) } else { cny(22_000) };
    let mut events = vec![fund("partners", FundKind::Restricted)];
    for (n, unit) in units.iter().enumerate().map(|(i, u)| (i + 1, u)) {
        events.push(enterprise(unit, true));
        events.push(project(&format!("svc-{n}"), "partners", budget(n)));
    }
    let mut projections = given(events);
    // when on Partners Day 2015 each claims one and funds it in full,
    let mut day = Vec::new();
    for (n, unit) in units.iter().enumerate().map(|(i, u)| (i + 1, u)) {
        day.push(claimed(&format!("svc-{n}"), unit));
        day.push(funded(
            &format!("f{n}"),
            &format!("svc-{n}"),
            unit,
            budget(n),
            "2015-09-25",
        ));
    }
    when(&mut projections, day);
    // then 200,000 CNY was raised and the board shows nine funded projects.
    let board = projections.projects();
    assert_eq!(board.len(), 9);
    assert!(board.iter().all(|p| p.status == ProjectStatus::Funded));
    let raised: i64 = board.iter().map(|p| p.sponsor_funding_fen).sum();
    assert_eq!(raised, cny(200_000));
    let partners = projections.fund_balance("partners").unwrap();
    assert_eq!(partners.restricted_to_projects_fen, cny(200_000));
    assert_eq!(partners.available_fen, 0);
    assert_eq!(partners.total_held_fen, cny(200_000));
    let unit_3 = projections.donor("unit-3").unwrap();
    assert_eq!(unit_3.projects_claimed, vec!["svc-3".to_owned()]);
    assert_eq!(unit_3.project_funding_fen, cny(22_000));
    assert_eq!(projections.project_fundings_count(), 9);
    let seq_of_first_funding = projections.applied_len() - 17;
    assert_eq!(
        projections.postings_for(seq_of_first_funding).unwrap(),
        vec![
            posting("assets:bank", cny(22_000)),
            posting("project:svc-1:sponsor_funding", -cny(22_000)),
        ]
    );

    // And when svc-1 spends, is released to another unit and completes,
    when(
        &mut projections,
        vec![
            expenditure(
                "e1",
                "partners",
                "svc-1",
                cny(21_000),
                ExpenditureCategory::ProjectDelivery,
                "2015-11-01",
            ),
            claim_released("svc-1", "unit-1"),
            claimed("svc-1", "unit-2"),
            completed("svc-1", [7u8; 32]),
        ],
    );
    let svc_1 = projections.project("svc-1").unwrap();
    assert_eq!(svc_1.status, ProjectStatus::Completed);
    assert_eq!(svc_1.spent_fen, cny(21_000));
    assert_eq!(svc_1.balance_fen, cny(1_000));
    assert_eq!(svc_1.claimant_id.as_deref(), Some("unit-2"));
    assert_eq!(svc_1.claim_history.len(), 2);
    assert!(svc_1.claim_history[0].released_at_seq.is_some());
    assert_eq!(svc_1.claim_history[1].released_at_seq, None);
    assert_eq!(svc_1.completion.unwrap().report_sha256, "07".repeat(32));
    assert!(
        projections
            .donor("unit-1")
            .unwrap()
            .projects_claimed
            .is_empty()
    );
    assert_eq!(
        projections.donor("unit-2").unwrap().projects_claimed,
        vec!["svc-1".to_owned(), "svc-2".to_owned()]
    );
}

#[test]
fn project_status_moves_from_published_to_claimed_to_funded() {
    let mut projections = given(vec![
        fund("partners", FundKind::Restricted),
        enterprise("unit-1", true),
        project("svc-1", "partners", cny(22_000)),
    ]);
    assert_eq!(
        projections.project("svc-1").unwrap().status,
        ProjectStatus::Published
    );
    when(&mut projections, vec![claimed("svc-1", "unit-1")]);
    assert_eq!(
        projections.project("svc-1").unwrap().status,
        ProjectStatus::Claimed
    );
    when(
        &mut projections,
        vec![
            funded("f1", "svc-1", "unit-1", cny(12_000), "2015-09-25"),
            donation(Gift {
                donation_id: "d1",
                fund_id: "partners",
                project_id: "svc-1",
                amount_fen: cny(10_000),
                ..Gift::default()
            }),
        ],
    );
    let svc_1 = projections.project("svc-1").unwrap();
    assert_eq!(svc_1.status, ProjectStatus::Funded);
    assert_eq!(svc_1.funding_received_fen, cny(22_000));
    assert_eq!(svc_1.donations_fen, cny(10_000));
    assert_eq!(
        projections.account_balance("project:svc-1:donations"),
        Some(-cny(10_000))
    );
}

fn micro_venture_round_2016() -> Projections {
    let mut events = vec![
        fund("special", FundKind::SpecialSupport),
        enterprise("greentown", true),
        donation(Gift {
            donation_id: "d1",
            donor_id: "greentown",
            fund_id: "special",
            amount_fen: cny(1_000_000),
            received_on: "2016-01-05",
            ..Gift::default()
        }),
        round("mv-2016", "special", cny(500_000)),
    ];
    for n in 1..=40 {
        events.push(organisation(&format!("org-{n}")));
        events.push(application(
            &format!("app-{n}"),
            "mv-2016",
            &format!("org-{n}"),
            cny(20_000),
        ));
        events.push(reviewed(&format!("app-{n}"), 60 + n % 40));
    }
    for n in 1..=26 {
        events.push(shortlisted(&format!("app-{n}")));
    }
    events.push(awarded(
        "g1",
        "app-1",
        &[(cny(10_000), false), (cny(10_000), true)],
    ));
    events.push(awarded(
        "g2",
        "app-2",
        &[(cny(8_000), false), (cny(7_000), true)],
    ));
    events.push(awarded("g3", "app-3", &[(cny(20_000), false)]));
    given(events)
}

#[test]
fn grant_round_of_2016_shortlists_26_and_gates_later_tranches_on_evaluation() {
    // Given the 2016 round with 40 applications, 26 shortlisted and three awards,
    let mut projections = micro_venture_round_2016();
    let round = projections.grant_round("mv-2016").unwrap();
    assert_eq!(round.applications, 40);
    assert_eq!(round.requested_fen, cny(800_000));
    assert_eq!(round.reviewed, 40);
    assert_eq!(round.shortlisted, 26);
    assert_eq!((round.awarded, round.awarded_fen), (3, cny(55_000)));
    assert_eq!(round.budget_remaining_fen, cny(445_000));
    let special = projections.fund_balance("special").unwrap();
    assert_eq!(special.available_fen, cny(945_000));
    assert_eq!(special.committed_to_grants_fen, cny(55_000));
    assert_eq!(
        projections.account_balance("liabilities:grants:g1"),
        Some(-cny(20_000))
    );

    // When the first tranche of g1 is paid, the second awaits an evaluation;
    when(
        &mut projections,
        vec![disbursed("g1", 0, cny(10_000), "2016-06-01")],
    );
    let statuses = |p: &Projections, grant: &str| -> Vec<TrancheStatus> {
        p.grant(grant)
            .unwrap()
            .tranches
            .iter()
            .map(|t| t.status)
            .collect()
    };
    assert_eq!(
        statuses(&projections, "g1"),
        vec![TrancheStatus::Paid, TrancheStatus::AwaitingEvaluation]
    );
    assert_eq!(
        statuses(&projections, "g2"),
        vec![TrancheStatus::Payable, TrancheStatus::Scheduled]
    );
    // a failed evaluation does not release it, a passing one does,
    when(
        &mut projections,
        vec![evaluated("ev1", "g1", "2016-H1", false)],
    );
    assert_eq!(
        statuses(&projections, "g1")[1],
        TrancheStatus::AwaitingEvaluation
    );
    when(
        &mut projections,
        vec![
            evaluated("ev2", "g1", "2016-H2", true),
            self_assessed("g1", "2016-Q3", [0xab; 32]),
        ],
    );
    assert_eq!(statuses(&projections, "g1")[1], TrancheStatus::Payable);

    // and closing g2 after its first tranche returns the unspent 7,000 CNY.
    when(
        &mut projections,
        vec![
            disbursed("g2", 0, cny(8_000), "2016-06-02"),
            grant_closed("g2", cny(8_000), cny(7_000)),
        ],
    );
    let seq = projections.applied_len() - 1;
    assert_eq!(
        projections.postings_for(seq).unwrap(),
        vec![
            posting("liabilities:grants:g2", cny(7_000)),
            posting("fund:special:grants_returned", -cny(7_000)),
        ]
    );
    let g2 = projections.grant("g2").unwrap();
    assert!(g2.closed);
    assert_eq!(g2.outstanding_commitment_fen, 0);
    assert_eq!(g2.tranches[1].status, TrancheStatus::Closed);
    let g1 = projections.grant("g1").unwrap();
    assert_eq!(g1.evaluations.len(), 2);
    assert_eq!(g1.self_assessments[0].report_sha256, "ab".repeat(32));
    assert_eq!(g1.organisation_id, "org-1");
    let round = projections.grant_round("mv-2016").unwrap();
    assert_eq!(round.disbursed_fen, cny(18_000));
    assert_eq!((round.evaluations, round.evaluations_passed), (2, 1));
    assert_eq!(round.self_assessments, 1);
    assert_eq!((round.closed_grants, round.returned_fen), (1, cny(7_000)));
    assert_eq!(round.budget_remaining_fen, cny(452_000));
    let special = projections.fund_balance("special").unwrap();
    assert_eq!(special.committed_to_grants_fen, cny(10_000) + cny(20_000));
    assert_eq!(special.total_held_fen, cny(1_000_000 - 18_000));
    let shortlisted_titles = projections
        .grant_applications(Some("mv-2016"))
        .into_iter()
        .filter(|a| a.shortlisted)
        .count();
    assert_eq!(shortlisted_titles, 26);
}

#[test]
fn pledge_payments_fulfil_earliest_instalments_and_lateness_is_visible() {
    // Given a 300,000 CNY pledge in three yearly instalments,
    let mut projections = given(
        [
            kaixuan_opened(),
            vec![pledge(
                "p1",
                "zheneng",
                "kaixuan-5y",
                "kaixuan",
                &[
                    ("2015-06-30", cny(100_000)),
                    ("2016-06-30", cny(100_000)),
                    ("2017-06-30", cny(100_000)),
                ],
            )],
        ]
        .concat(),
    );
    // when 150,000 CNY has been paid,
    when(
        &mut projections,
        vec![pledge_payment("pp1", "p1", cny(150_000), "2015-06-20")],
    );
    // then the first instalment is paid, the second half paid and, in 2016-07, overdue.
    let report = projections.pledge_status("2016-07-01").unwrap();
    let statuses: Vec<(InstalmentStatus, i64)> = report.pledges[0]
        .instalments
        .iter()
        .map(|i| (i.status, i.unpaid_fen))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (InstalmentStatus::Paid, 0),
            (InstalmentStatus::Overdue, cny(50_000)),
            (InstalmentStatus::Due, cny(100_000)),
        ]
    );
    let sponsor = &report.sponsors[0];
    assert_eq!(sponsor.donor_id, "zheneng");
    assert_eq!(
        (sponsor.fulfilled_instalments, sponsor.overdue_fen),
        (1, cny(50_000))
    );
    assert_eq!(
        (sponsor.due_instalments, sponsor.due_fen),
        (1, cny(100_000))
    );
    assert_eq!(
        projections.pledge("p1").unwrap().outstanding_fen,
        cny(150_000)
    );

    // When the schedule is amended to two instalments, paid money is re-applied earliest first;
    when(
        &mut projections,
        vec![pledge_amended(
            "p1",
            &[("2016-12-31", cny(120_000)), ("2017-12-31", cny(120_000))],
        )],
    );
    let amended = projections.pledge("p1").unwrap();
    assert_eq!(amended.total_fen, cny(240_000));
    let paid: Vec<i64> = amended.instalments.iter().map(|i| i.paid_fen).collect();
    assert_eq!(paid, vec![cny(120_000), cny(30_000)]);
    assert_eq!(
        projections.donor("zheneng").unwrap().pledged_fen,
        cny(240_000)
    );

    // and a cancellation waives what is unpaid.
    when(&mut projections, vec![pledge_cancelled("p1", cny(90_000))]);
    let report = projections.pledge_status("2018-01-01").unwrap();
    assert_eq!(
        report.pledges[0].instalments[1].status,
        InstalmentStatus::Waived
    );
    assert_eq!(report.sponsors[0].overdue_instalments, 0);
    let progress = projections.campaign("kaixuan-5y").unwrap();
    assert_eq!(progress.pledged_fen, cny(150_000));
    assert_eq!(progress.pledge_payments_fen, cny(150_000));
    assert_eq!(projections.pledge("p1").unwrap().outstanding_fen, 0);
    assert_eq!(projections.pledges_of("zheneng").len(), 1);
    assert!(matches!(
        projections.pledge_status("2018-1-1"),
        Err(ProjectionError::InvalidDate { field: "as_of", .. })
    ));
}

#[test]
fn monthly_series_counts_money_in_and_out_by_month() {
    let projections = given(vec![
        fund("kaixuan", FundKind::Unrestricted),
        donation(Gift {
            donation_id: "d1",
            fund_id: "kaixuan",
            amount_fen: cny(45_000),
            received_on: "2015-09-25",
            ..Gift::default()
        }),
        donation(Gift {
            donation_id: "d2",
            fund_id: "kaixuan",
            amount_fen: cny(5_000),
            received_on: "2015-09-26",
            ..Gift::default()
        }),
        expenditure(
            "e1",
            "kaixuan",
            "",
            cny(12_000),
            ExpenditureCategory::Operations,
            "2015-10-08",
        ),
        // Recorded 2016-03-01 (CST): the refund leaves the bank in March 2016.
        refund("rf1", "d2", cny(1_000)),
    ]);
    let flows: Vec<(String, i64, i64)> = projections
        .monthly_flows()
        .into_iter()
        .map(|m| (m.month, m.in_fen, m.out_fen))
        .collect();
    assert_eq!(
        flows,
        vec![
            ("2015-09".to_owned(), cny(50_000), 0),
            ("2015-10".to_owned(), 0, cny(12_000)),
            ("2016-03".to_owned(), 0, cny(1_000)),
        ]
    );
}

#[test]
fn balances_digest_is_sha256_of_the_documented_canonical_text() {
    let projections = given(vec![
        fund("kaixuan", FundKind::Unrestricted),
        donation(Gift {
            donation_id: "d1",
            fund_id: "kaixuan",
            amount_fen: 1_234,
            ..Gift::default()
        }),
        reversal("d1", 1_234),
    ]);
    let text = "assets:bank=0\nfund:kaixuan:donations=-1234\nfund:kaixuan:refunds=1234\n";
    assert_eq!(projections.balances_canonical_text(), text);
    let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    assert_eq!(projections.balances_digest(), expected);
    let empty: [u8; 32] = Sha256::digest(b"").into();
    assert_eq!(Projections::default().balances_digest(), empty);
    assert!(projections.donation("d1").unwrap().refunded);
}

#[test]
fn event_referring_to_an_unknown_fund_does_not_apply_and_stops_the_projections() {
    let mut projections = given(vec![fund("kaixuan", FundKind::Unrestricted)]);
    let gift = donation(Gift {
        donation_id: "d1",
        fund_id: "no-such-fund",
        amount_fen: cny(100),
        ..Gift::default()
    });
    let not_applied = projections
        .apply(1, &envelope(gift))
        .expect_err("an unknown fund does not apply");
    assert_eq!(
        not_applied.to_string(),
        "record seq 1: does not apply to the read models: unknown fund \"no-such-fund\" [unknown_reference]"
    );
    assert_eq!(projections.applied_len(), 1, "the record is not applied");
    assert_eq!(projections.not_applied(), Some(&not_applied));
    // Nothing after it applies either, valid or not.
    let later = fund("partners-day", FundKind::Unrestricted);
    assert_eq!(projections.apply(1, &envelope(later)), Err(not_applied));
    assert_eq!(projections.trial_balance().accounts, vec![]);
    assert_eq!(projections.donations_count(), 0);
    assert!(projections.fund_balance("partners-day").is_none());
}

#[test]
fn payload_that_is_not_an_envelope_is_refused_with_its_seq() {
    let mut projections = Projections::default();
    let error = projections
        .apply_payload(0, &[0xff, 0xff, 0xff])
        .unwrap_err();
    assert!(matches!(error, ProjectionError::Decode { seq: 0, .. }));
    assert_eq!(projections.applied_len(), 0);
    let payload = envelope(fund("kaixuan", FundKind::Unrestricted)).encode_to_vec();
    projections.apply_payload(0, &payload).unwrap();
    assert_eq!(projections.fund_balances().len(), 1);
}

#[tokio::test]
async fn catching_up_on_a_log_the_rules_refuse_stops_at_its_record_and_says_so() {
    use mingzhang_ledger::store::{EventStore, MemoryStore};
    use mingzhang_projections::ProjectionError;
    for log in mingzhang_ledger::scenario::logs_the_rules_refuse() {
        let store = MemoryStore::new();
        let payloads = log.envelopes.iter().map(Message::encode_to_vec).collect();
        store.append(0, payloads).await.expect("append");
        let mut projections = Projections::default();
        let error = projections
            .catch_up(&store)
            .expect_err("a record that does not apply is an error");
        let ProjectionError::NotApplied(not_applied) = &error else {
            panic!("{}: {error}", log.what);
        };
        assert_eq!(not_applied.seq, log.refused_seq, "{}", log.what);
        assert_eq!(projections.applied_len(), log.refused_seq, "{}", log.what);
        assert_eq!(projections.not_applied(), Some(not_applied), "{}", log.what);
        let again = projections.catch_up(&store).expect_err("refuses to go on");
        assert_eq!(again.to_string(), error.to_string(), "{}", log.what);
    }
}
