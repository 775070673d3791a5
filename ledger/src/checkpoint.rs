//! Signed checkpoints: a C2SP `tlog-checkpoint` body inside a C2SP
//! `signed-note`, signed with Ed25519 exactly as Go's
//! `golang.org/x/mod/sumdb/note` does, so Go's and other C2SP tools verify
//! our notes and we verify theirs. `docs/proofs.md` has the byte-level format.
//!
//! ```text
//! example.org/mingzhang          <- origin: names the log
//! 8                              <- tree size, decimal
//! Xcnaeac...=                    <- root hash, base64 (32 bytes)
//! balances-sha256 ...            <- optional extension lines (opaque here)
//!                                <- blank line ends the signed body
//! — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::record::Hash;

/// Signature algorithm byte of signed-note Ed25519 keys.
pub const ALG_ED25519: u8 = 0x01;
/// Algorithm byte of C2SP tlog-cosignature Ed25519 keys (cosignature/v1):
/// a witness's key id differs from a log key's even for the same key bytes.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Go's note package refuses notes with more signatures than this.
pub const NOTE_SIGNATURES_MAX: usize = 100;
/// Bounds what we will parse; real checkpoints are a few hundred bytes.
pub const NOTE_LEN_MAX: usize = 64 * 1024;
/// Extension lines per checkpoint, also a parse bound.
pub const EXTENSIONS_MAX: usize = 64;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed note: {reason}")]
    MalformedNote { reason: &'static str },
    #[error("malformed checkpoint body: {reason}")]
    MalformedBody { reason: String },
    #[error("origin {origin:?}: {reason}")]
    BadOrigin {
        origin: String,
        reason: &'static str,
    },
    #[error("extension line {line:?}: {reason}")]
    BadExtension { line: String, reason: &'static str },
    #[error("bad key name {name:?}: must be non-empty, without spaces or '+'")]
    BadKeyName { name: String },
    #[error("bad key text: {reason}")]
    BadKey { reason: &'static str },
    #[error("note carries no signature by key {key}")]
    NoSignatureByKey { key: String },
    #[error("signature by key {key} does not verify: the body or signature was altered")]
    InvalidSignature { key: String },
}

/// A log's signed statement of its size and root hash at one moment, plus
/// opaque extension lines (Mingzhang binds the projections' state with one,
/// e.g. `balances-sha256 <base64>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root_hash: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// Checks the fields so that the body is a well-formed checkpoint: the
    /// origin and every extension are one non-empty line without control
    /// characters.
    pub fn new(
        origin: &str,
        size: u64,
        root_hash: Hash,
        extensions: Vec<String>,
    ) -> Result<Checkpoint, CheckpointError> {
        if origin.is_empty() {
            return Err(CheckpointError::BadOrigin {
                origin: origin.into(),
                reason: "must not be empty",
            });
        }
        if origin.chars().any(|c| is_forbidden_in_note(c) || c == '\n') {
            return Err(CheckpointError::BadOrigin {
                origin: origin.into(),
                reason: "must be one line without control characters",
            });
        }
        if extensions.len() > EXTENSIONS_MAX {
            return Err(CheckpointError::MalformedBody {
                reason: format!(
                    "{} extension lines, at most {EXTENSIONS_MAX}",
                    extensions.len()
                ),
            });
        }
        for line in &extensions {
            if line.is_empty() {
                return Err(CheckpointError::BadExtension {
                    line: line.clone(),
                    reason: "must not be empty (a blank line ends the body)",
                });
            }
            if line.chars().any(|c| is_forbidden_in_note(c) || c == '\n') {
                return Err(CheckpointError::BadExtension {
                    line: line.clone(),
                    reason: "must be one line without control characters",
                });
            }
        }
        Ok(Checkpoint {
            origin: origin.into(),
            size,
            root_hash,
            extensions,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root_hash(&self) -> &Hash {
        &self.root_hash
    }

    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note body: the signed bytes.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root_hash)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body (C2SP tlog-checkpoint) without any signature.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = |reason: String| CheckpointError::MalformedBody { reason };
        let Some(without_last_newline) = body.strip_suffix('\n') else {
            return Err(malformed("body must end with a newline".into()));
        };
        let mut lines = without_last_newline.split('\n');
        let origin = lines.next().expect("split yields at least one item");
        let size_text = lines
            .next()
            .ok_or_else(|| malformed("missing tree size line".into()))?;
        let root_text = lines
            .next()
            .ok_or_else(|| malformed("missing root hash line".into()))?;
        let size = parse_size(size_text).ok_or_else(|| {
            malformed(format!(
                "tree size {size_text:?} is not a canonical decimal u64"
            ))
        })?;
        let root_bytes = BASE64
            .decode(root_text)
            .map_err(|_| malformed(format!("root hash {root_text:?} is not base64")))?;
        let root_hash: Hash = root_bytes
            .try_into()
            .map_err(|_| malformed(format!("root hash {root_text:?} is not 32 bytes")))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        Checkpoint::new(origin, size, root_hash, extensions)
    }

    /// The signed note text: body, blank line, one signature line.
    pub fn sign(&self, key: &SignerKey) -> String {
        sign_note(&self.body(), key).expect("a checkpoint body is a valid note text")
    }

    /// Verifies `note` is signed by `key` and parses its checkpoint. Other
    /// signatures (cosigners, witnesses) are ignored.
    pub fn open_signed(note: &str, key: &VerifierKey) -> Result<Checkpoint, CheckpointError> {
        let body = open_note(note, key)?;
        Checkpoint::parse_body(&body)
    }
}

/// "0" or a decimal without leading zeros, as tlog-checkpoint requires.
fn parse_size(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    text.parse().ok()
}

/// signed-note key names: non-empty, no Unicode space, no '+'.
fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(CheckpointError::BadKeyName { name: name.into() });
    }
    Ok(())
}

