//! The write path's own behaviour: idempotent retries (also concurrent ones),
//! refusals that write nothing, reopen from the log, crash-only failure, and
//! concurrent callers whose batches one of them decides.
//! The store is a test double whose durability and failures the test controls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use mingzhang_proto::v1::{self, EventEnvelope, event_envelope::Event};
use parking_lot::Mutex;
use prost::Message;
use tokio::sync::watch;

use crate::decide::Principal;
use crate::record::{GENESIS_PREV_HASH, StoredRecord};
use crate::service::{CommandMeta, Committed, Ledger, SubmitError};
use crate::store::{AppendFuture, EventStore, Head, RecordMeta, StoreError};

/// Records become durable when `release` is called (or at once when
/// `auto_durable`); `fail_next` makes the next append fail as an fsync error would.
struct ControlledStore {
    records: Mutex<Vec<StoredRecord>>,
    durable_len: watch::Sender<u64>,
    auto_durable: AtomicBool,
    fail_next: AtomicBool,
    /// Set by the injected failure, as a real store remembers why it failed.
    failure: Mutex<Option<String>>,
    append_calls: std::sync::atomic::AtomicUsize,
}

impl ControlledStore {
    fn new(auto_durable: bool) -> Arc<ControlledStore> {
        Arc::new(ControlledStore {
            records: Mutex::new(Vec::new()),
            durable_len: watch::channel(0).0,
            auto_durable: AtomicBool::new(auto_durable),
            fail_next: AtomicBool::new(false),
            failure: Mutex::new(None),
            append_calls: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn release(&self) {
        let len = self.records.lock().len() as u64;
        self.durable_len.send_replace(len);
    }

    fn appended(&self) -> usize {
        self.records.lock().len()
    }

    fn append_calls(&self) -> usize {
        self.append_calls.load(Ordering::SeqCst)
    }
}

impl EventStore for ControlledStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        self.append_calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_next.swap(false, Ordering::SeqCst) {
            let reason = "injected: No space left on device (os error 28)";
            *self.failure.lock() = Some(reason.into());
            return Box::pin(async { Err(StoreError::Failed(reason.into())) });
        }
        let mut records = self.records.lock();
        let actual = records.len() as u64;
        if actual != expected_first_seq {
            return Box::pin(async move {
                Err(StoreError::WrongExpectedSeq {
                    expected: expected_first_seq,
                    actual,
                })
            });
        }
        let mut metas = Vec::new();
        for payload in payloads {
            let prev = records
                .last()
                .map_or(GENESIS_PREV_HASH, |record| record.hash());
            let record = StoredRecord::encode(records.len() as u64, &prev, &payload);
            metas.push(RecordMeta {
                seq: record.seq(),
                hash: record.hash(),
            });
            records.push(record);
        }
        let end = records.len() as u64;
        drop(records);
        if self.auto_durable.load(Ordering::SeqCst) {
            self.durable_len.send_replace(end);
        }
        let mut durable = self.durable_len.subscribe();
        Box::pin(async move {
            durable
                .wait_for(|len| *len >= end)
                .await
                .map_err(|_| StoreError::Closed)?;
            Ok(metas)
        })
    }

    fn head(&self) -> Head {
        let len = *self.durable_len.borrow();
        let records = self.records.lock();
        let last_hash = if len == 0 {
            GENESIS_PREV_HASH
        } else {
            records[len as usize - 1].hash()
        };
        Head { len, last_hash }
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let len = *self.durable_len.borrow() as usize;
        let records = self.records.lock();
        let from = (from_seq as usize).min(len);
        let to = (from + max_records).min(len);
        Ok(records[from..to].to_vec())
    }

    fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.durable_len.subscribe()
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }
}

fn open_fund(id: &str) -> Event {
    Event::FundOpened(v1::FundOpened {
        fund_id: id.into(),
        name: "社区公益基金".into(),
        kind: v1::FundKind::Unrestricted as i32,
        restriction: String::new(),
    })
}

