//! Render time of the operator console's pages over the Kaixuan demo grown
//! to a million records (api/benches/support/big_log.rs):
//!
//!     cargo bench -p mingzhang-api --bench console
//!
//! Prints p50 / p99 / max per page; the target is p99 < 20 ms (issue 19).
//! Each sample is what a request does under the projections' read lock:
//! the to-do list computed from the projections and the page rendered, or
//! a form (and a donation's review step, whose sentence looks names up).

use std::time::Instant;

use parking_lot::RwLock;

use mingzhang_api::console::{console_page, form_page, forms, review, review_page, todo};
use mingzhang_api::page::default_judging_day;
use mingzhang_api::session::staff_layout;
use mingzhang_ledger::scenario;

#[path = "support/big_log.rs"]
mod big_log;

const RECORDS_TOTAL: u64 = 1_000_000;
const RENDERS_PER_PAGE: usize = 200;
const CSRF: &str = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";

fn measure(name: &str, render_once: impl FnMut() -> String) {
    big_log::measure(name, RENDERS_PER_PAGE, render_once);
}

fn main() {
    let started = Instant::now();
    let projections = RwLock::new(big_log::build_projections(RECORDS_TOTAL));
    println!(
        "built projections: {} records in {:.1} s",
        projections.read().applied_len(),
        started.elapsed().as_secs_f64()
    );
    {
        let projections = projections.read();
        let todo = todo::to_do(&projections, default_judging_day(&projections));
        println!(
            "to-do: {} instalments, {} tranches awaiting evaluation, {} disclosures, {} unfunded claims",
            todo.instalments.len(),
            todo.awaiting_evaluation.len(),
            todo.disclosures.len(),
            todo.unfunded_claims.len()
        );
    }
    measure("/console", || {
        let projections = projections.read();
        let as_of = default_judging_day(&projections);
        staff_layout(
            "控制台 · Console",
            None,
            console_page(&todo::to_do(&projections, as_of)),
        )
    });
    for slug in [
        "receive-donation",
        "make-pledge",
        "award-grant",
        "complete-project",
    ] {
        let form = forms::form(slug).expect("a console form");
        measure(&format!("/console/{slug}"), || {
            staff_layout(slug, None, form_page(CSRF, form, &[], "console-key", None))
        });
    }
    let donation = forms::form("receive-donation").expect("the donation form");
    let fields: Vec<(String, String)> = [
        ("donation_id", "bench-gift"),
        ("donor_id", "unit-01"),
        ("fund_id", scenario::CHARITY_FUND_ID),
        ("amount", "41000"),
        ("channel", "bank_transfer"),
        ("received_on", "2017-03-01"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec();
    measure("/console/receive-donation review", || {
        let (json, path_id) = forms::body_of(donation, &fields);
        let event = (donation.route.preview)(&json, path_id).expect("a valid donation");
        let sentence = review::review_sentence(&projections.read(), &event);
        assert!(sentence.is_some());
        staff_layout(
            "review",
            None,
            review_page(CSRF, donation, &fields, "console-key", sentence),
        )
    });
}
