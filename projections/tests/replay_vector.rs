//! The test vector of docs/replay.md: a small log, checked in as the segment
//! file the log writes (projections/testdata/replay-vector/), that touches
//! every account of the chart, and the balances it replays to. An outsider's
//! reimplementation replays the file and must print the same lines and
//! digest; this test keeps the file, the code and the page in agreement.
//!
//! Rewrite the files after a deliberate change with
//! `MINGZHANG_WRITE_VECTORS=1 cargo test -p mingzhang-projections --test replay_vector`.

use std::path::{Path, PathBuf};

use mingzhang_ledger::decide::decide;
use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
use mingzhang_ledger::replay::Replayer;
use mingzhang_ledger::state::LedgerState;
use mingzhang_ledger::store::file::{encode_segment_header, verify_log};
use mingzhang_projections::Projections;
use mingzhang_proto::Message;
use mingzhang_proto::v1::{self, EventEnvelope, event_envelope::Event};

const YUAN: i64 = 100;

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/replay-vector")
}

fn segment_path() -> PathBuf {
    vector_dir().join("segment-00000000000000000000.log")
}

fn balances_path() -> PathBuf {
    vector_dir().join("balances.txt")
}

/// The commands of the vector, in order; `decide` fills the derived fields.
fn commands() -> Vec<Event> {
    let charity = "kaixuan-charity";
    let special = "special-support";
    let donation = |id: &str, donor: &str, fund: &str, project: &str, fen: i64| {
        Event::DonationReceived(v1::DonationReceived {
            donation_id: id.into(),
            donor_id: donor.into(),
            fund_id: fund.into(),
            campaign_id: if fund == charity && project.is_empty() {
                "kaixuan-5y".into()
            } else {
                String::new()
            },
            project_id: project.into(),
            amount_fen: fen,
            channel: v1::Channel::BankTransfer as i32,
            bank_reference: format!("HZ-{id}"),
            anonymous: false,
            received_on: "2015-09-02".into(),
        })
    };
    let expenditure = |id: &str, fund: &str, project: &str, fen: i64, category| {
        Event::ExpenditureMade(v1::ExpenditureMade {
            expenditure_id: id.into(),
            fund_id: fund.into(),
            project_id: project.into(),
            amount_fen: fen,
            payee: "闸弄口社工服务中心".into(),
            payee_kind: v1::PayeeKind::Organisation as i32,
            purpose: "社区服务".into(),
            category: category as i32,
            receipt_no: format!("R-{id}"),
            paid_on: "2016-05-01".into(),
            payee_commitment: Default::default(),
        })
    };
    vec![
        Event::FundOpened(v1::FundOpened {
            fund_id: charity.into(),
            name: "凯旋公益基金".into(),
            kind: v1::FundKind::Unrestricted as i32,
            restriction: String::new(),
        }),
        Event::FundOpened(v1::FundOpened {
            fund_id: special.into(),
            name: "专项扶持基金".into(),
            kind: v1::FundKind::SpecialSupport as i32,
            restriction: String::new(),
        }),
        Event::CampaignOpened(v1::CampaignOpened {
            campaign_id: "kaixuan-5y".into(),
            name: "五年筹集一千万".into(),
            fund_id: charity.into(),
            total_target_fen: 10_000_000 * YUAN,
            first_year: 2015,
            yearly_targets: (2015..2020)
                .map(|year| v1::YearlyTarget {
                    year,
                    target_fen: 2_000_000 * YUAN,
                })
                .collect(),
        }),
        Event::DonorRegistered(v1::DonorRegistered {
            donor_id: "unit-01".into(),
            name: "凯旋示范商贸有限公司".into(),
            kind: v1::DonorKind::Enterprise as i32,
            alliance_member: true,
            show_name_publicly: true,
            name_commitment: Default::default(),
        }),
        Event::DonorRegistered(v1::DonorRegistered {
            donor_id: "resident-zhang".into(),
            name: "张女士".into(),
            kind: v1::DonorKind::Individual as i32,
            alliance_member: false,
            show_name_publicly: false,
            name_commitment: Default::default(),
        }),
        Event::OrganisationRegistered(v1::OrganisationRegistered {
            organisation_id: "org-01".into(),
            name: "闸弄口社工服务中心".into(),
            registration_no: String::new(),
        }),
        Event::ProjectPublished(v1::ProjectPublished {
            project_id: "proj-01".into(),
            title: "楼道微治理".into(),
            description: String::new(),
            need_kind: v1::NeedKind::Service as i32,
            community: "闸弄口社区".into(),
            survey: "2015-H2".into(),
            budget_fen: 20_000 * YUAN,
            fund_id: charity.into(),
        }),
        donation("d-1", "unit-01", charity, "", 500_000 * YUAN),
        donation("d-2", "resident-zhang", charity, "proj-01", 200 * YUAN),
        Event::DonationRefunded(v1::DonationRefunded {
            refund_id: "rf-1".into(),
            donation_id: "d-1".into(),
            amount_fen: 1_000 * YUAN,
            reason: "多付".into(),
        }),
        Event::DonationReversed(v1::DonationReversed {
            donation_id: "d-2".into(),
            amount_fen: 0,
            reason: "退票".into(),
        }),
        Event::PledgeMade(v1::PledgeMade {
            pledge_id: "p-1".into(),
            donor_id: "unit-01".into(),
            campaign_id: "kaixuan-5y".into(),
            fund_id: charity.into(),
            total_fen: 100_000 * YUAN,
            instalments: ["2015-12-31", "2016-12-31"]
                .map(|due_on| v1::Instalment {
                    due_on: due_on.into(),
                    amount_fen: 50_000 * YUAN,
                })
                .to_vec(),
        }),
        Event::PledgePaymentReceived(v1::PledgePaymentReceived {
            payment_id: "pay-1".into(),
            pledge_id: "p-1".into(),
            amount_fen: 50_000 * YUAN,
            channel: v1::Channel::BankTransfer as i32,
            bank_reference: "HZ-pay-1".into(),
            received_on: "2015-12-30".into(),
        }),
        Event::ProjectClaimed(v1::ProjectClaimed {
            project_id: "proj-01".into(),
            sponsor_id: "unit-01".into(),
        }),
        Event::ProjectFunded(v1::ProjectFunded {
            funding_id: "f-1".into(),
            project_id: "proj-01".into(),
            sponsor_id: "unit-01".into(),
            amount_fen: 20_000 * YUAN,
            channel: v1::Channel::BankTransfer as i32,
            bank_reference: "HZ-f-1".into(),
            received_on: "2016-01-10".into(),
        }),
        Event::GrantRoundOpened(v1::GrantRoundOpened {
            round_id: "mv-2016".into(),
            fund_id: charity.into(),
            name: "2016 微创投".into(),
            budget_fen: 100_000 * YUAN,
            applications_open_on: "2016-01-01".into(),
            applications_close_on: "2016-03-31".into(),
        }),
        Event::GrantApplicationSubmitted(v1::GrantApplicationSubmitted {
            application_id: "app-1".into(),
            round_id: "mv-2016".into(),
            organisation_id: "org-01".into(),
            title: "四点半课堂".into(),
            summary: String::new(),
            requested_fen: 30_000 * YUAN,
            submitted_on: "2016-02-01".into(),
        }),
        Event::GrantApplicationReviewed(v1::GrantApplicationReviewed {
            application_id: "app-1".into(),
            reviewer: "评审组".into(),
            score: 85,
            notes: String::new(),
        }),
        Event::GrantApplicationShortlisted(v1::GrantApplicationShortlisted {
            application_id: "app-1".into(),
        }),
        Event::GrantAwarded(v1::GrantAwarded {
            grant_id: "g-1".into(),
            application_id: "app-1".into(),
            amount_fen: 30_000 * YUAN,
            tranches: vec![
                v1::Tranche {
                    amount_fen: 20_000 * YUAN,
                    requires_evaluation: false,
                },
                v1::Tranche {
                    amount_fen: 10_000 * YUAN,
                    requires_evaluation: true,
                },
            ],
            awarded_on: "2016-04-01".into(),
        }),
        Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
            grant_id: "g-1".into(),
            tranche_index: 0,
            amount_fen: 0,
            paid_on: "2016-04-15".into(),
            bank_reference: String::new(),
        }),
        Event::GrantClosed(v1::GrantClosed {
            grant_id: "g-1".into(),
            disbursed_fen: 0,
            returned_fen: 0,
            reason: "项目提前结束".into(),
        }),
        expenditure(
            "e-1",
            charity,
            "",
            5_000 * YUAN,
            v1::ExpenditureCategory::Operations,
        ),
        expenditure(
            "e-2",
            charity,
            "proj-01",
            15_000 * YUAN,
            v1::ExpenditureCategory::ProjectDelivery,
        ),
        Event::ExpenditureReversed(v1::ExpenditureReversed {
            expenditure_id: "e-1".into(),
            amount_fen: 0,
            reason: "重复支付".into(),
        }),
        donation("d-3", "unit-01", special, "", 100_000 * YUAN),
        expenditure(
            "e-3",
            special,
            "",
            40_000 * YUAN,
            v1::ExpenditureCategory::OneOffSupport,
        ),
    ]
}

