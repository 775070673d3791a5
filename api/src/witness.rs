//! `mingzhang witness`: a C2SP tlog-witness. It cosigns a log's checkpoint
//! only after checking that it extends every checkpoint of that log it
//! cosigned before, so a log cannot show two histories to two audiences
//! while both carry this witness's cosignature.
//!
//! Files under the witness's data directory:
//! - `witness.key`: its cosigner key (`PRIVATE+KEY+...`, mode 0600), made by
//!   `mingzhang witness keygen` or on first start; `witness.pub` is its
//!   verifier key (a vkey of type 0x04).
//! - `logs.txt`: the logs it witnesses, one `<origin> <log verifier key>` a
//!   line, appended by `mingzhang witness add-log ORIGIN KEYFILE`.
//! - `state/<sha256(origin) hex>.note`: the latest checkpoint note it
//!   cosigned for that origin, replaced atomically before it answers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mingzhang_ledger::checkpoint::{
    Checkpoint, CheckpointError, CosignerKey, VerifierKey, open_note,
};
use mingzhang_ledger::merkle::{Hash, empty_root, verify_consistency};
use sha2::{Digest, Sha256};

use crate::transparency::write_durably;

/// tlog-witness: a client MUST NOT send more than 63 proof lines.
pub const PROOF_LINES_MAX: usize = 63;
/// A request is an old-size line, at most 63 hashes and a checkpoint note.
pub const REQUEST_LEN_MAX: usize = 64 * 1024;
/// The content type of a 409's body, the witness's latest size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why a witness refuses a checkpoint; each names the HTTP status
/// tlog-witness assigns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the request is not an old-size line, proof lines, a blank line
    /// and a checkpoint note.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 404: this witness does not witness that log.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: no valid signature by the log's key.
    #[error("not signed by the log: {0}")]
    NotSignedByLog(CheckpointError),
    /// 400: `old` is larger than the checkpoint's size.
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldBeyondSize { old: u64, size: u64 },
    /// 409: `old` is not the size this witness last cosigned.
    #[error("old size {old} is not the latest cosigned size {latest}")]
    StaleOldSize { old: u64, latest: u64 },
    /// 422: the proof does not lead from the cosigned root to the new one,
    /// or a same-size checkpoint has another root: a fork.
    #[error("not consistent with the checkpoint cosigned at size {latest}: {reason}")]
    Inconsistent { latest: u64, reason: String },
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) | Refusal::OldBeyondSize { .. } => 400,
            Refusal::NotSignedByLog(_) => 403,
            Refusal::UnknownOrigin(_) => 404,
            Refusal::StaleOldSize { .. } => 409,
            Refusal::Inconsistent { .. } => 422,
        }
    }
}

/// An add-checkpoint request body, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}

impl AddCheckpoint {
    pub fn parse(body: &str) -> Result<AddCheckpoint, Refusal> {
        let malformed = |reason: &str| Refusal::Malformed(reason.to_owned());
        if body.len() > REQUEST_LEN_MAX {
            return Err(malformed("request is longer than 64 KiB"));
        }
        let (old_line, mut rest) = body
            .split_once('\n')
            .ok_or_else(|| malformed("no old size line"))?;
        let old_size = old_line
            .strip_prefix("old ")
            .and_then(parse_canonical_u64)
            .ok_or_else(|| malformed("first line must be `old <decimal size>`"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| malformed("no blank line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == PROOF_LINES_MAX {
                return Err(malformed("more than 63 consistency proof lines"));
            }
            let hash = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, line)
                .ok()
                .and_then(|bytes| Hash::try_from(bytes).ok())
                .ok_or_else(|| malformed("a proof line is not a base64 32-byte hash"))?;
            proof.push(hash);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: rest.to_owned(),
        })
    }

    /// The request body: what `parse` reads.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                hash,
            ));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }
}

fn parse_canonical_u64(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// The witness: its key, the logs it knows and the latest checkpoint it
/// cosigned of each. `add_checkpoint` takes `&mut self`: checks and the
/// save are one step, so two requests never both pass against one state.
pub struct Witness {
    key: CosignerKey,
    logs: HashMap<String, VerifierKey>,
    latest: HashMap<String, Checkpoint>,
    state_dir: PathBuf,
    /// `MINGZHANG_WITNESS_PAUSE_AFTER_SAVE_MS`: holds each answer back after
    /// the save, so a crash test can kill the witness between the two.
    pause_after_save: Option<std::time::Duration>,
}

/// Bounds the crash-test pause: a stray setting cannot hang a witness.
const PAUSE_AFTER_SAVE_MS_MAX: u64 = 60_000;

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("witness.key")
}

