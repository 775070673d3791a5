//! The write path: `submit(command)` -> `decide` -> append -> durable -> reply.
//!
//! Commands are decided one at a time under a short lock, in the order their
//! records are enqueued. A caller that finds the lock taken leaves its batch
//! to the holder instead of waiting (see `Ledger::decide_arrivals`); the
//! holder leaves the decided batches, in order, to whoever holds the append
//! turn in the same way (`Ledger::append_decided`), so no runtime thread
//! ever waits for either. Every
//! caller waits for durability outside the lock, so many commands share one
//! fsync (group commit). A command may be decided against state that includes
//! earlier, not yet durable events: its own reply waits for its own record,
//! which the log makes durable only after theirs. If an append fails, the
//! in-memory state may be ahead of the disk, so the ledger refuses everything
//! until it is reopened (crash-only).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mingzhang_proto::v1::{EventEnvelope, event_envelope::Event};
use parking_lot::Mutex;
use prost::Message;
use tokio::sync::oneshot;

use crate::decide::{Principal, Rejection, decide_as};
use crate::replay::{KeyUse, ReplayError, Replayer, scoped_key};
use crate::state::LedgerState;
use crate::store::{AppendFuture, EventStore, RecordMeta, StoreError};

pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 200;

const REPLAY_BATCH_RECORDS: usize = 4096;

#[derive(Debug, Clone)]
pub struct CommandMeta {
    /// When the command was accepted; becomes the record's `recorded_at_unix_ms`.
    pub at_unix_ms: i64,
    pub actor: String,
    pub principal: Principal,
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request the key was sent with (see `EventEnvelope`).
    pub request_sha256: [u8; 32],
}

impl CommandMeta {
    /// An operator's command with no idempotency key (CLI, tests).
    pub fn operator(at_unix_ms: i64, actor: &str) -> CommandMeta {
        CommandMeta {
            at_unix_ms,
            actor: actor.to_owned(),
            principal: Principal::Operator,
            idempotency_key: None,
            request_sha256: [0; 32],
        }
    }

