//! Where signed checkpoints are kept, so that every process serving one log
//! answers with the same checkpoint for the same size: the files of a data
//! directory for the embedded log (`FileCheckpoints`), a table beside the
//! records for a log in PostgreSQL (`stores/postgres`), so that this crate
//! still knows no SQL.
//!
//! **Contract** (every implementation; checked by `contract::run_contract`):
//! - `save` is durable before it returns.
//! - A size holds one note for ever: saving the same note again is a no-op,
//!   saving a different one is refused (`DifferentNoteAtSize`) and changes
//!   nothing. The note is saved whole, cosignatures included: a cosignature
//!   that arrives later belongs to a later checkpoint, not to this row.
//! - `latest` is the saved checkpoint of the largest size: it only moves
//!   forward, also when a smaller size is saved after a larger one (two
//!   servers signing at once).
//!
//! Store and notes are trusted alike: a checkpoint store does not check
//! signatures; whoever reads a note checks it against the verifier key.

use std::path::{Path, PathBuf};

use parking_lot::RwLock;

/// A saved checkpoint note and the tree size it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCheckpoint {
    pub size: u64,
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointStoreError {
    #[error(
        "a different checkpoint note is already saved at tree size {size} \
         (rule: a saved checkpoint is never rewritten)"
    )]
    DifferentNoteAtSize { size: u64 },
    #[error("{0}")]
    Unavailable(String),
}

pub trait CheckpointStore: Send + Sync {
    /// Saves `note`, the checkpoint signed at tree size `size`, durably.
    fn save(&self, size: u64, note: &str) -> Result<(), CheckpointStoreError>;
    /// The saved checkpoint of the largest size, if any.
    fn latest(&self) -> Result<Option<SavedCheckpoint>, CheckpointStoreError>;
    /// The note saved at exactly `size`, if any.
    fn at(&self, size: u64) -> Result<Option<String>, CheckpointStoreError>;
    /// Where the checkpoints are, for messages.
    fn describe(&self) -> String;
}

/// The checkpoints of the embedded log: `<dir>/<size>.note` for each, and
/// `<dir>/latest.note`, a copy of the largest, which is what an auditor
/// handed the data directory reads (docs/proofs.md §11).
pub struct FileCheckpoints {
    dir: PathBuf,
    /// Read once at open; one process writes a data directory.
    latest: RwLock<Option<SavedCheckpoint>>,
}

