//! What every handler shares: the ledger (write side), the projections kept
//! caught up by a background task (read side), tokens and metrics.

use std::sync::Arc;
use std::time::Duration;

use mingzhang_ledger::store::EventStore;
use mingzhang_projections::ProjectionError;
use mingzhang_proto::v1::event_envelope::Event;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::auth::{Principal, TokenRegistry, authorize_command};
use crate::backend::{CommandMeta, Committed, LedgerHandle, Projections};
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::personal_data::PersonalDataStore;
use crate::receipt_links::ReceiptLinks;

/// How long a query with `min_seq` waits for projections before answering 503.
pub const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(2);
/// Longest idempotency key accepted; keys are stored in every record.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = mingzhang_ledger::service::IDEMPOTENCY_KEY_LEN_MAX;

#[derive(Clone)]
pub struct AppState {
    pub ledger: LedgerHandle,
    pub store: Arc<dyn EventStore>,
    pub projections: Arc<RwLock<Projections>>,
    /// How many records the projections have applied.
    pub applied_len: watch::Receiver<u64>,
    pub tokens: Arc<TokenRegistry>,
    pub metrics: Arc<Metrics>,
    /// Turns true when the server starts shutting down; live feeds end on it.
    pub shutdown: watch::Receiver<bool>,
    /// Where a donation's receipt link is issued; `None` where the server
    /// hands out none (tests of the write path alone).
    pub receipt_links: Option<Arc<ReceiptLinks>>,
    /// Reports and invoices beside the log (`None`: this server keeps none).
    pub documents: Option<Arc<crate::documents::DocumentStore>>,
    /// Browser sign-ins (`session`).
    pub sessions: Arc<crate::session::Sessions>,
    /// The clear names behind the log's commitments (`None`: names are
    /// recorded as they come, in the clear, as before commitments).
    pub personal_data: Option<Arc<dyn PersonalDataStore>>,
}

impl AppState {
    /// Builds the state and starts the task that keeps projections caught up
    /// with the durable log.
    pub fn start(
        ledger: LedgerHandle,
        tokens: Arc<TokenRegistry>,
        shutdown: watch::Receiver<bool>,
        receipt_links: Option<Arc<ReceiptLinks>>,
        personal_data: Option<Arc<dyn PersonalDataStore>>,
    ) -> Result<AppState, AppError> {
        let store = ledger.store();
        let mut projections = Projections::default();
        if let Some(personal_data) = &personal_data {
            if personal_data.keeps_names_in_memory() {
                projections.set_personal_names(personal_data.clone());
            } else {
                let held = personal_data.entries().map_err(|error| {
                    AppError::Internal(format!("reading personal data: {error}"))
                })?;
                projections.set_personal_names(Arc::new(crate::personal_data::NamesAtStart::new(
                    held,
                    personal_data.clone(),
                )));
            }
        }
        let caught_up = projections.catch_up(&*store);
        if let Some(personal_data) = &personal_data {
            projections.set_personal_names(personal_data.clone());
        }
        match caught_up {
            Ok(_) => {}
            // Served, not ready: `/readyz` and every query name the record.
            Err(ProjectionError::NotApplied(not_applied)) => {
                tracing::error!(%not_applied, "projections stopped");
            }
            Err(error) => {
                return Err(AppError::Internal(format!(
                    "replaying projections: {error}"
                )));
            }
        }
        if let Some(personal_data) = &personal_data {
            // An erasure recorded just before a crash, its rewrite not done.
            personal_data
                .erase_where(&|subject| projections.is_erased(subject))
                .map_err(|error| AppError::Internal(format!("erasing personal data: {error}")))?;
        }
        let (applied_tx, applied_len) = watch::channel(projections.applied_len());
        let projections = Arc::new(RwLock::new(projections));
        let metrics = Arc::new(Metrics::default());
        tokio::spawn(follow_log(
            store.clone(),
            projections.clone(),
            applied_tx,
            metrics.clone(),
        ));
        Ok(AppState {
            ledger,
            store,
            projections,
            applied_len,
            tokens,
            metrics,
            shutdown,
            receipt_links,
            documents: None,
            sessions: Arc::new(crate::session::Sessions::new(
                crate::session::SessionSettings::default(),
            )),
            personal_data,
        })
    }

