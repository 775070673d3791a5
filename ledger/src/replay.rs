//! The re-deciding replay: every recorded event goes through the same rules
//! (`decide`) against the state the earlier records fold to, and must come
//! out exactly as recorded. What the write side would have refused, or would
//! have recorded differently (a derived field such as a reversal's amount),
//! is an error naming the record's seq and the rule.
//!
//! An auditor's `verify` and `Ledger::open` both replay through a
//! [`Replayer`], so a log the rules refuse is neither reported as sound nor
//! extended. Pure: no I/O, no clock.

use mingzhang_proto::v1::EventEnvelope;

use crate::decide::{Rejection, decide};
use crate::id_map::IdMap;
use crate::service::IDEMPOTENCY_KEY_LEN_MAX;
use crate::state::LedgerState;

/// A recorded event the rules do not accept, by the record's seq.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("record seq {seq}: the envelope carries no event")]
    NoEvent { seq: u64 },
    #[error("record seq {seq}: refused by the rules: {rejection}")]
    Refused { seq: u64, rejection: Rejection },
    /// `decide` accepts the command but derives other fields than recorded.
    #[error(
        "record seq {seq}: differs from what the rules derive [derived_field_mismatch]: recorded {recorded}, derived {derived}"
    )]
    DiffersFromDecided {
        seq: u64,
        recorded: String,
        derived: String,
    },
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
            ReplayError::NoEvent { seq }
            | ReplayError::Refused { seq, .. }
            | ReplayError::DiffersFromDecided { seq, .. }
            | ReplayError::IdempotencyKey { seq, .. } => *seq,
        }
    }
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
}

impl Replayer {
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
        assert_eq!(
            seq, self.next_seq,
            "replayed out of order: got seq {seq}, expected {}",
            self.next_seq
        );
        let recorded = envelope
            .event
            .as_ref()
            .ok_or(ReplayError::NoEvent { seq })?;
        let key_use = self.check_idempotency_key(seq, envelope)?;
        // `decide` takes the command by value and hands back the event it
        // would record; the recorded one is the command it is given.
        let derived = decide(&self.state, recorded.clone())
            .map_err(|rejection| ReplayError::Refused { seq, rejection })?;
        if derived != *recorded {
            return Err(ReplayError::DiffersFromDecided {
                seq,
                recorded: format!("{recorded:?}"),
                derived: format!("{derived:?}"),
            });
        }
        self.state.apply(&derived);
        if let Some(key_use) = key_use {
            self.keys.insert(&envelope.idempotency_key, key_use);
        }
        self.next_seq += 1;
        Ok(())
    }

    /// The write side records a key with the request hash it came with, and
    /// records nothing for a key it has seen before (a retry answers with
    /// the first record; a different request under it is refused).
    fn check_idempotency_key(
        &self,
        seq: u64,
        envelope: &EventEnvelope,
    ) -> Result<Option<KeyUse>, ReplayError> {
        let key = envelope.idempotency_key.as_str();
        let refused = |field, rule, message: String| ReplayError::IdempotencyKey {
            seq,
            field,
            rule,
            message,
        };
        if key.is_empty() {
            if !envelope.request_sha256.is_empty() {
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
        let Ok(request_sha256) = <[u8; 32]>::try_from(envelope.request_sha256.as_slice()) else {
            return Err(refused(
                "request_sha256",
                "sha256_length",
                "a record with an idempotency key carries the 32-byte SHA-256 of its request"
                    .into(),
            ));
        };
        if let Some(first) = self.keys.get(key) {
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
