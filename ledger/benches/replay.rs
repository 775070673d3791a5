//! The re-deciding replay alone: decoding each record's envelope and
//! `Replayer::check_payloads` (decide, compare, apply), on one thread, over the
//! Kaixuan scenario and a giving day of donations, as `mingzhang verify`
//! does after the chain check. Prints figures; asserts nothing about time.
//!
//! cargo bench -p mingzhang-ledger --bench replay

use std::time::Instant;

use mingzhang_ledger::decide::decide_as;
use mingzhang_ledger::replay::Replayer;
use mingzhang_ledger::scenario::{self, giving_day_donation};
use mingzhang_ledger::state::LedgerState;
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;

// The allocator of the `mingzhang` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DONATIONS: u64 = 2_000_000;

/// The payloads of the log the write side would write.
fn payloads() -> Vec<Vec<u8>> {
    let mut state = LedgerState::default();
    let mut payloads = Vec::new();
    let scenario = scenario::kaixuan()
        .into_iter()
        .map(|(command, meta)| (command, meta.principal));
    let gifts = (0..DONATIONS).map(|n| {
        (
            giving_day_donation(format!("replay-{n}"), n),
            mingzhang_ledger::decide::Principal::Operator,
        )
    });
    for (command, principal) in scenario.chain(gifts) {
        let event = decide_as(&state, &principal, command).expect("accepted");
        state.apply(&event);
        let envelope = EventEnvelope {
            recorded_at_unix_ms: 1_757_000_000_000,
            actor: "operator:giving-day".into(),
            event: Some(event),
            ..EventEnvelope::default()
        };
        payloads.push(envelope.encode_to_vec());
    }
    payloads
}

fn main() {
    let payloads = payloads();
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let mut replayer = Replayer::default();
    let records = payloads
        .iter()
        .enumerate()
        .map(|(seq, payload)| (seq as u64, payload.as_slice()));
    if let Err(error) = replayer.check_payloads(records) {
        panic!("{error}");
    }
    let cpu_elapsed = thread_cpu_time() - cpu_started;
    let elapsed = started.elapsed();
    let records = payloads.len() as f64;
    println!(
        "Replayer::check_payloads, {records} records: wall {:>9.0} records/s, thread cpu {:>9.0} records/s ({:.0} ns per record)",
        records / elapsed.as_secs_f64(),
        records / cpu_elapsed.as_secs_f64(),
        cpu_elapsed.as_nanos() as f64 / records,
    );
}

/// CPU time of this thread: on a machine shared with other work, wall
/// time also counts the time it waited for a core.
fn thread_cpu_time() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(result, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
