//! `mingzhang serve`: HTTP and gRPC in one process on one ledger, with
//! graceful shutdown on SIGTERM/SIGINT (stop accepting, finish in-flight
//! requests, end live feeds, exit).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{TokenRegistry, token_file_path};
use crate::backend::{Ledger, LedgerHandle};
use crate::config::ServeConfig;
use crate::grpc::{GrpcApi, TransparencyApi};
use crate::personal_data::PersonalDataStore;
use crate::proof_calls::ProofCalls;
use crate::state::AppState;
use crate::store_switch::{
    Election, StoreOpener, SwitchableStore, hold_the_write_role, keep_writing,
};
use crate::transparency::{DEFAULT_ORIGIN, ProjectionsAt, Transparency};
use mingzhang_ledger::checkpoint_store::CheckpointStore;

/// How often a new checkpoint is signed while the log grows.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("opening the log: {0}")]
    Open(String),
    #[error(transparent)]
    Tokens(#[from] crate::auth::TokenError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("http server: {0}")]
    Http(std::io::Error),
    #[error("grpc server: {0}")]
    Grpc(tonic::transport::Error),
    #[error("starting: {0}")]
    Start(String),
}

/// The addresses actually bound (port 0 in the config picks a free port).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
}

pub async fn run(
    data_dir: &Path,
    config: ServeConfig,
    on_bound: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    let store =
        crate::log_failure_hook::open_store_for_serve(data_dir).map_err(ServeError::Open)?;
    let checkpoints = crate::transparency::file_checkpoints(data_dir)
        .map_err(|error| ServeError::Start(format!("checkpoints: {error:#}")))?;
    let personal_data = Arc::new(
        crate::personal_data::FilePersonalData::open(data_dir)
            .map_err(|error| ServeError::Start(format!("personal data: {error}")))?,
    );
    run_on(
        store,
        BesideTheLog {
            checkpoints,
            personal_data,
        },
        data_dir,
        config,
        on_bound,
    )
    .await
}

/// What a server keeps beside the log, wherever the log is: in the
/// database with a log in PostgreSQL, in the data directory otherwise.
pub struct BesideTheLog {
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub personal_data: Arc<dyn PersonalDataStore>,
}

/// `run` on a log already opened (`--store`), its checkpoints and personal
/// data kept in `beside`; tokens and keys are still in `data_dir`.
pub async fn run_on(
    store: Arc<dyn mingzhang_ledger::store::EventStore>,
    beside: BesideTheLog,
    data_dir: &Path,
    config: ServeConfig,
    on_bound: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    serve_store(store, beside, None, data_dir, config, on_bound).await
}

/// `run_on` a log in a database that may fail over to a standby: the log is
/// opened with `reopen`, and opened with it afresh whenever the store fails
/// (see `store_switch`), so the server carries on once a server accepts
/// writes again.
///
/// `election_url`: the database where several servers elect the one that
/// writes (see `store_switch::hold_the_write_role`); this server advertises
/// `MINGZHANG_ADVERTISE`, or its bound HTTP address.
pub async fn run_reopening(
    reopen: StoreOpener,
    beside: BesideTheLog,
    election_url: Option<String>,
    data_dir: &Path,
    config: ServeConfig,
    on_bound: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    let store = reopen()
        .await
        .map_err(|error| ServeError::Open(format!("{error:#}")))?;
    serve_store(
        store,
        beside,
        Some((reopen, election_url)),
        data_dir,
        config,
        on_bound,
    )
    .await
}

