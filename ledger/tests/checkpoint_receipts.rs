//! Receipts: a donor's proof that their record is in the signed log. One that
//! verifies is exactly what the log holds; any altered byte is refused and
//! the error names what failed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey};
use mingzhang_ledger::merkle::{MemoryTree, inclusion_proof, tree_root};
use mingzhang_ledger::receipt::{Receipt, ReceiptError};
use mingzhang_ledger::record::{GENESIS_PREV_HASH, HEADER_LEN, StoredRecord};
use sha2::{Digest, Sha256};

const LOG_LEN: u64 = 21;

struct SignedLog {
    records: Vec<StoredRecord>,
    tree: MemoryTree,
    key: SignerKey,
    note: String,
}

fn signed_log() -> SignedLog {
    let mut prev = GENESIS_PREV_HASH;
    let mut tree = MemoryTree::new();
    let records: Vec<StoredRecord> = (0..LOG_LEN)
        .map(|seq| {
            let payload =
                format!("donation {seq}: 1000.00 CNY to the Kaixuan special support fund");
            let record = StoredRecord::encode(seq, &prev, payload.as_bytes());
            prev = record.hash();
            tree.append_leaf(record.bytes());
            record
        })
        .collect();
    let key = SignerKey::generate("mingzhang-kaixuan").unwrap();
    let checkpoint = Checkpoint::new(
        "mingzhang.example/kaixuan",
        LOG_LEN,
        tree_root(LOG_LEN, &tree).unwrap(),
        vec![format!(
            "balances-sha256 {}",
            BASE64.encode(Sha256::digest(b"balances"))
        )],
    )
    .unwrap();
    let note = checkpoint.sign(&key);
    SignedLog {
        records,
        tree,
        key,
        note,
    }
}

fn receipt_for(log: &SignedLog, seq: u64) -> Receipt {
    let proof = inclusion_proof(seq, LOG_LEN, &log.tree).unwrap();
    Receipt::build(&log.records[seq as usize], &proof, &log.note).unwrap()
}

#[test]
fn every_donation_receipt_verifies_and_survives_json() {
    let log = signed_log();
    for seq in 0..LOG_LEN {
        let receipt = receipt_for(&log, seq);
        let json = serde_json::to_string(&receipt).unwrap();
        let parsed: Receipt = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, receipt);
        let verified = parsed.verify(&log.key.verifier()).unwrap();
        assert_eq!(verified.record, log.records[seq as usize]);
        assert_eq!(verified.checkpoint.size(), LOG_LEN);
    }
}

#[test]
fn receipt_with_any_record_byte_altered_is_refused() {
    let log = signed_log();
    let receipt = receipt_for(&log, 7);
    let bytes = log.records[7].bytes();
    for at in 0..bytes.len() {
        let mut altered_bytes = bytes.to_vec();
        altered_bytes[at] ^= 0x01;
        let mut altered = receipt.clone();
        altered.record = BASE64.encode(&altered_bytes);
        assert!(
            matches!(
                altered.verify(&log.key.verifier()),
                Err(ReceiptError::RecordDamaged(_))
            ),
            "byte {at} altered was not caught as damage"
        );
    }
}

#[test]
fn receipt_for_a_deliberately_edited_record_fails_the_inclusion_proof() {
    let log = signed_log();
    let receipt = receipt_for(&log, 7);
    let original = &log.records[7];
    // A careful forger rewrites the amount and recomputes hash and crc.
    let mut payload = original.payload().to_vec();
    payload[13] = b'9';
    let edited = StoredRecord::encode(7, &original.prev_hash(), &payload);
    assert_eq!(edited.len(), original.len());
    assert_ne!(
        edited.bytes()[HEADER_LEN + 13],
        original.bytes()[HEADER_LEN + 13]
    );
    let mut altered = receipt.clone();
    altered.record = BASE64.encode(edited.bytes());
    assert!(matches!(
        altered.verify(&log.key.verifier()),
        Err(ReceiptError::Proof(_))
    ));
}

