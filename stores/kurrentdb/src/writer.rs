//! The write side of the store, whatever carries the appends: callers chain
//! and encode their records under a short lock and queue them; one writer
//! task drains the queue and sends everything waiting as few appends as the
//! server's append size allows (group commit across callers, as the
//! PostgreSQL store shares a COMMIT and the file log an fsync). A caller is
//! answered once the append holding its last record is acknowledged.
//!
//! Kept apart from the `kurrentdb` client (behind `Appender`) so that group
//! commit and failing closed are tested in every build, without a server.

use std::future::Future;
use std::sync::Arc;

use mingzhang_ledger::record::PAYLOAD_LEN_MAX;
use mingzhang_ledger::store::{
    AppendFuture, Hash, Head, RecordMeta, StoreError, StoredRecord, SyncStats,
};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};

use crate::position::{ExpectedRevision, expected_before};

/// How one append to the server ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The server refused it before writing anything: the stream holds
    /// `actual_len` records, not what this process expected.
    Conflict { actual_len: u64 },
    /// It may or may not have been written (a lost connection, a timeout, a
    /// refusal the server gave no position with).
    Unknown(String),
}

/// Carries one append of consecutive records to the server, stating the
/// revision the stream must be at; resolves once the server acknowledged it.
pub trait Appender: Send + 'static {
    fn append(
        &mut self,
        expected: ExpectedRevision,
        records: &[StoredRecord],
    ) -> impl Future<Output = Result<(), AppendError>> + Send;
}

/// How much one group and one append carry, at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// Records one group takes from the queue; more wait for the next.
    pub group_records_max: usize,
    /// Record bytes one group takes from the queue (one batch may pass it).
    pub group_bytes_max: usize,
    /// Record bytes one append carries (one record may pass it). KurrentDB
    /// refuses an append over its `MaxAppendSize` (1 MiB by default), and
    /// each event costs some bytes more than its data, so this stays under.
    pub append_bytes_max: usize,
}

impl Default for GroupLimits {
    fn default() -> GroupLimits {
        GroupLimits {
            group_records_max: 16_384,
            group_bytes_max: 32 << 20,
            append_bytes_max: 512 << 10,
        }
    }
}

/// How many of `records` (at least one) the next append carries.
pub fn chunk_len(records: &[StoredRecord], append_bytes_max: usize) -> usize {
    assert!(!records.is_empty(), "a chunk of nothing is a bug");
    let mut bytes = records[0].len();
    let mut count = 1;
    while let Some(next) = records.get(count) {
        if bytes + next.len() > append_bytes_max {
            break;
        }
        bytes += next.len();
        count += 1;
    }
    count
}

/// The state callers, the writer task and a follower share.
struct Shared {
    /// The tail of what is queued: where the next append must start.
    tail: Mutex<Tail>,
    /// The head of what is acknowledged, and its length for watchers;
    /// changed together under this lock, so watchers see lengths in order.
    durable: Mutex<Head>,
    durable_tx: watch::Sender<u64>,
    failure: Mutex<Option<String>>,
    stats: Mutex<SyncStats>,
}

struct Tail {
    next_seq: u64,
    last_hash: Hash,
    queue: Option<mpsc::UnboundedSender<Batch>>,
}

/// One caller's records on their way to the server.
struct Batch {
    metas: Vec<RecordMeta>,
    records: Vec<StoredRecord>,
    done: oneshot::Sender<Result<Vec<RecordMeta>, StoreError>>,
}

impl Shared {
    fn fail(&self, reason: String) -> String {
        self.failure.lock().get_or_insert(reason).clone()
    }

    fn publish_durable(&self, head: Head) {
        let mut durable = self.durable.lock();
        if head.len > durable.len {
            *durable = head;
            self.durable_tx.send_replace(head.len);
        }
    }
}

/// The write side of one open log: everything of `EventStore` but reading.
pub struct Writer {
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer task on the current runtime, for a log whose
    /// acknowledged head is `head`.
    pub fn start<A: Appender>(head: Head, appender: A, limits: GroupLimits) -> Writer {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (durable_tx, _) = watch::channel(head.len);
        let shared = Arc::new(Shared {
            tail: Mutex::new(Tail {
                next_seq: head.len,
                last_hash: head.last_hash,
                queue: Some(queue_tx),
            }),
            durable: Mutex::new(head),
            durable_tx,
            failure: Mutex::new(None),
            stats: Mutex::new(SyncStats::default()),
        });
        let task = tokio::spawn(write_groups(appender, queue_rx, shared.clone(), limits));
        Writer {
            shared,
            task: Some(task),
        }
    }

