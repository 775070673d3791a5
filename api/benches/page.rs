//! Render time of each public page over the Kaixuan demo grown to a million
//! records with synthetic donations (a giving day at city scale).
//!
//!     cargo bench -p mingzhang-api --bench page
//!
//! Prints p50 / p99 / max per page; the target is p99 < 20 ms (issue 15:
//! a sponsor page and a gift's flow, `GET /v1/flows/donations/{id}`, < 5 ms). Pages render
//! from projection state only; the per-version `Directory` (one pass over the
//! donations) is built once per new record batch and timed separately.
//!
//! The second half asks the page's own router (handler, query parsing, the
//! ETag middleware) behind the server's compression layer, as a browser
//! would: the home page, a sponsor page, the index pages with filters, a
//! fund page, a 304 revalidation, and the home page's bytes plain, gzip and
//! brotli.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use parking_lot::RwLock;
use tower::ServiceExt;

use mingzhang_api::backend::Page;
use mingzhang_api::page::model::{self, CheckpointSummary, Directory, Provenance};
use mingzhang_api::page::{PageSource, exports, page_router, render};
use mingzhang_api::query_answers::{self, QueryKind};
use mingzhang_ledger::scenario;
use mingzhang_projections::Projections;

#[path = "support/big_log.rs"]
mod big_log;
use big_log::{build_projections, grow, report};

const RECORDS_TOTAL: u64 = 1_000_000;
const RENDERS_PER_PAGE: usize = 200;
/// Records appended after the first directory is built, to time a refresh.
const GROWTH_RECORDS: u64 = 1_000;

fn measure(name: &str, render_once: impl FnMut() -> String) {
    big_log::measure(name, RENDERS_PER_PAGE, render_once);
}

