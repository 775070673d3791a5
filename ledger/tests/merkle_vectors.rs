//! Static vectors in `testdata/merkle-vectors.json`, generated once by this
//! file (`MINGZHANG_WRITE_TESTDATA=1 cargo test -p mingzhang-ledger --test
//! merkle_vectors`) and checked ever after: any change to leaf hashing, node
//! hashing or proof order shows up as a diff here.

use mingzhang_ledger::merkle::{
    Hash, MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root_from_leaves,
    verify_consistency, verify_inclusion,
};
use serde_json::{Value, json};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/merkle-vectors.json");
const LEAF_COUNT: usize = 17;
const INCLUSION_CASES: [(u64, u64); 6] = [(0, 1), (0, 8), (5, 8), (6, 7), (12, 17), (16, 17)];
const CONSISTENCY_CASES: [(u64, u64); 6] = [(1, 2), (3, 7), (4, 8), (6, 8), (7, 17), (16, 17)];

/// Leaf i's data: i+1 bytes counting up from 16*i, so sizes and contents vary.
fn leaf_data(i: usize) -> Vec<u8> {
    (0..=i).map(|j| (16 * i + j) as u8).collect()
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

fn generate() -> Value {
    let data: Vec<Vec<u8>> = (0..LEAF_COUNT).map(leaf_data).collect();
    let leaves: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
    let tree = MemoryTree::from_leaf_hashes(&leaves);
    let roots: Vec<Hash> = (0..=LEAF_COUNT)
        .map(|n| root_from_leaves(&leaves[..n]))
        .collect();
    json!({
        "description": "RFC 9162 Merkle tree: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right). roots[n] is the root of the first n leaves (roots[0] = SHA-256 of the empty string). Proofs list hashes nearest sibling first.",
        "leaf_data": data.iter().map(hex::encode).collect::<Vec<_>>(),
        "leaf_hashes": hexes(&leaves),
        "roots": hexes(&roots),
        "inclusion_proofs": INCLUSION_CASES.iter().map(|&(index, size)| json!({
            "index": index,
            "tree_size": size,
            "proof": hexes(&inclusion_proof(index, size, &tree).unwrap()),
        })).collect::<Vec<_>>(),
        "consistency_proofs": CONSISTENCY_CASES.iter().map(|&(old, new)| json!({
            "old_size": old,
            "new_size": new,
            "proof": hexes(&consistency_proof(old, new, &tree).unwrap()),
        })).collect::<Vec<_>>(),
    })
}

fn unhex(value: &Value) -> Hash {
    hex::decode(value.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn merkle_vectors_file_matches_the_algorithm() {
    let generated = generate();
    if std::env::var_os("MINGZHANG_WRITE_TESTDATA").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(VECTORS, text).unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap();
    assert_eq!(
        stored, generated,
        "testdata/merkle-vectors.json no longer matches the Merkle code: \
         a hashing or proof change breaks every receipt ever issued"
    );
}

#[test]
fn stored_merkle_vectors_verify() {
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap();
    let leaves: Vec<Hash> = stored["leaf_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex)
        .collect();
    let roots: Vec<Hash> = stored["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex)
        .collect();
    for case in stored["inclusion_proofs"].as_array().unwrap() {
        let index = case["index"].as_u64().unwrap();
        let size = case["tree_size"].as_u64().unwrap();
        let proof: Vec<Hash> = case["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(unhex)
            .collect();
        verify_inclusion(
            &leaves[index as usize],
            index,
            size,
            &proof,
            &roots[size as usize],
        )
        .unwrap();
    }
    for case in stored["consistency_proofs"].as_array().unwrap() {
        let old = case["old_size"].as_u64().unwrap();
        let new = case["new_size"].as_u64().unwrap();
        let proof: Vec<Hash> = case["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(unhex)
            .collect();
        verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &proof).unwrap();
    }
}
