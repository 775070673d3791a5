//! Where records live. One trait, several backends: the embedded segment-file
//! log (default on one machine), the memory store, and PostgreSQL in a crate
//! of its own (`stores/postgres`), so this crate knows no SQL.
//!
//! **Contract** (every backend; checked by the contract suite in `contract.rs`):
//! - Sequence numbers are 0-based, dense and assigned in `append` call order.
//! - `append` enqueues before it returns, so two calls made in order from one
//!   thread are stored in that order; the returned future resolves only once
//!   the records are durable (fsync'd or quorum-acked).
//! - A failed append fails the store: every later append fails too, because
//!   the writer cannot know what reached the disk (crash-only, as TigerBeetle).
//! - Readers never block the writer and only ever see durable records.

use std::future::Future;
use std::pin::Pin;

pub use crate::record::{Hash, StoredRecord};

pub mod contract;
pub mod durable_mark;
pub mod file;
pub mod memory;
pub mod storage;

pub use file::{
    FileLog, FileLogOptions, OpenReport, ReadOnlyLog, SegmentExtent, TornTail, VerifyReport,
    verify_log,
};
pub use memory::MemoryStore;

/// What a durable append returns for each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub seq: u64,
    pub hash: Hash,
}

/// The chain head: how many records there are and the hash of the last one
/// (`GENESIS_PREV_HASH` when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub len: u64,
    pub last_hash: Hash,
}

/// Where in the log a problem was found, precise enough to open a hex editor at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    /// File name of the segment (backend-specific for non-file stores).
    pub segment: String,
    pub offset: u64,
    pub seq: u64,
}

impl std::fmt::Display for LogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "segment {} offset {} seq {}",
            self.segment, self.offset, self.seq
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("expected to append at seq {expected}, but the log is at {actual}")]
    WrongExpectedSeq { expected: u64, actual: u64 },
    #[error("log is damaged at {position}: {reason}")]
    Corrupt {
        position: LogPosition,
        reason: String,
    },
    #[error("log has failed after an I/O error and must be reopened: {0}")]
    Failed(String),
    #[error("log is closed")]
    Closed,
    #[error("log is open read-only: nothing can be appended")]
    ReadOnly,
    #[error("record {seq} is beyond the log's end {len}")]
    OutOfRange { seq: u64, len: u64 },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

pub type AppendFuture = Pin<Box<dyn Future<Output = Result<Vec<RecordMeta>, StoreError>> + Send>>;

pub trait EventStore: Send + Sync + 'static {
    /// Appends `payloads` as records `expected_first_seq..`. Enqueues before it
    /// returns; resolves once durable. Refuses with `WrongExpectedSeq` if the
    /// log (including enqueued, not yet durable records) is not at
    /// `expected_first_seq`.
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture;

    /// Head of the durable log.
    fn head(&self) -> Head;

    /// Durable records `[from_seq, from_seq + max_records)`, fewer at the end.
    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError>;

    /// Follows the durable length; used by projections and live feeds.
    fn watch_durable_len(&self) -> tokio::sync::watch::Receiver<u64>;

    /// How group commit is going, for metrics; `None` where the backend has
    /// no syncs of its own to count.
    fn sync_stats(&self) -> Option<SyncStats> {
        None
    }

    /// Why the store has failed, if it has: after a failed append every
    /// later one fails until the store is reopened, so a server on it is not
    /// ready. `None` where the backend cannot fail this way.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// Upper bounds (inclusive) of the buckets of `SyncStats::batch_records`.
pub const SYNC_BATCH_BUCKETS: [u64; 8] = [1, 4, 16, 64, 256, 1024, 4096, 16384];

/// Durable syncs since open and how many records each made durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub syncs: u64,
    pub records: u64,
    /// Syncs per bucket of `SYNC_BATCH_BUCKETS`, then one for larger batches
    /// (not cumulative).
    pub batch_records: [u64; SYNC_BATCH_BUCKETS.len() + 1],
}

impl SyncStats {
    pub fn record_batch(&mut self, records: u64) {
        self.syncs += 1;
        self.records += records;
        let bucket = SYNC_BATCH_BUCKETS.partition_point(|&bound| bound < records);
        self.batch_records[bucket] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::{SYNC_BATCH_BUCKETS, SyncStats};

    #[test]
    fn sync_batches_fall_in_the_bucket_of_their_upper_bound() {
        let mut stats = SyncStats::default();
        for records in [1, 2, 4, 5, 16_384, 16_385] {
            stats.record_batch(records);
        }
        assert_eq!(stats.syncs, 6);
        assert_eq!(stats.records, 1 + 2 + 4 + 5 + 16_384 + 16_385);
        let mut expected = [0u64; SYNC_BATCH_BUCKETS.len() + 1];
        expected[0] = 1; // 1
        expected[1] = 2; // 2, 4
        expected[2] = 1; // 5
        expected[7] = 1; // 16_384
        expected[8] = 1; // beyond the last bound
        assert_eq!(stats.batch_records, expected);
    }
}
