//! Queries over the allocations of `flows.rs`: what a gift paid for, which
//! gifts paid an outflow. Plain snapshots, unmasked (the API masks names
//! for the public by `page::public`).

use serde::Serialize;

use crate::Projections;
use crate::accounts::EntityIndex;
use crate::dates::Day;
use crate::flows::{Income, IncomeKind, Outflow, OutflowKind, PoolOf};
use crate::movements_views::Counterparty;

/// A donor's gifts summed (`Projections::donor_flow_summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DonorFlowSummary {
    pub given_fen: i64,
    pub unspent_fen: i64,
    /// Each outflow the gifts paid (part of), in log order, with what they
    /// paid of it.
    pub paid_for: Vec<FlowOutflow>,
}

/// One outflow (part of) a gift paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowOutflow {
    /// The outflow's record.
    pub seq: u64,
    pub kind: OutflowKind,
    pub date: Day,
    /// What this gift paid of it (in `PaidFor`), or the outflow's whole
    /// amount net of reversals (in `OutflowFlow`).
    pub amount_fen: i64,
    /// The grant, expenditure or donation (refund, reversal) it records.
    pub reference_id: String,
    /// A grant tranche's number, from 1; 0 for other kinds.
    pub tranche_no: u32,
    /// The project an expenditure paid for; "" otherwise.
    pub project_id: String,
    /// The fund the money left.
    pub fund_id: String,
}

/// What one donation, pledge payment or project funding paid for:
/// `unspent_fen + Σ paid_for.amount_fen = amount_fen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GiftFlow {
    pub kind: IncomeKind,
    pub id: String,
    pub date: Day,
    pub fund_id: String,
    /// The project the money is restricted to; "" for a fund's pooled money.
    pub restricted_to_project_id: String,
    pub counterparty: Counterparty,
    /// As recorded (a refund or reversal appears in `paid_for`).
    pub amount_fen: i64,
    pub unspent_fen: i64,
    pub paid_for: Vec<FlowOutflow>,
}

/// One gift (part of) which paid an outflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaidBy {
    pub kind: IncomeKind,
    pub id: String,
    pub date: Day,
    pub amount_fen: i64,
    pub counterparty: Counterparty,
}

/// Which gifts paid one outflow: `Σ paid_by.amount_fen + unattributed_fen
/// = outflow.amount_fen`, and `unattributed_fen` is 0 on every log the
/// write side accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutflowFlow {
    pub outflow: FlowOutflow,
    pub paid_by: Vec<PaidBy>,
    pub unattributed_fen: i64,
}

impl Projections {
    /// What donation `donation_id` paid for, or `None` for an unknown id.
    pub fn donation_flow(&self, donation_id: &str) -> Option<GiftFlow> {
        let donation = self.donations.index_of(donation_id)?;
        let income = self.flows.donation_incomes[donation as usize];
        Some(self.gift_flow(income))
    }

    /// What pledge payment `payment_id` paid for, or `None` for an unknown id.
    pub fn pledge_payment_flow(&self, payment_id: &str) -> Option<GiftFlow> {
        let payment = self.flows.payments.index_of(payment_id)?;
        let income = self.flows.payments[payment as usize].income;
        Some(self.gift_flow(income))
    }

    /// What a sponsor's project funding `funding_id` paid for.
    pub fn project_funding_flow(&self, funding_id: &str) -> Option<GiftFlow> {
        let funding = self.fundings.index_of(funding_id)?;
        let income = self.flows.funding_incomes[funding as usize];
        Some(self.gift_flow(income))
    }

    /// Every gift of donor `donor_id` (donations, pledge payments, project
    /// fundings), in log order; empty for an unknown donor.
    pub fn donor_gift_flows(&self, donor_id: &str) -> Vec<GiftFlow> {
        let Some(donor) = self.donors.index_of(donor_id) else {
            return Vec::new();
        };
        let incomes = self
            .flows
            .donor_incomes
            .get(donor as usize)
            .map_or(&[][..], Vec::as_slice);
        debug_assert!(incomes.iter().all(|income| {
            self.income_donor(&self.flows.incomes[income.income() as usize]) == Some(donor)
        }));
        incomes
            .iter()
            .map(|income| self.gift_flow(income.income()))
            .collect()
    }

