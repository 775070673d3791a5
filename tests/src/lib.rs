//! Black-box test support shared by the integration tests.

use std::path::{Path, PathBuf};

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
