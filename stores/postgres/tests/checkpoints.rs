//! The shared `CheckpointStore` contract on the `mingzhang_checkpoints`
//! table, its append-only triggers, and a save that carries on after its
//! connection was lost. Each test starts a throwaway cluster through
//! ops/postgres.sh.

use mingzhang_ledger::checkpoint_store::CheckpointStore;
use mingzhang_ledger::checkpoint_store::contract::{
    CheckpointStoreHarness, run_contract, signed_note,
};
use mingzhang_store_postgres::checkpoints::{CHECKPOINTS_APPLICATION_NAME, PostgresCheckpoints};
use mingzhang_store_postgres::cluster::ThrowawayCluster;
use mingzhang_store_postgres::create_schema;
use tokio_postgres::NoTls;

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

async fn fresh_database(cluster: &ThrowawayCluster, name: &str) -> String {
    admin(cluster.url())
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let url = cluster.database_url(name);
    create_schema(&url).await.expect("create the schema");
    url
}

struct TableHarness {
    runtime: tokio::runtime::Runtime,
    cluster: ThrowawayCluster,
    databases: usize,
    current: Option<String>,
}

impl CheckpointStoreHarness for TableHarness {
    type Store = PostgresCheckpoints;

    fn fresh(&mut self) -> PostgresCheckpoints {
        self.databases += 1;
        let name = format!("checkpoints_{}", self.databases);
        let url = self.runtime.block_on(fresh_database(&self.cluster, &name));
        self.current = Some(url.clone());
        self.runtime
            .block_on(PostgresCheckpoints::open(&url, &name))
            .expect("open")
    }

    fn reopen(&mut self, store: PostgresCheckpoints) -> PostgresCheckpoints {
        drop(store);
        let url = self.current.clone().expect("a store was opened");
        self.runtime
            .block_on(PostgresCheckpoints::open(&url, "reopened"))
            .expect("reopen")
    }
}

#[test]
fn the_checkpoints_table_keeps_the_checkpoint_store_contract() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "the_checkpoints_table_keeps_the_checkpoint_store_contract",
    ) else {
        return;
    };
    run_contract(&mut TableHarness {
        runtime: tokio::runtime::Runtime::new().expect("runtime"),
        cluster,
        databases: 0,
        current: None,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_checkpoint_cannot_be_updated_deleted_or_truncated() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "a_saved_checkpoint_cannot_be_updated_deleted_or_truncated",
    ) else {
        return;
    };
    let url = fresh_database(&cluster, "tamper").await;
    let checkpoints = PostgresCheckpoints::open(&url, "tamper")
        .await
        .expect("open");
    let note = signed_note(4, 1);
    tokio::task::block_in_place(|| checkpoints.save(4, &note)).expect("save");
    // The cluster's superuser: privileges do not bind it, so the trigger must.
    let client = admin(&url).await;
    for statement in [
        "UPDATE mingzhang_checkpoints SET note = note || 'x' WHERE tree_size = 4",
        "DELETE FROM mingzhang_checkpoints WHERE tree_size = 4",
        "TRUNCATE mingzhang_checkpoints",
    ] {
        let error = client.batch_execute(statement).await.expect_err(statement);
        let message = error
            .as_db_error()
            .expect("refused by the server")
            .message();
        assert!(
            message.contains("mingzhang_checkpoints is append-only"),
            "{statement}: {message}"
        );
    }
    assert_eq!(
        tokio::task::block_in_place(|| checkpoints.at(4)).expect("at"),
        Some(note)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_saved_again_after_the_connection_is_lost() {
    let Some(cluster) =
        ThrowawayCluster::start_or_skip("checkpoints_are_saved_again_after_the_connection_is_lost")
    else {
        return;
    };
    let url = fresh_database(&cluster, "lost").await;
    let checkpoints = PostgresCheckpoints::open(&url, "lost").await.expect("open");
    tokio::task::block_in_place(|| checkpoints.save(1, &signed_note(1, 1))).expect("save");
    let admin = admin(cluster.url()).await;
    let terminated = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = 'lost' AND application_name = $1",
            &[&CHECKPOINTS_APPLICATION_NAME],
        )
        .await
        .expect("terminate");
    assert_eq!(terminated, 1);
    // The first call after the loss may fail, naming the table; one of the
    // next two is on a fresh connection.
    let note = signed_note(2, 1);
    let saved = (0..3).any(|_| tokio::task::block_in_place(|| checkpoints.save(2, &note)).is_ok());
    assert!(saved, "no save succeeded after the connection was lost");
    assert_eq!(
        tokio::task::block_in_place(|| checkpoints.latest())
            .expect("latest")
            .map(|latest| (latest.size, latest.note)),
        Some((2, note))
    );
}