/// The segment file: its header, then each decided command's record.
fn generated_segment() -> Vec<u8> {
    let mut state = LedgerState::default();
    let mut bytes = encode_segment_header(0).to_vec();
    let mut prev_hash = GENESIS_PREV_HASH;
    for (seq, command) in commands().into_iter().enumerate() {
        let event = decide(&state, command)
            .unwrap_or_else(|rejection| panic!("vector command {seq}: {rejection}"));
        state.apply(&event);
        let envelope = EventEnvelope {
            recorded_at_unix_ms: 1_451_606_400_000 + seq as i64 * 60_000,
            actor: "operator:kaixuan-01".into(),
            event: Some(event),
            ..EventEnvelope::default()
        };
        let record = StoredRecord::encode(seq as u64, &prev_hash, &envelope.encode_to_vec());
        prev_hash = record.hash();
        bytes.extend_from_slice(record.bytes());
    }
    bytes
}

/// Replays the checked-in file as an auditor would: chain, rules, balances.
fn replayed_from_file() -> Projections {
    let report = verify_log(&vector_dir(), |_| {}).expect("the vector's chain verifies");
    let bytes = std::fs::read(segment_path()).expect("the vector's segment");
    let mut at = encode_segment_header(0).len();
    let mut replayer = Replayer::default();
    let mut projections = Projections::default();
    let mut seq = 0;
    while at < bytes.len() {
        let len = StoredRecord::framed_len(&bytes[at..]).expect("a record length");
        let record = StoredRecord::decode(&bytes[at..at + len]).expect("a whole record");
        let envelope = EventEnvelope::decode(record.payload()).expect("an envelope");
        if let Err(error) = replayer.check(seq, &envelope) {
            panic!("{error}");
        }
        projections.apply(seq, &envelope).expect("applies");
        at += len;
        seq += 1;
    }
    assert_eq!(seq, report.records);
    projections
}

