//! What an auditor runs: `mingzhang verify [PATH]` and `mingzhang export PATH`.
//!
//! `verify` trusts nothing the server computed. Over a data directory or an
//! exported bundle it (1) walks the hash chain record by record, (2) recomputes
//! the Merkle root and checks it against the signed checkpoint, (3) checks
//! that a checkpoint saved earlier (`--since`) is consistent with today's
//! (the log only grew), and (4) replays every event through the rules
//! (`Replayer`: each must be what `decide` records after the ones before it)
//! to recompute every balance and compares the digest with the one the
//! checkpoint publishes. Against a
//! running server (`remote_audit`), the records are downloaded into a bundle
//! first and (5) the fund balances the server publishes are compared with the
//! replayed ones at the size the server says its answer reflects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use mingzhang_ledger::checkpoint::{Checkpoint, CheckpointError, CosignatureKey, VerifierKey};
use mingzhang_ledger::merkle;
use mingzhang_ledger::replay::ReplayError;

use crate::replay_pass::{ReadKey, SnapshotSizes, first_pass, replay};
use mingzhang_ledger::store::SegmentExtent;
use mingzhang_ledger::store::file::{SEGMENT_HEADER_LEN, parse_segment_file_name};
use mingzhang_projections::Projections;
use serde::Serialize;

use crate::balances_digest_of;

/// Where an auditor's inputs are: a server's data directory (`log/`,
/// `checkpoints/latest.note`, `keys/checkpoint.pub`) or an exported bundle
/// (`log/`, `checkpoint.note`, `checkpoint.pub`).
/// What is being audited, which decides how records past the newest signed
/// checkpoint count: a bundle is a finished statement, so every record in it
/// must be signed; a server's log (its data directory or its URL) grows
/// between checkpoints, so its unsigned tail is counted and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// `mingzhang export`'s output: `log/`, `checkpoint.note`, `checkpoint.pub`.
    Bundle,
    /// A server's data directory: `log/`, `checkpoints/latest.note`, `keys/`.
    DataDir,
    /// A running server, downloaded by `verify URL`.
    Server,
    /// C2SP tlog-tiles (`mingzhang publish`'s directory, or a URL serving
    /// one): exactly the checkpoint's records, a finished statement as a
    /// bundle is.
    Tiles,
}

#[derive(Debug, Clone)]
pub struct AuditInputs {
    pub source: SourceKind,
    pub log_dir: PathBuf,
    pub checkpoint_note: Option<String>,
    pub verifier_key: Option<String>,
    /// Where the verifier key came from, for the report.
    pub key_from: String,
    /// The fund balances a server publishes, to compare with the replay.
    pub published_funds: Option<PublishedFunds>,
    /// Problems found while gathering the inputs (a server's records that do
    /// not hash to what it says); reported first.
    pub source_problems: Vec<String>,
}

/// A server's `GET /v1/funds` answer and the number of log records it says
/// the answer reflects.
#[derive(Debug, Clone)]
pub struct PublishedFunds {
    pub at_size: u64,
    pub funds: serde_json::Value,
}

impl AuditInputs {
    pub fn locate(path: &Path, key_override: Option<&Path>) -> anyhow::Result<AuditInputs> {
        let log_dir = path.join("log");
        if !log_dir.is_dir() {
            anyhow::bail!(
                "{} has no log/ directory: not a data directory or bundle",
                path.display()
            );
        }
        let read_first = |candidates: &[PathBuf]| {
            candidates
                .iter()
                .find_map(|path| std::fs::read_to_string(path).ok())
        };
        // A data directory is recognised by what only a server writes into
        // one; anything else is held to a bundle's stricter rule.
        let source = if path.join("checkpoints").is_dir()
            || path.join("keys").is_dir()
            || path.join("tokens.json").is_file()
        {
            SourceKind::DataDir
        } else {
            SourceKind::Bundle
        };
        let checkpoint_note = match source {
            SourceKind::DataDir => read_first(&[path.join("checkpoints").join("latest.note")]),
            _ => read_first(&[path.join("checkpoint.note")]),
        };
        let (verifier_key, key_from) = match key_override {
            Some(key_path) => (
                Some(
                    std::fs::read_to_string(key_path)
                        .with_context(|| format!("reading {}", key_path.display()))?,
                ),
                format!("--key {}", key_path.display()),
            ),
            None => (
                read_first(&[
                    path.join("checkpoint.pub"),
                    path.join("keys").join("checkpoint.pub"),
                ]),
                format!("{} (the key stored beside the log)", path.display()),
            ),
        };
        Ok(AuditInputs {
            source,
            log_dir,
            checkpoint_note,
            verifier_key: verifier_key.map(|key| key.trim().to_owned()),
            key_from,
            published_funds: None,
            source_problems: Vec::new(),
        })
    }
}

