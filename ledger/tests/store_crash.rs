//! SIGKILL at random moments: a child process (this test binary re-executed)
//! appends under concurrent load and prints each seq only after its append
//! resolved; the parent kills it, reopens the log and checks that every
//! acknowledged record is there, the chain verifies and appending continues.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions, verify_log};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHILD_DIR_ENV: &str = "MINGZHANG_CRASH_CHILD_LOG_DIR";
const TEST_NAME: &str = "acknowledged_appends_survive_sigkill";
const ROUNDS: usize = 30;
const CHILD_WRITERS: usize = 8;

fn options() -> FileLogOptions {
    FileLogOptions {
        segment_bytes_max: 64 << 10,
        reserve_bytes: 16 << 10,
        ..FileLogOptions::default()
    }
}

/// The child: appends forever from several tasks, printing `ack <seq> <hash>`
/// once an append is durable. Never returns; the parent kills it.
fn run_child(dir: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let (log, _) = FileLog::open(dir, options()).expect("child opens the log");
    let log = Arc::new(log);
    let next_seq = Arc::new(parking_lot::Mutex::new(log.head().len));
    let stdout = Arc::new(parking_lot::Mutex::new(std::io::stdout()));
    runtime.block_on(async move {
        let mut tasks = Vec::new();
        for writer in 0..CHILD_WRITERS {
            let (log, next_seq, stdout) = (log.clone(), next_seq.clone(), stdout.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let count = 1 + (n as usize + writer) % 3;
                    let payloads = (0..count)
                        .map(|i| {
                            format!("writer {writer} append {n} record {i}")
                                .repeat(1 + i)
                                .into_bytes()
                        })
                        .collect();
                    let pending = {
                        let mut next = next_seq.lock();
                        let pending = log.append(*next, payloads);
                        *next += count as u64;
                        pending
                    };
                    let metas = pending.await.expect("child append");
                    let mut out = stdout.lock();
                    for meta in metas {
                        writeln!(out, "ack {} {}", meta.seq, hex::encode(meta.hash))
                            .expect("stdout");
                    }
                    out.flush().expect("flush");
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
    });
    unreachable!("the child appends until it is killed")
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(Path::new(&dir));
    }
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("log");
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for round in 0..ROUNDS {
        let context = format!("seed {seed} round {round}");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ack ") {
                    let (seq, hash) = rest.split_once(' ').expect("ack line");
                    acks.push((seq.parse::<u64>().expect("seq"), hash.to_string()));
                }
            }
            acks
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..300)));
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");
        let acks = reader.join().expect("reader");
        for (seq, hash) in acks {
            assert!(
                acked.insert(seq, hash).is_none(),
                "{context}: seq {seq} acknowledged twice"
            );
        }

        let (log, _report) = FileLog::open(&dir, options())
            .unwrap_or_else(|err| panic!("{context}: reopen after SIGKILL failed: {err}"));
        let records = log.read(0, usize::MAX).expect("read");
        for (seq, hash) in &acked {
            let record = records
                .get(*seq as usize)
                .unwrap_or_else(|| panic!("{context}: acknowledged seq {seq} lost"));
            assert_eq!(&hex::encode(record.hash()), hash, "{context}: seq {seq}");
        }
        let len = log.head().len;
        runtime
            .block_on(log.append(
                len,
                vec![format!("parent after round {round}").into_bytes()],
            ))
            .unwrap_or_else(|err| panic!("{context}: append after reopen: {err}"));
        log.close().expect("close");
        let verified = verify_log(&dir, |_| {}).unwrap_or_else(|err| panic!("{context}: {err}"));
        assert_eq!(
            (verified.records, verified.torn_tail),
            (len + 1, None),
            "{context}"
        );
    }
    assert!(
        acked.len() > ROUNDS,
        "the children acknowledged only {} records",
        acked.len()
    );
}