    /// `EventStore::append`: queues now, resolves once acknowledged.
    pub fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        let queued = self.queue(expected_first_seq, payloads);
        Box::pin(async move {
            match queued? {
                Queued::Nothing => Ok(Vec::new()),
                Queued::Waiting(outcome) => outcome.await.unwrap_or(Err(StoreError::Closed)),
            }
        })
    }

    fn queue(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> Result<Queued, StoreError> {
        if let Some(reason) = self.shared.failure.lock().clone() {
            return Err(StoreError::Failed(reason));
        }
        let mut tail = self.shared.tail.lock();
        if expected_first_seq != tail.next_seq {
            return Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual: tail.next_seq,
            });
        }
        if payloads.is_empty() {
            return Ok(Queued::Nothing);
        }
        let mut records = Vec::with_capacity(payloads.len());
        let mut metas = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            assert!(
                payload.len() <= PAYLOAD_LEN_MAX,
                "an envelope over PAYLOAD_LEN_MAX is a bug upstream"
            );
            let record = StoredRecord::encode(tail.next_seq, &tail.last_hash, payload);
            tail.next_seq += 1;
            tail.last_hash = record.hash();
            metas.push(RecordMeta {
                seq: record.seq(),
                hash: record.hash(),
            });
            records.push(record);
        }
        let (done, outcome) = oneshot::channel();
        let queue = tail.queue.as_ref().ok_or(StoreError::Closed)?;
        // Sent under the lock, so the queue is in seq order.
        queue
            .send(Batch {
                metas,
                records,
                done,
            })
            .map_err(|_| StoreError::Closed)?;
        Ok(Queued::Waiting(outcome))
    }

    /// The acknowledged head.
    pub fn head(&self) -> Head {
        *self.shared.durable.lock()
    }

    /// The acknowledged head, for a follower to move when it sees records
    /// another process appended.
    pub fn durable_head(&self) -> DurableHead {
        DurableHead(self.shared.clone())
    }

    pub fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.shared.durable_tx.subscribe()
    }

    pub fn sync_stats(&self) -> SyncStats {
        self.shared.stats.lock().clone()
    }

    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().clone()
    }

    /// Waits for everything queued to be acknowledged (or to fail).
    pub async fn close(mut self) {
        self.shared.tail.lock().queue = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.tail.lock().queue = None;
    }
}

/// The acknowledged head of a `Writer`, shared with a follower.
#[derive(Clone)]
pub struct DurableHead(Arc<Shared>);

impl DurableHead {
    pub fn get(&self) -> Head {
        *self.0.durable.lock()
    }

    /// Moves the head forward to `head`, never back.
    pub fn publish(&self, head: Head) {
        self.0.publish_durable(head);
    }
}

enum Queued {
    Nothing,
    Waiting(oneshot::Receiver<Result<Vec<RecordMeta>, StoreError>>),
}

