//! A test hook that makes the log fail on cue, read only by `mingzhang
//! serve`: with `MINGZHANG_TEST_FAIL_LOG_WHEN=<path>` set, every
//! `fdatasync` of the log fails while `<path>` exists, as a dying disk's
//! would, and the log fails as it does on any I/O error.
//!
//! Black-box tests need it to see the server turn unready when its log
//! fails: nothing else makes a real disk fail on cue (file modes do not stop
//! root, and a full disk needs a mount of its own). Unset, the log runs on
//! the plain file system, untouched.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mingzhang_ledger::store::EventStore;
use mingzhang_ledger::store::storage::{RealFile, RealStorage, Storage, StorageFile};

use crate::backend;

/// The environment variable naming the file whose existence fails the log.
pub const FAIL_LOG_WHEN_ENV: &str = "MINGZHANG_TEST_FAIL_LOG_WHEN";

/// The log under `data_dir`, failing on cue if `FAIL_LOG_WHEN_ENV` is set.
pub fn open_store_for_serve(data_dir: &Path) -> Result<Arc<dyn EventStore>, String> {
    match std::env::var_os(FAIL_LOG_WHEN_ENV) {
        None => backend::open_store(data_dir),
        Some(trigger) => {
            let trigger = PathBuf::from(trigger);
            tracing::warn!(
                trigger = %trigger.display(),
                "test hook {FAIL_LOG_WHEN_ENV}: the log fails once this file exists"
            );
            backend::open_store_on(FailsWhileTriggerExists::new(trigger), data_dir)
        }
    }
}

/// The plain file system, except that `sync_data` fails while `trigger` exists.
#[derive(Debug, Clone)]
pub struct FailsWhileTriggerExists {
    trigger: Arc<PathBuf>,
}

impl FailsWhileTriggerExists {
    pub fn new(trigger: PathBuf) -> FailsWhileTriggerExists {
        FailsWhileTriggerExists {
            trigger: Arc::new(trigger),
        }
    }

    fn wrap(&self, file: RealFile) -> TriggeredFile {
        TriggeredFile {
            file,
            trigger: self.trigger.clone(),
        }
    }
}

impl Storage for FailsWhileTriggerExists {
    type File = TriggeredFile;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealStorage.create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealStorage.list_dir(dir)
    }

    fn create_new(&self, path: &Path) -> io::Result<TriggeredFile> {
        RealStorage.create_new(path).map(|file| self.wrap(file))
    }

    fn open_rw(&self, path: &Path) -> io::Result<TriggeredFile> {
        RealStorage.open_rw(path).map(|file| self.wrap(file))
    }

    fn open_read(&self, path: &Path) -> io::Result<TriggeredFile> {
        RealStorage.open_read(path).map(|file| self.wrap(file))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealStorage.sync_dir(dir)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        RealStorage.remove(path)
    }
}

pub struct TriggeredFile {
    file: RealFile,
    trigger: Arc<PathBuf>,
}

impl StorageFile for TriggeredFile {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_at(offset, bytes)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read_at(offset, buf)
    }

    fn sync_data(&self) -> io::Result<()> {
        if self.trigger.exists() {
            return Err(io::Error::other(format!(
                "{FAIL_LOG_WHEN_ENV}: {} exists",
                self.trigger.display()
            )));
        }
        self.file.sync_data()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len)
    }

    fn file_len(&self) -> io::Result<u64> {
        self.file.file_len()
    }

    fn write_back(&self, offset: u64, len: u64) -> io::Result<()> {
        self.file.write_back(offset, len)
    }
}

#[cfg(test)]
mod tests {
    use mingzhang_ledger::store::StoreError;

    use super::FailsWhileTriggerExists;
    use crate::backend;

    #[tokio::test]
    async fn the_log_fails_at_its_first_sync_once_the_trigger_exists() {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let trigger = data_dir.path().join("fail-the-log");
        let store = backend::open_store_on(
            FailsWhileTriggerExists::new(trigger.clone()),
            data_dir.path(),
        )
        .expect("the log opens");
        store
            .append(0, vec![b"before".to_vec()])
            .await
            .expect("durable while the trigger is absent");
        assert_eq!(store.failure(), None);
        std::fs::write(&trigger, b"").expect("trigger created");
        let failed = store.append(1, vec![b"after".to_vec()]).await;
        assert!(matches!(failed, Err(StoreError::Failed(_))), "{failed:?}");
        assert!(store.failure().is_some(), "the store reports its failure");
        assert_eq!(store.head().len, 1, "nothing after the trigger is durable");
    }
}
