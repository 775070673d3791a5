//! Server settings: flags > environment > config file > defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::session::SessionSettings;
use crate::witness_client::WitnessEndpoint;

pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";

/// `<data-dir>/config.toml` (or `--config FILE`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub http_addr: Option<String>,
    pub grpc_addr: Option<String>,
    /// How long a browser session lasts, in seconds (default 8 hours).
    pub session_max_age_seconds: Option<u64>,
    /// The server is reached over HTTPS through a TLS-terminating proxy:
    /// session cookies are marked Secure.
    pub behind_tls: Option<bool>,
    /// `[[witness]]` tables: the witnesses each new checkpoint goes to.
    #[serde(default)]
    pub witness: Vec<WitnessSetting>,
}

/// One `[[witness]]`: `url` (its submission prefix, e.g.
/// `http://127.0.0.1:7380`) and `key`, its verifier key text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSetting {
    pub url: String,
    pub key: String,
}

/// Witnesses per server, also a bound on the threads one checkpoint uses.
pub const WITNESSES_MAX: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("witness {index} ({field}): {reason}")]
    BadWitness {
        index: usize,
        field: &'static str,
        reason: String,
    },
    #[error("session_max_age_seconds: must be 1 to {SESSION_MAX_AGE_SECONDS_MAX} seconds, not {0}")]
    BadSessionMaxAge(u64),
    #[error("{setting} {value:?} is not an address such as 127.0.0.1:8080")]
    BadAddr {
        setting: &'static str,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub witnesses: Vec<WitnessEndpoint>,
    pub sessions: SessionSettings,
}

/// Session settings given by flag or environment, which beat the file's.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionFlags {
    pub max_age_seconds: Option<u64>,
    pub behind_tls: Option<bool>,
}

/// A session lasts at most 30 days: longer, a lost laptop stays signed in.
pub const SESSION_MAX_AGE_SECONDS_MAX: u64 = 30 * 24 * 3600;

/// `explicit_file` must exist; the default `<data-dir>/config.toml` may not.
pub fn load_file(explicit_file: Option<&Path>, data_dir: &Path) -> Result<ConfigFile, ConfigError> {
    let (path, required) = match explicit_file {
        Some(path) => (path.to_owned(), true),
        None => (data_dir.join("config.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ConfigFile::default());
        }
        Err(source) => return Err(ConfigError::Io { path, source }),
    };
    toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source })
}

/// `from_flag_or_env` is what clap resolved from the flag or its env var.
pub fn resolve(
    http_from_flag_or_env: Option<String>,
    grpc_from_flag_or_env: Option<String>,
    sessions_from_flag_or_env: SessionFlags,
    file: ConfigFile,
) -> Result<ServeConfig, ConfigError> {
    let max_age_seconds = sessions_from_flag_or_env
        .max_age_seconds
        .or(file.session_max_age_seconds)
        .unwrap_or(SessionSettings::default().max_age.as_secs());
    if !(1..=SESSION_MAX_AGE_SECONDS_MAX).contains(&max_age_seconds) {
        return Err(ConfigError::BadSessionMaxAge(max_age_seconds));
    }
    let sessions = SessionSettings {
        max_age: std::time::Duration::from_secs(max_age_seconds),
        behind_tls: sessions_from_flag_or_env
            .behind_tls
            .or(file.behind_tls)
            .unwrap_or(false),
    };
    let pick = |setting: &'static str, cli: Option<String>, file: Option<String>, default: &str| {
        let value = cli.or(file).unwrap_or_else(|| default.to_owned());
        value
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::BadAddr { setting, value })
    };
    if file.witness.len() > WITNESSES_MAX {
        return Err(ConfigError::BadWitness {
            index: WITNESSES_MAX + 1,
            field: "witness",
            reason: format!("at most {WITNESSES_MAX} witnesses"),
        });
    }
    let witnesses = file
        .witness
        .iter()
        .enumerate()
        .map(|(index, setting)| witness_endpoint(index + 1, setting))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServeConfig {
        witnesses,
        sessions,
        http_addr: pick(
            "http_addr",
            http_from_flag_or_env,
            file.http_addr,
            DEFAULT_HTTP_ADDR,
        )?,
        grpc_addr: pick(
            "grpc_addr",
            grpc_from_flag_or_env,
            file.grpc_addr,
            DEFAULT_GRPC_ADDR,
        )?,
    })
}

