//! `mingzhang`: the ledger's command-line program and server.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mingzhang_api::auth::{self, Role};
use mingzhang_api::backend::{self, Ledger, Projections};
use mingzhang_api::money::format_fen;
use mingzhang_api::personal_data::PersonalDataStore;
use mingzhang_api::store_location::{self, StoreLocation};
use mingzhang_api::{config, serve, state};
use mingzhang_proto::v1::{self, event_envelope::Event};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "mingzhang",
    version,
    about = "明账: a transparent, hash-chained ledger for public-welfare money"
)]
struct Cli {
    /// Data directory: the log (`log/`), tokens and the optional config.toml.
    #[arg(
        long,
        global = true,
        env = "MINGZHANG_DATA_DIR",
        default_value = "./mingzhang-data"
    )]
    data_dir: PathBuf,
    /// Where the log lives: a PostgreSQL URL (postgres://user@host:port/db)
    /// or, in a build with the `kurrentdb` feature, a KurrentDB one
    /// (kurrentdb://host:2113?tls=false&stream=NAME); tokens and keys stay
    /// in --data-dir, checkpoints too except in PostgreSQL, which keeps them
    /// beside the records [default: the embedded log in --data-dir]
    #[arg(long, global = true, env = "MINGZHANG_STORE", hide_env_values = true)]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory and an empty log.
    Init,
    /// Record the Kaixuan scenario (idempotent: running it twice records it once).
    Demo,
    /// Audit a log: every record's checksum, hash and chain link, the Merkle
    /// root against the signed checkpoint, consistency with a checkpoint saved
    /// earlier, and the replayed balances against the published ones. A log
    /// with no signed checkpoint fails unless --allow-unsigned. `verify receipt
    /// FILE` checks one receipt, `verify flow FILE` one flow receipt. Given a server's URL, downloads its records,
    /// checkpoint and key and runs the same checks, then compares the fund
    /// balances it publishes with the replay.
    ///
    /// Exit codes: 0 verified; 1 the inputs could not be read; 2 usage;
    /// 3 the log is damaged or altered; 4 it disagrees with its signed
    /// checkpoint, a saved checkpoint, the rules or the published balances;
    /// 5 records not covered by a signed checkpoint (none at all, or a
    /// bundle's records past the signed size).
    #[command(args_conflicts_with_subcommands = true)]
    Verify {
        #[command(subcommand)]
        what: Option<VerifyCommand>,
        /// A data directory, an exported bundle, a server's http(s):// URL, or a
        /// postgres:// store (read into a temporary copy, checked against the
        /// latest checkpoint saved in the database and the key in --data-dir)
        /// [default: --store, else --data-dir]
        path: Option<String>,
        /// A checkpoint note saved earlier: the log must extend it
        #[arg(long)]
        since: Option<PathBuf>,
        /// The verifier key [default: the one in PATH]
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// With no signed checkpoint, check the hash chain alone instead of
        /// failing; the report then says so in its first line
        #[arg(long)]
        allow_unsigned: bool,
        /// A witness's verifier key (a file holding `<name>+<id>+<base64>`);
        /// repeat for each witness whose cosignature counts
        #[arg(long = "witness-key")]
        witness_keys: Vec<PathBuf>,
        /// How many of the --witness-key witnesses must cosign the checkpoint
        /// [default: all of them]
        #[arg(long)]
        witnesses_needed: Option<usize>,
        /// Auditor or operator token, for a URL (raw records are not public)
        #[arg(long, env = "MINGZHANG_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Create the checkpoint signing key (once) and print its verifier key.
    Keygen {
        /// Key name shown in signature lines
        #[arg(long, default_value = "mingzhang")]
        name: String,
    },
    /// Sign a checkpoint of the log as it is, then write a self-contained
    /// bundle (log, checkpoint, verifier key) that `verify` checks with no server.
    Export { out: PathBuf },
    /// Write the log, as far as its latest signed checkpoint covers, into DIR
    /// as C2SP tlog-tiles static files (checkpoint, tile/<L>/<N>, tile/entries/<N>)
    /// that any web server or CDN can serve and `verify DIR` or `verify URL`
    /// checks. Incremental: full tiles published before are kept. Refuses a
    /// log that names an individual in the clear. Reads the log only.
    Publish { dir: PathBuf },
    /// Rebuild the projections from the log and print balances.
    Balances,
    /// Serve the HTTP and gRPC APIs.
    Serve {
        /// HTTP listen address [env MINGZHANG_HTTP_ADDR; config http_addr; default 127.0.0.1:8080]
        #[arg(long = "http", env = "MINGZHANG_HTTP_ADDR")]
        http_addr: Option<String>,
        /// gRPC listen address [env MINGZHANG_GRPC_ADDR; config grpc_addr; default 127.0.0.1:50051]
        #[arg(long = "grpc", env = "MINGZHANG_GRPC_ADDR")]
        grpc_addr: Option<String>,
        /// TOML config file [default: <data-dir>/config.toml if present];
        /// config [[witness]] tables (url, key) name the witnesses each new
        /// checkpoint is submitted to
        #[arg(long, env = "MINGZHANG_CONFIG")]
        config: Option<PathBuf>,
        /// How long a browser session (/login) lasts, in seconds
        /// [env MINGZHANG_SESSION_MAX_AGE; config session_max_age_seconds; default 28800]
        #[arg(long, env = "MINGZHANG_SESSION_MAX_AGE")]
        session_max_age: Option<u64>,
        /// The server is reached over HTTPS through a TLS-terminating proxy:
        /// session cookies are marked Secure
        /// [env MINGZHANG_BEHIND_TLS; config behind_tls; default false]
        #[arg(long, env = "MINGZHANG_BEHIND_TLS")]
        behind_tls: Option<bool>,
    },
    /// Run a C2SP tlog-witness on --data-dir: it cosigns a log's checkpoint
    /// (POST /add-checkpoint) only when it extends the last one it cosigned.
    /// `witness add-log ORIGIN KEYFILE` names a log it witnesses; `witness
    /// keygen` makes its key (else made on first start).
    #[command(args_conflicts_with_subcommands = true)]
    Witness {
        #[command(subcommand)]
        what: Option<WitnessCommand>,
        /// Listen address
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: String,
        /// The witness's key name, used when its key is made
        #[arg(long, default_value = "mingzhang-witness")]
        name: String,
    },
    /// Erase personal data (PIPL Article 47): `erase person ID --reason TEXT`
    /// for a donor, `erase payee EXPENDITURE_ID --reason TEXT` for a private payee.
    #[command(subcommand)]
    Erase(EraseCommand),
    /// Manage API bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Copy the log (from --store, else --data-dir) to another store, then
    /// check both in full: every chain link, the Merkle root and the
    /// balances digest must be the same. Resumable: run it again after an
    /// interruption and it continues where the target ends. Copies the log
    /// and its latest signed checkpoint (into the database for PostgreSQL);
    /// tokens and keys stay in --data-dir.
    Migrate {
        /// The target: a postgres:// or kurrentdb:// URL, or a data directory for the embedded log
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum VerifyCommand {
    /// Check a receipt offline: the record, the checkpoint's signature and the inclusion proof.
    Receipt {
        file: PathBuf,
        /// The verifier key [default: <data-dir>/keys/checkpoint.pub]
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Check a flow receipt offline: the gift's record and each outflow's
    /// it paid, each proven against the one signed checkpoint, and the
    /// amounts allocated (they add up to the gift, none beyond its outflow).
    /// That first-in, first-out gave exactly these amounts needs the whole
    /// log: `verify` over it recomputes every allocation.
    Flow {
        file: PathBuf,
        /// The verifier key [default: <data-dir>/keys/checkpoint.pub]
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Make the witness key (once) and print its verifier key.
    Keygen {
        #[arg(long, default_value = "mingzhang-witness")]
        name: String,
    },
    /// Witness the log of ORIGIN, whose checkpoints KEYFILE's key signs.
    AddLog { origin: String, key_file: PathBuf },
}

#[derive(Subcommand)]
enum EraseCommand {
    /// Destroy an individual donor's name and salt in the side store
    /// (<data-dir>/personal/, or the database's table with --store
    /// postgres://), record PersonalDataErased and sign a
    /// checkpoint. The log keeps the salted commitment, so the chain, every
    /// proof and receipt and the balances still verify. A donor registered
    /// before commitments (the name in the hashed record) is refused.
    Person {
        /// The donor id.
        id: String,
        /// The legal basis, e.g. "PIPL Art. 47 request of 2026-12-01".
        #[arg(long)]
        reason: String,
        /// The date of erasure, YYYY-MM-DD [default: today in China]
        #[arg(long)]
        on: Option<String>,
    },
    /// Destroy the name of the private person an expenditure paid, as
    /// `erase person` does a donor's; the payee is named by the
    /// expenditure's id. An organisation or company, or a person paid
    /// before commitments, is refused.
    Payee {
        /// The expenditure id.
        expenditure_id: String,
        /// The legal basis, e.g. "PIPL Art. 47 request of 2026-12-01".
        #[arg(long)]
        reason: String,
        /// The date of erasure, YYYY-MM-DD [default: today in China]
        #[arg(long)]
        on: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once; only its SHA-256 is stored.
    Create {
        #[arg(long, value_enum)]
        role: Role,
        /// The donor a sponsor token acts for.
        #[arg(long)]
        donor: Option<String>,
        /// The organisation an organisation token acts for.
        #[arg(long)]
        organisation: Option<String>,
    },
    /// List tokens (ids, roles, bindings; never secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

/// The server allocates and frees small buffers on every request, from
/// several threads; mimalloc's per-thread pages cost less than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let data_dir = cli.data_dir;
    let location = StoreLocation::parse(cli.store.as_deref())?;
    match cli.command {
        Command::Init => runtime.block_on(init(&location, &data_dir)),
        Command::Demo => runtime.block_on(demo(&location, &data_dir)),
        Command::Verify {
            what: Some(VerifyCommand::Receipt { file, key }),
            ..
        } => verify_receipt(&data_dir, &file, key.as_deref()),
        Command::Verify {
            what: Some(VerifyCommand::Flow { file, key }),
            ..
        } => verify_flow(&data_dir, &file, key.as_deref()),
        Command::Verify {
            what: None,
            path,
            since,
            key,
            json,
            token,
            allow_unsigned,
            witness_keys,
            witnesses_needed,
        } => {
            let witness_keys = witness_keys
                .iter()
                .map(|path| {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("--witness-key {}", path.display()))?;
                    mingzhang_ledger::checkpoint::CosignatureKey::from_text(text.trim()).map_err(
                        |error| anyhow::anyhow!("--witness-key {}: {error}", path.display()),
                    )
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let location = match &path {
                Some(url) if store_location::is_server_url(url) => StoreLocation::parse(Some(url))?,
                Some(_) => StoreLocation::Embedded,
                None => location,
            };
            // Keeps the temporary copy of a database's log until the audit is done.
            let mut _copied = None;
            let source = match (path, location) {
                (_, location @ (StoreLocation::Postgres(_) | StoreLocation::KurrentDb(_))) => {
                    let copy = runtime.block_on(copy_for_audit(&location, &data_dir))?;
                    let source = AuditSource::Path(copy.path().to_path_buf());
                    _copied = Some(copy);
                    source
                }
                (Some(url), _) if mingzhang_audit::remote::is_url(&url) => {
                    match mingzhang_audit::tiles_source::TilesAt::url_if_tiles(&url) {
                        Some(tiles) => AuditSource::Tiles(tiles),
                        None => AuditSource::Url { url, token },
                    }
                }
                (Some(path), _) => {
                    let path = PathBuf::from(path);
                    match mingzhang_audit::tiles_source::TilesAt::dir_if_published(&path) {
                        Some(tiles) => AuditSource::Tiles(tiles),
                        None => AuditSource::Path(path),
                    }
                }
                (None, StoreLocation::Embedded) => AuditSource::Path(data_dir.clone()),
            };
            let options = mingzhang_audit::verify::VerifyOptions {
                since_note: None,
                allow_unsigned,
                witness_keys,
                witnesses_needed,
            };
            let code = verify(source, since.as_deref(), key.as_deref(), json, options)?;
            if code != 0 {
                drop(_copied);
                std::process::exit(i32::from(code));
            }
            Ok(())
        }
        Command::Keygen { name } => {
            require_initialised(&location, &data_dir)?;
            println!("{}", mingzhang_api::transparency::keygen(&data_dir, &name)?);
            Ok(())
        }
        Command::Export { out } => runtime.block_on(export(&location, &data_dir, &out)),
        Command::Balances => runtime.block_on(balances(&location, &data_dir)),
        Command::Publish { dir } => runtime.block_on(publish(&location, &data_dir, &dir)),
        Command::Serve {
            http_addr,
            grpc_addr,
            config,
            session_max_age,
            behind_tls,
        } => {
            require_initialised(&location, &data_dir)?;
            let file = config::load_file(config.as_deref(), &data_dir)?;
            let config = config::resolve(
                http_addr,
                grpc_addr,
                config::SessionFlags {
                    max_age_seconds: session_max_age,
                    behind_tls,
                },
                file,
            )?;
            let on_bound = |bound: serve::Bound| {
                // Tests and scripts read this line to find the ports.
                println!(
                    "mingzhang listening http={} grpc={}",
                    bound.http_addr, bound.grpc_addr
                );
            };
            runtime.block_on(async {
                match &location {
                    StoreLocation::Embedded => serve::run(&data_dir, config, on_bound).await,
                    // Opened afresh when it fails: a standby promoted in its
                    // place, or the server restarted, and writing carries on.
                    StoreLocation::Postgres(url) => {
                        let reopen = mingzhang_api::store_location::postgres_opener(url);
                        let beside = beside_the_log(&location, &data_dir).await?;
                        serve::run_reopening(
                            reopen,
                            beside,
                            Some(url.clone()),
                            &data_dir,
                            config,
                            on_bound,
                        )
                        .await
                    }
                    StoreLocation::KurrentDb(_) => {
                        let store = location
                            .open(&data_dir)
                            .await
                            .map_err(|error| serve::ServeError::Open(format!("{error:#}")))?;
                        let beside = beside_the_log(&location, &data_dir).await?;
                        serve::run_on(store, beside, &data_dir, config, on_bound).await
                    }
                }
            })?;
            Ok(())
        }
        Command::Witness { what, listen, name } => match what {
            Some(WitnessCommand::Keygen { name }) => {
                println!("{}", mingzhang_api::witness::keygen(&data_dir, &name)?);
                Ok(())
            }
            Some(WitnessCommand::AddLog { origin, key_file }) => {
                mingzhang_api::witness::add_log(&data_dir, &origin, &key_file)
            }
            None => runtime.block_on(run_witness(&data_dir, &listen, &name)),
        },
        Command::Erase(EraseCommand::Person { id, reason, on }) => runtime.block_on(erase(
            &location,
            &data_dir,
            (v1::ErasedSubject::Donor, id),
            reason,
            on,
        )),
        Command::Erase(EraseCommand::Payee {
            expenditure_id,
            reason,
            on,
        }) => runtime.block_on(erase(
            &location,
            &data_dir,
            (v1::ErasedSubject::Payee, expenditure_id),
            reason,
            on,
        )),
        Command::Token(command) => token(&location, &data_dir, command),
        Command::Migrate { to } => runtime.block_on(migrate(&location, &data_dir, &to)),
    }
}

async fn beside_the_log(
    location: &StoreLocation,
    data_dir: &Path,
) -> Result<serve::BesideTheLog, serve::ServeError> {
    let open_error = |error: anyhow::Error| serve::ServeError::Open(format!("{error:#}"));
    Ok(serve::BesideTheLog {
        checkpoints: location
            .open_checkpoints(data_dir)
            .await
            .map_err(open_error)?,
        personal_data: location
            .open_personal_data(data_dir)
            .await
            .map_err(open_error)?,
    })
}

async fn run_witness(data_dir: &Path, listen: &str, name: &str) -> anyhow::Result<()> {
    let witness = mingzhang_api::witness::Witness::open(data_dir, name)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // Tests and scripts read this line to find the port and the key.
    println!(
        "mingzhang witness listening http={} key={}",
        listener.local_addr()?,
        witness.verifier_text()
    );
    mingzhang_api::witness::serve(witness, listener).await
}

fn require_initialised(location: &StoreLocation, data_dir: &Path) -> anyhow::Result<()> {
    if location.in_server() {
        // The database says for itself whether it holds a log (on open).
        if !auth::token_file_path(data_dir).is_file() {
            bail!(
                "{} is not initialised; run `mingzhang --data-dir {} --store URL init` first",
                data_dir.display(),
                data_dir.display()
            );
        }
        return Ok(());
    }
    if !data_dir.join("log").is_dir() {
        bail!(
            "{} has no log; run `mingzhang --data-dir {} init` first",
            data_dir.display(),
            data_dir.display()
        );
    }
    Ok(())
}

async fn init(location: &StoreLocation, data_dir: &Path) -> anyhow::Result<()> {
    match location {
        StoreLocation::Embedded => {
            let log_dir = data_dir.join("log");
            std::fs::create_dir_all(&log_dir)
                .with_context(|| format!("creating {}", log_dir.display()))?;
        }
        StoreLocation::Postgres(url) => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            store_location::create_postgres_schema(url).await?;
        }
        // The stream comes into being with its first record.
        StoreLocation::KurrentDb(_) => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
        }
    }
    let store = location.open(data_dir).await?;
    let token_path = auth::token_file_path(data_dir);
    if !token_path.exists() {
        auth::save_tokens(&token_path, &auth::TokenFile::default())?;
    }
    println!(
        "initialised {} ({} records in the log, {})",
        data_dir.display(),
        store.head().len,
        location.describe(data_dir)
    );
    Ok(())
}

async fn demo(location: &StoreLocation, data_dir: &Path) -> anyhow::Result<()> {
    require_initialised(location, data_dir)?;
    let store = location.open(data_dir).await?;
    let ledger = Ledger::open(store)
        .await
        .map_err(|error| anyhow::anyhow!("opening the ledger: {error}"))?;
    // The residents' names go through the side store as the API's would.
    let personal_data = location.open_personal_data(data_dir).await?;
    let mut recorded_before = Projections::default();
    recorded_before.catch_up(&*ledger.store())?;
    let (mut recorded, mut already) = (0usize, 0usize);
    for (index, (mut command, mut meta)) in backend::kaixuan().into_iter().enumerate() {
        if meta.idempotency_key.is_none() {
            meta.idempotency_key = Some(format!("demo-kaixuan-{index:04}"));
        }
        // An erased resident's or payee's name is not kept again; the
        // command is recorded already and is skipped as such.
        let erased = match &command {
            Event::DonorRegistered(e) => recorded_before.is_erased(&e.donor_id),
            Event::ExpenditureMade(e) => recorded_before.is_erased(&e.expenditure_id),
            _ => false,
        };
        if erased {
            already += 1;
            continue;
        }
        personal_data
            .commit_command(&mut command)
            .context("personal data side store")?;
        if meta.request_sha256 == [0u8; 32] {
            meta.request_sha256 = state::request_sha256(&meta.actor, &command);
        }
        let kind = auth::event_name(&command);
        let committed = ledger
            .submit(command, meta)
            .await
            .map_err(|error| anyhow::anyhow!("demo command {index} ({kind}): {error:?}"))?;
        if committed.idempotent_replay {
            already += 1;
        } else {
            recorded += committed.records.len();
        }
    }
    // A writer signs what it wrote, as `serve` does when it stops, so the
    // demo's log verifies without --allow-unsigned.
    let signed_size = sign_as_writer(location, data_dir, &ledger, personal_data).await?;
    println!(
        "Kaixuan demo: {recorded} records written, {already} commands were already recorded; log has {} records, signed at size {signed_size}",
        ledger.store().head().len
    );
    Ok(())
}

/// A writer signs what it wrote, as `serve` does when it stops.
async fn sign_as_writer(
    location: &StoreLocation,
    data_dir: &Path,
    ledger: &Ledger,
    personal_data: Arc<dyn PersonalDataStore>,
) -> anyhow::Result<u64> {
    let store = ledger.store();
    let mut projections = Projections::default();
    projections.set_personal_names(personal_data);
    projections.catch_up(&*store)?;
    let transparency = mingzhang_api::transparency::Transparency::open_with(
        data_dir,
        &*store,
        mingzhang_api::transparency::DEFAULT_ORIGIN,
        location.open_checkpoints(data_dir).await?,
    )?;
    let (signed_size, _) = transparency.sign(&*store, &projections)?;
    Ok(signed_size)
}

/// `erase person` (a donor, by id) and `erase payee` (a private payee, by
/// the expenditure's id).
async fn erase(
    location: &StoreLocation,
    data_dir: &Path,
    (subject_kind, subject_id): (v1::ErasedSubject, String),
    legal_basis: String,
    erased_on: Option<String>,
) -> anyhow::Result<()> {
    require_initialised(location, data_dir)?;
    let personal_data = location.open_personal_data(data_dir).await?;
    let store = location.open(data_dir).await?;
    let ledger = Ledger::open(store)
        .await
        .map_err(|error| anyhow::anyhow!("opening the ledger: {error}"))?;
    let now_ms = state::now_unix_ms();
    let erased_on =
        erased_on.unwrap_or_else(|| mingzhang_projections::Day::from_unix_ms_cst(now_ms).render());
    let command = Event::PersonalDataErased(v1::PersonalDataErased {
        subject_id: subject_id.clone(),
        legal_basis,
        erased_on,
        subject_kind: subject_kind as i32,
    });
    let mut meta = backend::CommandMeta::operator(now_ms, "cli");
    meta.request_sha256 = state::request_sha256(&meta.actor, &command);
    match ledger.submit(command, meta).await {
        Ok(_) => {}
        Err(backend::SubmitError::Rejected(rejection)) => bail!(
            "refused: {}: {} ({})",
            rejection.field,
            rejection.message,
            rejection.rule
        ),
        Err(error) => bail!("erasing {subject_id}: {error:?}"),
    }
    // Only once the erasure is durable: a crash in between is finished by
    // the next `serve` (the record names the subject).
    let entries = personal_data
        .erase(&subject_id)
        .context("rewriting the personal data side store")?;
    let signed_size = sign_as_writer(location, data_dir, &ledger, personal_data).await?;
    println!(
        "erased {subject_id}: {entries} side-store entries destroyed, PersonalDataErased recorded, signed at size {signed_size}"
    );
    Ok(())
}

enum AuditSource {
    Path(PathBuf),
    Url {
        url: String,
        token: Option<String>,
    },
    /// Published tlog-tiles: a directory or a URL prefix.
    Tiles(mingzhang_audit::tiles_source::TilesAt),
}

/// Runs the audit and prints its report; returns the exit code
/// (`mingzhang_audit::verify::EXIT_*`). `Err` when the inputs cannot be read.
fn verify(
    source: AuditSource,
    since: Option<&Path>,
    key: Option<&Path>,
    json: bool,
    options: mingzhang_audit::verify::VerifyOptions,
) -> anyhow::Result<u8> {
    use std::io::Write;
    let since_note = since
        .map(|since| {
            std::fs::read_to_string(since).with_context(|| format!("reading {}", since.display()))
        })
        .transpose()?;
    // Keeps a downloaded server's temporary bundle until the audit is done.
    let mut _downloaded = None;
    let inputs = match source {
        AuditSource::Path(path) => {
            let inputs = mingzhang_audit::verify::AuditInputs::locate(&path, key)?;
            if !json {
                eprintln!("verifying {}", inputs.log_dir.display());
            }
            inputs
        }
        AuditSource::Url { url, token } => {
            if !json {
                eprintln!("verifying {url}");
            }
            let mut last_shown_percent = 0u64;
            let downloaded =
                mingzhang_audit::remote::download(&url, token.as_deref(), key, |done, total| {
                    let percent = (done * 100).checked_div(total).unwrap_or(100);
                    if !json && percent >= last_shown_percent + 5 {
                        last_shown_percent = percent;
                        eprint!("\r  downloading {percent:>3}% ({done} of {total} records)");
                        let _ = std::io::stderr().flush();
                    }
                })?;
            if !json {
                eprintln!("\ndownloaded {} records", downloaded.records);
            }
            let inputs = downloaded.inputs.clone();
            _downloaded = Some(downloaded);
            inputs
        }
        AuditSource::Tiles(tiles) => {
            if !json {
                eprintln!("verifying the tlog-tiles at {}", tiles.describe());
            }
            let mut last_shown_percent = 0u64;
            let downloaded =
                mingzhang_audit::tiles_source::download_tiles(&tiles, key, |done, total| {
                    let percent = (done * 100).checked_div(total).unwrap_or(100);
                    if !json && percent >= last_shown_percent + 5 {
                        last_shown_percent = percent;
                        eprint!("\r  reading tiles {percent:>3}% ({done} of {total} entries)");
                        let _ = std::io::stderr().flush();
                    }
                })?;
            if !json {
                eprintln!("\nread {} entries", downloaded.records);
            }
            let inputs = downloaded.inputs.clone();
            _downloaded = Some(downloaded);
            inputs
        }
    };
    let options = mingzhang_audit::verify::VerifyOptions {
        since_note,
        ..options
    };
    let mut last_shown_percent = 0u64;
    let report = mingzhang_audit::verify::verify(&inputs, &options, |done, total| {
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        if !json && percent >= last_shown_percent + 5 {
            last_shown_percent = percent;
            eprint!(
                "\r  {percent:>3}% ({} of {} MiB read)",
                done >> 20,
                total >> 20
            );
            let _ = std::io::stderr().flush();
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        for problem in &report.problems {
            eprintln!("{problem}");
        }
    } else {
        eprintln!();
        // A failure goes to stderr, where scripts look for errors.
        if report.ok {
            print!("{}", mingzhang_audit::verify::render_text(&report));
        } else {
            eprint!("{}", mingzhang_audit::verify::render_text(&report));
        }
    }
    Ok(report.exit_code())
}

fn verify_receipt(data_dir: &Path, file: &Path, key: Option<&Path>) -> anyhow::Result<()> {
    let key_path = key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| mingzhang_api::transparency::key_paths(data_dir).1);
    let key = mingzhang_audit::receipt::read_verifier_key(&key_path)?;
    let finding = mingzhang_audit::receipt::check_receipt_file(file, &key)?;
    println!(
        "OK: record {} (hash {}) is in the log of {} records signed by {}",
        finding.seq, finding.record_hash, finding.tree_size, finding.key_name
    );
    Ok(())
}

fn verify_flow(data_dir: &Path, file: &Path, key: Option<&Path>) -> anyhow::Result<()> {
    let key_path = key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| mingzhang_api::transparency::key_paths(data_dir).1);
    let key = mingzhang_audit::receipt::read_verifier_key(&key_path)?;
    let verified = mingzhang_audit::flow_receipt::check_flow_receipt_file(file, &key)?;
    print!(
        "{}",
        mingzhang_audit::flow_receipt::render_flow(&verified, key.name())
    );
    Ok(())
}

async fn export(location: &StoreLocation, data_dir: &Path, out: &Path) -> anyhow::Result<()> {
    require_initialised(location, data_dir)?;
    let signer = mingzhang_api::transparency::load_signer(data_dir)?;
    if location.in_server() {
        return export_copy(location, data_dir, out, &signer).await;
    }
    let store = backend::open_store_read_only(data_dir).map_err(anyhow::Error::msg)?;
    let mut projections = Projections::default();
    projections.catch_up(&store)?;
    let (size, note) = mingzhang_api::transparency::sign_detached(
        &store,
        &projections,
        &signer,
        mingzhang_api::transparency::DEFAULT_ORIGIN,
    )?;
    let bytes = mingzhang_audit::verify::export(
        data_dir,
        out,
        store.segment_extents(),
        &note,
        &signer.verifier().to_text(),
    )?;
    let documents = mingzhang_api::documents::export_public(data_dir, out)?;
    println!(
        "exported {size} records ({bytes} bytes of records), {documents} public documents and a checkpoint signed at size {size} to {}",
        out.display()
    );
    println!("check it with: mingzhang verify {}", out.display());
    Ok(())
}

async fn publish(location: &StoreLocation, data_dir: &Path, dir: &Path) -> anyhow::Result<()> {
    require_initialised(location, data_dir)?;
    let note_path = data_dir.join("checkpoints").join("latest.note");
    let note = std::fs::read_to_string(&note_path).with_context(|| {
        format!(
            "{}: no signed checkpoint to publish (serve, demo and POST /v1/checkpoints sign one)",
            note_path.display()
        )
    })?;
    let (_, public_path) = mingzhang_api::transparency::key_paths(data_dir);
    let verifier = std::fs::read_to_string(&public_path)
        .with_context(|| format!("reading {}", public_path.display()))?;
    let verifier = mingzhang_ledger::checkpoint::VerifierKey::from_text(verifier.trim())
        .map_err(|error| anyhow::anyhow!("{}: {error}", public_path.display()))?;
    let store = location.open_read_only(data_dir).await?;
    let published = mingzhang_api::tiles::publish(&*store, &note, &verifier, dir)?;
    println!(
        "published {} records as tlog-tiles to {}: {} files written ({} bytes), {} full tiles kept, {} bytes in all",
        published.size,
        dir.display(),
        published.files_written,
        published.bytes_written,
        published.files_kept,
        published.bytes_total
    );
    println!(
        "check it with: mingzhang verify {} --key {}",
        dir.display(),
        public_path.display()
    );
    Ok(())
}

async fn balances(location: &StoreLocation, data_dir: &Path) -> anyhow::Result<()> {
    require_initialised(location, data_dir)?;
    let store = location.open_read_only(data_dir).await?;
    // A record the rules refuse, or that does not apply, fails the command,
    // naming it: balances that leave it out, or count it, are not the log's.
    // Opening the ledger re-decides every record, as the write side would.
    Ledger::open(store.clone())
        .await
        .map_err(|error| anyhow::anyhow!("replaying the log: {error}"))?;
    let mut projections = Projections::default();
    projections
        .catch_up(&*store)
        .map_err(|error| anyhow::anyhow!("replaying the log: {error}"))?;
    println!(
        "{} records replayed from the log\n",
        projections.applied_len()
    );
    println!("== Funds (CNY) ==");
    for fund in projections.fund_balances() {
        println!(
            "{:<20} held {:>16}  available {:>16}  for projects {:>14}  committed to grants {:>14}  {}",
            fund.fund_id,
            format_fen(fund.total_held_fen),
            format_fen(fund.available_fen),
            format_fen(fund.restricted_to_projects_fen),
            format_fen(fund.committed_to_grants_fen),
            fund.name
        );
    }
    println!("\n== Campaigns (CNY) ==");
    for campaign in projections.campaigns() {
        println!(
            "{:<20} raised {:>16} of {:>16} ({}.{:02} %), pledged {}  {}",
            campaign.campaign_id,
            format_fen(campaign.raised_fen),
            format_fen(campaign.total_target_fen),
            campaign.target_reached_bp / 100,
            campaign.target_reached_bp % 100,
            format_fen(campaign.pledged_fen),
            campaign.name
        );
    }
    let trial_balance = projections.trial_balance();
    println!(
        "\n== Trial balance ==\n{} accounts, total {} (must be 0.00)",
        trial_balance.accounts.len(),
        format_fen(trial_balance.total_fen)
    );
    if trial_balance.total_fen != 0 {
        bail!("the trial balance does not sum to zero");
    }
    Ok(())
}

async fn migrate(source: &StoreLocation, data_dir: &Path, to: &str) -> anyhow::Result<()> {
    require_initialised(source, data_dir)?;
    let (target, target_dir) = if store_location::is_server_url(to) {
        (StoreLocation::parse(Some(to))?, data_dir.to_path_buf())
    } else {
        (StoreLocation::Embedded, PathBuf::from(to))
    };
    let same = match (source, &target) {
        (StoreLocation::Postgres(from), StoreLocation::Postgres(to))
        | (StoreLocation::KurrentDb(from), StoreLocation::KurrentDb(to)) => from == to,
        (StoreLocation::Embedded, StoreLocation::Embedded) => {
            std::fs::create_dir_all(&target_dir)
                .with_context(|| format!("creating {}", target_dir.display()))?;
            data_dir.canonicalize()? == target_dir.canonicalize()?
        }
        _ => false,
    };
    if same {
        bail!("--to: the target is the source's own log (rule: migrate copies to another store)");
    }
    if let StoreLocation::Postgres(url) = &target {
        store_location::create_postgres_schema(url).await?;
    }
    let from = source.open_read_only(data_dir).await?;
    let into = target.open(&target_dir).await?;
    eprintln!(
        "migrating {} records from {} to {}",
        from.head().len,
        source.describe(data_dir),
        target.describe(&target_dir)
    );
    let report = store_location::migrate(&*from, &*into, |done, total| {
        if done == total || done % (1 << 20) < 4096 {
            eprintln!("  {done} of {total} records");
        }
    })
    .await?;
    // The names behind the records' commitments go with them, under their
    // salts, or the target's servers could open none of them.
    let from_names = source.open_personal_data(data_dir).await?;
    let into_names = target.open_personal_data(&target_dir).await?;
    if from_names.describe() != into_names.describe() {
        let entries = from_names
            .entries()
            .context("reading the source's personal data")?;
        for (subject_id, salt, value) in &entries {
            into_names
                .keep(subject_id, *salt, value)
                .with_context(|| format!("copying the personal data of {subject_id}"))?;
        }
        eprintln!(
            "copied {} personal data entries from {} to {}",
            entries.len(),
            from_names.describe(),
            into_names.describe()
        );
    }
    drop((from_names, into_names));
    // Both logs are the same records now, so the checkpoint signed over the
    // source holds for the target: the target's auditors need it.
    let source_checkpoints = source.open_checkpoints(data_dir).await?;
    if let Some(latest) = source_checkpoints.latest()? {
        let target_checkpoints = target.open_checkpoints(&target_dir).await?;
        target_checkpoints
            .save(latest.size, &latest.note)
            .with_context(|| format!("copying the checkpoint at size {}", latest.size))?;
        // A data directory's checkpoint is checked with the key beside it;
        // the public one only: the signing key is not the log's to copy.
        let (_, public_key) = mingzhang_api::transparency::key_paths(data_dir);
        let (_, target_key) = mingzhang_api::transparency::key_paths(&target_dir);
        if public_key.is_file() && !target_key.exists() {
            std::fs::create_dir_all(target_key.parent().expect("has a parent"))?;
            std::fs::copy(&public_key, &target_key)
                .with_context(|| format!("copying {}", public_key.display()))?;
        }
        eprintln!(
            "copied the latest checkpoint (size {}) from {} to {}",
            latest.size,
            source_checkpoints.describe(),
            target_checkpoints.describe()
        );
    }
    println!(
        "migrated: {} records ({} were already there, {} copied); both sides checked: head {}, merkle root {}, balances digest {}",
        report.summary.len,
        report.already,
        report.copied,
        hex::encode(report.summary.head_hash),
        hex::encode(report.summary.merkle_root),
        hex::encode(report.summary.balances_digest)
    );
    Ok(())
}

/// `export` from a log that is not files of its own (PostgreSQL, KurrentDB): its
/// records, read by range, become the bundle's one segment.
async fn export_copy(
    location: &StoreLocation,
    data_dir: &Path,
    out: &Path,
    signer: &mingzhang_ledger::checkpoint::SignerKey,
) -> anyhow::Result<()> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty", out.display());
    }
    let checkpoints = location.open_checkpoints(data_dir).await?;
    let store = location.open_read_only(data_dir).await?;
    let mut projections = Projections::default();
    projections.catch_up(&*store)?;
    let (size, note) = mingzhang_api::transparency::sign_detached(
        &*store,
        &projections,
        signer,
        mingzhang_api::transparency::DEFAULT_ORIGIN,
    )?;
    // The bundle's checkpoint is signed now; the servers' latest must be a
    // prefix of it, or the log was rewritten after they signed.
    if let Some(latest) = checkpoints.latest()? {
        mingzhang_api::transparency::require_log_extends(&*store, &latest, &signer.verifier())
            .with_context(|| checkpoints.describe())?;
        eprintln!(
            "the log extends the latest checkpoint the servers saved (size {})",
            latest.size
        );
    }
    let bytes = store_location::write_log_copy(&*store, size, &out.join("log"))?;
    std::fs::write(out.join("checkpoint.note"), note)?;
    std::fs::write(
        out.join("checkpoint.pub"),
        format!("{}\n", signer.verifier().to_text()),
    )?;
    let documents = mingzhang_api::documents::export_public(data_dir, out)?;
    println!(
        "exported {size} records ({bytes} bytes of records) from {}, {documents} public documents and a checkpoint signed at size {size} to {}",
        location.describe(data_dir),
        out.display()
    );
    println!("check it with: mingzhang verify {}", out.display());
    Ok(())
}

/// A temporary data directory for `verify` of a log in a server: the
/// server's records, read by range, as one segment, beside the latest signed
/// checkpoint (from the database for PostgreSQL, else from `--data-dir`) and
/// the verifier key from `--data-dir`, so the audit holds the records to the
/// checkpoint the writer signed, as it does a data directory's, and reports
/// the records after it as the unsigned tail of a log that grows.
async fn copy_for_audit(
    location: &StoreLocation,
    data_dir: &Path,
) -> anyhow::Result<tempfile::TempDir> {
    let checkpoints = location.open_checkpoints(data_dir).await?;
    // Read before the records, so the copy covers at least what it signs.
    let latest = checkpoints.latest()?;
    let store = location.open_read_only(data_dir).await?;
    let copy = tempfile::tempdir().context("creating a temporary copy of the log")?;
    let len = store.head().len;
    store_location::write_log_copy(&*store, len, &copy.path().join("log"))?;
    if let Some(latest) = &latest {
        let to = copy.path().join("checkpoints").join("latest.note");
        std::fs::create_dir_all(to.parent().expect("has a parent"))?;
        std::fs::write(&to, &latest.note).with_context(|| format!("writing {}", to.display()))?;
    }
    let key = data_dir.join("keys/checkpoint.pub");
    if key.is_file() {
        let to = copy.path().join("keys/checkpoint.pub");
        std::fs::create_dir_all(to.parent().expect("has a parent"))?;
        std::fs::copy(&key, &to).with_context(|| format!("copying {}", key.display()))?;
    }
    eprintln!(
        "read {len} records from {} into a temporary copy at {}; checking it against {} and the key in {}",
        location.describe(data_dir),
        copy.path().display(),
        match &latest {
            Some(latest) => format!(
                "the checkpoint at size {} in {}",
                latest.size,
                checkpoints.describe()
            ),
            None => format!("no checkpoint ({} holds none)", checkpoints.describe()),
        },
        data_dir.display()
    );
    Ok(copy)
}

fn token(location: &StoreLocation, data_dir: &Path, command: TokenCommand) -> anyhow::Result<()> {
    require_initialised(location, data_dir)?;
    let path = auth::token_file_path(data_dir);
    let mut file = auth::load_tokens(&path)?;
    match command {
        TokenCommand::Create {
            role,
            donor,
            organisation,
        } => {
            let (entry, token) =
                auth::create_token(&mut file, role, donor, organisation, state::now_unix_ms())?;
            auth::save_tokens(&path, &file)?;
            eprintln!(
                "created {} ({:?}); the token is shown once:",
                entry.id, entry.role
            );
            println!("{token}");
        }
        TokenCommand::List => {
            for entry in &file.tokens {
                let binding = entry
                    .donor_id
                    .as_deref()
                    .map(|d| format!("donor={d}"))
                    .or_else(|| {
                        entry
                            .organisation_id
                            .as_deref()
                            .map(|o| format!("organisation={o}"))
                    })
                    .unwrap_or_default();
                println!(
                    "{}\t{:?}\t{}\tcreated_at_unix_ms={}\t{}",
                    entry.id,
                    entry.role,
                    binding,
                    entry.created_at_unix_ms,
                    if entry.revoked { "revoked" } else { "active" }
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let entry = file
                .tokens
                .iter_mut()
                .find(|entry| entry.id == id)
                .with_context(|| format!("no token with id {id}"))?;
            entry.revoked = true;
            auth::save_tokens(&path, &file)?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
