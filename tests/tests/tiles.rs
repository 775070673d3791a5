//! A log anyone may mirror (docs/proofs.md §15): `mingzhang publish DIR`
//! writes C2SP tlog-tiles, `serve` answers them under `/tiles/`, and
//! `verify` checks either. The demo names residents in the clear, so it is
//! refused; the scenario with its residents and private payees recorded as
//! public entities is published, checked by `verify` and by a separate
//! RFC 6962 implementation here, and tampering is found at its position.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use mingzhang_api::backend::{self, Ledger, Projections};
use mingzhang_ledger::service::CommandMeta;
use mingzhang_proto::v1::event_envelope::Event;
use mingzhang_proto::v1::{DonorKind, PayeeKind};
use mingzhang_tests::{binary, run_cli, serve};
use sha2::{Digest, Sha256};

fn mingzhang(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("MINGZHANG_TOKEN")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("mingzhang runs")
}

/// How the residents of the scenario are named in the hashed records.
#[derive(Clone, Copy, PartialEq)]
enum Residents {
    /// Registered as enterprises, private payees as companies: nobody is an
    /// individual.
    AsEnterprises,
    /// Individuals named in the clear, as records were written before
    /// commitments (the side store is bypassed).
    NamedInTheClear,
}

/// The Kaixuan scenario written straight through `Ledger::submit`, its
/// residents as `residents` says, then `extra_gifts` giving-day donations,
/// and a checkpoint signed over all of it.
/// A data directory under a fresh work directory with the scenario
/// recorded (`residents` as given), and where its tiles are to go.
fn recorded(residents: Residents) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_cli(&data, &["init"]);
    record_scenario(&data, residents, 0);
    let out = work.path().join("tiles");
    (work, data, out)
}

fn record_scenario(data_dir: &Path, residents: Residents, extra_gifts: u64) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = backend::open_store(data_dir).unwrap();
        let ledger = Ledger::open(store.clone()).await.unwrap();
        if store.head().len == 0 {
            for (mut command, meta) in backend::kaixuan() {
                match &mut command {
                    _ if residents == Residents::NamedInTheClear => {}
                    Event::DonorRegistered(donor) if donor.kind == DonorKind::Individual as i32 => {
                        donor.kind = DonorKind::Enterprise as i32;
                    }
                    Event::ExpenditureMade(paid) if paid.payee_kind == PayeeKind::Person as i32 => {
                        paid.payee_kind = PayeeKind::Company as i32;
                    }
                    _ => {}
                }
                ledger.submit(command, meta).await.unwrap();
            }
        }
        let first = store.head().len;
        for n in 0..extra_gifts {
            let gift =
                mingzhang_ledger::scenario::giving_day_donation(format!("gd-{first}-{n}"), n);
            let meta = CommandMeta::operator(1_757_030_400_000, "cli");
            ledger.submit(gift, meta).await.unwrap();
        }
        let mut projections = Projections::default();
        projections.catch_up(&*store).unwrap();
        let transparency = mingzhang_api::transparency::Transparency::open(
            data_dir,
            &*store,
            mingzhang_api::transparency::DEFAULT_ORIGIN,
        )
        .unwrap();
        let (size, _) = transparency.sign(&*store, &projections).unwrap();
        assert_eq!(size, store.head().len);
    });
}

fn key_of(data_dir: &Path) -> String {
    data_dir
        .join("keys/checkpoint.pub")
        .to_str()
        .unwrap()
        .to_owned()
}

fn verify(data_dir: &Path, source: &str) -> Output {
    mingzhang(data_dir, &["verify", source, "--key", &key_of(data_dir)])
}

// -- a separate RFC 6962 implementation, sharing no code with the ledger ----

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// MTH(D[n]) of RFC 6962 §2.1 over leaf hashes.
fn merkle_tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let k = if k == n { k / 2 } else { k };
            let (left, right) = leaves.split_at(k);
            sha256(&[&[1], &merkle_tree_hash(left), &merkle_tree_hash(right)])
        }
    }
}

