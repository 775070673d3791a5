//! Signed checkpoints: byte-compatible with Go's `golang.org/x/mod/sumdb/note`
//! (its published test key and signature), and any alteration is refused.

use mingzhang_ledger::checkpoint::{
    Checkpoint, CheckpointError, SignerKey, VerifierKey, open_note, sign_note,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// From golang.org/x/mod/sumdb/note/note_test.go.
const GO_SIGNER: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_ENOCH_VERIFIER: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const GO_ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/checkpoint-vectors.json"
);

#[test]
fn go_note_package_test_key_signs_byte_for_byte_the_same_note() {
    let signer = SignerKey::from_text(GO_SIGNER).unwrap();
    assert_eq!(signer.to_text(), GO_SIGNER);
    assert_eq!(signer.verifier().to_text(), GO_VERIFIER);
    assert_eq!(signer.key_id(), 0xc74f20a3);
    let note = sign_note(GO_TEXT, &signer).unwrap();
    assert_eq!(note, format!("{GO_TEXT}\n{GO_PETER_SIG}"));
}

#[test]
fn go_signed_note_opens_with_its_key_alongside_other_signatures() {
    let peter = VerifierKey::from_text(GO_VERIFIER).unwrap();
    let enoch = VerifierKey::from_text(GO_ENOCH_VERIFIER).unwrap();
    let note = format!("{GO_TEXT}\n{GO_PETER_SIG}{GO_ENOCH_SIG}");
    assert_eq!(open_note(&note, &peter).unwrap(), GO_TEXT);
    assert_eq!(open_note(&note, &enoch).unwrap(), GO_TEXT);
    let only_peter = format!("{GO_TEXT}\n{GO_PETER_SIG}");
    assert_eq!(
        open_note(&only_peter, &enoch),
        Err(CheckpointError::NoSignatureByKey {
            key: "EnochRoot+af0cfe78".into()
        })
    );
}

#[test]
fn go_malformed_notes_are_refused() {
    let peter = VerifierKey::from_text(GO_VERIFIER).unwrap();
    let bad = [
        GO_TEXT.to_owned(),
        format!("{GO_TEXT}\n"),
        format!("{GO_TEXT}\n{}", &GO_PETER_SIG[..GO_PETER_SIG.len() - 1]),
        format!("\x01{GO_TEXT}\n{GO_PETER_SIG}"),
        format!(
            "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{GO_TEXT}\n{GO_PETER_SIG}Unexpected line.\n"),
        format!("{GO_TEXT}\n{}", GO_PETER_SIG.repeat(101)),
    ];
    for note in bad {
        assert!(
            matches!(
                open_note(&note, &peter),
                Err(CheckpointError::MalformedNote { .. })
            ),
            "accepted {note:?}"
        );
    }
    // Go's "invalid signature" case: four characters spliced into the base64.
    let spliced = format!("{}ABCD{}", &GO_PETER_SIG[..60], &GO_PETER_SIG[60..]);
    assert_eq!(
        open_note(&format!("{GO_TEXT}\n{spliced}"), &peter),
        Err(CheckpointError::InvalidSignature {
            key: "PeterNeumann+c74f20a3".into()
        })
    );
}

#[test]
fn note_text_may_hold_blank_lines_the_last_one_ends_it() {
    // As in the C2SP signed-note example poem.
    let signer = SignerKey::from_text(GO_SIGNER).unwrap();
    let text = "Ognuno sta solo sul cuor della terra\n\ned \u{e8} subito sera.\n";
    let note = sign_note(text, &signer).unwrap();
    assert_eq!(open_note(&note, &signer.verifier()).unwrap(), text);
    assert!(matches!(
        sign_note("no final newline", &signer),
        Err(CheckpointError::MalformedNote { .. })
    ));
    assert!(matches!(
        sign_note("tab\there\n", &signer),
        Err(CheckpointError::MalformedNote { .. })
    ));
}

