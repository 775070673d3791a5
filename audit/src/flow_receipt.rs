//! Flow receipts (善款去向, provable): a gift's record and the record of
//! each outflow it paid, each with an inclusion proof against one signed
//! checkpoint, and the amounts the allocation rule (docs/flows.md) gave
//! each. `mingzhang verify flow FILE` checks one offline; the JSON format
//! and what cannot be checked offline are in docs/proofs.md, "Flow receipts".

use std::path::Path;

use anyhow::Context;
use mingzhang_ledger::checkpoint::VerifierKey;
use mingzhang_ledger::merkle::Hash;
use mingzhang_ledger::receipt::{Receipt, ReceiptError};
use mingzhang_ledger::record::StoredRecord;
use mingzhang_projections::{GiftFlow, IncomeKind, OutflowKind};
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;
use mingzhang_proto::v1::event_envelope::Event;
use serde::{Deserialize, Serialize};

/// The `format` of every flow receipt of this layout.
pub const FLOW_RECEIPT_FORMAT: &str = "mingzhang-flow-receipt/1";

/// Outflows one flow receipt proves, at most: about 1.5 KB each, so a
/// receipt stays under 2 MB and a verifier's work is bounded. A gift that
/// paid more is refused by the server (`too_many_outflows`).
pub const PAID_FOR_MAX: usize = 1000;

/// What was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiftKind {
    Donation,
    PledgePayment,
}

/// What money left for; the names of `OutflowKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaidForKind {
    GrantTranche,
    Expenditure,
    DonationRefund,
    DonationReversal,
}

impl From<OutflowKind> for PaidForKind {
    fn from(kind: OutflowKind) -> PaidForKind {
        match kind {
            OutflowKind::GrantTranche => PaidForKind::GrantTranche,
            OutflowKind::Expenditure => PaidForKind::Expenditure,
            OutflowKind::DonationRefund => PaidForKind::DonationRefund,
            OutflowKind::DonationReversal => PaidForKind::DonationReversal,
        }
    }
}

/// The gift, its record and the record's inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenGift {
    pub kind: GiftKind,
    /// The donation id or pledge payment id, as recorded.
    pub id: String,
    /// As recorded.
    pub amount_fen: i64,
    pub seq: u64,
    /// Base64 (standard, padded) of the exact stored record bytes.
    pub record: String,
    pub inclusion_proof: Vec<String>,
}

/// One outflow the gift paid (part of), its record and inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenOutflow {
    pub kind: PaidForKind,
    /// The grant, expenditure or donation (refunded, reversed) the record names.
    pub reference_id: String,
    /// A grant tranche's number, from 1; 0 for other kinds.
    pub tranche_no: u32,
    /// What this gift paid of the outflow (allocated by docs/flows.md).
    pub amount_fen: i64,
    pub seq: u64,
    pub record: String,
    pub inclusion_proof: Vec<String>,
}

/// A gift, the outflows it paid and what of it is unspent, all proven
/// against one signed checkpoint; the allocations are those of the log's
/// first `tree_size` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowReceipt {
    pub format: String,
    pub tree_size: u64,
    pub checkpoint: String,
    pub gift: ProvenGift,
    pub unspent_fen: i64,
    /// In log order (seq strictly increasing), at most `PAID_FOR_MAX`.
    pub paid_for: Vec<ProvenOutflow>,
}

