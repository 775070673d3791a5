//! The server's side of the transparency log: keeps the Merkle tree level with
//! the log, signs checkpoints that bind a tree size to its root and to the
//! digest of every balance at that size, and answers proofs and receipts.
//!
//! Files under the data directory:
//! - `keys/checkpoint.key`: the signer key (note format, mode 0600), made by
//!   `mingzhang keygen`; `keys/checkpoint.pub` is its verifier key.
//! - `merkle/`: the tree (derived state, rebuilt from the log when missing).
//! - `checkpoints/<size>.note`, and `checkpoints/latest.note`, for the
//!   embedded log. A log in PostgreSQL keeps its checkpoints in the database
//!   beside the records (`mingzhang_checkpoints`), so that every server on it
//!   answers with the same checkpoint for a size, and a server that takes
//!   the write role signs on from the latest any server saved.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey, VerifierKey};
use mingzhang_ledger::checkpoint_store::{
    CheckpointStore, CheckpointStoreError, FileCheckpoints, SavedCheckpoint,
};
use mingzhang_ledger::merkle::{Hash, MerkleStore};
use mingzhang_ledger::receipt::Receipt;
use mingzhang_ledger::store::EventStore;
use mingzhang_projections::Projections;
use parking_lot::{Mutex, RwLock};

/// What a checkpoint binds of the projections: how many records they have
/// applied, and the digest of every balance after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectionsAt {
    pub size: u64,
    pub balances_digest: [u8; 32],
}

impl ProjectionsAt {
    pub fn taken_from(projections: &Projections) -> ProjectionsAt {
        ProjectionsAt {
            size: projections.applied_len(),
            balances_digest: projections.balances_digest(),
        }
    }
}

pub use mingzhang_audit::{BALANCES_LINE_PREFIX, balances_digest_of, balances_line};
pub const DEFAULT_ORIGIN: &str = "mingzhang.local/ledger";

/// How long `Transparency::latest` answers from memory before asking the
/// checkpoint store again: another server may have saved a newer one, and
/// the page asks on every request.
pub const LATEST_MAX_AGE: Duration = Duration::from_millis(100);
/// How long opening waits for the log to reach the latest saved checkpoint
/// (in a database, another server may have written and signed meanwhile).
pub const LOG_REACHES_CHECKPOINT_WAIT: Duration = Duration::from_secs(5);

/// The checkpoints of the embedded log, in `<data-dir>/checkpoints`.
pub fn file_checkpoints(data_dir: &Path) -> anyhow::Result<Arc<dyn CheckpointStore>> {
    Ok(Arc::new(FileCheckpoints::open(
        &data_dir.join("checkpoints"),
    )?))
}

pub fn key_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let keys = data_dir.join("keys");
    (keys.join("checkpoint.key"), keys.join("checkpoint.pub"))
}

/// Creates the checkpoint signing key unless one exists; returns the verifier key text.
pub fn keygen(data_dir: &Path, name: &str) -> anyhow::Result<String> {
    let (private_path, public_path) = key_paths(data_dir);
    if private_path.exists() {
        let signer = SignerKey::from_text(std::fs::read_to_string(&private_path)?.trim())
            .map_err(|error| anyhow::anyhow!("{}: {error}", private_path.display()))?;
        return Ok(signer.verifier().to_text());
    }
    std::fs::create_dir_all(private_path.parent().expect("has a parent"))?;
    let signer =
        SignerKey::generate(name).map_err(|error| anyhow::anyhow!("key name {name:?}: {error}"))?;
    write_durably(&private_path, signer.to_text().as_bytes(), 0o600)?;
    let verifier = signer.verifier().to_text();
    write_durably(&public_path, format!("{verifier}\n").as_bytes(), 0o644)?;
    Ok(verifier)
}

/// The checkpoint signing key `keygen` made, read without creating one.
pub fn load_signer(data_dir: &Path) -> anyhow::Result<SignerKey> {
    let (private_path, _) = key_paths(data_dir);
    let text = match std::fs::read_to_string(&private_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} has no checkpoint signing key ({}); run `mingzhang --data-dir {} keygen` first",
            data_dir.display(),
            private_path.display(),
            data_dir.display()
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", private_path.display()));
        }
    };
    SignerKey::from_text(text.trim())
        .map_err(|error| anyhow::anyhow!("{}: {error}", private_path.display()))
}

