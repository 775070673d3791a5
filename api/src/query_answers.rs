//! One read-model query, answered once: who may ask (`authorize`), what the
//! caller sees (`answer` masks personal data for the public), then the same
//! masked views rendered as JSON for HTTP (`Answer::to_json`) or as typed
//! protobuf for gRPC (`Answer::into_proto`). Neither rendering decides
//! anything, so the two APIs cannot disagree on a fact or on what is hidden.
//!
//! The protobuf rendering destructures every view struct without `..`: a
//! field added to a projection view does not compile until `api.proto` says
//! how gRPC clients see it.

use mingzhang_projections::{
    AccountBalance, CampaignProgress, CampaignYear, ClaimView, CompletionView, Day, DonationEntry,
    DonorView, EvaluationView, ExpenditureEntry, FundBalance, GrantRoundView, GrantView,
    InstalmentStatusView, InstalmentView, PledgeStatusReport, PledgeStatusView, PledgeView,
    ProjectFunder, ProjectView, SelfAssessmentView, SponsorPledgeSummary, TrancheView,
    TrialBalance,
};
use mingzhang_projections::{
    Counterparty, Direction, FlowOutflow, FundMovementEntry, GiftFlow, MovementFilter,
    MovementKind, OutflowFlow, PaidBy, parse_month,
};
use mingzhang_proto::v1 as pb;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Principal;
use crate::backend::{Page, Projections};
use crate::error::AppError;
use crate::state::AppState;

pub use crate::page::public::{ANONYMOUS_DONOR_NAME, PRIVATE_PAYEE};
use crate::page::public::{PublicCounterparty, donor_is_named, public_counterparty, public_payee};

/// The queries there are, named as the gRPC `QueryRequest.query` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    Funds,
    Campaigns,
    Campaign,
    Pledges,
    GrantRounds,
    Grants,
    Projects,
    DonorStatement,
    Donations,
    Expenditures,
    TrialBalance,
    FundTransactions,
    /// 善款去向 of one donation (`id` the donation id).
    DonationFlow,
    /// 善款去向 of one pledge payment (`id` the payment id).
    PledgePaymentFlow,
    /// Which gifts paid one outflow (`id` the outflow's seq, in decimal).
    OutflowFlow,
}

impl QueryKind {
    pub const ALL: [QueryKind; 15] = [
        QueryKind::Funds,
        QueryKind::Campaigns,
        QueryKind::Campaign,
        QueryKind::Pledges,
        QueryKind::GrantRounds,
        QueryKind::Grants,
        QueryKind::Projects,
        QueryKind::DonorStatement,
        QueryKind::Donations,
        QueryKind::Expenditures,
        QueryKind::TrialBalance,
        QueryKind::FundTransactions,
        QueryKind::DonationFlow,
        QueryKind::PledgePaymentFlow,
        QueryKind::OutflowFlow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueryKind::Funds => "funds",
            QueryKind::Campaigns => "campaigns",
            QueryKind::Campaign => "campaign",
            QueryKind::Pledges => "pledges",
            QueryKind::GrantRounds => "grant-rounds",
            QueryKind::Grants => "grants",
            QueryKind::Projects => "projects",
            QueryKind::DonorStatement => "donor-statement",
            QueryKind::Donations => "donations",
            QueryKind::Expenditures => "expenditures",
            QueryKind::TrialBalance => "trial-balance",
            QueryKind::FundTransactions => "fund-transactions",
            QueryKind::DonationFlow => "donation-flow",
            QueryKind::PledgePaymentFlow => "pledge-payment-flow",
            QueryKind::OutflowFlow => "outflow-flow",
        }
    }

    /// The kind named `name`; an unknown name is bad input in the field `query`.
    pub fn parse(name: &str) -> Result<QueryKind, AppError> {
        QueryKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = QueryKind::ALL.iter().map(|kind| kind.name()).collect();
                AppError::invalid(
                    "query",
                    "no_such_query",
                    format!("no query {name:?}; one of {}", known.join(", ")),
                )
            })
    }
}

/// A donation as the donations list shows it to one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDonation {
    /// `donor_id` is already emptied where the caller may not see the donor.
    pub entry: DonationEntry,
    /// The donor's name, "" for a walk-in gift, or `ANONYMOUS_DONOR_NAME`.
    pub donor_name: String,
}

/// One donor's own statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorStatement {
    pub donor: DonorView,
    pub donations: Vec<DonationEntry>,
    pub pledges: Vec<PledgeView>,
}

/// One query's answer, already masked for the caller it was answered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Funds(Vec<FundBalance>),
    Campaigns(Vec<CampaignProgress>),
    Campaign(CampaignProgress),
    Pledges(Vec<PledgeView>),
    /// "pledges" with an `as_of` date.
    PledgeStatus(PledgeStatusReport),
    GrantRounds(Vec<GrantRoundView>),
    Grants(Vec<GrantView>),
    Projects(Vec<ProjectView>),
    DonorStatement(DonorStatement),
    Donations(Vec<ListedDonation>),
    Expenditures(Vec<ExpenditureEntry>),
    TrialBalance(TrialBalance),
    FundTransactions(ListedMovements),
    /// "donation-flow" and "pledge-payment-flow".
    GiftFlow(ListedGiftFlow),
    OutflowFlow(ListedOutflowFlow),
}

/// The filters of the "fund-transactions" query, as the caller sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MovementQuery {
    /// A `MovementKind` name ("donation", "grant_tranche", ...).
    pub kind: Option<String>,
    /// "YYYY-MM".
    pub month: Option<String>,
    /// A counterparty's id or name exactly as the caller sees it (masked
    /// for the public, so a masked name finds only masked rows).
    pub counterparty: Option<String>,
}

