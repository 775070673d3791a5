//! Queries over the fund accounts and correction notes of `movements.rs`:
//! plain snapshots, unmasked (the API masks names for the public).

use serde::Serialize;

use crate::Projections;
use crate::accounts::EntityIndex;
use crate::dates::Day;
use crate::movements::{CorrectionKind, Direction, Movement, MovementKind};
use crate::views::LIST_PAGE_MAX;

/// Who is on the other side of a movement, unmasked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Counterparty {
    /// A registered donor or sponsor. `gift_anonymous`: this gift was given
    /// anonymously (a pledge payment or project funding never is).
    Donor {
        donor_id: String,
        name: String,
        show_name_publicly: bool,
        gift_anonymous: bool,
    },
    /// A gift from someone never registered.
    WalkIn,
    /// Whoever an expenditure paid; a person's name is masked in public.
    Payee { name: String, payee_kind: String },
    /// The social organisation a grant tranche paid.
    Organisation {
        organisation_id: String,
        name: String,
    },
}

/// One movement of a fund's money, with the fund's balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundMovementEntry {
    pub seq: u64,
    pub date: Day,
    pub kind: MovementKind,
    pub direction: Direction,
    /// Positive; net of any reversal of the entry (see `reversed_fen`).
    pub amount_fen: i64,
    /// The fund's total held after this movement, in date order.
    pub balance_after_fen: i64,
    /// The donation, pledge, project funding, expenditure or grant it records.
    pub reference_id: String,
    /// How much of the entry a reversal took back (a booking error corrected).
    pub reversed_fen: i64,
    pub counterparty: Counterparty,
}

/// Which movements a page lists; `None` lists all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MovementFilter {
    pub kind: Option<MovementKind>,
    /// `Day::month_key` of the month ("YYYY-MM").
    pub month_key: Option<u32>,
}

/// "YYYY-MM" as a `Day::month_key`; `None` if it is not a month.
pub fn parse_month(text: &str) -> Option<u32> {
    if text.len() != 7 {
        return None;
    }
    Day::parse(&format!("{text}-01")).map(Day::month_key)
}

/// One page of a fund's movements, with the fund's totals (unfiltered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundMovementsPage {
    pub fund_id: String,
    /// Σ amount of every movement in = the fund's `total_in_fen`.
    pub in_fen: i64,
    /// Σ amount of every movement out = the fund's `total_out_fen`.
    pub out_fen: i64,
    /// The last movement's `balance_after_fen` = the fund's `total_held_fen`.
    pub balance_fen: i64,
    pub movements: Vec<FundMovementEntry>,
    /// The offset of the next page, while more movements match.
    pub next_offset: Option<usize>,
}

/// A correction note (更正说明): a later record that corrects an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorrectionNote {
    pub seq: u64,
    /// The CST day the correction was recorded.
    pub recorded_on: Day,
    pub kind: CorrectionKind,
    /// The donation, expenditure, pledge, project or grant corrected.
    pub subject_id: String,
    /// The fund whose money or commitment it concerns.
    pub fund_id: String,
    /// The donor of a donation or pledge, the sponsor releasing a claim;
    /// empty otherwise (and for a walk-in gift). Unmasked.
    pub donor_id: String,
    /// Refunded, reversed, cancelled or returned; a pledge's new total; 0
    /// for a claim release.
    pub amount_fen: i64,
    /// A pledge's total before its amendment; 0 otherwise.
    pub previous_fen: i64,
    /// A donation reversed as a booking error: the gift was entered twice
    /// or never came. It counts in no income.
    pub duplicate_entry: bool,
    pub reason: String,
}

/// Who paid a project's sponsor funding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectFunder {
    pub sponsor_id: String,
    pub funded_fen: i64,
}

