//! The side store of personal data: the clear names behind the salted
//! commitments in the log (docs/proofs.md, "Personal data").
//!
//! `PersonalDataStore` is what the API asks of a side store; it has two
//! homes: a file in the data directory (`FilePersonalData`, beside the
//! embedded log) and a table in PostgreSQL (`DatabasePersonalData`, beside a
//! log there, so that every server on the database finds the names). One
//! contract test (`contract`) runs on both.
//!
//! The file: one file, `<data-dir>/personal/entries.jsonl`, one JSON line per
//! `(subject_id, salt, value)`. A line is appended and `fdatasync`ed before
//! the command that carries its commitment is submitted, so an acknowledged
//! record never lacks its value; a crash between the two leaves at most an
//! orphan line, whose commitment no record carries. A torn last line (no
//! newline) is a write the crash cut short and is cut off on open.
//!
//! Erasing a subject rewrites the whole file without its lines into
//! `entries.jsonl.tmp`, syncs it, renames it over the old one and syncs the
//! directory: afterwards no file of the data directory holds the value. (The
//! file system may keep the freed blocks until it reuses them; a disk's own
//! remapping is beyond what a program can reach.)
//!
//! **Invariant:** the log never holds what this store holds; this store is
//! the only place the clear value of a commitment lives.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mingzhang_ledger::personal_data::{self, Commitment, SALT_LEN, Salt};
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The directory of the side store inside the data directory.
pub const PERSONAL_DIR: &str = "personal";
const ENTRIES_FILE: &str = "entries.jsonl";
const ENTRIES_TEMP_FILE: &str = "entries.jsonl.tmp";
/// Locked while a process writes the store: an erasure rewrites the file,
/// and a second writer would go on appending to the file it replaced.
const LOCK_FILE: &str = "lock";
/// Longest line read back: a subject id (64) and a name (200 characters,
/// at most 4 bytes each, escaped at most 6 bytes each) with room to spare.
const ENTRY_LINE_BYTES_MAX: usize = 8 * 1024;

#[derive(Serialize, Deserialize)]
struct EntryLine {
    subject: String,
    /// Hex, 64 characters.
    salt: String,
    value: String,
}

#[derive(Clone)]
struct Entry {
    salt: Salt,
    value: String,
}

struct Inner {
    file: File,
    /// Length of `file`: what was written, not all of it synced yet.
    file_len: u64,
    /// Lines appended since open, never reset: what a commit waits for.
    written_lines: u64,
    /// Every entry of each subject, orphans included, in the file's order.
    entries: HashMap<String, Vec<Entry>>,
}

/// The group commit: whoever takes this lock syncs everything written so
/// far, so concurrent commits share one `fdatasync` as the log's share
/// theirs (one sync per registration cost 96% of the registrations' rate).
struct Synced {
    /// The same file as `Inner::file`, for syncing outside the writer's lock.
    file: File,
    /// Of `Inner::written_lines`, how many are synced (an erasure's
    /// rewrite syncs all).
    synced_lines: u64,
}

/// A side store: keeps a value and its salt durably before the command
/// carrying its commitment is submitted, opens commitments for the read
/// models, and destroys a subject's values once its erasure is durable.
pub trait PersonalDataStore: mingzhang_projections::PersonalNames {
    /// The commitment to `value` for `subject_id`, its salt durable here
    /// before this returns. A subject already holding `value` keeps its
    /// salt, so a retried command commits to the same bytes.
    fn commit(&self, subject_id: &str, value: &str) -> io::Result<Commitment>;

    /// Whether any value of `subject_id` is held (orphans included).
    fn holds(&self, subject_id: &str) -> io::Result<bool>;

    /// Destroys every value and salt of each subject `erased` names;
    /// returns how many entries went.
    fn erase_where(&self, erased: &dyn Fn(&str) -> bool) -> io::Result<usize>;

    /// Where the values are, for messages.
    fn describe(&self) -> String;

    /// Every `(subject_id, salt, value)` held, orphans included: what
    /// `migrate` copies to the side store of the target.
    fn entries(&self) -> io::Result<Vec<(String, Salt, String)>>;

    /// Keeps `value` under the `salt` another side store drew for it
    /// (`migrate`); an entry already held is kept once.
    fn keep(&self, subject_id: &str, salt: Salt, value: &str) -> io::Result<()>;

    /// Whether every name is already in this process's memory, so that a
    /// look-up costs no round trip: then a starting server folds the log
    /// with the store itself, not with a copy of it (`NamesAtStart`).
    fn keeps_names_in_memory(&self) -> bool {
        false
    }

    /// Destroys every value and salt of `subject_id`.
    fn erase(&self, subject_id: &str) -> io::Result<usize> {
        self.erase_where(&|subject| subject == subject_id)
    }

    /// Replaces the clear name of an individual donor or a private payee in
    /// `command` with its commitment (kept here first); any other command,
    /// and one already committed, is left as it is. A name decide would
    /// refuse anyway is left in place for decide to refuse, not stored.
    fn commit_command(&self, command: &mut Event) -> io::Result<()> {
        let Some((fields, subject_id, clear, commitment)) = personal_name_of(command) else {
            return Ok(());
        };
        let storable = commitment.is_empty()
            && mingzhang_ledger::decide::check_personal_name(
                (fields.0, subject_id),
                (fields.1, clear),
            )
            .is_ok();
        if !storable {
            return Ok(());
        }
        *commitment = self.commit(subject_id, clear)?.to_vec();
        clear.clear();
        Ok(())
    }
}

