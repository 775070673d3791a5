//! What the crate's unit tests share.

use mingzhang_ledger::scenario;
use mingzhang_ledger::state::LedgerState;
use mingzhang_projections::Projections;
use mingzhang_proto::v1::EventEnvelope;

/// The projections of the whole Kaixuan demo.
pub fn kaixuan_projections() -> Projections {
    kaixuan_projections_until(usize::MAX)
}

/// The projections of the first `records` records of the Kaixuan demo,
/// decided as the ledger decides them.
pub fn kaixuan_projections_until(records: usize) -> Projections {
    let mut state = LedgerState::default();
    let mut projections = Projections::default();
    for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate().take(records) {
        let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
            .expect("the Kaixuan scenario is valid");
        state.apply(&event);
        let envelope = EventEnvelope {
            recorded_at_unix_ms: meta.at_unix_ms,
            event: Some(event),
            ..Default::default()
        };
        projections
            .apply(seq as u64, &envelope)
            .expect("the Kaixuan scenario applies");
    }
    projections
}
