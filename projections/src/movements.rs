//! Fund accounts (资金流水): every movement of money into or out of each
//! fund, in date order with the running balance, and the correction notes
//! (更正说明) that refunds, reversals, amendments, cancellations, claim
//! releases and grant closures leave.
//!
//! Fed by `Projections::apply` (the same pass as every other read model, no
//! second fold): each money event appends one 32-byte `Movement` to the
//! fund that holds the money, in log order. Date order and running balances
//! are worked out when a page is asked for, so a rebuild pays only the push.
//!
//! # Rules
//!
//! - A movement belongs to the fund whose `total_in_fen` / `total_out_fen`
//!   it changes: money designated to a project to the project's fund, a
//!   grant tranche to its round's fund. So, per fund, Σ in = `total_in_fen`,
//!   Σ out = `total_out_fen`, and the last running balance = `total_held_fen`.
//! - In: donations, pledge payments, sponsors' project funding. Out:
//!   refunds of donations, expenditures, grant tranches.
//! - A **reversal** corrects a booking error: the money never moved as
//!   recorded. It lowers the amount of the movement it reverses (a donation
//!   entered twice, an expenditure booked wrongly) instead of adding one the
//!   other way, so a reversed duplicate counts in no income; a movement
//!   reversed in full is not listed. The reversal itself is a correction note.
//! - A grant closing returns the unpaid rest of its award to the fund's
//!   available money; that money never left the bank, so it is a correction
//!   note, not a movement.
//! - Dates: `received_on` for money in, `paid_on` for expenditures and
//!   tranches, and for a refund, which carries no date, the CST day its
//!   command was recorded. Equal dates keep log order.

use crate::accounts::EntityIndex;
use crate::dates::Day;

/// What moved the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Donation,
    PledgePayment,
    ProjectFunding,
    DonationRefund,
    Expenditure,
    GrantTranche,
}

impl MovementKind {
    pub const ALL: [MovementKind; 6] = [
        MovementKind::Donation,
        MovementKind::PledgePayment,
        MovementKind::ProjectFunding,
        MovementKind::DonationRefund,
        MovementKind::Expenditure,
        MovementKind::GrantTranche,
    ];

