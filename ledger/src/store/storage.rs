//! The file operations the embedded log needs, real and simulated.
//!
//! The log touches the disk only through [`Storage`], so the same code runs on
//! `std::fs` ([`RealStorage`]) and on [`SimulatedDisk`], an in-memory disk that
//! knows which bytes and which directory entries are durable and can lose the
//! rest in a power cut, the way a real disk does.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};

/// A directory of files, as the log sees it.
pub trait Storage: Send + Sync + 'static {
    type File: StorageFile;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the files directly in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates a new empty file open for writing and reading; fails if it
    /// exists. Its directory entry survives a power cut only after `sync_dir`.
    fn create_new(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing file for writing and reading.
    fn open_rw(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing file for reading only: readers get their own handles.
    fn open_read(&self, path: &Path) -> io::Result<Self::File>;
    /// Makes the creations and removals of entries in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
}

/// One open file. Methods take `&self`: reads are positional, so any number of
/// readers share a handle without a seek position.
pub trait StorageFile: Send + Sync + 'static {
    /// Writes all of `bytes` at `offset`, over what is there and past the
    /// end if it reaches further (bytes between the old end and `offset`
    /// read as zeros).
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Reads at `offset`; returns fewer bytes than `buf.len()` only at the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Makes every byte written so far (and the length) durable.
    fn sync_data(&self) -> io::Result<()>;
    fn truncate(&self, len: u64) -> io::Result<()>;
    fn file_len(&self) -> io::Result<u64>;
    /// Writes the range's cached bytes to the disk and waits, making nothing
    /// durable: a later `sync_data` then has them written already, and
    /// a `sync_data` meanwhile has only a little to wait for. An
    /// optimisation nothing relies on.
    fn write_back(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
pub fn read_full_at<F: StorageFile + ?Sized>(
    file: &F,
    offset: u64,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read_at(offset + filled as u64, &mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// `std::fs`, with `fdatasync` for data and `fsync` of the directory for entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealStorage;

#[derive(Debug)]
pub struct RealFile {
    file: std::fs::File,
}

impl Storage for RealStorage {
    type File = RealFile;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }

    fn create_new(&self, path: &Path) -> io::Result<RealFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(RealFile { file })
    }

    fn open_rw(&self, path: &Path) -> io::Result<RealFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        Ok(RealFile { file })
    }

    fn open_read(&self, path: &Path) -> io::Result<RealFile> {
        Ok(RealFile {
            file: std::fs::File::open(path)?,
        })
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}

impl StorageFile for RealFile {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.file, bytes, offset)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn file_len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn write_back(&self, offset: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let (offset, len) = (
            i64::try_from(offset).map_err(io::Error::other)?,
            i64::try_from(len).map_err(io::Error::other)?,
        );
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: a plain system call on a descriptor this handle owns.
        match unsafe { libc::sync_file_range(self.file.as_raw_fd(), offset, len, flags) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

/// The granularity at which [`SimulatedDisk::power_cut`] tears unsynced writes.
pub const SIMULATED_PAGE_BYTES: usize = 4096;

/// An in-memory disk for tests. Per file it keeps the durable bytes (what a
/// power cut leaves) and the current bytes (what the running system reads);
/// per directory it keeps the durable entries and the current ones.
/// `Clone` shares the disk, so a test keeps a handle while a log runs on it.
/// A power cut kills every handle of the process that was running, its
/// `SimulatedDisk` clones included; [`SimulatedDisk::restarted`] gives the
/// next process its handle.
#[derive(Clone, Default)]
pub struct SimulatedDisk {
    state: Arc<Mutex<DiskState>>,
    epoch: u64,
}

#[derive(Default)]
struct DiskState {
    /// Bumped by every power cut; handles from an older epoch fail, as the
    /// process that held them is gone.
    epoch: u64,
    inject_io_errors: bool,
    cut_at_next_sync: Option<u64>,
    /// The next sync loses its file's unsynced bytes and reports it after
    /// this long.
    fail_write_back_at_next_sync: Option<std::time::Duration>,
    next_inode: u64,
    inodes: HashMap<u64, Inode>,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
}

#[derive(Default)]
struct Inode {
    current: Vec<u8>,
    durable: Vec<u8>,
    /// `current[..dirty_from]` equals `durable[..dirty_from]` (except bytes
    /// a failed write-back lost); everything from here on was written (or
    /// truncated) since the last sync.
    dirty_from: usize,
    /// Failed write-backs so far; each handle reports each one once, as
    /// Linux does per open file.
    write_back_errors: u64,
}

pub struct SimulatedFile {
    state: Arc<Mutex<DiskState>>,
    inode: u64,
    epoch: u64,
    writable: bool,
    /// The inode's `write_back_errors` this handle has reported.
    errors_reported: std::sync::atomic::AtomicU64,
}

impl SimulatedDisk {
    pub fn new() -> SimulatedDisk {
        SimulatedDisk::default()
    }

    /// Every later operation fails (until switched off), as a failing disk would.
    pub fn inject_io_errors(&self, on: bool) {
        self.state.lock().inject_io_errors = on;
    }

    /// Loses power: every open handle dies; each file keeps its durable bytes
    /// plus, at random, none, a prefix, or a random subset of the 4 KiB pages of
    /// its unsynced bytes (unwritten pages read as zeros); entries created or
    /// removed since the last directory sync are undone.
    pub fn power_cut(&self, rng: &mut impl Rng) {
        self.state.lock().cut_power(rng);
    }

    /// Arms a power cut that strikes during the next `sync_data`: the write it
    /// was to make durable has reached the disk's cache, the flush never ends.
    pub fn power_cut_at_next_sync(&self, seed: u64) {
        self.state.lock().cut_at_next_sync = Some(seed);
    }

    /// The next `sync_data` of any file fails the way a disk's write-back
    /// fails under Linux: the file's unsynced bytes stay readable but never
    /// reach the disk (their pages count as written), and the error is
    /// reported `reported_after` later, to that handle. Every other handle
    /// of the file reports it at its next `sync_data`, once.
    pub fn fail_next_write_back(&self, reported_after: std::time::Duration) {
        self.state.lock().fail_write_back_at_next_sync = Some(reported_after);
    }

    /// The disk as the process started after the last power cut sees it.
    pub fn restarted(&self) -> SimulatedDisk {
        SimulatedDisk {
            state: self.state.clone(),
            epoch: self.state.lock().epoch,
        }
    }

    /// Bytes of `path` as the running system would read them.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state.lock();
        let inode = state.names.get(path)?;
        Some(state.inodes[inode].current.clone())
    }

    fn handle(&self, path: &Path, writable: bool) -> io::Result<SimulatedFile> {
        let state = self.state.lock();
        state.check_io_at(self.epoch)?;
        let inode = *state.names.get(path).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display()))
        })?;
        let errors_reported = state.inodes[&inode].write_back_errors.into();
        Ok(SimulatedFile {
            state: self.state.clone(),
            inode,
            epoch: self.epoch,
            writable,
            errors_reported,
        })
    }
}

