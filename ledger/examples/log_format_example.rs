//! Prints the worked example of docs/log-format.md: the segment header and the
//! exact bytes, hashes and crcs of three real records. The test
//! `log_format_doc_matches_the_code` checks the page still shows this output.
//!
//! cargo run -p mingzhang-ledger --example log_format_example

use std::fmt::Write;

use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
use mingzhang_ledger::store::file::encode_segment_header;
use mingzhang_proto::Message;
use mingzhang_proto::v1::{
    Channel, DonationReceived, DonorKind, DonorRegistered, EventEnvelope, FundKind, FundOpened,
    event_envelope::Event,
};

/// A fund, the donor who gives to it, and the gift: each record is one the
/// rules accept after the ones before it (`Replayer` checks it).
pub fn worked_example_envelopes() -> [EventEnvelope; 3] {
    [
        EventEnvelope {
            recorded_at_unix_ms: 1_441_065_600_000,
            actor: "operator:kaixuan-01".to_string(),
            idempotency_key: String::new(),
            request_sha256: Vec::new(),
            event: Some(Event::FundOpened(FundOpened {
                fund_id: "special-support".to_string(),
                name: "专项扶持基金".to_string(),
                kind: FundKind::SpecialSupport as i32,
                restriction: String::new(),
            })),
        },
        EventEnvelope {
            recorded_at_unix_ms: 1_441_065_660_000,
            actor: "operator:kaixuan-01".to_string(),
            idempotency_key: String::new(),
            request_sha256: Vec::new(),
            event: Some(Event::DonorRegistered(DonorRegistered {
                donor_id: "kailian-member-01".to_string(),
                name: "凯旋示范商贸有限公司".to_string(),
                kind: DonorKind::Enterprise as i32,
                alliance_member: true,
                show_name_publicly: true,
                name_commitment: Default::default(),
            })),
        },
        EventEnvelope {
            recorded_at_unix_ms: 1_441_152_000_000,
            actor: "operator:kaixuan-01".to_string(),
            idempotency_key: String::new(),
            request_sha256: Vec::new(),
            event: Some(Event::DonationReceived(DonationReceived {
                donation_id: "donation-0001".to_string(),
                donor_id: "kailian-member-01".to_string(),
                fund_id: "special-support".to_string(),
                amount_fen: 100_000_000,
                channel: Channel::BankTransfer as i32,
                bank_reference: "HZ20150902-0001".to_string(),
                received_on: "2015-09-02".to_string(),
                ..DonationReceived::default()
            })),
        },
    ]
}

fn hex_dump(out: &mut String, bytes: &[u8]) {
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(out, "{:04x}  {}", line * 16, hex.join(" ")).expect("write to String");
    }
}

/// The worked example exactly as the doc shows it.
pub fn worked_example() -> String {
    let mut out = String::new();
    writeln!(out, "segment-00000000000000000000.log, header (24 bytes):").expect("write");
    hex_dump(&mut out, &encode_segment_header(0));
    let mut prev_hash = GENESIS_PREV_HASH;
    let mut offset = encode_segment_header(0).len();
    for (seq, envelope) in worked_example_envelopes().iter().enumerate() {
        let payload = envelope.encode_to_vec();
        let record = StoredRecord::encode(seq as u64, &prev_hash, &payload);
        let bytes = record.bytes();
        let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        writeln!(
            out,
            "\nrecord seq {seq} at segment offset {offset}: {} bytes (48 header + {} payload + 36 trailer)",
            bytes.len(),
            payload.len()
        )
        .expect("write");
        hex_dump(&mut out, bytes);
        writeln!(out, "payload_len = {}", payload.len()).expect("write");
        writeln!(out, "prev_hash   = {}", hex::encode(record.prev_hash())).expect("write");
        writeln!(out, "hash        = {}", hex::encode(record.hash())).expect("write");
        writeln!(
            out,
            "crc32c      = 0x{crc:08x} (stored as {})",
            hex::encode(crc.to_le_bytes())
        )
        .expect("write");
        prev_hash = record.hash();
        offset += bytes.len();
    }
    out
}

fn main() {
    print!("{}", worked_example());
}
