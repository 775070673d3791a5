//! Flow receipts on the Kaixuan demo: what unit-02's 2015 pledge payment
//! paid for (docs/flows.md's worked example) verifies offline, and every
//! tamper (a record byte, a proof hash, an allocated amount, the
//! checkpoint's signature or size, a record swapped, a restriction
//! crossed) is refused, naming the field.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mingzhang_audit::flow_receipt::{
    FlowReceipt, FlowReceiptError, GiftKind, PAID_FOR_MAX, PaidForKind, ProvenOutflow,
};
use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey};
use mingzhang_ledger::merkle::{MemoryTree, inclusion_proof, tree_root};
use mingzhang_ledger::receipt::ReceiptError;
use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
use mingzhang_ledger::scenario;
use mingzhang_projections::{IncomeKind, OutflowKind, Projections};
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;

/// The demo as a signed log: its records, tree, read models and checkpoint.
struct SignedDemo {
    records: Vec<StoredRecord>,
    tree: MemoryTree,
    projections: Projections,
    key: SignerKey,
    note: String,
}

fn signed_demo() -> SignedDemo {
    let mut state = mingzhang_ledger::state::LedgerState::default();
    let mut projections = Projections::default();
    let mut tree = MemoryTree::new();
    let mut prev = GENESIS_PREV_HASH;
    let mut records = Vec::new();
    for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate() {
        let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
            .expect("the Kaixuan scenario is valid");
        state.apply(&event);
        let envelope = EventEnvelope {
            recorded_at_unix_ms: meta.at_unix_ms,
            event: Some(event),
            ..Default::default()
        };
        let record = StoredRecord::encode(seq as u64, &prev, &envelope.encode_to_vec());
        prev = record.hash();
        tree.append_leaf(record.bytes());
        projections
            .apply_payload(seq as u64, record.payload())
            .unwrap();
        records.push(record);
    }
    let size = records.len() as u64;
    let key = SignerKey::generate("mingzhang-kaixuan").unwrap();
    let note = Checkpoint::new(
        "mingzhang.example/kaixuan",
        size,
        tree_root(size, &tree).unwrap(),
        vec![mingzhang_audit::balances_line(
            &projections.balances_digest(),
        )],
    )
    .unwrap()
    .sign(&key);
    SignedDemo {
        records,
        tree,
        projections,
        key,
        note,
    }
}

fn flow_receipt(demo: &SignedDemo, kind: IncomeKind, id: &str) -> FlowReceipt {
    let flow = match kind {
        IncomeKind::Donation => demo.projections.donation_flow(id),
        _ => demo.projections.pledge_payment_flow(id),
    }
    .expect("the gift has a flow");
    let size = demo.records.len() as u64;
    FlowReceipt::assemble(
        &flow,
        demo.projections.gift_record_seq(kind, id).unwrap(),
        &demo.note,
        |seq| Ok(demo.records[seq as usize].clone()),
        |seq| Ok(inclusion_proof(seq, size, &demo.tree)?),
    )
    .unwrap()
}

/// unit-02's 2015 pledge payment: 200,000.00 paying twelve grant tranches.
fn unit_02_payment(demo: &SignedDemo) -> FlowReceipt {
    flow_receipt(demo, IncomeKind::PledgePayment, "pay-unit-02-2015")
}

/// The special support fund's seed donation, which paid its expenditures.
fn special_fund_seed(demo: &SignedDemo) -> FlowReceipt {
    flow_receipt(demo, IncomeKind::Donation, "don-special-support-seed")
}

