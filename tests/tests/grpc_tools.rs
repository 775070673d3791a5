//! Black-box tests of what gRPC's own tools expect of the built `mingzhang`
//! binary: server reflection listing and describing every service, and the
//! standard health service following the readiness `/readyz` reports.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mingzhang_api::grpc_tools::SERVICE_NAMES;
use mingzhang_api::log_failure_hook::FAIL_LOG_WHEN_ENV;
use mingzhang_tests::run_cli;
use prost::Message;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::FileDescriptorProto;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::{v1 as reflection_v1, v1alpha as reflection_v1alpha};

/// How long a health change may take to reach a watcher: the server samples
/// readiness every 250 ms.
const HEALTH_CHANGE_WAIT: Duration = Duration::from_secs(5);

struct Server {
    // Kept for the server's lifetime: dropping it deletes the data directory.
    _data_dir: tempfile::TempDir,
    child: Option<Child>,
    http: String,
    grpc: String,
    operator: String,
}

impl Server {
    fn start() -> Server {
        Server::start_with_env(&[])
    }

    fn start_with_env(env: &[(&str, &Path)]) -> Server {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        let operator = run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
        let served = mingzhang_tests::serve_with_env(data_dir.path(), env);
        Server {
            http: served.http.clone(),
            grpc: served.grpc.clone(),
            _data_dir: data_dir,
            child: Some(served.into_child()),
            operator,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.grpc.clone())
            .expect("gRPC address")
            .connect()
            .await
            .expect("gRPC connects")
    }

    async fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel().await)
    }

    async fn readyz(&self) -> (StatusCode, Value) {
        let response = reqwest::get(format!("{}/readyz", self.http))
            .await
            .expect("/readyz answers");
        let status = response.status();
        (status, response.json().await.expect("/readyz is JSON"))
    }

    async fn open_fund(&self, fund_id: &str) -> StatusCode {
        reqwest::Client::new()
            .post(format!("{}/v1/funds", self.http))
            .bearer_auth(&self.operator)
            .json(&json!({"fund_id": fund_id, "name": "Kaixuan Charity Fund", "kind": "unrestricted"}))
            .send()
            .await
            .expect("request sent")
            .status()
    }

    /// SIGTERM, then the exit status, waited for at most `wait`.
    fn terminate_within(&mut self, wait: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = child.id() as libc::pid_t;
        // SAFETY: signalling the child this test started, by its pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = child.try_wait().expect("child waitable") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not exit within {wait:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn every_service_name() -> BTreeSet<String> {
    SERVICE_NAMES.iter().map(|name| name.to_string()).collect()
}

async fn check(health: &mut HealthClient<Channel>, service: &str) -> ServingStatus {
    let response = health
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("health check of {service:?}: {status}"));
    response.into_inner().status()
}

async fn next_status(watch: &mut tonic::Streaming<HealthCheckResponse>) -> Option<ServingStatus> {
    let message = tokio::time::timeout(HEALTH_CHANGE_WAIT, watch.next())
        .await
        .expect("a health change arrives in time")?;
    Some(message.expect("a health message").status())
}

/// Asks v1 reflection `requests` on one stream, as grpcurl does, and returns
/// the answers in order.
async fn ask_reflection_v1(
    server: &Server,
    requests: Vec<reflection_v1::server_reflection_request::MessageRequest>,
) -> Vec<reflection_v1::server_reflection_response::MessageResponse> {
    let mut client = reflection_v1::server_reflection_client::ServerReflectionClient::new(
        server.channel().await,
    );
    let asked = requests.len();
    let requests = requests
        .into_iter()
        .map(|request| reflection_v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        });
    let mut answers = client
        .server_reflection_info(futures::stream::iter(requests))
        .await
        .expect("reflection answers")
        .into_inner();
    let mut responses = Vec::new();
    for _ in 0..asked {
        let answer = answers
            .next()
            .await
            .expect("one answer per request")
            .expect("an answer, not an error status");
        responses.push(answer.message_response.expect("an answer has a body"));
    }
    responses
}

#[tokio::test]
async fn reflection_lists_every_service_the_server_registers() {
    use reflection_v1::server_reflection_request::MessageRequest;
    use reflection_v1::server_reflection_response::MessageResponse;
    let server = Server::start();
    let answers =
        ask_reflection_v1(&server, vec![MessageRequest::ListServices(String::new())]).await;
    let MessageResponse::ListServicesResponse(listed) = &answers[0] else {
        panic!("list_services answered {:?}", answers[0]);
    };
    let listed: BTreeSet<String> = listed.service.iter().map(|s| s.name.clone()).collect();
    assert_eq!(listed, every_service_name());
    for name in [
        "mingzhang.v1.LedgerService",
        "mingzhang.v1.TransparencyService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(listed.contains(name), "{name} is not listed: {listed:?}");
    }

    // Tools still on v1alpha see the same list.
    let mut client = reflection_v1alpha::server_reflection_client::ServerReflectionClient::new(
        server.channel().await,
    );
    let request = reflection_v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            reflection_v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let answer = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("v1alpha reflection answers")
        .into_inner()
        .next()
        .await
        .expect("an answer")
        .expect("not an error status");
    let Some(
        reflection_v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(
            listed_v1alpha,
        ),
    ) = answer.message_response
    else {
        panic!("v1alpha list_services answered {answer:?}");
    };
    let listed_v1alpha: BTreeSet<String> =
        listed_v1alpha.service.into_iter().map(|s| s.name).collect();
    assert_eq!(listed_v1alpha, every_service_name());
}