impl Inode {
    fn surviving_bytes(&self, rng: &mut impl Rng) -> Vec<u8> {
        if self.dirty_from == self.current.len() && self.dirty_from == self.durable.len() {
            return self.durable.clone();
        }
        if self.current.len() < self.durable.len() {
            // An unsynced truncation: its metadata update either made it or not.
            return if rng.gen_bool(0.5) {
                self.durable.clone()
            } else {
                self.current.clone()
            };
        }
        // Unsynced writes, over durable bytes or past them: each byte that
        // did not make it reads as what was there before, or as zero.
        let before = |offset: usize| self.durable.get(offset).copied().unwrap_or(0);
        let mut survived = self.durable.clone();
        let mut put = |offset: usize, byte: u8| {
            if offset >= survived.len() {
                survived.resize(offset + 1, 0);
            }
            survived[offset] = byte;
        };
        match rng.gen_range(0..3) {
            0 => {}
            1 => {
                let kept_end = rng.gen_range(self.dirty_from..=self.current.len());
                for offset in self.dirty_from..kept_end {
                    put(offset, self.current[offset]);
                }
            }
            _ => {
                let end = if rng.gen_bool(0.5) {
                    self.current.len()
                } else {
                    rng.gen_range(self.dirty_from..=self.current.len())
                };
                let mut page_kept: HashMap<usize, bool> = HashMap::new();
                for offset in self.dirty_from..end {
                    let page = offset / SIMULATED_PAGE_BYTES;
                    let kept = *page_kept.entry(page).or_insert_with(|| rng.gen_bool(0.5));
                    put(
                        offset,
                        if kept {
                            self.current[offset]
                        } else {
                            before(offset)
                        },
                    );
                }
            }
        }
        survived
    }
}

impl DiskState {
    fn cut_power(&mut self, rng: &mut impl Rng) {
        self.epoch += 1;
        self.cut_at_next_sync = None;
        self.names = self.durable_names.clone();
        let live: Vec<u64> = self.names.values().copied().collect();
        self.inodes.retain(|inode, _| live.contains(inode));
        for inode in self.inodes.values_mut() {
            let survived = inode.surviving_bytes(rng);
            inode.current = survived.clone();
            inode.dirty_from = survived.len();
            inode.durable = survived;
        }
    }

