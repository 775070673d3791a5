//! Throwaway PostgreSQL clusters for tests and benchmarks, started and
//! stopped by `ops/postgres.sh` (which installs Debian's postgresql under CI
//! when it is missing): one cluster, or a primary with a synchronous
//! streaming standby for failover tests.

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
        let port = free_port().to_string();
        let url = run_script(&script, &["start", path_arg(dir.path()), &port]);
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

/// A primary and its synchronous streaming standby, each a throwaway
/// cluster: a COMMIT on the primary returns only once the standby has
/// flushed it, so the standby holds every acknowledged write when the
/// primary dies.
pub struct ThrowawayPair {
    primary: ThrowawayCluster,
    standby: ThrowawayCluster,
}

impl ThrowawayPair {
    /// As [`ThrowawayCluster::start_or_skip`], for a pair.
    pub fn start_or_skip(test: &str) -> Option<ThrowawayPair> {
        let primary = ThrowawayCluster::start_or_skip(test)?;
        let dir = tempfile::tempdir().expect("a directory for the standby");
        let port = free_port().to_string();
        let url = run_script(
            &primary.script,
            &[
                "standby",
                path_arg(primary.dir()),
                path_arg(dir.path()),
                &port,
            ],
        );
        let standby = ThrowawayCluster {
            dir,
            script: primary.script.clone(),
            url,
        };
        Some(ThrowawayPair { primary, standby })
    }

    pub fn primary(&self) -> &ThrowawayCluster {
        &self.primary
    }

    pub fn standby(&self) -> &ThrowawayCluster {
        &self.standby
    }

    /// Both servers in one connection string that connects to whichever of
    /// them accepts writes (`target_session_attrs=read-write`), as a client
    /// of a pair with failover is configured.
    pub fn read_write_url(&self) -> String {
        let host_port = |url: &str| {
            let (_, rest) = url.split_once('@').expect("the URL names a user");
            let (host_port, _) = rest.split_once('/').expect("the URL names a database");
            host_port.to_owned()
        };
        format!(
            "postgres://postgres@{},{}/postgres?target_session_attrs=read-write&connect_timeout=5",
            host_port(self.primary.url()),
            host_port(self.standby.url())
        )
    }

    /// SIGKILLs the primary's postmaster: the machine's crash, as the
    /// standby sees it.
    pub fn kill_primary(&self) {
        run_script(
            &self.primary.script,
            &["kill", path_arg(self.primary.dir())],
        );
    }

    /// Promotes the standby to primary and waits until it accepts writes.
    pub fn promote_standby(&self) {
        run_script(
            &self.standby.script,
            &["promote", path_arg(self.standby.dir())],
        );
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str()
        .expect("temporary directories have UTF-8 paths")
}

/// Runs ops/postgres.sh; panics with its output if it fails. Returns what
/// it printed, trimmed.
fn run_script(script: &Path, args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("running ops/postgres.sh");
    assert!(
        output.status.success(),
        "ops/postgres.sh {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("the script prints text")
        .trim()
        .to_owned()
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