    pub fn with_idempotency_key(
        mut self,
        key: impl Into<String>,
        request_sha256: [u8; 32],
    ) -> CommandMeta {
        self.idempotency_key = Some(key.into());
        self.request_sha256 = request_sha256;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub records: Vec<RecordMeta>,
    /// The key had been used with this request before: nothing new was written.
    pub idempotent_replay: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("refused: {0}")]
    Rejected(Rejection),
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyKeyReused { key: String },
    #[error("idempotency key must be 1 to {IDEMPOTENCY_KEY_LEN_MAX} characters")]
    IdempotencyKeyInvalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Refused(#[from] ReplayError),
}

struct WriteSide {
    state: LedgerState,
    next_seq: u64,
    keys: crate::id_map::IdMap<KeyUse>,
}

pub struct Ledger {
    store: Arc<dyn EventStore>,
    write_side: Mutex<WriteSide>,
    /// Batches waiting for whoever holds the write side (see `decide_arrivals`).
    arrivals: Mutex<Vec<Arrival>>,
    /// Decided batches in sequence order, waiting for whoever holds the
    /// append turn (see `append_decided`); pushed to under the write side.
    to_append: Mutex<Vec<ToAppend>>,
    /// Held by whoever encodes and appends decided batches, one at a time, so
    /// appends keep their sequence order.
    append_turn: Mutex<()>,
    failed: AtomicBool,
}

/// A caller's commands, and where to send what became of them.
struct Arrival {
    commands: Vec<(Event, CommandMeta)>,
    decided: oneshot::Sender<DecidedBatch>,
}

/// One caller's commands, decided, with the envelopes of the accepted ones
/// still to encode and append.
struct ToAppend {
    first_seq: u64,
    outcomes: Vec<Decided>,
    envelopes: Vec<EventEnvelope>,
    reply: oneshot::Sender<DecidedBatch>,
}

/// One caller's commands, decided, with the append of the accepted ones.
struct DecidedBatch {
    first_seq: u64,
    outcomes: Vec<Decided>,
    pending: Option<AppendFuture>,
}

/// The error of every command after the log failed: the store's own reason
/// (a full disk, a failed fsync), so the caller can tell which it was.
fn failed_earlier(store: &dyn EventStore) -> StoreError {
    let reason = store
        .failure()
        .unwrap_or_else(|| "an earlier append failed".into());
    StoreError::Failed(format!("{reason}; reopen the ledger"))
}

impl Ledger {
    /// Replays every durable record into the decision state and the key
    /// index, re-deciding each (see `replay::Replayer`): a log whose records
    /// the rules refuse is refused, naming the first such record, because
    /// commands decided against a state that left it out could not be
    /// trusted either.
    pub async fn open(store: Arc<dyn EventStore>) -> Result<Arc<Ledger>, LedgerError> {
        let mut replayer = Replayer::default();
        let len = store.head().len;
        replayer.reserve_records(len);
        while replayer.checked_len() < len {
            let records = store.read(replayer.checked_len(), REPLAY_BATCH_RECORDS)?;
            assert!(
                !records.is_empty(),
                "store returned no records below its head"
            );
            let first_seq = replayer.checked_len();
            replayer.check_payloads(records.iter().zip(first_seq..).map(|(record, seq)| {
                assert_eq!(record.seq(), seq, "store returned records out of order");
                (seq, record.payload())
            }))?;
        }
        let (state, keys, next_seq) = replayer.into_parts();
        let write_side = WriteSide {
            state,
            next_seq,
            keys,
        };
        Ok(Arc::new(Ledger {
            store,
            write_side: Mutex::new(write_side),
            arrivals: Mutex::new(Vec::new()),
            to_append: Mutex::new(Vec::new()),
            append_turn: Mutex::new(()),
            failed: AtomicBool::new(false),
        }))
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    /// Decides `command` and, if accepted, returns once its record is durable.
    pub async fn submit(
        &self,
        command: Event,
        meta: CommandMeta,
    ) -> Result<Committed, SubmitError> {
        let mut results = self.submit_many(vec![(command, meta)]).await;
        results.pop().expect("one result per command")
    }

    /// Decides every command in order under one lock and appends the accepted
    /// ones with one `append`, so a batch costs one enqueue and one wake-up
    /// instead of one per command. Each command gets its own result: a refused
    /// command does not stop the others, and later commands are decided
    /// against the state that includes the earlier ones of the batch.
    pub async fn submit_many(
        &self,
        commands: Vec<(Event, CommandMeta)>,
    ) -> Vec<Result<Committed, SubmitError>> {
        if self.failed.load(Ordering::Acquire) {
            return commands
                .iter()
                .map(|_| Err(failed_earlier(self.store.as_ref()).into()))
                .collect();
        }
        let command_count = commands.len();
        let (decided_tx, decided_rx) = oneshot::channel();
        self.arrivals.lock().push(Arrival {
            commands,
            decided: decided_tx,
        });
        self.decide_arrivals();
        match decided_rx.await {
            Ok(batch) => self.settle(batch).await,
            // Only a panic while deciding or appending drops a batch.
            Err(_) => (0..command_count)
                .map(|_| Err(StoreError::Failed("the decision of this batch failed".into()).into()))
                .collect(),
        }
    }

    /// Whoever takes the write side decides every batch that has arrived, its
    /// own and those of callers that found it taken, so no caller blocks a
    /// runtime thread waiting for the lock. It leaves them, in sequence
    /// order, to whoever holds the append turn, and lets the write side go
    /// for the next holder to decide while they are encoded and appended.
    /// After letting go it looks again: a batch that arrived while it held
    /// the lock would otherwise wait for the next caller.
    fn decide_arrivals(&self) {
        loop {
            let Some(mut write_side) = self.write_side.try_lock() else {
                // The holder looks at the arrivals after it lets go.
                return;
            };
            let arrived = std::mem::take(&mut *self.arrivals.lock());
            for arrival in &arrived {
                warm_up(&write_side, &arrival.commands);
            }
            let decided: Vec<ToAppend> = arrived
                .into_iter()
                .map(|arrival| {
                    let first_seq = write_side.next_seq;
                    let mut outcomes = Vec::with_capacity(arrival.commands.len());
                    let mut envelopes = Vec::with_capacity(arrival.commands.len());
                    for (command, meta) in arrival.commands {
                        outcomes.push(decide_one(&mut write_side, command, meta, &mut envelopes));
                    }
                    ToAppend {
                        first_seq,
                        outcomes,
                        envelopes,
                        reply: arrival.decided,
                    }
                })
                .collect();
            // Under the write side, so batches queue in sequence order.
            self.to_append.lock().extend(decided);
            drop(write_side);
            self.append_decided();
            if self.arrivals.lock().is_empty() {
                return;
            }
        }
    }

    /// Whoever takes the append turn encodes and appends every decided batch
    /// in order and hands each its pending append. Like the write side, the
    /// turn is only ever tried: a caller that finds it taken leaves its
    /// batches to the holder, who looks again after letting go. Encoding and
    /// hashing the records takes about half as long as deciding them (perf,
    /// 256 writers), and overlaps the next holder's deciding.
    fn append_decided(&self) {
        loop {
            let Some(append_turn) = self.append_turn.try_lock() else {
                return;
            };
            let decided = std::mem::take(&mut *self.to_append.lock());
            for batch in decided {
                let pending = (!batch.envelopes.is_empty()).then(|| {
                    let payloads = batch.envelopes.iter().map(Message::encode_to_vec).collect();
                    self.store.append(batch.first_seq, payloads)
                });
                // The caller may have gone away; its records are appended anyway.
                let _ = batch.reply.send(DecidedBatch {
                    first_seq: batch.first_seq,
                    outcomes: batch.outcomes,
                    pending,
                });
            }
            drop(append_turn);
            if self.to_append.lock().is_empty() {
                return;
            }
        }
    }

    /// Waits for a decided batch's records to be durable and gives each command
    /// its result.
    async fn settle(&self, batch: DecidedBatch) -> Vec<Result<Committed, SubmitError>> {
        let DecidedBatch {
            first_seq,
            outcomes,
            pending,
        } = batch;
        let (metas, mut store_error) = match pending {
            None => (Vec::new(), None),
            Some(pending) => match pending.await {
                Ok(metas) => (metas, None),
                Err(error) => {
                    self.failed.store(true, Ordering::Release);
                    (Vec::new(), Some(error))
                }
            },
        };
        let failure = store_error.as_ref().map(StoreError::to_string);
        let mut results = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            results.push(match outcome {
                Decided::Refused(error) => Err(error),
                Decided::Replay { first_seq, count } => self.replay(first_seq, count).await,
                Decided::Appended { seq } => match &failure {
                    None => Ok(Committed {
                        records: vec![metas[(seq - first_seq) as usize]],
                        idempotent_replay: false,
                    }),
                    // The first caller gets the store's own error, the others its text.
                    Some(reason) => Err(SubmitError::Store(
                        store_error
                            .take()
                            .unwrap_or_else(|| StoreError::Failed(reason.clone())),
                    )),
                },
            });
        }
        results
    }