/// An expenditure of a project's restricted money recorded between
/// `after` and `before`, proven, under the name a receipt gives it.
fn project_expenditure(
    demo: &SignedDemo,
    amount_fen: i64,
    after: u64,
    before: u64,
) -> ProvenOutflow {
    let outflow = (after + 1..before)
        .filter_map(|seq| demo.projections.outflow_flow(seq))
        .find(|outflow| {
            outflow.outflow.kind == OutflowKind::Expenditure
                && !outflow.outflow.project_id.is_empty()
        })
        .expect("the demo has a project expenditure")
        .outflow;
    let size = demo.records.len() as u64;
    let receipt = mingzhang_ledger::receipt::Receipt::build(
        &demo.records[outflow.seq as usize],
        &inclusion_proof(outflow.seq, size, &demo.tree).unwrap(),
        &demo.note,
    )
    .unwrap();
    ProvenOutflow {
        kind: PaidForKind::Expenditure,
        reference_id: outflow.reference_id,
        tranche_no: 0,
        amount_fen: amount_fen.min(outflow.amount_fen),
        seq: outflow.seq,
        record: receipt.record,
        inclusion_proof: receipt.inclusion_proof,
    }
}

fn flip_record_byte(record: &str, at: usize) -> String {
    let mut bytes = BASE64.decode(record).unwrap();
    bytes[at] ^= 0x01;
    BASE64.encode(bytes)
}

#[test]
fn the_worked_examples_flow_receipt_verifies_offline_and_survives_json() {
    let demo = signed_demo();
    let receipt = unit_02_payment(&demo);
    let parsed: FlowReceipt =
        serde_json::from_str(&serde_json::to_string_pretty(&receipt).unwrap()).unwrap();
    assert_eq!(parsed, receipt);
    let verified = parsed.verify(&demo.key.verifier()).unwrap();
    assert_eq!(verified.gift_kind, GiftKind::PledgePayment);
    assert_eq!(verified.amount_fen, 20_000_000);
    assert_eq!(verified.unspent_fen, 0);
    // docs/flows.md: 16,000.00 + 10 × 18,000.00 + 4,000.00.
    let amounts: Vec<i64> = verified.paid_for.iter().map(|paid| paid.3).collect();
    let mut expected = vec![1_600_000];
    expected.extend([1_800_000; 10]);
    expected.push(400_000);
    assert_eq!(amounts, expected);
    assert!(
        verified
            .paid_for
            .iter()
            .all(|paid| paid.0 == PaidForKind::GrantTranche && paid.2 == 1)
    );
    assert_eq!(verified.tree_size, demo.records.len() as u64);
}

#[test]
fn a_donations_flow_receipt_verifies_with_its_expenditures() {
    let demo = signed_demo();
    let verified = special_fund_seed(&demo)
        .verify(&demo.key.verifier())
        .unwrap();
    assert_eq!(verified.paid_for.len(), 6);
    assert!(
        verified
            .paid_for
            .iter()
            .all(|paid| paid.0 == PaidForKind::Expenditure)
    );
}

#[test]
fn a_refunded_and_a_reversed_gifts_flow_receipts_verify() {
    let demo = signed_demo();
    for (id, kind) in [
        ("don-2015-resident-0", PaidForKind::DonationRefund),
        ("don-2016-duplicate", PaidForKind::DonationReversal),
    ] {
        let verified = flow_receipt(&demo, IncomeKind::Donation, id)
            .verify(&demo.key.verifier())
            .unwrap();
        assert!(
            verified
                .paid_for
                .iter()
                .any(|paid| paid.0 == kind && paid.1 == id),
            "{id}: {verified:?}"
        );
    }
}

#[test]
fn any_altered_record_byte_is_refused() {
    let demo = signed_demo();
    let receipt = unit_02_payment(&demo);
    let key = demo.key.verifier();
    let record_len = BASE64.decode(&receipt.gift.record).unwrap().len();
    for at in 0..record_len {
        let mut altered = receipt.clone();
        altered.gift.record = flip_record_byte(&receipt.gift.record, at);
        let refused = altered.verify(&key).unwrap_err();
        assert!(
            matches!(&refused, FlowReceiptError::NotProven { field, .. } if field == "gift"),
            "byte {at}: {refused}"
        );
    }
    let mut altered = receipt.clone();
    altered.paid_for[5].record = flip_record_byte(&receipt.paid_for[5].record, 60);
    let refused = altered.verify(&key).unwrap_err();
    assert!(
        matches!(&refused, FlowReceiptError::NotProven { field, .. } if field == "paid_for[5]"),
        "{refused}"
    );
}

