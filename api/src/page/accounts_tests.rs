//! The fund accounts, correction notes, credit and stated date over the
//! Kaixuan demo: the page, the JSON and gRPC answers and the trial balance
//! must agree to the fen.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mingzhang_projections::Projections;
use mingzhang_proto::v1 as pb;
use parking_lot::RwLock;
use serde_json::Value;
use tower::ServiceExt;

use super::{PageSource, page_router};
use crate::backend::Page;
use crate::query_answers::{Answer, MovementQuery, QueryKind, answer, fund_transactions};
use crate::test_support::kaixuan_projections;

async fn get_from(source: PageSource, path: &str) -> (StatusCode, String) {
    let response = page_router(source)
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The demo as `serve` shows it: no date configured.
async fn get(path: &str) -> (StatusCode, String) {
    let source = PageSource::new(Arc::new(RwLock::new(kaixuan_projections())));
    get_from(source, path).await
}

/// "1,234.56" as fen.
fn fen_of(text: &str) -> i64 {
    let plain: String = text.trim().chars().filter(|c| *c != ',').collect();
    let (whole, fraction) = plain.split_once('.').expect("two decimals");
    assert_eq!(fraction.len(), 2, "{text}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().unwrap();
    sign * (whole * 100 + fraction.parse::<i64>().unwrap())
}

/// The texts of every element opening with `open`, up to its closing tag.
fn cells<'a>(html: &'a str, open: &str) -> Vec<&'a str> {
    html.match_indices(open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            &rest[..rest.find("</").expect("closed")]
        })
        .collect()
}

/// The text of every table cell of `class`, whatever its other attributes
/// (such as the phone card's data-label).
fn td_cells<'a>(html: &'a str, class: &str) -> Vec<&'a str> {
    let open = format!("<td class=\"{class}\"");
    html.match_indices(&open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            let rest = &rest[rest.find('>').expect("tag closed") + 1..];
            &rest[..rest.find("</").expect("closed")]
        })
        .collect()
}