/// A checkpoint note over the first `projections.applied_len()` records of
/// `store`, binding their balances, signed by `signer`; the Merkle root is
/// computed in memory, so nothing is written anywhere.
pub fn sign_detached(
    store: &dyn EventStore,
    projections: &Projections,
    signer: &SignerKey,
    origin: &str,
) -> anyhow::Result<(u64, String)> {
    let ProjectionsAt {
        size,
        balances_digest,
    } = ProjectionsAt::taken_from(projections);
    let root = root_of_prefix(store, size)?;
    let checkpoint = Checkpoint::new(origin, size, root, vec![balances_line(&balances_digest)])?;
    Ok((size, checkpoint.sign(signer)))
}

/// The log's length once it covers `size` records, or after
/// `LOG_REACHES_CHECKPOINT_WAIT`: a server of a log in a database may learn
/// of the records a moment after another server saved a checkpoint over them.
fn wait_for_the_log_to_reach(store: &dyn EventStore, size: u64) -> u64 {
    let started = Instant::now();
    loop {
        let len = store.head().len;
        if len >= size || started.elapsed() >= LOG_REACHES_CHECKPOINT_WAIT {
            return len;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The RFC 9162 root of the first `size` records of `store`, computed in memory.
pub fn root_of_prefix(store: &dyn EventStore, size: u64) -> anyhow::Result<Hash> {
    let mut leaves = Vec::with_capacity(usize::try_from(size)?);
    while (leaves.len() as u64) < size {
        let batch = store.read(leaves.len() as u64, 4096)?;
        if batch.is_empty() {
            bail!("the log ended at {} records, before {size}", leaves.len());
        }
        for record in batch.iter().take((size - leaves.len() as u64) as usize) {
            leaves.push(mingzhang_ledger::merkle::leaf_hash(record.bytes()));
        }
    }
    Ok(mingzhang_ledger::merkle::root_from_leaves(&leaves))
}

/// Checks that `saved` verifies under `key` and that the first records of
/// `store` hash to its root: the log extends what was signed.
pub fn require_log_extends(
    store: &dyn EventStore,
    saved: &SavedCheckpoint,
    key: &VerifierKey,
) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open_signed(&saved.note, key).map_err(|error| {
        anyhow::anyhow!(
            "the checkpoint saved at size {} does not verify under {}: {error}",
            saved.size,
            key.to_text()
        )
    })?;
    let len = store.head().len;
    if checkpoint.size() > len {
        bail!(
            "the checkpoint saved at size {} covers more than the log's {len} records: records were removed",
            checkpoint.size()
        );
    }
    if root_of_prefix(store, checkpoint.size())? != *checkpoint.root_hash() {
        bail!(
            "the log's first {} records do not hash to the root of the checkpoint saved at that size: history was rewritten",
            checkpoint.size()
        );
    }
    Ok(())
}

/// Writes via a temporary file, fsync and rename, so a crash leaves the old
/// file or the new one, never half of either.
pub fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(path.parent().expect("has a parent"))?.sync_all()?;
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InclusionProof {
    pub seq: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub proof: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub proof: Vec<String>,
}

pub struct Transparency {
    origin: String,
    signer: SignerKey,
    merkle: Mutex<MerkleStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    /// The latest saved checkpoint this server knows, and when it last asked
    /// the store; only moves forward.
    latest: RwLock<(Option<SavedCheckpoint>, Option<Instant>)>,
    /// Held through a whole signing, so this server's signers take turns,
    /// while the tree itself is let go for proofs and receipts during the
    /// witnesses' round trips.
    signing_turn: Mutex<()>,
    /// Where each new checkpoint goes for cosignatures before it is published.
    witnesses: Option<crate::witness_client::WitnessClient>,
}

impl Transparency {
    /// Opens the tree (catching it up with the log) and the signing key,
    /// creating the key on first use, with the checkpoints in
    /// `<data-dir>/checkpoints`.
    pub fn open(
        data_dir: &Path,
        store: &dyn EventStore,
        origin: &str,
    ) -> anyhow::Result<Transparency> {
        Transparency::open_with(data_dir, store, origin, file_checkpoints(data_dir)?)
    }

    /// `open` with the checkpoints kept in `checkpoints`. The latest saved
    /// must be signed by this server's key (every server of one log signs
    /// with the one key) and the log must extend it.
    pub fn open_with(
        data_dir: &Path,
        store: &dyn EventStore,
        origin: &str,
        checkpoints: Arc<dyn CheckpointStore>,
    ) -> anyhow::Result<Transparency> {
        keygen(data_dir, "mingzhang")?;
        let (private_path, _) = key_paths(data_dir);
        let signer = SignerKey::from_text(std::fs::read_to_string(&private_path)?.trim())
            .map_err(|error| anyhow::anyhow!("{}: {error}", private_path.display()))?;
        let latest = checkpoints.latest()?;
        let log_len = match &latest {
            Some(latest) => wait_for_the_log_to_reach(store, latest.size),
            None => store.head().len,
        };
        let (mut merkle, report) = MerkleStore::open(&data_dir.join("merkle"), log_len)?;
        if report.missing > 0 {
            tracing::info!(
                missing = report.missing,
                "catching the Merkle tree up with the log"
            );
        }
        merkle.catch_up(store, log_len)?;
        merkle.sync()?;
        if let Some(latest) = &latest {
            let where_saved = checkpoints.describe();
            let checkpoint =
                Checkpoint::open_signed(&latest.note, &signer.verifier()).map_err(|error| {
                    anyhow::anyhow!(
                        "{where_saved}: the latest checkpoint, at size {}, does not verify under \
                         this server's key {} (rule: every server of one log signs with the one \
                         key): {error}",
                        latest.size,
                        signer.verifier().to_text()
                    )
                })?;
            if checkpoint.size() > log_len {
                bail!(
                    "{where_saved}: the latest checkpoint covers {} records but the log has {log_len}",
                    checkpoint.size()
                );
            }
            if merkle.root(checkpoint.size())? != *checkpoint.root_hash() {
                bail!(
                    "{where_saved}: the log's first {} records do not hash to the latest \
                     checkpoint's root: the log does not extend what was signed",
                    checkpoint.size()
                );
            }
        }
        Ok(Transparency {
            origin: origin.to_owned(),
            signer,
            merkle: Mutex::new(merkle),
            checkpoints,
            latest: RwLock::new((latest, Some(Instant::now()))),
            signing_turn: Mutex::new(()),
            witnesses: None,
        })
    }

    /// Every checkpoint signed from now on is first submitted to these
    /// witnesses, and published with the cosignatures they answer.
    pub fn with_witnesses(
        mut self,
        witnesses: crate::witness_client::WitnessClient,
    ) -> Transparency {
        self.witnesses = (!witnesses.is_empty()).then_some(witnesses);
        self
    }

    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier()
    }

    /// The keys of the witnesses each checkpoint is submitted to.
    pub fn witness_keys(&self) -> Vec<mingzhang_ledger::checkpoint::CosignatureKey> {
        self.witnesses
            .as_ref()
            .map(crate::witness_client::WitnessClient::keys)
            .unwrap_or_default()
    }

    /// Signs a checkpoint at the projections' size, binding their balances.
    /// The tree is synced before the checkpoint is published, so a published
    /// root never refers to tree data that a crash could lose.
    pub fn sign(
        &self,
        store: &dyn EventStore,
        projections: &Projections,
    ) -> anyhow::Result<(u64, String)> {
        self.sign_at(store, ProjectionsAt::taken_from(projections))
    }

    /// Signs a checkpoint over projections as they were at `at`. The server
    /// takes `at` under the projections' lock and signs after letting it go:
    /// bringing the tree level with the log reads and hashes every record
    /// since the last checkpoint, hundreds of milliseconds under load, and
    /// for that long the lock held back every query and the projections'
    /// next catch-up.
    pub fn sign_at(
        &self,
        store: &dyn EventStore,
        at: ProjectionsAt,
    ) -> anyhow::Result<(u64, String)> {
        let ProjectionsAt {
            size,
            balances_digest,
        } = at;
        let _turn = self.signing_turn.lock();
        let latest = self.latest_saved();
        if let Some(latest) = &latest
            && latest.size >= size
        {
            return Ok((latest.size, latest.note.clone()));
        }
        let mut merkle = self.merkle.lock();
        if merkle.len() < size {
            merkle.catch_up(store, size)?;
        }
        merkle.sync()?;
        if let Some(latest) = &latest {
            self.require_extends(&merkle, latest)?;
        }
        let root = merkle.root(size)?;
        let checkpoint = Checkpoint::new(
            &self.origin,
            size,
            root,
            vec![balances_line(&balances_digest)],
        )?;
        let note = checkpoint.sign(&self.signer);
        drop(merkle);
        let note = match &self.witnesses {
            Some(witnesses) => witnesses.cosign(
                |old| self.merkle.lock().consistency_proof(old, size).ok(),
                &checkpoint,
                &note,
            ),
            None => note,
        };
        let note = match self.checkpoints.save(size, &note) {
            Ok(()) => note,
            // Another server of this log saved this size first (the same
            // body and signature, other cosignatures): all serve that one.
            Err(CheckpointStoreError::DifferentNoteAtSize { .. }) => {
                self.checkpoints.at(size)?.with_context(|| {
                    format!(
                        "{}: a checkpoint at size {size} was refused as a rewrite but none is there",
                        self.checkpoints.describe()
                    )
                })?
            }
            Err(error) => return Err(error.into()),
        };
        self.remember(SavedCheckpoint {
            size,
            note: note.clone(),
        });
        Ok((size, note))
    }

    /// A checkpoint signed after `latest` must extend it: this server's tree
    /// has the same root at its size. Only a log rewritten under a running
    /// server, or a server on another log with the same key, fails this.
    fn require_extends(
        &self,
        merkle: &MerkleStore,
        latest: &SavedCheckpoint,
    ) -> anyhow::Result<()> {
        let saved = Checkpoint::open_signed(&latest.note, &self.signer.verifier()).map_err(
            |error| {
                anyhow::anyhow!(
                    "{}: the checkpoint at size {} does not verify under this server's key: {error}",
                    self.checkpoints.describe(),
                    latest.size
                )
            },
        )?;
        if merkle.root(saved.size())? != *saved.root_hash() {
            bail!(
                "{}: this server's log does not extend the checkpoint saved at size {}; \
                 refusing to sign one that is not consistent with it",
                self.checkpoints.describe(),
                saved.size()
            );
        }
        Ok(())
    }

    /// The latest checkpoint saved by any server of this log (asked of the
    /// store at most every `LATEST_MAX_AGE`).
    pub fn latest(&self) -> Option<(u64, String)> {
        self.latest_saved().map(|latest| (latest.size, latest.note))
    }

    fn latest_saved(&self) -> Option<SavedCheckpoint> {
        {
            let (latest, asked_at) = &*self.latest.read();
            if asked_at.is_some_and(|at| at.elapsed() < LATEST_MAX_AGE) {
                return latest.clone();
            }
        }
        match self.checkpoints.latest() {
            Ok(Some(saved)) => self.remember(saved),
            Ok(None) => {}
            // Answered from memory meanwhile; the store is asked again next time.
            Err(error) => tracing::warn!(%error, "reading the latest checkpoint"),
        }
        let mut latest = self.latest.write();
        latest.1 = Some(Instant::now());
        latest.0.clone()
    }

    /// Keeps `saved` as the latest known unless a larger one is.
    fn remember(&self, saved: SavedCheckpoint) {
        let mut latest = self.latest.write();
        if latest
            .0
            .as_ref()
            .is_none_or(|known| known.size < saved.size)
        {
            latest.0 = Some(saved);
        }
    }

    pub fn checkpoint_at(&self, size: u64) -> Option<String> {
        self.checkpoints.at(size).unwrap_or_else(|error| {
            tracing::warn!(%error, size, "reading a checkpoint");
            None
        })
    }

    fn tree_covering(
        &self,
        store: &dyn EventStore,
        size: u64,
    ) -> anyhow::Result<parking_lot::MutexGuard<'_, MerkleStore>> {
        let durable = store.head().len;
        if size > durable {
            bail!("tree size {size} is beyond the log's {durable} records");
        }
        let mut merkle = self.merkle.lock();
        if merkle.len() < size {
            merkle.catch_up(store, size)?;
        }
        Ok(merkle)
    }

    pub fn inclusion_proof(
        &self,
        store: &dyn EventStore,
        seq: u64,
        tree_size: u64,
    ) -> anyhow::Result<InclusionProof> {
        if seq >= tree_size {
            bail!("seq {seq} is not in a tree of size {tree_size}");
        }
        let merkle = self.tree_covering(store, tree_size)?;
        Ok(InclusionProof {
            seq,
            tree_size,
            leaf_hash: hex::encode(merkle.leaf_hash(seq)?),
            proof: merkle
                .inclusion_proof(seq, tree_size)?
                .iter()
                .map(hex::encode)
                .collect(),
        })
    }

    pub fn consistency_proof(
        &self,
        store: &dyn EventStore,
        old_size: u64,
        new_size: u64,
    ) -> anyhow::Result<ConsistencyProof> {
        if old_size > new_size {
            bail!("old size {old_size} is larger than new size {new_size}");
        }
        let merkle = self.tree_covering(store, new_size)?;
        Ok(ConsistencyProof {
            old_size,
            new_size,
            proof: merkle
                .consistency_proof(old_size, new_size)?
                .iter()
                .map(hex::encode)
                .collect(),
        })
    }

    /// The bytes of a tlog-tiles hash tile (docs/proofs.md §15) of a tree
    /// of at least `size` records: hashes of complete subtrees, which the
    /// Merkle store holds at every 4th level and so at every 8th.
    pub fn tile(
        &self,
        store: &dyn EventStore,
        tile: mingzhang_ledger::tiles::TileId,
        size: u64,
    ) -> anyhow::Result<Vec<u8>> {
        let merkle = self.tree_covering(store, size)?;
        Ok(mingzhang_ledger::tiles::tile_bytes(tile, &*merkle)?)
    }

    /// A receipt for record `seq`, proven against the latest checkpoint that
    /// covers it (signing a new one from `projections` if none does yet).
    pub fn receipt(
        &self,
        store: &dyn EventStore,
        projections: &Projections,
        seq: u64,
    ) -> anyhow::Result<Receipt> {
        let (size, note) = match self.latest() {
            Some((size, note)) if size > seq => (size, note),
            _ => self.sign(store, projections)?,
        };
        if seq >= size {
            bail!("record {seq} is not yet in the log's projections (they cover {size} records)");
        }
        let record = store
            .read(seq, 1)?
            .pop()
            .context("record vanished from the log")?;
        let proof: Vec<Hash> = self
            .tree_covering(store, size)?
            .inclusion_proof(seq, size)?;
        Ok(Receipt::build(&record, &proof, &note)?)
    }
}

