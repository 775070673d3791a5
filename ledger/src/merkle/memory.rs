//! The whole tree in memory: every level of complete subtrees. For tests,
//! tools and small logs; the server uses `MerkleStore`.

use super::{Hash, HashReader, MerkleError, leaf_hash, node_hash};

#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of leaves `[i << l, (i + 1) << l)`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    pub fn from_leaf_hashes(leaf_hashes: &[Hash]) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for hash in leaf_hashes {
            tree.append_leaf_hash(*hash);
        }
        tree
    }

    /// Appends `leaf_hash(record_bytes)`.
    pub fn append_leaf(&mut self, record_bytes: &[u8]) {
        self.append_leaf_hash(leaf_hash(record_bytes));
    }

    pub fn append_leaf_hash(&mut self, hash: Hash) {
        let mut level = 0;
        let mut carry = hash;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(carry);
            let count = self.levels[level].len();
            if count % 2 == 1 {
                break;
            }
            carry = node_hash(&self.levels[level][count - 2], &carry);
            level += 1;
        }
    }

    pub fn leaf_hashes(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }
}

impl HashReader for MemoryTree {
    fn leaf_count(&self) -> u64 {
        self.leaf_hashes().len() as u64
    }

    fn subtree_hash(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        let hash = self
            .levels
            .get(level as usize)
            .and_then(|hashes| hashes.get(index as usize));
        match hash {
            Some(hash) => Ok(*hash),
            None => Err(MerkleError::SizeBeyondStore {
                size: (index + 1) << level,
                stored: self.leaf_count(),
            }),
        }
    }
}
