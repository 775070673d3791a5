//! A claim in the project market on the real server: the form's
//! idempotency key makes a double submit write the claim and its pledge
//! once, a pledge refused after the claim is explained on the sponsor's
//! page, and a claim posted without the session's CSRF token is refused
//! with 403 and writes nothing.

use mingzhang_tests::hidden_input;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

async fn log_records(client: &reqwest::Client, base: &str) -> u64 {
    let ready: serde_json::Value = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["log_records"].as_u64().unwrap()
}

#[test]
fn a_double_submitted_claim_and_pledge_write_once_and_a_claim_without_csrf_writes_nothing() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    mingzhang_tests::run_cli(data_dir.path(), &["demo"]);
    let token = |args: &[&str]| {
        let mut all = vec!["token", "create", "--role"];
        all.extend_from_slice(args);
        mingzhang_tests::run_cli(data_dir.path(), &all)
            .trim()
            .to_owned()
    };
    let operator = token(&["operator"]);
    let sponsor = token(&["sponsor", "--donor", "unit-03"]);
    let served = mingzhang_tests::serve(data_dir.path());
    let base = served.http.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let published = client
            .post(format!("{base}/v1/projects"))
            .bearer_auth(&operator)
            .json(&json!({
                "project_id": "claim-twice",
                "title": "微公益：社区图书角",
                "need_kind": "micro_charity",
                "community": "景芳社区",
                "budget": "3000",
                "fund_id": "partners-day",
            }))
            .send()
            .await
            .unwrap();
        assert!(published.status().is_success());
        let signed_in = client
            .post(format!("{base}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={sponsor}"))
            .send()
            .await
            .unwrap();
        let cookie = signed_in.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let market = client
            .get(format!(
                "{base}/sponsor/market?community=%E6%99%AF%E8%8A%B3%E7%A4%BE%E5%8C%BA"
            ))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let form = market
            .split("action=\"/sponsor/market/claim-twice/claim\"")
            .nth(1)
            .expect("the project's claim form");
        let (csrf, key) = (
            hidden_input(form, "csrf"),
            hidden_input(form, "idempotency_key"),
        );
        let records_before = log_records(&client, &base).await;
        let post = |body: String| {
            client
                .post(format!("{base}/sponsor/market/claim-twice/claim"))
                .header(COOKIE, &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };

        let forged = post(format!("idempotency_key={key}")).await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        assert_eq!(log_records(&client, &base).await, records_before);

        let pledging = |total: &str| {
            format!(
                "csrf={csrf}&idempotency_key={key}&pledge_total={total}&pledge_due_on=2027-06-30"
            )
        };
        for _ in 0..2 {
            let claimed = post(pledging("3000.00")).await.unwrap();
            assert_eq!(claimed.status(), StatusCode::SEE_OTHER);
            assert_eq!(claimed.headers()[LOCATION], "/sponsor?claimed=claim-twice");
        }
        assert_eq!(
            log_records(&client, &base).await,
            records_before + 2,
            "the double submit wrote the claim and its pledge once"
        );

        // The same form's key with another pledge: the claim stands (a
        // replay), the pledge is refused and the sponsor's page says why.
        let changed = post(pledging("4000.00")).await.unwrap();
        assert_eq!(changed.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = changed.text().await.unwrap();
        assert!(page.contains("id=\"pledge-refused\""), "{page}");
        assert!(page.contains("idempotency_key_reused"), "{page}");
        assert!(page.contains("id=\"claim-done\""), "{page}");
        assert_eq!(log_records(&client, &base).await, records_before + 2);
        let project: serde_json::Value = client
            .get(format!("{base}/v1/projects"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let projects = project.get("projects").unwrap_or(&project);
        let claimed = projects
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["project_id"] == "claim-twice")
            .unwrap();
        assert_eq!(claimed["claimant_id"], "unit-03");
    });
}

#[test]
fn a_claim_on_an_id_no_project_can_have_is_404_before_any_sign_in() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    let served = mingzhang_tests::serve(data_dir.path());
    let base = served.http.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let malformed = client
            .post(format!("{base}/sponsor/market/null%2Cnull/claim"))
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), StatusCode::NOT_FOUND);
        // A well-formed id without a session is sent to sign in.
        let unsigned = client
            .post(format!("{base}/sponsor/market/some-project/claim"))
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), StatusCode::SEE_OTHER);
        assert_eq!(unsigned.headers()[LOCATION], "/login");
        assert_eq!(log_records(&client, &base).await, 0);
    });
}
