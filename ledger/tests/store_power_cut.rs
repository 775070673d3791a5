//! Power cuts on a simulated disk: whatever the disk keeps of unsynced writes
//! (nothing, a prefix, or a random subset of pages), the log reopens, every
//! acknowledged record is there with its hash, and the chain verifies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mingzhang_ledger::record::Hash;
use mingzhang_ledger::store::file::verify_log_on;
use mingzhang_ledger::store::storage::SimulatedDisk;
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, StoreError};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEEDS: u64 = 150;
const LIVES_PER_SEED: usize = 3;
const WRITERS: u64 = 6;

fn payload(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.gen_range(1..600);
    (0..len).map(|_| rng.r#gen::<u8>() | 1).collect()
}

/// Opens the log after a power cut and checks it holds every acknowledged record.
fn reopen_and_check(
    disk: &SimulatedDisk,
    dir: &Path,
    options: &FileLogOptions,
    acked: &BTreeMap<u64, Hash>,
    context: &str,
) -> (FileLog<SimulatedDisk>, bool) {
    let (log, report) = FileLog::open_on(disk.clone(), dir, options.clone())
        .unwrap_or_else(|err| panic!("{context}: open after a power cut failed: {err}"));
    let records = log.read(0, usize::MAX).expect("read");
    for (seq, hash) in acked {
        let record = records.get(*seq as usize).unwrap_or_else(|| {
            panic!(
                "{context}: acknowledged seq {seq} lost (log has {})",
                records.len()
            )
        });
        assert_eq!(&record.hash(), hash, "{context}: seq {seq} changed");
    }
    let verified = verify_log_on(disk, dir, |_| {})
        .unwrap_or_else(|err| panic!("{context}: verify after open failed: {err}"));
    assert_eq!(verified.torn_tail, None, "{context}: open left a torn tail");
    assert_eq!(verified.records, log.head().len, "{context}");
    assert_eq!(verified.last_hash, log.head().last_hash, "{context}");
    (log, report.torn_tail.is_some())
}

/// Runs concurrent writers until the power is cut; returns what was acknowledged.
fn run_until_power_cut(
    log: FileLog<SimulatedDisk>,
    disk: &SimulatedDisk,
    rng: &mut StdRng,
    context: &str,
) -> Vec<(u64, Hash)> {
    run_until_failure(log, disk, rng, context, |disk, rng| {
        if rng.gen_bool(0.5) {
            std::thread::sleep(Duration::from_micros(rng.gen_range(0..2000)));
            disk.power_cut(rng);
        } else {
            disk.power_cut_at_next_sync(rng.r#gen());
        }
    })
}

/// Runs concurrent writers, after a random number of acknowledgements lets
/// `strike` break the disk, and waits until every writer has seen the log
/// fail; returns what was acknowledged.
fn run_until_failure(
    log: FileLog<SimulatedDisk>,
    disk: &SimulatedDisk,
    rng: &mut StdRng,
    context: &str,
    strike: impl FnOnce(&SimulatedDisk, &mut StdRng),
) -> Vec<(u64, Hash)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let log = Arc::new(log);
    let next_seq = Arc::new(Mutex::new(log.head().len));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (log, next_seq, acked) = (log.clone(), next_seq.clone(), acked.clone());
        let mut rng = StdRng::seed_from_u64(rng.r#gen::<u64>() ^ writer);
        tasks.push(runtime.spawn(async move {
            loop {
                let count = rng.gen_range(1..4);
                let payloads: Vec<Vec<u8>> = (0..count).map(|_| payload(&mut rng)).collect();
                let pending = {
                    let mut next = next_seq.lock();
                    let pending = log.append(*next, payloads);
                    *next += count;
                    pending
                };
                match pending.await {
                    Ok(metas) => acked
                        .lock()
                        .extend(metas.iter().map(|meta| (meta.seq, meta.hash))),
                    Err(StoreError::Failed(_)) => return,
                    Err(other) => panic!("unexpected append error: {other}"),
                }
            }
        }));
    }
    let acks_before_cut = rng.gen_range(0..300);
    let started = Instant::now();
    while acked.lock().len() < acks_before_cut {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{context}: writers stalled at {} acks",
            acked.lock().len()
        );
        std::thread::sleep(Duration::from_micros(100));
    }
    strike(disk, rng);
    for task in tasks {
        runtime.block_on(task).expect("writer task");
    }
    acked.lock().clone()
}

