//! Read models derived from the log: double-entry postings and balances,
//! fund balances, campaign progress, pledges, the grant pipeline, the project
//! board, donor statements, public lists and a monthly in/out series.
//!
//! **Architecture invariant:** projections never write to the log. They are
//! "just a cache": everything here can be thrown away and rebuilt from seq 0
//! with [`Projections::catch_up`], and a rebuild gives identical results.
//!
//! **Architecture invariant:** `apply` never panics on an event sequence the
//! write side should not have produced (unknown ids, duplicates, malformed
//! dates), and never leaves such an event out silently. The first event that
//! does not apply is [`NotApplied`], naming its seq: it changes nothing
//! (money is never half-posted), the projections remember it
//! ([`Projections::not_applied`]) and apply nothing after it, so no balance
//! is ever read that leaves it out without saying so.
//!
//! # Rules the read models follow
//!
//! - **Postings** (debit +, credit −, each event sums to zero): see the chart
//!   of accounts in `accounts.rs`; [`Projections::postings_for`] returns them
//!   per record, [`Projections::trial_balance`] per account.
//! - **Which fund holds what**: money designated to a project (donations,
//!   sponsor funding, its expenditures) belongs to the *project's* fund; a
//!   grant's commitment belongs to its round's fund. Per fund,
//!   `available + restricted_to_projects + committed_to_grants = total_in −
//!   total_out`, checked by [`Projections::check_identities`].
//! - **Campaign years** come from `received_on`; a refund or reversal is
//!   booked against the year of the donation it gives back. Pledged-by-year is
//!   the schedule's instalments by due year.
//! - **Pledges**: payments fill instalments earliest first (also after an
//!   amendment replaced the schedule); after a cancellation the unpaid rest
//!   is waived and `pledged = total − cancelled`.
//! - **Grant budget remaining** = budget − awarded + returned (a closed grant
//!   counts as what it disbursed).
//! - **Project status**: completed once reported; else funded once sponsor
//!   funding + designated donations (net) reach the budget; else claimed while
//!   a sponsor holds the claim; else published.
//! - **Refunds and reversals**: a refund gives money back (an out); a
//!   reversal corrects a booking error (the money never moved as recorded),
//!   so a donation's reversal lowers the fund's income and an expenditure's
//!   its spending, in the month of the entry they correct. A reversed
//!   duplicate thus counts in no income.
//! - **Monthly series** (CST): donations, pledge payments and sponsor funding
//!   by `received_on`; expenditures and tranches by `paid_on`; refunds of
//!   donations, which carry no date, by the month the command was recorded
//!   (`recorded_at_unix_ms`); reversals lower the in-flow (donations) or
//!   out-flow (expenditures) of the corrected entry's month. Σ(in − out) =
//!   `assets:bank`.
//! - **Fund accounts** (`movements.rs`): every movement in and out of each
//!   fund in date order with its running balance, summing to the fund's
//!   totals; and the correction notes.
//! - **善款去向** (`flows.rs`, docs/flows.md): each outflow allocated to
//!   the incomes that paid it, first in, first out within its pool (a
//!   fund's pooled money, or one project's restricted money).
//! - **Disclosure calendar** (`disclosures.rs`, docs/disclosures.md): the
//!   reports each grant and project owes by the Charity Law, worked out per
//!   query from the days its disclosing records were recorded.

mod accounts;
mod borrowed;
mod dates;
mod decode;
mod detail_views;
mod disclosures;
mod fast_hash;
mod flows;
mod flows_audit;
mod flows_views;
mod id;
mod movements;
mod movements_views;
mod reports;
mod table;
mod views;

use std::collections::BTreeMap;

use mingzhang_ledger::store::{EventStore, StoreError};
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;
use serde::Serialize;

use accounts::{Account, EntityIndex};
pub use accounts::{AccountBalance, Posting, TrialBalance, category_name};
use borrowed::{FastEnvelope, FastEvent};
pub use dates::Day;
use decode::{Decoded, EnvelopeDecoder};
pub use detail_views::*;
pub use disclosures::*;
use fast_hash::FastMap;
pub use flows::{IncomeKind, OutflowKind};
pub use flows_audit::{FlowsBroken, FlowsChecked};
pub use flows_views::*;
use id::Id;
pub use movements::{CorrectionKind, Direction, MovementKind};
pub use movements_views::*;
pub use reports::{ReportKind, ReportReference};
use table::{Row, Table};
pub use views::*;

/// Records read from the store per `read` call during catch-up: large enough
/// to amortise the call, small enough to bound memory (records are <= 1 MiB,
/// in practice a few hundred bytes).
pub const CATCH_UP_BATCH_RECORDS: usize = 4_096;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("record {seq}: payload is not a valid EventEnvelope: {source}")]
    Decode {
        seq: u64,
        #[source]
        source: prost::DecodeError,
    },
    #[error("store returned record {found} where record {expected} was due")]
    UnexpectedSeq { expected: u64, found: u64 },
    #[error("store head is {head} but reading from {from} returned no records")]
    StoreReturnedNothing { from: u64, head: u64 },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{field}: {value:?} is not a date of the form YYYY-MM-DD")]
    InvalidDate { field: &'static str, value: String },
    #[error(transparent)]
    NotApplied(#[from] NotApplied),
}

/// Why an event does not apply to the read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotAppliedKind {
    /// An id the event refers to was never opened or registered.
    UnknownReference,
    /// An id that the event creates already exists.
    DuplicateId,
    /// A date that is not YYYY-MM-DD.
    MalformedDate,
    /// An amount that is not positive, or a state the event does not fit
    /// (claiming a claimed project, paying a paid tranche).
    Inconsistent,
    /// An envelope with no event set.
    EmptyEvent,
}

impl NotAppliedKind {
    /// The snake_case name errors show.
    pub fn name(self) -> &'static str {
        match self {
            NotAppliedKind::UnknownReference => "unknown_reference",
            NotAppliedKind::DuplicateId => "duplicate_id",
            NotAppliedKind::MalformedDate => "malformed_date",
            NotAppliedKind::Inconsistent => "inconsistent",
            NotAppliedKind::EmptyEvent => "empty_event",
        }
    }
}

/// The first event that does not apply: nothing of it, and nothing after
/// it, is in the read models. Never met in a log the write side wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("record seq {seq}: does not apply to the read models: {detail} [{}]", kind.name())]
pub struct NotApplied {
    pub seq: u64,
    pub kind: NotAppliedKind,
    pub detail: String,
}

// ---------------------------------------------------------------------------
// State. Entities live in tables (rows in log order, see `table.rs`) and
// refer to each other by index; each table resolves its kind's string ids.