impl MovementQuery {
    fn filter(&self) -> Result<MovementFilter, AppError> {
        let kind = match self.kind.as_deref() {
            None | Some("") => None,
            Some(name) => Some(MovementKind::parse(name).ok_or_else(|| {
                let known: Vec<&str> = MovementKind::ALL.iter().map(|kind| kind.name()).collect();
                AppError::invalid(
                    "kind",
                    "no_such_kind",
                    format!("no movement kind {name:?}; one of {}", known.join(", ")),
                )
            })?),
        };
        let month_key = match self.month.as_deref() {
            None | Some("") => None,
            Some(text) => Some(parse_month(text).ok_or_else(|| {
                AppError::invalid(
                    "month",
                    "month_invalid",
                    format!("{text:?} is not a month of the form YYYY-MM"),
                )
            })?),
        };
        Ok(MovementFilter { kind, month_key })
    }
}

/// One movement as the caller may see it: the counterparty already masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMovement {
    pub seq: u64,
    pub date: Day,
    pub kind: MovementKind,
    pub direction: Direction,
    pub amount_fen: i64,
    pub balance_after_fen: i64,
    pub reference_id: String,
    pub reversed_fen: i64,
    pub counterparty: PublicCounterparty,
}

/// A page of one fund's movements with the fund's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMovements {
    pub fund_id: String,
    pub in_fen: i64,
    pub out_fen: i64,
    pub balance_fen: i64,
    pub movements: Vec<ListedMovement>,
    pub next_offset: Option<usize>,
}

/// Runs "fund-transactions" with its filters: the same authorisation,
/// readiness and masking as `run_query` (which answers it unfiltered).
pub fn run_fund_transactions(
    state: &AppState,
    principal: &Principal,
    fund_id: &str,
    query: &MovementQuery,
    page: Page,
) -> Result<(Answer, u64), AppError> {
    authorize(principal, QueryKind::FundTransactions, fund_id)?;
    let projections = state.projections.read();
    if let Some(not_applied) = projections.not_applied() {
        return Err(AppError::Unavailable(not_applied.to_string()));
    }
    let listed = fund_transactions(
        &projections,
        principal.reads_everything(),
        fund_id,
        query,
        page,
    )?;
    Ok((Answer::FundTransactions(listed), projections.applied_len()))
}

/// One fund's movements, masked unless `full_view`; the counterparty filter
/// compares with what the caller sees.
pub fn fund_transactions(
    projections: &Projections,
    full_view: bool,
    fund_id: &str,
    query: &MovementQuery,
    page: Page,
) -> Result<ListedMovements, AppError> {
    let filter = query.filter()?;
    let wanted = query
        .counterparty
        .as_deref()
        .filter(|wanted| !wanted.is_empty());
    let matches = |counterparty: &Counterparty| {
        let shown = public_counterparty(counterparty, full_view);
        wanted.is_some_and(|wanted| shown.id == wanted || shown.name == wanted)
    };
    let counterparty_filter: Option<&dyn Fn(&Counterparty) -> bool> = wanted
        .is_some()
        .then_some(&matches as &dyn Fn(&Counterparty) -> bool);
    let found = projections
        .fund_movements(
            fund_id,
            filter,
            counterparty_filter,
            page.offset,
            page.limit,
        )
        .ok_or_else(|| not_found("fund", fund_id))?;
    Ok(ListedMovements {
        fund_id: found.fund_id,
        in_fen: found.in_fen,
        out_fen: found.out_fen,
        balance_fen: found.balance_fen,
        movements: found
            .movements
            .into_iter()
            .map(|entry| {
                let FundMovementEntry {
                    seq,
                    date,
                    kind,
                    direction,
                    amount_fen,
                    balance_after_fen,
                    reference_id,
                    reversed_fen,
                    counterparty,
                } = entry;
                ListedMovement {
                    seq,
                    date,
                    kind,
                    direction,
                    amount_fen,
                    balance_after_fen,
                    reference_id,
                    reversed_fen,
                    counterparty: public_counterparty(&counterparty, full_view),
                }
            })
            .collect(),
        next_offset: found.next_offset,
    })
}

impl ListedMovements {
    fn to_json(&self) -> Value {
        let movements: Vec<Value> = self
            .movements
            .iter()
            .map(|movement| {
                serde_json::json!({
                    "seq": movement.seq,
                    "date": date(movement.date),
                    "kind": movement.kind.name(),
                    "direction": movement.direction.name(),
                    "amount_fen": movement.amount_fen,
                    "balance_after_fen": movement.balance_after_fen,
                    "reference_id": movement.reference_id,
                    "reversed_fen": movement.reversed_fen,
                    "counterparty_kind": movement.counterparty.kind,
                    "counterparty_id": movement.counterparty.id,
                    "counterparty": movement.counterparty.name,
                })
            })
            .collect();
        let mut answer = serde_json::json!({
            "fund_id": self.fund_id,
            "in_fen": self.in_fen,
            "out_fen": self.out_fen,
            "balance_fen": self.balance_fen,
            "movements": movements,
        });
        if let Some(next_offset) = self.next_offset {
            answer["next_offset"] = Value::from(next_offset);
        }
        answer
    }

    fn into_proto(self) -> pb::FundTransactions {
        pb::FundTransactions {
            fund_id: self.fund_id,
            in_fen: self.in_fen,
            out_fen: self.out_fen,
            balance_fen: self.balance_fen,
            movements: self
                .movements
                .into_iter()
                .map(|movement| pb::FundMovement {
                    seq: movement.seq,
                    date: date(movement.date),
                    kind: movement.kind.name().to_owned(),
                    direction: movement.direction.name().to_owned(),
                    amount_fen: movement.amount_fen,
                    balance_after_fen: movement.balance_after_fen,
                    reference_id: movement.reference_id,
                    reversed_fen: movement.reversed_fen,
                    counterparty_kind: movement.counterparty.kind.to_owned(),
                    counterparty_id: movement.counterparty.id,
                    counterparty: movement.counterparty.name,
                })
                .collect(),
            next_offset: self.next_offset.map(|offset| offset as u64),
        }
    }
}

// -- 善款去向 (projections/src/flows.rs, docs/flows.md) -----------------------

/// What one gift paid for, its giver masked for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGiftFlow {
    pub flow: GiftFlow,
    pub counterparty: PublicCounterparty,
}

/// Which gifts paid one outflow, each giver masked for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOutflowFlow {
    pub outflow: FlowOutflow,
    pub unattributed_fen: i64,
    pub paid_by: Vec<(PaidBy, PublicCounterparty)>,
}

