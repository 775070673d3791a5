//! Read-side routes: answers come from the projections, never from the log
//! directly. Every query accepts `min_seq` (read-your-writes).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::Caller;
use crate::backend;
use crate::error::AppError;
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

async fn prepare(state: &AppState, params: Params) -> Result<ReadParams, AppError> {
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    state.wait_for_projections(params.min_seq).await?;
    Ok(params)
}

/// The header naming how many log records the answer reflects, so an auditor
/// (`mingzhang verify URL`) compares it with a replay of exactly that many.
pub const APPLIED_LEN_HEADER: &str = "mingzhang-applied-len";

/// Runs one query against the projections; the name matches the gRPC `Query`.
/// Returns the answer and the number of log records it reflects.
pub fn run_query(
    state: &AppState,
    principal: &crate::auth::Principal,
    query: &str,
    id: &str,
    as_of: Option<&str>,
    page: backend::Page,
) -> Result<(Value, u64), AppError> {
    authorize_query(principal, query, id)?;
    let projections = state.projections.read();
    let answer = backend::query(
        &projections,
        principal.reads_everything(),
        query,
        id,
        as_of,
        page,
    )?;
    Ok((answer, projections.applied_len()))
}

/// The JSON answer, with the number of records it reflects in `APPLIED_LEN_HEADER`.
fn answered((value, applied_len): (Value, u64)) -> Response {
    ([(APPLIED_LEN_HEADER, applied_len.to_string())], Json(value)).into_response()
}

/// Who may read what. The public reads the transparency queries, with
/// personal data masked by `backend::query`; statements and pledges are not
/// public.
fn authorize_query(
    principal: &crate::auth::Principal,
    query: &str,
    id: &str,
) -> Result<(), AppError> {
    use crate::auth::Principal;
    match (query, principal) {
        ("donor-statement", Principal::Sponsor { donor_id, .. }) if donor_id == id => Ok(()),
        ("donor-statement", Principal::Sponsor { donor_id, .. }) => Err(AppError::Forbidden {
            rule: "not_yours",
            detail: format!("this sponsor token reads donor {donor_id:?}'s statement only"),
        }),
        ("donor-statement" | "pledges", principal) => {
            principal.require_full_reader(&format!("the {query} query"))
        }
        _ => Ok(()),
    }
}

macro_rules! list_query {
    ($name:ident, $query:literal) => {
        pub async fn $name(
            State(state): State<AppState>,
            Caller(principal): Caller,
            params: Params,
        ) -> Result<Response, AppError> {
            let params = prepare(&state, params).await?;
            run_query(
                &state,
                &principal,
                $query,
                "",
                params.as_of.as_deref(),
                backend::Page::new(params.offset, params.limit)?,
            )
            .map(answered)
        }
    };
}

list_query!(funds, "funds");
list_query!(campaigns, "campaigns");
list_query!(donations, "donations");
list_query!(pledges, "pledges");
list_query!(grant_rounds, "grant-rounds");
list_query!(grants, "grants");
list_query!(projects, "projects");
list_query!(expenditures, "expenditures");
list_query!(trial_balance, "trial-balance");

async fn campaign(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    let params = prepare(&state, params).await?;
    run_query(
        &state,
        &principal,
        "campaign",
        &id,
        params.as_of.as_deref(),
        backend::Page::new(params.offset, params.limit)?,
    )
    .map(answered)
}

async fn donor_statement(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    let params = prepare(&state, params).await?;
    run_query(
        &state,
        &principal,
        "donor-statement",
        &id,
        params.as_of.as_deref(),
        backend::Page::new(params.offset, params.limit)?,
    )
    .map(answered)
}