/// What kind of finding a problem is; each has its own exit code, so a
/// script can tell a damaged log from one that merely is not signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Records (or the whole log) that no signed checkpoint covers: nothing
    /// proves they are the history that was published. Exit 5.
    Unsigned,
    /// The log's bytes hold together but disagree with something that binds
    /// them: the signed checkpoint (root, balances, signature), a checkpoint
    /// saved earlier, the rules the replay re-decides, the trial balance, or
    /// the balances a server publishes. Exit 4.
    Mismatch,
    /// The log's bytes are damaged, altered, missing or unreadable as events,
    /// or a server's records do not hash to what it says. Exit 3.
    Damaged,
}

impl ProblemKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ProblemKind::Damaged => EXIT_DAMAGED,
            ProblemKind::Mismatch => EXIT_MISMATCH,
            ProblemKind::Unsigned => EXIT_UNSIGNED,
        }
    }
}

/// `mingzhang verify` exit codes (docs/proofs.md, "Exit codes").
pub const EXIT_OK: u8 = 0;
/// The inputs could not be read at all (no log directory, an unreadable
/// file, a server that does not answer).
pub const EXIT_UNREADABLE: u8 = 1;
/// Bad command-line usage (clap's own code).
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_DAMAGED: u8 = 3;
pub const EXIT_MISMATCH: u8 = 4;
pub const EXIT_UNSIGNED: u8 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The tail a crash left half-written, which opening the log for writing
/// would cut (`docs/log-format.md`, verification step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TornTailFinding {
    pub segment: String,
    pub offset: u64,
    pub first_lost_seq: u64,
    pub bytes_dropped: u64,
    pub reason: String,
}

/// How far the signatures reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedCoverage {
    /// The newest signed checkpoint's size; 0 when there is none.
    pub signed_size: u64,
    /// Records after `signed_size`: what no signature covers.
    pub unsigned_records: u64,
    /// True when there was no valid signed checkpoint and the auditor passed
    /// `--allow-unsigned`: only the chain was checked.
    pub chain_only: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub ok: bool,
    pub source: SourceKind,
    /// Records that passed the chain check.
    pub records: u64,
    /// Records the replay took in: all of them, or those before the first
    /// that the rules refuse or the read models cannot apply.
    pub replayed_records: u64,
    pub bytes: u64,
    /// The first pass: the chain, with the Merkle leaves hashed beside it.
    pub chain_mb_per_s: f64,
    /// The second pass: records read, re-decided and applied per second.
    pub replay_events_per_s: f64,
    pub last_hash: String,
    pub merkle_root: String,
    pub torn_tail: Option<TornTailFinding>,
    pub checkpoint: Option<CheckpointFinding>,
    pub coverage: SignedCoverage,
    pub since: Option<SinceFinding>,
    pub balances_digest: String,
    pub trial_balance_fen: i64,
    /// The 善款去向 allocations recomputed by the replay, when every
    /// invariant holds (docs/proofs.md, "Flow receipts"); else a problem.
    pub flows: Option<mingzhang_projections::FlowsChecked>,
    /// Where the verifier key came from.
    pub key_from: String,
    pub published_balances: Option<PublishedBalancesFinding>,
    /// Present when witness keys or a number needed were given.
    pub witnesses: Option<WitnessesFinding>,
    /// Every problem found, in the order found, each naming the record or
    /// checkpoint; empty when ok.
    pub problems: Vec<Problem>,
    /// Findings that are not failures (an unsigned tail of a server's log).
    pub notes: Vec<String>,
}

impl AuditReport {
    /// The process exit code: 0 when ok, else the code of the gravest kind
    /// of problem found.
    pub fn exit_code(&self) -> u8 {
        self.problems
            .iter()
            .map(|problem| problem.kind)
            .max()
            .map_or(EXIT_OK, ProblemKind::exit_code)
    }
}

