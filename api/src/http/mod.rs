//! The HTTP JSON API. Handlers only translate (JSON <-> commands and query
//! results) and authorise; every business rule is the ledger's.
//!
//! `router(state)` merges one router per area so other modules (the public
//! transparency page) plug in beside them.

pub mod commands;
pub mod disclosures;
pub mod documents;
pub mod flows;
pub mod json;
pub mod proofs;
pub mod queries;
pub mod records;
pub mod transactions;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::auth::{Principal, authorize_command_kind};
use crate::backend::Committed;
use crate::error::AppError;
use crate::state::AppState;
use commands::*;
use json::{ApiJson, BODY_LEN_MAX};

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    router_with_transparency(state, None)
}

/// The HTTP surface with the transparency log: checkpoint and proof routes,
/// and the page showing the checkpoint it reflects.
pub fn router_with_transparency(
    state: AppState,
    proof_calls: Option<std::sync::Arc<crate::proof_calls::ProofCalls>>,
) -> Router {
    let metrics = state.metrics.clone();
    let mut page_source = crate::page::PageSource::new(state.projections.clone())
        .with_documents(state.documents.clone());
    let mut proof_routes = Router::new();
    if let Some(proof_calls) = proof_calls {
        let transparency = proof_calls.transparency().clone();
        let latest = transparency.clone();
        page_source = page_source
            .with_checkpoint(std::sync::Arc::new(move || {
                latest.latest().map(|(_, note)| note)
            }))
            .with_verifier_key(Some(transparency.verifier_key().to_text()))
            .with_witness_keys(transparency.witness_keys());
        if let Some(links) = state.receipt_links.clone() {
            page_source = page_source.with_linked_receipts(crate::page::receipt::LinkedReceipts {
                links,
                proof_calls: proof_calls.clone(),
            });
        }
        proof_routes = proofs::routes(proof_calls.clone())
            .merge(flows::receipt_routes(proof_calls.clone()))
            .merge(crate::tiles::routes(proof_calls));
    }
    let page = crate::page::page_router(page_source);
    Router::new()
        .merge(proof_routes)
        .merge(command_routes())
        .merge(queries::routes())
        .merge(transactions::routes())
        .merge(flows::routes())
        .merge(disclosures::routes())
        .merge(records::routes())
        .merge(documents::routes())
        .merge(ops_routes())
        .merge(proofs::receipt_link_routes())
        .merge(crate::session::routes())
        .merge(crate::console::routes())
        .merge(crate::portal::routes())
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
        .merge(page)
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            AppError::MethodNotAllowed {
                method: method.to_string(),
            }
        })
        // gzip or brotli as the client accepts, for pages, exports and JSON
        // alike; tower-http leaves gRPC, images and tiny bodies as they are.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Every command route: one line makes the route, its handler and its
/// OpenAPI entry. `plain` routes take everything from the body; `at` routes
/// take the id of the thing acted on from the path.
macro_rules! command_routes {
    ($($kind:ident $path:literal => $body:ty, $summary:literal;)*) => {
        fn command_routes() -> Router<AppState> {
            Router::new()
                $(.route($path, post(command_handler!($kind, $body))))*
        }

        /// Every command route, for forms that post commands (the console).
        pub fn command_table() -> Vec<CommandRoute> {
            vec![$(CommandRoute {
                path: $path,
                body: stringify!($body),
                summary: $summary,
                event: <$body as CommandBody>::EVENT,
                schema: |generator| generator.subschema_for::<$body>(),
                preview: preview_json::<$body>,
                submit: |state, principal, key, json, path_id| {
                    Box::pin(submit_json::<$body>(state, principal, key, json, path_id))
                },
            }),*]
        }

        /// Every command route, for the OpenAPI document.
        pub fn command_route_docs() -> Vec<crate::openapi::CommandDoc> {
            vec![$(crate::openapi::CommandDoc {
                path: $path,
                body: stringify!($body),
                summary: $summary,
                schema: |generator| generator.subschema_for::<$body>(),
            }),*]
        }
    };
}

macro_rules! command_handler {
    (plain, $body:ty) => {
        submit::<$body>
    };
    (at, $body:ty) => {
        submit_at::<$body>
    };
}

