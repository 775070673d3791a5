//! The server's side of the transparency log: keeps the Merkle tree level with
//! the log, signs checkpoints that bind a tree size to its root and to the
//! digest of every balance at that size, and answers proofs and receipts.
//!
//! Files under the data directory:
//! - `keys/checkpoint.key`: the signer key (note format, mode 0600), made by
//!   `mingzhang keygen`; `keys/checkpoint.pub` is its verifier key.
//! - `merkle/`: the tree (derived state, rebuilt from the log when missing).
//! - `checkpoints/<size>.note`, and `checkpoints/latest.note`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mingzhang_ledger::checkpoint::{Checkpoint, SignerKey, VerifierKey};
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
    let root = mingzhang_ledger::merkle::root_from_leaves(&leaves);
    let checkpoint = Checkpoint::new(origin, size, root, vec![balances_line(&balances_digest)])?;
    Ok((size, checkpoint.sign(signer)))
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
    checkpoints_dir: PathBuf,
    latest: RwLock<Option<(u64, String)>>,
    /// Held through a whole signing, so signers take turns and `latest.note`
    /// only moves forward, while the tree itself is let go for proofs and
    /// receipts during the witnesses' round trips.
    signing_turn: Mutex<()>,
    /// Where each new checkpoint goes for cosignatures before it is published.
    witnesses: Option<crate::witness_client::WitnessClient>,
}

impl Transparency {
    /// Opens the tree (catching it up with the log) and the signing key,
    /// creating the key on first use.
    pub fn open(
        data_dir: &Path,
        store: &dyn EventStore,
        origin: &str,
    ) -> anyhow::Result<Transparency> {
        keygen(data_dir, "mingzhang")?;
        let (private_path, _) = key_paths(data_dir);
        let signer = SignerKey::from_text(std::fs::read_to_string(&private_path)?.trim())
            .map_err(|error| anyhow::anyhow!("{}: {error}", private_path.display()))?;
        let log_len = store.head().len;
        let (mut merkle, report) = MerkleStore::open(&data_dir.join("merkle"), log_len)?;
        if report.missing > 0 {
            tracing::info!(
                missing = report.missing,
                "catching the Merkle tree up with the log"
            );
        }
        merkle.catch_up(store, log_len)?;
        merkle.sync()?;
        let checkpoints_dir = data_dir.join("checkpoints");
        std::fs::create_dir_all(&checkpoints_dir)?;
        let latest = match std::fs::read_to_string(checkpoints_dir.join("latest.note")) {
            Ok(note) => {
                let checkpoint = Checkpoint::open_signed(&note, &signer.verifier())
                    .map_err(|error| anyhow::anyhow!("checkpoints/latest.note: {error}"))?;
                if checkpoint.size() > log_len {
                    bail!(
                        "checkpoints/latest.note covers {} records but the log has {log_len}",
                        checkpoint.size()
                    );
                }
                Some((checkpoint.size(), note))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        Ok(Transparency {
            origin: origin.to_owned(),
            signer,
            merkle: Mutex::new(merkle),
            checkpoints_dir,
            latest: RwLock::new(latest),
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
        let mut merkle = self.merkle.lock();
        if let Some((latest_size, note)) = self.latest.read().as_ref()
            && *latest_size >= size
        {
            return Ok((*latest_size, note.clone()));
        }
        if merkle.len() < size {
            merkle.catch_up(store, size)?;
        }
        merkle.sync()?;
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
        write_durably(
            &self.checkpoints_dir.join(format!("{size}.note")),
            note.as_bytes(),
            0o644,
        )?;
        write_durably(
            &self.checkpoints_dir.join("latest.note"),
            note.as_bytes(),
            0o644,
        )?;
        *self.latest.write() = Some((size, note.clone()));
        Ok((size, note))
    }

    pub fn latest(&self) -> Option<(u64, String)> {
        self.latest.read().clone()
    }

    pub fn checkpoint_at(&self, size: u64) -> Option<String> {
        std::fs::read_to_string(self.checkpoints_dir.join(format!("{size}.note"))).ok()
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