    /// The snake_case name the JSON, gRPC and CSV answers use.
    pub fn name(self) -> &'static str {
        match self {
            MovementKind::Donation => "donation",
            MovementKind::PledgePayment => "pledge_payment",
            MovementKind::ProjectFunding => "project_funding",
            MovementKind::DonationRefund => "donation_refund",
            MovementKind::Expenditure => "expenditure",
            MovementKind::GrantTranche => "grant_tranche",
        }
    }

    pub fn parse(name: &str) -> Option<MovementKind> {
        MovementKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }

    pub fn direction(self) -> Direction {
        match self {
            MovementKind::Donation | MovementKind::PledgePayment | MovementKind::ProjectFunding => {
                Direction::In
            }
            MovementKind::DonationRefund
            | MovementKind::Expenditure
            | MovementKind::GrantTranche => Direction::Out,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// One movement as stored: 24 bytes, no strings. `entity` indexes the table
/// `kind` names: donations (donation, refund), pledges, project fundings,
/// expenditures, grants (tranche).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Movement {
    pub(crate) seq: u64,
    /// Net of reversals; 0 once reversed in full (then not listed).
    pub(crate) amount_fen: i64,
    pub(crate) entity: EntityIndex,
    /// `Day` bits << 3 | the kind's index in `MovementKind::ALL`: the day
    /// fits 27 bits, so packing saves a quarter of every movement.
    date_and_kind: u32,
}

const _: () = assert!(std::mem::size_of::<Movement>() == 24);
const KIND_BITS: u32 = 3;
const _: () = assert!(MovementKind::ALL.len() <= 1 << KIND_BITS);

impl Movement {
    fn new(
        seq: u64,
        amount_fen: i64,
        entity: EntityIndex,
        date: Day,
        kind: MovementKind,
    ) -> Movement {
        // `ALL` lists the kinds in declaration order.
        let kind_index = kind as u32;
        debug_assert_eq!(MovementKind::ALL[kind_index as usize], kind);
        assert!(date.to_bits() < 1 << (32 - KIND_BITS), "a day fits 29 bits");
        let movement = Movement {
            seq,
            amount_fen,
            entity,
            date_and_kind: date.to_bits() << KIND_BITS | kind_index,
        };
        debug_assert_eq!((movement.date(), movement.kind()), (date, kind));
        movement
    }

    pub(crate) fn date(&self) -> Day {
        Day::from_bits(self.date_and_kind >> KIND_BITS)
    }

    pub(crate) fn kind(&self) -> MovementKind {
        MovementKind::ALL[(self.date_and_kind & ((1 << KIND_BITS) - 1)) as usize]
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FundMovements {
    /// Log order (seq ascending).
    pub(crate) movements: Vec<Movement>,
    /// Whether log order is also date order, so a page needs no sort.
    in_date_order: bool,
    /// The date order last worked out, reused by later pages.
    order: DateOrderCache,
}

/// The positions of a fund's first movements in date order, as a page last
/// worked them out. Not part of the read model: a clone starts without it
/// and two funds compare equal whatever their caches hold.
#[derive(Default)]
struct DateOrderCache(std::sync::Mutex<std::sync::Arc<Vec<u32>>>);

impl Clone for DateOrderCache {
    fn clone(&self) -> Self {
        DateOrderCache::default()
    }
}

impl PartialEq for DateOrderCache {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for DateOrderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DateOrderCache")
    }
}

impl FundMovements {
    /// Positions in date order (equal dates in log order). The positions
    /// sorted for an earlier page are kept: only the movements added since
    /// are sorted, then merged in, so a page of a large fund costs O(n)
    /// rather than a sort of every movement.
    pub(crate) fn date_order(&self) -> std::sync::Arc<Vec<u32>> {
        let len = self.movements.len();
        if self.in_date_order {
            return std::sync::Arc::new((0..len as u32).collect());
        }
        let mut cached = self
            .order
            .0
            .lock()
            .expect("the order cache is never poisoned");
        if cached.len() == len {
            return std::sync::Arc::clone(&cached);
        }
        assert!(cached.len() < len, "movements are never removed");
        let key = |position: u32| (self.movements[position as usize].date(), position);
        let mut added: Vec<u32> = (cached.len() as u32..len as u32).collect();
        added.sort_by_key(|&position| key(position));
        let mut merged = Vec::with_capacity(len);
        let (mut old, mut new) = (
            cached.iter().copied().peekable(),
            added.into_iter().peekable(),
        );
        while let (Some(&a), Some(&b)) = (old.peek(), new.peek()) {
            if key(a) <= key(b) {
                merged.push(a);
                old.next();
            } else {
                merged.push(b);
                new.next();
            }
        }
        merged.extend(old);
        merged.extend(new);
        assert_eq!(merged.len(), len);
        *cached = std::sync::Arc::new(merged);
        std::sync::Arc::clone(&cached)
    }
}

/// What a correction note corrects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionKind {
    /// Money given back to the donor (also an outgoing movement).
    DonationRefund,
    /// A donation that never happened as recorded (a duplicate entry).
    DonationReversal,
    ExpenditureReversal,
    PledgeAmended,
    PledgeCancelled,
    ClaimReleased,
    /// A grant closed; the unpaid rest of its award returned to the fund.
    GrantClosed,
}

/// A correction note as stored. `entity` indexes the table of what it
/// corrects: donation, expenditure, pledge, project (claim release), grant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Correction {
    pub(crate) seq: u64,
    /// The CST day the correcting command was recorded.
    pub(crate) recorded_on: Day,
    pub(crate) kind: CorrectionKind,
    pub(crate) entity: EntityIndex,
    /// The sponsor releasing a claim; unused otherwise.
    pub(crate) other: EntityIndex,
    /// Refunded, reversed, cancelled or returned; a pledge's new total.
    pub(crate) amount_fen: i64,
    /// A pledge's total before an amendment; 0 otherwise.
    pub(crate) previous_fen: i64,
    pub(crate) reason: String,
}