#[test]
fn the_checked_in_vector_is_what_the_generator_writes() {
    let generated = generated_segment();
    if std::env::var_os("MINGZHANG_WRITE_VECTORS").is_some() {
        std::fs::write(segment_path(), &generated).expect("write the segment");
        let mut projections = Projections::default();
        for (seq, envelope) in envelopes_of(&generated).iter().enumerate() {
            projections.apply(seq as u64, envelope).expect("applies");
        }
        std::fs::write(balances_path(), projections.balances_canonical_text())
            .expect("write the balances");
    }
    let checked_in = std::fs::read(segment_path()).expect("the vector's segment");
    assert!(
        checked_in == generated,
        "projections/testdata/replay-vector/ is stale; see this file's header"
    );
}

fn envelopes_of(segment: &[u8]) -> Vec<EventEnvelope> {
    let mut at = encode_segment_header(0).len();
    let mut envelopes = Vec::new();
    while at < segment.len() {
        let len = StoredRecord::framed_len(&segment[at..]).expect("a record length");
        let record = StoredRecord::decode(&segment[at..at + len]).expect("a whole record");
        envelopes.push(EventEnvelope::decode(record.payload()).expect("an envelope"));
        at += len;
    }
    envelopes
}

#[test]
fn the_vector_replays_to_the_lines_and_digest_docs_replay_md_states() {
    let projections = replayed_from_file();
    let text = projections.balances_canonical_text();
    let checked_in = std::fs::read_to_string(balances_path()).expect("balances.txt");
    assert_eq!(text, checked_in, "balances.txt");
    let digest = hex::encode(projections.balances_digest());
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/replay.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/replay.md");
    assert!(
        doc.contains(&format!("```text\n{text}```")),
        "docs/replay.md does not show the vector's balance lines:\n{text}"
    );
    assert!(
        doc.contains(&format!("balances digest: `{digest}`")),
        "docs/replay.md does not state the vector's digest {digest}"
    );
    assert_eq!(projections.trial_balance().total_fen, 0);
}
