//! Black-box: the disclosure calendar (docs/disclosures.md) of the Kaixuan
//! demo over real HTTP: `GET /v1/disclosures` for the operator and the
//! auditor, `?as_of=` moving the answer, problem+json for the public and for
//! bad values; the calendar on the grant and project pages.
//!
//! Build first: `cargo build -p mingzhang-api --bin mingzhang`.

use reqwest::StatusCode;
use serde_json::Value;

use mingzhang_tests::{Served, run_cli, serve};

struct DemoServer {
    _data_dir: tempfile::TempDir,
    served: Served,
    operator: String,
    auditor: String,
    client: reqwest::Client,
}

impl DemoServer {
    fn start() -> DemoServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        run_cli(data_dir.path(), &["init"]);
        run_cli(data_dir.path(), &["demo"]);
        let token = |role: &str| {
            run_cli(data_dir.path(), &["token", "create", "--role", role])
                .trim()
                .to_owned()
        };
        let operator = token("operator");
        let auditor = token("auditor");
        DemoServer {
            served: serve(data_dir.path()),
            _data_dir: data_dir,
            operator,
            auditor,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, token: Option<&str>, path: &str) -> (StatusCode, String, String) {
        let mut request = self.client.get(format!("{}{path}", self.served.http));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().expect("ASCII").to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.expect("body"))
    }

    async fn json(&self, token: &str, path: &str) -> Value {
        let (status, _, text) = self.get(Some(token), path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }
}

fn calendar<'a>(answer: &'a Value, id: &str) -> Option<&'a Value> {
    answer["calendars"]
        .as_array()
        .expect("calendars")
        .iter()
        .find(|calendar| calendar["id"] == id)
}

#[tokio::test]
async fn an_overdue_quarterly_report_is_listed_for_the_operator_as_of_the_date_asked() {
    let server = DemoServer::start();
    let overdue = server
        .json(
            &server.operator,
            "/v1/disclosures?overdue=true&as_of=2017-02-01",
        )
        .await;
    assert_eq!(overdue["as_of"], "2017-02-01");
    assert_eq!(overdue["overdue_only"], true);
    let grant = calendar(&overdue, "grant-mv2016-000").expect("the grant is overdue");
    assert_eq!(grant["kind"], "grant");
    assert_eq!(grant["overdue"], 1);
    let missing: Vec<&Value> = grant["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|obligation| obligation["status"] == "overdue")
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["kind"], "quarterly_report");
    assert_eq!(missing[0]["due_on"], "2017-01-28");
    assert_eq!(missing[0]["met_by_seq"], Value::Null);
    // The grant closed on 2016-12-31 owes no third quarter.
    assert!(calendar(&overdue, "grant-mv2016-025").is_none());

    // The same grant, disclosed on time, shows nothing overdue a month earlier.
    let earlier = server
        .json(
            &server.auditor,
            "/v1/disclosures?overdue=true&as_of=2016-12-31",
        )
        .await;
    assert!(calendar(&earlier, "grant-mv2016-000").is_none());
    let everything = server
        .json(&server.auditor, "/v1/disclosures?as_of=2016-12-31")
        .await;
    let grant = calendar(&everything, "grant-mv2016-000").expect("every grant is listed");
    assert_eq!(grant["overdue"], 0);
    assert_eq!(grant["disclosures"].as_array().unwrap().len(), 3);
    assert_eq!(grant["obligations"][0]["status"], "on_time");
    assert_eq!(grant["obligations"][0]["disclosed_on"], "2016-07-05");
}

#[tokio::test]
async fn the_public_may_not_read_it_and_bad_values_are_problems_naming_the_field() {
    let server = DemoServer::start();
    let (status, content_type, _) = server.get(None, "/v1/disclosures").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, "application/problem+json");
    for (query, field, rule) in [
        ("as_of=2017-13-01", "as_of", "date_invalid"),
        ("as_of=yesterday", "as_of", "date_invalid"),
        ("overdue=maybe", "query", "bad_query"),
        ("colour=red", "query", "bad_query"),
        ("limit=0", "limit", "limit_out_of_range"),
    ] {
        let (status, content_type, text) = server
            .get(Some(&server.operator), &format!("/v1/disclosures?{query}"))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {text}");
        assert_eq!(content_type, "application/problem+json", "{query}");
        let problem: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(problem["field"], field, "{query}: {text}");
        assert_eq!(problem["rule"], rule, "{query}: {text}");
    }
}

#[tokio::test]
async fn grant_and_project_pages_show_their_calendar_as_of_the_stated_date() {
    let server = DemoServer::start();
    let (status, _, page) = server
        .get(None, "/grants/grant-mv2016-000?as_of=2017-02-01")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("信息公开"), "{page}");
    assert!(page.contains("2017-01-28"));
    assert!(page.contains("已逾期"));
    let (_, _, page) = server
        .get(None, "/grants/grant-mv2016-000?as_of=2016-12-31")
        .await;
    assert!(!page.contains("已逾期"));
    let (_, _, page) = server
        .get(None, "/projects/pd2015-00?as_of=2016-12-31&lang=en")
        .await;
    assert!(page.contains("Disclosures"), "{page}");
    assert!(page.contains("final account"));
    assert!(page.contains("2016-03-20"));
}