/// Why a flow receipt is refused; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowReceiptError {
    #[error("format: {found:?} is not {FLOW_RECEIPT_FORMAT:?}")]
    UnknownFormat { found: String },
    #[error("paid_for: {count} outflows, at most {PAID_FOR_MAX}")]
    TooManyOutflows { count: usize },
    /// A record, its proof or the checkpoint (`field` is `gift` or `paid_for[i]`).
    #[error("{field}: {error}")]
    NotProven { field: String, error: ReceiptError },
    #[error("{field}: the record is not {expected}: {found}")]
    WrongRecord {
        field: String,
        expected: String,
        found: String,
    },
    #[error("{field}: amount_fen {amount_fen} must be positive")]
    AmountNotPositive { field: String, amount_fen: i64 },
    #[error("{field}: amount_fen {amount_fen} is more than the outflow's recorded {recorded_fen}")]
    MoreThanTheOutflow {
        field: String,
        amount_fen: i64,
        recorded_fen: i64,
    },
    #[error("{field}: seq {seq} is not after {after} (outflows follow the gift, in log order)")]
    OutOfOrder { field: String, seq: u64, after: u64 },
    #[error(
        "{field}: paid from {outflow_pool} but the gift is {gift_pool} (a restriction crossed)"
    )]
    RestrictionCrossed {
        field: String,
        outflow_pool: String,
        gift_pool: String,
    },
    #[error("unspent_fen: {unspent_fen} must not be negative")]
    NegativeUnspent { unspent_fen: i64 },
    #[error(
        "unspent_fen: {unspent_fen} + paid_for {paid_fen} = {sum_fen}, not the gift's {amount_fen}"
    )]
    DoesNotAddUp {
        unspent_fen: i64,
        paid_fen: i64,
        sum_fen: i64,
        amount_fen: i64,
    },
}

/// What a flow receipt that verifies proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFlow {
    pub gift_kind: GiftKind,
    pub gift_id: String,
    pub gift_seq: u64,
    pub amount_fen: i64,
    pub unspent_fen: i64,
    /// (kind, reference id, tranche no., allocated fen, seq) per outflow.
    pub paid_for: Vec<(PaidForKind, String, u32, i64, u64)>,
    pub tree_size: u64,
}

/// What an offline check cannot establish, said by the docs and the CLI.
pub const NOT_CHECKED_OFFLINE: &str = "that first-in, first-out gave exactly these amounts, \
and that no other outflow was paid from this gift, follows only from the earlier records: \
`mingzhang verify` over the whole log recomputes every allocation";

