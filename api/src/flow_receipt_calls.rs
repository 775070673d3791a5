//! Flow receipts as the server answers them (`GET /v1/flows/donations/{id}/receipt`
//! and `/v1/flows/pledge-payments/{id}/receipt`): who may ask, and a
//! receipt whose allocations are exactly those of the records its
//! checkpoint signs. The format and its offline check are
//! `mingzhang_audit::flow_receipt` (docs/proofs.md, "Flow receipts").
//!
//! Operators and auditors only, as receipts: a flow receipt carries whole
//! records, and an expenditure's record names its payee even when the payee
//! is a private person, whom no sponsor may see (`page::public`).

use std::sync::Arc;

use mingzhang_audit::flow_receipt::{FlowReceipt, GiftKind, PAID_FOR_MAX};
use mingzhang_ledger::merkle::Hash;
use mingzhang_projections::IncomeKind;

use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;
use crate::transparency::{ProjectionsAt, Transparency};

/// Times a receipt is assembled again when another signer published a
/// larger checkpoint between the read models' snapshot and the signing
/// (the receipt's allocations must be those at its checkpoint's size).
const SIGNING_RACES_MAX: usize = 4;

/// The flow receipt of the gift `id` of `kind`.
pub async fn flow_receipt(
    state: &AppState,
    transparency: &Arc<Transparency>,
    principal: &Principal,
    kind: GiftKind,
    id: &str,
) -> Result<FlowReceipt, AppError> {
    // Permission before anything about the gift, so a refusal says nothing
    // of whether it exists.
    principal.require_full_reader("flow receipts")?;
    for _ in 0..SIGNING_RACES_MAX {
        let (state, transparency, id) = (state.clone(), transparency.clone(), id.to_owned());
        let assembled =
            tokio::task::spawn_blocking(move || assemble(&state, &transparency, kind, &id))
                .await
                .map_err(|error| AppError::Internal(format!("flow receipt task: {error}")))??;
        if let Some(receipt) = assembled {
            return Ok(receipt);
        }
    }
    Err(AppError::Unavailable(
        "checkpoints were signed faster than a flow receipt could be assembled".into(),
    ))
}

/// The receipt, or `None` when another signer got ahead (try again).
fn assemble(
    state: &AppState,
    transparency: &Transparency,
    kind: GiftKind,
    id: &str,
) -> Result<Option<FlowReceipt>, AppError> {
    let (flow, gift_seq, at) = {
        let projections = state.projections.read();
        if let Some(not_applied) = projections.not_applied() {
            return Err(AppError::Unavailable(not_applied.to_string()));
        }
        let (income_kind, flow, what) = match kind {
            GiftKind::Donation => (
                IncomeKind::Donation,
                projections.donation_flow(id),
                "donation",
            ),
            GiftKind::PledgePayment => (
                IncomeKind::PledgePayment,
                projections.pledge_payment_flow(id),
                "pledge payment",
            ),
        };
        let flow = flow.ok_or_else(|| AppError::NotFound {
            field: "id".to_owned(),
            rule: "not_found",
            detail: format!("no {what} with id {id:?}"),
        })?;
        let gift_seq = projections
            .gift_record_seq(income_kind, id)
            .expect("a gift with a flow has a record");
        (flow, gift_seq, ProjectionsAt::taken_from(&projections))
    };
    if flow.paid_for.len() > PAID_FOR_MAX {
        return Err(AppError::Conflict {
            field: "id".to_owned(),
            rule: "too_many_outflows",
            detail: format!(
                "this gift paid {} outflows; a flow receipt proves at most {PAID_FOR_MAX}",
                flow.paid_for.len()
            ),
        });
    }
    let store = state.store.as_ref();
    let (size, note) = match transparency.latest() {
        Some((size, note)) if size == at.size => (size, note),
        _ => transparency
            .sign_at(store, at)
            .map_err(|error| AppError::Internal(format!("signing a checkpoint: {error:#}")))?,
    };
    if size != at.size {
        return Ok(None);
    }
    let receipt = FlowReceipt::assemble(
        &flow,
        gift_seq,
        &note,
        |seq| {
            store
                .read(seq, 1)?
                .pop()
                .ok_or_else(|| anyhow::anyhow!("record {seq} vanished from the log"))
        },
        |seq| {
            transparency
                .inclusion_proof(store, seq, size)?
                .proof
                .iter()
                .map(|text| {
                    let mut hash: Hash = [0; 32];
                    hex::decode_to_slice(text, &mut hash)?;
                    Ok(hash)
                })
                .collect()
        },
    )
    .map_err(|error| AppError::Internal(format!("flow receipt: {error:#}")))?;
    Ok(Some(receipt))
}
