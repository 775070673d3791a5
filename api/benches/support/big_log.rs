//! The Kaixuan demo grown to a large log with synthetic donations (a giving
//! day at city scale), as projections: what the page and console benches
//! render from.

use std::time::{Duration, Instant};

use mingzhang_ledger::scenario;
use mingzhang_ledger::state::LedgerState;
use mingzhang_projections::Projections;
use mingzhang_proto::v1::{self, EventEnvelope, event_envelope::Event};

pub fn build_projections(records: u64) -> Projections {
    let mut projections = kaixuan_projections();
    grow(&mut projections, records);
    projections
}

/// The Kaixuan demo's records, decided and applied in order.
pub fn kaixuan_projections() -> Projections {
    let mut state = LedgerState::default();
    let mut projections = Projections::default();
    for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate() {
        let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
            .expect("the Kaixuan scenario is valid");
        state.apply(&event);
        projections
            .apply(
                seq as u64,
                &EventEnvelope {
                    recorded_at_unix_ms: meta.at_unix_ms,
                    event: Some(event),
                    ..Default::default()
                },
            )
            .expect("the Kaixuan scenario applies");
    }
    projections
}

/// Appends synthetic donations until `records` records are applied.
pub fn grow(projections: &mut Projections, records: u64) {
    let mut seq = projections.applied_len();
    let givers = [
        "",
        "resident-wang",
        "resident-li",
        "resident-zhang",
        "unit-01",
        "unit-07",
    ];
    let first_ms = scenario::unix_ms_at_0900_cst("2017-01-01");
    while seq < records {
        let index = seq as usize;
        let day = index % 1_000;
        let received_on = {
            let days = scenario::days_from_civil(2017, 1, 1) + day as i64;
            civil(days)
        };
        let donor_id = givers[index % givers.len()];
        let event = Event::DonationReceived(v1::DonationReceived {
            donation_id: format!("syn-{index}"),
            donor_id: donor_id.into(),
            fund_id: scenario::CHARITY_FUND_ID.into(),
            campaign_id: scenario::CAMPAIGN_ID.into(),
            project_id: String::new(),
            amount_fen: 100 + (index as i64 * 7_919) % 50_000,
            channel: v1::Channel::Online as i32,
            bank_reference: String::new(),
            anonymous: donor_id.is_empty() || index.is_multiple_of(5),
            received_on,
        });
        projections
            .apply(
                seq,
                &EventEnvelope {
                    recorded_at_unix_ms: first_ms + seq as i64,
                    event: Some(event),
                    ..Default::default()
                },
            )
            .expect("the grown gifts apply");
        seq += 1;
    }
}

/// "YYYY-MM-DD" of days since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

pub fn report(name: &str, mut samples: Vec<Duration>, bytes: usize) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<34} n={:<4} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms  html={} KiB",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        bytes / 1024
    );
}

/// Renders `renders` times and reports p50, p99 and max.
pub fn measure(name: &str, renders: usize, mut render_once: impl FnMut() -> String) {
    let mut samples = Vec::with_capacity(renders);
    let mut bytes = 0;
    for _ in 0..renders {
        let started = Instant::now();
        let html = render_once();
        samples.push(started.elapsed());
        bytes = html.len();
        std::hint::black_box(html);
    }
    report(name, samples, bytes);
}