/// The problems found so far, each with its kind.
#[derive(Debug, Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, kind: ProblemKind, message: impl Into<String>) {
        self.0.push(Problem {
            kind,
            message: message.into(),
        });
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointFinding {
    pub size: u64,
    pub signature_valid: bool,
    pub root_matches: bool,
    /// Whether the balances the checkpoint publishes equal the replayed ones
    /// (None when it publishes none).
    pub balances_match: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishedBalancesFinding {
    /// The log size the server says its balances reflect.
    pub size: u64,
    pub funds: usize,
    pub matches: bool,
    /// The first fund whose published balance differs from the replay.
    pub first_mismatch: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SinceFinding {
    pub size: u64,
    pub consistent: bool,
}

/// Runs every check; problems are reported, not returned as errors, so the
/// report says everything it found. An `Err` means the inputs could not be read.
pub fn verify(
    inputs: &AuditInputs,
    options: &VerifyOptions,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<AuditReport> {
    let since_note = options.since_note.as_deref();
    let mut problems = Problems::default();
    for problem in &inputs.source_problems {
        problems.push(ProblemKind::Damaged, problem.clone());
    }
    let total_bytes = segment_files(&inputs.log_dir)?
        .iter()
        .map(|(_, path)| file_len(path))
        .sum::<u64>();

    // The checkpoints are opened first, so the first pass knows the sizes
    // whose Merkle roots to keep; their problems are reported after the
    // chain's, as they were found in that order before.
    let mut checkpoint_problems = Problems::default();
    let key = match &inputs.verifier_key {
        Some(text) => match VerifierKey::from_text(text) {
            Ok(key) => Some(key),
            Err(error) => {
                checkpoint_problems.push(ProblemKind::Mismatch, format!("verifier key: {error}"));
                None
            }
        },
        None => None,
    };
    let open = |label: &str, note: &str, problems: &mut Problems| -> Option<Checkpoint> {
        let Some(key) = &key else {
            problems.push(
                ProblemKind::Unsigned,
                format!("{label}: no verifier key to check its signature (use --key)"),
            );
            return None;
        };
        match Checkpoint::open_signed(note, key) {
            Ok(checkpoint) => Some(checkpoint),
            Err(error) => {
                problems.push(ProblemKind::Mismatch, format!("{label}: {error}"));
                None
            }
        }
    };
    let checkpoint = inputs
        .checkpoint_note
        .as_deref()
        .and_then(|note| open("checkpoint", note, &mut checkpoint_problems));
    let since =
        since_note.and_then(|note| open("--since checkpoint", note, &mut checkpoint_problems));
    let root_sizes: Vec<u64> = [&checkpoint, &since]
        .into_iter()
        .flatten()
        .map(Checkpoint::size)
        .collect();

    // First pass: the chain on this thread, the Merkle leaves beside it.
    let read_key = ReadKey::generate();
    let started = Instant::now();
    let (chain, merkle) = first_pass(&inputs.log_dir, &root_sizes, &read_key, |bytes| {
        progress(bytes, total_bytes * 2)
    });
    let chain = match chain {
        Ok(chain) => Some(chain),
        Err(error) => {
            problems.push(ProblemKind::Damaged, format!("chain: {error}"));
            None
        }
    };
    let chain_seconds = started.elapsed().as_secs_f64();
    problems.0.append(&mut checkpoint_problems.0);

    // Second pass: the rules and the read models, snapshotting the
    // balances at the sizes the checkpoint and the server name.
    let published_size = inputs.published_funds.as_ref().map(|funds| funds.at_size);
    let sizes = SnapshotSizes {
        checkpoint: checkpoint.as_ref().map(Checkpoint::size),
        published: published_size,
        since: since.as_ref().map(Checkpoint::size),
    };
    let started = Instant::now();
    let pass = match &chain {
        Some(_) => Some(replay(
            &inputs.log_dir,
            sizes,
            merkle.records,
            &read_key,
            |bytes_read| progress(total_bytes + bytes_read, total_bytes * 2),
        )?),
        None => None,
    };
    let replay_seconds = started.elapsed().as_secs_f64();
    let replay_records = pass.as_ref().map_or(0, |pass| pass.records);
    let (records, roots) = match &chain {
        Some(_) => (merkle.records, merkle.roots),
        None => (0, BTreeMap::from([(0, merkle::empty_root())])),
    };
    if let Some(pass) = &pass
        && pass.read_tag != merkle.read_tag
    {
        problems.push(
            ProblemKind::Damaged,
            format!(
                "the log's files changed while verify read them: the replay read {} records that are not the {records} whose Merkle root was computed",
                pass.records
            ),
        );
    }
    let (projected, refused) = match pass {
        Some(pass) => (Some(pass.projected), pass.refused),
        None => (None, None),
    };
    let (projections, mut replayed, digest_at_checkpoint, replayed_funds, not_applied) =
        match projected {
            Some(projected) => (
                projected.projections,
                projected.applied,
                projected.digest_at_checkpoint,
                projected.funds_at_published,
                projected.not_applied,
            ),
            None => (Projections::default(), 0, None, None, None),
        };
    // The rules' verdict first: a record they refuse is the first problem,
    // whatever it does to the read models after it.
    if let Some(error) = &refused {
        let kind = match error {
            ReplayError::Undecodable { .. } | ReplayError::NoEvent { .. } => ProblemKind::Damaged,
            _ => ProblemKind::Mismatch,
        };
        problems.push(kind, error.to_string());
        replayed = replayed.min(error.seq());
    }
    if let Some((seq, kind, problem)) = not_applied
        && refused.as_ref().is_none_or(|error| seq < error.seq())
    {
        problems.push(kind, problem);
    }
    // `records`: what the chain holds; `replayed` may stop short of them at
    // a record the rules refuse or the read models cannot apply, named above.
    // The pass kept the roots at the sizes asked for, those within the log.
    let root_of = |size: u64| roots.get(&size).copied();

    let checkpoint_finding = checkpoint.as_ref().map(|checkpoint| {
        let size = checkpoint.size();
        let covered = size <= records;
        if !covered {
            problems.push(ProblemKind::Mismatch, format!("checkpoint: signs {size} records but the log has only {records}: records were removed"));
        }
        let root_matches = covered && root_of(size).as_ref() == Some(checkpoint.root_hash());
        if covered && !root_matches {
            problems.push(ProblemKind::Mismatch, format!(
                "checkpoint: the log's first {size} records do not hash to the signed root: history was rewritten"
            ));
        }
        let balances_match = balances_digest_of(checkpoint).map(|published| {
            let matches = digest_at_checkpoint.as_deref() == Some(published.as_str());
            if covered && replayed < size {
                problems.push(ProblemKind::Mismatch, format!(
                    "checkpoint: its balances cannot be replayed: the replay stopped at record {replayed}, before the signed size {size}"
                ));
            } else if covered && !matches {
                problems.push(ProblemKind::Mismatch, format!(
                    "checkpoint: published balances digest {published} differs from the replayed {} at size {size}",
                    digest_at_checkpoint.as_deref().unwrap_or("?")
                ));
            }
            matches
        });
        CheckpointFinding { size, signature_valid: true, root_matches, balances_match }
    });

    let since_finding = since.as_ref().map(|saved| {
        let size = saved.size();
        // The saved root must be the root of today's log at that size. Having
        // hashed every leaf, the audit needs no consistency proof: the proof
        // between two roots of the same leaves would only restate this.
        let consistent = size <= records && root_of(size).as_ref() == Some(saved.root_hash());
        if !consistent {
            problems.push(ProblemKind::Mismatch, format!(
                "--since: the checkpoint saved at size {size} is not consistent with this log: history was rewritten or truncated"
            ));
        }
        SinceFinding { size, consistent }
    });

    let published_balances = inputs.published_funds.as_ref().map(|published| {
        let size = published.at_size;
        let first_mismatch = match &replayed_funds {
            Some(replayed) => first_fund_mismatch(&published.funds, replayed),
            None if replayed < size && size <= records => Some(format!(
                "the replay stopped at record {replayed}, before the {size} records the server's balances reflect"
            )),
            None => Some(format!(
                "the server's balances reflect {size} records but the log has only {records}"
            )),
        };
        if let Some(mismatch) = &first_mismatch {
            problems.push(
                ProblemKind::Mismatch,
                format!("published balances at size {size}: {mismatch}"),
            );
        }
        PublishedBalancesFinding {
            size,
            funds: published.funds.as_array().map_or(0, Vec::len),
            matches: first_mismatch.is_none(),
            first_mismatch,
        }
    });

    let trial_balance_fen = projections.trial_balance().total_fen;
    if trial_balance_fen != 0 {
        problems.push(
            ProblemKind::Mismatch,
            format!("trial balance sums to {trial_balance_fen} fen, not 0"),
        );
    }
    // The allocations the replay recomputed: every gift and outflow adds
    // up and no restriction is crossed (a bug in the projection, or a log
    // the rules would refuse, breaks them).
    let flows = match projections.check_flows() {
        Ok(checked) => Some(checked),
        Err(broken) => {
            problems.push(ProblemKind::Mismatch, broken.to_string());
            None
        }
    };
    let torn_tail = chain.as_ref().and_then(|chain| {
        chain.torn_tail.as_ref().map(|torn| TornTailFinding {
            segment: torn.segment.clone(),
            offset: torn.offset,
            first_lost_seq: torn.first_lost_seq,
            bytes_dropped: torn.bytes_dropped,
            reason: torn.reason.clone(),
        })
    });
    if let Some(torn) = &torn_tail {
        problems.push(
            ProblemKind::Damaged,
            format!(
                "log has an unrepaired torn tail (opening it for writing cuts it): segment {} offset {} from seq {}, {} bytes: {}",
                torn.segment, torn.offset, torn.first_lost_seq, torn.bytes_dropped, torn.reason
            ),
        );
    }
    let witnesses = check_witnesses(
        checkpoint.as_ref().and(inputs.checkpoint_note.as_deref()),
        options,
        &mut problems,
    );
    let mut notes = Vec::new();
    let coverage = signed_coverage(
        inputs.source,
        checkpoint.as_ref().map(Checkpoint::size),
        records,
        options.allow_unsigned,
        &mut problems,
        &mut notes,
    );
    let bytes = chain.as_ref().map_or(0, |chain| chain.bytes);
    Ok(AuditReport {
        ok: problems.is_empty(),
        source: inputs.source,
        records,
        replayed_records: replayed,
        bytes,
        chain_mb_per_s: if chain_seconds > 0.0 {
            bytes as f64 / chain_seconds / 1e6
        } else {
            0.0
        },
        replay_events_per_s: if replay_seconds > 0.0 {
            replay_records as f64 / replay_seconds
        } else {
            0.0
        },
        last_hash: chain
            .as_ref()
            .map(|chain| hex::encode(chain.last_hash))
            .unwrap_or_default(),
        merkle_root: hex::encode(
            root_of(records).expect("the pass keeps the root at the whole size"),
        ),
        torn_tail,
        checkpoint: checkpoint_finding,
        coverage,
        since: since_finding,
        balances_digest: hex::encode(projections.balances_digest()),
        trial_balance_fen,
        flows,
        key_from: inputs.key_from.clone(),
        published_balances,
        witnesses,
        problems: problems.0,
        notes,
    })
}

/// What the auditor asked for besides the inputs.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A checkpoint note saved earlier (`--since`): the log must extend it.
    pub since_note: Option<String>,
    /// `--allow-unsigned`: with no signed checkpoint, check the chain alone
    /// instead of failing.
    pub allow_unsigned: bool,
    /// `--witness-key FILE`, repeatable: witnesses whose cosignatures count.
    pub witness_keys: Vec<CosignatureKey>,
    /// `--witnesses-needed N`: how many of them must cosign the checkpoint
    /// [default: all the keys given].
    pub witnesses_needed: Option<usize>,
}

/// Who cosigned the checkpoint the audit checked, of the witnesses given.
#[derive(Debug, Clone, Serialize)]
pub struct WitnessesFinding {
    pub needed: usize,
    /// `<name>+<key id>` and the cosignature's time (POSIX seconds).
    pub cosigned: Vec<CosignedBy>,
    /// Witnesses given with no cosignature on the checkpoint.
    pub missing: Vec<String>,
    /// Witnesses whose cosignature line is there but does not verify.
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CosignedBy {
    pub witness: String,
    pub time: u64,
}

/// Counts the given witnesses' valid cosignatures on the checked note: an
/// invalid one is a *mismatch* (someone altered it or forged it), fewer than
/// needed is *unsigned* (the checkpoint lacks the statements asked for).
fn check_witnesses(
    note: Option<&str>,
    options: &VerifyOptions,
    problems: &mut Problems,
) -> Option<WitnessesFinding> {
    if options.witness_keys.is_empty() && options.witnesses_needed.is_none() {
        return None;
    }
    let needed = options
        .witnesses_needed
        .unwrap_or(options.witness_keys.len());
    let mut finding = WitnessesFinding {
        needed,
        cosigned: Vec::new(),
        missing: Vec::new(),
        invalid: Vec::new(),
    };
    for key in &options.witness_keys {
        match note.map(|note| key.verify_cosignature(note)) {
            Some(Ok(time)) => finding.cosigned.push(CosignedBy {
                witness: key.label(),
                time,
            }),
            Some(Err(CheckpointError::InvalidSignature { .. })) => {
                problems.push(
                    ProblemKind::Mismatch,
                    format!(
                        "witness {}: its cosignature on the checkpoint does not verify",
                        key.label()
                    ),
                );
                finding.invalid.push(key.label());
            }
            _ => finding.missing.push(key.label()),
        }
    }
    if finding.cosigned.len() < needed {
        let mut message = format!(
            "witnesses: {} of the {needed} cosignatures needed",
            finding.cosigned.len()
        );
        if options.witness_keys.len() < needed {
            message.push_str(&format!(
                " (only {} witness keys given)",
                options.witness_keys.len()
            ));
        }
        let absent: Vec<&str> = finding
            .missing
            .iter()
            .chain(&finding.invalid)
            .map(String::as_str)
            .collect();
        if !absent.is_empty() {
            message.push_str(&format!("; not cosigned by {}", absent.join(", ")));
        }
        problems.push(ProblemKind::Unsigned, message);
    }
    Some(finding)
}

/// How far the newest signed checkpoint reaches, and what that means for the
/// source: no checkpoint fails unless the auditor allowed it; records after
/// the signed size fail a bundle and are counted for a server's log.
fn signed_coverage(
    source: SourceKind,
    signed_size: Option<u64>,
    records: u64,
    allow_unsigned: bool,
    problems: &mut Problems,
    notes: &mut Vec<String>,
) -> SignedCoverage {
    let Some(signed_size) = signed_size else {
        if !allow_unsigned {
            problems.push(
                ProblemKind::Unsigned,
                "no signed checkpoint: nothing proves this history is the one that was published \
                 (pass --allow-unsigned to check the chain alone)",
            );
        }
        return SignedCoverage {
            signed_size: 0,
            unsigned_records: records,
            chain_only: allow_unsigned,
        };
    };
    let unsigned_records = records.saturating_sub(signed_size);
    if unsigned_records > 0 {
        let message = format!(
            "{unsigned_records} records after the signed size {signed_size} are not signed"
        );
        match source {
            SourceKind::Bundle | SourceKind::Tiles => problems.push(ProblemKind::Unsigned, message),
            SourceKind::DataDir | SourceKind::Server => notes.push(message),
        }
    }
    SignedCoverage {
        signed_size,
        unsigned_records,
        chain_only: false,
    }
}

/// The report as the CLI prints it. The first line is the verdict: `OK`,
/// `CHAIN ONLY` (no signature; `--allow-unsigned`) or `FAILED`, so that a
/// reader who stops there is not misled.
pub fn render_text(report: &AuditReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let coverage = &report.coverage;
    if !report.ok {
        let gravest = report
            .problems
            .iter()
            .max_by_key(|problem| problem.kind)
            .expect("a failed report has a problem");
        let _ = writeln!(
            out,
            "FAILED ({}, exit {}): {}",
            match gravest.kind {
                ProblemKind::Damaged => "damaged",
                ProblemKind::Mismatch => "mismatch",
                ProblemKind::Unsigned => "unsigned",
            },
            gravest.kind.exit_code(),
            gravest.message
        );
        if report.problems.len() > 1 {
            let _ = writeln!(out, "{} problems in all:", report.problems.len());
            for problem in &report.problems {
                let _ = writeln!(out, "  {problem}");
            }
        }
        return out;
    }
    if coverage.chain_only {
        let _ = writeln!(
            out,
            "CHAIN ONLY: no signed checkpoint, so only the hash chain of {} records was checked; \
             nothing proves this is the history that was published",
            report.records
        );
    } else {
        let _ = writeln!(
            out,
            "OK: {} records ({} bytes, chain at {:.0} MB/s, replay at {:.0} events/s); every checksum, \
             hash and chain link holds, and the first {} are signed",
            report.records,
            report.bytes,
            report.chain_mb_per_s,
            report.replay_events_per_s,
            coverage.signed_size
        );
    }
    if let Some(witnesses) = &report.witnesses {
        let names: Vec<&str> = witnesses
            .cosigned
            .iter()
            .map(|by| by.witness.as_str())
            .collect();
        let _ = writeln!(
            out,
            "witnesses:       {} of {} needed cosign the checkpoint: {}",
            witnesses.cosigned.len(),
            witnesses.needed,
            names.join(", ")
        );
    }
    let _ = writeln!(out, "head hash:       {}", report.last_hash);
    let _ = writeln!(out, "merkle root:     {}", report.merkle_root);
    match &report.checkpoint {
        Some(checkpoint) => {
            let _ = writeln!(
                out,
                "checkpoint:      size {}, signature valid, root matches, balances {}",
                checkpoint.size,
                match checkpoint.balances_match {
                    Some(true) => "match the replay",
                    Some(false) => "DIFFER",
                    None => "not published",
                }
            );
        }
        None => {
            let _ = writeln!(out, "checkpoint:      none (only the chain was checked)");
        }
    }
    if let Some(since) = &report.since {
        let _ = writeln!(
            out,
            "since:           consistent with the checkpoint saved at size {}",
            since.size
        );
    }
    if let Some(published) = &report.published_balances {
        let _ = writeln!(
            out,
            "published funds: {} funds at size {} match the replay",
            published.funds, published.size
        );
    }
    let _ = writeln!(
        out,
        "balances digest: {} (trial balance {} fen)",
        report.balances_digest, report.trial_balance_fen
    );
    if let Some(flows) = &report.flows {
        let _ = writeln!(
            out,
            "flows:           {} gifts, {} outflows, {} allocations recomputed; each adds up, no restriction crossed",
            flows.incomes, flows.outflows, flows.allocations
        );
    }
    let _ = writeln!(out, "verifier key:    from {}", report.key_from);
    for note in &report.notes {
        let _ = writeln!(out, "note:            {note}");
    }
    out
}

/// The fund balances exactly as the server's `funds` query renders them: the
/// projection's fund views, serialised.
pub(crate) fn funds_json(projections: &Projections) -> serde_json::Value {
    serde_json::to_value(projections.fund_balances()).expect("fund views serialise")
}

/// The first fund whose published entry differs from the replayed one, as
/// "fund ID: FIELD published X, replayed Y"; None when all agree.
pub fn first_fund_mismatch(
    published: &serde_json::Value,
    replayed: &serde_json::Value,
) -> Option<String> {
    let (Some(published), Some(replayed)) = (published.as_array(), replayed.as_array()) else {
        return Some("the published funds are not a list".to_owned());
    };
    let id_of = |fund: &serde_json::Value| fund["fund_id"].as_str().unwrap_or("?").to_owned();
    for replayed_fund in replayed {
        let id = id_of(replayed_fund);
        let Some(published_fund) = published.iter().find(|fund| id_of(fund) == id) else {
            return Some(format!("fund {id}: in the log but not published"));
        };
        if published_fund == replayed_fund {
            continue;
        }
        let (Some(published_fields), Some(replayed_fields)) =
            (published_fund.as_object(), replayed_fund.as_object())
        else {
            return Some(format!("fund {id}: published entry is not an object"));
        };
        let mut fields: Vec<&String> = published_fields
            .keys()
            .chain(replayed_fields.keys())
            .collect();
        fields.sort();
        fields.dedup();
        let field = fields
            .into_iter()
            .find(|field| published_fields.get(*field) != replayed_fields.get(*field))
            .expect("unequal objects differ in some field");
        let show = |value: Option<&serde_json::Value>| {
            value.map_or_else(|| "nothing".to_owned(), serde_json::Value::to_string)
        };
        return Some(format!(
            "fund {id}: {field} published {}, replayed {}",
            show(published_fields.get(field)),
            show(replayed_fields.get(field))
        ));
    }
    published
        .iter()
        .find(|fund| {
            !replayed
                .iter()
                .any(|replayed| id_of(replayed) == id_of(fund))
        })
        .map(|fund| format!("fund {}: published but not in the log", id_of(fund)))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |metadata| metadata.len())
}

pub(crate) fn segment_files(log_dir: &Path) -> anyhow::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in
        std::fs::read_dir(log_dir).with_context(|| format!("reading {}", log_dir.display()))?
    {
        let entry = entry?;
        if let Some(first_seq) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Writes a self-contained bundle: the records of the log's segments
/// (`extents`: each segment cut at its last record, so no reserved zeros or
/// torn tail), a checkpoint note signed over them and its verifier key,
/// which `mingzhang verify PATH` checks with no server. Reads `data_dir`
/// only; returns the bytes of records copied.
pub fn export(
    data_dir: &Path,
    out: &Path,
    extents: &[SegmentExtent],
    checkpoint_note: &str,
    verifier_key: &str,
) -> anyhow::Result<u64> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", out.display());
    }
    let log_out = out.join("log");
    std::fs::create_dir_all(&log_out)?;
    let mut bytes = 0;
    for extent in extents {
        let from = data_dir.join("log").join(&extent.name);
        let source =
            std::fs::File::open(&from).with_context(|| format!("reading {}", from.display()))?;
        let mut target = std::fs::File::create(log_out.join(&extent.name))?;
        let copied = std::io::copy(
            &mut std::io::Read::take(source, extent.records_end),
            &mut target,
        )?;
        anyhow::ensure!(
            copied == extent.records_end,
            "{} ended at {copied} bytes, before its last record at {}",
            from.display(),
            extent.records_end
        );
        bytes += copied - SEGMENT_HEADER_LEN as u64;
    }
    std::fs::write(out.join("checkpoint.note"), checkpoint_note)?;
    std::fs::write(out.join("checkpoint.pub"), format!("{verifier_key}\n"))?;
    std::fs::write(
        out.join("README.txt"),
        "明账 Mingzhang audit bundle\n\nlog/             the hash-chained log (docs/log-format.md)\ncheckpoint.note  a checkpoint signed over the whole log at export (docs/proofs.md)\ncheckpoint.pub   the verifier key that signed it\n\nCheck it with: mingzhang verify <this directory>\n",
    )?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::{first_fund_mismatch, segment_files};
    use crate::replay_pass::{RecordCheck, for_each_record};
    use mingzhang_ledger::store::{EventStore, FileLog, FileLogOptions};
    use serde_json::json;

    #[test]
    fn records_are_read_in_order_across_segments_up_to_a_torn_last_record() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("log");
        let options = FileLogOptions {
            segment_bytes_max: 1000,
            reserve_bytes: 4096,
            ..FileLogOptions::default()
        };
        let (log, _) = FileLog::open(&dir, options).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for seq in 0..40u64 {
            let payload = format!("payload {seq}").into_bytes();
            runtime.block_on(log.append(seq, vec![payload])).unwrap();
        }
        log.close().unwrap();
        let segments = segment_files(&dir).unwrap();
        assert!(segments.len() > 3, "the log spans several segments");
        let seqs_read = || {
            let mut seqs = Vec::new();
            for_each_record(&dir, RecordCheck::FramingAndCrc, |record| {
                seqs.push(record.seq());
                true
            })
            .unwrap();
            seqs
        };
        assert_eq!(seqs_read(), (0..40).collect::<Vec<u64>>());

        let mut visited = 0;
        for_each_record(&dir, RecordCheck::FramingAndCrc, |_| {
            visited += 1;
            visited < 5
        })
        .unwrap();
        assert_eq!(visited, 5, "stops when told to");

        let (_, last) = segments.last().unwrap();
        let bytes = std::fs::read(last).unwrap();
        let records_end = bytes.iter().rposition(|&byte| byte != 0).unwrap() + 1;
        std::fs::write(last, &bytes[..records_end - 3]).unwrap();
        assert_eq!(seqs_read(), (0..39).collect::<Vec<u64>>());
    }

    fn fund(id: &str, available_fen: i64) -> serde_json::Value {
        json!({"fund_id": id, "name": id, "available_fen": available_fen, "total_held_fen": available_fen})
    }

    #[test]
    fn published_funds_equal_to_the_replay_show_no_mismatch() {
        let funds = json!([fund("charity", 500), fund("special", 0)]);
        assert_eq!(first_fund_mismatch(&funds, &funds), None);
    }

    #[test]
    fn the_first_differing_fund_and_field_are_named() {
        let replayed = json!([fund("charity", 500), fund("special", 7)]);
        let published = json!([fund("charity", 500), fund("special", 8)]);
        assert_eq!(
            first_fund_mismatch(&published, &replayed).as_deref(),
            Some("fund special: available_fen published 8, replayed 7")
        );
    }

    #[test]
    fn a_fund_missing_from_either_side_is_named() {
        let replayed = json!([fund("charity", 500), fund("special", 7)]);
        let published = json!([fund("charity", 500)]);
        assert_eq!(
            first_fund_mismatch(&published, &replayed).as_deref(),
            Some("fund special: in the log but not published")
        );
        assert_eq!(
            first_fund_mismatch(&replayed, &published).as_deref(),
            Some("fund special: published but not in the log")
        );
        assert_eq!(
            first_fund_mismatch(&json!({"funds": []}), &published).as_deref(),
            Some("the published funds are not a list")
        );
    }
}
