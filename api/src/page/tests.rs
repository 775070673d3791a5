//! Rendering tests over the Kaixuan demo: the page must show the figures of
//! the domain brief and follow the masking rules.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mingzhang_ledger::scenario;
use parking_lot::RwLock;
use tower::ServiceExt;

use super::public::PRIVATE_PAYEE;
use super::{PageSource, page_router};
use crate::test_support::{kaixuan_projections, kaixuan_projections_until};

const CHECKPOINT: &str = "mingzhang.example/kaixuan\n999\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} mingzhang.example/kaixuan AAAAAAAA\n";

fn kaixuan_source() -> PageSource {
    PageSource::new(Arc::new(RwLock::new(kaixuan_projections())))
        .with_checkpoint(Arc::new(|| Some(CHECKPOINT.to_owned())))
        .with_verifier_key(Some("mingzhang.example/kaixuan+00000000+AQ==".to_owned()))
        .with_as_of(Some("2016-12-31".to_owned()))
}

async fn get(path: &str) -> (StatusCode, String) {
    let response = page_router(kaixuan_source())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The text of the section with `id`, up to the next section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &html[start..];
    let end = rest.find("</section>").expect("sections are closed");
    &rest[..end]
}

#[tokio::test]
async fn overview_shows_the_campaign_against_its_ten_million_target() {
    let (status, html) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    let campaign = section(&html, "campaign");
    assert!(campaign.contains("10,000,000.00"));
    // 450,000 (Partners Day) + 4,088.88 (residents) − 500 refunded
    // + 2,200,000 pledge payments; the reversed duplicate counts nothing.
    assert!(campaign.contains(">2,653,588.88<"), "{campaign}");
    for year in 2015..=2019 {
        assert!(campaign.contains(&format!(">{year}</td>")));
    }
    assert!(campaign.contains("1,500,000.00"), "the 2015 yearly target");
    assert!(html.contains("<svg class=\"chart\""));
}

#[tokio::test]
async fn overview_states_the_record_count_and_checkpoint_it_reflects() {
    let (_, html) = get("/").await;
    let records = scenario::kaixuan().len();
    assert!(html.contains(&format!("<strong id=\"record-count\">{records}</strong>")));
    assert!(html.contains("<strong id=\"checkpoint-size\">999</strong>"));
}

#[tokio::test]
async fn micro_venture_round_shows_26_shortlisted_and_the_failed_evaluation() {
    let (_, html) = get("/").await;
    let rounds = section(&html, "rounds");
    assert!(rounds.contains("<dd id=\"round-shortlisted\">26</dd>"));
    assert!(rounds.contains("<dd id=\"round-applications\">40</dd>"));
    assert!(rounds.contains("900,000.00"));
    assert!(rounds.contains("25 / 26"), "evaluations passed / recorded");
    assert_eq!(rounds.matches("href=\"/grants/grant-mv2016-").count(), 26);
}

#[tokio::test]
async fn nine_partners_day_projects_are_credited_to_their_claimants() {
    let (_, html) = get("/").await;
    let projects = section(&html, "projects");
    assert_eq!(projects.matches("href=\"/sponsors/unit-").count(), 9);
    assert!(projects.contains("凯联盟示例银行杭州分行"));
    // unit-12 released its claim; unit-01 holds it now.
    assert!(!projects.contains("机场路示例汽车服务有限公司"));
    let (status, page) = get("/projects/pd2015-00").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("class=\"kindness project-kindness\""));
    assert!(page.contains("凯联盟示例银行杭州分行"));
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"completion report of pd2015-00"))
    };
    assert!(page.contains(&sha), "the completion report's SHA-256");
}

#[tokio::test]
async fn special_support_fund_shows_its_million_apart_as_restricted_money() {
    let (_, html) = get("/").await;
    let funds = section(&html, "funds");
    let restricted = &funds[funds.find("<h3>限定性资金").unwrap()..];
    assert!(restricted.contains("社会组织专项扶持基金"));
    assert!(restricted.contains("1,000,000.00"));
    // Spent 300,000 + 6,000 of it.
    assert!(restricted.contains("694,000.00"));
}

