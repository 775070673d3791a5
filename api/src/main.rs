//! `mingzhang`: the ledger's command-line program and server.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mingzhang_api::auth::{self, Role};
use mingzhang_api::backend::{self, Ledger, Projections};
use mingzhang_api::money::format_fen;
use mingzhang_api::{config, serve, state};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory and an empty log.
    Init,
    /// Record the Kaixuan scenario (idempotent: running it twice records it once).
    Demo,
    /// Check every record's checksum, hash and chain link; exits non-zero at the first bad one.
    Verify,
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
        /// TOML config file [default: <data-dir>/config.toml if present]
        #[arg(long, env = "MINGZHANG_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Manage API bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
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
    match cli.command {
        Command::Init => init(&data_dir),
        Command::Demo => runtime.block_on(demo(&data_dir)),
        Command::Verify => verify(&data_dir),
        Command::Balances => balances(&data_dir),
        Command::Serve {
            http_addr,
            grpc_addr,
            config,
        } => {
            require_initialised(&data_dir)?;
            let file = config::load_file(config.as_deref(), &data_dir)?;
            let config = config::resolve(http_addr, grpc_addr, file)?;
            runtime.block_on(serve::run(&data_dir, config, |bound| {
                // Tests and scripts read this line to find the ports.
                println!(
                    "mingzhang listening http={} grpc={}",
                    bound.http_addr, bound.grpc_addr
                );
            }))?;
            Ok(())
        }
        Command::Token(command) => token(&data_dir, command),
    }
}

fn require_initialised(data_dir: &Path) -> anyhow::Result<()> {
    if !data_dir.join("log").is_dir() {
        bail!(
            "{} has no log; run `mingzhang --data-dir {} init` first",
            data_dir.display(),
            data_dir.display()
        );
    }
    Ok(())
}

fn init(data_dir: &Path) -> anyhow::Result<()> {
    let log_dir = data_dir.join("log");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let store = backend::open_store(data_dir).map_err(anyhow::Error::msg)?;
    let token_path = auth::token_file_path(data_dir);
    if !token_path.exists() {
        auth::save_tokens(&token_path, &auth::TokenFile::default())?;
    }
    println!(
        "initialised {} ({} records in the log)",
        data_dir.display(),
        store.head().len
    );
    Ok(())
}

async fn demo(data_dir: &Path) -> anyhow::Result<()> {
    require_initialised(data_dir)?;
    let store = backend::open_store(data_dir).map_err(anyhow::Error::msg)?;
    let ledger = Ledger::open(store)
        .await
        .map_err(|error| anyhow::anyhow!("opening the ledger: {error}"))?;
    let (mut recorded, mut already) = (0usize, 0usize);
    for (index, (command, mut meta)) in backend::kaixuan().into_iter().enumerate() {
        if meta.idempotency_key.is_none() {
            meta.idempotency_key = Some(format!("demo-kaixuan-{index:04}"));
        }
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
    println!(
        "Kaixuan demo: {recorded} records written, {already} commands were already recorded; log has {} records",
        ledger.store().head().len
    );
    Ok(())
}

fn verify(data_dir: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    require_initialised(data_dir)?;
    let log_dir = data_dir.join("log");
    println!("verifying {}", log_dir.display());
    let mut last_shown_mib = 0u64;
    let result = backend::verify(data_dir, |bytes| {
        let mib = bytes >> 20;
        if mib >= last_shown_mib + 16 {
            last_shown_mib = mib;
            eprint!("\r  {mib} MiB checked");
            let _ = std::io::stderr().flush();
        }
    });
    eprintln!();
    match result {
        Ok(report) => {
            println!(
                "OK: {} records in {} segments ({} bytes); every checksum, hash and chain link holds",
                report.records, report.segments, report.bytes
            );
            println!("head hash: {}", hex_string(&report.last_hash));
            if let Some(torn) = report.torn_tail {
                println!("note: a torn tail the next open will truncate: {torn:?}");
            }
            Ok(())
        }
        Err(error) => bail!("verification FAILED: {error}"),
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn balances(data_dir: &Path) -> anyhow::Result<()> {
    require_initialised(data_dir)?;
    let store = backend::open_store(data_dir).map_err(anyhow::Error::msg)?;
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

fn token(data_dir: &Path, command: TokenCommand) -> anyhow::Result<()> {
    require_initialised(data_dir)?;
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
