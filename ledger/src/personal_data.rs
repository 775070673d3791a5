//! Salted commitments to personal data (PIPL Article 47): an individual's
//! name is kept out of the hashed record, which carries
//!
//! ```text
//! SHA-256("mingzhang/v1/personal-data" || 0x00 || subject_id || 0x00 || salt || value)
//! ```
//!
//! instead (docs/proofs.md, "Personal data"). `subject_id` binds the
//! commitment to one record (a donor id, or an expenditure id for a payee):
//! ids never contain 0x00 and the salt is always 32 bytes, so the encoding
//! is unambiguous. The 32 random bytes of salt make a guessed name
//! uncheckable against the commitment once the salt is destroyed.
//!
//! Pure functions: drawing the salt and storing it is the API's side store.

mod in_clear;

pub use in_clear::{
    PersonalDataInClear, first_record_with_personal_data_in_clear, personal_data_in_clear,
};
use sha2::{Digest, Sha256};

/// Bytes of salt per commitment.
pub const SALT_LEN: usize = 32;
/// Bytes of a commitment (a SHA-256 digest).
pub const COMMITMENT_LEN: usize = 32;
/// Separates these hashes from every other SHA-256 the project computes.
pub const COMMITMENT_DOMAIN: &[u8] = b"mingzhang/v1/personal-data";

pub type Salt = [u8; SALT_LEN];
pub type Commitment = [u8; COMMITMENT_LEN];

/// The commitment to `value` (a name, in UTF-8) for `subject_id` under `salt`.
pub fn commitment(subject_id: &str, salt: &Salt, value: &str) -> Commitment {
    assert!(
        !subject_id.as_bytes().contains(&0),
        "ids never hold 0x00 (decide checks them)"
    );
    let mut hasher = Sha256::new();
    hasher.update(COMMITMENT_DOMAIN);
    hasher.update([0u8]);
    hasher.update(subject_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(salt);
    hasher.update(value.as_bytes());
    hasher.finalize().into()
}

/// Whether `value` and `salt` open `recorded` for `subject_id`: what a
/// holder of the clear value checks.
pub fn opens(subject_id: &str, salt: &Salt, value: &str, recorded: &[u8]) -> bool {
    recorded.len() == COMMITMENT_LEN && commitment(subject_id, salt, value)[..] == *recorded
}

/// What every surface shows in place of an erased person's name.
pub const ERASED_NAME: &str = "已删除 erased";

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of docs/proofs.md ("Personal data"); a verifier in
    /// another language checks its implementation against these bytes.
    #[test]
    fn commitment_matches_the_documented_vector() {
        let salt: Salt = std::array::from_fn(|index| index as u8);
        let digest = commitment("resident-wang", &salt, "王丽华");
        assert_eq!(
            hex(&digest),
            "0b5f5f893a9673026c897f8348f90e9f53bbc43add0dd13d32fde83dc5d400e4"
        );
        assert!(opens("resident-wang", &salt, "王丽华", &digest));
    }

    #[test]
    fn another_name_salt_or_subject_does_not_open_a_commitment() {
        let salt: Salt = [7; SALT_LEN];
        let digest = commitment("resident-wang", &salt, "王丽华");
        assert!(!opens("resident-wang", &salt, "王丽", &digest));
        assert!(!opens("resident-wan", &salt, "王丽华", &digest));
        assert!(!opens("resident-wang", &[8; SALT_LEN], "王丽华", &digest));
        assert!(!opens("resident-wang", &salt, "王丽华", &digest[..31]));
        for bit in 0..COMMITMENT_LEN * 8 {
            let mut flipped = digest;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!opens("resident-wang", &salt, "王丽华", &flipped));
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}