impl ListedGiftFlow {
    pub fn new(flow: GiftFlow, full_view: bool) -> ListedGiftFlow {
        let counterparty = public_counterparty(&flow.counterparty, full_view);
        ListedGiftFlow { flow, counterparty }
    }

    fn to_json(&self) -> Value {
        let GiftFlow {
            kind,
            id,
            date: received_on,
            fund_id,
            restricted_to_project_id,
            counterparty: _,
            amount_fen,
            unspent_fen,
            paid_for,
        } = &self.flow;
        serde_json::json!({
            "kind": kind.name(),
            "id": id,
            "date": date(*received_on),
            "fund_id": fund_id,
            "restricted_to_project_id": restricted_to_project_id,
            "counterparty_kind": self.counterparty.kind,
            "counterparty_id": self.counterparty.id,
            "counterparty": self.counterparty.name,
            "amount_fen": amount_fen,
            "unspent_fen": unspent_fen,
            "paid_for": paid_for.iter().map(flow_outflow_json).collect::<Vec<_>>(),
        })
    }

    fn into_proto(self) -> pb::GiftFlow {
        let GiftFlow {
            kind,
            id,
            date: received_on,
            fund_id,
            restricted_to_project_id,
            counterparty: _,
            amount_fen,
            unspent_fen,
            paid_for,
        } = self.flow;
        pb::GiftFlow {
            kind: kind.name().to_owned(),
            id,
            date: date(received_on),
            fund_id,
            restricted_to_project_id,
            counterparty_kind: self.counterparty.kind.to_owned(),
            counterparty_id: self.counterparty.id,
            counterparty: self.counterparty.name,
            amount_fen,
            unspent_fen,
            paid_for: paid_for.into_iter().map(flow_outflow_proto).collect(),
        }
    }
}

impl ListedOutflowFlow {
    pub fn new(flow: OutflowFlow, full_view: bool) -> ListedOutflowFlow {
        let OutflowFlow {
            outflow,
            paid_by,
            unattributed_fen,
        } = flow;
        ListedOutflowFlow {
            outflow,
            unattributed_fen,
            paid_by: paid_by
                .into_iter()
                .map(|paid| {
                    let shown = public_counterparty(&paid.counterparty, full_view);
                    (paid, shown)
                })
                .collect(),
        }
    }

    fn to_json(&self) -> Value {
        let mut answer = flow_outflow_json(&self.outflow);
        answer["unattributed_fen"] = Value::from(self.unattributed_fen);
        answer["paid_by"] = self
            .paid_by
            .iter()
            .map(|(paid, shown)| {
                serde_json::json!({
                    "kind": paid.kind.name(),
                    "id": paid.id,
                    "date": date(paid.date),
                    "amount_fen": paid.amount_fen,
                    "counterparty_kind": shown.kind,
                    "counterparty_id": shown.id,
                    "counterparty": shown.name,
                })
            })
            .collect();
        answer
    }

    fn into_proto(self) -> pb::OutflowFlow {
        let FlowOutflow {
            seq,
            kind,
            date: paid_on,
            amount_fen,
            reference_id,
            tranche_no,
            project_id,
            fund_id,
        } = self.outflow;
        pb::OutflowFlow {
            seq,
            kind: kind.name().to_owned(),
            date: date(paid_on),
            amount_fen,
            reference_id,
            tranche_no,
            project_id,
            fund_id,
            unattributed_fen: self.unattributed_fen,
            paid_by: self
                .paid_by
                .into_iter()
                .map(|(paid, shown)| {
                    let PaidBy {
                        kind,
                        id,
                        date: received_on,
                        amount_fen,
                        counterparty: _,
                    } = paid;
                    pb::PaidBy {
                        kind: kind.name().to_owned(),
                        id,
                        date: date(received_on),
                        amount_fen,
                        counterparty_kind: shown.kind.to_owned(),
                        counterparty_id: shown.id,
                        counterparty: shown.name,
                    }
                })
                .collect(),
        }
    }
}

fn flow_outflow_json(outflow: &FlowOutflow) -> Value {
    serde_json::json!({
        "seq": outflow.seq,
        "kind": outflow.kind.name(),
        "date": date(outflow.date),
        "amount_fen": outflow.amount_fen,
        "reference_id": outflow.reference_id,
        "tranche_no": outflow.tranche_no,
        "project_id": outflow.project_id,
        "fund_id": outflow.fund_id,
    })
}

fn flow_outflow_proto(outflow: FlowOutflow) -> pb::FlowOutflow {
    let FlowOutflow {
        seq,
        kind,
        date: paid_on,
        amount_fen,
        reference_id,
        tranche_no,
        project_id,
        fund_id,
    } = outflow;
    pb::FlowOutflow {
        seq,
        kind: kind.name().to_owned(),
        date: date(paid_on),
        amount_fen,
        reference_id,
        tranche_no,
        project_id,
        fund_id,
    }
}

/// Runs one query for `principal` (authorised, then answered with the
/// caller's masking) and returns the answer with the number of log records
/// it reflects. Both HTTP and gRPC answer through here.
pub fn run_query(
    state: &AppState,
    principal: &Principal,
    kind: QueryKind,
    id: &str,
    as_of: Option<&str>,
    page: Page,
) -> Result<(Answer, u64), AppError> {
    authorize(principal, kind, id)?;
    if as_of.is_some() && kind != QueryKind::Pledges {
        // Refused rather than ignored: a caller who sent it expected it to count.
        return Err(AppError::invalid(
            "as_of",
            "as_of_not_applicable",
            format!("only the pledges query takes as_of, not {}", kind.name()),
        ));
    }
    let projections = state.projections.read();
    if let Some(not_applied) = projections.not_applied() {
        // Every answer would leave that record, and all after it, out.
        return Err(AppError::Unavailable(not_applied.to_string()));
    }
    let answer = answer(
        &projections,
        principal.reads_everything(),
        kind,
        id,
        as_of,
        page,
    )?;
    Ok((answer, projections.applied_len()))
}

