//! The minimised fuzz corpora (`fuzz/corpus/<target>/`) as ordinary tests on
//! stable: every input goes through the same function its fuzz target calls
//! (`mingzhang_ledger::fuzz_targets`), so a crash once found stays fixed.

use std::path::PathBuf;

use mingzhang_ledger::fuzz_targets;
use mingzhang_ledger::receipt::Receipt;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    inputs
}

fn run_corpus(target: &str, body: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| body(&bytes));
        assert!(outcome.is_ok(), "{} panics", path.display());
    }
}

#[test]
fn record_decode_corpus() {
    run_corpus("record_decode", fuzz_targets::record_decode);
}

#[test]
fn log_dir_open_corpus() {
    run_corpus("log_dir_open", fuzz_targets::log_dir_open);
}

#[test]
fn checkpoint_note_corpus() {
    run_corpus("checkpoint_note", fuzz_targets::checkpoint_note);
}

#[test]
fn receipt_verify_corpus() {
    run_corpus("receipt_verify", fuzz_targets::receipt_verify);
}

#[test]
fn proof_verify_corpus() {
    run_corpus("proof_verify", fuzz_targets::proof_verify);
}

/// The fuzzer reaches the inclusion proof only from receipts whose signature
/// holds; the corpus must keep some.
#[test]
fn receipt_corpus_holds_receipts_that_verify() {
    let verifier = fuzz_targets::fuzz_signer().verifier();
    let verifying = corpus("receipt_verify")
        .iter()
        .filter_map(|(_, bytes)| serde_json::from_slice::<Receipt>(bytes).ok())
        .filter(|receipt| receipt.verify(&verifier).is_ok())
        .count();
    assert!(verifying > 0, "no receipt in the corpus verifies");
}