impl FileCheckpoints {
    /// Opens (creating it if missing) the directory `dir`.
    pub fn open(dir: &Path) -> Result<FileCheckpoints, CheckpointStoreError> {
        std::fs::create_dir_all(dir).map_err(|error| io_error(dir, error))?;
        let latest_path = dir.join("latest.note");
        let latest = match std::fs::read_to_string(&latest_path) {
            Ok(note) => Some(SavedCheckpoint {
                size: size_of_note(&note).ok_or_else(|| {
                    CheckpointStoreError::Unavailable(format!(
                        "{}: line 2 is not a tree size",
                        latest_path.display()
                    ))
                })?,
                note,
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(io_error(&latest_path, error)),
        };
        Ok(FileCheckpoints {
            dir: dir.to_path_buf(),
            latest: RwLock::new(latest),
        })
    }

    fn note_path(&self, size: u64) -> PathBuf {
        self.dir.join(format!("{size}.note"))
    }
}

impl CheckpointStore for FileCheckpoints {
    fn save(&self, size: u64, note: &str) -> Result<(), CheckpointStoreError> {
        // One saver at a time, so `latest.note` only moves forward.
        let mut latest = self.latest.write();
        match self.at(size)? {
            Some(saved) if saved == note => return Ok(()),
            Some(_) => return Err(CheckpointStoreError::DifferentNoteAtSize { size }),
            None => {}
        }
        let path = self.note_path(size);
        write_durably(&path, note.as_bytes()).map_err(|error| io_error(&path, error))?;
        if latest.as_ref().is_none_or(|latest| latest.size < size) {
            let latest_path = self.dir.join("latest.note");
            write_durably(&latest_path, note.as_bytes())
                .map_err(|error| io_error(&latest_path, error))?;
            *latest = Some(SavedCheckpoint {
                size,
                note: note.to_owned(),
            });
        }
        Ok(())
    }

    fn latest(&self) -> Result<Option<SavedCheckpoint>, CheckpointStoreError> {
        Ok(self.latest.read().clone())
    }

    fn at(&self, size: u64) -> Result<Option<String>, CheckpointStoreError> {
        let path = self.note_path(size);
        match std::fs::read_to_string(&path) {
            Ok(note) => Ok(Some(note)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error(&path, error)),
        }
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// The tree size a checkpoint note states on its second line, unchecked.
pub fn size_of_note(note: &str) -> Option<u64> {
    note.lines().nth(1)?.parse().ok()
}

fn io_error(path: &Path, error: std::io::Error) -> CheckpointStoreError {
    CheckpointStoreError::Unavailable(format!("{}: {error}", path.display()))
}

/// Via a temporary file, fsync and rename, then fsync the directory, so a
/// crash leaves the old file or the new one, never half of either.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(path.parent().expect("a checkpoint file has a directory"))?.sync_all()
}

/// The contract every `CheckpointStore` keeps, as a suite each
/// implementation's tests run against it (`stores/postgres` too).
pub mod contract {
    use super::{CheckpointStore, CheckpointStoreError, SavedCheckpoint};
    use crate::checkpoint::{Checkpoint, SignerKey};

    /// How the suite gets stores of one implementation.
    pub trait CheckpointStoreHarness {
        type Store: CheckpointStore;
        /// A new, empty store.
        fn fresh(&mut self) -> Self::Store;
        /// Closes `store` and opens the same one again.
        fn reopen(&mut self, store: Self::Store) -> Self::Store;
    }

    /// A real signed note at `size`, different for each `variant`.
    pub fn signed_note(size: u64, variant: u8) -> String {
        let key = SignerKey::from_seed("contract.mingzhang/test", [7; 32]).expect("a valid name");
        Checkpoint::new(
            "contract.mingzhang/ledger",
            size,
            [variant; 32],
            vec![format!("variant {variant}")],
        )
        .expect("a valid checkpoint")
        .sign(&key)
    }

    pub fn run_contract<H: CheckpointStoreHarness>(harness: &mut H) {
        an_empty_store_has_no_checkpoint(harness.fresh());
        a_saved_checkpoint_is_the_latest_and_found_by_size(harness.fresh());
        a_rewrite_at_a_saved_size_is_refused_and_changes_nothing(harness.fresh());
        the_latest_never_moves_back_when_a_smaller_size_is_saved_late(harness.fresh());
        saved_checkpoints_survive_reopening(harness);
    }

    fn an_empty_store_has_no_checkpoint(store: impl CheckpointStore) {
        assert_eq!(store.latest().expect("latest"), None);
        assert_eq!(store.at(0).expect("at"), None);
    }

    fn a_saved_checkpoint_is_the_latest_and_found_by_size(store: impl CheckpointStore) {
        let note = signed_note(3, 1);
        store.save(3, &note).expect("save");
        assert_eq!(
            store.latest().expect("latest"),
            Some(SavedCheckpoint {
                size: 3,
                note: note.clone()
            })
        );
        assert_eq!(store.at(3).expect("at"), Some(note.clone()));
        assert_eq!(store.at(2).expect("at"), None);
        store
            .save(3, &note)
            .expect("saving the same note again is a no-op");
    }

    fn a_rewrite_at_a_saved_size_is_refused_and_changes_nothing(store: impl CheckpointStore) {
        let first = signed_note(3, 1);
        store.save(3, &first).expect("save");
        let refused = store.save(3, &signed_note(3, 2));
        assert!(
            matches!(
                refused,
                Err(CheckpointStoreError::DifferentNoteAtSize { size: 3 })
            ),
            "{refused:?}"
        );
        assert_eq!(store.at(3).expect("at"), Some(first.clone()));
        assert_eq!(
            store.latest().expect("latest").map(|latest| latest.note),
            Some(first)
        );
    }

    fn the_latest_never_moves_back_when_a_smaller_size_is_saved_late(store: impl CheckpointStore) {
        let (larger, smaller) = (signed_note(5, 1), signed_note(4, 1));
        store.save(5, &larger).expect("save");
        store
            .save(4, &smaller)
            .expect("a late, smaller checkpoint is kept");
        assert_eq!(store.at(4).expect("at"), Some(smaller));
        assert_eq!(
            store.latest().expect("latest"),
            Some(SavedCheckpoint {
                size: 5,
                note: larger
            })
        );
    }

    fn saved_checkpoints_survive_reopening<H: CheckpointStoreHarness>(harness: &mut H) {
        let store = harness.fresh();
        let (first, second) = (signed_note(1, 1), signed_note(8, 1));
        store.save(1, &first).expect("save");
        store.save(8, &second).expect("save");
        let store = harness.reopen(store);
        assert_eq!(store.at(1).expect("at"), Some(first));
        assert_eq!(
            store.latest().expect("latest"),
            Some(SavedCheckpoint {
                size: 8,
                note: second.clone()
            })
        );
        assert!(matches!(
            store.save(8, &signed_note(8, 2)),
            Err(CheckpointStoreError::DifferentNoteAtSize { size: 8 })
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::contract::{CheckpointStoreHarness, run_contract};
    use super::*;

    struct FileHarness {
        dirs: Vec<tempfile::TempDir>,
    }

    impl CheckpointStoreHarness for FileHarness {
        type Store = FileCheckpoints;

        fn fresh(&mut self) -> FileCheckpoints {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = FileCheckpoints::open(&dir.path().join("checkpoints")).expect("open");
            self.dirs.push(dir);
            store
        }

        fn reopen(&mut self, store: FileCheckpoints) -> FileCheckpoints {
            let dir = store.dir.clone();
            drop(store);
            FileCheckpoints::open(&dir).expect("reopen")
        }
    }

    #[test]
    fn file_checkpoints_keep_the_contract() {
        run_contract(&mut FileHarness { dirs: Vec::new() });
    }

    #[test]
    fn file_checkpoints_keep_the_data_directory_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileCheckpoints::open(dir.path()).expect("open");
        let (older, newer) = (contract::signed_note(2, 1), contract::signed_note(9, 1));
        store.save(9, &newer).expect("save");
        store.save(2, &older).expect("save");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect(name);
        assert_eq!(read("2.note"), older);
        assert_eq!(read("9.note"), newer);
        assert_eq!(
            read("latest.note"),
            newer,
            "latest.note is the largest size"
        );
    }
}
