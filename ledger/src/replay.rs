//! The re-deciding replay: every recorded event goes through the same rules
//! (`decide`) against the state the earlier records fold to, and must come
//! out exactly as recorded. What the write side would have refused, or would
//! have recorded differently (a derived field such as a reversal's amount),
//! is an error naming the record's seq and the rule.
//!
//! An auditor's `verify` and `Ledger::open` both replay through a
//! [`Replayer`], so a log the rules refuse is neither reported as sound nor
//! extended. Pure: no I/O, no clock.

use mingzhang_proto::event_kind::{clear_keeping_kind, field_number, peek_event_field};
use mingzhang_proto::v1::EventEnvelope;
use mingzhang_proto::v1::event_envelope::Event;
use prost::Message;

use std::sync::Arc;

use crate::batch_worker::{BatchWorker, Batcher, PayloadBatch};
use crate::decide::{Rejection, decide};
use crate::id_map::IdMap;
use crate::service::IDEMPOTENCY_KEY_LEN_MAX;
use crate::state::LedgerState;

/// A recorded event the rules do not accept, by the record's seq.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("record seq {seq}: payload is not a valid EventEnvelope: {reason}")]
    Undecodable { seq: u64, reason: String },
    #[error("record seq {seq}: the envelope carries no event")]
    NoEvent { seq: u64 },
    #[error("record seq {seq}: refused by the rules: {rejection}")]
    Refused { seq: u64, rejection: Rejection },
    /// `decide` accepts the command but derives other fields than recorded.
    #[error(
        "record seq {seq}: differs from what the rules derive [derived_field_mismatch]: they record {derived}"
    )]
    DiffersFromDecided { seq: u64, derived: String },
    /// The envelope's idempotency key or request hash breaks a rule the
    /// write side keeps (see `Ledger::submit`).
    #[error("record seq {seq}: {field}: {message} [{rule}]")]
    IdempotencyKey {
        seq: u64,
        field: &'static str,
        rule: &'static str,
        message: String,
    },
}

impl ReplayError {
    pub fn seq(&self) -> u64 {
        match self {
            ReplayError::Undecodable { seq, .. }
            | ReplayError::NoEvent { seq }
            | ReplayError::Refused { seq, .. }
            | ReplayError::DiffersFromDecided { seq, .. }
            | ReplayError::IdempotencyKey { seq, .. } => *seq,
        }
    }
}

/// What an idempotency key is looked up by: the key within the actor that
/// sent it, so one caller's keys never clash with, nor reveal, another's.
/// Records store the actor and the bare key, so logs written while keys were
/// global rebuild the same table: each key there was used by one actor only.
/// The actor's length comes first, so no actor and key run into another pair.
pub(crate) fn scoped_key(actor: &str, key: &str) -> String {
    format!("{}/{actor}/{key}", actor.len())
}

/// The first record an idempotency key was used with.
#[derive(Debug, Clone)]
pub(crate) struct KeyUse {
    pub request_sha256: [u8; 32],
    pub seq: u64,
}

/// The decision state and idempotency keys of the records checked so far.
#[derive(Debug, Default)]
pub struct Replayer {
    state: LedgerState,
    keys: IdMap<KeyUse>,
    next_seq: u64,
    /// The encoding of the last decided event (see `check_payload`).
    encoded: Vec<u8>,
    /// Envelopes decided, their strings' capacity kept, for the next
    /// records to be decoded into (`decode_reusing`): at most
    /// `WARM_UP_RECORDS`. Boxed: an envelope is hundreds of bytes, and
    /// each record's would otherwise be copied several times on its way
    /// through the look-ahead (a tenth of the rules' CPU in a profile).
    #[allow(clippy::vec_box)] // moved in and out of it: see above
    spare_envelopes: Vec<Box<EventEnvelope>>,
}

/// Records `check_payloads` decodes, and looks up, before deciding them.
const WARM_UP_RECORDS: usize = 16;

impl Replayer {
    /// Makes room for `records` more records when the caller knows how many
    /// are coming (an audit counts them first), so that the tables kept per
    /// donation grow once instead of doubling: each doubling copies into
    /// fresh memory the kernel must fault in and zero.
    pub fn reserve_records(&mut self, records: u64) {
        self.state
            .reserve_records(usize::try_from(records).unwrap_or(usize::MAX));
    }

    /// How many records have been checked; the next `check` must carry this seq.
    pub fn checked_len(&self) -> u64 {
        self.next_seq
    }

    /// The decision state after every record checked so far.
    pub fn state(&self) -> &LedgerState {
        &self.state
    }

    /// Checks record `seq` and, if the rules accept it exactly as recorded,
    /// folds it into the state. A refused record changes nothing, so the
    /// replayer still holds the state before it. Records must come in log
    /// order without gaps: anything else is a bug in the caller.
    pub fn check(&mut self, seq: u64, envelope: &EventEnvelope) -> Result<(), ReplayError> {
        let recorded = envelope
            .event
            .as_ref()
            .ok_or(ReplayError::NoEvent { seq })?;
        // `decide` takes the command by value and hands back the event it
        // would record; the recorded one is the command it is given.
        self.check_event(
            seq,
            &envelope.actor,
            &envelope.idempotency_key,
            &envelope.request_sha256,
            recorded.clone(),
            |derived| derived == recorded,
        )
        .map(drop)
    }