#[derive(Debug, Clone, PartialEq)]
struct Fund {
    id: Id,
    name: String,
    kind: i32,
    restriction: String,
    /// Donations (undesignated or designated to the fund's projects), pledge
    /// payments and sponsor funding of the fund's projects.
    total_in_fen: i64,
    /// Refunds and reversals, expenditures net of their reversals, and grant
    /// tranches paid.
    total_out_fen: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct CampaignYearFlow {
    donations_fen: i64,
    pledge_payments_fen: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Campaign {
    id: Id,
    name: String,
    fund: EntityIndex,
    total_target_fen: i64,
    first_year: i32,
    yearly_targets: BTreeMap<i32, i64>,
    donations_fen: i64,
    pledge_payments_fen: i64,
    by_year: BTreeMap<i32, CampaignYearFlow>,
    pledges: Vec<EntityIndex>,
}

#[derive(Debug, Clone, PartialEq)]
struct Donor {
    id: Id,
    name: String,
    kind: i32,
    alliance_member: bool,
    show_name_publicly: bool,
    donated_fen: i64,
    donations_count: u64,
    pledged_fen: i64,
    pledge_paid_fen: i64,
    project_funding_fen: i64,
    pledges: Vec<EntityIndex>,
    /// A `PersonalDataErased` names the donor: `name` is `ERASED_NAME`.
    erased: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Organisation {
    id: Id,
    name: String,
    registration_no: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Donation {
    id: Id,
    donor: Option<EntityIndex>,
    fund: EntityIndex,
    campaign: Option<EntityIndex>,
    project: Option<EntityIndex>,
    amount_fen: i64,
    channel: i32,
    received_on: Day,
    anonymous: bool,
    refunded_fen: i64,
    reversed_fen: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Pledge {
    id: Id,
    donor: EntityIndex,
    campaign: Option<EntityIndex>,
    fund: EntityIndex,
    total_fen: i64,
    instalments: Vec<(Day, i64)>,
    paid_fen: i64,
    cancelled: bool,
    cancelled_fen: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Round {
    id: Id,
    fund: EntityIndex,
    name: String,
    budget_fen: i64,
    applications_open_on: Day,
    applications_close_on: Day,
    applications: u64,
    requested_fen: i64,
    reviewed: u64,
    shortlisted: u64,
    awarded: u64,
    awarded_fen: i64,
    disbursed_fen: i64,
    evaluations: u64,
    evaluations_passed: u64,
    self_assessments: u64,
    closed_grants: u64,
    returned_fen: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Application {
    id: Id,
    round: EntityIndex,
    organisation: EntityIndex,
    title: String,
    summary: String,
    requested_fen: i64,
    submitted_on: Day,
    reviews: u64,
    score_total: i64,
    shortlisted: bool,
    grant: Option<EntityIndex>,
}

#[derive(Debug, Clone, PartialEq)]
struct TrancheState {
    amount_fen: i64,
    requires_evaluation: bool,
    paid: Option<(i64, Day)>,
}

/// Where and when a record that discloses something (a report, an
/// evaluation, a closure, a completion) entered the public log: the day its
/// command was recorded, in CST. The disclosure calendar judges by it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Disclosed {
    seq: u64,
    on: Day,
}

#[derive(Debug, Clone, PartialEq)]
struct Evaluation {
    disclosed: Disclosed,
    id: String,
    period: String,
    evaluator: String,
    score: i32,
    passed: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct SelfAssessment {
    disclosed: Disclosed,
    quarter: String,
    report_sha256: Vec<u8>,
    summary: String,
}

#[derive(Debug, Clone, PartialEq)]
struct GrantClosure {
    disclosed: Disclosed,
    disbursed_fen: i64,
    returned_fen: i64,
    reason: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Grant {
    id: Id,
    application: EntityIndex,
    round: EntityIndex,
    amount_fen: i64,
    /// `Day::UNKNOWN` for an award recorded without its date.
    awarded_on: Day,
    tranches: Vec<TrancheState>,
    disbursed_fen: i64,
    evaluations: Vec<Evaluation>,
    self_assessments: Vec<SelfAssessment>,
    /// 以奖代拨: a passing evaluation recorded since the last tranche was paid.
    passed_evaluation_since_last_tranche: bool,
    closure: Option<GrantClosure>,
}

#[derive(Debug, Clone, PartialEq)]
struct Claim {
    sponsor: EntityIndex,
    claimed_at_seq: u64,
    released_at_seq: Option<u64>,
    release_reason: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Completion {
    disclosed: Disclosed,
    report_sha256: Vec<u8>,
    summary: String,
    completed_on: Day,
}

#[derive(Debug, Clone, PartialEq)]
struct Project {
    id: Id,
    title: String,
    description: String,
    /// The day it was published (recorded): its fundraising, and so its
    /// run for the disclosure rules, starts then.
    published_on: Day,
    need_kind: i32,
    community: String,
    survey: String,
    budget_fen: i64,
    fund: EntityIndex,
    claimant: Option<EntityIndex>,
    claims: Vec<Claim>,
    sponsor_funding_fen: i64,
    /// Designated donations net of refunds and reversals.
    donations_fen: i64,
    /// Expenditures net of reversals.
    spent_fen: i64,
    completion: Option<Completion>,
}

#[derive(Debug, Clone, PartialEq)]
struct Funding {
    id: Id,
    project: EntityIndex,
    sponsor: EntityIndex,
    amount_fen: i64,
    channel: i32,
    received_on: Day,
}

#[derive(Debug, Clone, PartialEq)]
struct Expenditure {
    id: Id,
    fund: EntityIndex,
    project: Option<EntityIndex>,
    amount_fen: i64,
    payee: String,
    payee_kind: i32,
    purpose: String,
    category: i32,
    receipt_no: String,
    paid_on: Day,
    reversed_fen: i64,
    /// A `PersonalDataErased` names the payee: `payee` is `ERASED_NAME`.
    payee_erased: bool,
}

/// Every entity row carries the id it was created under in its `id` field.
macro_rules! rows_identified_by_id_field {
    ($($row:ty),*) => {
        $(impl Row for $row {
            fn id(&self) -> &str {
                &self.id
            }
        })*
    };
}

rows_identified_by_id_field!(
    Fund,
    Campaign,
    Donor,
    Organisation,
    Donation,
    Pledge,
    Round,
    Application,
    Grant,
    Project,
    Funding,
    Expenditure
);

/// Debit `debit` and credit `credit` by `amount_fen`: two postings summing to zero.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Transfer {
    debit: Account,
    credit: Account,
    amount_fen: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct MonthFlowState {
    in_fen: i64,
    out_fen: i64,
}

/// All read models, applied in log order. Cheap to apply (no allocation for
/// most money events beyond the entity's own id), queried through the
/// methods in `views`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projections {
    funds: Table<Fund>,
    campaigns: Table<Campaign>,
    donors: Table<Donor>,
    organisations: Table<Organisation>,
    donations: Table<Donation>,
    pledges: Table<Pledge>,
    rounds: Table<Round>,
    applications: Table<Application>,
    grants: Table<Grant>,
    projects: Table<Project>,
    fundings: Table<Funding>,
    expenditures: Table<Expenditure>,

    balances: FastMap<Account, i64>,
    /// The transfer of every record, by seq: every money event posts
    /// exactly one debit and one credit of the same amount (`post` asserts
    /// it), so one slot per record holds all postings.
    transfers: Vec<Option<Transfer>>,
    monthly: BTreeMap<u32, MonthFlowState>,
    /// Each fund's movements, the correction notes, who funded each project.
    fund_accounts: movements::FundAccounts,
    /// Which incomes paid each outflow (善款去向).
    flows: flows::Flows,
    /// Which records name each report by its SHA-256.
    reports: reports::ReportIndex,
    /// The first record that did not apply; nothing is applied after it.
    not_applied: Option<NotApplied>,
    decoder: DecoderScratch,
    personal_names: PersonalNameSource,
}

/// Where the clear names behind salted commitments are looked up: the API's
/// side store of personal data (docs/proofs.md, "Personal data"). The log
/// holds only the commitments, so a projection folded without a source (an
/// auditor's replay) shows `NAME_OFF_THE_LOG` for them.
pub trait PersonalNames: Send + Sync {
    /// The clear value committed to for `subject_id` (a donor id, or an
    /// expenditure id for a payee), if the side store still holds it.
    fn clear_value(&self, subject_id: &str, commitment: &[u8]) -> Option<String>;
}

/// What stands for a committed name whose clear value is not at hand.
pub const NAME_OFF_THE_LOG: &str = "未入日志 name kept off the log";
/// What stands for an erased person's name on every surface.
pub use mingzhang_ledger::personal_data::ERASED_NAME;

/// Not part of the read models: two projections of the same log compare
/// equal whichever source names their people.
#[derive(Clone, Default)]
struct PersonalNameSource(Option<std::sync::Arc<dyn PersonalNames>>);

impl PartialEq for PersonalNameSource {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for PersonalNameSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_some() {
            "PersonalNameSource(side store)"
        } else {
            "PersonalNameSource(none)"
        })
    }
}

impl PersonalNameSource {
    fn name(&self, clear: &str, subject_id: &str, commitment: &[u8]) -> String {
        if commitment.is_empty() {
            return clear.to_owned();
        }
        self.0
            .as_ref()
            .and_then(|source| source.clear_value(subject_id, commitment))
            .unwrap_or_else(|| NAME_OFF_THE_LOG.to_owned())
    }
}

/// Decoding buffers: not part of the read models, so two projections of the
/// same log compare equal whatever they decoded last. Boxed so that taking
/// it out of `self` for the length of one `apply` moves a pointer, not the
/// decoded envelope (hundreds of bytes).
#[derive(Default)]
struct DecoderScratch(Option<Box<EnvelopeDecoder>>);

impl Clone for DecoderScratch {
    fn clone(&self) -> Self {
        DecoderScratch::default()
    }
}

impl PartialEq for DecoderScratch {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for DecoderScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecoderScratch")
    }
}

/// An event as `apply` reads it: borrowed from the payload (the fast
/// path's kinds) or a decoded message.
#[derive(Debug, Clone, Copy)]
enum EventRef<'a> {
    Borrowed(FastEvent<'a>),
    Owned(&'a Event),
}

/// Why an event does not apply; becomes `NotApplied` with its seq.
struct Skip {
    kind: NotAppliedKind,
    detail: String,
}

fn unknown(what: &str, id: &str) -> Skip {
    Skip {
        kind: NotAppliedKind::UnknownReference,
        detail: format!("unknown {what} {id:?}"),
    }
}

fn duplicate(what: &str, id: &str) -> Skip {
    Skip {
        kind: NotAppliedKind::DuplicateId,
        detail: format!("{what} {id:?} already exists"),
    }
}

fn inconsistent(detail: String) -> Skip {
    Skip {
        kind: NotAppliedKind::Inconsistent,
        detail,
    }
}

fn positive(field: &str, amount_fen: i64) -> Result<i64, Skip> {
    if amount_fen > 0 {
        Ok(amount_fen)
    } else {
        Err(inconsistent(format!(
            "{field} is {amount_fen}, not positive"
        )))
    }
}

fn optional(id: &str) -> Option<&str> {
    if id.is_empty() { None } else { Some(id) }
}

fn lookup<T: Row>(table: &Table<T>, what: &str, id: &str) -> Result<EntityIndex, Skip> {
    table.index_of(id).ok_or_else(|| unknown(what, id))
}

fn lookup_optional<T: Row>(
    table: &Table<T>,
    what: &str,
    id: &str,
) -> Result<Option<EntityIndex>, Skip> {
    optional(id).map(|id| lookup(table, what, id)).transpose()
}

fn disclosed(seq: u64, recorded_at_unix_ms: i64) -> Disclosed {
    Disclosed {
        seq,
        on: Day::from_unix_ms_cst(recorded_at_unix_ms),
    }
}

fn year_of(day: Day) -> Option<i32> {
    day.is_known().then(|| day.year())
}

impl Projections {
    /// Number of records applied; the next `apply` must carry this seq.
    pub fn applied_len(&self) -> u64 {
        self.transfers.len() as u64
    }

    /// The first record that did not apply, if any: the read models hold
    /// the records before it only, and catching up refuses to go on.
    pub fn not_applied(&self) -> Option<&NotApplied> {
        self.not_applied.as_ref()
    }

    /// Makes room for `records` more records, when the caller knows how many
    /// are coming (an audit counts them in its chain pass): the per-record
    /// tables then grow once, not by doubling, each doubling copying what
    /// it holds into memory the kernel must fault in and zero afresh.
    /// Reserved and untouched memory costs no physical pages.
    pub fn reserve_records(&mut self, records: u64) {
        let records = usize::try_from(records).unwrap_or(usize::MAX);
        self.transfers.reserve(records);
        self.donations.reserve(records);
        self.flows.reserve(records);
    }

    /// Decodes one record's payload and applies it.
    pub fn apply_payload(&mut self, seq: u64, payload: &[u8]) -> Result<(), ProjectionError> {
        let mut decoder = self.decoder.0.take().unwrap_or_default();
        let outcome = match decoder.decode(payload) {
            Ok(Decoded::Borrowed(envelope)) => {
                let event = EventRef::Borrowed(envelope.event);
                self.apply_decoded(seq, envelope.recorded_at_unix_ms, Some(event))
                    .map_err(ProjectionError::from)
            }
            Ok(Decoded::Owned(envelope)) => {
                let event = envelope.event.as_ref().map(EventRef::Owned);
                self.apply_decoded(seq, envelope.recorded_at_unix_ms, event)
                    .map_err(ProjectionError::from)
            }
            Err(source) => Err(ProjectionError::Decode { seq, source }),
        };
        self.decoder.0 = Some(decoder);
        outcome
    }

    /// `apply_payload` on each record in turn, calling `applied` after each
    /// with the projections as they stand; stops at the first record that
    /// does not apply. Records are decoded `WARM_UP_RECORDS` at a time and
    /// the slots of their new donation ids read one right after another
    /// before any is applied, so the processor waits for those cache misses
    /// together, not one by one: what a replay of millions of gifts spends
    /// most of its time on otherwise.
    pub fn apply_payloads<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u64, &'a [u8])>,
        mut applied: impl FnMut(&Self),
    ) -> Result<(), ProjectionError> {
        const WARM_UP_RECORDS: usize = 16;
        let mut records = records.into_iter();
        let mut chunk = Vec::with_capacity(WARM_UP_RECORDS);
        loop {
            chunk.extend(
                records
                    .by_ref()
                    .take(WARM_UP_RECORDS)
                    .map(|(seq, payload)| (seq, payload, borrowed::decode(payload))),
            );
            if chunk.is_empty() {
                return Ok(());
            }
            for (_, _, decoded) in &chunk {
                if let Some(FastEnvelope {
                    event: FastEvent::DonationReceived(e),
                    ..
                }) = decoded
                {
                    self.donations.warm_up(e.donation_id);
                }
            }
            for (seq, payload, decoded) in chunk.drain(..) {
                match decoded {
                    Some(envelope) => {
                        debug_assert!(
                            <v1::EventEnvelope as prost::Message>::decode(payload)
                                .is_ok_and(|full| envelope.agrees_with(&full)),
                            "the fast path disagrees with a fresh decode"
                        );
                        self.apply_decoded(
                            seq,
                            envelope.recorded_at_unix_ms,
                            Some(EventRef::Borrowed(envelope.event)),
                        )
                        .map_err(ProjectionError::from)?
                    }
                    // What the fast decoder leaves (other kinds, unusual
                    // encodings) takes the whole path.
                    None => self.apply_payload(seq, payload)?,
                }
                applied(self);
            }
        }
    }

    /// Applies record `seq`. Records must come in log order without gaps:
    /// anything else is a bug in the caller, so it panics. A record that does
    /// not apply changes nothing and is the error of this and every later
    /// call (see `not_applied`).
    pub fn apply(&mut self, seq: u64, envelope: &v1::EventEnvelope) -> Result<(), NotApplied> {
        let event = envelope.event.as_ref().map(EventRef::Owned);
        self.apply_decoded(seq, envelope.recorded_at_unix_ms, event)
    }

    /// `apply` on the fields projections read: the header's other fields
    /// (actor, idempotency key, request hash) never change a read model.
    fn apply_decoded(
        &mut self,
        seq: u64,
        recorded_at_unix_ms: i64,
        event: Option<EventRef<'_>>,
    ) -> Result<(), NotApplied> {
        if let Some(not_applied) = &self.not_applied {
            return Err(not_applied.clone());
        }
        assert_eq!(
            seq,
            self.applied_len(),
            "projections applied out of order: got seq {seq}, expected {}",
            self.applied_len()
        );
        self.transfers.push(None);
        self.fund_accounts.begin(seq, recorded_at_unix_ms);
        self.flows.begin(seq);
        let outcome = match event {
            None => Err(Skip {
                kind: NotAppliedKind::EmptyEvent,
                detail: "envelope carries no event".to_owned(),
            }),
            Some(event) => self.apply_event(seq, recorded_at_unix_ms, event),
        };
        let Err(skip) = outcome else {
            self.fund_accounts.applied();
            return Ok(());
        };
        // An event that does not apply must not have half-posted; it does
        // not count as applied.
        let transfer = self.transfers.pop().expect("pushed above");
        assert!(transfer.is_none(), "an event that does not apply posted");
        let not_applied = NotApplied {
            seq,
            kind: skip.kind,
            detail: skip.detail,
        };
        self.not_applied = Some(not_applied.clone());
        Err(not_applied)
    }

    /// Applies every durable record from `applied_len()` to the store's head,
    /// `CATCH_UP_BATCH_RECORDS` at a time. Returns how many were applied.
    pub fn catch_up(&mut self, store: &dyn EventStore) -> Result<u64, ProjectionError> {
        self.catch_up_to(store, u64::MAX)
    }

    /// Like `catch_up`, but applies at most `records_max` records, so a
    /// caller on an async worker holds it only briefly; call again for more.
    pub fn catch_up_to(
        &mut self,
        store: &dyn EventStore,
        records_max: u64,
    ) -> Result<u64, ProjectionError> {
        if let Some(not_applied) = &self.not_applied {
            return Err(not_applied.clone().into());
        }
        let start = self.applied_len();
        // The head may move while we read; stop at the one seen first and let
        // the caller call again (it watches `watch_durable_len`).
        let head = store.head().len.min(start.saturating_add(records_max));
        while self.applied_len() < head {
            let from = self.applied_len();
            let want = usize::try_from(head - from)
                .unwrap_or(usize::MAX)
                .min(CATCH_UP_BATCH_RECORDS);
            let records = store.read(from, want)?;
            if records.is_empty() {
                return Err(ProjectionError::StoreReturnedNothing { from, head });
            }
            // The records in order are applied; the first out of order is
            // the error, after the ones before it.
            let in_order = records
                .iter()
                .zip(from..)
                .take_while(|(record, expected)| record.seq() == *expected)
                .count();
            self.apply_payloads(
                records[..in_order]
                    .iter()
                    .map(|record| (record.seq(), record.payload())),
                |_| {},
            )?;
            if let Some(record) = records.get(in_order) {
                return Err(ProjectionError::UnexpectedSeq {
                    expected: self.applied_len(),
                    found: record.seq(),
                });
            }
        }
        Ok(self.applied_len() - start)
    }

    /// A fresh rebuild of every read model from seq 0.
    pub fn rebuild(store: &dyn EventStore) -> Result<Projections, ProjectionError> {
        let mut projections = Projections::default();
        projections.catch_up(store)?;
        Ok(projections)
    }

    /// Parses an event's date; a malformed one keeps the event from applying.
    fn day(field: &'static str, text: &str) -> Result<Day, Skip> {
        Day::parse(text).ok_or_else(|| Skip {
            kind: NotAppliedKind::MalformedDate,
            detail: format!("{field} {text:?} is not YYYY-MM-DD"),
        })
    }

    /// Moves `amount_fen` from `credit` to `debit` (debit +, credit −).
    fn post(&mut self, debit: Account, credit: Account, amount_fen: i64) {
        debug_assert!(amount_fen > 0);
        debug_assert_ne!(debit, credit);
        let slot = self.transfers.last_mut().expect("post runs inside apply");
        assert!(slot.is_none(), "an event posts one transfer at most");
        *slot = Some(Transfer {
            debit,
            credit,
            amount_fen,
        });
        *self.balances.entry(debit).or_insert(0) += amount_fen;
        *self.balances.entry(credit).or_insert(0) -= amount_fen;
    }

    fn month_in(&mut self, day: Day, amount_fen: i64) {
        self.monthly.entry(day.month_key()).or_default().in_fen += amount_fen;
    }

    fn month_out(&mut self, day: Day, amount_fen: i64) {
        self.monthly.entry(day.month_key()).or_default().out_fen += amount_fen;
    }

    fn apply_event(
        &mut self,
        seq: u64,
        recorded_at_unix_ms: i64,
        event: EventRef<'_>,
    ) -> Result<(), Skip> {
        let event = match event {
            EventRef::Borrowed(FastEvent::DonationReceived(e)) => {
                return self.donation_received(&e);
            }
            EventRef::Borrowed(FastEvent::PledgePaymentReceived(e)) => {
                return self.pledge_payment_received(&e);
            }
            EventRef::Owned(event) => event,
        };
        match event {
            Event::FundOpened(e) => self.fund_opened(e),
            Event::CampaignOpened(e) => self.campaign_opened(e),
            Event::DonorRegistered(e) => self.donor_registered(e),
            Event::OrganisationRegistered(e) => self.organisation_registered(e),
            Event::DonationReceived(e) => self.donation_received(&e.into()),
            Event::DonationRefunded(e) => self.donation_given_back(
                recorded_at_unix_ms,
                &e.donation_id,
                e.amount_fen,
                GivenBack::Refunded,
                &e.reason,
            ),
            Event::DonationReversed(e) => self.donation_given_back(
                recorded_at_unix_ms,
                &e.donation_id,
                e.amount_fen,
                GivenBack::Reversed,
                &e.reason,
            ),
            Event::PledgeMade(e) => self.pledge_made(e),
            Event::PledgePaymentReceived(e) => self.pledge_payment_received(&e.into()),
            Event::PledgeAmended(e) => self.pledge_amended(e),
            Event::PledgeCancelled(e) => self.pledge_cancelled(e),
            Event::GrantRoundOpened(e) => self.grant_round_opened(e),
            Event::GrantApplicationSubmitted(e) => self.grant_application_submitted(e),
            Event::GrantApplicationReviewed(e) => self.grant_application_reviewed(e),
            Event::GrantApplicationShortlisted(e) => self.grant_application_shortlisted(e),
            Event::GrantAwarded(e) => self.grant_awarded(e),
            Event::GrantTrancheDisbursed(e) => self.grant_tranche_disbursed(e),
            Event::GrantEvaluationRecorded(e) => {
                self.grant_evaluation_recorded(disclosed(seq, recorded_at_unix_ms), e)
            }
            Event::GrantSelfAssessmentFiled(e) => {
                self.grant_self_assessment_filed(disclosed(seq, recorded_at_unix_ms), e)
            }
            Event::GrantClosed(e) => self.grant_closed(disclosed(seq, recorded_at_unix_ms), e),
            Event::ProjectPublished(e) => {
                self.project_published(Day::from_unix_ms_cst(recorded_at_unix_ms), e)
            }
            Event::ProjectClaimed(e) => self.project_claimed(seq, e),
            Event::ProjectClaimReleased(e) => self.project_claim_released(seq, e),
            Event::ProjectFunded(e) => self.project_funded(e),
            Event::ProjectCompleted(e) => {
                self.project_completed(disclosed(seq, recorded_at_unix_ms), e)
            }
            Event::ExpenditureMade(e) => self.expenditure_made(e),
            Event::ExpenditureReversed(e) => self.expenditure_reversed(e),
            Event::PersonalDataErased(e) => self.personal_data_erased(e),
        }
    }

    /// Names the individuals registered with a salted commitment from
    /// `source` as their records are applied; set before the first apply.
    pub fn set_personal_names(&mut self, source: std::sync::Arc<dyn PersonalNames>) {
        self.personal_names = PersonalNameSource(Some(source));
    }

    fn personal_data_erased(&mut self, e: &v1::PersonalDataErased) -> Result<(), Skip> {
        match e.subject_kind() {
            v1::ErasedSubject::Donor => {
                let donor = lookup(&self.donors, "donor", &e.subject_id)?;
                let donor = &mut self.donors[donor as usize];
                donor.name = ERASED_NAME.to_owned();
                donor.erased = true;
            }
            v1::ErasedSubject::Payee => {
                let expenditure = lookup(&self.expenditures, "expenditure", &e.subject_id)?;
                let expenditure = &mut self.expenditures[expenditure as usize];
                expenditure.payee = ERASED_NAME.to_owned();
                expenditure.payee_erased = true;
            }
        }
        Ok(())
    }

    /// Whether a `PersonalDataErased` record names `subject_id`, the key of
    /// the side store: a donor's id, or an expenditure's id for its payee.
    pub fn is_erased(&self, subject_id: &str) -> bool {
        self.donors
            .index_of(subject_id)
            .is_some_and(|donor| self.donors[donor as usize].erased)
            || self
                .expenditures
                .index_of(subject_id)
                .is_some_and(|expenditure| self.expenditures[expenditure as usize].payee_erased)
    }

    fn fund_opened(&mut self, e: &v1::FundOpened) -> Result<(), Skip> {
        let id = self
            .funds
            .vacant(&e.fund_id)
            .ok_or_else(|| duplicate("fund", &e.fund_id))?;
        self.funds.push(Fund {
            id,
            name: e.name.clone(),
            kind: e.kind,
            restriction: e.restriction.clone(),
            total_in_fen: 0,
            total_out_fen: 0,
        });
        Ok(())
    }

    fn campaign_opened(&mut self, e: &v1::CampaignOpened) -> Result<(), Skip> {
        let fund = lookup(&self.funds, "fund", &e.fund_id)?;
        let id = self
            .campaigns
            .vacant(&e.campaign_id)
            .ok_or_else(|| duplicate("campaign", &e.campaign_id))?;
        self.campaigns.push(Campaign {
            id,
            name: e.name.clone(),
            fund,
            total_target_fen: e.total_target_fen,
            first_year: e.first_year,
            yearly_targets: e
                .yearly_targets
                .iter()
                .map(|target| (target.year, target.target_fen))
                .collect(),
            donations_fen: 0,
            pledge_payments_fen: 0,
            by_year: BTreeMap::new(),
            pledges: Vec::new(),
        });
        Ok(())
    }

    fn donor_registered(&mut self, e: &v1::DonorRegistered) -> Result<(), Skip> {
        let id = self
            .donors
            .vacant(&e.donor_id)
            .ok_or_else(|| duplicate("donor", &e.donor_id))?;
        self.donors.push(Donor {
            id,
            name: self
                .personal_names
                .name(&e.name, &e.donor_id, &e.name_commitment),
            kind: e.kind,
            alliance_member: e.alliance_member,
            show_name_publicly: e.show_name_publicly,
            donated_fen: 0,
            donations_count: 0,
            pledged_fen: 0,
            pledge_paid_fen: 0,
            project_funding_fen: 0,
            pledges: Vec::new(),
            erased: false,
        });
        Ok(())
    }

    fn organisation_registered(&mut self, e: &v1::OrganisationRegistered) -> Result<(), Skip> {
        let id = self
            .organisations
            .vacant(&e.organisation_id)
            .ok_or_else(|| duplicate("organisation", &e.organisation_id))?;
        self.organisations.push(Organisation {
            id,
            name: e.name.clone(),
            registration_no: e.registration_no.clone(),
        });
        Ok(())
    }

    fn donation_received(&mut self, e: &borrowed::DonationReceived<'_>) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", e.amount_fen)?;
        let fund = lookup(&self.funds, "fund", e.fund_id)?;
        let donor = lookup_optional(&self.donors, "donor", e.donor_id)?;
        let campaign = lookup_optional(&self.campaigns, "campaign", e.campaign_id)?;
        let project = lookup_optional(&self.projects, "project", e.project_id)?;
        let id = self
            .donations
            .vacant(e.donation_id)
            .ok_or_else(|| duplicate("donation", e.donation_id))?;
        // Nothing below skips the event (the row is pushed at the end).
        let received_on = Self::day("received_on", e.received_on)?;

        let credit = match project {
            Some(project) => Account::ProjectDonations(project),
            None => Account::FundDonations(fund),
        };
        self.post(Account::Bank, credit, amount_fen);
        // Money designated to a project is held for the project's fund.
        let holding_fund = project.map_or(fund, |project| self.projects[project as usize].fund);
        self.funds[holding_fund as usize].total_in_fen += amount_fen;
        if let Some(project) = project {
            self.projects[project as usize].donations_fen += amount_fen;
        }
        if let Some(donor) = donor {
            let donor = &mut self.donors[donor as usize];
            donor.donated_fen += amount_fen;
            donor.donations_count += 1;
        }
        if let Some(campaign) = campaign {
            let campaign = &mut self.campaigns[campaign as usize];
            campaign.donations_fen += amount_fen;
            if let Some(year) = year_of(received_on) {
                campaign.by_year.entry(year).or_default().donations_fen += amount_fen;
            }
        }
        self.month_in(received_on, amount_fen);
        let index = self.donations.len() as EntityIndex;
        self.fund_accounts
            .donation(holding_fund, index, amount_fen, received_on);
        let pool = project.map_or(flows::PoolOf::Fund(holding_fund), flows::PoolOf::Project);
        self.flows
            .donation(pool, index, donor, e.anonymous, amount_fen);
        self.donations.push(Donation {
            id,
            donor,
            fund,
            campaign,
            project,
            amount_fen,
            channel: e.channel,
            received_on,
            anonymous: e.anonymous,
            refunded_fen: 0,
            reversed_fen: 0,
        });
        Ok(())
    }

    fn donation_given_back(
        &mut self,
        recorded_at_unix_ms: i64,
        donation_id: &str,
        amount_fen: i64,
        how: GivenBack,
        reason: &str,
    ) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", amount_fen)?;
        let index = lookup(&self.donations, "donation", donation_id)?;
        let donation = &self.donations[index as usize];
        let still_held_fen = donation.amount_fen - donation.refunded_fen - donation.reversed_fen;
        if amount_fen > still_held_fen {
            return Err(inconsistent(format!(
                "donation {donation_id:?} gives back {amount_fen} fen but holds {still_held_fen}"
            )));
        }
        let (fund, project, donor, campaign, received_on) = (
            donation.fund,
            donation.project,
            donation.donor,
            donation.campaign,
            donation.received_on,
        );
        let debit = match project {
            Some(project) => Account::ProjectRefunds(project),
            None => Account::FundRefunds(fund),
        };
        self.post(debit, Account::Bank, amount_fen);
        let donation = &mut self.donations[index as usize];
        match how {
            GivenBack::Refunded => donation.refunded_fen += amount_fen,
            GivenBack::Reversed => donation.reversed_fen += amount_fen,
        }
        let holding_fund = project.map_or(fund, |project| self.projects[project as usize].fund);
        // A refund gives money back; a reversal says it never came (a
        // duplicate entry), so it lowers the income instead of adding an out.
        match how {
            GivenBack::Refunded => {
                self.funds[holding_fund as usize].total_out_fen += amount_fen;
                self.fund_accounts
                    .donation_refunded(holding_fund, index, amount_fen, reason);
            }
            GivenBack::Reversed => {
                self.funds[holding_fund as usize].total_in_fen -= amount_fen;
                self.fund_accounts
                    .donation_reversed(holding_fund, index, amount_fen, reason);
            }
        }
        self.flows.donation_given_back(
            index,
            matches!(how, GivenBack::Reversed),
            amount_fen,
            Day::from_unix_ms_cst(recorded_at_unix_ms),
        );
        if let Some(project) = project {
            self.projects[project as usize].donations_fen -= amount_fen;
        }
        if let Some(donor) = donor {
            self.donors[donor as usize].donated_fen -= amount_fen;
        }
        if let Some(campaign) = campaign {
            let campaign = &mut self.campaigns[campaign as usize];
            campaign.donations_fen -= amount_fen;
            // Progress is booked against the year the gift was received.
            if let Some(year) = year_of(received_on) {
                campaign.by_year.entry(year).or_default().donations_fen -= amount_fen;
            }
        }
        match how {
            // The event carries no date of its own: the money left when the
            // command was accepted.
            GivenBack::Refunded => {
                self.month_out(Day::from_unix_ms_cst(recorded_at_unix_ms), amount_fen)
            }
            // The gift never came: it leaves the month it was booked in.
            GivenBack::Reversed => self.month_in(received_on, -amount_fen),
        }
        Ok(())
    }

    fn instalments(instalments: &[v1::Instalment]) -> Result<Vec<(Day, i64)>, Skip> {
        instalments
            .iter()
            .map(|instalment| {
                Ok((
                    Self::day("instalments.due_on", &instalment.due_on)?,
                    instalment.amount_fen,
                ))
            })
            .collect()
    }

    fn pledge_made(&mut self, e: &v1::PledgeMade) -> Result<(), Skip> {
        let total_fen = positive("total_fen", e.total_fen)?;
        let donor = lookup(&self.donors, "donor", &e.donor_id)?;
        let campaign = lookup_optional(&self.campaigns, "campaign", &e.campaign_id)?;
        let fund = lookup(&self.funds, "fund", &e.fund_id)?;
        let index = self.pledges.len();
        let id = self
            .pledges
            .vacant(&e.pledge_id)
            .ok_or_else(|| duplicate("pledge", &e.pledge_id))?;
        let instalments = Self::instalments(&e.instalments)?;
        let index = index as EntityIndex;
        if let Some(campaign) = campaign {
            self.campaigns[campaign as usize].pledges.push(index);
        }
        let donor_state = &mut self.donors[donor as usize];
        donor_state.pledged_fen += total_fen;
        donor_state.pledges.push(index);
        self.pledges.push(Pledge {
            id,
            donor,
            campaign,
            fund,
            total_fen,
            instalments,
            paid_fen: 0,
            cancelled: false,
            cancelled_fen: 0,
        });
        Ok(())
    }

    fn pledge_payment_received(
        &mut self,
        e: &borrowed::PledgePaymentReceived<'_>,
    ) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", e.amount_fen)?;
        let index = lookup(&self.pledges, "pledge", e.pledge_id)?;
        let received_on = Self::day("received_on", e.received_on)?;
        let payment_id = self
            .flows
            .vacant_payment(e.payment_id)
            .ok_or_else(|| duplicate("pledge payment", e.payment_id))?;
        let pledge = &mut self.pledges[index as usize];
        pledge.paid_fen += amount_fen;
        let (fund, donor, campaign) = (pledge.fund, pledge.donor, pledge.campaign);
        self.post(Account::Bank, Account::FundPledgePayments(fund), amount_fen);
        self.funds[fund as usize].total_in_fen += amount_fen;
        self.fund_accounts
            .pledge_payment(fund, index, amount_fen, received_on);
        self.flows
            .pledge_payment(payment_id, fund, index, donor, amount_fen, received_on);
        self.donors[donor as usize].pledge_paid_fen += amount_fen;
        if let Some(campaign) = campaign {
            let campaign = &mut self.campaigns[campaign as usize];
            campaign.pledge_payments_fen += amount_fen;
            if let Some(year) = year_of(received_on) {
                campaign
                    .by_year
                    .entry(year)
                    .or_default()
                    .pledge_payments_fen += amount_fen;
            }
        }
        self.month_in(received_on, amount_fen);
        Ok(())
    }

    fn pledge_amended(&mut self, e: &v1::PledgeAmended) -> Result<(), Skip> {
        let new_total_fen = positive("new_total_fen", e.new_total_fen)?;
        let index = lookup(&self.pledges, "pledge", &e.pledge_id)?;
        if self.pledges[index as usize].cancelled {
            return Err(inconsistent(format!(
                "pledge {:?} is cancelled and cannot be amended",
                e.pledge_id
            )));
        }
        let instalments = Self::instalments(&e.instalments)?;
        let pledge = &mut self.pledges[index as usize];
        self.fund_accounts
            .pledge_amended(index, pledge.total_fen, new_total_fen, &e.reason);
        let delta_fen = new_total_fen - pledge.total_fen;
        pledge.total_fen = new_total_fen;
        pledge.instalments = instalments;
        let donor = pledge.donor;
        self.donors[donor as usize].pledged_fen += delta_fen;
        Ok(())
    }

    fn pledge_cancelled(&mut self, e: &v1::PledgeCancelled) -> Result<(), Skip> {
        let index = lookup(&self.pledges, "pledge", &e.pledge_id)?;
        let pledge = &mut self.pledges[index as usize];
        if pledge.cancelled || e.cancelled_fen < 0 || e.cancelled_fen > pledge.total_fen {
            return Err(inconsistent(format!(
                "pledge {:?} cannot cancel {} fen",
                e.pledge_id, e.cancelled_fen
            )));
        }
        pledge.cancelled = true;
        pledge.cancelled_fen = e.cancelled_fen;
        self.fund_accounts
            .pledge_cancelled(index, e.cancelled_fen, &e.reason);
        let donor = pledge.donor;
        self.donors[donor as usize].pledged_fen -= e.cancelled_fen;
        Ok(())
    }

    fn grant_round_opened(&mut self, e: &v1::GrantRoundOpened) -> Result<(), Skip> {
        let fund = lookup(&self.funds, "fund", &e.fund_id)?;
        if self.rounds.index_of(&e.round_id).is_some() {
            return Err(duplicate("grant round", &e.round_id));
        }
        let applications_open_on = Self::day("applications_open_on", &e.applications_open_on)?;
        let applications_close_on = Self::day("applications_close_on", &e.applications_close_on)?;
        let id = self.rounds.vacant(&e.round_id).expect("checked above");
        self.rounds.push(Round {
            id,
            fund,
            name: e.name.clone(),
            budget_fen: e.budget_fen,
            applications_open_on,
            applications_close_on,
            applications: 0,
            requested_fen: 0,
            reviewed: 0,
            shortlisted: 0,
            awarded: 0,
            awarded_fen: 0,
            disbursed_fen: 0,
            evaluations: 0,
            evaluations_passed: 0,
            self_assessments: 0,
            closed_grants: 0,
            returned_fen: 0,
        });
        Ok(())
    }

    fn grant_application_submitted(
        &mut self,
        e: &v1::GrantApplicationSubmitted,
    ) -> Result<(), Skip> {
        let round = lookup(&self.rounds, "grant round", &e.round_id)?;
        let organisation = lookup(&self.organisations, "organisation", &e.organisation_id)?;
        if self.applications.index_of(&e.application_id).is_some() {
            return Err(duplicate("application", &e.application_id));
        }
        let submitted_on = Self::day("submitted_on", &e.submitted_on)?;
        let id = self
            .applications
            .vacant(&e.application_id)
            .expect("checked above");
        let round_state = &mut self.rounds[round as usize];
        round_state.applications += 1;
        round_state.requested_fen += e.requested_fen;
        self.applications.push(Application {
            id,
            round,
            organisation,
            title: e.title.clone(),
            summary: e.summary.clone(),
            requested_fen: e.requested_fen,
            submitted_on,
            reviews: 0,
            score_total: 0,
            shortlisted: false,
            grant: None,
        });
        Ok(())
    }

    fn grant_application_reviewed(&mut self, e: &v1::GrantApplicationReviewed) -> Result<(), Skip> {
        let index = lookup(&self.applications, "application", &e.application_id)?;
        let application = &mut self.applications[index as usize];
        application.reviews += 1;
        application.score_total += i64::from(e.score);
        if application.reviews == 1 {
            let round = application.round;
            self.rounds[round as usize].reviewed += 1;
        }
        Ok(())
    }

    fn grant_application_shortlisted(
        &mut self,
        e: &v1::GrantApplicationShortlisted,
    ) -> Result<(), Skip> {
        let index = lookup(&self.applications, "application", &e.application_id)?;
        let application = &mut self.applications[index as usize];
        if application.shortlisted {
            return Err(inconsistent(format!(
                "application {:?} is already shortlisted",
                e.application_id
            )));
        }
        application.shortlisted = true;
        let round = application.round;
        self.rounds[round as usize].shortlisted += 1;
        Ok(())
    }

    fn grant_awarded(&mut self, e: &v1::GrantAwarded) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", e.amount_fen)?;
        let application = lookup(&self.applications, "application", &e.application_id)?;
        if self.applications[application as usize].grant.is_some() {
            return Err(inconsistent(format!(
                "application {:?} already has a grant",
                e.application_id
            )));
        }
        let index = self.grants.len();
        let id = self
            .grants
            .vacant(&e.grant_id)
            .ok_or_else(|| duplicate("grant", &e.grant_id))?;
        let awarded_on = if e.awarded_on.is_empty() {
            Day::UNKNOWN
        } else {
            Self::day("awarded_on", &e.awarded_on)?
        };
        let index = index as EntityIndex;
        let round = self.applications[application as usize].round;
        self.applications[application as usize].grant = Some(index);
        let fund = self.rounds[round as usize].fund;
        self.post(
            Account::FundGrantsCommitted(fund),
            Account::GrantLiability(index),
            amount_fen,
        );
        let round_state = &mut self.rounds[round as usize];
        round_state.awarded += 1;
        round_state.awarded_fen += amount_fen;
        self.grants.push(Grant {
            id,
            application,
            round,
            amount_fen,
            awarded_on,
            tranches: e
                .tranches
                .iter()
                .map(|tranche| TrancheState {
                    amount_fen: tranche.amount_fen,
                    requires_evaluation: tranche.requires_evaluation,
                    paid: None,
                })
                .collect(),
            disbursed_fen: 0,
            evaluations: Vec::new(),
            self_assessments: Vec::new(),
            passed_evaluation_since_last_tranche: false,
            closure: None,
        });
        Ok(())
    }

    fn grant_tranche_disbursed(&mut self, e: &v1::GrantTrancheDisbursed) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", e.amount_fen)?;
        let index = lookup(&self.grants, "grant", &e.grant_id)?;
        let grant = &self.grants[index as usize];
        let tranche_index = e.tranche_index as usize;
        let payable = grant.closure.is_none()
            && grant
                .tranches
                .get(tranche_index)
                .is_some_and(|tranche| tranche.paid.is_none());
        if !payable || grant.disbursed_fen + amount_fen > grant.amount_fen {
            return Err(inconsistent(format!(
                "grant {:?} cannot pay tranche {} of {amount_fen} fen",
                e.grant_id, e.tranche_index
            )));
        }
        let paid_on = Self::day("paid_on", &e.paid_on)?;
        let grant = &mut self.grants[index as usize];
        grant.tranches[tranche_index].paid = Some((amount_fen, paid_on));
        grant.disbursed_fen += amount_fen;
        grant.passed_evaluation_since_last_tranche = false;
        let round = grant.round;
        self.post(Account::GrantLiability(index), Account::Bank, amount_fen);
        let round_state = &mut self.rounds[round as usize];
        round_state.disbursed_fen += amount_fen;
        let fund = round_state.fund;
        self.funds[fund as usize].total_out_fen += amount_fen;
        self.fund_accounts
            .grant_tranche(fund, index, amount_fen, paid_on);
        self.flows
            .grant_tranche(fund, index, e.tranche_index, amount_fen, paid_on);
        self.month_out(paid_on, amount_fen);
        Ok(())
    }

    fn grant_evaluation_recorded(
        &mut self,
        disclosed: Disclosed,
        e: &v1::GrantEvaluationRecorded,
    ) -> Result<(), Skip> {
        let index = lookup(&self.grants, "grant", &e.grant_id)?;
        let grant = &mut self.grants[index as usize];
        grant.evaluations.push(Evaluation {
            disclosed,
            id: e.evaluation_id.clone(),
            period: e.period.clone(),
            evaluator: e.evaluator.clone(),
            score: e.score,
            passed: e.passed,
        });
        if e.passed {
            grant.passed_evaluation_since_last_tranche = true;
        }
        let round = &mut self.rounds[grant.round as usize];
        round.evaluations += 1;
        round.evaluations_passed += u64::from(e.passed);
        Ok(())
    }

    fn grant_self_assessment_filed(
        &mut self,
        disclosed: Disclosed,
        e: &v1::GrantSelfAssessmentFiled,
    ) -> Result<(), Skip> {
        let index = lookup(&self.grants, "grant", &e.grant_id)?;
        let grant = &mut self.grants[index as usize];
        self.reports.add(
            &e.report_sha256,
            reports::ReportEntry {
                seq: disclosed.seq,
                kind: ReportKind::GrantSelfAssessment,
                entity: index,
                position: grant.self_assessments.len() as u32,
            },
        );
        grant.self_assessments.push(SelfAssessment {
            disclosed,
            quarter: e.quarter.clone(),
            report_sha256: e.report_sha256.clone(),
            summary: e.summary.clone(),
        });
        self.rounds[grant.round as usize].self_assessments += 1;
        Ok(())
    }

    fn grant_closed(&mut self, disclosed: Disclosed, e: &v1::GrantClosed) -> Result<(), Skip> {
        let index = lookup(&self.grants, "grant", &e.grant_id)?;
        let grant = &self.grants[index as usize];
        let outstanding_fen = grant.amount_fen - grant.disbursed_fen;
        if grant.closure.is_some() || e.returned_fen != outstanding_fen {
            return Err(inconsistent(format!(
                "grant {:?} cannot close returning {} fen (outstanding {outstanding_fen})",
                e.grant_id, e.returned_fen
            )));
        }
        let round = grant.round;
        let fund = self.rounds[round as usize].fund;
        if e.returned_fen > 0 {
            self.post(
                Account::GrantLiability(index),
                Account::FundGrantsReturned(fund),
                e.returned_fen,
            );
        }
        self.grants[index as usize].closure = Some(GrantClosure {
            disclosed,
            disbursed_fen: e.disbursed_fen,
            returned_fen: e.returned_fen,
            reason: e.reason.clone(),
        });
        self.fund_accounts
            .grant_closed(index, e.returned_fen, &e.reason);
        let round_state = &mut self.rounds[round as usize];
        round_state.closed_grants += 1;
        round_state.returned_fen += e.returned_fen;
        Ok(())
    }

    fn project_published(
        &mut self,
        published_on: Day,
        e: &v1::ProjectPublished,
    ) -> Result<(), Skip> {
        let fund = lookup(&self.funds, "fund", &e.fund_id)?;
        let id = self
            .projects
            .vacant(&e.project_id)
            .ok_or_else(|| duplicate("project", &e.project_id))?;
        self.projects.push(Project {
            id,
            title: e.title.clone(),
            description: e.description.clone(),
            published_on,
            need_kind: e.need_kind,
            community: e.community.clone(),
            survey: e.survey.clone(),
            budget_fen: e.budget_fen,
            fund,
            claimant: None,
            claims: Vec::new(),
            sponsor_funding_fen: 0,
            donations_fen: 0,
            spent_fen: 0,
            completion: None,
        });
        Ok(())
    }

    fn project_claimed(&mut self, seq: u64, e: &v1::ProjectClaimed) -> Result<(), Skip> {
        let index = lookup(&self.projects, "project", &e.project_id)?;
        let sponsor = lookup(&self.donors, "sponsor", &e.sponsor_id)?;
        let project = &mut self.projects[index as usize];
        if project.claimant.is_some() {
            return Err(inconsistent(format!(
                "project {:?} is already claimed",
                e.project_id
            )));
        }
        project.claimant = Some(sponsor);
        project.claims.push(Claim {
            sponsor,
            claimed_at_seq: seq,
            released_at_seq: None,
            release_reason: String::new(),
        });
        Ok(())
    }

    fn project_claim_released(
        &mut self,
        seq: u64,
        e: &v1::ProjectClaimReleased,
    ) -> Result<(), Skip> {
        let index = lookup(&self.projects, "project", &e.project_id)?;
        let sponsor = lookup(&self.donors, "sponsor", &e.sponsor_id)?;
        let project = &mut self.projects[index as usize];
        if project.claimant != Some(sponsor) {
            return Err(inconsistent(format!(
                "project {:?} is not claimed by {:?}",
                e.project_id, e.sponsor_id
            )));
        }
        project.claimant = None;
        let claim = project
            .claims
            .last_mut()
            .expect("a current claimant has a claim");
        claim.released_at_seq = Some(seq);
        claim.release_reason = e.reason.clone();
        self.fund_accounts.claim_released(index, sponsor, &e.reason);
        Ok(())
    }

    fn project_funded(&mut self, e: &v1::ProjectFunded) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", e.amount_fen)?;
        let project = lookup(&self.projects, "project", &e.project_id)?;
        let sponsor = lookup(&self.donors, "sponsor", &e.sponsor_id)?;
        let id = self
            .fundings
            .vacant(&e.funding_id)
            .ok_or_else(|| duplicate("project funding", &e.funding_id))?;
        let received_on = Self::day("received_on", &e.received_on)?;
        self.post(
            Account::Bank,
            Account::ProjectSponsorFunding(project),
            amount_fen,
        );
        let project_state = &mut self.projects[project as usize];
        project_state.sponsor_funding_fen += amount_fen;
        let fund = project_state.fund;
        self.funds[fund as usize].total_in_fen += amount_fen;
        self.donors[sponsor as usize].project_funding_fen += amount_fen;
        let funding = self.fundings.len() as EntityIndex;
        self.fund_accounts
            .project_funded(fund, project, sponsor, funding, amount_fen, received_on);
        self.flows
            .project_funding(project, funding, sponsor, amount_fen);
        self.month_in(received_on, amount_fen);
        self.fundings.push(Funding {
            id,
            project,
            sponsor,
            amount_fen,
            channel: e.channel,
            received_on,
        });
        Ok(())
    }

