//! A fold over records on a thread of its own, fed their payloads in
//! batches. An auditor's replay runs several folds over every record (the
//! rules, the read models), each about as costly as reading and hashing the
//! record: on their own threads they share the cores instead of queueing on
//! one.

use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

/// Records handed to a worker at a time: large enough that the hand-over
/// costs little per record, small enough to bound the memory in flight.
pub const BATCH_RECORDS: usize = 4096;

/// Batches in flight to a worker before `push` waits for it.
const BATCHES_IN_FLIGHT_MAX: usize = 4;

/// Payloads of consecutive records, concatenated.
pub struct PayloadBatch {
    first_seq: u64,
    bytes: Vec<u8>,
    /// Where each payload ends in `bytes`.
    ends: Vec<usize>,
}

impl PayloadBatch {
    fn starting_at(first_seq: u64, bytes_capacity: usize) -> PayloadBatch {
        PayloadBatch {
            first_seq,
            bytes: Vec::with_capacity(bytes_capacity),
            ends: Vec::with_capacity(BATCH_RECORDS),
        }
    }

    fn next_seq(&self) -> u64 {
        self.first_seq + self.ends.len() as u64
    }

    /// Each record's seq and payload, in order.
    pub fn records(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .enumerate()
            .map(|(index, (start, end))| (self.first_seq + index as u64, &self.bytes[start..end]))
    }
}

/// A thread folding every record's payload; `push` the records in log order,
/// then `finish` for the fold's result. The fold may stop early (at a record
/// it refuses) by returning: `push` then says false.
pub struct BatchWorker<T> {
    batch: PayloadBatch,
    sender: Option<SyncSender<PayloadBatch>>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> BatchWorker<T> {
    pub fn spawn(
        name: &str,
        fold: impl FnOnce(Receiver<PayloadBatch>) -> T + Send + 'static,
    ) -> BatchWorker<T> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT_MAX);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || fold(receiver))
            .expect("spawn a batch worker");
        BatchWorker {
            batch: PayloadBatch::starting_at(0, 0),
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Queues record `seq`, the next in order. False once the fold has
    /// stopped: `finish` says why.
    pub fn push(&mut self, seq: u64, payload: &[u8]) -> bool {
        assert_eq!(seq, self.batch.next_seq(), "records pushed out of order");
        self.batch.bytes.extend_from_slice(payload);
        self.batch.ends.push(self.batch.bytes.len());
        if self.batch.ends.len() < BATCH_RECORDS {
            return true;
        }
        self.send_batch()
    }

    fn send_batch(&mut self) -> bool {
        let next = PayloadBatch::starting_at(self.batch.next_seq(), self.batch.bytes.capacity());
        let batch = std::mem::replace(&mut self.batch, next);
        let sender = self.sender.as_ref().expect("sending until finished");
        sender.send(batch).is_ok()
    }

    /// Hands over what is queued, waits for the fold and returns its result.
    pub fn finish(mut self) -> T {
        if !self.batch.ends.is_empty() {
            self.send_batch();
        }
        drop(self.sender.take());
        let thread = self.thread.take().expect("finished once");
        match thread.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
