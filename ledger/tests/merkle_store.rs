//! The on-disk tree answers exactly what the from-leaves computation does,
//! for every size, across reopen, and after crashes that tear its files.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use mingzhang_ledger::merkle::{
    Hash, MemoryTree, MerkleError, MerkleStore, OpenReport, consistency_proof, inclusion_proof,
    leaf_hash, root_from_leaves,
};
use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};

const LEAVES: u64 = 300;

fn records(count: u64) -> Vec<StoredRecord> {
    let mut prev = GENESIS_PREV_HASH;
    (0..count)
        .map(|seq| {
            let record = StoredRecord::encode(seq, &prev, format!("donation {seq}").as_bytes());
            prev = record.hash();
            record
        })
        .collect()
}

fn leaf_hashes(records: &[StoredRecord]) -> Vec<Hash> {
    records.iter().map(|r| leaf_hash(r.bytes())).collect()
}

/// Appends in uneven batches so group boundaries fall inside and between calls.
fn feed(store: &mut MerkleStore, records: &[StoredRecord]) {
    let mut at = 0;
    let mut batch = 1;
    while at < records.len() {
        let end = (at + batch).min(records.len());
        store.append_leaves(&records[at..end]).unwrap();
        at = end;
        batch = batch % 37 + 5;
    }
}

fn assert_matches_reference(store: &MerkleStore, leaves: &[Hash]) {
    let reference = MemoryTree::from_leaf_hashes(leaves);
    assert_eq!(store.len(), leaves.len() as u64);
    for size in 0..=leaves.len() as u64 {
        assert_eq!(
            store.root(size).unwrap(),
            root_from_leaves(&leaves[..size as usize]),
            "root of size {size}"
        );
        for index in 0..size {
            assert_eq!(
                store.inclusion_proof(index, size).unwrap(),
                inclusion_proof(index, size, &reference).unwrap(),
                "inclusion proof of {index} in {size}"
            );
        }
    }
    let len = leaves.len() as u64;
    for new in (0..=len).step_by(7).chain([len]) {
        for old in 0..=new {
            assert_eq!(
                store.consistency_proof(old, new).unwrap(),
                consistency_proof(old, new, &reference).unwrap(),
                "consistency proof {old} -> {new}"
            );
        }
    }
}

#[test]
fn stored_tree_serves_the_same_roots_and_proofs_as_the_leaves_for_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let records = records(LEAVES);
    let (mut store, report) = MerkleStore::open(dir.path(), 0).unwrap();
    assert_eq!(
        report,
        OpenReport {
            leaves: 0,
            missing: 0,
            dropped: 0
        }
    );
    feed(&mut store, &records);
    assert_matches_reference(&store, &leaf_hashes(&records));
    for (index, hash) in leaf_hashes(&records).iter().enumerate() {
        assert_eq!(store.leaf_hash(index as u64).unwrap(), *hash);
    }
}

#[test]
fn synced_tree_reopens_whole_and_keeps_growing() {
    let dir = tempfile::tempdir().unwrap();
    let records = records(LEAVES);
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    feed(&mut store, &records[..200]);
    store.sync().unwrap();
    drop(store);

    let (mut store, report) = MerkleStore::open(dir.path(), 200).unwrap();
    assert_eq!(
        report,
        OpenReport {
            leaves: 200,
            missing: 0,
            dropped: 0
        }
    );
    assert_matches_reference(&store, &leaf_hashes(&records[..200]));
    feed(&mut store, &records[200..]);
    assert_matches_reference(&store, &leaf_hashes(&records));
}

#[test]
fn leaves_appended_after_the_last_sync_are_dropped_on_open_and_fed_again() {
    let dir = tempfile::tempdir().unwrap();
    let records = records(LEAVES);
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    feed(&mut store, &records[..130]);
    store.sync().unwrap();
    feed(&mut store, &records[130..250]);
    drop(store); // crash: no sync

    let (mut store, report) = MerkleStore::open(dir.path(), 250).unwrap();
    assert_eq!(
        report,
        OpenReport {
            leaves: 130,
            missing: 120,
            dropped: 120
        }
    );
    feed(&mut store, &records[130..]);
    assert_matches_reference(&store, &leaf_hashes(&records));
}

