//! The log as C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): static files
//! any mirror or CDN can serve. A tile is 256 consecutive hashes of one tile
//! level: level 0 holds leaf hashes, level `l` the roots of the complete
//! subtrees of `256^l` leaves. An entry bundle holds the entries of one
//! level-0 tile, each a big-endian `u16` length and the entry's bytes; here
//! an entry is a record's exact stored bytes, the leaf input of
//! `docs/proofs.md` §1, so each hashes to its level-0 tile's hash.
//!
//! Pure: paths, which tiles a tree size has, a tile's bytes read through the
//! same [`HashReader`] the proofs use, and entry bundles. Publishing and
//! serving are the callers'.

use crate::merkle::{HashReader, MerkleError};
use crate::record::Hash;

/// Hashes per full tile, and entries per full bundle.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels one tile level spans: 256 = 2^8.
pub const TILE_HEIGHT: u32 = 8;
/// Tile levels 0..=63, as the spec allows.
pub const TILE_LEVEL_MAX: u8 = 63;
/// An entry's length is a big-endian u16 in a bundle, so no entry is longer.
pub const ENTRY_LEN_MAX: usize = u16::MAX as usize;

const HASH_LEN: usize = 32;

/// One tile (or, at level 0, its entry bundle): level, index within the
/// level and width, 256 for a full tile and 1..=255 for a partial one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    level: u8,
    index: u64,
    width: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("tile path {path:?}: {rule}")]
    BadPath { path: String, rule: &'static str },
    #[error(
        "record seq {seq} is {len} bytes, past the {ENTRY_LEN_MAX} an entry bundle's u16 length allows"
    )]
    EntryTooLong { seq: u64, len: usize },
    #[error("entry bundle {path}: {rule}")]
    BadBundle { path: String, rule: String },
}

impl TileId {
    /// Panics on a level past 63 or a width outside 1..=256: callers build
    /// tiles from tree sizes, and a wrong one is a bug.
    pub fn new(level: u8, index: u64, width: u16) -> TileId {
        assert!(level <= TILE_LEVEL_MAX, "tile level {level} past 63");
        assert!(
            (1..=TILE_WIDTH as u16).contains(&width),
            "tile width {width} outside 1..=256"
        );
        TileId {
            level,
            index,
            width,
        }
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The first leaf this tile's hashes span: `index * 256^(level + 1)`.
    pub fn first_leaf(&self) -> u64 {
        self.index << (TILE_HEIGHT * (u32::from(self.level) + 1))
    }

    /// `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.index_and_width_path())
    }

    /// `tile/entries/<N>[.p/<W>]`: the bundle of a level-0 tile's entries.
    pub fn entries_path(&self) -> String {
        assert_eq!(self.level, 0, "only level-0 tiles have entry bundles");
        format!("tile/entries/{}", self.index_and_width_path())
    }

    fn index_and_width_path(&self) -> String {
        let index = index_path(self.index);
        if self.is_full() {
            index
        } else {
            format!("{index}.p/{}", self.width)
        }
    }

    /// Reads a path relative to the tiles prefix: `tile/<L>/<N>[.p/<W>]` is
    /// a hash tile (`false`), `tile/entries/<N>[.p/<W>]` an entry bundle
    /// (`true`). Only the canonical spelling is accepted, so one tile has
    /// one path.
    pub fn parse_path(path: &str) -> Result<(TileId, bool), TileError> {
        let bad = |rule| TileError::BadPath {
            path: path.to_owned(),
            rule,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("must begin with tile/"))?;
        let (level, is_entries, rest) = match rest.split_once('/') {
            Some(("entries", rest)) => (0u8, true, rest),
            Some((level, rest)) => {
                let level: u8 = parse_decimal(level).ok_or_else(|| bad("level must be 0..=63"))?;
                if level > TILE_LEVEL_MAX {
                    return Err(bad("level must be 0..=63"));
                }
                (level, false, rest)
            }
            None => return Err(bad("must name a level and an index")),
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index_part, width)) => {
                let width: u16 =
                    parse_decimal(width).ok_or_else(|| bad("width must be 1..=255"))?;
                if !(1..TILE_WIDTH as u16).contains(&width) {
                    return Err(bad("width must be 1..=255"));
                }
                (index_part, width)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let index = parse_index_path(index_part).ok_or_else(|| {
            bad("index must be 3-digit path elements, all but the last beginning with x")
        })?;
        let tile = TileId::new(level, index, width);
        if tile.path() != path && tile.entries_path_if_level_0() != Some(path.to_owned()) {
            return Err(bad("not the canonical spelling"));
        }
        Ok((tile, is_entries))
    }

