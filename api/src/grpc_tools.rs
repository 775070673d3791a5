//! What gRPC's own tools expect of a server: reflection, so that `grpcurl`
//! and its like list and call every service without the `.proto` files, and
//! the standard health service `grpc.health.v1.Health` for load balancers
//! and Kubernetes probes, reporting the readiness `/readyz` reports.

use std::time::Duration;

use mingzhang_proto::v1::{ledger_service_server, transparency_service_server};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{self, Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_reflection::pb::{v1 as reflection_v1, v1alpha as reflection_v1alpha};
use tonic_reflection::server::{Builder as ReflectionBuilder, Error as ReflectionError};

use crate::readiness::Readiness;
use crate::state::AppState;

/// Every service the gRPC server registers, by full name: reflection lists
/// exactly these and the health service reports on each of them.
pub const SERVICE_NAMES: [&str; 5] = [
    ledger_service_server::SERVICE_NAME,
    transparency_service_server::SERVICE_NAME,
    health_server::SERVICE_NAME,
    reflection_v1::server_reflection_server::SERVICE_NAME,
    // Older grpcurl and most GUI clients still ask v1alpha only.
    reflection_v1alpha::server_reflection_server::SERVICE_NAME,
];

/// How often the health service looks at readiness. A failed log raises no
/// event, so it is sampled as a probe would sample `/readyz`.
pub const READINESS_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Reflection over every schema served, in both versions of the protocol.
pub fn reflection_services() -> Result<
    (
        reflection_v1::server_reflection_server::ServerReflectionServer<
            impl reflection_v1::server_reflection_server::ServerReflection,
        >,
        reflection_v1alpha::server_reflection_server::ServerReflectionServer<
            impl reflection_v1alpha::server_reflection_server::ServerReflection,
        >,
    ),
    ReflectionError,
> {
    // Each version is told of both reflection schemas, so that either lists
    // every service the server has.
    let builder = || {
        ReflectionBuilder::configure()
            .register_encoded_file_descriptor_set(mingzhang_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(reflection_v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(reflection_v1alpha::FILE_DESCRIPTOR_SET)
            .include_reflection_service(false)
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// The health service, its statuses (overall, `""`, and each of
/// `SERVICE_NAMES`) set from readiness now and kept at it by a task until
/// shutdown.
pub async fn health_service(state: AppState) -> HealthServer<impl Health> {
    let (reporter, service) = tonic_health::server::health_reporter();
    let ready = Readiness::of(&state).is_ready();
    publish(&reporter, ready).await;
    tokio::spawn(follow_readiness(state, reporter, ready));
    service
}

async fn follow_readiness(state: AppState, mut reporter: HealthReporter, mut ready: bool) {
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(READINESS_SAMPLE_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        let readiness = Readiness::of(&state);
        if readiness.is_ready() != ready {
            ready = readiness.is_ready();
            tracing::warn!(
                ready,
                log_records = readiness.log_records,
                applied_records = readiness.applied_records,
                log_failed = readiness.log_failure.is_some(),
                "gRPC health changes"
            );
            publish(&reporter, ready).await;
        }
    }
    // Draining: watchers hear NOT_SERVING, then their streams end, which a
    // graceful shutdown would otherwise wait for forever.
    publish(&reporter, false).await;
    for name in std::iter::once("").chain(SERVICE_NAMES) {
        reporter.clear_service_status(name).await;
    }
}

async fn publish(reporter: &HealthReporter, ready: bool) {
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for name in std::iter::once("").chain(SERVICE_NAMES) {
        reporter.set_service_status(name, status).await;
    }
}