    /// The receipt link of each committed donation (one record each), `None`
    /// for any other command or where no links are handed out. Issued after
    /// the donation is durable: a crash in between leaves a donation without
    /// a link, and its retry (same idempotency key) issues it.
    pub async fn receipt_links_of(
        &self,
        committed: Vec<Option<&Committed>>,
    ) -> Vec<Option<String>> {
        let Some(links) = self.receipt_links.clone() else {
            return vec![None; committed.len()];
        };
        let seqs: Vec<Option<u64>> = committed
            .iter()
            .map(|donation| {
                donation.map(|donation| {
                    assert_eq!(donation.records.len(), 1, "a donation is one record");
                    donation.records[0].seq
                })
            })
            .collect();
        let to_issue: Vec<u64> = seqs.iter().flatten().copied().collect();
        if to_issue.is_empty() {
            return vec![None; seqs.len()];
        }
        match links.issue_for_all_async(&to_issue).await {
            Ok(codes) => {
                let mut codes = codes.into_iter();
                seqs.iter()
                    .map(|seq| seq.map(|_| codes.next().expect("one code per donation").link()))
                    .collect()
            }
            // The donations are durable and acknowledged all the same: a
            // link is a convenience beside the log, and answering an error
            // for a recorded gift would tell the client it was not. The
            // answer carries no link; a retry under the same idempotency key
            // issues it once the links can be written again (a full disk
            // freed, the server restarted).
            Err(error) => {
                tracing::error!(
                    %error,
                    donations = to_issue.len(),
                    "recorded without a receipt link: the links file cannot be written"
                );
                vec![None; seqs.len()]
            }
        }
    }

    /// Keeps documents in `documents` (docs/documents.md).
    pub fn with_documents(mut self, documents: Arc<crate::documents::DocumentStore>) -> AppState {
        self.documents = Some(documents);
        self
    }

    /// Issues browser sessions with these settings (`config`).
    pub fn with_session_settings(mut self, settings: crate::session::SessionSettings) -> AppState {
        self.sessions = Arc::new(crate::session::Sessions::new(settings));
        self
    }

    /// Authorises, fingerprints and submits one command. The submit runs on
    /// its own task, so a client hanging up cannot cancel a write half-way.
    pub async fn submit(
        &self,
        principal: &Principal,
        idempotency_key: Option<String>,
        command: Event,
    ) -> Result<Committed, AppError> {
        authorize_command(principal, &command)?;
        if self.personal_data.is_some() && carries_personal_data(&command) {
            // A command the rules refuse keeps no name: asked before the
            // name is kept, not after. (Within a batch a command is decided
            // after the ones before it, so `submit_many` cannot ask early.)
            self.refuse_early(principal, idempotency_key.clone(), &command)?;
        }
        let command = self.commit_personal_data(command).await?;
        let erased_subject = erased_subject(&command);
        let meta = self.command_meta(principal, idempotency_key, &command)?;
        let committed = self.ledger.submit(command, meta).await?;
        if !committed.idempotent_replay {
            self.metrics.record_appends(committed.records.len() as u64);
        }
        if let Some(subject_id) = erased_subject {
            self.destroy_personal_data(subject_id).await?;
        }
        Ok(committed)
    }

    /// Refuses `command` now if the rules would as things stand, or if this
    /// server only follows: asked before anything is kept beside the log
    /// for it (a person's name, an uploaded report), so that a refused
    /// command leaves nothing behind. Decides nothing for real.
    pub fn refuse_early(
        &self,
        principal: &Principal,
        idempotency_key: Option<String>,
        command: &Event,
    ) -> Result<(), AppError> {
        let meta = self.command_meta(principal, idempotency_key, command)?;
        self.ledger.refuse_early(command, &meta)
    }

    /// Keeps an individual's clear name in the side store, durably, and
    /// gives back the command carrying its commitment instead: the log's
    /// record never holds the name (docs/proofs.md, "Personal data").
    async fn commit_personal_data(&self, command: Event) -> Result<Event, AppError> {
        let Some(personal_data) = self.personal_data.clone() else {
            return Ok(command);
        };
        if !carries_personal_data(&command) {
            return Ok(command);
        }
        let subject = match &command {
            Event::DonorRegistered(e) => ("donor_id", &e.donor_id),
            Event::ExpenditureMade(e) => ("expenditure_id", &e.expenditure_id),
            _ => unreachable!("carries_personal_data"),
        };
        if self.projections.read().is_erased(subject.1) {
            // Not even an orphan line: the name of an erased person is not
            // kept again (a late retry of the registration or payment).
            return Err(AppError::Conflict {
                field: subject.0.into(),
                rule: "id_taken",
                detail: format!(
                    "{:?} is already used (its personal data was erased)",
                    subject.1
                ),
            });
        }
        tokio::task::spawn_blocking(move || {
            let mut command = command;
            personal_data.commit_command(&mut command).map(|()| command)
        })
        .await
        .expect("the side store's write does not panic")
        .map_err(|error| AppError::Internal(format!("personal data side store: {error}")))
    }