fn main() {
    let started = Instant::now();
    let mut projections = build_projections(RECORDS_TOTAL - GROWTH_RECORDS);
    println!(
        "built projections: {} records, {} donations in {:.1} s",
        projections.applied_len(),
        projections.donations_count(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let directory = Directory::build(&projections);
    println!(
        "directory, full pass over {} donations (first view only): {:.1} ms",
        projections.donations_count(),
        started.elapsed().as_secs_f64() * 1e3
    );
    grow(&mut projections, RECORDS_TOTAL);
    let started = Instant::now();
    let directory = directory.refreshed(&projections);
    println!(
        "directory refresh after {GROWTH_RECORDS} new records (first view after a write): {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let checkpoint = format!(
        "bench.example/log\n{}\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} bench.example/log AAAA\n",
        projections.applied_len()
    );
    let provenance = || Provenance {
        records: projections.applied_len(),
        checkpoint: CheckpointSummary::parse(&checkpoint),
        verifier_key: Some("bench.example/log+00000000+AQ==".into()),
        as_of: "2019-12-31".into(),
        as_of_source: model::AsOfSource::Configured,
    };
    for (name, lang) in [
        ("overview /", render::Lang::Zh),
        ("overview /?lang=en", render::Lang::En),
    ] {
        measure(name, || {
            let view = model::views_from(&projections, &directory, provenance());
            render::overview(lang, &view)
        });
    }
    let project_id = scenario::project_id(0);
    measure("project /projects/{id}", || {
        let as_of = mingzhang_projections::Day::parse("2019-12-31").unwrap();
        let view = model::project_page(&projections, &directory, &project_id, as_of).unwrap();
        render::project_page(render::Lang::Zh, &view, &provenance())
    });
    let grant_id = scenario::grant_id(25);
    measure("grant /grants/{id}", || {
        let as_of = mingzhang_projections::Day::parse("2019-12-31").unwrap();
        let view = model::grant_page(&projections, &grant_id, as_of).unwrap();
        render::grant_page(render::Lang::Zh, &view, &provenance())
    });
    for sponsor in ["unit-04", "unit-01"] {
        measure(&format!("sponsor /sponsors/{sponsor}"), || {
            let view =
                model::sponsor_page(&projections, &directory, sponsor, "2019-12-31").unwrap();
            render::sponsor_page(render::Lang::Zh, &view, &provenance())
        });
    }
    // 善款去向 as `GET /v1/flows/...` answers the public, less the socket:
    // the query, its masking and its JSON.
    for (kind, id) in [
        (QueryKind::DonationFlow, "don-pd2015-unit-02"),
        (QueryKind::PledgePaymentFlow, "pay-unit-02-2015"),
        (QueryKind::DonationFlow, "syn-999999"),
    ] {
        measure(&format!("flows {} {id}", kind.name()), || {
            let answer =
                query_answers::answer(&projections, false, kind, id, None, Page::default())
                    .expect("the gift has a flow");
            serde_json::to_string(&answer.to_json()).expect("JSON")
        });
    }
    measure("verify /verify", || {
        render::verify_page(render::Lang::Zh, &provenance(), &directory.fund_names)
    });
    let started = Instant::now();
    let csv = exports::donations_csv(&projections, &directory);
    println!(
        "export donations.csv: {} rows, {} MiB in {:.1} ms",
        csv.lines().count() - 1,
        csv.len() >> 20,
        started.elapsed().as_secs_f64() * 1e3
    );
    through_the_router(projections, &checkpoint);
}

/// One GET through `router`: the status, the body's bytes and, if any, its
/// entity tag.
async fn get(
    router: &axum::Router,
    path: &str,
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, usize, Option<String>) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let etag = response
        .headers()
        .get(header::ETAG)
        .map(|tag| tag.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 256 << 20)
        .await
        .unwrap();
    (status, bytes.len(), etag)
}

fn through_the_router(projections: Projections, checkpoint: &str) {
    let checkpoint = checkpoint.to_owned();
    let source = PageSource::new(Arc::new(RwLock::new(projections)))
        .with_checkpoint(Arc::new(move || Some(checkpoint.clone())))
        .with_verifier_key(Some("bench.example/log+00000000+AQ==".into()))
        .with_as_of(Some("2019-12-31".into()));
    let router = page_router(source).layer(tower_http::compression::CompressionLayer::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The first view builds the directory; every later one reuses it.
        let started = Instant::now();
        let (status, _, _) = get(&router, "/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        println!(
            "router: first view (builds the directory): {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let fund = format!("/funds/{}", scenario::CHARITY_FUND_ID);
        let community = "/projects?community=%E5%87%AF%E6%97%8B%E7%A4%BE%E5%8C%BA&status=completed";
        for path in [
            "/",
            "/?lang=en",
            "/sponsors/unit-01",
            "/sponsors/unit-04",
            "/projects",
            community,
            "/projects?q=%E5%BE%AE%E5%BF%83%E6%84%BF&need_kind=micro_wish&year=2015",
            "/sponsors",
            "/sponsors?q=unit&lang=en",
            "/grants?status=closed&year=2016",
            "/grants?q=%E7%A4%BE%E5%8C%BA",
            "/rounds?year=2016",
            fund.as_str(),
        ] {
            let mut samples = Vec::with_capacity(RENDERS_PER_PAGE);
            let mut bytes = 0;
            for _ in 0..RENDERS_PER_PAGE {
                let started = Instant::now();
                let (status, length, _) = get(&router, path, &[]).await;
                samples.push(started.elapsed());
                assert_eq!(status, StatusCode::OK, "{path}");
                bytes = length;
            }
            report(&format!("router GET {path}"), samples, bytes);
        }
        let (_, _, etag) = get(&router, "/", &[]).await;
        let etag = etag.expect("the home page is tagged");
        let mut samples = Vec::with_capacity(RENDERS_PER_PAGE);
        for _ in 0..RENDERS_PER_PAGE {
            let started = Instant::now();
            let (status, _, _) = get(&router, "/", &[(header::IF_NONE_MATCH, &etag)]).await;
            samples.push(started.elapsed());
            assert_eq!(status, StatusCode::NOT_MODIFIED);
        }
        report("router GET / If-None-Match (304)", samples, 0);
        for encoding in ["identity", "gzip", "br"] {
            let mut samples = Vec::with_capacity(RENDERS_PER_PAGE);
            let mut bytes = 0;
            for _ in 0..RENDERS_PER_PAGE {
                let started = Instant::now();
                let (status, length, _) =
                    get(&router, "/", &[(header::ACCEPT_ENCODING, encoding)]).await;
                samples.push(started.elapsed());
                assert_eq!(status, StatusCode::OK);
                bytes = length;
            }
            report(&format!("router GET / ({encoding})"), samples, bytes);
            println!("  home page bytes on the wire, {encoding}: {bytes}");
        }
    });
}
