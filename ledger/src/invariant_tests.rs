//! Property tests: random command sequences, valid and not, never break an
//! invariant of the domain brief, checked against a naive recomputation from
//! the accepted events.

use std::collections::HashMap;

use mingzhang_proto::v1::{self, event_envelope::Event};
use proptest::prelude::*;

use crate::decide::decide;
use crate::state::LedgerState;

const FUNDS: [&str; 2] = ["f0", "f1"];
const DONORS: [&str; 3] = ["acme", "beta", "resident"];

fn pick<T: Clone>(options: &[T], index: u8) -> T {
    options[index as usize % options.len()].clone()
}

#[derive(Debug, Clone)]
enum Op {
    Donate {
        id: u8,
        fund: u8,
        project: Option<u8>,
        fen: i64,
    },
    Refund {
        id: u8,
        donation: u8,
        fen: i64,
    },
    Reverse {
        donation: u8,
    },
    Spend {
        id: u8,
        fund: u8,
        project: Option<u8>,
        fen: i64,
    },
    ReverseSpend {
        expenditure: u8,
    },
    Publish {
        project: u8,
        fund: u8,
    },
    Claim {
        project: u8,
        donor: u8,
    },
    Release {
        project: u8,
        donor: u8,
    },
    FundProject {
        id: u8,
        project: u8,
        donor: u8,
        fen: i64,
    },
    Pledge {
        id: u8,
        donor: u8,
        fund: u8,
        instalments: Vec<i64>,
    },
    PayPledge {
        id: u8,
        pledge: u8,
        fen: i64,
    },
    Amend {
        pledge: u8,
        instalments: Vec<i64>,
    },
    CancelPledge {
        pledge: u8,
    },
    Apply {
        id: u8,
        fen: i64,
    },
    Review {
        application: u8,
    },
    Shortlist {
        application: u8,
    },
    Award {
        application: u8,
        fen: i64,
        gated: bool,
    },
    Disburse {
        grant: u8,
        tranche: u32,
    },
    Evaluate {
        id: u8,
        grant: u8,
        passed: bool,
    },
    CloseGrant {
        grant: u8,
    },
}

fn fen() -> impl Strategy<Value = i64> {
    prop_oneof![8 => 1i64..50_000, 1 => Just(0i64), 1 => -1_000i64..0]
}

fn op() -> impl Strategy<Value = Op> {
    let small = 0u8..6;
    prop_oneof![
        6 => (small.clone(), any::<u8>(), proptest::option::of(0u8..3), fen())
            .prop_map(|(id, fund, project, fen)| Op::Donate { id, fund, project, fen }),
        2 => (small.clone(), small.clone(), fen()).prop_map(|(id, donation, fen)| Op::Refund { id, donation, fen }),
        1 => small.clone().prop_map(|donation| Op::Reverse { donation }),
        4 => (small.clone(), any::<u8>(), proptest::option::of(0u8..3), fen())
            .prop_map(|(id, fund, project, fen)| Op::Spend { id, fund, project, fen }),
        1 => small.clone().prop_map(|expenditure| Op::ReverseSpend { expenditure }),
        2 => (0u8..3, any::<u8>()).prop_map(|(project, fund)| Op::Publish { project, fund }),
        3 => (0u8..3, any::<u8>()).prop_map(|(project, donor)| Op::Claim { project, donor }),
        1 => (0u8..3, any::<u8>()).prop_map(|(project, donor)| Op::Release { project, donor }),
        3 => (small.clone(), 0u8..3, any::<u8>(), fen())
            .prop_map(|(id, project, donor, fen)| Op::FundProject { id, project, donor, fen }),
        2 => (0u8..3, any::<u8>(), any::<u8>(), proptest::collection::vec(1i64..20_000, 1..4))
            .prop_map(|(id, donor, fund, instalments)| Op::Pledge { id, donor, fund, instalments }),
        3 => (small.clone(), 0u8..3, fen()).prop_map(|(id, pledge, fen)| Op::PayPledge { id, pledge, fen }),
        1 => (0u8..3, proptest::collection::vec(1i64..30_000, 1..4))
            .prop_map(|(pledge, instalments)| Op::Amend { pledge, instalments }),
        1 => (0u8..3).prop_map(|pledge| Op::CancelPledge { pledge }),
        3 => (0u8..4, fen()).prop_map(|(id, fen)| Op::Apply { id, fen }),
        3 => (0u8..4).prop_map(|application| Op::Review { application }),
        3 => (0u8..4).prop_map(|application| Op::Shortlist { application }),
        4 => (0u8..4, prop_oneof![4 => 1i64..15_000, 1 => fen()], any::<bool>())
            .prop_map(|(application, fen, gated)| Op::Award { application, fen, gated }),
        5 => (0u8..4, 0u32..3).prop_map(|(grant, tranche)| Op::Disburse { grant, tranche }),
        4 => (small, 0u8..4, any::<bool>()).prop_map(|(id, grant, passed)| Op::Evaluate { id, grant, passed }),
        1 => (0u8..4).prop_map(|grant| Op::CloseGrant { grant }),
    ]
}