#[test]
fn mangled_key_texts_are_refused() {
    assert!(VerifierKey::from_text(GO_VERIFIER).is_ok());
    let bytes = GO_VERIFIER.as_bytes();
    for i in 0..bytes.len() {
        let mut mangled = bytes.to_vec();
        mangled[i] = mangled[i].wrapping_add(1);
        if let Ok(text) = std::str::from_utf8(&mangled) {
            assert!(VerifierKey::from_text(text).is_err(), "accepted {text}");
        }
        assert!(VerifierKey::from_text(&GO_VERIFIER[..i]).is_err());
    }
    // Go's wrong-length and unknown-algorithm keys, with adjusted key ids.
    assert!(
        VerifierKey::from_text(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err()
    );
    assert!(
        VerifierKey::from_text(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err()
    );
    for i in 0..GO_SIGNER.len() {
        let mut mangled = GO_SIGNER.as_bytes().to_vec();
        mangled[i] = mangled[i].wrapping_add(1);
        if let Ok(text) = std::str::from_utf8(&mangled) {
            assert!(SignerKey::from_text(text).is_err(), "accepted {text}");
        }
    }
}

fn kaixuan_checkpoint() -> Checkpoint {
    Checkpoint::new(
        "mingzhang.example/kaixuan",
        1_600_000,
        Sha256::digest(b"root").into(),
        vec!["balances-sha256 YmFsYW5jZXMgYXQgdGhpcyBzaXplIGJvdW5kIGhlcmU=".into()],
    )
    .unwrap()
}

#[test]
fn signed_checkpoint_opens_to_itself() {
    let key = SignerKey::generate("mingzhang-kaixuan").unwrap();
    let checkpoint = kaixuan_checkpoint();
    let note = checkpoint.sign(&key);
    assert_eq!(
        Checkpoint::open_signed(&note, &key.verifier()).unwrap(),
        checkpoint
    );
    let round_trip = SignerKey::from_text(&key.to_text()).unwrap();
    assert_eq!(round_trip.verifier(), key.verifier());
    assert_eq!(
        VerifierKey::from_text(&key.verifier().to_text()).unwrap(),
        key.verifier()
    );
}

#[test]
fn checkpoint_signed_by_another_key_is_refused() {
    let ours = SignerKey::generate("mingzhang-kaixuan").unwrap();
    let impostor = SignerKey::generate("mingzhang-kaixuan").unwrap();
    let note = kaixuan_checkpoint().sign(&impostor);
    assert!(matches!(
        Checkpoint::open_signed(&note, &ours.verifier()),
        Err(CheckpointError::NoSignatureByKey { .. })
    ));
    // The impostor relabels its signature with our key id: the signature
    // itself then fails.
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let split = note.rfind(' ').unwrap();
    let mut blob = engine.decode(note[split + 1..].trim_end()).unwrap();
    blob[..4].copy_from_slice(&ours.key_id().to_be_bytes());
    let forged = format!("{} {}\n", &note[..split], engine.encode(blob));
    assert_eq!(
        Checkpoint::open_signed(&forged, &ours.verifier()),
        Err(CheckpointError::InvalidSignature {
            key: format!("mingzhang-kaixuan+{:08x}", ours.key_id())
        })
    );
}

#[test]
fn altered_size_root_origin_or_extension_is_refused() {
    let key = SignerKey::generate("mingzhang-kaixuan").unwrap();
    let checkpoint = kaixuan_checkpoint();
    let note = checkpoint.sign(&key);
    let verifier = key.verifier();
    let body_len = checkpoint.body().len();
    let root_line = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        checkpoint.root_hash(),
    );
    let other_root = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Sha256::digest(b"another root"),
    );
    let alterations = [
        note.replacen(&root_line, &other_root, 1),
        note.replacen("1600000", "1600001", 1),
        note.replacen("1600000", "160000", 1),
        note.replacen("mingzhang.example/kaixuan", "mingzhang.example/kaixuam", 1),
        note.replacen("balances-sha256 Y", "balances-sha256 Z", 1),
        note.replacen("\n\n", "\nextra-line\n\n", 1),
        note.replacen(
            "balances-sha256 YmFsYW5jZXMgYXQgdGhpcyBzaXplIGJvdW5kIGhlcmU=\n",
            "",
            1,
        ),
    ];
    for altered in alterations {
        assert_ne!(altered, note);
        assert!(
            matches!(
                Checkpoint::open_signed(&altered, &verifier),
                Err(CheckpointError::InvalidSignature { .. })
            ),
            "accepted {altered:?}"
        );
    }
    // Every single-byte change of the body (ASCII, so it stays UTF-8).
    for at in 0..body_len {
        let mut bytes = note.clone().into_bytes();
        bytes[at] ^= 0x01;
        let altered = String::from_utf8(bytes).unwrap();
        assert!(
            Checkpoint::open_signed(&altered, &verifier).is_err(),
            "byte {at}"
        );
    }
}

