//! Where the log lives, chosen by the global `--store URL` (env
//! `MINGZHANG_STORE`): the embedded file log in `--data-dir` (the default)
//! a PostgreSQL database (`postgres://...`) or, in a build with the
//! `kurrentdb` feature, a stream in KurrentDB (`kurrentdb://...`,
//! `esdb://...`). Tokens, the checkpoint
//! signing key and the Merkle store stay in `--data-dir` on each; signed
//! checkpoints and the side store of personal data too, except in
//! PostgreSQL, which keeps them beside the records (`open_checkpoints`,
//! `open_personal_data`).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use mingzhang_ledger::checkpoint_store::CheckpointStore;
use mingzhang_ledger::store::EventStore;
use mingzhang_ledger::store::file::{encode_segment_header, segment_file_name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded file log under `<data-dir>/log`.
    Embedded,
    /// A PostgreSQL database, by its connection URL.
    Postgres(String),
    /// A stream in KurrentDB, by its connection string (only a build with
    /// the `kurrentdb` feature parses one).
    KurrentDb(String),
}

impl StoreLocation {
    /// `None` (no `--store`) is the embedded log; a URL must name a scheme
    /// this build has a backend for.
    pub fn parse(url: Option<&str>) -> anyhow::Result<StoreLocation> {
        match url {
            None => Ok(StoreLocation::Embedded),
            Some(url) if is_postgres_url(url) => Ok(StoreLocation::Postgres(url.to_owned())),
            Some(url) if is_kurrentdb_url(url) => {
                if !cfg!(feature = "kurrentdb") {
                    return Err(kurrentdb_not_built(url));
                }
                mingzhang_store_kurrentdb::Location::parse(url)
                    .with_context(|| format!("--store {:?}", redact(url)))?;
                Ok(StoreLocation::KurrentDb(url.to_owned()))
            }
            Some(url) => anyhow::bail!(
                "--store {:?}: unsupported store URL (rule: must start with postgres://, \
                 postgresql://, kurrentdb:// or esdb://; leave --store out for the embedded \
                 log in --data-dir)",
                redact(url)
            ),
        }
    }

    /// Whether the log is in a server (and `--data-dir` holds only tokens,
    /// keys and checkpoints).
    pub fn in_server(&self) -> bool {
        !matches!(self, StoreLocation::Embedded)
    }

    /// For messages: where the log is, without a password.
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            StoreLocation::Embedded => format!("{}", data_dir.join("log").display()),
            StoreLocation::Postgres(url) => format!("PostgreSQL {}", redact(url)),
            StoreLocation::KurrentDb(url) => format!("KurrentDB {}", redact(url)),
        }
    }

    /// Opens the log for writing (the embedded one is created if missing).
    pub async fn open(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn EventStore>> {
        match self {
            StoreLocation::Embedded => {
                crate::backend::open_store(data_dir).map_err(anyhow::Error::msg)
            }
            StoreLocation::Postgres(url) => Ok(Arc::new(open_postgres(url).await?)),
            StoreLocation::KurrentDb(url) => open_kurrentdb(url).await,
        }
    }

    /// Where the log's signed checkpoints are kept: beside the records in
    /// PostgreSQL (`mingzhang_checkpoints`), so that every server and every
    /// auditor of the log finds the same; in `<data-dir>/checkpoints` for
    /// the embedded log and KurrentDB.
    pub async fn open_checkpoints(
        &self,
        data_dir: &Path,
    ) -> anyhow::Result<Arc<dyn CheckpointStore>> {
        match self {
            StoreLocation::Postgres(url) => Ok(Arc::new(
                mingzhang_store_postgres::checkpoints::PostgresCheckpoints::open(url, &redact(url))
                    .await
                    .with_context(|| {
                        format!("opening the checkpoints in PostgreSQL {}", redact(url))
                    })?,
            )),
            StoreLocation::Embedded | StoreLocation::KurrentDb(_) => {
                crate::transparency::file_checkpoints(data_dir)
            }
        }
    }

    /// Where the clear names behind the log's commitments are kept: in
    /// PostgreSQL beside the records (`mingzhang_personal_data`), so that
    /// every server on the log finds them; in `<data-dir>/personal` for the
    /// embedded log and KurrentDB (docs/proofs.md, "Personal data").
    pub async fn open_personal_data(
        &self,
        data_dir: &Path,
    ) -> anyhow::Result<Arc<dyn crate::personal_data::PersonalDataStore>> {
        match self {
            StoreLocation::Postgres(url) => {
                Ok(Arc::new(crate::personal_data::DatabasePersonalData::new(
                    mingzhang_store_postgres::personal_data::PostgresPersonalData::open(
                        url,
                        &redact(url),
                    )
                    .await
                    .with_context(|| {
                        format!("opening the personal data in PostgreSQL {}", redact(url))
                    })?,
                )))
            }
            StoreLocation::Embedded | StoreLocation::KurrentDb(_) => Ok(Arc::new(
                crate::personal_data::FilePersonalData::open(data_dir).context("personal data")?,
            )),
        }
    }

    /// Opens the log for commands that only read. The PostgreSQL and
    /// KurrentDB stores write nothing unless appended to.
    pub async fn open_read_only(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn EventStore>> {
        match self {
            StoreLocation::Embedded => Ok(Arc::new(
                crate::backend::open_store_read_only(data_dir).map_err(anyhow::Error::msg)?,
            )),
            StoreLocation::Postgres(url) => Ok(Arc::new(open_postgres(url).await?)),
            StoreLocation::KurrentDb(url) => open_kurrentdb(url).await,
        }
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the log in the database at `url` each time it is called: for a
/// server that carries on when the database fails over (see `store_switch`).
pub fn postgres_opener(url: &str) -> crate::store_switch::StoreOpener {
    let url = url.to_owned();
    Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let store: Arc<dyn EventStore> = Arc::new(open_postgres(&url).await?);
            Ok(store)
        })
    })
}