/// The writer task: takes every batch waiting, appends their records in as
/// few appends as `limits` allow, and answers each caller once its last
/// record is acknowledged.
async fn write_groups<A: Appender>(
    mut appender: A,
    mut queue: mpsc::UnboundedReceiver<Batch>,
    shared: Arc<Shared>,
    limits: GroupLimits,
) {
    while let Some(mut first) = queue.recv().await {
        let mut records = std::mem::take(&mut first.records);
        let mut bytes: usize = records.iter().map(StoredRecord::len).sum();
        let mut group = vec![first];
        while records.len() < limits.group_records_max && bytes < limits.group_bytes_max {
            let Ok(mut batch) = queue.try_recv() else {
                break;
            };
            bytes += batch.records.iter().map(StoredRecord::len).sum::<usize>();
            records.append(&mut batch.records);
            group.push(batch);
        }
        if let Some(reason) = shared.failure.lock().clone() {
            for batch in group {
                let _ = batch.done.send(Err(StoreError::Failed(reason.clone())));
            }
            continue;
        }
        let mut waiting = group.into_iter().peekable();
        let mut written = 0;
        while written < records.len() {
            let count = chunk_len(&records[written..], limits.append_bytes_max);
            let chunk = &records[written..written + count];
            let first_seq = chunk[0].seq();
            let last = &chunk[count - 1];
            assert_eq!(last.seq() + 1 - first_seq, count as u64, "a chunk is dense");
            match appender.append(expected_before(first_seq), chunk).await {
                Ok(()) => {
                    written += count;
                    shared.stats.lock().record_batch(count as u64);
                    shared.publish_durable(Head {
                        len: last.seq() + 1,
                        last_hash: last.hash(),
                    });
                    while let Some(batch) = waiting.next_if(|batch| {
                        batch.metas.last().expect("a batch holds records").seq <= last.seq()
                    }) {
                        let _ = batch.done.send(Ok(batch.metas));
                    }
                }
                Err(error) => {
                    let reason = shared.fail(match &error {
                        AppendError::Conflict { actual_len } => format!(
                            "another writer appended: the stream holds {actual_len} records, \
                             this process expected {first_seq}; reopen to continue from the \
                             log as it is"
                        ),
                        AppendError::Unknown(why) => format!(
                            "appending records {first_seq}.. failed and whether they were \
                             written is unknown until the store is reopened and read again: {why}"
                        ),
                    });
                    let conflict_at = match error {
                        AppendError::Conflict { actual_len } => Some(actual_len),
                        AppendError::Unknown(_) => None,
                    };
                    for batch in waiting {
                        // Only the caller whose records the refused append
                        // began with learns where the stream is; the rest
                        // were never tried.
                        let answer = match conflict_at {
                            Some(actual) if batch.metas[0].seq == first_seq => {
                                StoreError::WrongExpectedSeq {
                                    expected: first_seq,
                                    actual,
                                }
                            }
                            _ => StoreError::Failed(reason.clone()),
                        };
                        let _ = batch.done.send(Err(answer));
                    }
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
    use mingzhang_ledger::store::contract::{StoreHarness, numbered_payload, run_contract_suite};
    use mingzhang_ledger::store::{AppendFuture, EventStore, Head, StoreError, SyncStats};
    use parking_lot::Mutex;
    use tokio::sync::watch;

    use super::{AppendError, Appender, GroupLimits, Writer, chunk_len};
    use crate::position::{ExpectedRevision, len_after};

    /// A server that keeps one stream and honours the expected revision as
    /// KurrentDB does; `down` makes every append's outcome unknown.
    #[derive(Clone, Default)]
    struct ExpectingServer {
        events: Arc<Mutex<Vec<StoredRecord>>>,
        down: Arc<AtomicBool>,
    }

    impl ExpectingServer {
        fn head(&self) -> Head {
            let events = self.events.lock();
            Head {
                len: events.len() as u64,
                last_hash: events.last().map_or(GENESIS_PREV_HASH, StoredRecord::hash),
            }
        }
    }

    impl Appender for ExpectingServer {
        async fn append(
            &mut self,
            expected: ExpectedRevision,
            records: &[StoredRecord],
        ) -> Result<(), AppendError> {
            tokio::task::yield_now().await;
            if self.down.load(Ordering::SeqCst) {
                return Err(AppendError::Unknown("connection reset".into()));
            }
            let mut events = self.events.lock();
            let actual_len = events.len() as u64;
            let expected_len = match expected {
                ExpectedRevision::NoStream => 0,
                ExpectedRevision::Last(revision) => len_after(Some(revision)),
            };
            if expected_len != actual_len {
                return Err(AppendError::Conflict { actual_len });
            }
            events.extend_from_slice(records);
            Ok(())
        }
    }

    /// The writer with reads served from the server's stream up to the
    /// acknowledged length, as the real store's reader does.
    struct WriterOnServer {
        writer: Writer,
        server: ExpectingServer,
    }

    impl EventStore for WriterOnServer {
        fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
            self.writer.append(expected_first_seq, payloads)
        }
        fn head(&self) -> Head {
            self.writer.head()
        }
        fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
            let len = self.writer.head().len;
            if from_seq > len {
                return Err(StoreError::OutOfRange { seq: from_seq, len });
            }
            let end = len.min(from_seq.saturating_add(max_records as u64));
            Ok(self.server.events.lock()[from_seq as usize..end as usize].to_vec())
        }
        fn watch_durable_len(&self) -> watch::Receiver<u64> {
            self.writer.watch_durable_len()
        }
        fn sync_stats(&self) -> Option<SyncStats> {
            Some(self.writer.sync_stats())
        }
        fn failure(&self) -> Option<String> {
            self.writer.failure()
        }
    }

    struct Harness {
        limits: GroupLimits,
    }

    impl Harness {
        fn open(&self, server: ExpectingServer) -> WriterOnServer {
            WriterOnServer {
                writer: Writer::start(server.head(), server.clone(), self.limits),
                server,
            }
        }
    }

    impl StoreHarness for Harness {
        type Store = WriterOnServer;
        async fn fresh(&mut self) -> WriterOnServer {
            self.open(ExpectingServer::default())
        }
        async fn reopen(&mut self, store: WriterOnServer) -> WriterOnServer {
            let server = store.server.clone();
            store.writer.close().await;
            self.open(server)
        }
        async fn break_medium(&mut self, store: &WriterOnServer) -> bool {
            store.server.down.store(true, Ordering::SeqCst);
            true
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_keeps_the_store_contract_on_a_server_that_checks_revisions() {
        run_contract_suite(&mut Harness {
            limits: GroupLimits::default(),
        })
        .await;
    }

    /// Appends of a few records each, so groups are split across appends
    /// and callers are answered chunk by chunk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_contract_holds_when_every_group_takes_several_appends() {
        run_contract_suite(&mut Harness {
            limits: GroupLimits {
                append_bytes_max: 700,
                ..GroupLimits::default()
            },
        })
        .await;
    }

    #[test]
    fn an_append_carries_records_up_to_the_byte_limit_and_at_least_one() {
        let mut prev_hash = GENESIS_PREV_HASH;
        let records: Vec<StoredRecord> = [100usize, 100, 100, 1000, 10]
            .iter()
            .enumerate()
            .map(|(seq, &len)| {
                let record = StoredRecord::encode(seq as u64, &prev_hash, &vec![b'x'; len]);
                prev_hash = record.hash();
                record
            })
            .collect();
        let framed = |i: usize| records[i].len();
        assert_eq!(chunk_len(&records, framed(0) + framed(1)), 2);
        assert_eq!(chunk_len(&records, framed(0) + framed(1) - 1), 1);
        assert_eq!(
            chunk_len(&records, 1),
            1,
            "one record over the limit still goes"
        );
        assert_eq!(chunk_len(&records[3..], framed(3) - 1), 1);
        assert_eq!(chunk_len(&records, usize::MAX), 5);
    }

    /// On one thread the writer runs only once the callers await, so all
    /// eight are queued by then.
    #[tokio::test]
    async fn callers_queued_together_share_one_append() {
        let server = ExpectingServer::default();
        let writer = Writer::start(server.head(), server.clone(), GroupLimits::default());
        let pending: Vec<_> = (0..8u64)
            .map(|seq| writer.append(seq, vec![numbered_payload(seq)]))
            .collect();
        for (seq, outcome) in pending.into_iter().enumerate() {
            assert_eq!(outcome.await.expect("append")[0].seq, seq as u64);
        }
        let stats = writer.sync_stats();
        assert_eq!(stats.records, 8);
        assert_eq!(stats.syncs, 1, "8 callers queued at once");
    }

    /// Another process appended meanwhile: the server refuses our append,
    /// the first caller hears where the stream really is, and the store
    /// fails closed until reopened.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_the_server_refuses_for_its_revision_fails_the_store_closed() {
        let server = ExpectingServer::default();
        let writer = Writer::start(server.head(), server.clone(), GroupLimits::default());
        writer
            .append(0, vec![numbered_payload(0), numbered_payload(1)])
            .await
            .expect("append");
        let mut other = server.clone();
        let theirs = StoredRecord::encode(2, &writer.head().last_hash, b"another writer's record");
        other
            .append(ExpectedRevision::Last(1), std::slice::from_ref(&theirs))
            .await
            .expect("the other writer's append");
        let first = writer.append(2, vec![numbered_payload(2)]);
        let second = writer.append(3, vec![numbered_payload(3)]);
        match first.await {
            Err(StoreError::WrongExpectedSeq { expected, actual }) => {
                assert_eq!((expected, actual), (2, 3));
            }
            other => panic!("an append the server refused: {other:?}"),
        }
        assert!(matches!(second.await, Err(StoreError::Failed(_))));
        let reason = writer.failure().expect("the store failed");
        assert!(reason.contains("another writer appended"), "{reason}");
        assert!(matches!(
            writer.append(2, vec![numbered_payload(2)]).await,
            Err(StoreError::Failed(_))
        ));
        assert_eq!(
            writer.head().len,
            2,
            "nothing of ours past 2 was acknowledged"
        );
        assert_eq!(
            server.events.lock()[2],
            theirs,
            "the other writer's record stands"
        );
    }

    #[tokio::test]
    async fn an_empty_append_at_the_tail_writes_nothing_and_elsewhere_is_refused() {
        let server = ExpectingServer::default();
        let writer = Writer::start(server.head(), server.clone(), GroupLimits::default());
        assert_eq!(
            writer.append(0, Vec::new()).await.expect("empty"),
            Vec::new()
        );
        assert!(matches!(
            writer.append(1, Vec::new()).await,
            Err(StoreError::WrongExpectedSeq {
                expected: 1,
                actual: 0
            })
        ));
        assert_eq!(writer.sync_stats().syncs, 0);
        assert!(server.events.lock().is_empty());
    }
}
