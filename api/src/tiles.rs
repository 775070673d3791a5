//! The log as C2SP tlog-tiles static files (docs/proofs.md §15): `mingzhang
//! publish DIR` writes them, `serve` answers the same bytes under `/tiles/`.
//! Both cover exactly the signed size of the latest checkpoint, and both
//! refuse a log that names an individual in the clear
//! (`ledger::personal_data`): a mirrored byte can never be erased.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use mingzhang_ledger::checkpoint::{Checkpoint, VerifierKey};
use mingzhang_ledger::merkle::{MemoryTree, leaf_hash, tree_root};
use mingzhang_ledger::personal_data::{PersonalDataInClear, personal_data_in_clear};
use mingzhang_ledger::record::StoredRecord;
use mingzhang_ledger::store::EventStore;
use mingzhang_ledger::tiles::{TileId, encode_entry_bundle, tile_bytes, tiles_for_size};
use parking_lot::Mutex;

use crate::error::AppError;
use crate::proof_calls::ProofCalls;
use crate::state::AppState;

/// Records read from the log per batch while hashing and checking it.
const READ_BATCH_RECORDS: usize = 4096;
/// `Cache-Control` of a tile or bundle: its path names its width, so its
/// bytes never change.
pub const TILE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the checkpoint, which moves with every signature.
pub const CHECKPOINT_CACHE_CONTROL: &str = "no-cache";

/// What one `publish` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The signed size published: the checkpoint's.
    pub size: u64,
    /// Tiles and bundles written by this run.
    pub files_written: u64,
    /// Full tiles and bundles the directory's previous checkpoint covered,
    /// left as they were.
    pub files_kept: u64,
    /// Bytes written by this run.
    pub bytes_written: u64,
    /// Bytes of every file this checkpoint needs (tiles, bundles, checkpoint).
    pub bytes_total: u64,
}

/// Hashes the first `size` records of `store` and checks each for personal
/// data in the clear; the first such record stops it.
fn hash_signed_prefix(
    store: &dyn EventStore,
    size: u64,
) -> anyhow::Result<Result<MemoryTree, PersonalDataInClear>> {
    let mut tree = MemoryTree::new();
    let mut next = 0u64;
    while next < size {
        let want = (size - next).min(READ_BATCH_RECORDS as u64) as usize;
        let records = store
            .read(next, want)
            .with_context(|| format!("reading the log from seq {next}"))?;
        if records.is_empty() {
            bail!("the log ended at seq {next}, short of the checkpoint's {size} records");
        }
        for record in &records {
            assert_eq!(record.seq(), next, "the store reads in order");
            if let Some(found) = personal_data_in_clear(record) {
                return Ok(Err(found));
            }
            tree.append_leaf_hash(leaf_hash(record.bytes()));
            next += 1;
        }
    }
    Ok(Ok(tree))
}

/// Writes the log of `store`, as far as the checkpoint `note` signed by
/// `verifier` covers, into `dir` as tlog-tiles. A full tile or bundle that
/// the directory's previous checkpoint covered is never rewritten; every
/// other file is written to a temporary name and renamed, the whole is
/// synced, and the checkpoint is replaced last, so a reader of `dir` sees
/// a checkpoint only once every file it needs is durable.
pub fn publish(
    store: &dyn EventStore,
    note: &str,
    verifier: &VerifierKey,
    dir: &Path,
) -> anyhow::Result<Published> {
    let checkpoint = Checkpoint::open_signed(note, verifier)
        .map_err(|error| anyhow::anyhow!("the latest checkpoint: {error}"))?;
    let size = checkpoint.size();
    let log_len = store.head().len;
    if size > log_len {
        bail!("the checkpoint covers {size} records but the log has {log_len}");
    }
    let tree = match hash_signed_prefix(store, size)? {
        Ok(tree) => tree,
        Err(found) => bail!("refusing to publish: {found}"),
    };
    let root = tree_root(size, &tree)?;
    if &root != checkpoint.root_hash() {
        bail!("the log's first {size} records do not hash to the checkpoint's root");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let previous_size = previous_published_size(dir, &tree, size)?;

    let mut published = Published {
        size,
        files_written: 0,
        files_kept: 0,
        bytes_written: 0,
        bytes_total: 0,
    };
    let mut put =
        |path: String, covered_before: bool, bytes: &dyn Fn() -> anyhow::Result<Vec<u8>>| {
            let file = dir.join(&path);
            if covered_before && file.is_file() {
                published.files_kept += 1;
                published.bytes_total += std::fs::metadata(&file)?.len();
                return anyhow::Ok(());
            }
            let bytes = bytes()?;
            if std::fs::read(&file).ok().as_deref() != Some(bytes.as_slice()) {
                write_by_rename(&file, &bytes)?;
                published.files_written += 1;
                published.bytes_written += bytes.len() as u64;
            }
            published.bytes_total += bytes.len() as u64;
            Ok(())
        };
    for tile in tiles_for_size(size) {
        let end = tile_end_leaf(tile);
        let covered_before = tile.is_full() && end <= previous_size;
        put(tile.path(), covered_before, &|| {
            Ok(tile_bytes(tile, &tree)?)
        })?;
        if tile.level() == 0 {
            put(tile.entries_path(), covered_before, &|| {
                entry_bundle(store, tile)
            })?;
        }
    }
    sync_filesystem_of(dir)?;
    crate::transparency::write_durably(&dir.join("checkpoint"), note.as_bytes(), 0o644)?;
    published.bytes_total += note.len() as u64;
    Ok(published)
}

/// The leaf after the last one a tile spans.
fn tile_end_leaf(tile: TileId) -> u64 {
    let span = 1u64 << (8 * u32::from(tile.level()));
    (tile.index() * 256 + u64::from(tile.width())) * span
}

/// The size the directory's own checkpoint published (0 when it has none),
/// after checking it is a prefix of this log: a directory holding another
/// log is refused, not overwritten.
fn previous_published_size(dir: &Path, tree: &MemoryTree, size: u64) -> anyhow::Result<u64> {
    let path = dir.join("checkpoint");
    let note = match std::fs::read_to_string(&path) {
        Ok(note) => note,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let body = note
        .split_once("\n\n")
        .map(|(body, _)| format!("{body}\n"))
        .with_context(|| format!("{}: not a checkpoint note", path.display()))?;
    let previous = Checkpoint::parse_body(&body)
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    if previous.size() > size || &tree_root(previous.size(), tree)? != previous.root_hash() {
        bail!(
            "{} holds another log (its checkpoint of size {} is not a prefix of this one); publish into an empty directory",
            dir.display(),
            previous.size()
        );
    }
    Ok(previous.size())
}

/// The entry bundle of a level-0 tile: its records' exact bytes.
fn entry_bundle(store: &dyn EventStore, tile: TileId) -> anyhow::Result<Vec<u8>> {
    assert_eq!(tile.level(), 0);
    let first = tile.first_leaf();
    let records = store.read(first, usize::from(tile.width()))?;
    if records.len() != usize::from(tile.width()) {
        bail!("the log ended inside the entry bundle from seq {first}");
    }
    Ok(encode_entry_bundle(
        first,
        records.iter().map(StoredRecord::bytes),
    )?)
}

/// Writes `bytes` to a temporary file beside `path` and renames it over
/// `path`: a reader sees the old file or the new one, never a part.
fn write_by_rename(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let parent = path.parent().expect("a tile path has a parent");
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut temporary = tempfile::NamedTempFile::new_in(parent)
        .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
    temporary.write_all(bytes)?;
    temporary
        .persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// One `syncfs` instead of an fsync per file: thousands of tiles are made
/// durable at once before the checkpoint that needs them is written.
fn sync_filesystem_of(dir: &Path) -> anyhow::Result<()> {
    let handle = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    // SAFETY: syncfs takes an open descriptor, which `handle` keeps alive.
    let status = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&handle)) };
    if status != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("syncing the filesystem of {}", dir.display()));
    }
    Ok(())
}

