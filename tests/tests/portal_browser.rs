//! The sponsor portal, the project market and the organisation view in a
//! real headless Chromium on the real server: a sponsor signs in and claims
//! an open project; a second sponsor, whose market page still showed it,
//! is refused with the rule's message; a unit outside the alliance cannot
//! claim; an organisation sees its award and its tranches; each page fits
//! a 390 px phone without sideways scrolling.

#[path = "support/browser.rs"]
mod browser;

use browser::Browser;
use serde_json::{Value, json};

/// Widths the portal pages must fit: a common phone and a laptop.
const VIEWPORT_WIDTHS: [u32; 2] = [390, 1366];

fn token(data_dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["token", "create", "--role"];
    all.extend_from_slice(args);
    mingzhang_tests::run_cli(data_dir, &all).trim().to_owned()
}

fn sign_in(browser: &mut Browser, base: &str, token: &str, home: &str) {
    browser.open(&format!("{base}/login"));
    browser.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form.staff').submit(); true",
        json!(token)
    ));
    browser.wait_for(&format!(
        "document.readyState === 'complete' && location.pathname === {}",
        json!(home)
    ));
}

fn sign_out(browser: &mut Browser) {
    browser.eval("document.querySelector('form.signout').submit(); true");
    browser.wait_for("document.readyState === 'complete' && location.pathname === '/login'");
}

/// Presses the claim button of `project_id` on the market page shown and
/// waits for the next page.
fn claim(browser: &mut Browser, project_id: &str) {
    browser.eval("window.__before_claim = true; true");
    let pressed = browser.eval(&format!(
        "(() => {{ const button = document.querySelector('li[data-project=\"{project_id}\"] form.claim button'); \
         if (!button) return false; button.click(); return true; }})()"
    ));
    assert_eq!(pressed, json!(true), "no claim button for {project_id}");
    browser.wait_for("window.__before_claim === undefined && document.readyState === 'complete'");
}

fn fits_every_width(browser: &mut Browser, what: &str) {
    for width in VIEWPORT_WIDTHS {
        browser.set_width(width, width < 500);
        let wider = browser
            .eval("document.scrollingElement.scrollWidth - document.documentElement.clientWidth");
        assert!(
            wider.as_i64().unwrap() <= 0,
            "{what} scrolls sideways by {wider} px at {width} px"
        );
    }
}

/// Every input, select and textarea a person fills has a label.
fn every_input_is_labelled(browser: &mut Browser, what: &str) {
    let unlabelled = browser.eval(
        "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
         .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))\
         .map(el => el.name || el.id)",
    );
    assert_eq!(unlabelled, json!([]), "{what}: inputs without a label");
}

fn publish_project(
    runtime: &tokio::runtime::Runtime,
    base: &str,
    operator: &str,
    project_id: &str,
) {
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{base}/v1/projects"))
            .bearer_auth(operator)
            .json(&json!({
                "project_id": project_id,
                "title": format!("微心愿：为独居老人装扶手 {project_id}"),
                "need_kind": "micro_wish",
                "community": "闸弄口社区",
                "budget": "8000.00",
                "fund_id": "partners-day",
            }))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    });
}