/// Who may read what. The public reads the transparency queries, with
/// personal data masked by `answer`; statements and pledges are not public.
pub fn authorize(principal: &Principal, kind: QueryKind, id: &str) -> Result<(), AppError> {
    match (kind, principal) {
        (QueryKind::DonorStatement, Principal::Sponsor { donor_id, .. }) if donor_id == id => {
            Ok(())
        }
        (QueryKind::DonorStatement, Principal::Sponsor { donor_id, .. }) => {
            Err(AppError::Forbidden {
                rule: "not_yours",
                detail: format!("this sponsor token reads donor {donor_id:?}'s statement only"),
            })
        }
        (QueryKind::DonorStatement | QueryKind::Pledges, principal) => {
            principal.require_full_reader(&format!("the {} query", kind.name()))
        }
        (
            QueryKind::Funds
            | QueryKind::Campaigns
            | QueryKind::Campaign
            | QueryKind::GrantRounds
            | QueryKind::Grants
            | QueryKind::Projects
            | QueryKind::Donations
            | QueryKind::Expenditures
            | QueryKind::TrialBalance
            | QueryKind::FundTransactions
            | QueryKind::DonationFlow
            | QueryKind::PledgePaymentFlow
            | QueryKind::OutflowFlow,
            _,
        ) => Ok(()),
    }
}

fn not_found(what: &str, id: &str) -> AppError {
    AppError::NotFound {
        field: "id".to_owned(),
        rule: "not_found",
        detail: format!("no {what} with id {id:?}"),
    }
}

/// Answers `kind` from the projections. Without `full_view` (the public, a
/// sponsor, an organisation) personal data is masked: donors who did not
/// agree to be named, anonymous gifts and private payees. Authorisation is
/// `authorize`'s.
pub fn answer(
    projections: &Projections,
    full_view: bool,
    kind: QueryKind,
    id: &str,
    as_of: Option<&str>,
    page: Page,
) -> Result<Answer, AppError> {
    Ok(match kind {
        QueryKind::Funds => Answer::Funds(projections.fund_balances()),
        QueryKind::Campaigns => Answer::Campaigns(projections.campaigns()),
        QueryKind::Campaign => Answer::Campaign(
            projections
                .campaign(id)
                .ok_or_else(|| not_found("campaign", id))?,
        ),
        QueryKind::Pledges => match as_of {
            Some(as_of) => {
                Answer::PledgeStatus(projections.pledge_status(as_of).map_err(|error| {
                    AppError::invalid("as_of", "date_invalid", error.to_string())
                })?)
            }
            None => Answer::Pledges(projections.pledges()),
        },
        QueryKind::GrantRounds => Answer::GrantRounds(projections.grant_rounds()),
        QueryKind::Grants => Answer::Grants(projections.grants()),
        QueryKind::Projects => Answer::Projects(projections.projects()),
        QueryKind::TrialBalance => Answer::TrialBalance(projections.trial_balance()),
        QueryKind::FundTransactions => Answer::FundTransactions(fund_transactions(
            projections,
            full_view,
            id,
            &MovementQuery::default(),
            page,
        )?),
        QueryKind::DonationFlow => Answer::GiftFlow(ListedGiftFlow::new(
            projections
                .donation_flow(id)
                .ok_or_else(|| not_found("donation", id))?,
            full_view,
        )),
        QueryKind::PledgePaymentFlow => Answer::GiftFlow(ListedGiftFlow::new(
            projections
                .pledge_payment_flow(id)
                .ok_or_else(|| not_found("pledge payment", id))?,
            full_view,
        )),
        QueryKind::OutflowFlow => {
            let no_outflow = || AppError::NotFound {
                field: "seq".to_owned(),
                rule: "not_found",
                detail: format!("no record moving money out at seq {id:?}"),
            };
            let seq: u64 = id.parse().map_err(|_| no_outflow())?;
            Answer::OutflowFlow(ListedOutflowFlow::new(
                projections.outflow_flow(seq).ok_or_else(no_outflow)?,
                full_view,
            ))
        }
        QueryKind::Donations => Answer::Donations(
            projections
                .donations(page.offset, page.limit)
                .into_iter()
                .map(|entry| listed_donation(projections, full_view, entry))
                .collect(),
        ),
        QueryKind::Expenditures => Answer::Expenditures(
            projections
                .expenditures(page.offset, page.limit)
                .into_iter()
                .map(|mut entry| {
                    if !full_view {
                        entry.payee = public_payee(&entry.payee, &entry.payee_kind);
                    }
                    entry
                })
                .collect(),
        ),
        QueryKind::DonorStatement => {
            let donor = projections
                .donor(id)
                .ok_or_else(|| not_found("donor", id))?;
            Answer::DonorStatement(DonorStatement {
                donor,
                donations: projections.donations_of(id),
                pledges: projections.pledges_of(id),
            })
        }
    })
}

/// The public sees a donor only by `page::public::donor_is_named`, the rule
/// the page and its exports follow too.
fn listed_donation(
    projections: &Projections,
    full_view: bool,
    mut entry: DonationEntry,
) -> ListedDonation {
    let donor = (!entry.donor_id.is_empty())
        .then(|| projections.donor(&entry.donor_id))
        .flatten();
    let named = donor
        .as_ref()
        .is_some_and(|donor| donor_is_named(donor.show_name_publicly, entry.anonymous));
    if full_view || named {
        let donor_name = donor.map(|donor| donor.name).unwrap_or_default();
        ListedDonation { entry, donor_name }
    } else {
        entry.donor_id.clear();
        ListedDonation {
            entry,
            donor_name: ANONYMOUS_DONOR_NAME.to_owned(),
        }
    }
}

fn to_json<T: Serialize>(value: T) -> Value {
    serde_json::to_value(value).expect("views serialise")
}

