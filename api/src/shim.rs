//! TEMPORARY stand-in for `mingzhang_ledger::service`, the stores and
//! `mingzhang_projections` until they land on main; same signatures.
#![allow(dead_code)]

use std::sync::Arc;

use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
use mingzhang_ledger::store::{AppendFuture, EventStore, Head, RecordMeta, StoreError};
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;
use mingzhang_proto::v1::event_envelope::Event;
use parking_lot::Mutex;

pub struct CommandMeta {
    pub at_unix_ms: i64,
    pub actor: String,
    pub idempotency_key: Option<String>,
    pub request_sha256: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct Committed {
    pub records: Vec<RecordMeta>,
    pub idempotent_replay: bool,
}

#[derive(Debug, Clone)]
pub enum RejectionKind {
    Invalid,
    NotFound,
    Conflict,
}

#[derive(Debug, Clone)]
pub struct Rejection {
    pub field: String,
    pub rule: &'static str,
    pub message: String,
    pub kind: RejectionKind,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("rejected: {}", .0.message)]
    Rejected(Rejection),
    #[error("idempotency key {key} reused")]
    IdempotencyKeyReused { key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Ledger {
    store: Arc<dyn EventStore>,
    keys: tokio::sync::Mutex<std::collections::HashMap<String, ([u8; 32], Committed)>>,
}

impl Ledger {
    pub async fn open(store: Arc<dyn EventStore>) -> Result<Arc<Ledger>, LedgerError> {
        Ok(Arc::new(Ledger {
            store,
            keys: Default::default(),
        }))
    }
    pub async fn submit(&self, command: Event, meta: CommandMeta) -> Result<Committed, SubmitError> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = &meta.idempotency_key {
            if let Some((sha, committed)) = keys.get(key) {
                if *sha == meta.request_sha256 {
                    let mut c = committed.clone();
                    c.idempotent_replay = true;
                    return Ok(c);
                }
                return Err(SubmitError::IdempotencyKeyReused { key: key.clone() });
            }
        }
        if let Event::DonationReceived(d) = &command {
            if d.amount_fen <= 0 {
                return Err(SubmitError::Rejected(Rejection {
                    field: "amount_fen".into(),
                    rule: "amount_not_positive",
                    message: "amount must be positive".into(),
                    kind: RejectionKind::Invalid,
                }));
            }
        }
        let envelope = EventEnvelope {
            recorded_at_unix_ms: meta.at_unix_ms,
            actor: meta.actor,
            idempotency_key: meta.idempotency_key.clone().unwrap_or_default(),
            request_sha256: meta.request_sha256.to_vec(),
            event: Some(command),
        };
        let len = self.store.head().len;
        let records = self.store.append(len, vec![envelope.encode_to_vec()]).await?;
        let committed = Committed {
            records,
            idempotent_replay: false,
        };
        if let Some(key) = meta.idempotency_key {
            keys.insert(key, (meta.request_sha256, committed.clone()));
        }
        Ok(committed)
    }
    pub fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }
}

pub struct MemoryStore {
    records: Mutex<Vec<StoredRecord>>,
    len_tx: tokio::sync::watch::Sender<u64>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore {
            records: Mutex::new(Vec::new()),
            len_tx: tokio::sync::watch::channel(0).0,
        }
    }
}

impl EventStore for MemoryStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        let mut records = self.records.lock();
        let result = if records.len() as u64 != expected_first_seq {
            Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual: records.len() as u64,
            })
        } else {
            let mut metas = Vec::new();
            for payload in payloads {
                let prev = records.last().map(|r| r.hash()).unwrap_or(GENESIS_PREV_HASH);
                let record = StoredRecord::encode(records.len() as u64, &prev, &payload);
                metas.push(RecordMeta {
                    seq: record.seq(),
                    hash: record.hash(),
                });
                records.push(record);
            }
            self.len_tx.send_replace(records.len() as u64);
            Ok(metas)
        };
        Box::pin(async move { result })
    }
    fn head(&self) -> Head {
        let records = self.records.lock();
        Head {
            len: records.len() as u64,
            last_hash: records.last().map(|r| r.hash()).unwrap_or(GENESIS_PREV_HASH),
        }
    }
    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let records = self.records.lock();
        let from = (from_seq as usize).min(records.len());
        let to = from.saturating_add(max_records).min(records.len());
        Ok(records[from..to].to_vec())
    }
    fn watch_durable_len(&self) -> tokio::sync::watch::Receiver<u64> {
        self.len_tx.subscribe()
    }
}

#[derive(Default)]
pub struct Projections {
    applied: u64,
    funds: Vec<serde_json::Value>,
}

impl Projections {
    pub fn catch_up(&mut self, store: &dyn EventStore) -> Result<u64, StoreError> {
        loop {
            let batch = store.read(self.applied, 1024)?;
            if batch.is_empty() {
                return Ok(self.applied);
            }
            for record in batch {
                self.applied = record.seq() + 1;
                let env = EventEnvelope::decode(record.payload()).expect("envelope");
                if let Some(Event::FundOpened(f)) = env.event {
                    self.funds.push(serde_json::json!({"fund_id": f.fund_id, "name": f.name, "balance_fen": 0}));
                }
            }
        }
    }
    pub fn applied_len(&self) -> u64 {
        self.applied
    }
    pub fn fund_balances(&self) -> Vec<serde_json::Value> {
        self.funds.clone()
    }
}

pub fn kaixuan() -> Vec<(Event, CommandMeta)> {
    Vec::new()
}