    /// After its `PersonalDataErased` is durable: the clear name and salt go
    /// from the side store (a crash before this is finished by `start`).
    async fn destroy_personal_data(&self, subject_id: String) -> Result<(), AppError> {
        let Some(personal_data) = self.personal_data.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || personal_data.erase(&subject_id))
            .await
            .expect("the side store's rewrite does not panic")
            .map(|_| ())
            .map_err(|error| AppError::Internal(format!("personal data side store: {error}")))
    }

    /// Submits a batch: each command is authorised and decided on its own
    /// (one refusal does not stop the others), all are decided under one lock
    /// and the accepted ones are written with one append. A command the
    /// transport could not read comes in as its error and is answered with it,
    /// in its place.
    pub async fn submit_many(
        &self,
        principal: &Principal,
        commands: Vec<Result<(Option<String>, Event), AppError>>,
    ) -> Result<Vec<Result<Committed, AppError>>, AppError> {
        let mut results: Vec<Option<Result<Committed, AppError>>> = Vec::new();
        let mut accepted = Vec::new();
        let mut erasures: Vec<Option<String>> = Vec::new();
        for command in commands {
            let command = match command {
                Ok((idempotency_key, command)) => match authorize_command(principal, &command) {
                    Ok(_) => self
                        .commit_personal_data(command)
                        .await
                        .map(|command| (idempotency_key, command)),
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            erasures.push(
                command
                    .as_ref()
                    .ok()
                    .and_then(|(_, command)| erased_subject(command)),
            );
            let meta = command.and_then(|(idempotency_key, command)| {
                let meta = self.command_meta(principal, idempotency_key, &command)?;
                Ok((command, meta))
            });
            match meta {
                Ok(command_and_meta) => {
                    accepted.push(command_and_meta);
                    results.push(None);
                }
                Err(error) => results.push(Some(Err(error))),
            }
        }
        let mut submitted = self.ledger.submit_many(accepted).await?.into_iter();
        let results: Vec<Result<Committed, AppError>> = results
            .into_iter()
            .map(|early| early.unwrap_or_else(|| submitted.next().expect("one result per command")))
            .collect();
        let appended = results
            .iter()
            .filter_map(|result| result.as_ref().ok())
            .filter(|committed| !committed.idempotent_replay)
            .map(|committed| committed.records.len() as u64)
            .sum();
        self.metrics.record_appends(appended);
        // A subject refused erasure keeps its data: the rewrite is for those recorded.
        for (subject_id, result) in erasures.into_iter().zip(&results) {
            if let (Some(subject_id), Ok(_)) = (subject_id, result) {
                self.destroy_personal_data(subject_id).await?;
            }
        }
        Ok(results)
    }

    fn command_meta(
        &self,
        principal: &Principal,
        idempotency_key: Option<String>,
        command: &Event,
    ) -> Result<CommandMeta, AppError> {
        let ledger_principal = authorize_command(principal, command)?;
        if let Some(key) = &idempotency_key {
            validate_idempotency_key(key)?;
        }
        let actor = principal.actor();
        Ok(CommandMeta {
            at_unix_ms: now_unix_ms(),
            request_sha256: request_sha256(&actor, command),
            actor,
            principal: ledger_principal,
            idempotency_key,
        })
    }

    /// Waits until projections have applied every record durable now: what a
    /// checkpoint signed next must cover.
    pub async fn wait_for_projections_to_reach_the_log(&self) -> Result<(), AppError> {
        let last_seq = self.store.head().len.checked_sub(1);
        self.wait_for_projections(last_seq).await
    }

    /// Waits until projections have applied the record with sequence number
    /// `min_seq`, the number a write's reply carries. A `min_seq` the log does
    /// not hold yet is no write's reply: refused at once (400
    /// `min_seq_past_end`; gRPC OUT_OF_RANGE), not waited for.
    pub async fn wait_for_projections(&self, min_seq: Option<u64>) -> Result<(), AppError> {
        let Some(min_seq) = min_seq else {
            return Ok(());
        };
        let log_len = self.store.head().len;
        if min_seq >= log_len {
            return Err(AppError::OutOfRange {
                field: "min_seq".to_owned(),
                rule: "min_seq_past_end",
                detail: format!(
                    "the log holds records 0..{log_len}; min_seq names one a write answered"
                ),
            });
        }
        let mut applied = self.applied_len.clone();
        let reached = tokio::time::timeout(READ_YOUR_WRITES_WAIT, async {
            applied.wait_for(|len| *len > min_seq).await.is_ok()
        })
        .await;
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(AppError::Unavailable("projections stopped".into())),
            Err(_) => Err(AppError::Lagging {
                applied_len: *self.applied_len.borrow(),
                min_seq,
            }),
        }
    }
}