impl Answer {
    /// The HTTP JSON answer: lists are bare arrays, fields as the views
    /// serialise them.
    pub fn to_json(&self) -> Value {
        match self {
            Answer::Funds(funds) => to_json(funds),
            Answer::Campaigns(campaigns) => to_json(campaigns),
            Answer::Campaign(campaign) => to_json(campaign),
            Answer::Pledges(pledges) => to_json(pledges),
            Answer::PledgeStatus(report) => to_json(report),
            Answer::GrantRounds(rounds) => to_json(rounds),
            Answer::Grants(grants) => to_json(grants),
            Answer::Projects(projects) => to_json(projects),
            Answer::TrialBalance(trial_balance) => to_json(trial_balance),
            Answer::Expenditures(expenditures) => to_json(expenditures),
            Answer::FundTransactions(listed) => listed.to_json(),
            Answer::GiftFlow(flow) => flow.to_json(),
            Answer::OutflowFlow(flow) => flow.to_json(),
            Answer::Donations(donations) => Value::Array(
                donations
                    .iter()
                    .map(|donation| {
                        let mut entry = to_json(&donation.entry);
                        entry["donor_name"] = Value::String(donation.donor_name.clone());
                        entry
                    })
                    .collect(),
            ),
            Answer::DonorStatement(statement) => serde_json::json!({
                "donor": to_json(&statement.donor),
                "donations": to_json(&statement.donations),
                "pledges": to_json(&statement.pledges),
            }),
        }
    }

    /// The gRPC answer: the same views as typed messages (`api.proto`).
    pub fn into_proto(self) -> pb::query_response::Answer {
        use pb::query_response::Answer as Typed;
        match self {
            Answer::Funds(funds) => Typed::Funds(pb::FundsAnswer {
                funds: funds.into_iter().map(fund_balance).collect(),
            }),
            Answer::Campaigns(campaigns) => Typed::Campaigns(pb::CampaignsAnswer {
                campaigns: campaigns.into_iter().map(campaign_progress).collect(),
            }),
            Answer::Campaign(campaign) => Typed::Campaign(campaign_progress(campaign)),
            Answer::Pledges(pledges) => Typed::Pledges(pb::PledgesAnswer {
                pledges: pledges.into_iter().map(pledge_view).collect(),
            }),
            Answer::PledgeStatus(report) => Typed::PledgeStatus(pledge_status_report(report)),
            Answer::GrantRounds(rounds) => Typed::GrantRounds(pb::GrantRoundsAnswer {
                grant_rounds: rounds.into_iter().map(grant_round_view).collect(),
            }),
            Answer::Grants(grants) => Typed::Grants(pb::GrantsAnswer {
                grants: grants.into_iter().map(grant_view).collect(),
            }),
            Answer::Projects(projects) => Typed::Projects(pb::ProjectsAnswer {
                projects: projects.into_iter().map(project_view).collect(),
            }),
            Answer::DonorStatement(DonorStatement {
                donor,
                donations,
                pledges,
            }) => Typed::DonorStatement(pb::DonorStatement {
                donor: Some(donor_view(donor)),
                donations: donations
                    .into_iter()
                    .map(|entry| donation_entry(entry, None))
                    .collect(),
                pledges: pledges.into_iter().map(pledge_view).collect(),
            }),
            Answer::Donations(donations) => Typed::Donations(pb::DonationsAnswer {
                donations: donations
                    .into_iter()
                    .map(|listed| donation_entry(listed.entry, Some(listed.donor_name)))
                    .collect(),
            }),
            Answer::Expenditures(expenditures) => Typed::Expenditures(pb::ExpendituresAnswer {
                expenditures: expenditures.into_iter().map(expenditure_entry).collect(),
            }),
            Answer::TrialBalance(trial_balance) => {
                Typed::TrialBalance(trial_balance_message(trial_balance))
            }
            Answer::FundTransactions(listed) => Typed::FundTransactions(listed.into_proto()),
            Answer::GiftFlow(flow) => Typed::GiftFlow(flow.into_proto()),
            Answer::OutflowFlow(flow) => Typed::OutflowFlow(flow.into_proto()),
        }
    }
}

/// A view enum's name exactly as its JSON rendering spells it ("overdue").
fn json_name<T: Serialize>(value: T) -> String {
    match to_json(value) {
        Value::String(name) => name,
        other => panic!("a status enum serialises to a string, not {other}"),
    }
}

/// "YYYY-MM-DD", or "" for an unknown day: the JSON rendering.
fn date(day: Day) -> String {
    day.render()
}

fn fund_balance(view: FundBalance) -> pb::FundBalance {
    let FundBalance {
        fund_id,
        name,
        kind,
        restriction,
        available_fen,
        restricted_to_projects_fen,
        committed_to_grants_fen,
        total_held_fen,
        total_in_fen,
        total_out_fen,
    } = view;
    pb::FundBalance {
        fund_id,
        name,
        kind,
        restriction,
        available_fen,
        restricted_to_projects_fen,
        committed_to_grants_fen,
        total_held_fen,
        total_in_fen,
        total_out_fen,
    }
}

fn campaign_progress(view: CampaignProgress) -> pb::CampaignProgress {
    let CampaignProgress {
        campaign_id,
        name,
        fund_id,
        total_target_fen,
        first_year,
        raised_fen,
        donations_fen,
        pledge_payments_fen,
        pledged_fen,
        target_reached_bp,
        years,
    } = view;
    pb::CampaignProgress {
        campaign_id,
        name,
        fund_id,
        total_target_fen,
        first_year,
        raised_fen,
        donations_fen,
        pledge_payments_fen,
        pledged_fen,
        target_reached_bp,
        years: years.into_iter().map(campaign_year).collect(),
    }
}

fn campaign_year(view: CampaignYear) -> pb::CampaignYear {
    let CampaignYear {
        year,
        target_fen,
        raised_fen,
        donations_fen,
        pledge_payments_fen,
        pledged_fen,
        target_reached_bp,
    } = view;
    pb::CampaignYear {
        year,
        target_fen,
        raised_fen,
        donations_fen,
        pledge_payments_fen,
        pledged_fen,
        target_reached_bp,
    }
}

