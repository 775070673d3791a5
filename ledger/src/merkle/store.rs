//! `MerkleStore`: the tree kept on disk so that the root of any size and any
//! proof is served without rehashing the log.
//!
//! **Just a cache.** Everything here is derived from the log and can be
//! deleted; `open` rebuilds what is missing by asking the caller for leaves.
//! It is therefore not fsync'd per append: `sync` makes a prefix durable and
//! records its length in `tree.meta`, and after a crash `open` trusts only
//! that prefix and reports how many leaves the caller must feed again.
//!
//! Layout of the directory (all hashes are raw 32-byte SHA-256 values):
//!
//! ```text
//! level-00.hashes   entry i = leaf hash i                      (32 bytes each)
//! level-04.hashes   entry i = hash of complete subtree of 16 leaves [16i, 16i+16)
//! level-08.hashes   entry i = hash of complete subtree of 256 leaves
//! ...               every STORED_LEVEL_STRIDE-th level, up to level 60
//! tree.meta         8 bytes "MZMERKL1", 8 bytes synced leaf count (u64 LE),
//!                   4 bytes crc32c of the 16 bytes before (LE)
//! ```
//!
//! A stored level holds only complete subtrees, so its entries never change
//! once written: appending is appending to files. Any node at level
//! `4s + r` (r < 4) is the fold of 2^r consecutive entries of stored level
//! `4s`: at most 8 hashes read with one `pread` and 7 hashed. Storage is
//! 32 * (1 + 1/16 + 1/256 + ...) ~= 34.1 bytes per leaf.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{
    Hash, HashReader, MerkleError, consistency_proof, fold_complete, inclusion_proof, leaf_hash,
    tree_root,
};
use crate::record::StoredRecord;
use crate::store::EventStore;

/// Tree levels between two stored levels. 4 keeps storage near 34 bytes a leaf
/// and any node at most one 256-byte read and 7 hashes away.
pub const STORED_LEVEL_STRIDE: u32 = 4;
const GROUP_LEN: usize = 1 << STORED_LEVEL_STRIDE;
/// Stored levels 0, 4, ..., 60 cover every tree of up to 2^64 leaves.
const STORED_LEVELS: usize = 64 / STORED_LEVEL_STRIDE as usize;
const HASH_LEN: u64 = 32;
/// One `append_leaf_hashes` call at most; the caller feeds the log in chunks.
pub const APPEND_BATCH_LEAVES_MAX: usize = 1 << 20;
/// Records read from the log per batch by `catch_up`.
pub const CATCH_UP_BATCH_RECORDS: usize = 4096;

const META_FILE: &str = "tree.meta";
const META_MAGIC: [u8; 8] = *b"MZMERKL1";
const META_LEN: usize = 20;

/// What `open` found and did, so the caller knows which leaves to feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Leaves the store holds now: a prefix of the log.
    pub leaves: u64,
    /// `log_len - leaves`: the caller must `append_leaves` these records.
    pub missing: u64,
    /// Leaf hashes found on disk but dropped: beyond `log_len`, beyond the
    /// last `sync`, or in a torn tail.
    pub dropped: u64,
}

struct LevelFile {
    file: File,
    path: PathBuf,
    /// Complete 32-byte entries written (durable or not).
    entries: u64,
}

pub struct MerkleStore {
    dir: PathBuf,
    levels: Vec<Option<LevelFile>>,
    /// Per stored level, the entries of the group not yet folded into the
    /// level above (fewer than GROUP_LEN); needed to extend the tree.
    tails: Vec<Vec<Hash>>,
    leaves: u64,
    synced_leaves: u64,
    /// A new level file's directory entry is not durable until the directory
    /// is fsync'd.
    dir_dirty: bool,
    failed: bool,
}

