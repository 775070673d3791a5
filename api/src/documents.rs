//! Documents kept beside the log (reports, invoices), addressed by their
//! SHA-256: the hash a `GrantSelfAssessmentFiled` or `ProjectCompleted`
//! record carries is the name of the file that holds the report, so anyone
//! who fetches it can check it is the one the ledger recorded.
//!
//! On disk (`<data-dir>/documents/`, docs/documents.md):
//!
//! ```text
//! <sha256>        the document's exact bytes
//! <sha256>.json   {"media_type":..., "size_bytes":..., "public":...}
//! ```
//!
//! Both are written to temporary files, fsync'd, renamed into place (the
//! flag first) and the directory fsync'd once. A body found without its
//! flag (a crash between the renames) is held not public: a document that
//! may hold personal data is never served by mistake.
//!
//! The documents are not the ledger: nothing here is checked by `verify`,
//! and the server does not re-hash a body it serves; the page's script does,
//! in the reader's browser, against the hash on the log.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest document accepted: 10 MiB, enough for a scanned report of a
/// few pages or a photographed invoice, small enough to hold in memory
/// while it is hashed.
pub const DOCUMENT_LEN_MAX: usize = 10 * 1024 * 1024;

/// Uploads read at once: each holds its whole body (up to
/// `DOCUMENT_LEN_MAX`) in memory while it is hashed and written, so at most
/// 40 MiB. Uploads are rare and come from a few tokens; a fifth at once is
/// told to retry (503).
pub const UPLOADS_IN_FLIGHT_MAX: usize = 4;

/// The directory under the data directory that holds the documents.
pub const DOCUMENTS_DIR: &str = "documents";

/// Temporary files being written start with this; open removes leftovers.
const INCOMING_PREFIX: &str = ".incoming-";

/// The kinds of document accepted, told by content, never by the name or
/// the `Content-Type` the uploader claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "text/plain")]
    Text,
}

/// Why a body is none of the accepted kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SniffRefusal {
    #[error("the body is empty; a document is a PDF, JPEG, PNG or UTF-8 text")]
    Empty,
    #[error(
        "the body is not a PDF (%PDF-), JPEG (FF D8 FF) or PNG (89 50 4E 47 0D 0A 1A 0A), \
         and as text it is not valid UTF-8 (from byte {valid_up_to})"
    )]
    NotUtf8 { valid_up_to: usize },
    #[error(
        "the body is not a PDF, JPEG or PNG, and as text it holds a NUL byte at {offset}: \
         binary data is not text"
    )]
    NulInText { offset: usize },
}

impl SniffRefusal {
    pub fn rule(&self) -> &'static str {
        match self {
            SniffRefusal::Empty => "document_empty",
            SniffRefusal::NotUtf8 { .. } => "document_type_unsupported",
            SniffRefusal::NulInText { .. } => "document_type_unsupported",
        }
    }
}

const PDF_MAGIC: &[u8] = b"%PDF-";
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

impl DocumentType {
    /// The kind of document `bytes` hold, by their first bytes (the magic
    /// numbers of PDF, JPEG and PNG); anything else must be UTF-8 text
    /// without NUL.
    pub fn sniff(bytes: &[u8]) -> Result<DocumentType, SniffRefusal> {
        if bytes.is_empty() {
            return Err(SniffRefusal::Empty);
        }
        if bytes.starts_with(PDF_MAGIC) {
            return Ok(DocumentType::Pdf);
        }
        if bytes.starts_with(JPEG_MAGIC) {
            return Ok(DocumentType::Jpeg);
        }
        if bytes.starts_with(PNG_MAGIC) {
            return Ok(DocumentType::Png);
        }
        if let Err(error) = std::str::from_utf8(bytes) {
            return Err(SniffRefusal::NotUtf8 {
                valid_up_to: error.valid_up_to(),
            });
        }
        if let Some(offset) = bytes.iter().position(|&byte| byte == 0) {
            return Err(SniffRefusal::NulInText { offset });
        }
        Ok(DocumentType::Text)
    }

