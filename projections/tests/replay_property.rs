//! Property: random but valid event sequences (a small generator that keeps
//! track of what every fund, project and grant holds, so that nothing pays
//! out more than it holds) keep the ledger identities after every event,
//! agree with a deliberately naive recomputation, and rebuild identically.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use mingzhang_ledger::record::GENESIS_PREV_HASH;
use mingzhang_ledger::store::{
    AppendFuture, EventStore, Head, RecordMeta, StoreError, StoredRecord,
};
use mingzhang_projections::{Direction, MovementFilter, Projections};
use mingzhang_proto::Message;
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// The generator: a world of ids and holdings, turning random choices into
// events the write side would accept.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0);
        (self.next() % bound as u64) as usize
    }

    fn amount(&mut self, max_fen: i64) -> i64 {
        assert!(max_fen > 0);
        1 + (self.next() % max_fen as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn date(&mut self) -> String {
        format!(
            "{}-{:02}-{:02}",
            2015 + self.below(3),
            1 + self.below(12),
            1 + self.below(28)
        )
    }
}

const AMOUNT_MAX_FEN: i64 = 100_000_000;

struct ProjectW {
    fund: usize,
    claimant: Option<usize>,
    balance_fen: i64,
    completed: bool,
}

struct DonationW {
    fund: usize,
    project: Option<usize>,
    held_fen: i64,
}

struct PledgeW {
    total_fen: i64,
    paid_fen: i64,
    cancelled: bool,
}

struct GrantW {
    tranches: Vec<(i64, bool)>,
    next_tranche: usize,
    disbursed_fen: i64,
    passed_since_last_tranche: bool,
    closed: bool,
}

struct ExpenditureW {
    fund: usize,
    project: Option<usize>,
    amount_fen: i64,
    reversed_fen: i64,
}

#[derive(Default)]
struct World {
    fund_available_fen: Vec<i64>,
    donors: usize,
    campaigns: usize,
    organisations: usize,
    projects: Vec<ProjectW>,
    donations: Vec<DonationW>,
    pledges: Vec<PledgeW>,
    /// (fund, budget left)
    rounds: Vec<(usize, i64)>,
    /// (round, awarded)
    applications: Vec<(usize, bool)>,
    grants: Vec<GrantW>,
    expenditures: Vec<ExpenditureW>,
    serial: usize,
}

fn schedule(rng: &mut Rng, total_fen: i64) -> Vec<v1::Instalment> {
    let parts = 1 + rng.below(3).min(total_fen as usize - 1);
    let share_fen = total_fen / parts as i64;
    (0..parts)
        .map(|part| v1::Instalment {
            due_on: format!("{}-{:02}-28", 2015 + part, 1 + rng.below(12)),
            amount_fen: if part + 1 == parts {
                total_fen - share_fen * (parts as i64 - 1)
            } else {
                share_fen
            },
        })
        .collect()
}

impl World {
    fn holder_fen(&mut self, fund: usize, project: Option<usize>) -> &mut i64 {
        match project {
            Some(project) => &mut self.projects[project].balance_fen,
            None => &mut self.fund_available_fen[fund],
        }
    }

    /// The event for `choice`, or `None` when the world has nothing it applies to.
    fn event(&mut self, choice: u8, rng: &mut Rng) -> Option<Event> {
        self.serial += 1;
        let serial = self.serial;
        let funds = self.fund_available_fen.len();
        match choice {
            0 if funds < 4 => {
                self.fund_available_fen.push(0);
                Some(Event::FundOpened(v1::FundOpened {
                    fund_id: format!("f{funds}"),
                    name: format!("fund {funds}"),
                    kind: 1 + rng.below(3) as i32,
                    restriction: String::new(),
                }))
            }
            1 if self.donors < 6 => {
                self.donors += 1;
                Some(Event::DonorRegistered(v1::DonorRegistered {
                    donor_id: format!("dn{}", self.donors - 1),
                    name: format!("donor {}", self.donors - 1),
                    kind: 1 + rng.below(2) as i32,
                    alliance_member: rng.chance(50),
                    show_name_publicly: rng.chance(50),
                }))
            }
            2 if funds > 0 && self.campaigns < 3 => {
                self.campaigns += 1;
                Some(Event::CampaignOpened(v1::CampaignOpened {
                    campaign_id: format!("c{}", self.campaigns - 1),
                    name: "campaign".to_owned(),
                    fund_id: format!("f{}", rng.below(funds)),
                    total_target_fen: 1_000_000_000,
                    first_year: 2015,
                    yearly_targets: (2015..2020)
                        .map(|year| v1::YearlyTarget {
                            year,
                            target_fen: 200_000_000,
                        })
                        .collect(),
                }))
            }
            3 if funds > 0 => {
                let project = (!self.projects.is_empty() && rng.chance(40))
                    .then(|| rng.below(self.projects.len()));
                let fund = project.map_or_else(|| rng.below(funds), |p| self.projects[p].fund);
                let amount_fen = rng.amount(AMOUNT_MAX_FEN);
                *self.holder_fen(fund, project) += amount_fen;
                self.donations.push(DonationW {
                    fund,
                    project,
                    held_fen: amount_fen,
                });
                Some(Event::DonationReceived(v1::DonationReceived {
                    donation_id: format!("don{}", self.donations.len() - 1),
                    donor_id: if self.donors > 0 && rng.chance(80) {
                        format!("dn{}", rng.below(self.donors))
                    } else {
                        String::new()
                    },
                    fund_id: format!("f{fund}"),
                    campaign_id: if self.campaigns > 0 && rng.chance(60) {
                        format!("c{}", rng.below(self.campaigns))
                    } else {
                        String::new()
                    },
                    project_id: project.map_or_else(String::new, |p| format!("p{p}")),
                    amount_fen,
                    channel: 1 + rng.below(3) as i32,
                    bank_reference: format!("BR{serial}"),
                    anonymous: rng.chance(20),
                    received_on: rng.date(),
                }))
            }
            4 | 5 if !self.donations.is_empty() => {
                let index = rng.below(self.donations.len());
                let (fund, project, held_fen) = {
                    let d = &self.donations[index];
                    (d.fund, d.project, d.held_fen)
                };
                let holder_fen = *self.holder_fen(fund, project);
                let most_fen = held_fen.min(holder_fen);
                if most_fen <= 0 {
                    return None;
                }
                let reversal = choice == 5 && held_fen <= holder_fen;
                let amount_fen = if reversal {
                    held_fen
                } else {
                    rng.amount(most_fen)
                };
                self.donations[index].held_fen -= amount_fen;
                *self.holder_fen(fund, project) -= amount_fen;
                Some(if reversal {
                    Event::DonationReversed(v1::DonationReversed {
                        donation_id: format!("don{index}"),
                        amount_fen,
                        reason: "booked twice".to_owned(),
                    })
                } else {
                    Event::DonationRefunded(v1::DonationRefunded {
                        refund_id: format!("rf{serial}"),
                        donation_id: format!("don{index}"),
                        amount_fen,
                        reason: "asked".to_owned(),
                    })
                })
            }
            6 if funds > 0 && self.donors > 0 => {
                let total_fen = 2 + rng.amount(AMOUNT_MAX_FEN);
                self.pledges.push(PledgeW {
                    total_fen,
                    paid_fen: 0,
                    cancelled: false,
                });
                Some(Event::PledgeMade(v1::PledgeMade {
                    pledge_id: format!("pl{}", self.pledges.len() - 1),
                    donor_id: format!("dn{}", rng.below(self.donors)),
                    campaign_id: if self.campaigns > 0 && rng.chance(70) {
                        format!("c{}", rng.below(self.campaigns))
                    } else {
                        String::new()
                    },
                    fund_id: format!("f{}", rng.below(funds)),
                    total_fen,
                    instalments: schedule(rng, total_fen),
                }))
            }
            7..=9 if !self.pledges.is_empty() => {
                let index = rng.below(self.pledges.len());
                let pledge = &mut self.pledges[index];
                let unpaid_fen = pledge.total_fen - pledge.paid_fen;
                if pledge.cancelled {
                    return None;
                }
                match choice {
                    7 if unpaid_fen > 0 => {
                        let amount_fen = rng.amount(unpaid_fen);
                        pledge.paid_fen += amount_fen;
                        Some(Event::PledgePaymentReceived(v1::PledgePaymentReceived {
                            payment_id: format!("pay{serial}"),
                            pledge_id: format!("pl{index}"),
                            amount_fen,
                            channel: 1,
                            bank_reference: format!("BR{serial}"),
                            received_on: rng.date(),
                        }))
                    }
                    8 => {
                        let new_total_fen = pledge.paid_fen.max(2) + rng.amount(AMOUNT_MAX_FEN);
                        pledge.total_fen = new_total_fen;
                        Some(Event::PledgeAmended(v1::PledgeAmended {
                            pledge_id: format!("pl{index}"),
                            new_total_fen,
                            instalments: schedule(rng, new_total_fen),
                            reason: "rescheduled".to_owned(),
                        }))
                    }
                    9 if rng.chance(30) => {
                        pledge.cancelled = true;
                        Some(Event::PledgeCancelled(v1::PledgeCancelled {
                            pledge_id: format!("pl{index}"),
                            cancelled_fen: unpaid_fen,
                            reason: "restructured".to_owned(),
                        }))
                    }
                    _ => None,
                }
            }
            10 if funds > 0 && self.rounds.len() < 3 => {
                self.rounds
                    .push((rng.below(funds), rng.amount(AMOUNT_MAX_FEN * 4)));
                Some(Event::GrantRoundOpened(v1::GrantRoundOpened {
                    round_id: format!("r{}", self.rounds.len() - 1),
                    fund_id: format!("f{}", self.rounds.last().unwrap().0),
                    name: "micro-venture".to_owned(),
                    budget_fen: self.rounds.last().unwrap().1,
                    applications_open_on: "2016-03-01".to_owned(),
                    applications_close_on: "2016-04-30".to_owned(),
                }))
            }
            11 if !self.rounds.is_empty() => {
                if self.organisations == 0 || rng.chance(30) {
                    self.organisations += 1;
                    return Some(Event::OrganisationRegistered(v1::OrganisationRegistered {
                        organisation_id: format!("o{}", self.organisations - 1),
                        name: "social organisation".to_owned(),
                        registration_no: format!("5233{serial}"),
                    }));
                }
                let round = rng.below(self.rounds.len());
                self.applications.push((round, false));
                Some(Event::GrantApplicationSubmitted(
                    v1::GrantApplicationSubmitted {
                        application_id: format!("a{}", self.applications.len() - 1),
                        round_id: format!("r{round}"),
                        organisation_id: format!("o{}", rng.below(self.organisations)),
                        title: "plan".to_owned(),
                        summary: String::new(),
                        requested_fen: rng.amount(AMOUNT_MAX_FEN),
                        submitted_on: "2016-04-01".to_owned(),
                    },
                ))
            }
            12 if !self.applications.is_empty() => Some(Event::GrantApplicationReviewed(
                v1::GrantApplicationReviewed {
                    application_id: format!("a{}", rng.below(self.applications.len())),
                    reviewer: "panel".to_owned(),
                    score: rng.below(101) as i32,
                    notes: String::new(),
                },
            )),
            13 if !self.applications.is_empty() => {
                let application = rng.below(self.applications.len());
                let (round, awarded) = self.applications[application];
                let (fund, budget_left_fen) = self.rounds[round];
                let most_fen = budget_left_fen.min(self.fund_available_fen[fund]);
                if awarded || most_fen < 3 {
                    return None;
                }
                let amount_fen = 2 + rng.amount(most_fen - 2);
                let first_fen = amount_fen / 2;
                let tranches = vec![(first_fen, false), (amount_fen - first_fen, rng.chance(60))];
                self.applications[application].1 = true;
                self.rounds[round].1 -= amount_fen;
                self.fund_available_fen[fund] -= amount_fen;
                self.grants.push(GrantW {
                    tranches: tranches.clone(),
                    next_tranche: 0,
                    disbursed_fen: 0,
                    passed_since_last_tranche: false,
                    closed: false,
                });
                Some(Event::GrantAwarded(v1::GrantAwarded {
                    grant_id: format!("g{}", self.grants.len() - 1),
                    application_id: format!("a{application}"),
                    amount_fen,
                    awarded_on: String::new(),
                    tranches: tranches
                        .into_iter()
                        .map(|(amount_fen, requires_evaluation)| v1::Tranche {
                            amount_fen,
                            requires_evaluation,
                        })
                        .collect(),
                }))
            }
            14 | 15 if !self.grants.is_empty() => {
                let index = rng.below(self.grants.len());
                let grant = &mut self.grants[index];
                if grant.closed {
                    return None;
                }
                if choice == 15 && rng.chance(30) {
                    grant.closed = true;
                    let amount_fen: i64 = grant.tranches.iter().map(|t| t.0).sum();
                    let returned_fen = amount_fen - grant.disbursed_fen;
                    return Some(Event::GrantClosed(v1::GrantClosed {
                        grant_id: format!("g{index}"),
                        disbursed_fen: grant.disbursed_fen,
                        returned_fen,
                        reason: "ended".to_owned(),
                    }));
                }
                let &(amount_fen, requires_evaluation) = grant.tranches.get(grant.next_tranche)?;
                if requires_evaluation && !grant.passed_since_last_tranche {
                    let passed = rng.chance(70);
                    grant.passed_since_last_tranche |= passed;
                    return Some(Event::GrantEvaluationRecorded(
                        v1::GrantEvaluationRecorded {
                            evaluation_id: format!("ev{serial}"),
                            grant_id: format!("g{index}"),
                            period: "2016-H1".to_owned(),
                            evaluator: "assessor".to_owned(),
                            score: 80,
                            passed,
                        },
                    ));
                }
                grant.passed_since_last_tranche = false;
                grant.disbursed_fen += amount_fen;
                grant.next_tranche += 1;
                Some(Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
                    grant_id: format!("g{index}"),
                    tranche_index: (grant.next_tranche - 1) as u32,
                    amount_fen,
                    paid_on: rng.date(),
                    bank_reference: format!("BR{serial}"),
                }))
            }
            16 if funds > 0 => {
                if self.projects.is_empty() || rng.chance(30) {
                    let fund = rng.below(funds);
                    self.projects.push(ProjectW {
                        fund,
                        claimant: None,
                        balance_fen: 0,
                        completed: false,
                    });
                    return Some(Event::ProjectPublished(v1::ProjectPublished {
                        project_id: format!("p{}", self.projects.len() - 1),
                        title: "service project".to_owned(),
                        description: String::new(),
                        need_kind: 1 + rng.below(4) as i32,
                        community: "Kaixuan".to_owned(),
                        survey: "2015-H2".to_owned(),
                        budget_fen: rng.amount(AMOUNT_MAX_FEN),
                        fund_id: format!("f{fund}"),
                    }));
                }
                let index = rng.below(self.projects.len());
                let project = &mut self.projects[index];
                match project.claimant {
                    Some(sponsor) => {
                        project.claimant = None;
                        Some(Event::ProjectClaimReleased(v1::ProjectClaimReleased {
                            project_id: format!("p{index}"),
                            sponsor_id: format!("dn{sponsor}"),
                            reason: "released".to_owned(),
                        }))
                    }
                    None if self.donors > 0 => {
                        let sponsor = rng.below(self.donors);
                        project.claimant = Some(sponsor);
                        Some(Event::ProjectClaimed(v1::ProjectClaimed {
                            project_id: format!("p{index}"),
                            sponsor_id: format!("dn{sponsor}"),
                        }))
                    }
                    None => None,
                }
            }
            17 if !self.projects.is_empty() => {
                let index = rng.below(self.projects.len());
                let project = &mut self.projects[index];
                let sponsor = project.claimant?;
                let amount_fen = rng.amount(AMOUNT_MAX_FEN);
                project.balance_fen += amount_fen;
                Some(Event::ProjectFunded(v1::ProjectFunded {
                    funding_id: format!("pf{serial}"),
                    project_id: format!("p{index}"),
                    sponsor_id: format!("dn{sponsor}"),
                    amount_fen,
                    channel: 1,
                    bank_reference: format!("BR{serial}"),
                    received_on: rng.date(),
                }))
            }
            18 if funds > 0 => {
                let project = (!self.projects.is_empty() && rng.chance(40))
                    .then(|| rng.below(self.projects.len()));
                let fund = project.map_or_else(|| rng.below(funds), |p| self.projects[p].fund);
                let holder_fen = *self.holder_fen(fund, project);
                if holder_fen <= 0 {
                    return None;
                }
                let amount_fen = rng.amount(holder_fen);
                *self.holder_fen(fund, project) -= amount_fen;
                self.expenditures.push(ExpenditureW {
                    fund,
                    project,
                    amount_fen,
                    reversed_fen: 0,
                });
                Some(Event::ExpenditureMade(v1::ExpenditureMade {
                    expenditure_id: format!("e{}", self.expenditures.len() - 1),
                    fund_id: format!("f{fund}"),
                    project_id: project.map_or_else(String::new, |p| format!("p{p}")),
                    amount_fen,
                    payee: "payee".to_owned(),
                    payee_kind: 1 + rng.below(3) as i32,
                    purpose: "services".to_owned(),
                    category: rng.below(6) as i32,
                    receipt_no: format!("R{serial}"),
                    paid_on: rng.date(),
                }))
            }
            19 if !self.expenditures.is_empty() => {
                let index = rng.below(self.expenditures.len());
                let e = &self.expenditures[index];
                let reversible_fen = e.amount_fen - e.reversed_fen;
                if reversible_fen <= 0 {
                    return None;
                }
                let amount_fen = rng.amount(reversible_fen);
                let (fund, project) = (e.fund, e.project);
                self.expenditures[index].reversed_fen += amount_fen;
                *self.holder_fen(fund, project) += amount_fen;
                Some(Event::ExpenditureReversed(v1::ExpenditureReversed {
                    expenditure_id: format!("e{index}"),
                    amount_fen,
                    reason: "returned".to_owned(),
                }))
            }
            20 if !self.grants.is_empty() && !self.projects.is_empty() => {
                if rng.chance(50) {
                    return Some(Event::GrantSelfAssessmentFiled(
                        v1::GrantSelfAssessmentFiled {
                            grant_id: format!("g{}", rng.below(self.grants.len())),
                            quarter: "2016-Q3".to_owned(),
                            report_sha256: vec![serial as u8; 32],
                            summary: "on track".to_owned(),
                        },
                    ));
                }
                let index = rng.below(self.projects.len());
                if self.projects[index].completed {
                    return None;
                }
                self.projects[index].completed = true;
                Some(Event::ProjectCompleted(v1::ProjectCompleted {
                    project_id: format!("p{index}"),
                    report_sha256: vec![1; 32],
                    summary: "delivered".to_owned(),
                    completed_on: rng.date(),
                }))
            }
            _ => None,
        }
    }
}

