//! Sums stay exact: a command that would take a ledger-wide gross total, or a
//! fund's or project's total, past `TOTAL_FEN_MAX` is refused with
//! `total_out_of_range`, naming the total, and every accepted one keeps them
//! all within it. `TOTAL_FEN_MAX / AMOUNT_FEN_MAX` is 10^4, so the bound is
//! reached with ten thousand maximal commands.

use std::collections::HashMap;
use std::sync::OnceLock;

use mingzhang_proto::v1::{self, event_envelope::Event};
use proptest::prelude::*;

use crate::decide::{Rejection, RejectionKind, decide};
use crate::money::{AMOUNT_FEN_MAX, TOTAL_FEN_MAX};
use crate::state::LedgerState;

const MAXIMAL_COMMANDS_TO_THE_BOUND: i64 = TOTAL_FEN_MAX / AMOUNT_FEN_MAX;
const PAST_THE_BOUND: &str = "past 1,000,000,000,000,000.00 CNY";

fn accept(state: &mut LedgerState, command: Event) {
    let event = decide(state, command).expect("the given command is valid");
    state.apply(&event);
}

fn given(events: impl IntoIterator<Item = Event>) -> LedgerState {
    let mut state = LedgerState::default();
    for event in events {
        accept(&mut state, event);
    }
    state
}

#[track_caller]
fn then_out_of_range(state: &LedgerState, command: Event, field: &str, total: &str) {
    let rejection = decide(state, command).expect_err("the command passes a bound");
    assert_eq!(
        rejection,
        Rejection {
            field: field.to_owned(),
            rule: "total_out_of_range",
            message: format!("would take {total} {PAST_THE_BOUND}"),
            kind: RejectionKind::Invalid,
        }
    );
}

fn fund(id: &str) -> Event {
    Event::FundOpened(v1::FundOpened {
        fund_id: id.into(),
        name: format!("fund {id}"),
        kind: v1::FundKind::Unrestricted as i32,
        restriction: String::new(),
    })
}

fn enterprise(id: &str) -> Event {
    Event::DonorRegistered(v1::DonorRegistered {
        donor_id: id.into(),
        name: format!("donor {id}"),
        kind: v1::DonorKind::Enterprise as i32,
        alliance_member: true,
        show_name_publicly: true,
        name_commitment: Default::default(),
    })
}

fn donation(id: &str, fund_id: &str, project_id: &str, fen: i64) -> Event {
    Event::DonationReceived(v1::DonationReceived {
        donation_id: id.into(),
        donor_id: "acme".into(),
        fund_id: fund_id.into(),
        project_id: project_id.into(),
        amount_fen: fen,
        channel: v1::Channel::Online as i32,
        received_on: "2016-01-01".into(),
        ..Default::default()
    })
}

fn refund(id: &str, donation_id: &str, fen: i64) -> Event {
    Event::DonationRefunded(v1::DonationRefunded {
        refund_id: id.into(),
        donation_id: donation_id.into(),
        amount_fen: fen,
        reason: "asked".into(),
    })
}

fn project(id: &str, fund_id: &str) -> Event {
    Event::ProjectPublished(v1::ProjectPublished {
        project_id: id.into(),
        title: "助老送餐".into(),
        need_kind: v1::NeedKind::Service as i32,
        community: "景芳".into(),
        budget_fen: AMOUNT_FEN_MAX,
        fund_id: fund_id.into(),
        ..Default::default()
    })
}

fn claim(project_id: &str) -> Event {
    Event::ProjectClaimed(v1::ProjectClaimed {
        project_id: project_id.into(),
        sponsor_id: "acme".into(),
    })
}

fn funding(id: &str, project_id: &str, fen: i64) -> Event {
    Event::ProjectFunded(v1::ProjectFunded {
        funding_id: id.into(),
        project_id: project_id.into(),
        sponsor_id: "acme".into(),
        amount_fen: fen,
        channel: v1::Channel::Online as i32,
        received_on: "2016-01-01".into(),
        ..Default::default()
    })
}

fn schedule(total_fen: i64) -> Vec<v1::Instalment> {
    vec![v1::Instalment {
        due_on: "2016-12-31".into(),
        amount_fen: total_fen,
    }]
}