type PersonalNameFields<'a> = (
    (&'static str, &'static str),
    &'a String,
    &'a mut String,
    &'a mut Vec<u8>,
);

/// The fields of `command` holding a person's name and its commitment.
fn personal_name_of(command: &mut Event) -> Option<PersonalNameFields<'_>> {
    match command {
        Event::DonorRegistered(e) if e.kind() == v1::DonorKind::Individual => Some((
            ("donor_id", "name"),
            &e.donor_id,
            &mut e.name,
            &mut e.name_commitment,
        )),
        Event::ExpenditureMade(e) if e.payee_kind() == v1::PayeeKind::Person => Some((
            ("expenditure_id", "payee"),
            &e.expenditure_id,
            &mut e.payee,
            &mut e.payee_commitment,
        )),
        _ => None,
    }
}

pub struct FilePersonalData {
    dir: PathBuf,
    /// Holds the exclusive lock on `LOCK_FILE` (`None`: opened for reading).
    _lock: Option<File>,
    /// Taken before `inner` when both are held (erasure), never after.
    synced: Mutex<Synced>,
    inner: Mutex<Inner>,
}

impl FilePersonalData {
    /// Opens (creating) the store in `data_dir` for writing, cutting off a
    /// torn last line. Refused while another process has it open so.
    pub fn open(data_dir: &Path) -> io::Result<FilePersonalData> {
        let dir = data_dir.join(PERSONAL_DIR);
        if !dir.exists() {
            std::fs::create_dir_all(&dir)?;
            sync_dir(data_dir)?;
        }
        let lock = File::create(dir.join(LOCK_FILE))?;
        if let Err(error) = try_lock_exclusive(&lock) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} is in use by another process (a running `serve`: erase through its POST /v1/donors/{{id}}/erasure, or stop it first): {error}",
                    dir.display()
                ),
            ));
        }
        Self::open_locked(dir, Some(lock))
    }

    /// Opens the store to look values up while its writer runs (tests,
    /// checks): no lock taken; a torn last line is skipped, not cut off.
    pub fn open_for_reading(data_dir: &Path) -> io::Result<FilePersonalData> {
        Self::open_locked(data_dir.join(PERSONAL_DIR), None)
    }

    fn open_locked(dir: PathBuf, lock: Option<File>) -> io::Result<FilePersonalData> {
        let writing = lock.is_some();
        let path = dir.join(ENTRIES_FILE);
        let mut entries: HashMap<String, Vec<Entry>> = HashMap::new();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut sound_len = 0u64;
        let mut reader = io::BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                // The append a crash cut short: its command was never submitted.
                break;
            }
            if line.len() > ENTRY_LINE_BYTES_MAX {
                return Err(invalid_data(&path, sound_len, "line too long"));
            }
            let parsed: EntryLine = serde_json::from_slice(&line)
                .map_err(|error| invalid_data(&path, sound_len, &error.to_string()))?;
            let salt = parse_salt(&parsed.salt)
                .ok_or_else(|| invalid_data(&path, sound_len, "salt is not 64 hex digits"))?;
            entries.entry(parsed.subject).or_default().push(Entry {
                salt,
                value: parsed.value,
            });
            sound_len += read as u64;
        }
        drop(reader);
        if writing && file.metadata()?.len() != sound_len {
            file.set_len(sound_len)?;
            file.sync_all()?;
        }
        Ok(FilePersonalData {
            dir,
            _lock: lock,
            synced: Mutex::new(Synced {
                file: file.try_clone()?,
                synced_lines: 0,
            }),
            inner: Mutex::new(Inner {
                file,
                file_len: sound_len,
                written_lines: 0,
                entries,
            }),
        })
    }

    /// Returns once the first `lines` lines appended since open are synced,
    /// syncing them (and whatever others wrote meanwhile) if no one has yet.
    fn wait_durable(&self, lines: u64) -> io::Result<()> {
        let mut synced = self.synced.lock().expect("personal data sync lock");
        if synced.synced_lines >= lines {
            return Ok(());
        }
        let written_lines = self.inner.lock().expect("personal data lock").written_lines;
        assert!(
            written_lines >= lines,
            "a commit waits only for what was written"
        );
        synced.file.sync_data()?;
        synced.synced_lines = written_lines;
        Ok(())
    }

    /// The commitment to `value` for `subject_id`, its salt durable here
    /// before this returns. A subject already holding `value` keeps its salt,
    /// so a retried command commits to the same bytes and is recognised as
    /// the same request.
    pub fn commit(&self, subject_id: &str, value: &str) -> io::Result<Commitment> {
        let inner = self.inner.lock().expect("personal data lock");
        if let Some(known) = inner
            .entries
            .get(subject_id)
            .and_then(|entries| entries.iter().find(|entry| entry.value == value))
        {
            let commitment = personal_data::commitment(subject_id, &known.salt, value);
            // Its line may be another caller's, written and not yet synced.
            let written_lines = inner.written_lines;
            drop(inner);
            self.wait_durable(written_lines)?;
            return Ok(commitment);
        }
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        self.append(inner, subject_id, salt, value)?;
        Ok(personal_data::commitment(subject_id, &salt, value))
    }

    /// Appends one line and returns once it is durable.
    fn append(
        &self,
        mut inner: std::sync::MutexGuard<'_, Inner>,
        subject_id: &str,
        salt: Salt,
        value: &str,
    ) -> io::Result<()> {
        let mut line = serde_json::to_vec(&EntryLine {
            subject: subject_id.to_owned(),
            salt: hex(&salt),
            value: value.to_owned(),
        })
        .expect("an entry serialises");
        line.push(b'\n');
        assert!(
            line.len() <= ENTRY_LINE_BYTES_MAX,
            "callers commit only names decide could accept"
        );
        if let Err(error) = inner.file.write_all(&line) {
            // A part-written line (a full disk) must not precede the next.
            let file_len = inner.file_len;
            inner.file.set_len(file_len)?;
            return Err(error);
        }
        inner.file_len += line.len() as u64;
        inner.written_lines += 1;
        inner
            .entries
            .entry(subject_id.to_owned())
            .or_default()
            .push(Entry {
                salt,
                value: value.to_owned(),
            });
        let written_lines = inner.written_lines;
        drop(inner);
        self.wait_durable(written_lines)
    }

    /// The clear value behind `commitment`, if this store still holds it.
    pub fn clear_value(&self, subject_id: &str, commitment: &[u8]) -> Option<String> {
        let inner = self.inner.lock().expect("personal data lock");
        inner.entries.get(subject_id)?.iter().find_map(|entry| {
            personal_data::opens(subject_id, &entry.salt, &entry.value, commitment)
                .then(|| entry.value.clone())
        })
    }

    /// Whether any value of `subject_id` is held (orphans included).
    pub fn holds(&self, subject_id: &str) -> bool {
        let inner = self.inner.lock().expect("personal data lock");
        inner.entries.contains_key(subject_id)
    }

    /// Destroys every value and salt of `subject_id` and rewrites the file
    /// without them (synced, renamed, directory synced). Returns how many
    /// entries went.
    pub fn erase(&self, subject_id: &str) -> io::Result<usize> {
        self.erase_where(|subject| subject == subject_id)
    }

    /// `erase` for every subject `erased` names, in one rewrite: run on
    /// open, after a crash between an erasure's record and its rewrite.
    pub fn erase_where(&self, erased: impl Fn(&str) -> bool) -> io::Result<usize> {
        let mut synced = self.synced.lock().expect("personal data sync lock");
        let mut inner = self.inner.lock().expect("personal data lock");
        let subjects: Vec<String> = inner
            .entries
            .keys()
            .filter(|subject| erased(subject))
            .cloned()
            .collect();
        if subjects.is_empty() {
            return Ok(0);
        }
        let mut remaining = inner.entries.clone();
        let mut removed = 0;
        for subject in &subjects {
            removed += remaining.remove(subject).map_or(0, |entries| entries.len());
        }
        let temp = self.dir.join(ENTRIES_TEMP_FILE);
        {
            let mut out = io::BufWriter::new(File::create(&temp)?);
            let mut ordered: Vec<_> = remaining.iter().collect();
            ordered.sort_by(|a, b| a.0.cmp(b.0));
            for (subject, entries) in ordered {
                for entry in entries {
                    serde_json::to_writer(
                        &mut out,
                        &EntryLine {
                            subject: subject.clone(),
                            salt: hex(&entry.salt),
                            value: entry.value.clone(),
                        },
                    )?;
                    out.write_all(b"\n")?;
                }
            }
            out.into_inner()
                .map_err(|error| error.into_error())?
                .sync_all()?;
        }
        let path = self.dir.join(ENTRIES_FILE);
        std::fs::rename(&temp, &path)?;
        sync_dir(&self.dir)?;
        inner.file = OpenOptions::new().read(true).append(true).open(&path)?;
        inner.file_len = inner.file.metadata()?.len();
        inner.entries = remaining;
        synced.file = inner.file.try_clone()?;
        // The rewrite holds, synced, every line not erased.
        synced.synced_lines = inner.written_lines;
        Ok(removed)
    }
}

