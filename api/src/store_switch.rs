//! Carrying on after the database fails over. A store that fails is never
//! used again (a failed append leaves the writer unsure what was stored; see
//! `EventStore`), but a store in a database with a standby can be opened
//! afresh once the standby is promoted: the connection string names both
//! servers with `target_session_attrs=read-write`, so a new connection finds
//! whichever accepts writes. `serve` then rebuilds the ledger from the log
//! as it is (an append whose outcome was unknown is either there or not),
//! and goes on.
//!
//! The read side keeps one store for the whole life of the server, this
//! [`SwitchableStore`], so the projections, proofs and checkpoints follow
//! the log across the switch without restarting; only the write side's
//! `Ledger` is replaced.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mingzhang_ledger::store::{
    AppendFuture, EventStore, Head, StoreError, StoredRecord, SyncStats,
};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::backend::{Ledger, LedgerHandle};

/// Opens the same log afresh (a new connection to whichever server now
/// accepts writes).
pub type StoreOpener = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<Arc<dyn EventStore>>> + Send>>
        + Send
        + Sync,
>;

/// How often `keep_writing` looks for a failed store, and waits between
/// attempts to open it afresh while no server accepts writes.
pub const REOPEN_INTERVAL: Duration = Duration::from_millis(250);

/// One store for the read side, whose backing store can be replaced by one
/// opened afresh on the same log. Its durable length only moves forward.
pub struct SwitchableStore {
    current: RwLock<Arc<dyn EventStore>>,
    durable_tx: watch::Sender<u64>,
    forwarder: Mutex<tokio::task::JoinHandle<()>>,
}

impl SwitchableStore {
    /// Must be called within a tokio runtime: a task forwards the backing
    /// store's durable length.
    pub fn new(store: Arc<dyn EventStore>) -> Arc<SwitchableStore> {
        let (durable_tx, _) = watch::channel(store.watch_durable_len().borrow().to_owned());
        let forwarder = spawn_forwarder(&store, durable_tx.clone());
        Arc::new(SwitchableStore {
            current: RwLock::new(store),
            durable_tx,
            forwarder: Mutex::new(forwarder),
        })
    }

    /// Reads and appends go to `store` from now on.
    pub fn replace(&self, store: Arc<dyn EventStore>) {
        let forwarder = spawn_forwarder(&store, self.durable_tx.clone());
        *self.current.write() = store;
        std::mem::replace(&mut *self.forwarder.lock(), forwarder).abort();
    }

    fn current(&self) -> Arc<dyn EventStore> {
        self.current.read().clone()
    }
}

impl Drop for SwitchableStore {
    fn drop(&mut self) {
        self.forwarder.lock().abort();
    }
}

fn spawn_forwarder(
    store: &Arc<dyn EventStore>,
    durable_tx: watch::Sender<u64>,
) -> tokio::task::JoinHandle<()> {
    let mut durable_len = store.watch_durable_len();
    tokio::spawn(async move {
        loop {
            let len = *durable_len.borrow_and_update();
            durable_tx.send_if_modified(|forwarded| {
                let moved = len > *forwarded;
                if moved {
                    *forwarded = len;
                }
                moved
            });
            if durable_len.changed().await.is_err() {
                return;
            }
        }
    })
}

impl EventStore for SwitchableStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        self.current().append(expected_first_seq, payloads)
    }

    fn head(&self) -> Head {
        self.current().head()
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        self.current().read(from_seq, max_records)
    }

    fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.durable_tx.subscribe()
    }

    fn sync_stats(&self) -> Option<SyncStats> {
        self.current().sync_stats()
    }

    fn failure(&self) -> Option<String> {
        self.current().failure()
    }
}

/// Watches for the store to fail and, when it has, opens the log afresh
/// with `reopen`, rebuilds the ledger from it and hands both over; retries
/// until a server accepts writes. Ends when `shutdown` turns true.
pub async fn keep_writing(
    switch: Arc<SwitchableStore>,
    ledger: LedgerHandle,
    reopen: StoreOpener,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REOPEN_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // Only the writer reopens: a follower's store takes no appends,
        // and a server that lost the write role takes it back through
        // `hold_the_write_role`, which opens the log afresh itself.
        if !ledger.is_writer() {
            continue;
        }
        let Some(reason) = switch.failure() else {
            continue;
        };
        let failed_at = std::time::Instant::now();
        tracing::warn!(%reason, "the store failed; opening the log afresh");
        match reopen_ledger(&reopen).await {
            Ok((store, fresh_ledger)) => {
                // The fresh ledger writes to the fresh store directly, and the
                // old one refuses every write since its store failed: no write
                // reaches the fresh store from a ledger that does not know
                // the log as it is.
                switch.replace(store);
                ledger.replace(fresh_ledger);
                tracing::info!(
                    records = switch.head().len,
                    after_ms = failed_at.elapsed().as_millis() as u64,
                    "writing again on the log opened afresh"
                );
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "the log cannot be opened for writing yet"
                )
            }
        }
    }
}