fn pledge(id: &str, fund_id: &str, total_fen: i64) -> Event {
    Event::PledgeMade(v1::PledgeMade {
        pledge_id: id.into(),
        donor_id: "acme".into(),
        fund_id: fund_id.into(),
        total_fen,
        instalments: schedule(total_fen),
        ..Default::default()
    })
}

fn amendment(pledge_id: &str, new_total_fen: i64) -> Event {
    Event::PledgeAmended(v1::PledgeAmended {
        pledge_id: pledge_id.into(),
        new_total_fen,
        instalments: schedule(new_total_fen),
        reason: "the board changed it".into(),
    })
}

fn payment(id: &str, pledge_id: &str, fen: i64) -> Event {
    Event::PledgePaymentReceived(v1::PledgePaymentReceived {
        payment_id: id.into(),
        pledge_id: pledge_id.into(),
        amount_fen: fen,
        channel: v1::Channel::Online as i32,
        received_on: "2016-06-01".into(),
        ..Default::default()
    })
}

fn grant_round_with_its_organisation() -> [Event; 2] {
    [
        Event::OrganisationRegistered(v1::OrganisationRegistered {
            organisation_id: "org".into(),
            name: "社工服务中心".into(),
            registration_no: String::new(),
        }),
        Event::GrantRoundOpened(v1::GrantRoundOpened {
            round_id: "round".into(),
            fund_id: "kaixuan".into(),
            name: "微创投".into(),
            budget_fen: AMOUNT_FEN_MAX,
            applications_open_on: "2016-03-01".into(),
            applications_close_on: "2016-03-31".into(),
        }),
    ]
}

fn application(id: &str, fen: i64) -> Event {
    Event::GrantApplicationSubmitted(v1::GrantApplicationSubmitted {
        application_id: id.into(),
        round_id: "round".into(),
        organisation_id: "org".into(),
        title: "助老".into(),
        summary: String::new(),
        requested_fen: fen,
        submitted_on: "2016-03-15".into(),
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
        receipt_no: String::new(),
        paid_on: "2016-02-01".into(),
        payee_commitment: Default::default(),
    })
}

fn expenditure_reversal(expenditure_id: &str) -> Event {
    Event::ExpenditureReversed(v1::ExpenditureReversed {
        expenditure_id: expenditure_id.into(),
        amount_fen: 0,
        reason: "paid twice".into(),
    })
}

fn basics() -> Vec<Event> {
    vec![fund("kaixuan"), fund("zhaoshang"), enterprise("acme")]
}

#[test]
fn a_donation_past_the_bound_is_refused_naming_the_fund_and_the_fund_stays_exact() {
    let mut state = given(basics());
    for n in 1..MAXIMAL_COMMANDS_TO_THE_BOUND {
        accept(
            &mut state,
            donation(&format!("d{n}"), "kaixuan", "", AMOUNT_FEN_MAX),
        );
    }
    accept(
        &mut state,
        donation("last-but-one", "kaixuan", "", AMOUNT_FEN_MAX - 1),
    );
    accept(&mut state, donation("last", "kaixuan", "", 1));
    assert_eq!(state.funds["kaixuan"].received_fen, TOTAL_FEN_MAX);
    assert_eq!(state.funds["kaixuan"].available_fen, TOTAL_FEN_MAX);
    assert_eq!(state.gross.received_fen, TOTAL_FEN_MAX);

    for fen in [1, AMOUNT_FEN_MAX] {
        then_out_of_range(
            &state,
            donation("one-more", "kaixuan", "", fen),
            "amount_fen",
            "fund kaixuan's total received",
        );
    }
    // Another fund has room of its own, but the ledger's receipts have none.
    then_out_of_range(
        &state,
        donation("elsewhere", "zhaoshang", "", 1),
        "amount_fen",
        "the ledger's total received",
    );
    // A refund lowers what the fund holds, never what it received.
    accept(&mut state, refund("r1", "d1", AMOUNT_FEN_MAX));
    then_out_of_range(
        &state,
        donation("after-refund", "kaixuan", "", 1),
        "amount_fen",
        "fund kaixuan's total received",
    );
}

