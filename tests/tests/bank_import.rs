//! Bank statement import on the real server (`portal::bank_import`): the
//! dry run writes nothing, a refused row names its rule, confirming writes
//! the accepted rows, a second import of the same file writes nothing new,
//! and a post without the session's CSRF token is refused with 403.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};

const BOUNDARY: &str = "mingzhang-test-boundary";

/// A statement of five rows: a registered donor by name, an unregistered
/// payer, a date that is no date, an amount with three decimals, and a
/// reference repeated within the file.
const STATEMENT: &str = "\u{feff}date,amount,payer,reference\r\n\
    2016-06-01,41000.00,凯旋示范商贸有限公司,ICBC-TEST-0001\r\n\
    2016-06-02,\"1,200.00\",\"路人甲, 个人\",ICBC-TEST-0002\r\n\
    2016-02-30,100.00,路人乙,ICBC-TEST-0003\r\n\
    2016-06-03,10.001,路人丙,ICBC-TEST-0004\r\n\
    2016-06-04,10.00,路人丁,ICBC-TEST-0001\r\n";

struct Operator {
    client: reqwest::Client,
    base: String,
    cookie: String,
}

impl Operator {
    async fn csrf(&self) -> String {
        let page = self
            .client
            .get(format!("{}/console/bank-import", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        mingzhang_tests::hidden_input(&html, "csrf")
    }

    /// Posts the import form as a browser does (multipart/form-data).
    async fn post(&self, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut body = String::new();
        for (name, value) in fields {
            let filename = if *name == "statement" {
                "; filename=\"statement.csv\""
            } else {
                ""
            };
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        let response = self
            .client
            .post(format!("{}/console/bank-import", self.base))
            .header(COOKIE, &self.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn log_records(&self) -> u64 {
        let ready: serde_json::Value = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ready["log_records"].as_u64().unwrap()
    }
}

fn attribute(html: &str, name: &str) -> String {
    let after = html
        .split(&format!("{name}=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in the page"));
    after[..after.find('"').unwrap()].to_owned()
}

#[test]
fn a_statement_imports_once_its_dry_run_writes_nothing_and_refused_rows_name_their_rules() {
    let data_dir = tempfile::tempdir().unwrap();
    mingzhang_tests::run_cli(data_dir.path(), &["init"]);
    mingzhang_tests::run_cli(data_dir.path(), &["demo"]);
    let token =
        mingzhang_tests::run_cli(data_dir.path(), &["token", "create", "--role", "operator"])
            .trim()
            .to_owned();
    let served = mingzhang_tests::serve(data_dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let signed_in = client
            .post(format!("{}/login", served.http))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
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
        let operator = Operator {
            client,
            base: served.http.clone(),
            cookie,
        };
        let csrf = operator.csrf().await;
        let records_before = operator.log_records().await;

        let without_csrf = operator
            .post(&[
                ("action", "confirm"),
                ("fund_id", "kaixuan-charity"),
                ("statement", STATEMENT),
            ])
            .await;
        assert_eq!(without_csrf.0, StatusCode::FORBIDDEN);
        let wrong_csrf = operator
            .post(&[
                ("csrf", "0000"),
                ("action", "confirm"),
                ("fund_id", "kaixuan-charity"),
                ("statement", STATEMENT),
            ])
            .await;
        assert_eq!(wrong_csrf.0, StatusCode::FORBIDDEN);
        assert_eq!(
            operator.log_records().await,
            records_before,
            "a refused post writes nothing"
        );

        let (status, dry_run) = operator
            .post(&[
                ("csrf", &csrf),
                ("action", "dry_run"),
                ("fund_id", "kaixuan-charity"),
                ("statement", STATEMENT),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{dry_run}");
        assert_eq!(
            operator.log_records().await,
            records_before,
            "the dry run writes nothing"
        );
        assert_eq!(attribute(&dry_run, "data-accepted"), "1");
        assert_eq!(attribute(&dry_run, "data-refused"), "4");
        assert!(
            dry_run.contains("unit-01"),
            "the payer is matched to its donor by name"
        );
        for rule in [
            "date_format",
            "amount_not_decimal",
            "amount_too_precise",
            "reference_repeated_in_file",
        ] {
            assert!(
                dry_run.contains(&format!("data-rule=\"{rule}\"")),
                "{rule}: {dry_run}"
            );
        }

        // The bank's own export quotes amounts with separators; fixed, the
        // row reads.
        let corrected = STATEMENT.replace("\"1,200.00\"", "1200.00");
        let (_, dry_run) = operator
            .post(&[
                ("csrf", &csrf),
                ("action", "dry_run"),
                ("fund_id", "kaixuan-charity"),
                ("statement", &corrected),
            ])
            .await;
        assert_eq!(attribute(&dry_run, "data-accepted"), "2");
        assert!(dry_run.contains("unregistered gift"));

        let (status, confirmed) = operator
            .post(&[
                ("csrf", &csrf),
                ("action", "confirm"),
                ("fund_id", "kaixuan-charity"),
                ("statement", &corrected),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{confirmed}");
        assert_eq!(attribute(&confirmed, "data-written"), "2");
        assert_eq!(operator.log_records().await, records_before + 2);

        let (_, again) = operator
            .post(&[
                ("csrf", &csrf),
                ("action", "dry_run"),
                ("fund_id", "kaixuan-charity"),
                ("statement", &corrected),
            ])
            .await;
        assert_eq!(attribute(&again, "data-accepted"), "0");
        assert!(again.contains("data-rule=\"reference_already_recorded\""));
        let (_, again) = operator
            .post(&[
                ("csrf", &csrf),
                ("action", "confirm"),
                ("fund_id", "kaixuan-charity"),
                ("statement", &corrected),
            ])
            .await;
        assert_eq!(attribute(&again, "data-written"), "0");
        assert_eq!(attribute(&again, "data-recorded-before"), "2");
        assert_eq!(
            operator.log_records().await,
            records_before + 2,
            "the second import writes nothing new"
        );

        let statement: serde_json::Value = operator
            .client
            .get(format!("{}/v1/donors/unit-01/statement", operator.base))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let imported = statement["donations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|donation| donation["donation_id"] == "bank-ICBC-TEST-0001")
            .unwrap_or_else(|| panic!("the matched row is unit-01's gift: {statement}"));
        assert_eq!(imported["channel"], "bank_transfer", "{imported}");
        assert_eq!(imported["amount_fen"], 4_100_000, "{imported}");

        // The imported gift's receipt link is on its donor's portal.
        let sponsor = mingzhang_tests::run_cli(
            data_dir.path(),
            &["token", "create", "--role", "sponsor", "--donor", "unit-01"],
        );
        let signed_in = operator
            .client
            .post(format!("{}/login", operator.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", sponsor.trim()))
            .send()
            .await
            .unwrap();
        let sponsor_cookie = signed_in.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let portal = operator
            .client
            .get(format!("{}/sponsor", operator.base))
            .header(COOKIE, sponsor_cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let receipt = portal
            .split("bank-ICBC-TEST-0001")
            .nth(1)
            .unwrap_or_else(|| panic!("the imported gift is on the portal: {portal}"));
        let receipt = &receipt[..receipt.find("</li>").unwrap()];
        assert!(receipt.contains("href=\"/r/"), "{receipt}");

        let (status, unknown_fund) = operator
            .post(&[
                ("csrf", &csrf),
                ("fund_id", "no-such-fund"),
                ("statement", STATEMENT),
            ])
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unknown_fund.contains("fund_unknown") && unknown_fund.contains("role=\"alert\""));
    });
}