/// The page's figures and the sums of its movement table, paged through:
/// (total in, total out, held, Σ in column, Σ out column, last balance).
async fn fund_page_sums(source: &PageSource, fund_id: &str) -> (i64, i64, i64, i64, i64, i64) {
    let (mut sum_in, mut sum_out, mut last_balance) = (0, 0, 0);
    let mut figures;
    let mut offset = 0;
    loop {
        let (status, html) =
            get_from(source.clone(), &format!("/funds/{fund_id}?offset={offset}")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let figure = |id: &str| fen_of(cells(&html, &format!("id=\"{id}\">"))[0]);
        figures = Some((figure("fund-in"), figure("fund-out"), figure("fund-held")));
        for text in td_cells(&html, "num in") {
            if !text.is_empty() {
                sum_in += fen_of(text);
            }
        }
        for text in td_cells(&html, "num out") {
            if !text.is_empty() {
                sum_out += fen_of(text);
            }
        }
        if let Some(text) = td_cells(&html, "num balance").last() {
            last_balance = fen_of(text);
        }
        let next = cells(&html, "id=\"next-page\" href=\"");
        match next.first() {
            Some(_) => offset += super::accounts::FUND_PAGE_ROWS,
            None => break,
        }
    }
    let (total_in, total_out, held) = figures.expect("one page at least");
    (total_in, total_out, held, sum_in, sum_out, last_balance)
}

/// What the trial balance says fund `fund_id` holds: its own accounts, its
/// projects' and its grants' outstanding commitments.
fn held_by_trial_balance(projections: &Projections, fund_id: &str) -> i64 {
    let trial = projections.trial_balance();
    assert_eq!(trial.total_fen, 0);
    let under = |prefix: &str| -> i64 {
        -trial
            .accounts
            .iter()
            .filter(|line| line.account.starts_with(prefix))
            .map(|line| line.balance_fen)
            .sum::<i64>()
    };
    let projects: i64 = projections
        .projects()
        .iter()
        .filter(|project| project.fund_id == fund_id)
        .map(|project| under(&format!("project:{}:", project.project_id)))
        .sum();
    let grants: i64 = projections
        .grants()
        .iter()
        .filter(|grant| projections.grant_round(&grant.round_id).unwrap().fund_id == fund_id)
        .map(|grant| under(&format!("liabilities:grants:{}", grant.grant_id)))
        .sum();
    under(&format!("fund:{fund_id}:")) + projects + grants
}

/// For every fund: the movements listed in JSON and in gRPC (paged through,
/// a few at a time) and on the page sum to the fund's totals in the funds
/// answer (JSON and gRPC), on the page and in the trial balance, to the fen.
pub(crate) async fn assert_every_fund_reconciles(projections: Projections) {
    let funds_json = answer(
        &projections,
        false,
        QueryKind::Funds,
        "",
        None,
        Page::default(),
    )
    .unwrap()
    .to_json();
    let funds_proto = match answer(
        &projections,
        false,
        QueryKind::Funds,
        "",
        None,
        Page::default(),
    )
    .unwrap()
    .into_proto()
    {
        pb::query_response::Answer::Funds(funds) => funds.funds,
        other => panic!("{other:?}"),
    };
    let source = PageSource::new(Arc::new(RwLock::new(projections.clone())));
    for (fund, fund_proto) in funds_json.as_array().unwrap().iter().zip(&funds_proto) {
        let fund_id = fund["fund_id"].as_str().unwrap();
        let total_in = fund["total_in_fen"].as_i64().unwrap();
        let total_out = fund["total_out_fen"].as_i64().unwrap();
        let held = fund["total_held_fen"].as_i64().unwrap();
        assert_eq!(
            (
                fund_proto.total_in_fen,
                fund_proto.total_out_fen,
                fund_proto.total_held_fen
            ),
            (total_in, total_out, held)
        );
        assert_eq!(
            held_by_trial_balance(&projections, fund_id),
            held,
            "{fund_id}"
        );

        let (mut json_in, mut json_out, mut json_last) = (0, 0, 0);
        let (mut grpc_in, mut grpc_out, mut grpc_last) = (0, 0, 0);
        let mut offset = 0;
        loop {
            let page = Page { offset, limit: 3 };
            let listed = fund_transactions(
                &projections,
                false,
                fund_id,
                &MovementQuery::default(),
                page,
            )
            .unwrap();
            let json = Answer::FundTransactions(listed.clone()).to_json();
            assert_eq!(json["in_fen"].as_i64(), Some(total_in));
            assert_eq!(json["out_fen"].as_i64(), Some(total_out));
            assert_eq!(json["balance_fen"].as_i64(), Some(held));
            for movement in json["movements"].as_array().unwrap() {
                let amount_fen = movement["amount_fen"].as_i64().unwrap();
                assert!(amount_fen > 0);
                match movement["direction"].as_str().unwrap() {
                    "in" => json_in += amount_fen,
                    "out" => json_out += amount_fen,
                    other => panic!("direction {other}"),
                }
                json_last = movement["balance_after_fen"].as_i64().unwrap();
            }
            let pb::query_response::Answer::FundTransactions(proto) =
                Answer::FundTransactions(listed).into_proto()
            else {
                panic!("a fund-transactions answer");
            };
            for movement in &proto.movements {
                match movement.direction.as_str() {
                    "in" => grpc_in += movement.amount_fen,
                    _ => grpc_out += movement.amount_fen,
                }
                grpc_last = movement.balance_after_fen;
            }
            assert_eq!(
                json.get("next_offset").and_then(Value::as_u64),
                proto.next_offset
            );
            match proto.next_offset {
                Some(next) => offset = next as usize,
                None => break,
            }
        }
        assert_eq!(
            (json_in, json_out, json_last),
            (total_in, total_out, held),
            "JSON of {fund_id}"
        );
        assert_eq!(
            (grpc_in, grpc_out, grpc_last),
            (total_in, total_out, held),
            "gRPC of {fund_id}"
        );
        let page = fund_page_sums(&source, fund_id).await;
        assert_eq!(
            page,
            (total_in, total_out, held, total_in, total_out, held),
            "page of {fund_id}"
        );
    }
}

#[tokio::test]
async fn every_demo_fund_reconciles_on_the_page_in_json_grpc_and_the_trial_balance() {
    let projections = kaixuan_projections();
    let charity = projections.fund_balance("kaixuan-charity").unwrap();
    assert!(
        projections
            .fund_movements("kaixuan-charity", Default::default(), None, 0, 10_000)
            .unwrap()
            .movements
            .iter()
            .any(|movement| movement.kind == mingzhang_projections::MovementKind::GrantTranche),
        "the grant tranches paid from the fund are in its account"
    );
    assert!(charity.total_out_fen > 0);
    assert_every_fund_reconciles(projections).await;
}

#[tokio::test]
async fn credit_for_pd2015_08_follows_who_paid_on_the_page_and_in_json() {
    let (status, html) = get("/projects/pd2015-08").await;
    assert_eq!(status, StatusCode::OK);
    let kindness = cells(&html, "class=\"kindness project-kindness\">");
    assert_eq!(kindness.len(), 1, "one funder");
    let credited = &html[html.find("class=\"kindness project-kindness\"").unwrap()..];
    let credited = &credited[..credited.find("</p>").unwrap()];
    assert!(
        credited.contains("机场路示例汽车服务有限公司"),
        "{credited}"
    );
    assert!(credited.contains("19,200.00"), "{credited}");
    assert!(
        !credited.contains("凯旋示范商贸有限公司"),
        "the new claimant paid nothing"
    );
    let claimant = &html[html.find("id=\"project-claimant\"").unwrap()..];
    let claimant = &claimant[..claimant.find("</p>").unwrap()];
    assert!(
        claimant.contains("凯旋示范商贸有限公司") && claimant.contains("0.00"),
        "{claimant}"
    );
    let claims = &html[html.find("class=\"claims\"").unwrap()..];
    let claims = &claims[..claims.find("</ul>").unwrap()];
    // The demo records its corrections after its 2016 grant closures, so
    // they carry that day, 2016-12-31.
    assert!(
        claims.contains("已于 2016-12-31 释放"),
        "the release is dated: {claims}"
    );
    assert!(claims.contains("认领单位搬离辖区"));

    let projections = kaixuan_projections();
    let projects = answer(
        &projections,
        false,
        QueryKind::Projects,
        "",
        None,
        Page::default(),
    )
    .unwrap()
    .to_json();
    let project = projects
        .as_array()
        .unwrap()
        .iter()
        .find(|project| project["project_id"] == "pd2015-08")
        .unwrap();
    assert_eq!(project["claimant_id"], "unit-01");
    assert_eq!(
        project["funders"],
        serde_json::json!([{"sponsor_id": "unit-12", "funded_fen": 1_920_000}])
    );
    let paid: Vec<(String, i64)> = project["claim_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|claim| {
            (
                claim["sponsor_id"].as_str().unwrap().to_owned(),
                claim["funded_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        paid,
        vec![("unit-12".to_owned(), 1_920_000), ("unit-01".to_owned(), 0)]
    );
}

#[tokio::test]
async fn demo_page_shows_every_correction_with_its_date_and_reason() {
    let (_, html) = get("/").await;
    let notes = &html[html
        .find("id=\"corrections\"")
        .expect("a corrections section")..];
    let notes = &notes[..notes.find("</section>").unwrap()];
    assert!(notes.contains("更正说明"));
    // The demo records its corrections after its 2016 grant closures: each
    // is dated the day it was recorded, 2016-12-31.
    for (kind, date, reason) in [
        ("donation_reversal", "2016-12-31", "重复录入，冲正"),
        ("donation_refund", "2016-12-31", "捐赠人申请部分退回"),
        ("pledge_amended", "2016-12-31", "经营调整"),
        ("claim_released", "2016-12-31", "认领单位搬离辖区"),
        ("grant_closed", "2016-12-31", "中期评估未通过"),
    ] {
        let at = notes
            .find(&format!("data-kind=\"{kind}\""))
            .unwrap_or_else(|| panic!("no {kind} note"));
        let note = &notes[at..];
        let note = &note[..note.find("</li>").unwrap()];
        assert!(note.contains(date), "{kind}: {note}");
        assert!(note.contains(reason), "{kind}: {note}");
    }
    assert!(
        notes.contains("重复录入更正"),
        "the reversal is labelled a duplicate-entry correction"
    );
    assert!(
        notes.contains("1,000,000.00") && notes.contains("600,000.00"),
        "the amendment's totals"
    );
    assert!(
        !html.contains("张敏"),
        "the duplicate's donor chose not to be named"
    );
    let (_, en) = get("/?lang=en").await;
    assert!(en.contains("Correction notes") && en.contains("Duplicate-entry correction"));

    // Where the originals appear: the pledge on its sponsor's page, the
    // claim on its project's page, the gift in the fund's account.
    let (_, sponsor) = get("/sponsors/unit-05").await;
    assert!(sponsor.contains("data-kind=\"pledge_amended\"") && sponsor.contains("经营调整"));
    let (_, project) = get("/projects/pd2015-08").await;
    assert!(project.contains("data-kind=\"claim_released\""));
    let expenditures = &html[html.find("id=\"expenditures\"").unwrap()..];
    let expenditures = &expenditures[..expenditures.find("</section>").unwrap()];
    assert!(
        expenditures.contains("href=\"/funds/kaixuan-charity\""),
        "the expenditure list leads to the accounts holding the grant tranches"
    );
    let (_, fund) = get("/funds/kaixuan-charity").await;
    assert!(
        fund.contains("data-kind=\"donation_reversal\"")
            && fund.contains("data-kind=\"donation_refund\"")
    );
}

#[tokio::test]
async fn a_reversed_duplicate_counts_in_no_income_on_the_page_or_chart() {
    let projections = kaixuan_projections();
    let charity = projections.fund_balance("kaixuan-charity").unwrap();
    let duplicate = projections.donation("don-2016-duplicate").unwrap();
    assert_eq!(duplicate.reversed_fen, duplicate.amount_fen);
    let received: i64 = (0..projections.donations_count())
        .step_by(1)
        .map(|index| projections.donations(index, 1)[0].clone())
        .filter(|donation| donation.fund_id == "kaixuan-charity" && donation.project_id.is_empty())
        .map(|donation| donation.amount_fen - donation.reversed_fen)
        .sum::<i64>();
    let others_in: i64 = projections
        .fund_movements("kaixuan-charity", Default::default(), None, 0, 10_000)
        .unwrap()
        .movements
        .iter()
        .filter(|m| {
            m.kind != mingzhang_projections::MovementKind::Donation
                && m.direction == mingzhang_projections::Direction::In
        })
        .map(|m| m.amount_fen)
        .sum();
    assert_eq!(
        charity.total_in_fen,
        received + others_in,
        "income without the duplicate"
    );
    let january = projections
        .monthly_flows()
        .into_iter()
        .find(|month| month.month == "2016-01")
        .unwrap();
    let (_, html) = get("/").await;
    assert!(
        html.contains(&format!(
            "2016-01 收入 {}",
            super::public::cny(january.in_fen)
        )),
        "the chart shows the month's income"
    );
    assert!(
        !html.contains(&format!(
            "2016-01 收入 {}",
            super::public::cny(january.in_fen + duplicate.amount_fen)
        )),
        "and not with the duplicate"
    );
    assert!(html.contains("重复录入，已冲正，不计入收入") || !html.contains("don-2016-duplicate"));
}

#[tokio::test]
async fn the_demo_is_judged_as_of_its_newest_record_and_says_so() {
    let projections = kaixuan_projections();
    let newest = projections.newest_recorded_on().render();
    assert!(newest.starts_with("2016-"), "{newest}");
    let (status, html) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    let as_of = &html[html.find("id=\"as-of\"").unwrap()..];
    let as_of = &as_of[..as_of.find("</p>").unwrap()];
    assert!(
        as_of.contains("判断日期") && as_of.contains(&newest),
        "{as_of}"
    );
    assert!(as_of.contains("账本最新一条记录的日期"), "{as_of}");
    let (_, en) = get("/?lang=en").await;
    assert!(en.contains("the day of the ledger's newest record"));

    // Judged as of its own data, only unit-06 (which stopped paying in
    // 2016) is overdue; against 2026 every pledger would be.
    let pledges = &html[html.find("id=\"pledges\"").unwrap()..];
    let pledges = &pledges[..pledges.find("</section>").unwrap()];
    let overdue_now = pledges.matches("class=\"num overdue\"").count();
    assert_eq!(overdue_now, 1, "unit-06 alone: {pledges}");
    let (_, later) = get("/?as_of=2026-12-07").await;
    let later = &later[later.find("id=\"pledges\"").unwrap()..];
    let later = &later[..later.find("</section>").unwrap()];
    assert!(later.matches("class=\"num overdue\"").count() > overdue_now);

    let (status, asked) = get("/sponsors/unit-06?as_of=2017-07-01").await;
    assert_eq!(status, StatusCode::OK);
    assert!(asked.contains("id=\"as-of-date\">2017-07-01<"));
    assert!(asked.contains("由链接中的 as_of 指定"));
    for bad in [
        "/?as_of=2016-13-01",
        "/sponsors/unit-06?as_of=yesterday",
        "/funds/kaixuan-charity?as_of=2016-1-1",
    ] {
        let (status, body) = get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["field"], "as_of", "{body}");
    }
}

#[test]
fn today_is_the_date_only_when_the_ledger_reaches_it() {
    use super::{AsOfSource, default_as_of};
    use mingzhang_projections::Day;
    let day = |text| Day::parse(text).unwrap();
    assert_eq!(
        default_as_of(day("2016-12-31"), day("2026-12-07")),
        (day("2016-12-31"), AsOfSource::NewestRecord)
    );
    assert_eq!(
        default_as_of(day("2026-12-07"), day("2026-12-07")),
        (day("2026-12-07"), AsOfSource::Today)
    );
    assert_eq!(
        default_as_of(Day::UNKNOWN, day("2026-12-07")),
        (day("2026-12-07"), AsOfSource::Today)
    );
}

#[tokio::test]
async fn transactions_csv_lists_every_movement_masked_as_on_the_page() {
    let (status, csv) = get("/exports/transactions.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csv.starts_with("\u{feff}fund_id,seq,date,kind,direction,amount_cny,balance_after_cny")
    );
    let projections = kaixuan_projections();
    let movements: usize = projections
        .fund_balances()
        .iter()
        .map(|fund| {
            projections
                .fund_movements(&fund.fund_id, Default::default(), None, 0, 10_000)
                .unwrap()
                .movements
                .len()
        })
        .sum();
    assert_eq!(csv.lines().count(), movements + 1);
    assert!(csv.contains(",grant_tranche,out,"));
    assert!(!csv.contains("张敏"));
}

// ---------------------------------------------------------------------------
// Random ledgers: the demo, then random gifts, refunds, reversals,
// expenditures, their reversals, sponsor funding, pledge payments, tranches
// and grant closures, each kept only if the ledger's rules accept it.

mod random_ledgers {
    use mingzhang_ledger::decide::decide;
    use mingzhang_ledger::scenario;
    use mingzhang_ledger::state::LedgerState;
    use mingzhang_projections::Projections;
    use mingzhang_proto::v1::event_envelope::Event;
    use mingzhang_proto::v1::{self, EventEnvelope};
    use proptest::prelude::*;

    struct Ledger {
        state: LedgerState,
        projections: Projections,
        recorded_at_unix_ms: i64,
        donations: Vec<String>,
        expenditures: Vec<String>,
    }

    impl Ledger {
        fn demo() -> Ledger {
            let mut ledger = Ledger {
                state: LedgerState::default(),
                projections: Projections::default(),
                recorded_at_unix_ms: 0,
                donations: Vec::new(),
                expenditures: Vec::new(),
            };
            for (command, meta) in scenario::kaixuan() {
                ledger.recorded_at_unix_ms = meta.at_unix_ms;
                assert!(ledger.submit(command), "the demo is valid");
            }
            ledger
        }

        /// Records `command` if the rules accept it; says whether they did.
        fn submit(&mut self, command: Event) -> bool {
            let Ok(event) = decide(&self.state, command) else {
                return false;
            };
            self.state.apply(&event);
            match &event {
                Event::DonationReceived(e) => self.donations.push(e.donation_id.clone()),
                Event::ExpenditureMade(e) => self.expenditures.push(e.expenditure_id.clone()),
                _ => {}
            }
            self.recorded_at_unix_ms += 60_000;
            let seq = self.projections.applied_len();
            let envelope = EventEnvelope {
                recorded_at_unix_ms: self.recorded_at_unix_ms,
                event: Some(event),
                ..Default::default()
            };
            self.projections
                .apply(seq, &envelope)
                .expect("what the rules accept applies");
            true
        }
    }

    fn template<T>(pick: impl Fn(Event) -> Option<T>) -> T {
        scenario::kaixuan()
            .into_iter()
            .find_map(|(event, _)| pick(event))
            .expect("the demo has one")
    }

    const FUNDS: [&str; 3] = [
        scenario::CHARITY_FUND_ID,
        scenario::PARTNERS_FUND_ID,
        scenario::SPECIAL_SUPPORT_FUND_ID,
    ];
    const DONORS: [&str; 5] = [
        "resident-wang",
        "resident-li",
        "resident-zhang",
        "unit-01",
        "",
    ];

    fn date(n: u64) -> String {
        format!(
            "{}-{:02}-{:02}",
            2015 + n % 3,
            1 + n / 3 % 12,
            1 + n / 36 % 28
        )
    }

    fn pick<T: AsRef<str>>(items: &[T], n: u64) -> Option<&str> {
        (!items.is_empty()).then(|| items[n as usize % items.len()].as_ref())
    }

    fn command(ledger: &Ledger, choice: u8, n: u64, serial: usize) -> Option<Event> {
        let amount_fen = 1 + (n % 5_000_000) as i64;
        Some(match choice {
            0 => {
                let mut e = template(|e| match e {
                    Event::DonationReceived(e) if e.project_id.is_empty() => Some(e),
                    _ => None,
                });
                e.donation_id = format!("random-gift-{serial}");
                e.fund_id = FUNDS[n as usize % FUNDS.len()].into();
                e.campaign_id = String::new();
                e.donor_id = DONORS[(n / 7) as usize % DONORS.len()].into();
                e.anonymous = n.is_multiple_of(5);
                e.amount_fen = amount_fen;
                e.received_on = date(n / 11);
                if n.is_multiple_of(4) {
                    e.project_id = scenario::project_id((n / 13 % 9) as usize);
                    e.fund_id = scenario::PARTNERS_FUND_ID.into();
                }
                Event::DonationReceived(e)
            }
            1 => Event::DonationRefunded(v1::DonationRefunded {
                refund_id: format!("random-refund-{serial}"),
                donation_id: pick(&ledger.donations, n)?.into(),
                amount_fen: 1 + (n % 50_000) as i64,
                reason: "捐赠人申请退回".into(),
            }),
            2 => Event::DonationReversed(v1::DonationReversed {
                donation_id: pick(&ledger.donations, n)?.into(),
                amount_fen: 0,
                reason: "重复录入".into(),
            }),
            3 => {
                let mut e = template(|e| match e {
                    Event::ExpenditureMade(e) => Some(e),
                    _ => None,
                });
                e.expenditure_id = format!("random-expense-{serial}");
                e.fund_id = FUNDS[n as usize % FUNDS.len()].into();
                e.project_id = if n.is_multiple_of(3) {
                    e.fund_id = scenario::PARTNERS_FUND_ID.into();
                    scenario::project_id((n / 13 % 9) as usize)
                } else {
                    String::new()
                };
                e.category = 1 + (n / 17 % 3) as i32;
                e.amount_fen = 1 + (n % 200_000) as i64;
                e.paid_on = date(n / 19);
                Event::ExpenditureMade(e)
            }
            4 => {
                let expenditure_id = pick(&ledger.expenditures, n)?;
                let expenditure = ledger
                    .projections
                    .expenditures(0, usize::MAX)
                    .into_iter()
                    .find(|e| e.expenditure_id == expenditure_id)?;
                Event::ExpenditureReversed(v1::ExpenditureReversed {
                    expenditure_id: expenditure_id.into(),
                    amount_fen: expenditure.amount_fen,
                    reason: "记账错误".into(),
                })
            }
            5 => {
                let mut e = template(|e| match e {
                    Event::ProjectFunded(e) => Some(e),
                    _ => None,
                });
                let project_id = scenario::project_id((n % 9) as usize);
                e.sponsor_id = ledger.projections.project(&project_id)?.claimant_id?;
                e.project_id = project_id;
                e.funding_id = format!("random-funding-{serial}");
                e.amount_fen = 1 + (n % 100_000) as i64;
                e.received_on = date(n / 23);
                Event::ProjectFunded(e)
            }
            6 => {
                let mut e = template(|e| match e {
                    Event::PledgePaymentReceived(e) => Some(e),
                    _ => None,
                });
                e.payment_id = format!("random-payment-{serial}");
                e.pledge_id = format!("pledge-unit-{:02}", 1 + n % 6);
                e.amount_fen = amount_fen;
                e.received_on = date(n / 29);
                Event::PledgePaymentReceived(e)
            }
            7 => {
                let grant_id = scenario::grant_id((n % 26) as usize);
                let grant = ledger.projections.grant(&grant_id)?;
                let tranche = grant.tranches.get((n / 26 % 3) as usize)?;
                Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
                    grant_id,
                    tranche_index: tranche.index,
                    amount_fen: tranche.amount_fen,
                    paid_on: date(n / 31),
                    bank_reference: format!("RANDOM-{serial}"),
                })
            }
            _ => {
                let grant_id = scenario::grant_id((n % 26) as usize);
                let grant = ledger.projections.grant(&grant_id)?;
                Event::GrantClosed(v1::GrantClosed {
                    grant_id,
                    disbursed_fen: grant.disbursed_fen,
                    returned_fen: grant.amount_fen - grant.disbursed_fen,
                    reason: "项目结项".into(),
                })
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn every_fund_of_a_random_ledger_reconciles_on_the_page_in_json_grpc_and_the_trial_balance(
            ops in proptest::collection::vec((0u8..9, any::<u64>()), 0..60)
        ) {
            let mut ledger = Ledger::demo();
            let mut accepted = 0;
            for (serial, (choice, n)) in ops.into_iter().enumerate() {
                if let Some(command) = command(&ledger, choice, n, serial) {
                    accepted += usize::from(ledger.submit(command));
                }
            }
            prop_assert!(accepted <= 60);
            ledger.projections.check_identities().map_err(TestCaseError::fail)?;
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(super::assert_every_fund_reconciles(ledger.projections));
        }
    }

    /// The generator reaches every kind of movement and correction, so the
    /// property above is not vacuous.
    #[test]
    fn random_ledgers_reach_refunds_reversals_tranches_and_closures() {
        let mut ledger = Ledger::demo();
        let mut kinds = std::collections::BTreeSet::new();
        for serial in 0..2_000usize {
            let n = (serial as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7;
            let choice = (serial % 9) as u8;
            if let Some(command) = command(&ledger, choice, n, serial)
                && ledger.submit(command)
            {
                kinds.insert(choice);
            }
        }
        assert_eq!(kinds.len(), 9, "accepted kinds: {kinds:?}");
    }
}
