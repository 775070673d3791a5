//! The gRPC API: same commands, roles and errors as HTTP, over tonic.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use mingzhang_ledger::store::StoredRecord;
use mingzhang_proto::Message;
use mingzhang_proto::v1 as pb;
use pb::ledger_service_server::LedgerService;
use pb::transparency_service_server::TransparencyService;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use crate::auth::{Principal, authorize_command, authorize_command_kind};
use crate::backend::{Committed, Page};
use crate::error::AppError;
use crate::http::records::check_not_past_end;
use crate::proof_calls::{ProofCalls, SignedNote};
use crate::query_answers::{MovementQuery, QueryKind, authorize, run_fund_transactions, run_query};
use crate::state::AppState;

pub use pb::ledger_service_server::LedgerServiceServer;
pub use pb::transparency_service_server::TransparencyServiceServer;

/// Commands in one `SubmitBatch` call, at most.
pub const BATCH_COMMANDS_MAX: usize = 10_000;
pub const RECORDS_PAGE_MAX: u32 = 1000;
/// gRPC messages larger than this are refused (a batch of 10,000 small commands fits).
pub const MESSAGE_LEN_MAX: usize = 16 * 1024 * 1024;

pub struct GrpcApi {
    state: AppState,
}

impl GrpcApi {
    pub fn new(state: AppState) -> GrpcApi {
        GrpcApi { state }
    }

    pub fn into_server(self) -> LedgerServiceServer<GrpcApi> {
        LedgerServiceServer::new(self)
            .max_decoding_message_size(MESSAGE_LEN_MAX)
            .max_encoding_message_size(MESSAGE_LEN_MAX)
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        caller_of(&self.state, request)
    }

    async fn submit_one(
        &self,
        principal: &Principal,
        request: pb::SubmitRequest,
        key_from_metadata: Result<Option<String>, AppError>,
    ) -> Result<pb::SubmitResponse, AppError> {
        let command = command_of(principal, request.command)?;
        let key = match (request.idempotency_key.is_empty(), key_from_metadata?) {
            (false, _) => Some(request.idempotency_key),
            (true, key) => key,
        };
        let is_donation = matches!(command, pb::event_envelope::Event::DonationReceived(_));
        let committed = self.state.submit(principal, key, command).await?;
        let receipt_link = self
            .state
            .receipt_links_of(vec![is_donation.then_some(&committed)])
            .await
            .pop()
            .expect("one answer per command");
        Ok(submit_response(committed, receipt_link))
    }
}

/// The caller, from `authorization: Bearer ...` metadata (none = public).
fn caller_of<T>(state: &AppState, request: &Request<T>) -> Result<Principal, Status> {
    let header = match request.metadata().get("authorization") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| Status::unauthenticated("authorization metadata is not ASCII"))?,
        ),
    };
    state.tokens.authenticate(header).map_err(to_status)
}

fn idempotency_key_metadata<T>(request: &Request<T>) -> Result<Option<String>, AppError> {
    match request.metadata().get("idempotency-key") {
        None => Ok(None),
        Some(value) => value.to_str().map(|key| Some(key.to_owned())).map_err(|_| {
            AppError::malformed(
                "idempotency-key",
                "idempotency_key_invalid",
                "printable ASCII only",
            )
        }),
    }
}

/// The command of a request, checked in the order of
/// `auth::authorize_command_kind`: the caller's role first (the kind of
/// command is all it needs), then the envelope's shape.
fn command_of(
    principal: &Principal,
    envelope: Option<pb::EventEnvelope>,
) -> Result<pb::event_envelope::Event, AppError> {
    if let Some(command) = envelope
        .as_ref()
        .and_then(|envelope| envelope.event.as_ref())
    {
        authorize_command(principal, command)?;
    } else if matches!(principal, Principal::Public | Principal::Auditor { .. }) {
        // No kind to name, but these roles record nothing at all.
        authorize_command_kind(principal, "commands")?;
    }
    let envelope = envelope
        .ok_or_else(|| AppError::invalid("command", "missing_field", "command is required"))?;
    let server_assigned = [
        (
            "command.recorded_at_unix_ms",
            envelope.recorded_at_unix_ms != 0,
        ),
        ("command.actor", !envelope.actor.is_empty()),
        (
            "command.idempotency_key",
            !envelope.idempotency_key.is_empty(),
        ),
        (
            "command.request_sha256",
            !envelope.request_sha256.is_empty(),
        ),
    ];
    if let Some((field, _)) = server_assigned.iter().find(|(_, set)| *set) {
        return Err(AppError::invalid(
            field,
            "server_assigned",
            format!("{field} is filled by the server; leave it empty"),
        ));
    }
    envelope.event.ok_or_else(|| {
        AppError::invalid(
            "command.event",
            "missing_field",
            "command.event is required",
        )
    })
}

