//! Durable donations per second, in one run on one machine: through
//! `Ledger::submit_many` (256 writers x 8 donations per call) on the file
//! log and on PostgreSQL, and the hash-chained table a user would write
//! themselves on the same PostgreSQL (one transaction per donation: take an
//! advisory lock, read the last hash, insert the next row, commit).
//! Prints figures; asserts nothing about time.
//!
//! cargo bench -p mingzhang-store-postgres --bench submit

use std::sync::Arc;
use std::time::{Duration, Instant};

use mingzhang_ledger::scenario::{self, giving_day_donation};
use mingzhang_ledger::service::{CommandMeta, Ledger};
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions};
use mingzhang_store_postgres::cluster::ThrowawayCluster;
use mingzhang_store_postgres::{PostgresStore, create_schema};
use prost::Message;
use sha2::{Digest, Sha256};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUN_FOR: Duration = Duration::from_secs(5);
const WRITERS: usize = 256;
const PER_CALL: usize = 8;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(cluster) = ThrowawayCluster::start_or_skip("bench submit") else {
        return;
    };
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let (log, _) = FileLog::open(root.path().join("log"), FileLogOptions::default()).expect("open");
    measure_ledger(&runtime, "file log", Arc::new(log));
    let url = runtime.block_on(fresh_database(&cluster, "bench_ledger"));
    let store = runtime.block_on(PostgresStore::open(&url)).expect("open");
    measure_ledger(&runtime, "PostgreSQL", Arc::new(store));
    let url = runtime.block_on(fresh_database(&cluster, "bench_plain"));
    runtime.block_on(measure_plain_chained_table(&url));
}

async fn fresh_database(cluster: &ThrowawayCluster, name: &str) -> String {
    let (client, connection) = tokio_postgres::connect(cluster.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let url = cluster.database_url(name);
    create_schema(&url).await.expect("schema");
    url
}

fn measure_ledger(runtime: &tokio::runtime::Runtime, name: &str, store: Arc<dyn EventStore>) {
    let ledger = runtime.block_on(async {
        let ledger = Ledger::open(store.clone()).await.expect("ledger");
        for (command, meta) in scenario::kaixuan() {
            ledger.submit(command, meta).await.expect("scenario");
        }
        ledger
    });
    let scenario_len = store.head().len;
    let syncs_before = store.sync_stats().unwrap_or_default();
    let started = Instant::now();
    let calls: u64 = runtime.block_on(async {
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                let mut calls = 0u64;
                while started.elapsed() < RUN_FOR {
                    let commands: Vec<_> = (0..PER_CALL as u64)
                        .map(|i| {
                            let n = calls * PER_CALL as u64 + i;
                            let meta = CommandMeta::operator(1_757_034_000_000, "bench")
                                .with_idempotency_key(format!("bench-{writer}-{n}"), [7; 32]);
                            (giving_day_donation(format!("bench-{writer}-{n}"), n), meta)
                        })
                        .collect();
                    for result in ledger.submit_many(commands).await {
                        result.expect("donation accepted");
                    }
                    calls += 1;
                }
                calls
            }));
        }
        let mut calls = 0;
        for task in tasks {
            calls += task.await.expect("writer");
        }
        calls
    });
    let elapsed = started.elapsed();
    let submitted = store.head().len - scenario_len;
    assert_eq!(
        submitted,
        calls * PER_CALL as u64,
        "every acknowledged donation is stored"
    );
    let syncs = store.sync_stats().unwrap_or_default();
    let per_commit = (syncs.records - syncs_before.records) as f64
        / (syncs.syncs - syncs_before.syncs).max(1) as f64;
    println!(
        "{name:<28} Ledger::submit_many, {WRITERS} writers x {PER_CALL}: {:>9.0} durable donations/s ({submitted} in {:.2} s), {per_commit:.0} records per commit",
        submitted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
}

/// The table a user would write: each donation one transaction that
/// serialises on an advisory lock, reads the last hash and inserts the
/// next row chained to it.
async fn measure_plain_chained_table(url: &str) {
    let setup = connect(url).await;
    setup
        .batch_execute(
            "CREATE TABLE plain_chain (seq bigint PRIMARY KEY, prev_hash bytea NOT NULL, \
             hash bytea NOT NULL, payload bytea NOT NULL); \
             INSERT INTO plain_chain VALUES (-1, ''::bytea, '\\x00'::bytea, ''::bytea)",
        )
        .await
        .expect("create the plain table");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let client = connect(url).await;
        tasks.push(tokio::spawn(async move {
            let mut client = client;
            let mut done = 0u64;
            while started.elapsed() < RUN_FOR {
                let payload = giving_day_payload(writer, done);
                let transaction = client.transaction().await.expect("begin");
                transaction
                    .execute("SELECT pg_advisory_xact_lock(17)", &[])
                    .await
                    .expect("lock");
                let last = transaction
                    .query_one(
                        "SELECT seq, hash FROM plain_chain ORDER BY seq DESC LIMIT 1",
                        &[],
                    )
                    .await
                    .expect("last");
                let (seq, prev_hash): (i64, Vec<u8>) = (last.get(0), last.get(1));
                let hash: Vec<u8> = Sha256::new()
                    .chain_update(&prev_hash)
                    .chain_update(&payload)
                    .finalize()
                    .to_vec();
                transaction
                    .execute(
                        "INSERT INTO plain_chain VALUES ($1, $2, $3, $4)",
                        &[&(seq + 1), &prev_hash, &hash, &payload],
                    )
                    .await
                    .expect("insert");
                transaction.commit().await.expect("commit");
                done += 1;
            }
            done
        }));
    }
    let mut submitted = 0;
    for task in tasks {
        submitted += task.await.expect("writer");
    }
    let elapsed = started.elapsed();
    let rows: i64 = setup
        .query_one("SELECT count(*) - 1 FROM plain_chain", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(
        rows as u64, submitted,
        "every acknowledged donation is stored"
    );
    println!(
        "{:<28} {WRITERS} writers, one locked insert each: {:>9.0} durable donations/s ({submitted} in {:.2} s)",
        "PostgreSQL plain chain",
        submitted as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// A donation's envelope bytes, the same size as the ledger's records carry.
fn giving_day_payload(writer: usize, n: u64) -> Vec<u8> {
    let event = giving_day_donation(format!("bench-{writer}-{n}"), n);
    mingzhang_proto::v1::EventEnvelope {
        event: Some(event),
        ..Default::default()
    }
    .encode_to_vec()
}
