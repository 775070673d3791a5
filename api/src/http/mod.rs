//! The HTTP JSON API. Handlers only translate (JSON <-> commands and query
//! results) and authorise; every business rule is the ledger's.
//!
//! `router(state)` merges one router per area so other modules (the public
//! transparency page) plug in beside them.

pub mod commands;
pub mod json;
pub mod queries;
pub mod records;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::auth::Principal;
use crate::backend::Committed;
use crate::error::AppError;
use crate::state::AppState;
use commands::*;
use json::{ApiJson, BODY_LEN_MAX};

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .merge(command_routes())
        .merge(queries::routes())
        .merge(records::routes())
        .merge(ops_routes())
        .merge(page_placeholder_routes())
        .fallback(|| async {
            AppError::NotFound {
                field: "path".into(),
                rule: "no_such_route",
                detail: "no such route".into(),
            }
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LEN_MAX))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
        .with_state(state)
}

fn command_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/funds", post(submit::<OpenFund>).get(queries::funds))
        .route(
            "/v1/campaigns",
            post(submit::<OpenCampaign>).get(queries::campaigns),
        )
        .route("/v1/donors", post(submit::<RegisterDonor>))
        .route("/v1/organisations", post(submit::<RegisterOrganisation>))
        .route(
            "/v1/donations",
            post(submit::<ReceiveDonation>).get(queries::donations),
        )
        .route(
            "/v1/donations/{id}/refunds",
            post(submit_at::<RefundDonation>),
        )
        .route(
            "/v1/donations/{id}/reversal",
            post(submit_at::<ReverseDonation>),
        )
        .route(
            "/v1/pledges",
            post(submit::<MakePledge>).get(queries::pledges),
        )
        .route(
            "/v1/pledges/{id}/payments",
            post(submit_at::<ReceivePledgePayment>),
        )
        .route(
            "/v1/pledges/{id}/amendments",
            post(submit_at::<AmendPledge>),
        )
        .route(
            "/v1/pledges/{id}/cancellation",
            post(submit_at::<CancelPledge>),
        )
        .route(
            "/v1/grant-rounds",
            post(submit::<OpenGrantRound>).get(queries::grant_rounds),
        )
        .route(
            "/v1/grant-rounds/{id}/applications",
            post(submit_at::<SubmitApplication>),
        )
        .route(
            "/v1/grant-applications/{id}/reviews",
            post(submit_at::<ReviewApplication>),
        )
        .route(
            "/v1/grant-applications/{id}/shortlist",
            post(submit_at::<Shortlist>),
        )
        .route("/v1/grants", post(submit::<AwardGrant>).get(queries::grants))
        .route(
            "/v1/grants/{id}/disbursements",
            post(submit_at::<DisburseTranche>),
        )
        .route(
            "/v1/grants/{id}/evaluations",
            post(submit_at::<RecordEvaluation>),
        )
        .route(
            "/v1/grants/{id}/self-assessments",
            post(submit_at::<FileSelfAssessment>),
        )
        .route("/v1/grants/{id}/closure", post(submit_at::<CloseGrant>))
        .route(
            "/v1/projects",
            post(submit::<PublishProject>).get(queries::projects),
        )
        .route("/v1/projects/{id}/claim", post(submit_at::<ClaimProject>))
        .route("/v1/projects/{id}/release", post(submit_at::<ReleaseClaim>))
        .route("/v1/projects/{id}/fundings", post(submit_at::<FundProject>))
        .route(
            "/v1/projects/{id}/completion",
            post(submit_at::<CompleteProject>),
        )
        .route(
            "/v1/expenditures",
            post(submit::<MakeExpenditure>).get(queries::expenditures),
        )
        .route(
            "/v1/expenditures/{id}/reversal",
            post(submit_at::<ReverseExpenditure>),
        )
}

fn ops_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::openapi::serve))
}

/// The transparency page's module replaces this with the real page.
fn page_placeholder_routes() -> Router<AppState> {
    Router::new().route(
        "/",
        get(|| async { "Mingzhang (明账): the transparency page is coming; see /v1/funds\n" }),
    )
}

async fn readyz(State(state): State<AppState>) -> Response {
    let durable = state.store.head().len;
    let applied = *state.applied_len.borrow();
    let body = serde_json::json!({"log_records": durable, "applied_records": applied});
    let status = if applied >= durable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state
        .metrics
        .render(state.store.head().len, *state.applied_len.borrow());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

/// The caller, from the `Authorization` header (none = public).
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let header = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                AppError::Unauthenticated("Authorization header is not ASCII".into())
            })?),
        };
        state.tokens.authenticate(header).map(Caller)
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => value.to_str().map(|key| Some(key.to_owned())).map_err(|_| {
            AppError::malformed(
                "Idempotency-Key",
                "idempotency_key_invalid",
                "printable ASCII only",
            )
        }),
    }
}

#[derive(Serialize)]
pub struct RecordRef {
    pub seq: u64,
    pub hash: String,
}

#[derive(Serialize)]
pub struct WriteResponse {
    pub records: Vec<RecordRef>,
    pub idempotent_replay: bool,
}

impl From<Committed> for WriteResponse {
    fn from(committed: Committed) -> WriteResponse {
        WriteResponse {
            records: committed
                .records
                .iter()
                .map(|meta| RecordRef {
                    seq: meta.seq,
                    hash: hex::encode(meta.hash),
                })
                .collect(),
            idempotent_replay: committed.idempotent_replay,
        }
    }
}

async fn submit<B: CommandBody>(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<B>,
) -> Result<Json<WriteResponse>, AppError> {
    let event = body.into_event(String::new())?;
    let key = idempotency_key(&headers)?;
    let committed = state
        .submit(&principal, key, event)
        .await?;
    Ok(Json(committed.into()))
}

async fn submit_at<B: CommandBody>(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<B>,
) -> Result<Json<WriteResponse>, AppError> {
    let event = body.into_event(id)?;
    let key = idempotency_key(&headers)?;
    let committed = state
        .submit(&principal, key, event)
        .await?;
    Ok(Json(committed.into()))
}