/// Every entry of every bundle of `dir`, in order, read by hand: big-endian
/// u16 length, then the bytes.
fn entries_of(dir: &Path, size: u64) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    let full = size / 256;
    let mut bundles: Vec<PathBuf> = (0..full)
        .map(|n| dir.join(format!("tile/entries/{n:03}")))
        .collect();
    if !size.is_multiple_of(256) {
        bundles.push(dir.join(format!("tile/entries/{full:03}.p/{}", size % 256)));
    }
    for bundle in bundles {
        let bytes = std::fs::read(&bundle).unwrap();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            entries.push(rest[2..2 + len].to_vec());
            rest = &rest[2 + len..];
        }
    }
    entries
}

fn checkpoint_size_and_root(note: &str) -> (u64, [u8; 32]) {
    let mut lines = note.lines();
    lines.next();
    let size = lines.next().unwrap().parse().unwrap();
    let root = base64::engine::general_purpose::STANDARD
        .decode(lines.next().unwrap())
        .unwrap();
    (size, root.try_into().unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// GET `url`: status, Cache-Control and body.
fn http_get(url: &str) -> (u16, String, Vec<u8>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let answer = reqwest::get(url).await.unwrap();
        let status = answer.status().as_u16();
        let cache_control = answer
            .headers()
            .get("cache-control")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (
            status,
            cache_control,
            answer.bytes().await.unwrap().to_vec(),
        )
    })
}

/// Every file under `dir` with its bytes.
fn files_of(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files.extend(files_of(&entry.path()));
        } else {
            files.insert(entry.path(), std::fs::read(entry.path()).unwrap());
        }
    }
    files
}