    /// A donor's gifts summed, and what they paid for summed per outflow:
    /// what a sponsor's page shows, worked out from the allocation tables
    /// without building each gift's flow, so a donor of a hundred thousand
    /// gifts costs a walk of their allocations, not a string per gift.
    /// `counts(gift_anonymous)` chooses the gifts summed (the page: those it
    /// may name). Empty for an unknown donor.
    pub fn donor_flow_summary(
        &self,
        donor_id: &str,
        counts: impl Fn(bool) -> bool,
    ) -> DonorFlowSummary {
        let mut summary = DonorFlowSummary::default();
        let Some(donor) = self.donors.index_of(donor_id) else {
            return summary;
        };
        let incomes = self
            .flows
            .donor_incomes
            .get(donor as usize)
            .map_or(&[][..], Vec::as_slice);
        let mut paid_by_outflow: std::collections::HashMap<u32, i64> = Default::default();
        for &donor_income in incomes {
            if !counts(donor_income.anonymous()) {
                continue;
            }
            let income = &self.flows.incomes[donor_income.income() as usize];
            let mut paid_fen = 0;
            let mut next = income.newest_allocation;
            while next != crate::flows::NONE {
                let allocation = &self.flows.allocations[next as usize];
                if allocation.amount_fen > 0 {
                    *paid_by_outflow.entry(allocation.outflow).or_default() +=
                        allocation.amount_fen;
                    paid_fen += allocation.amount_fen;
                }
                next = allocation.previous_of_income;
            }
            summary.given_fen += income.remaining_fen + paid_fen;
            summary.unspent_fen += income.remaining_fen;
        }
        let mut paid: Vec<(u32, i64)> = paid_by_outflow.into_iter().collect();
        // Outflows are stored in log order.
        paid.sort_unstable_by_key(|&(outflow, _)| outflow);
        summary.paid_for = paid
            .into_iter()
            .map(|(outflow, amount_fen)| {
                self.flow_outflow(&self.flows.outflows[outflow as usize], amount_fen)
            })
            .collect();
        summary
    }

    /// The ids of the pledge payments made on `pledge_id`, in log order.
    pub fn pledge_payment_ids(&self, pledge_id: &str) -> Vec<String> {
        let Some(pledge) = self.pledges.index_of(pledge_id) else {
            return Vec::new();
        };
        self.flows
            .payments
            .iter()
            .filter(|payment| payment.pledge == pledge)
            .map(|payment| payment.id.to_string())
            .collect()
    }

    /// Which gifts paid the outflow recorded at `seq`, or `None` when that
    /// record moved no money out.
    pub fn outflow_flow(&self, seq: u64) -> Option<OutflowFlow> {
        let outflows = &self.flows.outflows;
        let index = outflows
            .binary_search_by_key(&seq, |outflow| outflow.seq)
            .ok()?;
        let outflow = &outflows[index];
        let paid_by: Vec<PaidBy> = self
            .flows
            .allocations_of_outflow(index)
            .iter()
            .filter(|allocation| allocation.amount_fen > 0)
            .map(|allocation| {
                let income = &self.flows.incomes[allocation.income as usize];
                let (id, date) = self.income_id_and_date(income);
                PaidBy {
                    kind: income.kind(),
                    id,
                    date,
                    amount_fen: allocation.amount_fen,
                    counterparty: self.income_counterparty(income),
                }
            })
            .collect();
        let paid_fen: i64 = paid_by.iter().map(|paid| paid.amount_fen).sum();
        Some(OutflowFlow {
            outflow: self.flow_outflow(outflow, outflow.amount_fen),
            unattributed_fen: outflow.amount_fen - paid_fen,
            paid_by,
        })
    }

    /// Per fund id: what its gifts still hold unspent (Σ `unspent_fen`),
    /// which equals the fund's total held.
    pub fn unspent_by_fund(&self) -> Vec<(String, i64)> {
        self.funds
            .iter()
            .enumerate()
            .map(|(fund, row)| {
                let unspent_fen = self
                    .flows
                    .incomes
                    .iter()
                    .filter(|income| self.income_fund(income) == fund as EntityIndex)
                    .map(|income| income.remaining_fen)
                    .sum();
                (row.id.to_string(), unspent_fen)
            })
            .collect()
    }

    fn income_fund(&self, income: &Income) -> EntityIndex {
        let pool = &self.flows.pools[income.pool as usize];
        if pool.restricted_to_project {
            self.projects[pool.owner as usize].fund
        } else {
            pool.owner
        }
    }

