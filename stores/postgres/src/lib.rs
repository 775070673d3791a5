//! The ledger's log in PostgreSQL, behind the same `EventStore` trait as the
//! embedded file log, so `ledger` itself knows no SQL.
//!
//! One table, `mingzhang_records (seq, hash, record)`: `seq` is the primary
//! key, `record` the record's exact bytes as docs/log-format.md frames them
//! (the bytes the file log writes, so the chain and the Merkle leaves are the
//! same on both) and `hash` its SHA-256, for SQL users. UPDATE, DELETE and
//! TRUNCATE are revoked and refused by triggers.
//!
//! **Writes.** `append` checks the position it is given against the tail
//! of what is queued, chains and encodes the records under a short lock and
//! queues them for one writer task. The writer drains the queue and writes
//! everything waiting in one transaction (binary COPY, then `pg_notify`, then
//! COMMIT with `synchronous_commit = on`): group commit across callers, as
//! the file log shares an fsync. Durable means COMMIT returned.
//!
//! **Two writers never fork.** The primary key refuses a second record at a
//! position, so a process whose view is stale (another wrote meanwhile) has
//! its transaction refused, and the store fails: it must reopen and read the
//! log as it is. If the connection is lost while a COMMIT may have been sent,
//! the outcome is unknown, and the store fails closed in the same way.
//!
//! **Reads** (`read`, a synchronous call in the trait) go to a thread of
//! their own with its own connection, and see only durable records; a
//! connection found dead is replaced and the read made again once.
//! **Followers** in other processes learn of new records by LISTEN/NOTIFY
//! and read them by range. A lost LISTEN connection (a restart, a standby
//! promoted) is made again with backoff, and the follower catches up with
//! what was committed while it was not listening.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mingzhang_ledger::record::{GENESIS_PREV_HASH, PAYLOAD_LEN_MAX};
use mingzhang_ledger::store::{
    AppendFuture, EventStore, Hash, Head, LogPosition, RecordMeta, StoreError, StoredRecord,
    SyncStats,
};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, Client, NoTls};

pub mod checkpoints;
pub mod cluster;
pub mod personal_data;
mod table_thread;
pub mod writer_role;

/// The table holding the records.
pub const TABLE: &str = "mingzhang_records";
/// The channel `pg_notify` announces each commit's new length on.
pub const CHANNEL: &str = "mingzhang_records";
/// The `application_name` of the writer's connection, so an operator (or a
/// test) can find it in `pg_stat_activity`.
pub const WRITER_APPLICATION_NAME: &str = "mingzhang-writer";
/// The `application_name` of the reader's connection.
pub const READER_APPLICATION_NAME: &str = "mingzhang-reader";
/// The `application_name` of the connection that LISTENs for commits.
pub const LISTENER_APPLICATION_NAME: &str = "mingzhang-listener";

/// Records one transaction carries, at most; more wait for the next.
const GROUP_RECORDS_MAX: usize = 16_384;
/// Record bytes one transaction carries, at most (one batch may pass it).
const GROUP_BYTES_MAX: usize = 32 << 20;

/// The schema, idempotent: `init` runs it on every call.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS mingzhang_records (
    seq    bigint PRIMARY KEY CHECK (seq >= 0),
    hash   bytea  NOT NULL CHECK (length(hash) = 32),
    record bytea  NOT NULL
);
CREATE OR REPLACE FUNCTION mingzhang_records_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE OR REPLACE TRIGGER mingzhang_records_no_update_or_delete
    BEFORE UPDATE OR DELETE ON mingzhang_records
    FOR EACH ROW EXECUTE FUNCTION mingzhang_records_refuse_change();
CREATE OR REPLACE TRIGGER mingzhang_records_no_truncate
    BEFORE TRUNCATE ON mingzhang_records
    FOR EACH STATEMENT EXECUTE FUNCTION mingzhang_records_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON mingzhang_records FROM PUBLIC, CURRENT_USER;
