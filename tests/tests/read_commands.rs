//! Commands that only read (`balances`, `verify`, `export`) leave the data
//! directory byte-identical: no reserved zeros, no truncation, no new file.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use mingzhang_tests::{binary, run_cli};

fn run(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("mingzhang runs")
}

/// Every file and directory under `dir`, by path relative to it, with the
/// bytes of each file (`None` for a directory).
fn snapshot(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, entries: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let name = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                entries.insert(name, None);
                walk(root, &path, entries);
            } else {
                entries.insert(name, Some(std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut entries = BTreeMap::new();
    walk(dir, dir, &mut entries);
    entries
}

fn assert_unchanged(data_dir: &Path, before: &BTreeMap<String, Option<Vec<u8>>>, command: &str) {
    let after = snapshot(data_dir);
    let names = |entries: &BTreeMap<String, Option<Vec<u8>>>| {
        entries.keys().cloned().collect::<Vec<String>>()
    };
    assert_eq!(
        names(&after),
        names(before),
        "`{command}` changed the names"
    );
    for (name, bytes) in before {
        assert!(
            &after[name] == bytes,
            "`{command}` changed the bytes of {name}"
        );
    }
}

#[test]
fn balances_verify_and_export_leave_the_data_directory_byte_identical() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let data = data_dir.path();
    run_cli(data, &["init"]);
    run_cli(data, &["demo"]);
    run_cli(data, &["keygen"]);
    let before = snapshot(data);
    assert!(
        before.keys().any(|name| name.starts_with("log/segment-")),
        "the demo wrote a log"
    );

    let balances = run_cli(data, &["balances"]);
    assert!(balances.contains("Trial balance"), "{balances}");
    assert_unchanged(data, &before, "balances");

    let verified = run_cli(data, &["verify"]);
    assert!(verified.contains("OK:"), "{verified}");
    assert_unchanged(data, &before, "verify");

    let work = tempfile::tempdir().expect("temp dir");
    let bundle = work.path().join("bundle");
    let exported = run_cli(data, &["export", bundle.to_str().expect("utf-8 path")]);
    assert_unchanged(data, &before, "export");

    // The bundle holds the records and nothing after them: no reserved
    // zeros, and the message counts exactly those records and bytes.
    let records = mingzhang_ledger::scenario::kaixuan().len() as u64;
    let mut record_bytes = 0u64;
    for (name, bytes) in snapshot(&bundle) {
        let Some(bytes) = bytes else { continue };
        if name.starts_with("log/segment-") {
            assert_ne!(bytes.last(), Some(&0), "{name} ends in zeros");
            record_bytes += bytes.len() as u64 - 24;
        }
    }
    assert!(
        exported.starts_with(&format!(
            "exported {records} records ({record_bytes} bytes of records)"
        )),
        "{exported}"
    );
    let bundle_verified = run_cli(data, &["verify", bundle.to_str().expect("utf-8 path")]);
    assert!(
        bundle_verified.contains(&format!("OK: {records} records")),
        "{bundle_verified}"
    );
    assert!(
        bundle_verified.contains(&format!("checkpoint:      size {records}")),
        "{bundle_verified}"
    );
}

#[test]
fn export_without_a_signing_key_asks_for_keygen_and_writes_nothing() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let data = data_dir.path();
    run_cli(data, &["init"]);
    run_cli(data, &["demo"]);
    // `demo` signs what it wrote, making the key; an operator may keep the
    // key elsewhere, and a data directory without it is what export meets.
    std::fs::remove_dir_all(data.join("keys")).expect("remove the keys");
    let before = snapshot(data);
    let work = tempfile::tempdir().expect("temp dir");
    let bundle = work.path().join("bundle");
    let refused = run(data, &["export", bundle.to_str().expect("utf-8 path")]);
    assert!(!refused.status.success(), "export signed with no key");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("mingzhang"), "{stderr}");
    assert!(stderr.contains("keygen"), "{stderr}");
    assert_unchanged(data, &before, "export without a key");
    assert!(!bundle.exists(), "a bundle was started without a key");
}

/// The auditor's case: one zeroed sector among synced records near the end
/// of the last segment, with whole records after it. Every command refuses,
/// names segment, offset and seq, and cuts nothing.
#[test]
fn a_zeroed_sector_among_synced_records_is_refused_not_cut_off() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let data = data_dir.path();
    run_cli(data, &["init"]);
    run_cli(data, &["demo"]);
    let segment = data.join("log").join("segment-00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).expect("segment");
    let records_end = bytes.iter().rposition(|&byte| byte != 0).expect("records") + 1;
    let sector = (records_end - 4096) / 512 * 512;
    bytes[sector..sector + 512].fill(0);
    std::fs::write(&segment, &bytes).expect("damage");
    let before = snapshot(data);
    for command in [&["balances"][..], &["verify"], &["demo"]] {
        let refused = run(data, command);
        assert!(
            !refused.status.success(),
            "{command:?} opened a damaged log"
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&refused.stdout),
            String::from_utf8_lossy(&refused.stderr)
        );
        assert!(
            said.contains("segment-00000000000000000000.log offset")
                && said.contains(" seq ")
                && said.contains("damaged"),
            "{command:?}: {said}"
        );
        assert_unchanged(data, &before, &command.join(" "));
    }
}
