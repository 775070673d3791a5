//! A throwaway PostgreSQL cluster for tests and benchmarks, started and
//! stopped by `ops/postgres.sh` (which installs Debian's postgresql under CI
//! when it is missing).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A cluster on loopback in a temporary directory; stopped when dropped.
pub struct ThrowawayCluster {
    dir: tempfile::TempDir,
    script: PathBuf,
    url: String,
}

impl ThrowawayCluster {
    /// Starts a cluster if PostgreSQL is installed, or unconditionally under
    /// CI (`CI` set), where the script installs it. Otherwise `None`, and
    /// the reason is printed, so a developer without PostgreSQL sees why a
    /// test did nothing.
    pub fn start_or_skip(test: &str) -> Option<ThrowawayCluster> {
        if std::env::var_os("CI").is_none() && !postgres_installed() {
            eprintln!(
                "{test}: skipped: no PostgreSQL server found (pg_ctl, initdb) and CI is not set"
            );
            return None;
        }
        Some(ThrowawayCluster::start())
    }

    /// Starts a cluster; panics with the script's output if it cannot.
    pub fn start() -> ThrowawayCluster {
        let dir = tempfile::tempdir().expect("a directory for the cluster");
        let script = repository_root().join("ops/postgres.sh");
        let port = free_port();
        let output = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .arg(port.to_string())
            .output()
            .expect("running ops/postgres.sh");
        assert!(
            output.status.success(),
            "ops/postgres.sh start failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let url = String::from_utf8(output.stdout)
            .expect("the script prints a URL")
            .trim()
            .to_owned();
        assert!(url.starts_with("postgres://"), "{url}");
        ThrowawayCluster { dir, script, url }
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of database `name` on this cluster.
    pub fn database_url(&self, name: &str) -> String {
        let (server, _) = self.url.rsplit_once('/').expect("the URL names a database");
        format!("{server}/{name}")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

fn postgres_installed() -> bool {
    let on_path = |binary: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()))
    };
    if on_path("pg_ctl") && on_path("initdb") {
        return true;
    }
    std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
        versions
            .flatten()
            .any(|version| version.path().join("bin/pg_ctl").is_file())
    })
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("stores/postgres sits two levels below the repository root")
        .to_path_buf()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("its address").port()
}