#[cfg(test)]
mod tests {
    use mingzhang_ledger::checkpoint::{CosignerKey, add_signature_lines};
    use mingzhang_ledger::store::MemoryStore;

    use super::*;

    const ORIGIN: &str = "test.mingzhang/ledger";

    async fn store_of(records: u64) -> MemoryStore {
        let store = MemoryStore::new();
        for seq in 0..records {
            store
                .append(seq, vec![format!("record {seq}").into_bytes()])
                .await
                .expect("append");
        }
        store
    }

    fn at(size: u64) -> ProjectionsAt {
        ProjectionsAt {
            size,
            balances_digest: [size as u8; 32],
        }
    }

    /// Another server's save that this one has not seen as the latest yet.
    struct NotYetSeen(FileCheckpoints);

    impl CheckpointStore for NotYetSeen {
        fn save(&self, size: u64, note: &str) -> Result<(), CheckpointStoreError> {
            self.0.save(size, note)
        }
        fn latest(&self) -> Result<Option<SavedCheckpoint>, CheckpointStoreError> {
            Ok(None)
        }
        fn at(&self, size: u64) -> Result<Option<String>, CheckpointStoreError> {
            self.0.at(size)
        }
        fn describe(&self) -> String {
            self.0.describe()
        }
    }

    #[tokio::test]
    async fn a_checkpoint_another_server_saved_first_at_a_size_is_the_one_served() {
        let store = store_of(5).await;
        let data = tempfile::tempdir().expect("tempdir");
        let shared = tempfile::tempdir().expect("tempdir");
        keygen(data.path(), "one-key").expect("keygen");
        let signer = load_signer(data.path()).expect("signer");
        // The other server's note: the same body and signature, and a
        // witness's cosignature this server did not get.
        let root = mingzhang_ledger::merkle::root_from_leaves(
            &store
                .read(0, 5)
                .expect("read")
                .iter()
                .map(|record| mingzhang_ledger::merkle::leaf_hash(record.bytes()))
                .collect::<Vec<_>>(),
        );
        let body = Checkpoint::new(ORIGIN, 5, root, vec![balances_line(&at(5).balances_digest)])
            .expect("checkpoint");
        let witness = CosignerKey::generate("witness.example/w1").expect("witness key");
        let theirs = add_signature_lines(&body.sign(&signer), &[witness.cosign(&body, 1)])
            .expect("cosigned");
        let checkpoints = Arc::new(NotYetSeen(
            FileCheckpoints::open(shared.path()).expect("open"),
        ));
        checkpoints
            .save(5, &theirs)
            .expect("the other server saves first");

        let transparency =
            Transparency::open_with(data.path(), &store, ORIGIN, checkpoints).expect("open");
        let (size, ours) = transparency.sign_at(&store, at(5)).expect("sign");
        assert_eq!(size, 5);
        assert_eq!(ours, theirs, "the note saved first is served");
        assert_eq!(transparency.checkpoint_at(5), Some(theirs));
    }