pub use mingzhang_store_kurrentdb::is_kurrentdb_url;

/// Whether `url` names a log in a server rather than a path.
pub fn is_server_url(url: &str) -> bool {
    is_postgres_url(url) || is_kurrentdb_url(url)
}

fn kurrentdb_not_built(url: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "--store {:?}: this mingzhang was built without KurrentDB (rule: a kurrentdb:// or \
         esdb:// store needs the `kurrentdb` feature: cargo build -p mingzhang-api --features \
         kurrentdb)",
        redact(url)
    )
}

#[cfg(feature = "kurrentdb")]
async fn open_kurrentdb(url: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    let store = mingzhang_store_kurrentdb::KurrentDbStore::open(url)
        .await
        .with_context(|| format!("opening the log in KurrentDB {}", redact(url)))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "kurrentdb"))]
async fn open_kurrentdb(url: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    Err(kurrentdb_not_built(url))
}

async fn open_postgres(url: &str) -> anyhow::Result<mingzhang_store_postgres::PostgresStore> {
    mingzhang_store_postgres::PostgresStore::open(url)
        .await
        .with_context(|| format!("opening the log in PostgreSQL {}", redact(url)))
}

/// Creates the log's table in the database at `url`, if missing.
pub async fn create_postgres_schema(url: &str) -> anyhow::Result<()> {
    mingzhang_store_postgres::create_schema(url)
        .await
        .with_context(|| format!("creating the log's table in PostgreSQL {}", redact(url)))
}

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Writes the first `len` records of `store` into `log_dir` as one segment
/// of the embedded log's format (docs/log-format.md): the records are the
/// same bytes on every backend, so the audit reads them as it reads a
/// data directory or a bundle.
pub fn write_log_copy(store: &dyn EventStore, len: u64, log_dir: &Path) -> anyhow::Result<u64> {
    std::fs::create_dir_all(log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let path = log_dir.join(segment_file_name(0));
    let mut segment = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    segment.write_all(&encode_segment_header(0))?;
    let (mut next, mut bytes) = (0u64, 0u64);
    while next < len {
        let records = store.read(next, 4096.min((len - next) as usize))?;
        anyhow::ensure!(
            !records.is_empty(),
            "the log ended at {next} records, before {len}"
        );
        for record in &records {
            assert_eq!(record.seq(), next, "a read returns the range asked for");
            segment.write_all(record.bytes())?;
            bytes += record.len() as u64;
            next += 1;
        }
    }
    segment.flush()?;
    segment.get_ref().sync_all()?;
    Ok(bytes)
}

/// Records copied per append while migrating.
const MIGRATE_CHUNK: usize = 4096;

/// What one side of a migration holds, checked record by record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    pub len: u64,
    pub head_hash: mingzhang_ledger::store::Hash,
    pub merkle_root: mingzhang_ledger::store::Hash,
    pub balances_digest: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Records the target already held (a resumed migration) and those copied now.
    pub already: u64,
    pub copied: u64,
    pub summary: LogSummary,
}

