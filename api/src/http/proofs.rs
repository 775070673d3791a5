//! The transparency log over HTTP: signed checkpoints, the public key,
//! inclusion and consistency proofs (public: they reveal only hashes),
//! receipts (they carry a whole record, so only full readers get them, and
//! a sponsor those of its own donations), signing on demand and revoking a
//! receipt link (operators). The rules are `proof_calls`'; these
//! handlers only translate.

use axum::extract::rejection::PathRejection;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::{Caller, IdempotencyKey};
use crate::error::AppError;
use crate::proof_calls::ProofCalls;
use crate::receipt_links::{ReceiptCode, Revocation};
use crate::state::{AppState, validate_idempotency_key};
use crate::transparency::{ConsistencyProof, InclusionProof};

pub fn routes(calls: Arc<ProofCalls>) -> Router<AppState> {
    Router::new()
        .route("/v1/checkpoint", get(latest_checkpoint))
        .route("/v1/checkpoints", post(sign_checkpoint))
        .route("/v1/checkpoints/{size}", get(checkpoint_at))
        .route("/v1/public-key", get(public_key))
        .route("/v1/proofs/inclusion", get(inclusion))
        .route("/v1/proofs/consistency", get(consistency))
        .route("/v1/receipts/{seq}", get(receipt))
        .layer(Extension(calls))
}

fn note(text: String) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn latest_checkpoint(
    Extension(calls): Extension<Arc<ProofCalls>>,
) -> Result<Response, AppError> {
    Ok(note(calls.latest_checkpoint().await?.note))
}

/// The note as text, like `GET /v1/checkpoint`; a retried idempotency key is
/// flagged in `Idempotent-Replay: true`.
async fn sign_checkpoint(
    Extension(calls): Extension<Arc<ProofCalls>>,
    Caller(principal): Caller,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, AppError> {
    let signed = calls.sign_now(&principal, key).await?;
    let mut response = note(signed.note);
    if signed.idempotent_replay {
        response.headers_mut().insert(
            "idempotent-replay",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

async fn checkpoint_at(
    Extension(calls): Extension<Arc<ProofCalls>>,
    size: Result<Path<u64>, PathRejection>,
) -> Result<Response, AppError> {
    let Path(size) = size.map_err(|error| path_number("size", error))?;
    Ok(note(calls.checkpoint_at(size)?.note))
}

async fn public_key(Extension(calls): Extension<Arc<ProofCalls>>) -> Response {
    note(format!("{}\n", calls.public_key()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionParams {
    seq: u64,
    size: u64,
}

async fn inclusion(
    Extension(calls): Extension<Arc<ProofCalls>>,
    params: Result<Query<InclusionParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InclusionProof>, AppError> {
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    calls.inclusion(params.seq, params.size).map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyParams {
    from: u64,
    to: u64,
}

async fn consistency(
    Extension(calls): Extension<Arc<ProofCalls>>,
    params: Result<Query<ConsistencyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyProof>, AppError> {
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    calls.consistency(params.from, params.to).map(Json)
}

async fn receipt(
    Extension(calls): Extension<Arc<ProofCalls>>,
    Caller(principal): Caller,
    seq: Result<Path<u64>, PathRejection>,
) -> Result<Json<mingzhang_ledger::receipt::Receipt>, AppError> {
    let Path(seq) = seq.map_err(|error| path_number("seq", error))?;
    calls.receipt(&principal, seq).await.map(Json)
}

/// The operator's revocation of a receipt link: the link answers 404 from
/// then on; the log is untouched (the code was never in it).
pub fn receipt_link_routes() -> Router<AppState> {
    Router::new().route("/v1/receipt-links/{code}", delete(revoke_receipt_link))
}

/// 204 once the code opens nothing, also when it was revoked before, so a
/// retry (with or without its Idempotency-Key) answers as the first call
/// did; 404 `no_such_receipt_link` for a code never issued.
async fn revoke_receipt_link(
    State(state): State<AppState>,
    Caller(principal): Caller,
    key: Result<IdempotencyKey, AppError>,
    Path(code): Path<String>,
) -> Result<StatusCode, AppError> {
    principal.require_operator("revoking a receipt link")?;
    if let IdempotencyKey(Some(key)) = key? {
        validate_idempotency_key(&key)?;
    }
    let never_issued = || AppError::NotFound {
        field: "code".into(),
        rule: "no_such_receipt_link",
        detail: "no receipt link with this code was issued".into(),
    };
    let (Some(links), Some(code)) = (state.receipt_links.clone(), ReceiptCode::parse(&code)) else {
        return Err(never_issued());
    };
    let revocation = tokio::task::spawn_blocking(move || links.revoke(code))
        .await
        .map_err(|error| AppError::Internal(format!("revocation task: {error}")))?
        .map_err(|error| AppError::Internal(format!("revoking a receipt link: {error}")))?;
    match revocation {
        Revocation::Revoked | Revocation::AlreadyRevoked => Ok(StatusCode::NO_CONTENT),
        Revocation::NeverIssued => Err(never_issued()),
    }
}

/// A path segment that should be a record count or sequence number and is not.
fn path_number(field: &str, error: PathRejection) -> AppError {
    AppError::malformed(field, "not_a_number", error.body_text())
}