    fn entries_path_if_level_0(&self) -> Option<String> {
        (self.level == 0).then(|| self.entries_path())
    }
}

/// Index 1234067 is `x001/x234/067`: 3-digit elements, all but the last
/// prefixed with `x`, so no file is also a directory.
pub fn index_path(index: u64) -> String {
    let mut elements = vec![format!("{:03}", index % 1000)];
    let mut rest = index / 1000;
    while rest > 0 {
        elements.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    elements.reverse();
    elements.join("/")
}

fn parse_index_path(text: &str) -> Option<u64> {
    let elements: Vec<&str> = text.split('/').collect();
    let (last, leading) = elements.split_last()?;
    let mut index = 0u64;
    for element in leading {
        let digits = element.strip_prefix('x')?;
        index = index
            .checked_mul(1000)?
            .checked_add(three_digits(digits)?)?;
    }
    index.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(text: &str) -> Option<u64> {
    (text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

/// Decimal with no sign and no leading zero.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok())?
}

/// Every tile of the tree of `size` leaves, level by level: the full tiles
/// and, where a level's count is not a multiple of 256, one partial tile of
/// `floor(size / 256^l) mod 256` hashes. The empty tree has none.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    let mut tiles = Vec::new();
    for level in 0..=TILE_LEVEL_MAX {
        let shift = TILE_HEIGHT * u32::from(level);
        if shift >= 64 || size >> shift == 0 {
            break;
        }
        let hashes = size >> shift;
        let full = hashes / TILE_WIDTH;
        tiles.extend((0..full).map(|index| TileId::new(level, index, TILE_WIDTH as u16)));
        let partial = (hashes % TILE_WIDTH) as u16;
        if partial > 0 {
            tiles.push(TileId::new(level, full, partial));
        }
    }
    tiles
}

/// The tile's bytes: its hashes, 32 bytes each. Hash `i` of tile `n` at
/// level `l` is MTH(D[(256n + i)·256^l : (256n + i + 1)·256^l]), the
/// complete subtree at tree level 8l, which `reader` holds once the tree
/// has that many leaves.
pub fn tile_bytes(tile: TileId, reader: &impl HashReader) -> Result<Vec<u8>, MerkleError> {
    let tree_level = TILE_HEIGHT * u32::from(tile.level);
    let first = tile.index * TILE_WIDTH;
    let mut bytes = Vec::with_capacity(usize::from(tile.width) * HASH_LEN);
    for offset in 0..u64::from(tile.width) {
        bytes.extend_from_slice(&reader.subtree_hash(tree_level, first + offset)?);
    }
    assert_eq!(bytes.len(), usize::from(tile.width) * HASH_LEN);
    Ok(bytes)
}

/// The hashes of a tile's bytes; `None` when the length is not a whole
/// number of hashes.
pub fn tile_hashes(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(HASH_LEN) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(HASH_LEN)
            .map(|chunk| chunk.try_into().expect("32-byte chunk"))
            .collect(),
    )
}

/// An entry bundle: each record's bytes after its big-endian u16 length.
/// `first_seq` names a record too long for one, in the error.
pub fn encode_entry_bundle<'a>(
    first_seq: u64,
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TileError> {
    let mut bundle = Vec::new();
    for (offset, entry) in entries.into_iter().enumerate() {
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLong {
            seq: first_seq + offset as u64,
            len: entry.len(),
        })?;
        bundle.extend_from_slice(&len.to_be_bytes());
        bundle.extend_from_slice(entry);
    }
    Ok(bundle)
}