/// `index` counts from 1, as a reader counts `[[witness]]` tables.
fn witness_endpoint(
    index: usize,
    setting: &WitnessSetting,
) -> Result<WitnessEndpoint, ConfigError> {
    if !(setting.url.starts_with("http://") || setting.url.starts_with("https://")) {
        return Err(ConfigError::BadWitness {
            index,
            field: "url",
            reason: format!("{:?} must start with http:// or https://", setting.url),
        });
    }
    let key = mingzhang_ledger::checkpoint::CosignatureKey::from_text(setting.key.trim()).map_err(
        |error| ConfigError::BadWitness {
            index,
            field: "key",
            reason: format!("{error} (a witness's verifier key, `<name>+<id>+<base64>`)"),
        },
    )?;
    Ok(WitnessEndpoint {
        url: setting.url.trim_end_matches('/').to_owned(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's config example is what `serve --help` names: every key
    /// in it is one the server reads (unknown keys are refused).
    #[test]
    fn the_readme_config_example_uses_the_keys_the_server_reads() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("README has a TOML example") + 8;
        let end = start + readme[start..].find("```").expect("the example ends");
        let example: ConfigFile =
            toml::from_str(&readme[start..end]).expect("the README example parses");
        assert_eq!(example.http_addr.as_deref(), Some(DEFAULT_HTTP_ADDR));
        assert_eq!(example.grpc_addr.as_deref(), Some(DEFAULT_GRPC_ADDR));
        let witnesses = resolve(None, None, SessionFlags::default(), example)
            .expect("the example resolves")
            .witnesses;
        assert_eq!(witnesses.len(), 1, "the example names a witness");
        let main = include_str!("main.rs");
        for key in ["config http_addr", "config grpc_addr", "config [[witness]]"] {
            assert!(main.contains(key), "serve --help names {key}");
        }
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file = ConfigFile {
            http_addr: Some("127.0.0.1:9000".into()),
            ..ConfigFile::default()
        };
        let config = resolve(
            Some("127.0.0.1:7000".into()),
            None,
            SessionFlags::default(),
            file,
        )
        .unwrap();
        assert_eq!(config.http_addr, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(config.grpc_addr, DEFAULT_GRPC_ADDR.parse().unwrap());
        let file = ConfigFile {
            http_addr: Some("127.0.0.1:9000".into()),
            ..ConfigFile::default()
        };
        let config = resolve(None, None, SessionFlags::default(), file).unwrap();
        assert_eq!(config.http_addr, "127.0.0.1:9000".parse().unwrap());
        assert!(
            resolve(
                Some("nowhere".into()),
                None,
                SessionFlags::default(),
                ConfigFile::default()
            )
            .is_err()
        );
    }

    #[test]
    fn session_settings_come_from_flags_then_the_file_and_a_zero_age_is_refused() {
        let file: ConfigFile =
            toml::from_str("session_max_age_seconds = 600\nbehind_tls = true\n").unwrap();
        let config = resolve(None, None, SessionFlags::default(), file).unwrap();
        assert_eq!(config.sessions.max_age.as_secs(), 600);
        assert!(config.sessions.behind_tls);
        let flags = SessionFlags {
            max_age_seconds: Some(5),
            behind_tls: Some(false),
        };
        let file: ConfigFile = toml::from_str("session_max_age_seconds = 600\n").unwrap();
        let config = resolve(None, None, flags, file).unwrap();
        assert_eq!(config.sessions.max_age.as_secs(), 5);
        assert!(!config.sessions.behind_tls);
        let config = resolve(None, None, SessionFlags::default(), ConfigFile::default()).unwrap();
        assert_eq!(config.sessions, SessionSettings::default());
        let zero = SessionFlags {
            max_age_seconds: Some(0),
            behind_tls: None,
        };
        let error = resolve(None, None, zero, ConfigFile::default())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("session_max_age_seconds:"), "{error}");
    }

    #[test]
    fn witnesses_are_read_and_a_bad_key_is_named_by_table_and_field() {
        let key = mingzhang_ledger::checkpoint::CosignerKey::from_seed("w1", [3u8; 32])
            .unwrap()
            .verifier()
            .to_text();
        let file: ConfigFile = toml::from_str(&format!(
            "[[witness]]\nurl = \"http://127.0.0.1:7380/\"\nkey = \"{key}\"\n"
        ))
        .unwrap();
        let config = resolve(None, None, SessionFlags::default(), file).unwrap();
        assert_eq!(config.witnesses.len(), 1);
        assert_eq!(config.witnesses[0].url, "http://127.0.0.1:7380");
        assert_eq!(config.witnesses[0].key.to_text(), key);
        let log_key = mingzhang_ledger::checkpoint::SignerKey::from_seed("w1", [3u8; 32])
            .unwrap()
            .verifier()
            .to_text();
        let file: ConfigFile = toml::from_str(&format!(
            "[[witness]]\nurl = \"http://a\"\nkey = \"{key}\"\n[[witness]]\nurl = \"http://b\"\nkey = \"{log_key}\"\n"
        ))
        .unwrap();
        let error = resolve(None, None, SessionFlags::default(), file)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("witness 2 (key):"), "{error}");
    }
}