/// The files reflection sends for `request`, one file per answer, as
/// tonic-reflection sends them.
async fn reflected_file(
    server: &Server,
    request: reflection_v1::server_reflection_request::MessageRequest,
) -> FileDescriptorProto {
    use reflection_v1::server_reflection_response::MessageResponse;
    let answer = ask_reflection_v1(server, vec![request.clone()])
        .await
        .remove(0);
    let MessageResponse::FileDescriptorResponse(files) = answer else {
        panic!("{request:?} answered {answer:?}");
    };
    assert_eq!(files.file_descriptor_proto.len(), 1, "{request:?}");
    FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice())
        .expect("a file descriptor")
}

/// grpcurl describes and calls a service from the file reflection sends for
/// its name, asking for each import by file name: those files must declare
/// the service and its methods.
#[tokio::test]
async fn reflection_describes_every_listed_service_with_its_methods() {
    use reflection_v1::server_reflection_request::MessageRequest;
    let server = Server::start();
    for name in SERVICE_NAMES {
        let mut files = vec![
            reflected_file(
                &server,
                MessageRequest::FileContainingSymbol(name.to_owned()),
            )
            .await,
        ];
        // Each round fetches an import not yet fetched; there are far fewer
        // files than rounds allowed.
        for _ in 0..16 {
            let fetched: BTreeSet<String> =
                files.iter().map(|file| file.name().to_owned()).collect();
            let Some(missing) = files
                .iter()
                .flat_map(|file| file.dependency.iter())
                .find(|import| !fetched.contains(*import))
                .cloned()
            else {
                break;
            };
            files.push(reflected_file(&server, MessageRequest::FileByFilename(missing)).await);
        }
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos(files)
            .unwrap_or_else(|error| panic!("the files sent for {name} resolve: {error}"));
        let service = pool
            .get_service_by_name(name)
            .unwrap_or_else(|| panic!("the files sent for {name} do not declare it"));
        assert!(service.methods().len() > 0, "{name} has no methods");
    }
}

#[tokio::test]
async fn health_reports_serving_overall_and_for_every_service_while_ready() {
    let server = Server::start();
    let (status, body) = server.readyz().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut health = server.health().await;
    assert_eq!(check(&mut health, "").await, ServingStatus::Serving);
    for name in SERVICE_NAMES {
        assert_eq!(
            check(&mut health, name).await,
            ServingStatus::Serving,
            "{name}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "mingzhang.v1.NoSuchService".into(),
        })
        .await
        .expect_err("an unknown service has no health");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn health_turns_not_serving_when_the_log_fails_as_readyz_does() {
    let trigger_dir = tempfile::tempdir().expect("temp dir");
    let trigger: PathBuf = trigger_dir.path().join("fail-the-log");
    let server = Server::start_with_env(&[(FAIL_LOG_WHEN_ENV, &trigger)]);
    assert_eq!(server.open_fund("before").await, StatusCode::OK);
    let mut health = server.health().await;
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch starts")
        .into_inner();
    assert_eq!(next_status(&mut watch).await, Some(ServingStatus::Serving));

    std::fs::write(&trigger, b"").expect("trigger created");
    let refused = server.open_fund("after").await;
    assert!(
        refused.is_server_error(),
        "a write on a failed log answered {refused}"
    );

    assert_eq!(
        next_status(&mut watch).await,
        Some(ServingStatus::NotServing)
    );
    for name in SERVICE_NAMES {
        assert_eq!(
            check(&mut health, name).await,
            ServingStatus::NotServing,
            "{name}"
        );
    }
    let (status, body) = server.readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["log_failed"], json!(true), "{body}");
    // Removing the trigger does not heal the log: it stays failed until restarted.
    std::fs::remove_file(&trigger).expect("trigger removed");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(check(&mut health, "").await, ServingStatus::NotServing);
}

/// A load balancer's open Watch must not keep a server that was told to stop
/// from stopping: watchers hear NOT_SERVING, then their stream ends.
#[tokio::test]
async fn an_open_health_watch_hears_not_serving_and_does_not_hold_up_shutdown() {
    let mut server = Server::start();
    let mut health = server.health().await;
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "mingzhang.v1.LedgerService".into(),
        })
        .await
        .expect("watch starts")
        .into_inner();
    assert_eq!(next_status(&mut watch).await, Some(ServingStatus::Serving));
    let exit = tokio::task::spawn_blocking(move || {
        let exit = server.terminate_within(Duration::from_secs(10));
        drop(server);
        exit
    });
    let mut heard = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(HEALTH_CHANGE_WAIT, watch.next()).await {
        heard.push(message.status());
    }
    assert!(exit.await.expect("waiting for the server").success());
    assert_eq!(heard.last(), Some(&ServingStatus::NotServing), "{heard:?}");
}
