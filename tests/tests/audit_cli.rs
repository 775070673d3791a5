//! `mingzhang verify` as an auditor runs it: the verdict in the first line,
//! no pass without a signature unless the chain alone is asked for, and an
//! exit code for each kind of finding (docs/proofs.md, "Exit codes").

use std::path::Path;
use std::process::{Command, Output};

use mingzhang_tests::binary;

fn mingzhang(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("MINGZHANG_TOKEN")
        .output()
        .expect("mingzhang runs")
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn verify_demands_a_signature_and_says_what_it_checked_in_its_first_line() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let data_arg = data.to_str().unwrap();
    assert!(mingzhang(&data, &["init"]).status.success());
    assert!(mingzhang(&data, &["demo"]).status.success());

    let verified = mingzhang(&data, &["verify"]);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(
        first_line(&verified.stdout).starts_with("OK: "),
        "{verified:?}"
    );

    let bundle = work.path().join("bundle");
    let exported = mingzhang(&data, &["export", bundle.to_str().unwrap()]);
    assert!(exported.status.success(), "{exported:?}");
    std::fs::remove_file(bundle.join("checkpoint.note")).unwrap();
    std::fs::remove_file(bundle.join("checkpoint.pub")).unwrap();

    let unsigned = mingzhang(&data, &["verify", bundle.to_str().unwrap()]);
    assert_eq!(unsigned.status.code(), Some(5), "{unsigned:?}");
    // stderr carries the progress lines first; the report's verdict follows.
    let stderr = String::from_utf8_lossy(&unsigned.stderr);
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("FAILED (unsigned, exit 5): no signed checkpoint")),
        "{}",
        String::from_utf8_lossy(&unsigned.stderr)
    );

    let chain_only = mingzhang(
        &data,
        &["verify", bundle.to_str().unwrap(), "--allow-unsigned"],
    );
    assert_eq!(chain_only.status.code(), Some(0), "{chain_only:?}");
    assert!(
        first_line(&chain_only.stdout).starts_with("CHAIN ONLY: "),
        "{}",
        String::from_utf8_lossy(&chain_only.stdout)
    );

    let json = mingzhang(
        &data,
        &[
            "verify",
            bundle.to_str().unwrap(),
            "--allow-unsigned",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(report["coverage"]["chain_only"], serde_json::json!(true));
    assert_eq!(report["source"], serde_json::json!("bundle"));

    let usage = mingzhang(&data, &["verify", "--no-such-flag"]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
    let unreadable = mingzhang(&data, &["verify", &format!("{data_arg}/no-such-dir")]);
    assert_eq!(unreadable.status.code(), Some(1), "{unreadable:?}");
}