#[test]
fn acknowledged_records_survive_any_power_cut() {
    let mut torn_tails_repaired = 0;
    for seed in 0..SEEDS {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut disk = SimulatedDisk::new();
        let dir = PathBuf::from("/simulated/log");
        let options = FileLogOptions {
            segment_bytes_max: rng.gen_range(2_000..40_000),
            batch_records_max: rng.gen_range(1..64),
            batch_bytes_max: rng.gen_range(600..20_000),
            index_every_records: rng.gen_range(1..16),
            // Small, so records often land in reserved zeros that a cut
            // may leave half overwritten, and the file often grows.
            reserve_bytes: [0, rng.gen_range(512..8192)][rng.gen_range(0..2)],
            // Around the chunks' usual sizes, so the reserver also rests
            // while records come in bulk and the file grows with them (about
            // one claim in six), and starts again.
            bulk_chunk_bytes: rng.gen_range(0..8192),
            ..FileLogOptions::default()
        };
        let mut acked: BTreeMap<u64, Hash> = BTreeMap::new();
        for life in 0..LIVES_PER_SEED {
            let context = format!("seed {seed} life {life} ({options:?})");
            let (log, repaired) = reopen_and_check(&disk, &dir, &options, &acked, &context);
            torn_tails_repaired += usize::from(repaired);
            for (seq, hash) in run_until_power_cut(log, &disk, &mut rng, &context) {
                assert!(
                    acked.insert(seq, hash).is_none(),
                    "{context}: seq {seq} acknowledged twice"
                );
            }
            disk = disk.restarted();
        }
        let (log, repaired) =
            reopen_and_check(&disk, &dir, &options, &acked, &format!("seed {seed} final"));
        torn_tails_repaired += usize::from(repaired);
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let len = log.head().len;
        runtime
            .block_on(log.append(len, vec![b"after the last power cut".to_vec()]))
            .unwrap_or_else(|err| panic!("seed {seed}: append after recovery failed: {err}"));
    }
    // Otherwise the cuts never caught a write in flight and proved nothing.
    assert!(
        torn_tails_repaired > SEEDS as usize / 10,
        "only {torn_tails_repaired} torn tails"
    );
}

#[test]
fn io_error_fails_the_log_until_it_is_reopened() {
    let disk = SimulatedDisk::new();
    let dir = PathBuf::from("/simulated/failing");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (log, _) = FileLog::open_on(disk.clone(), &dir, FileLogOptions::default()).expect("open");
    runtime
        .block_on(log.append(0, vec![b"before".to_vec()]))
        .expect("append");
    assert_eq!(log.failure(), None, "a healthy log reports no failure");
    disk.inject_io_errors(true);
    let failed = runtime.block_on(log.append(1, vec![b"during".to_vec()]));
    assert!(matches!(failed, Err(StoreError::Failed(_))), "{failed:?}");
    assert!(
        log.failure()
            .is_some_and(|reason| reason.contains("failed")),
        "a failed log says so without being written to: {:?}",
        log.failure()
    );
    disk.inject_io_errors(false);
    let after = runtime.block_on(log.append(2, vec![b"after".to_vec()]));
    assert!(
        matches!(after, Err(StoreError::Failed(_))),
        "a failed log stays failed: {after:?}"
    );
    assert_eq!(log.head().len, 1);
    assert!(matches!(log.close(), Err(StoreError::Failed(_))));
    let (log, _) = FileLog::open_on(disk.clone(), &dir, FileLogOptions::default()).expect("reopen");
    assert_eq!(log.head().len, 1);
    assert_eq!(log.failure(), None, "a reopened log starts healthy");
    runtime
        .block_on(log.append(1, vec![b"after reopen".to_vec()]))
        .expect("append after reopen");
}

/// A failed write-back loses the unsynced bytes of the file, yet Linux reports
/// it once per open file: a syncer whose `fdatasync` went through another
/// handle than the one that took the error would succeed over the lost
/// bytes. Each syncer has a handle of its own, so every one of them fails and
/// nothing the failure lost is acknowledged.
#[test]
fn a_failed_write_back_acknowledges_nothing_it_lost() {
    for seed in 0..30 {
        let mut rng = StdRng::seed_from_u64(seed);
        let disk = SimulatedDisk::new();
        let dir = PathBuf::from("/simulated/write-back");
        let options = FileLogOptions {
            // Small takes, so while the failing fsync is being reported the
            // other syncer has records of its own to write and sync.
            batch_bytes_max: 1000,
            reserve_bytes: 0,
            ..FileLogOptions::default()
        };
        let context = format!("seed {seed}");
        let (log, _) = FileLog::open_on(disk.clone(), &dir, options.clone()).expect("open");
        let acked = run_until_failure(log, &disk, &mut rng, &context, |disk, _| {
            disk.fail_next_write_back(Duration::from_millis(20))
        });
        disk.power_cut(&mut rng);
        let disk = disk.restarted();
        let last_acked = acked.iter().map(|(seq, _)| *seq).max();
        match FileLog::open_on(disk.clone(), &dir, options.clone()) {
            Ok((log, _)) => {
                let records = log.read(0, usize::MAX).expect("read");
                for (seq, hash) in &acked {
                    let record = records.get(*seq as usize).unwrap_or_else(|| {
                        panic!(
                            "{context}: acknowledged seq {seq} lost (log has {})",
                            records.len()
                        )
                    });
                    assert_eq!(&record.hash(), hash, "{context}: seq {seq} changed");
                }
            }
            // Bytes written after the lost ones may have reached the disk,
            // leaving a hole the log reports; it must lie past every
            // acknowledged record.
            Err(StoreError::Corrupt { position, reason }) => assert!(
                last_acked.is_none_or(|last| position.seq > last),
                "{context}: damage at seq {} ({reason}) but seq {last_acked:?} was acknowledged",
                position.seq
            ),
            Err(other) => panic!("{context}: open failed: {other}"),
        }
    }
}