impl std::fmt::Debug for MerkleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerkleStore")
            .field("dir", &self.dir)
            .field("leaves", &self.leaves)
            .field("synced_leaves", &self.synced_leaves)
            .finish()
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MerkleError + '_ {
    move |source| MerkleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn level_path(dir: &Path, stored_level: usize) -> PathBuf {
    dir.join(format!(
        "level-{:02}.hashes",
        stored_level * STORED_LEVEL_STRIDE as usize
    ))
}

fn entries_at(stored_level: usize, leaves: u64) -> u64 {
    leaves >> (stored_level as u32 * STORED_LEVEL_STRIDE)
}

impl MerkleStore {
    /// Opens (creating if needed) the store in `dir` and reconciles it with a
    /// log of `log_len` records: hashes beyond the log, beyond the last
    /// `sync`, or in a torn tail are dropped. The caller then appends the
    /// `report.missing` records from seq `report.leaves` on.
    pub fn open(dir: &Path, log_len: u64) -> Result<(MerkleStore, OpenReport), MerkleError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let synced = read_meta(dir)?;
        let mut levels: Vec<Option<LevelFile>> = Vec::with_capacity(STORED_LEVELS);
        let mut leaves = synced.min(log_len);
        let mut found_leaves = 0u64;
        for stored_level in 0..STORED_LEVELS {
            let path = level_path(dir, stored_level);
            let file = match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(file) => Some(file),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(io_error(&path)(e)),
            };
            let entries = match &file {
                Some(file) => file.metadata().map_err(io_error(&path))?.len() / HASH_LEN,
                None => 0,
            };
            // A level with `entries` complete entries can describe at most
            // `((entries + 1) << shift) - 1` leaves; a shorter file than
            // that means lost writes, so trust less.
            let shift = stored_level as u32 * STORED_LEVEL_STRIDE;
            if stored_level == 0 {
                found_leaves = entries;
                leaves = leaves.min(entries);
            } else {
                let limit = ((entries as u128 + 1) << shift) - 1;
                leaves = leaves.min(limit.min(u64::MAX as u128) as u64);
            }
            levels.push(file.map(|file| LevelFile {
                file,
                path,
                entries,
            }));
        }
        if leaves < synced {
            // Lower the durable mark before cutting files, so a crash in
            // between never trusts hashes that are gone.
            write_meta(dir, leaves)?;
        }
        let mut tails = vec![Vec::new(); STORED_LEVELS];
        for (stored_level, level) in levels.iter_mut().enumerate() {
            let Some(level) = level else { continue };
            let keep = entries_at(stored_level, leaves);
            if level.entries != keep
                || level.file.metadata().map_err(io_error(&level.path))?.len() != keep * HASH_LEN
            {
                level
                    .file
                    .set_len(keep * HASH_LEN)
                    .map_err(io_error(&level.path))?;
                level.entries = keep;
            }
            let tail_len = keep % GROUP_LEN as u64;
            let mut bytes = vec![0u8; (tail_len * HASH_LEN) as usize];
            level
                .file
                .read_exact_at(&mut bytes, (keep - tail_len) * HASH_LEN)
                .map_err(io_error(&level.path))?;
            tails[stored_level] = bytes
                .chunks_exact(HASH_LEN as usize)
                .map(|chunk| chunk.try_into().expect("32 bytes"))
                .collect();
        }
        let store = MerkleStore {
            dir: dir.to_path_buf(),
            levels,
            tails,
            leaves,
            synced_leaves: leaves,
            dir_dirty: false,
            failed: false,
        };
        store.assert_shape();
        let report = OpenReport {
            leaves,
            missing: log_len - leaves,
            dropped: found_leaves.max(leaves) - leaves,
        };
        Ok((store, report))
    }

    /// Leaves held (durable or not).
    pub fn len(&self) -> u64 {
        self.leaves
    }

    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Leaves made durable by the last `sync`.
    pub fn synced_len(&self) -> u64 {
        self.synced_leaves
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends the records as the next leaves; `records[i].seq()` must be
    /// `len() + i`.
    pub fn append_leaves(&mut self, records: &[StoredRecord]) -> Result<(), MerkleError> {
        let mut hashes = Vec::with_capacity(records.len());
        for (offset, record) in records.iter().enumerate() {
            let expected = self.leaves + offset as u64;
            if record.seq() != expected {
                return Err(MerkleError::RecordOutOfOrder {
                    expected,
                    found: record.seq(),
                });
            }
            hashes.push(leaf_hash(record.bytes()));
        }
        self.append_leaf_hashes(&hashes)
    }

    /// Feeds the store from `log` until it holds `log_len` leaves, reading
    /// `CATCH_UP_BATCH_RECORDS` at a time; returns how many were appended.
    /// The usual call after `open`: `store.catch_up(&log, log.head().len)`.
    pub fn catch_up(&mut self, log: &dyn EventStore, log_len: u64) -> Result<u64, MerkleError> {
        let start = self.leaves;
        while self.leaves < log_len {
            let want = (log_len - self.leaves).min(CATCH_UP_BATCH_RECORDS as u64) as usize;
            let records = log
                .read(self.leaves, want)
                .map_err(|source| MerkleError::LogRead {
                    from_seq: self.leaves,
                    source,
                })?;
            if records.is_empty() {
                return Err(MerkleError::LogEnded {
                    seq: self.leaves,
                    expected_len: log_len,
                });
            }
            assert!(
                records.len() <= want,
                "log returned more records than asked"
            );
            self.append_leaves(&records)?;
        }
        Ok(self.leaves - start)
    }

    /// Appends already computed leaf hashes (`leaf_hash(record bytes)`).
    pub fn append_leaf_hashes(&mut self, hashes: &[Hash]) -> Result<(), MerkleError> {
        assert!(
            hashes.len() <= APPEND_BATCH_LEAVES_MAX,
            "merkle store: batch of {} leaves over APPEND_BATCH_LEAVES_MAX",
            hashes.len()
        );
        if self.failed {
            return Err(MerkleError::Failed);
        }
        let mut writes: Vec<Vec<u8>> = vec![Vec::new(); STORED_LEVELS];
        for hash in hashes {
            self.push(0, *hash, &mut writes);
        }
        let result = self.write_levels(&writes);
        if result.is_err() {
            // Memory and disk may now disagree; only a reopen knows the truth.
            self.failed = true;
        }
        result?;
        self.leaves += hashes.len() as u64;
        self.assert_shape();
        Ok(())
    }

    fn push(&mut self, stored_level: usize, hash: Hash, writes: &mut [Vec<u8>]) {
        assert!(stored_level < STORED_LEVELS, "merkle store: tree over 2^64");
        writes[stored_level].extend_from_slice(&hash);
        let tail = &mut self.tails[stored_level];
        tail.push(hash);
        if tail.len() == GROUP_LEN {
            let parent = fold_complete(tail);
            tail.clear();
            self.push(stored_level + 1, parent, writes);
        }
    }

    fn write_levels(&mut self, writes: &[Vec<u8>]) -> Result<(), MerkleError> {
        for (stored_level, bytes) in writes.iter().enumerate() {
            if bytes.is_empty() {
                continue;
            }
            if self.levels[stored_level].is_none() {
                let path = level_path(&self.dir, stored_level);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(io_error(&path))?;
                self.levels[stored_level] = Some(LevelFile {
                    file,
                    path,
                    entries: 0,
                });
                self.dir_dirty = true;
            }
            let level = self.levels[stored_level].as_mut().expect("opened above");
            level
                .file
                .write_all_at(bytes, level.entries * HASH_LEN)
                .map_err(io_error(&level.path))?;
            level.entries += bytes.len() as u64 / HASH_LEN;
        }
        Ok(())
    }

    /// Makes every leaf appended so far durable and records it in `tree.meta`.
    pub fn sync(&mut self) -> Result<(), MerkleError> {
        if self.failed {
            return Err(MerkleError::Failed);
        }
        for level in self.levels.iter().flatten() {
            level.file.sync_data().map_err(io_error(&level.path))?;
        }
        if self.dir_dirty {
            sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        write_meta(&self.dir, self.leaves)?;
        self.synced_leaves = self.leaves;
        Ok(())
    }

    /// The leaf hash at `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, MerkleError> {
        if index >= self.leaves {
            return Err(MerkleError::IndexOutOfRange {
                index,
                size: self.leaves,
            });
        }
        self.subtree_hash(0, index)
    }

    /// Root of the tree of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, MerkleError> {
        tree_root(size, self)
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        inclusion_proof(index, size, self)
    }

    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, MerkleError> {
        consistency_proof(old, new, self)
    }

    /// Bytes the hash files take on disk (excluding `tree.meta`).
    pub fn storage_bytes(&self) -> u64 {
        self.levels
            .iter()
            .flatten()
            .map(|level| level.entries * HASH_LEN)
            .sum()
    }

    fn assert_shape(&self) {
        for (stored_level, level) in self.levels.iter().enumerate() {
            let entries = level.as_ref().map_or(0, |level| level.entries);
            assert_eq!(
                entries,
                entries_at(stored_level, self.leaves),
                "merkle store: level {stored_level} out of step with {} leaves",
                self.leaves
            );
            assert_eq!(
                self.tails[stored_level].len() as u64,
                entries % GROUP_LEN as u64
            );
        }
    }
}