    /// The `Content-Type` a document is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            DocumentType::Pdf => "application/pdf",
            DocumentType::Jpeg => "image/jpeg",
            DocumentType::Png => "image/png",
            DocumentType::Text => "text/plain; charset=utf-8",
        }
    }

    /// The file name's extension offered in `Content-Disposition`.
    pub fn extension(self) -> &'static str {
        match self {
            DocumentType::Pdf => "pdf",
            DocumentType::Jpeg => "jpg",
            DocumentType::Png => "png",
            DocumentType::Text => "txt",
        }
    }

    pub fn is_image(self) -> bool {
        matches!(self, DocumentType::Jpeg | DocumentType::Png)
    }
}

/// A SHA-256, the name of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentHash([u8; 32]);

impl DocumentHash {
    /// Exactly 64 lowercase hex digits, as the log's hashes are written
    /// everywhere else (`sha256sum`'s form); `None` otherwise.
    pub fn parse(hex_text: &str) -> Option<DocumentHash> {
        if hex_text.len() != 64
            || !hex_text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        {
            return None;
        }
        let mut hash = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut hash).expect("64 lowercase hex digits decode");
        Some(DocumentHash(hash))
    }

    pub fn of(bytes: &[u8]) -> DocumentHash {
        DocumentHash(Sha256::digest(bytes).into())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What is kept beside a document's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub media_type: DocumentType,
    pub size_bytes: u64,
    /// False: it holds personal data; its bytes are never served publicly.
    pub public: bool,
}

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Written now.
    Created(DocumentMeta),
    /// The same bytes with the same flag were stored before: nothing written.
    AlreadyStored(DocumentMeta),
}

impl Stored {
    pub fn meta(self) -> DocumentMeta {
        match self {
            Stored::Created(meta) | Stored::AlreadyStored(meta) => meta,
        }
    }
}

/// Why an upload stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutRefusal {
    #[error("the body's SHA-256 is {actual}, not the {expected} the path names")]
    HashMismatch { expected: String, actual: String },
    #[error("{0}")]
    Type(SniffRefusal),
    #[error(
        "this document is stored already with public={stored}; its flag is not changed by \
         uploading it again"
    )]
    PublicFlagDiffers { stored: bool },
    #[error("writing the document: {0}")]
    Io(#[from] io::Error),
}