#[test]
fn receipt_with_any_proof_bit_altered_is_refused() {
    let log = signed_log();
    let receipt = receipt_for(&log, 12);
    for element in 0..receipt.inclusion_proof.len() {
        for bit in 0..256 {
            let mut hash = hex::decode(&receipt.inclusion_proof[element]).unwrap();
            hash[bit / 8] ^= 1 << (bit % 8);
            let mut altered = receipt.clone();
            altered.inclusion_proof[element] = hex::encode(hash);
            assert!(matches!(
                altered.verify(&log.key.verifier()),
                Err(ReceiptError::Proof(_))
            ));
        }
    }
    let mut shorter = receipt.clone();
    shorter.inclusion_proof.pop();
    assert!(matches!(
        shorter.verify(&log.key.verifier()),
        Err(ReceiptError::Proof(_))
    ));
    let mut uppercase = receipt.clone();
    uppercase.inclusion_proof[0] = uppercase.inclusion_proof[0].to_uppercase();
    if uppercase.inclusion_proof[0] != receipt.inclusion_proof[0] {
        assert!(matches!(
            uppercase.verify(&log.key.verifier()),
            Err(ReceiptError::BadProofHash { position: 0, .. })
        ));
    }
}

#[test]
fn receipt_with_any_checkpoint_byte_altered_is_refused() {
    let log = signed_log();
    let receipt = receipt_for(&log, 20);
    let note = receipt.checkpoint.as_bytes();
    let mut checked = 0;
    for at in 0..note.len() {
        let mut bytes = note.to_vec();
        bytes[at] ^= 0x01;
        let Ok(text) = String::from_utf8(bytes) else {
            continue; // not representable in a JSON string at all
        };
        let mut altered = receipt.clone();
        altered.checkpoint = text;
        assert!(
            altered.verify(&log.key.verifier()).is_err(),
            "checkpoint byte {at} altered was accepted"
        );
        checked += 1;
    }
    assert!(
        checked > note.len() - 4,
        "only {checked} alterations checked"
    );
}

#[test]
fn receipt_with_altered_seq_or_size_or_foreign_key_is_refused() {
    let log = signed_log();
    let receipt = receipt_for(&log, 3);
    let verifier = log.key.verifier();

    let mut altered = receipt.clone();
    altered.seq = 4;
    assert_eq!(
        altered.verify(&verifier),
        Err(ReceiptError::SeqMismatch {
            receipt: 4,
            record: 3
        })
    );
    let mut altered = receipt.clone();
    altered.tree_size = LOG_LEN + 1;
    assert_eq!(
        altered.verify(&verifier),
        Err(ReceiptError::TreeSizeMismatch {
            receipt: LOG_LEN + 1,
            checkpoint: LOG_LEN
        })
    );
    let other_log = signed_log();
    assert!(matches!(
        receipt.verify(&other_log.key.verifier()),
        Err(ReceiptError::Checkpoint(_))
    ));
    let mut altered = receipt.clone();
    altered.record.push('!');
    assert_eq!(
        altered.verify(&verifier),
        Err(ReceiptError::RecordNotBase64)
    );
    let mut altered = receipt.clone();
    let mut bytes = log.records[3].bytes().to_vec();
    bytes.push(0);
    altered.record = BASE64.encode(bytes);
    assert_eq!(
        altered.verify(&verifier),
        Err(ReceiptError::RecordTrailingBytes { extra: 1 })
    );
}

#[test]
fn receipt_json_with_unknown_fields_is_refused() {
    let log = signed_log();
    let mut value = serde_json::to_value(receipt_for(&log, 0)).unwrap();
    value["amount"] = serde_json::json!("1000000.00");
    assert!(serde_json::from_value::<Receipt>(value).is_err());
}
