//! 善款去向 (docs/flows.md): `GET /v1/flows/donations/{id}` and
//! `/v1/flows/pledge-payments/{id}` (what a gift paid for, what is still
//! unspent) and `/v1/flows/outflows/{seq}` (which gifts paid an outflow).
//! Public; givers masked by `page::public` as on every public surface.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::Caller;
use super::queries::answered;
use crate::backend;
use crate::error::AppError;
use crate::query_answers::{QueryKind, authorize, run_query};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/flows/donations/{id}", get(donation_flow))
        .route("/v1/flows/pledge-payments/{id}", get(pledge_payment_flow))
        .route("/v1/flows/outflows/{seq}", get(outflow_flow))
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
