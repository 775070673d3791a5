//! What `decide` needs to know about the past: a fold of the events, nothing
//! more. Read models for people live in `mingzhang-projections`.
//!
//! `apply` holds no business rule: it trusts that `decide` produced the event.

/// Ids come from commands, so the maps hash them often; foldhash is several
/// times faster than SipHash on short strings and still seeded per process.
/// (Maps keyed by one id are `IdMap`s, which also grow a little at a time.)
pub(crate) type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

use std::hash::BuildHasher;

use mingzhang_proto::v1::{self, event_envelope::Event};

use crate::id_map::{IdMap, IdSet, same_id};

#[derive(Debug, Clone, Default)]
pub struct LedgerState {
    pub(crate) funds: IdMap<FundState>,
    pub(crate) campaigns: IdMap<CampaignState>,
    pub(crate) donors: IdMap<DonorState>,
    pub(crate) organisations: IdSet,
    pub(crate) donations: IdMap<DonationState>,
    pub(crate) holders: Holders,
    pub(crate) refund_ids: IdSet,
    pub(crate) pledges: IdMap<PledgeState>,
    pub(crate) payment_ids: IdSet,
    pub(crate) rounds: IdMap<RoundState>,
    pub(crate) applications: IdMap<ApplicationState>,
    pub(crate) grants: IdMap<GrantState>,
    pub(crate) evaluation_ids: IdSet,
    pub(crate) self_assessments: HashSet<(String, String)>,
    pub(crate) projects: IdMap<ProjectState>,
    pub(crate) funding_ids: IdSet,
    pub(crate) expenditures: IdMap<ExpenditureState>,
    pub(crate) gross: GrossTotals,
}

