//! The operator console on the real server: in headless Chromium an
//! operator signs in, records a donation through its form (review step,
//! confirm) and sees it in the fund's account; a double submit writes once;
//! a refused command shows the rule's message beside the field it names; no
//! page scrolls sideways at 390 px and the token is in no address or page.
//! Over plain HTTP: a POST without the session's CSRF token is refused and
//! writes nothing, a form re-posted writes once, and only operators get in.

use std::time::Duration;

use mingzhang_tests::hidden_input;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

#[path = "support/browser.rs"]
mod browser;
use browser::{Browser, SIDEWAYS_OVERFLOW_JS, artifacts_dir};

/// A server with a fund and an enterprise donor, and an operator's token.
struct Setup {
    _data_dir: tempfile::TempDir,
    served: mingzhang_tests::Served,
    operator: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Setup {
    /// A server on a fresh data directory where `cli` has run after
    /// `init`, and an operator's token.
    fn serving_after(cli: &[&[&str]]) -> Setup {
        let data_dir = tempfile::tempdir().unwrap();
        mingzhang_tests::run_cli(data_dir.path(), &["init"]);
        for args in cli {
            mingzhang_tests::run_cli(data_dir.path(), args);
        }
        let operator =
            mingzhang_tests::run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
                .trim()
                .to_owned();
        let served = mingzhang_tests::serve(data_dir.path());
        Setup {
            _data_dir: data_dir,
            served,
            operator,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// A server with one fund and one sponsor, no demo.
    fn new() -> Setup {
        let setup = Setup::serving_after(&[]);
        setup.api_post(
            "/v1/funds",
            json!({"fund_id": "kaixuan-charity", "name": "凯旋街道社区发展基金", "kind": "unrestricted"}),
        );
        setup.api_post(
            "/v1/donors",
            json!({"donor_id": "unit-01", "name": "杭州某科技有限公司", "kind": "enterprise",
                   "alliance_member": true, "show_name_publicly": true}),
        );
        setup
    }

    fn api_post(&self, path: &str, body: Value) -> Value {
        let request = self
            .client
            .post(format!("{}{path}", self.served.http))
            .bearer_auth(&self.operator)
            .json(&body);
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.json().await.unwrap()
        })
    }

    /// Posts a multipart form (`multipart`'s content type and body) with the
    /// session `cookie`: its status and page.
    fn post_multipart(
        &self,
        cookie: &str,
        path: &str,
        (content_type, body): (String, Vec<u8>),
    ) -> (StatusCode, String) {
        let request = self
            .client
            .post(format!("{}{path}", self.served.http))
            .header(COOKIE, cookie)
            .header("content-type", content_type)
            .body(body);
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        })
    }

    /// Records in the log now.
    fn log_records(&self) -> u64 {
        let request = self.client.get(format!("{}/readyz", self.served.http));
        self.runtime.block_on(async {
            let ready: Value = request.send().await.unwrap().json().await.unwrap();
            ready["log_records"].as_u64().unwrap()
        })
    }

    fn donations(&self) -> Vec<Value> {
        let request = self
            .client
            .get(format!("{}/v1/donations", self.served.http))
            .bearer_auth(&self.operator);
        self.runtime.block_on(async {
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            let list = if answer.is_array() {
                &answer
            } else {
                &answer["donations"]
            };
            list.as_array()
                .cloned()
                .unwrap_or_else(|| panic!("a list: {answer}"))
        })
    }

    /// The session cookie of a sign-in with `token`.
    fn session(&self, token: &str) -> String {
        let request = self
            .client
            .post(format!("{}/login", self.served.http))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"));
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
            set_cookie.split(';').next().unwrap().to_owned()
        })
    }

    fn get(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let request = self
            .client
            .get(format!("{}{path}", self.served.http))
            .header(COOKIE, cookie);
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        })
    }

    fn post_form(&self, cookie: &str, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let body = fields
            .iter()
            .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .client
            .post(format!("{}{path}", self.served.http))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        })
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

const DONATION: [(&str, &str); 6] = [
    ("donor_id", "unit-01"),
    ("fund_id", "kaixuan-charity"),
    ("amount", "41000"),
    ("channel", "bank_transfer"),
    ("bank_reference", "ICBC-20151120-001"),
    ("received_on", "2015-11-20"),
];

