//! TEMPORARY stand-in for the stores and `mingzhang_projections` until they
//! land on main; same signatures.
#![allow(dead_code)]

use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
use mingzhang_ledger::store::{AppendFuture, EventStore, Head, RecordMeta, StoreError};
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;
use mingzhang_proto::v1::event_envelope::Event;
use parking_lot::Mutex;

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
                let prev = records
                    .last()
                    .map(|r| r.hash())
                    .unwrap_or(GENESIS_PREV_HASH);
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
            last_hash: records
                .last()
                .map(|r| r.hash())
                .unwrap_or(GENESIS_PREV_HASH),
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
                    self.funds.push(
                        serde_json::json!({"fund_id": f.fund_id, "name": f.name, "balance_fen": 0}),
                    );
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
