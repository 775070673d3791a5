//! The contract every `EventStore` backend keeps, as a suite a backend's tests
//! run against it: `run_contract_suite(&mut harness).await`. Public so the
//! KurrentDB and PostgreSQL backends reuse it from their own crates' tests.

use super::{EventStore, StoreError};
use crate::record::GENESIS_PREV_HASH;

/// How the suite gets stores of one backend.
pub trait StoreHarness {
    type Store: EventStore;
    /// A new, empty log.
    fn fresh(&mut self) -> Self::Store;
    /// Closes `store` and opens the same log again.
    fn reopen(&mut self, store: Self::Store) -> Self::Store;
}

/// A payload whose bytes say which record it is, with varying lengths so that
/// records straddle chunk and segment boundaries.
pub fn numbered_payload(n: u64) -> Vec<u8> {
    let mut payload = format!("event {n} ").into_bytes();
    payload.resize(payload.len() + (n as usize * 37) % 300, b'x');
    payload
}

pub async fn run_contract_suite<H: StoreHarness>(harness: &mut H) {
    seqs_are_dense_and_follow_call_order(harness.fresh()).await;
    append_at_the_wrong_seq_is_refused_and_writes_nothing(harness.fresh()).await;
    reads_return_exactly_the_requested_durable_range(harness.fresh()).await;
    durable_len_watch_follows_appends(harness.fresh()).await;
    reopened_log_keeps_every_record_and_continues(harness).await;
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
    let store = harness.fresh();
    append_numbered(&store, 0, 150).await;
    let head = store.head();
    let before = store.read(0, usize::MAX).expect("read");
    let store = harness.reopen(store);
    assert_eq!(store.head(), head);
    assert_eq!(store.read(0, usize::MAX).expect("read"), before);
    assert_eq!(*store.watch_durable_len().borrow(), 150);
    append_numbered(&store, 150, 10).await;
    let store = harness.reopen(store);
    assert_holds_numbered_records(&store, 160).await;
}
