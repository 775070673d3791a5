//! Deciding alone: the work every donation does under the write-side lock
//! (`decide_as` and `LedgerState::apply`), on one thread, with no log. The
//! write side decides one batch at a time, so this bounds what any number of
//! writers can reach through `Ledger::submit`. Prints figures; asserts
//! nothing about time.
//!
//! cargo bench -p mingzhang-ledger --bench decide

use std::time::Instant;

use mingzhang_ledger::decide::{Principal, decide_as};
use mingzhang_ledger::scenario::{self, giving_day_donation};
use mingzhang_ledger::state::LedgerState;
use mingzhang_proto::v1::event_envelope::Event;

// The allocator of the `mingzhang` binary and the submit bench.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DONATIONS: u64 = 1_000_000;
const ROUNDS: u64 = 3;

fn kaixuan_state() -> LedgerState {
    let mut state = LedgerState::default();
    for (command, meta) in scenario::kaixuan() {
        let event = decide_as(&state, &meta.principal, command).expect("scenario");
        state.apply(&event);
    }
    state
}

fn main() {
    for round in 0..ROUNDS {
        let mut state = kaixuan_state();
        // Built before the clock: the callers' work, not the write side's.
        let commands: Vec<Event> = (0..DONATIONS)
            .map(|n| giving_day_donation(format!("decide-{round}-{n}"), n))
            .collect();
        let started = Instant::now();
        for command in commands {
            let event = decide_as(&state, &Principal::Operator, command).expect("accepted");
            state.apply(&event);
        }
        let elapsed = started.elapsed();
        println!(
            "decide_as + apply, {DONATIONS} donations into a growing state: {:>9.0} donations/s, {:.0} ns per donation",
            DONATIONS as f64 / elapsed.as_secs_f64(),
            elapsed.as_nanos() as f64 / DONATIONS as f64,
        );
    }
}