-- Every signed checkpoint, append-only like the records (see `checkpoints`).
CREATE TABLE IF NOT EXISTS mingzhang_checkpoints (
    tree_size bigint      PRIMARY KEY CHECK (tree_size >= 0),
    note      text        NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE TRIGGER mingzhang_checkpoints_no_update_or_delete
    BEFORE UPDATE OR DELETE ON mingzhang_checkpoints
    FOR EACH ROW EXECUTE FUNCTION mingzhang_records_refuse_change();
CREATE OR REPLACE TRIGGER mingzhang_checkpoints_no_truncate
    BEFORE TRUNCATE ON mingzhang_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION mingzhang_records_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON mingzhang_checkpoints FROM PUBLIC, CURRENT_USER;
-- The clear names behind the records' commitments (see `personal_data`):
-- DELETE (an erasure) is the one change allowed.
CREATE TABLE IF NOT EXISTS mingzhang_personal_data (
    subject_id   text        NOT NULL CHECK (length(subject_id) > 0),
    salt         bytea       NOT NULL CHECK (length(salt) = 32),
    value        text        NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, salt)
);
CREATE OR REPLACE TRIGGER mingzhang_personal_data_no_update
    BEFORE UPDATE ON mingzhang_personal_data
    FOR EACH ROW EXECUTE FUNCTION mingzhang_records_refuse_change();
CREATE OR REPLACE TRIGGER mingzhang_personal_data_no_truncate
    BEFORE TRUNCATE ON mingzhang_personal_data
    FOR EACH STATEMENT EXECUTE FUNCTION mingzhang_records_refuse_change();
REVOKE UPDATE, TRUNCATE ON mingzhang_personal_data FROM PUBLIC, CURRENT_USER;
-- Who holds the write role, for followers to name (see `writer_role`).
CREATE TABLE IF NOT EXISTS mingzhang_writer (
    id    int PRIMARY KEY CHECK (id = 1),
    http  text NOT NULL,
    since timestamptz NOT NULL
);
"#;

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("the store URL is not a PostgreSQL connection string: {0}")]
    Url(tokio_postgres::Error),
    #[error("connecting to PostgreSQL: {0}")]
    Connect(tokio_postgres::Error),
    #[error("PostgreSQL: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("the database has no table {TABLE}; run `mingzhang --store URL init` first")]
    NoSchema,
    #[error(
        "the database has no table {}; run `mingzhang --store URL init` (again) to add it",
        checkpoints::CHECKPOINTS_TABLE
    )]
    NoCheckpointsTable,
    #[error(
        "the database has no table {}; run `mingzhang --store URL init` (again) to add it",
        personal_data::PERSONAL_DATA_TABLE
    )]
    NoPersonalDataTable,
    #[error("record {seq} in {TABLE} is damaged: {reason}")]
    Damaged { seq: u64, reason: String },
}

/// Creates the table and its triggers if they are missing; safe to run again.
pub async fn create_schema(url: &str) -> Result<(), PostgresError> {
    let client = connect(url, "mingzhang-init").await?;
    // Two `init`s at once must not race on CREATE OR REPLACE.
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{TABLE}')); {SCHEMA} COMMIT;"
        ))
        .await?;
    Ok(())
}

