//! Roles, bearer tokens and who may issue which command.
//!
//! Tokens are `mz_<64 hex>`; only their SHA-256 is stored, in
//! `<data-dir>/tokens.json`, which `mingzhang token ...` edits and a running
//! server re-reads when it changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mingzhang_proto::v1::event_envelope::Event;
use parking_lot::RwLock;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::LedgerPrincipal;
use crate::error::AppError;

pub const TOKEN_PREFIX: &str = "mz_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Sponsor,
    Organisation,
    Auditor,
}

/// Who is calling, after the token was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator {
        token_id: String,
    },
    Sponsor {
        token_id: String,
        donor_id: String,
    },
    Organisation {
        token_id: String,
        organisation_id: String,
    },
    Auditor {
        token_id: String,
    },
    Public,
}

impl Principal {
    /// The envelope's `actor`: role and binding, never the secret.
    pub fn actor(&self) -> String {
        match self {
            Principal::Operator { token_id } => format!("operator:{token_id}"),
            Principal::Sponsor { donor_id, .. } => format!("sponsor:{donor_id}"),
            Principal::Organisation {
                organisation_id, ..
            } => format!("organisation:{organisation_id}"),
            Principal::Auditor { token_id } => format!("auditor:{token_id}"),
            Principal::Public => "public".to_owned(),
        }
    }

    pub fn role_name(&self) -> &'static str {
        match self {
            Principal::Operator { .. } => "operator",
            Principal::Sponsor { .. } => "sponsor",
            Principal::Organisation { .. } => "organisation",
            Principal::Auditor { .. } => "auditor",
            Principal::Public => "public",
        }
    }

    /// Sees donor identities, raw records and every statement.
    pub fn reads_everything(&self) -> bool {
        matches!(self, Principal::Operator { .. } | Principal::Auditor { .. })
    }

    pub fn require_full_reader(&self, what: &str) -> Result<(), AppError> {
        match self {
            Principal::Public => Err(AppError::Unauthenticated(format!(
                "{what} needs an operator or auditor token"
            ))),
            principal if principal.reads_everything() => Ok(()),
            principal => Err(AppError::Forbidden {
                rule: "role_may_not_read",
                detail: format!(
                    "a {} token may not read {what}; operator or auditor only",
                    principal.role_name()
                ),
            }),
        }
    }

    pub fn require_operator(&self, what: &str) -> Result<(), AppError> {
        match self {
            Principal::Operator { .. } => Ok(()),
            Principal::Public => Err(AppError::Unauthenticated(format!(
                "{what} needs an operator token"
            ))),
            principal => Err(AppError::Forbidden {
                rule: "operator_only",
                detail: format!(
                    "{what} is for operators; a {} token may not",
                    principal.role_name()
                ),
            }),
        }
    }
}

/// Commands a sponsor token may issue (for its own donor: `decide_as`).
const SPONSOR_COMMANDS: [&str; 6] = [
    "DonationReceived",
    "PledgeMade",
    "PledgePaymentReceived",
    "ProjectClaimed",
    "ProjectClaimReleased",
    "ProjectFunded",
];
/// Commands an organisation token may issue (for itself: `decide_as`).
const ORGANISATION_COMMANDS: [&str; 2] = ["GrantApplicationSubmitted", "GrantSelfAssessmentFiled"];