impl Projections {
    /// A page of `fund_id`'s movements in date order (equal dates in log
    /// order) matching `filter` and, if given, `counterparty`; `limit` is at
    /// most `LIST_PAGE_MAX`. `None` if there is no such fund.
    pub fn fund_movements(
        &self,
        fund_id: &str,
        filter: MovementFilter,
        counterparty: Option<&dyn Fn(&Counterparty) -> bool>,
        offset: usize,
        limit: usize,
    ) -> Option<FundMovementsPage> {
        let fund = self.funds.index_of(fund_id)?;
        let fund_state = &self.funds[fund as usize];
        let limit = limit.min(LIST_PAGE_MAX);
        let mut page = FundMovementsPage {
            fund_id: fund_id.to_owned(),
            in_fen: fund_state.total_in_fen,
            out_fen: fund_state.total_out_fen,
            balance_fen: fund_state.total_in_fen - fund_state.total_out_fen,
            movements: Vec::new(),
            next_offset: None,
        };
        let Some(account) = self.fund_accounts.funds.get(fund as usize) else {
            return Some(page);
        };
        let mut balance_fen = 0i64;
        let mut matched = 0usize;
        for &position in account.date_order().iter() {
            let movement = &account.movements[position as usize];
            balance_fen += match movement.kind().direction() {
                Direction::In => movement.amount_fen,
                Direction::Out => -movement.amount_fen,
            };
            let listed = movement.amount_fen > 0
                && filter.kind.is_none_or(|kind| kind == movement.kind())
                && filter
                    .month_key
                    .is_none_or(|month_key| month_key == movement.date().month_key());
            if !listed {
                continue;
            }
            if let Some(matches) = counterparty
                && !matches(&self.counterparty_of(movement))
            {
                continue;
            }
            matched += 1;
            if matched <= offset {
                continue;
            }
            if page.movements.len() == limit {
                page.next_offset = Some(offset + limit);
                break;
            }
            page.movements
                .push(self.movement_entry(movement, balance_fen));
        }
        Some(page)
    }

    /// Every movement of `fund_id` in date order, summed: (in, out, last
    /// balance). For checks; `None` if there is no such fund.
    pub fn fund_movement_sums(&self, fund_id: &str) -> Option<(i64, i64, i64)> {
        let fund = self.funds.index_of(fund_id)?;
        let Some(account) = self.fund_accounts.funds.get(fund as usize) else {
            return Some((0, 0, 0));
        };
        let (mut in_fen, mut out_fen) = (0i64, 0i64);
        for movement in &account.movements {
            assert!(
                movement.amount_fen >= 0,
                "a reversal never overdraws an entry"
            );
            match movement.kind().direction() {
                Direction::In => in_fen += movement.amount_fen,
                Direction::Out => out_fen += movement.amount_fen,
            }
        }
        Some((in_fen, out_fen, in_fen - out_fen))
    }

    pub(crate) fn donor_counterparty(
        &self,
        donor: Option<EntityIndex>,
        gift_anonymous: bool,
    ) -> Counterparty {
        match donor {
            Some(donor) => {
                let donor = &self.donors[donor as usize];
                Counterparty::Donor {
                    donor_id: donor.id.to_string(),
                    name: donor.name.clone(),
                    show_name_publicly: donor.show_name_publicly,
                    gift_anonymous,
                }
            }
            None => Counterparty::WalkIn,
        }
    }

    fn counterparty_of(&self, movement: &Movement) -> Counterparty {
        let entity = movement.entity as usize;
        match movement.kind() {
            MovementKind::Donation | MovementKind::DonationRefund => {
                let donation = &self.donations[entity];
                self.donor_counterparty(donation.donor, donation.anonymous)
            }
            MovementKind::PledgePayment => {
                self.donor_counterparty(Some(self.pledges[entity].donor), false)
            }
            MovementKind::ProjectFunding => {
                self.donor_counterparty(Some(self.fundings[entity].sponsor), false)
            }
            MovementKind::Expenditure => {
                let expenditure = &self.expenditures[entity];
                Counterparty::Payee {
                    name: expenditure.payee.clone(),
                    payee_kind: crate::views::payee_kind_name(expenditure.payee_kind).to_owned(),
                }
            }
            MovementKind::GrantTranche => {
                let application = &self.applications[self.grants[entity].application as usize];
                let organisation = &self.organisations[application.organisation as usize];
                Counterparty::Organisation {
                    organisation_id: organisation.id.to_string(),
                    name: organisation.name.clone(),
                }
            }
        }
    }