command_routes! {
    plain "/v1/funds" => OpenFund, "Open a fund (operator)";
    plain "/v1/campaigns" => OpenCampaign, "Open a multi-year fundraising campaign (operator)";
    plain "/v1/donors" => RegisterDonor, "Register a donor (operator)";
    plain "/v1/organisations" => RegisterOrganisation, "Register a social organisation (operator)";
    plain "/v1/donations" => ReceiveDonation, "Record a donation (operator; a sponsor as itself)";
    at "/v1/donations/{id}/refunds" => RefundDonation, "Refund part or all of a donation (operator)";
    at "/v1/donations/{id}/reversal" => ReverseDonation, "Reverse a donation booked in error (operator)";
    plain "/v1/pledges" => MakePledge, "Make a pledge with instalments (operator; a sponsor as itself)";
    at "/v1/pledges/{id}/payments" => ReceivePledgePayment, "Record a pledge payment (operator; the pledging sponsor)";
    at "/v1/pledges/{id}/amendments" => AmendPledge, "Replace a pledge's schedule (operator)";
    at "/v1/pledges/{id}/cancellation" => CancelPledge, "Cancel what is unpaid of a pledge (operator)";
    plain "/v1/grant-rounds" => OpenGrantRound, "Open a micro-venture grant round (operator)";
    at "/v1/grant-rounds/{id}/applications" => SubmitApplication, "Apply for a grant (operator; an organisation as itself)";
    at "/v1/grant-applications/{id}/reviews" => ReviewApplication, "Review an application (operator)";
    at "/v1/grant-applications/{id}/shortlist" => Shortlist, "Shortlist an application (operator)";
    plain "/v1/grants" => AwardGrant, "Award a grant in tranches (operator)";
    at "/v1/grants/{id}/disbursements" => DisburseTranche, "Pay the next tranche (operator)";
    at "/v1/grants/{id}/evaluations" => RecordEvaluation, "Record an evaluation (operator)";
    at "/v1/grants/{id}/self-assessments" => FileSelfAssessment, "File a quarterly self-assessment (operator; the grantee)";
    at "/v1/grants/{id}/closure" => CloseGrant, "Close a grant; the unspent award returns (operator)";
    plain "/v1/projects" => PublishProject, "Publish a need as a project (operator)";
    at "/v1/projects/{id}/claim" => ClaimProject, "Claim a project (operator; a sponsor as itself)";
    at "/v1/projects/{id}/release" => ReleaseClaim, "Release a claim (operator; the claiming sponsor)";
    at "/v1/projects/{id}/fundings" => FundProject, "Fund a claimed project (operator; the claiming sponsor)";
    at "/v1/projects/{id}/completion" => CompleteProject, "Report a project complete (operator)";
    plain "/v1/expenditures" => MakeExpenditure, "Pay out of a fund or project (operator)";
    at "/v1/expenditures/{id}/reversal" => ReverseExpenditure, "Reverse an expenditure (operator)";
    at "/v1/donors/{id}/erasure" => ErasePersonalData, "Erase an individual donor's name (PIPL Art. 47): the side store forgets it, the log keeps its commitment (operator)";
    at "/v1/expenditures/{id}/payee-erasure" => ErasePayeeData, "Erase a private payee's name (PIPL Art. 47): the side store forgets it, the log keeps its commitment (operator)";
}

fn ops_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::openapi::serve))
}

