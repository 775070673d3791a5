//! The contract every `EventStore` backend keeps, as a suite a backend's tests
//! run against it: `run_contract_suite(&mut harness).await`. Public so the
//! backends in crates of their own (`stores/postgres`) run the same suite as
//! the file log and the memory store; it needs nothing beyond what `ledger`
//! already depends on, so it is always compiled rather than behind a feature.

use std::future::Future;
use std::sync::Arc;

use super::{EventStore, StoreError};
use crate::merkle::{self, Frontier};
use crate::record::{GENESIS_PREV_HASH, StoredRecord};

/// How the suite gets stores of one backend. Async because opening a store
/// may mean connecting to a server.
pub trait StoreHarness {
    type Store: EventStore;
    /// A new, empty log.
    fn fresh(&mut self) -> impl Future<Output = Self::Store>;
    /// Closes `store` and opens the same log again.
    fn reopen(&mut self, store: Self::Store) -> impl Future<Output = Self::Store>;
    /// Makes every later write of `store` to its medium fail, as a dying
    /// disk's or a dropped database connection's would. `false` for a
    /// backend that has no medium to lose (the memory store): the suite then
    /// says it skipped the check.
    fn break_medium(&mut self, store: &Self::Store) -> impl Future<Output = bool>;
}

/// A payload whose bytes say which record it is, with varying lengths so that
/// records straddle chunk and segment boundaries.
pub fn numbered_payload(n: u64) -> Vec<u8> {
    let mut payload = format!("event {n} ").into_bytes();
    payload.resize(payload.len() + (n as usize * 37) % 300, b'x');
    payload
}

pub async fn run_contract_suite<H: StoreHarness>(harness: &mut H) {
    seqs_are_dense_and_follow_call_order(harness.fresh().await).await;
    append_at_the_wrong_seq_is_refused_and_writes_nothing(harness.fresh().await).await;
    reads_return_exactly_the_requested_durable_range(harness.fresh().await).await;
    durable_len_watch_follows_appends(harness.fresh().await).await;
    concurrent_appenders_get_one_dense_order(harness.fresh().await).await;
    two_appends_at_one_position_never_fork(harness.fresh().await).await;
    a_follower_catches_up_then_follows(harness.fresh().await).await;
    reopened_log_keeps_every_record_and_continues(harness).await;
    chain_and_merkle_tree_continue_across_reopen(harness).await;
    a_failed_store_stays_failed(harness).await;
}

async fn append_numbered(store: &dyn EventStore, from: u64, count: u64) {
    let payloads = (from..from + count).map(numbered_payload).collect();
    let metas = store.append(from, payloads).await.expect("append");
    let seqs: Vec<u64> = metas.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (from..from + count).collect::<Vec<_>>());
}

/// Checks that `store` holds exactly records `0..len` made by `append_numbered`.
async fn assert_holds_numbered_records(store: &dyn EventStore, len: u64) {
    let records = store.read(0, usize::MAX).expect("read all");
    assert_eq!(records.len() as u64, len);
    let mut prev_hash = GENESIS_PREV_HASH;
    for (seq, record) in records.iter().enumerate() {
        assert_eq!(record.seq(), seq as u64);
        assert_eq!(record.payload(), numbered_payload(seq as u64).as_slice());
        assert_eq!(record.prev_hash(), prev_hash, "chain link of seq {seq}");
        prev_hash = record.hash();
    }
    let head = store.head();
    assert_eq!(head.len, len);
    assert_eq!(head.last_hash, prev_hash);
}

/// The records `append_numbered` makes, chained and framed as
/// docs/log-format.md says, computed without any store: what every backend
/// must hold byte for byte, so the Merkle leaves are the same on all.
fn expected_numbered_records(len: u64) -> Vec<StoredRecord> {
    let mut prev_hash = GENESIS_PREV_HASH;
    (0..len)
        .map(|seq| {
            let record = StoredRecord::encode(seq, &prev_hash, &numbered_payload(seq));
            prev_hash = record.hash();
            record
        })
        .collect()
}

fn merkle_root(records: &[StoredRecord]) -> merkle::Hash {
    let mut frontier = Frontier::new();
    for record in records {
        frontier.append_leaf(record.bytes());
    }
    frontier.root()
}