#[test]
fn any_altered_proof_hash_is_refused() {
    let demo = signed_demo();
    let receipt = unit_02_payment(&demo);
    let key = demo.key.verifier();
    for (position, paid) in receipt.paid_for.iter().enumerate() {
        for hash in 0..paid.inclusion_proof.len() {
            let mut altered = receipt.clone();
            let text = &mut altered.paid_for[position].inclusion_proof[hash];
            let flipped = if text.starts_with('0') { "1" } else { "0" };
            text.replace_range(0..1, flipped);
            let refused = altered.verify(&key).unwrap_err();
            assert!(
                matches!(
                    &refused,
                    FlowReceiptError::NotProven { field, error: ReceiptError::Proof(_) }
                        if *field == format!("paid_for[{position}]")
                ),
                "paid_for[{position}] hash {hash}: {refused}"
            );
        }
    }
    let mut shortened = receipt.clone();
    shortened.gift.inclusion_proof.pop();
    assert!(matches!(
        shortened.verify(&key).unwrap_err(),
        FlowReceiptError::NotProven { .. }
    ));
}

#[test]
fn an_altered_allocated_amount_is_refused() {
    let demo = signed_demo();
    let receipt = unit_02_payment(&demo);
    let key = demo.key.verifier();

    let mut raised = receipt.clone();
    raised.paid_for[0].amount_fen += 1;
    assert!(matches!(
        raised.verify(&key).unwrap_err(),
        FlowReceiptError::DoesNotAddUp { .. }
    ));

    // Moved from one tranche to another, so the sum holds: the first now
    // claims more than its tranche moved.
    let mut moved = receipt.clone();
    moved.paid_for[1].amount_fen += 100;
    moved.paid_for[2].amount_fen -= 100;
    assert!(matches!(
        moved.verify(&key).unwrap_err(),
        FlowReceiptError::MoreThanTheOutflow { ref field, .. } if field == "paid_for[1]"
    ));

    let mut hidden = receipt.clone();
    hidden.unspent_fen = -400_000;
    hidden.paid_for[11].amount_fen += 400_000;
    assert!(matches!(
        hidden.verify(&key).unwrap_err(),
        FlowReceiptError::MoreThanTheOutflow { .. } | FlowReceiptError::NegativeUnspent { .. }
    ));

    let mut negative = receipt.clone();
    negative.paid_for[3].amount_fen = -1;
    assert!(matches!(
        negative.verify(&key).unwrap_err(),
        FlowReceiptError::AmountNotPositive { ref field, .. } if field == "paid_for[3]"
    ));

    let mut kept = receipt.clone();
    kept.unspent_fen += 1;
    kept.gift.amount_fen += 1;
    assert!(matches!(
        kept.verify(&key).unwrap_err(),
        FlowReceiptError::WrongRecord { ref field, .. } if field == "gift"
    ));
}

#[test]
fn an_altered_checkpoint_signature_or_size_is_refused() {
    let demo = signed_demo();
    let receipt = unit_02_payment(&demo);
    let key = demo.key.verifier();

    let mut forged = receipt.clone();
    let signature_at = forged.checkpoint.rfind(' ').unwrap() + 5;
    let replaced = if &forged.checkpoint[signature_at..signature_at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    forged
        .checkpoint
        .replace_range(signature_at..signature_at + 1, replaced);
    assert!(matches!(
        forged.verify(&key).unwrap_err(),
        FlowReceiptError::NotProven { error: ReceiptError::Checkpoint(_), ref field } if field == "gift"
    ));

    let mut resized = receipt.clone();
    resized.tree_size -= 1;
    assert!(matches!(
        resized.verify(&key).unwrap_err(),
        FlowReceiptError::NotProven {
            error: ReceiptError::TreeSizeMismatch { .. },
            ..
        }
    ));

    let size = demo.records.len();
    let mut body_resized = receipt.clone();
    body_resized.checkpoint =
        body_resized
            .checkpoint
            .replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1);
    assert!(matches!(
        body_resized.verify(&key).unwrap_err(),
        FlowReceiptError::NotProven {
            error: ReceiptError::Checkpoint(_),
            ..
        }
    ));

    let stranger = SignerKey::generate("mingzhang-kaixuan").unwrap();
    assert!(receipt.verify(&stranger.verifier()).is_err());
}

