//! One writer among several servers on one database. Each `serve` on the
//! same PostgreSQL log follows it and serves reads from its own projections;
//! the one holding the session advisory lock `WRITER_LOCK_KEY` writes. The
//! lock lives with its connection: when the writer's process dies, its
//! session ends, the lock is free, and the next server to try takes it.
//! Holding the lock is not what keeps the chain whole (the primary key and
//! the position each append expects do, so a writer that lost its lock
//! without knowing is refused at its next append); it is what keeps two
//! servers from taking turns being refused.
//!
//! The writer notes its advertised address in `mingzhang_writer`, so that a
//! follower can name it to a client it refuses a write.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_postgres::Client;

use crate::{PostgresError, connect_polling_elsewhere};

/// The advisory lock key of the write role ("mzwriter" in ASCII).
pub const WRITER_LOCK_KEY: i64 = 0x6d7a_7772_6974_6572;
/// How often a follower tries to take the role.
pub const WRITER_ROLE_POLL: Duration = Duration::from_millis(250);
/// The `application_name` of the connection holding the lock.
pub const WRITER_LOCK_APPLICATION_NAME: &str = "mingzhang-writer-lock";

/// The write role, held while this value and its connection live.
pub struct WriterRole {
    client: Client,
    connection_ended: oneshot::Receiver<()>,
}

impl WriterRole {
    /// Resolves when the lock's connection has ended: the role may be
    /// another server's from then on.
    pub async fn lost(&mut self) {
        let _ = (&mut self.connection_ended).await;
    }

    /// Gives the role up: ends the lock's session and waits until it has.
    pub async fn release(self) {
        drop(self.client);
        let _ = self.connection_ended.await;
    }
}

/// Waits until this process holds the write role, trying every
/// `WRITER_ROLE_POLL`; tells `follower` who writes (the advertised address
/// in `mingzhang_writer`) each time it tries and fails. An error means the
/// database cannot be reached: the caller tries again.
pub async fn wait_for_writer_role(
    url: &str,
    advertise: &str,
    mut follower: impl FnMut(Option<String>),
) -> Result<WriterRole, PostgresError> {
    let (client, connection) = connect_polling_elsewhere(url, WRITER_LOCK_APPLICATION_NAME).await?;
    let (ended_tx, connection_ended) = oneshot::channel();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the write role's connection ended");
        }
        let _ = ended_tx.send(());
    });
    loop {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK_KEY])
            .await?
            .get(0);
        if taken {
            client
                .execute(
                    "INSERT INTO mingzhang_writer (id, http, since) VALUES (1, $1, now()) \
                     ON CONFLICT (id) DO UPDATE SET http = excluded.http, since = excluded.since",
                    &[&advertise],
                )
                .await?;
            return Ok(WriterRole {
                client,
                connection_ended,
            });
        }
        let writer = client
            .query_opt("SELECT http FROM mingzhang_writer WHERE id = 1", &[])
            .await?
            .map(|row| row.get::<_, String>(0));
        follower(writer);
        tokio::time::sleep(WRITER_ROLE_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ThrowawayCluster;

    #[tokio::test]
    async fn one_process_holds_the_role_and_the_next_takes_it_when_its_session_ends() {
        let Some(cluster) = ThrowawayCluster::start_or_skip(
            "one_process_holds_the_role_and_the_next_takes_it_when_its_session_ends",
        ) else {
            return;
        };
        crate::create_schema(cluster.url()).await.expect("schema");
        let first = wait_for_writer_role(cluster.url(), "http://first", |_| {})
            .await
            .expect("the first takes the role");
        let named = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let second = {
            let (url, named) = (cluster.url().to_owned(), named.clone());
            tokio::spawn(async move {
                wait_for_writer_role(&url, "http://second", |writer| named.lock().push(writer))
                    .await
                    .map(|_| ())
            })
        };
        tokio::time::sleep(WRITER_ROLE_POLL * 4).await;
        assert!(!second.is_finished(), "two processes held the role at once");
        assert_eq!(
            named.lock().last().cloned().flatten().as_deref(),
            Some("http://first"),
            "a follower learns who writes"
        );
        first.release().await;
        tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("the second takes the role once the first's session ends")
            .expect("task")
            .expect("role");
    }
}