fn flip_byte(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_log_naming_residents_in_the_clear_is_refused_and_nothing_is_written() {
    let (_work, data, out) = recorded(Residents::NamedInTheClear);

    let refused = mingzhang(&data, &["publish", out.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("record seq 17: donor_registered.name")
            && stderr.contains("personal_data_in_clear"),
        "{stderr}"
    );
    assert!(!out.join("checkpoint").exists());

    let served = serve(&data);
    let (status, _, body) = http_get(&format!("{}/tiles/checkpoint", served.http));
    assert_eq!(status, 409);
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["rule"], "personal_data_in_clear", "{problem}");
    assert_eq!(problem["field"], "donor_registered.name", "{problem}");
}

/// The names of the scenario's individual donors, as the demo's side store
/// keeps them.
fn residents_names() -> Vec<String> {
    backend::kaixuan()
        .into_iter()
        .filter_map(|(command, _)| match command {
            Event::DonorRegistered(donor) if donor.kind == DonorKind::Individual as i32 => {
                Some(donor.name)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_demo_publishes_with_its_residents_as_commitments_and_no_name_leaves() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_cli(&data, &["init"]);
    run_cli(&data, &["demo"]);
    let out = work.path().join("tiles");
    let published = run_cli(&data, &["publish", out.to_str().unwrap()]);
    assert!(published.starts_with("published "), "{published}");
    let verified = verify(&data, out.to_str().unwrap());
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");

    let names = residents_names();
    assert!(names.len() >= 2, "the demo has residents: {names:?}");
    let published_bytes: Vec<u8> = files_of(&out).into_values().flatten().collect();
    for name in &names {
        assert!(
            !published_bytes
                .windows(name.len())
                .any(|window| window == name.as_bytes()),
            "{name} is in the published tiles"
        );
    }
    // The names are in the operator's side store, not lost.
    let side_store: Vec<u8> = files_of(&data.join("personal"))
        .into_values()
        .flatten()
        .collect();
    assert!(
        side_store
            .windows(names[0].len())
            .any(|window| window == names[0].as_bytes())
    );
}

#[test]
fn published_tiles_verify_and_agree_with_a_separate_rfc6962_check() {
    let (work, data, out) = recorded(Residents::AsEnterprises);
    let published = run_cli(&data, &["publish", out.to_str().unwrap()]);
    assert!(published.starts_with("published "), "{published}");

    let verified = verify(&data, out.to_str().unwrap());
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(String::from_utf8_lossy(&verified.stdout).starts_with("OK: "));

    // The checkpoint is the data directory's latest, cosignatures and all.
    let note = std::fs::read_to_string(out.join("checkpoint")).unwrap();
    assert_eq!(
        note,
        std::fs::read_to_string(data.join("checkpoints/latest.note")).unwrap()
    );
    let (size, root) = checkpoint_size_and_root(&note);
    assert!(size > 256, "the scenario fills a full tile and more");
    let entries = entries_of(&out, size);
    assert_eq!(entries.len() as u64, size);
    let leaves: Vec<[u8; 32]> = entries.iter().map(|e| sha256(&[&[0], e])).collect();
    assert_eq!(merkle_tree_hash(&leaves), root);
    // Each entry is a record's stored bytes: magic, then its own seq.
    for (seq, entry) in entries.iter().enumerate() {
        assert_eq!(&entry[..4], b"MZR1");
        assert_eq!(
            u64::from_le_bytes(entry[8..16].try_into().unwrap()),
            seq as u64
        );
    }
    // A level-0 tile is its bundle's leaf hashes; the level-1 tile holds
    // the root of the first 256 leaves.
    let tile_0 = std::fs::read(out.join("tile/0/000")).unwrap();
    assert_eq!(tile_0, leaves[..256].concat());
    let tile_1 = std::fs::read(out.join("tile/1/000.p/1")).unwrap();
    assert_eq!(tile_1, merkle_tree_hash(&leaves[..256]));
    let partial = format!("tile/0/001.p/{}", size - 256);
    assert_eq!(
        std::fs::read(out.join(partial)).unwrap(),
        leaves[256..].concat()
    );

    // A changed hash in a tile, and a changed byte of an entry, are each
    // named by position.
    let altered_tile = work.path().join("altered-tile");
    copy_dir(&out, &altered_tile);
    flip_byte(&altered_tile.join("tile/0/000"), 5 * 32 + 7);
    let found = verify(&data, altered_tile.to_str().unwrap());
    assert_eq!(found.status.code(), Some(3), "{found:?}");
    let stderr = String::from_utf8_lossy(&found.stderr);
    assert!(
        stderr.contains("tile/0/000 hash 5 (record seq 5)"),
        "{stderr}"
    );

    let altered_entry = work.path().join("altered-entry");
    copy_dir(&out, &altered_entry);
    // Entry 3 of the first bundle: past the three entries and four length
    // prefixes before its payload.
    let offset = entries[..3].iter().map(|e| e.len() + 2).sum::<usize>() + 2 + 60;
    flip_byte(&altered_entry.join("tile/entries/000"), offset);
    let found = verify(&data, altered_entry.to_str().unwrap());
    assert_eq!(found.status.code(), Some(3), "{found:?}");
    let stderr = String::from_utf8_lossy(&found.stderr);
    assert!(
        stderr.contains("tile/0/000 hash 3 (record seq 3)")
            && stderr.contains("entry 3 of tile/entries/000"),
        "{stderr}"
    );

    let altered_upper = work.path().join("altered-upper");
    copy_dir(&out, &altered_upper);
    flip_byte(&altered_upper.join("tile/1/000.p/1"), 0);
    let found = verify(&data, altered_upper.to_str().unwrap());
    assert_eq!(found.status.code(), Some(3), "{found:?}");
    assert!(
        String::from_utf8_lossy(&found.stderr).contains("tile/1/000.p/1 hash 0"),
        "{found:?}"
    );
}

#[test]
fn a_second_publish_writes_only_what_grew_and_rewrites_no_full_tile() {
    let (_work, data, out) = recorded(Residents::AsEnterprises);
    run_cli(&data, &["publish", out.to_str().unwrap()]);
    let inode = |path: &str| std::fs::metadata(out.join(path)).unwrap().ino();
    let full = ["tile/0/000", "tile/entries/000"].map(|path| (path, inode(path)));

    // The log grows past a second full tile, then is signed and published;
    // publishing reads the data directory and writes nothing in it.
    record_scenario(&data, Residents::AsEnterprises, 300);
    let before = files_of(&data);
    let again = run_cli(&data, &["publish", out.to_str().unwrap()]);
    assert!(
        files_of(&data) == before,
        "publish changed the data directory"
    );
    assert!(again.contains(" 2 full tiles kept"), "{again}");
    for (path, before) in full {
        assert_eq!(inode(path), before, "{path} was rewritten");
    }
    let (size, _) =
        checkpoint_size_and_root(&std::fs::read_to_string(out.join("checkpoint")).unwrap());
    assert!(size > 512);
    assert!(out.join("tile/0/001").is_file() && out.join("tile/entries/001").is_file());
    let verified = verify(&data, out.to_str().unwrap());
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");

    // Publishing it again changes nothing.
    let unchanged = run_cli(&data, &["publish", out.to_str().unwrap()]);
    assert!(unchanged.contains(": 0 files written"), "{unchanged}");
}

#[test]
fn serve_answers_the_published_files_under_tiles_and_verify_checks_that_url() {
    let (_work, data, out) = recorded(Residents::AsEnterprises);
    run_cli(&data, &["publish", out.to_str().unwrap()]);

    let served = serve(&data);
    let get = |path: &str| http_get(&format!("{}/tiles/{path}", served.http));
    let (status, cache_control, checkpoint) = get("checkpoint");
    assert_eq!((status, cache_control.as_str()), (200, "no-cache"));
    assert_eq!(checkpoint, std::fs::read(out.join("checkpoint")).unwrap());
    for path in ["tile/0/000", "tile/entries/000", "tile/1/000.p/1"] {
        let (status, cache_control, bytes) = get(path);
        assert_eq!(
            (status, cache_control.as_str()),
            (200, "public, max-age=31536000, immutable"),
            "{path}"
        );
        assert_eq!(bytes, std::fs::read(out.join(path)).unwrap(), "{path}");
    }
    assert_eq!(get("tile/0/005").0, 404);
    assert_eq!(get("tile/0/5").0, 404);

    let url = format!("{}/tiles/", served.http);
    let verified = verify(&data, &url);
    assert_eq!(verified.status.code(), Some(0), "{verified:?}");
    assert!(
        String::from_utf8_lossy(&verified.stderr).contains("verifying the tlog-tiles at"),
        "{verified:?}"
    );
}

#[test]
fn a_witness_cosignature_travels_with_the_published_checkpoint_and_verify_counts_it() {
    use mingzhang_ledger::checkpoint::{Checkpoint, CosignerKey, add_signature_lines};
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    run_cli(&data, &["init"]);
    record_scenario(&data, Residents::AsEnterprises, 0);
    // A witness cosigns the latest checkpoint, as `serve` publishes it.
    let latest = data.join("checkpoints/latest.note");
    let note = std::fs::read_to_string(&latest).unwrap();
    let body = format!("{}\n", note.split_once("\n\n").unwrap().0);
    let checkpoint = Checkpoint::parse_body(&body).unwrap();
    let witness = CosignerKey::generate("auditor.example/w1").unwrap();
    let cosigned =
        add_signature_lines(&note, &[witness.cosign(&checkpoint, 1_765_000_000)]).unwrap();
    std::fs::write(&latest, cosigned).unwrap();
    let witness_key = work.path().join("w1.pub");
    std::fs::write(&witness_key, witness.verifier().to_text()).unwrap();
    let stranger = CosignerKey::generate("auditor.example/w2").unwrap();
    let stranger_key = work.path().join("w2.pub");
    std::fs::write(&stranger_key, stranger.verifier().to_text()).unwrap();

    let out = work.path().join("tiles");
    run_cli(&data, &["publish", out.to_str().unwrap()]);
    let with_witness = |key: &Path| {
        mingzhang(
            &data,
            &[
                "verify",
                out.to_str().unwrap(),
                "--key",
                &key_of(&data),
                "--witness-key",
                key.to_str().unwrap(),
            ],
        )
    };
    let cosigned = with_witness(&witness_key);
    assert_eq!(cosigned.status.code(), Some(0), "{cosigned:?}");
    let not_cosigned = with_witness(&stranger_key);
    assert_eq!(not_cosigned.status.code(), Some(5), "{not_cosigned:?}");
    assert!(
        String::from_utf8_lossy(&not_cosigned.stderr)
            .contains("not cosigned by auditor.example/w2"),
        "{not_cosigned:?}"
    );
}
