//! The minimised `command_body` fuzz corpus (`fuzz/corpus/command_body/`) as
//! an ordinary test on stable, through the function the fuzz target calls.

use std::path::PathBuf;

use mingzhang_api::fuzz_targets::{command_body, command_event};

#[test]
fn command_body_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/command_body");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| command_body(&bytes));
        assert!(outcome.is_ok(), "{} panics", path.display());
        inputs += 1;
    }
    assert!(inputs > 0, "{} holds no inputs", dir.display());
}

/// The fuzzer mutates from the seeds; each must be a body the server accepts
/// as it stands, or the runs start from refusals only.
#[test]
fn every_command_seed_translates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/command_body");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let outcome = command_event(&bytes).expect("a seed is not empty");
        assert!(outcome.is_ok(), "{}: {:?}", path.display(), outcome.err());
        seeds += 1;
    }
    assert!(seeds > 0, "{} holds no seeds", dir.display());
}