#[test]
fn a_record_swapped_for_another_proven_one_is_refused() {
    let demo = signed_demo();
    let receipt = unit_02_payment(&demo);
    let key = demo.key.verifier();
    // paid_for[1]'s record, with its own valid proof, under paid_for[0]'s name.
    let mut swapped = receipt.clone();
    swapped.paid_for[0].record = receipt.paid_for[1].record.clone();
    swapped.paid_for[0].inclusion_proof = receipt.paid_for[1].inclusion_proof.clone();
    swapped.paid_for[0].seq = receipt.paid_for[1].seq;
    assert!(matches!(
        swapped.verify(&key).unwrap_err(),
        FlowReceiptError::OutOfOrder { .. } | FlowReceiptError::WrongRecord { .. }
    ));
    let mut renamed = receipt.clone();
    renamed.paid_for[4].reference_id = "grant-mv2016-099".into();
    assert!(matches!(
        renamed.verify(&key).unwrap_err(),
        FlowReceiptError::WrongRecord { ref field, .. } if field == "paid_for[4]"
    ));
    let mut rekinded = receipt.clone();
    rekinded.paid_for[4].kind = PaidForKind::Expenditure;
    assert!(rekinded.verify(&key).is_err());
    let mut regifted = receipt.clone();
    regifted.gift.kind = GiftKind::Donation;
    assert!(matches!(
        regifted.verify(&key).unwrap_err(),
        FlowReceiptError::WrongRecord { ref field, .. } if field == "gift"
    ));
    let mut reordered = receipt.clone();
    reordered.paid_for.swap(2, 3);
    assert!(matches!(
        reordered.verify(&key).unwrap_err(),
        FlowReceiptError::OutOfOrder { ref field, .. } if field == "paid_for[3]"
    ));
}

#[test]
fn a_pooled_gift_shown_paying_a_project_expenditure_is_a_crossed_restriction() {
    let demo = signed_demo();
    let mut crossed = unit_02_payment(&demo);
    // Inserted in log order: the pool is checked before the sum.
    let expenditure = project_expenditure(&demo, 100, crossed.gift.seq, crossed.paid_for[0].seq);
    crossed.paid_for.insert(0, expenditure);
    let refused = crossed.verify(&demo.key.verifier()).unwrap_err();
    assert!(
        matches!(&refused, FlowReceiptError::RestrictionCrossed { field, .. } if field == "paid_for[0]"),
        "{refused}"
    );
}

#[test]
fn more_outflows_than_the_bound_are_refused_before_any_proof_is_checked() {
    let demo = signed_demo();
    let mut receipt = unit_02_payment(&demo);
    let one = receipt.paid_for[0].clone();
    receipt.paid_for = vec![one; PAID_FOR_MAX + 1];
    assert!(matches!(
        receipt.verify(&demo.key.verifier()).unwrap_err(),
        FlowReceiptError::TooManyOutflows { .. }
    ));
    receipt.paid_for.clear();
    receipt.format = "mingzhang-flow-receipt/2".into();
    assert!(matches!(
        receipt.verify(&demo.key.verifier()).unwrap_err(),
        FlowReceiptError::UnknownFormat { .. }
    ));
}