/// The fund accounts, correction notes and who funded each project.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FundAccounts {
    /// By fund index.
    pub(crate) funds: Vec<FundMovements>,
    pub(crate) corrections: Vec<Correction>,
    /// By project index: (sponsor, funded fen) in order of first funding.
    pub(crate) project_funders: Vec<Vec<(EntityIndex, i64)>>,
    /// The record being applied.
    seq: u64,
    recorded_at_unix_ms: i64,
    /// The latest instant any applied record was recorded at; kept as the
    /// instant because turning each record's into a day would cost a
    /// rebuild more than all the movements' pushes.
    newest_recorded_at_unix_ms: Option<i64>,
}

impl FundAccounts {
    /// Called before each record is applied.
    pub(crate) fn begin(&mut self, seq: u64, recorded_at_unix_ms: i64) {
        self.seq = seq;
        self.recorded_at_unix_ms = recorded_at_unix_ms;
    }

    /// Called after a record applied.
    pub(crate) fn applied(&mut self) {
        let newest = self
            .newest_recorded_at_unix_ms
            .map_or(self.recorded_at_unix_ms, |newest| {
                newest.max(self.recorded_at_unix_ms)
            });
        self.newest_recorded_at_unix_ms = Some(newest);
    }

    /// The CST day the record being applied was recorded on.
    fn recorded_on(&self) -> Day {
        Day::from_unix_ms_cst(self.recorded_at_unix_ms)
    }

    /// The latest CST day any applied record was recorded on.
    pub(crate) fn newest_recorded_on(&self) -> Day {
        self.newest_recorded_at_unix_ms
            .map_or(Day::UNKNOWN, Day::from_unix_ms_cst)
    }

    fn push(
        &mut self,
        fund: EntityIndex,
        kind: MovementKind,
        entity: EntityIndex,
        amount_fen: i64,
        date: Day,
    ) {
        assert!(amount_fen > 0, "a movement moves money");
        let fund_index = fund as usize;
        if self.funds.len() <= fund_index {
            self.funds.resize_with(fund_index + 1, || FundMovements {
                movements: Vec::new(),
                in_date_order: true,
                order: DateOrderCache::default(),
            });
        }
        let account = &mut self.funds[fund_index];
        if let Some(last) = account.movements.last() {
            assert!(last.seq < self.seq, "movements come in log order");
            account.in_date_order &= last.date() <= date;
        }
        account
            .movements
            .push(Movement::new(self.seq, amount_fen, entity, date, kind));
    }

    fn note(
        &mut self,
        kind: CorrectionKind,
        entity: EntityIndex,
        amount_fen: i64,
        reason: &str,
    ) -> &mut Correction {
        self.corrections.push(Correction {
            seq: self.seq,
            recorded_on: self.recorded_on(),
            kind,
            entity,
            other: 0,
            amount_fen,
            previous_fen: 0,
            reason: reason.to_owned(),
        });
        self.corrections.last_mut().expect("pushed")
    }

    pub(crate) fn donation(
        &mut self,
        fund: EntityIndex,
        donation: EntityIndex,
        amount_fen: i64,
        received_on: Day,
    ) {
        self.push(
            fund,
            MovementKind::Donation,
            donation,
            amount_fen,
            received_on,
        );
    }

    pub(crate) fn donation_refunded(
        &mut self,
        fund: EntityIndex,
        donation: EntityIndex,
        amount_fen: i64,
        reason: &str,
    ) {
        let recorded_on = self.recorded_on();
        self.push(
            fund,
            MovementKind::DonationRefund,
            donation,
            amount_fen,
            recorded_on,
        );
        self.note(CorrectionKind::DonationRefund, donation, amount_fen, reason);
    }

    pub(crate) fn donation_reversed(
        &mut self,
        fund: EntityIndex,
        donation: EntityIndex,
        amount_fen: i64,
        reason: &str,
    ) {
        self.lower(fund, MovementKind::Donation, donation, amount_fen);
        self.note(
            CorrectionKind::DonationReversal,
            donation,
            amount_fen,
            reason,
        );
    }