async fn serve_store(
    store: Arc<dyn mingzhang_ledger::store::EventStore>,
    beside: BesideTheLog,
    reopen: Option<(StoreOpener, Option<String>)>,
    data_dir: &Path,
    config: ServeConfig,
    on_bound: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    let ledger = Ledger::open(store.clone())
        .await
        .map_err(|error| ServeError::Open(error.to_string()))?;
    let tokens = Arc::new(TokenRegistry::open(token_file_path(data_dir))?);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut election = None;
    let ledger = match reopen {
        None => LedgerHandle::start(ledger),
        Some((reopen, election_url)) => {
            let switch = SwitchableStore::new(store);
            let handle = LedgerHandle::reading_from(ledger, switch.clone());
            if let Some(url) = election_url {
                // No write until this server is elected.
                handle.follow(None);
                election = Some((switch.clone(), reopen.clone(), url));
            }
            tokio::spawn(keep_writing(
                switch,
                handle.clone(),
                reopen,
                shutdown_rx.clone(),
            ));
            handle
        }
    };
    let store = ledger.store();
    let receipt_links = Arc::new(
        crate::receipt_links::ReceiptLinks::open(data_dir)
            .map_err(|error| ServeError::Start(format!("receipt links: {error}")))?,
    );
    let BesideTheLog {
        checkpoints,
        personal_data,
    } = beside;
    // Beside the log on either store: PostgreSQL holds records, not files.
    let documents = crate::documents::DocumentStore::open(data_dir)
        .map_err(|error| ServeError::Start(format!("documents: {error}")))?;
    let state = AppState::start(
        ledger,
        tokens,
        shutdown_rx.clone(),
        Some(receipt_links),
        Some(personal_data),
    )
    .map_err(|error| ServeError::Start(error.to_string()))?
    .with_documents(Arc::new(documents))
    .with_session_settings(config.sessions);
    let transparency = Arc::new(
        Transparency::open_with(data_dir, store.as_ref(), DEFAULT_ORIGIN, checkpoints)
            .map_err(|error| ServeError::Start(format!("transparency log: {error:#}")))?
            .with_witnesses(crate::witness_client::WitnessClient::new(
                config.witnesses.clone(),
            )),
    );
    let signer = spawn_checkpoint_signer(state.clone(), transparency.clone(), shutdown_rx.clone());
    let proof_calls = Arc::new(ProofCalls::new(state.clone(), transparency.clone()));

    let http_listener = TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.http_addr,
            source,
        })?;
    let grpc_listener = TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.grpc_addr,
            source,
        })?;
    let bound = Bound {
        http_addr: http_listener.local_addr().map_err(ServeError::Http)?,
        grpc_addr: grpc_listener.local_addr().map_err(ServeError::Http)?,
    };
    tracing::info!(http = %bound.http_addr, grpc = %bound.grpc_addr, "serving");
    on_bound(bound);
    if let Some((switch, reopen, url)) = election {
        let advertise = std::env::var("MINGZHANG_ADVERTISE")
            .unwrap_or_else(|_| format!("http://{}", bound.http_addr));
        tokio::spawn(hold_the_write_role(
            switch,
            state.ledger.clone(),
            reopen,
            Election { url, advertise },
            shutdown_rx.clone(),
        ));
    }

    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        shutdown_tx.send_replace(true);
    });

    let http = {
        let mut stopping = shutdown_rx.clone();
        let router =
            crate::http::router_with_transparency(state.clone(), Some(proof_calls.clone()));
        async move {
            // Replies go out whole at once; Nagle's algorithm would only hold
            // one back behind an unacknowledged one.
            let http_listener = axum::serve::ListenerExt::tap_io(http_listener, |tcp| {
                if let Err(error) = tcp.set_nodelay(true) {
                    tracing::warn!(%error, "TCP_NODELAY not set");
                }
            });
            // The client's address, for rate-limiting failed sign-ins.
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(http_listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                })
                .await
                .map_err(ServeError::Http)
        }
    };
    let grpc = {
        let mut stopping = shutdown_rx.clone();
        let incoming = grpc_incoming(grpc_listener);
        let service = GrpcApi::new(state.clone()).into_server();
        let transparency_service =
            TransparencyApi::new(state.clone(), proof_calls.clone()).into_server();
        let health_service = crate::grpc_tools::health_service(state.clone()).await;
        let (reflection_v1, reflection_v1alpha) = crate::grpc_tools::reflection_services()
            .map_err(|error| ServeError::Start(format!("gRPC reflection: {error}")))?;
        // Every service added here is named in `grpc_tools::SERVICE_NAMES`.
        async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .add_service(transparency_service)
                .add_service(health_service)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                })
                .await
                .map_err(ServeError::Grpc)
        }
    };
    let (http_result, grpc_result) = tokio::join!(http, grpc);
    // The last checkpoint covers every write acknowledged before shutdown.
    if let Err(error) = signer.await {
        tracing::error!(%error, "checkpoint signer panicked");
    }
    http_result?;
    grpc_result?;
    tracing::info!(log_records = state.store.head().len, "stopped cleanly");
    Ok(())
}

/// gRPC connections accepted from `listener`, with Nagle's algorithm off. A
/// reply goes out as headers, message and trailers in separate writes; with
/// Nagle on, the trailers waited for the client's delayed ACK, 40 ms on
/// Linux: every call took at least 44 ms, a batch of 10 commands as long as
/// one of 1,000. (The builder's `tcp_nodelay` only reaches listeners tonic
/// binds itself.)
fn grpc_incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Signs a checkpoint over the projections whenever they have moved since the
/// last one, every `CHECKPOINT_INTERVAL`, and once more when shutting down,
/// while this server holds the write role: the followers of a log in a
/// database serve the checkpoints the writer saves, and sign only on demand
/// (a receipt or `POST /v1/checkpoints` no saved checkpoint covers yet).
fn spawn_checkpoint_signer(
    state: AppState,
    transparency: Arc<Transparency>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(CHECKPOINT_INTERVAL) => false,
                _ = shutdown.wait_for(|stop| *stop) => true,
            };
            // At shutdown, let the projections take in the writes finished in-flight.
            if stopping && let Err(error) = state.wait_for_projections_to_reach_the_log().await {
                tracing::warn!(%error, "the last checkpoint may not cover every record");
            }
            if !state.ledger.is_writer() {
                if stopping {
                    break;
                }
                continue;
            }
            let (state, transparency) = (state.clone(), transparency.clone());
            let signed = tokio::task::spawn_blocking(move || {
                let signed_size = transparency.latest().map(|(size, _)| size);
                if signed_size == Some(state.projections.read().applied_len()) {
                    return Ok(None);
                }
                // Signed after the projections are let go (see `sign_at`).
                let at = ProjectionsAt::taken_from(&state.projections.read());
                transparency.sign_at(state.store.as_ref(), at).map(Some)
            })
            .await;
            match signed {
                Ok(Ok(Some((size, _)))) => tracing::info!(size, "signed a checkpoint"),
                Ok(Ok(None)) => {}
                Ok(Err(error)) => {
                    tracing::error!(error = format!("{error:#}"), "signing a checkpoint failed")
                }
                Err(error) => tracing::error!(%error, "checkpoint signer panicked"),
            }
            if stopping {
                break;
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::grpc_incoming;

    #[tokio::test]
    async fn grpc_connections_are_accepted_with_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let mut incoming = grpc_incoming(listener);
        let _client = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let accepted = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        assert!(
            accepted.nodelay().expect("TCP_NODELAY readable"),
            "an accepted gRPC connection still has Nagle's algorithm on"
        );
    }
}
