//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/`:
//! well-formed records, segments, notes, receipts, proofs and command bodies,
//! so libFuzzer starts past the magic numbers and signatures and mutates from
//! there. `ops/fuzz.sh --cmin` later minimises what the runs grow from them.
//!
//! cargo run -p mingzhang-api --example fuzz_seeds [-- fuzz/corpus]

use std::path::{Path, PathBuf};

use mingzhang_api::fuzz_targets::COMMAND_BODIES;
use mingzhang_ledger::checkpoint::Checkpoint;
use mingzhang_ledger::fuzz_targets::fuzz_signer;
use mingzhang_ledger::merkle::{self, MemoryTree};
use mingzhang_ledger::receipt::Receipt;
use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
use mingzhang_ledger::scenario;
use mingzhang_ledger::store::file::encode_segment_header;
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;

const RECORDS: usize = 12;

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or("fuzz/corpus".into()));
    let records = scenario_records();

    for record in &records {
        write(
            &root,
            "record_decode",
            &format!("seq-{}", record.seq()),
            record.bytes(),
        );
    }

    let mut one_segment = vec![0u8];
    one_segment.extend_from_slice(&segment(0, &records));
    write(&root, "log_dir_open", "one-segment", &one_segment);
    let first = segment(0, &records[..RECORDS / 2]);
    let mut two_segments = vec![1u8];
    two_segments.extend_from_slice(&u16::try_from(first.len()).unwrap().to_be_bytes());
    two_segments.extend_from_slice(&first);
    two_segments.extend_from_slice(&segment(RECORDS as u64 / 2, &records[RECORDS / 2..]));
    write(&root, "log_dir_open", "two-segments", &two_segments);
    let mut torn = one_segment.clone();
    torn.truncate(torn.len() - 20);
    write(&root, "log_dir_open", "torn-tail", &torn);

    let mut tree = MemoryTree::new();
    for record in &records {
        tree.append_leaf(record.bytes());
    }
    let size = records.len() as u64;
    let root_hash = merkle::tree_root(size, &tree).unwrap();
    let signer = fuzz_signer();
    let checkpoint = Checkpoint::new(
        "fuzz.mingzhang.example/log",
        size,
        root_hash,
        vec!["balances-sha256 AAAA".into()],
    )
    .unwrap();
    let note = checkpoint.sign(&signer);
    write(
        &root,
        "checkpoint_note",
        "body",
        checkpoint.body().as_bytes(),
    );
    write(&root, "checkpoint_note", "signed", note.as_bytes());
    write(
        &root,
        "checkpoint_note",
        "verifier-key",
        signer.verifier().to_text().as_bytes(),
    );
    write(
        &root,
        "checkpoint_note",
        "signer-key",
        signer.to_text().as_bytes(),
    );

    for seq in [0, 5, RECORDS as u64 - 1] {
        let proof = merkle::inclusion_proof(seq, size, &tree).unwrap();
        let receipt = Receipt::build(&records[seq as usize], &proof, &note).unwrap();
        let json = serde_json::to_vec_pretty(&receipt).unwrap();
        write(&root, "receipt_verify", &format!("seq-{seq}"), &json);
    }

    for (name, head) in [
        ("inclusion", [13u8, 5, 3, 11, 0]),
        ("consistency", [64, 63, 7, 40, 1]),
    ] {
        let mut input = head.to_vec();
        input.extend_from_slice(&[0xab; 64]);
        write(&root, "proof_verify", name, &input);
    }

    for (name, json) in command_bodies() {
        let selector = COMMAND_BODIES
            .iter()
            .position(|body| *body == name)
            .unwrap();
        let mut input = vec![u8::try_from(selector).unwrap()];
        input.extend_from_slice(json.as_bytes());
        write(&root, "command_body", name, &input);
    }
}

/// The first records of the Kaixuan scenario, chained as a log holds them.
fn scenario_records() -> Vec<StoredRecord> {
    let mut prev_hash = GENESIS_PREV_HASH;
    scenario::kaixuan()
        .into_iter()
        .take(RECORDS)
        .enumerate()
        .map(|(seq, (event, meta))| {
            let envelope = EventEnvelope {
                recorded_at_unix_ms: meta.at_unix_ms,
                actor: meta.actor,
                idempotency_key: meta.idempotency_key.unwrap_or_default(),
                request_sha256: meta.request_sha256.to_vec(),
                event: Some(event),
            };
            let record = StoredRecord::encode(seq as u64, &prev_hash, &envelope.encode_to_vec());
            prev_hash = record.hash();
            record
        })
        .collect()
}