const CHOICES: u8 = 21;

fn generate(choices: &[(u8, u64)]) -> Vec<v1::EventEnvelope> {
    let mut world = World::default();
    let mut envelopes = Vec::new();
    for &(choice, seed) in choices {
        let mut rng = Rng(seed);
        if let Some(event) = world.event(choice, &mut rng) {
            envelopes.push(v1::EventEnvelope {
                recorded_at_unix_ms: 1_420_041_600_000 + (rng.next() % 94_694_400_000) as i64,
                actor: "operator:prop".to_owned(),
                idempotency_key: String::new(),
                request_sha256: Vec::new(),
                event: Some(event),
            });
        }
    }
    envelopes
}

// ---------------------------------------------------------------------------
// The naive fold: straight from the posting rules, strings everywhere.

#[derive(Default, Debug, PartialEq)]
struct Naive {
    accounts: BTreeMap<String, i64>,
    donor_donated_fen: BTreeMap<String, i64>,
    campaign_raised_fen: BTreeMap<String, i64>,
    campaign_pledged_fen: BTreeMap<String, i64>,
    pledge_paid_fen: BTreeMap<String, i64>,
}

fn naive(envelopes: &[v1::EventEnvelope]) -> Naive {
    let mut out = Naive::default();
    let mut donation_of: HashMap<String, v1::DonationReceived> = HashMap::new();
    let mut pledge_of: HashMap<String, v1::PledgeMade> = HashMap::new();
    let mut round_fund: HashMap<String, String> = HashMap::new();
    let mut application_round: HashMap<String, String> = HashMap::new();
    let mut grant_fund: HashMap<String, String> = HashMap::new();
    let mut expenditure_of: HashMap<String, v1::ExpenditureMade> = HashMap::new();
    let post =
        |accounts: &mut BTreeMap<String, i64>, debit: String, credit: String, amount: i64| {
            *accounts.entry(debit).or_default() += amount;
            *accounts.entry(credit).or_default() -= amount;
        };
    let bank = || "assets:bank".to_owned();
    let donation_holder = |d: &v1::DonationReceived, what: &str| {
        if d.project_id.is_empty() {
            format!("fund:{}:{what}", d.fund_id)
        } else {
            format!("project:{}:{what}", d.project_id)
        }
    };
    for envelope in envelopes {
        match envelope.event.as_ref().unwrap() {
            Event::DonationReceived(d) => {
                post(
                    &mut out.accounts,
                    bank(),
                    donation_holder(d, "donations"),
                    d.amount_fen,
                );
                if !d.donor_id.is_empty() {
                    *out.donor_donated_fen.entry(d.donor_id.clone()).or_default() += d.amount_fen;
                }
                if !d.campaign_id.is_empty() {
                    *out.campaign_raised_fen
                        .entry(d.campaign_id.clone())
                        .or_default() += d.amount_fen;
                }
                donation_of.insert(d.donation_id.clone(), d.clone());
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
                let d = &donation_of[donation_id];
                post(
                    &mut out.accounts,
                    donation_holder(d, "refunds"),
                    bank(),
                    *amount_fen,
                );
                if !d.donor_id.is_empty() {
                    *out.donor_donated_fen.entry(d.donor_id.clone()).or_default() -= amount_fen;
                }
                if !d.campaign_id.is_empty() {
                    *out.campaign_raised_fen
                        .entry(d.campaign_id.clone())
                        .or_default() -= amount_fen;
                }
            }
            Event::PledgeMade(p) => {
                *out.campaign_pledged_fen
                    .entry(p.campaign_id.clone())
                    .or_default() += p.total_fen;
                pledge_of.insert(p.pledge_id.clone(), p.clone());
            }
            Event::PledgeAmended(a) => {
                let p = pledge_of.get_mut(&a.pledge_id).unwrap();
                *out.campaign_pledged_fen
                    .entry(p.campaign_id.clone())
                    .or_default() += a.new_total_fen - p.total_fen;
                p.total_fen = a.new_total_fen;
            }
            Event::PledgeCancelled(c) => {
                let p = &pledge_of[&c.pledge_id];
                *out.campaign_pledged_fen
                    .entry(p.campaign_id.clone())
                    .or_default() -= c.cancelled_fen;
            }
            Event::PledgePaymentReceived(pay) => {
                let p = &pledge_of[&pay.pledge_id];
                post(
                    &mut out.accounts,
                    bank(),
                    format!("fund:{}:pledge_payments", p.fund_id),
                    pay.amount_fen,
                );
                *out.campaign_raised_fen
                    .entry(p.campaign_id.clone())
                    .or_default() += pay.amount_fen;
                *out.pledge_paid_fen.entry(p.pledge_id.clone()).or_default() += pay.amount_fen;
            }
            Event::GrantRoundOpened(r) => {
                round_fund.insert(r.round_id.clone(), r.fund_id.clone());
            }
            Event::GrantApplicationSubmitted(a) => {
                application_round.insert(a.application_id.clone(), a.round_id.clone());
            }
            Event::GrantAwarded(g) => {
                let fund = round_fund[&application_round[&g.application_id]].clone();
                post(
                    &mut out.accounts,
                    format!("fund:{fund}:grants_committed"),
                    format!("liabilities:grants:{}", g.grant_id),
                    g.amount_fen,
                );
                grant_fund.insert(g.grant_id.clone(), fund);
            }
            Event::GrantTrancheDisbursed(t) => {
                post(
                    &mut out.accounts,
                    format!("liabilities:grants:{}", t.grant_id),
                    bank(),
                    t.amount_fen,
                );
            }
            Event::GrantClosed(c) if c.returned_fen > 0 => {
                post(
                    &mut out.accounts,
                    format!("liabilities:grants:{}", c.grant_id),
                    format!("fund:{}:grants_returned", grant_fund[&c.grant_id]),
                    c.returned_fen,
                );
            }
            Event::ProjectFunded(f) => {
                post(
                    &mut out.accounts,
                    bank(),
                    format!("project:{}:sponsor_funding", f.project_id),
                    f.amount_fen,
                );
            }
            Event::ExpenditureMade(e) => {
                let category = [
                    "unspecified",
                    "one_off_support",
                    "purchase_of_services",
                    "award_for_excellence",
                    "project_delivery",
                    "operations",
                ][e.category as usize];
                let debit = if e.project_id.is_empty() {
                    format!("fund:{}:expenses:{category}", e.fund_id)
                } else {
                    format!("project:{}:expenses", e.project_id)
                };
                post(&mut out.accounts, debit.clone(), bank(), e.amount_fen);
                let mut remembered = e.clone();
                remembered.receipt_no = debit;
                expenditure_of.insert(e.expenditure_id.clone(), remembered);
            }
            Event::ExpenditureReversed(r) => {
                let debit_account = expenditure_of[&r.expenditure_id].receipt_no.clone();
                post(&mut out.accounts, bank(), debit_account, r.amount_fen);
            }
            _ => {}
        }
    }
    out.campaign_pledged_fen.remove("");
    out.campaign_raised_fen.remove("");
    out
}