#[test]
fn pledge_payments_and_sponsor_funding_count_as_money_received() {
    let mut state = given(basics());
    accept(&mut state, project("meals", "kaixuan"));
    accept(&mut state, claim("meals"));
    accept(&mut state, pledge("pl", "zhaoshang", AMOUNT_FEN_MAX));
    for n in 0..MAXIMAL_COMMANDS_TO_THE_BOUND / 2 {
        accept(
            &mut state,
            donation(&format!("p{n}"), "kaixuan", "meals", AMOUNT_FEN_MAX),
        );
        accept(
            &mut state,
            donation(&format!("z{n}"), "zhaoshang", "", AMOUNT_FEN_MAX),
        );
    }
    assert_eq!(state.gross.received_fen, TOTAL_FEN_MAX);
    then_out_of_range(
        &state,
        payment("pay", "pl", 1),
        "amount_fen",
        "the ledger's total received",
    );
    then_out_of_range(
        &state,
        funding("f", "meals", 1),
        "amount_fen",
        "the ledger's total received",
    );
    // Spending from the project frees nothing: receipts are counted gross.
    accept(
        &mut state,
        expenditure("e", "kaixuan", "meals", AMOUNT_FEN_MAX),
    );
    then_out_of_range(
        &state,
        funding("f", "meals", 1),
        "amount_fen",
        "the ledger's total received",
    );
}

#[test]
fn the_most_specific_total_is_named_a_projects_balance_first() {
    let mut state = given(basics());
    accept(&mut state, project("meals", "kaixuan"));
    accept(&mut state, claim("meals"));
    for n in 0..MAXIMAL_COMMANDS_TO_THE_BOUND {
        accept(
            &mut state,
            donation(&format!("d{n}"), "kaixuan", "meals", AMOUNT_FEN_MAX),
        );
    }
    then_out_of_range(
        &state,
        donation("one-more", "kaixuan", "meals", 1),
        "amount_fen",
        "project meals's balance",
    );
    then_out_of_range(
        &state,
        funding("f", "meals", 1),
        "amount_fen",
        "project meals's balance",
    );
    then_out_of_range(
        &state,
        donation("undesignated", "kaixuan", "", 1),
        "amount_fen",
        "fund kaixuan's total received",
    );
}

#[test]
fn pledges_past_the_bound_are_refused_and_lowering_one_makes_room() {
    let mut state = given(basics());
    for n in 0..MAXIMAL_COMMANDS_TO_THE_BOUND {
        accept(
            &mut state,
            pledge(&format!("pl{n}"), "kaixuan", AMOUNT_FEN_MAX),
        );
    }
    assert_eq!(state.gross.pledged_fen, TOTAL_FEN_MAX);
    then_out_of_range(
        &state,
        pledge("one-more", "zhaoshang", 1),
        "total_fen",
        "the ledger's total pledged",
    );
    accept(&mut state, amendment("pl0", AMOUNT_FEN_MAX - 100));
    accept(&mut state, pledge("small", "zhaoshang", 100));
    then_out_of_range(
        &state,
        amendment("small", 101),
        "new_total_fen",
        "the ledger's total pledged",
    );
    accept(&mut state, amendment("small", 100));
}

#[test]
fn grant_requests_past_the_bound_are_refused() {
    let mut state = given(
        basics()
            .into_iter()
            .chain(grant_round_with_its_organisation()),
    );
    for n in 0..MAXIMAL_COMMANDS_TO_THE_BOUND {
        accept(&mut state, application(&format!("a{n}"), AMOUNT_FEN_MAX));
    }
    then_out_of_range(
        &state,
        application("one-more", 1),
        "requested_fen",
        "the ledger's total requested in grant applications",
    );
}

#[test]
fn spending_and_reversing_in_circles_reaches_the_bound_too() {
    let mut state = given(basics());
    accept(&mut state, donation("seed", "kaixuan", "", AMOUNT_FEN_MAX));
    for n in 0..MAXIMAL_COMMANDS_TO_THE_BOUND {
        let id = format!("e{n}");
        accept(&mut state, expenditure(&id, "kaixuan", "", AMOUNT_FEN_MAX));
        accept(&mut state, expenditure_reversal(&id));
    }
    assert_eq!(state.gross.spent_fen, TOTAL_FEN_MAX);
    assert_eq!(state.funds["kaixuan"].available_fen, AMOUNT_FEN_MAX);
    then_out_of_range(
        &state,
        expenditure("one-more", "kaixuan", "", 1),
        "amount_fen",
        "the ledger's total spent",
    );
}

// -- property: random commands near the bound --------------------------------

