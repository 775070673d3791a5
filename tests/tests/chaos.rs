//! The short chaos run CI makes: `ops/chaos.sh` with 50 kills of `serve`
//! under HTTP and gRPC write load, then a full disk (where tmpfs can be
//! mounted; the script prints why it skips it otherwise) and a failing
//! fsync. Every acknowledged write must be found after every restart.

use std::process::Command;

use mingzhang_tests::binary;

#[test]
fn fifty_kills_a_full_disk_and_a_failed_fsync_lose_no_acknowledged_write() {
    let bin_dir = binary().parent().expect("bin dir").to_path_buf();
    assert!(
        bin_dir.join("mingzhang-chaos").exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        bin_dir.join("mingzhang-chaos").display()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/chaos.sh");
    let output = Command::new("bash")
        .args([script, "--kills", "50", "--max-seconds", "600"])
        .env("MINGZHANG_BIN_DIR", &bin_dir)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chaos.sh failed ({}):\n{stdout}\n{}",
        output.status,
        stderr
            .lines()
            .filter(|line| !line.contains(" INFO "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let field = |name: &str| -> u64 {
        summary
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {summary}"))
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a number in {summary}"))
    };
    assert_eq!(field("kills"), 50, "{summary}");
    assert_eq!(field("lost"), 0, "{summary}");
    assert!(
        field("acked_checked") > 0,
        "no write was acknowledged: {summary}"
    );
    let fsync = stdout
        .lines()
        .find(|line| line.starts_with("fsync_failure: "))
        .expect("an fsync_failure line");
    assert!(fsync.contains("refused_with=503"), "{fsync}");
    let disk_full = stdout
        .lines()
        .find(|line| line.starts_with("disk_full: "))
        .expect("a disk_full line");
    assert!(
        disk_full.contains("refused_with=507") || disk_full.contains("skipped (cannot mount"),
        "{disk_full}"
    );
    println!("{summary}\n{disk_full}\n{fsync}");
}