async fn connect(url: &str, application_name: &str) -> Result<Client, PostgresError> {
    let (client, connection) = connect_polling_elsewhere(url, application_name).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

async fn connect_polling_elsewhere(
    url: &str,
    application_name: &str,
) -> Result<
    (
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    PostgresError,
> {
    connection_config(url, application_name)?
        .connect(NoTls)
        .await
        .map_err(PostgresError::Connect)
}

/// TCP keepalive probes after this long without traffic, then every
/// `KEEPALIVE_INTERVAL`, up to `KEEPALIVE_RETRIES` unanswered: a dead link
/// is dropped in about 25 s. A follower's LISTEN connection carries nothing
/// while the writer is idle, so a link that died silently (a failover
/// behind a proxy, a cut cable) was noticed only when the OS's default of
/// two hours ran out; dropped, it is replaced and the follower catches up.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

/// The connection settings of `url`, named `application_name`, with this
/// crate's keepalives unless the URL sets its own.
fn connection_config(
    url: &str,
    application_name: &str,
) -> Result<tokio_postgres::Config, PostgresError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(PostgresError::Url)?;
    config.application_name(application_name);
    let untouched = tokio_postgres::Config::new();
    if config.get_keepalives_idle() == untouched.get_keepalives_idle()
        && config.get_keepalives_interval().is_none()
        && config.get_keepalives_retries().is_none()
    {
        config
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
    }
    Ok(config)
}

fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).expect("a seq beyond i64 is a bug: 2^63 records cannot exist")
}

fn seq_from_sql(seq: i64) -> u64 {
    u64::try_from(seq).expect("the table's CHECK keeps seq non-negative")
}

/// The log in one PostgreSQL database. Dropping it lets the writer finish
/// what is queued and closes its connections.
pub struct PostgresStore {
    shared: Arc<Shared>,
    reads: std::sync::mpsc::Sender<ReadRequest>,
    writer: Option<tokio::task::JoinHandle<()>>,
    listener: tokio::task::JoinHandle<()>,
}

struct Shared {
    /// The tail of what is queued: where the next append must start.
    tail: Mutex<Tail>,
    /// The head of what is committed, and its length for watchers; changed
    /// together under this lock, so watchers see lengths in order.
    durable: Mutex<Head>,
    durable_tx: watch::Sender<u64>,
    failure: Mutex<Option<String>>,
    stats: Mutex<SyncStats>,
}

struct Tail {
    next_seq: u64,
    last_hash: Hash,
    queue: Option<mpsc::UnboundedSender<Batch>>,
}

/// One caller's records on their way to a transaction.
struct Batch {
    records: Vec<StoredRecord>,
    done: oneshot::Sender<Result<Vec<RecordMeta>, StoreError>>,
}

struct ReadRequest {
    from_seq: u64,
    end_seq: u64,
    reply: std::sync::mpsc::Sender<Result<Vec<StoredRecord>, StoreError>>,
}

impl Shared {
    fn fail(&self, reason: String) -> String {
        let mut failure = self.failure.lock();
        failure.get_or_insert(reason).clone()
    }

    /// Moves the durable head forward to `head`, never back.
    fn publish_durable(&self, head: Head) {
        let mut durable = self.durable.lock();
        if head.len > durable.len {
            *durable = head;
            self.durable_tx.send_replace(head.len);
        }
    }
}

impl PostgresStore {
    /// Opens the log in the database at `url` (created by `create_schema`).
    /// Must be called within a tokio runtime: the writer and the listener
    /// run on it.
    pub async fn open(url: &str) -> Result<PostgresStore, PostgresError> {
        let writer_client = connect(url, WRITER_APPLICATION_NAME).await?;
        // Acknowledged means durable: COMMIT returns only once its WAL is flushed.
        writer_client
            .batch_execute("SET synchronous_commit = on")
            .await?;
        let head = read_head(&writer_client).await?;
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (durable_tx, _) = watch::channel(head.len);
        let shared = Arc::new(Shared {
            tail: Mutex::new(Tail {
                next_seq: head.len,
                last_hash: head.last_hash,
                queue: Some(queue_tx),
            }),
            durable: Mutex::new(head),
            durable_tx,
            failure: Mutex::new(None),
            stats: Mutex::new(SyncStats::default()),
        });
        let reads = spawn_reader(url.to_owned()).await?;
        let listener = spawn_listener(url, shared.clone()).await?;
        let writer = tokio::spawn(write_groups(writer_client, queue_rx, shared.clone()));
        Ok(PostgresStore {
            shared,
            reads,
            writer: Some(writer),
            listener,
        })
    }

