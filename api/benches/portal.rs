//! The portal at scale (issue 19): render time of the sponsor portal and
//! the project market over the Kaixuan demo grown to a million records,
//! and a bank statement of 10,000 rows imported end to end.
//!
//!     cargo bench -p mingzhang-api --bench portal
//!
//! Pages: model and render from projection state, as the handler does under
//! the projections' read lock (p50 / p99 / max of 200 renders each; the
//! target is p99 < 20 ms). The market holds 500 open projects besides the
//! demo's.
//!
//! Import: the real router in process (sign-in, the form's CSRF token,
//! multipart upload) on an embedded log with fsync: the dry run, the
//! confirm (10,000 donations in one batch, and their receipt links), and the second dry run of the
//! same file (every row already recorded), each timed once.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use mingzhang_api::auth::{Role, TokenRegistry, create_token, save_tokens, token_file_path};
use mingzhang_api::backend::{self, LedgerHandle};
use mingzhang_api::portal::{market, organisation, sponsor};
use mingzhang_api::receipt_links::ReceiptLinks;
use mingzhang_api::state::{AppState, request_sha256};
use mingzhang_ledger::scenario;
use mingzhang_projections::{Day, Projections};
use mingzhang_proto::v1::{self, EventEnvelope, event_envelope::Event};

#[path = "support/big_log.rs"]
#[allow(dead_code)] // this bench grows its own log: it takes the demo and the timing
mod big_log;

const RECORDS_TOTAL: u64 = 1_000_000;
const RENDERS_PER_PAGE: usize = 200;
const MARKET_PROJECTS: usize = 500;
const IMPORT_ROWS: usize = 10_000;

fn apply(projections: &mut Projections, event: Event, at_unix_ms: i64) {
    let seq = projections.applied_len();
    projections
        .apply(
            seq,
            &EventEnvelope {
                recorded_at_unix_ms: at_unix_ms,
                event: Some(event),
                ..Default::default()
            },
        )
        .expect("the grown records apply");
}

/// The demo, 500 open projects across the communities, then synthetic
/// gifts (a sixth anonymous walk-ins, the rest from residents and two
/// member units) up to `records`.
fn build_projections(records: u64) -> Projections {
    let mut projections = big_log::kaixuan_projections();
    let first_ms = scenario::unix_ms_at_0900_cst("2017-01-01");
    let communities = [
        "闸弄口社区",
        "三里亭社区",
        "景芳社区",
        "凯旋社区",
        "南肖埠社区",
    ];
    for index in 0..MARKET_PROJECTS {
        apply(
            &mut projections,
            Event::ProjectPublished(v1::ProjectPublished {
                project_id: format!("market-{index:04}"),
                title: format!("微心愿 {index}"),
                description: String::new(),
                need_kind: 1 + (index % 4) as i32,
                community: communities[index % communities.len()].into(),
                survey: "2017-H1".into(),
                budget_fen: 100_000 + (index as i64 * 7_919) % 2_000_000,
                fund_id: scenario::PARTNERS_FUND_ID.into(),
            }),
            first_ms,
        );
    }
    let givers = [
        "",
        "resident-wang",
        "resident-li",
        "resident-zhang",
        "unit-01",
        "unit-07",
    ];
    let mut index = 0usize;
    while projections.applied_len() < records {
        let donor_id = givers[index % givers.len()];
        apply(
            &mut projections,
            Event::DonationReceived(v1::DonationReceived {
                donation_id: format!("syn-{index}"),
                donor_id: donor_id.into(),
                fund_id: scenario::CHARITY_FUND_ID.into(),
                campaign_id: scenario::CAMPAIGN_ID.into(),
                project_id: String::new(),
                amount_fen: 100 + (index as i64 * 7_919) % 50_000,
                channel: v1::Channel::Online as i32,
                bank_reference: String::new(),
                anonymous: donor_id.is_empty() || index.is_multiple_of(5),
                received_on: "2017-03-01".into(),
            }),
            first_ms + index as i64,
        );
        index += 1;
    }
    projections
}

