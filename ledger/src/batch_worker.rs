//! A fold over records on a thread of its own, fed their payloads in
//! batches. An auditor's replay runs several folds over every record (the
//! rules, the read models), each about as costly as reading and hashing the
//! record: on their own threads they share the cores instead of queueing on
//! one. A batch is gathered once and shared (`Arc`) by every fold it goes to,
//! so the reading thread copies each payload once, not once per fold.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

/// Records handed to a worker at a time: large enough that the hand-over
/// costs little per record, small enough to bound the memory in flight.
pub const BATCH_RECORDS: usize = 4096;

/// Batches in flight to a worker before `send` waits for it.
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

/// Gathers the payloads of records, pushed in log order, into batches of
/// `BATCH_RECORDS`.
pub struct Batcher {
    batch: PayloadBatch,
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher {
            batch: PayloadBatch::starting_at(0, 0),
        }
    }
}

impl Batcher {
    /// Adds record `seq`, the next in order; the batch it completes, if any.
    pub fn push(&mut self, seq: u64, payload: &[u8]) -> Option<Arc<PayloadBatch>> {
        assert_eq!(seq, self.batch.next_seq(), "records pushed out of order");
        self.batch.bytes.extend_from_slice(payload);
        self.batch.ends.push(self.batch.bytes.len());
        if self.batch.ends.len() < BATCH_RECORDS {
            return None;
        }
        self.take()
    }

    /// The records gathered since the last batch, if any, as a batch.
    pub fn take(&mut self) -> Option<Arc<PayloadBatch>> {
        if self.batch.ends.is_empty() {
            return None;
        }
        let next = PayloadBatch::starting_at(self.batch.next_seq(), self.batch.bytes.capacity());
        Some(Arc::new(std::mem::replace(&mut self.batch, next)))
    }
}

/// A thread folding every record's payload; `send` it the batches in log
/// order, then `finish` for the fold's result. The fold may stop early (at a
/// record it refuses) by returning: `send` then says false.
pub struct BatchWorker<T> {
    sender: Option<SyncSender<Arc<PayloadBatch>>>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> BatchWorker<T> {
    pub fn spawn(
        name: &str,
        fold: impl FnOnce(Receiver<Arc<PayloadBatch>>) -> T + Send + 'static,
    ) -> BatchWorker<T> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT_MAX);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || fold(receiver))
            .expect("spawn a batch worker");
        BatchWorker {
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Hands `batch`, the next in order, to the fold. False once the fold
    /// has stopped: `finish` says why.
    pub fn send(&mut self, batch: Arc<PayloadBatch>) -> bool {
        let sender = self.sender.as_ref().expect("sending until finished");
        sender.send(batch).is_ok()
    }

    /// Waits for the fold to take every batch sent and returns its result.
    pub fn finish(mut self) -> T {
        drop(self.sender.take());
        let thread = self.thread.take().expect("finished once");
        match thread.join() {
            Ok(outcome) => outcome,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two folds fed the same batches each see every record once, in order,
    /// the last batch holding what did not fill one.
    #[test]
    fn folds_sharing_batches_each_see_every_record_in_order() {
        let records = BATCH_RECORDS * 2 + 5;
        let payload_of = |seq: usize| seq.to_le_bytes()[..1 + seq % 8].to_vec();
        let fold = |batches: Receiver<Arc<PayloadBatch>>| {
            let mut seen = Vec::new();
            for batch in batches {
                seen.extend(
                    batch
                        .records()
                        .map(|(seq, payload)| (seq, payload.to_vec())),
                );
            }
            seen
        };
        let mut first = BatchWorker::spawn("first", fold);
        let mut second = BatchWorker::spawn("second", fold);
        let mut batcher = Batcher::default();
        let mut batches = 0;
        for seq in 0..records {
            if let Some(batch) = batcher.push(seq as u64, &payload_of(seq)) {
                batches += 1;
                assert!(first.send(batch.clone()));
                assert!(second.send(batch));
            }
        }
        assert_eq!(batches, 2);
        let rest = batcher.take().expect("five records left over");
        assert_eq!(rest.records().count(), 5);
        assert!(batcher.take().is_none());
        assert!(first.send(rest.clone()));
        assert!(second.send(rest));
        let expected: Vec<(u64, Vec<u8>)> = (0..records)
            .map(|seq| (seq as u64, payload_of(seq)))
            .collect();
        assert_eq!(first.finish(), expected);
        assert_eq!(second.finish(), expected);
    }

    #[test]
    fn a_fold_that_stopped_refuses_further_batches() {
        let mut worker = BatchWorker::spawn("stops", |batches: Receiver<Arc<PayloadBatch>>| {
            batches.recv().map(|batch| batch.records().count())
        });
        let mut batcher = Batcher::default();
        batcher.push(0, b"only");
        let batch = batcher.take().expect("one record");
        assert!(worker.send(batch.clone()));
        // The fold returns after one batch and the channel closes with it,
        // however late the thread runs (a send waiting for room then fails).
        let mut refused = false;
        for _ in 0..1000 {
            if !worker.send(batch.clone()) {
                refused = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(refused);
        assert_eq!(worker.finish(), Ok(1));
    }
}
