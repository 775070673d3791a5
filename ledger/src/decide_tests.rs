//! Given / when / then tests of `decide`: every rule refuses with its name and
//! the field, and a refused command leaves the state as it was.

use mingzhang_proto::v1::{self, event_envelope::Event};

use crate::decide::{Principal, RejectionKind, decide, decide_as};
use crate::scenario::{self, YUAN};
use crate::state::LedgerState;

fn given(events: Vec<Event>) -> LedgerState {
    let mut state = LedgerState::default();
    for event in events {
        let decided = decide(&state, event).expect("given events are valid");
        state.apply(&decided);
    }
    state
}

#[track_caller]
fn then_refused(state: &LedgerState, command: Event, field: &str, rule: &str) {
    let rejection = decide(state, command).expect_err("command should be refused");
    assert_eq!(
        (rejection.field.as_str(), rejection.rule),
        (field, rule),
        "{rejection}"
    );
}

fn fund(id: &str, kind: v1::FundKind) -> Event {
    Event::FundOpened(v1::FundOpened {
        fund_id: id.into(),
        name: format!("fund {id}"),
        kind: kind as i32,
        restriction: if kind == v1::FundKind::Restricted {
            "community".into()
        } else {
            String::new()
        },
    })
}

fn donor(id: &str, kind: v1::DonorKind) -> Event {
    Event::DonorRegistered(v1::DonorRegistered {
        donor_id: id.into(),
        name: format!("donor {id}"),
        kind: kind as i32,
        alliance_member: kind == v1::DonorKind::Enterprise,
        show_name_publicly: true,
        name_commitment: Default::default(),
    })
}

/// An enterprise that gives but was not registered as a 凯联盟 member unit.
fn non_member_enterprise(id: &str) -> Event {
    Event::DonorRegistered(v1::DonorRegistered {
        alliance_member: false,
        ..match donor(id, v1::DonorKind::Enterprise) {
            Event::DonorRegistered(registered) => registered,
            _ => unreachable!("donor() registers a donor"),
        }
    })
}

fn donation(id: &str, fund_id: &str, project_id: &str, fen: i64) -> Event {
    Event::DonationReceived(v1::DonationReceived {
        donation_id: id.into(),
        donor_id: "acme".into(),
        fund_id: fund_id.into(),
        campaign_id: String::new(),
        project_id: project_id.into(),
        amount_fen: fen,
        channel: v1::Channel::BankTransfer as i32,
        bank_reference: "REF-1".into(),
        anonymous: false,
        received_on: "2016-01-01".into(),
    })
}

fn expenditure(id: &str, fund_id: &str, project_id: &str, fen: i64) -> Event {
    Event::ExpenditureMade(v1::ExpenditureMade {
        expenditure_id: id.into(),
        fund_id: fund_id.into(),
        project_id: project_id.into(),
        amount_fen: fen,
        payee: "某社工服务中心".into(),
        payee_kind: v1::PayeeKind::Organisation as i32,
        purpose: "service".into(),
        category: v1::ExpenditureCategory::PurchaseOfServices as i32,
        receipt_no: "R1".into(),
        paid_on: "2016-02-01".into(),
        payee_commitment: Default::default(),
    })
}

fn project(id: &str, fund_id: &str) -> Event {
    Event::ProjectPublished(v1::ProjectPublished {
        project_id: id.into(),
        title: "楼道文化墙".into(),
        description: String::new(),
        need_kind: v1::NeedKind::MicroCharity as i32,
        community: "凯旋社区".into(),
        survey: "2015-H1".into(),
        budget_fen: 18_000 * YUAN,
        fund_id: fund_id.into(),
    })
}

fn claim(project_id: &str, sponsor_id: &str) -> Event {
    Event::ProjectClaimed(v1::ProjectClaimed {
        project_id: project_id.into(),
        sponsor_id: sponsor_id.into(),
    })
}

