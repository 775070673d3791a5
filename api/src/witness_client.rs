//! The log's side of tlog-witness: `serve` submits each new checkpoint to
//! the witnesses its configuration names and adds the cosignatures they
//! answer to the note it publishes. A witness that is down, slow or refuses
//! costs that witness's cosignature, never a write nor the checkpoint.

use std::collections::HashMap;
use std::time::Duration;

use mingzhang_ledger::checkpoint::{Checkpoint, CosignatureKey, add_signature_lines};
use mingzhang_ledger::merkle::Hash;
use parking_lot::Mutex;

use crate::witness::{AddCheckpoint, SIZE_CONTENT_TYPE};

/// Each witness gets this long per request: a checkpoint is not held back
/// longer by a witness that does not answer.
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(3);
/// The first round, and one more after a 409 named the witness's size; a
/// second 409 in a row means another client moves it too (two servers on
/// one origin), and we give up on that witness for this checkpoint.
const CONFLICT_ROUNDS_MAX: usize = 2;
/// Bounds what we read of a witness's answer: a few signature lines.
const ANSWER_LEN_MAX: u64 = 16 * 1024;

/// A `[[witness]]` of the configuration: where it listens, and the key
/// its cosignatures must verify under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessEndpoint {
    pub url: String,
    pub key: CosignatureKey,
}

pub struct WitnessClient {
    endpoints: Vec<WitnessEndpoint>,
    agent: ureq::Agent,
    /// The size each witness (by URL) last cosigned, as far as we know;
    /// starts at 0, and a 409 tells us the real one.
    cosigned_sizes: Mutex<HashMap<String, u64>>,
}

#[derive(Debug)]
enum Outcome {
    Cosigned(String),
    Conflict(u64),
    Refused(String),
}

impl WitnessClient {
    pub fn new(endpoints: Vec<WitnessEndpoint>) -> WitnessClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(WITNESS_TIMEOUT))
            .build();
        WitnessClient {
            endpoints,
            agent: ureq::Agent::new_with_config(config),
            cosigned_sizes: Mutex::new(HashMap::new()),
        }
    }

    pub fn keys(&self) -> Vec<CosignatureKey> {
        self.endpoints
            .iter()
            .map(|endpoint| endpoint.key.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Submits `note` (the operator-signed `checkpoint`) to every witness
    /// at once and returns it with each valid cosignature added.
    /// `consistency_proof(old)` is PROOF(old, D[checkpoint size]), `None`
    /// when there is none (a witness ahead of this log, its data directory
    /// replaced); it is called between requests, never during one.
    pub fn cosign(
        &self,
        consistency_proof: impl Fn(u64) -> Option<Vec<Hash>>,
        checkpoint: &Checkpoint,
        note: &str,
    ) -> String {
        let size = checkpoint.size();
        let proof_from = |old: u64| (old <= size).then(|| consistency_proof(old)).flatten();
        let started = std::time::Instant::now();
        let mut requests: Vec<(&WitnessEndpoint, u64)> = self
            .endpoints
            .iter()
            .map(|endpoint| {
                let old = self
                    .cosigned_sizes
                    .lock()
                    .get(&endpoint.url)
                    .copied()
                    .unwrap_or(0);
                (endpoint, old)
            })
            .collect();
        let mut lines = Vec::new();
        // A 409 names the witness's size: one more round from there.
        for _ in 0..CONFLICT_ROUNDS_MAX {
            let prepared: Vec<_> = requests
                .iter()
                .filter_map(|&(endpoint, old)| {
                    let proof = proof_from(old);
                    if proof.is_none() {
                        tracing::warn!(witness = %endpoint.url, old, size, "the witness is ahead of this log: no consistency proof to give it");
                    }
                    proof.map(|proof| {
                        (endpoint, AddCheckpoint { old_size: old, proof, note: note.to_owned() })
                    })
                })
                .collect();
            let outcomes: Vec<(&WitnessEndpoint, Outcome)> = std::thread::scope(|scope| {
                let handles: Vec<_> = prepared
                    .iter()
                    .map(|(endpoint, request)| {
                        let endpoint = *endpoint;
                        (endpoint, scope.spawn(move || self.post(endpoint, request)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|(endpoint, handle)| {
                        let outcome = handle.join().unwrap_or_else(|_| {
                            Outcome::Refused("the request thread panicked".into())
                        });
                        (endpoint, outcome)
                    })
                    .collect()
            });
            requests.clear();
            for (endpoint, outcome) in outcomes {
                match outcome {
                    Outcome::Cosigned(answer) => match checked_lines(note, &answer, endpoint) {
                        Ok(answered) => {
                            self.cosigned_sizes
                                .lock()
                                .insert(endpoint.url.clone(), size);
                            lines.extend(answered);
                        }
                        Err(reason) => {
                            tracing::warn!(witness = %endpoint.url, reason, "witness answer refused")
                        }
                    },
                    Outcome::Conflict(latest) => {
                        self.cosigned_sizes
                            .lock()
                            .insert(endpoint.url.clone(), latest);
                        requests.push((endpoint, latest));
                    }
                    Outcome::Refused(reason) => {
                        tracing::warn!(witness = %endpoint.url, reason, "no cosignature from this witness")
                    }
                }
            }
            if requests.is_empty() {
                break;
            }
        }
        let cosigned = add_signature_lines(note, &lines).unwrap_or_else(|error| {
            tracing::warn!(%error, "witness cosignatures not added");
            note.to_owned()
        });
        tracing::info!(
            size,
            cosignatures = lines.len(),
            witnesses = self.endpoints.len(),
            latency_ms = started.elapsed().as_millis() as u64,
            "checkpoint submitted to witnesses"
        );
        cosigned
    }

    fn post(&self, endpoint: &WitnessEndpoint, request: &AddCheckpoint) -> Outcome {
        let url = format!("{}/add-checkpoint", endpoint.url.trim_end_matches('/'));
        let mut response = match self.agent.post(&url).send(request.to_body()) {
            Ok(response) => response,
            Err(error) => return Outcome::Refused(format!("unreachable: {error}")),
        };
        let status = response.status().as_u16();
        let is_size = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with(SIZE_CONTENT_TYPE));
        let body = response
            .body_mut()
            .with_config()
            .limit(ANSWER_LEN_MAX)
            .read_to_string()
            .unwrap_or_default();
        match status {
            200 => Outcome::Cosigned(body),
            409 if is_size => match body.strip_suffix('\n').and_then(|size| size.parse().ok()) {
                Some(size) => Outcome::Conflict(size),
                None => Outcome::Refused(format!("409 with a bad size body {body:?}")),
            },
            _ => Outcome::Refused(format!("{status}: {}", body.trim_end())),
        }
    }
}

/// The signature lines of a witness's 200 answer, if its cosignature
/// verifies under the configured key; lines by other keys are dropped.
fn checked_lines(
    note: &str,
    answer: &str,
    endpoint: &WitnessEndpoint,
) -> Result<Vec<String>, String> {
    let prefix = format!("\u{2014} {} ", endpoint.key.name());
    let lines: Vec<String> = answer
        .split_inclusive('\n')
        .filter(|line| line.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    let candidate = add_signature_lines(note, &lines).map_err(|error| error.to_string())?;
    endpoint
        .key
        .verify_cosignature(&candidate)
        .map_err(|error| error.to_string())?;
    Ok(lines)
}
