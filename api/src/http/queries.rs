//! Read-side routes: answers come from the projections, never from the log
//! directly. Every query accepts `min_seq` (read-your-writes).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::Caller;
use crate::auth::Principal;
use crate::backend;
use crate::error::AppError;
use crate::query_answers::{Answer, QueryKind, authorize, run_query};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/funds", get(funds))
        .route("/v1/campaigns", get(campaigns))
        .route("/v1/donations", get(donations))
        .route("/v1/pledges", get(pledges))
        .route("/v1/grant-rounds", get(grant_rounds))
        .route("/v1/grants", get(grants))
        .route("/v1/projects", get(projects))
        .route("/v1/expenditures", get(expenditures))
        .route("/v1/campaigns/{id}", get(campaign))
        .route("/v1/donors/{id}/statement", get(donor_statement))
        .route("/v1/trial-balance", get(trial_balance))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    pub min_seq: Option<u64>,
    pub as_of: Option<String>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

type Params = Result<Query<ReadParams>, axum::extract::rejection::QueryRejection>;

/// The caller's right to this read first (401/403, as for a write), then
/// the query string (422) and the wait for `min_seq` (400/503).
async fn prepare(
    state: &AppState,
    principal: &Principal,
    kind: QueryKind,
    id: &str,
    params: Params,
) -> Result<ReadParams, AppError> {
    authorize(principal, kind, id)?;
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    state.wait_for_projections(params.min_seq).await?;
    Ok(params)
}

/// A path segment that is not text (percent-encoded bytes that are not
/// UTF-8): answered as problem+json like every other error.
fn bad_path(error: PathRejection) -> AppError {
    AppError::malformed("id", "bad_path", error.body_text())
}

/// The header naming how many log records the answer reflects, so an auditor
/// (`mingzhang verify URL`) compares it with a replay of exactly that many.
pub use mingzhang_audit::remote::APPLIED_LEN_HEADER;

/// The JSON answer, with the number of records it reflects in `APPLIED_LEN_HEADER`.
pub(crate) fn answered((answer, applied_len): (Answer, u64)) -> Response {
    (
        [(APPLIED_LEN_HEADER, applied_len.to_string())],
        Json(answer.to_json()),
    )
        .into_response()
}

macro_rules! list_query {
    ($name:ident, $kind:expr) => {
        pub async fn $name(
            State(state): State<AppState>,
            Caller(principal): Caller,
            params: Params,
        ) -> Result<Response, AppError> {
            let params = prepare(&state, &principal, $kind, "", params).await?;
            run_query(
                &state,
                &principal,
                $kind,
                "",
                params.as_of.as_deref(),
                backend::Page::new(params.offset, params.limit)?,
            )
            .map(answered)
        }
    };
}

list_query!(funds, QueryKind::Funds);
list_query!(campaigns, QueryKind::Campaigns);
list_query!(donations, QueryKind::Donations);
list_query!(pledges, QueryKind::Pledges);
list_query!(grant_rounds, QueryKind::GrantRounds);
list_query!(grants, QueryKind::Grants);
list_query!(projects, QueryKind::Projects);
list_query!(expenditures, QueryKind::Expenditures);
list_query!(trial_balance, QueryKind::TrialBalance);

async fn campaign(
    State(state): State<AppState>,
    Caller(principal): Caller,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, AppError> {
    let Path(id) = id.map_err(bad_path)?;
    let params = prepare(&state, &principal, QueryKind::Campaign, &id, params).await?;
    run_query(
        &state,
        &principal,
        QueryKind::Campaign,
        &id,
        params.as_of.as_deref(),
        backend::Page::new(params.offset, params.limit)?,
    )
    .map(answered)
}

async fn donor_statement(
    State(state): State<AppState>,
    Caller(principal): Caller,
    id: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Response, AppError> {
    let Path(id) = id.map_err(bad_path)?;
    let params = prepare(&state, &principal, QueryKind::DonorStatement, &id, params).await?;
    run_query(
        &state,
        &principal,
        QueryKind::DonorStatement,
        &id,
        params.as_of.as_deref(),
        backend::Page::new(params.offset, params.limit)?,
    )
    .map(answered)
}