    /// `check` on a record's payload. The envelope is decoded into the
    /// strings of one decoded before (`decode_reusing`): decoding afresh
    /// allocates every string, about ten per donation.
    pub fn check_payload(&mut self, seq: u64, payload: &[u8]) -> Result<(), ReplayError> {
        let decoded = self.decode(payload);
        self.check_decoded(seq, payload, decoded)
    }

    /// `check_payload` on each record in turn, stopping at the first the
    /// rules refuse: what the audit and `Ledger::open` run over every
    /// record, so it must keep up with a log of millions. Records are
    /// decoded `WARM_UP_RECORDS` at a time and their ids looked up one right
    /// after another before any is decided (`LedgerState::warm_up`), so the
    /// processor waits for those cache misses together, not one by one.
    pub fn check_payloads<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u64, &'a [u8])>,
    ) -> Result<(), ReplayError> {
        let mut records = records.into_iter();
        let mut chunk = Vec::with_capacity(WARM_UP_RECORDS);
        loop {
            chunk.extend(
                records
                    .by_ref()
                    .take(WARM_UP_RECORDS)
                    .map(|(seq, payload)| (seq, payload, self.decode(payload))),
            );
            if chunk.is_empty() {
                return Ok(());
            }
            for (_, _, decoded) in &chunk {
                if let Ok(envelope) = decoded
                    && let Some(event) = &envelope.event
                {
                    self.state.warm_up(event);
                }
            }
            // A record that does not decode is reported in its turn, after
            // the records before it are checked.
            for (seq, payload, decoded) in chunk.drain(..) {
                self.check_decoded(seq, payload, decoded)?;
            }
        }
    }

    fn decode(&mut self, payload: &[u8]) -> Result<Box<EventEnvelope>, prost::DecodeError> {
        let mut envelope = self.spare_envelopes.pop().unwrap_or_default();
        decode_reusing(&mut envelope, payload).map(|()| envelope)
    }

    fn check_decoded(
        &mut self,
        seq: u64,
        payload: &[u8],
        decoded: Result<Box<EventEnvelope>, prost::DecodeError>,
    ) -> Result<(), ReplayError> {
        let mut envelope = decoded.map_err(|error| ReplayError::Undecodable {
            seq,
            reason: error.to_string(),
        })?;
        let recorded = envelope.event.take().ok_or(ReplayError::NoEvent { seq })?;
        let mut encoded = std::mem::take(&mut self.encoded);
        let checked = self.check_event(
            seq,
            &envelope.actor,
            &envelope.idempotency_key,
            &envelope.request_sha256,
            recorded,
            |derived| {
                // prost writes the oneof, numbered after the header's fields,
                // last: the payload ends with the recorded event's encoding, so
                // equal bytes prove equal events. Other bytes may still encode
                // the same event; only then is it decoded again to compare.
                encoded.clear();
                derived.encode(&mut encoded);
                payload.ends_with(&encoded)
                    || EventEnvelope::decode(payload)
                        .is_ok_and(|envelope| envelope.event.as_ref() == Some(derived))
            },
        );
        self.encoded = encoded;
        // The decided event is the recorded one, moved through `decide`:
        // a later envelope is decoded into its strings.
        envelope.event = Some(checked?);
        self.spare_envelopes.push(envelope);
        Ok(())
    }

    fn check_event(
        &mut self,
        seq: u64,
        actor: &str,
        idempotency_key: &str,
        request_sha256: &[u8],
        recorded: Event,
        is_recorded: impl FnOnce(&Event) -> bool,
    ) -> Result<Event, ReplayError> {
        assert_eq!(
            seq, self.next_seq,
            "replayed out of order: got seq {seq}, expected {}",
            self.next_seq
        );
        // Keys are scoped to the actor that sent them, as the write side
        // looks them up.
        let scoped = (!idempotency_key.is_empty()).then(|| scoped_key(actor, idempotency_key));
        let key_use = self.check_idempotency_key(
            seq,
            idempotency_key,
            scoped.as_deref().unwrap_or_default(),
            request_sha256,
        )?;
        let derived = decide(&self.state, recorded)
            .map_err(|rejection| ReplayError::Refused { seq, rejection })?;
        if !is_recorded(&derived) {
            return Err(ReplayError::DiffersFromDecided {
                seq,
                derived: format!("{derived:?}"),
            });
        }
        self.state.apply(&derived);
        if let (Some(key_use), Some(scoped)) = (key_use, scoped) {
            self.keys.insert(scoped, key_use);
        }
        self.next_seq += 1;
        Ok(derived)
    }

    /// The write side records a key with the request hash it came with, and
    /// records nothing for a key it has seen before (a retry answers with
    /// the first record; a different request under it is refused).
    fn check_idempotency_key(
        &self,
        seq: u64,
        key: &str,
        scoped_key: &str,
        request_sha256: &[u8],
    ) -> Result<Option<KeyUse>, ReplayError> {
        let refused = |field, rule, message: String| ReplayError::IdempotencyKey {
            seq,
            field,
            rule,
            message,
        };
        if key.is_empty() {
            if !request_sha256.is_empty() {
                return Err(refused(
                    "request_sha256",
                    "request_sha256_without_key",
                    "is recorded only with an idempotency key".into(),
                ));
            }
            return Ok(None);
        }
        if key.len() > IDEMPOTENCY_KEY_LEN_MAX {
            return Err(refused(
                "idempotency_key",
                "idempotency_key_invalid",
                format!("must be 1 to {IDEMPOTENCY_KEY_LEN_MAX} characters"),
            ));
        }
        let Ok(request_sha256) = <[u8; 32]>::try_from(request_sha256) else {
            return Err(refused(
                "request_sha256",
                "sha256_length",
                "a record with an idempotency key carries the 32-byte SHA-256 of its request"
                    .into(),
            ));
        };
        if let Some(first) = self.keys.get(scoped_key) {
            return Err(refused(
                "idempotency_key",
                "idempotency_key_reused",
                format!(
                    "{key:?} was already used by record seq {}; the write side records a key once",
                    first.seq
                ),
            ));
        }
        Ok(Some(KeyUse {
            request_sha256,
            seq,
        }))
    }

    /// The decision state and the key index, for the write side to go on from.
    pub(crate) fn into_parts(self) -> (LedgerState, IdMap<KeyUse>, u64) {
        (self.state, self.keys, self.next_seq)
    }
}