#[test]
fn torn_tail_is_truncated_on_open() {
    let records = records(LEAVES);
    for synced in [0u64, 1, 15, 16, 17, 255, 256, 257, 299] {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
        feed(&mut store, &records[..synced as usize]);
        store.sync().unwrap();
        feed(&mut store, &records[synced as usize..]);
        drop(store);

        // The unsynced tail reached the disk partly: half a hash here,
        // garbage there, a whole level missing.
        tear(&dir.path().join("level-00.hashes"), 13, b"\xff\xff\xff");
        tear(&dir.path().join("level-04.hashes"), 40, b"\x00");
        std::fs::remove_file(dir.path().join("level-08.hashes")).ok();
        let log_len = LEAVES;
        let (mut store, report) = MerkleStore::open(dir.path(), log_len).unwrap();
        assert!(
            report.leaves <= synced,
            "trusted {} > synced {synced}",
            report.leaves
        );
        assert_eq!(report.missing, log_len - report.leaves);
        feed(&mut store, &records[report.leaves as usize..]);
        assert_eq!(
            store.root(LEAVES).unwrap(),
            root_from_leaves(&leaf_hashes(&records)),
            "synced {synced}"
        );
        for size in [1, 16, 17, 100, 256, 257, LEAVES] {
            assert_eq!(
                store.inclusion_proof(size - 1, size).unwrap(),
                inclusion_proof(
                    size - 1,
                    size,
                    &MemoryTree::from_leaf_hashes(&leaf_hashes(&records))
                )
                .unwrap()
            );
        }
    }
}

/// Cuts `cut` bytes off the end of `path` and appends `garbage`.
fn tear(path: &Path, cut: u64, garbage: &[u8]) {
    let Ok(mut file) = OpenOptions::new().write(true).open(path) else {
        return;
    };
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(cut)).unwrap();
    file.write_all_at_end(garbage);
}

trait WriteAtEnd {
    fn write_all_at_end(&mut self, bytes: &[u8]);
}

impl WriteAtEnd for std::fs::File {
    fn write_all_at_end(&mut self, bytes: &[u8]) {
        use std::io::Seek;
        self.seek(std::io::SeekFrom::End(0)).unwrap();
        self.write_all(bytes).unwrap();
    }
}

#[test]
fn hashes_beyond_a_shorter_log_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let records = records(LEAVES);
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    feed(&mut store, &records);
    store.sync().unwrap();
    drop(store);

    let (store, report) = MerkleStore::open(dir.path(), 100).unwrap();
    assert_eq!(
        report,
        OpenReport {
            leaves: 100,
            missing: 0,
            dropped: 200
        }
    );
    assert_matches_reference(&store, &leaf_hashes(&records[..100]));
    drop(store);
    // The lowered mark is durable: a longer log later does not resurrect them.
    let (_, report) = MerkleStore::open(dir.path(), LEAVES).unwrap();
    assert_eq!(report.leaves, 100);
    assert_eq!(report.missing, 200);
}

#[test]
fn damaged_meta_means_a_full_rebuild_not_trusting_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let records = records(50);
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    feed(&mut store, &records);
    store.sync().unwrap();
    drop(store);
    let meta = dir.path().join("tree.meta");
    let mut bytes = std::fs::read(&meta).unwrap();
    bytes[9] ^= 0x40;
    std::fs::write(&meta, bytes).unwrap();

    let (mut store, report) = MerkleStore::open(dir.path(), 50).unwrap();
    assert_eq!(report.leaves, 0);
    assert_eq!(report.missing, 50);
    feed(&mut store, &records);
    assert_matches_reference(&store, &leaf_hashes(&records));
}

