//! 善款去向, where each gift went: a first-in, first-out allocation of every
//! outflow to the incomes that paid it (the rule, with a worked example, is
//! docs/flows.md).
//!
//! Fed by `Projections::apply` beside the fund accounts (no second fold).
//! Money sits in *pools*: a fund's unrestricted money (undesignated gifts
//! and pledge payments) and each project's restricted money (gifts
//! designated to it and its sponsors' funding). Each pool is a queue of its
//! incomes in log order; an outflow takes from the queue's earliest income
//! that still has money, so a rebuild costs one pass and every income is
//! passed over once.
//!
//! Storage: 24 bytes per income, 24 per allocation, 32 per outflow, and
//! 4 bytes per income in its pool's queue. No strings.

use crate::accounts::EntityIndex;
use crate::dates::Day;
use crate::id::Id;
use crate::table::Row;

/// "None" in the u32 links below.
pub(crate) const NONE: u32 = u32::MAX;

/// Where a gift came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncomeKind {
    Donation,
    PledgePayment,
    ProjectFunding,
}

impl IncomeKind {
    pub const ALL: [IncomeKind; 3] = [
        IncomeKind::Donation,
        IncomeKind::PledgePayment,
        IncomeKind::ProjectFunding,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IncomeKind::Donation => "donation",
            IncomeKind::PledgePayment => "pledge_payment",
            IncomeKind::ProjectFunding => "project_funding",
        }
    }
}

/// What money left a pool for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutflowKind {
    GrantTranche,
    Expenditure,
    DonationRefund,
    /// A donation taken back as a booking error (a duplicate entry).
    DonationReversal,
}

impl OutflowKind {
    pub const ALL: [OutflowKind; 4] = [
        OutflowKind::GrantTranche,
        OutflowKind::Expenditure,
        OutflowKind::DonationRefund,
        OutflowKind::DonationReversal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OutflowKind::GrantTranche => "grant_tranche",
            OutflowKind::Expenditure => "expenditure",
            OutflowKind::DonationRefund => "donation_refund",
            OutflowKind::DonationReversal => "donation_reversal",
        }
    }
}

/// One income as stored. `source` is the kind's index << 30 | the entity
/// (donation, pledge payment, project funding) index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Income {
    pub(crate) remaining_fen: i64,
    /// The newest allocation from this income; each links to the one before.
    pub(crate) newest_allocation: u32,
    pub(crate) pool: u32,
    /// Position in its pool's queue.
    pub(crate) position: u32,
    source: u32,
}

const _: () = assert!(std::mem::size_of::<Income>() == 24);
const SOURCE_SHIFT: u32 = 30;

impl Income {
    pub(crate) fn kind(&self) -> IncomeKind {
        IncomeKind::ALL[(self.source >> SOURCE_SHIFT) as usize]
    }

    pub(crate) fn entity(&self) -> EntityIndex {
        self.source & ((1 << SOURCE_SHIFT) - 1)
    }
}

/// `amount_fen` of `income` paid (part of) `outflow`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Allocation {
    /// Positive when made; lowered (never below 0) by an expenditure reversal.
    pub(crate) amount_fen: i64,
    pub(crate) income: u32,
    pub(crate) outflow: u32,
    /// The income's allocation before this one, or `NONE`.
    pub(crate) previous_of_income: u32,
}

const _: () = assert!(std::mem::size_of::<Allocation>() == 24);

/// One outflow as stored. Its allocations are contiguous: from
/// `first_allocation` to the next outflow's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outflow {
    pub(crate) seq: u64,
    /// Net of reversals.
    pub(crate) amount_fen: i64,
    pub(crate) first_allocation: u32,
    /// A grant, expenditure or donation index, by kind.
    pub(crate) entity: EntityIndex,
    /// `Day` bits << 2 | the kind's index.
    date_and_kind: u32,
    /// A grant tranche's index; 0 otherwise.
    pub(crate) tranche_index: u32,
}

const _: () = assert!(std::mem::size_of::<Outflow>() == 32);
const KIND_BITS: u32 = 2;

impl Outflow {
    pub(crate) fn date(&self) -> Day {
        Day::from_bits(self.date_and_kind >> KIND_BITS)
    }

    pub(crate) fn kind(&self) -> OutflowKind {
        OutflowKind::ALL[(self.date_and_kind & ((1 << KIND_BITS) - 1)) as usize]
    }
}

