//! Signed checkpoints in the database, beside the records, so that every
//! `serve` on one log answers with the same checkpoint for the same size and
//! `verify` and `export` find the checkpoints the servers signed.
//!
//! One table, `mingzhang_checkpoints (tree_size, note, signed_at)`, append-only
//! like the records': UPDATE, DELETE and TRUNCATE are revoked and refused by
//! triggers. A size holds one note for ever; the first saved wins. Two
//! servers that sign the same size with the one key sign the same body, and
//! Ed25519 signatures are deterministic, so their notes differ only if
//! witnesses cosigned them differently; the later is refused and its signer
//! serves the one saved (`Transparency::sign_at` in `api`).
//!
//! `CheckpointStore` is synchronous (signing runs off the async threads), so
//! the calls go to a thread with a connection and a runtime of its own, as
//! the log's reads do. A lost connection is replaced on the next call: a
//! save whose outcome was unknown is simply saved again, which either
//! inserts it or finds it there.

use mingzhang_ledger::checkpoint_store::{CheckpointStore, CheckpointStoreError, SavedCheckpoint};
use tokio_postgres::Client;

use crate::table_thread::{TableCalls, TableThread};
use crate::{PostgresError, connect, seq_from_sql, seq_to_sql};

/// The table holding the signed checkpoints.
pub const CHECKPOINTS_TABLE: &str = "mingzhang_checkpoints";
/// The `application_name` of the checkpoints' connection.
pub const CHECKPOINTS_APPLICATION_NAME: &str = "mingzhang-checkpoints";

enum Call {
    Save { size: u64, note: String },
    Latest,
    At { size: u64 },
}

enum Answer {
    Saved,
    Latest(Option<SavedCheckpoint>),
    At(Option<String>),
}

/// The checkpoints of the log in the database at a URL.
pub struct PostgresCheckpoints {
    thread: TableThread<CheckpointCalls>,
    described: String,
}

impl PostgresCheckpoints {
    /// Connects to the database at `url`, whose schema `create_schema` made.
    /// `described` names the database in messages (without a password).
    pub async fn open(url: &str, described: &str) -> Result<PostgresCheckpoints, PostgresError> {
        let thread = TableThread::start(url).await?;
        Ok(PostgresCheckpoints {
            thread,
            described: format!("PostgreSQL table {CHECKPOINTS_TABLE} in {described}"),
        })
    }

    fn call(&self, call: Call) -> Result<Answer, CheckpointStoreError> {
        self.thread.call(call).unwrap_or_else(|| {
            Err(CheckpointStoreError::Unavailable(
                "the checkpoints thread ended".into(),
            ))
        })
    }
}

struct CheckpointCalls;

impl TableCalls for CheckpointCalls {
    type Call = Call;
    type Answer = Answer;
    type Error = CheckpointStoreError;
    const THREAD_NAME: &'static str = "postgres-checkpoints";

    async fn connect(url: &str) -> Result<Client, PostgresError> {
        connect_checked(url).await
    }

    async fn answer(client: &Client, call: Call) -> Result<Answer, CheckpointStoreError> {
        answer(client, call).await
    }

    fn unavailable(error: PostgresError) -> CheckpointStoreError {
        unavailable(error)
    }
}

async fn connect_checked(url: &str) -> Result<Client, PostgresError> {
    let client = connect(url, CHECKPOINTS_APPLICATION_NAME).await?;
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&CHECKPOINTS_TABLE])
        .await?
        .get(0);
    if !exists {
        return Err(PostgresError::NoCheckpointsTable);
    }
    // A checkpoint is published only once saved: its COMMIT waits for the WAL.
    client.batch_execute("SET synchronous_commit = on").await?;
    Ok(client)
}

fn unavailable(error: impl std::fmt::Display) -> CheckpointStoreError {
    CheckpointStoreError::Unavailable(format!("{CHECKPOINTS_TABLE}: {error}"))
}

async fn answer(client: &Client, call: Call) -> Result<Answer, CheckpointStoreError> {
    match call {
        Call::Save { size, note } => {
            let inserted = client
                .execute(
                    "INSERT INTO mingzhang_checkpoints (tree_size, note) VALUES ($1, $2) \
                     ON CONFLICT (tree_size) DO NOTHING",
                    &[&seq_to_sql(size), &note],
                )
                .await
                .map_err(unavailable)?;
            if inserted == 1 {
                return Ok(Answer::Saved);
            }
            match note_at(client, size).await? {
                Some(saved) if saved == note => Ok(Answer::Saved),
                Some(_) => Err(CheckpointStoreError::DifferentNoteAtSize { size }),
                None => Err(unavailable(format!(
                    "the insert at tree size {size} conflicted but no row is there"
                ))),
            }
        }
        Call::Latest => {
            let row = client
                .query_opt(
                    "SELECT tree_size, note FROM mingzhang_checkpoints \
                     ORDER BY tree_size DESC LIMIT 1",
                    &[],
                )
                .await
                .map_err(unavailable)?;
            Ok(Answer::Latest(row.map(|row| SavedCheckpoint {
                size: seq_from_sql(row.get(0)),
                note: row.get(1),
            })))
        }
        Call::At { size } => Ok(Answer::At(note_at(client, size).await?)),
    }
}

async fn note_at(client: &Client, size: u64) -> Result<Option<String>, CheckpointStoreError> {
    Ok(client
        .query_opt(
            "SELECT note FROM mingzhang_checkpoints WHERE tree_size = $1",
            &[&seq_to_sql(size)],
        )
        .await
        .map_err(unavailable)?
        .map(|row| row.get(0)))
}

impl CheckpointStore for PostgresCheckpoints {
    fn save(&self, size: u64, note: &str) -> Result<(), CheckpointStoreError> {
        match self.call(Call::Save {
            size,
            note: note.to_owned(),
        })? {
            Answer::Saved => Ok(()),
            _ => unreachable!("a save is answered Saved"),
        }
    }

    fn latest(&self) -> Result<Option<SavedCheckpoint>, CheckpointStoreError> {
        match self.call(Call::Latest)? {
            Answer::Latest(latest) => Ok(latest),
            _ => unreachable!("latest is answered Latest"),
        }
    }

    fn at(&self, size: u64) -> Result<Option<String>, CheckpointStoreError> {
        match self.call(Call::At { size })? {
            Answer::At(note) => Ok(note),
            _ => unreachable!("at is answered At"),
        }
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}