impl mingzhang_projections::PersonalNames for FilePersonalData {
    fn clear_value(&self, subject_id: &str, commitment: &[u8]) -> Option<String> {
        FilePersonalData::clear_value(self, subject_id, commitment)
    }
}

impl PersonalDataStore for FilePersonalData {
    fn keeps_names_in_memory(&self) -> bool {
        true
    }

    fn commit(&self, subject_id: &str, value: &str) -> io::Result<Commitment> {
        FilePersonalData::commit(self, subject_id, value)
    }

    fn holds(&self, subject_id: &str) -> io::Result<bool> {
        Ok(FilePersonalData::holds(self, subject_id))
    }

    fn erase_where(&self, erased: &dyn Fn(&str) -> bool) -> io::Result<usize> {
        FilePersonalData::erase_where(self, erased)
    }

    fn describe(&self) -> String {
        format!("{}", self.dir.join(ENTRIES_FILE).display())
    }

    fn entries(&self) -> io::Result<Vec<(String, Salt, String)>> {
        let inner = self.inner.lock().expect("personal data lock");
        Ok(inner
            .entries
            .iter()
            .flat_map(|(subject, entries)| {
                entries
                    .iter()
                    .map(|entry| (subject.clone(), entry.salt, entry.value.clone()))
            })
            .collect())
    }

