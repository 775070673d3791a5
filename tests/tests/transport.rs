//! Black-box: how the public page travels (issue 16, item 7). Pages,
//! exports and JSON answers come gzip- or brotli-compressed when asked and
//! decompress to the very bytes sent plain; a page's ETag moves with the
//! log and a matching `If-None-Match` answers 304; the favicon is an image
//! every page links.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::io::Read;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use serde_json::json;

use mingzhang_tests::{Served, run_cli};

/// The Kaixuan demo served, with an operator token to write more.
struct Demo {
    _data_dir: tempfile::TempDir,
    served: Served,
    operator: String,
    client: reqwest::Client,
}

impl Demo {
    fn start() -> Demo {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        run_cli(data_dir.path(), &["demo"]);
        let operator = run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
        Demo {
            served: mingzhang_tests::serve(data_dir.path()),
            _data_dir: data_dir,
            operator,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.served.http));
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let response = request.send().await.expect("request sent");
        let header = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|value| value.to_str().expect("ASCII header").to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Answer {
            status: response.status(),
            content_encoding: header(CONTENT_ENCODING),
            content_type: header(CONTENT_TYPE),
            etag: header(ETAG),
            cache_control: header(CACHE_CONTROL),
            vary: header(VARY),
            body: response.bytes().await.expect("body").to_vec(),
        }
    }

    async fn record_a_gift(&self, donation_id: &str) {
        let gift = json!({"donation_id": donation_id, "donor_id": "resident-zhang",
            "fund_id": mingzhang_ledger::scenario::CHARITY_FUND_ID, "amount": "66.60",
            "channel": "bank_transfer", "bank_reference": format!("BR-{donation_id}"),
            "received_on": "2015-06-01"});
        let response = self
            .client
            .post(format!("{}/v1/donations", self.served.http))
            .bearer_auth(&self.operator)
            .json(&gift)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        let written: serde_json::Value = response.json().await.expect("JSON");
        let seq = written["records"][0]["seq"].as_u64().expect("seq");
        self.wait_until_applied(seq + 1).await;
    }

    /// The reply comes once the record is durable; the projections, which
    /// the page reflects, apply it just after. Bounded: 5 s at most.
    async fn wait_until_applied(&self, records: u64) {
        for _ in 0..500 {
            let ready: serde_json::Value = self
                .client
                .get(format!("{}/readyz", self.served.http))
                .send()
                .await
                .expect("request sent")
                .json()
                .await
                .expect("JSON");
            if ready["applied_records"].as_u64().expect("applied_records") >= records {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "the projections did not apply record {} in 5 s",
            records - 1
        );
    }
}

struct Answer {
    status: StatusCode,
    content_encoding: String,
    content_type: String,
    etag: String,
    cache_control: String,
    vary: String,
    body: Vec<u8>,
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .expect("a gzip stream");
    plain
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    brotli_decompressor::Decompressor::new(bytes, 4_096)
        .read_to_end(&mut plain)
        .expect("a brotli stream");
    plain
}

#[tokio::test]
async fn pages_exports_and_json_come_compressed_and_decompress_to_the_same_bytes() {
    let demo = Demo::start();
    for path in [
        "/",
        "/?lang=en",
        "/projects?lang=en",
        "/exports/donations.csv",
        "/exports/grants-360giving.json",
        "/v1/funds",
    ] {
        let plain = demo.get(path, &[]).await;
        assert_eq!(plain.status, StatusCode::OK, "{path}");
        assert_eq!(plain.content_encoding, "", "{path}: not asked to compress");
        for (encoding, decompress) in [
            ("br", unbrotli as fn(&[u8]) -> Vec<u8>),
            ("gzip", gunzip as fn(&[u8]) -> Vec<u8>),
        ] {
            let compressed = demo.get(path, &[(ACCEPT_ENCODING, encoding)]).await;
            assert_eq!(compressed.status, StatusCode::OK, "{path} {encoding}");
            assert_eq!(compressed.content_encoding, encoding, "{path}");
            assert!(
                compressed
                    .vary
                    .to_ascii_lowercase()
                    .contains("accept-encoding"),
                "{path} {encoding}: Vary {:?}",
                compressed.vary
            );
            assert!(
                compressed.body.len() * 2 < plain.body.len(),
                "{path} {encoding}: {} bytes for {} plain",
                compressed.body.len(),
                plain.body.len()
            );
            assert!(
                decompress(&compressed.body) == plain.body,
                "{path} {encoding}: decompressed differs from the plain answer"
            );
        }
    }
}