fn submit_response(committed: Committed, receipt_link: Option<String>) -> pb::SubmitResponse {
    pb::SubmitResponse {
        records: committed
            .records
            .iter()
            .map(|meta| pb::RecordRef {
                seq: meta.seq,
                hash: meta.hash.to_vec(),
            })
            .collect(),
        idempotent_replay: committed.idempotent_replay,
        receipt_link: receipt_link.unwrap_or_default(),
    }
}

fn record_message(record: &StoredRecord) -> Result<pb::Record, AppError> {
    let envelope = pb::EventEnvelope::decode(record.payload())
        .map_err(|error| AppError::Internal(format!("record {}: {error}", record.seq())))?;
    Ok(pb::Record {
        seq: record.seq(),
        hash: record.hash().to_vec(),
        prev_hash: record.prev_hash().to_vec(),
        envelope: Some(envelope),
        raw: record.bytes().to_vec(),
    })
}

fn status_code(error: &AppError) -> tonic::Code {
    match error {
        AppError::Invalid { .. }
        | AppError::PayloadTooLarge { .. }
        | AppError::UnsupportedMediaType { .. }
        | AppError::MethodNotAllowed { .. } => tonic::Code::InvalidArgument,
        AppError::OutOfRange { .. } => tonic::Code::OutOfRange,
        AppError::NotFound { .. } => tonic::Code::NotFound,
        AppError::Conflict { .. } => tonic::Code::FailedPrecondition,
        AppError::IdempotencyKeyReused { .. } => tonic::Code::AlreadyExists,
        AppError::Unauthenticated(_) => tonic::Code::Unauthenticated,
        AppError::Forbidden { .. } => tonic::Code::PermissionDenied,
        AppError::Lagging { .. }
        | AppError::Unavailable(_)
        | AppError::LogFailed { .. }
        | AppError::NotTheWriter { .. } => tonic::Code::Unavailable,
        AppError::Internal(_) => tonic::Code::Internal,
    }
}

/// The longest `grpc-message` sent. It travels as a percent-encoded HTTP/2
/// header, and a detail quoting a long input (a 5,000-character id) passed
/// the client's header-list limit, which turned a refusal into a protocol
/// error (INTERNAL) on the client.
pub const STATUS_MESSAGE_LEN_MAX: usize = 1024;