    /// Waits for everything queued to be committed (or to fail), then closes.
    pub async fn close(mut self) {
        self.shared.tail.lock().queue = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
    }

    fn append_now(
        &self,
        expected_first_seq: u64,
        payloads: Vec<Vec<u8>>,
    ) -> Result<oneshot::Receiver<Result<Vec<RecordMeta>, StoreError>>, StoreError> {
        if let Some(reason) = self.shared.failure.lock().clone() {
            return Err(StoreError::Failed(reason));
        }
        let mut tail = self.shared.tail.lock();
        if expected_first_seq != tail.next_seq {
            return Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual: tail.next_seq,
            });
        }
        let mut records = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            assert!(
                payload.len() <= PAYLOAD_LEN_MAX,
                "an envelope over PAYLOAD_LEN_MAX is a bug upstream"
            );
            let record = StoredRecord::encode(tail.next_seq, &tail.last_hash, payload);
            tail.next_seq += 1;
            tail.last_hash = record.hash();
            records.push(record);
        }
        let (done, outcome) = oneshot::channel();
        let queue = tail.queue.as_ref().ok_or(StoreError::Closed)?;
        // Sent under the lock, so the queue is in seq order.
        queue
            .send(Batch { records, done })
            .map_err(|_| StoreError::Closed)?;
        Ok(outcome)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.shared.tail.lock().queue = None;
        self.listener.abort();
    }
}

async fn read_head(client: &Client) -> Result<Head, PostgresError> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])
        .await?
        .get(0);
    if !exists {
        return Err(PostgresError::NoSchema);
    }
    let last = client
        .query_opt(
            "SELECT seq, record FROM mingzhang_records ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    let Some(row) = last else {
        return Ok(Head {
            len: 0,
            last_hash: GENESIS_PREV_HASH,
        });
    };
    let seq = seq_from_sql(row.get(0));
    let bytes: &[u8] = row.get(1);
    let record = StoredRecord::decode(bytes).map_err(|error| PostgresError::Damaged {
        seq,
        reason: error.to_string(),
    })?;
    if record.seq() != seq {
        return Err(PostgresError::Damaged {
            seq,
            reason: format!("the record's bytes say seq {}", record.seq()),
        });
    }
    Ok(Head {
        len: seq + 1,
        last_hash: record.hash(),
    })
}