fn segment(first_seq: u64, records: &[StoredRecord]) -> Vec<u8> {
    let mut bytes = encode_segment_header(first_seq).to_vec();
    for record in records {
        bytes.extend_from_slice(record.bytes());
    }
    bytes
}

fn command_bodies() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "OpenFund",
            r#"{"fund_id":"charity","name":"凯旋公益基金","kind":"special_support","restriction":"社会组织"}"#,
        ),
        (
            "OpenCampaign",
            r#"{"campaign_id":"c1","name":"五年千万","fund_id":"charity","total_target":"10000000","first_year":2015,"yearly_targets":[{"year":2015,"target":"1600000.00"}]}"#,
        ),
        (
            "RegisterDonor",
            r#"{"donor_id":"unit-01","name":"凯旋示范商贸有限公司","kind":"enterprise","alliance_member":true,"show_name_publicly":true}"#,
        ),
        (
            "RegisterOrganisation",
            r#"{"organisation_id":"org-01","name":"社工服务中心","registration_no":"5233"}"#,
        ),
        (
            "ReceiveDonation",
            r#"{"donation_id":"d1","donor_id":"unit-01","fund_id":"charity","campaign_id":"c1","project_id":"","amount":"1234.56","channel":"bank_transfer","bank_reference":"HZ1","anonymous":false,"received_on":"2015-09-02"}"#,
        ),
        (
            "RefundDonation",
            r#"{"refund_id":"r1","amount":"0.01","reason":"duplicate"}"#,
        ),
        ("ReverseDonation", r#"{"reason":"entered twice"}"#),
        (
            "MakePledge",
            r#"{"pledge_id":"p1","donor_id":"unit-01","campaign_id":"c1","fund_id":"charity","total":"200000","instalments":[{"due_on":"2016-01-01","amount":"100000"},{"due_on":"2017-01-01","amount":"100000.00"}]}"#,
        ),
        (
            "ReceivePledgePayment",
            r#"{"payment_id":"pp1","amount":"100000","channel":"cash","bank_reference":"","received_on":"2016-01-02"}"#,
        ),
        (
            "AmendPledge",
            r#"{"new_total":"150000","instalments":[{"due_on":"2016-01-01","amount":"150000"}],"reason":"budget"}"#,
        ),
        (
            "OpenGrantRound",
            r#"{"round_id":"mv-2016","fund_id":"charity","name":"微创投 2016","budget":"200000","applications_open_on":"2016-03-01","applications_close_on":"2016-04-01"}"#,
        ),
        (
            "SubmitApplication",
            r#"{"application_id":"a1","organisation_id":"org-01","title":"助老送餐","summary":"","requested":"20000","submitted_on":"2016-03-15"}"#,
        ),
        (
            "ReviewApplication",
            r#"{"reviewer":"panel","score":87,"notes":"good"}"#,
        ),
        ("Shortlist", r#"{}"#),
        (
            "AwardGrant",
            r#"{"grant_id":"g1","application_id":"a1","amount":"20000","tranches":[{"amount":"10000"},{"amount":"10000","requires_evaluation":true}],"awarded_on":"2016-05-01"}"#,
        ),
        (
            "DisburseTranche",
            r#"{"tranche_index":0,"paid_on":"2016-05-02","bank_reference":"T1"}"#,
        ),
        (
            "RecordEvaluation",
            r#"{"evaluation_id":"e1","period":"2016H1","evaluator":"third party","score":90,"passed":true}"#,
        ),
        (
            "FileSelfAssessment",
            r#"{"quarter":"2016Q2","report_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","summary":"ok"}"#,
        ),
        (
            "PublishProject",
            r#"{"project_id":"p-01","title":"助老送餐","description":"","need_kind":"micro_wish","community":"景芳","survey":"2016H1","budget":"30000","fund_id":"charity"}"#,
        ),
        ("ClaimProject", r#"{"sponsor_id":"unit-01"}"#),
        (
            "ReleaseClaim",
            r#"{"sponsor_id":"unit-01","reason":"moved"}"#,
        ),
        (
            "FundProject",
            r#"{"funding_id":"f1","sponsor_id":"unit-01","amount":"30000","channel":"online","bank_reference":"","received_on":"2016-06-01"}"#,
        ),
        (
            "CompleteProject",
            r#"{"report_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","summary":"done","completed_on":"2016-12-01"}"#,
        ),
        (
            "MakeExpenditure",
            r#"{"expenditure_id":"x1","fund_id":"charity","project_id":"p-01","amount":"5000","payee":"社工服务中心","payee_kind":"organisation","purpose":"meals","category":"purchase_of_services","receipt_no":"R1","paid_on":"2016-07-01"}"#,
        ),
    ]
}

fn write(root: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}