async fn seqs_are_dense_and_follow_call_order(store: impl EventStore) {
    assert_eq!(store.head().len, 0);
    assert_eq!(store.head().last_hash, GENESIS_PREV_HASH);
    // Enqueued in call order before any is awaited.
    let first = store.append(0, vec![numbered_payload(0)]);
    let second = store.append(1, vec![numbered_payload(1), numbered_payload(2)]);
    let third = store.append(3, vec![numbered_payload(3)]);
    let third = third.await.expect("third");
    let first = first.await.expect("first");
    let second = second.await.expect("second");
    assert_eq!(first.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![0]);
    assert_eq!(second.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(third.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![3]);
    assert_eq!(store.head().last_hash, third[0].hash);
    assert_holds_numbered_records(&store, 4).await;
    let records = store.read(1, 2).expect("read");
    assert_eq!(records[0].hash(), second[0].hash);
    assert_eq!(records[1].hash(), second[1].hash);
}

async fn append_at_the_wrong_seq_is_refused_and_writes_nothing(store: impl EventStore) {
    append_numbered(&store, 0, 2).await;
    let head = store.head();
    for wrong in [0, 1, 3, 100] {
        match store
            .append(wrong, vec![b"should not be stored".to_vec()])
            .await
        {
            Err(StoreError::WrongExpectedSeq { expected, actual }) => {
                assert_eq!((expected, actual), (wrong, 2));
            }
            other => panic!("append at {wrong} on a log of 2: {other:?}"),
        }
    }
    assert_eq!(store.head(), head);
    assert_holds_numbered_records(&store, 2).await;
    append_numbered(&store, 2, 1).await;
}

async fn reads_return_exactly_the_requested_durable_range(store: impl EventStore) {
    let len = 400;
    for start in (0..len).step_by(50) {
        append_numbered(&store, start, 50).await;
    }
    assert_holds_numbered_records(&store, len).await;
    for from in [0, 1, 63, 64, 65, 199, 200, 333, 399] {
        for max in [1, 2, 64, 65, 1000] {
            let records = store.read(from, max).expect("read");
            let expected_len = (len - from).min(max as u64);
            assert_eq!(records.len() as u64, expected_len, "read({from}, {max})");
            for (i, record) in records.iter().enumerate() {
                assert_eq!(record.seq(), from + i as u64);
                assert_eq!(
                    record.payload(),
                    numbered_payload(from + i as u64).as_slice()
                );
            }
        }
    }
    assert!(store.read(len, 10).expect("read at the end").is_empty());
    assert!(store.read(3, 0).expect("read nothing").is_empty());
    match store.read(len + 1, 10) {
        Err(StoreError::OutOfRange { seq, len: at }) => assert_eq!((seq, at), (len + 1, len)),
        other => panic!("read beyond the end: {other:?}"),
    }
}

async fn durable_len_watch_follows_appends(store: impl EventStore) {
    let mut watch = store.watch_durable_len();
    assert_eq!(*watch.borrow_and_update(), 0);
    append_numbered(&store, 0, 3).await;
    assert_eq!(*watch.borrow_and_update(), 3);
    let pending = store.append(3, vec![numbered_payload(3)]);
    watch.changed().await.expect("the store is alive");
    assert_eq!(*watch.borrow_and_update(), 4);
    pending.await.expect("append");
    assert_eq!(store.head().len, 4);
}

async fn reopened_log_keeps_every_record_and_continues<H: StoreHarness>(harness: &mut H) {
    let store = harness.fresh().await;
    append_numbered(&store, 0, 150).await;
    let head = store.head();
    let before = store.read(0, usize::MAX).expect("read");
    let store = harness.reopen(store).await;
    assert_eq!(store.head(), head);
    assert_eq!(store.read(0, usize::MAX).expect("read"), before);
    assert_eq!(*store.watch_durable_len().borrow(), 150);
    append_numbered(&store, 150, 10).await;
    let store = harness.reopen(store).await;
    assert_holds_numbered_records(&store, 160).await;
}

/// Many tasks append at once, each stating the position it took; every one
/// is stored exactly once, in the order the positions were taken.
async fn concurrent_appenders_get_one_dense_order(store: impl EventStore) {
    const WRITERS: u64 = 16;
    const APPENDS_EACH: u64 = 12;
    let store = Arc::new(store);
    let next_seq = Arc::new(tokio::sync::Mutex::new(0u64));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (store, next_seq) = (store.clone(), next_seq.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..APPENDS_EACH {
                let batch = 1 + (writer + n) % 3;
                let (first, pending) = {
                    let mut next = next_seq.lock().await;
                    let first = *next;
                    let payloads = (first..first + batch).map(numbered_payload).collect();
                    let pending = store.append(first, payloads);
                    *next += batch;
                    (first, pending)
                };
                let metas = pending.await.expect("a concurrent append");
                let seqs: Vec<u64> = metas.iter().map(|meta| meta.seq).collect();
                assert_eq!(seqs, (first..first + batch).collect::<Vec<_>>());
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    let len = *next_seq.lock().await;
    assert_holds_numbered_records(&*store, len).await;
}

/// Two writers that both believe the log is at the same position: exactly
/// one is stored, the other is refused naming the real position.
async fn two_appends_at_one_position_never_fork(store: impl EventStore) {
    append_numbered(&store, 0, 5).await;
    let first = store.append(5, vec![numbered_payload(5)]);
    let second = store.append(5, vec![b"a fork of record 5".to_vec()]);
    let (first, second) = (first.await, second.await);
    assert_eq!(first.expect("the first at 5")[0].seq, 5);
    match second {
        Err(StoreError::WrongExpectedSeq { expected, actual }) => {
            assert_eq!((expected, actual), (5, 6));
        }
        other => panic!("a second append at 5: {other:?}"),
    }
    assert_holds_numbered_records(&store, 6).await;
}

/// A follower reads what is there in ranges, then follows the durable length
/// while a writer keeps appending, and ends with every record in order.
async fn a_follower_catches_up_then_follows(store: impl EventStore) {
    const ALREADY: u64 = 100;
    const TOTAL: u64 = 300;
    append_numbered(&store, 0, ALREADY).await;
    let store = Arc::new(store);
    let mut watch = store.watch_durable_len();
    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen: Vec<StoredRecord> = Vec::new();
            loop {
                let durable = *watch.borrow_and_update();
                while (seen.len() as u64) < durable {
                    let chunk = store.read(seen.len() as u64, 64).expect("follower read");
                    assert!(!chunk.is_empty(), "durable records must be readable");
                    seen.extend(chunk);
                }
                if seen.len() as u64 >= TOTAL {
                    return seen;
                }
                watch.changed().await.expect("the store is alive");
            }
        })
    };
    let mut next = ALREADY;
    while next < TOTAL {
        let batch = (TOTAL - next).min(7);
        append_numbered(&*store, next, batch).await;
        next += batch;
        tokio::task::yield_now().await;
    }
    let seen = follower.await.expect("follower task");
    assert_eq!(seen, expected_numbered_records(TOTAL));
}