/// One pool's queue of incomes. Incomes before `head` have nothing left.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Pool {
    pub(crate) incomes: Vec<u32>,
    head: u32,
    /// The fund (unrestricted pool) or project (restricted pool) it belongs to.
    pub(crate) owner: EntityIndex,
    pub(crate) restricted_to_project: bool,
}

/// A pledge payment: the one income with no row elsewhere in the read models.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PledgePaymentRow {
    pub(crate) id: Id,
    pub(crate) pledge: EntityIndex,
    pub(crate) amount_fen: i64,
    pub(crate) received_on: Day,
    pub(crate) income: u32,
}

impl Row for PledgePaymentRow {
    fn id(&self) -> &str {
        &self.id
    }
}

/// One of a donor's incomes, and whether it was given anonymously: kept
/// together so that a sponsor's page, which names only what the donor gave
/// under their name, need not fetch each gift's row to know (at a hundred
/// thousand gifts, that fetch was nearly all of the page's time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DonorIncome(u32);

const ANONYMOUS_BIT: u32 = 1 << 31;

impl DonorIncome {
    fn new(income: u32, anonymous: bool) -> DonorIncome {
        assert!(income < ANONYMOUS_BIT, "fewer than 2^31 incomes");
        DonorIncome(income | if anonymous { ANONYMOUS_BIT } else { 0 })
    }

    pub(crate) fn income(self) -> u32 {
        self.0 & !ANONYMOUS_BIT
    }

    pub(crate) fn anonymous(self) -> bool {
        self.0 & ANONYMOUS_BIT != 0
    }
}

/// The pool an income goes to or an outflow is paid from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolOf {
    Fund(EntityIndex),
    Project(EntityIndex),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Flows {
    pub(crate) incomes: Vec<Income>,
    pub(crate) allocations: Vec<Allocation>,
    pub(crate) outflows: Vec<Outflow>,
    pub(crate) pools: Vec<Pool>,
    /// Pool index by fund index / project index, `NONE` until money comes.
    fund_pools: Vec<u32>,
    project_pools: Vec<u32>,
    /// Income index by donation index and by project funding index.
    pub(crate) donation_incomes: Vec<u32>,
    pub(crate) funding_incomes: Vec<u32>,
    pub(crate) payments: crate::table::Table<PledgePaymentRow>,
    /// Incomes by donor index, in log order: a sponsor's page reads its own
    /// gifts without passing everyone else's.
    pub(crate) donor_incomes: Vec<Vec<DonorIncome>>,
    /// The record of each income, by income index: a flow receipt proves
    /// the gift's own record (kept apart so `Income` stays 24 bytes).
    pub(crate) income_seqs: Vec<u64>,
    /// The record being applied.
    seq: u64,
}

impl Flows {
    pub(crate) fn begin(&mut self, seq: u64) {
        self.seq = seq;
    }

    pub(crate) fn reserve(&mut self, records: usize) {
        self.incomes.reserve(records);
        self.income_seqs.reserve(records);
        self.donation_incomes.reserve(records);
    }

    fn pool(&mut self, of: PoolOf) -> u32 {
        let (pools, owner, restricted) = match of {
            PoolOf::Fund(fund) => (&mut self.fund_pools, fund, false),
            PoolOf::Project(project) => (&mut self.project_pools, project, true),
        };
        if pools.len() <= owner as usize {
            pools.resize(owner as usize + 1, NONE);
        }
        if pools[owner as usize] == NONE {
            pools[owner as usize] = self.pools.len() as u32;
            self.pools.push(Pool {
                owner,
                restricted_to_project: restricted,
                ..Pool::default()
            });
        }
        pools[owner as usize]
    }

    /// The pool of `of`, if money ever came to it.
    pub(crate) fn pool_of(&self, of: PoolOf) -> Option<u32> {
        let (pools, owner) = match of {
            PoolOf::Fund(fund) => (&self.fund_pools, fund),
            PoolOf::Project(project) => (&self.project_pools, project),
        };
        pools
            .get(owner as usize)
            .copied()
            .filter(|&pool| pool != NONE)
    }

