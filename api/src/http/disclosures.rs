//! `GET /v1/disclosures`: the disclosure calendar (docs/disclosures.md) of
//! every grant and project as of a day, or with `overdue=true` only those
//! with a report overdue. For the operator and the auditor, who chase the
//! reports; the public reads each calendar on its grant or project page.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mingzhang_projections::{Day, DisclosureCalendar, Projections};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Caller;
use super::queries::APPLIED_LEN_HEADER;
use crate::backend::Page;
use crate::error::AppError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/disclosures", get(disclosures))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DisclosureParams {
    pub min_seq: Option<u64>,
    pub as_of: Option<String>,
    pub overdue: Option<bool>,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

async fn disclosures(
    State(state): State<AppState>,
    Caller(principal): Caller,
    params: Result<Query<DisclosureParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    principal.require_full_reader("the disclosures query")?;
    let Query(params) =
        params.map_err(|error| AppError::invalid("query", "bad_query", error.body_text()))?;
    let page = Page::new(params.offset, params.limit)?;
    let asked = params
        .as_of
        .as_deref()
        .map(|text| {
            Day::parse(text).ok_or_else(|| {
                AppError::invalid(
                    "as_of",
                    "date_invalid",
                    format!("{text:?} is not a date of the form YYYY-MM-DD"),
                )
            })
        })
        .transpose()?;
    state.wait_for_projections(params.min_seq).await?;
    let projections = state.projections.read();
    if let Some(not_applied) = projections.not_applied() {
        return Err(AppError::Unavailable(not_applied.to_string()));
    }
    let as_of = asked.unwrap_or_else(|| crate::page::default_judging_day(&projections));
    let answer = disclosures_answer(&projections, as_of, params.overdue.unwrap_or(false), page);
    Ok((
        [(APPLIED_LEN_HEADER, projections.applied_len().to_string())],
        Json(answer),
    )
        .into_response())
}

/// The answer: `calendars` (one page of them), how many obligations are
/// overdue in all, and `next_offset` while more calendars remain.
pub fn disclosures_answer(
    projections: &Projections,
    as_of: Day,
    overdue_only: bool,
    page: Page,
) -> Value {
    let calendars: Vec<DisclosureCalendar> = projections
        .disclosure_calendars(as_of)
        .into_iter()
        .filter(|calendar| !overdue_only || calendar.overdue > 0)
        .collect();
    let overdue_total: u64 = calendars
        .iter()
        .map(|calendar| u64::from(calendar.overdue))
        .sum();
    let end = page.offset.saturating_add(page.limit).min(calendars.len());
    let shown = calendars.get(page.offset..end).unwrap_or_default();
    let mut answer = json!({
        "as_of": as_of.render(),
        "overdue_only": overdue_only,
        "overdue_total": overdue_total,
        "calendars": shown,
    });
    if end < calendars.len() {
        answer["next_offset"] = json!(end);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        Day::parse(text).unwrap()
    }

    #[test]
    fn overdue_only_lists_the_calendars_with_something_overdue_and_pages_them() {
        let projections = crate::test_support::kaixuan_projections();
        let all = disclosures_answer(&projections, day("2017-02-01"), false, Page::default());
        assert_eq!(all["calendars"].as_array().unwrap().len(), 26 + 9);
        let overdue = disclosures_answer(&projections, day("2017-02-01"), true, Page::default());
        let calendars = overdue["calendars"].as_array().unwrap();
        // 25 grants owe their third quarter; 7 open projects never reported.
        assert_eq!(calendars.len(), 25 + 7);
        assert!(
            calendars
                .iter()
                .all(|calendar| calendar["overdue"].as_u64() > Some(0))
        );
        assert_eq!(overdue["overdue_total"], all["overdue_total"]);
        let first_page = disclosures_answer(
            &projections,
            day("2017-02-01"),
            true,
            Page {
                offset: 0,
                limit: 10,
            },
        );
        assert_eq!(first_page["calendars"].as_array().unwrap().len(), 10);
        assert_eq!(first_page["next_offset"], 10);
        let last_page = disclosures_answer(
            &projections,
            day("2017-02-01"),
            true,
            Page {
                offset: 30,
                limit: 10,
            },
        );
        assert_eq!(last_page["calendars"].as_array().unwrap().len(), 2);
        assert!(last_page.get("next_offset").is_none());
        // Earlier, the grants were all on time.
        let earlier = disclosures_answer(&projections, day("2016-12-31"), true, Page::default());
        assert!(
            earlier["calendars"]
                .as_array()
                .unwrap()
                .iter()
                .all(|calendar| calendar["kind"] == "project"),
            "{earlier}"
        );
    }

    #[test]
    fn the_answer_matches_its_openapi_schema() {
        let projections = crate::test_support::kaixuan_projections();
        let document = crate::openapi::document();
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": document["components"],
            "$ref": "#/components/schemas/DisclosureCalendars",
        });
        let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
        for (as_of, overdue_only, limit) in [
            ("2016-12-31", false, 1_000),
            ("2017-02-01", true, 5),
            ("2015-01-01", false, 1_000),
        ] {
            let answer = disclosures_answer(
                &projections,
                day(as_of),
                overdue_only,
                Page { offset: 0, limit },
            );
            let errors: Vec<String> = validator
                .iter_errors(&answer)
                .map(|error| format!("{} at {}", error, error.instance_path))
                .collect();
            assert!(errors.is_empty(), "{as_of}: {errors:?}");
        }
        // The schema is strict: a field it does not list is refused.
        let mut answer = disclosures_answer(&projections, day("2017-02-01"), true, Page::default());
        answer["calendars"][0]["surprise"] = json!(1);
        assert!(!validator.is_valid(&answer));
    }
}
