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

/// A running `mingzhang serve` on loopback ports of its own choosing; killed
/// when dropped.
pub struct Served {
    child: Option<std::process::Child>,
    /// `http://127.0.0.1:PORT`
    pub http: String,
    /// `http://127.0.0.1:PORT`
    pub grpc: String,
}

impl Served {
    /// The process, for a test that stops it itself (SIGTERM, a restart);
    /// it is then no longer killed on drop.
    pub fn into_child(mut self) -> std::process::Child {
        self.child.take().expect("the server runs")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `mingzhang --data-dir DATA_DIR serve` on ports 0 and returns once
/// it has printed the addresses it listens on (its first line).
pub fn serve(data_dir: &Path) -> Served {
    serve_with_env(data_dir, &[])
}

/// `serve` with these environment variables set for the server.
pub fn serve_with_env(data_dir: &Path, env: &[(&str, &Path)]) -> Served {
    use std::io::{BufRead, BufReader};
    let mut command = Command::new(binary());
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .expect("server prints its addresses");
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
            .to_owned()
    };
    Served {
        http: format!("http://{}", field("http=")),
        grpc: format!("http://{}", field("grpc=")),
        child: Some(child),
    }
}

/// The value of the hidden input `name` in an HTML page: how a form carries
/// its CSRF token and idempotency key back to the server.
pub fn hidden_input(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden input {name} in {page}"))
        + marker.len();
    page[start..start + page[start..].find('"').expect("the value ends")].to_owned()
}