    /// The original result of a retried key, once the first attempt is durable
    /// (a concurrent retry may arrive before it is).
    async fn replay(&self, first_seq: u64, count: u64) -> Result<Committed, SubmitError> {
        let end = first_seq + count;
        let mut durable = self.store.watch_durable_len();
        durable
            .wait_for(|len| *len >= end)
            .await
            .map_err(|_| StoreError::Closed)?;
        let records = self.store.read(first_seq, count as usize)?;
        assert_eq!(
            records.len() as u64,
            count,
            "durable records missing on replay"
        );
        Ok(Committed {
            records: records
                .iter()
                .map(|record| RecordMeta {
                    seq: record.seq(),
                    hash: record.hash(),
                })
                .collect(),
            idempotent_replay: true,
        })
    }

    /// How many callers' batches wait for the holder of the write side.
    #[cfg(test)]
    pub(crate) fn waiting_batches(&self) -> usize {
        self.arrivals.lock().len()
    }

    /// How many decided batches wait for the holder of the append turn.
    #[cfg(test)]
    pub(crate) fn batches_to_append(&self) -> usize {
        self.to_append.lock().len()
    }

    /// Takes the append turn as a caller appending decided batches would;
    /// whoever lets it go must look at the batches left meanwhile
    /// (`append_left_batches`).
    #[cfg(test)]
    pub(crate) fn take_append_turn(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.append_turn.lock()
    }