/// First 4 bytes (big-endian) of SHA-256(name || "\n" || 0x01 || public key).
fn key_id(name: &str, public_key: &VerifyingKey) -> u32 {
    key_id_for(ALG_ED25519, name, public_key)
}

/// First 4 bytes (big-endian) of SHA-256(name || "\n" || alg || public key).
fn key_id_for(alg: u8, name: &str, public_key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([alg]);
    hasher.update(public_key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"))
}

fn parse_key_id(text: &str) -> Result<u32, CheckpointError> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CheckpointError::BadKey {
            reason: "key id must be 8 hex digits",
        });
    }
    u32::from_str_radix(text, 16).map_err(|_| CheckpointError::BadKey {
        reason: "key id must be 8 hex digits",
    })
}

/// `alg || 32 key bytes` in base64, as both key texts carry them.
fn parse_key_material(text: &str) -> Result<[u8; 32], CheckpointError> {
    parse_key_material_for(ALG_ED25519, text)
}

fn parse_key_material_for(alg: u8, text: &str) -> Result<[u8; 32], CheckpointError> {
    let bytes = BASE64.decode(text).map_err(|_| CheckpointError::BadKey {
        reason: "key material is not base64",
    })?;
    if bytes.len() != 33 {
        return Err(CheckpointError::BadKey {
            reason: "key material must be 1 algorithm byte and 32 key bytes",
        });
    }
    if bytes[0] != alg {
        return Err(CheckpointError::BadKey {
            reason: if alg == ALG_ED25519 {
                "unknown algorithm (only 0x01 Ed25519)"
            } else {
                "unknown algorithm (only 0x04 Ed25519 cosignature/v1)"
            },
        });
    }
    Ok(bytes[1..].try_into().expect("32 bytes"))
}

/// The log's signing key. Its text form holds the secret seed: keep it out
/// of logs (Debug prints only the name and id).
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key_id: u32,
    signing_key: SigningKey,
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({}+{:08x})", self.name, self.key_id)
    }
}