fn basics() -> Vec<Event> {
    vec![
        fund("general", v1::FundKind::Unrestricted),
        fund("special", v1::FundKind::SpecialSupport),
        donor("acme", v1::DonorKind::Enterprise),
        donor("beta", v1::DonorKind::Enterprise),
        donor("resident", v1::DonorKind::Individual),
    ]
}

/// A round with one shortlisted application and a two-tranche award; the
/// second tranche is 以奖代拨.
fn awarded_grant() -> Vec<Event> {
    let mut events = basics();
    events.push(donation("d1", "general", "", 100_000 * YUAN));
    events.push(Event::OrganisationRegistered(v1::OrganisationRegistered {
        organisation_id: "org-1".into(),
        name: "凯益荟·社工服务中心".into(),
        registration_no: String::new(),
    }));
    events.push(Event::GrantRoundOpened(v1::GrantRoundOpened {
        round_id: "r1".into(),
        fund_id: "general".into(),
        name: "微创投".into(),
        budget_fen: 50_000 * YUAN,
        applications_open_on: "2016-03-01".into(),
        applications_close_on: "2016-03-31".into(),
    }));
    events.push(Event::GrantApplicationSubmitted(
        v1::GrantApplicationSubmitted {
            application_id: "a1".into(),
            round_id: "r1".into(),
            organisation_id: "org-1".into(),
            title: "助老".into(),
            summary: String::new(),
            requested_fen: 30_000 * YUAN,
            submitted_on: "2016-03-15".into(),
        },
    ));
    events.push(Event::GrantApplicationReviewed(
        v1::GrantApplicationReviewed {
            application_id: "a1".into(),
            reviewer: "panel".into(),
            score: 80,
            notes: String::new(),
        },
    ));
    events.push(Event::GrantApplicationShortlisted(
        v1::GrantApplicationShortlisted {
            application_id: "a1".into(),
        },
    ));
    events.push(Event::GrantAwarded(v1::GrantAwarded {
        grant_id: "g1".into(),
        application_id: "a1".into(),
        amount_fen: 30_000 * YUAN,
        awarded_on: "2016-04-28".into(),
        tranches: vec![
            v1::Tranche {
                amount_fen: 18_000 * YUAN,
                requires_evaluation: false,
            },
            v1::Tranche {
                amount_fen: 12_000 * YUAN,
                requires_evaluation: true,
            },
        ],
    }));
    events
}

fn disburse(grant_id: &str, tranche_index: u32) -> Event {
    Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
        grant_id: grant_id.into(),
        tranche_index,
        amount_fen: 0,
        paid_on: "2016-05-01".into(),
        bank_reference: String::new(),
    })
}

fn evaluation(id: &str, passed: bool) -> Event {
    Event::GrantEvaluationRecorded(v1::GrantEvaluationRecorded {
        evaluation_id: id.into(),
        grant_id: "g1".into(),
        period: "2016-H1".into(),
        evaluator: "third party".into(),
        score: if passed { 80 } else { 40 },
        passed,
    })
}

#[test]
fn the_kaixuan_scenario_is_accepted_in_full() {
    let mut state = LedgerState::default();
    let commands = scenario::kaixuan();
    assert!(
        commands.len() > 300,
        "scenario shrank to {}",
        commands.len()
    );
    for (index, (command, meta)) in commands.into_iter().enumerate() {
        let event = decide_as(&state, &meta.principal, command)
            .unwrap_or_else(|rejection| panic!("scenario command {index} refused: {rejection}"));
        state.apply(&event);
    }
    // 26 grants of 30,000: 20 paid in full, 5 await their second tranche, 1 closed at 60%.
    let disbursed: i64 = state.grants.values().map(|grant| grant.disbursed_fen).sum();
    assert_eq!(disbursed, (20 * 30_000 + 6 * 18_000) * YUAN);
    assert_eq!(
        state.funds[scenario::SPECIAL_SUPPORT_FUND_ID].available_fen,
        (1_000_000 - 306_000) * YUAN
    );
    assert_eq!(
        state.rounds[scenario::GRANT_ROUND_ID].awarded_fen,
        (26 * 30_000 - 12_000) * YUAN
    );
}