/// `message` cut to `STATUS_MESSAGE_LEN_MAX` bytes on a character boundary,
/// marked with "…" where it was cut.
fn bounded(mut message: String) -> String {
    if message.len() > STATUS_MESSAGE_LEN_MAX {
        let mut end = STATUS_MESSAGE_LEN_MAX;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// "field: rule: detail", with `mz-field` and `mz-rule` metadata.
pub fn to_status(error: AppError) -> Status {
    if matches!(error, AppError::Internal(_)) {
        tracing::error!(%error, "grpc request failed");
    }
    let (field, rule) = error.field_and_rule();
    let message = match (field, rule) {
        (Some(field), Some(rule)) => format!("{field}: {rule}: {}", error.public_detail()),
        (None, Some(rule)) => format!("{rule}: {}", error.public_detail()),
        _ => error.public_detail(),
    };
    let mut status = Status::new(status_code(&error), bounded(message));
    for (key, value) in [("mz-field", field), ("mz-rule", rule)] {
        if let Some(value) = value.and_then(|v| MetadataValue::try_from(v).ok()) {
            status.metadata_mut().insert(key, value);
        }
    }
    status
}

fn command_error(error: AppError) -> pb::CommandError {
    let (field, rule) = error.field_and_rule();
    pb::CommandError {
        code: status_code(&error) as i32,
        field: field.unwrap_or_default().to_owned(),
        rule: rule.unwrap_or_default().to_owned(),
        message: error.public_detail(),
    }
}

type FollowStream = Pin<Box<dyn Stream<Item = Result<pb::Record, Status>> + Send>>;

#[tonic::async_trait]
impl LedgerService for GrpcApi {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let principal = self.caller(&request)?;
        // Read now, refused only after the caller's role was checked.
        let key_from_metadata = idempotency_key_metadata(&request);
        self.submit_one(&principal, request.into_inner(), key_from_metadata)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let principal = self.caller(&request)?;
        if matches!(principal, Principal::Public | Principal::Auditor { .. }) {
            // These roles record nothing: refused before the batch is looked at.
            authorize_command_kind(&principal, "commands").map_err(to_status)?;
        }
        let commands = request.into_inner().commands;
        if commands.len() > BATCH_COMMANDS_MAX {
            return Err(to_status(AppError::invalid(
                "commands",
                "batch_too_large",
                format!("at most {BATCH_COMMANDS_MAX} commands per batch"),
            )));
        }
        let commands: Vec<_> = commands
            .into_iter()
            .map(|request| {
                let key = (!request.idempotency_key.is_empty()).then_some(request.idempotency_key);
                command_of(&principal, request.command).map(|command| (key, command))
            })
            .collect();
        let is_donation: Vec<bool> = commands
            .iter()
            .map(|command| {
                matches!(
                    command,
                    Ok((_, pb::event_envelope::Event::DonationReceived(_)))
                )
            })
            .collect();
        let results = self
            .state
            .submit_many(&principal, commands)
            .await
            .map_err(to_status)?;
        let donations = results
            .iter()
            .zip(&is_donation)
            .map(|(result, is_donation)| result.as_ref().ok().filter(|_| *is_donation))
            .collect();
        let receipt_links = self.state.receipt_links_of(donations).await;
        let results = results
            .into_iter()
            .zip(receipt_links)
            .map(|(result, receipt_link)| pb::SubmitResult {
                outcome: Some(match result {
                    Ok(committed) => pb::submit_result::Outcome::Committed(submit_response(
                        committed,
                        receipt_link,
                    )),
                    Err(error) => pb::submit_result::Outcome::Error(command_error(error)),
                }),
            })
            .collect();
        Ok(Response::new(pb::SubmitBatchResponse { results }))
    }

    async fn get_records(
        &self,
        request: Request<pb::GetRecordsRequest>,
    ) -> Result<Response<pb::GetRecordsResponse>, Status> {
        let principal = self.caller(&request)?;
        principal
            .require_full_reader("raw records")
            .map_err(to_status)?;
        let request = request.into_inner();
        let limit = match request.limit {
            0 => 100,
            n if n > RECORDS_PAGE_MAX => {
                return Err(to_status(AppError::invalid(
                    "limit",
                    "limit_out_of_range",
                    format!("limit must be 1..={RECORDS_PAGE_MAX}"),
                )));
            }
            n => n,
        };
        let log_len = self.state.store.head().len;
        check_not_past_end("from_seq", request.from_seq, log_len).map_err(to_status)?;
        let records = self
            .state
            .store
            .read(request.from_seq, limit as usize)
            .map_err(|error| to_status(AppError::Internal(format!("reading records: {error}"))))?;
        let records = records
            .iter()
            .map(record_message)
            .collect::<Result<_, _>>()
            .map_err(to_status)?;
        Ok(Response::new(pb::GetRecordsResponse { records, log_len }))
    }

    type FollowStream = FollowStream;

    async fn follow(
        &self,
        request: Request<pb::FollowRequest>,
    ) -> Result<Response<FollowStream>, Status> {
        let principal = self.caller(&request)?;
        principal
            .require_full_reader("the live record feed")
            .map_err(to_status)?;
        let from_seq = request.into_inner().from_seq;
        check_not_past_end("from_seq", from_seq, self.state.store.head().len).map_err(to_status)?;
        let stream =
            crate::http::records::follow_records(self.state.clone(), from_seq).map(|item| {
                item.and_then(|record| record_message(&record))
                    .map_err(to_status)
            });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let principal = self.caller(&request)?;
        let request = request.into_inner();
        let kind = QueryKind::parse(&request.query).map_err(to_status)?;
        // The caller's right to this read before its values, as over HTTP.
        authorize(&principal, kind, &request.id).map_err(to_status)?;
        let page = Page::new(
            request.offset.map(|offset| offset as usize),
            request.limit.map(|limit| limit as usize),
        )
        .map_err(to_status)?;
        self.state
            .wait_for_projections(request.min_seq)
            .await
            .map_err(to_status)?;
        let as_of = (!request.as_of.is_empty()).then_some(request.as_of.as_str());
        let (answer, applied_len) = if kind == QueryKind::FundTransactions {
            let filters = MovementQuery {
                kind: Some(request.kind.clone()),
                month: Some(request.month.clone()),
                counterparty: Some(request.counterparty.clone()),
            };
            run_fund_transactions(&self.state, &principal, &request.id, &filters, page)
        } else {
            run_query(&self.state, &principal, kind, &request.id, as_of, page)
        }
        .map_err(to_status)?;
        Ok(Response::new(pb::QueryResponse {
            applied_len,
            answer: Some(answer.into_proto()),
        }))
    }
}

/// The transparency log over gRPC; the rules are `proof_calls`', shared with HTTP.
pub struct TransparencyApi {
    state: AppState,
    calls: Arc<ProofCalls>,
}

impl TransparencyApi {
    pub fn new(state: AppState, calls: Arc<ProofCalls>) -> TransparencyApi {
        TransparencyApi { state, calls }
    }

    pub fn into_server(self) -> TransparencyServiceServer<TransparencyApi> {
        TransparencyServiceServer::new(self)
            .max_decoding_message_size(MESSAGE_LEN_MAX)
            .max_encoding_message_size(MESSAGE_LEN_MAX)
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        caller_of(&self.state, request)
    }
}

fn signed_checkpoint(signed: SignedNote) -> pb::SignedCheckpoint {
    pb::SignedCheckpoint {
        size: signed.size,
        note: signed.note,
        idempotent_replay: signed.idempotent_replay,
    }
}

/// Hex hashes as `transparency` renders them for JSON, back to raw bytes.
fn hash_bytes(hashes: &[String]) -> Result<Vec<Vec<u8>>, Status> {
    hashes
        .iter()
        .map(|hash| {
            hex::decode(hash).map_err(|error| {
                to_status(AppError::Internal(format!("proof hash {hash:?}: {error}")))
            })
        })
        .collect()
}

#[tonic::async_trait]
impl TransparencyService for TransparencyApi {
    async fn get_latest_checkpoint(
        &self,
        _request: Request<pb::GetLatestCheckpointRequest>,
    ) -> Result<Response<pb::SignedCheckpoint>, Status> {
        let signed = self.calls.latest_checkpoint().await.map_err(to_status)?;
        Ok(Response::new(signed_checkpoint(signed)))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::SignedCheckpoint>, Status> {
        let signed = self
            .calls
            .checkpoint_at(request.into_inner().size)
            .map_err(to_status)?;
        Ok(Response::new(signed_checkpoint(signed)))
    }

    async fn sign_checkpoint(
        &self,
        request: Request<pb::SignCheckpointRequest>,
    ) -> Result<Response<pb::SignedCheckpoint>, Status> {
        let principal = self.caller(&request)?;
        let key_from_metadata = idempotency_key_metadata(&request).map_err(to_status)?;
        let key_in_request = request.into_inner().idempotency_key;
        let key = match key_in_request.is_empty() {
            false => Some(key_in_request),
            true => key_from_metadata,
        };
        let signed = self
            .calls
            .sign_now(&principal, key)
            .await
            .map_err(to_status)?;
        Ok(Response::new(signed_checkpoint(signed)))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let request = request.into_inner();
        let proof = self
            .calls
            .inclusion(request.seq, request.size)
            .map_err(to_status)?;
        Ok(Response::new(pb::InclusionProof {
            seq: proof.seq,
            tree_size: proof.tree_size,
            leaf_hash: hash_bytes(std::slice::from_ref(&proof.leaf_hash))?.remove(0),
            proof: hash_bytes(&proof.proof)?,
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let request = request.into_inner();
        let proof = self
            .calls
            .consistency(request.from, request.to)
            .map_err(to_status)?;
        Ok(Response::new(pb::ConsistencyProof {
            old_size: proof.old_size,
            new_size: proof.new_size,
            proof: hash_bytes(&proof.proof)?,
        }))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::Receipt>, Status> {
        use base64::Engine;
        let principal = self.caller(&request)?;
        let receipt = self
            .calls
            .receipt(&principal, request.into_inner().seq)
            .await
            .map_err(to_status)?;
        let record = base64::engine::general_purpose::STANDARD
            .decode(&receipt.record)
            .map_err(|error| to_status(AppError::Internal(format!("receipt record: {error}"))))?;
        Ok(Response::new(pb::Receipt {
            seq: receipt.seq,
            record,
            tree_size: receipt.tree_size,
            inclusion_proof: hash_bytes(&receipt.inclusion_proof)?,
            checkpoint: receipt.checkpoint,
        }))
    }

    async fn get_flow_receipt(
        &self,
        request: Request<pb::GetFlowReceiptRequest>,
    ) -> Result<Response<pb::FlowReceipt>, Status> {
        use mingzhang_audit::flow_receipt::GiftKind;
        let principal = self.caller(&request)?;
        let request = request.into_inner();
        // The role first, as over HTTP, whatever the kind says.
        principal
            .require_full_reader("flow receipts")
            .map_err(to_status)?;
        let kind = match pb::FlowGiftKind::try_from(request.kind) {
            Ok(pb::FlowGiftKind::Donation) => GiftKind::Donation,
            Ok(pb::FlowGiftKind::PledgePayment) => GiftKind::PledgePayment,
            _ => {
                return Err(to_status(AppError::invalid(
                    "kind",
                    "flow_gift_kind_invalid",
                    "kind must be FLOW_GIFT_KIND_DONATION or FLOW_GIFT_KIND_PLEDGE_PAYMENT",
                )));
            }
        };
        let receipt = crate::flow_receipt_calls::flow_receipt(
            &self.state,
            self.calls.transparency(),
            &principal,
            kind,
            &request.id,
        )
        .await
        .map_err(to_status)?;
        let proven =
            |seq: u64, record: &str, proof: &[String]| -> Result<pb::ProvenRecord, Status> {
                use base64::Engine;
                Ok(pb::ProvenRecord {
                    seq,
                    record: base64::engine::general_purpose::STANDARD
                        .decode(record)
                        .map_err(|error| {
                            to_status(AppError::Internal(format!("flow receipt record: {error}")))
                        })?,
                    inclusion_proof: hash_bytes(proof)?,
                })
            };
        Ok(Response::new(pb::FlowReceipt {
            format: receipt.format,
            tree_size: receipt.tree_size,
            checkpoint: receipt.checkpoint,
            gift_kind: request.kind,
            gift_id: receipt.gift.id,
            gift_amount_fen: receipt.gift.amount_fen,
            gift: Some(proven(
                receipt.gift.seq,
                &receipt.gift.record,
                &receipt.gift.inclusion_proof,
            )?),
            unspent_fen: receipt.unspent_fen,
            paid_for: receipt
                .paid_for
                .iter()
                .map(|paid| {
                    Ok(pb::ProvenOutflow {
                        kind: serde_json::to_value(paid.kind)
                            .ok()
                            .and_then(|kind| kind.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        reference_id: paid.reference_id.clone(),
                        tranche_no: paid.tranche_no,
                        amount_fen: paid.amount_fen,
                        proven: Some(proven(paid.seq, &paid.record, &paid.inclusion_proof)?),
                    })
                })
                .collect::<Result<_, Status>>()?,
        }))
    }

    async fn get_public_key(
        &self,
        _request: Request<pb::GetPublicKeyRequest>,
    ) -> Result<Response<pb::PublicKey>, Status> {
        Ok(Response::new(pb::PublicKey {
            verifier_key: self.calls.public_key(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_quoting_a_long_input_keeps_its_rule_and_a_bounded_message() {
        let long_id = "名".repeat(5000);
        let status = to_status(AppError::Forbidden {
            rule: "not_yours",
            detail: format!("donor_id: {long_id:?} is not this sponsor"),
        });
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(
            status.message().len() <= STATUS_MESSAGE_LEN_MAX + '…'.len_utf8(),
            "{}",
            status.message().len()
        );
        assert!(status.message().starts_with("not_yours: donor_id: \"名"));
        assert!(status.message().ends_with('…'));
        assert_eq!(status.metadata().get("mz-rule").unwrap(), "not_yours");
        let short = to_status(AppError::invalid("limit", "limit_out_of_range", "1..=1000"));
        assert_eq!(short.message(), "limit: limit_out_of_range: 1..=1000");
    }
}