pub fn public_key_path(dir: &Path) -> PathBuf {
    dir.join("witness.pub")
}

pub fn logs_path(dir: &Path) -> PathBuf {
    dir.join("logs.txt")
}

/// Creates the witness key unless one exists; returns its verifier key text.
pub fn keygen(dir: &Path, name: &str) -> anyhow::Result<String> {
    let private_path = key_path(dir);
    if private_path.exists() {
        return Ok(load_key(dir)?.verifier().to_text());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = CosignerKey::generate(name)
        .map_err(|error| anyhow::anyhow!("witness name {name:?}: {error}"))?;
    write_durably(&private_path, key.to_text().as_bytes(), 0o600)?;
    let verifier = key.verifier().to_text();
    write_durably(
        &public_key_path(dir),
        format!("{verifier}\n").as_bytes(),
        0o644,
    )?;
    Ok(verifier)
}

fn load_key(dir: &Path) -> anyhow::Result<CosignerKey> {
    let path = key_path(dir);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    CosignerKey::from_text(text.trim())
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

/// Adds a log to those the witness knows: `origin` with the verifier key
/// in `key_file` (the log's `keys/checkpoint.pub`). An origin already known
/// with another key is refused: changing a log's key is a decision, not a typo.
pub fn add_log(dir: &Path, origin: &str, key_file: &Path) -> anyhow::Result<()> {
    let key_text = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading {}", key_file.display()))?;
    let key = VerifierKey::from_text(key_text.trim())
        .map_err(|error| anyhow::anyhow!("{}: {error}", key_file.display()))?;
    Checkpoint::new(origin, 0, empty_root(), vec![])
        .map_err(|error| anyhow::anyhow!("origin: {error}"))?;
    if origin.contains(' ') {
        bail!("origin {origin:?}: must not contain a space in logs.txt");
    }
    let mut logs = read_logs(dir)?;
    if let Some(known) = logs.get(origin) {
        if *known == key {
            return Ok(());
        }
        bail!(
            "origin {origin:?} is already witnessed with key {}",
            known.to_text()
        );
    }
    logs.insert(origin.to_owned(), key);
    let mut lines: Vec<String> = logs
        .iter()
        .map(|(origin, key)| format!("{origin} {}\n", key.to_text()))
        .collect();
    lines.sort();
    std::fs::create_dir_all(dir)?;
    write_durably(&logs_path(dir), lines.concat().as_bytes(), 0o644)
}

fn read_logs(dir: &Path) -> anyhow::Result<HashMap<String, VerifierKey>> {
    let path = logs_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let mut logs = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let (origin, key) = line.split_once(' ').with_context(|| {
            format!(
                "{} line {}: expected `<origin> <key>`",
                path.display(),
                index + 1
            )
        })?;
        let key = VerifierKey::from_text(key)
            .map_err(|error| anyhow::anyhow!("{} line {}: {error}", path.display(), index + 1))?;
        logs.insert(origin.to_owned(), key);
    }
    Ok(logs)
}

fn state_file(state_dir: &Path, origin: &str) -> PathBuf {
    state_dir.join(format!(
        "{}.note",
        hex::encode(Sha256::digest(origin.as_bytes()))
    ))
}

impl Witness {
    /// Opens the witness in `dir`, making its key (named `name`) on first
    /// start, and reads back the latest checkpoint it cosigned of each log.
    pub fn open(dir: &Path, name: &str) -> anyhow::Result<Witness> {
        keygen(dir, name)?;
        let key = load_key(dir)?;
        let logs = read_logs(dir)?;
        let state_dir = dir.join("state");
        std::fs::create_dir_all(&state_dir)?;
        let mut latest = HashMap::new();
        for (origin, log_key) in &logs {
            let path = state_file(&state_dir, origin);
            let note = match std::fs::read_to_string(&path) {
                Ok(note) => note,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(error).with_context(|| format!("reading {}", path.display()));
                }
            };
            // Saved only after these checks passed: failing now is a damaged disk.
            let checkpoint = Checkpoint::open_signed(&note, log_key)
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
            assert_eq!(
                checkpoint.origin(),
                origin,
                "{} is another log's",
                path.display()
            );
            latest.insert(origin.clone(), checkpoint);
        }
        let pause_after_save = std::env::var("MINGZHANG_WITNESS_PAUSE_AFTER_SAVE_MS")
            .ok()
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(|ms| std::time::Duration::from_millis(ms.min(PAUSE_AFTER_SAVE_MS_MAX)));
        Ok(Witness {
            key,
            logs,
            latest,
            state_dir,
            pause_after_save,
        })
    }

    pub fn verifier_text(&self) -> String {
        self.key.verifier().to_text()
    }

    /// The size of the latest checkpoint cosigned for `origin`; 0 if none.
    pub fn latest_size(&self, origin: &str) -> u64 {
        self.latest.get(origin).map_or(0, Checkpoint::size)
    }

    /// tlog-witness add-checkpoint: checks the request in the order the
    /// spec gives, saves the checkpoint durably, then answers the
    /// cosignature line made at `now` (POSIX seconds). `Err(io)` when the
    /// save failed: nothing is cosigned then.
    pub fn add_checkpoint(
        &mut self,
        request: &AddCheckpoint,
        now: u64,
    ) -> Result<Result<String, Refusal>, anyhow::Error> {
        let checkpoint = match self.check(request) {
            Ok(checkpoint) => checkpoint,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let path = state_file(&self.state_dir, checkpoint.origin());
        write_durably(&path, request.note.as_bytes(), 0o644)?;
        if let Some(pause) = self.pause_after_save {
            std::thread::sleep(pause);
        }
        let line = self.key.cosign(&checkpoint, now);
        self.latest
            .insert(checkpoint.origin().to_owned(), checkpoint);
        Ok(Ok(line))
    }

    fn check(&self, request: &AddCheckpoint) -> Result<Checkpoint, Refusal> {
        let origin = request.note.split('\n').next().unwrap_or_default();
        let log_key = self
            .logs
            .get(origin)
            .ok_or_else(|| Refusal::UnknownOrigin(origin.to_owned()))?;
        let body = open_note(&request.note, log_key).map_err(|error| match error {
            CheckpointError::MalformedNote { reason } => Refusal::Malformed(reason.to_owned()),
            other => Refusal::NotSignedByLog(other),
        })?;
        let checkpoint =
            Checkpoint::parse_body(&body).map_err(|error| Refusal::Malformed(error.to_string()))?;
        let (old, size) = (request.old_size, checkpoint.size());
        if old > size {
            return Err(Refusal::OldBeyondSize { old, size });
        }
        let latest = self.latest.get(origin);
        let latest_size = latest.map_or(0, Checkpoint::size);
        if old != latest_size {
            return Err(Refusal::StaleOldSize {
                old,
                latest: latest_size,
            });
        }
        let inconsistent = |reason: String| Refusal::Inconsistent {
            latest: latest_size,
            reason,
        };
        if size == 0 && *checkpoint.root_hash() != empty_root() {
            return Err(inconsistent(
                "size 0 must have the empty tree's root".into(),
            ));
        }
        let Some(latest) = latest else {
            if !request.proof.is_empty() {
                return Err(inconsistent("from size 0 the proof must be empty".into()));
            }
            return Ok(checkpoint);
        };
        if old == size && latest.root_hash() != checkpoint.root_hash() {
            return Err(inconsistent(
                "same size, another root hash: the log forked".into(),
            ));
        }
        verify_consistency(
            old,
            size,
            latest.root_hash(),
            checkpoint.root_hash(),
            &request.proof,
        )
        .map_err(|error| inconsistent(format!("consistency proof: {error}")))?;
        Ok(checkpoint)
    }
}

/// Serves `POST /add-checkpoint` on `listener` until the process ends.
pub async fn serve(witness: Witness, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    use axum::routing::post;
    let witness = std::sync::Arc::new(std::sync::Mutex::new(witness));
    let router = axum::Router::new()
        .route("/add-checkpoint", post(add_checkpoint_handler))
        .layer(axum::extract::DefaultBodyLimit::max(REQUEST_LEN_MAX))
        .with_state(witness);
    axum::serve(listener, router).await?;
    Ok(())
}

async fn add_checkpoint_handler(
    axum::extract::State(witness): axum::extract::State<std::sync::Arc<std::sync::Mutex<Witness>>>,
    body: String,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let answer = tokio::task::spawn_blocking(move || {
        let request = match AddCheckpoint::parse(&body) {
            Ok(request) => request,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let mut witness = witness
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        witness.add_checkpoint(&request, now)
    })
    .await;
    match answer {
        Ok(Ok(Ok(line))) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response()
        }
        Ok(Ok(Err(Refusal::StaleOldSize { latest, .. }))) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
            format!("{latest}\n"),
        )
            .into_response(),
        Ok(Ok(Err(refusal))) => (
            StatusCode::from_u16(refusal.status()).expect("a valid status"),
            format!("{refusal}\n"),
        )
            .into_response(),
        Ok(Err(error)) => {
            tracing::error!(
                error = format!("{error:#}"),
                "saving the witness state failed"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "saving the witness state failed\n",
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "witness task panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use mingzhang_ledger::checkpoint::{CosignatureKey, SignerKey, add_signature_lines};
    use mingzhang_ledger::merkle::{MemoryTree, consistency_proof, root_from_leaves, tree_root};

    use super::*;

    const ORIGIN: &str = "mingzhang.example/kaixuan";
    const NOW: u64 = 1_765_000_000;

    /// A log of numbered records, signed by its operator's key; a witness
    /// in a temporary directory that knows it.
    struct Given {
        dir: tempfile::TempDir,
        log_key: SignerKey,
        tree: MemoryTree,
        witness: Witness,
    }

    fn given_a_witness_of_the_log() -> Given {
        let dir = tempfile::tempdir().unwrap();
        let log_key = SignerKey::from_seed("kaixuan", [9u8; 32]).unwrap();
        let key_file = dir.path().join("log.pub");
        std::fs::write(&key_file, log_key.verifier().to_text()).unwrap();
        add_log(dir.path(), ORIGIN, &key_file).unwrap();
        let witness = Witness::open(dir.path(), "auditor.example/w1").unwrap();
        Given {
            dir,
            log_key,
            tree: MemoryTree::new(),
            witness,
        }
    }

    impl Given {
        fn grow_to(&mut self, size: u64) {
            while (self.tree.leaf_hashes().len() as u64) < size {
                let seq = self.tree.leaf_hashes().len();
                self.tree.append_leaf(format!("record {seq}").as_bytes());
            }
        }

        fn checkpoint(&self, size: u64) -> Checkpoint {
            let root = tree_root(size, &self.tree).unwrap();
            Checkpoint::new(ORIGIN, size, root, vec![]).unwrap()
        }

        fn request(&self, old: u64, size: u64) -> AddCheckpoint {
            AddCheckpoint {
                old_size: old,
                proof: consistency_proof(old, size, &self.tree).unwrap(),
                note: self.checkpoint(size).sign(&self.log_key),
            }
        }

        fn submit(&mut self, request: &AddCheckpoint) -> Result<String, Refusal> {
            // Through the wire format, as a client sends it.
            let parsed = AddCheckpoint::parse(&request.to_body())?;
            assert_eq!(&parsed, request);
            self.witness.add_checkpoint(&parsed, NOW).unwrap()
        }
    }

    #[test]
    fn a_consistent_checkpoint_is_cosigned_and_becomes_the_latest() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(5);
        let line = given.submit(&given.request(0, 5)).unwrap();
        let note = add_signature_lines(&given.checkpoint(5).sign(&given.log_key), &[line]).unwrap();
        let witness_key = CosignatureKey::from_text(&given.witness.verifier_text()).unwrap();
        assert_eq!(witness_key.verify_cosignature(&note), Ok(NOW));
        given.grow_to(13);
        given.submit(&given.request(5, 13)).unwrap();
        assert_eq!(given.witness.latest_size(ORIGIN), 13);
        given
            .submit(&given.request(13, 13))
            .expect("the same checkpoint again is cosigned again");
    }

    #[test]
    fn a_stale_old_size_is_a_conflict_naming_the_latest_size() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(8);
        given.submit(&given.request(0, 5)).unwrap();
        assert_eq!(
            given.submit(&given.request(0, 8)),
            Err(Refusal::StaleOldSize { old: 0, latest: 5 })
        );
        assert_eq!(Refusal::StaleOldSize { old: 0, latest: 5 }.status(), 409);
        assert_eq!(
            given.witness.latest_size(ORIGIN),
            5,
            "a refusal saves nothing"
        );
    }

    #[test]
    fn a_smaller_checkpoint_than_the_latest_is_never_cosigned() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(9);
        given.submit(&given.request(0, 9)).unwrap();
        let mut rolled_back = given.request(5, 5);
        assert_eq!(
            given.submit(&rolled_back),
            Err(Refusal::StaleOldSize { old: 5, latest: 9 })
        );
        rolled_back.old_size = 9;
        assert_eq!(
            given.submit(&rolled_back),
            Err(Refusal::OldBeyondSize { old: 9, size: 5 })
        );
        assert_eq!(given.witness.latest_size(ORIGIN), 9);
    }

    #[test]
    fn a_fork_at_the_same_size_is_refused_as_inconsistent() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(6);
        given.submit(&given.request(0, 6)).unwrap();
        let mut forked = given.tree.leaf_hashes().to_vec();
        forked[2] = [0xAB; 32];
        let forked_root = root_from_leaves(&forked);
        let request = AddCheckpoint {
            old_size: 6,
            proof: vec![],
            note: Checkpoint::new(ORIGIN, 6, forked_root, vec![])
                .unwrap()
                .sign(&given.log_key),
        };
        let refusal = given.submit(&request).unwrap_err();
        assert!(
            matches!(refusal, Refusal::Inconsistent { latest: 6, .. }),
            "{refusal}"
        );
        assert_eq!(refusal.status(), 422);
    }

    #[test]
    fn a_rewritten_history_fails_its_consistency_proof() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(6);
        given.submit(&given.request(0, 6)).unwrap();
        let mut rewritten = MemoryTree::from_leaf_hashes(&given.tree.leaf_hashes()[..3]);
        for seq in 3..10 {
            rewritten.append_leaf(format!("rewritten {seq}").as_bytes());
        }
        let request = AddCheckpoint {
            old_size: 6,
            proof: consistency_proof(6, 10, &rewritten).unwrap(),
            note: Checkpoint::new(ORIGIN, 10, tree_root(10, &rewritten).unwrap(), vec![])
                .unwrap()
                .sign(&given.log_key),
        };
        assert_eq!(given.submit(&request).unwrap_err().status(), 422);
    }

    #[test]
    fn a_proof_with_any_flipped_bit_is_refused() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(11);
        given.submit(&given.request(0, 7)).unwrap();
        let good = given.request(7, 11);
        assert!(!good.proof.is_empty());
        for index in 0..good.proof.len() {
            for bit in [0, 77, 255] {
                let mut bad = good.clone();
                bad.proof[index][bit / 8] ^= 1 << (bit % 8);
                assert_eq!(given.submit(&bad).unwrap_err().status(), 422);
            }
        }
        let mut short = good.clone();
        short.proof.pop();
        assert_eq!(given.submit(&short).unwrap_err().status(), 422);
        given
            .submit(&good)
            .expect("the unaltered proof still passes");
    }

    #[test]
    fn a_checkpoint_not_signed_by_the_log_is_forbidden_and_an_unknown_log_not_found() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(4);
        let impostor = SignerKey::from_seed("kaixuan", [8u8; 32]).unwrap();
        let mut request = given.request(0, 4);
        request.note = given.checkpoint(4).sign(&impostor);
        assert_eq!(given.submit(&request).unwrap_err().status(), 403);
        let mut tampered = given.request(0, 4);
        tampered.note = tampered.note.replacen("\n4\n", "\n3\n", 1);
        assert_eq!(given.submit(&tampered).unwrap_err().status(), 403);
        let other_log = Checkpoint::new(
            "elsewhere.example/log",
            4,
            given.checkpoint(4).root_hash().to_owned(),
            vec![],
        )
        .unwrap()
        .sign(&given.log_key);
        request.note = other_log;
        assert_eq!(given.submit(&request).unwrap_err().status(), 404);
        assert_eq!(given.witness.latest_size(ORIGIN), 0);
    }

    #[test]
    fn old_beyond_size_a_nonempty_first_proof_and_bad_syntax_are_refused() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(4);
        let mut request = given.request(0, 4);
        request.old_size = 5;
        assert_eq!(given.submit(&request).unwrap_err().status(), 400);
        let mut request = given.request(0, 4);
        request.proof.push([1u8; 32]);
        assert_eq!(given.submit(&request).unwrap_err().status(), 422);
        for body in ["", "old 01\n\n", "old 1\nnot base64\n\n", "old 0\n"] {
            assert!(
                matches!(AddCheckpoint::parse(body), Err(Refusal::Malformed(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn the_latest_cosigned_checkpoint_is_read_back_on_open() {
        let mut given = given_a_witness_of_the_log();
        given.grow_to(9);
        given.submit(&given.request(0, 9)).unwrap();
        let reopened = Witness::open(given.dir.path(), "ignored-once-the-key-exists").unwrap();
        assert_eq!(reopened.latest_size(ORIGIN), 9);
        assert_eq!(reopened.verifier_text(), given.witness.verifier_text());
    }
}