    fn movement_entry(&self, movement: &Movement, balance_after_fen: i64) -> FundMovementEntry {
        let entity = movement.entity as usize;
        let (reference_id, reversed_fen) = match movement.kind() {
            MovementKind::Donation => {
                let donation = &self.donations[entity];
                (donation.id.to_string(), donation.reversed_fen)
            }
            MovementKind::DonationRefund => (self.donations[entity].id.to_string(), 0),
            MovementKind::PledgePayment => (self.pledges[entity].id.to_string(), 0),
            MovementKind::ProjectFunding => (self.fundings[entity].id.to_string(), 0),
            MovementKind::Expenditure => {
                let expenditure = &self.expenditures[entity];
                (expenditure.id.to_string(), expenditure.reversed_fen)
            }
            MovementKind::GrantTranche => (self.grants[entity].id.to_string(), 0),
        };
        FundMovementEntry {
            seq: movement.seq,
            date: movement.date(),
            kind: movement.kind(),
            direction: movement.kind().direction(),
            amount_fen: movement.amount_fen,
            balance_after_fen,
            reference_id,
            reversed_fen,
            counterparty: self.counterparty_of(movement),
        }
    }

    /// Every correction note, in log order.
    pub fn corrections(&self) -> Vec<CorrectionNote> {
        self.fund_accounts
            .corrections
            .iter()
            .map(|correction| {
                let entity = correction.entity as usize;
                let fund_id = |fund: EntityIndex| self.funds[fund as usize].id.to_string();
                let donor_id = |donor: Option<EntityIndex>| {
                    donor.map_or_else(String::new, |donor| {
                        self.donors[donor as usize].id.to_string()
                    })
                };
                let (subject_id, fund_id, donor_id) = match correction.kind {
                    CorrectionKind::DonationRefund | CorrectionKind::DonationReversal => {
                        let donation = &self.donations[entity];
                        let fund = donation.project.map_or(donation.fund, |project| {
                            self.projects[project as usize].fund
                        });
                        (
                            donation.id.to_string(),
                            fund_id(fund),
                            donor_id(donation.donor),
                        )
                    }
                    CorrectionKind::ExpenditureReversal => {
                        let expenditure = &self.expenditures[entity];
                        let fund = expenditure.project.map_or(expenditure.fund, |project| {
                            self.projects[project as usize].fund
                        });
                        (expenditure.id.to_string(), fund_id(fund), String::new())
                    }
                    CorrectionKind::PledgeAmended | CorrectionKind::PledgeCancelled => {
                        let pledge = &self.pledges[entity];
                        (
                            pledge.id.to_string(),
                            fund_id(pledge.fund),
                            donor_id(Some(pledge.donor)),
                        )
                    }
                    CorrectionKind::ClaimReleased => {
                        let project = &self.projects[entity];
                        (
                            project.id.to_string(),
                            fund_id(project.fund),
                            donor_id(Some(correction.other)),
                        )
                    }
                    CorrectionKind::GrantClosed => {
                        let grant = &self.grants[entity];
                        (
                            grant.id.to_string(),
                            fund_id(self.rounds[grant.round as usize].fund),
                            String::new(),
                        )
                    }
                };
                CorrectionNote {
                    seq: correction.seq,
                    recorded_on: correction.recorded_on,
                    kind: correction.kind,
                    subject_id,
                    fund_id,
                    donor_id,
                    amount_fen: correction.amount_fen,
                    previous_fen: correction.previous_fen,
                    duplicate_entry: correction.kind == CorrectionKind::DonationReversal,
                    reason: correction.reason.clone(),
                }
            })
            .collect()
    }

    /// Who paid `project_id`'s sponsor funding, in order of first payment.
    pub fn project_funders(&self, project_id: &str) -> Vec<ProjectFunder> {
        let Some(project) = self.projects.index_of(project_id) else {
            return Vec::new();
        };
        self.fund_accounts
            .funders_of(project)
            .iter()
            .map(|&(sponsor, funded_fen)| ProjectFunder {
                sponsor_id: self.donors[sponsor as usize].id.to_string(),
                funded_fen,
            })
            .collect()
    }

    /// The latest CST day any record applied was recorded on; the ledger's
    /// own "now" (`Day::UNKNOWN` for an empty log).
    pub fn newest_recorded_on(&self) -> Day {
        self.fund_accounts.newest_recorded_on()
    }
}
