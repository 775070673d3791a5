//! Rebuild throughput: decode + apply of 1,000,000 realistic envelopes.
//!
//! `cargo bench -p mingzhang-projections --bench rebuild`
//!
//! The mix is a giving-day log: mostly donations (some anonymous, some to a
//! campaign or a project), pledge payments, refunds, project claims and
//! funding, grant tranches and expenditures, over a registry of 2,000 donors.

use std::time::{Duration, Instant};

use mingzhang_projections::Projections;
use mingzhang_proto::Message;
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;

const EVENTS: usize = 1_000_000;
const DONORS: usize = 2_000;
const FUNDS: usize = 10;
const PROJECTS: usize = 500;
const PLEDGES: usize = 2_000;
const GRANTS: usize = 400;
const TRANCHES_PER_GRANT: usize = 60;
const RUNS: usize = 5;

/// A deterministic xorshift, so every run rebuilds the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

fn date(rng: &mut Rng) -> String {
    format!("2016-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28))
}

fn setup_events() -> Vec<Event> {
    let mut events = Vec::new();
    for f in 0..FUNDS {
        events.push(Event::FundOpened(v1::FundOpened {
            fund_id: format!("fund-{f}"),
            name: format!("Fund {f}"),
            kind: v1::FundKind::Unrestricted as i32,
            restriction: String::new(),
        }));
    }
    events.push(Event::CampaignOpened(v1::CampaignOpened {
        campaign_id: "kaixuan-5y".to_owned(),
        name: "Kaixuan five-year campaign".to_owned(),
        fund_id: "fund-0".to_owned(),
        total_target_fen: 1_000_000_000,
        first_year: 2014,
        yearly_targets: (2014..2019)
            .map(|year| v1::YearlyTarget {
                year,
                target_fen: 200_000_000,
            })
            .collect(),
    }));
    for d in 0..DONORS {
        events.push(Event::DonorRegistered(v1::DonorRegistered {
            donor_id: format!("donor-{d}"),
            name: format!("Donor {d}"),
            kind: 1 + (d % 2) as i32,
            alliance_member: d.is_multiple_of(50),
            show_name_publicly: !d.is_multiple_of(3),
            name_commitment: Default::default(),
        }));
    }
    for p in 0..PROJECTS {
        events.push(Event::ProjectPublished(v1::ProjectPublished {
            project_id: format!("project-{p}"),
            title: format!("Service project {p}"),
            description: "micro-wish from the half-yearly survey".to_owned(),
            need_kind: 1 + (p % 4) as i32,
            community: format!("community-{}", p % 14),
            survey: "2016-H1".to_owned(),
            budget_fen: 2_200_000,
            fund_id: format!("fund-{}", p % FUNDS),
        }));
    }
    for p in 0..PLEDGES {
        events.push(Event::PledgeMade(v1::PledgeMade {
            pledge_id: format!("pledge-{p}"),
            donor_id: format!("donor-{}", p % DONORS),
            campaign_id: "kaixuan-5y".to_owned(),
            fund_id: "fund-0".to_owned(),
            total_fen: 10_000_000,
            instalments: (0..5)
                .map(|year| v1::Instalment {
                    due_on: format!("{}-12-31", 2014 + year),
                    amount_fen: 2_000_000,
                })
                .collect(),
        }));
    }
    events.push(Event::GrantRoundOpened(v1::GrantRoundOpened {
        round_id: "mv-2016".to_owned(),
        fund_id: "fund-1".to_owned(),
        name: "2016 micro-venture".to_owned(),
        budget_fen: 10_000_000_000,
        applications_open_on: "2016-03-01".to_owned(),
        applications_close_on: "2016-04-30".to_owned(),
    }));
    for g in 0..GRANTS {
        events.push(Event::OrganisationRegistered(v1::OrganisationRegistered {
            organisation_id: format!("org-{g}"),
            name: format!("Social organisation {g}"),
            registration_no: format!("52330000MJ{g:08}"),
        }));
        events.push(Event::GrantApplicationSubmitted(
            v1::GrantApplicationSubmitted {
                application_id: format!("app-{g}"),
                round_id: "mv-2016".to_owned(),
                organisation_id: format!("org-{g}"),
                title: format!("Plan {g}"),
                summary: "elderly care".to_owned(),
                requested_fen: 6_000_000,
                submitted_on: "2016-04-01".to_owned(),
            },
        ));
        events.push(Event::GrantAwarded(v1::GrantAwarded {
            grant_id: format!("grant-{g}"),
            application_id: format!("app-{g}"),
            amount_fen: 6_000_000,
            awarded_on: "2016-04-28".into(),
            tranches: (0..TRANCHES_PER_GRANT)
                .map(|_| v1::Tranche {
                    amount_fen: 100_000,
                    requires_evaluation: false,
                })
                .collect(),
        }));
    }
    events
}

fn steady_event(
    rng: &mut Rng,
    n: usize,
    tranches_paid: &mut [u32],
    claimed: &mut [Option<usize>],
) -> Event {
    let roll = rng.below(100);
    let donor = rng.below(DONORS);
    match roll {
        0..=69 => Event::DonationReceived(v1::DonationReceived {
            donation_id: format!("don-{n}"),
            donor_id: if roll < 10 {
                String::new()
            } else {
                format!("donor-{donor}")
            },
            fund_id: format!("fund-{}", n % FUNDS),
            campaign_id: if roll < 30 {
                "kaixuan-5y".to_owned()
            } else {
                String::new()
            },
            project_id: String::new(),
            amount_fen: 1_000 + rng.below(10_000_000) as i64,
            channel: 1 + rng.below(3) as i32,
            bank_reference: format!("BR{n:010}"),
            anonymous: roll.is_multiple_of(7),
            received_on: date(rng),
        }),
        70..=84 => Event::PledgePaymentReceived(v1::PledgePaymentReceived {
            payment_id: format!("pay-{n}"),
            pledge_id: format!("pledge-{}", rng.below(PLEDGES)),
            amount_fen: 1_000 + rng.below(100_000) as i64,
            channel: v1::Channel::BankTransfer as i32,
            bank_reference: format!("BR{n:010}"),
            received_on: date(rng),
        }),
        85..=87 => {
            let project = rng.below(PROJECTS);
            match claimed[project].take() {
                Some(sponsor) => Event::ProjectClaimReleased(v1::ProjectClaimReleased {
                    project_id: format!("project-{project}"),
                    sponsor_id: format!("donor-{sponsor}"),
                    reason: "re-assigned".to_owned(),
                }),
                None => {
                    claimed[project] = Some(donor);
                    Event::ProjectClaimed(v1::ProjectClaimed {
                        project_id: format!("project-{project}"),
                        sponsor_id: format!("donor-{donor}"),
                    })
                }
            }
        }
        88..=90 => Event::ProjectFunded(v1::ProjectFunded {
            funding_id: format!("fund-{n}"),
            project_id: format!("project-{}", rng.below(PROJECTS)),
            sponsor_id: format!("donor-{donor}"),
            amount_fen: 100_000 + rng.below(2_000_000) as i64,
            channel: v1::Channel::BankTransfer as i32,
            bank_reference: format!("BR{n:010}"),
            received_on: date(rng),
        }),
        91..=92 => {
            let grant = (0..GRANTS)
                .map(|offset| (n + offset) % GRANTS)
                .find(|&g| (tranches_paid[g] as usize) < TRANCHES_PER_GRANT)
                .expect("bench has tranches left");
            let index = tranches_paid[grant];
            tranches_paid[grant] += 1;
            Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
                grant_id: format!("grant-{grant}"),
                tranche_index: index,
                amount_fen: 100_000,
                paid_on: date(rng),
                bank_reference: format!("BR{n:010}"),
            })
        }
        93..=97 => Event::ExpenditureMade(v1::ExpenditureMade {
            expenditure_id: format!("exp-{n}"),
            fund_id: format!("fund-{}", n % FUNDS),
            project_id: String::new(),
            amount_fen: 1_000 + rng.below(50_000) as i64,
            payee: format!("Payee {}", rng.below(300)),
            payee_kind: 1 + rng.below(3) as i32,
            purpose: "purchase of services".to_owned(),
            category: 1 + rng.below(5) as i32,
            receipt_no: format!("RC{n:010}"),
            paid_on: date(rng),
            payee_commitment: Default::default(),
        }),
        _ => Event::GrantEvaluationRecorded(v1::GrantEvaluationRecorded {
            evaluation_id: format!("eval-{n}"),
            grant_id: format!("grant-{}", rng.below(GRANTS)),
            period: "2016-H1".to_owned(),
            evaluator: "third-party assessor".to_owned(),
            score: 80,
            passed: true,
        }),
    }
}