    fn project_completed(
        &mut self,
        disclosed: Disclosed,
        e: &v1::ProjectCompleted,
    ) -> Result<(), Skip> {
        let index = lookup(&self.projects, "project", &e.project_id)?;
        if self.projects[index as usize].completion.is_some() {
            return Err(inconsistent(format!(
                "project {:?} is already completed",
                e.project_id
            )));
        }
        let completed_on = Self::day("completed_on", &e.completed_on)?;
        self.reports.add(
            &e.report_sha256,
            reports::ReportEntry {
                seq: disclosed.seq,
                kind: ReportKind::ProjectCompletion,
                entity: index,
                position: 0,
            },
        );
        self.projects[index as usize].completion = Some(Completion {
            disclosed,
            report_sha256: e.report_sha256.clone(),
            summary: e.summary.clone(),
            completed_on,
        });
        Ok(())
    }

    fn expenditure_made(&mut self, e: &v1::ExpenditureMade) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", e.amount_fen)?;
        let fund = lookup(&self.funds, "fund", &e.fund_id)?;
        let project = lookup_optional(&self.projects, "project", &e.project_id)?;
        let id = self
            .expenditures
            .vacant(&e.expenditure_id)
            .ok_or_else(|| duplicate("expenditure", &e.expenditure_id))?;
        let paid_on = Self::day("paid_on", &e.paid_on)?;
        let debit = match project {
            Some(project) => Account::ProjectExpenses(project),
            None => Account::FundExpenses(fund, e.category),
        };
        self.post(debit, Account::Bank, amount_fen);
        let holding_fund = match project {
            Some(project) => {
                let project = &mut self.projects[project as usize];
                project.spent_fen += amount_fen;
                project.fund
            }
            None => fund,
        };
        self.funds[holding_fund as usize].total_out_fen += amount_fen;
        self.month_out(paid_on, amount_fen);
        let index = self.expenditures.len() as EntityIndex;
        self.fund_accounts
            .expenditure(holding_fund, index, amount_fen, paid_on);
        let pool = project.map_or(flows::PoolOf::Fund(holding_fund), flows::PoolOf::Project);
        self.flows.expenditure(pool, index, amount_fen, paid_on);
        self.expenditures.push(Expenditure {
            id,
            fund,
            project,
            amount_fen,
            payee: self
                .personal_names
                .name(&e.payee, &e.expenditure_id, &e.payee_commitment),
            payee_kind: e.payee_kind,
            purpose: e.purpose.clone(),
            category: e.category,
            receipt_no: e.receipt_no.clone(),
            paid_on,
            reversed_fen: 0,
            payee_erased: false,
        });
        Ok(())
    }

    fn expenditure_reversed(&mut self, e: &v1::ExpenditureReversed) -> Result<(), Skip> {
        let amount_fen = positive("amount_fen", e.amount_fen)?;
        let index = lookup(&self.expenditures, "expenditure", &e.expenditure_id)?;
        let expenditure = &self.expenditures[index as usize];
        if expenditure.reversed_fen + amount_fen > expenditure.amount_fen {
            return Err(inconsistent(format!(
                "expenditure {:?} cannot reverse {amount_fen} fen more",
                e.expenditure_id
            )));
        }
        let (fund, project, category, paid_on) = (
            expenditure.fund,
            expenditure.project,
            expenditure.category,
            expenditure.paid_on,
        );
        let credit = match project {
            Some(project) => Account::ProjectExpenses(project),
            None => Account::FundExpenses(fund, category),
        };
        self.post(Account::Bank, credit, amount_fen);
        self.expenditures[index as usize].reversed_fen += amount_fen;
        let holding_fund = match project {
            Some(project) => {
                let project = &mut self.projects[project as usize];
                project.spent_fen -= amount_fen;
                project.fund
            }
            None => fund,
        };
        self.funds[holding_fund as usize].total_out_fen -= amount_fen;
        self.fund_accounts
            .expenditure_reversed(holding_fund, index, amount_fen, &e.reason);
        self.flows.expenditure_reversed(index, amount_fen);
        // A reversal corrects the booking: the month it was paid in paid less.
        self.month_out(paid_on, -amount_fen);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum GivenBack {
    Refunded,
    Reversed,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API shares one `Projections` between request handlers.
    #[test]
    fn projections_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Projections>();
        shareable::<ProjectionError>();
    }

    #[test]
    fn envelope_without_event_does_not_apply_and_stops_the_projections() {
        let mut projections = Projections::default();
        let not_applied = projections
            .apply(0, &v1::EventEnvelope::default())
            .expect_err("an empty envelope does not apply");
        assert_eq!(not_applied.kind, NotAppliedKind::EmptyEvent);
        assert_eq!(projections.applied_len(), 0);
        assert_eq!(projections.not_applied(), Some(&not_applied));
        assert_eq!(
            projections.apply(0, &v1::EventEnvelope::default()),
            Err(not_applied)
        );
    }
}
