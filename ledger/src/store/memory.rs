//! In-memory backend for tests and benchmarks of everything above the store.
//! Same contract as the file log, minus the disk: an append is "durable" as
//! soon as it is in the vector. `Clone` shares the log, which is how a test
//! "reopens" it.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::{AppendFuture, EventStore, Head, RecordMeta, StoreError};
use crate::record::{GENESIS_PREV_HASH, PAYLOAD_LEN_MAX, StoredRecord};

#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    records: Mutex<Vec<StoredRecord>>,
    durable_tx: watch::Sender<u64>,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        let (durable_tx, _) = watch::channel(0);
        MemoryStore {
            shared: Arc::new(Shared {
                records: Mutex::new(Vec::new()),
                durable_tx,
            }),
        }
    }

    fn append_now(
        &self,
        expected_first_seq: u64,
        payloads: Vec<Vec<u8>>,
    ) -> Result<Vec<RecordMeta>, StoreError> {
        for payload in &payloads {
            assert!(
                payload.len() <= PAYLOAD_LEN_MAX,
                "an envelope over PAYLOAD_LEN_MAX is a bug upstream"
            );
        }
        let mut records = self.shared.records.lock();
        let len = records.len() as u64;
        if expected_first_seq != len {
            return Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual: len,
            });
        }
        let mut metas = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            let seq = records.len() as u64;
            let prev_hash = records.last().map_or(GENESIS_PREV_HASH, StoredRecord::hash);
            let record = StoredRecord::encode(seq, &prev_hash, payload);
            metas.push(RecordMeta {
                seq,
                hash: record.hash(),
            });
            records.push(record);
        }
        // Sent under the lock so watchers see lengths in order.
        self.shared.durable_tx.send_replace(records.len() as u64);
        Ok(metas)
    }
}

impl EventStore for MemoryStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        let outcome = self.append_now(expected_first_seq, payloads);
        Box::pin(async move { outcome })
    }

    fn head(&self) -> Head {
        let records = self.shared.records.lock();
        Head {
            len: records.len() as u64,
            last_hash: records.last().map_or(GENESIS_PREV_HASH, StoredRecord::hash),
        }
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let records = self.shared.records.lock();
        let len = records.len() as u64;
        if from_seq > len {
            return Err(StoreError::OutOfRange { seq: from_seq, len });
        }
        let end = len.min(from_seq.saturating_add(max_records as u64));
        Ok(records[from_seq as usize..end as usize].to_vec())
    }

    fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.shared.durable_tx.subscribe()
    }
}
