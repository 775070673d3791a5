//! The shared `EventStore` contract on PostgreSQL, plus what only this
//! backend has: a refused UPDATE, and a follower in another process woken
//! by NOTIFY. Each test starts a throwaway cluster through ops/postgres.sh.

use mingzhang_ledger::store::contract::{StoreHarness, numbered_payload, run_contract_suite};
use mingzhang_ledger::store::{EventStore, StoreError};
use mingzhang_store_postgres::cluster::ThrowawayCluster;
use mingzhang_store_postgres::{
    PostgresStore, READER_APPLICATION_NAME, WRITER_APPLICATION_NAME, create_schema,
};
use tokio_postgres::NoTls;

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// A fresh database for each fresh log.
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

/// Ends the connections of `application_name` to `database` from the
/// server's side; returns how many.
async fn terminate(cluster: &ThrowawayCluster, database: &str, application_name: &str) -> usize {
    let admin = admin(cluster.url()).await;
    let backends = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            &[&database, &application_name],
        )
        .await
        .expect("find the backends");
    for backend in &backends {
        let pid: i32 = backend.get(0);
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate a backend");
    }
    backends.len()
}

struct PostgresHarness {
    cluster: ThrowawayCluster,
    databases: usize,
    current: Option<String>,
}

impl StoreHarness for PostgresHarness {
    type Store = PostgresStore;

    async fn fresh(&mut self) -> PostgresStore {
        self.databases += 1;
        let url = fresh_database(&self.cluster, &format!("contract_{}", self.databases)).await;
        self.current = Some(url.clone());
        let store = PostgresStore::open(&url).await.expect("open");
        assert_eq!(store.head().len, 0);
        store
    }

    async fn reopen(&mut self, store: PostgresStore) -> PostgresStore {
        let head = store.head();
        store.close().await;
        let url = self.current.clone().expect("a log was opened");
        let store = PostgresStore::open(&url).await.expect("reopen");
        assert_eq!(store.head(), head);
        store
    }

    /// Ends the writer's connection from the server's side, as a network
    /// partition or a restarted server would.
    async fn break_medium(&mut self, _store: &PostgresStore) -> bool {
        let database = format!("contract_{}", self.databases);
        let terminated = terminate(&self.cluster, &database, WRITER_APPLICATION_NAME).await;
        assert_eq!(terminated, 1);
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_keeps_the_store_contract() {
    let Some(cluster) = ThrowawayCluster::start_or_skip("postgres_store_keeps_the_store_contract")
    else {
        return;
    };
    let mut harness = PostgresHarness {
        cluster,
        databases: 0,
        current: None,
    };
    run_contract_suite(&mut harness).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_delete_and_truncate_of_a_record_are_refused() {
    let Some(cluster) =
        ThrowawayCluster::start_or_skip("update_delete_and_truncate_of_a_record_are_refused")
    else {
        return;
    };
    let url = fresh_database(&cluster, "tamper").await;
    let store = PostgresStore::open(&url).await.expect("open");
    store
        .append(0, vec![numbered_payload(0), numbered_payload(1)])
        .await
        .expect("append");
    let before = store.read(0, 2).expect("read");
    // The cluster's superuser: privileges do not bind it, so the trigger must.
    let client = admin(&url).await;
    for statement in [
        "UPDATE mingzhang_records SET record = record || '\\x00'::bytea WHERE seq = 1",
        "DELETE FROM mingzhang_records WHERE seq = 1",
        "TRUNCATE mingzhang_records",
    ] {
        let error = client.batch_execute(statement).await.expect_err(statement);
        let message = error
            .as_db_error()
            .expect("refused by the server")
            .message();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
    // A role without the superuser's bypass is refused by the privileges too.
    client
        .batch_execute(
            "CREATE ROLE clerk LOGIN; GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE \
             ON mingzhang_records TO clerk; REVOKE UPDATE, DELETE, TRUNCATE ON mingzhang_records FROM clerk",
        )
        .await
        .expect("create a role");
    let clerk_url = url.replacen("postgres@", "clerk@", 1);
    let clerk = admin(&clerk_url).await;
    let error = clerk
        .batch_execute("UPDATE mingzhang_records SET hash = hash WHERE seq = 0")
        .await
        .expect_err("a clerk's update");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    assert_eq!(store.read(0, 2).expect("read"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_in_another_process_is_woken_by_notify_and_reads_by_range() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "a_follower_in_another_process_is_woken_by_notify_and_reads_by_range",
    ) else {
        return;
    };
    let url = fresh_database(&cluster, "follow").await;
    let writer = PostgresStore::open(&url).await.expect("open the writer");
    let follower = PostgresStore::open(&url).await.expect("open the follower");
    let mut watch = follower.watch_durable_len();
    assert_eq!(*watch.borrow_and_update(), 0);
    for from in [0u64, 3, 4] {
        let count = if from == 3 { 1 } else { 3 };
        writer
            .append(from, (from..from + count).map(numbered_payload).collect())
            .await
            .expect("append");
    }
    while *watch.borrow_and_update() < 7 {
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed())
            .await
            .expect("NOTIFY wakes the follower")
            .expect("the follower is alive");
    }
    assert_eq!(follower.head(), writer.head());
    assert_eq!(
        follower.read(0, 100).expect("follower read"),
        writer.read(0, 100).expect("writer read")
    );
    // A second writer that began at 0 never forks the chain: the table
    // refuses it, and it fails closed until reopened.
    match follower
        .append(0, vec![b"a fork of record 0".to_vec()])
        .await
    {
        Err(StoreError::WrongExpectedSeq { expected, actual }) => {
            assert_eq!((expected, actual), (0, 7));
        }
        other => panic!("a stale writer's append: {other:?}"),
    }
    assert!(follower.failure().is_some());
    assert_eq!(writer.read(0, 100).expect("read").len(), 7);
    writer
        .append(7, vec![numbered_payload(7)])
        .await
        .expect("the first writer carries on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_carry_on_after_the_readers_connection_is_lost() {
    let Some(cluster) =
        ThrowawayCluster::start_or_skip("reads_carry_on_after_the_readers_connection_is_lost")
    else {
        return;
    };
    let url = fresh_database(&cluster, "reader").await;
    let store = PostgresStore::open(&url).await.expect("open");
    store
        .append(0, vec![numbered_payload(0), numbered_payload(1)])
        .await
        .expect("append");
    let before = store.read(0, 10).expect("read");
    assert_eq!(
        terminate(&cluster, "reader", READER_APPLICATION_NAME).await,
        1
    );
    // The first read may race the connection's end; the store must recover.
    let mut after = store.read(0, 10);
    for _ in 0..50 {
        if after.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after = store.read(0, 10);
    }
    assert_eq!(after.expect("a read after reconnecting"), before);
    assert_eq!(store.failure(), None, "a lost reader fails nothing");
    store
        .append(2, vec![numbered_payload(2)])
        .await
        .expect("the writer is untouched");
}