#[tokio::test]
async fn donors_are_named_or_anonymous_as_they_chose_never_half_named() {
    let (_, html) = get("/").await;
    let donations = section(&html, "donations");
    assert!(
        donations.contains("王丽华"),
        "a resident who opted in is named"
    );
    assert!(
        !html.contains("张*") && !html.contains("张敏"),
        "a resident who did not opt in shows no part of her name"
    );
    assert!(donations.contains("匿名"), "anonymous gifts say so");
    assert!(
        !html.contains("李建国"),
        "an anonymous giver is never named"
    );
    assert!(!html.contains("resident-li") && !html.contains("resident-zhang"));
    let sponsors = section(&html, "sponsors");
    assert!(sponsors.contains("凯旋示范商贸有限公司"));
    assert!(sponsors.contains("王丽华"));
}

#[tokio::test]
async fn private_payees_are_not_named_and_companies_are() {
    let (_, html) = get("/").await;
    let expenditures = section(&html, "expenditures");
    assert!(expenditures.contains("杭州示例建筑安装有限公司"));
    assert!(expenditures.contains("凯益荟·社工服务中心"));
    assert!(expenditures.contains("个人（不具名）"));
    for part in ["陈秀英", "刘志强", "陈*", "刘*"] {
        assert!(!html.contains(part), "{part}");
    }
}

#[tokio::test]
async fn english_switch_translates_labels_and_links_back() {
    let (_, zh) = get("/").await;
    assert!(zh.contains("<html lang=\"zh-CN\">"));
    assert!(zh.contains("href=\"/?lang=en\""));
    let (_, en) = get("/?lang=en").await;
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Shortlisted") && en.contains("Anonymous"));
    assert!(en.contains("id=\"lang-zh\" href=\"/\""));
    assert!(en.contains("href=\"/projects/pd2015-00?lang=en\""));
}

#[tokio::test]
async fn sponsor_page_shows_pledge_instalments_overdue_as_of_the_date() {
    let (status, page) = get("/sponsors/unit-06").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("采荷样例餐饮管理有限公司"));
    assert!(page.contains("2016-06-30"));
    assert!(page.contains("class=\"overdue\""));
    let (status, _) = get("/sponsors/resident-li").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no page lists the gifts of someone who was not named"
    );
}

#[tokio::test]
async fn grant_page_shows_the_returned_tranche_of_a_failed_evaluation() {
    let (status, page) = get("/grants/grant-mv2016-025").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<dd id=\"grant-amount\">30,000.00</dd>"));
    assert!(page.contains("<dd id=\"grant-disbursed\">18,000.00</dd>"));
    assert!(page.contains("12,000.00"), "the 40% returned");
    assert!(page.contains("未通过"));
    let (status, _) = get("/grants/no-such-grant").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn donations_csv_is_excel_ready_and_masked_as_on_the_page() {
    let (status, csv) = get("/exports/donations.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csv.starts_with('\u{feff}'),
        "UTF-8 byte-order mark for Excel"
    );
    assert!(csv.contains("匿名") && csv.contains("王丽华"));
    assert!(!csv.contains("李建国") && !csv.contains("张敏") && !csv.contains("张*"));
    assert_eq!(csv.lines().count(), 1 + 17, "header plus every donation");
    let (_, expenditures) = get("/exports/expenditures.csv").await;
    assert!(expenditures.contains(PRIVATE_PAYEE));
    assert!(!expenditures.contains("陈*") && !expenditures.contains("陈秀英"));
}

#[tokio::test]
async fn grants_export_in_360giving_shape_with_exact_amounts() {
    let (status, json) = get("/exports/grants-360giving.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(json.contains("\"amountAwarded\":30000.00"));
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let grants = parsed["grants"].as_array().unwrap();
    // 26 micro-venture grants, 3 special-support awards, 9 project fundings.
    assert_eq!(grants.len(), 26 + 3 + 9);
    let first = &grants[0];
    assert_eq!(first["currency"], "CNY");
    // The award decision's date, not the first payment's (2016-05-05).
    assert_eq!(first["awardDate"], "2016-04-28");
    assert_eq!(
        first["recipientOrganization"][0]["name"],
        "凯益荟·社工服务中心"
    );
    assert!(first["fundingOrganization"][0]["name"].is_string());
    let (_, csv) = get("/exports/grants.csv").await;
    assert_eq!(csv.lines().count(), 1 + 26);
}