    fn keep(&self, subject_id: &str, salt: Salt, value: &str) -> io::Result<()> {
        let inner = self.inner.lock().expect("personal data lock");
        let held = inner
            .entries
            .get(subject_id)
            .is_some_and(|entries| entries.iter().any(|entry| entry.salt == salt));
        if held {
            return Ok(());
        }
        self.append(inner, subject_id, salt, value)
    }
}

/// The side store as a table in PostgreSQL, beside a log there: every
/// server on the database (the writer and its followers) finds the names
/// the writer kept, and an erasure DELETEs the subject's rows.
pub struct DatabasePersonalData {
    table: mingzhang_store_postgres::personal_data::PostgresPersonalData,
    /// Held across a commit's look-up and insert, so two commits of one
    /// name in this process draw one salt.
    committing: Mutex<()>,
}

impl DatabasePersonalData {
    pub fn new(table: mingzhang_store_postgres::personal_data::PostgresPersonalData) -> Self {
        DatabasePersonalData {
            table,
            committing: Mutex::new(()),
        }
    }
}

impl mingzhang_projections::PersonalNames for DatabasePersonalData {
    fn clear_value(&self, subject_id: &str, commitment: &[u8]) -> Option<String> {
        // No copy is kept in memory: a row another server erased is gone
        // from every server's next look-up.
        match self.table.rows_of(subject_id) {
            Ok(rows) => rows.into_iter().find_map(|row| {
                personal_data::opens(subject_id, &row.salt, &row.value, commitment)
                    .then_some(row.value)
            }),
            Err(error) => {
                tracing::error!(%error, subject_id, "personal data look-up failed");
                None
            }
        }
    }
}

impl PersonalDataStore for DatabasePersonalData {
    fn commit(&self, subject_id: &str, value: &str) -> io::Result<Commitment> {
        let _committing = self.committing.lock().expect("personal data commit lock");
        // Only committed rows are read: a salt found here is durable.
        if let Some(known) = self
            .table
            .rows_of(subject_id)?
            .into_iter()
            .find(|row| row.value == value)
        {
            return Ok(personal_data::commitment(subject_id, &known.salt, value));
        }
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        self.table.insert(
            subject_id,
            mingzhang_store_postgres::personal_data::PersonalDataRow {
                salt,
                value: value.to_owned(),
            },
        )?;
        Ok(personal_data::commitment(subject_id, &salt, value))
    }

    fn holds(&self, subject_id: &str) -> io::Result<bool> {
        Ok(!self.table.rows_of(subject_id)?.is_empty())
    }

    fn erase_where(&self, erased: &dyn Fn(&str) -> bool) -> io::Result<usize> {
        let subjects: Vec<String> = self
            .table
            .subjects()?
            .into_iter()
            .filter(|subject| erased(subject))
            .collect();
        if subjects.is_empty() {
            return Ok(0);
        }
        let deleted = self.table.delete(subjects)?;
        Ok(usize::try_from(deleted).expect("rows deleted fit in usize"))
    }

    fn describe(&self) -> String {
        self.table.describe().to_owned()
    }

    fn entries(&self) -> io::Result<Vec<(String, Salt, String)>> {
        Ok(self
            .table
            .all_rows()?
            .into_iter()
            .map(|(subject, row)| (subject, row.salt, row.value))
            .collect())
    }

    fn keep(&self, subject_id: &str, salt: Salt, value: &str) -> io::Result<()> {
        let held = self
            .table
            .rows_of(subject_id)?
            .iter()
            .any(|row| row.salt == salt);
        if held {
            return Ok(());
        }
        self.table.insert(
            subject_id,
            mingzhang_store_postgres::personal_data::PersonalDataRow {
                salt,
                value: value.to_owned(),
            },
        )
    }
}

/// The names a side store held when a server started, read in one go, for
/// the fold of the log that starts it: a store in PostgreSQL keeps no copy
/// in memory, and asking it once per name cost about 25 s for every
/// 100,000 individuals in the log. A name not held then (committed since,
/// by the writer) is asked of `later`. Dropped once the fold is done, so no
/// copy outlives the start: a name erased afterwards is gone from this
/// server's next look-up, as it is from every other's.
pub struct NamesAtStart {
    held: HashMap<String, Vec<(Salt, String)>>,
    later: std::sync::Arc<dyn mingzhang_projections::PersonalNames>,
}

impl NamesAtStart {
    pub fn new(
        entries: Vec<(String, Salt, String)>,
        later: std::sync::Arc<dyn mingzhang_projections::PersonalNames>,
    ) -> NamesAtStart {
        let mut held: HashMap<String, Vec<(Salt, String)>> = HashMap::new();
        for (subject_id, salt, value) in entries {
            held.entry(subject_id).or_default().push((salt, value));
        }
        NamesAtStart { held, later }
    }
}

