//! The bodies of the fuzz targets in `fuzz/` that read the ledger's own
//! formats, as plain functions: cargo-fuzz calls them on nightly, and
//! `tests/fuzz_corpus.rs` calls them on every file of the minimised corpora
//! on stable, so CI exercises exactly the code that was fuzzed.
//!
//! Each takes untrusted bytes and must not panic: bad input is a typed
//! error. Where the input is good, each also checks a round trip, so a
//! decoder that accepts what its encoder would not write is a finding too.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::checkpoint::{Checkpoint, SignerKey, VerifierKey, open_note};
use crate::merkle::{self, Hash, MemoryTree};
use crate::receipt::Receipt;
use crate::record::{RecordRef, StoredRecord};
use crate::replay::Replayer;
use crate::store::file::segment_file_name;
use crate::store::{EventStore, FileLog, FileLogOptions, ReadOnlyLog, verify_log};

/// The key the fuzz seeds are signed with: fixed, so a seed with a valid
/// signature stays valid and the fuzzer can mutate past the signature check.
pub fn fuzz_signer() -> SignerKey {
    SignerKey::from_seed("fuzz.mingzhang.example", [7u8; 32]).expect("a valid key name")
}

/// One record's bytes: the record check, then the payload as the replay
/// reads it (a protobuf envelope re-decided by the rules).
pub fn record_decode(data: &[u8]) {
    let framed_len = StoredRecord::framed_len(data);
    let Ok(record) = StoredRecord::decode(data) else {
        return;
    };
    assert_eq!(framed_len, Some(record.len()), "framed_len disagrees");
    let view = RecordRef::check(data).expect("decode accepted these bytes");
    assert_eq!(view.bytes(), record.bytes());
    let reencoded = StoredRecord::encode(record.seq(), &record.prev_hash(), record.payload());
    assert_eq!(
        reencoded, record,
        "a decoded record re-encodes to other bytes"
    );
    let _ = Replayer::default().check_payload(0, record.payload());
}

static LOG_DIRS: AtomicU64 = AtomicU64::new(0);

