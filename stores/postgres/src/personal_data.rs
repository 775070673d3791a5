//! The side store of personal data in the database, beside the records, so
//! that every `serve` on one log (the writer and its followers) finds the
//! clear name behind a commitment the writer recorded (docs/proofs.md,
//! "Personal data").
//!
//! One table, `mingzhang_personal_data (subject_id, salt, value,
//! committed_at)`, one row per salt drawn for a subject: a retry with
//! another name before the first was recorded leaves a second row, an
//! orphan whose commitment no record carries, as the file store's second
//! line does. DELETE is the one change allowed (an erasure); UPDATE and
//! TRUNCATE are revoked and refused by triggers.
//!
//! This module knows rows, not commitments: `api` draws the salts and
//! computes the commitments (`api::personal_data`).
//!
//! Like the checkpoints, the calls are synchronous (the read models look
//! names up as they fold the log), so they go to a thread with a connection
//! and a runtime of its own; a lost connection is replaced on the next call.
//! Each statement commits on its own with `synchronous_commit = on`, as the
//! log's COMMIT does: an insert has returned only once its WAL is flushed.

use tokio_postgres::Client;

use crate::table_thread::{TableCalls, TableThread};
use crate::{PostgresError, connect};

/// The table holding the clear values and their salts.
pub const PERSONAL_DATA_TABLE: &str = "mingzhang_personal_data";
/// The `application_name` of the side store's connection.
pub const PERSONAL_DATA_APPLICATION_NAME: &str = "mingzhang-personal-data";
/// The length of a salt, checked by the table too.
pub const SALT_BYTES: usize = 32;

/// One salt drawn for a subject and the value it was drawn for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalDataRow {
    pub salt: [u8; SALT_BYTES],
    pub value: String,
}

enum Call {
    RowsOf {
        subject_id: String,
    },
    Insert {
        subject_id: String,
        row: PersonalDataRow,
    },
    Subjects,
    AllRows,
    Delete {
        subject_ids: Vec<String>,
    },
}

enum Answer {
    Rows(Vec<PersonalDataRow>),
    Inserted,
    Subjects(Vec<String>),
    AllRows(Vec<(String, PersonalDataRow)>),
    Deleted(u64),
}

/// The side store's table in the database at a URL.
pub struct PostgresPersonalData {
    thread: TableThread<PersonalDataCalls>,
    described: String,
}

impl PostgresPersonalData {
    /// Connects to the database at `url`, whose schema `create_schema` made.
    /// `described` names the database in messages (without a password).
    pub async fn open(url: &str, described: &str) -> Result<PostgresPersonalData, PostgresError> {
        let thread = TableThread::start(url).await?;
        Ok(PostgresPersonalData {
            thread,
            described: format!("PostgreSQL table {PERSONAL_DATA_TABLE} in {described}"),
        })
    }

    /// Where the rows are, for messages.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Every row of `subject_id`, oldest first.
    pub fn rows_of(&self, subject_id: &str) -> std::io::Result<Vec<PersonalDataRow>> {
        match self.call(Call::RowsOf {
            subject_id: subject_id.to_owned(),
        })? {
            Answer::Rows(rows) => Ok(rows),
            _ => unreachable!("rows_of is answered Rows"),
        }
    }

    /// Inserts a row and returns once its COMMIT is durable.
    pub fn insert(&self, subject_id: &str, row: PersonalDataRow) -> std::io::Result<()> {
        match self.call(Call::Insert {
            subject_id: subject_id.to_owned(),
            row,
        })? {
            Answer::Inserted => Ok(()),
            _ => unreachable!("insert is answered Inserted"),
        }
    }

    /// Every subject holding at least one row.
    pub fn subjects(&self) -> std::io::Result<Vec<String>> {
        match self.call(Call::Subjects)? {
            Answer::Subjects(subjects) => Ok(subjects),
            _ => unreachable!("subjects is answered Subjects"),
        }
    }

    /// Every row with its subject, in subject order (`migrate` copies them).
    pub fn all_rows(&self) -> std::io::Result<Vec<(String, PersonalDataRow)>> {
        match self.call(Call::AllRows)? {
            Answer::AllRows(rows) => Ok(rows),
            _ => unreachable!("all_rows is answered AllRows"),
        }
    }