/// Fills the form on the page with `fields` as a person would (typing
/// into inputs, choosing in selects), through the DOM.
fn fill(browser: &mut Browser, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let filled = browser.eval(&format!(
            "(() => {{ const el = document.querySelector('[name=\"{name}\"]'); if (!el) return false; \
               el.focus(); el.value = {value}; el.dispatchEvent(new Event('input', {{bubbles: true}})); \
               el.dispatchEvent(new Event('change', {{bubbles: true}})); return el.value === {value}; }})()",
            value = json!(value)
        ));
        assert_eq!(filled, json!(true), "{name} = {value}");
    }
}

fn click_and_wait(browser: &mut Browser, selector: &str, then: &str) {
    browser.eval(&format!(
        "document.querySelector({}).click(); true",
        json!(selector)
    ));
    browser.wait_for(then);
}

fn assert_fits(browser: &mut Browser, what: &str) {
    let overflow = browser.eval(SIDEWAYS_OVERFLOW_JS);
    assert_eq!(overflow, json!([]), "{what} scrolls sideways at 390 px");
}

fn assert_no_token(browser: &mut Browser, token: &str, what: &str) {
    let href = browser.eval("location.href").as_str().unwrap().to_owned();
    assert!(!href.contains(token), "{what}: the token is in the address");
    let html = browser
        .eval("document.documentElement.outerHTML")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!html.contains(token), "{what}: the token is in the page");
    let cookies = browser.eval("document.cookie").as_str().unwrap().to_owned();
    assert!(
        !cookies.contains("mz_session"),
        "{what}: the session cookie is readable by scripts"
    );
}

#[test]
fn an_operator_signs_in_and_records_a_donation_through_the_review_step_in_chromium() {
    let setup = Setup::new();
    let base = setup.served.http.clone();
    let artifacts = artifacts_dir();
    let mut browser = Browser::launch();
    browser.set_width(390, true);

    // Not signed in: sent to /login.
    browser.call("Page.navigate", json!({"url": format!("{base}/console")}));
    browser.wait_for("location.pathname === '/login' && document.readyState === 'complete'");
    assert_fits(&mut browser, "/login");
    fill(&mut browser, &[("token", &setup.operator)]);
    click_and_wait(
        &mut browser,
        "form.staff button[type=submit]",
        "location.pathname === '/console' && document.readyState === 'complete'",
    );
    assert_no_token(&mut browser, &setup.operator, "/console");
    assert_fits(&mut browser, "/console");
    browser.screenshot(&artifacts.join("console-home-390.png"));

    browser.open(&format!("{base}/console/receive-donation"));
    assert_fits(&mut browser, "the donation form");
    let labelled = browser.eval(
        "[...document.querySelectorAll('form.command input:not([type=hidden]), form.command select, form.command textarea')] \
           .every(el => el.id && document.querySelector('label[for=\"' + el.id + '\"]'))",
    );
    assert_eq!(labelled, json!(true), "every input has a label");
    let mut donation = vec![("donation_id", "gift-41k")];
    donation.extend_from_slice(&DONATION);
    fill(&mut browser, &donation);
    click_and_wait(
        &mut browser,
        "form.command button[name=step]",
        "document.readyState === 'complete' && !!document.getElementById('review-sentence')",
    );
    let review = browser
        .eval("document.getElementById('review-sentence').textContent")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(review.contains("您即将记录 41,000.00 元，从 杭州某科技有限公司 (unit-01) 存入 凯旋街道社区发展基金 (kaixuan-charity)"), "{review}");
    assert!(review.contains("You are about to record 41,000.00 from 杭州某科技有限公司 (unit-01) into 凯旋街道社区发展基金 (kaixuan-charity)"), "{review}");
    assert!(
        setup.donations().is_empty(),
        "the review step writes nothing"
    );
    assert_fits(&mut browser, "the review step");
    browser.screenshot(&artifacts.join("console-review-390.png"));
    click_and_wait(
        &mut browser,
        "#confirm",
        "document.readyState === 'complete' && !!document.getElementById('recorded')",
    );
    assert_no_token(&mut browser, &setup.operator, "the recorded page");
    let donations = setup.donations();
    assert_eq!(donations.len(), 1, "{donations:?}");
    assert_eq!(donations[0]["donation_id"], "gift-41k");
    let gift = donations[0].to_string();
    assert!(
        gift.contains("41000.00") || gift.contains("4100000"),
        "{gift}"
    );
    click_and_wait(
        &mut browser,
        "#fund-account",
        "location.pathname === '/funds/kaixuan-charity' && document.readyState === 'complete'",
    );
    let account = browser
        .eval("document.body.innerText")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        account.contains("41,000.00"),
        "the fund's account shows the gift: {account}"
    );

    // A double click on Confirm: two posts of one form, one record.
    browser.open(&format!("{base}/console/receive-donation"));
    let mut second = vec![("donation_id", "gift-twice")];
    second.extend_from_slice(&DONATION);
    fill(&mut browser, &second);
    click_and_wait(
        &mut browser,
        "form.command button[name=step]",
        "document.readyState === 'complete' && !!document.getElementById('confirm')",
    );
    let records_before = setup.log_records();
    browser.eval(
        "const confirm = document.getElementById('confirm'); confirm.click(); confirm.click(); true",
    );
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('recorded')");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        setup.log_records(),
        records_before + 1,
        "a double submit writes once"
    );
    // And the same form posted again, as a reload does, writes nothing more.
    browser.call("Page.reload", json!({}));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(setup.log_records(), records_before + 1);

    // A refused command: its rule's message beside the field it names.
    browser.open(&format!("{base}/console/refund-donation"));
    fill(
        &mut browser,
        &[
            ("donation_id", "gift-41k"),
            ("refund_id", "refund-1"),
            ("amount", "50000"),
            ("reason", "duplicate transfer"),
        ],
    );
    click_and_wait(
        &mut browser,
        "form.command button[name=step]",
        "document.readyState === 'complete' && !!document.getElementById('confirm')",
    );
    click_and_wait(
        &mut browser,
        "#confirm",
        "document.readyState === 'complete' && !!document.getElementById('f-amount-error')",
    );
    let error = browser.eval(
        "(() => { const error = document.getElementById('f-amount-error'); \
           const input = document.getElementById('f-amount'); \
           return {role: error.getAttribute('role'), text: error.textContent, \
                   describedby: input.getAttribute('aria-describedby'), \
                   invalid: input.getAttribute('aria-invalid'), value: input.value}; })()",
    );
    assert_eq!(error["role"], "alert", "{error}");
    assert_eq!(error["describedby"], "f-amount-error", "{error}");
    assert_eq!(error["invalid"], "true", "{error}");
    assert_eq!(
        error["value"], "50000",
        "the form comes back as sent: {error}"
    );
    assert!(
        error["text"]
            .as_str()
            .unwrap()
            .contains("exceeds_refundable"),
        "the message names the rule: {error}"
    );
    assert_fits(&mut browser, "a refused form");
    browser.screenshot(&artifacts.join("console-refused-390.png"));
    assert_eq!(setup.donations().len(), 2);
}