#[test]
fn amounts_must_be_positive() {
    let state = given(basics());
    then_refused(
        &state,
        donation("d1", "general", "", 0),
        "amount_fen",
        "amount_not_positive",
    );
    then_refused(
        &state,
        donation("d1", "general", "", -100),
        "amount_fen",
        "amount_not_positive",
    );
}

#[test]
fn ids_are_unique_and_well_formed() {
    let state = given(basics());
    then_refused(
        &state,
        fund("general", v1::FundKind::Unrestricted),
        "fund_id",
        "id_taken",
    );
    then_refused(
        &state,
        fund("has space", v1::FundKind::Unrestricted),
        "fund_id",
        "id_format",
    );
    then_refused(
        &state,
        fund("", v1::FundKind::Unrestricted),
        "fund_id",
        "required",
    );
    then_refused(
        &state,
        donation("d1", "no-such-fund", "", 100),
        "fund_id",
        "not_found",
    );
}

#[test]
fn expenditure_beyond_fund_balance_is_refused() {
    let state = given([basics(), vec![donation("d1", "general", "", 500)]].concat());
    then_refused(
        &state,
        expenditure("e1", "general", "", 501),
        "amount_fen",
        "exceeds_available",
    );
    assert!(decide(&state, expenditure("e1", "general", "", 500)).is_ok());
}

#[test]
fn project_money_is_restricted_to_the_project() {
    let state = given(
        [
            basics(),
            vec![
                project("p1", "general"),
                donation("d1", "general", "p1", 1_000),
                donation("d2", "general", "", 10),
            ],
        ]
        .concat(),
    );
    then_refused(
        &state,
        expenditure("e1", "general", "", 11),
        "amount_fen",
        "exceeds_available",
    );
    then_refused(
        &state,
        expenditure("e1", "general", "p1", 1_001),
        "amount_fen",
        "exceeds_project_balance",
    );
    assert!(decide(&state, expenditure("e1", "general", "p1", 1_000)).is_ok());
}

#[test]
fn special_support_fund_pays_only_its_three_purposes() {
    let state = given([basics(), vec![donation("d1", "special", "", 1_000)]].concat());
    let mut operations = expenditure("e1", "special", "", 100);
    if let Event::ExpenditureMade(e) = &mut operations {
        e.category = v1::ExpenditureCategory::Operations as i32;
    }
    then_refused(
        &state,
        operations,
        "category",
        "category_not_allowed_for_fund",
    );
    assert!(decide(&state, expenditure("e1", "special", "", 100)).is_ok());
}

#[test]
fn refunds_never_exceed_the_donation_and_reversal_takes_the_rest() {
    let state = given([basics(), vec![donation("d1", "general", "", 1_000)]].concat());
    let refund = |id: &str, fen| {
        Event::DonationRefunded(v1::DonationRefunded {
            refund_id: id.into(),
            donation_id: "d1".into(),
            amount_fen: fen,
            reason: "asked".into(),
        })
    };
    then_refused(
        &state,
        refund("r1", 1_001),
        "amount_fen",
        "exceeds_refundable",
    );
    let state = given(
        [
            basics(),
            vec![donation("d1", "general", "", 1_000), refund("r1", 400)],
        ]
        .concat(),
    );
    let reversal = decide(
        &state,
        Event::DonationReversed(v1::DonationReversed {
            donation_id: "d1".into(),
            amount_fen: 0,
            reason: "typo".into(),
        }),
    )
    .expect("reversal accepted");
    let Event::DonationReversed(reversal) = reversal else {
        unreachable!()
    };
    assert_eq!(
        reversal.amount_fen, 600,
        "a reversal takes what was not refunded"
    );
    then_refused(
        &state,
        Event::DonationReversed(v1::DonationReversed {
            donation_id: "d1".into(),
            amount_fen: 999,
            reason: "x".into(),
        }),
        "amount_fen",
        "derived_field_mismatch",
    );
}