impl EventStore for PostgresStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        let queued = self.append_now(expected_first_seq, payloads);
        Box::pin(async move { queued?.await.unwrap_or(Err(StoreError::Closed)) })
    }

    fn head(&self) -> Head {
        *self.shared.durable.lock()
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let len = self.shared.durable.lock().len;
        if from_seq > len {
            return Err(StoreError::OutOfRange { seq: from_seq, len });
        }
        let end_seq = len.min(from_seq.saturating_add(max_records as u64));
        if end_seq == from_seq {
            return Ok(Vec::new());
        }
        let (reply, answer) = std::sync::mpsc::channel();
        self.reads
            .send(ReadRequest {
                from_seq,
                end_seq,
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    fn watch_durable_len(&self) -> watch::Receiver<u64> {
        self.shared.durable_tx.subscribe()
    }

    fn sync_stats(&self) -> Option<SyncStats> {
        Some(self.shared.stats.lock().clone())
    }

    fn failure(&self) -> Option<String> {
        self.shared.failure.lock().clone()
    }
}

/// The writer task: takes every batch waiting, commits them in one
/// transaction, then completes their callers.
async fn write_groups(
    mut client: Client,
    mut queue: mpsc::UnboundedReceiver<Batch>,
    shared: Arc<Shared>,
) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        let (mut records, mut bytes) = (group[0].records.len(), 0usize);
        while records < GROUP_RECORDS_MAX && bytes < GROUP_BYTES_MAX {
            let Ok(batch) = queue.try_recv() else { break };
            records += batch.records.len();
            bytes += batch.records.iter().map(StoredRecord::len).sum::<usize>();
            group.push(batch);
        }
        if let Some(reason) = shared.failure.lock().clone() {
            for batch in group {
                let _ = batch.done.send(Err(StoreError::Failed(reason.clone())));
            }
            continue;
        }
        let first_seq = group[0].records[0].seq();
        let outcome = commit_group(&mut client, &group).await;
        match outcome {
            Ok(()) => {
                let last = group
                    .last()
                    .and_then(|batch| batch.records.last())
                    .expect("a group holds records");
                assert_eq!(last.seq() + 1 - first_seq, records as u64);
                shared.stats.lock().record_batch(records as u64);
                shared.publish_durable(Head {
                    len: last.seq() + 1,
                    last_hash: last.hash(),
                });
                for batch in group {
                    let metas = batch
                        .records
                        .iter()
                        .map(|record| RecordMeta {
                            seq: record.seq(),
                            hash: record.hash(),
                        })
                        .collect();
                    let _ = batch.done.send(Ok(metas));
                }
            }
            Err(GroupError::Conflict { actual }) => {
                let reason = shared.fail(format!(
                    "another writer appended: the table is at seq {actual}, this process \
                     expected {first_seq}; reopen to continue from the log as it is"
                ));
                let mut group = group.into_iter();
                let first = group.next().expect("a group holds records");
                let _ = first.done.send(Err(StoreError::WrongExpectedSeq {
                    expected: first_seq,
                    actual,
                }));
                for batch in group {
                    let _ = batch.done.send(Err(StoreError::Failed(reason.clone())));
                }
            }
            Err(GroupError::Unknown(error)) => {
                let reason = shared.fail(format!(
                    "writing records {first_seq}.. failed and whether they were committed \
                     is unknown until the store is reopened and read again: {error}"
                ));
                for batch in group {
                    let _ = batch.done.send(Err(StoreError::Failed(reason.clone())));
                }
            }
        }
    }
}

enum GroupError {
    /// Refused before anything was written: the table is at `actual`.
    Conflict { actual: u64 },
    /// The transaction may or may not have committed.
    Unknown(tokio_postgres::Error),
}

async fn commit_group(client: &mut Client, group: &[Batch]) -> Result<(), GroupError> {
    let first_seq = group[0].records[0].seq();
    let written: Result<Result<(), u64>, tokio_postgres::Error> = async {
        let transaction = client.transaction().await?;
        let actual: Option<i64> = transaction
            .query_one("SELECT max(seq) + 1 FROM mingzhang_records", &[])
            .await?
            .get(0);
        let actual = actual.map_or(0, seq_from_sql);
        if actual != first_seq {
            return Ok(Err(actual));
        }
        let sink = transaction
            .copy_in("COPY mingzhang_records (seq, hash, record) FROM STDIN (FORMAT binary)")
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::BYTEA, Type::BYTEA]);
        futures::pin_mut!(writer);
        let mut end = first_seq;
        for record in group.iter().flat_map(|batch| &batch.records) {
            assert_eq!(record.seq(), end, "a group is dense");
            let hash = record.hash();
            writer
                .as_mut()
                .write(&[&seq_to_sql(record.seq()), &&hash[..], &record.bytes()])
                .await?;
            end += 1;
        }
        writer.finish().await?;
        transaction
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &end.to_string()])
            .await?;
        transaction.commit().await?;
        Ok(Ok(()))
    }
    .await;
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(actual)) => Err(GroupError::Conflict { actual }),
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            // Another writer committed between our check and our COPY.
            let actual = client
                .query_one(
                    "SELECT coalesce(max(seq) + 1, 0) FROM mingzhang_records",
                    &[],
                )
                .await
                .map(|row| seq_from_sql(row.get(0)))
                .map_err(GroupError::Unknown)?;
            Err(GroupError::Conflict { actual })
        }
        Err(error) => Err(GroupError::Unknown(error)),
    }
}