    #[cfg(test)]
    pub(crate) fn append_left_batches(&self) {
        self.append_decided();
    }

    /// The rules' refusal of `command` as things stand, without deciding it
    /// for real or recording anything: the API asks before it keeps a
    /// person's name in the side store, so that a command the rules refuse
    /// leaves no name behind. `None` also when `meta`'s idempotency key was
    /// used before: the submit answers a retry, whatever the state says now.
    pub fn refusal(&self, command: &Event, meta: &CommandMeta) -> Option<Rejection> {
        let answer = {
            let write_side = self.write_side.lock();
            let retried = meta
                .idempotency_key
                .as_ref()
                .is_some_and(|key| write_side.keys.get(&scoped_key(&meta.actor, key)).is_some());
            if retried {
                None
            } else {
                decide_as(&write_side.state, &meta.principal, command.clone()).err()
            }
        };
        // Callers that found the write side taken meanwhile left their batches
        // to its holder.
        self.decide_arrivals();
        answer
    }

    /// A read-only view of the decision state, e.g. to check a binding.
    pub fn with_state<T>(&self, read: impl FnOnce(&LedgerState) -> T) -> T {
        let answer = read(&self.write_side.lock().state);
        // Callers that found the write side taken meanwhile left their batches
        // to its holder.
        self.decide_arrivals();
        answer
    }
}

/// What became of one command of a batch, before the append.
enum Decided {
    Refused(SubmitError),
    /// The key was used before with the same request: its original records.
    Replay {
        first_seq: u64,
        count: u64,
    },
    /// Accepted as record `seq`, whose payload was pushed for the append.
    Appended {
        seq: u64,
    },
}

/// Looks up, before a batch is decided, what deciding it will look up in the
/// large tables (see `LedgerState::warm_up`).
fn warm_up(write_side: &WriteSide, commands: &[(Event, CommandMeta)]) {
    for (command, meta) in commands {
        if let Some(key) = &meta.idempotency_key {
            std::hint::black_box(write_side.keys.get(&scoped_key(&meta.actor, key)));
        }
        write_side.state.warm_up(command);
    }
}

/// Decides one command against the write side and, if accepted, applies it
/// and pushes its record's envelope. Caller holds the write-side lock.
fn decide_one(
    write_side: &mut WriteSide,
    command: Event,
    meta: CommandMeta,
    envelopes: &mut Vec<EventEnvelope>,
) -> Decided {
    if let Some(key) = &meta.idempotency_key {
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_LEN_MAX {
            return Decided::Refused(SubmitError::IdempotencyKeyInvalid);
        }
        if let Some(key_use) = write_side.keys.get(&scoped_key(&meta.actor, key)) {
            if key_use.request_sha256 != meta.request_sha256 {
                return Decided::Refused(SubmitError::IdempotencyKeyReused { key: key.clone() });
            }
            // A key is recorded with one record only (`Replayer` checks it).
            return Decided::Replay {
                first_seq: key_use.seq,
                count: 1,
            };
        }
    }
    let event = match decide_as(&write_side.state, &meta.principal, command) {
        Ok(event) => event,
        Err(rejection) => return Decided::Refused(SubmitError::Rejected(rejection)),
    };
    let seq = write_side.next_seq;
    write_side.state.apply(&event);
    write_side.next_seq += 1;
    if let Some(key) = &meta.idempotency_key {
        write_side.keys.insert(
            scoped_key(&meta.actor, key),
            KeyUse {
                request_sha256: meta.request_sha256,
                seq,
            },
        );
    }
    envelopes.push(EventEnvelope {
        recorded_at_unix_ms: meta.at_unix_ms,
        actor: meta.actor,
        request_sha256: if meta.idempotency_key.is_some() {
            meta.request_sha256.to_vec()
        } else {
            Vec::new()
        },
        idempotency_key: meta.idempotency_key.unwrap_or_default(),
        event: Some(event),
    });
    Decided::Appended { seq }
}