#[test]
fn a_project_has_one_claim_at_a_time() {
    let state = given(
        [
            basics(),
            vec![project("p1", "general"), claim("p1", "acme")],
        ]
        .concat(),
    );
    let refusal = decide(&state, claim("p1", "beta")).unwrap_err();
    assert_eq!(
        (refusal.rule, refusal.kind),
        ("already_claimed", RejectionKind::Conflict)
    );
    let release = Event::ProjectClaimReleased(v1::ProjectClaimReleased {
        project_id: "p1".into(),
        sponsor_id: "beta".into(),
        reason: "not ours".into(),
    });
    then_refused(&state, release, "sponsor_id", "not_claimant");
    let released = given(
        [
            basics(),
            vec![
                project("p1", "general"),
                claim("p1", "acme"),
                Event::ProjectClaimReleased(v1::ProjectClaimReleased {
                    project_id: "p1".into(),
                    sponsor_id: "acme".into(),
                    reason: "moved away".into(),
                }),
            ],
        ]
        .concat(),
    );
    assert!(decide(&released, claim("p1", "beta")).is_ok());
    then_refused(
        &released,
        claim("p1", "resident"),
        "sponsor_id",
        "sponsor_not_enterprise",
    );
}

#[test]
fn evaluation_gated_tranche_waits_for_a_passing_evaluation() {
    let state = given([awarded_grant(), vec![disburse("g1", 0)]].concat());
    then_refused(
        &state,
        disburse("g1", 1),
        "tranche_index",
        "evaluation_required",
    );
    let failed = given(
        [
            awarded_grant(),
            vec![disburse("g1", 0), evaluation("e1", false)],
        ]
        .concat(),
    );
    then_refused(
        &failed,
        disburse("g1", 1),
        "tranche_index",
        "evaluation_required",
    );
    let passed = given(
        [
            awarded_grant(),
            vec![disburse("g1", 0), evaluation("e1", true)],
        ]
        .concat(),
    );
    let Event::GrantTrancheDisbursed(paid) = decide(&passed, disburse("g1", 1)).unwrap() else {
        unreachable!()
    };
    assert_eq!(paid.amount_fen, 12_000 * YUAN);
}

#[test]
fn disbursement_beyond_award_is_refused_and_tranches_go_in_order() {
    let state = given(awarded_grant());
    then_refused(
        &state,
        disburse("g1", 1),
        "tranche_index",
        "tranche_out_of_order",
    );
    let all_paid = given(
        [
            awarded_grant(),
            vec![disburse("g1", 0), evaluation("e1", true), disburse("g1", 1)],
        ]
        .concat(),
    );
    then_refused(
        &all_paid,
        disburse("g1", 2),
        "grant_id",
        "grant_fully_disbursed",
    );
}

#[test]
fn closing_a_grant_returns_the_unspent_award_to_the_fund() {
    let state = given([awarded_grant(), vec![disburse("g1", 0)]].concat());
    let available_before = state.funds["general"].available_fen;
    let close = Event::GrantClosed(v1::GrantClosed {
        grant_id: "g1".into(),
        disbursed_fen: 0,
        returned_fen: 0,
        reason: "evaluation failed".into(),
    });
    let decided = decide(&state, close).unwrap();
    let Event::GrantClosed(closed) = &decided else {
        unreachable!()
    };
    assert_eq!(
        (closed.disbursed_fen, closed.returned_fen),
        (18_000 * YUAN, 12_000 * YUAN)
    );
    let mut after = state.clone();
    after.apply(&decided);
    assert_eq!(
        after.funds["general"].available_fen,
        available_before + 12_000 * YUAN
    );
    then_refused(&after, disburse("g1", 1), "grant_id", "grant_closed");
}