/// What `serve` knows of the log's personal data: how far it has looked,
/// and the first record it found naming an individual. The log only grows,
/// so what was looked at never needs looking at again.
#[derive(Default)]
pub struct PersonalDataScan {
    scanned_len: u64,
    found: Option<PersonalDataInClear>,
}

impl PersonalDataScan {
    /// The first record of the first `size` naming an individual, if any.
    fn first_in(
        &mut self,
        store: &dyn EventStore,
        size: u64,
    ) -> anyhow::Result<Option<PersonalDataInClear>> {
        while self.found.is_none() && self.scanned_len < size {
            let want = (size - self.scanned_len).min(READ_BATCH_RECORDS as u64) as usize;
            let records = store.read(self.scanned_len, want)?;
            if records.is_empty() {
                bail!("the log ended at seq {}", self.scanned_len);
            }
            for record in &records {
                if let Some(found) = personal_data_in_clear(record) {
                    self.found = Some(found);
                    break;
                }
                self.scanned_len += 1;
            }
        }
        Ok(self.found.clone())
    }
}

/// `/tiles/checkpoint`, `/tiles/tile/...`: public, no token.
pub fn routes(calls: Arc<ProofCalls>) -> Router<AppState> {
    Router::new()
        .route("/tiles/{*path}", get(tiles_file))
        .layer(Extension(calls))
        .layer(Extension(Arc::new(Mutex::new(PersonalDataScan::default()))))
}

async fn tiles_file(
    Extension(calls): Extension<Arc<ProofCalls>>,
    Extension(scan): Extension<Arc<Mutex<PersonalDataScan>>>,
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
) -> Result<Response, AppError> {
    let signed = calls.latest_checkpoint().await?;
    let store = state.store.clone();
    let transparency = calls.transparency().clone();
    let size = signed.size;
    let answer = tokio::task::spawn_blocking(move || {
        if let Some(found) = scan.lock().first_in(&*store, size).map_err(internal)? {
            return Err(AppError::Conflict {
                field: found.field.into(),
                rule: "personal_data_in_clear",
                detail: found.to_string(),
            });
        }
        if path == "checkpoint" {
            return Ok((
                CHECKPOINT_CACHE_CONTROL,
                "text/plain; charset=utf-8",
                signed.note.into_bytes(),
            ));
        }
        let (tile, is_entries) = TileId::parse_path(&path).map_err(|error| AppError::NotFound {
            field: "path".into(),
            rule: "no_such_tile",
            detail: error.to_string(),
        })?;
        if tile_end_leaf(tile) > size {
            return Err(AppError::NotFound {
                field: "path".into(),
                rule: "tile_beyond_checkpoint",
                detail: format!("{path} reaches past the latest checkpoint's {size} records"),
            });
        }
        let bytes = if is_entries {
            entry_bundle(&*store, tile).map_err(internal)?
        } else {
            transparency.tile(&*store, tile, size).map_err(internal)?
        };
        Ok((TILE_CACHE_CONTROL, "application/octet-stream", bytes))
    })
    .await
    .map_err(|error| internal(anyhow::anyhow!("tiles task: {error}")))??;
    let (cache_control, content_type, bytes) = answer;
    Ok((
        [
            (header::CACHE_CONTROL, cache_control),
            (header::CONTENT_TYPE, content_type),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        bytes,
    )
        .into_response())
}

fn internal(error: anyhow::Error) -> AppError {
    AppError::Internal(format!("{error:#}"))
}