/// The documents directory and an index of what it holds, read once at
/// open and kept up to date by `put`, so the page can say which reports
/// are uploaded without touching the disk.
pub struct DocumentStore {
    dir: PathBuf,
    index: RwLock<HashMap<DocumentHash, DocumentMeta>>,
    /// One upload writes at a time: uploads are rare, and two uploads of the
    /// same document must not interleave their renames.
    writing: Mutex<()>,
    /// The uploads being read, at most `UPLOADS_IN_FLIGHT_MAX`.
    uploads_in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

impl DocumentStore {
    /// Opens (creating if missing) `<data_dir>/documents`, removes the
    /// temporary files of uploads a crash interrupted, and indexes the rest.
    pub fn open(data_dir: &Path) -> io::Result<DocumentStore> {
        let dir = data_dir.join(DOCUMENTS_DIR);
        std::fs::create_dir_all(&dir)?;
        let mut bodies = Vec::new();
        let mut metas = HashMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(INCOMING_PREFIX) {
                std::fs::remove_file(entry.path())?;
            } else if let Some(stem) = name.strip_suffix(".json") {
                if let Some(hash) = DocumentHash::parse(stem) {
                    let text = std::fs::read(entry.path())?;
                    let meta: DocumentMeta = serde_json::from_slice(&text).map_err(|error| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{}: {error}", entry.path().display()),
                        )
                    })?;
                    metas.insert(hash, meta);
                }
            } else if let Some(hash) = DocumentHash::parse(name) {
                bodies.push((hash, entry.metadata()?.len()));
            }
        }
        let mut index = HashMap::with_capacity(bodies.len());
        for (hash, size_bytes) in bodies {
            let meta = match metas.get(&hash) {
                Some(meta) => {
                    // Served as it is: the reader's check against the log's
                    // hash is what tells a changed document.
                    if meta.size_bytes != size_bytes {
                        tracing::warn!(
                            document = %hash.to_hex(),
                            size_bytes,
                            flag_size_bytes = meta.size_bytes,
                            "a document's size differs from its flag file's: changed on disk"
                        );
                    }
                    *meta
                }
                // The flag's rename did not reach the disk: held not public
                // until uploaded again, its type read from its bytes.
                None => {
                    let bytes = std::fs::read(dir.join(hash.to_hex()))?;
                    let Ok(media_type) = DocumentType::sniff(&bytes) else {
                        continue;
                    };
                    DocumentMeta {
                        media_type,
                        size_bytes,
                        public: false,
                    }
                }
            };
            index.insert(hash, meta);
        }
        Ok(DocumentStore {
            dir,
            index: RwLock::new(index),
            writing: Mutex::new(()),
            uploads_in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(
                UPLOADS_IN_FLIGHT_MAX,
            )),
        })
    }

    /// A slot to read one upload's body in; `None` while
    /// `UPLOADS_IN_FLIGHT_MAX` are being read. Held until the upload ends.
    pub fn upload_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.uploads_in_flight.clone().try_acquire_owned().ok()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self, hash: DocumentHash) -> Option<DocumentMeta> {
        self.index.read().get(&hash).copied()
    }

    pub fn len(&self) -> usize {
        self.index.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.read().is_empty()
    }

    /// Every stored document, for the export.
    pub fn all(&self) -> Vec<(DocumentHash, DocumentMeta)> {
        let mut all: Vec<_> = self
            .index
            .read()
            .iter()
            .map(|(hash, meta)| (*hash, *meta))
            .collect();
        all.sort_by_key(|(hash, _)| *hash);
        all
    }

    /// Stores `bytes` as the document named `expected`: refused, with
    /// nothing written, unless the bytes hash to that name and are one of
    /// the accepted types. Blocking (it fsyncs): call it off the runtime.
    pub fn put(
        &self,
        expected: DocumentHash,
        bytes: &[u8],
        public: bool,
    ) -> Result<Stored, PutRefusal> {
        assert!(
            bytes.len() <= DOCUMENT_LEN_MAX,
            "the caller bounds the body"
        );
        let actual = DocumentHash::of(bytes);
        if actual != expected {
            return Err(PutRefusal::HashMismatch {
                expected: expected.to_hex(),
                actual: actual.to_hex(),
            });
        }
        let media_type = DocumentType::sniff(bytes).map_err(PutRefusal::Type)?;
        let meta = DocumentMeta {
            media_type,
            size_bytes: bytes.len() as u64,
            public,
        };
        let _writing = self.writing.lock();
        if let Some(stored) = self.meta(expected) {
            assert_eq!(
                (stored.media_type, stored.size_bytes),
                (meta.media_type, meta.size_bytes),
                "the same bytes are the same document"
            );
            if stored.public != public {
                return Err(PutRefusal::PublicFlagDiffers {
                    stored: stored.public,
                });
            }
            return Ok(Stored::AlreadyStored(stored));
        }
        let name = expected.to_hex();
        let flag_text = serde_json::to_vec(&meta).expect("a flag serialises");
        let flag_incoming = self.write_incoming(&format!("{name}.json"), &flag_text)?;
        let body_incoming = self.write_incoming(&name, bytes)?;
        // The flag before the body: a body on disk without its flag is held
        // not public (see `open`).
        std::fs::rename(&flag_incoming, self.dir.join(format!("{name}.json")))?;
        std::fs::rename(&body_incoming, self.dir.join(&name))?;
        File::open(&self.dir)?.sync_all()?;
        self.index.write().insert(expected, meta);
        Ok(Stored::Created(meta))
    }

    fn write_incoming(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.dir.join(format!("{INCOMING_PREFIX}{name}"));
        let mut file = File::create(&path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(path)
    }

    /// Where a document's bytes are (whether or not it is stored).
    pub fn path_of(&self, hash: DocumentHash) -> PathBuf {
        self.dir.join(hash.to_hex())
    }

    /// The bytes of a stored document as they are on disk now (not
    /// re-hashed: readers check them against the log's hash themselves).
    pub fn read(&self, hash: DocumentHash) -> io::Result<Option<(DocumentMeta, Vec<u8>)>> {
        let Some(meta) = self.meta(hash) else {
            return Ok(None);
        };
        let bytes = std::fs::read(self.dir.join(hash.to_hex()))?;
        Ok(Some((meta, bytes)))
    }
}

