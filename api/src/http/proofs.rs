//! The transparency log over HTTP: signed checkpoints, the public key,
//! inclusion and consistency proofs (public: they reveal only hashes),
//! receipts (they carry a whole record, so only full readers get them) and
//! signing on demand (operators). The rules are `proof_calls`'; these
//! handlers only translate.

use axum::extract::rejection::PathRejection;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::{Caller, IdempotencyKey};
use crate::error::AppError;
use crate::proof_calls::ProofCalls;
use crate::state::AppState;
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

/// A path segment that should be a record count or sequence number and is not.
fn path_number(field: &str, error: PathRejection) -> AppError {
    AppError::malformed(field, "not_a_number", error.body_text())
}