/// The reader: a thread with a connection and a runtime of its own, because
/// `EventStore::read` is synchronous and may be called on a runtime thread.
async fn spawn_reader(url: String) -> Result<std::sync::mpsc::Sender<ReadRequest>, PostgresError> {
    let (requests, incoming) = std::sync::mpsc::channel::<ReadRequest>();
    let (opened_tx, opened) = oneshot::channel();
    std::thread::Builder::new()
        .name("postgres-reader".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the reader thread");
            let mut client = match runtime.block_on(connect(&url, READER_APPLICATION_NAME)) {
                Ok(client) => {
                    let _ = opened_tx.send(Ok(()));
                    client
                }
                Err(error) => {
                    let _ = opened_tx.send(Err(error));
                    return;
                }
            };
            while let Ok(request) = incoming.recv() {
                // Reads change nothing, so a lost connection is simply
                // replaced (unlike the writer's, whose commit may be unknown).
                if client.is_closed() {
                    match runtime.block_on(connect(&url, READER_APPLICATION_NAME)) {
                        Ok(fresh) => client = fresh,
                        Err(error) => {
                            let _ = request
                                .reply
                                .send(Err(StoreError::Io(std::io::Error::other(error))));
                            continue;
                        }
                    }
                }
                let mut records = runtime.block_on(read_range(&client, &request));
                // A connection found dead by this read (the server died, a
                // standby took over) is replaced and the read made again once.
                if records.is_err()
                    && client.is_closed()
                    && let Ok(fresh) = runtime.block_on(connect(&url, READER_APPLICATION_NAME))
                {
                    client = fresh;
                    records = runtime.block_on(read_range(&client, &request));
                }
                let _ = request.reply.send(records);
            }
        })
        .map_err(|error| PostgresError::Damaged {
            seq: 0,
            reason: format!("starting the reader thread: {error}"),
        })?;
    opened.await.map_err(|_| PostgresError::NoSchema)??;
    Ok(requests)
}

async fn read_range(
    client: &Client,
    request: &ReadRequest,
) -> Result<Vec<StoredRecord>, StoreError> {
    let rows = client
        .query(
            "SELECT seq, record FROM mingzhang_records WHERE seq >= $1 AND seq < $2 ORDER BY seq",
            &[&seq_to_sql(request.from_seq), &seq_to_sql(request.end_seq)],
        )
        .await
        .map_err(|error| StoreError::Io(std::io::Error::other(error)))?;
    let mut records = Vec::with_capacity(rows.len());
    for (seq, row) in (request.from_seq..request.end_seq).zip(&rows) {
        let damaged = |reason: String| StoreError::Corrupt {
            position: LogPosition {
                segment: format!("PostgreSQL table {TABLE}"),
                offset: 0,
                seq,
            },
            reason,
        };
        let stored_seq = seq_from_sql(row.get(0));
        if stored_seq != seq {
            return Err(damaged(format!(
                "record {seq} is missing; the next is {stored_seq}"
            )));
        }
        let record =
            StoredRecord::decode(row.get(1)).map_err(|error| damaged(error.to_string()))?;
        if record.seq() != seq {
            return Err(damaged(format!(
                "the record's bytes say seq {}",
                record.seq()
            )));
        }
        records.push(record);
    }
    if records.len() as u64 != request.end_seq - request.from_seq {
        return Err(StoreError::Corrupt {
            position: LogPosition {
                segment: format!("PostgreSQL table {TABLE}"),
                offset: 0,
                seq: request.from_seq + records.len() as u64,
            },
            reason: "a committed record is missing".into(),
        });
    }
    Ok(records)
}