/// The entries of a bundle that must hold exactly `width` of them.
pub fn decode_entry_bundle(tile: TileId, bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let bad = |rule: String| TileError::BadBundle {
        path: tile.entries_path(),
        rule,
    };
    let mut entries = Vec::with_capacity(usize::from(tile.width));
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(bad(format!(
                "a length prefix is cut short at byte {}",
                bytes.len() - rest.len()
            )));
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if rest.len() < 2 + len {
            return Err(bad(format!(
                "entry {} claims {len} bytes but {} remain",
                entries.len(),
                rest.len() - 2
            )));
        }
        entries.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    if entries.len() != usize::from(tile.width) {
        return Err(bad(format!(
            "holds {} entries where its width is {}",
            entries.len(),
            tile.width
        )));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryTree, root_from_leaves};

    #[test]
    fn index_paths_follow_the_spec_example() {
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(999), "999");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(
            TileId::new(2, 1234067, 7).path(),
            "tile/2/x001/x234/067.p/7"
        );
        assert_eq!(TileId::new(0, 5, 256).entries_path(), "tile/entries/005");
    }

    #[test]
    fn tile_counts_follow_the_spec_examples() {
        let tiles = tiles_for_size(70_000);
        let at = |level| tiles.iter().filter(move |t| t.level() == level);
        assert_eq!(at(0).filter(|t| t.is_full()).count(), 273);
        assert_eq!(at(0).find(|t| !t.is_full()).unwrap().width(), 112);
        assert_eq!(at(1).filter(|t| t.is_full()).count(), 1);
        assert_eq!(at(1).find(|t| !t.is_full()).unwrap().width(), 17);
        assert_eq!(at(2).map(|t| t.width()).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            tiles_for_size(256),
            vec![TileId::new(0, 0, 256), TileId::new(1, 0, 1)]
        );
        assert!(tiles_for_size(0).is_empty());
    }

    #[test]
    fn every_tile_path_parses_back_to_its_tile_and_no_other_spelling_does() {
        for size in [1u64, 255, 256, 257, 65_536, 70_000, 16_777_217] {
            for tile in tiles_for_size(size) {
                assert_eq!(TileId::parse_path(&tile.path()), Ok((tile, false)));
                if tile.level() == 0 {
                    assert_eq!(TileId::parse_path(&tile.entries_path()), Ok((tile, true)));
                }
            }
        }
        for bad in [
            "tile/0/5",
            "tile/0/0005",
            "tile/00/005",
            "tile/64/000",
            "tile/0/005.p/256",
            "tile/0/005.p/0",
            "tile/0/005.p/07",
            "tile/0/x000/005",
            "tile/0/001/005",
            "tile/entries/x1/005",
            "tiles/0/000",
            "tile/0/../000",
        ] {
            assert!(TileId::parse_path(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn an_upper_tile_hashes_the_full_tiles_below() {
        let leaves: Vec<Hash> = (0u32..70_000)
            .map(|i| crate::merkle::leaf_hash(&i.to_le_bytes()))
            .collect();
        let tree = MemoryTree::from_leaf_hashes(&leaves);
        let level_0 = tile_bytes(TileId::new(0, 3, 256), &tree).unwrap();
        let level_1 = tile_bytes(TileId::new(1, 0, 256), &tree).unwrap();
        assert_eq!(
            level_1[3 * 32..4 * 32],
            root_from_leaves(&tile_hashes(&level_0).unwrap())
        );
        let level_2 = tile_bytes(TileId::new(2, 0, 1), &tree).unwrap();
        assert_eq!(level_2, root_from_leaves(&leaves[..65_536]));
    }

    #[test]
    fn entry_bundles_round_trip_and_refuse_what_does_not_fit() {
        let entries: Vec<Vec<u8>> = vec![b"".to_vec(), b"ab".to_vec(), vec![7u8; 300]];
        let tile = TileId::new(0, 0, 3);
        let bundle = encode_entry_bundle(0, entries.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(&bundle[..4], &[0, 0, 0, 2]);
        assert_eq!(decode_entry_bundle(tile, &bundle).unwrap(), entries);
        assert!(decode_entry_bundle(TileId::new(0, 0, 4), &bundle).is_err());
        assert!(decode_entry_bundle(tile, &bundle[..bundle.len() - 1]).is_err());
        let long = vec![0u8; ENTRY_LEN_MAX + 1];
        assert_eq!(
            encode_entry_bundle(512, [b"x".as_slice(), long.as_slice()]),
            Err(TileError::EntryTooLong {
                seq: 513,
                len: ENTRY_LEN_MAX + 1
            })
        );
    }
}
