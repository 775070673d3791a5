//! Black-box test support shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The built `mingzhang` program: `MINGZHANG_BIN`, or the one cargo built
/// beside the test executable.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MINGZHANG_BIN") {
        return PathBuf::from(path);
    }
    // target/debug/deps/<test>-<hash> -> target/debug/mingzhang
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("mingzhang");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Runs `mingzhang --data-dir DATA_DIR ARGS`, requires it to succeed, and
/// returns what it printed on stdout.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("mingzhang runs");
    assert!(
        output.status.success(),
        "mingzhang {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}