/// The chain links across batches and across a reopen, and the Merkle tree
/// over the records read back is the one over the records computed without
/// any store, before and after the reopen.
async fn chain_and_merkle_tree_continue_across_reopen<H: StoreHarness>(harness: &mut H) {
    let store = harness.fresh().await;
    for (from, count) in [(0, 1), (1, 2), (3, 30), (33, 31)] {
        append_numbered(&store, from, count).await;
    }
    let expected = expected_numbered_records(100);
    let before = store.read(0, usize::MAX).expect("read");
    assert_eq!(before, expected[..64]);
    let root_before = merkle_root(&before);
    assert_eq!(root_before, merkle_root(&expected[..64]));
    let store = harness.reopen(store).await;
    append_numbered(&store, 64, 36).await;
    let after = store.read(0, usize::MAX).expect("read");
    assert_eq!(after, expected);
    assert_eq!(merkle_root(&after[..64]), root_before);
    assert_eq!(merkle_root(&after), merkle_root(&expected));
    assert_eq!(store.head().last_hash, expected[99].hash());
}

/// After its medium fails, an append is never acknowledged, `failure` says
/// why, and every later append fails too, even at the right position: what
/// reached the medium is unknown until the log is reopened and read again.
async fn a_failed_store_stays_failed<H: StoreHarness>(harness: &mut H) {
    let store = harness.fresh().await;
    append_numbered(&store, 0, 3).await;
    assert_eq!(store.failure(), None);
    if !harness.break_medium(&store).await {
        eprintln!(
            "contract: skipped `a failed store stays failed`: this backend has no medium to fail"
        );
        return;
    }
    let lost = store.append(3, vec![numbered_payload(3)]).await;
    assert!(lost.is_err(), "an append on a failed medium: {lost:?}");
    let reason = store.failure().expect("a failed store says why");
    assert!(!reason.is_empty());
    for _ in 0..2 {
        match store
            .append(store.head().len, vec![numbered_payload(3)])
            .await
        {
            Err(StoreError::Failed(_)) => {}
            other => panic!("an append after the store failed: {other:?}"),
        }
    }
    assert!(store.failure().is_some(), "failed stays failed");
}
