//! The transparency log over HTTP: signed checkpoints, the public key,
//! inclusion and consistency proofs (public: they reveal only hashes) and
//! receipts (they carry a whole record, so only full readers get them).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::Caller;
use crate::error::AppError;
use crate::state::AppState;
use crate::transparency::{ConsistencyProof, InclusionProof, Transparency};

pub fn routes(transparency: Arc<Transparency>) -> Router<AppState> {
    Router::new()
        .route("/v1/checkpoint", get(latest_checkpoint))
        .route("/v1/checkpoints/{size}", get(checkpoint_at))
        .route("/v1/public-key", get(public_key))
        .route("/v1/proofs/inclusion", get(inclusion))
        .route("/v1/proofs/consistency", get(consistency))
        .route("/v1/receipts/{seq}", get(receipt))
        .layer(Extension(transparency))
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

/// Signs a checkpoint over the projections as they are now. Runs off the async
/// threads: signing syncs the tree and writes the note durably.
async fn sign_now(
    state: &AppState,
    transparency: &Arc<Transparency>,
) -> Result<(u64, String), AppError> {
    let (state, transparency) = (state.clone(), transparency.clone());
    tokio::task::spawn_blocking(move || {
        let projections = state.projections.read();
        transparency.sign(state.store.as_ref(), &projections)
    })
    .await
    .map_err(|error| AppError::Internal(format!("signing task: {error}")))?
    .map_err(|error| AppError::Internal(format!("signing a checkpoint: {error:#}")))
}

async fn latest_checkpoint(
    State(state): State<AppState>,
    Extension(transparency): Extension<Arc<Transparency>>,
) -> Result<Response, AppError> {
    let (_, text) = match transparency.latest() {
        Some(latest) => latest,
        None => sign_now(&state, &transparency).await?,
    };
    Ok(note(text))
}

async fn checkpoint_at(
    Extension(transparency): Extension<Arc<Transparency>>,
    Path(size): Path<u64>,
) -> Result<Response, AppError> {
    transparency
        .checkpoint_at(size)
        .map(note)
        .ok_or_else(|| AppError::NotFound {
            field: "size".into(),
            rule: "no_checkpoint_at_size",
            detail: format!("no checkpoint was signed at tree size {size}"),
        })
}

async fn public_key(Extension(transparency): Extension<Arc<Transparency>>) -> Response {
    note(format!("{}\n", transparency.verifier_key().to_text()))
}

fn check_size(state: &AppState, field: &str, size: u64) -> Result<(), AppError> {
    let len = state.store.head().len;
    if size > len {
        return Err(AppError::invalid(
            field,
            "beyond_log",
            format!("the log has {len} records"),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionParams {
    seq: u64,
    size: u64,
}

async fn inclusion(
    State(state): State<AppState>,
    Extension(transparency): Extension<Arc<Transparency>>,
    params: Result<Query<InclusionParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InclusionProof>, AppError> {
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    check_size(&state, "size", params.size)?;
    if params.seq >= params.size {
        return Err(AppError::invalid(
            "seq",
            "seq_not_in_tree",
            "seq must be below size",
        ));
    }
    transparency
        .inclusion_proof(state.store.as_ref(), params.seq, params.size)
        .map(Json)
        .map_err(|error| AppError::Internal(format!("inclusion proof: {error:#}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyParams {
    from: u64,
    to: u64,
}

async fn consistency(
    State(state): State<AppState>,
    Extension(transparency): Extension<Arc<Transparency>>,
    params: Result<Query<ConsistencyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyProof>, AppError> {
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    check_size(&state, "to", params.to)?;
    if params.from > params.to {
        return Err(AppError::invalid(
            "from",
            "sizes_out_of_order",
            "from must not exceed to",
        ));
    }
    transparency
        .consistency_proof(state.store.as_ref(), params.from, params.to)
        .map(Json)
        .map_err(|error| AppError::Internal(format!("consistency proof: {error:#}")))
}

async fn receipt(
    State(state): State<AppState>,
    Extension(transparency): Extension<Arc<Transparency>>,
    Caller(principal): Caller,
    Path(seq): Path<u64>,
) -> Result<Json<mingzhang_ledger::receipt::Receipt>, AppError> {
    principal.require_full_reader("receipts")?;
    let log_len = state.store.head().len;
    if seq >= log_len {
        return Err(AppError::NotFound {
            field: "seq".into(),
            rule: "no_such_record",
            detail: format!("the log has {log_len} records"),
        });
    }
    // The record is durable; the receipt also binds the balances, so it waits
    // (briefly) for the projections to include it, as a query with min_seq would.
    state.wait_for_projections(Some(seq)).await?;
    if transparency.latest().is_none_or(|(size, _)| size <= seq) {
        sign_now(&state, &transparency).await?;
    }
    let projections_snapshot_free = state.projections.clone();
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        transparency.receipt(store.as_ref(), &projections_snapshot_free.read(), seq)
    })
    .await
    .map_err(|error| AppError::Internal(format!("receipt task: {error}")))?
    .map(Json)
    .map_err(|error| AppError::Internal(format!("receipt: {error:#}")))
}