#[test]
fn awards_stay_within_round_budget_and_the_request() {
    let mut events = awarded_grant();
    events.pop();
    let state = given(events);
    let award = |fen: i64| {
        Event::GrantAwarded(v1::GrantAwarded {
            grant_id: "g1".into(),
            application_id: "a1".into(),
            amount_fen: fen,
            tranches: vec![v1::Tranche {
                amount_fen: fen,
                requires_evaluation: false,
            }],
            awarded_on: String::new(),
        })
    };
    then_refused(
        &state,
        award(30_000 * YUAN + 1),
        "amount_fen",
        "exceeds_request",
    );
    let mut split_wrong = award(30_000 * YUAN);
    if let Event::GrantAwarded(e) = &mut split_wrong {
        e.tranches[0].amount_fen -= 1;
    }
    then_refused(
        &state,
        split_wrong,
        "tranches",
        "tranches_do_not_sum_to_award",
    );
    let mut undated_by_calendar = award(30_000 * YUAN);
    if let Event::GrantAwarded(e) = &mut undated_by_calendar {
        e.awarded_on = "2016-02-30".into();
    }
    then_refused(&state, undated_by_calendar, "awarded_on", "date_format");
}

#[test]
fn pledge_schedule_must_add_up_and_payments_stop_at_the_total() {
    let state = given(basics());
    let pledge = |total: i64, amounts: &[i64]| {
        Event::PledgeMade(v1::PledgeMade {
            pledge_id: "p1".into(),
            donor_id: "acme".into(),
            campaign_id: String::new(),
            fund_id: "general".into(),
            total_fen: total,
            instalments: amounts
                .iter()
                .enumerate()
                .map(|(year, fen)| v1::Instalment {
                    due_on: format!("{}-06-30", 2015 + year),
                    amount_fen: *fen,
                })
                .collect(),
        })
    };
    then_refused(
        &state,
        pledge(1_000, &[500, 400]),
        "instalments",
        "instalments_do_not_sum_to_total",
    );
    let state = given([basics(), vec![pledge(1_000, &[500, 500])]].concat());
    let payment = |fen| {
        Event::PledgePaymentReceived(v1::PledgePaymentReceived {
            payment_id: "pay1".into(),
            pledge_id: "p1".into(),
            amount_fen: fen,
            channel: v1::Channel::Cash as i32,
            bank_reference: String::new(),
            received_on: "2015-06-01".into(),
        })
    };
    then_refused(&state, payment(1_001), "amount_fen", "exceeds_outstanding");
    assert!(decide(&state, payment(1_000)).is_ok());
}

#[test]
fn bad_dates_and_missing_bank_reference_name_their_field() {
    let state = given(basics());
    let mut bad_date = donation("d1", "general", "", 100);
    if let Event::DonationReceived(e) = &mut bad_date {
        e.received_on = "2015-02-30".into();
    }
    then_refused(&state, bad_date, "received_on", "date_format");
    let mut no_reference = donation("d1", "general", "", 100);
    if let Event::DonationReceived(e) = &mut no_reference {
        e.bank_reference.clear();
    }
    then_refused(
        &state,
        no_reference,
        "bank_reference",
        "bank_reference_required",
    );
}

#[test]
fn a_sponsor_acts_only_for_itself() {
    let state = given([basics(), vec![project("p1", "general")]].concat());
    let as_beta = Principal::Donor("beta".into());
    let refusal = decide_as(&state, &as_beta, claim("p1", "acme")).unwrap_err();
    assert_eq!(
        (refusal.rule, refusal.kind),
        ("not_yours", RejectionKind::Forbidden)
    );
    assert!(decide_as(&state, &as_beta, claim("p1", "beta")).is_ok());
    let refusal =
        decide_as(&state, &as_beta, fund("other", v1::FundKind::Unrestricted)).unwrap_err();
    assert_eq!(refusal.kind, RejectionKind::Forbidden);
}