    pub(crate) fn pledge_payment(
        &mut self,
        fund: EntityIndex,
        pledge: EntityIndex,
        amount_fen: i64,
        received_on: Day,
    ) {
        self.push(
            fund,
            MovementKind::PledgePayment,
            pledge,
            amount_fen,
            received_on,
        );
    }

    pub(crate) fn pledge_amended(
        &mut self,
        pledge: EntityIndex,
        previous_fen: i64,
        new_total_fen: i64,
        reason: &str,
    ) {
        self.note(CorrectionKind::PledgeAmended, pledge, new_total_fen, reason)
            .previous_fen = previous_fen;
    }

    pub(crate) fn pledge_cancelled(
        &mut self,
        pledge: EntityIndex,
        cancelled_fen: i64,
        reason: &str,
    ) {
        self.note(
            CorrectionKind::PledgeCancelled,
            pledge,
            cancelled_fen,
            reason,
        );
    }

    pub(crate) fn project_funded(
        &mut self,
        fund: EntityIndex,
        project: EntityIndex,
        sponsor: EntityIndex,
        funding: EntityIndex,
        amount_fen: i64,
        received_on: Day,
    ) {
        self.push(
            fund,
            MovementKind::ProjectFunding,
            funding,
            amount_fen,
            received_on,
        );
        let project_index = project as usize;
        if self.project_funders.len() <= project_index {
            self.project_funders
                .resize_with(project_index + 1, Vec::new);
        }
        let funders = &mut self.project_funders[project_index];
        match funders.iter_mut().find(|(funder, _)| *funder == sponsor) {
            Some((_, funded_fen)) => *funded_fen += amount_fen,
            None => funders.push((sponsor, amount_fen)),
        }
    }

    pub(crate) fn claim_released(
        &mut self,
        project: EntityIndex,
        sponsor: EntityIndex,
        reason: &str,
    ) {
        self.note(CorrectionKind::ClaimReleased, project, 0, reason)
            .other = sponsor;
    }

    pub(crate) fn expenditure(
        &mut self,
        fund: EntityIndex,
        expenditure: EntityIndex,
        amount_fen: i64,
        paid_on: Day,
    ) {
        self.push(
            fund,
            MovementKind::Expenditure,
            expenditure,
            amount_fen,
            paid_on,
        );
    }

    pub(crate) fn expenditure_reversed(
        &mut self,
        fund: EntityIndex,
        expenditure: EntityIndex,
        amount_fen: i64,
        reason: &str,
    ) {
        self.lower(fund, MovementKind::Expenditure, expenditure, amount_fen);
        self.note(
            CorrectionKind::ExpenditureReversal,
            expenditure,
            amount_fen,
            reason,
        );
    }

    pub(crate) fn grant_tranche(
        &mut self,
        fund: EntityIndex,
        grant: EntityIndex,
        amount_fen: i64,
        paid_on: Day,
    ) {
        self.push(fund, MovementKind::GrantTranche, grant, amount_fen, paid_on);
    }

    pub(crate) fn grant_closed(&mut self, grant: EntityIndex, returned_fen: i64, reason: &str) {
        self.note(CorrectionKind::GrantClosed, grant, returned_fen, reason);
    }

    /// A reversal: the movement of `entity` moved `amount_fen` less than
    /// recorded. Found from the newest back: reversals are rare and correct
    /// recent entries, so no index per entry is kept for them.
    fn lower(
        &mut self,
        fund: EntityIndex,
        kind: MovementKind,
        entity: EntityIndex,
        amount_fen: i64,
    ) {
        let movement = self.funds[fund as usize]
            .movements
            .iter_mut()
            .rev()
            .find(|movement| movement.entity == entity && movement.kind() == kind)
            .expect("a reversed entry has its movement in the fund that holds it");
        assert!(
            amount_fen > 0 && amount_fen <= movement.amount_fen,
            "a reversal lowers a movement by at most what it still moves"
        );
        movement.amount_fen -= amount_fen;
    }

    /// Who paid `project`'s sponsor funding, and how much each.
    pub(crate) fn funders_of(&self, project: EntityIndex) -> &[(EntityIndex, i64)] {
        self.project_funders
            .get(project as usize)
            .map_or(&[], Vec::as_slice)
    }
}