fn pledge_view(view: PledgeView) -> pb::PledgeView {
    let PledgeView {
        pledge_id,
        donor_id,
        campaign_id,
        fund_id,
        total_fen,
        paid_fen,
        cancelled,
        cancelled_fen,
        outstanding_fen,
        instalments,
    } = view;
    pb::PledgeView {
        pledge_id,
        donor_id,
        campaign_id,
        fund_id,
        total_fen,
        paid_fen,
        cancelled,
        cancelled_fen,
        outstanding_fen,
        instalments: instalments.into_iter().map(instalment_view).collect(),
    }
}

fn instalment_view(view: InstalmentView) -> pb::InstalmentView {
    let InstalmentView {
        due_on,
        amount_fen,
        paid_fen,
    } = view;
    pb::InstalmentView {
        due_on: date(due_on),
        amount_fen,
        paid_fen,
    }
}

fn pledge_status_report(view: PledgeStatusReport) -> pb::PledgeStatusReport {
    let PledgeStatusReport {
        as_of,
        pledges,
        sponsors,
    } = view;
    pb::PledgeStatusReport {
        as_of: date(as_of),
        pledges: pledges.into_iter().map(pledge_status_view).collect(),
        sponsors: sponsors.into_iter().map(sponsor_pledge_summary).collect(),
    }
}

fn pledge_status_view(view: PledgeStatusView) -> pb::PledgeStatusView {
    let PledgeStatusView {
        pledge_id,
        donor_id,
        cancelled,
        instalments,
    } = view;
    pb::PledgeStatusView {
        pledge_id,
        donor_id,
        cancelled,
        instalments: instalments
            .into_iter()
            .map(instalment_status_view)
            .collect(),
    }
}

fn instalment_status_view(view: InstalmentStatusView) -> pb::InstalmentStatusView {
    let InstalmentStatusView {
        due_on,
        amount_fen,
        paid_fen,
        unpaid_fen,
        status,
    } = view;
    pb::InstalmentStatusView {
        due_on: date(due_on),
        amount_fen,
        paid_fen,
        unpaid_fen,
        status: json_name(status),
    }
}

fn sponsor_pledge_summary(view: SponsorPledgeSummary) -> pb::SponsorPledgeSummary {
    let SponsorPledgeSummary {
        donor_id,
        name,
        pledged_fen,
        paid_fen,
        fulfilled_instalments,
        fulfilled_fen,
        due_instalments,
        due_fen,
        overdue_instalments,
        overdue_fen,
    } = view;
    pb::SponsorPledgeSummary {
        donor_id,
        name,
        pledged_fen,
        paid_fen,
        fulfilled_instalments,
        fulfilled_fen,
        due_instalments,
        due_fen,
        overdue_instalments,
        overdue_fen,
    }
}

fn grant_round_view(view: GrantRoundView) -> pb::GrantRoundView {
    let GrantRoundView {
        round_id,
        fund_id,
        name,
        budget_fen,
        applications_open_on,
        applications_close_on,
        applications,
        requested_fen,
        reviewed,
        shortlisted,
        awarded,
        awarded_fen,
        disbursed_fen,
        evaluations,
        evaluations_passed,
        self_assessments,
        closed_grants,
        returned_fen,
        budget_remaining_fen,
    } = view;
    pb::GrantRoundView {
        round_id,
        fund_id,
        name,
        budget_fen,
        applications_open_on: date(applications_open_on),
        applications_close_on: date(applications_close_on),
        applications,
        requested_fen,
        reviewed,
        shortlisted,
        awarded,
        awarded_fen,
        disbursed_fen,
        evaluations,
        evaluations_passed,
        self_assessments,
        closed_grants,
        returned_fen,
        budget_remaining_fen,
    }
}

fn grant_view(view: GrantView) -> pb::GrantView {
    let GrantView {
        grant_id,
        round_id,
        application_id,
        organisation_id,
        organisation_name,
        title,
        amount_fen,
        awarded_on,
        disbursed_fen,
        outstanding_commitment_fen,
        tranches,
        evaluations,
        self_assessments,
        closed,
        returned_fen,
        close_reason,
    } = view;
    pb::GrantView {
        grant_id,
        round_id,
        application_id,
        organisation_id,
        organisation_name,
        title,
        amount_fen,
        awarded_on: date(awarded_on),
        disbursed_fen,
        outstanding_commitment_fen,
        tranches: tranches.into_iter().map(tranche_view).collect(),
        evaluations: evaluations.into_iter().map(evaluation_view).collect(),
        self_assessments: self_assessments
            .into_iter()
            .map(self_assessment_view)
            .collect(),
        closed,
        returned_fen,
        close_reason,
    }
}

fn tranche_view(view: TrancheView) -> pb::TrancheView {
    let TrancheView {
        index,
        amount_fen,
        requires_evaluation,
        status,
        paid_fen,
        paid_on,
    } = view;
    pb::TrancheView {
        index,
        amount_fen,
        requires_evaluation,
        status: json_name(status),
        paid_fen,
        paid_on: date(paid_on),
    }
}

fn evaluation_view(view: EvaluationView) -> pb::EvaluationView {
    let EvaluationView {
        evaluation_id,
        period,
        evaluator,
        score,
        passed,
    } = view;
    pb::EvaluationView {
        evaluation_id,
        period,
        evaluator,
        score,
        passed,
    }
}

fn self_assessment_view(view: SelfAssessmentView) -> pb::SelfAssessmentView {
    let SelfAssessmentView {
        quarter,
        report_sha256,
        summary,
    } = view;
    pb::SelfAssessmentView {
        quarter,
        report_sha256,
        summary,
    }
}

fn project_view(view: ProjectView) -> pb::ProjectView {
    let ProjectView {
        project_id,
        title,
        need_kind,
        community,
        survey,
        budget_fen,
        fund_id,
        status,
        claimant_id,
        claim_history,
        funders,
        sponsor_funding_fen,
        donations_fen,
        funding_received_fen,
        spent_fen,
        balance_fen,
        completion,
    } = view;
    pb::ProjectView {
        project_id,
        title,
        need_kind,
        community,
        survey,
        budget_fen,
        fund_id,
        status: json_name(status),
        claimant_id,
        claim_history: claim_history.into_iter().map(claim_view).collect(),
        funders: funders.into_iter().map(project_funder).collect(),
        sponsor_funding_fen,
        donations_fen,
        funding_received_fen,
        spent_fen,
        balance_fen,
        completion: completion.map(completion_view),
    }
}