/// Copies every public document of `data_dir` (body and flag file) into
/// `<out>/documents/`, for an exported bundle; documents not public stay
/// out, as does a body without its flag. Reads `data_dir` only, creating
/// and removing nothing there (`export` leaves it byte-identical). Returns
/// how many documents were copied.
pub fn export_public(data_dir: &Path, out: &Path) -> io::Result<usize> {
    let dir = data_dir.join(DOCUMENTS_DIR);
    if !dir.is_dir() {
        return Ok(0);
    }
    let mut public = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(hash) = name
            .to_str()
            .and_then(|name| name.strip_suffix(".json"))
            .and_then(DocumentHash::parse)
        else {
            continue;
        };
        let meta: DocumentMeta = serde_json::from_slice(&std::fs::read(entry.path())?)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        if meta.public && dir.join(hash.to_hex()).is_file() {
            public.push(hash);
        }
    }
    if public.is_empty() {
        return Ok(0);
    }
    let out_dir = out.join(DOCUMENTS_DIR);
    std::fs::create_dir_all(&out_dir)?;
    for hash in &public {
        let name = hash.to_hex();
        std::fs::copy(dir.join(&name), out_dir.join(&name))?;
        std::fs::copy(
            dir.join(format!("{name}.json")),
            out_dir.join(format!("{name}.json")),
        )?;
    }
    Ok(public.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52,
    ];

    fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).unwrap(),
                )
            })
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn pdf_jpeg_and_png_are_told_by_their_magic_bytes() {
        assert_eq!(
            DocumentType::sniff(b"%PDF-1.7\n%\xE2\xE3"),
            Ok(DocumentType::Pdf)
        );
        assert_eq!(
            DocumentType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00]),
            Ok(DocumentType::Jpeg)
        );
        assert_eq!(DocumentType::sniff(PNG_1X1), Ok(DocumentType::Png));
    }

    #[test]
    fn utf8_text_without_nul_is_text() {
        assert_eq!(
            DocumentType::sniff("结项报告：已完成并经居民代表验收\n".as_bytes()),
            Ok(DocumentType::Text)
        );
        assert_eq!(
            DocumentType::sniff(b"completion report of pd2015-01"),
            Ok(DocumentType::Text)
        );
    }

    #[test]
    fn what_is_neither_a_known_format_nor_text_is_refused() {
        assert_eq!(DocumentType::sniff(b""), Err(SniffRefusal::Empty));
        // A GIF, a ZIP (a .docx): binary, and not UTF-8.
        assert_eq!(
            DocumentType::sniff(b"GIF89a\x01\x00\x01\x00\x80\x00"),
            Err(SniffRefusal::NotUtf8 { valid_up_to: 10 })
        );
        assert_eq!(
            DocumentType::sniff(b"PK\x03\x04\x14\x00\x06\x00"),
            Err(SniffRefusal::NulInText { offset: 5 })
        );
        // A PDF's magic one byte late, a PNG's signature cut short.
        assert_eq!(
            DocumentType::sniff(b" %PDF-1.7 \xE2"),
            Err(SniffRefusal::NotUtf8 { valid_up_to: 10 })
        );
        assert_eq!(
            DocumentType::sniff(&PNG_1X1[..7]),
            Err(SniffRefusal::NotUtf8 { valid_up_to: 0 })
        );
    }

    #[test]
    fn a_hash_is_64_lowercase_hex_digits() {
        let text = "ab".repeat(32);
        assert_eq!(DocumentHash::parse(&text).unwrap().to_hex(), text);
        assert!(DocumentHash::parse(&"AB".repeat(32)).is_none());
        assert!(DocumentHash::parse(&"ab".repeat(31)).is_none());
        assert!(DocumentHash::parse(&format!("{}0", "ab".repeat(32))).is_none());
        assert!(DocumentHash::parse(&format!("{}zz", "ab".repeat(31))).is_none());
        assert!(DocumentHash::parse("../../etc/passwd").is_none());
    }

    #[test]
    fn a_stored_document_reads_back_after_reopening_with_its_flag() {
        let data_dir = tempfile::tempdir().unwrap();
        let report = "completion report of pd2015-01".as_bytes();
        let hash = DocumentHash::of(report);
        let store = DocumentStore::open(data_dir.path()).unwrap();
        let stored = store.put(hash, report, false).unwrap();
        let expected = DocumentMeta {
            media_type: DocumentType::Text,
            size_bytes: report.len() as u64,
            public: false,
        };
        assert_eq!(stored, Stored::Created(expected));
        drop(store);

        let reopened = DocumentStore::open(data_dir.path()).unwrap();
        assert_eq!(reopened.meta(hash), Some(expected));
        assert_eq!(
            reopened.read(hash).unwrap(),
            Some((expected, report.to_vec()))
        );
        assert_eq!(
            listing(reopened.dir())
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
            vec![hash.to_hex(), format!("{}.json", hash.to_hex())]
        );
    }

    #[test]
    fn the_same_bytes_again_store_nothing_new_and_keep_their_flag() {
        let data_dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(data_dir.path()).unwrap();
        let hash = DocumentHash::of(PNG_1X1);
        let first = store.put(hash, PNG_1X1, true).unwrap();
        let before = listing(store.dir());
        assert_eq!(
            store.put(hash, PNG_1X1, true).unwrap(),
            Stored::AlreadyStored(first.meta())
        );
        assert!(matches!(
            store.put(hash, PNG_1X1, false),
            Err(PutRefusal::PublicFlagDiffers { stored: true })
        ));
        assert_eq!(listing(store.dir()), before);
    }

    #[test]
    fn a_refused_upload_writes_nothing() {
        let data_dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(data_dir.path()).unwrap();
        let before = listing(store.dir());
        let other = DocumentHash::of(b"another report");
        assert!(matches!(
            store.put(other, b"a report", true),
            Err(PutRefusal::HashMismatch { .. })
        ));
        let gif = b"GIF89a\x01\x00\x01\x00\x80\x00";
        assert!(matches!(
            store.put(DocumentHash::of(gif), gif, true),
            Err(PutRefusal::Type(SniffRefusal::NotUtf8 { .. }))
        ));
        assert_eq!(listing(store.dir()), before);
        assert!(store.is_empty());
    }

    #[test]
    fn an_interrupted_upload_is_cleared_and_a_body_without_its_flag_is_not_public() {
        let data_dir = tempfile::tempdir().unwrap();
        let dir = data_dir.path().join(DOCUMENTS_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let report = b"self-assessment 2016-Q3";
        let hash = DocumentHash::of(report);
        // A crash after the body's rename, before the flag's reached the disk,
        // and another in the middle of writing a temporary file.
        std::fs::write(dir.join(hash.to_hex()), report).unwrap();
        std::fs::write(
            dir.join(format!("{INCOMING_PREFIX}{}", "cd".repeat(32))),
            b"%PD",
        )
        .unwrap();

        let store = DocumentStore::open(data_dir.path()).unwrap();
        assert_eq!(
            store.meta(hash),
            Some(DocumentMeta {
                media_type: DocumentType::Text,
                size_bytes: report.len() as u64,
                public: false,
            })
        );
        assert_eq!(
            listing(&dir)
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
            vec![hash.to_hex()]
        );
    }

    #[test]
    fn an_export_carries_the_public_documents_only_and_leaves_the_data_dir_as_it_was() {
        let data_dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(data_dir.path()).unwrap();
        let public = b"completion report of pd2015-01";
        let personal = b"invoice of a resident";
        store.put(DocumentHash::of(public), public, true).unwrap();
        store
            .put(DocumentHash::of(personal), personal, false)
            .unwrap();
        let before = listing(store.dir());
        let out = tempfile::tempdir().unwrap();

        assert_eq!(export_public(data_dir.path(), out.path()).unwrap(), 1);
        let name = DocumentHash::of(public).to_hex();
        let exported = listing(&out.path().join(DOCUMENTS_DIR));
        assert_eq!(exported.len(), 2);
        assert_eq!(exported[0], (name.clone(), public.to_vec()));
        assert_eq!(exported[1].0, format!("{name}.json"));
        assert_eq!(listing(store.dir()), before);

        let empty = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        assert_eq!(export_public(empty.path(), out.path()).unwrap(), 0);
        assert!(!empty.path().join(DOCUMENTS_DIR).exists());
    }
}
