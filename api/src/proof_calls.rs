//! The transparency calls as both HTTP (`http::proofs`) and gRPC
//! (`grpc::TransparencyApi`) answer them: who may call, what is checked and
//! which error comes back. The transports only translate.
//!
//! Checkpoints, the public key and proofs are public: they reveal only hashes.
//! Receipts carry a whole record, so only full readers get them, and a
//! sponsor those of its own donations; a receipt link's code opens one
//! receipt to whoever holds it. Signing on demand is for operators.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use mingzhang_ledger::receipt::Receipt;
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;
use mingzhang_proto::v1::event_envelope::Event;
use parking_lot::Mutex;

use crate::auth::Principal;
use crate::error::AppError;
use crate::state::{AppState, validate_idempotency_key};
use crate::transparency::{ConsistencyProof, InclusionProof, ProjectionsAt, Transparency};

/// Idempotency keys of `sign_now` remembered, at most. Kept in memory only: a
/// retry after a restart signs again, which is harmless (signing writes no
/// record; it answers a checkpoint covering at least what the first would have).
pub const SIGN_KEYS_REMEMBERED_MAX: usize = 1024;

/// A checkpoint note and the tree size it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    pub size: u64,
    pub note: String,
    /// True when `sign_now` answered a retried idempotency key.
    pub idempotent_replay: bool,
}

pub struct ProofCalls {
    state: AppState,
    transparency: Arc<Transparency>,
    sign_keys: Mutex<RememberedSigns>,
}

/// (actor, idempotency key) -> the note first answered, oldest evicted first.
#[derive(Default)]
struct RememberedSigns {
    notes: HashMap<(String, String), (u64, String)>,
    order: VecDeque<(String, String)>,
}

impl RememberedSigns {
    fn get(&self, key: &(String, String)) -> Option<(u64, String)> {
        self.notes.get(key).cloned()
    }

    /// Remembers `signed` under `key` unless a concurrent retry got there
    /// first; returns what is remembered, so both answer the same note.
    fn remember(&mut self, key: (String, String), signed: (u64, String)) -> (u64, String) {
        if let Some(existing) = self.notes.get(&key) {
            return existing.clone();
        }
        if self.order.len() == SIGN_KEYS_REMEMBERED_MAX {
            let oldest = self.order.pop_front().expect("full, so not empty");
            self.notes.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.notes.insert(key, signed.clone());
        assert_eq!(self.notes.len(), self.order.len());
        assert!(self.order.len() <= SIGN_KEYS_REMEMBERED_MAX);
        signed
    }
}

impl ProofCalls {
    pub fn new(state: AppState, transparency: Arc<Transparency>) -> ProofCalls {
        ProofCalls {
            state,
            transparency,
            sign_keys: Mutex::default(),
        }
    }

    pub fn transparency(&self) -> &Arc<Transparency> {
        &self.transparency
    }

    /// The latest signed checkpoint, signing one over the projections as they
    /// are if none was signed yet.
    pub async fn latest_checkpoint(&self) -> Result<SignedNote, AppError> {
        let (size, note) = match self.transparency.latest() {
            Some(latest) => latest,
            None => self.sign_projections().await?,
        };
        Ok(SignedNote {
            size,
            note,
            idempotent_replay: false,
        })
    }

    pub fn checkpoint_at(&self, size: u64) -> Result<SignedNote, AppError> {
        self.check_size("size", size)?;
        let note = self
            .transparency
            .checkpoint_at(size)
            .ok_or_else(|| AppError::NotFound {
                field: "size".into(),
                rule: "no_checkpoint_at_size",
                detail: format!("no checkpoint was signed at tree size {size}"),
            })?;
        Ok(SignedNote {
            size,
            note,
            idempotent_replay: false,
        })
    }

    /// The verifier key, in note verifier-key text form.
    pub fn public_key(&self) -> String {
        self.transparency.verifier_key().to_text()
    }

    pub fn inclusion(&self, seq: u64, size: u64) -> Result<InclusionProof, AppError> {
        self.check_size("size", size)?;
        if seq >= size {
            return Err(AppError::invalid(
                "seq",
                "seq_not_in_tree",
                "seq must be below size",
            ));
        }
        self.transparency
            .inclusion_proof(self.state.store.as_ref(), seq, size)
            .map_err(|error| AppError::Internal(format!("inclusion proof: {error:#}")))
    }

    pub fn consistency(&self, from: u64, to: u64) -> Result<ConsistencyProof, AppError> {
        self.check_size("to", to)?;
        if from > to {
            return Err(AppError::invalid(
                "from",
                "sizes_out_of_order",
                "from must not exceed to",
            ));
        }
        self.transparency
            .consistency_proof(self.state.store.as_ref(), from, to)
            .map_err(|error| AppError::Internal(format!("consistency proof: {error:#}")))
    }

    /// Record `seq` with its inclusion proof against the latest checkpoint
    /// covering it: for operators and auditors, and for a sponsor the
    /// receipt of a donation it gave (403 `not_yours` for any other record,
    /// alike whether or not it exists).
    pub async fn receipt(&self, principal: &Principal, seq: u64) -> Result<Receipt, AppError> {
        match principal {
            Principal::Sponsor { donor_id, .. } => self.require_own_donation(donor_id, seq).await?,
            principal => principal.require_full_reader("receipts")?,
        }
        self.receipt_of(seq).await
    }

    /// The receipt a live receipt link opens: the caller holds its code,
    /// which is the whole of the permission (`receipt_links`).
    pub async fn linked_receipt(&self, seq: u64) -> Result<Receipt, AppError> {
        self.receipt_of(seq).await
    }

