//! The cost of salted commitments on the write path: durable registrations
//! of individual donors per second through `Ledger::submit`, once with the
//! names in the clear and once through the side store as `AppState::submit`
//! sends them (name and salt appended and fdatasync'd in
//! `<data-dir>/personal/`, then the command with its commitment), and
//! durable donations by those donors, which carry no personal data, after
//! each. Prints both and the ratio; asserts nothing about time.
//!
//! cargo bench -p mingzhang-api --bench commitments

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mingzhang_api::personal_data::{FilePersonalData, PersonalDataStore};
use mingzhang_ledger::scenario;
use mingzhang_ledger::service::{CommandMeta, Ledger};
use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions};
use mingzhang_proto::v1::{self, event_envelope::Event};

const RUN_FOR: Duration = Duration::from_secs(3);
const WRITERS: u64 = 64;

struct Figures {
    registrations_per_s: f64,
    donations_per_s: f64,
}

fn run(root: &std::path::Path, with_commitments: bool) -> Figures {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = root.join(if with_commitments { "with" } else { "without" });
    let (log, _) = FileLog::open(dir.join("log"), FileLogOptions::default()).expect("open");
    let store: Arc<dyn EventStore> = Arc::new(log);
    let personal_data =
        with_commitments.then(|| Arc::new(FilePersonalData::open(&dir).expect("side store")));
    runtime.block_on(async {
        let ledger = Ledger::open(store).await.expect("ledger");
        for (command, meta) in scenario::kaixuan() {
            ledger.submit(command, meta).await.expect("scenario");
        }
        let registered = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let (ledger, personal_data, registered) =
                (ledger.clone(), personal_data.clone(), registered.clone());
            writers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < RUN_FOR {
                    let mut command = Event::DonorRegistered(v1::DonorRegistered {
                        donor_id: format!("resident-{writer}-{n}"),
                        name: format!("居民{writer}号{n}"),
                        kind: v1::DonorKind::Individual as i32,
                        ..Default::default()
                    });
                    if let Some(personal_data) = personal_data.clone() {
                        command = tokio::task::spawn_blocking(move || {
                            personal_data.commit_command(&mut command).map(|()| command)
                        })
                        .await
                        .unwrap()
                        .expect("side store");
                    }
                    ledger
                        .submit(command, CommandMeta::operator(1_700_000_000_000, "bench"))
                        .await
                        .expect("registered");
                    n += 1;
                }
                registered.fetch_add(n, Ordering::Relaxed);
                n
            }));
        }
        let mut per_writer = Vec::new();
        for writer in writers {
            per_writer.push(writer.await.unwrap());
        }
        let registrations_per_s =
            registered.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut writers = Vec::new();
        for (writer, registered) in per_writer.into_iter().enumerate() {
            let ledger = ledger.clone();
            writers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < RUN_FOR {
                    let command = Event::DonationReceived(v1::DonationReceived {
                        donation_id: format!("gift-{writer}-{n}"),
                        donor_id: format!("resident-{writer}-{}", n % registered.max(1)),
                        fund_id: "kaixuan-charity".into(),
                        amount_fen: 100,
                        channel: v1::Channel::Cash as i32,
                        received_on: "2016-03-01".into(),
                        ..Default::default()
                    });
                    ledger
                        .submit(command, CommandMeta::operator(1_700_000_000_000, "bench"))
                        .await
                        .expect("donated");
                    n += 1;
                }
                n
            }));
        }
        let mut donations = 0;
        for writer in writers {
            donations += writer.await.unwrap();
        }
        Figures {
            registrations_per_s,
            donations_per_s: donations as f64 / started.elapsed().as_secs_f64(),
        }
    })
}

fn main() {
    let root = tempfile::tempdir_in(std::env::var_os("MINGZHANG_BENCH_DIR").unwrap_or(".".into()))
        .expect("temp dir");
    let without = run(root.path(), false);
    let with = run(root.path(), true);
    println!(
        "{WRITERS} writers, {} s each: individual donor registrations/s without commitments {:.0}, with {:.0} (ratio {:.2}); donations/s after them {:.0} and {:.0} (ratio {:.2})",
        RUN_FOR.as_secs(),
        without.registrations_per_s,
        with.registrations_per_s,
        with.registrations_per_s / without.registrations_per_s,
        without.donations_per_s,
        with.donations_per_s,
        with.donations_per_s / without.donations_per_s,
    );
}
