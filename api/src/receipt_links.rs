//! Receipt links (收据链接): an unguessable code the organisation hands a
//! donor (by SMS, on paper, over WeChat), opening `/r/<code>`: the receipt of
//! their donation, checked in their browser, without any token.
//!
//! The code is a capability, not a fact about the money, so it lives BESIDE
//! the log, never in it: the hashed log is public to auditors, and a code in
//! it would open every donor's receipt to anyone holding a copy; a code must
//! also be revocable, which nothing in an append-only hash chain is.
//!
//! The store is one append-only text file, `receipt-links` in the data
//! directory (also when the log itself is in PostgreSQL: tokens and keys
//! live there too; the signed checkpoints are in the database). One line per
//! change:
//!
//! ```text
//! issue <code> <seq>\n     the code opens record <seq>'s receipt
//! revoke <code>\n          the code opens nothing from now on
//! ```
//!
//! A change is acknowledged only after `fdatasync`; concurrent changes share
//! one (the first caller to sync covers what the others wrote). A crash can
//! leave only the last line torn, never acknowledged, and `open` cuts it off;
//! a damaged line before the last is refused, naming its line number.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use rand::RngCore;

/// The store's file name in the data directory.
pub const RECEIPT_LINKS_FILE: &str = "receipt-links";
/// Random bytes in a code: 128 bits from the OS, beyond guessing.
pub const CODE_BYTES: usize = 16;
/// A code as written in a link: URL-safe base64 without padding.
pub const CODE_TEXT_LEN: usize = 22;
/// Longest line the file holds: "issue ", a code, " ", a u64, "\n".
const LINE_LEN_MAX: usize = 6 + CODE_TEXT_LEN + 1 + 20 + 1;

/// The code of one receipt link. Its `Debug` hides the code, so a log line
/// or a panic message never hands out a receipt.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiptCode([u8; CODE_BYTES]);

impl std::fmt::Debug for ReceiptCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ReceiptCode(..)")
    }
}

impl ReceiptCode {
    fn random() -> ReceiptCode {
        let mut bytes = [0u8; CODE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        ReceiptCode(bytes)
    }

    /// The code written in `text`; `None` for anything but exactly
    /// `CODE_TEXT_LEN` URL-safe base64 characters that re-encode to themselves.
    pub fn parse(text: &str) -> Option<ReceiptCode> {
        if text.len() != CODE_TEXT_LEN {
            return None;
        }
        let bytes: [u8; CODE_BYTES] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
        let code = ReceiptCode(bytes);
        // The last character carries 4 spare bits: only one spelling counts.
        (code.to_text() == text).then_some(code)
    }

    pub fn to_text(self) -> String {
        let text = URL_SAFE_NO_PAD.encode(self.0);
        assert_eq!(text.len(), CODE_TEXT_LEN);
        text
    }

    /// The link's path on this server, `/r/<code>`.
    pub fn link(self) -> String {
        format!("/r/{}", self.to_text())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiptLinksError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: not an `issue <code> <seq>` or `revoke <code>` line")]
    Damaged { path: PathBuf, line: usize },
    #[error("{path}: an earlier write failed; reopen to continue")]
    Failed { path: PathBuf },
}

/// What `revoke` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The code opened a receipt until now.
    Revoked,
    /// The code was revoked before; nothing changed.
    AlreadyRevoked,
    /// No such code was ever issued; nothing changed.
    NeverIssued,
}

pub struct ReceiptLinks {
    path: PathBuf,
    links: Mutex<Links>,
    /// Bytes of the file known durable. Held while syncing, so one caller
    /// syncs and those behind it find their bytes already covered.
    synced_len: Mutex<u64>,
    /// A second handle on the file, synced without holding `links`.
    sync_handle: File,
    /// Set while an async caller's sync runs on the blocking pool; the
    /// others await `synced_notice` instead of taking a thread each.
    async_sync_running: AtomicBool,
    /// Sent, with the durable length, after each async sync ends.
    synced_notice: tokio::sync::watch::Sender<u64>,
}

struct Links {
    by_code: HashMap<ReceiptCode, u64>,
    /// The live code of each record that has one.
    by_seq: HashMap<u64, ReceiptCode>,
    revoked: HashSet<ReceiptCode>,
    file: File,
    written_len: u64,
    /// A write failed: how much of it reached the file is unknown, so
    /// nothing more is written until the store is reopened (crash-only).
    failed: bool,
}

enum Line {
    Issue(ReceiptCode, u64),
    Revoke(ReceiptCode),
}

impl Line {
    fn parse(text: &str) -> Option<Line> {
        let mut words = text.split(' ');
        let line = match (words.next()?, words.next()?, words.next()) {
            ("issue", code, Some(seq)) => {
                let seq_value: u64 = seq.parse().ok()?;
                // One spelling per seq, as written: no "+1", no leading zeros.
                if seq_value.to_string() != seq {
                    return None;
                }
                Line::Issue(ReceiptCode::parse(code)?, seq_value)
            }
            ("revoke", code, None) => Line::Revoke(ReceiptCode::parse(code)?),
            _ => return None,
        };
        words.next().is_none().then_some(line)
    }

