//! 善款去向 (docs/flows.md): `GET /v1/flows/donations/{id}` and
//! `/v1/flows/pledge-payments/{id}` (what a gift paid for, what is still
//! unspent) and `/v1/flows/outflows/{seq}` (which gifts paid an outflow).
//! Public; givers masked by `page::public` as on every public surface.
//! `.../{id}/receipt` answers a flow receipt (`flow_receipt_calls`:
//! operators and auditors, as receipts).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use mingzhang_audit::flow_receipt::{FlowReceipt, GiftKind};
use serde::Deserialize;

use super::Caller;
use super::queries::answered;
use crate::backend;
use crate::error::AppError;
use crate::proof_calls::ProofCalls;
use crate::query_answers::{QueryKind, authorize, run_query};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/flows/donations/{id}", get(donation_flow))
        .route("/v1/flows/pledge-payments/{id}", get(pledge_payment_flow))
        .route("/v1/flows/outflows/{seq}", get(outflow_flow))
}

/// The flow receipt routes: they need the transparency log, so they come
/// with the proof routes.
pub fn receipt_routes(calls: Arc<ProofCalls>) -> Router<AppState> {
    Router::new()
        .route(
            "/v1/flows/donations/{id}/receipt",
            get(donation_flow_receipt),
        )
        .route(
            "/v1/flows/pledge-payments/{id}/receipt",
            get(pledge_payment_flow_receipt),
        )
        .layer(Extension(calls))
}

async fn donation_flow_receipt(
    State(state): State<AppState>,
    Extension(calls): Extension<Arc<ProofCalls>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<FlowReceipt>, AppError> {
    crate::flow_receipt_calls::flow_receipt(
        &state,
        calls.transparency(),
        &principal,
        GiftKind::Donation,
        &id,
    )
    .await
    .map(Json)
}

async fn pledge_payment_flow_receipt(
    State(state): State<AppState>,
    Extension(calls): Extension<Arc<ProofCalls>>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Json<FlowReceipt>, AppError> {
    crate::flow_receipt_calls::flow_receipt(
        &state,
        calls.transparency(),
        &principal,
        GiftKind::PledgePayment,
        &id,
    )
    .await
    .map(Json)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FlowParams {
    pub min_seq: Option<u64>,
}

type Params = Result<Query<FlowParams>, axum::extract::rejection::QueryRejection>;

async fn flow(
    state: AppState,
    principal: crate::auth::Principal,
    kind: QueryKind,
    id: String,
    params: Params,
) -> Result<Response, AppError> {
    authorize(&principal, kind, &id)?;
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    state.wait_for_projections(params.min_seq).await?;
    run_query(
        &state,
        &principal,
        kind,
        &id,
        None,
        backend::Page::default(),
    )
    .map(answered)
}

async fn donation_flow(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    flow(state, principal, QueryKind::DonationFlow, id, params).await
}

async fn pledge_payment_flow(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    flow(state, principal, QueryKind::PledgePaymentFlow, id, params).await
}

async fn outflow_flow(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(seq): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    flow(state, principal, QueryKind::OutflowFlow, seq, params).await
}