/// Decodes `payload` into `envelope` as `EventEnvelope::decode` would, into
/// the strings `envelope` already holds: cleared, their capacity kept, and
/// its event's kept when the payload carries an event of the same kind.
/// On an error `envelope` holds nothing of the payload.
fn decode_reusing(envelope: &mut EventEnvelope, payload: &[u8]) -> Result<(), prost::DecodeError> {
    // Destructured so that a field added to the envelope fails to compile here.
    let EventEnvelope {
        recorded_at_unix_ms,
        actor,
        idempotency_key,
        request_sha256,
        event,
    } = envelope;
    *recorded_at_unix_ms = 0;
    actor.clear();
    idempotency_key.clear();
    request_sha256.clear();
    // prost merges a oneof field into the variant in place when it is of
    // that field's kind, and replaces any other: a cleared event of the
    // kind the payload's first event field names is what a fresh decode
    // starts that field from. Any other is dropped, or the envelope of a
    // payload without event would still carry it.
    match event {
        Some(kept) if peek_event_field(payload) == Some(field_number(kept)) => {
            clear_keeping_kind(kept);
        }
        _ => *event = None,
    }
    if let Err(error) = envelope.merge(payload) {
        *envelope = EventEnvelope::default();
        debug_assert!(
            EventEnvelope::decode(payload).is_err(),
            "decoding in place refuses a payload a fresh decode accepts: {error}"
        );
        return Err(error);
    }
    debug_assert_eq!(
        EventEnvelope::decode(payload).as_ref(),
        Ok(&*envelope),
        "decoding in place disagrees with a fresh decode"
    );
    Ok(())
}

/// Records sent to a `ReplayThread` at a time.
pub const REPLAY_THREAD_BATCH_RECORDS: usize = crate::batch_worker::BATCH_RECORDS;

/// A `Replayer` on a thread of its own, fed payloads in batches, so that an
/// auditor's replay re-decides every record on one core while another folds
/// the read models: re-deciding costs about as much as projecting.
pub struct ReplayThread {
    batcher: Batcher,
    worker: BatchWorker<Result<u64, ReplayError>>,
}

impl ReplayThread {
    /// `records`: how many records are coming, if known (else 0).
    pub fn spawn(records: u64) -> ReplayThread {
        let worker = BatchWorker::spawn("replay", move |batches| {
            let mut replayer = Replayer::default();
            replayer.reserve_records(records);
            // Ends, dropping the receiver, at the first record refused.
            for batch in batches {
                replayer.check_payloads(batch.records())?;
            }
            Ok(replayer.checked_len())
        });
        ReplayThread {
            batcher: Batcher::default(),
            worker,
        }
    }

    /// Queues record `seq` (the next in order) for checking. False once the
    /// thread has met a record the rules refuse: `finish` says which.
    pub fn push(&mut self, seq: u64, payload: &[u8]) -> bool {
        match self.batcher.push(seq, payload) {
            Some(batch) => self.worker.send(batch),
            None => true,
        }
    }

    /// Queues a batch gathered by the caller (and shared with other folds),
    /// the next records in order; not to be mixed with `push`. False once
    /// the thread has met a record the rules refuse.
    pub fn send(&mut self, batch: Arc<PayloadBatch>) -> bool {
        self.worker.send(batch)
    }

    /// Checks what is queued and returns how many records were checked, or
    /// the first record the rules refuse.
    pub fn finish(mut self) -> Result<u64, ReplayError> {
        if let Some(batch) = self.batcher.take() {
            self.worker.send(batch);
        }
        self.worker.finish()
    }
}