/// A log directory whose segment files are `data`: the first byte says
/// whether it is one segment or two (split where the next two bytes say).
/// Opened read-only, verified, and opened for writing; a log that opens for
/// writing takes one more record and reopens with it.
pub fn log_dir_open(data: &[u8]) {
    let dir = FuzzDir::new();
    for (index, segment) in segments_of(data).into_iter().enumerate() {
        // A segment's name repeats the first_seq in its header (bytes
        // 12..20); a header too short to say falls back to its position.
        let first_seq = segment
            .get(12..20)
            .map(|bytes| u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
            .unwrap_or(index as u64);
        std::fs::write(dir.path().join(segment_file_name(first_seq)), segment)
            .expect("the fuzz directory is writable");
    }
    check_log_dir(dir.path());
}

fn segments_of(data: &[u8]) -> Vec<&[u8]> {
    match data {
        [flags, high, low, rest @ ..] if flags & 1 == 1 => {
            let split = usize::from(u16::from_be_bytes([*high, *low])).min(rest.len());
            vec![&rest[..split], &rest[split..]]
        }
        [_, rest @ ..] => vec![rest],
        [] => vec![data],
    }
}

fn check_log_dir(dir: &Path) {
    let read_only = ReadOnlyLog::open(dir).ok().map(|(log, _)| {
        let head = log.head();
        let records = log
            .read(0, usize::try_from(head.len).expect("fits"))
            .expect("a log that opened reads back its records");
        assert_eq!(records.len() as u64, head.len);
        let mut prev_hash = crate::record::GENESIS_PREV_HASH;
        for (seq, record) in records.iter().enumerate() {
            assert_eq!(record.seq(), seq as u64, "a record out of place was served");
            assert_eq!(record.prev_hash(), prev_hash, "a broken link was served");
            prev_hash = record.hash();
        }
        head
    });
    if let (Ok(report), Some(head)) = (verify_log(dir, |_| {}), read_only) {
        assert_eq!(
            report.records, head.len,
            "verify and open count differently"
        );
        assert_eq!(report.last_hash, head.last_hash);
    }
    let options = FileLogOptions {
        reserve_bytes: 0,
        ..FileLogOptions::default()
    };
    let Ok((log, _)) = FileLog::open(dir, options) else {
        return;
    };
    let head = log.head();
    if let Some(read_only) = read_only {
        assert_eq!(head, read_only, "open for writing and read-only disagree");
    }
    let appended = futures::executor::block_on(log.append(head.len, vec![b"fuzz".to_vec()]));
    assert!(
        appended.is_ok(),
        "a log that opened refused an append: {appended:?}"
    );
    log.close().expect("close after a good append");
    let (reopened, _) = ReadOnlyLog::open(dir).expect("the log just written reopens");
    assert_eq!(
        reopened.head().len,
        head.len + 1,
        "the appended record is lost"
    );
}

/// A fresh directory under the system's temp dir, removed on drop.
struct FuzzDir(PathBuf);

impl FuzzDir {
    fn new() -> FuzzDir {
        let n = LOG_DIRS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("mingzhang-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir is writable");
        FuzzDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for FuzzDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A checkpoint note as text: parsed as a bare body, opened as a signed note
/// by the fuzz key, and the key texts parsed. A body that parses prints back
/// to itself, and signs and opens to the same checkpoint.
pub fn checkpoint_note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signer = fuzz_signer();
    let verifier = signer.verifier();
    if let Ok(checkpoint) = Checkpoint::parse_body(text) {
        assert_eq!(checkpoint.body(), text, "a parsed body prints differently");
        let note = checkpoint.sign(&signer);
        assert_eq!(Checkpoint::open_signed(&note, &verifier), Ok(checkpoint));
    }
    if let Ok(body) = open_note(text, &verifier) {
        assert!(
            text.starts_with(&body),
            "an opened note's body is its start"
        );
    }
    let _ = Checkpoint::open_signed(text, &verifier);
    if let Ok(key) = VerifierKey::from_text(text) {
        assert_eq!(
            key.to_text(),
            text,
            "a parsed verifier key prints differently"
        );
    }
    if let Ok(key) = SignerKey::from_text(text) {
        assert_eq!(
            key.to_text(),
            text,
            "a parsed signer key prints differently"
        );
    }
}

/// A receipt as JSON, verified against the fuzz key as `mingzhang verify
/// receipt` does. One that verifies is a record the checkpoint includes.
pub fn receipt_verify(data: &[u8]) {
    let Ok(receipt) = serde_json::from_slice::<Receipt>(data) else {
        return;
    };
    let Ok(verified) = receipt.verify(&fuzz_signer().verifier()) else {
        return;
    };
    assert_eq!(verified.record.seq(), receipt.seq);
    assert!(receipt.seq < verified.checkpoint.size());
    assert_eq!(verified.checkpoint.size(), receipt.tree_size);
}

/// Inclusion and consistency proofs. The input builds a tree of up to 64
/// leaves and picks an index and sizes; the true proofs must verify, and the
/// fuzzed proof hashes (the rest of the input) must verify only if they are
/// the true ones.
pub fn proof_verify(data: &[u8]) {
    let [leaves, index, old, new, flips, rest @ ..] = data else {
        return;
    };
    let leaf_count = u64::from(*leaves % 65);
    let mut tree = MemoryTree::new();
    for leaf in 0..leaf_count {
        tree.append_leaf(&leaf.to_le_bytes());
    }
    let index = u64::from(*index);
    let old = u64::from(*old % 65);
    let new = u64::from(*new % 65);
    let fuzzed: Vec<Hash> = rest
        .chunks_exact(32)
        .map(|chunk| chunk.try_into().expect("32 bytes"))
        .collect();

    let size = leaf_count;
    let root = merkle::tree_root(size, &tree).expect("size is the tree's");
    match merkle::inclusion_proof(index, size, &tree) {
        Ok(proof) => {
            let leaf = tree.leaf_hashes()[usize::try_from(index).expect("index < size")];
            assert_eq!(
                merkle::verify_inclusion(&leaf, index, size, &proof, &root),
                Ok(())
            );
            let forged = with_flips(&proof, *flips, &fuzzed);
            if forged != proof {
                assert!(
                    merkle::verify_inclusion(&leaf, index, size, &forged, &root).is_err(),
                    "a forged inclusion proof verified"
                );
            }
        }
        Err(_) => assert!(index >= size),
    }
    let _ = merkle::verify_inclusion(&[*leaves; 32], index, size, &fuzzed, &root);

    if old <= new && new <= leaf_count {
        let old_root = merkle::tree_root(old, &tree).expect("old <= size");
        let new_root = merkle::tree_root(new, &tree).expect("new <= size");
        let proof = merkle::consistency_proof(old, new, &tree).expect("old <= new <= size");
        assert_eq!(
            merkle::verify_consistency(old, new, &old_root, &new_root, &proof),
            Ok(())
        );
        let forged = with_flips(&proof, *flips, &fuzzed);
        if forged != proof {
            assert!(
                merkle::verify_consistency(old, new, &old_root, &new_root, &forged).is_err(),
                "a forged consistency proof verified"
            );
        }
    }
    let fuzzed_root = fuzzed.first().copied().unwrap_or_default();
    let _ = merkle::verify_consistency(old, new, &fuzzed_root, &root, &fuzzed);
}

/// `proof` with the hash at `flips % len` replaced by the first fuzzed hash,
/// or with the fuzzed hashes appended when `flips` is odd and there are any.
fn with_flips(proof: &[Hash], flips: u8, fuzzed: &[Hash]) -> Vec<Hash> {
    let mut forged = proof.to_vec();
    match (fuzzed.first(), forged.len()) {
        (Some(hash), len) if flips & 1 == 0 && len > 0 => {
            forged[usize::from(flips) % len] = *hash;
        }
        _ => forged.extend_from_slice(fuzzed),
    }
    forged
}