/// Where the write role is elected: the database and the address this
/// server advertises to the followers, which name it to clients.
#[derive(Debug, Clone)]
pub struct Election {
    pub url: String,
    pub advertise: String,
}

/// Several servers on one PostgreSQL log: this one follows (refusing writes
/// with 503 `not_the_writer`, naming the writer) until it takes the write
/// role, then opens the log afresh, rebuilds its ledger from the log as it
/// is (the last writer's records included) and writes until the role's
/// session ends. Ends when `shutdown` turns true.
pub async fn hold_the_write_role(
    switch: Arc<SwitchableStore>,
    ledger: LedgerHandle,
    reopen: StoreOpener,
    election: Election,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let waiting = mingzhang_store_postgres::writer_role::wait_for_writer_role(
            &election.url,
            &election.advertise,
            |writer| ledger.follow(writer),
        );
        let role = tokio::select! {
            role = waiting => role,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let mut role = match role {
            Ok(role) => role,
            Err(error) => {
                ledger.follow(None);
                tracing::warn!(%error, "cannot reach the database to elect a writer");
                tokio::select! {
                    _ = tokio::time::sleep(REOPEN_INTERVAL) => continue,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        };
        let took_at = std::time::Instant::now();
        match reopen_ledger(&reopen).await {
            Ok((store, fresh_ledger)) => {
                switch.replace(store);
                ledger.replace(fresh_ledger);
                ledger.write();
                tracing::info!(
                    records = switch.head().len,
                    rebuilt_ms = took_at.elapsed().as_millis() as u64,
                    advertise = %election.advertise,
                    "took the write role"
                );
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "took the write role but cannot open the log; giving it up"
                );
                role.release().await;
                continue;
            }
        }
        tokio::select! {
            _ = role.lost() => {
                ledger.follow(None);
                tracing::warn!("lost the write role: following until it is taken again");
            }
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

async fn reopen_ledger(reopen: &StoreOpener) -> anyhow::Result<(Arc<dyn EventStore>, Arc<Ledger>)> {
    let store = reopen().await?;
    if let Some(reason) = store.failure() {
        anyhow::bail!("the store opened afresh has failed already: {reason}");
    }
    let ledger = Ledger::open(store.clone()).await?;
    Ok((store, ledger))
}

#[cfg(test)]
mod tests {
    use mingzhang_ledger::store::MemoryStore;

    use super::*;

    fn payload() -> Vec<Vec<u8>> {
        vec![b"a record".to_vec()]
    }

    #[tokio::test]
    async fn reads_and_the_durable_length_follow_the_replacement() {
        let first: Arc<dyn EventStore> = Arc::new(MemoryStore::default());
        first.append(0, payload()).await.expect("append");
        let switch = SwitchableStore::new(first.clone());
        let mut durable = switch.watch_durable_len();
        assert_eq!(*durable.borrow_and_update(), 1);

        // The same log, opened afresh with one more record in it.
        let fresh: Arc<dyn EventStore> = Arc::new(MemoryStore::default());
        fresh.append(0, payload()).await.expect("append");
        fresh.append(1, payload()).await.expect("append");
        switch.replace(fresh.clone());
        tokio::time::timeout(Duration::from_secs(5), durable.wait_for(|len| *len == 2))
            .await
            .expect("the fresh store's length reaches the watchers")
            .expect("watching");
        assert_eq!(switch.head(), fresh.head());
        assert_eq!(switch.read(1, 10).expect("read").len(), 1);

        switch
            .append(2, payload())
            .await
            .expect("append through the switch");
        assert_eq!(fresh.head().len, 3, "appends go to the fresh store");
        assert_eq!(first.head().len, 1, "never to the replaced one");
    }

    #[tokio::test]
    async fn the_durable_length_never_moves_back() {
        let longer: Arc<dyn EventStore> = Arc::new(MemoryStore::default());
        longer.append(0, payload()).await.expect("append");
        longer.append(1, payload()).await.expect("append");
        let switch = SwitchableStore::new(longer);
        switch.replace(Arc::new(MemoryStore::default()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*switch.watch_durable_len().borrow(), 2);
    }
}