fn pages() {
    let started = Instant::now();
    let projections = build_projections(RECORDS_TOTAL);
    println!(
        "built {} records in {:.1} s",
        projections.applied_len(),
        started.elapsed().as_secs_f64()
    );
    let today = Day::parse("2017-06-30").unwrap();
    let link = |seq: u64| Some(format!("/r/code-{seq}"));
    for donor_id in ["unit-01", "unit-04"] {
        big_log::measure(&format!("/sponsor ({donor_id})"), RENDERS_PER_PAGE, || {
            let view = sponsor::sponsor_model(&projections, donor_id, today).unwrap();
            sponsor::render_sponsor(&view, &link, None, None).into_string()
        });
    }
    let filters = [
        ("/sponsor/market", market::MarketFilter::default()),
        (
            "/sponsor/market?kind&community",
            market::MarketFilter {
                community: "景芳社区".into(),
                kind: "micro_wish".into(),
                ..market::MarketFilter::default()
            },
        ),
        (
            "/sponsor/market?budget_max=5000",
            market::MarketFilter {
                budget_max_fen: Some(500_000),
                ..market::MarketFilter::default()
            },
        ),
    ];
    for (name, filter) in filters {
        big_log::measure(name, RENDERS_PER_PAGE, || {
            let view = market::market_model(&projections, &filter);
            market::render_market(&view, &filter, "csrf", None, None).into_string()
        });
    }
    big_log::measure("/organisation (org-000)", RENDERS_PER_PAGE, || {
        let view = organisation::organisation_model(&projections, "org-000", today).unwrap();
        organisation::render_organisation(&view).into_string()
    });
}

const BOUNDARY: &str = "bench-boundary";

fn multipart(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body
}

async fn body_text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn import() {
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data_dir.path().join("log")).unwrap();
    let store = backend::open_store(data_dir.path()).unwrap();
    let ledger = backend::Ledger::open(store).await.unwrap();
    for (index, (command, mut meta)) in backend::kaixuan().into_iter().enumerate() {
        meta.idempotency_key = Some(format!("demo-{index}"));
        meta.request_sha256 = request_sha256(&meta.actor, &command);
        ledger.submit(command, meta).await.unwrap();
    }
    let mut tokens = Default::default();
    let (_, token) = create_token(&mut tokens, Role::Operator, None, None, 0).unwrap();
    let tokens_path = token_file_path(data_dir.path());
    save_tokens(&tokens_path, &tokens).unwrap();
    let registry = std::sync::Arc::new(TokenRegistry::open(tokens_path).unwrap());
    let (_shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let receipt_links = std::sync::Arc::new(ReceiptLinks::open(data_dir.path()).unwrap());
    let state = AppState::start(
        LedgerHandle::start(ledger),
        registry,
        shutdown_rx,
        Some(receipt_links),
        None,
    )
    .unwrap();
    let router = mingzhang_api::http::router(state.clone());

    let signed_in = router
        .clone()
        .oneshot(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("token={token}")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let form = router
        .clone()
        .oneshot(
            Request::get("/console/bank-import")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let form = body_text(form).await;
    let csrf = form.split("name=\"csrf\" value=\"").nth(1).unwrap();
    let csrf = csrf[..csrf.find('"').unwrap()].to_owned();

    let payers = [
        "凯旋示范商贸有限公司",
        "景芳示例科技有限公司",
        "王先生",
        "\"李女士, 个人\"",
    ];
    let mut statement = String::from("date,amount,payer,reference\n");
    for row in 0..IMPORT_ROWS {
        statement.push_str(&format!(
            "2017-0{}-{:02},{}.{:02},{},ICBC-2017-{row:06}\n",
            1 + row % 9,
            1 + row % 28,
            10 + row % 5_000,
            row % 100,
            payers[row % payers.len()]
        ));
    }
    let post = |action: &'static str| {
        Request::post("/console/bank-import")
            .header(header::COOKIE, &cookie)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(multipart(&[
                ("csrf", &csrf),
                ("action", action),
                ("fund_id", scenario::CHARITY_FUND_ID),
                ("statement", &statement),
            ])))
            .unwrap()
    };
    let log_len = || state.store.head().len;
    let before = log_len();
    for (name, action, written) in [
        ("bank import dry run", "dry_run", 0),
        ("bank import confirm", "confirm", IMPORT_ROWS as u64),
        ("bank import again (dry run)", "dry_run", 0),
        ("bank import again (confirm)", "confirm", 0),
    ] {
        let at_start = log_len();
        let started = Instant::now();
        let response = router.clone().oneshot(post(action)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let html = body_text(response).await;
        let elapsed = started.elapsed();
        state.wait_for_projections_to_reach_the_log().await.unwrap();
        assert_eq!(log_len() - at_start, written, "{name}");
        println!(
            "{name:<34} {IMPORT_ROWS} rows  {:>8.1} ms  html={} KiB",
            elapsed.as_secs_f64() * 1e3,
            html.len() / 1024
        );
    }
    assert_eq!(log_len() - before, IMPORT_ROWS as u64);
}

fn main() {
    pages();
    tokio::runtime::Runtime::new().unwrap().block_on(import());
}