/// How far below the bound the fixture leaves each gross total, in maximal
/// amounts: a few large commands of a case cross it.
const FIXTURE_ROOM_IN_MAXIMAL_AMOUNTS: i64 = 3;
const FIXTURE_PLEDGES_PAYABLE: u8 = 20;

/// Every gross total `TOTAL_FEN_MAX - 3 * AMOUNT_FEN_MAX` fen: received all
/// into project p0 of fund f0, pledged into f1, requested, and spent from p0
/// and reversed again. Built once, cloned by each case.
fn near_the_bound() -> &'static (LedgerState, NaiveTotals) {
    static FIXTURE: OnceLock<(LedgerState, NaiveTotals)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut state = LedgerState::default();
        let mut naive = NaiveTotals::default();
        let mut record = |state: &mut LedgerState, command: Event| {
            let event = decide(state, command).expect("the fixture is valid");
            state.apply(&event);
            naive.record(&event);
        };
        let setup = [
            fund("f0"),
            fund("f1"),
            enterprise("acme"),
            project("p0", "f0"),
        ]
        .into_iter()
        .chain([claim("p0")])
        .chain(
            grant_round_with_its_organisation().map(|event| match event {
                Event::GrantRoundOpened(round) => Event::GrantRoundOpened(v1::GrantRoundOpened {
                    fund_id: "f0".into(),
                    ..round
                }),
                other => other,
            }),
        );
        for event in setup {
            record(&mut state, event);
        }
        for n in 0..MAXIMAL_COMMANDS_TO_THE_BOUND - FIXTURE_ROOM_IN_MAXIMAL_AMOUNTS {
            record(
                &mut state,
                donation(&format!("fd{n}"), "f0", "p0", AMOUNT_FEN_MAX),
            );
            record(&mut state, pledge(&format!("fpl{n}"), "f1", AMOUNT_FEN_MAX));
            record(&mut state, application(&format!("fa{n}"), AMOUNT_FEN_MAX));
            let spent = format!("fe{n}");
            record(&mut state, expenditure(&spent, "f0", "p0", AMOUNT_FEN_MAX));
            record(&mut state, expenditure_reversal(&spent));
        }
        (state, naive)
    })
}

/// The totals `decide` bounds, recomputed from accepted events in i128, so
/// they cannot wrap whatever `decide` lets through.
#[derive(Debug, Clone, Default)]
struct NaiveTotals {
    received: i128,
    pledged: i128,
    requested: i128,
    spent: i128,
    fund_received: HashMap<String, i128>,
    project_balance: HashMap<String, i128>,
    pledge_fund_and_total: HashMap<String, (String, i128)>,
    donation_project: HashMap<String, String>,
    expenditure_project_and_amount: HashMap<String, (String, i128)>,
}

impl NaiveTotals {
    fn record(&mut self, event: &Event) {
        let received = |naive: &mut Self, fund_id: &str, project_id: &str, fen: i64| {
            naive.received += i128::from(fen);
            *naive.fund_received.entry(fund_id.to_owned()).or_default() += i128::from(fen);
            if !project_id.is_empty() {
                *naive
                    .project_balance
                    .entry(project_id.to_owned())
                    .or_default() += i128::from(fen);
            }
        };
        match event {
            Event::DonationReceived(e) => {
                received(self, &e.fund_id, &e.project_id, e.amount_fen);
                self.donation_project
                    .insert(e.donation_id.clone(), e.project_id.clone());
            }
            Event::DonationRefunded(e) => {
                let project_id = &self.donation_project[&e.donation_id];
                if let Some(balance) = self.project_balance.get_mut(project_id) {
                    *balance -= i128::from(e.amount_fen);
                }
            }
            Event::ProjectFunded(e) => received(self, "f0", &e.project_id, e.amount_fen),
            Event::PledgeMade(e) => {
                self.pledged += i128::from(e.total_fen);
                self.pledge_fund_and_total.insert(
                    e.pledge_id.clone(),
                    (e.fund_id.clone(), i128::from(e.total_fen)),
                );
            }
            Event::PledgeAmended(e) => {
                let (_, total) = self
                    .pledge_fund_and_total
                    .get_mut(&e.pledge_id)
                    .expect("pledge made");
                self.pledged += i128::from(e.new_total_fen) - *total;
                *total = i128::from(e.new_total_fen);
            }
            Event::PledgePaymentReceived(e) => {
                let fund_id = self.pledge_fund_and_total[&e.pledge_id].0.clone();
                received(self, &fund_id, "", e.amount_fen);
            }
            Event::GrantApplicationSubmitted(e) => self.requested += i128::from(e.requested_fen),
            Event::ExpenditureMade(e) => {
                self.spent += i128::from(e.amount_fen);
                if let Some(balance) = self.project_balance.get_mut(&e.project_id) {
                    *balance -= i128::from(e.amount_fen);
                }
                self.expenditure_project_and_amount.insert(
                    e.expenditure_id.clone(),
                    (e.project_id.clone(), i128::from(e.amount_fen)),
                );
            }
            Event::ExpenditureReversed(e) => {
                let (project_id, amount) = &self.expenditure_project_and_amount[&e.expenditure_id];
                if let Some(balance) = self.project_balance.get_mut(project_id) {
                    *balance += amount;
                }
            }
            _ => {}
        }
    }

