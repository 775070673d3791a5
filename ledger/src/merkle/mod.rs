//! The RFC 6962 / RFC 9162 Merkle tree over the log's records.
//!
//! This module follows the design of Certificate Transparency (RFC 9162, which
//! obsoletes RFC 6962) and its hashes and proofs are compatible with that
//! system and with Go's `golang.org/x/mod/sumdb/tlog`. Leaf `i` is the record
//! with sequence number `i`; the leaf input is the record's exact stored bytes
//! (`StoredRecord::bytes()`, see `docs/log-format.md`). `docs/proofs.md` is the
//! normative description for outside verifiers.
//!
//! The proof functions are pure: they read complete-subtree hashes through
//! [`HashReader`] and never touch a log. Bad input (an index beyond the tree, a
//! proof of the wrong shape) returns an error; a bug in the arithmetic panics.

use sha2::{Digest, Sha256};

pub use crate::record::Hash;

mod frontier;
mod memory;
mod store;

pub use frontier::Frontier;
pub use memory::MemoryTree;
pub use store::{
    APPEND_BATCH_LEAVES_MAX, CATCH_UP_BATCH_RECORDS, MerkleStore, OpenReport, STORED_LEVEL_STRIDE,
};

/// Domain separation (RFC 9162 §2.1.1): a leaf can never be mistaken for an
/// interior node, which is what makes second-preimage forgeries impossible.
pub const LEAF_HASH_PREFIX: u8 = 0x00;
pub const NODE_HASH_PREFIX: u8 = 0x01;

/// A proof never has more elements than this: two per level of a 2^64 tree.
pub const PROOF_LEN_MAX: usize = 128;

/// Errors from building proofs and from the tree storage.
#[derive(Debug, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("tree size {size} is beyond the {stored} leaves the Merkle store holds")]
    SizeBeyondStore { size: u64, stored: u64 },
    #[error("record seq {found} appended where leaf {expected} was due")]
    RecordOutOfOrder { expected: u64, found: u64 },
    #[error("reading the log from seq {from_seq} to feed the Merkle store: {source}")]
    LogRead {
        from_seq: u64,
        source: crate::store::StoreError,
    },
    #[error("the log ended at seq {seq}, short of the {expected_len} records it reported")]
    LogEnded { seq: u64, expected_len: u64 },
    #[error("Merkle store failed after an earlier I/O error; reopen it")]
    Failed,
    #[error("Merkle store i/o on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Why a proof did not verify. Each variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("proof has {actual} hashes; these sizes need exactly {expected}")]
    WrongProofLength { expected: usize, actual: usize },
    #[error("the proof leads to a different root than the one given")]
    RootMismatch,
    #[error("the proof does not reproduce the old root")]
    OldRootMismatch,
    #[error("the proof does not reproduce the new root")]
    NewRootMismatch,
}

/// Reads hashes of complete subtrees: `subtree_hash(level, index)` is the hash
/// of leaves `[index << level, (index + 1) << level)`, level 0 being the leaf
/// hashes themselves. Everything a proof needs is built from these.
pub trait HashReader {
    /// Leaves the reader holds; proofs may be asked for any size up to it.
    fn leaf_count(&self) -> u64;
    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, MerkleError>;
}

/// SHA-256(0x00 || record bytes): the leaf hash, RFC 9162 §2.1.1.
pub fn leaf_hash(record_bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_HASH_PREFIX]);
    hasher.update(record_bytes);
    hasher.finalize().into()
}

/// SHA-256(0x01 || left || right): an interior node, RFC 9162 §2.1.1.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_HASH_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// MTH(D[n]) computed directly from all leaf hashes (RFC 9162 §2.1.1). O(n);
/// the reference the stored tree is checked against.
pub fn root_from_leaves(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => empty_root(),
        1 => leaf_hashes[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(
                &root_from_leaves(&leaf_hashes[..k]),
                &root_from_leaves(&leaf_hashes[k..]),
            )
        }
    }
}

/// The root of the first `size` leaves held by `reader`.
pub fn tree_root(size: u64, reader: &impl HashReader) -> Result<Hash, MerkleError> {
    check_size(size, reader)?;
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(0, size, reader)
}

/// PATH(index, D[size]) of RFC 9162 §2.1.3.1: the audit path of leaf `index`
/// in the tree of the first `size` leaves, nearest sibling first.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    check_size(size, reader)?;
    inclusion_ranges(index, size)
        .into_iter()
        .map(|(lo, hi)| range_hash(lo, hi, reader))
        .collect()
}

/// PROOF(old, D[new]) of RFC 9162 §2.1.4.1: proves the tree of `old` leaves
/// is a prefix of the tree of `new` leaves. Empty when `old` is 0 or `new`.
pub fn consistency_proof(
    old: u64,
    new: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    if old > new {
        return Err(MerkleError::SizesOutOfOrder { old, new });
    }
    check_size(new, reader)?;
    consistency_ranges(old, new)
        .into_iter()
        .map(|(lo, hi)| range_hash(lo, hi, reader))
        .collect()
}