    fn income(
        &mut self,
        of: PoolOf,
        kind: IncomeKind,
        entity: EntityIndex,
        donor: Option<EntityIndex>,
        anonymous: bool,
        amount_fen: i64,
    ) -> u32 {
        assert!(
            entity < 1 << SOURCE_SHIFT,
            "fewer than 2^30 incomes of a kind"
        );
        let pool_index = self.pool(of);
        let income = self.incomes.len() as u32;
        let pool = &mut self.pools[pool_index as usize];
        self.incomes.push(Income {
            remaining_fen: amount_fen,
            newest_allocation: NONE,
            pool: pool_index,
            position: pool.incomes.len() as u32,
            source: (kind as u32) << SOURCE_SHIFT | entity,
        });
        self.income_seqs.push(self.seq);
        pool.incomes.push(income);
        if let Some(donor) = donor {
            if self.donor_incomes.len() <= donor as usize {
                self.donor_incomes.resize_with(donor as usize + 1, Vec::new);
            }
            self.donor_incomes[donor as usize].push(DonorIncome::new(income, anonymous));
        }
        income
    }

    pub(crate) fn donation(
        &mut self,
        of: PoolOf,
        donation: EntityIndex,
        donor: Option<EntityIndex>,
        anonymous: bool,
        amount_fen: i64,
    ) {
        debug_assert_eq!(self.donation_incomes.len(), donation as usize);
        let income = self.income(
            of,
            IncomeKind::Donation,
            donation,
            donor,
            anonymous,
            amount_fen,
        );
        self.donation_incomes.push(income);
    }

    pub(crate) fn project_funding(
        &mut self,
        project: EntityIndex,
        funding: EntityIndex,
        sponsor: EntityIndex,
        amount_fen: i64,
    ) {
        debug_assert_eq!(self.funding_incomes.len(), funding as usize);
        let income = self.income(
            PoolOf::Project(project),
            IncomeKind::ProjectFunding,
            funding,
            Some(sponsor),
            false,
            amount_fen,
        );
        self.funding_incomes.push(income);
    }

    /// The payment's row, or `None` when its id is taken (the event does not apply).
    pub(crate) fn vacant_payment(&self, payment_id: &str) -> Option<Id> {
        self.payments.vacant(payment_id)
    }

    pub(crate) fn pledge_payment(
        &mut self,
        id: Id,
        fund: EntityIndex,
        pledge: EntityIndex,
        donor: EntityIndex,
        amount_fen: i64,
        received_on: Day,
    ) {
        let payment = self.payments.len() as EntityIndex;
        let income = self.income(
            PoolOf::Fund(fund),
            IncomeKind::PledgePayment,
            payment,
            Some(donor),
            false,
            amount_fen,
        );
        self.payments.push(PledgePaymentRow {
            id,
            pledge,
            amount_fen,
            received_on,
            income,
        });
    }

    fn new_outflow(
        &mut self,
        kind: OutflowKind,
        entity: EntityIndex,
        tranche_index: u32,
        amount_fen: i64,
        date: Day,
    ) -> u32 {
        assert!(date.to_bits() < 1 << (32 - KIND_BITS), "a day fits 30 bits");
        let outflow = self.outflows.len() as u32;
        self.outflows.push(Outflow {
            seq: self.seq,
            amount_fen,
            first_allocation: self.allocations.len() as u32,
            entity,
            date_and_kind: date.to_bits() << KIND_BITS | kind as u32,
            tranche_index,
        });
        outflow
    }

    /// Takes up to `amount_fen` from `income` for `outflow`; returns what it took.
    fn take(&mut self, income: u32, outflow: u32, amount_fen: i64) -> i64 {
        let state = &mut self.incomes[income as usize];
        let taken_fen = amount_fen.min(state.remaining_fen);
        if taken_fen <= 0 {
            return 0;
        }
        state.remaining_fen -= taken_fen;
        let allocation = self.allocations.len() as u32;
        self.allocations.push(Allocation {
            amount_fen: taken_fen,
            income,
            outflow,
            previous_of_income: state.newest_allocation,
        });
        state.newest_allocation = allocation;
        taken_fen
    }

