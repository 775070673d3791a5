//! The one place that names the ledger's and the projections' types, so the
//! rest of the API does not care where they come from.

use std::sync::Arc;

use mingzhang_proto::v1::event_envelope::Event;

use crate::error::AppError;

pub use mingzhang_ledger::decide::{Principal as LedgerPrincipal, Rejection, RejectionKind};
pub use mingzhang_ledger::scenario::kaixuan;
pub use mingzhang_ledger::service::{CommandMeta, Committed, Ledger, LedgerError, SubmitError};
pub use mingzhang_projections::Projections;

/// Donations or expenditures listed per page, at most (the projections' own cap).
pub const LIST_PAGE_MAX: usize = 10_000;
pub const LIST_PAGE_DEFAULT: usize = 1_000;

/// A window onto a long list (donations, expenditures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            offset: 0,
            limit: LIST_PAGE_DEFAULT,
        }
    }
}

impl Page {
    pub fn new(offset: Option<usize>, limit: Option<usize>) -> Result<Page, AppError> {
        let limit = limit.unwrap_or(LIST_PAGE_DEFAULT);
        if limit == 0 || limit > LIST_PAGE_MAX {
            return Err(AppError::invalid(
                "limit",
                "limit_out_of_range",
                format!("limit must be 1..={LIST_PAGE_MAX}"),
            ));
        }
        Ok(Page {
            offset: offset.unwrap_or(0),
            limit,
        })
    }
}

/// Opens (creating if needed) the embedded log under `<data_dir>/log`; a torn
/// tail left by a crash mid-write is truncated and reported.
pub fn open_store(
    data_dir: &std::path::Path,
) -> Result<Arc<dyn mingzhang_ledger::store::EventStore>, String> {
    open_store_on(mingzhang_ledger::store::storage::RealStorage, data_dir)
}

/// `open_store` on the given file operations (see `log_failure_hook`).
pub fn open_store_on<S: mingzhang_ledger::store::storage::Storage>(
    storage: S,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn mingzhang_ledger::store::EventStore>, String> {
    use mingzhang_ledger::store::file::{FileLog, FileLogOptions};
    let (log, report) = FileLog::open_on(storage, data_dir.join("log"), FileLogOptions::default())
        .map_err(|error| error.to_string())?;
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(?torn, "truncated a torn tail left by an interrupted write");
    }
    tracing::info!(
        records = report.records,
        segments = report.segments,
        "log opened"
    );
    Ok(Arc::new(log))
}

/// Opens the log under `<data_dir>/log` read-only, for commands that only
/// read: nothing in the data directory is written, created or truncated; a
/// torn tail is reported and left for the next writing open to repair.
pub fn open_store_read_only(
    data_dir: &std::path::Path,
) -> Result<mingzhang_ledger::store::ReadOnlyLog, String> {
    let (log, report) = mingzhang_ledger::store::ReadOnlyLog::open(data_dir.join("log"))
        .map_err(|error| error.to_string())?;
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(
            ?torn,
            "the log ends in a torn tail; reading up to it (a writing open repairs it)"
        );
    }
    Ok(log)
}

/// Verifies every record of `<data_dir>/log`; `progress` gets the bytes read so far.
pub fn verify(
    data_dir: &std::path::Path,
    progress: impl FnMut(u64),
) -> Result<mingzhang_ledger::store::file::VerifyReport, mingzhang_ledger::store::StoreError> {
    mingzhang_ledger::store::file::verify_log(&data_dir.join("log"), progress)
}

/// Commands waiting for the ledger thread, at most.
pub const SUBMIT_QUEUE_MAX: usize = 65_536;

/// The ledger as the handlers use it: every submit runs on a task of its own.
/// The ledger can be replaced by one rebuilt from a log opened afresh (see
/// `store_switch`); the read side's store stays the same.
#[derive(Clone)]
pub struct LedgerHandle {
    ledger: Arc<parking_lot::RwLock<Arc<Ledger>>>,
    store: Arc<dyn mingzhang_ledger::store::EventStore>,
    /// `None` while this server holds the write role (or no role is
    /// elected); `Some(writer)` while it only follows (see `writer_role`).
    following: Arc<parking_lot::RwLock<Option<Option<String>>>>,
}

impl LedgerHandle {
    pub fn start(ledger: Arc<Ledger>) -> LedgerHandle {
        let store = ledger.store();
        LedgerHandle::reading_from(ledger, store)
    }

    /// A ledger whose log the read side reads through `store` (a
    /// `SwitchableStore` over the ledger's own).
    pub fn reading_from(
        ledger: Arc<Ledger>,
        store: Arc<dyn mingzhang_ledger::store::EventStore>,
    ) -> LedgerHandle {
        LedgerHandle {
            ledger: Arc::new(parking_lot::RwLock::new(ledger)),
            store,
            following: Arc::default(),
        }
    }

    /// From now on writes are refused with 503 `not_the_writer`, naming
    /// `writer` (another server's advertised address) when known.
    pub fn follow(&self, writer: Option<String>) {
        *self.following.write() = Some(writer);
    }

    /// From now on writes go to the current ledger.
    pub fn write(&self) {
        *self.following.write() = None;
    }

    pub fn is_writer(&self) -> bool {
        self.following.read().is_none()
    }

    fn refuse_if_following(&self) -> Result<(), AppError> {
        match &*self.following.read() {
            None => Ok(()),
            Some(writer) => Err(AppError::NotTheWriter {
                writer: writer.clone(),
            }),
        }
    }

    /// Later submits go to `ledger`.
    pub fn replace(&self, ledger: Arc<Ledger>) {
        *self.ledger.write() = ledger;
    }

    fn current(&self) -> Arc<Ledger> {
        self.ledger.read().clone()
    }

    /// Submits on its own task, so a client that hangs up cannot cancel a
    /// write half-way: the write stands, and a retry with the same key finds it.
    pub async fn submit(&self, command: Event, meta: CommandMeta) -> Result<Committed, AppError> {
        self.refuse_if_following()?;
        let ledger = self.current();
        tokio::spawn(async move { ledger.submit(command, meta).await })
            .await
            .map_err(|error| AppError::Internal(format!("submit task: {error}")))?
            .map_err(AppError::from)
    }

    /// Refuses `command` now if the writer's rules would (`Ledger::refusal`),
    /// or if this server only follows: what the API checks before keeping a
    /// person's name beside the log.
    pub fn refuse_early(&self, command: &Event, meta: &CommandMeta) -> Result<(), AppError> {
        self.refuse_if_following()?;
        match self.current().refusal(command, meta) {
            Some(rejection) => Err(AppError::from(rejection)),
            None => Ok(()),
        }
    }

    /// A batch on one task: decided under one lock, written with one append.
    pub async fn submit_many(
        &self,
        commands: Vec<(Event, CommandMeta)>,
    ) -> Result<Vec<Result<Committed, AppError>>, AppError> {
        self.refuse_if_following()?;
        let ledger = self.current();
        let results = tokio::spawn(async move { ledger.submit_many(commands).await })
            .await
            .map_err(|error| AppError::Internal(format!("submit task: {error}")))?;
        Ok(results
            .into_iter()
            .map(|result| result.map_err(AppError::from))
            .collect())
    }

    /// The store the read side reads: the same for the server's whole life.
    pub fn store(&self) -> Arc<dyn mingzhang_ledger::store::EventStore> {
        self.store.clone()
    }
}