/// The order every write is checked in, on HTTP and gRPC alike: who is
/// calling (401), whether that role may issue this kind of command (403),
/// then the body's shape (400/413/415/422), then the donor or organisation
/// it acts for (403, in `decide_as`, before any rule), then the rules
/// (404/409/422). This is the first two steps: it needs only the kind of
/// command, so a role refused is refused whatever its body holds.
pub fn authorize_command_kind(
    principal: &Principal,
    kind: &'static str,
) -> Result<LedgerPrincipal, AppError> {
    let refused = |role: &str, may: &str| AppError::Forbidden {
        rule: "role_may_not_issue",
        detail: format!("a {role} token may not record {kind}; it may {may}"),
    };
    match principal {
        Principal::Operator { .. } => Ok(LedgerPrincipal::Operator),
        Principal::Sponsor { donor_id, .. } if SPONSOR_COMMANDS.contains(&kind) => {
            Ok(LedgerPrincipal::Donor(donor_id.clone()))
        }
        Principal::Sponsor { .. } => Err(refused(
            "sponsor",
            "give, pledge, pay its pledges and claim, release and fund projects",
        )),
        Principal::Organisation {
            organisation_id, ..
        } if ORGANISATION_COMMANDS.contains(&kind) => {
            Ok(LedgerPrincipal::Organisation(organisation_id.clone()))
        }
        Principal::Organisation { .. } => Err(refused(
            "organisation",
            "apply for grants and file self-assessments",
        )),
        Principal::Public => Err(AppError::Unauthenticated(format!(
            "recording {kind} needs a bearer token"
        ))),
        Principal::Auditor { .. } => Err(AppError::Forbidden {
            rule: "auditor_read_only",
            detail: format!("auditors read; they may not record {kind}"),
        }),
    }
}

/// `authorize_command_kind` for a command already read.
pub fn authorize_command(
    principal: &Principal,
    command: &Event,
) -> Result<LedgerPrincipal, AppError> {
    authorize_command_kind(principal, event_name(command))
}

pub fn event_name(event: &Event) -> &'static str {
    match event {
        Event::FundOpened(_) => "FundOpened",
        Event::CampaignOpened(_) => "CampaignOpened",
        Event::DonorRegistered(_) => "DonorRegistered",
        Event::OrganisationRegistered(_) => "OrganisationRegistered",
        Event::DonationReceived(_) => "DonationReceived",
        Event::DonationRefunded(_) => "DonationRefunded",
        Event::DonationReversed(_) => "DonationReversed",
        Event::PledgeMade(_) => "PledgeMade",
        Event::PledgePaymentReceived(_) => "PledgePaymentReceived",
        Event::PledgeAmended(_) => "PledgeAmended",
        Event::PledgeCancelled(_) => "PledgeCancelled",
        Event::GrantRoundOpened(_) => "GrantRoundOpened",
        Event::GrantApplicationSubmitted(_) => "GrantApplicationSubmitted",
        Event::GrantApplicationReviewed(_) => "GrantApplicationReviewed",
        Event::GrantApplicationShortlisted(_) => "GrantApplicationShortlisted",
        Event::GrantAwarded(_) => "GrantAwarded",
        Event::GrantTrancheDisbursed(_) => "GrantTrancheDisbursed",
        Event::GrantEvaluationRecorded(_) => "GrantEvaluationRecorded",
        Event::GrantSelfAssessmentFiled(_) => "GrantSelfAssessmentFiled",
        Event::GrantClosed(_) => "GrantClosed",
        Event::ProjectPublished(_) => "ProjectPublished",
        Event::ProjectClaimed(_) => "ProjectClaimed",
        Event::ProjectClaimReleased(_) => "ProjectClaimReleased",
        Event::ProjectFunded(_) => "ProjectFunded",
        Event::ProjectCompleted(_) => "ProjectCompleted",
        Event::ExpenditureMade(_) => "ExpenditureMade",
        Event::ExpenditureReversed(_) => "ExpenditureReversed",
        Event::PersonalDataErased(_) => "PersonalDataErased",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenEntry {
    pub id: String,
    /// Hex SHA-256 of the whole token string.
    pub sha256: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub donor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<String>,
    pub created_at_unix_ms: i64,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokenFile {
    pub tokens: Vec<TokenEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub fn token_file_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tokens.json")
}

pub fn load_tokens(path: &Path) -> Result<TokenFile, TokenError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| TokenError::Parse {
            path: path.to_owned(),
            source,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
        Err(source) => Err(TokenError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes atomically (temp file, fsync, rename) so a server never reads half a file.
pub fn save_tokens(path: &Path, file: &TokenFile) -> Result<(), TokenError> {
    use std::io::Write;
    let io = |source| TokenError::Io {
        path: path.to_owned(),
        source,
    };
    let temp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(file).expect("token file serialises");
    let mut handle = std::fs::File::create(&temp).map_err(io)?;
    handle.write_all(&bytes).map_err(io)?;
    handle.sync_all().map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)?;
    Ok(())
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token; returns the entry and the secret, which is shown once.
pub fn create_token(
    file: &mut TokenFile,
    role: Role,
    donor_id: Option<String>,
    organisation_id: Option<String>,
    now_unix_ms: i64,
) -> Result<(TokenEntry, String), TokenError> {
    match (role, &donor_id, &organisation_id) {
        (Role::Sponsor, Some(_), None) | (Role::Organisation, None, Some(_)) => {}
        (Role::Operator | Role::Auditor, None, None) => {}
        (Role::Sponsor, _, _) => {
            return Err(TokenError::Invalid(
                "a sponsor token needs --donor ID (and no --organisation)".into(),
            ));
        }
        (Role::Organisation, _, _) => {
            return Err(TokenError::Invalid(
                "an organisation token needs --organisation ID (and no --donor)".into(),
            ));
        }
        _ => {
            return Err(TokenError::Invalid(
                "operator and auditor tokens are bound to no donor or organisation".into(),
            ));
        }
    }
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let mut id_bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut id_bytes);
    let entry = TokenEntry {
        id: format!("tok_{}", hex::encode(id_bytes)),
        sha256: hash_token(&token),
        role,
        donor_id,
        organisation_id,
        created_at_unix_ms: now_unix_ms,
        revoked: false,
    };
    file.tokens.push(entry.clone());
    Ok((entry, token))
}

/// Which version of tokens.json is on disk. `save_tokens` renames a new file
/// into place, so the inode changes with every save even where two saves
/// fall within one tick of the coarse modification clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    modified: Option<SystemTime>,
    len: u64,
}

fn file_stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        inode: metadata.ino(),
        modified: metadata.modified().ok(),
        len: metadata.len(),
    })
}