fn keyed(key: &str, fingerprint: u8) -> CommandMeta {
    CommandMeta::operator(1_450_000_000_000, "test").with_idempotency_key(key, [fingerprint; 32])
}

#[tokio::test]
async fn retry_with_the_same_key_returns_the_original_and_writes_nothing() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let first = ledger
        .submit(open_fund("f1"), keyed("k1", 1))
        .await
        .unwrap();
    let retry = ledger
        .submit(open_fund("f1"), keyed("k1", 1))
        .await
        .unwrap();
    assert!(!first.idempotent_replay);
    assert!(retry.idempotent_replay);
    assert_eq!(first.records, retry.records);
    assert_eq!(store.appended(), 1);
}

#[tokio::test]
async fn same_key_with_a_different_request_is_refused() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    ledger
        .submit(open_fund("f1"), keyed("k1", 1))
        .await
        .unwrap();
    let error = ledger
        .submit(open_fund("f2"), keyed("k1", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SubmitError::IdempotencyKeyReused { .. }),
        "{error:?}"
    );
    assert_eq!(store.appended(), 1);
}

#[tokio::test]
async fn concurrent_retries_of_one_key_write_once_and_all_wait_for_durability() {
    let store = ControlledStore::new(false);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let mut attempts = Vec::new();
    for _ in 0..20 {
        let ledger = ledger.clone();
        attempts.push(tokio::spawn(async move {
            ledger.submit(open_fund("f1"), keyed("k1", 1)).await
        }));
    }
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        attempts.iter().all(|attempt| !attempt.is_finished()),
        "a reply came before the record was durable"
    );
    store.release();
    let mut replays = 0;
    let mut results = Vec::new();
    for attempt in attempts {
        let committed = attempt.await.unwrap().unwrap();
        replays += usize::from(committed.idempotent_replay);
        results.push(committed.records);
    }
    assert_eq!(store.appended(), 1);
    assert_eq!(replays, 19);
    assert!(results.windows(2).all(|pair| pair[0] == pair[1]));
}

#[tokio::test]
async fn idempotency_keys_survive_a_reopen() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let first = ledger
        .submit(open_fund("f1"), keyed("k1", 1))
        .await
        .unwrap();
    drop(ledger);
    let reopened = Ledger::open(store.clone()).await.unwrap();
    let retry = reopened
        .submit(open_fund("f1"), keyed("k1", 1))
        .await
        .unwrap();
    assert_eq!(
        (retry.records, retry.idempotent_replay),
        (first.records, true)
    );
    let error = reopened
        .submit(open_fund("f1"), keyed("k1", 9))
        .await
        .unwrap_err();
    assert!(matches!(error, SubmitError::IdempotencyKeyReused { .. }));
    assert_eq!(store.appended(), 1);
}

/// A key is the caller's own: another actor using the same key makes a new
/// request, not a clash, and each actor's retry replays its own records, also
/// after a reopen rebuilds the keys from the records.
#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_actor_that_used_them() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let as_actor = |actor: &str, fingerprint: u8| {
        CommandMeta::operator(1_450_000_000_000, actor)
            .with_idempotency_key("k1", [fingerprint; 32])
    };
    let operators = ledger
        .submit(open_fund("f1"), as_actor("operator:tok_a", 1))
        .await
        .unwrap();
    let sponsors = ledger
        .submit(open_fund("f2"), as_actor("sponsor:unit-01", 2))
        .await
        .unwrap();
    assert!(!sponsors.idempotent_replay);
    assert_ne!(operators.records, sponsors.records);
    drop(ledger);
    let reopened = Ledger::open(store.clone()).await.unwrap();
    for (actor, fingerprint, first) in [
        ("operator:tok_a", 1, &operators),
        ("sponsor:unit-01", 2, &sponsors),
    ] {
        let retry = reopened
            .submit(open_fund("f9"), as_actor(actor, fingerprint))
            .await
            .unwrap();
        assert_eq!(
            (&retry.records, retry.idempotent_replay),
            (&first.records, true),
            "{actor}"
        );
    }
    assert_eq!(store.appended(), 2);
}