#[test]
fn a_tranche_paid_before_its_grant_was_awarded_is_refused() {
    let state = given(awarded_grant());
    let mut early = disburse("g1", 0);
    if let Event::GrantTrancheDisbursed(e) = &mut early {
        e.paid_on = "2016-04-27".into();
    }
    then_refused(&state, early, "paid_on", "paid_before_award");
    let mut same_day = disburse("g1", 0);
    if let Event::GrantTrancheDisbursed(e) = &mut same_day {
        e.paid_on = "2016-04-28".into();
    }
    assert!(decide(&state, same_day).is_ok());
}

#[test]
fn only_alliance_member_units_claim_projects() {
    let state = given(
        [
            basics(),
            vec![non_member_enterprise("outsider"), project("p1", "general")],
        ]
        .concat(),
    );
    then_refused(
        &state,
        claim("p1", "outsider"),
        "sponsor_id",
        "sponsor_not_alliance_member",
    );
    assert!(decide(&state, claim("p1", "acme")).is_ok());
}

#[test]
fn names_with_control_or_bidi_override_characters_are_refused_naming_the_field() {
    let state = given(basics());
    for bad in [
        "王\u{0}丽华",
        "\u{1b}[31m红",
        "凯旋\u{202e}司公",
        "凯旋\u{2066}公司\u{2069}",
        "tab\tinside",
        "bell\u{7}",
        "next line\u{85}",
    ] {
        let Event::DonorRegistered(mut registered) = donor("new", v1::DonorKind::Individual) else {
            unreachable!("donor() registers a donor")
        };
        registered.name = bad.into();
        then_refused(
            &state,
            Event::DonorRegistered(registered),
            "name",
            "control_character",
        );
    }
    let Event::ProjectPublished(mut published) = project("p9", "general") else {
        unreachable!("project() publishes a project")
    };
    published.title = "楼道\u{202a}文化墙".into();
    then_refused(
        &state,
        Event::ProjectPublished(published),
        "title",
        "control_character",
    );
    let Event::ProjectPublished(mut published) = project("p9", "general") else {
        unreachable!("project() publishes a project")
    };
    published.description = "第一行\n第二行".into();
    assert!(
        decide(&state, Event::ProjectPublished(published)).is_ok(),
        "a description may span lines"
    );
}

/// Ownership is checked before any rule, so a refusal tells a sponsor or an
/// organisation nothing about what exists.
#[test]
fn permission_is_refused_before_any_rule_without_revealing_what_exists() {
    let state = given([awarded_grant(), vec![project("p1", "general")]].concat());
    let as_beta = Principal::Donor("beta".into());
    let as_org = Principal::Organisation("org-1".into());
    let forbidden = |principal: &Principal, command: Event| {
        let refusal = decide_as(&state, principal, command).unwrap_err();
        assert_eq!(
            (refusal.rule, refusal.kind),
            ("not_yours", RejectionKind::Forbidden),
            "{refusal}"
        );
        refusal.message
    };
    // acme's donation d1 exists; beta reusing its id as acme is refused for
    // acting for acme, not because the id is taken.
    forbidden(&as_beta, donation("d1", "general", "", YUAN));
    let mut invalid_project = project("", "nowhere");
    if let Event::ProjectPublished(e) = &mut invalid_project {
        e.budget_fen = -1;
    }
    forbidden(&as_beta, invalid_project);
    forbidden(&as_org, disburse("g1", 1));
    // A pledge or grant that does not exist and one that is someone else's
    // are refused alike.
    let payment = |pledge_id: &str| {
        Event::PledgePaymentReceived(v1::PledgePaymentReceived {
            payment_id: "pay-1".into(),
            pledge_id: pledge_id.into(),
            amount_fen: YUAN,
            channel: v1::Channel::Cash as i32,
            bank_reference: String::new(),
            received_on: "2016-01-01".into(),
        })
    };
    let no_such_pledge = forbidden(&as_beta, payment("no-such-pledge"));
    let self_assessment = |grant_id: &str| {
        Event::GrantSelfAssessmentFiled(v1::GrantSelfAssessmentFiled {
            grant_id: grant_id.into(),
            quarter: "2016-Q2".into(),
            report_sha256: vec![7; 32],
            summary: String::new(),
        })
    };
    let as_other_org = Principal::Organisation("org-2".into());
    assert_eq!(
        forbidden(&as_other_org, self_assessment("g1")),
        forbidden(&as_other_org, self_assessment("no-such-grant"))
    );
    assert!(
        !no_such_pledge.contains("no-such-pledge"),
        "{no_such_pledge}"
    );
    assert!(decide_as(&state, &as_org, self_assessment("g1")).is_ok());
}