#[tokio::test]
async fn verify_page_publishes_checkpoint_key_and_auditor_command() {
    let (_, page) = get("/verify").await;
    assert!(page.contains("mingzhang.example/kaixuan\n999\n"));
    assert!(page.contains("mingzhang.example/kaixuan+00000000+AQ=="));
    assert!(page.contains("mingzhang verify"));
    // How a donor gets a receipt, and where an auditor finds key and checkpoint.
    assert!(page.contains("收据链接"), "{page}");
    assert!(page.contains("href=\"/v1/public-key\""), "{page}");
    assert!(page.contains("href=\"/v1/checkpoint\""), "{page}");
    // The whole ledger, as tiles anyone may mirror.
    assert!(
        page.contains("<a id=\"tiles-link\" href=\"/tiles/checkpoint\">下载全部账本</a>"),
        "{page}"
    );
    assert!(page.contains("id=\"receipt-record-summary\""), "{page}");
    assert!(page.contains("<script src=\"/assets/verify.js\">"));
    let (status, script) = get("/assets/verify.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(script.contains("crypto.subtle.digest"));
}

#[test]
fn directory_refreshed_after_a_refund_of_an_older_gift_matches_a_full_pass() {
    let total = scenario::kaixuan().len();
    for split in [1, total / 3, total / 2, total - 10, total - 1] {
        let early = super::model::Directory::build(&kaixuan_projections_until(split));
        let all = kaixuan_projections();
        let refreshed = early.refreshed(&all);
        let full = super::model::Directory::build(&all);
        assert_eq!(refreshed.records, all.applied_len());
        assert_eq!(
            refreshed.credited_donations_fen, full.credited_donations_fen,
            "split at {split}"
        );
    }
    let full = super::model::Directory::build(&kaixuan_projections());
    // 2,000.00 given, 500.00 refunded later.
    assert_eq!(full.credited_donations_fen["resident-wang"], 150_000);
    // Only an anonymous gift: nothing is credited to the name.
    assert!(!full.credited_donations_fen.contains_key("resident-li"));
}

#[tokio::test]
async fn partners_day_project_money_is_shown_as_restricted() {
    let (_, html) = get("/").await;
    let funds = section(&html, "funds");
    let unrestricted_at = funds.find("<h3>非限定性资金").unwrap();
    let restricted_at = funds.find("<h3>限定性资金").unwrap();
    let partners_at = funds.find("公益伙伴日认领项目资金").unwrap();
    assert!(
        unrestricted_at < restricted_at,
        "unrestricted funds come first"
    );
    assert!(
        partners_at > restricted_at,
        "the Partners Day fund, all project money, is restricted: {funds}"
    );
}

#[tokio::test]
async fn the_street_office_is_government_funding_not_a_sponsor() {
    let (_, html) = get("/").await;
    let sponsors = section(&html, "sponsors");
    let government_at = sponsors.find("id=\"government-funding\"").unwrap();
    let office_at = sponsors.find("凯旋街道办事处").unwrap();
    assert!(
        office_at > government_at,
        "the street office is listed under government funding only: {sponsors}"
    );
    assert_eq!(sponsors.matches("凯旋街道办事处").count(), 1);
    assert!(super::model::is_government_name("某某区人民政府"));
    assert!(!super::model::is_government_name("凯旋物业"));
}

#[tokio::test]
async fn pages_say_none_yet_where_a_list_is_empty() {
    let (_, html) = get("/sponsors/street-office").await;
    let (_, english) = get("/sponsors/street-office?lang=en").await;
    // The street office made no pledge and claimed no project.
    assert!(html.contains("<p class=\"none-yet\">暂无</p>"), "{html}");
    assert!(english.contains("<p class=\"none-yet\">None yet</p>"));
}

#[tokio::test]
async fn index_pages_answer_in_both_languages() {
    for path in ["/projects", "/sponsors", "/grants", "/rounds"] {
        let (status, html) = get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            html.contains("<form class=\"filters\" method=\"get\""),
            "{path}"
        );
        let (status, english) = get(&format!("{path}?lang=en")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(english.contains("name=\"lang\" value=\"en\""), "{path}");
    }
}

/// The number the index page says it shows.
fn shown(html: &str) -> usize {
    let at = html.find("id=\"index-shown\">").expect("a count") + "id=\"index-shown\">".len();
    html[at..html[at..].find('<').unwrap() + at]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn project_index_filters_by_community_need_status_year_and_words() {
    let (_, all) = get("/projects").await;
    let every = shown(&all);
    assert!(every > 1);
    let (_, completed) = get("/projects?status=completed").await;
    assert!(shown(&completed) < every);
    assert!(completed.contains("data-label=\"状态\">已完成"));
    for other in ["待认领", "已认领", "已足额到资"] {
        let cell = format!("data-label=\"状态\">{other}");
        assert!(!completed.contains(&cell), "only completed projects");
    }
    let (_, year) = get("/projects?year=2015").await;
    let (_, none) = get("/projects?year=1999").await;
    assert_eq!(shown(&none), 0);
    assert!(none.contains("暂无"));
    assert!(shown(&year) > 0);
    let (_, words) = get("/projects?q=%E6%89%B6%E6%89%8B").await; // 扶手
    assert!(shown(&words) >= 1 && shown(&words) < every);
    assert!(words.contains("扶手"));
}

#[tokio::test]
async fn index_filters_name_the_bad_field() {
    for (path, field) in [
        ("/projects?status=lost", "status"),
        ("/grants?year=16", "year"),
        ("/rounds?year=abcd", "year"),
    ] {
        let (status, body) = get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(body.contains(field), "{path}: {body}");
    }
}

#[tokio::test]
async fn sponsor_index_names_only_whom_the_overview_names() {
    let (_, overview) = get("/").await;
    let (_, index) = get("/sponsors").await;
    // 李建国 did not agree to be named: on neither page.
    assert!(!overview.contains("李建国"));
    assert!(!index.contains("李建国"));
    assert!(index.contains("王丽华") == overview.contains("王丽华"));
}

/// The dates in a section's cells labelled `label`, in page order.
fn dates_in(section: &str, label: &str) -> Vec<String> {
    let open = format!("data-label=\"{label}\">");
    section
        .match_indices(&open)
        .map(|(at, _)| {
            let rest = &section[at + open.len()..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
        .collect()
}

#[tokio::test]
async fn latest_lists_read_newest_first_by_date() {
    let (_, html) = get("/").await;
    for id in ["donations", "expenditures"] {
        let dates = dates_in(section(&html, id), "日期");
        assert!(dates.len() > 1, "{id}");
        let mut sorted = dates.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(dates, sorted, "{id} newest first");
    }
}

#[tokio::test]
async fn sponsor_page_says_where_its_money_went_in_chinese_and_english() {
    let (status, page) = get("/sponsors/unit-02").await;
    assert_eq!(status, StatusCode::OK);
    let flows = section(&page, "flows");
    assert!(flows.contains("善款去向"), "{flows}");
    assert!(flows.contains("200,000.00</span> 元已用于"), "{flows}");
    assert!(
        flows.contains("href=\"/grants/grant-mv2016-011\""),
        "{flows}"
    );
    let (_, page) = get("/sponsors/unit-02?lang=en").await;
    let flows = section(&page, "flows");
    assert!(flows.contains("Where the money went"), "{flows}");
    assert!(
        flows.contains("href=\"/grants/grant-mv2016-011?lang=en\""),
        "{flows}"
    );
}

#[test]
fn the_home_page_data_are_built_once_per_log_size_and_rebuilt_after_a_write() {
    let records = scenario::kaixuan().len();
    let projections = Arc::new(RwLock::new(kaixuan_projections_until(records - 1)));
    let state = super::PageState {
        source: PageSource::new(Arc::clone(&projections)).with_as_of(Some("2016-12-31".into())),
        directory: std::sync::Mutex::new(None),
        overview: std::sync::Mutex::new(None),
    };
    let view_now = || {
        let projections = projections.read();
        let provenance = state.provenance(&projections, None).unwrap();
        state.overview(&projections, provenance)
    };
    let first = view_now();
    assert!(
        Arc::ptr_eq(&first, &view_now()),
        "the same log size reuses the data"
    );
    *projections.write() = kaixuan_projections();
    let after_write = view_now();
    assert!(!Arc::ptr_eq(&first, &after_write));
    assert_eq!(first.provenance.records as usize, records - 1);
    assert_eq!(after_write.provenance.records as usize, records);
    let other_date = {
        let projections = projections.read();
        let provenance = state.provenance(&projections, Some("2015-12-31")).unwrap();
        state.overview(&projections, provenance)
    };
    assert_eq!(
        other_date.provenance.as_of, "2015-12-31",
        "another date is its own data"
    );
}
