//! Every proof for every small tree verifies, and every tampering is refused
//! (in the manner of Go's tlog_test.go), plus the Certificate Transparency
//! reference vectors, so our trees agree with everyone else's.

use mingzhang_ledger::merkle::{
    Hash, MemoryTree, ProofError, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    root_from_leaves, tree_root, verify_consistency, verify_inclusion,
};

const INCLUSION_SIZE_MAX: u64 = 300;
const CONSISTENCY_SIZE_MAX: u64 = 130;

fn synthetic_leaves(count: u64) -> Vec<Hash> {
    (0..count)
        .map(|i| leaf_hash(format!("donation {i} of the Kaixuan fund").as_bytes()))
        .collect()
}

fn flip_bit(hash: &Hash, bit: usize) -> Hash {
    let mut flipped = *hash;
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

#[test]
fn every_leaf_of_every_tree_up_to_300_has_a_verifying_inclusion_proof_and_tampering_is_refused() {
    let leaves = synthetic_leaves(INCLUSION_SIZE_MAX);
    let tree = MemoryTree::from_leaf_hashes(&leaves);
    for size in 1..=INCLUSION_SIZE_MAX {
        let root = root_from_leaves(&leaves[..size as usize]);
        assert_eq!(tree_root(size, &tree).unwrap(), root, "size {size}");
        for index in 0..size {
            let leaf = leaves[index as usize];
            let proof = inclusion_proof(index, size, &tree).unwrap();
            verify_inclusion(&leaf, index, size, &proof, &root)
                .unwrap_or_else(|e| panic!("leaf {index} of {size}: {e}"));

            // One bit of each proof element, a different bit each time.
            for (at, element) in proof.iter().enumerate() {
                let mut tampered = proof.clone();
                tampered[at] = flip_bit(element, (index as usize * 7 + at * 13) % 256);
                assert!(
                    verify_inclusion(&leaf, index, size, &tampered, &root).is_err(),
                    "flipped proof[{at}] accepted for leaf {index} of {size}"
                );
            }
            let bit = (index as usize * 31 + size as usize) % 256;
            assert!(verify_inclusion(&flip_bit(&leaf, bit), index, size, &proof, &root).is_err());
            assert!(verify_inclusion(&leaf, index, size, &proof, &flip_bit(&root, bit)).is_err());
            for other_index in [index + 1, index.wrapping_sub(1), index ^ 1] {
                if other_index == index {
                    continue;
                }
                assert!(
                    verify_inclusion(&leaf, other_index, size, &proof, &root).is_err(),
                    "leaf {index} of {size} verified as leaf {other_index}"
                );
            }
            // The proof does not carry the size; the signed checkpoint binds
            // it. Claiming another size means checking against that tree's root.
            for other_size in [size - 1, size + 1] {
                if other_size <= index || other_size > INCLUSION_SIZE_MAX {
                    continue;
                }
                let other_root = root_from_leaves(&leaves[..other_size as usize]);
                assert!(
                    verify_inclusion(&leaf, index, other_size, &proof, &other_root).is_err(),
                    "leaf {index} of {size} verified in a tree of {other_size}"
                );
            }
            if !proof.is_empty() {
                let mut shorter = proof.clone();
                shorter.pop();
                assert!(verify_inclusion(&leaf, index, size, &shorter, &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
        }
    }
}

#[test]
fn every_bit_of_a_deep_proof_matters() {
    let leaves = synthetic_leaves(INCLUSION_SIZE_MAX);
    let tree = MemoryTree::from_leaf_hashes(&leaves);
    for (index, size) in [(0, 300), (173, 300), (299, 300), (255, 257)] {
        let root = root_from_leaves(&leaves[..size as usize]);
        let proof = inclusion_proof(index, size, &tree).unwrap();
        for at in 0..proof.len() {
            for bit in 0..256 {
                let mut tampered = proof.clone();
                tampered[at] = flip_bit(&proof[at], bit);
                assert_eq!(
                    verify_inclusion(&leaves[index as usize], index, size, &tampered, &root),
                    Err(ProofError::RootMismatch)
                );
            }
        }
    }
}

#[test]
fn every_pair_of_tree_sizes_up_to_130_has_a_verifying_consistency_proof_and_tampering_is_refused() {
    let leaves = synthetic_leaves(CONSISTENCY_SIZE_MAX);
    let tree = MemoryTree::from_leaf_hashes(&leaves);
    let roots: Vec<Hash> = (0..=CONSISTENCY_SIZE_MAX)
        .map(|size| root_from_leaves(&leaves[..size as usize]))
        .collect();
    for new in 0..=CONSISTENCY_SIZE_MAX {
        for old in 0..=new {
            let (old_root, new_root) = (roots[old as usize], roots[new as usize]);
            let proof = consistency_proof(old, new, &tree).unwrap();
            verify_consistency(old, new, &old_root, &new_root, &proof)
                .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));

            for (at, element) in proof.iter().enumerate() {
                let mut tampered = proof.clone();
                tampered[at] = flip_bit(element, (old as usize * 5 + at * 11 + new as usize) % 256);
                assert!(
                    verify_consistency(old, new, &old_root, &new_root, &tampered).is_err(),
                    "flipped proof[{at}] accepted for {old} -> {new}"
                );
            }
            let bit = (old as usize * 3 + new as usize) % 256;
            assert!(
                verify_consistency(old, new, &flip_bit(&old_root, bit), &new_root, &proof).is_err(),
                "altered old root accepted for {old} -> {new}"
            );
            if old > 0 {
                assert!(
                    verify_consistency(old, new, &old_root, &flip_bit(&new_root, bit), &proof)
                        .is_err(),
                    "altered new root accepted for {old} -> {new}"
                );
            }
            if old > 0 && old < new {
                // Claiming other sizes, checked against those trees' roots.
                for (other_old, other_new) in [(old - 1, new), (old + 1, new), (old, new + 1)] {
                    if other_old == 0 || other_old >= other_new || other_new > CONSISTENCY_SIZE_MAX
                    {
                        continue;
                    }
                    let (other_old_root, other_new_root) =
                        (roots[other_old as usize], roots[other_new as usize]);
                    assert!(
                        verify_consistency(
                            other_old,
                            other_new,
                            &other_old_root,
                            &other_new_root,
                            &proof
                        )
                        .is_err(),
                        "{old} -> {new} proof accepted as {other_old} -> {other_new}"
                    );
                }
                let mut shorter = proof.clone();
                shorter.pop();
                assert!(verify_consistency(old, new, &old_root, &new_root, &shorter).is_err());
            }
            let mut longer = proof.clone();
            longer.push(new_root);
            assert!(verify_consistency(old, new, &old_root, &new_root, &longer).is_err());
        }
    }
}

#[test]
fn a_rewritten_history_is_not_consistent_with_the_old_root() {
    let leaves = synthetic_leaves(40);
    let mut rewritten = leaves.clone();
    rewritten[17] = leaf_hash(b"donation 17, amount quietly edited");
    let rewritten_tree = MemoryTree::from_leaf_hashes(&rewritten);
    let old_root = root_from_leaves(&leaves[..20]);
    let new_root = root_from_leaves(&rewritten);
    let proof = consistency_proof(20, 40, &rewritten_tree).unwrap();
    assert!(verify_consistency(20, 40, &old_root, &new_root, &proof).is_err());
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let tree = MemoryTree::from_leaf_hashes(&synthetic_leaves(10));
    assert!(inclusion_proof(10, 10, &tree).is_err());
    assert!(inclusion_proof(0, 11, &tree).is_err());
    assert!(consistency_proof(5, 4, &tree).is_err());
    assert!(consistency_proof(5, 11, &tree).is_err());
    assert!(tree_root(11, &tree).is_err());
    let root = tree_root(10, &tree).unwrap();
    assert_eq!(
        verify_inclusion(&root, 10, 10, &[], &root),
        Err(ProofError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        verify_consistency(5, 4, &root, &root, &[]),
        Err(ProofError::SizesOutOfOrder { old: 5, new: 4 })
    );
    assert_eq!(
        verify_consistency(0, 10, &root, &root, &[]),
        Err(ProofError::OldRootMismatch)
    );
    assert_eq!(verify_consistency(0, 10, &empty_root(), &root, &[]), Ok(()));
}

// Certificate Transparency's reference vectors (RFC 6962 test data, as in
// certificate-transparency's merkle_tree_test and transparency-dev/merkle).
const CT_LEAF_DATA: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
const CT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const CT_INCLUSION: [(u64, u64, &[&str]); 2] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];
const CT_CONSISTENCY: [(u64, u64, &[&str]); 3] = [
    (
        2,
        8,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

fn unhex(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

fn ct_tree() -> (Vec<Hash>, MemoryTree) {
    let leaves: Vec<Hash> = CT_LEAF_DATA
        .iter()
        .map(|data| leaf_hash(&hex::decode(data).unwrap()))
        .collect();
    let tree = MemoryTree::from_leaf_hashes(&leaves);
    (leaves, tree)
}

#[test]
fn roots_match_the_certificate_transparency_reference_vectors() {
    let (leaves, tree) = ct_tree();
    for (size, want) in CT_ROOTS.iter().enumerate() {
        assert_eq!(
            hex::encode(root_from_leaves(&leaves[..size])),
            *want,
            "size {size}"
        );
        assert_eq!(hex::encode(tree_root(size as u64, &tree).unwrap()), *want);
    }
}

#[test]
fn proofs_match_the_certificate_transparency_reference_vectors() {
    let (leaves, tree) = ct_tree();
    for (index, size, want) in CT_INCLUSION {
        let want: Vec<Hash> = want.iter().map(|h| unhex(h)).collect();
        assert_eq!(inclusion_proof(index, size, &tree).unwrap(), want);
        let root = unhex(CT_ROOTS[size as usize]);
        verify_inclusion(&leaves[index as usize], index, size, &want, &root).unwrap();
    }
    for (old, new, want) in CT_CONSISTENCY {
        let want: Vec<Hash> = want.iter().map(|h| unhex(h)).collect();
        assert_eq!(consistency_proof(old, new, &tree).unwrap(), want);
        let (old_root, new_root) = (unhex(CT_ROOTS[old as usize]), unhex(CT_ROOTS[new as usize]));
        verify_consistency(old, new, &old_root, &new_root, &want).unwrap();
    }
}
