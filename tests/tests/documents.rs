//! Black-box: documents (docs/documents.md) on the Kaixuan demo over real
//! HTTP: a report uploaded under its hash is served with its type and
//! linked from the page that shows its record; a wrong type, an oversized
//! body and a hash mismatch are refused with nothing written; a document
//! that is not public keeps its hash visible and its bytes hidden; an
//! organisation uploads only its own grant's reports.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use mingzhang_tests::{Served, run_cli, serve};

/// The demo's completion report of pd2015-01 and self-assessment of
/// grant-mv2016-001 (`ledger::scenario` records their SHA-256).
const COMPLETION_REPORT: &str = "completion report of pd2015-01";
const SELF_ASSESSMENT: &str = "self-assessment grant-mv2016-001 2016-Q2";
const TEN_MIB: usize = 10 * 1024 * 1024;

struct Demo {
    data_dir: tempfile::TempDir,
    server: Served,
    operator: String,
    client: reqwest::Client,
}

fn token(data_dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    run_cli(data_dir, &all).trim().to_owned()
}

impl Demo {
    fn start() -> Demo {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        run_cli(data_dir.path(), &["demo"]);
        let operator = token(data_dir.path(), &["--role", "operator"]);
        let server = serve(data_dir.path());
        Demo {
            data_dir,
            server,
            operator,
            client: reqwest::Client::new(),
        }
    }

    fn token(&self, args: &[&str]) -> String {
        token(self.data_dir.path(), args)
    }