fn encoded_log() -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tranches_paid = vec![0u32; GRANTS];
    let mut claimed = vec![None; PROJECTS];
    let mut events = setup_events();
    let setup_len = events.len();
    for n in setup_len..EVENTS {
        events.push(steady_event(&mut rng, n, &mut tranches_paid, &mut claimed));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(n, event)| {
            v1::EventEnvelope {
                recorded_at_unix_ms: 1_456_804_800_000 + n as i64 * 50,
                actor: "operator:bench".to_owned(),
                idempotency_key: format!("key-{n}"),
                request_sha256: vec![n as u8; 32],
                event: Some(event),
            }
            .encode_to_vec()
        })
        .collect()
}

/// CPU time of this thread: on a shared machine wall time also counts the
/// time other processes held the core.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn main() {
    let log = encoded_log();
    let bytes: usize = log.iter().map(Vec::len).sum();
    println!(
        "rebuild: {} envelopes, {:.1} MB encoded, mean {} bytes",
        log.len(),
        bytes as f64 / 1e6,
        bytes / log.len()
    );
    let decode_started = thread_cpu_time();
    let mut decoded = 0usize;
    for payload in &log {
        let envelope = v1::EventEnvelope::decode(payload.as_slice()).expect("decodes");
        decoded += usize::from(envelope.event.is_some());
    }
    let decode_elapsed = thread_cpu_time() - decode_started;
    assert_eq!(decoded, log.len());
    println!(
        "decode only (fresh EventEnvelope::decode): thread cpu {:.3} s, {:.0} events/s",
        decode_elapsed.as_secs_f64(),
        log.len() as f64 / decode_elapsed.as_secs_f64()
    );
    let envelopes: Vec<v1::EventEnvelope> = log
        .iter()
        .map(|payload| v1::EventEnvelope::decode(payload.as_slice()).expect("decodes"))
        .collect();
    let apply_started = thread_cpu_time();
    let mut projections = Projections::default();
    for (seq, envelope) in envelopes.iter().enumerate() {
        projections
            .apply(seq as u64, envelope)
            .expect("bench events apply");
    }
    let apply_elapsed = thread_cpu_time() - apply_started;
    println!(
        "apply only (pre-decoded): thread cpu {:.3} s, {:.0} events/s",
        apply_elapsed.as_secs_f64(),
        log.len() as f64 / apply_elapsed.as_secs_f64()
    );
    // One fund's account over these read models: the first page works out
    // the date order (this log's dates are out of order), later pages reuse it.
    for (what, offset) in [
        ("first page, date order worked out", 0),
        ("first page again", 0),
        ("a page 50,000 movements in", 50_000),
    ] {
        let started = Instant::now();
        let page = projections
            .fund_movements("fund-0", Default::default(), None, offset, 100)
            .expect("fund-0 is opened");
        println!(
            "fund account of fund-0 ({what}): {:.2} ms, {} movements listed",
            started.elapsed().as_secs_f64() * 1e3,
            page.movements.len()
        );
    }
    drop((projections, envelopes));
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut cpu_times: Vec<Duration> = Vec::with_capacity(RUNS);
    for run in 0..RUNS {
        let started = Instant::now();
        let cpu_started = thread_cpu_time();
        let mut projections = Projections::default();
        for (seq, payload) in log.iter().enumerate() {
            projections
                .apply_payload(seq as u64, payload)
                .expect("bench payloads decode");
        }
        let elapsed = started.elapsed();
        let cpu_elapsed = thread_cpu_time() - cpu_started;
        assert_eq!(projections.applied_len(), log.len() as u64);
        projections.check_identities().expect("identities hold");
        println!(
            "run {run}: wall {:.3} s ({:.0} events/s), thread cpu {:.3} s ({:.0} events/s)",
            elapsed.as_secs_f64(),
            log.len() as f64 / elapsed.as_secs_f64(),
            cpu_elapsed.as_secs_f64(),
            log.len() as f64 / cpu_elapsed.as_secs_f64()
        );
        times.push(elapsed);
        cpu_times.push(cpu_elapsed);
    }
    times.sort();
    cpu_times.sort();
    let rate = |time: Duration| log.len() as f64 / time.as_secs_f64();
    println!(
        "rebuild (decode + apply): wall median {:.0} events/s, best {:.0}; thread cpu median {:.0} events/s, best {:.0}",
        rate(times[RUNS / 2]),
        rate(times[0]),
        rate(cpu_times[RUNS / 2]),
        rate(cpu_times[0])
    );
}