#[tokio::test]
async fn a_page_tag_moves_with_a_write_and_a_matching_if_none_match_answers_304() {
    let demo = Demo::start();
    for path in ["/", "/sponsors?q=unit", "/exports/donations.csv"] {
        let first = demo.get(path, &[]).await;
        assert_eq!(first.status, StatusCode::OK, "{path}");
        assert!(
            first.etag.starts_with("W/\""),
            "{path}: ETag {:?}",
            first.etag
        );
        assert_eq!(first.cache_control, "public, max-age=10", "{path}");
        assert!(first.vary.contains("accept-encoding"), "{path}");

        let again = demo.get(path, &[(IF_NONE_MATCH, &first.etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty(), "{path}: a 304 has no body");
        assert_eq!(again.etag, first.etag, "{path}");
        assert_eq!(again.cache_control, "public, max-age=10", "{path}");

        // The tag of another representation names it, not this one.
        let other = demo.get(path, &[(IF_NONE_MATCH, "W/\"0-000000\"")]).await;
        assert_eq!(other.status, StatusCode::OK, "{path}");
        assert_eq!(other.body, first.body, "{path}");
    }

    let chinese = demo.get("/", &[]).await;
    let english = demo.get("/?lang=en", &[]).await;
    assert_ne!(chinese.etag, english.etag, "each language is its own page");
    let earlier = demo.get("/?as_of=2016-01-01", &[]).await;
    assert_ne!(
        chinese.etag, earlier.etag,
        "each as-of date is its own page"
    );
    let bad = demo.get("/?as_of=yesterday", &[(IF_NONE_MATCH, "*")]).await;
    assert_eq!(
        bad.status,
        StatusCode::BAD_REQUEST,
        "a bad date is refused, not 304"
    );

    demo.record_a_gift("after-the-etag").await;
    let after = demo.get("/", &[(IF_NONE_MATCH, &chinese.etag)]).await;
    assert_eq!(after.status, StatusCode::OK, "the write changed the page");
    assert_ne!(after.etag, chinese.etag);
    assert_ne!(after.body, chinese.body);
    let export = demo
        .get("/exports/donations.csv", &[(IF_NONE_MATCH, &chinese.etag)])
        .await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(
        String::from_utf8(export.body)
            .unwrap()
            .contains("after-the-etag"),
        "the export after the write lists the new gift"
    );
    let unchanged = demo.get("/", &[(IF_NONE_MATCH, &after.etag)]).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn the_favicon_is_a_small_image_every_page_links_and_browsers_keep_a_week() {
    let demo = Demo::start();
    let icon = demo.get("/favicon.svg", &[]).await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.content_type, "image/svg+xml");
    assert_eq!(icon.cache_control, "public, max-age=604800");
    assert!(icon.body.len() < 2_048, "{} bytes", icon.body.len());
    assert!(String::from_utf8(icon.body).unwrap().starts_with("<svg"));
    for path in [
        "/",
        "/?lang=en",
        "/projects",
        "/sponsors/unit-01",
        "/verify",
        &format!("/funds/{}", mingzhang_ledger::scenario::CHARITY_FUND_ID),
    ] {
        let page = demo.get(path, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let html = String::from_utf8(page.body).unwrap();
        assert!(
            html.contains(r#"<link rel="icon" type="image/svg+xml" href="/favicon.svg">"#),
            "{path} links the icon"
        );
    }
}
