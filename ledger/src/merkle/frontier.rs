//! The right edge of a growing tree: the roots of its complete subtrees,
//! largest first, one per bit set in its size. Enough to know the root at
//! every size it passes through, in memory that grows with the log's
//! logarithm: an audit of ten million records keeps about 24 hashes
//! instead of the 640 MB a whole tree would take.

use super::{Hash, empty_root, leaf_hash, node_hash};

#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)` of each complete subtree, leftmost (largest) first.
    subtrees: Vec<(u32, Hash)>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `leaf_hash(record_bytes)`.
    pub fn append_leaf(&mut self, record_bytes: &[u8]) {
        self.append_leaf_hash(leaf_hash(record_bytes));
    }

    pub fn append_leaf_hash(&mut self, hash: Hash) {
        let mut carry = (0u32, hash);
        // Two subtrees of one size merge into one of the next, as the bits
        // of the size carry.
        while let Some(&(level, left)) = self.subtrees.last() {
            if level != carry.0 {
                break;
            }
            self.subtrees.pop();
            carry = (level + 1, node_hash(&left, &carry.1));
        }
        self.subtrees.push(carry);
        self.size += 1;
    }

    /// MTH of the leaves appended so far (RFC 9162 §2.1.1): the complete
    /// subtrees joined from the right, as the recursive split on the
    /// largest power of two below the size would join them.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.subtrees.iter().rev();
        let Some(&(_, rightmost)) = subtrees.next() else {
            return empty_root();
        };
        subtrees.fold(rightmost, |right, (_, left)| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::root_from_leaves;

    #[test]
    fn the_root_at_every_size_is_the_reference_root() {
        let leaves: Vec<Hash> = (0u32..300).map(|n| leaf_hash(&n.to_le_bytes())).collect();
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), root_from_leaves(&[]));
        for (appended, leaf) in leaves.iter().enumerate() {
            frontier.append_leaf_hash(*leaf);
            assert_eq!(frontier.size(), appended as u64 + 1);
            assert_eq!(
                frontier.root(),
                root_from_leaves(&leaves[..=appended]),
                "size {}",
                appended + 1
            );
        }
        // One subtree per bit of the size: 300 = 0b100101100.
        assert_eq!(frontier.subtrees.len(), 300u32.count_ones() as usize);
    }
}