#[tokio::test]
async fn refused_command_writes_nothing() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    ledger
        .submit(open_fund("f1"), CommandMeta::operator(0, "test"))
        .await
        .unwrap();
    let error = ledger
        .submit(open_fund("f1"), CommandMeta::operator(0, "test"))
        .await
        .unwrap_err();
    let SubmitError::Rejected(rejection) = error else {
        panic!("expected a rejection")
    };
    assert_eq!(
        (rejection.field.as_str(), rejection.rule),
        ("fund_id", "id_taken")
    );
    assert_eq!(store.appended(), 1);
}

#[tokio::test]
async fn a_failed_append_stops_the_ledger_until_reopened() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    store.fail_next.store(true, Ordering::SeqCst);
    assert!(matches!(
        ledger
            .submit(open_fund("f1"), CommandMeta::operator(0, "t"))
            .await,
        Err(SubmitError::Store(_))
    ));
    // The state already counted f1; the ledger must not build on it.
    let later = ledger
        .submit(open_fund("f2"), CommandMeta::operator(0, "t"))
        .await;
    assert!(
        matches!(&later, Err(SubmitError::Store(StoreError::Failed(reason)))
            if reason.contains("No space left on device")),
        "later commands hear why the log failed: {later:?}"
    );
    let reopened = Ledger::open(store.clone()).await.unwrap();
    reopened
        .submit(open_fund("f1"), CommandMeta::operator(0, "t"))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_records_carry_the_command_time_actor_and_key() {
    use prost::Message;
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let mut meta = keyed("k-7", 7);
    meta.actor = "operator:alice".into();
    meta.principal = Principal::Operator;
    ledger.submit(open_fund("f1"), meta).await.unwrap();
    let record = &store.read(0, 1).unwrap()[0];
    let envelope = v1::EventEnvelope::decode(record.payload()).unwrap();
    assert_eq!(envelope.recorded_at_unix_ms, 1_450_000_000_000);
    assert_eq!(
        (envelope.actor.as_str(), envelope.idempotency_key.as_str()),
        ("operator:alice", "k-7")
    );
    assert_eq!(envelope.request_sha256, vec![7u8; 32]);
}

#[tokio::test]
async fn a_batch_is_decided_in_order_and_written_with_one_append() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let operator = || CommandMeta::operator(1_450_000_000_000, "test");
    let results = ledger
        .submit_many(vec![
            (open_fund("f1"), keyed("k1", 1)),
            // Decided against the batch's own earlier command: f1 exists now.
            (open_fund("f1"), operator()),
            (open_fund("f2"), keyed("k1", 2)),
            (open_fund("f3"), keyed("k3", 3)),
            (open_fund("f3"), keyed("k3", 3)),
        ])
        .await;
    assert_eq!(results.len(), 5);
    let first = results[0].as_ref().expect("f1 opened");
    assert_eq!(first.records[0].seq, 0);
    assert!(
        matches!(&results[1], Err(SubmitError::Rejected(rejection)) if rejection.field == "fund_id")
    );
    assert!(matches!(&results[2], Err(SubmitError::IdempotencyKeyReused { key }) if key == "k1"));
    let f3 = results[3].as_ref().expect("f3 opened");
    assert_eq!(f3.records[0].seq, 1);
    let retry = results[4].as_ref().expect("retry answered");
    assert!(retry.idempotent_replay);
    assert_eq!(retry.records, f3.records);
    assert_eq!(store.appended(), 2, "refusals and the retry write nothing");
    assert_eq!(store.append_calls(), 1, "one append for the whole batch");
}

fn operator() -> CommandMeta {
    CommandMeta::operator(1_450_000_000_000, "test")
}

