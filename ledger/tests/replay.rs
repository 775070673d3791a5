//! The re-deciding replay: a recorded event is sound only if `decide`, given
//! the state of the records before it, returns exactly that event.

use std::sync::Arc;

use mingzhang_ledger::replay::{ReplayError, Replayer};
use mingzhang_ledger::scenario::{self, logs_the_rules_refuse};
use mingzhang_ledger::service::{Ledger, LedgerError};
use mingzhang_ledger::store::{EventStore, MemoryStore};
use mingzhang_proto::Message;
use mingzhang_proto::v1::{self, EventEnvelope, event_envelope::Event};

/// Checks every envelope in order and returns the first error.
fn replay(envelopes: &[EventEnvelope]) -> Result<Replayer, ReplayError> {
    let mut replayer = Replayer::default();
    for (seq, envelope) in envelopes.iter().enumerate() {
        replayer.check(seq as u64, envelope)?;
    }
    Ok(replayer)
}

async fn store_holding(envelopes: &[EventEnvelope]) -> Arc<dyn EventStore> {
    let store = MemoryStore::new();
    let payloads = envelopes.iter().map(Message::encode_to_vec).collect();
    store.append(0, payloads).await.expect("append");
    Arc::new(store)
}

#[test]
fn a_donation_by_an_unregistered_donor_is_refused_naming_its_seq_and_rule() {
    let log = &logs_the_rules_refuse()[0];
    let error = replay(&log.envelopes).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "record seq 1: refused by the rules: donor_id: no donor with id \"kailian-member-01\" [not_found]"
    );
}

#[test]
fn every_log_the_rules_refuse_fails_at_its_record_and_rule() {
    for log in logs_the_rules_refuse() {
        let mut replayer = Replayer::default();
        let mut first_error = None;
        for (seq, envelope) in log.envelopes.iter().enumerate() {
            if let Err(error) = replayer.check(seq as u64, envelope) {
                first_error = Some(error);
                break;
            }
        }
        match first_error {
            Some(ReplayError::Refused { seq, rejection }) => {
                assert_eq!(seq, log.refused_seq, "{}", log.what);
                assert_eq!(rejection.field, log.field, "{}", log.what);
                assert_eq!(rejection.rule, log.rule, "{}", log.what);
            }
            other => panic!("{}: expected a refusal, got {other:?}", log.what),
        }
        assert_eq!(
            replayer.checked_len(),
            log.refused_seq,
            "{}: a refused record is not folded in",
            log.what
        );
    }
}

#[tokio::test]
async fn the_ledger_does_not_open_a_log_the_rules_refuse() {
    for log in logs_the_rules_refuse() {
        let store = store_holding(&log.envelopes).await;
        match Ledger::open(store).await {
            Err(LedgerError::Refused(error)) => {
                assert_eq!(error.seq(), log.refused_seq, "{}", log.what);
                let text = error.to_string();
                assert!(
                    text.contains(&format!("{}: ", log.field))
                        && text.contains(&format!("[{}]", log.rule)),
                    "{}: {text}",
                    log.what
                );
            }
            Err(other) => panic!("{}: refused for another reason: {other}", log.what),
            Ok(_) => panic!("{}: the ledger opened a log the rules refuse", log.what),
        }
    }
}

#[tokio::test]
async fn the_log_the_write_side_writes_replays_cleanly_and_reopens() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let ledger = Ledger::open(store.clone()).await.expect("open");
    for (command, meta) in scenario::kaixuan() {
        ledger
            .submit(command, meta)
            .await
            .expect("scenario accepted");
    }
    let keyed = mingzhang_ledger::service::CommandMeta::operator(1, "operator:test")
        .with_idempotency_key("gift-1", [7; 32]);
    let gift = scenario::giving_day_donation("keyed-gift".into(), 1);
    ledger
        .submit(gift.clone(), keyed.clone())
        .await
        .expect("keyed gift");
    let retried = ledger.submit(gift, keyed).await.expect("retry");
    assert!(retried.idempotent_replay);
    let len = store.head().len;
    let envelopes: Vec<EventEnvelope> = store
        .read(0, len as usize)
        .expect("read")
        .iter()
        .map(|record| EventEnvelope::decode(record.payload()).expect("decode"))
        .collect();
    let replayer = replay(&envelopes).expect("the write side's log replays");
    assert_eq!(replayer.checked_len(), len);
    drop(ledger);
    let reopened = Ledger::open(store).await.expect("reopens");
    let keyed = mingzhang_ledger::service::CommandMeta::operator(2, "operator:test")
        .with_idempotency_key("gift-1", [7; 32]);
    let again = reopened
        .submit(scenario::giving_day_donation("keyed-gift".into(), 1), keyed)
        .await
        .expect("retry after reopening");
    assert!(again.idempotent_replay, "the key index is rebuilt on open");
}