    fn render(&self) -> String {
        let text = match self {
            Line::Issue(code, seq) => format!("issue {} {seq}\n", code.to_text()),
            Line::Revoke(code) => format!("revoke {}\n", code.to_text()),
        };
        assert!(text.len() <= LINE_LEN_MAX);
        text
    }
}

impl Links {
    /// False for a line no sequence of `issue_for` and `revoke` writes: a
    /// code issued twice or after its revocation, a second live code for a
    /// record.
    fn may_apply(&self, line: &Line) -> bool {
        match line {
            Line::Issue(code, seq) => {
                !self.by_code.contains_key(code)
                    && !self.revoked.contains(code)
                    && !self.by_seq.contains_key(seq)
            }
            Line::Revoke(code) => self.by_code.contains_key(code),
        }
    }

    fn apply(&mut self, line: &Line) {
        match *line {
            Line::Issue(code, seq) => {
                assert!(
                    !self.revoked.contains(&code),
                    "a revoked code is never reissued"
                );
                self.by_code.insert(code, seq);
                self.by_seq.insert(seq, code);
            }
            Line::Revoke(code) => {
                if let Some(seq) = self.by_code.remove(&code) {
                    self.by_seq.remove(&seq);
                }
                self.revoked.insert(code);
            }
        }
    }

