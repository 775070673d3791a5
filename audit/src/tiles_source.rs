//! `mingzhang verify` of a log published as C2SP tlog-tiles: a directory
//! `mingzhang publish` wrote, or any URL serving one (a server's `/tiles/`,
//! a mirror, a CDN). It reads the checkpoint, every entry bundle and every
//! tile of the checkpoint's size, checks each level-0 tile against the leaf
//! hashes of its bundle's entries and each upper tile against the tree those
//! leaves make, then writes the entries into a temporary bundle, so the
//! usual checks run on it: the chain, the root against the signed
//! checkpoint, the replay, the balances, the witnesses.
//!
//! A tile or bundle that disagrees is reported with its path and the hash or
//! entry within it, as a damaged source.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mingzhang_ledger::merkle::{HashReader, MemoryTree, leaf_hash};
use mingzhang_ledger::tiles::{
    TileId, decode_entry_bundle, tile_bytes, tile_hashes, tiles_for_size,
};

use crate::remote::{BundleWriter, Downloaded};
use crate::verify::{AuditInputs, SourceKind};

/// A published file is never larger than a bundle of 256 entries of
/// 65,535 bytes with their lengths.
const TILE_FILE_BYTES_MAX: u64 = 256 * (2 + 65_535);

/// Where the tiles are read from.
pub enum TilesAt {
    Dir(PathBuf),
    Url { agent: ureq::Agent, base: String },
}

impl TilesAt {
    /// A directory holding a `checkpoint` and a `tile/` directory.
    pub fn dir_if_published(path: &Path) -> Option<TilesAt> {
        (path.join("checkpoint").is_file() && path.join("tile").is_dir())
            .then(|| TilesAt::Dir(path.to_path_buf()))
    }

    /// A URL whose `<url>/checkpoint` answers a checkpoint note: a tiles
    /// prefix. A Mingzhang server's root does not (its checkpoint is at
    /// `/v1/checkpoint`), so `verify URL` tells the two apart by asking.
    pub fn url_if_tiles(url: &str) -> Option<TilesAt> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let base = url.trim_end_matches('/').to_owned();
        let mut response = agent.get(&format!("{base}/checkpoint")).call().ok()?;
        if !response.status().is_success() {
            return None;
        }
        let text = response.body_mut().read_to_string().ok()?;
        let looks_like_a_note = text
            .lines()
            .nth(1)
            .is_some_and(|size| size.parse::<u64>().is_ok())
            && text.contains("\n\n\u{2014} ");
        looks_like_a_note.then_some(TilesAt::Url { agent, base })
    }

    pub fn describe(&self) -> String {
        match self {
            TilesAt::Dir(dir) => dir.display().to_string(),
            TilesAt::Url { base, .. } => format!("{base}/"),
        }
    }

    fn read(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            TilesAt::Dir(dir) => {
                let file = dir.join(path);
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))
            }
            TilesAt::Url { agent, base } => {
                let url = format!("{base}/{path}");
                let mut response = agent
                    .get(&url)
                    .call()
                    .with_context(|| format!("GET {url}"))?;
                let status = response.status();
                if !status.is_success() {
                    let body = response.body_mut().read_to_string().unwrap_or_default();
                    bail!("GET {url}: {status}: {body}");
                }
                Ok(response
                    .body_mut()
                    .with_config()
                    .limit(TILE_FILE_BYTES_MAX)
                    .read_to_vec()?)
            }
        }
    }
}

/// Reads the tiles at `source` into a temporary bundle and the problems
/// found in them. `progress` is called with (entries read, entries to read).
pub fn download_tiles(
    source: &TilesAt,
    key_file: Option<&Path>,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Downloaded> {
    let Some(key_file) = key_file else {
        bail!(
            "{}: published tiles carry no verifier key; pass --key with the log's key, obtained from its operator",
            source.describe()
        );
    };
    let verifier_key = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading {}", key_file.display()))?;
    let checkpoint_note = String::from_utf8(source.read("checkpoint")?)
        .context("the checkpoint is not UTF-8 text")?;
    // The note's second line is its size; an unreadable one is left for the
    // audit to report when it opens the note.
    let size = checkpoint_note
        .lines()
        .nth(1)
        .and_then(|line| line.parse::<u64>().ok())
        .unwrap_or(0);

    let mut bundle = BundleWriter::create()?;

    let mut source_problems = Vec::new();
    let mut tree = MemoryTree::new();
    let tiles = tiles_for_size(size);
    'level_0: for tile in tiles.iter().filter(|tile| tile.level() == 0) {
        let bundle_bytes = source.read(&tile.entries_path())?;
        let entries = match decode_entry_bundle(*tile, &bundle_bytes) {
            Ok(entries) => entries,
            Err(error) => {
                source_problems.push(error.to_string());
                break 'level_0;
            }
        };
        let tile_bytes = source.read(&tile.path())?;
        let Some(hashes) = tile_hashes(&tile_bytes).filter(|h| h.len() == entries.len()) else {
            source_problems.push(format!(
                "{}: {} bytes, not the {} hashes of its width",
                tile.path(),
                tile_bytes.len(),
                tile.width()
            ));
            break 'level_0;
        };
        for (offset, (entry, tile_hash)) in entries.iter().zip(&hashes).enumerate() {
            let seq = tile.first_leaf() + offset as u64;
            let entry_hash = leaf_hash(entry);
            if &entry_hash != tile_hash {
                source_problems.push(format!(
                    "{} hash {offset} (record seq {seq}): the tile says {} but entry {offset} of {} hashes to {}",
                    tile.path(),
                    hex::encode(tile_hash),
                    tile.entries_path(),
                    hex::encode(entry_hash)
                ));
            }
            tree.append_leaf_hash(entry_hash);
            bundle.append(entry)?;
        }
        progress(tree.leaf_count(), size);
    }
    if tree.leaf_count() == size {
        for tile in tiles.iter().filter(|tile| tile.level() > 0) {
            check_upper_tile(source, *tile, &tree, &mut source_problems)?;
        }
    }
    let (bundle, log_dir) = bundle.finish(&checkpoint_note)?;
    let records = tree.leaf_count();
    Ok(Downloaded {
        inputs: AuditInputs {
            source: SourceKind::Tiles,
            log_dir,
            checkpoint_note: Some(checkpoint_note),
            verifier_key: Some(verifier_key.trim().to_owned()),
            key_from: format!("--key {}", key_file.display()),
            published_funds: None,
            source_problems,
        },
        records,
        _bundle: bundle,
    })
}

/// An upper tile must hold the roots of the full tiles below it, which the
/// entries' leaf hashes determine.
fn check_upper_tile(
    source: &TilesAt,
    tile: TileId,
    tree: &MemoryTree,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    let served = source.read(&tile.path())?;
    let expected = tile_bytes(tile, tree)?;
    if served.len() != expected.len() {
        problems.push(format!(
            "{}: {} bytes, not the {} of its width",
            tile.path(),
            served.len(),
            expected.len()
        ));
        return Ok(());
    }
    let first_difference = served
        .chunks_exact(32)
        .zip(expected.chunks_exact(32))
        .position(|(served, expected)| served != expected);
    if let Some(offset) = first_difference {
        problems.push(format!(
            "{} hash {offset}: the tile says {} but the entries' subtree hashes to {}",
            tile.path(),
            hex::encode(&served[offset * 32..offset * 32 + 32]),
            hex::encode(&expected[offset * 32..offset * 32 + 32])
        ));
    }
    Ok(())
}
