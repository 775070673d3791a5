//! How far a follower trails the writer on PostgreSQL: one store appends
//! donations at a steady 10,000 a second (10 every millisecond), a second
//! store on the same database (as a second `serve` would open it) learns of
//! them by LISTEN/NOTIFY. For each record, the lag is from the moment the
//! writer's append was acknowledged (COMMIT returned) to the moment the
//! follower's durable length covered it; a follower that hears first counts
//! 0. Prints p50/p99/max; asserts nothing about time.
//!
//! cargo bench -p mingzhang-store-postgres --bench follower

use std::sync::Arc;
use std::time::{Duration, Instant};

use mingzhang_ledger::scenario::giving_day_donation;
use mingzhang_ledger::store::EventStore;
use mingzhang_store_postgres::cluster::ThrowawayCluster;
use mingzhang_store_postgres::{PostgresStore, create_schema};
use parking_lot::Mutex;
use prost::Message;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUN_FOR: Duration = Duration::from_secs(10);
const RECORDS_PER_TICK: usize = 10;
const TICK: Duration = Duration::from_millis(1);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(cluster) = ThrowawayCluster::start_or_skip("bench follower") else {
        return;
    };
    runtime.block_on(async {
        create_schema(cluster.url()).await.expect("schema");
        let writer = Arc::new(PostgresStore::open(cluster.url()).await.expect("writer"));
        let follower = PostgresStore::open(cluster.url()).await.expect("follower");
        // When each record was acknowledged to the writer, by seq.
        let acked_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::default();
        let mut seen_at: Vec<Instant> = Vec::new();
        let mut follower_len = follower.watch_durable_len();

        let writing = {
            let (writer, acked_at) = (writer.clone(), acked_at.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(TICK);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let started = Instant::now();
                let mut appends = Vec::new();
                let mut next_seq = writer.head().len;
                while started.elapsed() < RUN_FOR {
                    ticks.tick().await;
                    let payloads: Vec<Vec<u8>> = (0..RECORDS_PER_TICK as u64)
                        .map(|i| payload(next_seq + i))
                        .collect();
                    let first = next_seq;
                    next_seq += RECORDS_PER_TICK as u64;
                    // Enqueued in order now; acknowledged once durable.
                    let appended = writer.append(first, payloads);
                    let acked_at = acked_at.clone();
                    appends.push(tokio::spawn(async move {
                        let metas = appended.await.expect("append");
                        let now = Instant::now();
                        let mut acked_at = acked_at.lock();
                        for meta in metas {
                            let seq = meta.seq as usize;
                            if acked_at.len() <= seq {
                                acked_at.resize(seq + 1, None);
                            }
                            acked_at[seq] = Some(now);
                        }
                    }));
                }
                for append in appends {
                    append.await.expect("append task");
                }
                (next_seq, started.elapsed())
            })
        };
        let (end, writing_took) = loop {
            tokio::select! {
                changed = follower_len.changed() => {
                    changed.expect("follower");
                    let len = *follower_len.borrow_and_update() as usize;
                    let now = Instant::now();
                    seen_at.resize(len.max(seen_at.len()), now);
                }
                _ = tokio::time::sleep(Duration::from_millis(100)), if writing.is_finished() => {
                    break writing.await.expect("writer");
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), follower_len.wait_for(|len| *len >= end))
            .await
            .expect("the follower catches up")
            .expect("follower");
        let last = Instant::now();
        seen_at.resize(end as usize, last);
        let acked_at = acked_at.lock();
        let mut lags: Vec<Duration> = (0..end as usize)
            .map(|seq| {
                let acked = acked_at[seq].expect("every record acknowledged");
                seen_at[seq].saturating_duration_since(acked)
            })
            .collect();
        lags.sort_unstable();
        let at = |q: f64| lags[((lags.len() - 1) as f64 * q) as usize];
        println!(
            "follower lag at {:.0} writes/s ({end} records in {:.1} s, {RECORDS_PER_TICK} per append every {TICK:?}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            end as f64 / writing_took.as_secs_f64(),
            writing_took.as_secs_f64(),
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            lags.last().expect("records").as_secs_f64() * 1e3,
        );
    });
}

/// A donation's envelope bytes, the size of the ledger's records.
fn payload(n: u64) -> Vec<u8> {
    mingzhang_proto::v1::EventEnvelope {
        event: Some(giving_day_donation(format!("follow-{n}"), n)),
        ..Default::default()
    }
    .encode_to_vec()
}