fn committed_person(id: &str) -> Event {
    Event::DonorRegistered(v1::DonorRegistered {
        donor_id: id.into(),
        name: String::new(),
        kind: v1::DonorKind::Individual as i32,
        alliance_member: false,
        show_name_publicly: true,
        name_commitment: crate::personal_data::commitment(id, &[9; 32], "王丽华").to_vec(),
    })
}

fn erasure(subject_id: &str) -> Event {
    Event::PersonalDataErased(v1::PersonalDataErased {
        subject_id: subject_id.into(),
        legal_basis: "PIPL Art. 47 request of 2026-12-01".into(),
        erased_on: "2026-12-07".into(),
        subject_kind: v1::ErasedSubject::Donor as i32,
    })
}

fn payee_erasure(expenditure_id: &str) -> Event {
    Event::PersonalDataErased(v1::PersonalDataErased {
        subject_id: expenditure_id.into(),
        legal_basis: "PIPL Art. 47 request of 2026-12-01".into(),
        erased_on: "2026-12-07".into(),
        subject_kind: v1::ErasedSubject::Payee as i32,
    })
}

/// An expenditure to a person named by a commitment, as the API records one.
fn paid_to_committed_person(id: &str) -> Event {
    let mut paid = expenditure(id, "general", "", 100 * YUAN);
    if let Event::ExpenditureMade(e) = &mut paid {
        e.payee = String::new();
        e.payee_kind = v1::PayeeKind::Person as i32;
        e.payee_commitment = crate::personal_data::commitment(id, &[7; 32], "刘志强").to_vec();
    }
    paid
}

#[test]
fn only_a_committed_private_payee_is_erased_and_only_once() {
    let mut events = basics();
    events.push(donation("d-1", "general", "", 1_000 * YUAN));
    events.push(paid_to_committed_person("exp-person"));
    // Paid before commitments: the person's name is in the hashed record.
    let mut in_clear = expenditure("exp-old", "general", "", 100 * YUAN);
    if let Event::ExpenditureMade(e) = &mut in_clear {
        e.payee_kind = v1::PayeeKind::Person as i32;
    }
    events.push(in_clear);
    // An organisation is a public entity.
    events.push(expenditure("exp-organisation", "general", "", 100 * YUAN));
    let mut state = given(events);
    then_refused(&state, payee_erasure("nobody"), "subject_id", "not_found");
    for not_erasable in ["exp-old", "exp-organisation"] {
        then_refused(
            &state,
            payee_erasure(not_erasable),
            "subject_id",
            "payee_not_committed_person",
        );
    }
    // The expenditure's id names no donor: the kind decides where to look.
    then_refused(&state, erasure("exp-person"), "subject_id", "not_found");
    let mut unknown_kind = payee_erasure("exp-person");
    if let Event::PersonalDataErased(e) = &mut unknown_kind {
        e.subject_kind = 9;
    }
    then_refused(&state, unknown_kind, "subject_kind", "unknown_enum_value");
    let mut unreasoned = payee_erasure("exp-person");
    if let Event::PersonalDataErased(e) = &mut unreasoned {
        e.legal_basis = String::new();
    }
    then_refused(&state, unreasoned, "legal_basis", "required");
    let erased = decide(&state, payee_erasure("exp-person")).expect("erasable");
    state.apply(&erased);
    then_refused(
        &state,
        payee_erasure("exp-person"),
        "subject_id",
        "already_erased",
    );
}