/// −Σ of the accounts under `prefix` (e.g. "fund:f1:").
fn held_under(accounts: &BTreeMap<String, i64>, prefix: &str) -> i64 {
    -accounts
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, balance)| balance)
        .sum::<i64>()
}

/// Every query result, serialised: two projections agree iff these agree.
fn snapshot(projections: &Projections) -> String {
    serde_json::to_string(&(
        projections.trial_balance(),
        projections.fund_balances(),
        projections.campaigns(),
        projections.pledges(),
        projections.pledge_status("2016-06-30").unwrap(),
        projections.grant_rounds(),
        projections.grants(),
        projections.grant_applications(None),
        projections.projects(),
        projections.donors(),
        projections.donations(0, usize::MAX),
        projections.expenditures(0, usize::MAX),
        projections.project_fundings(0, usize::MAX),
        projections.monthly_flows(),
        projections.not_applied(),
        hex::encode(projections.balances_digest()),
    ))
    .unwrap()
}

// ---------------------------------------------------------------------------
// A tiny store, so that catch_up is exercised against the EventStore trait.

struct VecStore {
    records: Mutex<Vec<StoredRecord>>,
    durable_len: tokio::sync::watch::Sender<u64>,
    /// At most this many records per `read`, to exercise batching.
    read_max: usize,
}

