//! `mingzhang witness` as a program: it answers tlog-witness over HTTP, and
//! what it cosigned survives a SIGKILL, even one between its save and its
//! answer.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey};
use mingzhang_ledger::merkle::{MemoryTree, consistency_proof, tree_root};

use mingzhang_tests::{binary, run_cli};

const ORIGIN: &str = "mingzhang.example/kaixuan";

struct RunningWitness {
    child: Child,
    url: String,
}

impl Drop for RunningWitness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_witness(dir: &Path, pause_after_save_ms: Option<u64>) -> RunningWitness {
    let mut command = Command::new(binary());
    command
        .arg("--data-dir")
        .arg(dir)
        .args([
            "witness",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "auditor.example/w1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    if let Some(ms) = pause_after_save_ms {
        command.env("MINGZHANG_WITNESS_PAUSE_AFTER_SAVE_MS", ms.to_string());
    }
    let mut child = command.spawn().expect("witness starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("witness prints its address");
    let addr = line
        .split_whitespace()
        .find_map(|part| part.strip_prefix("http="))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    RunningWitness {
        url: format!("http://{addr}"),
        child,
    }
}

struct Log {
    key: SignerKey,
    tree: MemoryTree,
}

impl Log {
    fn of_size(size: u64) -> Log {
        let mut tree = MemoryTree::new();
        for seq in 0..size {
            tree.append_leaf(format!("record {seq}").as_bytes());
        }
        Log {
            key: SignerKey::from_seed("kaixuan", [5u8; 32]).unwrap(),
            tree,
        }
    }

    fn add_checkpoint_body(&self, old: u64, size: u64) -> String {
        use base64::Engine;
        let mut body = format!("old {old}\n");
        for hash in consistency_proof(old, size, &self.tree).unwrap() {
            body.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        let root = tree_root(size, &self.tree).unwrap();
        body + &Checkpoint::new(ORIGIN, size, root, vec![])
            .unwrap()
            .sign(&self.key)
    }
}

async fn post(url: &str, body: String) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .expect("witness answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn witness_dir_knowing(log: &Log) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("log.pub");
    std::fs::write(&key_file, log.key.verifier().to_text()).unwrap();
    run_cli(
        dir.path(),
        &["witness", "add-log", ORIGIN, key_file.to_str().unwrap()],
    );
    dir
}

#[tokio::test]
async fn witness_over_http_cosigns_and_names_its_size_on_a_stale_request() {
    let log = Log::of_size(9);
    let dir = witness_dir_knowing(&log);
    let witness = start_witness(dir.path(), None);
    let (status, _, line) = post(&witness.url, log.add_checkpoint_body(0, 5)).await;
    assert_eq!(status, 200, "{line}");
    assert!(
        line.starts_with("\u{2014} auditor.example/w1 ") && line.ends_with('\n'),
        "{line:?}"
    );
    let (status, content_type, body) = post(&witness.url, log.add_checkpoint_body(0, 9)).await;
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );
    let (status, _, _) = post(&witness.url, log.add_checkpoint_body(5, 9)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn what_the_witness_answered_survives_a_sigkill() {
    let log = Log::of_size(12);
    let dir = witness_dir_knowing(&log);
    let witness = start_witness(dir.path(), None);
    assert_eq!(
        post(&witness.url, log.add_checkpoint_body(0, 7)).await.0,
        200
    );
    drop(witness); // SIGKILL: Child::kill sends SIGKILL
    let witness = start_witness(dir.path(), None);
    let (status, _, body) = post(&witness.url, log.add_checkpoint_body(0, 12)).await;
    assert_eq!((status, body.as_str()), (409, "7\n"));
}

#[tokio::test]
async fn a_sigkill_between_the_save_and_the_answer_keeps_the_saved_checkpoint() {
    let log = Log::of_size(12);
    let dir = witness_dir_knowing(&log);
    let witness = start_witness(dir.path(), Some(30_000));
    let url = witness.url.clone();
    let body = log.add_checkpoint_body(0, 10);
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/add-checkpoint"))
            .body(body)
            .send()
            .await
    });
    let state_dir = dir.path().join("state");
    let saved = async {
        loop {
            let saved_notes = std::fs::read_dir(&state_dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "note"))
                        .count()
                })
                .unwrap_or(0);
            if saved_notes == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), saved)
        .await
        .expect("the witness saves the checkpoint before answering");
    drop(witness);
    assert!(
        pending.await.unwrap().is_err(),
        "the killed witness never answered"
    );
    let witness = start_witness(dir.path(), None);
    let (status, _, body) = post(&witness.url, log.add_checkpoint_body(0, 12)).await;
    assert_eq!(
        (status, body.as_str()),
        (409, "10\n"),
        "a cosignature the log may never have seen, but the state is whole and the newest"
    );
}