fn schedule(amounts: &[i64]) -> Vec<v1::Instalment> {
    amounts
        .iter()
        .enumerate()
        .map(|(year, fen)| v1::Instalment {
            due_on: format!("{}-06-30", 2015 + year),
            amount_fen: *fen,
        })
        .collect()
}

fn command(op: &Op) -> Event {
    let project_id = |index: Option<u8>| index.map(|index| format!("p{index}")).unwrap_or_default();
    match op.clone() {
        Op::Donate {
            id,
            fund,
            project,
            fen,
        } => Event::DonationReceived(v1::DonationReceived {
            donation_id: format!("d{id}"),
            donor_id: pick(&DONORS, id).into(),
            fund_id: pick(&FUNDS, fund).into(),
            project_id: project_id(project),
            amount_fen: fen,
            channel: v1::Channel::Cash as i32,
            received_on: "2016-01-01".into(),
            ..Default::default()
        }),
        Op::Refund { id, donation, fen } => Event::DonationRefunded(v1::DonationRefunded {
            refund_id: format!("r{id}"),
            donation_id: format!("d{donation}"),
            amount_fen: fen,
            reason: "asked".into(),
        }),
        Op::Reverse { donation } => Event::DonationReversed(v1::DonationReversed {
            donation_id: format!("d{donation}"),
            amount_fen: 0,
            reason: "error".into(),
        }),
        Op::Spend {
            id,
            fund,
            project,
            fen,
        } => Event::ExpenditureMade(v1::ExpenditureMade {
            expenditure_id: format!("e{id}"),
            fund_id: pick(&FUNDS, fund).into(),
            project_id: project_id(project),
            amount_fen: fen,
            payee: "payee".into(),
            payee_kind: v1::PayeeKind::Company as i32,
            purpose: "purpose".into(),
            category: v1::ExpenditureCategory::ProjectDelivery as i32,
            paid_on: "2016-02-01".into(),
            ..Default::default()
        }),
        Op::ReverseSpend { expenditure } => Event::ExpenditureReversed(v1::ExpenditureReversed {
            expenditure_id: format!("e{expenditure}"),
            amount_fen: 0,
            reason: "returned".into(),
        }),
        Op::Publish { project, fund } => Event::ProjectPublished(v1::ProjectPublished {
            project_id: format!("p{project}"),
            title: "need".into(),
            need_kind: v1::NeedKind::MicroWish as i32,
            community: "凯旋社区".into(),
            budget_fen: 10_000,
            fund_id: pick(&FUNDS, fund).into(),
            ..Default::default()
        }),
        Op::Claim { project, donor } => Event::ProjectClaimed(v1::ProjectClaimed {
            project_id: format!("p{project}"),
            sponsor_id: pick(&DONORS, donor).into(),
        }),
        Op::Release { project, donor } => Event::ProjectClaimReleased(v1::ProjectClaimReleased {
            project_id: format!("p{project}"),
            sponsor_id: pick(&DONORS, donor).into(),
            reason: "moved".into(),
        }),
        Op::FundProject {
            id,
            project,
            donor,
            fen,
        } => Event::ProjectFunded(v1::ProjectFunded {
            funding_id: format!("pf{id}"),
            project_id: format!("p{project}"),
            sponsor_id: pick(&DONORS, donor).into(),
            amount_fen: fen,
            channel: v1::Channel::Cash as i32,
            received_on: "2016-01-01".into(),
            ..Default::default()
        }),
        Op::Pledge {
            id,
            donor,
            fund,
            instalments,
        } => Event::PledgeMade(v1::PledgeMade {
            pledge_id: format!("pl{id}"),
            donor_id: pick(&DONORS, donor).into(),
            fund_id: pick(&FUNDS, fund).into(),
            total_fen: instalments.iter().sum(),
            instalments: schedule(&instalments),
            ..Default::default()
        }),
        Op::PayPledge { id, pledge, fen } => {
            Event::PledgePaymentReceived(v1::PledgePaymentReceived {
                payment_id: format!("pay{id}"),
                pledge_id: format!("pl{pledge}"),
                amount_fen: fen,
                channel: v1::Channel::Cash as i32,
                received_on: "2016-01-01".into(),
                ..Default::default()
            })
        }
        Op::Amend {
            pledge,
            instalments,
        } => Event::PledgeAmended(v1::PledgeAmended {
            pledge_id: format!("pl{pledge}"),
            new_total_fen: instalments.iter().sum(),
            instalments: schedule(&instalments),
            reason: "changed".into(),
        }),
        Op::CancelPledge { pledge } => Event::PledgeCancelled(v1::PledgeCancelled {
            pledge_id: format!("pl{pledge}"),
            cancelled_fen: 0,
            reason: "stopped".into(),
        }),
        Op::Apply { id, fen } => Event::GrantApplicationSubmitted(v1::GrantApplicationSubmitted {
            application_id: format!("a{id}"),
            round_id: "round".into(),
            organisation_id: "org".into(),
            title: "project".into(),
            requested_fen: fen,
            submitted_on: "2016-03-10".into(),
            ..Default::default()
        }),
        Op::Review { application } => {
            Event::GrantApplicationReviewed(v1::GrantApplicationReviewed {
                application_id: format!("a{application}"),
                reviewer: "panel".into(),
                score: 70,
                notes: String::new(),
            })
        }
        Op::Shortlist { application } => {
            Event::GrantApplicationShortlisted(v1::GrantApplicationShortlisted {
                application_id: format!("a{application}"),
            })
        }
        Op::Award {
            application,
            fen,
            gated,
        } => {
            let first = if fen > 1 { fen / 2 } else { fen };
            let mut tranches = vec![v1::Tranche {
                amount_fen: first,
                requires_evaluation: false,
            }];
            if fen > 1 {
                tranches.push(v1::Tranche {
                    amount_fen: fen - first,
                    requires_evaluation: gated,
                });
            }
            Event::GrantAwarded(v1::GrantAwarded {
                grant_id: format!("g{application}"),
                application_id: format!("a{application}"),
                amount_fen: fen,
                tranches,
                awarded_on: "2016-04-28".into(),
            })
        }
        Op::Disburse { grant, tranche } => {
            Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
                grant_id: format!("g{grant}"),
                tranche_index: tranche,
                amount_fen: 0,
                paid_on: "2016-06-01".into(),
                bank_reference: String::new(),
            })
        }
        Op::Evaluate { id, grant, passed } => {
            Event::GrantEvaluationRecorded(v1::GrantEvaluationRecorded {
                evaluation_id: format!("ev{id}"),
                grant_id: format!("g{grant}"),
                period: "2016-H1".into(),
                evaluator: "third party".into(),
                score: 60,
                passed,
            })
        }
        Op::CloseGrant { grant } => Event::GrantClosed(v1::GrantClosed {
            grant_id: format!("g{grant}"),
            reason: "ended".into(),
            ..Default::default()
        }),
    }
}