#[test]
fn a_post_without_the_csrf_token_is_refused_and_writes_nothing() {
    let setup = Setup::new();
    let cookie = setup.session(&setup.operator);
    let (status, form) = setup.get(&cookie, "/console/receive-donation");
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden_input(&form, "csrf");
    let key = hidden_input(&form, "idempotency_key");
    let records = setup.log_records();
    let mut fields = vec![
        ("donation_id", "gift-csrf"),
        ("idempotency_key", key.as_str()),
        ("step", "confirm"),
    ];
    fields.extend_from_slice(&DONATION);

    let (status, page) = setup.post_form(&cookie, "/console/receive-donation", &fields);
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains(r#"role="alert""#), "{page}");
    let mut forged = fields.clone();
    forged.push((
        "csrf",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ));
    let (status, _) = setup.post_form(&cookie, "/console/receive-donation", &forged);
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another session's token is no better.
    let other = setup.session(&setup.operator);
    let (_, other_form) = setup.get(&other, "/console/receive-donation");
    let mut borrowed = fields.clone();
    let other_csrf = hidden_input(&other_form, "csrf");
    borrowed.push(("csrf", other_csrf.as_str()));
    let (status, _) = setup.post_form(&cookie, "/console/receive-donation", &borrowed);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(setup.log_records(), records, "nothing written");

    // With it, the form records; posted again, it records nothing more.
    let mut signed = fields.clone();
    signed.push(("csrf", csrf.as_str()));
    let (status, page) = setup.post_form(&cookie, "/console/receive-donation", &signed);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"id="recorded""#), "{page}");
    let (status, page) = setup.post_form(&cookie, "/console/receive-donation", &signed);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("nothing was recorded twice"), "{page}");
    assert_eq!(setup.log_records(), records + 1);

    // Signing out needs the token too, and ends the session.
    let (status, _) = setup.post_form(&cookie, "/logout", &[]);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = setup.post_form(&cookie, "/logout", &[("csrf", csrf.as_str())]);
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = setup.get(&cookie, "/console");
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[test]
fn only_a_signed_in_operator_gets_the_console() {
    let setup = Setup::new();
    let request = setup
        .client
        .get(format!("{}/console/receive-donation", setup.served.http));
    let response = setup.runtime.block_on(request.send()).unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login");
    let request = setup
        .client
        .post(format!("{}/console/receive-donation", setup.served.http))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("donation_id=x");
    let response = setup.runtime.block_on(request.send()).unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "no session, no write"
    );

    let data_dir = setup._data_dir.path();
    let auditor = mingzhang_tests::run_cli(data_dir, &["token", "create", "--role", "auditor"])
        .trim()
        .to_owned();
    let cookie = setup.session(&auditor);
    let (status, page) = setup.get(&cookie, "/console");
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");

    let operator = setup.session(&setup.operator);
    let (status, page) = setup.get(&operator, "/console");
    assert_eq!(status, StatusCode::OK);
    // A form for every command route, each linked from the console.
    for path in [
        "/console/receive-donation",
        "/console/make-pledge",
        "/console/award-grant",
        "/console/complete-project",
        "/console/reverse-expenditure",
    ] {
        assert!(
            page.contains(&format!(r#"href="{path}""#)),
            "{path}: {page}"
        );
    }
    let (status, _) = setup.get(&operator, "/console/no-such-form");
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A form that does not exist is 404 to anyone, before any session.
    let (status, _) = setup.get("", "/console/no-such-form");
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A multipart body of text fields and one file, as a browser sends a form
/// with a file input.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "----mingzhang-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (name, file_name, bytes) = file;
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// On the Kaixuan demo: the to-do list names what is waiting, and a
/// self-assessment filed with its report as a file stores the report and
/// records its hash.
#[test]
fn the_to_do_list_and_a_report_uploaded_with_its_form_on_the_demo() {
    let setup = Setup::serving_after(&[&["demo"]]);
    let cookie = setup.session(&setup.operator);
    let (status, console) = setup.get(&cookie, "/console");
    assert_eq!(status, StatusCode::OK);
    assert!(console.contains(r#"id="todo""#), "{console}");
    let listed = [
        "todo-instalments",
        "todo-evaluations",
        "todo-disclosures",
        "todo-claims",
    ]
    .iter()
    .filter(|list| console.contains(&format!(r#"id="{list}""#)))
    .count();
    assert!(listed >= 1, "the demo leaves something to do: {console}");

    let grants: Value = setup.runtime.block_on(async {
        setup
            .client
            .get(format!("{}/v1/grants", setup.served.http))
            .bearer_auth(&setup.operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let grants = if grants.is_array() {
        &grants
    } else {
        &grants["grants"]
    };
    let grant = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|grant| grant["closed"] == json!(false))
        .expect("an open grant in the demo");
    let grant_id = grant["grant_id"].as_str().unwrap();

    let (_, form) = setup.get(&cookie, "/console/file-self-assessment");
    assert!(form.contains(r#"enctype="multipart/form-data""#), "{form}");
    assert!(form.contains(r#"type="file""#), "{form}");
    let csrf = hidden_input(&form, "csrf");
    let key = hidden_input(&form, "idempotency_key");
    let file_self_assessment = |grant_id: &str, report: &[u8]| {
        setup.post_multipart(
            &cookie,
            "/console/file-self-assessment",
            multipart(
                &[
                    ("csrf", &csrf),
                    ("idempotency_key", &key),
                    ("grant_id", grant_id),
                    ("quarter", "2030-Q1"),
                    ("report_sha256", ""),
                    ("summary", "第一季度自评"),
                    ("step", "submit"),
                ],
                ("report_sha256__file", "report.txt", report),
            ),
        )
    };
    // A form the rules refuse (no such grant) keeps no report.
    let refused_report = "不存在的资助的自评报告\n".as_bytes();
    let (status, page) = file_self_assessment("grant-nope", refused_report);
    assert!(status.is_client_error(), "{status} {page}");
    assert!(
        page.contains("grant_id"),
        "the refusal names the field: {page}"
    );
    let refused_sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(refused_report))
    };
    let not_kept = setup.runtime.block_on(async {
        setup
            .client
            .get(format!("{}/documents/{refused_sha256}", setup.served.http))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(
        not_kept,
        StatusCode::NOT_FOUND,
        "the refused form's report is not kept"
    );

    let report = "凯益荟 2030 年第一季度自评报告\n服务 120 人次。\n".as_bytes();
    let records = setup.log_records();
    let (status, page) = file_self_assessment(grant_id, report);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(r#"id="recorded""#), "{page}");
    assert_eq!(setup.log_records(), records + 1);
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(report))
    };
    let stored = setup.runtime.block_on(async {
        setup
            .client
            .get(format!("{}/documents/{sha256}", setup.served.http))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    assert_eq!(&stored[..], report, "the report is served by its hash");
}