impl SignerKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<SignerKey, CheckpointError> {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        SignerKey::from_seed(name, seed)
    }

    /// The key for a known 32-byte Ed25519 seed (tests, key import).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SignerKey, CheckpointError> {
        check_key_name(name)?;
        let signing_key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, &signing_key.verifying_key());
        Ok(SignerKey {
            name: name.into(),
            key_id,
            signing_key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    pub fn from_text(text: &str) -> Result<SignerKey, CheckpointError> {
        let Some(rest) = text.strip_prefix("PRIVATE+KEY+") else {
            return Err(CheckpointError::BadKey {
                reason: "signer key must start with PRIVATE+KEY+",
            });
        };
        let [name, id_text, material] = split_three(rest)?;
        check_key_name(name)?;
        let id = parse_key_id(id_text)?;
        let key = SignerKey::from_seed(name, parse_key_material(material)?)?;
        if key.key_id != id {
            return Err(CheckpointError::BadKey {
                reason: "key id does not match the name and key",
            });
        }
        Ok(key)
    }

    pub fn to_text(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(self.signing_key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            verifying_key: self.signing_key.verifying_key(),
        }
    }
}

/// The public half, published so anyone can check checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    verifying_key: VerifyingKey,
}

impl VerifierKey {
    /// Parses `<name>+<hex id>+<base64(0x01 || public key)>`.
    pub fn from_text(text: &str) -> Result<VerifierKey, CheckpointError> {
        let [name, id_text, material] = split_three(text)?;
        check_key_name(name)?;
        let id = parse_key_id(id_text)?;
        let verifying_key =
            VerifyingKey::from_bytes(&parse_key_material(material)?).map_err(|_| {
                CheckpointError::BadKey {
                    reason: "not a valid Ed25519 public key",
                }
            })?;
        if key_id(name, &verifying_key) != id {
            return Err(CheckpointError::BadKey {
                reason: "key id does not match the name and key",
            });
        }
        Ok(VerifierKey {
            name: name.into(),
            key_id: id,
            verifying_key,
        })
    }

    pub fn to_text(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(self.verifying_key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.key_id)
    }
}

/// Name, id and key material, split at the first two '+' as Go does (base64
/// key material may itself contain '+'). Lowercase-hex ids are what Go
/// writes and what we accept.
fn split_three(text: &str) -> Result<[&str; 3], CheckpointError> {
    let fields: Vec<&str> = text.splitn(3, '+').collect();
    match fields.as_slice() {
        [name, id, material] if id.bytes().all(|b| !b.is_ascii_uppercase()) => {
            Ok([name, id, material])
        }
        _ => Err(CheckpointError::BadKey {
            reason: "expected <name>+<hex id>+<base64 key>",
        }),
    }
}

/// signed-note forbids ASCII control characters other than newline (only
/// those: DEL and C1 controls are allowed text).
fn is_forbidden_in_note(c: char) -> bool {
    c < '\u{20}' && c != '\n'
}

/// A note text must be non-empty and end in a newline. It may contain blank
/// lines: the last blank line of a note is the one that ends the text.
fn check_note_text(text: &str) -> Result<(), CheckpointError> {
    let malformed = |reason| Err(CheckpointError::MalformedNote { reason });
    if text.is_empty() || !text.ends_with('\n') {
        return malformed("text must be non-empty and end with a newline");
    }
    if text.chars().any(is_forbidden_in_note) {
        return malformed("text must not contain control characters");
    }
    Ok(())
}

/// Signs `text` as a C2SP signed note with one signature.
pub fn sign_note(text: &str, key: &SignerKey) -> Result<String, CheckpointError> {
    check_note_text(text)?;
    let signature = key.signing_key.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(68);
    blob.extend_from_slice(&key.key_id.to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!(
        "{text}\n{SIGNATURE_PREFIX}{} {}\n",
        key.name,
        BASE64.encode(blob)
    ))
}

/// Opens a C2SP signed note: checks its syntax as Go's `note.Open` does and
/// that `key` signed it; returns the signed text. Signatures by other keys
/// are allowed and ignored.
pub fn open_note(note: &str, key: &VerifierKey) -> Result<String, CheckpointError> {
    let (text, signatures) = split_note(note)?;
    let mut verified = false;
    for (name, blob) in signatures {
        let id = u32::from_be_bytes(blob[..4].try_into().expect("4 bytes"));
        if name != key.name || id != key.key_id {
            continue;
        }
        let valid = ed25519_dalek::Signature::from_slice(&blob[4..]).is_ok_and(|signature| {
            key.verifying_key
                .verify(text.as_bytes(), &signature)
                .is_ok()
        });
        if !valid {
            return Err(CheckpointError::InvalidSignature { key: key.label() });
        }
        verified = true;
    }
    if !verified {
        return Err(CheckpointError::NoSignatureByKey { key: key.label() });
    }
    Ok(text.to_owned())
}