pub fn validate_idempotency_key(key: &str) -> Result<(), AppError> {
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_LEN_MAX
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(AppError::malformed(
            "Idempotency-Key",
            "idempotency_key_invalid",
            format!("1..={IDEMPOTENCY_KEY_LEN_MAX} printable ASCII characters"),
        ));
    }
    Ok(())
}

/// SHA-256 over the actor and the prost encoding of the command (whose oneof
/// tag names its kind): the same request retried hashes the same, whatever its
/// JSON whitespace or field order and whether it came over HTTP or gRPC.
fn carries_personal_data(command: &Event) -> bool {
    matches!(
        command,
        Event::DonorRegistered(_) | Event::ExpenditureMade(_)
    )
}

fn erased_subject(command: &Event) -> Option<String> {
    match command {
        Event::PersonalDataErased(e) => Some(e.subject_id.clone()),
        _ => None,
    }
}

pub fn request_sha256(actor: &str, command: &Event) -> [u8; 32] {
    // The oneof alone encodes to the very bytes of an envelope holding only
    // it, without cloning the command into one.
    let mut encoded = Vec::with_capacity(command.encoded_len());
    command.encode(&mut encoded);
    let mut hasher = Sha256::new();
    for part in [actor.as_bytes(), &encoded] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Applies what became durable, at most `CATCH_UP_INLINE_RECORDS` at a time,
/// so that one call never holds a worker thread for long.
fn catch_up_a_batch(
    store: &Arc<dyn EventStore>,
    projections: &RwLock<Projections>,
) -> Result<(), ProjectionError> {
    projections
        .write()
        .catch_up_to(&**store, CATCH_UP_INLINE_RECORDS)
        .map(|_| ())
}

/// Records one inline catch-up applies at most: a few milliseconds' work, met
/// only after a large batch; a group commit brings tens.
const CATCH_UP_INLINE_RECORDS: u64 = 4096;

async fn follow_log(
    store: Arc<dyn EventStore>,
    projections: Arc<RwLock<Projections>>,
    applied_tx: watch::Sender<u64>,
    metrics: Arc<Metrics>,
) {
    let mut durable_len = store.watch_durable_len();
    loop {
        let target = *durable_len.borrow_and_update();
        let applied = projections.read().applied_len();
        if applied < target {
            // Inline, not on the blocking pool: a catch-up reads recently
            // written records from the page cache and applies a group
            // commit's worth, tens of microseconds, less than the two thread
            // hand-overs of spawn_blocking cost.
            let caught_up = catch_up_a_batch(&store, &projections);
            if let Err(ProjectionError::NotApplied(not_applied)) = caught_up {
                // Stops for good: later records cannot apply without it. The
                // records of the batch before it did apply.
                tracing::error!(%not_applied, "projections stopped");
                applied_tx.send_replace(projections.read().applied_len());
                return;
            }
            if let Err(error) = caught_up {
                tracing::error!(%error, "projections cannot read the log; queries will lag");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let applied = projections.read().applied_len();
            applied_tx.send_replace(applied);
            metrics.set_projection_lag(store.head().len.saturating_sub(applied));
            // Lets the requests this worker holds run between batches.
            tokio::task::yield_now().await;
            continue;
        }
        metrics.set_projection_lag(0);
        if durable_len.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use mingzhang_ledger::scenario::kaixuan;
    use mingzhang_proto::Message;
    use mingzhang_proto::v1::EventEnvelope;
    use sha2::{Digest, Sha256};

    use super::request_sha256;

    /// Request hashes are stored with idempotency keys in the log, so a retry
    /// after an upgrade must hash the same: the hash is over an envelope that
    /// holds only the command, whatever way the bytes are produced.
    #[test]
    fn a_request_hash_is_over_an_envelope_holding_only_the_command() {
        for (command, _) in kaixuan().into_iter().take(200) {
            let envelope = EventEnvelope {
                event: Some(command.clone()),
                ..Default::default()
            }
            .encode_to_vec();
            let mut hasher = Sha256::new();
            for part in [b"operator".as_slice(), &envelope] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            let expected: [u8; 32] = hasher.finalize().into();
            assert_eq!(request_sha256("operator", &command), expected);
        }
    }
}
