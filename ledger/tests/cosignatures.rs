//! Witness cosignatures (C2SP tlog-cosignature, Ed25519 cosignature/v1):
//! the bytes the spec names, checked with the spec's own recipe rather than
//! our code, and any alteration is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Verifier;
use mingzhang_ledger::checkpoint::{
    Checkpoint, CheckpointError, CosignatureKey, CosignerKey, SignerKey, add_signature_lines,
};
use sha2::{Digest, Sha256};

fn checkpoint() -> Checkpoint {
    Checkpoint::new(
        "mingzhang.example/kaixuan-test",
        8,
        [7u8; 32],
        vec!["balances-sha256 00".into()],
    )
    .unwrap()
}

fn log_signed_note() -> String {
    checkpoint().sign(&SignerKey::from_seed("kaixuan-log", [1u8; 32]).unwrap())
}

fn witness() -> CosignerKey {
    CosignerKey::from_seed("auditor.example/w1", [2u8; 32]).unwrap()
}

#[test]
fn cosignature_is_key_id_timestamp_and_signature_over_the_spec_message() {
    let witness = witness();
    let line = witness.cosign(&checkpoint(), 1_679_315_147);
    let encoded = line
        .strip_prefix("\u{2014} auditor.example/w1 ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .expect("a note signature line");
    let blob = BASE64.decode(encoded).unwrap();
    assert_eq!(blob.len(), 4 + 8 + 64);

    let public_key = ed25519_dalek::SigningKey::from_bytes(&[2u8; 32]).verifying_key();
    let mut id_input = b"auditor.example/w1\n\x04".to_vec();
    id_input.extend_from_slice(public_key.as_bytes());
    assert_eq!(
        blob[..4],
        Sha256::digest(&id_input)[..4],
        "key id uses 0x04"
    );
    assert_eq!(blob[4..12], 1_679_315_147u64.to_be_bytes());
    let message = format!("cosignature/v1\ntime 1679315147\n{}", checkpoint().body());
    let signature = ed25519_dalek::Signature::from_slice(&blob[12..]).unwrap();
    public_key
        .verify(message.as_bytes(), &signature)
        .expect("signs the spec's message");
}

#[test]
fn cosigned_note_verifies_for_the_witness_and_still_for_the_log() {
    let witness = witness();
    let note = add_signature_lines(
        &log_signed_note(),
        &[witness.cosign(&checkpoint(), 1_700_000_000)],
    )
    .unwrap();
    let key = CosignatureKey::from_text(&witness.verifier().to_text()).unwrap();
    assert_eq!(key.verify_cosignature(&note), Ok(1_700_000_000));
    let log_key = SignerKey::from_seed("kaixuan-log", [1u8; 32])
        .unwrap()
        .verifier();
    assert_eq!(Checkpoint::open_signed(&note, &log_key), Ok(checkpoint()));
    let again = add_signature_lines(&note, &[witness.cosign(&checkpoint(), 1_700_000_000)]);
    assert_eq!(
        again.unwrap(),
        note,
        "a line already present is not added twice"
    );
}

#[test]
fn note_without_the_witness_line_names_the_missing_key() {
    let key = witness().verifier();
    assert_eq!(
        key.verify_cosignature(&log_signed_note()),
        Err(CheckpointError::NoSignatureByKey { key: key.label() })
    );
}

#[test]
fn every_flipped_bit_of_a_cosignature_or_body_is_refused() {
    let witness = witness();
    let line = witness.cosign(&checkpoint(), 1_700_000_000);
    let note = add_signature_lines(&log_signed_note(), std::slice::from_ref(&line)).unwrap();
    let key = witness.verifier();
    let encoded = line.trim_end().rsplit(' ').next().unwrap();
    let blob = BASE64.decode(encoded).unwrap();
    for bit in 32..blob.len() * 8 {
        let mut altered = blob.clone();
        altered[bit / 8] ^= 1 << (bit % 8);
        let altered_note = note.replace(encoded, &BASE64.encode(&altered));
        assert_eq!(
            key.verify_cosignature(&altered_note),
            Err(CheckpointError::InvalidSignature { key: key.label() }),
            "bit {bit} flipped"
        );
    }
    let other_body = note.replacen("\n8\n", "\n9\n", 1);
    assert!(key.verify_cosignature(&other_body).is_err());
}

#[test]
fn a_log_key_is_not_a_witness_key() {
    let log_verifier = SignerKey::from_seed("w", [2u8; 32])
        .unwrap()
        .verifier()
        .to_text();
    assert!(matches!(
        CosignatureKey::from_text(&log_verifier),
        Err(CheckpointError::BadKey { .. })
    ));
    let cosigner = witness();
    assert_eq!(
        CosignerKey::from_text(&cosigner.to_text())
            .unwrap()
            .to_text(),
        cosigner.to_text()
    );
}