impl FlowReceipt {
    /// Assembles the receipt of `gift` (recorded at `gift_seq`) as the read
    /// models computed it over exactly the records `signed_checkpoint`
    /// signs. `read` gives a record; `prove` its inclusion proof in the tree
    /// of the checkpoint's size.
    pub fn assemble(
        gift: &GiftFlow,
        gift_seq: u64,
        signed_checkpoint: &str,
        mut read: impl FnMut(u64) -> anyhow::Result<StoredRecord>,
        mut prove: impl FnMut(u64) -> anyhow::Result<Vec<Hash>>,
    ) -> anyhow::Result<FlowReceipt> {
        let kind = match gift.kind {
            IncomeKind::Donation => GiftKind::Donation,
            IncomeKind::PledgePayment => GiftKind::PledgePayment,
            IncomeKind::ProjectFunding => anyhow::bail!("no flow receipts of project fundings"),
        };
        anyhow::ensure!(
            gift.paid_for.len() <= PAID_FOR_MAX,
            "{} outflows, at most {PAID_FOR_MAX}",
            gift.paid_for.len()
        );
        let mut proven = |seq: u64| -> anyhow::Result<Receipt> {
            Ok(Receipt::build(
                &read(seq)?,
                &prove(seq)?,
                signed_checkpoint,
            )?)
        };
        let gift_receipt = proven(gift_seq)?;
        let paid_for = gift
            .paid_for
            .iter()
            .map(|paid| {
                let receipt = proven(paid.seq)?;
                Ok(ProvenOutflow {
                    kind: paid.kind.into(),
                    reference_id: paid.reference_id.clone(),
                    tranche_no: paid.tranche_no,
                    amount_fen: paid.amount_fen,
                    seq: paid.seq,
                    record: receipt.record,
                    inclusion_proof: receipt.inclusion_proof,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(FlowReceipt {
            format: FLOW_RECEIPT_FORMAT.to_owned(),
            tree_size: gift_receipt.tree_size,
            checkpoint: gift_receipt.checkpoint,
            gift: ProvenGift {
                kind,
                id: gift.id.clone(),
                amount_fen: gift.amount_fen,
                seq: gift_seq,
                record: gift_receipt.record,
                inclusion_proof: gift_receipt.inclusion_proof,
            },
            unspent_fen: gift.unspent_fen,
            paid_for,
        })
    }

    /// Checks, in order: the format; the checkpoint's signature by `key`
    /// and each record's inclusion proof against its root (as a receipt,
    /// docs/proofs.md §6); that the gift's record records this gift and
    /// amount and each outflow's record the outflow named, after the gift
    /// and in log order; that each allocation is positive and at most what
    /// its outflow recorded; that no outflow the records show to be another
    /// pool's was paid; and that the allocations plus `unspent_fen` are the
    /// gift's amount, with `unspent_fen` never negative.
    pub fn verify(&self, key: &VerifierKey) -> Result<VerifiedFlow, FlowReceiptError> {
        if self.format != FLOW_RECEIPT_FORMAT {
            return Err(FlowReceiptError::UnknownFormat {
                found: self.format.clone(),
            });
        }
        if self.paid_for.len() > PAID_FOR_MAX {
            return Err(FlowReceiptError::TooManyOutflows {
                count: self.paid_for.len(),
            });
        }
        let gift_event = self.proven_event(
            "gift",
            self.gift.seq,
            &self.gift.record,
            &self.gift.inclusion_proof,
            key,
        )?;
        let gift = GiftRecord::of(&self.gift, &gift_event)?;
        let mut after = self.gift.seq;
        let mut paid_fen = 0i64;
        let mut paid_for = Vec::with_capacity(self.paid_for.len());
        for (position, paid) in self.paid_for.iter().enumerate() {
            let field = format!("paid_for[{position}]");
            if paid.seq <= after {
                return Err(FlowReceiptError::OutOfOrder {
                    field,
                    seq: paid.seq,
                    after,
                });
            }
            after = paid.seq;
            let event =
                self.proven_event(&field, paid.seq, &paid.record, &paid.inclusion_proof, key)?;
            let outflow = OutflowRecord::of(&field, paid, &event)?;
            if paid.amount_fen <= 0 {
                return Err(FlowReceiptError::AmountNotPositive {
                    field,
                    amount_fen: paid.amount_fen,
                });
            }
            if paid.amount_fen > outflow.amount_fen {
                return Err(FlowReceiptError::MoreThanTheOutflow {
                    field,
                    amount_fen: paid.amount_fen,
                    recorded_fen: outflow.amount_fen,
                });
            }
            gift.check_pool(&field, &outflow)?;
            // Each positive and at most one recorded amount (< 2^63 / 2^10), so no overflow.
            paid_fen += paid.amount_fen;
            paid_for.push((
                paid.kind,
                paid.reference_id.clone(),
                paid.tranche_no,
                paid.amount_fen,
                paid.seq,
            ));
        }
        if self.unspent_fen < 0 {
            return Err(FlowReceiptError::NegativeUnspent {
                unspent_fen: self.unspent_fen,
            });
        }
        let sum_fen = paid_fen.checked_add(self.unspent_fen);
        if sum_fen != Some(self.gift.amount_fen) {
            return Err(FlowReceiptError::DoesNotAddUp {
                unspent_fen: self.unspent_fen,
                paid_fen,
                sum_fen: sum_fen.unwrap_or(i64::MAX),
                amount_fen: self.gift.amount_fen,
            });
        }
        Ok(VerifiedFlow {
            gift_kind: self.gift.kind,
            gift_id: self.gift.id.clone(),
            gift_seq: self.gift.seq,
            amount_fen: self.gift.amount_fen,
            unspent_fen: self.unspent_fen,
            paid_for,
            tree_size: self.tree_size,
        })
    }

    /// The event of one record, once its receipt verifies.
    fn proven_event(
        &self,
        field: &str,
        seq: u64,
        record: &str,
        inclusion_proof: &[String],
        key: &VerifierKey,
    ) -> Result<Event, FlowReceiptError> {
        let receipt = Receipt {
            seq,
            record: record.to_owned(),
            tree_size: self.tree_size,
            inclusion_proof: inclusion_proof.to_vec(),
            checkpoint: self.checkpoint.clone(),
        };
        let verified = receipt
            .verify(key)
            .map_err(|error| FlowReceiptError::NotProven {
                field: field.to_owned(),
                error,
            })?;
        let wrong = |found: String| FlowReceiptError::WrongRecord {
            field: field.to_owned(),
            expected: "an event".to_owned(),
            found,
        };
        EventEnvelope::decode(verified.record.payload())
            .map_err(|error| wrong(format!("undecodable ({error})")))?
            .event
            .ok_or_else(|| wrong("an envelope with no event".to_owned()))
    }
}

/// The pool a gift's money sits in, as far as its own record tells.
struct GiftRecord {
    /// `Some(project)` for money restricted to a project; `None` for a
    /// fund's pooled money.
    project_id: Option<String>,
    /// The fund of a donation; unknown offline for a pledge payment (the
    /// pledge names it, in an earlier record).
    fund_id: Option<String>,
    donation_id: Option<String>,
}

impl GiftRecord {
    fn of(gift: &ProvenGift, event: &Event) -> Result<GiftRecord, FlowReceiptError> {
        let (id, amount_fen, record) = match (gift.kind, event) {
            (GiftKind::Donation, Event::DonationReceived(e)) => (
                &e.donation_id,
                e.amount_fen,
                GiftRecord {
                    project_id: (!e.project_id.is_empty()).then(|| e.project_id.clone()),
                    fund_id: Some(e.fund_id.clone()),
                    donation_id: Some(e.donation_id.clone()),
                },
            ),
            (GiftKind::PledgePayment, Event::PledgePaymentReceived(e)) => (
                &e.payment_id,
                e.amount_fen,
                GiftRecord {
                    project_id: None,
                    fund_id: None,
                    donation_id: None,
                },
            ),
            (kind, event) => {
                return Err(FlowReceiptError::WrongRecord {
                    field: "gift".into(),
                    expected: format!("a {kind:?}"),
                    found: event_name(event),
                });
            }
        };
        if *id != gift.id || amount_fen != gift.amount_fen {
            return Err(FlowReceiptError::WrongRecord {
                field: "gift".into(),
                expected: format!("gift {} of {} fen", gift.id, gift.amount_fen),
                found: format!("gift {id} of {amount_fen} fen"),
            });
        }
        Ok(record)
    }

    /// Refuses an outflow whose record shows it was paid from another pool.
    /// Grant tranches and refunds of other gifts name no fund or project in
    /// their own record, so only their kind is checked here.
    fn check_pool(&self, field: &str, outflow: &OutflowRecord) -> Result<(), FlowReceiptError> {
        let crossed = |outflow_pool: String| {
            let gift_pool = match (&self.project_id, &self.fund_id) {
                (Some(project), _) => format!("restricted to project {project}"),
                (None, Some(fund)) => format!("fund {fund}'s pooled money"),
                (None, None) => "a fund's pooled money".to_owned(),
            };
            Err(FlowReceiptError::RestrictionCrossed {
                field: field.to_owned(),
                outflow_pool,
                gift_pool,
            })
        };
        match outflow {
            OutflowRecord {
                donation_id: Some(donation),
                ..
            } if self.donation_id.as_ref() == Some(donation) => Ok(()),
            OutflowRecord {
                expenditure: Some((fund, project)),
                ..
            } => match (&self.project_id, project) {
                (Some(gift_project), Some(project)) if gift_project == project => Ok(()),
                (None, None)
                    if self
                        .fund_id
                        .as_ref()
                        .is_none_or(|gift_fund| gift_fund == fund) =>
                {
                    Ok(())
                }
                (_, Some(project)) => crossed(format!("project {project}'s restricted money")),
                (_, None) => crossed(format!("fund {fund}'s pooled money")),
            },
            OutflowRecord { grant: true, .. } if self.project_id.is_some() => {
                crossed("a grant round's pooled money".to_owned())
            }
            _ => Ok(()),
        }
    }
}

/// What an outflow's own record says.
struct OutflowRecord {
    amount_fen: i64,
    /// (fund, project) of an expenditure.
    expenditure: Option<(String, Option<String>)>,
    /// The donation a refund or reversal gives back.
    donation_id: Option<String>,
    grant: bool,
}

impl OutflowRecord {
    fn of(
        field: &str,
        paid: &ProvenOutflow,
        event: &Event,
    ) -> Result<OutflowRecord, FlowReceiptError> {
        let named =
            |id: &str, tranche_no: u32| id == paid.reference_id && tranche_no == paid.tranche_no;
        let record = match (paid.kind, event) {
            (PaidForKind::GrantTranche, Event::GrantTrancheDisbursed(e))
                if named(&e.grant_id, e.tranche_index.saturating_add(1)) =>
            {
                OutflowRecord {
                    amount_fen: e.amount_fen,
                    expenditure: None,
                    donation_id: None,
                    grant: true,
                }
            }
            (PaidForKind::Expenditure, Event::ExpenditureMade(e))
                if named(&e.expenditure_id, 0) =>
            {
                OutflowRecord {
                    amount_fen: e.amount_fen,
                    expenditure: Some((
                        e.fund_id.clone(),
                        (!e.project_id.is_empty()).then(|| e.project_id.clone()),
                    )),
                    donation_id: None,
                    grant: false,
                }
            }
            (PaidForKind::DonationRefund, Event::DonationRefunded(e))
                if named(&e.donation_id, 0) =>
            {
                OutflowRecord {
                    amount_fen: e.amount_fen,
                    expenditure: None,
                    donation_id: Some(e.donation_id.clone()),
                    grant: false,
                }
            }
            (PaidForKind::DonationReversal, Event::DonationReversed(e))
                if named(&e.donation_id, 0) =>
            {
                OutflowRecord {
                    amount_fen: e.amount_fen,
                    expenditure: None,
                    donation_id: Some(e.donation_id.clone()),
                    grant: false,
                }
            }
            (kind, event) => {
                return Err(FlowReceiptError::WrongRecord {
                    field: field.to_owned(),
                    expected: format!(
                        "{kind:?} {} (tranche_no {})",
                        paid.reference_id, paid.tranche_no
                    ),
                    found: event_name(event),
                });
            }
        };
        Ok(record)
    }
}

/// The event's name and main id, for a refusal.
fn event_name(event: &Event) -> String {
    let text = format!("{event:?}");
    let cut = text
        .char_indices()
        .nth(120)
        .map_or(text.len(), |(at, _)| at);
    text[..cut].to_owned()
}

/// Reads and checks the flow receipt in `file` under `key`; `Err` names
/// what failed.
pub fn check_flow_receipt_file(file: &Path, key: &VerifierKey) -> anyhow::Result<VerifiedFlow> {
    let receipt: FlowReceipt = serde_json::from_str(
        &std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
    )
    .with_context(|| format!("{} is not a flow receipt", file.display()))?;
    receipt
        .verify(key)
        .map_err(|error| anyhow::anyhow!("flow receipt verification FAILED: {error}"))
}

/// Fen as CNY with two decimals.
pub fn cny(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        fen.unsigned_abs() / 100,
        fen.unsigned_abs() % 100
    )
}

/// The CLI's report of a verified flow receipt: what it proves, then what
/// it cannot.
pub fn render_flow(verified: &VerifiedFlow, key_name: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "OK: {} {} of {} CNY (record {}) and the {} outflows it paid are in the log of {} records signed by {}",
        match verified.gift_kind {
            GiftKind::Donation => "donation",
            GiftKind::PledgePayment => "pledge payment",
        },
        verified.gift_id,
        cny(verified.amount_fen),
        verified.gift_seq,
        verified.paid_for.len(),
        verified.tree_size,
        key_name
    );
    for (kind, reference, tranche_no, amount_fen, seq) in &verified.paid_for {
        let tranche = if *tranche_no > 0 {
            format!(" tranche {tranche_no}")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  paid {} CNY of {} {reference}{tranche} (record {seq})",
            cny(*amount_fen),
            serde_json::to_value(kind)
                .expect("a kind serialises")
                .as_str()
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "  unspent {} CNY", cny(verified.unspent_fen));
    let _ = writeln!(out, "NOT CHECKED OFFLINE: {NOT_CHECKED_OFFLINE}");
    out
}