    fn income_donor(&self, income: &Income) -> Option<EntityIndex> {
        let entity = income.entity() as usize;
        match income.kind() {
            IncomeKind::Donation => self.donations[entity].donor,
            IncomeKind::PledgePayment => {
                Some(self.pledges[self.flows.payments[entity].pledge as usize].donor)
            }
            IncomeKind::ProjectFunding => Some(self.fundings[entity].sponsor),
        }
    }

    fn income_counterparty(&self, income: &Income) -> Counterparty {
        let anonymous = income.kind() == IncomeKind::Donation
            && self.donations[income.entity() as usize].anonymous;
        self.donor_counterparty(self.income_donor(income), anonymous)
    }

    fn income_id_and_date(&self, income: &Income) -> (String, Day) {
        let entity = income.entity() as usize;
        match income.kind() {
            IncomeKind::Donation => {
                let donation = &self.donations[entity];
                (donation.id.to_string(), donation.received_on)
            }
            IncomeKind::PledgePayment => {
                let payment = &self.flows.payments[entity];
                (payment.id.to_string(), payment.received_on)
            }
            IncomeKind::ProjectFunding => {
                let funding = &self.fundings[entity];
                (funding.id.to_string(), funding.received_on)
            }
        }
    }

    fn gift_flow(&self, income_index: u32) -> GiftFlow {
        let income = &self.flows.incomes[income_index as usize];
        let pool = &self.flows.pools[income.pool as usize];
        let paid_for: Vec<FlowOutflow> = self
            .flows
            .allocations_of_income(income_index)
            .into_iter()
            .filter(|allocation| allocation.amount_fen > 0)
            .map(|allocation| {
                let outflow = &self.flows.outflows[allocation.outflow as usize];
                self.flow_outflow(outflow, allocation.amount_fen)
            })
            .collect();
        let paid_fen: i64 = paid_for.iter().map(|paid| paid.amount_fen).sum();
        let (id, date) = self.income_id_and_date(income);
        GiftFlow {
            kind: income.kind(),
            id,
            date,
            fund_id: self.funds[self.income_fund(income) as usize].id.to_string(),
            restricted_to_project_id: if pool.restricted_to_project {
                self.projects[pool.owner as usize].id.to_string()
            } else {
                String::new()
            },
            counterparty: self.income_counterparty(income),
            amount_fen: income.remaining_fen + paid_fen,
            unspent_fen: income.remaining_fen,
            paid_for,
        }
    }

    fn flow_outflow(&self, outflow: &Outflow, amount_fen: i64) -> FlowOutflow {
        let entity = outflow.entity as usize;
        let (reference_id, tranche_no, project, fund) = match outflow.kind() {
            OutflowKind::GrantTranche => {
                let grant = &self.grants[entity];
                let fund = self.rounds[grant.round as usize].fund;
                (grant.id.to_string(), outflow.tranche_index + 1, None, fund)
            }
            OutflowKind::Expenditure => {
                let expenditure = &self.expenditures[entity];
                let fund = expenditure.project.map_or(expenditure.fund, |project| {
                    self.projects[project as usize].fund
                });
                (expenditure.id.to_string(), 0, expenditure.project, fund)
            }
            OutflowKind::DonationRefund | OutflowKind::DonationReversal => {
                let donation = &self.donations[entity];
                let fund = donation.project.map_or(donation.fund, |project| {
                    self.projects[project as usize].fund
                });
                (donation.id.to_string(), 0, donation.project, fund)
            }
        };
        FlowOutflow {
            seq: outflow.seq,
            kind: outflow.kind(),
            date: outflow.date(),
            amount_fen,
            reference_id,
            tranche_no,
            project_id: project.map_or_else(String::new, |project| {
                self.projects[project as usize].id.to_string()
            }),
            fund_id: self.funds[fund as usize].id.to_string(),
        }
    }

    /// The pool `project_id`'s restricted money sits in, for tests of the rule.
    #[doc(hidden)]
    pub fn project_unspent_fen(&self, project_id: &str) -> Option<i64> {
        let project = self.projects.index_of(project_id)?;
        let Some(pool) = self.flows.pool_of(PoolOf::Project(project)) else {
            return Some(0);
        };
        Some(
            self.flows.pools[pool as usize]
                .incomes
                .iter()
                .map(|&income| self.flows.incomes[income as usize].remaining_fen)
                .sum(),
        )
    }
}