fn first_grant_organisation(
    runtime: &tokio::runtime::Runtime,
    base: &str,
    operator: &str,
) -> (String, String) {
    runtime.block_on(async {
        let answer: Value = reqwest::Client::new()
            .get(format!("{base}/v1/grants"))
            .bearer_auth(operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let grants = answer.get("grants").unwrap_or(&answer);
        let grant = &grants.as_array().expect("a list of grants")[0];
        (
            grant["organisation_id"].as_str().unwrap().to_owned(),
            grant["grant_id"].as_str().unwrap().to_owned(),
        )
    })
}

#[test]
fn sponsors_claim_in_the_market_by_the_ledger_s_rules_and_an_organisation_sees_its_tranches() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    mingzhang_tests::run_cli(data_dir.path(), &["demo"]);
    let operator = token(data_dir.path(), &["operator"]);
    let first_unit = token(data_dir.path(), &["sponsor", "--donor", "unit-01"]);
    let second_unit = token(data_dir.path(), &["sponsor", "--donor", "unit-02"]);
    let not_a_member = token(data_dir.path(), &["sponsor", "--donor", "street-office"]);
    let served = mingzhang_tests::serve(data_dir.path());
    let base = served.http.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    publish_project(&runtime, &base, &operator, "market-test-1");
    publish_project(&runtime, &base, &operator, "market-test-2");

    let mut first = Browser::launch();
    let mut second = Browser::launch();
    sign_in(&mut first, &base, &first_unit, "/sponsor");
    fits_every_width(&mut first, "/sponsor");
    every_input_is_labelled(&mut first, "/sponsor");
    sign_in(&mut second, &base, &second_unit, "/sponsor");

    // The filter is plain query parameters.
    second.open(&format!("{base}/sponsor/market?kind=micro_wish&community=%E9%97%B8%E5%BC%84%E5%8F%A3%E7%A4%BE%E5%8C%BA&budget_max=8000"));
    assert_eq!(
        second.eval("!!document.querySelector('li[data-project=\"market-test-1\"]')"),
        json!(true)
    );
    fits_every_width(&mut second, "/sponsor/market");
    every_input_is_labelled(&mut second, "/sponsor/market");
    first.open(&format!("{base}/sponsor/market?budget_max=7999.99"));
    assert_eq!(
        first.eval("!!document.querySelector('li[data-project=\"market-test-1\"]')"),
        json!(false),
        "a budget above the filter's is not listed"
    );

    // The claim carries a pledge toward the project.
    first.open(&format!("{base}/sponsor/market"));
    first.eval(
        "document.getElementById('pledge-total-market-test-1').value = '5000.00'; \
         document.getElementById('pledge-due-market-test-1').value = '2027-06-30'; true",
    );
    claim(&mut first, "market-test-1");
    assert_eq!(
        first.eval("location.pathname + location.search"),
        json!("/sponsor?claimed=market-test-1")
    );
    assert_eq!(
        first.eval("!!document.getElementById('claim-done')"),
        json!(true)
    );
    assert_eq!(
        first
            .eval("!!document.querySelector('#claimed-h ~ ul li[data-project=\"market-test-1\"]')"),
        json!(true),
        "the claimed project is among the sponsor's"
    );
    let pledges = first.eval(
        "[...document.querySelectorAll('#pledges-h ~ ul li.card')].map(card => card.textContent)",
    );
    assert!(
        pledges
            .as_array()
            .unwrap()
            .iter()
            .any(|card| card.as_str().unwrap().contains("pledge-")
                && card.as_str().unwrap().contains("5,000.00")),
        "the pledge made with the claim is listed: {pledges}"
    );

    // The second sponsor's page was opened before the claim.
    claim(&mut second, "market-test-1");
    let refusal = second.eval(
        "(document.querySelector('#claim-refused[data-project=\"market-test-1\"] [role=alert]') || {}).textContent || ''",
    );
    assert!(
        refusal.as_str().unwrap().contains("already_claimed"),
        "{refusal}"
    );
    second.open(&format!("{base}/sponsor/market"));
    assert_eq!(
        second.eval("!!document.querySelector('li[data-project=\"market-test-1\"]')"),
        json!(false),
        "a claimed project leaves the market"
    );

    sign_out(&mut second);
    sign_in(&mut second, &base, &not_a_member, "/sponsor");
    second.open(&format!("{base}/sponsor/market"));
    claim(&mut second, "market-test-2");
    let refusal = second.eval(
        "(document.querySelector('#claim-refused[data-project=\"market-test-2\"] [role=alert]') || {}).textContent || ''",
    );
    assert!(
        refusal
            .as_str()
            .unwrap()
            .contains("sponsor_not_alliance_member"),
        "{refusal}"
    );
    second.open(&format!("{base}/sponsor/market"));
    assert_eq!(
        second.eval("!!document.querySelector('li[data-project=\"market-test-2\"]')"),
        json!(true),
        "a refused claim leaves the project open"
    );

    let (organisation_id, grant_id) = first_grant_organisation(&runtime, &base, &operator);
    let organisation = token(
        data_dir.path(),
        &["organisation", "--organisation", &organisation_id],
    );
    sign_out(&mut second);
    sign_in(&mut second, &base, &organisation, "/organisation");
    let tranches = second.eval(&format!(
        "[...document.querySelectorAll('li[data-grant=\"{grant_id}\"] ol.tranches li')].map(li => li.dataset.status)"
    ));
    let tranches: Vec<&str> = tranches
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(tranches.len() >= 2, "{tranches:?}");
    assert_eq!(tranches[0], "paid", "{tranches:?}");
    assert!(
        tranches[1..].iter().all(|status| *status != "paid")
            || tranches.iter().all(|s| *s == "paid")
    );
    fits_every_width(&mut second, "/organisation");
    drop(served);
}

/// The import as an operator does it: a file chosen in the upload form,
/// the dry run, then the confirm button, whose hidden field carries the
/// statement back line for line.
#[test]
fn an_operator_imports_a_statement_file_in_chromium_dry_run_then_confirm() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    mingzhang_tests::run_cli(data_dir.path(), &["demo"]);
    let operator = token(data_dir.path(), &["operator"]);
    let statement = data_dir.path().join("statement.csv");
    std::fs::write(
        &statement,
        "\u{feff}date,amount,payer,reference\r\n\
         2016-06-01,41000.00,凯旋示范商贸有限公司,ICBC-BROWSER-1\r\n\
         2016-06-02,1200.50,\"王先生, 个人\",ICBC-BROWSER-2\r\n\
         2016-06-31,10.00,路人,ICBC-BROWSER-3\r\n",
    )
    .unwrap();
    let served = mingzhang_tests::serve(data_dir.path());
    let base = served.http.clone();
    let mut browser = Browser::launch();
    sign_in(&mut browser, &base, &operator, "/console");
    browser.open(&format!("{base}/console/bank-import"));
    every_input_is_labelled(&mut browser, "/console/bank-import");
    let document = browser.call("DOM.getDocument", json!({}));
    let input = browser.call(
        "DOM.querySelector",
        json!({"nodeId": document["root"]["nodeId"], "selector": "#statement"}),
    );
    browser.call(
        "DOM.setFileInputFiles",
        json!({"nodeId": input["nodeId"], "files": [statement.to_str().unwrap()]}),
    );
    browser.eval(
        "document.getElementById('fund_id').value = 'kaixuan-charity'; \
         window.__before = true; document.querySelector('form.command').submit(); true",
    );
    browser.wait_for(
        "window.__before === undefined && document.readyState === 'complete' && \
         !!document.getElementById('dry-run-summary')",
    );
    let summary = browser.eval(
        "[document.getElementById('dry-run-summary').dataset.accepted, \
          document.getElementById('dry-run-summary').dataset.refused, \
          document.querySelector('tr[data-outcome=refused]').dataset.rule]",
    );
    assert_eq!(summary, json!(["2", "1", "date_format"]));
    fits_every_width(&mut browser, "the dry run");
    browser.eval("window.__before = true; document.getElementById('confirm-import').click(); true");
    browser.wait_for(
        "window.__before === undefined && document.readyState === 'complete' && \
         !!document.getElementById('import-summary')",
    );
    assert_eq!(
        browser.eval("document.getElementById('import-summary').dataset.written"),
        json!("2")
    );
    drop(served);
}