/// Ready once the projections have applied every durable record; never
/// while they are stopped at a record that does not apply, which it names.
async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = crate::readiness::Readiness::of(&state);
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // The failure's text names paths on the server, so only its presence is shown.
    let body = serde_json::json!({
        "log_records": readiness.log_records,
        "applied_records": readiness.applied_records,
        "log_failed": readiness.log_failure.is_some(),
        "not_applied": readiness.not_applied,
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(
        state.store.head().len,
        *state.applied_len.borrow(),
        state.store.sync_stats(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
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

/// The `Idempotency-Key` header, if any; read alone, without copying the
/// request's other headers.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        idempotency_key(&parts.headers).map(IdempotencyKey)
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
    /// A donation's receipt link, `/r/<code>`, for the donor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_link: Option<String>,
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
            receipt_link: None,
        }
    }
}

/// One command route as data, so a form can post the command through the
/// very parse and submit its JSON route uses.
pub struct CommandRoute {
    pub path: &'static str,
    /// The body's type name (`ReceiveDonation`).
    pub body: &'static str,
    pub summary: &'static str,
    /// The event it records (`auth::event_name`).
    pub event: &'static str,
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// The command a JSON body and path id make, not submitted: what a
    /// review step shows. Refused as the route refuses the body's shape.
    pub preview: fn(&[u8], String) -> Result<mingzhang_proto::v1::event_envelope::Event, AppError>,
    pub submit: SubmitJson,
}

/// Authorises, parses a JSON body as the route does, and records it.
pub type SubmitJson = fn(
    AppState,
    Principal,
    Option<String>,
    Vec<u8>,
    String,
) -> futures::future::BoxFuture<'static, Result<WriteResponse, AppError>>;

fn preview_json<B: CommandBody>(
    json: &[u8],
    path_id: String,
) -> Result<mingzhang_proto::v1::event_envelope::Event, AppError> {
    json::parse_body::<B>(json)
        .and_then(|body| body.into_event(path_id))
        .map_err(AppError::with_json_field_names)
}

/// A command route's work for a body that came some other way than a JSON
/// request (a console form): the same order (role, then shape), parse and
/// submit.
pub async fn submit_json<B: CommandBody>(
    state: AppState,
    principal: Principal,
    key: Option<String>,
    json: Vec<u8>,
    path_id: String,
) -> Result<WriteResponse, AppError> {
    authorize_command_kind(&principal, B::EVENT)?;
    let body = json::parse_body::<B>(&json)?;
    record(state, principal, key, body, path_id).await
}

/// Every command route: authenticate, authorise the kind of command, then
/// read the body (see `auth::authorize_command_kind` for the whole order).
async fn submit<B: CommandBody>(
    State(state): State<AppState>,
    Caller(principal): Caller,
    key: Result<IdempotencyKey, AppError>,
    body: Result<ApiJson<B>, AppError>,
) -> Result<Json<WriteResponse>, AppError> {
    authorize_command_kind(&principal, B::EVENT)?;
    submit_body(state, principal, key, body, String::new()).await
}

async fn submit_at<B: CommandBody>(
    State(state): State<AppState>,
    Caller(principal): Caller,
    path_id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    key: Result<IdempotencyKey, AppError>,
    body: Result<ApiJson<B>, AppError>,
) -> Result<Json<WriteResponse>, AppError> {
    authorize_command_kind(&principal, B::EVENT)?;
    let Path(id) =
        path_id.map_err(|error| AppError::malformed("path", "bad_path", error.body_text()))?;
    submit_body(state, principal, key, body, id).await
}

async fn submit_body<B: CommandBody>(
    state: AppState,
    principal: Principal,
    key: Result<IdempotencyKey, AppError>,
    body: Result<ApiJson<B>, AppError>,
    path_id: String,
) -> Result<Json<WriteResponse>, AppError> {
    let IdempotencyKey(key) = key?;
    let ApiJson(body) = body?;
    record(state, principal, key, body, path_id).await.map(Json)
}

/// Records one command read from its body, and issues a donation's
/// receipt link.
async fn record<B: CommandBody>(
    state: AppState,
    principal: Principal,
    key: Option<String>,
    body: B,
    path_id: String,
) -> Result<WriteResponse, AppError> {
    let written = async {
        let event = body.into_event(path_id)?;
        let is_donation = matches!(
            event,
            mingzhang_proto::v1::event_envelope::Event::DonationReceived(_)
        );
        let committed = state.submit(&principal, key, event).await?;
        Ok::<_, AppError>((committed, is_donation))
    };
    let (committed, is_donation) = written.await.map_err(AppError::with_json_field_names)?;
    let receipt_link = state
        .receipt_links_of(vec![is_donation.then_some(&committed)])
        .await
        .pop()
        .expect("one answer per command");
    let mut response = WriteResponse::from(committed);
    response.receipt_link = receipt_link;
    Ok(response)
}
