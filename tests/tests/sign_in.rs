//! Browser sign-in on the real server (`session`): the cookie and where each
//! role lands, a refused token, the rate limit on failed sign-ins, expiry,
//! and the token never in an address or a page.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// POSTs `token` to /login as a browser's form would.
async fn sign_in(client: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    client
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
}

/// `mz_session=<id>` from a sign-in's Set-Cookie.
fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn each_role_signs_in_to_its_home_with_a_strict_http_only_cookie() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    let token = |args: &[&str]| {
        let mut all = vec!["token", "create", "--role"];
        all.extend_from_slice(args);
        mingzhang_tests::run_cli(data_dir.path(), &all)
            .trim()
            .to_owned()
    };
    let operator = token(&["operator"]);
    let sponsor = token(&["sponsor", "--donor", "d1"]);
    let organisation = token(&["organisation", "--organisation", "o1"]);
    let auditor = token(&["auditor"]);
    let served = mingzhang_tests::serve(data_dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = client();
    runtime.block_on(async {
        for (token, home) in [
            (&operator, "/console"),
            (&sponsor, "/sponsor"),
            (&organisation, "/organisation"),
            (&auditor, "/"),
        ] {
            let response = sign_in(&client, &served.http, token).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            assert_eq!(response.headers()[LOCATION], home);
            let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
            assert!(set_cookie.starts_with("mz_session="), "{set_cookie}");
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
                assert!(set_cookie.contains(attribute), "{attribute}: {set_cookie}");
            }
            assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
            assert!(!set_cookie.contains(token.as_str()), "{set_cookie}");
            // Signed in, /login sends the person home instead of asking again.
            let again = client
                .get(format!("{}/login", served.http))
                .header(COOKIE, session_cookie(&response))
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::SEE_OTHER);
            assert_eq!(again.headers()[LOCATION], home);
        }

        let form = client
            .get(format!("{}/login", served.http))
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::OK);
        assert_eq!(form.headers()["cache-control"], "no-store");
        let page = form.text().await.unwrap();
        assert!(
            page.contains(r#"<form class="staff" method="post" action="/login">"#),
            "{page}"
        );
        assert!(page.contains(r#"<label for="token">"#), "{page}");

        // A sign-in posted from another site's page is refused (login CSRF).
        let cross_site = client
            .post(format!("{}/login", served.http))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://evil.example")
            .body(format!("token={operator}"))
            .send()
            .await
            .unwrap();
        assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
        assert!(cross_site.headers().get(SET_COOKIE).is_none());

        // A refused token is not echoed back.
        let refused = sign_in(&client, &served.http, "mz_0000").await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(refused.headers().get(SET_COOKIE).is_none());
        let page = refused.text().await.unwrap();
        assert!(page.contains(r#"role="alert""#), "{page}");
        assert!(!page.contains("mz_0000"), "{page}");
    });
}

#[test]
fn failed_sign_ins_past_the_limit_are_answered_429_even_with_a_good_token() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    let operator =
        mingzhang_tests::run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
    let served = mingzhang_tests::serve(data_dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = client();
    runtime.block_on(async {
        for attempt in 0..mingzhang_api::session::SIGN_IN_FAILURES_PER_ADDRESS {
            let response = sign_in(&client, &served.http, "mz_guess").await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}"
            );
        }
        let held = sign_in(&client, &served.http, &operator).await;
        assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = held.headers()[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert!(held.headers().get(SET_COOKIE).is_none());
        let page = held.text().await.unwrap();
        assert!(page.contains(r#"role="alert""#), "{page}");
    });
}

#[test]
fn a_session_expires_after_its_max_age() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    let operator =
        mingzhang_tests::run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
    let served = mingzhang_tests::serve_with_env(
        data_dir.path(),
        &[("MINGZHANG_SESSION_MAX_AGE", Path::new("1"))],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = client();
    runtime.block_on(async {
        let response = sign_in(&client, &served.http, &operator).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        assert!(set_cookie.contains("Max-Age=1"), "{set_cookie}");
        let cookie = session_cookie(&response);
        let login = |cookie: String| {
            client
                .get(format!("{}/login", served.http))
                .header(COOKIE, cookie)
                .send()
        };
        assert_eq!(
            login(cookie.clone()).await.unwrap().status(),
            StatusCode::SEE_OTHER
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // The browser would have dropped the cookie; one sent anyway is void.
        assert_eq!(login(cookie).await.unwrap().status(), StatusCode::OK);
    });
}

#[test]
fn revoking_a_token_ends_its_sessions() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    let operator =
        mingzhang_tests::run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
    let listed = mingzhang_tests::run_cli(data_dir.path(), &["token", "list"]);
    let token_id = listed
        .split_whitespace()
        .find(|word| word.starts_with("tok_"))
        .expect("the token's id is listed")
        .to_owned();
    let served = mingzhang_tests::serve(data_dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = client();
    runtime.block_on(async {
        let cookie = session_cookie(&sign_in(&client, &served.http, &operator).await);
        mingzhang_tests::run_cli(data_dir.path(), &["token", "revoke", &token_id]);
        let response = client
            .get(format!("{}/login", served.http))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "asked to sign in again");
    });
}