#[test]
fn records_out_of_order_are_refused_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let records = records(5);
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    store.append_leaves(&records[..2]).unwrap();
    let error = store.append_leaves(&[records[3].clone()]).unwrap_err();
    assert!(matches!(
        error,
        MerkleError::RecordOutOfOrder {
            expected: 2,
            found: 3
        }
    ));
    assert_eq!(store.len(), 2);
    assert!(matches!(
        store.inclusion_proof(0, 3),
        Err(MerkleError::SizeBeyondStore { size: 3, stored: 2 })
    ));
}

#[test]
fn storage_is_about_34_bytes_per_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    let hashes: Vec<Hash> = (0..4096u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    store.append_leaf_hashes(&hashes).unwrap();
    // 4096 leaves + 256 level-4 + 16 level-8 + 1 level-12 hashes.
    assert_eq!(store.storage_bytes(), (4096 + 256 + 16 + 1) * 32);
}

/// Just enough of a log for `catch_up`: the records, readable by range.
struct RecordsLog {
    records: Vec<StoredRecord>,
    durable_len: tokio::sync::watch::Sender<u64>,
}

impl mingzhang_ledger::store::EventStore for RecordsLog {
    fn append(&self, _: u64, _: Vec<Vec<u8>>) -> mingzhang_ledger::store::AppendFuture {
        Box::pin(async { Err(mingzhang_ledger::store::StoreError::Closed) })
    }

    fn head(&self) -> mingzhang_ledger::store::Head {
        mingzhang_ledger::store::Head {
            len: self.records.len() as u64,
            last_hash: self.records.last().map_or(GENESIS_PREV_HASH, |r| r.hash()),
        }
    }

    fn read(
        &self,
        from_seq: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, mingzhang_ledger::store::StoreError> {
        let from = (from_seq as usize).min(self.records.len());
        let to = (from + max_records).min(self.records.len());
        Ok(self.records[from..to].to_vec())
    }

    fn watch_durable_len(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable_len.subscribe()
    }
}

#[test]
fn reopened_store_catches_up_from_the_log() {
    use mingzhang_ledger::store::EventStore;
    let count = 5000u64;
    let log = RecordsLog {
        records: records(count),
        durable_len: tokio::sync::watch::channel(count).0,
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    assert_eq!(store.catch_up(&log, 1000).unwrap(), 1000);
    store.sync().unwrap();
    drop(store);

    let (mut store, report) = MerkleStore::open(dir.path(), log.head().len).unwrap();
    assert_eq!(report.missing, count - 1000);
    assert_eq!(store.catch_up(&log, log.head().len).unwrap(), count - 1000);
    assert_eq!(
        store.root(count).unwrap(),
        root_from_leaves(&leaf_hashes(&log.records))
    );
    assert!(matches!(
        store.catch_up(&log, count + 1),
        Err(MerkleError::LogEnded {
            seq: 5000,
            expected_len: 5001
        })
    ));
}

#[test]
fn store_can_be_shared_between_the_writer_and_proof_readers() {
    fn shareable<T: Send + Sync>() {}
    shareable::<MerkleStore>();
    let dir = tempfile::tempdir().unwrap();
    let records = records(64);
    let (mut store, _) = MerkleStore::open(dir.path(), 0).unwrap();
    store.append_leaves(&records).unwrap();
    let store = std::sync::Arc::new(store);
    let reference = MemoryTree::from_leaf_hashes(&leaf_hashes(&records));
    std::thread::scope(|scope| {
        for thread in 0..2u64 {
            let store = &store;
            let reference = &reference;
            scope.spawn(move || {
                for index in (thread..64).step_by(2) {
                    assert_eq!(
                        store.inclusion_proof(index, 64).unwrap(),
                        inclusion_proof(index, 64, reference).unwrap()
                    );
                }
            });
        }
    });
}