impl mingzhang_projections::PersonalNames for NamesAtStart {
    fn clear_value(&self, subject_id: &str, commitment: &[u8]) -> Option<String> {
        let held = self.held.get(subject_id).and_then(|values| {
            values.iter().find_map(|(salt, value)| {
                personal_data::opens(subject_id, salt, value, commitment).then(|| value.clone())
            })
        });
        held.or_else(|| self.later.clear_value(subject_id, commitment))
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: released when the file is closed, also by
/// a process's death. (`File::try_lock` needs Rust 1.89; the workspace
/// builds with 1.88.)
fn try_lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows open.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn invalid_data(path: &Path, offset: u64, detail: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} at byte {offset}: {detail}", path.display()),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn parse_salt(text: &str) -> Option<Salt> {
    if text.len() != SALT_LEN * 2 || !text.is_ascii() {
        return None;
    }
    let mut salt = [0u8; SALT_LEN];
    for (index, byte) in salt.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name source that counts what it is asked.
    struct Asked {
        names: HashMap<(String, Vec<u8>), String>,
        asked: std::sync::atomic::AtomicUsize,
    }

    impl mingzhang_projections::PersonalNames for Asked {
        fn clear_value(&self, subject_id: &str, commitment: &[u8]) -> Option<String> {
            self.asked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.names
                .get(&(subject_id.to_owned(), commitment.to_vec()))
                .cloned()
        }
    }

    #[test]
    fn names_held_at_start_are_answered_without_asking_the_store() {
        use mingzhang_projections::PersonalNames;
        let (wang_salt, li_salt) = ([1u8; SALT_LEN], [2u8; SALT_LEN]);
        let wang = personal_data::commitment("resident-wang", &wang_salt, "王丽华");
        let li = personal_data::commitment("resident-li", &li_salt, "李建国");
        let store = std::sync::Arc::new(Asked {
            names: HashMap::from([(("resident-li".to_owned(), li.to_vec()), "李建国".to_owned())]),
            asked: Default::default(),
        });
        let at_start = NamesAtStart::new(
            vec![
                (
                    "resident-wang".to_owned(),
                    [9; SALT_LEN],
                    "王丽化".to_owned(),
                ),
                ("resident-wang".to_owned(), wang_salt, "王丽华".to_owned()),
            ],
            store.clone(),
        );
        assert_eq!(
            at_start.clear_value("resident-wang", &wang).as_deref(),
            Some("王丽华")
        );
        assert_eq!(store.asked.load(std::sync::atomic::Ordering::Relaxed), 0);
        // Committed after the start: asked of the store.
        assert_eq!(
            at_start.clear_value("resident-li", &li).as_deref(),
            Some("李建国")
        );
        assert_eq!(at_start.clear_value("resident-li", &wang), None);
        assert_eq!(store.asked.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    /// What every side store promises, whichever its home: `fresh` opens
    /// the same store again, as a restarted server (or another server on
    /// the same database) would.
    fn contract(store: &dyn PersonalDataStore, fresh: &dyn Fn() -> Box<dyn PersonalDataStore>) {
        let wang = store.commit("resident-wang", "王丽华").unwrap();
        let li = store.commit("resident-li", "李建国").unwrap();
        // Durable and readable by another opening when commit returns.
        let other = fresh();
        assert_eq!(
            other.clear_value("resident-wang", &wang).as_deref(),
            Some("王丽华")
        );
        assert_eq!(
            other.clear_value("resident-li", &wang),
            None,
            "bound to its subject"
        );
        // A retry keeps its salt, also in another opening.
        assert_eq!(other.commit("resident-wang", "王丽华").unwrap(), wang);
        drop(other);
        assert_eq!(store.commit("resident-wang", "王丽华").unwrap(), wang);
        // Another name for the subject draws another salt: an orphan.
        let typo = store.commit("resident-wang", "王丽化").unwrap();
        assert_ne!(typo, wang);
        assert!(store.holds("resident-wang").unwrap());
        // Erasure takes every value of the subject, orphans included.
        assert_eq!(store.erase("resident-wang").unwrap(), 2);
        assert!(!store.holds("resident-wang").unwrap());
        assert_eq!(store.clear_value("resident-wang", &wang), None);
        assert_eq!(store.clear_value("resident-wang", &typo), None);
        assert_eq!(store.erase("resident-wang").unwrap(), 0);
        let after = fresh();
        assert_eq!(after.clear_value("resident-wang", &wang), None);
        assert_eq!(
            after.clear_value("resident-li", &li).as_deref(),
            Some("李建国")
        );
        drop(after);
        // What migrate copies: every entry, kept under its own salt, once.
        let held = store.entries().unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        let (subject, salt, value) = &held[0];
        assert_eq!(
            (subject.as_str(), value.as_str()),
            ("resident-li", "李建国")
        );
        store.keep(subject, *salt, value).unwrap();
        store.keep("resident-zhao", [5; SALT_LEN], "赵雷").unwrap();
        assert_eq!(store.entries().unwrap().len(), 2);
        assert_eq!(
            fresh()
                .clear_value(
                    "resident-zhao",
                    &personal_data::commitment("resident-zhao", &[5; SALT_LEN], "赵雷")
                )
                .as_deref(),
            Some("赵雷")
        );
        store.erase("resident-zhao").unwrap();
        // The erasure a crash left unfinished, done on the next start.
        assert_eq!(
            store
                .erase_where(&|subject| subject == "resident-li")
                .unwrap(),
            1
        );
        assert_eq!(fresh().clear_value("resident-li", &li), None);
    }

    #[test]
    fn the_file_side_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilePersonalData::open(dir.path()).unwrap();
        let path = dir.path().to_owned();
        // The writer holds the lock; another opening reads, as a check does.
        contract(&store, &|| {
            Box::new(FilePersonalData::open_for_reading(&path).unwrap())
        });
    }

    #[test]
    fn the_postgres_side_store_keeps_the_contract() {
        let Some(cluster) = mingzhang_store_postgres::cluster::ThrowawayCluster::start_or_skip(
            "the_postgres_side_store_keeps_the_contract",
        ) else {
            return;
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let url = cluster.url().to_owned();
        runtime
            .block_on(mingzhang_store_postgres::create_schema(&url))
            .unwrap();
        let open = || -> Box<dyn PersonalDataStore> {
            Box::new(DatabasePersonalData::new(
                runtime
                    .block_on(
                        mingzhang_store_postgres::personal_data::PostgresPersonalData::open(
                            &url, "test",
                        ),
                    )
                    .unwrap(),
            ))
        };
        let store = open();
        contract(store.as_ref(), &open);
        // DELETE is the one change the table allows.
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
        });
        store.commit("resident-zhang", "张敏").unwrap();
        for refused in [
            "UPDATE mingzhang_personal_data SET value = 'x'",
            "TRUNCATE mingzhang_personal_data",
        ] {
            let error = runtime
                .block_on(client.batch_execute(refused))
                .expect_err(refused);
            assert!(
                format!("{error:?}").contains("mingzhang_personal_data"),
                "{refused}: {error:?}"
            );
        }
        assert!(store.holds("resident-zhang").unwrap());
    }

    fn entries_bytes(dir: &Path) -> Vec<u8> {
        std::fs::read(dir.join(PERSONAL_DIR).join(ENTRIES_FILE)).unwrap()
    }

    #[test]
    fn a_committed_name_is_on_disk_when_commit_returns_and_opens_its_commitment() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilePersonalData::open(dir.path()).unwrap();
        let commitment = store.commit("resident-wang", "王丽华").unwrap();
        // What a crash right after would find: a fresh read of the same files.
        let reopened = FilePersonalData::open_for_reading(dir.path()).unwrap();
        assert_eq!(
            reopened
                .clear_value("resident-wang", &commitment)
                .as_deref(),
            Some("王丽华")
        );
        assert_eq!(reopened.clear_value("resident-li", &commitment), None);
    }