/// Verifies an inclusion proof by the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Verifies a consistency proof by the algorithm of RFC 9162 §2.1.4.2. The
/// degenerate cases RFC 9162 leaves to the caller: a tree is consistent with
/// itself (empty proof, equal roots) and the empty tree with every tree
/// (empty proof, `old_root` the empty root).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    let expected = consistency_ranges(old_size, new_size).len();
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if old_size == 0 {
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(ProofError::OldRootMismatch)
        };
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch)
        };
    }
    assert!(!proof.is_empty(), "0 < old < new always needs a proof");
    let with_old_root;
    let path: &[Hash] = if old_size.is_power_of_two() {
        with_old_root = std::iter::once(*old_root)
            .chain(proof.iter().copied())
            .collect::<Vec<_>>();
        &with_old_root
    } else {
        proof
    };
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::NewRootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root || sn != 0 {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// k of RFC 9162: the largest power of two strictly smaller than `n`.
fn split_point(n: u64) -> u64 {
    assert!(n > 1, "merkle: no split point for a tree of {n} leaves");
    let k = 1u64 << (63 - (n - 1).leading_zeros());
    assert!(k < n && n - k <= k, "merkle: bad math in split_point");
    k
}

fn check_size(size: u64, reader: &impl HashReader) -> Result<(), MerkleError> {
    let stored = reader.leaf_count();
    if size > stored {
        return Err(MerkleError::SizeBeyondStore { size, stored });
    }
    Ok(())
}

/// The leaf ranges whose hashes form PATH(index, D[size]), in proof order.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    assert!(index < size, "merkle: inclusion_ranges needs index < size");
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    // The recursion appends the outermost sibling last.
    ranges.reverse();
    assert!(ranges.len() <= PROOF_LEN_MAX);
    ranges
}

/// The leaf ranges whose hashes form PROOF(old, D[new]), in proof order.
fn consistency_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    assert!(old <= new, "merkle: consistency_ranges needs old <= new");
    let mut ranges = Vec::new();
    if old == 0 || old == new {
        return ranges;
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled.
    let (mut m, mut lo, mut hi, mut whole_old_tree) = (old, 0u64, new, true);
    loop {
        let n = hi - lo;
        assert!(0 < m && m <= n, "merkle: bad math in consistency_ranges");
        if m == n {
            if !whole_old_tree {
                ranges.push((lo, hi));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            m -= k;
            lo += k;
            whole_old_tree = false;
        }
    }
    ranges.reverse();
    assert!(ranges.len() <= PROOF_LEN_MAX);
    ranges
}

/// MTH(D[lo:hi]) from complete subtrees. Every range a proof asks for starts
/// at a multiple of the smallest power of two >= its length, so it splits
/// into aligned complete subtrees of decreasing size; folding them from the
/// right is exactly RFC 9162's recursion.
fn range_hash(lo: u64, hi: u64, reader: &impl HashReader) -> Result<Hash, MerkleError> {
    assert!(lo < hi, "merkle: empty range {lo}..{hi}");
    let mut parts: Vec<Hash> = Vec::with_capacity(64);
    let mut start = lo;
    while start < hi {
        let level = 63 - (hi - start).leading_zeros();
        assert!(
            start.trailing_zeros() >= level,
            "merkle: bad math in range_hash: {start} not aligned to level {level}"
        );
        parts.push(reader.subtree_hash(level, start >> level)?);
        start += 1u64 << level;
    }
    let mut hash = parts.pop().expect("a non-empty range has a part");
    while let Some(left) = parts.pop() {
        hash = node_hash(&left, &hash);
    }
    Ok(hash)
}

/// Hash of a complete subtree given its 2^k leftmost-level hashes, pairing
/// neighbours level by level.
fn fold_complete(hashes: &mut [Hash]) -> Hash {
    assert!(
        hashes.len().is_power_of_two(),
        "merkle: fold needs 2^k hashes"
    );
    let mut width = hashes.len();
    while width > 1 {
        for i in 0..width / 2 {
            hashes[i] = node_hash(&hashes[2 * i], &hashes[2 * i + 1]);
        }
        width /= 2;
    }
    hashes[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512)] {
            assert_eq!(split_point(n), k, "n = {n}");
        }
        assert_eq!(split_point((1 << 63) + 1), 1 << 63);
    }

    #[test]
    fn proof_shapes_match_rfc_9162_examples() {
        // RFC 9162 §2.1.5: the tree of 7 leaves a..g.
        // Inclusion of d (3): [c, g(a,b), h(e,f,g)] i.e. ranges (2,3),(0,2),(4,7).
        assert_eq!(inclusion_ranges(3, 7), vec![(2, 3), (0, 2), (4, 7)]);
        // Consistency 3 -> 7: [c, d, g, l] i.e. (2,3),(3,4),(0,2),(4,7).
        assert_eq!(
            consistency_ranges(3, 7),
            vec![(2, 3), (3, 4), (0, 2), (4, 7)]
        );
        // 4 -> 7: [l] i.e. (4,7). 6 -> 7: [i, j, k] i.e. (4,6),(6,7),(0,4).
        assert_eq!(consistency_ranges(4, 7), vec![(4, 7)]);
        assert_eq!(consistency_ranges(6, 7), vec![(4, 6), (6, 7), (0, 4)]);
    }
}
