//! `GET /v1/funds/{id}/transactions`: one fund's account, every movement in
//! and out in date order with the running balance, paged and filtered.
//! Public; names masked by `page::public` as on every public surface.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::Caller;
use super::queries::answered;
use crate::backend;
use crate::error::AppError;
use crate::query_answers::{MovementQuery, run_fund_transactions};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/funds/{id}/transactions", get(fund_transactions))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TransactionParams {
    pub min_seq: Option<u64>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
    pub kind: Option<String>,
    pub month: Option<String>,
    pub counterparty: Option<String>,
}

async fn fund_transactions(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    params: Result<Query<TransactionParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    let page = backend::Page::new(params.offset, params.limit)?;
    state.wait_for_projections(params.min_seq).await?;
    let query = MovementQuery {
        kind: params.kind,
        month: params.month,
        counterparty: params.counterparty,
    };
    run_fund_transactions(&state, &principal, &id, &query, page).map(answered)
}