impl HashReader for MerkleStore {
    fn leaf_count(&self) -> u64 {
        self.leaves
    }

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        if self.failed {
            return Err(MerkleError::Failed);
        }
        let stored_level = (level / STORED_LEVEL_STRIDE) as usize;
        let span = level % STORED_LEVEL_STRIDE;
        let count = 1u64 << span;
        let first = index << span;
        let available = self.levels.get(stored_level).and_then(Option::as_ref);
        let Some(stored) = available.filter(|stored| first + count <= stored.entries) else {
            return Err(MerkleError::SizeBeyondStore {
                size: (index + 1) << level,
                stored: self.leaves,
            });
        };
        let mut bytes = [0u8; GROUP_LEN * HASH_LEN as usize];
        let bytes = &mut bytes[..(count * HASH_LEN) as usize];
        stored
            .file
            .read_exact_at(bytes, first * HASH_LEN)
            .map_err(io_error(&stored.path))?;
        let mut hashes: Vec<Hash> = bytes
            .chunks_exact(HASH_LEN as usize)
            .map(|chunk| chunk.try_into().expect("32 bytes"))
            .collect();
        Ok(fold_complete(&mut hashes))
    }
}

/// Synced leaf count from `tree.meta`; 0 (rebuild everything) if it is
/// missing or damaged, which is safe because the store is only a cache.
fn read_meta(dir: &Path) -> Result<u64, MerkleError> {
    let path = dir.join(META_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error(&path)(e)),
    };
    if bytes.len() != META_LEN || bytes[..8] != META_MAGIC {
        tracing::warn!(path = %path.display(), "damaged Merkle meta; rebuilding the tree");
        return Ok(0);
    }
    let stored_crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[..16]) != stored_crc {
        tracing::warn!(path = %path.display(), "Merkle meta crc mismatch; rebuilding the tree");
        return Ok(0);
    }
    Ok(u64::from_le_bytes(
        bytes[8..16].try_into().expect("8 bytes"),
    ))
}

/// Replaces `tree.meta` atomically: write a temporary file, fsync, rename,
/// fsync the directory.
fn write_meta(dir: &Path, synced_leaves: u64) -> Result<(), MerkleError> {
    let mut bytes = Vec::with_capacity(META_LEN);
    bytes.extend_from_slice(&META_MAGIC);
    bytes.extend_from_slice(&synced_leaves.to_le_bytes());
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(bytes.len(), META_LEN);
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    let mut file = File::create(&tmp).map_err(io_error(&tmp))?;
    file.write_all(&bytes).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    drop(file);
    let path = dir.join(META_FILE);
    std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), MerkleError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}