fn setup() -> Vec<Event> {
    let mut events: Vec<Event> = FUNDS
        .iter()
        .map(|fund_id| {
            Event::FundOpened(v1::FundOpened {
                fund_id: (*fund_id).into(),
                name: (*fund_id).into(),
                kind: v1::FundKind::Unrestricted as i32,
                restriction: String::new(),
            })
        })
        .collect();
    for (index, donor_id) in DONORS.iter().enumerate() {
        events.push(Event::DonorRegistered(v1::DonorRegistered {
            donor_id: (*donor_id).into(),
            name: (*donor_id).into(),
            kind: if index < 2 {
                v1::DonorKind::Enterprise
            } else {
                v1::DonorKind::Individual
            } as i32,
            ..Default::default()
        }));
    }
    events.push(Event::OrganisationRegistered(v1::OrganisationRegistered {
        organisation_id: "org".into(),
        name: "org".into(),
        registration_no: String::new(),
    }));
    events.push(Event::GrantRoundOpened(v1::GrantRoundOpened {
        round_id: "round".into(),
        fund_id: "f0".into(),
        name: "round".into(),
        budget_fen: 60_000,
        applications_open_on: "2016-03-01".into(),
        applications_close_on: "2016-03-31".into(),
    }));
    // Seed money so awards are affordable and the tranche paths are reached.
    events.push(Event::DonationReceived(v1::DonationReceived {
        donation_id: "seed".into(),
        fund_id: "f0".into(),
        amount_fen: 50_000,
        channel: v1::Channel::Cash as i32,
        received_on: "2016-01-01".into(),
        ..Default::default()
    }));
    events
}

/// Money in minus money out per fund (unrestricted, uncommitted) and per
/// project, recomputed from the accepted events with no state machine.
#[derive(Debug, Default, PartialEq)]
struct NaiveBooks {
    fund_available: HashMap<String, i64>,
    project_balance: HashMap<String, i64>,
    grant_outstanding: HashMap<String, i64>,
    bank: i64,
}

