//! `mingzhang verify URL`: audits a running server with exactly the checks
//! `audit::verify` runs on a bundle. It downloads what the server publishes
//! (records by range, the latest checkpoint, the public key unless `--key`
//! names one, and the fund balances with the log size they reflect), writes
//! the records into a temporary bundle byte for byte as the server stores
//! them, and audits that bundle; the published balances are compared with
//! the replayed ones at the size the server says they reflect.
//!
//! The records API gives each record's `seq`, `prev_hash` and `payload_hex`;
//! those determine the stored bytes (`docs/log-format.md`), so the bundle is
//! rebuilt with `StoredRecord::encode` and each served `hash` is checked
//! against the hash of the rebuilt bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mingzhang_ledger::record::{Hash, StoredRecord};
use mingzhang_ledger::store::file::{encode_segment_header, segment_file_name};
use serde::Deserialize;

use crate::verify::{AuditInputs, PublishedFunds, SourceKind};

/// The response header in which a server says how many log records an
/// answer reflects.
pub const APPLIED_LEN_HEADER: &str = "mingzhang-applied-len";

/// Records asked for per page: the records API's maximum.
pub const DOWNLOAD_PAGE_RECORDS_MAX: u64 = 1000;

pub fn is_url(path: &str) -> bool {
    path.starts_with("http://") || path.starts_with("https://")
}

/// A server's published state, downloaded into a temporary bundle; the
/// bundle is deleted when this is dropped.
pub struct Downloaded {
    pub inputs: AuditInputs,
    pub records: u64,
    pub(crate) _bundle: tempfile::TempDir,
}

#[derive(Deserialize)]
struct RecordsPage {
    log_len: u64,
    records: Vec<ServedRecord>,
}

#[derive(Deserialize)]
struct ServedRecord {
    seq: u64,
    hash: String,
    prev_hash: String,
    payload_hex: String,
}

struct Server {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

type Response = ureq::http::Response<ureq::Body>;

impl Server {
    fn get(&self, path: &str) -> anyhow::Result<Response> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.call().with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if status == ureq::http::StatusCode::UNAUTHORIZED
            || status == ureq::http::StatusCode::FORBIDDEN
        {
            bail!(
                "GET {url}: {status}: raw records need an auditor or operator token (--token or MINGZHANG_TOKEN)"
            );
        }
        if !status.is_success() {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            bail!("GET {url}: {status}: {body}");
        }
        Ok(response)
    }

    fn text(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.get(path)?.body_mut().read_to_string()?)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let mut response = self.get(path)?;
        let body = response
            .body_mut()
            .with_config()
            .limit(RESPONSE_BYTES_MAX)
            .read_to_vec()?;
        serde_json::from_slice(&body).with_context(|| format!("GET {path}: unexpected JSON"))
    }
}

/// A page of 1000 records with their JSON envelopes stays far below this.
const RESPONSE_BYTES_MAX: u64 = 256 << 20;