#[test]
fn malformed_checkpoint_bodies_are_refused_naming_the_line() {
    let root = "cm9vdCBoYXNoIG9mIHRoaXJ0eS10d28gYnl0ZXMgISE=";
    for body in [
        format!("origin\n012\n{root}\n"),
        format!("origin\n-1\n{root}\n"),
        format!("origin\n18446744073709551616\n{root}\n"),
        "origin\n12\nnot base64!\n".to_owned(),
        "origin\n12\nc2hvcnQ=\n".to_owned(),
        "origin\n12\n".to_owned(),
        format!("\n12\n{root}\n"),
        format!("origin\n12\n{root}"),
    ] {
        assert!(Checkpoint::parse_body(&body).is_err(), "accepted {body:?}");
    }
    assert!(Checkpoint::parse_body(&format!("origin\n12\n{root}\n")).is_ok());
    assert!(matches!(
        Checkpoint::new("origin", 1, [0; 32], vec![String::new()]),
        Err(CheckpointError::BadExtension { .. })
    ));
    assert!(matches!(
        Checkpoint::new("two\nlines", 1, [0; 32], vec![]),
        Err(CheckpointError::BadOrigin { .. })
    ));
}

/// The fixed test key of `testdata/checkpoint-vectors.json`. Public: never
/// use it for a real log.
fn test_signer() -> SignerKey {
    let seed: [u8; 32] =
        Sha256::digest(b"mingzhang checkpoint test key (public, never use)").into();
    SignerKey::from_seed("mingzhang.example/kaixuan-test", seed).unwrap()
}

fn generate_vectors() -> Value {
    let signer = test_signer();
    let checkpoint = Checkpoint::new(
        "mingzhang.example/kaixuan-test",
        8,
        hex::decode("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
            .unwrap()
            .try_into()
            .unwrap(),
        vec![format!(
            "balances-sha256 {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                Sha256::digest(b"example balances")
            )
        )],
    )
    .unwrap();
    json!({
        "description": "A fixed, PUBLIC test key and a checkpoint it signed (C2SP tlog-checkpoint in a C2SP signed note, Ed25519). The root is the RFC 6962 reference tree of 8 leaves.",
        "signer_key": signer.to_text(),
        "verifier_key": signer.verifier().to_text(),
        "origin": checkpoint.origin(),
        "tree_size": checkpoint.size(),
        "root_hash_hex": hex::encode(checkpoint.root_hash()),
        "extensions": checkpoint.extensions(),
        "note": checkpoint.sign(&signer),
        "receipt_example": example_receipt(&signer),
    })
}

/// A receipt for record 1 of a three-record log, signed with the test key;
/// `docs/proofs.md` walks through checking it by hand.
fn example_receipt(signer: &SignerKey) -> Value {
    use mingzhang_ledger::merkle::{MemoryTree, inclusion_proof, tree_root};
    use mingzhang_ledger::receipt::Receipt;
    use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};
    let mut prev = GENESIS_PREV_HASH;
    let mut tree = MemoryTree::new();
    let records: Vec<StoredRecord> = (0..3u64)
        .map(|seq| {
            let payload = format!("example payload {seq} (a real log holds an EventEnvelope)");
            let record = StoredRecord::encode(seq, &prev, payload.as_bytes());
            prev = record.hash();
            tree.append_leaf(record.bytes());
            record
        })
        .collect();
    let checkpoint = Checkpoint::new(
        "mingzhang.example/kaixuan-test",
        3,
        tree_root(3, &tree).unwrap(),
        vec![],
    )
    .unwrap();
    let receipt = Receipt::build(
        &records[1],
        &inclusion_proof(1, 3, &tree).unwrap(),
        &checkpoint.sign(signer),
    )
    .unwrap();
    serde_json::to_value(receipt).unwrap()
}

#[test]
fn checkpoint_vectors_file_matches_and_opens() {
    let generated = generate_vectors();
    if std::env::var_os("MINGZHANG_WRITE_TESTDATA").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(VECTORS, text).unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap();
    assert_eq!(
        stored, generated,
        "checkpoint-vectors.json no longer matches the code"
    );
    let verifier = VerifierKey::from_text(stored["verifier_key"].as_str().unwrap()).unwrap();
    let opened = Checkpoint::open_signed(stored["note"].as_str().unwrap(), &verifier).unwrap();
    assert_eq!(opened.size(), 8);
    assert_eq!(
        hex::encode(opened.root_hash()),
        stored["root_hash_hex"].as_str().unwrap()
    );
    assert_eq!(opened.origin(), stored["origin"].as_str().unwrap());
    let receipt: mingzhang_ledger::receipt::Receipt =
        serde_json::from_value(stored["receipt_example"].clone()).unwrap();
    let verified = receipt.verify(&verifier).unwrap();
    assert_eq!(verified.record.seq(), 1);
}