fn claim_view(view: ClaimView) -> pb::ClaimView {
    let ClaimView {
        sponsor_id,
        claimed_at_seq,
        released_at_seq,
        release_reason,
        funded_fen,
    } = view;
    pb::ClaimView {
        sponsor_id,
        claimed_at_seq,
        released_at_seq,
        release_reason,
        funded_fen,
    }
}

fn project_funder(view: ProjectFunder) -> pb::ProjectFunder {
    let ProjectFunder {
        sponsor_id,
        funded_fen,
    } = view;
    pb::ProjectFunder {
        sponsor_id,
        funded_fen,
    }
}

fn completion_view(view: CompletionView) -> pb::CompletionView {
    let CompletionView {
        report_sha256,
        summary,
        completed_on,
    } = view;
    pb::CompletionView {
        report_sha256,
        summary,
        completed_on: date(completed_on),
    }
}

fn donor_view(view: DonorView) -> pb::DonorView {
    let DonorView {
        donor_id,
        name,
        kind,
        alliance_member,
        show_name_publicly,
        donated_fen,
        donations,
        pledged_fen,
        pledge_paid_fen,
        project_funding_fen,
        projects_claimed,
    } = view;
    pb::DonorView {
        donor_id,
        name,
        kind,
        alliance_member,
        show_name_publicly,
        donated_fen,
        donations,
        pledged_fen,
        pledge_paid_fen,
        project_funding_fen,
        projects_claimed,
    }
}

/// `donor_name` is the list's (`ListedDonation`); a statement has none.
fn donation_entry(view: DonationEntry, donor_name: Option<String>) -> pb::DonationEntry {
    let DonationEntry {
        donation_id,
        donor_id,
        fund_id,
        campaign_id,
        project_id,
        amount_fen,
        channel,
        received_on,
        anonymous,
        refunded_fen,
        reversed_fen,
        net_fen,
        refunded,
    } = view;
    pb::DonationEntry {
        donation_id,
        donor_id,
        fund_id,
        campaign_id,
        project_id,
        amount_fen,
        channel,
        received_on: date(received_on),
        anonymous,
        refunded_fen,
        reversed_fen,
        net_fen,
        refunded,
        donor_name,
    }
}

fn expenditure_entry(view: ExpenditureEntry) -> pb::ExpenditureEntry {
    let ExpenditureEntry {
        expenditure_id,
        fund_id,
        project_id,
        amount_fen,
        payee,
        payee_kind,
        purpose,
        category,
        receipt_no,
        paid_on,
        reversed_fen,
        reversed,
    } = view;
    pb::ExpenditureEntry {
        expenditure_id,
        fund_id,
        project_id,
        amount_fen,
        payee,
        payee_kind,
        purpose,
        category,
        receipt_no,
        paid_on: date(paid_on),
        reversed_fen,
        reversed,
    }
}

fn trial_balance_message(view: TrialBalance) -> pb::TrialBalance {
    let TrialBalance {
        accounts,
        total_fen,
    } = view;
    pb::TrialBalance {
        accounts: accounts
            .into_iter()
            .map(
                |AccountBalance {
                     account,
                     balance_fen,
                 }| pb::AccountBalance {
                    account,
                    balance_fen,
                },
            )
            .collect(),
        total_fen,
    }
}

#[cfg(test)]
mod tests {
    use mingzhang_ledger::scenario;
    use mingzhang_proto::Message;
    use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

    use super::*;
    use crate::test_support::kaixuan_projections;

    /// Every query of the demo, with the id and date it needs.
    fn demo_queries() -> Vec<(QueryKind, &'static str, Option<&'static str>)> {
        QueryKind::ALL
            .into_iter()
            .map(|kind| match kind {
                QueryKind::Campaign => (kind, scenario::CAMPAIGN_ID, None),
                QueryKind::DonorStatement => (kind, "unit-01", None),
                QueryKind::FundTransactions => (kind, scenario::CHARITY_FUND_ID, None),
                QueryKind::DonationFlow => (kind, "don-pd2015-unit-02", None),
                QueryKind::PledgePaymentFlow => (kind, "pay-unit-02-2015", None),
                QueryKind::OutflowFlow => (kind, "241", None),
                _ => (kind, "", None),
            })
            .chain([(QueryKind::Pledges, "", Some("2017-07-01"))])
            .collect()
    }

    /// The typed answer in protobuf's JSON mapping with the proto's own field
    /// names and 64-bit integers as numbers: what a gRPC client reads.
    fn typed_as_json(answer: Answer) -> Value {
        let response = pb::QueryResponse {
            applied_len: 0,
            answer: Some(answer.into_proto()),
        };
        let descriptor = DescriptorPool::decode(mingzhang_proto::FILE_DESCRIPTOR_SET)
            .expect("the build embeds a valid descriptor set")
            .get_message_by_name("mingzhang.v1.QueryResponse")
            .expect("the schema defines QueryResponse");
        let message = DynamicMessage::decode(descriptor, response.encode_to_vec().as_slice())
            .expect("a QueryResponse decodes as one");
        let options = SerializeOptions::new()
            .use_proto_field_name(true)
            .stringify_64_bit_integers(false)
            .skip_default_fields(false);
        let mut json = message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .expect("serialises");
        let object = json.as_object_mut().expect("an object");
        object.remove("applied_len");
        assert_eq!(object.len(), 1, "exactly one answer is set: {json}");
        let (_, answer) = object.iter().next().expect("one answer");
        answer.clone()
    }

    /// JSON `null` is what an unset optional field is in protobuf's mapping.
    fn without_nulls(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(key, value)| (key, without_nulls(value)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
            other => other,
        }
    }