/// The ledger-wide totals that `decide` keeps within `TOTAL_FEN_MAX`; every
/// other total is bounded through them (see `money::TOTAL_FEN_MAX`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GrossTotals {
    /// Every fen ever received: donations, pledge payments, sponsor funding.
    pub received_fen: i64,
    /// The current totals of all pledges ever made, cancelled ones included.
    pub pledged_fen: i64,
    /// Every grant application's requested amount.
    pub requested_fen: i64,
    /// Every expenditure, including the reversed ones.
    pub spent_fen: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct FundState {
    pub kind: v1::FundKind,
    /// Unrestricted, uncommitted money: what an expenditure or award may use.
    pub available_fen: i64,
    /// Every fen received into the fund or its projects (never lowered).
    pub received_fen: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct CampaignState {
    pub fund_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct DonorState {
    pub kind: v1::DonorKind,
    /// 凯联盟成员单位, as the operator registered it: may claim projects.
    pub alliance_member: bool,
    /// Registered with a salted commitment, not the name in the clear: only
    /// such a name can be erased without breaking the chain.
    pub name_committed: bool,
    pub erased: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct DonationState {
    pub held_in: HolderIndex,
    /// Amount not yet refunded or reversed.
    pub refundable_fen: i64,
    pub reversed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct PledgeState {
    pub donor_id: String,
    pub fund_id: String,
    pub total_fen: i64,
    pub paid_fen: i64,
    pub cancelled: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RoundState {
    pub fund_id: String,
    pub budget_fen: i64,
    /// Awards minus what closed grants returned: the budget in use.
    pub awarded_fen: i64,
    pub applications_open_on: String,
    pub applications_close_on: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ApplicationState {
    pub round_id: String,
    pub organisation_id: String,
    pub requested_fen: i64,
    pub reviewed: bool,
    pub shortlisted: bool,
    pub awarded: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct GrantState {
    pub round_id: String,
    pub organisation_id: String,
    pub amount_fen: i64,
    pub tranches: Vec<v1::Tranche>,
    pub next_tranche: usize,
    pub disbursed_fen: i64,
    /// The award decision's date, YYYY-MM-DD; empty in awards recorded
    /// without one. No tranche is paid before it.
    pub awarded_on: String,
    /// 以奖代拨: a passing evaluation recorded since the last disbursement.
    pub passing_evaluation_since_last_tranche: bool,
    pub closed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ProjectState {
    pub fund_id: String,
    pub claimant: Option<String>,
    pub balance_fen: i64,
    pub completed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ExpenditureState {
    pub fund_id: String,
    pub project_id: String,
    pub amount_fen: i64,
    pub reversed: bool,
    /// The payee is a person whose name the record holds as a commitment.
    pub payee_committed: bool,
    /// A `PersonalDataErased` names the payee.
    pub payee_erased: bool,
}

/// Where in `Holders` a fund (and project) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HolderIndex(u32);

/// The funds, and projects within them, that donations' money is held in,
/// each kept once. A donation refers to its holder by index: with the two
/// ids in every donation the decision state was half again as large, and it
/// grows under the write-side lock, where fresh memory is slow to fault in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Holders {
    fund_and_project_ids: Vec<(String, String)>,
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Holders {
    /// The index of a fund and project (empty for the fund itself), added if new.
    pub fn index_of(&mut self, fund_id: &str, project_id: &str) -> HolderIndex {
        let hash = self.hasher.hash_one((fund_id, project_id));
        let pairs = &self.fund_and_project_ids;
        let hasher = &self.hasher;
        let entry = self.index.entry(
            hash,
            |&at| {
                same_id(&pairs[at as usize].0, fund_id)
                    && same_id(&pairs[at as usize].1, project_id)
            },
            |&at| {
                let (fund_id, project_id) = &pairs[at as usize];
                hasher.hash_one((fund_id.as_str(), project_id.as_str()))
            },
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(occupied) => HolderIndex(*occupied.get()),
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                let at = u32::try_from(self.fund_and_project_ids.len())
                    .expect("fewer than 2^32 funds and projects");
                vacant.insert(at);
                self.fund_and_project_ids
                    .push((fund_id.to_owned(), project_id.to_owned()));
                HolderIndex(at)
            }
        }
    }

    /// The fund and project ids of `holder`.
    pub fn ids(&self, holder: HolderIndex) -> (&str, &str) {
        let (fund_id, project_id) = &self.fund_and_project_ids[holder.0 as usize];
        (fund_id, project_id)
    }
}

impl LedgerState {
    /// See `Replayer::reserve_records`: one donation per record at most.
    pub(crate) fn reserve_records(&mut self, records: usize) {
        self.donations.reserve(records);
    }

    /// Looks up the ids of `command` that `decide` and `apply` will look up
    /// in the tables that grow with every gift. Done for a whole batch before
    /// it is decided, one lookup right after another, the processor overlaps
    /// their cache misses; deciding one command at a time, it waits for each
    /// (eleven pairs of runs of the submit bench, 256 writers x 8: -5% to
    /// +14% donations per second, median +3%, less CPU per donation in nine).
    /// Changes nothing.
    pub(crate) fn warm_up(&self, command: &Event) {
        use std::hint::black_box;
        // A new id's lookup reads its index slot only; an existing one's
        // reads its entry too.
        match command {
            Event::DonationReceived(e) => self.donations.warm_up(&e.donation_id),
            Event::DonationRefunded(e) => {
                self.refund_ids.warm_up(&e.refund_id);
                black_box(self.donations.contains_key(&e.donation_id));
            }
            Event::DonationReversed(e) => {
                black_box(self.donations.contains_key(&e.donation_id));
            }
            Event::PledgePaymentReceived(e) => self.payment_ids.warm_up(&e.payment_id),
            Event::ProjectFunded(e) => self.funding_ids.warm_up(&e.funding_id),
            Event::ExpenditureMade(e) => self.expenditures.warm_up(&e.expenditure_id),
            _ => {}
        }
    }

    /// Money a payout from `fund_id` (and `project_id`, when set) may draw on.
    pub(crate) fn spendable_fen(&self, fund_id: &str, project_id: &str) -> i64 {
        if project_id.is_empty() {
            self.funds.get(fund_id).map_or(0, |fund| fund.available_fen)
        } else {
            self.projects
                .get(project_id)
                .map_or(0, |project| project.balance_fen)
        }
    }

    fn credit(&mut self, fund_id: &str, project_id: &str, fen: i64) {
        if project_id.is_empty() {
            self.funds
                .get_mut(fund_id)
                .expect("fund of a decided event exists")
                .available_fen += fen;
        } else {
            self.projects
                .get_mut(project_id)
                .expect("project of a decided event exists")
                .balance_fen += fen;
        }
        debug_assert!(
            self.spendable_fen(fund_id, project_id) >= 0,
            "balance went negative"
        );
    }

    /// Counts money received into `fund_id` (or one of its projects).
    fn receive(&mut self, fund_id: &str, fen: i64) {
        self.gross.received_fen += fen;
        self.funds
            .get_mut(fund_id)
            .expect("fund of a decided event exists")
            .received_fen += fen;
        debug_assert!(
            self.gross.received_fen <= crate::money::TOTAL_FEN_MAX,
            "decide let receipts pass TOTAL_FEN_MAX"
        );
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::FundOpened(e) => {
                self.funds.insert(
                    &e.fund_id,
                    FundState {
                        kind: e.kind(),
                        available_fen: 0,
                        received_fen: 0,
                    },
                );
            }
            Event::CampaignOpened(e) => {
                self.campaigns.insert(
                    &e.campaign_id,
                    CampaignState {
                        fund_id: e.fund_id.clone(),
                    },
                );
            }
            Event::DonorRegistered(e) => {
                self.donors.insert(
                    &e.donor_id,
                    DonorState {
                        kind: e.kind(),
                        alliance_member: e.alliance_member,
                        name_committed: !e.name_commitment.is_empty(),
                        erased: false,
                    },
                );
            }
            Event::PersonalDataErased(e) => match e.subject_kind() {
                v1::ErasedSubject::Donor => {
                    self.donors
                        .get_mut(&e.subject_id)
                        .expect("decide checked the subject exists")
                        .erased = true;
                }
                v1::ErasedSubject::Payee => {
                    self.expenditures
                        .get_mut(&e.subject_id)
                        .expect("decide checked the subject exists")
                        .payee_erased = true;
                }
            },
            Event::OrganisationRegistered(e) => {
                self.organisations.insert(&e.organisation_id);
            }
            Event::DonationReceived(e) => {
                let held_in = self.holders.index_of(&e.fund_id, &e.project_id);
                self.donations.insert(
                    &e.donation_id,
                    DonationState {
                        held_in,
                        refundable_fen: e.amount_fen,
                        reversed: false,
                    },
                );
                self.receive(&e.fund_id, e.amount_fen);
                self.credit(&e.fund_id, &e.project_id, e.amount_fen);
            }
            Event::DonationRefunded(e) => {
                self.refund_ids.insert(&e.refund_id);
                let (fund_id, project_id) = self.take_from_donation(&e.donation_id, e.amount_fen);
                self.credit(&fund_id, &project_id, -e.amount_fen);
            }
            Event::DonationReversed(e) => {
                let (fund_id, project_id) = self.take_from_donation(&e.donation_id, e.amount_fen);
                self.donations
                    .get_mut(&e.donation_id)
                    .expect("donation exists")
                    .reversed = true;
                self.credit(&fund_id, &project_id, -e.amount_fen);
            }
            Event::PledgeMade(e) => {
                self.pledges.insert(
                    &e.pledge_id,
                    PledgeState {
                        donor_id: e.donor_id.clone(),
                        fund_id: e.fund_id.clone(),
                        total_fen: e.total_fen,
                        paid_fen: 0,
                        cancelled: false,
                    },
                );
                self.gross.pledged_fen += e.total_fen;
            }
            Event::PledgePaymentReceived(e) => {
                self.payment_ids.insert(&e.payment_id);
                let pledge = self.pledges.get_mut(&e.pledge_id).expect("pledge exists");
                pledge.paid_fen += e.amount_fen;
                let fund_id = pledge.fund_id.clone();
                self.receive(&fund_id, e.amount_fen);
                self.credit(&fund_id, "", e.amount_fen);
            }
            Event::PledgeAmended(e) => {
                let pledge = self.pledges.get_mut(&e.pledge_id).expect("pledge exists");
                self.gross.pledged_fen += e.new_total_fen - pledge.total_fen;
                pledge.total_fen = e.new_total_fen;
            }
            Event::PledgeCancelled(e) => {
                self.pledges
                    .get_mut(&e.pledge_id)
                    .expect("pledge exists")
                    .cancelled = true;
            }
            Event::GrantRoundOpened(e) => {
                self.rounds.insert(
                    &e.round_id,
                    RoundState {
                        fund_id: e.fund_id.clone(),
                        budget_fen: e.budget_fen,
                        awarded_fen: 0,
                        applications_open_on: e.applications_open_on.clone(),
                        applications_close_on: e.applications_close_on.clone(),
                    },
                );
            }
            Event::GrantApplicationSubmitted(e) => {
                self.applications.insert(
                    &e.application_id,
                    ApplicationState {
                        round_id: e.round_id.clone(),
                        organisation_id: e.organisation_id.clone(),
                        requested_fen: e.requested_fen,
                        reviewed: false,
                        shortlisted: false,
                        awarded: false,
                    },
                );
                self.gross.requested_fen += e.requested_fen;
            }
            Event::GrantApplicationReviewed(e) => {
                self.applications
                    .get_mut(&e.application_id)
                    .expect("application exists")
                    .reviewed = true;
            }
            Event::GrantApplicationShortlisted(e) => {
                self.applications
                    .get_mut(&e.application_id)
                    .expect("application exists")
                    .shortlisted = true;
            }
            Event::GrantAwarded(e) => {
                let application = self
                    .applications
                    .get_mut(&e.application_id)
                    .expect("application exists");
                application.awarded = true;
                let round_id = application.round_id.clone();
                let organisation_id = application.organisation_id.clone();
                let round = self.rounds.get_mut(&round_id).expect("round exists");
                round.awarded_fen += e.amount_fen;
                let fund_id = round.fund_id.clone();
                self.grants.insert(
                    &e.grant_id,
                    GrantState {
                        round_id,
                        organisation_id,
                        amount_fen: e.amount_fen,
                        tranches: e.tranches.clone(),
                        next_tranche: 0,
                        disbursed_fen: 0,
                        awarded_on: e.awarded_on.clone(),
                        passing_evaluation_since_last_tranche: false,
                        closed: false,
                    },
                );
                // The award is committed: it leaves the fund's available money now,
                // so a later expenditure cannot spend what the grantee was promised.
                self.credit(&fund_id, "", -e.amount_fen);
            }
            Event::GrantTrancheDisbursed(e) => {
                let grant = self.grants.get_mut(&e.grant_id).expect("grant exists");
                grant.next_tranche += 1;
                grant.disbursed_fen += e.amount_fen;
                grant.passing_evaluation_since_last_tranche = false;
            }
            Event::GrantEvaluationRecorded(e) => {
                self.evaluation_ids.insert(&e.evaluation_id);
                if e.passed {
                    self.grants
                        .get_mut(&e.grant_id)
                        .expect("grant exists")
                        .passing_evaluation_since_last_tranche = true;
                }
            }
            Event::GrantSelfAssessmentFiled(e) => {
                self.self_assessments
                    .insert((e.grant_id.clone(), e.quarter.clone()));
            }
            Event::GrantClosed(e) => {
                let grant = self.grants.get_mut(&e.grant_id).expect("grant exists");
                grant.closed = true;
                let round = self.rounds.get_mut(&grant.round_id).expect("round exists");
                round.awarded_fen -= e.returned_fen;
                let fund_id = round.fund_id.clone();
                self.credit(&fund_id, "", e.returned_fen);
            }
            Event::ProjectPublished(e) => {
                self.projects.insert(
                    &e.project_id,
                    ProjectState {
                        fund_id: e.fund_id.clone(),
                        claimant: None,
                        balance_fen: 0,
                        completed: false,
                    },
                );
            }
            Event::ProjectClaimed(e) => {
                self.projects
                    .get_mut(&e.project_id)
                    .expect("project exists")
                    .claimant = Some(e.sponsor_id.clone());
            }
            Event::ProjectClaimReleased(e) => {
                self.projects
                    .get_mut(&e.project_id)
                    .expect("project exists")
                    .claimant = None;
            }
            Event::ProjectFunded(e) => {
                self.funding_ids.insert(&e.funding_id);
                let project = self
                    .projects
                    .get_mut(&e.project_id)
                    .expect("project exists");
                project.balance_fen += e.amount_fen;
                let fund_id = project.fund_id.clone();
                self.receive(&fund_id, e.amount_fen);
            }
            Event::ProjectCompleted(e) => {
                self.projects
                    .get_mut(&e.project_id)
                    .expect("project exists")
                    .completed = true;
            }
            Event::ExpenditureMade(e) => {
                self.expenditures.insert(
                    &e.expenditure_id,
                    ExpenditureState {
                        fund_id: e.fund_id.clone(),
                        project_id: e.project_id.clone(),
                        amount_fen: e.amount_fen,
                        reversed: false,
                        payee_committed: e.payee_kind() == v1::PayeeKind::Person
                            && !e.payee_commitment.is_empty(),
                        payee_erased: false,
                    },
                );
                self.gross.spent_fen += e.amount_fen;
                self.credit(&e.fund_id, &e.project_id, -e.amount_fen);
            }
            Event::ExpenditureReversed(e) => {
                let expenditure = self
                    .expenditures
                    .get_mut(&e.expenditure_id)
                    .expect("expenditure exists");
                expenditure.reversed = true;
                let (fund_id, project_id) =
                    (expenditure.fund_id.clone(), expenditure.project_id.clone());
                self.credit(&fund_id, &project_id, e.amount_fen);
            }
        }
    }

    fn take_from_donation(&mut self, donation_id: &str, fen: i64) -> (String, String) {
        let donation = self
            .donations
            .get_mut(donation_id)
            .expect("donation exists");
        donation.refundable_fen -= fen;
        assert!(
            donation.refundable_fen >= 0,
            "refund beyond donation was decided"
        );
        let (fund_id, project_id) = self.holders.ids(donation.held_in);
        (fund_id.to_owned(), project_id.to_owned())
    }

    /// Sum of every fund's and project's spendable money plus outstanding grant
    /// commitments: must equal all money in minus all money out.
    pub fn money_held_fen(&self) -> i64 {
        let funds: i64 = self.funds.values().map(|fund| fund.available_fen).sum();
        let projects: i64 = self
            .projects
            .values()
            .map(|project| project.balance_fen)
            .sum();
        let commitments: i64 = self
            .grants
            .values()
            .filter(|grant| !grant.closed)
            .map(|grant| grant.amount_fen - grant.disbursed_fen)
            .sum();
        funds + projects + commitments
    }
}

#[cfg(test)]
mod tests {
    use super::Holders;

    #[test]
    fn a_holder_is_kept_once_and_gives_back_its_ids() {
        let mut holders = Holders::default();
        let fund = holders.index_of("fund-charity", "");
        let project = holders.index_of("fund-charity", "project-7");
        let other_fund = holders.index_of("fund-special", "");
        assert_ne!(fund, project);
        assert_ne!(fund, other_fund);
        for _ in 0..1000 {
            assert_eq!(holders.index_of("fund-charity", ""), fund);
        }
        assert_eq!(holders.index_of("fund-charity", "project-7"), project);
        assert_eq!(holders.ids(fund), ("fund-charity", ""));
        assert_eq!(holders.ids(project), ("fund-charity", "project-7"));
        assert_eq!(holders.ids(other_fund), ("fund-special", ""));
        // Ids that run together alike are still two holders.
        assert_ne!(holders.index_of("ab", "c"), holders.index_of("a", "bc"));
        for n in 0..200 {
            let project = holders.index_of("fund-charity", &format!("p{n}"));
            assert_eq!(holders.ids(project).1, format!("p{n}"));
        }
    }
}