    /// Deletes every row of each of `subject_ids` in one durable statement;
    /// returns how many rows went.
    pub fn delete(&self, subject_ids: Vec<String>) -> std::io::Result<u64> {
        match self.call(Call::Delete { subject_ids })? {
            Answer::Deleted(rows) => Ok(rows),
            _ => unreachable!("delete is answered Deleted"),
        }
    }

    fn call(&self, call: Call) -> std::io::Result<Answer> {
        self.thread
            .call(call)
            .ok_or_else(|| std::io::Error::other("the personal data thread ended"))?
            .map_err(|error| std::io::Error::other(format!("{PERSONAL_DATA_TABLE}: {error}")))
    }
}

struct PersonalDataCalls;

impl TableCalls for PersonalDataCalls {
    type Call = Call;
    type Answer = Answer;
    type Error = String;
    const THREAD_NAME: &'static str = "postgres-personal-data";

    async fn connect(url: &str) -> Result<Client, PostgresError> {
        connect_checked(url).await
    }

    async fn answer(client: &Client, call: Call) -> Result<Answer, String> {
        answer(client, call)
            .await
            .map_err(|error| error.to_string())
    }

    fn unavailable(error: PostgresError) -> String {
        error.to_string()
    }
}

async fn connect_checked(url: &str) -> Result<Client, PostgresError> {
    let client = connect(url, PERSONAL_DATA_APPLICATION_NAME).await?;
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&PERSONAL_DATA_TABLE],
        )
        .await?
        .get(0);
    if !exists {
        return Err(PostgresError::NoPersonalDataTable);
    }
    // A name is kept before its commitment is submitted: durable as the log's.
    client.batch_execute("SET synchronous_commit = on").await?;
    Ok(client)
}

async fn answer(client: &Client, call: Call) -> Result<Answer, tokio_postgres::Error> {
    match call {
        Call::RowsOf { subject_id } => {
            let rows = client
                .query(
                    "SELECT salt, value FROM mingzhang_personal_data WHERE subject_id = $1 \
                     ORDER BY committed_at, salt",
                    &[&subject_id],
                )
                .await?;
            Ok(Answer::Rows(
                rows.iter()
                    .map(|row| {
                        let salt: &[u8] = row.get(0);
                        PersonalDataRow {
                            salt: salt
                                .try_into()
                                .expect("the table's CHECK keeps salts 32 bytes"),
                            value: row.get(1),
                        }
                    })
                    .collect(),
            ))
        }
        Call::Insert { subject_id, row } => {
            client
                .execute(
                    "INSERT INTO mingzhang_personal_data (subject_id, salt, value) \
                     VALUES ($1, $2, $3)",
                    &[&subject_id, &row.salt.as_slice(), &row.value],
                )
                .await?;
            Ok(Answer::Inserted)
        }
        Call::Subjects => {
            let rows = client
                .query(
                    "SELECT DISTINCT subject_id FROM mingzhang_personal_data ORDER BY 1",
                    &[],
                )
                .await?;
            Ok(Answer::Subjects(
                rows.iter().map(|row| row.get(0)).collect(),
            ))
        }
        Call::AllRows => {
            let rows = client
                .query(
                    "SELECT subject_id, salt, value FROM mingzhang_personal_data \
                     ORDER BY subject_id, committed_at, salt",
                    &[],
                )
                .await?;
            Ok(Answer::AllRows(
                rows.iter()
                    .map(|row| {
                        let salt: &[u8] = row.get(1);
                        (
                            row.get(0),
                            PersonalDataRow {
                                salt: salt
                                    .try_into()
                                    .expect("the table's CHECK keeps salts 32 bytes"),
                                value: row.get(2),
                            },
                        )
                    })
                    .collect(),
            ))
        }
        Call::Delete { subject_ids } => {
            let deleted = client
                .execute(
                    "DELETE FROM mingzhang_personal_data WHERE subject_id = ANY($1)",
                    &[&subject_ids],
                )
                .await?;
            Ok(Answer::Deleted(deleted))
        }
    }
}