    fn check_io_at(&self, epoch: u64) -> io::Result<()> {
        if self.inject_io_errors {
            return Err(io::Error::other("simulated disk: injected I/O error"));
        }
        if self.epoch != epoch {
            return Err(io::Error::other("simulated disk: power was cut"));
        }
        Ok(())
    }
}

fn entries_under<'a>(
    names: &'a BTreeMap<PathBuf, u64>,
    dir: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a u64)> + 'a {
    names
        .iter()
        .filter(move |(path, _)| path.parent() == Some(dir))
}

impl Storage for SimulatedDisk {
    type File = SimulatedFile;

    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.state.lock().check_io_at(self.epoch)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state.lock();
        state.check_io_at(self.epoch)?;
        Ok(entries_under(&state.names, dir)
            .filter_map(|(path, _)| Some(path.file_name()?.to_string_lossy().into_owned()))
            .collect())
    }

    fn create_new(&self, path: &Path) -> io::Result<SimulatedFile> {
        let mut state = self.state.lock();
        state.check_io_at(self.epoch)?;
        if state.names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}", path.display()),
            ));
        }
        state.next_inode += 1;
        let inode = state.next_inode;
        state.inodes.insert(inode, Inode::default());
        state.names.insert(path.to_path_buf(), inode);
        Ok(SimulatedFile {
            state: self.state.clone(),
            inode,
            epoch: self.epoch,
            writable: true,
            errors_reported: 0.into(),
        })
    }

    fn open_rw(&self, path: &Path) -> io::Result<SimulatedFile> {
        self.handle(path, true)
    }

    fn open_read(&self, path: &Path) -> io::Result<SimulatedFile> {
        self.handle(path, false)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.check_io_at(self.epoch)?;
        let current: Vec<(PathBuf, u64)> = entries_under(&state.names, dir)
            .map(|(path, inode)| (path.clone(), *inode))
            .collect();
        state
            .durable_names
            .retain(|path, _| path.parent() != Some(dir));
        state.durable_names.extend(current);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.check_io_at(self.epoch)?;
        state
            .names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{}", path.display())))
    }
}

impl SimulatedFile {
    fn with_inode<T>(&self, f: impl FnOnce(&mut Inode) -> T) -> io::Result<T> {
        let mut state = self.state.lock();
        state.check_io_at(self.epoch)?;
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .expect("a live handle's inode exists");
        Ok(f(inode))
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "simulated file opened read-only",
            ))
        }
    }
}

impl StorageFile for SimulatedFile {
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.check_writable()?;
        self.with_inode(|inode| {
            let (start, end) = (offset as usize, offset as usize + bytes.len());
            inode.dirty_from = inode.dirty_from.min(start).min(inode.current.len());
            if inode.current.len() < end {
                inode.current.resize(end, 0);
            }
            inode.current[start..end].copy_from_slice(bytes);
        })
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.with_inode(|inode| {
            let start = (offset as usize).min(inode.current.len());
            let n = buf.len().min(inode.current.len() - start);
            buf[..n].copy_from_slice(&inode.current[start..start + n]);
            n
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        {
            let mut state = self.state.lock();
            if let Some(seed) = state.cut_at_next_sync
                && state.epoch == self.epoch
            {
                state.cut_power(&mut rand::rngs::StdRng::seed_from_u64(seed));
                return Err(io::Error::other("simulated disk: power cut during fsync"));
            }
            if state.epoch == self.epoch
                && let Some(reported_after) = state.fail_write_back_at_next_sync.take()
            {
                let inode = state.inodes.get_mut(&self.inode).expect("a live inode");
                inode.dirty_from = inode.current.len();
                inode.write_back_errors += 1;
                self.errors_reported
                    .store(inode.write_back_errors, std::sync::atomic::Ordering::SeqCst);
                drop(state);
                std::thread::sleep(reported_after);
                return Err(io::Error::other("simulated disk: write-back failed"));
            }
        }
        let errors = self.with_inode(|inode| {
            let from = inode.dirty_from;
            inode.durable.truncate(from);
            // Bytes a failed write-back lost read as zeros.
            inode.durable.resize(from, 0);
            inode.durable.extend_from_slice(&inode.current[from..]);
            inode.dirty_from = inode.current.len();
            inode.write_back_errors
        })?;
        let reported = self
            .errors_reported
            .swap(errors, std::sync::atomic::Ordering::SeqCst);
        if reported < errors {
            return Err(io::Error::other(
                "simulated disk: an earlier write-back of this file failed",
            ));
        }
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        self.with_inode(|inode| {
            inode.current.resize(len as usize, 0);
            inode.dirty_from = inode.dirty_from.min(len as usize);
        })
    }

    fn file_len(&self) -> io::Result<u64> {
        self.with_inode(|inode| inode.current.len() as u64)
    }
}
