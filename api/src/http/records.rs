//! Raw records for auditors and operators: a page at a time, or as a live
//! Server-Sent Events feed that catches up from `from` and then follows.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use mingzhang_ledger::store::StoredRecord;
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde::{Deserialize, Serialize};

use super::Caller;
use crate::auth::event_name;
use crate::error::AppError;
use crate::state::AppState;

pub const RECORDS_PAGE_MAX: usize = 1000;
/// Records read from the store per step of a live feed.
const FOLLOW_BATCH_MAX: usize = 256;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/records", get(list))
        .route("/v1/records/follow", get(follow))
}

#[derive(Serialize)]
pub struct RecordJson {
    pub seq: u64,
    pub hash: String,
    pub prev_hash: String,
    pub recorded_at_unix_ms: i64,
    pub actor: String,
    pub idempotency_key: String,
    pub event_type: &'static str,
    /// The payload, the protobuf `EventEnvelope`, in protobuf's canonical JSON
    /// mapping (proto field names; 64-bit integers such as `amount_fen` as
    /// strings, bytes as base64), for reading; `payload_hex` is what is hashed.
    pub envelope: serde_json::Value,
    /// The protobuf `EventEnvelope`, hex: decode with proto/mingzhang/v1/events.proto.
    pub payload_hex: String,
}

/// The envelope's message type in the compiled schemas, looked up once.
static ENVELOPE_DESCRIPTOR: LazyLock<MessageDescriptor> = LazyLock::new(|| {
    DescriptorPool::decode(mingzhang_proto::FILE_DESCRIPTOR_SET)
        .expect("the build embeds a valid descriptor set")
        .get_message_by_name("mingzhang.v1.EventEnvelope")
        .expect("the schema defines EventEnvelope")
});

/// A record payload in protobuf's canonical JSON mapping.
pub fn envelope_json(seq: u64, payload: &[u8]) -> Result<serde_json::Value, AppError> {
    let message = DynamicMessage::decode(ENVELOPE_DESCRIPTOR.clone(), payload)
        .map_err(|error| AppError::Internal(format!("record {seq} payload: {error}")))?;
    let options = SerializeOptions::new().use_proto_field_name(true);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|error| AppError::Internal(format!("record {seq} as JSON: {error}")))
}

impl RecordJson {
    pub fn from_record(record: &StoredRecord) -> Result<RecordJson, AppError> {
        let envelope = EventEnvelope::decode(record.payload()).map_err(|error| {
            AppError::Internal(format!("record {} payload: {error}", record.seq()))
        })?;
        Ok(RecordJson {
            seq: record.seq(),
            hash: hex::encode(record.hash()),
            prev_hash: hex::encode(record.prev_hash()),
            recorded_at_unix_ms: envelope.recorded_at_unix_ms,
            actor: envelope.actor,
            idempotency_key: envelope.idempotency_key,
            event_type: envelope.event.as_ref().map(event_name).unwrap_or("none"),
            envelope: envelope_json(record.seq(), record.payload())?,
            payload_hex: hex::encode(record.payload()),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    from: u64,
    limit: Option<usize>,
}

#[derive(Serialize)]
pub struct RecordsPage {
    pub log_len: u64,
    pub records: Vec<RecordJson>,
}

async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RecordsPage>, AppError> {
    principal.require_full_reader("raw records")?;
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > RECORDS_PAGE_MAX {
        return Err(AppError::invalid(
            "limit",
            "limit_out_of_range",
            format!("limit must be 1..={RECORDS_PAGE_MAX}"),
        ));
    }
    let log_len = state.store.head().len;
    check_not_past_end("from", params.from, log_len)?;
    let records = state
        .store
        .read(params.from, limit)
        .map_err(|error| AppError::Internal(format!("reading records: {error}")))?;
    let records = records
        .iter()
        .map(RecordJson::from_record)
        .collect::<Result<_, _>>()?;
    Ok(Json(RecordsPage { log_len, records }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowParams {
    #[serde(default)]
    from: u64,
}

async fn follow(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Result<Query<FollowParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, AppError> {
    principal.require_full_reader("the live record feed")?;
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    check_not_past_end("from", params.from, state.store.head().len)?;
    let stream = follow_records(state, params.from);
    let events = futures::StreamExt::map(stream, |item| {
        Ok(match item {
            Ok(record) => match RecordJson::from_record(&record) {
                Ok(json) => SseEvent::default()
                    .event("record")
                    .id(record.seq().to_string())
                    .json_data(json)
                    .expect("record json serialises"),
                Err(error) => SseEvent::default()
                    .event("error")
                    .data(error.public_detail()),
            },
            Err(error) => SseEvent::default()
                .event("error")
                .data(error.public_detail()),
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Reading starts at most at the log's end: `from == log_len` is an empty
/// page (or a feed of only what comes next), anything further is refused
/// (400 `from_past_end`; gRPC OUT_OF_RANGE), since no record there exists yet.
pub fn check_not_past_end(field: &str, from_seq: u64, log_len: u64) -> Result<(), AppError> {
    if from_seq > log_len {
        return Err(AppError::OutOfRange {
            field: field.to_owned(),
            rule: "from_past_end",
            detail: format!("the log holds {log_len} records; start at {log_len} or before"),
        });
    }
    Ok(())
}

/// Durable records from `from_seq` on, then new ones as they become durable;
/// ends when the server shuts down or the store fails.
pub fn follow_records(
    state: AppState,
    from_seq: u64,
) -> impl Stream<Item = Result<StoredRecord, AppError>> + Send + 'static {
    struct Cursor {
        state: AppState,
        next_seq: u64,
        buffered: std::collections::VecDeque<StoredRecord>,
        durable_len: tokio::sync::watch::Receiver<u64>,
        shutdown: tokio::sync::watch::Receiver<bool>,
        failed: bool,
    }
    let cursor = Cursor {
        durable_len: state.store.watch_durable_len(),
        shutdown: state.shutdown.clone(),
        state,
        next_seq: from_seq,
        buffered: Default::default(),
        failed: false,
    };
    futures::stream::unfold(cursor, |mut cursor| async move {
        if cursor.failed {
            return None;
        }
        loop {
            if let Some(record) = cursor.buffered.pop_front() {
                assert_eq!(
                    record.seq(),
                    cursor.next_seq,
                    "store returned records in order"
                );
                cursor.next_seq += 1;
                return Some((Ok(record), cursor));
            }
            match cursor.state.store.read(cursor.next_seq, FOLLOW_BATCH_MAX) {
                Ok(batch) if !batch.is_empty() => {
                    cursor.buffered.extend(batch);
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    cursor.failed = true;
                    return Some((Err(AppError::Internal(format!("follow: {error}"))), cursor));
                }
            }
            if *cursor.shutdown.borrow() {
                return None;
            }
            let next_seq = cursor.next_seq;
            tokio::select! {
                changed = cursor.durable_len.wait_for(|len| *len > next_seq) => {
                    if changed.is_err() { return None; }
                }
                _ = cursor.shutdown.wait_for(|stopping| *stopping) => return None,
            }
        }
    })
}
