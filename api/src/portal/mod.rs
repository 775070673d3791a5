//! The pages sponsors, organisations and operators use in a browser beside
//! the console (issue 19 items 3, 5, 6): the sponsor portal and its project
//! market (项目超市), the organisation view, and the bank statement import.
//!
//! Every page is signed in (`session::SignedIn`); every POST checks the
//! session's CSRF token and writes through `AppState::submit` /
//! `submit_many`, the path the JSON API takes, with an idempotency key, so
//! the ledger's rules (alliance members only, one claim per project) are
//! the only rules and a double click writes once.
//!
//! Each page is a pure model over `Projections` (`*_model`) and a render of
//! it, so the bench times them at a million records without a server.
//!
//! **Invariant:** nothing here decides; a refusal shown is the ledger's, by
//! its field and rule.

pub mod bank_import;
pub mod market;
pub mod organisation;
pub mod sponsor;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, PreEscaped, html};
use mingzhang_projections::Day;

use crate::error::AppError;
use crate::session::{SignedIn, staff_html, staff_layout};
use crate::state::AppState;

/// `/sponsor`, `/sponsor/market`, `/organisation`, `/console/bank-import`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sponsor", get(sponsor::page))
        .route("/sponsor/market", get(market::page))
        .route("/sponsor/market/{id}/claim", post(market::claim))
        .route("/organisation", get(organisation::page))
        .route("/console/bank-import", get(bank_import::form))
        .route("/console/bank-import", post(bank_import::submit))
}

/// The portal's routes for the OpenAPI document (`openapi`): (method, path,
/// summary, statuses with what each means). Kept beside `routes` so one
/// edit changes both; `openapi`'s route test reads both.
pub type PortalRoute = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

pub const PORTAL_ROUTES: [PortalRoute; 6] = [
    (
        "get",
        "/sponsor",
        "The sponsor portal (sponsor session): pledges with instalments due and overdue, what the money paid for, receipt links, claimed projects",
        &[
            ("200", "the page"),
            ("303", "no session: to /login"),
            ("403", "signed in with another role"),
            ("404", "the token's donor is not registered"),
        ],
    ),
    (
        "get",
        "/sponsor/market",
        "The project market (项目超市, sponsor session): open projects filtered by community, kind, budget_min, budget_max",
        &[
            ("200", "the page"),
            ("303", "no session: to /login"),
            ("400", "a filter that cannot be read, named with its rule"),
            ("403", "signed in with another role"),
        ],
    ),
    (
        "post",
        "/sponsor/market/{id}/claim",
        "Claim a project (form fields csrf, idempotency_key, optional pledge_total and pledge_due_on) through the ledger's rules",
        &[
            (
                "303",
                "claimed: to /sponsor?claimed=<id>; no session: to /login",
            ),
            ("400", "the form's idempotency key is missing or malformed"),
            (
                "403",
                "the form's `csrf` is missing or wrong, or another role",
            ),
            ("404", "no such project"),
            ("409", "the project is claimed already or completed"),
            ("413", "the form is too large"),
            (
                "422",
                "refused by a rule (not an alliance member, a bad pledge), shown on the market; or the claim recorded and its pledge refused, shown on the sponsor's page",
            ),
            ("503", "the log takes no writes now"),
            ("507", "the disk is full"),
        ],
    ),
    (
        "get",
        "/organisation",
        "The organisation view (organisation session): applications, awards, tranches paid and waiting, evaluations, what to file next",
        &[
            ("200", "the page"),
            ("303", "no session: to /login"),
            ("403", "signed in with another role"),
            ("404", "the token's organisation is not registered"),
        ],
    ),
    (
        "get",
        "/console/bank-import",
        "The bank statement upload form (operator session)",
        &[
            ("200", "the form"),
            ("303", "no session: to /login"),
            ("403", "signed in with another role"),
        ],
    ),
    (
        "post",
        "/console/bank-import",
        "Import a bank statement (multipart/form-data: csrf, fund_id, statement as CSV, action dry_run or confirm; docs/bank-import.md): the dry run writes nothing, confirm records the accepted rows idempotently by bank reference",
        &[
            ("200", "the dry run's rows, or what confirming recorded"),
            ("303", "no session: to /login"),
            (
                "403",
                "the form's `csrf` is missing or wrong, or another role",
            ),
            ("413", "the upload is too large"),
            (
                "422",
                "no such fund, or a statement that cannot be read, named with its rule",
            ),
            ("503", "the log takes no writes now"),
            ("507", "the disk is full"),
        ],
    ),
];

/// The portal's few rules beyond the staff style sheet: cards instead of
/// wide tables, so nothing scrolls sideways at 390 px.
const PORTAL_STYLE: &str = include_str!("../../static/portal.css");

/// A signed-in portal page: the staff frame with the portal's style.
fn portal_html(status: StatusCode, title: &str, signed_in: &SignedIn, body: Markup) -> Response {
    staff_html(
        status,
        staff_layout(
            title,
            Some(signed_in),
            html! {
                style { (PreEscaped(PORTAL_STYLE)) }
                (body)
            },
        ),
    )
}

/// CNY for people: "41,000.00 元".
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    let whole = (fen / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02} 元", fen % 100)
}

/// Today in China Standard Time, the calendar the ledger's dates are in.
pub fn today() -> Day {
    Day::from_unix_ms_cst(crate::state::now_unix_ms())
}

/// A refusal as a person reads it: the field and rule it names, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub rule: String,
    pub detail: String,
}

impl Refusal {
    pub fn of(error: &AppError) -> Refusal {
        let (field, rule) = error.field_and_rule();
        Refusal {
            field: field.unwrap_or("").to_owned(),
            rule: rule.unwrap_or("refused").to_owned(),
            detail: error.public_detail(),
        }
    }

    /// "sponsor_id: sponsor_not_alliance_member — ...", announced.
    pub fn render(&self, id: &str) -> Markup {
        html! {
            p.problem id=(id) role="alert" {
                "未记录 " span lang="en" { "Not recorded" } ": "
                @if !self.field.is_empty() { code { (self.field) } " " }
                code { (self.rule) } " — " (self.detail)
            }
        }
    }
}

/// A fresh idempotency key for a form: a double click posts it twice and
/// the ledger records once.
pub fn form_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

/// The value of field `name` of a posted form ("" when absent).
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_groups_thousands_and_keeps_fen() {
        assert_eq!(yuan(0), "0.00 元");
        assert_eq!(yuan(5), "0.05 元");
        assert_eq!(yuan(4_100_000), "41,000.00 元");
        assert_eq!(yuan(100_000_000_000), "1,000,000,000.00 元");
        assert_eq!(yuan(-123_456), "-1,234.56 元");
    }
}