    /// The totals `command` would add to, most specific first: (its amount
    /// field, the total's name, the total now, the amount added).
    fn added_to(&self, command: &Event) -> (&'static str, Vec<(String, i128)>, i128) {
        let fund_received = |fund_id: &str| {
            (
                format!("fund {fund_id}'s total received"),
                self.fund_received.get(fund_id).copied().unwrap_or(0),
            )
        };
        let ledger_received = ("the ledger's total received".to_owned(), self.received);
        let project_balance = |project_id: &str| {
            (
                format!("project {project_id}'s balance"),
                self.project_balance.get(project_id).copied().unwrap_or(0),
            )
        };
        match command {
            Event::DonationReceived(e) => {
                let mut totals = Vec::new();
                if !e.project_id.is_empty() {
                    totals.push(project_balance(&e.project_id));
                }
                totals.extend([fund_received(&e.fund_id), ledger_received]);
                ("amount_fen", totals, i128::from(e.amount_fen))
            }
            Event::ProjectFunded(e) => (
                "amount_fen",
                vec![
                    project_balance(&e.project_id),
                    fund_received("f0"),
                    ledger_received,
                ],
                i128::from(e.amount_fen),
            ),
            Event::PledgePaymentReceived(e) => {
                let fund_id = &self.pledge_fund_and_total[&e.pledge_id].0;
                (
                    "amount_fen",
                    vec![fund_received(fund_id), ledger_received],
                    i128::from(e.amount_fen),
                )
            }
            Event::PledgeMade(e) => (
                "total_fen",
                vec![("the ledger's total pledged".to_owned(), self.pledged)],
                i128::from(e.total_fen),
            ),
            Event::PledgeAmended(e) => {
                let total = self.pledge_fund_and_total[&e.pledge_id].1;
                (
                    "new_total_fen",
                    vec![(
                        "the ledger's total pledged".to_owned(),
                        self.pledged - total,
                    )],
                    i128::from(e.new_total_fen),
                )
            }
            Event::GrantApplicationSubmitted(e) => (
                "requested_fen",
                vec![(
                    "the ledger's total requested in grant applications".to_owned(),
                    self.requested,
                )],
                i128::from(e.requested_fen),
            ),
            Event::ExpenditureMade(e) => (
                "amount_fen",
                vec![("the ledger's total spent".to_owned(), self.spent)],
                i128::from(e.amount_fen),
            ),
            _ => ("", Vec::new(), 0),
        }
    }