fn fund_id_of(record: &StoredRecord) -> String {
    match EventEnvelope::decode(record.payload()).unwrap().event {
        Some(Event::FundOpened(fund)) => fund.fund_id,
        other => panic!("not a fund opening: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_each_get_the_records_of_their_own_commands() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let callers: Vec<_> = (0..64)
        .map(|caller| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for n in 0..20 {
                    let fund_id = format!("f-{caller}-{n}");
                    let committed = ledger
                        .submit(open_fund(&fund_id), operator())
                        .await
                        .unwrap();
                    answers.push((committed.records[0], fund_id));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.extend(caller.await.unwrap());
    }
    answers.sort_by_key(|(meta, _)| meta.seq);
    let records = store.read(0, usize::MAX).unwrap();
    assert_eq!(records.len(), 64 * 20);
    for ((meta, fund_id), record) in answers.iter().zip(&records) {
        assert_eq!(meta.seq, record.seq(), "one answer per record");
        assert_eq!(meta.hash, record.hash());
        assert_eq!(&fund_id_of(record), fund_id, "record {}", meta.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_arrives_while_the_state_is_read_is_decided_after_the_read() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let runtime = tokio::runtime::Handle::current();
    let submitted = ledger.with_state(|_| {
        let caller = ledger.clone();
        let submitted =
            runtime.spawn(async move { caller.submit(open_fund("f1"), operator()).await });
        while ledger.waiting_batches() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        submitted
    });
    let committed =
        committed_within_10_s(submitted, "the batch was left waiting for the write side").await;
    assert_eq!(committed.records[0].seq, 0);
}

/// What a spawned `submit` returned, which must come within 10 s.
async fn committed_within_10_s(
    submitted: tokio::task::JoinHandle<Result<Committed, SubmitError>>,
    late: &str,
) -> Committed {
    tokio::time::timeout(Duration::from_secs(10), submitted)
        .await
        .expect(late)
        .expect("the submitting task")
        .expect("committed")
}

// One runtime thread: a caller that waited for the append turn would stop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_batch_decided_while_another_caller_appends_is_left_to_that_caller() {
    let store = ControlledStore::new(true);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    let append_turn = ledger.take_append_turn();
    let caller = ledger.clone();
    let submitted = tokio::spawn(async move { caller.submit(open_fund("f1"), operator()).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ledger.batches_to_append() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the decided batch was not left for the holder of the append turn"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        store.append_calls(),
        0,
        "nothing appended while the turn is held"
    );
    // Waited for on this thread: the runtime's one thread also drives its timers.
    let (ran, runs) = std::sync::mpsc::channel();
    tokio::spawn(async move { ran.send(()) });
    let runtime_thread_free = runs.recv_timeout(Duration::from_secs(5)).is_ok();
    drop(append_turn);
    assert!(
        runtime_thread_free,
        "the submitting caller held the runtime thread waiting for the append turn"
    );
    ledger.append_left_batches();
    let committed = committed_within_10_s(
        submitted,
        "the batch was not appended by the holder of the turn",
    )
    .await;
    assert_eq!(committed.records[0].seq, 0);
    assert_eq!(ledger.batches_to_append(), 0);
}

#[tokio::test]
async fn a_caller_that_goes_away_after_submitting_still_has_its_command_written() {
    let store = ControlledStore::new(false);
    let ledger = Ledger::open(store.clone()).await.unwrap();
    assert!(
        ledger
            .submit(open_fund("f1"), operator())
            .now_or_never()
            .is_none(),
        "not durable yet"
    );
    assert_eq!(store.appended(), 1);
    store.auto_durable.store(true, Ordering::SeqCst);
    store.release();
    let next = ledger
        .submit(open_fund("f2"), operator())
        .await
        .expect("the ledger goes on");
    assert_eq!(next.records[0].seq, 1);
    assert!(ledger.with_state(|state| state.funds.contains_key("f1")));
}