/// The first wait before listening again after the LISTEN connection was
/// lost; each failed attempt doubles it, up to `LISTEN_RETRY_MAX`.
pub const LISTEN_RETRY_MIN: Duration = Duration::from_millis(100);
pub const LISTEN_RETRY_MAX: Duration = Duration::from_secs(2);

/// Listens for other writers' commits and moves the durable head to them,
/// so a follower in another process wakes and reads them by range. When the
/// connection is lost (the server restarted, or died and a standby was
/// promoted), it connects again with backoff, through the same URL (which
/// names the standby too), and catches up with what was committed while it
/// was not listening: no NOTIFY is kept for a session that was not there.
async fn spawn_listener(
    url: &str,
    shared: Arc<Shared>,
) -> Result<tokio::task::JoinHandle<()>, PostgresError> {
    let listening = listen(url).await?;
    Ok(tokio::spawn(follow_commits(
        url.to_owned(),
        shared,
        listening,
    )))
}

/// A LISTEN session: its client, and the lengths its NOTIFYs announce; the
/// channel closes when the connection ends.
struct Listening {
    client: Client,
    lengths: mpsc::UnboundedReceiver<u64>,
    _poller: AbortOnDrop,
}

async fn listen(url: &str) -> Result<Listening, PostgresError> {
    let (client, mut connection) =
        connect_polling_elsewhere(url, LISTENER_APPLICATION_NAME).await?;
    let (lengths_tx, lengths) = mpsc::unbounded_channel::<u64>();
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let poller = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if let Ok(len) = notification.payload().parse::<u64>() {
                        let _ = lengths_tx.send(len);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the PostgreSQL listener's connection ended");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok(Listening {
        client,
        lengths,
        _poller: AbortOnDrop(poller),
    })
}

async fn follow_commits(url: String, shared: Arc<Shared>, mut listening: Listening) {
    loop {
        // Listening from here on; what was committed before is read now.
        match read_head(&listening.client).await {
            Ok(head) => shared.publish_durable(head),
            Err(error) => tracing::warn!(%error, "catching up after LISTEN"),
        }
        while let Some(mut len) = listening.lengths.recv().await {
            while let Ok(later) = listening.lengths.try_recv() {
                len = len.max(later);
            }
            if len <= shared.durable.lock().len {
                continue;
            }
            match read_hash_at(&listening.client, len - 1).await {
                Ok(last_hash) => shared.publish_durable(Head { len, last_hash }),
                Err(error) => tracing::warn!(%error, len, "reading a new head announced by NOTIFY"),
            }
        }
        let mut wait = LISTEN_RETRY_MIN;
        listening = loop {
            tokio::time::sleep(wait).await;
            match listen(&url).await {
                Ok(listening) => {
                    tracing::info!("listening for commits again");
                    break listening;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = (wait * 2).min(LISTEN_RETRY_MAX).as_millis() as u64, "cannot LISTEN yet");
                    wait = (wait * 2).min(LISTEN_RETRY_MAX);
                }
            }
        };
    }
}

async fn read_hash_at(client: &Client, seq: u64) -> Result<Hash, PostgresError> {
    let row = client
        .query_one(
            "SELECT record FROM mingzhang_records WHERE seq = $1",
            &[&seq_to_sql(seq)],
        )
        .await?;
    let record = StoredRecord::decode(row.get(0)).map_err(|error| PostgresError::Damaged {
        seq,
        reason: error.to_string(),
    })?;
    Ok(record.hash())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_probe_an_idle_link_unless_the_url_says_otherwise() {
        let config =
            connection_config("postgres://mz@db.example/ledger", "mingzhang-test").unwrap();
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(config.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(config.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        assert_eq!(config.get_application_name(), Some("mingzhang-test"));

        let own =
            connection_config("postgres://mz@db.example/ledger?keepalives_idle=60", "x").unwrap();
        assert_eq!(own.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(own.get_keepalives_interval(), None);
    }
}