    /// Appends `line` and applies it; the caller then syncs.
    fn append(&mut self, line: Line, path: &Path) -> Result<(), ReceiptLinksError> {
        if self.failed {
            return Err(ReceiptLinksError::Failed {
                path: path.to_owned(),
            });
        }
        let text = line.render();
        if let Err(source) = self.file.write_all(text.as_bytes()) {
            self.failed = true;
            return Err(ReceiptLinksError::Io {
                path: path.to_owned(),
                source,
            });
        }
        self.written_len += text.len() as u64;
        self.apply(&line);
        Ok(())
    }
}

impl ReceiptLinks {
    /// Opens (creating if absent) the store in `data_dir`, cutting off a
    /// torn last line.
    pub fn open(data_dir: &Path) -> Result<ReceiptLinks, ReceiptLinksError> {
        let path = data_dir.join(RECEIPT_LINKS_FILE);
        let io = |source| ReceiptLinksError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut links = Links {
            by_code: HashMap::new(),
            by_seq: HashMap::new(),
            revoked: HashSet::new(),
            file,
            written_len: 0,
            failed: false,
        };
        let mut sound_len = 0usize;
        let mut rest = bytes.as_slice();
        let mut line_number = 0;
        while !rest.is_empty() {
            line_number += 1;
            let end = rest.iter().position(|&byte| byte == b'\n');
            let parsed = end
                .and_then(|end| std::str::from_utf8(&rest[..end]).ok())
                .and_then(Line::parse);
            let parsed = parsed.filter(|line| links.may_apply(line));
            match (parsed, end) {
                (Some(line), Some(end)) => {
                    links.apply(&line);
                    sound_len += end + 1;
                    rest = &rest[end + 1..];
                }
                // The last line, unfinished or garbled: a write cut short by
                // a crash, never acknowledged.
                (_, None) => break,
                (None, Some(end)) if end + 1 == rest.len() => break,
                (None, Some(_)) => {
                    return Err(ReceiptLinksError::Damaged {
                        path,
                        line: line_number,
                    });
                }
            }
        }
        if sound_len < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                cut_bytes = bytes.len() - sound_len,
                "cutting off a torn last line of the receipt links"
            );
            links.file.set_len(sound_len as u64).map_err(io)?;
        }
        links.file.sync_all().map_err(io)?;
        File::open(data_dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io)?;
        links.written_len = sound_len as u64;
        let sync_handle = links.file.try_clone().map_err(io)?;
        Ok(ReceiptLinks {
            synced_len: Mutex::new(links.written_len),
            async_sync_running: AtomicBool::new(false),
            synced_notice: tokio::sync::watch::Sender::new(links.written_len),
            links: Mutex::new(links),
            sync_handle,
            path,
        })
    }

    /// The live code of record `seq`, issuing one if it has none (never
    /// issued, or revoked): a retried donation gets the link its first
    /// attempt got, and a donation whose link was revoked gets a new one on
    /// a retry, which is how the operator replaces a leaked link. Durable
    /// when it returns.
    pub fn issue_for(&self, seq: u64) -> Result<ReceiptCode, ReceiptLinksError> {
        let codes = self.issue_for_all(&[seq])?;
        assert_eq!(codes.len(), 1);
        Ok(codes[0])
    }

    /// `issue_for` each of `seqs`, in order, sharing one `fdatasync`.
    pub fn issue_for_all(&self, seqs: &[u64]) -> Result<Vec<ReceiptCode>, ReceiptLinksError> {
        let (codes, written_len) = self.write_issues(seqs)?;
        self.sync_to(written_len)?;
        Ok(codes)
    }

    /// `issue_for_all` for async callers: the lines are written at once (to
    /// the page cache), and the wait for their `fdatasync` holds no thread.
    pub async fn issue_for_all_async(
        self: &Arc<Self>,
        seqs: &[u64],
    ) -> Result<Vec<ReceiptCode>, ReceiptLinksError> {
        let (codes, written_len) = self.write_issues(seqs)?;
        self.durable_to(written_len).await?;
        Ok(codes)
    }

    /// The codes of `seqs`, new lines written but not yet synced, and the
    /// file length that covers them.
    fn write_issues(&self, seqs: &[u64]) -> Result<(Vec<ReceiptCode>, u64), ReceiptLinksError> {
        let mut links = self.links.lock();
        let mut codes = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            let code = match links.by_seq.get(&seq) {
                Some(code) => *code,
                None => {
                    let code = loop {
                        let code = ReceiptCode::random();
                        if !links.by_code.contains_key(&code) && !links.revoked.contains(&code) {
                            break code;
                        }
                    };
                    links.append(Line::Issue(code, seq), &self.path)?;
                    code
                }
            };
            assert_eq!(links.by_code.get(&code), Some(&seq));
            codes.push(code);
        }
        // Covers these codes' lines, whoever wrote them.
        Ok((codes, links.written_len))
    }

    /// Waits until the first `len` bytes are durable. One caller at a time
    /// syncs, on the blocking pool; the others await its notice and then
    /// find their bytes covered, or sync the rest themselves.
    async fn durable_to(self: &Arc<Self>, len: u64) -> Result<(), ReceiptLinksError> {
        let mut notices = self.synced_notice.subscribe();
        loop {
            if *notices.borrow_and_update() >= len || *self.synced_len.lock() >= len {
                return Ok(());
            }
            let became_syncer = self
                .async_sync_running
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if !became_syncer {
                // The running sync notifies after it lets go of the flag, so
                // this wakes and either finds its bytes covered or syncs.
                let _ = notices.changed().await;
                continue;
            }
            let links = Arc::clone(self);
            let synced = tokio::task::spawn_blocking(move || links.sync_to(len)).await;
            self.async_sync_running.store(false, Ordering::Release);
            self.synced_notice.send_replace(*self.synced_len.lock());
            return match synced {
                Ok(result) => result,
                Err(error) => Err(ReceiptLinksError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(format!("sync task: {error}")),
                }),
            };
        }
    }

    /// Revokes `code`: from now on it opens nothing. Durable when it returns.
    pub fn revoke(&self, code: ReceiptCode) -> Result<Revocation, ReceiptLinksError> {
        let (revocation, written_len) = {
            let mut links = self.links.lock();
            let revocation = if links.by_code.contains_key(&code) {
                links.append(Line::Revoke(code), &self.path)?;
                Revocation::Revoked
            } else if links.revoked.contains(&code) {
                Revocation::AlreadyRevoked
            } else {
                Revocation::NeverIssued
            };
            assert!(!links.by_code.contains_key(&code));
            (revocation, links.written_len)
        };
        self.sync_to(written_len)?;
        Ok(revocation)
    }

    /// The record `code` opens, if it is live.
    pub fn seq_of(&self, code: ReceiptCode) -> Option<u64> {
        self.links.lock().by_code.get(&code).copied()
    }

    /// The live code of record `seq`, if it has one.
    pub fn code_of(&self, seq: u64) -> Option<ReceiptCode> {
        self.links.lock().by_seq.get(&seq).copied()
    }

    /// Makes the first `len` bytes durable, sharing one `fdatasync` with
    /// every caller whose bytes were written before it started.
    fn sync_to(&self, len: u64) -> Result<(), ReceiptLinksError> {
        let mut synced_len = self.synced_len.lock();
        if *synced_len >= len {
            return Ok(());
        }
        let (target, failed) = {
            let links = self.links.lock();
            (links.written_len, links.failed)
        };
        if failed {
            return Err(ReceiptLinksError::Failed {
                path: self.path.clone(),
            });
        }
        assert!(target >= len, "written bytes are never taken back");
        if let Err(source) = self.sync_handle.sync_data() {
            // What reached the disk is unknown: refuse every later change.
            self.links.lock().failed = true;
            return Err(ReceiptLinksError::Io {
                path: self.path.clone(),
                source,
            });
        }
        *synced_len = target;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_text(dir: &Path) -> String {
        std::fs::read_to_string(dir.join(RECEIPT_LINKS_FILE)).expect("readable")
    }

    #[test]
    fn a_code_is_128_random_bits_written_url_safe_and_parses_back() {
        let code = ReceiptCode::random();
        let text = code.to_text();
        assert_eq!(text.len(), CODE_TEXT_LEN);
        assert!(
            text.bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        );
        assert_eq!(ReceiptCode::parse(&text), Some(code));
        assert_ne!(ReceiptCode::random(), code);
        assert_eq!(code.link(), format!("/r/{text}"));
        assert_eq!(format!("{code:?}"), "ReceiptCode(..)");
    }

    #[test]
    fn only_the_one_spelling_of_a_code_parses() {
        let text = ReceiptCode::random().to_text();
        assert_eq!(ReceiptCode::parse(&text[1..]), None);
        assert_eq!(ReceiptCode::parse(&format!("{text}A")), None);
        assert_eq!(ReceiptCode::parse(&format!("{}=", &text[1..])), None);
        assert_eq!(ReceiptCode::parse("++++++++++++++++++++++"), None);
        // "AAAA...B": the last character's spare bits set.
        assert_eq!(ReceiptCode::parse(&format!("{}B", "A".repeat(21))), None);
        assert!(ReceiptCode::parse(&format!("{}A", "A".repeat(21))).is_some());
    }

    #[test]
    fn a_retried_issue_answers_the_same_code_and_links_survive_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let links = ReceiptLinks::open(dir.path()).expect("opens");
        let first = links.issue_for(7).expect("issued");
        assert_eq!(links.issue_for(7).expect("issued"), first);
        let other = links.issue_for(8).expect("issued");
        assert_ne!(other, first);
        assert_eq!(links.seq_of(first), Some(7));
        drop(links);

        let reopened = ReceiptLinks::open(dir.path()).expect("reopens");
        assert_eq!(reopened.seq_of(first), Some(7));
        assert_eq!(reopened.seq_of(other), Some(8));
        assert_eq!(reopened.issue_for(7).expect("issued"), first);
        assert_eq!(file_text(dir.path()).lines().count(), 2);
    }

    #[test]
    fn a_revoked_code_opens_nothing_even_after_reopen_and_a_retry_gets_a_new_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let links = ReceiptLinks::open(dir.path()).expect("opens");
        let code = links.issue_for(3).expect("issued");
        assert_eq!(links.revoke(code).expect("revoked"), Revocation::Revoked);
        assert_eq!(links.seq_of(code), None);
        assert_eq!(links.code_of(3), None);
        assert_eq!(
            links.revoke(code).expect("revoked"),
            Revocation::AlreadyRevoked
        );
        assert_eq!(
            links.revoke(ReceiptCode::random()).expect("nothing to do"),
            Revocation::NeverIssued
        );
        drop(links);

        let reopened = ReceiptLinks::open(dir.path()).expect("reopens");
        assert_eq!(reopened.seq_of(code), None);
        assert_eq!(
            reopened.revoke(code).expect("revoked"),
            Revocation::AlreadyRevoked
        );
        let replacement = reopened.issue_for(3).expect("issued");
        assert_ne!(replacement, code);
        assert_eq!(reopened.seq_of(replacement), Some(3));
    }

    #[test]
    fn a_torn_last_line_is_cut_off_on_open_and_the_links_before_it_stay() {
        let dir = tempfile::tempdir().expect("temp dir");
        let links = ReceiptLinks::open(dir.path()).expect("opens");
        let kept = links.issue_for(1).expect("issued");
        drop(links);
        let sound = file_text(dir.path());
        for torn in ["issue ", "issue AAAA", "revoke ", "\0\0\0\0", "issue x 9\n"] {
            std::fs::write(
                dir.path().join(RECEIPT_LINKS_FILE),
                format!("{sound}{torn}"),
            )
            .expect("written");
            let reopened = ReceiptLinks::open(dir.path()).expect("a torn tail is repaired");
            assert_eq!(reopened.seq_of(kept), Some(1), "after {torn:?}");
            assert_eq!(file_text(dir.path()), sound, "after {torn:?}");
            let next = reopened.issue_for(2).expect("issued after repair");
            assert_eq!(reopened.seq_of(next), Some(2));
            drop(reopened);
            std::fs::write(dir.path().join(RECEIPT_LINKS_FILE), &sound).expect("written");
        }
    }

    #[test]
    fn a_damaged_line_before_the_last_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let links = ReceiptLinks::open(dir.path()).expect("opens");
        links.issue_for(1).expect("issued");
        links.issue_for(2).expect("issued");
        drop(links);
        let text = file_text(dir.path());
        let damaged = text.replacen("issue", "issuE", 1);
        std::fs::write(dir.path().join(RECEIPT_LINKS_FILE), damaged).expect("written");
        match ReceiptLinks::open(dir.path()) {
            Err(ReceiptLinksError::Damaged { line, .. }) => assert_eq!(line, 1),
            other => panic!("expected line 1 damaged, got {:?}", other.err()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_async_issues_share_syncs_and_each_is_durable_when_answered() {
        let dir = tempfile::tempdir().expect("temp dir");
        let links = Arc::new(ReceiptLinks::open(dir.path()).expect("opens"));
        let tasks: Vec<_> = (0..64u64)
            .map(|seq| {
                let links = links.clone();
                tokio::spawn(async move {
                    let codes = links.issue_for_all_async(&[seq]).await.expect("issued");
                    // Answered only once the synced bytes hold its line.
                    let synced_len = *links.synced_len.lock() as usize;
                    let text = std::fs::read_to_string(&links.path).expect("readable");
                    let line = format!("issue {} {seq}\n", codes[0].to_text());
                    assert!(text[..synced_len].contains(&line), "{seq} not synced");
                    (seq, codes[0])
                })
            })
            .collect();
        let mut issued = Vec::new();
        for task in tasks {
            issued.push(task.await.expect("no panic"));
        }
        assert_eq!(*links.synced_len.lock(), links.links.lock().written_len);
        assert!(!links.async_sync_running.load(Ordering::Acquire));
        drop(links);
        let reopened = ReceiptLinks::open(dir.path()).expect("reopens");
        for (seq, code) in issued {
            assert_eq!(reopened.seq_of(code), Some(seq));
        }
    }

    #[test]
    fn concurrent_issues_each_get_their_own_durable_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        let links = std::sync::Arc::new(ReceiptLinks::open(dir.path()).expect("opens"));
        let threads: Vec<_> = (0..8u64)
            .map(|thread| {
                let links = links.clone();
                std::thread::spawn(move || {
                    (0..25u64)
                        .map(|n| (thread * 100 + n, links.issue_for(thread * 100 + n).unwrap()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let issued: Vec<(u64, ReceiptCode)> = threads
            .into_iter()
            .flat_map(|thread| thread.join().expect("no panic"))
            .collect();
        assert_eq!(*links.synced_len.lock(), links.links.lock().written_len);
        drop(links);
        let reopened = ReceiptLinks::open(dir.path()).expect("reopens");
        let distinct: HashSet<ReceiptCode> = issued.iter().map(|(_, code)| *code).collect();
        assert_eq!(distinct.len(), 200);
        for (seq, code) in issued {
            assert_eq!(reopened.seq_of(code), Some(seq));
        }
    }
}