/// Downloads the server at `url` into a temporary bundle. `progress` is
/// called with (records downloaded, records to download).
pub fn download(
    url: &str,
    token: Option<&str>,
    key_file: Option<&Path>,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Downloaded> {
    assert!(is_url(url), "download is called with a URL");
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let server = Server {
        agent: ureq::Agent::new_with_config(config),
        base: url.trim_end_matches('/').to_owned(),
        token: token.map(str::to_owned),
    };

    // The balances first: the records needed to replay them are durable by
    // then, so the download below can always reach their size.
    let mut funds_response = server.get("/v1/funds")?;
    let funds_size = funds_response
        .headers()
        .get(APPLIED_LEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .with_context(|| {
            format!("{url}/v1/funds does not say which log size it reflects ({APPLIED_LEN_HEADER})")
        })?;
    let funds: serde_json::Value = funds_response
        .body_mut()
        .read_json()
        .context("the published funds are not JSON")?;
    let checkpoint_note = server.text("/v1/checkpoint")?;
    // The note's second line is its size; an unreadable one is left for the
    // audit to report when it opens the note.
    let checkpoint_size = checkpoint_note
        .lines()
        .nth(1)
        .and_then(|line| line.parse::<u64>().ok())
        .unwrap_or(0);
    let (verifier_key, key_from) = match key_file {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            format!("--key {}", path.display()),
        ),
        None => (
            server.text("/v1/public-key")?,
            format!(
                "{url}/v1/public-key: the server's own key, only as trustworthy as the server (pass --key with a key obtained elsewhere)"
            ),
        ),
    };

    let mut bundle = BundleWriter::create()?;

    let wanted = funds_size.max(checkpoint_size);
    let mut source_problems = Vec::new();
    let mut hash_mismatch_seen = false;
    let mut next_seq = 0u64;
    while next_seq < wanted {
        let limit = (wanted - next_seq).min(DOWNLOAD_PAGE_RECORDS_MAX);
        let page: RecordsPage = server
            .json(&format!("/v1/records?from={next_seq}&limit={limit}"))
            .with_context(|| format!("records from {next_seq}: not a records page"))?;
        if page.records.is_empty() {
            // Fewer records than the server's own checkpoint or balances
            // cover: the audit reports it against the records there are.
            source_problems.push(format!(
                "the server lists {} records (log_len {}) but its checkpoint or balances cover {wanted}",
                next_seq, page.log_len
            ));
            break;
        }
        assert!(
            page.records.len() as u64 <= limit,
            "server sent more than asked"
        );
        for served in &page.records {
            if served.seq != next_seq {
                bail!(
                    "records from {next_seq}: the server sent seq {} where {next_seq} belongs",
                    served.seq
                );
            }
            let record = rebuild(served)?;
            let rebuilt_hash = hex::encode(record.hash());
            if rebuilt_hash != served.hash && !hash_mismatch_seen {
                hash_mismatch_seen = true;
                source_problems.push(format!(
                    "record seq {}: the server says its hash is {} but its bytes hash to {rebuilt_hash}",
                    served.seq, served.hash
                ));
            }
            bundle.append(record.bytes())?;
            next_seq += 1;
        }
        progress(next_seq, wanted);
    }
    let (bundle, log_dir) = bundle.finish(&checkpoint_note)?;

    Ok(Downloaded {
        inputs: AuditInputs {
            source: SourceKind::Server,
            log_dir,
            checkpoint_note: Some(checkpoint_note),
            verifier_key: Some(verifier_key.trim().to_owned()),
            key_from,
            published_funds: Some(PublishedFunds {
                at_size: funds_size,
                funds,
            }),
            source_problems,
        },
        records: next_seq,
        _bundle: bundle,
    })
}

/// The stored bytes of a served record: `seq`, `prev_hash` and the payload
/// determine them.
/// A temporary bundle being filled from a download: `log/` with one segment
/// the records are appended to, then `checkpoint.note`.
pub(crate) struct BundleWriter {
    bundle: tempfile::TempDir,
    log_dir: PathBuf,
    segment: std::io::BufWriter<std::fs::File>,
}

impl BundleWriter {
    pub(crate) fn create() -> anyhow::Result<BundleWriter> {
        let bundle = tempfile::tempdir().context("creating a temporary bundle")?;
        let log_dir = bundle.path().join("log");
        std::fs::create_dir_all(&log_dir)?;
        let mut segment = std::io::BufWriter::new(
            std::fs::File::create(log_dir.join(segment_file_name(0)))
                .context("creating the bundle's segment")?,
        );
        segment.write_all(&encode_segment_header(0))?;
        Ok(BundleWriter {
            bundle,
            log_dir,
            segment,
        })
    }

    pub(crate) fn append(&mut self, record_bytes: &[u8]) -> std::io::Result<()> {
        self.segment.write_all(record_bytes)
    }

    /// Syncs the segment and writes `checkpoint_note` beside the log: the
    /// bundle (removed when dropped) and its log directory.
    pub(crate) fn finish(
        self,
        checkpoint_note: &str,
    ) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
        self.segment
            .into_inner()
            .map_err(|error| error.into_error())?
            .sync_all()?;
        std::fs::write(self.bundle.path().join("checkpoint.note"), checkpoint_note)?;
        Ok((self.bundle, self.log_dir))
    }
}

fn rebuild(served: &ServedRecord) -> anyhow::Result<StoredRecord> {
    let prev_hash: Hash = hex::decode(&served.prev_hash)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .with_context(|| format!("record seq {}: prev_hash is not 32 hex bytes", served.seq))?;
    let payload = hex::decode(&served.payload_hex)
        .with_context(|| format!("record seq {}: payload_hex is not hex", served.seq))?;
    if payload.len() > mingzhang_ledger::record::PAYLOAD_LEN_MAX {
        bail!(
            "record seq {}: payload of {} bytes exceeds the record format's maximum",
            served.seq,
            payload.len()
        );
    }
    Ok(StoredRecord::encode(served.seq, &prev_hash, &payload))
}