    #[test]
    fn every_query_tells_grpc_the_same_facts_under_the_same_names_as_http() {
        let projections = kaixuan_projections();
        for full_view in [true, false] {
            for (kind, id, as_of) in demo_queries() {
                let answer = answer(&projections, full_view, kind, id, as_of, Page::default())
                    .unwrap_or_else(|error| panic!("{}: {error}", kind.name()));
                let http = without_nulls(answer.to_json());
                let typed = typed_as_json(answer);
                // A bare HTTP list sits in the answer message's only field.
                let typed = match (&http, typed) {
                    (Value::Array(_), Value::Object(mut wrapper)) => {
                        assert_eq!(wrapper.len(), 1, "{}: {wrapper:?}", kind.name());
                        let (_, list) = wrapper.iter_mut().next().expect("one field");
                        list.take()
                    }
                    (_, typed) => typed,
                };
                assert_eq!(http, typed, "{} (full view: {full_view})", kind.name());
            }
        }
    }

    #[test]
    fn the_public_sees_neither_unnamed_donors_nor_private_payees_over_grpc() {
        let projections = kaixuan_projections();
        let public = |kind| {
            answer(&projections, false, kind, "", None, Page::default())
                .expect("public query")
                .into_proto()
        };
        let pb::query_response::Answer::Donations(donations) = public(QueryKind::Donations) else {
            panic!("a donations answer");
        };
        let by_id = |id: &str| {
            donations
                .donations
                .iter()
                .find(|donation| donation.donation_id == id)
                .cloned()
                .unwrap_or_else(|| panic!("{id} listed"))
        };
        // 王丽华 agreed to be named; 李建国 gave anonymously; 张敏 did not agree.
        let named = by_id("don-2015-resident-0");
        assert_eq!(named.donor_id, "resident-wang");
        assert_eq!(named.donor_name.as_deref(), Some("王丽华"));
        for masked in ["don-2015-resident-1", "don-2015-resident-2"] {
            let masked = by_id(masked);
            assert_eq!(masked.donor_id, "", "{masked:?}");
            assert_eq!(masked.donor_name.as_deref(), Some(ANONYMOUS_DONOR_NAME));
        }
        let pb::query_response::Answer::Expenditures(expenditures) =
            public(QueryKind::Expenditures)
        else {
            panic!("an expenditures answer");
        };
        let counsel = expenditures
            .expenditures
            .iter()
            .find(|expenditure| expenditure.expenditure_id == "exp-special-counsel")
            .expect("the counsel's fee is listed");
        assert_eq!(counsel.payee, PRIVATE_PAYEE);
        let fund_accounts =
            [scenario::CHARITY_FUND_ID, scenario::SPECIAL_SUPPORT_FUND_ID].map(|fund_id| {
                answer(
                    &projections,
                    false,
                    QueryKind::FundTransactions,
                    fund_id,
                    None,
                    Page::default(),
                )
                .expect("public query")
                .into_proto()
            });
        for (kind, typed) in [
            QueryKind::Funds,
            QueryKind::Projects,
            QueryKind::Donations,
            QueryKind::Expenditures,
        ]
        .map(|kind| (kind, public(kind)))
        .into_iter()
        .chain(fund_accounts.map(|typed| (QueryKind::FundTransactions, typed)))
        {
            let typed = format!("{typed:?}");
            for hidden in ["李建国", "张敏", "resident-li", "resident-zhang", "刘志强"] {
                assert!(!typed.contains(hidden), "{} shows {hidden}", kind.name());
            }
        }
        let audited = answer(
            &projections,
            true,
            QueryKind::Expenditures,
            "",
            None,
            Page::default(),
        )
        .expect("auditor query")
        .into_proto();
        assert!(
            format!("{audited:?}").contains("刘志强"),
            "auditors see all"
        );
    }

    #[test]
    fn gift_flows_mask_the_giver_for_the_public_by_the_one_rule_and_unknown_ids_are_not_found() {
        let projections = kaixuan_projections();
        // 李建国 gave anonymously.
        let flow = |full_view| {
            let answer = answer(
                &projections,
                full_view,
                QueryKind::DonationFlow,
                "don-2015-resident-1",
                None,
                Page::default(),
            )
            .expect("a gift of the demo");
            let json = answer.to_json();
            (json, format!("{:?}", answer.into_proto()))
        };
        let (public, typed) = flow(false);
        assert_eq!(public["counterparty"], ANONYMOUS_DONOR_NAME);
        assert_eq!(public["counterparty_id"], "");
        for shown in [public.to_string(), typed] {
            assert!(!shown.contains("李建国") && !shown.contains("resident-li"));
        }
        let (audited, _) = flow(true);
        assert_eq!(audited["counterparty_id"], "resident-li");
        let unspent = public["unspent_fen"].as_i64().unwrap();
        let paid: i64 = public["paid_for"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["amount_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(unspent + paid, public["amount_fen"].as_i64().unwrap());

        for (kind, id, field) in [
            (QueryKind::DonationFlow, "nobody", "id"),
            (QueryKind::PledgePaymentFlow, "don-2015-resident-1", "id"),
            (QueryKind::OutflowFlow, "0", "seq"),
            (QueryKind::OutflowFlow, "not-a-seq", "seq"),
        ] {
            match answer(&projections, false, kind, id, None, Page::default()) {
                Err(AppError::NotFound {
                    field: named, rule, ..
                }) => assert_eq!((named.as_str(), rule), (field, "not_found")),
                other => panic!("{} {id}: expected not found, got {other:?}", kind.name()),
            }
        }
    }

    #[test]
    fn an_unknown_query_kind_is_bad_input_naming_the_query_field() {
        for kind in QueryKind::ALL {
            assert_eq!(QueryKind::parse(kind.name()).expect("known"), kind);
        }
        match QueryKind::parse("balances") {
            Err(AppError::Invalid { field, rule, .. }) => {
                assert_eq!((field.as_str(), rule), ("query", "no_such_query"))
            }
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn unknown_campaign_or_donor_is_not_found_naming_the_id() {
        let projections = kaixuan_projections();
        for kind in [QueryKind::Campaign, QueryKind::DonorStatement] {
            match answer(&projections, true, kind, "nobody", None, Page::default()) {
                Err(AppError::NotFound { field, rule, .. }) => {
                    assert_eq!((field.as_str(), rule), ("id", "not_found"))
                }
                other => panic!("{}: expected not found, got {other:?}", kind.name()),
            }
        }
    }
}
