//! Proof latency from the on-disk Merkle store at 1M and 10M leaves.
//!
//! `cargo bench -p mingzhang-ledger --bench proofs` builds a `MerkleStore`
//! from synthetic leaf hashes (hashing records is the log's cost, not the
//! tree's), then times inclusion and consistency proof generation for random
//! indices and sizes and prints p50/p99/max and bytes per leaf. Files are in
//! the page cache (a hot server); `MINGZHANG_BENCH_LEAVES=1000000,...`
//! overrides the sizes.

use std::time::Instant;

use hdrhistogram::Histogram;
use mingzhang_ledger::merkle::{
    Hash, MerkleStore, leaf_hash, verify_consistency, verify_inclusion,
};
use rand::{Rng, SeedableRng};

const SAMPLES: usize = 20_000;
const BUILD_BATCH_LEAVES: u64 = 1 << 16;

fn synthetic_leaf(i: u64) -> Hash {
    leaf_hash(&i.to_le_bytes())
}

fn micros(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

fn report(name: &str, histogram: &Histogram<u64>) {
    println!(
        "  {name:<22} p50 {:>7.1} us   p99 {:>7.1} us   max {:>8.1} us   ({} samples)",
        micros(histogram, 0.50),
        micros(histogram, 0.99),
        histogram.max() as f64 / 1000.0,
        histogram.len()
    );
}

fn bench(leaves: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = MerkleStore::open(dir.path(), 0).expect("open");
    let started = Instant::now();
    let mut next = 0u64;
    while next < leaves {
        let end = (next + BUILD_BATCH_LEAVES).min(leaves);
        let batch: Vec<Hash> = (next..end).map(synthetic_leaf).collect();
        store.append_leaf_hashes(&batch).expect("append");
        next = end;
    }
    store.sync().expect("sync");
    let build = started.elapsed();
    let bytes = store.storage_bytes();
    println!(
        "{leaves} leaves: built and synced in {:.2} s ({:.0} leaves/s); tree storage {} bytes = {:.2} bytes/leaf \
         ({:.1}% of a 300-byte-record log)",
        build.as_secs_f64(),
        leaves as f64 / build.as_secs_f64(),
        bytes,
        bytes as f64 / leaves as f64,
        100.0 * bytes as f64 / (leaves as f64 * 300.0)
    );

    let mut rng = rand::rngs::StdRng::seed_from_u64(leaves);
    let mut inclusion = Histogram::<u64>::new(3).expect("histogram");
    let mut consistency = Histogram::<u64>::new(3).expect("histogram");
    let mut root = Histogram::<u64>::new(3).expect("histogram");
    for sample in 0..SAMPLES {
        let size = rng.gen_range(1..=leaves);
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let proof = store.inclusion_proof(index, size).expect("inclusion proof");
        inclusion
            .record(started.elapsed().as_nanos() as u64)
            .expect("record");

        let started = Instant::now();
        let new_root = store.root(size).expect("root");
        root.record(started.elapsed().as_nanos() as u64)
            .expect("record");

        let old = rng.gen_range(1..=size);
        let started = Instant::now();
        let consistency_path = store
            .consistency_proof(old, size)
            .expect("consistency proof");
        consistency
            .record(started.elapsed().as_nanos() as u64)
            .expect("record");

        if sample % 1000 == 0 {
            // A fast wrong answer is worth nothing: check a few.
            verify_inclusion(&synthetic_leaf(index), index, size, &proof, &new_root)
                .expect("inclusion proof verifies");
            let old_root = store.root(old).expect("old root");
            verify_consistency(old, size, &old_root, &new_root, &consistency_path)
                .expect("consistency proof verifies");
        }
    }
    report("inclusion proof", &inclusion);
    report("consistency proof", &consistency);
    report("root of a random size", &root);
    drop(store);
}

fn main() {
    let sizes: Vec<u64> = std::env::var("MINGZHANG_BENCH_LEAVES")
        .map(|text| {
            text.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("MINGZHANG_BENCH_LEAVES: comma-separated counts")
                })
                .collect()
        })
        .unwrap_or_else(|_| vec![1_000_000, 10_000_000]);
    for leaves in sizes {
        bench(leaves);
    }
}