    async fn put(
        &self,
        token: Option<&str>,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value, String) {
        let mut request = self
            .client
            .put(format!("{}{path}", self.server.http))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let content_type = header(&response, "content-type");
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            content_type,
        )
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.server.http))
            .send()
            .await
            .expect("request sent")
    }

    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("page")
    }

    fn documents_dir(&self) -> Vec<(String, Vec<u8>)> {
        let dir = self.data_dir.path().join("documents");
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .expect("the server made the documents directory")
            .map(|entry| {
                let entry = entry.expect("entry");
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).expect("readable"),
                )
            })
            .collect();
        entries.sort();
        entries
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII header").to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_uploaded_report_is_served_as_stored_and_linked_from_its_project_page() {
    let demo = Demo::start();
    let hash = sha256_hex(COMPLETION_REPORT.as_bytes());
    let path = format!("/v1/documents/{hash}");

    let (status, first, _) = demo
        .put(Some(&demo.operator), &path, COMPLETION_REPORT.into())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["sha256"], hash);
    assert_eq!(first["media_type"], "text/plain");
    assert_eq!(first["size_bytes"], COMPLETION_REPORT.len());
    assert_eq!(first["public"], true);
    assert_eq!(first["url"], format!("/documents/{hash}"));
    assert_eq!(first["references"][0]["kind"], "project_completion");
    assert_eq!(first["references"][0]["id"], "pd2015-01");
    assert_eq!(first["references"][0]["page"], "/projects/pd2015-01");
    let seq = first["references"][0]["seq"].as_u64().expect("a seq");
    let record: Value = demo
        .client
        .get(format!(
            "{}/v1/records?from={seq}&limit=1",
            demo.server.http
        ))
        .bearer_auth(&demo.operator)
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        record["records"][0]["event_type"], "ProjectCompleted",
        "{record}"
    );
    assert_eq!(record["records"][0]["seq"], seq);

    // The same bytes again: the same answer, nothing written.
    let stored = demo.documents_dir();
    let (status, again, _) = demo
        .put(Some(&demo.operator), &path, COMPLETION_REPORT.into())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    assert_eq!(demo.documents_dir(), stored);

    let metadata = demo.get(&path).await;
    assert_eq!(metadata.status(), StatusCode::OK);
    assert_eq!(metadata.json::<Value>().await.unwrap(), first);

    let served = demo.get(&format!("/documents/{hash}")).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(header(&served, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(header(&served, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&served, "content-disposition"),
        format!("inline; filename=\"{hash}.txt\"")
    );
    assert_eq!(
        header(&served, "content-security-policy"),
        "default-src 'none'; sandbox"
    );
    assert_eq!(served.bytes().await.unwrap(), COMPLETION_REPORT.as_bytes());

    let page = demo.page("/projects/pd2015-01").await;
    assert!(
        page.contains(&format!("href=\"/documents/{hash}\"")),
        "{page}"
    );
    assert!(page.contains(&format!("data-document-check=\"/documents/{hash}\"")));
    assert!(page.contains("src=\"/assets/documents.js\""));
    let script = demo.get("/assets/documents.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("crypto.subtle.digest")
    );
}

#[tokio::test]
async fn a_wrong_type_an_oversized_body_and_a_hash_mismatch_are_refused_and_write_nothing() {
    let demo = Demo::start();
    let before = demo.documents_dir();
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff".to_vec();
    let oversized = vec![b'a'; TEN_MIB + 1];
    let cases: Vec<(&str, String, Vec<u8>, StatusCode, &str)> = vec![
        (
            "a GIF",
            format!("/v1/documents/{}", sha256_hex(&gif)),
            gif.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "document_type_unsupported",
        ),
        (
            "binary with a NUL",
            format!("/v1/documents/{}", sha256_hex(b"PK\x03\x04\x00")),
            b"PK\x03\x04\x00".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "document_type_unsupported",
        ),
        (
            "an empty body",
            format!("/v1/documents/{}", sha256_hex(b"")),
            Vec::new(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "document_empty",
        ),
        (
            "10 MiB and one byte",
            format!("/v1/documents/{}", sha256_hex(&oversized)),
            oversized,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "another document's hash",
            format!("/v1/documents/{}", sha256_hex(COMPLETION_REPORT.as_bytes())),
            b"completion report of pd2015-02".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "sha256_mismatch",
        ),
        (
            "an uppercase hash",
            format!(
                "/v1/documents/{}",
                sha256_hex(COMPLETION_REPORT.as_bytes()).to_uppercase()
            ),
            COMPLETION_REPORT.into(),
            StatusCode::BAD_REQUEST,
            "sha256_invalid",
        ),
        (
            "a position past the log",
            format!(
                "/v1/documents/{}?min_seq=99999999",
                sha256_hex(COMPLETION_REPORT.as_bytes())
            ),
            COMPLETION_REPORT.into(),
            StatusCode::BAD_REQUEST,
            "min_seq_past_end",
        ),
        (
            "a bad flag",
            format!(
                "/v1/documents/{}?public=maybe",
                sha256_hex(COMPLETION_REPORT.as_bytes())
            ),
            COMPLETION_REPORT.into(),
            StatusCode::BAD_REQUEST,
            "public_invalid",
        ),
    ];
    for (what, path, body, status, rule) in cases {
        let (answered, problem, content_type) = demo.put(Some(&demo.operator), &path, body).await;
        assert_eq!(answered, status, "{what}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{what}");
        assert_eq!(problem["rule"], rule, "{what}: {problem}");
        assert_eq!(demo.documents_dir(), before, "{what} wrote something");
    }
    let hash = sha256_hex(COMPLETION_REPORT.as_bytes());
    let not_stored = demo.get(&format!("/documents/{hash}")).await;
    assert_eq!(not_stored.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn who_may_upload_is_checked_before_the_body() {
    let demo = Demo::start();
    let before = demo.documents_dir();
    let auditor = demo.token(&["--role", "auditor"]);
    let sponsor = demo.token(&["--role", "sponsor", "--donor", "unit-02"]);
    let organisation = demo.token(&["--role", "organisation", "--organisation", "org-001"]);
    let own = format!("/v1/documents/{}", sha256_hex(SELF_ASSESSMENT.as_bytes()));
    let other_report = "self-assessment grant-mv2016-002 2016-Q2";
    let others = format!("/v1/documents/{}", sha256_hex(other_report.as_bytes()));
    // A body of the wrong type: the role is refused before it is read.
    for (token, status, rule) in [
        (None, StatusCode::UNAUTHORIZED, "unauthenticated"),
        (
            Some(auditor.as_str()),
            StatusCode::FORBIDDEN,
            "role_may_not_upload",
        ),
        (
            Some(sponsor.as_str()),
            StatusCode::FORBIDDEN,
            "role_may_not_upload",
        ),
    ] {
        let (answered, problem, _) = demo.put(token, &own, b"\x00\x01".to_vec()).await;
        assert_eq!((answered, problem["rule"].as_str()), (status, Some(rule)));
    }
    let (answered, problem, _) = demo
        .put(Some(&organisation), &others, other_report.into())
        .await;
    assert_eq!(answered, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["rule"], "not_own_report");
    assert_eq!(demo.documents_dir(), before);

    let (answered, stored, _) = demo
        .put(Some(&organisation), &own, SELF_ASSESSMENT.into())
        .await;
    assert_eq!(answered, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["references"][0]["kind"], "grant_self_assessment");
    assert_eq!(stored["references"][0]["id"], "grant-mv2016-001");
    assert_eq!(stored["references"][0]["period"], "2016-Q2");

    // A self-assessment the organisation files now, its report uploaded
    // right after: `min_seq` waits for the record to count.
    let report = "self-assessment grant-mv2016-001 2016-Q4";
    let filed = demo
        .client
        .post(format!(
            "{}/v1/grants/grant-mv2016-001/self-assessments",
            demo.server.http
        ))
        .bearer_auth(&organisation)
        .json(
            &serde_json::json!({"quarter": "2016-Q4", "summary": "按计划推进",
                                  "report_sha256": sha256_hex(report.as_bytes())}),
        )
        .send()
        .await
        .expect("request sent");
    assert_eq!(filed.status(), StatusCode::OK);
    let seq = filed.json::<Value>().await.unwrap()["records"][0]["seq"].clone();
    let (answered, stored, _) = demo
        .put(
            Some(&organisation),
            &format!(
                "/v1/documents/{}?min_seq={seq}",
                sha256_hex(report.as_bytes())
            ),
            report.into(),
        )
        .await;
    assert_eq!(answered, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["references"][0]["period"], "2016-Q4");

    let page = demo.page("/grants/grant-mv2016-001").await;
    assert!(page.contains(&format!(
        "href=\"/documents/{}\"",
        sha256_hex(SELF_ASSESSMENT.as_bytes())
    )));
}

#[tokio::test]
async fn a_document_not_public_keeps_its_hash_visible_and_its_bytes_hidden() {
    let demo = Demo::start();
    let hash = sha256_hex(COMPLETION_REPORT.as_bytes());
    let path = format!("/v1/documents/{hash}");
    let (status, stored, _) = demo
        .put(
            Some(&demo.operator),
            &format!("{path}?public=false"),
            COMPLETION_REPORT.into(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["public"], false);
    assert!(stored.get("url").is_none(), "{stored}");

    let served = demo.get(&format!("/documents/{hash}")).await;
    assert_eq!(served.status(), StatusCode::NOT_FOUND);
    let body = served.text().await.unwrap();
    assert!(!body.contains(COMPLETION_REPORT));
    let metadata: Value = demo.get(&path).await.json().await.unwrap();
    assert_eq!(metadata["public"], false);

    // Its flag is not lifted by uploading it again as public.
    let (status, problem, _) = demo
        .put(Some(&demo.operator), &path, COMPLETION_REPORT.into())
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["rule"], "public_flag_differs");

    for (page_path, label) in [
        ("/projects/pd2015-01", "不公开（含个人信息）"),
        ("/projects/pd2015-01?lang=en", "not public (personal data)"),
    ] {
        let page = demo.page(page_path).await;
        assert!(page.contains(&hash), "{page_path}");
        assert!(page.contains(label), "{page_path}");
        assert!(!page.contains(&format!("/documents/{hash}")), "{page_path}");
    }
}

#[tokio::test]
async fn an_exported_bundle_carries_the_public_documents_and_still_verifies() {
    let demo = Demo::start();
    let public_hash = sha256_hex(COMPLETION_REPORT.as_bytes());
    let personal = "completion report of pd2015-00";
    let personal_hash = sha256_hex(personal.as_bytes());
    for (path, body) in [
        (format!("/v1/documents/{public_hash}"), COMPLETION_REPORT),
        (
            format!("/v1/documents/{personal_hash}?public=false"),
            personal,
        ),
    ] {
        let (status, answer, _) = demo.put(Some(&demo.operator), &path, body.into()).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let out = tempfile::tempdir().expect("temp dir");
    let bundle = out.path().join("bundle");
    let bundle_arg = bundle.to_str().expect("utf-8 path");
    let exported = run_cli(demo.data_dir.path(), &["export", bundle_arg]);
    assert!(exported.contains("1 public documents"), "{exported}");
    assert_eq!(
        std::fs::read(bundle.join("documents").join(&public_hash)).unwrap(),
        COMPLETION_REPORT.as_bytes()
    );
    assert!(
        bundle
            .join("documents")
            .join(format!("{public_hash}.json"))
            .is_file()
    );
    assert!(!bundle.join("documents").join(&personal_hash).exists());
    let verified = run_cli(demo.data_dir.path(), &["verify", bundle_arg]);
    assert!(verified.contains("OK: "), "{verified}");
}
