//! What the file log's integration tests share.

use std::collections::BTreeMap;
use std::path::Path;

use mingzhang_ledger::store::contract::numbered_payload;
use mingzhang_ledger::store::{EventStore, FileLog};

/// Every file under `dir` (names relative to it) with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let name = path.strip_prefix(root).expect("under root");
                files.insert(
                    name.to_string_lossy().into_owned(),
                    std::fs::read(&path).expect("read"),
                );
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

pub fn append_one_by_one(log: &FileLog, seqs: std::ops::Range<u64>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for seq in seqs {
        runtime
            .block_on(log.append(seq, vec![numbered_payload(seq)]))
            .expect("append");
    }
}