/// A signature line's key name and its decoded base64 (key id first).
type SignatureLine<'a> = (&'a str, Vec<u8>);

/// A note's signed text and its signature lines as (key name, decoded
/// blob), each blob at least a key id and one byte; checks the syntax as
/// Go's `note.Open` does, and verifies nothing.
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), CheckpointError> {
    let malformed = |reason| Err(CheckpointError::MalformedNote { reason });
    if note.len() > NOTE_LEN_MAX {
        return malformed("note is longer than NOTE_LEN_MAX");
    }
    if note.chars().any(is_forbidden_in_note) {
        return malformed("note must not contain control characters");
    }
    let Some(split) = note.rfind("\n\n") else {
        return malformed("no blank line before the signatures");
    };
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    check_note_text(text)?;
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return malformed("signature block must be non-empty and end with a newline");
    }
    let lines: Vec<&str> = signatures[..signatures.len() - 1].split('\n').collect();
    if lines.len() > NOTE_SIGNATURES_MAX {
        return malformed("more than 100 signatures");
    }
    let mut parsed = Vec::with_capacity(lines.len());
    for line in lines {
        let Some(line) = line.strip_prefix(SIGNATURE_PREFIX) else {
            return malformed("signature line must start with an em dash and a space");
        };
        let Some((name, encoded)) = line.split_once(' ') else {
            return malformed("signature line must be '<name> <base64>'");
        };
        if check_key_name(name).is_err() || encoded.is_empty() {
            return malformed("signature line has a bad key name or no signature");
        }
        let Ok(blob) = BASE64.decode(encoded) else {
            return malformed("signature is not base64");
        };
        if blob.len() < 5 {
            return malformed("signature is shorter than a key id and one byte");
        }
        parsed.push((name, blob));
    }
    Ok((text, parsed))
}

/// The note with `lines` (each `— name base64\n`) added after its
/// signatures, skipping lines it already carries: how a log publishes the
/// cosignatures its witnesses answered.
pub fn add_signature_lines(note: &str, lines: &[String]) -> Result<String, CheckpointError> {
    let (_, existing) = split_note(note)?;
    let mut combined = note.to_owned();
    let mut count = existing.len();
    for line in lines {
        if !line.starts_with(SIGNATURE_PREFIX)
            || !line.ends_with('\n')
            || line[..line.len() - 1].contains('\n')
        {
            return Err(CheckpointError::MalformedNote {
                reason: "a signature line must start with an em dash and end with one newline",
            });
        }
        if combined
            .split_inclusive('\n')
            .any(|present| present == line)
        {
            continue;
        }
        count += 1;
        if count > NOTE_SIGNATURES_MAX {
            return Err(CheckpointError::MalformedNote {
                reason: "more than 100 signatures",
            });
        }
        combined.push_str(line);
    }
    split_note(&combined)?;
    Ok(combined)
}

/// The message a cosignature/v1 signs (C2SP tlog-cosignature): a header
/// line for domain separation, the time, then the checkpoint body.
fn cosigned_message(timestamp: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// Cosignature timestamps are POSIX seconds, non-zero (tlog-witness) and
/// at most 2^63 - 1 (tlog-cosignature).
const COSIGNATURE_TIMESTAMP_MAX: u64 = i64::MAX as u64;

/// A witness's secret key: it cosigns checkpoints with Ed25519
/// cosignature/v1. Debug prints only the name and id.
#[derive(Clone)]
pub struct CosignerKey {
    name: String,
    key_id: u32,
    signing_key: SigningKey,
}

impl std::fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CosignerKey({}+{:08x})", self.name, self.key_id)
    }
}