fn naive_books(events: &[Event]) -> NaiveBooks {
    let mut books = NaiveBooks::default();
    let mut donations: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut expenditures: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut pledge_fund: HashMap<&str, &str> = HashMap::new();
    let mut grant_fund: HashMap<&str, &str> = HashMap::new();
    let holder = |books: &mut NaiveBooks, fund: &str, project: &str, fen: i64| {
        books.bank += fen;
        if project.is_empty() {
            *books.fund_available.entry(fund.to_owned()).or_default() += fen;
        } else {
            *books.project_balance.entry(project.to_owned()).or_default() += fen;
        }
    };
    for event in events {
        match event {
            Event::DonationReceived(e) => {
                donations.insert(&e.donation_id, (&e.fund_id, &e.project_id));
                holder(&mut books, &e.fund_id, &e.project_id, e.amount_fen);
            }
            Event::DonationRefunded(v1::DonationRefunded {
                donation_id,
                amount_fen,
                ..
            })
            | Event::DonationReversed(v1::DonationReversed {
                donation_id,
                amount_fen,
                ..
            }) => {
                let (fund, project) = donations[donation_id.as_str()];
                holder(&mut books, fund, project, -amount_fen);
            }
            Event::ExpenditureMade(e) => {
                expenditures.insert(&e.expenditure_id, (&e.fund_id, &e.project_id));
                holder(&mut books, &e.fund_id, &e.project_id, -e.amount_fen);
            }
            Event::ExpenditureReversed(e) => {
                let (fund, project) = expenditures[e.expenditure_id.as_str()];
                holder(&mut books, fund, project, e.amount_fen);
            }
            Event::ProjectFunded(e) => holder(&mut books, "", &e.project_id, e.amount_fen),
            Event::PledgeMade(e) => {
                pledge_fund.insert(&e.pledge_id, &e.fund_id);
            }
            Event::PledgePaymentReceived(e) => holder(
                &mut books,
                pledge_fund[e.pledge_id.as_str()],
                "",
                e.amount_fen,
            ),
            Event::GrantAwarded(e) => {
                grant_fund.insert(&e.grant_id, "f0");
                *books.fund_available.entry("f0".into()).or_default() -= e.amount_fen;
                *books
                    .grant_outstanding
                    .entry(e.grant_id.clone())
                    .or_default() += e.amount_fen;
            }
            Event::GrantTrancheDisbursed(e) => {
                books.bank -= e.amount_fen;
                *books
                    .grant_outstanding
                    .entry(e.grant_id.clone())
                    .or_default() -= e.amount_fen;
            }
            Event::GrantClosed(e) => {
                *books
                    .fund_available
                    .entry(grant_fund[e.grant_id.as_str()].to_owned())
                    .or_default() += e.returned_fen;
                *books
                    .grant_outstanding
                    .entry(e.grant_id.clone())
                    .or_default() -= e.returned_fen;
            }
            _ => {}
        }
    }
    books
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_never_break_an_invariant(ops in proptest::collection::vec(op(), 1..200)) {
        let mut state = LedgerState::default();
        let mut accepted = Vec::new();
        for event in setup() {
            let event = decide(&state, event).expect("setup is valid");
            state.apply(&event);
            accepted.push(event);
        }
        for op in &ops {
            let Ok(event) = decide(&state, command(op)) else { continue };
            // One active claim: a claim is accepted only while no one holds the project.
            if let Event::ProjectClaimed(e) = &event {
                prop_assert!(state.projects[&e.project_id].claimant.is_none());
            }
            state.apply(&event);
            accepted.push(event);

            let books = naive_books(&accepted);
            for (fund_id, fund) in state.funds.iter() {
                prop_assert!(fund.available_fen >= 0, "fund {fund_id} overdrawn");
                prop_assert_eq!(fund.available_fen, books.fund_available.get(fund_id).copied().unwrap_or(0));
            }
            for (project_id, project) in state.projects.iter() {
                prop_assert!(project.balance_fen >= 0, "project {project_id} overdrawn");
                prop_assert_eq!(project.balance_fen, books.project_balance.get(project_id).copied().unwrap_or(0));
            }
            for (grant_id, grant) in state.grants.iter() {
                prop_assert!(grant.disbursed_fen <= grant.amount_fen, "grant {grant_id} paid beyond award");
                let outstanding = if grant.closed { 0 } else { grant.amount_fen - grant.disbursed_fen };
                prop_assert_eq!(outstanding, books.grant_outstanding[grant_id]);
            }
            for round in state.rounds.values() {
                prop_assert!(round.awarded_fen <= round.budget_fen);
            }
            for pledge in state.pledges.values() {
                prop_assert!(pledge.paid_fen <= pledge.total_fen);
            }
            for donation in state.donations.values() {
                prop_assert!(donation.refundable_fen >= 0);
            }
            prop_assert_eq!(state.money_held_fen(), books.bank, "money held differs from money in minus out");
        }
    }
}