    #[tokio::test]
    async fn a_server_whose_key_did_not_sign_the_latest_saved_checkpoint_does_not_start() {
        let store = store_of(3).await;
        let data = tempfile::tempdir().expect("tempdir");
        keygen(data.path(), "this-server").expect("keygen");
        let other = SignerKey::generate("another-server").expect("key");
        let (_, note) = sign_detached_at(&store, 3, &other);
        let checkpoints = file_checkpoints(data.path()).expect("open");
        checkpoints.save(3, &note).expect("save");

        let refused = Transparency::open_with(data.path(), &store, ORIGIN, checkpoints)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            refused.contains("rule: every server of one log signs with the one key"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn no_checkpoint_is_signed_over_a_log_that_does_not_extend_the_latest_saved() {
        let store = store_of(4).await;
        let data = tempfile::tempdir().expect("tempdir");
        keygen(data.path(), "one-key").expect("keygen");
        let signer = load_signer(data.path()).expect("signer");
        let checkpoints = file_checkpoints(data.path()).expect("open");
        let transparency =
            Transparency::open_with(data.path(), &store, ORIGIN, checkpoints.clone())
                .expect("open");
        // Saved by another server, with the one key, over other records.
        let forged = Checkpoint::new(ORIGIN, 2, [9; 32], Vec::new())
            .expect("checkpoint")
            .sign(&signer);
        checkpoints.save(2, &forged).expect("save");
        std::thread::sleep(LATEST_MAX_AGE * 2);

        let refused = format!(
            "{:#}",
            transparency.sign_at(&store, at(4)).expect_err("refused")
        );
        assert!(
            refused.contains("does not extend the checkpoint saved at size 2"),
            "{refused}"
        );
        assert_eq!(checkpoints.at(4).expect("at"), None, "nothing was saved");
    }

    fn sign_detached_at(store: &MemoryStore, size: u64, key: &SignerKey) -> (u64, String) {
        let root = root_of_prefix(store, size).expect("root");
        let note = Checkpoint::new(ORIGIN, size, root, Vec::new())
            .expect("checkpoint")
            .sign(key);
        (size, note)
    }
}