    #[test]
    fn a_retry_with_the_same_name_keeps_its_salt() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilePersonalData::open(dir.path()).unwrap();
        let first = store.commit("resident-wang", "王丽华").unwrap();
        drop(store);
        let reopened = FilePersonalData::open(dir.path()).unwrap();
        assert_eq!(reopened.commit("resident-wang", "王丽华").unwrap(), first);
        let lines = entries_bytes(dir.path())
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        assert_eq!(lines, 1, "one salt for one subject and value");
        assert_ne!(reopened.commit("resident-wang", "王丽").unwrap(), first);
    }

    #[test]
    fn one_process_writes_the_store_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilePersonalData::open(dir.path()).unwrap();
        let refused = FilePersonalData::open(dir.path()).err().expect("refused");
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock);
        assert!(
            refused.to_string().contains("in use by another process"),
            "{refused}"
        );
        drop(store);
        FilePersonalData::open(dir.path()).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilePersonalData::open(dir.path()).unwrap();
        let kept = store.commit("resident-wang", "王丽华").unwrap();
        drop(store);
        let path = dir.path().join(PERSONAL_DIR).join(ENTRIES_FILE);
        let sound = std::fs::read(&path).unwrap();
        let mut torn = sound.clone();
        torn.extend_from_slice(br#"{"subject":"resident-li","salt":"00"#);
        std::fs::write(&path, &torn).unwrap();
        let reopened = FilePersonalData::open(dir.path()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), sound);
        assert_eq!(
            reopened.clear_value("resident-wang", &kept).as_deref(),
            Some("王丽华")
        );
        assert!(!reopened.holds("resident-li"));
    }

    #[test]
    fn a_damaged_complete_line_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(PERSONAL_DIR)).unwrap();
        let path = dir.path().join(PERSONAL_DIR).join(ENTRIES_FILE);
        std::fs::write(
            &path,
            b"{\"subject\":\"x\",\"salt\":\"zz\",\"value\":\"v\"}\n",
        )
        .unwrap();
        let error = FilePersonalData::open(dir.path()).err().expect("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("entries.jsonl at byte 0"),
            "{error}"
        );
    }

    #[test]
    fn erasing_a_subject_removes_every_byte_of_its_value_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilePersonalData::open(dir.path()).unwrap();
        let wang = store.commit("resident-wang", "王丽华").unwrap();
        // An orphan of a command that was never recorded is erased as well.
        store.commit("resident-wang", "王丽华 (typo)").unwrap();
        let li = store.commit("resident-li", "李建国").unwrap();
        assert_eq!(store.erase("resident-wang").unwrap(), 2);
        assert_eq!(store.clear_value("resident-wang", &wang), None);
        assert_eq!(
            store.clear_value("resident-li", &li).as_deref(),
            Some("李建国")
        );
        let name = "王丽华".as_bytes();
        for entry in std::fs::read_dir(dir.path().join(PERSONAL_DIR)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(name.len()).any(|window| window == name));
        }
        // Appends go to the rewritten file.
        let zhang = store.commit("resident-zhang", "张敏").unwrap();
        let reopened = FilePersonalData::open_for_reading(dir.path()).unwrap();
        assert_eq!(
            reopened.clear_value("resident-zhang", &zhang).as_deref(),
            Some("张敏")
        );
        assert_eq!(reopened.clear_value("resident-wang", &wang), None);
    }

    #[test]
    fn concurrent_commits_share_syncs_and_each_is_on_disk_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(FilePersonalData::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|n| {
                            let subject = format!("resident-{thread}-{n}");
                            let commitment = store.commit(&subject, &format!("居民{n}")).unwrap();
                            (subject, n, commitment)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let committed: Vec<_> = threads
            .into_iter()
            .flat_map(|thread| thread.join().unwrap())
            .collect();
        let reopened = FilePersonalData::open_for_reading(dir.path()).unwrap();
        for (subject, n, commitment) in committed {
            assert_eq!(
                reopened.clear_value(&subject, &commitment),
                Some(format!("居民{n}"))
            );
        }
    }

    /// A server's state on `log`, with `personal` as its side store, the
    /// handle that makes it a follower or the writer again, and the sender
    /// of its shutdown signal (kept while the state is used).
    async fn started(
        dir: &Path,
        log: &mingzhang_ledger::store::MemoryStore,
        personal: std::sync::Arc<dyn PersonalDataStore>,
    ) -> (
        crate::state::AppState,
        crate::backend::LedgerHandle,
        tokio::sync::watch::Sender<bool>,
    ) {
        use crate::backend::{Ledger, LedgerHandle};
        let ledger = Ledger::open(std::sync::Arc::new(log.clone()))
            .await
            .unwrap();
        let tokens =
            std::sync::Arc::new(crate::auth::TokenRegistry::open(dir.join("tokens.json")).unwrap());
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let handle = LedgerHandle::start(ledger);
        let state = crate::state::AppState::start(
            handle.clone(),
            tokens,
            shutdown_rx,
            None,
            Some(personal),
        )
        .unwrap();
        (state, handle, shutdown_tx)
    }

    /// The order that makes an acknowledged record never lack its name: a
    /// name the side store cannot keep (here its file turned read-only, as
    /// a full or failing disk would refuse) is refused, and the log is
    /// never asked to record its commitment.
    #[tokio::test]
    async fn a_name_the_side_store_cannot_keep_is_never_recorded() {
        use crate::auth::Principal;
        use mingzhang_ledger::store::{EventStore, MemoryStore};

        let dir = tempfile::tempdir().unwrap();
        let personal = std::sync::Arc::new(FilePersonalData::open(dir.path()).unwrap());
        let path = dir.path().join(PERSONAL_DIR).join(ENTRIES_FILE);
        personal.inner.lock().unwrap().file = File::open(&path).unwrap();
        let log = MemoryStore::new();
        let (state, _, _shutdown) = started(dir.path(), &log, personal.clone()).await;
        let operator = Principal::Operator {
            token_id: "op".into(),
        };
        let resident = Event::DonorRegistered(v1::DonorRegistered {
            donor_id: "resident-wang".into(),
            name: "王丽华".into(),
            kind: v1::DonorKind::Individual as i32,
            ..Default::default()
        });
        let refused = state.submit(&operator, None, resident).await;
        assert!(
            matches!(&refused, Err(crate::error::AppError::Internal(detail)) if detail.contains("side store")),
            "{refused:?}"
        );
        assert_eq!(log.head().len, 0, "nothing recorded");
        assert!(!personal.holds("resident-wang"));
        // An enterprise has nothing for the side store and is recorded.
        let company = Event::DonorRegistered(v1::DonorRegistered {
            donor_id: "unit-01".into(),
            name: "浙江某某有限公司".into(),
            kind: v1::DonorKind::Enterprise as i32,
            ..Default::default()
        });
        state.submit(&operator, None, company).await.unwrap();
        assert_eq!(log.head().len, 1);
    }

    /// A command the rules refuse, or a server that only follows, keeps no
    /// name: the refusal comes before the side store is written.
    #[tokio::test]
    async fn a_refused_command_leaves_no_name_in_the_side_store() {
        use crate::auth::Principal;
        use mingzhang_ledger::store::{EventStore, MemoryStore};

        let dir = tempfile::tempdir().unwrap();
        let personal = std::sync::Arc::new(FilePersonalData::open(dir.path()).unwrap());
        let log = MemoryStore::new();
        let (state, handle, _shutdown) = started(dir.path(), &log, personal.clone()).await;
        let operator = Principal::Operator {
            token_id: "op".into(),
        };
        let resident = |alliance_member| {
            Event::DonorRegistered(v1::DonorRegistered {
                donor_id: "resident-zhao".into(),
                name: "赵敏".into(),
                kind: v1::DonorKind::Individual as i32,
                alliance_member,
                ..Default::default()
            })
        };
        let refused = state.submit(&operator, None, resident(true)).await;
        assert!(
            matches!(&refused, Err(crate::error::AppError::Invalid { rule, .. }) if *rule == "alliance_members_are_enterprises"),
            "{refused:?}"
        );
        assert!(!personal.holds("resident-zhao"), "no orphan name");
        handle.follow(None);
        let refused = state.submit(&operator, None, resident(false)).await;
        assert!(
            matches!(&refused, Err(crate::error::AppError::NotTheWriter { .. })),
            "{refused:?}"
        );
        assert!(!personal.holds("resident-zhao"), "no orphan name");
        handle.write();
        state
            .submit(&operator, None, resident(false))
            .await
            .unwrap();
        assert!(personal.holds("resident-zhao"));
        assert_eq!(log.head().len, 1);
    }

    /// A file side store that counts the names it is asked for one by one.
    struct Counted {
        file: std::sync::Arc<FilePersonalData>,
        looked_up: std::sync::atomic::AtomicUsize,
    }

    impl mingzhang_projections::PersonalNames for Counted {
        fn clear_value(&self, subject_id: &str, commitment: &[u8]) -> Option<String> {
            self.looked_up
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            mingzhang_projections::PersonalNames::clear_value(&*self.file, subject_id, commitment)
        }
    }

    impl PersonalDataStore for Counted {
        fn commit(&self, subject_id: &str, value: &str) -> io::Result<Commitment> {
            PersonalDataStore::commit(&*self.file, subject_id, value)
        }
        fn holds(&self, subject_id: &str) -> io::Result<bool> {
            PersonalDataStore::holds(&*self.file, subject_id)
        }
        fn erase_where(&self, erased: &dyn Fn(&str) -> bool) -> io::Result<usize> {
            PersonalDataStore::erase_where(&*self.file, erased)
        }
        fn describe(&self) -> String {
            PersonalDataStore::describe(&*self.file)
        }
        fn entries(&self) -> io::Result<Vec<(String, Salt, String)>> {
            PersonalDataStore::entries(&*self.file)
        }
        fn keep(&self, subject_id: &str, salt: Salt, value: &str) -> io::Result<()> {
            PersonalDataStore::keep(&*self.file, subject_id, salt, value)
        }
    }

    /// A server starting on a log of committed names reads them from its
    /// side store in one go, not once per name (a store in PostgreSQL
    /// answers each look-up in a round trip), and names every donor.
    #[tokio::test]
    async fn a_starting_server_reads_the_names_in_one_go() {
        use crate::auth::Principal;
        use mingzhang_ledger::store::MemoryStore;

        let dir = tempfile::tempdir().unwrap();
        let log = MemoryStore::new();
        let start = |personal: std::sync::Arc<Counted>| {
            let log = log.clone();
            let dir = dir.path().to_owned();
            async move {
                let (state, _, shutdown) = started(&dir, &log, personal).await;
                (state, shutdown)
            }
        };
        // One opening of the file for both servers (it is locked to one
        // process); each server counts its own look-ups.
        let file = std::sync::Arc::new(FilePersonalData::open(dir.path()).unwrap());
        let counted = |file: &std::sync::Arc<FilePersonalData>| {
            std::sync::Arc::new(Counted {
                file: file.clone(),
                looked_up: Default::default(),
            })
        };
        let (first, _first_shutdown) = start(counted(&file)).await;
        let operator = Principal::Operator {
            token_id: "op".into(),
        };
        let residents = [("resident-wang", "王丽华"), ("resident-li", "李建国")];
        for (donor_id, name) in residents {
            let resident = Event::DonorRegistered(v1::DonorRegistered {
                donor_id: donor_id.into(),
                name: name.into(),
                kind: v1::DonorKind::Individual as i32,
                ..Default::default()
            });
            first.submit(&operator, None, resident).await.unwrap();
        }
        drop(first);

        let personal = counted(&file);
        let (second, _second_shutdown) = start(personal.clone()).await;
        assert_eq!(
            personal
                .looked_up
                .load(std::sync::atomic::Ordering::Relaxed),
            0,
            "no name asked for one by one"
        );
        let projections = second.projections.read();
        for (donor_id, name) in residents {
            assert_eq!(projections.donor(donor_id).unwrap().name, name);
        }
    }

    #[test]
    fn an_individual_donor_is_committed_and_an_enterprise_left_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let store = FilePersonalData::open(dir.path()).unwrap();
        let mut person = Event::DonorRegistered(v1::DonorRegistered {
            donor_id: "resident-wang".into(),
            name: "王丽华".into(),
            kind: v1::DonorKind::Individual as i32,
            ..Default::default()
        });
        store.commit_command(&mut person).unwrap();
        let Event::DonorRegistered(committed) = &person else {
            unreachable!()
        };
        assert_eq!(committed.name, "");
        assert_eq!(
            store
                .clear_value("resident-wang", &committed.name_commitment)
                .as_deref(),
            Some("王丽华")
        );
        // A name decide refuses stays in the command, for decide to name
        // the field and rule; nothing of it is kept.
        for bad in ["坏\u{202e}名", "a\u{0}b", " ", ""] {
            let mut refused = Event::DonorRegistered(v1::DonorRegistered {
                donor_id: "d-x".into(),
                name: bad.into(),
                kind: v1::DonorKind::Individual as i32,
                ..Default::default()
            });
            let before = refused.clone();
            store.commit_command(&mut refused).unwrap();
            assert_eq!(refused, before);
            assert!(!store.holds("d-x"));
        }
        let mut company = Event::DonorRegistered(v1::DonorRegistered {
            donor_id: "unit-01".into(),
            name: "浙江某某有限公司".into(),
            kind: v1::DonorKind::Enterprise as i32,
            ..Default::default()
        });
        let before = company.clone();
        store.commit_command(&mut company).unwrap();
        assert_eq!(company, before);
        let mut payee = Event::ExpenditureMade(v1::ExpenditureMade {
            expenditure_id: "exp-1".into(),
            payee: "刘志强".into(),
            payee_kind: v1::PayeeKind::Person as i32,
            ..Default::default()
        });
        store.commit_command(&mut payee).unwrap();
        let Event::ExpenditureMade(paid) = &payee else {
            unreachable!()
        };
        assert_eq!((paid.payee.as_str(), paid.payee_commitment.len()), ("", 32));
    }
}