    #[track_caller]
    fn assert_kept_by(&self, state: &LedgerState) {
        let bound = i128::from(TOTAL_FEN_MAX);
        for total in [self.received, self.pledged, self.requested, self.spent] {
            assert!((0..=bound).contains(&total), "{self:?}");
        }
        assert_eq!(i128::from(state.gross.received_fen), self.received);
        assert_eq!(i128::from(state.gross.pledged_fen), self.pledged);
        assert_eq!(i128::from(state.gross.requested_fen), self.requested);
        assert_eq!(i128::from(state.gross.spent_fen), self.spent);
        for (fund_id, received) in &self.fund_received {
            assert_eq!(i128::from(state.funds[fund_id].received_fen), *received);
        }
        for (project_id, balance) in &self.project_balance {
            assert_eq!(i128::from(state.projects[project_id].balance_fen), *balance);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Donate { to: u8, fen: i64 },
    Refund { donation: u16, fen: i64 },
    FundProject { fen: i64 },
    PayPledge { pledge: u8, fen: i64 },
    Pledge { fen: i64 },
    Amend { pledge: u8, fen: i64 },
    Apply { fen: i64 },
    Spend { from_project: bool, fen: i64 },
    ReverseSpend { expenditure: u8 },
}

fn fen() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => Just(AMOUNT_FEN_MAX),
        3 => 1..=AMOUNT_FEN_MAX,
        1 => 1i64..1_000,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, fen()).prop_map(|(to, fen)| Op::Donate { to, fen }),
        2 => (any::<u16>(), fen()).prop_map(|(donation, fen)| Op::Refund { donation, fen }),
        2 => fen().prop_map(|fen| Op::FundProject { fen }),
        3 => (0..FIXTURE_PLEDGES_PAYABLE, fen()).prop_map(|(pledge, fen)| Op::PayPledge { pledge, fen }),
        3 => fen().prop_map(|fen| Op::Pledge { fen }),
        2 => (0..FIXTURE_PLEDGES_PAYABLE, fen()).prop_map(|(pledge, fen)| Op::Amend { pledge, fen }),
        3 => fen().prop_map(|fen| Op::Apply { fen }),
        3 => (any::<bool>(), fen()).prop_map(|(from_project, fen)| Op::Spend { from_project, fen }),
        2 => any::<u8>().prop_map(|expenditure| Op::ReverseSpend { expenditure }),
    ]
}

fn command(op: &Op, n: usize) -> Event {
    let id = |prefix: &str| format!("{prefix}{n}");
    match *op {
        Op::Donate { to, fen } => match to {
            0 => donation(&id("d"), "f0", "", fen),
            1 => donation(&id("d"), "f0", "p0", fen),
            _ => donation(&id("d"), "f1", "", fen),
        },
        Op::Refund { donation, fen } => {
            let fixture_donations = MAXIMAL_COMMANDS_TO_THE_BOUND - FIXTURE_ROOM_IN_MAXIMAL_AMOUNTS;
            refund(
                &id("r"),
                &format!("fd{}", i64::from(donation) % fixture_donations),
                fen,
            )
        }
        Op::FundProject { fen } => funding(&id("pf"), "p0", fen),
        Op::PayPledge { pledge, fen } => payment(&id("pay"), &format!("fpl{pledge}"), fen),
        Op::Pledge { fen } => pledge(&id("pl"), "f0", fen),
        Op::Amend { pledge, fen } => amendment(&format!("fpl{pledge}"), fen),
        Op::Apply { fen } => application(&id("a"), fen),
        Op::Spend { from_project, fen } => {
            if from_project {
                expenditure(&id("e"), "f0", "p0", fen)
            } else {
                expenditure(&id("e"), "f1", "", fen)
            }
        }
        // Ops 0..n are the ids a case may have used; most are taken by other ops.
        Op::ReverseSpend { expenditure } => {
            expenditure_reversal(&format!("e{}", usize::from(expenditure) % n.max(1)))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn near_the_bound_a_command_is_refused_exactly_when_it_would_pass_a_total(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let (fixture_state, fixture_naive) = near_the_bound();
        let mut state = fixture_state.clone();
        let mut naive = fixture_naive.clone();
        let bound = i128::from(TOTAL_FEN_MAX);
        for (n, op) in ops.iter().enumerate() {
            let command = command(op, n);
            let (field, totals, fen) = naive.added_to(&command);
            let passed = totals.iter().find(|(_, total)| total + fen > bound);
            match decide(&state, command) {
                Ok(event) => {
                    prop_assert!(passed.is_none(), "{op:?} accepted past {passed:?}");
                    state.apply(&event);
                    naive.record(&event);
                    naive.assert_kept_by(&state);
                }
                Err(rejection) if rejection.rule == "total_out_of_range" => {
                    let Some((name, _)) = passed else {
                        panic!("{op:?} refused within every bound: {rejection}");
                    };
                    prop_assert_eq!(rejection.field.as_str(), field);
                    prop_assert_eq!(rejection.kind, RejectionKind::Invalid);
                    prop_assert_eq!(rejection.message, format!("would take {name} {PAST_THE_BOUND}"));
                }
                // Refused for another rule, which comes first: nothing to say of the bound.
                Err(_) => {}
            }
        }
    }
}