impl CosignerKey {
    pub fn generate(name: &str) -> Result<CosignerKey, CheckpointError> {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        CosignerKey::from_seed(name, seed)
    }

    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<CosignerKey, CheckpointError> {
        check_key_name(name)?;
        let signing_key = SigningKey::from_bytes(&seed);
        let key_id = key_id_for(ALG_COSIGNATURE_V1, name, &signing_key.verifying_key());
        Ok(CosignerKey {
            name: name.into(),
            key_id,
            signing_key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x04 || seed)>`.
    pub fn from_text(text: &str) -> Result<CosignerKey, CheckpointError> {
        let Some(rest) = text.strip_prefix("PRIVATE+KEY+") else {
            return Err(CheckpointError::BadKey {
                reason: "cosigner key must start with PRIVATE+KEY+",
            });
        };
        let [name, id_text, material] = split_three(rest)?;
        let id = parse_key_id(id_text)?;
        let key =
            CosignerKey::from_seed(name, parse_key_material_for(ALG_COSIGNATURE_V1, material)?)?;
        if key.key_id != id {
            return Err(CheckpointError::BadKey {
                reason: "key id does not match the name and key",
            });
        }
        Ok(key)
    }

    pub fn to_text(&self) -> String {
        let mut material = vec![ALG_COSIGNATURE_V1];
        material.extend_from_slice(self.signing_key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> CosignatureKey {
        CosignatureKey {
            name: self.name.clone(),
            key_id: self.key_id,
            verifying_key: self.signing_key.verifying_key(),
        }
    }

    /// The note signature line (ending in a newline) cosigning `checkpoint`
    /// at `timestamp` (POSIX seconds): base64(key id || 8-byte big-endian
    /// timestamp || Ed25519 signature).
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> String {
        assert!(
            (1..=COSIGNATURE_TIMESTAMP_MAX).contains(&timestamp),
            "cosignature timestamp {timestamp} out of range"
        );
        let message = cosigned_message(timestamp, &checkpoint.body());
        let signature = self.signing_key.sign(message.as_bytes());
        let mut blob = Vec::with_capacity(76);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(blob))
    }
}

/// A witness's public key, `<name>+<hex id>+<base64(0x04 || public key)>`
/// (a C2SP vkey of type 0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureKey {
    name: String,
    key_id: u32,
    verifying_key: VerifyingKey,
}

impl CosignatureKey {
    pub fn from_text(text: &str) -> Result<CosignatureKey, CheckpointError> {
        let [name, id_text, material] = split_three(text)?;
        check_key_name(name)?;
        let id = parse_key_id(id_text)?;
        let verifying_key =
            VerifyingKey::from_bytes(&parse_key_material_for(ALG_COSIGNATURE_V1, material)?)
                .map_err(|_| CheckpointError::BadKey {
                    reason: "not a valid Ed25519 public key",
                })?;
        if key_id_for(ALG_COSIGNATURE_V1, name, &verifying_key) != id {
            return Err(CheckpointError::BadKey {
                reason: "key id does not match the name and key",
            });
        }
        Ok(CosignatureKey {
            name: name.into(),
            key_id: id,
            verifying_key,
        })
    }

    pub fn to_text(&self) -> String {
        let mut material = vec![ALG_COSIGNATURE_V1];
        material.extend_from_slice(self.verifying_key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.key_id)
    }

    /// Finds this witness's cosignature on `note` and checks it; answers
    /// the time it was made (POSIX seconds). Other signatures are ignored.
    pub fn verify_cosignature(&self, note: &str) -> Result<u64, CheckpointError> {
        let (text, signatures) = split_note(note)?;
        let mut timestamp = None;
        for (name, blob) in signatures {
            let id = u32::from_be_bytes(blob[..4].try_into().expect("4 bytes"));
            if name != self.name || id != self.key_id {
                continue;
            }
            if blob.len() != 4 + 8 + 64 {
                return Err(CheckpointError::InvalidSignature { key: self.label() });
            }
            let time = u64::from_be_bytes(blob[4..12].try_into().expect("8 bytes"));
            let message = cosigned_message(time, text);
            let valid = (1..=COSIGNATURE_TIMESTAMP_MAX).contains(&time)
                && ed25519_dalek::Signature::from_slice(&blob[12..]).is_ok_and(|signature| {
                    self.verifying_key
                        .verify(message.as_bytes(), &signature)
                        .is_ok()
                });
            if !valid {
                return Err(CheckpointError::InvalidSignature { key: self.label() });
            }
            timestamp = Some(time);
        }
        timestamp.ok_or_else(|| CheckpointError::NoSignatureByKey { key: self.label() })
    }
}