/// The server's view of tokens.json, re-read whenever the file changes.
pub struct TokenRegistry {
    path: PathBuf,
    cached: RwLock<(Option<FileStamp>, TokenFile)>,
}

impl TokenRegistry {
    pub fn open(path: PathBuf) -> Result<TokenRegistry, TokenError> {
        let stamp = file_stamp(&path);
        let file = load_tokens(&path)?;
        Ok(TokenRegistry {
            path,
            cached: RwLock::new((stamp, file)),
        })
    }

    /// One `stat` per request, so a revocation holds from the next request on.
    fn refresh(&self) {
        let stamp = file_stamp(&self.path);
        if self.cached.read().0 == stamp {
            return;
        }
        match load_tokens(&self.path) {
            Ok(file) => *self.cached.write() = (stamp, file),
            Err(error) => {
                tracing::error!(%error, "token file unreadable; keeping the last good one")
            }
        }
    }

    /// Whether the token with this id is known and not revoked: a session
    /// made with it lasts only as long as it does.
    pub fn is_active(&self, token_id: &str) -> bool {
        self.refresh();
        self.cached
            .read()
            .1
            .tokens
            .iter()
            .any(|entry| entry.id == token_id && !entry.revoked)
    }

    /// Resolves an `Authorization` header value (None = no header = public).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AppError> {
        let Some(value) = authorization else {
            return Ok(Principal::Public);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::Unauthenticated("Authorization must be `Bearer mz_...`".into())
            })?
            .trim();
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(AppError::Unauthenticated(
                "bearer token is not a Mingzhang token (mz_...)".into(),
            ));
        }
        self.refresh();
        let digest = hash_token(token);
        let cached = self.cached.read();
        let entry = cached
            .1
            .tokens
            .iter()
            .find(|entry| entry.sha256 == digest)
            .ok_or_else(|| AppError::Unauthenticated("unknown bearer token".into()))?;
        if entry.revoked {
            return Err(AppError::Unauthenticated(format!(
                "token {} has been revoked",
                entry.id
            )));
        }
        let token_id = entry.id.clone();
        Ok(match entry.role {
            Role::Operator => Principal::Operator { token_id },
            Role::Auditor => Principal::Auditor { token_id },
            Role::Sponsor => Principal::Sponsor {
                token_id,
                donor_id: entry.donor_id.clone().expect("sponsor token has a donor"),
            },
            Role::Organisation => Principal::Organisation {
                token_id,
                organisation_id: entry
                    .organisation_id
                    .clone()
                    .expect("organisation token has an organisation"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mingzhang_proto::v1 as pb;

    fn sponsor(donor: &str) -> Principal {
        Principal::Sponsor {
            token_id: "t".into(),
            donor_id: donor.into(),
        }
    }

    #[test]
    fn public_and_auditors_never_write_and_bound_tokens_act_for_their_binding() {
        let claim = Event::ProjectClaimed(pb::ProjectClaimed {
            project_id: "p".into(),
            sponsor_id: "d1".into(),
        });
        assert_eq!(
            authorize_command(&sponsor("d1"), &claim).unwrap(),
            LedgerPrincipal::Donor("d1".into())
        );
        assert!(matches!(
            authorize_command(&Principal::Public, &claim),
            Err(AppError::Unauthenticated(_))
        ));
        let auditor = Principal::Auditor {
            token_id: "t".into(),
        };
        assert!(matches!(
            authorize_command(&auditor, &claim),
            Err(AppError::Forbidden { .. })
        ));
    }

    #[test]
    fn created_token_authenticates_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file_path(dir.path());
        let mut file = TokenFile::default();
        let (entry, token) =
            create_token(&mut file, Role::Sponsor, Some("d1".into()), None, 0).unwrap();
        save_tokens(&path, &file).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains(&token));
        let registry = TokenRegistry::open(path.clone()).unwrap();
        assert_eq!(
            registry
                .authenticate(Some(&format!("Bearer {token}")))
                .unwrap(),
            sponsor("d1").with_token_id(&entry.id)
        );
        assert!(registry.authenticate(Some("Bearer mz_nope")).is_err());
        file.tokens[0].revoked = true;
        save_tokens(&path, &file).unwrap();
        assert!(matches!(
            registry.authenticate(Some(&format!("Bearer {token}"))),
            Err(AppError::Unauthenticated(_))
        ));
    }

    /// Saves quicker than the file system's modification clock ticks, and of
    /// the same length, are each seen by the next request.
    #[test]
    fn every_quick_rewrite_of_the_token_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file_path(dir.path());
        let mut file = TokenFile::default();
        let (_, first) = create_token(&mut file, Role::Auditor, None, None, 0).unwrap();
        let (_, second) = create_token(&mut file, Role::Auditor, None, None, 0).unwrap();
        save_tokens(&path, &file).unwrap();
        let registry = TokenRegistry::open(path.clone()).unwrap();
        for round in 0..50 {
            // Swapping which one is revoked keeps the file's length.
            let revoked_first = round % 2 == 0;
            file.tokens[0].revoked = revoked_first;
            file.tokens[1].revoked = !revoked_first;
            save_tokens(&path, &file).unwrap();
            let accepted = |token: &str| {
                registry
                    .authenticate(Some(&format!("Bearer {token}")))
                    .is_ok()
            };
            assert_eq!(
                (accepted(&first), accepted(&second)),
                (!revoked_first, revoked_first),
                "round {round}"
            );
        }
    }

    impl Principal {
        fn with_token_id(self, id: &str) -> Principal {
            match self {
                Principal::Sponsor { donor_id, .. } => Principal::Sponsor {
                    token_id: id.into(),
                    donor_id,
                },
                other => other,
            }
        }
    }
}
