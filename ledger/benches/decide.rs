//! Deciding alone: the work every donation does under the write-side lock
//! (`decide_as` and `LedgerState::apply`), on one thread, with no log. The
//! write side decides one batch at a time, so this bounds what any number of
//! writers can reach through `Ledger::submit`. Prints figures; asserts
//! nothing about time.
//!
//! cargo bench -p mingzhang-ledger --bench decide

use std::time::Instant;

use mingzhang_ledger::decide::{Principal, decide_as};
use mingzhang_ledger::scenario::{self, CAMPAIGN_ID, CHARITY_FUND_ID};
use mingzhang_ledger::state::LedgerState;
use mingzhang_proto::v1::{self, event_envelope::Event};

// The allocator of the `mingzhang` binary and the submit bench.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DONATIONS: u64 = 1_000_000;
const ROUNDS: u64 = 3;

fn donation(round: u64, n: u64) -> Event {
    Event::DonationReceived(v1::DonationReceived {
        donation_id: format!("decide-{round}-{n}"),
        donor_id: "resident-zhang".into(),
        fund_id: CHARITY_FUND_ID.into(),
        campaign_id: CAMPAIGN_ID.into(),
        project_id: String::new(),
        amount_fen: 5_000 + (n % 100) as i64,
        channel: v1::Channel::Online as i32,
        bank_reference: String::new(),
        anonymous: false,
        received_on: "2025-09-05".into(),
    })
}

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
        let commands: Vec<Event> = (0..DONATIONS).map(|n| donation(round, n)).collect();
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