    async fn require_own_donation(&self, donor_id: &str, seq: u64) -> Result<(), AppError> {
        let not_yours = || AppError::Forbidden {
            rule: "not_yours",
            detail: "a sponsor token receives the receipts of its own donations only".into(),
        };
        if seq >= self.state.store.head().len {
            return Err(not_yours());
        }
        let store = self.state.store.clone();
        let record = tokio::task::spawn_blocking(move || store.read(seq, 1))
            .await
            .map_err(|error| AppError::Internal(format!("reading record {seq}: {error}")))?
            .map_err(|error| AppError::Internal(format!("reading record {seq}: {error:#}")))?
            .pop()
            .ok_or_else(|| AppError::Internal(format!("record {seq} vanished from the log")))?;
        let envelope = EventEnvelope::decode(record.payload())
            .map_err(|error| AppError::Internal(format!("record {seq}: {error}")))?;
        match envelope.event {
            Some(Event::DonationReceived(donation)) if donation.donor_id == donor_id => Ok(()),
            _ => Err(not_yours()),
        }
    }

    async fn receipt_of(&self, seq: u64) -> Result<Receipt, AppError> {
        let log_len = self.state.store.head().len;
        if seq >= log_len {
            return Err(AppError::NotFound {
                field: "seq".into(),
                rule: "no_such_record",
                detail: format!("the log has {log_len} records"),
            });
        }
        // The record is durable; the receipt also binds the balances, so it
        // waits (briefly) for the projections to include it, as a query with
        // min_seq would.
        self.state.wait_for_projections(Some(seq)).await?;
        if self
            .transparency
            .latest()
            .is_none_or(|(size, _)| size <= seq)
        {
            self.sign_projections().await?;
        }
        let (state, transparency) = (self.state.clone(), self.transparency.clone());
        tokio::task::spawn_blocking(move || {
            transparency.receipt(state.store.as_ref(), &state.projections.read(), seq)
        })
        .await
        .map_err(|error| AppError::Internal(format!("receipt task: {error}")))?
        .map_err(|error| AppError::Internal(format!("receipt: {error:#}")))
    }

    /// Operator only: signs a checkpoint covering every record durable when
    /// the call arrived, after the projections applied them (the checkpoint
    /// binds their balances digest). A retry with the same idempotency key
    /// answers the note the first call answered.
    pub async fn sign_now(
        &self,
        principal: &Principal,
        idempotency_key: Option<String>,
    ) -> Result<SignedNote, AppError> {
        principal.require_operator("signing a checkpoint")?;
        let remembered_key = match idempotency_key {
            Some(key) => {
                validate_idempotency_key(&key)?;
                Some((principal.actor(), key))
            }
            None => None,
        };
        if let Some(key) = &remembered_key
            && let Some((size, note)) = self.sign_keys.lock().get(key)
        {
            return Ok(SignedNote {
                size,
                note,
                idempotent_replay: true,
            });
        }
        let durable_len = self.state.store.head().len;
        self.state.wait_for_projections_to_reach_the_log().await?;
        let signed = self.sign_projections().await?;
        assert!(
            signed.0 >= durable_len,
            "signed size {} is below the durable length {durable_len} the projections reached",
            signed.0
        );
        let ((size, note), idempotent_replay) = match remembered_key {
            Some(key) => {
                let answered = self.sign_keys.lock().remember(key, signed.clone());
                let replay = answered != signed;
                (answered, replay)
            }
            None => (signed, false),
        };
        Ok(SignedNote {
            size,
            note,
            idempotent_replay,
        })
    }

    /// Signs a checkpoint over the projections as they are now. Runs off the
    /// async threads: signing syncs the tree and writes the note durably.
    async fn sign_projections(&self) -> Result<(u64, String), AppError> {
        let (state, transparency) = (self.state.clone(), self.transparency.clone());
        tokio::task::spawn_blocking(move || {
            // Signed after the projections are let go (see `sign_at`).
            let at = ProjectionsAt::taken_from(&state.projections.read());
            transparency.sign_at(state.store.as_ref(), at)
        })
        .await
        .map_err(|error| AppError::Internal(format!("signing task: {error}")))?
        .map_err(|error| AppError::Internal(format!("signing a checkpoint: {error:#}")))
    }

    fn check_size(&self, field: &str, size: u64) -> Result<(), AppError> {
        let len = self.state.store.head().len;
        if size > len {
            return Err(AppError::invalid(
                field,
                "beyond_log",
                format!("the log has {len} records"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> (String, String) {
        ("operator:op".to_owned(), format!("key-{n}"))
    }

    #[test]
    fn a_concurrent_retry_answers_the_note_remembered_first() {
        let mut remembered = RememberedSigns::default();
        let first = remembered.remember(key(1), (3, "note at 3".into()));
        let second = remembered.remember(key(1), (4, "note at 4".into()));
        assert_eq!(first, (3, "note at 3".to_owned()));
        assert_eq!(second, first);
    }

    #[test]
    fn remembered_sign_keys_are_bounded_and_the_oldest_is_forgotten_first() {
        let mut remembered = RememberedSigns::default();
        for n in 0..=SIGN_KEYS_REMEMBERED_MAX {
            remembered.remember(key(n), (n as u64, format!("note {n}")));
        }
        assert_eq!(remembered.notes.len(), SIGN_KEYS_REMEMBERED_MAX);
        assert_eq!(remembered.get(&key(0)), None);
        assert_eq!(remembered.get(&key(1)), Some((1, "note 1".to_owned())));
        assert_eq!(
            remembered.get(&key(SIGN_KEYS_REMEMBERED_MAX)),
            Some((
                SIGN_KEYS_REMEMBERED_MAX as u64,
                format!("note {SIGN_KEYS_REMEMBERED_MAX}")
            ))
        );
    }
}