fn operator(event: Event) -> EventEnvelope {
    EventEnvelope {
        actor: "operator:kaixuan-01".into(),
        event: Some(event),
        ..EventEnvelope::default()
    }
}

/// The first refused log's fund and donor, then one donation of 500 fen.
fn fund_donor_and_donation() -> Vec<EventEnvelope> {
    let mut envelopes = logs_the_rules_refuse()[2].envelopes.clone();
    envelopes.truncate(3);
    envelopes
}

#[test]
fn a_derived_field_recorded_otherwise_than_decide_fills_it_is_refused() {
    let mut envelopes = fund_donor_and_donation();
    // `decide` fills a reversal's amount with what is left of the donation;
    // a record that left it 0 is not what the write side records.
    envelopes.push(operator(Event::DonationReversed(v1::DonationReversed {
        donation_id: "donation-0001".into(),
        reason: "bounced".into(),
        amount_fen: 0,
    })));
    let error = replay(&envelopes).expect_err("refused");
    assert!(
        matches!(error, ReplayError::DiffersFromDecided { seq: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("[derived_field_mismatch]"));
}

#[test]
fn an_idempotency_key_recorded_twice_is_refused() {
    let mut envelopes = fund_donor_and_donation();
    envelopes[1].idempotency_key = "register-unit-01".into();
    envelopes[1].request_sha256 = vec![1; 32];
    envelopes[2].idempotency_key = "register-unit-01".into();
    envelopes[2].request_sha256 = vec![1; 32];
    let error = replay(&envelopes).expect_err("refused");
    assert_eq!(error.seq(), 2);
    assert!(
        error.to_string().contains("[idempotency_key_reused]"),
        "{error}"
    );
}

#[test]
fn an_idempotency_key_without_its_request_hash_is_refused() {
    let mut envelopes = fund_donor_and_donation();
    envelopes[1].idempotency_key = "register-unit-01".into();
    let error = replay(&envelopes).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "record seq 1: request_sha256: a record with an idempotency key carries the 32-byte SHA-256 of its request [sha256_length]"
    );
}

#[test]
fn an_envelope_without_an_event_is_refused() {
    let mut envelopes = fund_donor_and_donation();
    envelopes[1].event = None;
    let error = replay(&envelopes).expect_err("refused");
    assert_eq!(error, ReplayError::NoEvent { seq: 1 });
}

/// The replayer decodes each record into the strings of the one before it:
/// what a record leaves out (an empty donor, no key, no event at all) must
/// not be taken from the record before.
#[test]
fn a_record_is_checked_as_recorded_not_with_fields_left_from_the_one_before() {
    let mut envelopes = fund_donor_and_donation();
    envelopes[2].idempotency_key = "gift-1".into();
    envelopes[2].request_sha256 = vec![1; 32];
    let Some(Event::DonationReceived(named_gift)) = envelopes[2].event.clone() else {
        panic!("the third record is a donation");
    };
    assert!(!named_gift.donor_id.is_empty());
    envelopes.push(operator(Event::DonationReceived(v1::DonationReceived {
        donation_id: "donation-0002".into(),
        donor_id: String::new(),
        ..named_gift
    })));
    let mut replayer = Replayer::default();
    for (seq, envelope) in envelopes.iter().enumerate() {
        replayer
            .check_payload(seq as u64, &envelope.encode_to_vec())
            .unwrap_or_else(|error| panic!("{error}"));
    }
    let mut without_event = envelopes[3].clone();
    without_event.event = None;
    assert_eq!(
        replayer.check_payload(4, &without_event.encode_to_vec()),
        Err(ReplayError::NoEvent { seq: 4 })
    );
}

/// `check_payloads` decodes records some at a time before deciding them:
/// the first record that fails is still the one reported, whether it fails
/// to decode or the rules refuse it, and whatever follows it.
#[test]
fn checking_payloads_together_reports_the_first_record_that_fails() {
    fn check_all(payloads: &[Vec<u8>]) -> Result<(), ReplayError> {
        Replayer::default().check_payloads((0u64..).zip(payloads.iter().map(Vec::as_slice)))
    }
    let logs = logs_the_rules_refuse();
    let log = logs
        .iter()
        .find(|log| log.what == "a donation id used twice")
        .expect("the scenario's log of a donation id used twice");
    let mut payloads: Vec<Vec<u8>> = log.envelopes.iter().map(Message::encode_to_vec).collect();
    payloads.push(vec![0xff, 0xff]);
    let refused = check_all(&payloads);
    assert_eq!(refused.map_err(|error| error.seq()), Err(log.refused_seq));

    payloads.truncate(2);
    payloads.push(vec![0xff, 0xff]);
    payloads.push(log.envelopes[2].encode_to_vec());
    let undecodable = check_all(&payloads);
    assert!(
        matches!(undecodable, Err(ReplayError::Undecodable { seq: 2, .. })),
        "{undecodable:?}"
    );
}

/// The rule names `decide` refuses with: the literal after `rule: ` and the
/// second argument of every `invalid(..)` and `conflict(..)` call.
fn rule_names_in_decide() -> Vec<String> {
    let source = include_str!("../src/decide.rs");
    let literal_at = |text: &str| -> Option<String> {
        let text = text.trim_start().strip_prefix('"')?;
        Some(text[..text.find('"')?].to_owned())
    };
    let mut rules = Vec::new();
    for (at, _) in source.match_indices("rule: ") {
        rules.extend(literal_at(&source[at + "rule: ".len()..]));
    }
    for call in ["invalid(", "conflict("] {
        for (at, _) in source.match_indices(call) {
            let arguments = &source[at + call.len()..];
            let Some(comma) = arguments.find(',') else {
                continue;
            };
            rules.extend(literal_at(&arguments[comma + 1..]));
        }
    }
    rules.sort();
    rules.dedup();
    rules
}

#[test]
fn docs_replay_md_names_every_event_and_every_rule() {
    let doc = include_str!("../../docs/replay.md");
    let proto = include_str!("../../proto/proto/mingzhang/v1/events.proto");
    let oneof = &proto[proto.find("oneof event").expect("the event oneof")..];
    let oneof = &oneof[..oneof.find('}').expect("its end")];
    let events: Vec<&str> = oneof
        .lines()
        .filter(|line| line.trim_end().ends_with(';'))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(events.len() > 20, "{events:?}");
    for event in events {
        assert!(
            doc.contains(&format!("\n### {event}\n")),
            "docs/replay.md has no section for {event}"
        );
    }
    let rules = rule_names_in_decide();
    assert!(rules.len() > 40, "{rules:?}");
    for rule in rules {
        assert!(
            doc.contains(&format!("`{rule}`")),
            "docs/replay.md does not name the rule {rule}"
        );
    }
}

#[test]
fn the_replay_thread_finds_what_the_replayer_finds() {
    use mingzhang_ledger::replay::{REPLAY_THREAD_BATCH_RECORDS, ReplayThread};
    for log in logs_the_rules_refuse() {
        let mut thread = ReplayThread::spawn(0);
        for (seq, envelope) in log.envelopes.iter().enumerate() {
            thread.push(seq as u64, &envelope.encode_to_vec());
        }
        let error = thread.finish().expect_err("refused");
        assert_eq!(error.seq(), log.refused_seq, "{}", log.what);
    }
    // More records than one batch, ending in one that does not apply.
    let mut envelopes = fund_donor_and_donation();
    let donation = envelopes[2].clone();
    for n in 0..REPLAY_THREAD_BATCH_RECORDS + 10 {
        let mut more = donation.clone();
        if let Some(Event::DonationReceived(gift)) = &mut more.event {
            gift.donation_id = format!("gift-{n}");
        }
        envelopes.push(more);
    }
    let mut thread = ReplayThread::spawn(0);
    for (seq, envelope) in envelopes.iter().enumerate() {
        assert!(thread.push(seq as u64, &envelope.encode_to_vec()));
    }
    assert_eq!(thread.finish(), Ok(envelopes.len() as u64));
    let mut thread = ReplayThread::spawn(0);
    envelopes.push(donation);
    let mut pushed_while_going = 0;
    for (seq, envelope) in envelopes.iter().enumerate() {
        if thread.push(seq as u64, &envelope.encode_to_vec()) {
            pushed_while_going += 1;
        }
    }
    assert!(pushed_while_going > 0);
    let error = thread.finish().expect_err("the last gift reuses an id");
    assert_eq!(error.seq(), envelopes.len() as u64 - 1);
}

#[test]
fn a_payload_checks_as_its_decoded_envelope_does() {
    for log in logs_the_rules_refuse() {
        let mut by_value = Replayer::default();
        let mut by_payload = Replayer::default();
        for (seq, envelope) in log.envelopes.iter().enumerate() {
            let seq = seq as u64;
            let expected = by_value.check(seq, envelope);
            assert_eq!(
                by_payload.check_payload(seq, &envelope.encode_to_vec()),
                expected
            );
            if expected.is_err() {
                break;
            }
        }
    }
    let mut envelopes = fund_donor_and_donation();
    envelopes.push(operator(Event::DonationReversed(v1::DonationReversed {
        donation_id: "donation-0001".into(),
        reason: "bounced".into(),
        amount_fen: 0,
    })));
    let mut replayer = Replayer::default();
    for (seq, envelope) in envelopes.iter().enumerate() {
        let checked = replayer.check_payload(seq as u64, &envelope.encode_to_vec());
        if seq < 3 {
            checked.expect("accepted");
        } else {
            assert!(matches!(
                checked,
                Err(ReplayError::DiffersFromDecided { seq: 3, .. })
            ));
        }
    }
    let garbage = Replayer::default().check_payload(0, &[0xff, 0xff]);
    assert!(matches!(
        garbage,
        Err(ReplayError::Undecodable { seq: 0, .. })
    ));
}