impl VecStore {
    fn new(read_max: usize) -> VecStore {
        VecStore {
            records: Mutex::new(Vec::new()),
            durable_len: tokio::sync::watch::channel(0).0,
            read_max,
        }
    }

    fn push(&self, payload: &[u8]) {
        let mut records = self.records.lock().unwrap();
        let prev_hash = records.last().map_or(GENESIS_PREV_HASH, StoredRecord::hash);
        let seq = records.len() as u64;
        records.push(StoredRecord::encode(seq, &prev_hash, payload));
        self.durable_len.send_replace(records.len() as u64);
    }
}

impl EventStore for VecStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        let actual = self.head().len;
        if expected_first_seq != actual {
            return Box::pin(std::future::ready(Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual,
            })));
        }
        let mut metas = Vec::new();
        for payload in &payloads {
            self.push(payload);
            let records = self.records.lock().unwrap();
            let last = records.last().unwrap();
            metas.push(RecordMeta {
                seq: last.seq(),
                hash: last.hash(),
            });
        }
        Box::pin(std::future::ready(Ok(metas)))
    }

    fn head(&self) -> Head {
        let records = self.records.lock().unwrap();
        Head {
            len: records.len() as u64,
            last_hash: records.last().map_or(GENESIS_PREV_HASH, StoredRecord::hash),
        }
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let records = self.records.lock().unwrap();
        let len = records.len() as u64;
        if from_seq > len {
            return Err(StoreError::OutOfRange { seq: from_seq, len });
        }
        let from = from_seq as usize;
        let to = (from + max_records.min(self.read_max)).min(records.len());
        Ok(records[from..to].to_vec())
    }

    fn watch_durable_len(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable_len.subscribe()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn replayed_balances_satisfy_trial_balance_and_match_a_naive_fold(
        choices in prop::collection::vec((0..CHOICES, any::<u64>()), 1..300)
    ) {
        let envelopes = generate(&choices);
        let mut projections = Projections::default();
        for (seq, envelope) in envelopes.iter().enumerate() {
            if let Err(not_applied) = projections.apply(seq as u64, envelope) {
                return Err(TestCaseError::fail(not_applied.to_string()));
            }
            // (a) after every event
            prop_assert_eq!(projections.trial_balance().total_fen, 0);
            if let Err(broken) = projections.check_identities() {
                return Err(TestCaseError::fail(format!("after seq {seq}: {broken}")));
            }
        }

        // (b) against the naive fold
        let expected = naive(&envelopes);
        let accounts: BTreeMap<String, i64> = projections
            .trial_balance()
            .accounts
            .into_iter()
            .map(|line| (line.account, line.balance_fen))
            .collect();
        prop_assert_eq!(&accounts, &expected.accounts);
        for fund in projections.fund_balances() {
            prop_assert_eq!(fund.available_fen, held_under(&expected.accounts, &format!("fund:{}:", fund.fund_id)));
            prop_assert!(fund.available_fen >= 0, "fund {} overspent", fund.fund_id);
        }
        // Each fund's movements reconcile with its totals, to the fen, and
        // the trial balance: Σ in = total_in, Σ out = total_out, and the last
        // running balance = what the fund's accounts, its projects and its
        // grants hold.
        for fund in projections.fund_balances() {
            let mut listed = Vec::new();
            let mut offset = 0;
            loop {
                let page = projections
                    .fund_movements(&fund.fund_id, MovementFilter::default(), None, offset, 7)
                    .expect("the fund exists");
                prop_assert_eq!((page.in_fen, page.out_fen, page.balance_fen), (fund.total_in_fen, fund.total_out_fen, fund.total_held_fen));
                listed.extend(page.movements);
                match page.next_offset {
                    Some(next) => offset = next,
                    None => break,
                }
            }
            let sum = |direction: Direction| -> i64 {
                listed.iter().filter(|m| m.direction == direction).map(|m| m.amount_fen).sum()
            };
            prop_assert_eq!(sum(Direction::In), fund.total_in_fen);
            prop_assert_eq!(sum(Direction::Out), fund.total_out_fen);
            prop_assert!(listed.iter().all(|m| m.amount_fen > 0));
            prop_assert!(listed.windows(2).all(|pair| (pair[0].date, pair[0].seq) < (pair[1].date, pair[1].seq)));
            let last_balance_fen = listed.last().map_or(0, |m| m.balance_after_fen);
            prop_assert_eq!(last_balance_fen, fund.total_held_fen);
            let mut running_fen = 0;
            for movement in &listed {
                running_fen += match movement.direction { Direction::In => movement.amount_fen, Direction::Out => -movement.amount_fen };
                prop_assert_eq!(running_fen, movement.balance_after_fen);
            }
            let trial_held_fen = held_under(&expected.accounts, &format!("fund:{}:", fund.fund_id))
                + projections.projects().iter().filter(|p| p.fund_id == fund.fund_id).map(|p| p.balance_fen).sum::<i64>()
                + projections.grants().iter().filter(|g| projections.grant_round(&g.round_id).unwrap().fund_id == fund.fund_id).map(|g| g.outstanding_commitment_fen).sum::<i64>();
            prop_assert_eq!(last_balance_fen, trial_held_fen);
        }
        let mut held_by_fund: BTreeMap<String, i64> = BTreeMap::new();
        for project in projections.projects() {
            let held = held_under(&expected.accounts, &format!("project:{}:", project.project_id));
            prop_assert_eq!(project.balance_fen, held);
            prop_assert_eq!(project.balance_fen, project.funding_received_fen - project.spent_fen);
            prop_assert!(project.balance_fen >= 0);
            *held_by_fund.entry(project.fund_id.clone()).or_default() += held;
        }
        for grant in projections.grants() {
            let outstanding = held_under(&expected.accounts, &format!("liabilities:grants:{}", grant.grant_id));
            prop_assert_eq!(grant.outstanding_commitment_fen, outstanding);
            prop_assert!(outstanding >= 0);
        }
        for fund in projections.fund_balances() {
            prop_assert_eq!(
                fund.restricted_to_projects_fen,
                held_by_fund.get(&fund.fund_id).copied().unwrap_or(0)
            );
        }
        for donor in projections.donors() {
            prop_assert_eq!(donor.donated_fen, expected.donor_donated_fen.get(&donor.donor_id).copied().unwrap_or(0));
        }
        for campaign in projections.campaigns() {
            prop_assert_eq!(campaign.raised_fen, expected.campaign_raised_fen.get(&campaign.campaign_id).copied().unwrap_or(0));
            prop_assert_eq!(campaign.pledged_fen, expected.campaign_pledged_fen.get(&campaign.campaign_id).copied().unwrap_or(0));
            let by_year: i64 = campaign.years.iter().map(|year| year.raised_fen).sum();
            prop_assert_eq!(by_year, campaign.raised_fen);
        }
        for pledge in projections.pledges() {
            prop_assert_eq!(pledge.paid_fen, expected.pledge_paid_fen.get(&pledge.pledge_id).copied().unwrap_or(0));
            let allocated: i64 = pledge.instalments.iter().map(|i| i.paid_fen).sum();
            prop_assert_eq!(allocated, pledge.paid_fen.min(pledge.total_fen));
        }

        // (c) rebuilding from seq 0, from encoded payloads through a store, in small batches
        let store = VecStore::new(7);
        let mut rebuilt = Projections::default();
        let half = envelopes.len() / 2;
        for envelope in &envelopes[..half] {
            store.push(&envelope.encode_to_vec());
        }
        prop_assert_eq!(rebuilt.catch_up(&store).unwrap(), half as u64);
        for envelope in &envelopes[half..] {
            store.push(&envelope.encode_to_vec());
        }
        prop_assert_eq!(rebuilt.catch_up(&store).unwrap(), (envelopes.len() - half) as u64);
        prop_assert_eq!(rebuilt.catch_up(&store).unwrap(), 0);
        prop_assert!(rebuilt == projections, "rebuilt state differs");
        prop_assert_eq!(snapshot(&rebuilt), snapshot(&projections));
        for fund in projections.fund_balances() {
            prop_assert_eq!(
                rebuilt.fund_movements(&fund.fund_id, MovementFilter::default(), None, 0, usize::MAX),
                projections.fund_movements(&fund.fund_id, MovementFilter::default(), None, 0, usize::MAX)
            );
        }
        prop_assert_eq!(rebuilt.corrections(), projections.corrections());
        prop_assert_eq!(rebuilt.balances_digest(), projections.balances_digest());
        for seq in 0..envelopes.len() as u64 {
            prop_assert_eq!(rebuilt.postings_for(seq), projections.postings_for(seq));
        }

        // (d) the server's follower: at most 3 records per call, until none are left
        let mut stepped = Projections::default();
        let mut remaining = envelopes.len() as u64;
        while remaining > 0 {
            let applied = stepped.catch_up_to(&store, 3).unwrap();
            prop_assert_eq!(applied, remaining.min(3));
            remaining -= applied;
        }
        prop_assert_eq!(stepped.catch_up_to(&store, 3).unwrap(), 0);
        prop_assert!(stepped == projections, "stepped catch-up differs");
    }
}

#[test]
fn catch_up_refuses_a_record_that_is_not_an_envelope_and_keeps_what_it_applied() {
    let store = VecStore::new(2);
    let fund = v1::EventEnvelope {
        event: Some(Event::FundOpened(v1::FundOpened {
            fund_id: "kaixuan".to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    };
    store.push(&fund.encode_to_vec());
    store.push(&[0xff, 0xff]);
    let mut projections = Projections::default();
    let error = projections.catch_up(&store).unwrap_err();
    assert!(
        matches!(
            error,
            mingzhang_projections::ProjectionError::Decode { seq: 1, .. }
        ),
        "{error}"
    );
    assert_eq!(projections.applied_len(), 1);
    assert_eq!(projections.fund_balances().len(), 1);
}