/// Copies every record of `source` that `target` lacks, then checks both
/// sides in full (every chain link, the Merkle root, the balances digest of
/// a replay) and requires them equal. Resumable: a target that already
/// holds a prefix of the source (an interrupted migration) is continued,
/// after checking that its last record is the source's; a target that
/// holds anything else is refused and left as it is.
pub async fn migrate(
    source: &dyn EventStore,
    target: &dyn EventStore,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<MigrationReport> {
    let source_len = source.head().len;
    let already = target.head().len;
    anyhow::ensure!(
        already <= source_len,
        "the target holds {already} records, more than the source's {source_len}: it is another log"
    );
    if already > 0 {
        let ours = &source.read(already - 1, 1)?[0];
        anyhow::ensure!(
            ours.hash() == target.head().last_hash,
            "the target's record {} is not the source's (hash {} against {}): it is another log",
            already - 1,
            hex::encode(target.head().last_hash),
            hex::encode(ours.hash())
        );
    }
    let mut next = already;
    while next < source_len {
        let records = source.read(next, MIGRATE_CHUNK.min((source_len - next) as usize))?;
        anyhow::ensure!(
            !records.is_empty(),
            "the source ended at {next}, before {source_len}"
        );
        let payloads = records
            .iter()
            .map(|record| record.payload().to_vec())
            .collect();
        let metas = target.append(next, payloads).await?;
        for (record, meta) in records.iter().zip(&metas) {
            // The chain is re-made on the target from the same payloads; the
            // same bytes must come out.
            anyhow::ensure!(
                meta.seq == record.seq() && meta.hash == record.hash(),
                "record {} came out different on the target",
                record.seq()
            );
        }
        next += records.len() as u64;
        progress(next, source_len);
    }
    let source_summary = summarise(source).map_err(|error| error.context("checking the source"))?;
    let target_summary = summarise(target).map_err(|error| error.context("checking the target"))?;
    anyhow::ensure!(
        source_summary == target_summary,
        "the two logs differ after the copy: source {source_summary:?}, target {target_summary:?}"
    );
    anyhow::ensure!(
        source_summary.len == source_len,
        "the source grew during the migration"
    );
    Ok(MigrationReport {
        already,
        copied: source_len - already,
        summary: source_summary,
    })
}

/// Reads every record of `store`: checks each chain link, computes the
/// Merkle root and replays the balances.
pub fn summarise(store: &dyn EventStore) -> anyhow::Result<LogSummary> {
    let len = store.head().len;
    let mut frontier = mingzhang_ledger::merkle::Frontier::new();
    let mut prev_hash = mingzhang_ledger::record::GENESIS_PREV_HASH;
    while frontier.size() < len {
        let records = store.read(frontier.size(), MIGRATE_CHUNK)?;
        anyhow::ensure!(
            !records.is_empty(),
            "the log ended at {}, before {len}",
            frontier.size()
        );
        for record in &records {
            anyhow::ensure!(
                record.seq() == frontier.size() && record.prev_hash() == prev_hash,
                "record {} does not link to the one before it",
                record.seq()
            );
            prev_hash = record.hash();
            frontier.append_leaf(record.bytes());
        }
    }
    let mut projections = crate::backend::Projections::default();
    projections.catch_up_to(store, len)?;
    anyhow::ensure!(
        projections.applied_len() == len,
        "the balances replay stopped at {} of {len}",
        projections.applied_len()
    );
    Ok(LogSummary {
        len,
        head_hash: prev_hash,
        merkle_root: frontier.root(),
        balances_digest: projections.balances_digest(),
    })
}

#[cfg(test)]
mod tests {
    use super::{StoreLocation, redact, write_log_copy};
    use mingzhang_ledger::store::{EventStore, MemoryStore, verify_log};

    #[test]
    fn store_urls_name_a_backend_or_are_refused_naming_the_rule() {
        assert_eq!(StoreLocation::parse(None).unwrap(), StoreLocation::Embedded);
        assert_eq!(
            StoreLocation::parse(Some("postgresql://u@h/db")).unwrap(),
            StoreLocation::Postgres("postgresql://u@h/db".into())
        );
        let error = StoreLocation::parse(Some("mysql://root:secret@h/db"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("--store"), "{error}");
        assert!(error.contains("postgres://"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[cfg(not(feature = "kurrentdb"))]
    #[test]
    fn a_kurrentdb_url_without_the_feature_is_refused_naming_the_feature() {
        for url in [
            "kurrentdb://admin:changeit@node1:2113,node2:2113,node3:2113?tls=false",
            "esdb://admin:changeit@localhost:2113",
        ] {
            let error = StoreLocation::parse(Some(url)).unwrap_err().to_string();
            assert!(error.contains("`kurrentdb` feature"), "{error}");
            assert!(error.contains("--features kurrentdb"), "{error}");
            assert!(!error.contains("changeit"), "{error}");
        }
    }

    #[cfg(feature = "kurrentdb")]
    #[test]
    fn a_kurrentdb_url_names_a_kurrentdb_store_and_a_bad_stream_is_refused() {
        let url = "kurrentdb://admin:changeit@node1:2113,node2:2113?tls=false&stream=kaixuan";
        let location = StoreLocation::parse(Some(url)).unwrap();
        assert_eq!(location, StoreLocation::KurrentDb(url.into()));
        assert!(location.in_server());
        let error = format!(
            "{:#}",
            StoreLocation::parse(Some("esdb://admin:changeit@h:2113?stream=$all")).unwrap_err()
        );
        assert!(error.contains("`stream`"), "{error}");
        assert!(!error.contains("changeit"), "{error}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:pw@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[tokio::test]
    async fn a_copy_of_a_store_is_a_log_that_verifies() {
        let store = MemoryStore::new();
        for seq in 0..10u64 {
            store
                .append(seq, vec![format!("event {seq}").into_bytes()])
                .await
                .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("log");
        write_log_copy(&store, 10, &log_dir).unwrap();
        let report = verify_log(&log_dir, |_| {}).unwrap();
        assert_eq!(report.records, 10);
        assert_eq!(report.torn_tail, None);
    }
}

#[cfg(test)]
mod migrate_tests {
    use super::migrate;
    use mingzhang_ledger::scenario;
    use mingzhang_ledger::service::Ledger;
    use mingzhang_ledger::store::{EventStore, MemoryStore};
    use std::sync::Arc;

    async fn kaixuan_store() -> MemoryStore {
        let store = MemoryStore::new();
        let ledger = Ledger::open(Arc::new(store.clone())).await.unwrap();
        for (command, meta) in scenario::kaixuan() {
            ledger.submit(command, meta).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn a_migration_copies_every_record_and_resumes_where_it_stopped() {
        let source = kaixuan_store().await;
        let len = source.head().len;
        let target = MemoryStore::new();
        // An interrupted migration: the first 100 records made it.
        let prefix = source.read(0, 100).unwrap();
        target
            .append(0, prefix.iter().map(|r| r.payload().to_vec()).collect())
            .await
            .unwrap();
        let report = migrate(&source, &target, |_, _| {}).await.unwrap();
        assert_eq!((report.already, report.copied), (100, len - 100));
        assert_eq!(
            target.read(0, usize::MAX).unwrap(),
            source.read(0, usize::MAX).unwrap()
        );
        assert_eq!(report.summary.len, len);
        // Run again: nothing to copy, and both sides still check out.
        let again = migrate(&source, &target, |_, _| {}).await.unwrap();
        assert_eq!((again.already, again.copied), (len, 0));
        assert_eq!(again.summary, report.summary);
    }

    #[tokio::test]
    async fn a_target_holding_another_log_is_refused_and_left_alone() {
        let source = kaixuan_store().await;
        let other = MemoryStore::new();
        other
            .append(0, vec![b"another log".to_vec()])
            .await
            .unwrap();
        let error = migrate(&source, &other, |_, _| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("another log"), "{error}");
        assert_eq!(other.head().len, 1);
    }
}
