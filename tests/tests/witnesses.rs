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
    /// Its verifier key, as it printed it.
    key: String,
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
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
            .to_owned()
    };
    RunningWitness {
        url: format!("http://{}", field("http=")),
        key: field("key="),
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

/// A `serve` data directory whose config names these witnesses, with an
/// operator token; `keys_from` shares another directory's operator key (the
/// split-view test's second history).
fn ledger_dir(
    witnesses: &[&RunningWitness],
    keys_from: Option<&Path>,
) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    run_cli(dir.path(), &["init"]);
    if let Some(source) = keys_from {
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        for file in ["checkpoint.key", "checkpoint.pub"] {
            std::fs::copy(
                source.join("keys").join(file),
                dir.path().join("keys").join(file),
            )
            .unwrap();
        }
    } else {
        run_cli(dir.path(), &["keygen", "--name", "kaixuan-operator"]);
    }
    let mut config = String::new();
    for witness in witnesses {
        config.push_str(&format!(
            "[[witness]]\nurl = \"{}\"\nkey = \"{}\"\n",
            witness.url, witness.key
        ));
    }
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let operator = run_cli(dir.path(), &["token", "create", "--role", "operator"])
        .trim()
        .to_owned();
    (dir, operator)
}

async fn record_fund(served: &mingzhang_tests::Served, operator: &str, fund_id: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/funds", served.http))
        .bearer_auth(operator)
        .json(&serde_json::json!({"fund_id": fund_id, "name": "凯旋街道社区发展基金", "kind": "unrestricted"}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

/// POST /v1/checkpoints; the note and how long it took.
async fn sign_now(
    served: &mingzhang_tests::Served,
    operator: &str,
) -> (String, std::time::Duration) {
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/checkpoints", served.http))
        .bearer_auth(operator)
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(response.status().is_success());
    (response.text().await.unwrap(), elapsed)
}

fn start_witnesses(count: usize, operator_key: &Path) -> Vec<(tempfile::TempDir, RunningWitness)> {
    (0..count)
        .map(|index| {
            let dir = tempfile::tempdir().unwrap();
            run_cli(
                dir.path(),
                &[
                    "witness",
                    "keygen",
                    "--name",
                    &format!("auditor.example/w{index}"),
                ],
            );
            run_cli(
                dir.path(),
                &[
                    "witness",
                    "add-log",
                    "mingzhang.local/ledger",
                    operator_key.to_str().unwrap(),
                ],
            );
            let witness = start_witness(dir.path(), None);
            (dir, witness)
        })
        .collect()
}

fn verify_with_witnesses(data_dir: &Path, witness_dirs: &[&Path], needed: usize) -> (i32, String) {
    let mut command = Command::new(binary());
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("verify")
        .arg(data_dir);
    for dir in witness_dirs {
        command.arg("--witness-key").arg(dir.join("witness.pub"));
    }
    let output = command
        .args(["--witnesses-needed", &needed.to_string()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap(), report)
}

#[tokio::test]
async fn serve_publishes_checkpoints_cosigned_by_its_three_witnesses() {
    let operator_dir = tempfile::tempdir().unwrap();
    run_cli(operator_dir.path(), &["init"]);
    run_cli(
        operator_dir.path(),
        &["keygen", "--name", "kaixuan-operator"],
    );
    let operator_key = operator_dir.path().join("keys").join("checkpoint.pub");
    let witnesses = start_witnesses(3, &operator_key);
    let running: Vec<&RunningWitness> = witnesses.iter().map(|(_, witness)| witness).collect();
    let (dir, operator) = ledger_dir(&running, Some(operator_dir.path()));
    let served = mingzhang_tests::serve(dir.path());
    record_fund(&served, &operator, "kaixuan-charity").await;
    let (first, first_latency) = sign_now(&served, &operator).await;
    record_fund(&served, &operator, "kaixuan-elderly").await;
    let (note, latency) = sign_now(&served, &operator).await;
    assert_eq!(
        note.matches("\n\u{2014} auditor.example/w").count(),
        3,
        "{note}"
    );
    assert_eq!(
        first.matches("\n\u{2014} auditor.example/w").count(),
        3,
        "{first}"
    );
    let published = reqwest::get(format!("{}/v1/checkpoint", served.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(published, note);
    let page = reqwest::get(format!("{}/", served.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cosigned_by = &page[page
        .find("id=\"cosigned-by\"")
        .expect("the page names the cosigners")..];
    let cosigned_by = &cosigned_by[..cosigned_by.find("</span>").unwrap()];
    assert!(cosigned_by.contains("见证人联署"), "{cosigned_by}");
    for index in 0..3 {
        assert!(
            cosigned_by.contains(&format!("auditor.example/w{index}")),
            "{cosigned_by}"
        );
    }
    assert!(cosigned_by.contains("北京时间"), "{cosigned_by}");
    println!(
        "checkpoint-to-cosigned with 3 witnesses on loopback (sign + 3 add-checkpoint + save): first {first_latency:?}, next {latency:?}; load {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    drop(served);

    let witness_dirs: Vec<&Path> = witnesses.iter().map(|(dir, _)| dir.path()).collect();
    let (code, report) = verify_with_witnesses(dir.path(), &witness_dirs, 3);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("witnesses:       3 of 3 needed"),
        "{report}"
    );
    let absent = tempfile::tempdir().unwrap();
    run_cli(
        absent.path(),
        &["witness", "keygen", "--name", "absent.example/w9"],
    );
    let four = [witness_dirs.clone(), vec![absent.path()]].concat();
    let (code, report) = verify_with_witnesses(dir.path(), &four, 4);
    assert_eq!(code, 5, "{report}");
    assert!(
        report.contains("3 of the 4 cosignatures needed") && report.contains("absent.example/w9+"),
        "{report}"
    );

    // One cosignature altered after the fact: reported as not verifying.
    let latest = dir.path().join("checkpoints").join("latest.note");
    let note = std::fs::read_to_string(&latest).unwrap();
    let line_start = note.find("\u{2014} auditor.example/w0 ").unwrap();
    let target = line_start + note[line_start..].find('\n').unwrap() - 10;
    let replacement = if &note[target..=target] == "A" {
        "B"
    } else {
        "A"
    };
    std::fs::write(
        &latest,
        format!("{}{replacement}{}", &note[..target], &note[target + 1..]),
    )
    .unwrap();
    let (code, report) = verify_with_witnesses(dir.path(), &witness_dirs, 2);
    assert_eq!(code, 4, "{report}");
    assert!(
        report.contains("witness auditor.example/w0+") && report.contains("does not verify"),
        "{report}"
    );
}

/// The operator keeps its key and shows a second history of the same size,
/// then a longer one: every witness that cosigned the first refuses both,
/// so no verifier asking for one cosignature accepts them.
#[tokio::test]
async fn a_split_view_signed_by_the_operator_is_cosigned_by_no_witness() {
    let honest_dir = tempfile::tempdir().unwrap();
    run_cli(honest_dir.path(), &["init"]);
    run_cli(honest_dir.path(), &["keygen", "--name", "kaixuan-operator"]);
    let operator_key = honest_dir.path().join("keys").join("checkpoint.pub");
    let witnesses = start_witnesses(2, &operator_key);
    let running: Vec<&RunningWitness> = witnesses.iter().map(|(_, witness)| witness).collect();
    let witness_dirs: Vec<&Path> = witnesses.iter().map(|(dir, _)| dir.path()).collect();

    let (honest, honest_operator) = ledger_dir(&running, Some(honest_dir.path()));
    let served = mingzhang_tests::serve(honest.path());
    record_fund(&served, &honest_operator, "kaixuan-charity").await;
    let (honest_note, _) = sign_now(&served, &honest_operator).await;
    assert_eq!(
        honest_note.matches("\n\u{2014} auditor.example/w").count(),
        2
    );
    drop(served);

    let (forked, forked_operator) = ledger_dir(&running, Some(honest_dir.path()));
    let served = mingzhang_tests::serve(forked.path());
    record_fund(&served, &forked_operator, "kaixuan-elsewhere").await;
    let (forked_note, _) = sign_now(&served, &forked_operator).await;
    let size_line = |note: &str| note.lines().nth(1).unwrap().to_owned();
    assert_eq!(
        size_line(&forked_note),
        size_line(&honest_note),
        "same size"
    );
    assert_ne!(
        forked_note.lines().nth(2),
        honest_note.lines().nth(2),
        "another root"
    );
    assert!(
        !forked_note.contains("auditor.example/w"),
        "a witness cosigned a fork: {forked_note}"
    );
    record_fund(&served, &forked_operator, "kaixuan-later").await;
    let (grown_note, _) = sign_now(&served, &forked_operator).await;
    assert!(
        !grown_note.contains("auditor.example/w"),
        "a witness cosigned a rewritten history: {grown_note}"
    );
    drop(served);

    let (code, report) = verify_with_witnesses(forked.path(), &witness_dirs, 1);
    assert_eq!(code, 5, "{report}");
    assert!(
        report.contains("0 of the 1 cosignatures needed"),
        "{report}"
    );
    let (code, report) = verify_with_witnesses(honest.path(), &witness_dirs, 1);
    assert_eq!(code, 0, "{report}");
}

/// One witness accepts connections and never answers: the checkpoint waits
/// for it no longer than its timeout, goes out with the other two
/// cosignatures, and writes and proofs are answered meanwhile.
#[tokio::test]
async fn a_witness_that_never_answers_costs_only_its_own_cosignature() {
    let operator_dir = tempfile::tempdir().unwrap();
    run_cli(operator_dir.path(), &["init"]);
    run_cli(
        operator_dir.path(),
        &["keygen", "--name", "kaixuan-operator"],
    );
    let operator_key = operator_dir.path().join("keys").join("checkpoint.pub");
    let witnesses = start_witnesses(2, &operator_key);
    let silent_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_key = mingzhang_ledger::checkpoint::CosignerKey::generate("silent.example/w")
        .unwrap()
        .verifier()
        .to_text();
    let mut config_witnesses: Vec<(String, String)> = witnesses
        .iter()
        .map(|(_, witness)| (witness.url.clone(), witness.key.clone()))
        .collect();
    config_witnesses.push((
        format!("http://{}", silent_listener.local_addr().unwrap()),
        silent_key,
    ));
    let (dir, operator) = ledger_dir(&[], Some(operator_dir.path()));
    let config: String = config_witnesses
        .iter()
        .map(|(url, key)| format!("[[witness]]\nurl = \"{url}\"\nkey = \"{key}\"\n"))
        .collect();
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let served = std::sync::Arc::new(mingzhang_tests::serve(dir.path()));
    record_fund(&served, &operator, "kaixuan-charity").await;

    let signing = {
        let (served, operator) = (served.clone(), operator.clone());
        tokio::spawn(async move { sign_now(&served, &operator).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    record_fund(&served, &operator, "kaixuan-elderly").await;
    let proof = reqwest::get(format!("{}/v1/proofs/consistency?from=0&to=1", served.http))
        .await
        .unwrap();
    assert!(proof.status().is_success());
    assert!(
        !signing.is_finished(),
        "the write and the proof waited for the silent witness"
    );
    let (note, latency) = signing.await.unwrap();
    assert!(latency >= std::time::Duration::from_secs(2), "{latency:?}");
    assert_eq!(
        note.matches("\n\u{2014} auditor.example/w").count(),
        2,
        "{note}"
    );
    assert!(!note.contains("silent.example"), "{note}");
}
