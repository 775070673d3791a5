//! A follower (a store that only reads, in another server) learns of new
//! records by LISTEN. When that connection is lost, by a terminated backend
//! or a primary that died and a standby promoted in its place, the follower
//! connects again, listens again and catches up by range with what was
//! committed meanwhile. Each test starts throwaway clusters through
//! ops/postgres.sh.

use std::time::Duration;

use mingzhang_ledger::store::EventStore;
use mingzhang_ledger::store::contract::numbered_payload;
use mingzhang_store_postgres::cluster::{ThrowawayCluster, ThrowawayPair};
use mingzhang_store_postgres::{LISTENER_APPLICATION_NAME, PostgresStore, create_schema};
use tokio_postgres::NoTls;

/// How long a follower may take to see a record after its LISTEN was lost
/// (the reconnection's backoff is at most 2 s).
const FOLLOWS_AGAIN_WITHIN: Duration = Duration::from_secs(15);

async fn append_numbered(store: &PostgresStore, from: u64, count: u64) {
    let payloads = (from..from + count).map(numbered_payload).collect();
    store.append(from, payloads).await.expect("append");
}

async fn wait_for_len(follower: &PostgresStore, len: u64, what: &str) {
    let mut durable = follower.watch_durable_len();
    tokio::time::timeout(FOLLOWS_AGAIN_WITHIN, durable.wait_for(|&seen| seen >= len))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: the follower saw {} of {len} records",
                follower.head().len
            )
        })
        .expect("watching");
    let records = follower.read(0, usize::MAX).expect("read by range");
    assert_eq!(records.len() as u64, len, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_listen_connection_is_terminated_listens_again_and_catches_up() {
    let Some(cluster) = ThrowawayCluster::start_or_skip(
        "a_follower_whose_listen_connection_is_terminated_listens_again_and_catches_up",
    ) else {
        return;
    };
    create_schema(cluster.url()).await.expect("schema");
    let writer = PostgresStore::open(cluster.url()).await.expect("writer");
    let follower = PostgresStore::open(cluster.url()).await.expect("follower");
    append_numbered(&writer, 0, 3).await;
    wait_for_len(&follower, 3, "before").await;

    let (admin, connection) = tokio_postgres::connect(cluster.url(), NoTls)
        .await
        .expect("admin");
    tokio::spawn(connection);
    let terminated = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&LISTENER_APPLICATION_NAME],
        )
        .await
        .expect("terminate the listeners");
    assert_eq!(terminated, 2, "the writer's and the follower's");
    // Committed while nobody listens: caught up by range, not by a NOTIFY.
    append_numbered(&writer, 3, 2).await;
    wait_for_len(&follower, 5, "committed while not listening").await;
    append_numbered(&writer, 5, 1).await;
    wait_for_len(&follower, 6, "woken again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_follows_the_promoted_standby_after_the_primary_dies() {
    let Some(pair) = ThrowawayPair::start_or_skip(
        "a_follower_follows_the_promoted_standby_after_the_primary_dies",
    ) else {
        return;
    };
    let url = pair.read_write_url();
    create_schema(&url).await.expect("schema");
    let writer = PostgresStore::open(&url).await.expect("writer");
    let follower = PostgresStore::open(&url).await.expect("follower");
    append_numbered(&writer, 0, 4).await;
    wait_for_len(&follower, 4, "before the failover").await;

    pair.kill_primary();
    pair.promote_standby();
    // The writer's connection died with the primary: a server opens the
    // log afresh, which reaches the promoted standby.
    drop(writer);
    let writer = PostgresStore::open(&url).await.expect("the writer, afresh");
    assert_eq!(
        writer.head().len,
        4,
        "the synchronous standby has every record"
    );
    append_numbered(&writer, 4, 3).await;
    wait_for_len(&follower, 7, "after the failover").await;
}