#[test]
fn a_name_is_either_in_the_clear_or_committed_and_only_a_person_is_committed() {
    let state = given(vec![]);
    assert!(decide(&state, committed_person("resident-wang")).is_ok());
    // Records written before commitments: an individual's name in the clear.
    assert!(decide(&state, donor("resident-li", v1::DonorKind::Individual)).is_ok());
    let with = |change: fn(&mut v1::DonorRegistered)| match committed_person("resident-wang") {
        Event::DonorRegistered(mut registered) => {
            change(&mut registered);
            Event::DonorRegistered(registered)
        }
        _ => unreachable!(),
    };
    then_refused(
        &state,
        with(|e| e.name = "王丽华".into()),
        "name",
        "clear_beside_commitment",
    );
    then_refused(
        &state,
        with(|e| e.name_commitment.truncate(31)),
        "name_commitment",
        "commitment_length",
    );
    then_refused(
        &state,
        with(|e| e.kind = v1::DonorKind::Enterprise as i32),
        "name_commitment",
        "commitment_not_for_public_entity",
    );
    then_refused(
        &state,
        with(|e| e.name_commitment.clear()),
        "name",
        "required",
    );
    let mut funded = basics();
    funded.push(donation("d-1", "general", "", 1_000 * YUAN));
    let state = given(funded);
    let mut paid = expenditure("exp-person", "general", "", 100 * YUAN);
    if let Event::ExpenditureMade(e) = &mut paid {
        e.payee = String::new();
        e.payee_kind = v1::PayeeKind::Company as i32;
        e.payee_commitment = vec![1; 32];
    }
    then_refused(
        &state,
        paid.clone(),
        "payee_commitment",
        "commitment_not_for_public_entity",
    );
    if let Event::ExpenditureMade(e) = &mut paid {
        e.payee_kind = v1::PayeeKind::Person as i32;
    }
    assert!(decide(&state, paid).is_ok());
}

#[test]
fn only_a_committed_individual_is_erased_and_only_once() {
    let mut state = given(vec![
        committed_person("resident-wang"),
        donor("resident-old", v1::DonorKind::Individual),
        donor("acme", v1::DonorKind::Enterprise),
    ]);
    then_refused(&state, erasure("nobody"), "subject_id", "not_found");
    then_refused(
        &state,
        erasure("acme"),
        "subject_id",
        "subject_not_individual",
    );
    then_refused(
        &state,
        erasure("resident-old"),
        "subject_id",
        "name_in_hashed_record",
    );
    let mut undated = erasure("resident-wang");
    if let Event::PersonalDataErased(e) = &mut undated {
        e.erased_on = "2026-13-01".into();
    }
    then_refused(&state, undated, "erased_on", "date_format");
    let erased = decide(&state, erasure("resident-wang")).expect("erasable");
    state.apply(&erased);
    then_refused(
        &state,
        erasure("resident-wang"),
        "subject_id",
        "already_erased",
    );
}

#[test]
fn an_id_takes_exactly_the_characters_of_its_shape() {
    use crate::decide::check_id;
    for byte in 0u8..=127 {
        let id = char::from(byte).to_string();
        let allowed = byte.is_ascii_alphanumeric() || b"._:-".contains(&byte);
        assert_eq!(check_id("id", &id).is_ok(), allowed, "byte {byte}");
    }
    for id in ["é", "捐赠-1", "don 1", "don\u{0}1", "", "don-\u{ff}"] {
        assert!(check_id("id", id).is_err(), "{id:?}");
    }
    assert!(check_id("id", &"a".repeat(64)).is_ok());
    assert!(check_id("id", &"a".repeat(65)).is_err());
}