    /// Pays `amount_fen` of `outflow` from `pool`'s earliest incomes with
    /// money left. What the pool cannot pay stays unattributed (only a log
    /// the write side would refuse leaves any).
    fn pay_from_pool(&mut self, pool: u32, outflow: u32, mut amount_fen: i64) {
        while amount_fen > 0 {
            let state = &self.pools[pool as usize];
            let Some(&income) = state.incomes.get(state.head as usize) else {
                return;
            };
            amount_fen -= self.take(income, outflow, amount_fen);
            if self.incomes[income as usize].remaining_fen == 0 {
                self.pools[pool as usize].head += 1;
            }
        }
    }

    pub(crate) fn grant_tranche(
        &mut self,
        fund: EntityIndex,
        grant: EntityIndex,
        tranche_index: u32,
        amount_fen: i64,
        paid_on: Day,
    ) {
        let pool = self.pool(PoolOf::Fund(fund));
        let outflow = self.new_outflow(
            OutflowKind::GrantTranche,
            grant,
            tranche_index,
            amount_fen,
            paid_on,
        );
        self.pay_from_pool(pool, outflow, amount_fen);
    }

    pub(crate) fn expenditure(
        &mut self,
        of: PoolOf,
        expenditure: EntityIndex,
        amount_fen: i64,
        paid_on: Day,
    ) {
        let pool = self.pool(of);
        let outflow = self.new_outflow(
            OutflowKind::Expenditure,
            expenditure,
            0,
            amount_fen,
            paid_on,
        );
        self.pay_from_pool(pool, outflow, amount_fen);
    }

    /// A refund or reversal: the gift's own unspent money goes back first;
    /// the rest (the gift was already spent) is paid like any outflow, by
    /// the pool's earliest incomes. Allocations already made stay as made.
    pub(crate) fn donation_given_back(
        &mut self,
        donation: EntityIndex,
        reversal: bool,
        amount_fen: i64,
        recorded_on: Day,
    ) {
        let income = self.donation_incomes[donation as usize];
        let pool = self.incomes[income as usize].pool;
        let kind = if reversal {
            OutflowKind::DonationReversal
        } else {
            OutflowKind::DonationRefund
        };
        let outflow = self.new_outflow(kind, donation, 0, amount_fen, recorded_on);
        let own_fen = self.take(income, outflow, amount_fen);
        self.pay_from_pool(pool, outflow, amount_fen - own_fen);
    }

    /// An expenditure reversed by `amount_fen`: the money never left, so the
    /// incomes that paid it get it back, newest allocation first, and the
    /// pool's queue goes back to the earliest of them (FIFO again).
    pub(crate) fn expenditure_reversed(&mut self, expenditure: EntityIndex, mut amount_fen: i64) {
        let Some(outflow) = self.outflows.iter().rposition(|outflow| {
            outflow.kind() == OutflowKind::Expenditure && outflow.entity == expenditure
        }) else {
            return;
        };
        let first = self.outflows[outflow].first_allocation as usize;
        let end = self
            .outflows
            .get(outflow + 1)
            .map_or(self.allocations.len(), |next| {
                next.first_allocation as usize
            });
        let state = &mut self.outflows[outflow];
        state.amount_fen -= amount_fen.min(state.amount_fen);
        for allocation in (first..end).rev() {
            if amount_fen == 0 {
                break;
            }
            let allocation = &mut self.allocations[allocation];
            let back_fen = amount_fen.min(allocation.amount_fen);
            allocation.amount_fen -= back_fen;
            amount_fen -= back_fen;
            let income = &mut self.incomes[allocation.income as usize];
            income.remaining_fen += back_fen;
            let pool = &mut self.pools[income.pool as usize];
            pool.head = pool.head.min(income.position);
        }
    }

    /// The allocations of `outflow`, in the order they were made.
    pub(crate) fn allocations_of_outflow(&self, outflow: usize) -> &[Allocation] {
        let first = self.outflows[outflow].first_allocation as usize;
        let end = self
            .outflows
            .get(outflow + 1)
            .map_or(self.allocations.len(), |next| {
                next.first_allocation as usize
            });
        &self.allocations[first..end]
    }

    /// The allocations from `income`, oldest first.
    pub(crate) fn allocations_of_income(&self, income: u32) -> Vec<&Allocation> {
        let mut found = Vec::new();
        let mut next = self.incomes[income as usize].newest_allocation;
        while next != NONE {
            let allocation = &self.allocations[next as usize];
            found.push(allocation);
            next = allocation.previous_of_income;
        }
        found.reverse();
        found
    }
}
