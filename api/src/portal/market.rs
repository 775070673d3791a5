//! `/sponsor/market`, the project market (项目超市): the published needs
//! (微心愿, 微公益, service and livelihood projects from the half-yearly
//! survey) nobody has claimed, filtered by community, kind and budget with
//! plain query parameters (works without JavaScript), each with a claim
//! button and an optional pledge toward it.
//!
//! A claim is the JSON API's `ClaimProject` posted through the same submit
//! path, so the ledger alone decides who may claim (alliance member units,
//! one claim per project); its refusal is shown next to the project.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use mingzhang_projections::{ProjectStatus, ProjectView, Projections};

use super::{Refusal, field, form_idempotency_key, portal_html, yuan};
use crate::auth::Principal;
use crate::error::AppError;
use crate::http::commands::{ClaimProject, CommandBody, InstalmentJson, MakePledge};
use crate::money::parse_amount_fen;
use crate::session::{self, CSRF_FIELD, SignedIn, SignedInForm};
use crate::state::AppState;

/// Projects listed at most on one market page; a filter narrows the rest.
pub const MARKET_SHOWN_MAX: usize = 200;

/// The need kinds a project is published as, with their names.
pub const NEED_KINDS: [(&str, &str, &str); 4] = [
    ("micro_wish", "微心愿", "micro-wish"),
    ("micro_charity", "微公益", "micro-charity"),
    ("service", "服务项目", "service project"),
    ("livelihood", "民生项目", "livelihood"),
];

/// What the visitor asked to see: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketFilter {
    pub community: String,
    pub kind: String,
    pub budget_min_fen: Option<i64>,
    pub budget_max_fen: Option<i64>,
}

impl MarketFilter {
    /// From the query `community`, `kind`, `budget_min`, `budget_max`
    /// (CNY, as "5000" or "5000.00"); a bad value names its parameter.
    pub fn parse(pairs: &[(String, String)]) -> Result<MarketFilter, AppError> {
        let budget = |name: &str| -> Result<Option<i64>, AppError> {
            match field(pairs, name).trim() {
                "" => Ok(None),
                text => parse_amount_fen(name, text).map(Some),
            }
        };
        let kind = field(pairs, "kind").trim().to_owned();
        if !kind.is_empty() && !NEED_KINDS.iter().any(|(name, _, _)| *name == kind) {
            return Err(AppError::invalid(
                "kind",
                "need_kind_unknown",
                "kind is one of micro_wish, micro_charity, service, livelihood",
            ));
        }
        let filter = MarketFilter {
            community: field(pairs, "community").trim().to_owned(),
            kind,
            budget_min_fen: budget("budget_min")?,
            budget_max_fen: budget("budget_max")?,
        };
        if let (Some(min), Some(max)) = (filter.budget_min_fen, filter.budget_max_fen)
            && min > max
        {
            return Err(AppError::invalid(
                "budget_min",
                "budget_range_empty",
                "budget_min is at most budget_max",
            ));
        }
        Ok(filter)
    }

    fn admits(&self, project: &ProjectView) -> bool {
        (self.community.is_empty() || project.community == self.community)
            && (self.kind.is_empty() || project.need_kind == self.kind)
            && self
                .budget_min_fen
                .is_none_or(|min| project.budget_fen >= min)
            && self
                .budget_max_fen
                .is_none_or(|max| project.budget_fen <= max)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Market {
    /// The open projects the filter admits, by project id, at most
    /// `MARKET_SHOWN_MAX`.
    pub open: Vec<ProjectView>,
    /// Open projects the filter admits beyond those shown.
    pub more: usize,
    /// Every community with an open project, for the filter's choices.
    pub communities: Vec<String>,
}

/// A published project nobody holds a claim on, not yet funded nor done.
pub fn is_open(project: &ProjectView) -> bool {
    project.status == ProjectStatus::Published && project.claimant_id.is_none()
}

pub fn market_model(projections: &Projections, filter: &MarketFilter) -> Market {
    let open: Vec<ProjectView> = projections.projects().into_iter().filter(is_open).collect();
    let mut communities: Vec<String> = open
        .iter()
        .map(|project| project.community.clone())
        .filter(|community| !community.is_empty())
        .collect();
    communities.sort();
    communities.dedup();
    let mut admitted: Vec<ProjectView> = open
        .into_iter()
        .filter(|project| filter.admits(project))
        .collect();
    let more = admitted.len().saturating_sub(MARKET_SHOWN_MAX);
    admitted.truncate(MARKET_SHOWN_MAX);
    Market {
        open: admitted,
        more,
        communities,
    }
}

fn kind_label(kind: &str) -> (&'static str, &'static str) {
    NEED_KINDS
        .iter()
        .find(|(name, _, _)| *name == kind)
        .map_or(("其他", "other"), |(_, zh, en)| (*zh, *en))
}

fn budget_text(fen: Option<i64>) -> String {
    fen.map(crate::money::format_fen).unwrap_or_default()
}

/// The market's body. `refused`: a claim just refused, shown first; `filter_problem`: a filter that could not be read.
pub fn render_market(
    market: &Market,
    filter: &MarketFilter,
    csrf: &str,
    refused: Option<(&str, &Refusal)>,
    filter_problem: Option<&Refusal>,
) -> Markup {
    html! {
        h1 { "项目超市 " span lang="en" { "Project market" } }
        p {
            "社区调查收集的需求，尚无单位认领。凯联盟成员单位可认领一个项目，并可同时认捐。 "
            span lang="en" { "Needs from the residents' survey that no unit has claimed. An alliance member unit may claim one and pledge toward it." }
        }
        p { a href="/sponsor" { "← 企业账户 " span lang="en" { "Sponsor account" } } }
        form.filters method="get" action="/sponsor/market" aria-label="筛选 Filter" {
            label for="f-community" { "社区 " span lang="en" { "Community" }
                select #f-community name="community" {
                    option value="" selected[filter.community.is_empty()] { "全部 All" }
                    @for community in &market.communities {
                        option value=(community) selected[*community == filter.community] { (community) }
                    }
                }
            }
            label for="f-kind" { "类型 " span lang="en" { "Kind" }
                select #f-kind name="kind" {
                    option value="" selected[filter.kind.is_empty()] { "全部 All" }
                    @for (name, zh, en) in NEED_KINDS {
                        option value=(name) selected[filter.kind == name] { (zh) " " (en) }
                    }
                }
            }
            label for="f-min" { "预算不少于（元） " span lang="en" { "Budget from (CNY)" }
                input #f-min name="budget_min" inputmode="decimal" value=(budget_text(filter.budget_min_fen));
            }
            label for="f-max" { "预算不超过（元） " span lang="en" { "Budget up to (CNY)" }
                input #f-max name="budget_max" inputmode="decimal" value=(budget_text(filter.budget_max_fen));
            }
            button type="submit" { "筛选 " span lang="en" { "Filter" } }
        }
        @if let Some((project_id, refusal)) = refused {
            // At the top, not on the card: a project claimed meanwhile has
            // left the list.
            section #claim-refused data-project=(project_id) {
                h2 { "认领 " code { (project_id) } " 未成功 " span lang="en" { "Claim of " (project_id) " refused" } }
                (refusal.render("claim-error"))
            }
        }
        @if let Some(problem) = filter_problem {
            (problem.render("filter-error"))
        }
        p #market-count {
            (market.open.len() + market.more) " 个待认领项目。 "
            span lang="en" { (market.open.len() + market.more) " open projects." }
        }
        ul.cards #market {
            @for project in &market.open {
                @let (zh, en) = kind_label(&project.need_kind);
                @let id = &project.project_id;
                li.card data-project=(id) {
                    h3 { a href=(format!("/projects/{id}")) { (project.title) } }
                    dl {
                        dt { "社区 " span lang="en" { "Community" } } dd { (project.community) }
                        dt { "类型 " span lang="en" { "Kind" } } dd { (zh) " " span lang="en" { (en) } }
                        dt { "预算 " span lang="en" { "Budget" } } dd { (yuan(project.budget_fen)) }
                    }
                    form.claim method="post" action=(format!("/sponsor/market/{id}/claim")) {
                        input type="hidden" name=(CSRF_FIELD) value=(csrf);
                        input type="hidden" name="idempotency_key" value=(form_idempotency_key());
                        details {
                            summary { "同时认捐（可选） " span lang="en" { "Also pledge (optional)" } }
                            label for=(format!("pledge-total-{id}")) { "认捐金额（元） " span lang="en" { "Pledge amount (CNY)" } }
                            input id=(format!("pledge-total-{id}")) name="pledge_total" inputmode="decimal";
                            label for=(format!("pledge-due-{id}")) { "付款日期 " span lang="en" { "Due on" } }
                            input id=(format!("pledge-due-{id}")) name="pledge_due_on" type="date";
                        }
                        button type="submit" { "认领 " span lang="en" { "Claim" } }
                    }
                }
            }
        }
        @if market.more > 0 {
            p.hint { "另有 " (market.more) " 个，请用筛选缩小范围。 " span lang="en" { (market.more) " more; narrow the filter." } }
        }
    }
}

fn market_response(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    pairs: &[(String, String)],
    refused: Option<(&str, &Refusal)>,
) -> Response {
    let (filter, filter_problem) = match MarketFilter::parse(pairs) {
        Ok(filter) => (filter, None),
        Err(error) => (MarketFilter::default(), Some(Refusal::of(&error))),
    };
    let status = if filter_problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let market = market_model(&state.projections.read(), &filter);
    portal_html(
        status,
        "项目超市 · Project market",
        signed_in,
        render_market(
            &market,
            &filter,
            &signed_in.csrf,
            refused,
            filter_problem.as_ref(),
        ),
    )
}

/// `GET /sponsor/market?community=&kind=&budget_min=&budget_max=`.
pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    if !matches!(signed_in.principal, Principal::Sponsor { .. }) {
        return session::wrong_role(&signed_in, "sponsor");
    }
    market_response(&state, &signed_in, StatusCode::OK, &pairs, None)
}

/// The id of the pledge a claim form makes: from the sponsor and the
/// form's key, so a resubmitted form pledges once, whatever characters a
/// forged key holds.
fn pledge_id_of(donor_id: &str, idempotency_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{donor_id}\n{idempotency_key}").as_bytes());
    format!("pledge-{}", &hex::encode(digest)[..32])
}

/// The pledge a claim form may carry: both fields or neither.
fn pledge_of_form(
    fields: &[(String, String)],
    donor_id: &str,
    fund_id: &str,
    idempotency_key: &str,
) -> Result<Option<MakePledge>, AppError> {
    let total = field(fields, "pledge_total").trim();
    let due_on = field(fields, "pledge_due_on").trim();
    if total.is_empty() && due_on.is_empty() {
        return Ok(None);
    }
    parse_amount_fen("pledge_total", total)?;
    mingzhang_ledger::decide::check_date("pledge_due_on", due_on).map_err(AppError::from)?;
    Ok(Some(MakePledge {
        pledge_id: pledge_id_of(donor_id, idempotency_key),
        donor_id: donor_id.to_owned(),
        campaign_id: String::new(),
        fund_id: fund_id.to_owned(),
        total: total.to_owned(),
        instalments: vec![InstalmentJson {
            due_on: due_on.to_owned(),
            amount: total.to_owned(),
        }],
    }))
}

/// `POST /sponsor/market/{id}/claim`: claim (and optionally
/// pledge), then 303 to `/sponsor`; a refusal re-renders the market with
/// the rule's message on the project.
pub async fn claim(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    request: axum::extract::Request,
) -> Response {
    // An id no project can have is 404 to anyone, signed in or not, as a
    // console form that does not exist is.
    if mingzhang_ledger::decide::check_id("id", &project_id).is_err() {
        return no_such_project();
    }
    let form =
        match <SignedInForm as axum::extract::FromRequest<AppState>>::from_request(request, &state)
            .await
        {
            Ok(form) => form,
            Err(to_login_or_refused) => return to_login_or_refused,
        };
    let SignedInForm {
        signed_in, fields, ..
    } = form;
    let Principal::Sponsor { donor_id, .. } = &signed_in.principal else {
        return session::wrong_role(&signed_in, "sponsor");
    };
    let refuse = |error: AppError| {
        let status = error.status();
        let refusal = Refusal::of(&error.with_json_field_names());
        market_response(
            &state,
            &signed_in,
            status,
            &[],
            Some((&project_id, &refusal)),
        )
    };
    let idempotency_key = field(&fields, "idempotency_key").to_owned();
    if let Err(error) = crate::state::validate_idempotency_key(&idempotency_key) {
        return refuse(error);
    }
    let fund_id = state
        .projections
        .read()
        .project(&project_id)
        .map(|project| project.fund_id);
    let pledge = match pledge_of_form(
        &fields,
        donor_id,
        fund_id.as_deref().unwrap_or(""),
        &idempotency_key,
    ) {
        Ok(pledge) => pledge,
        Err(error) => return refuse(error),
    };
    let claim = ClaimProject {
        sponsor_id: donor_id.clone(),
    };
    let claimed = async {
        let event = claim.into_event(project_id.clone())?;
        state
            .submit(&signed_in.principal, Some(idempotency_key.clone()), event)
            .await
    };
    if let Err(error) = claimed.await {
        return refuse(error);
    }
    if let Some(pledge) = pledge {
        let pledged = async {
            let event = pledge.into_event(String::new())?;
            state
                .submit(
                    &signed_in.principal,
                    Some(format!("{idempotency_key}:pledge")),
                    event,
                )
                .await
        };
        // The claim stands; the page says so and why the pledge did not.
        if let Err(error) = pledged.await {
            // The claim was just written: wait for it, so the page lists it.
            let _ = state.wait_for_projections_to_reach_the_log().await;
            let refusal = Refusal::of(&error.with_json_field_names());
            return super::sponsor::sponsor_response(
                &state,
                &signed_in,
                Some(&project_id),
                Some(&refusal),
            );
        }
    }
    session::see_other(&format!("/sponsor?claimed={project_id}"))
}

fn no_such_project() -> Response {
    crate::session::staff_html(
        StatusCode::NOT_FOUND,
        crate::session::staff_layout(
            "404",
            None,
            html! {
                h1 { "没有这个项目 " span lang="en" { "No such project" } }
                p { a href="/sponsor/market" { "返回项目超市 " span lang="en" { "Back to the project market" } } }
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::kaixuan_projections_until;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_bad_filter_names_its_parameter_and_rule() {
        let rule_of =
            |list: &[(&str, &str)]| Refusal::of(&MarketFilter::parse(&pairs(list)).unwrap_err());
        let refusal = rule_of(&[("budget_max", "lots")]);
        assert_eq!(refusal.field, "budget_max");
        assert_eq!(rule_of(&[("kind", "party")]).rule, "need_kind_unknown");
        assert_eq!(
            rule_of(&[("budget_min", "500"), ("budget_max", "100")]).rule,
            "budget_range_empty"
        );
        assert_eq!(MarketFilter::parse(&[]).unwrap(), MarketFilter::default());
    }

    #[test]
    fn the_market_lists_open_projects_the_filter_admits() {
        let projections = kaixuan_projections_until(usize::MAX);
        let everything = market_model(&projections, &MarketFilter::default());
        let open: Vec<_> = projections.projects().into_iter().filter(is_open).collect();
        assert_eq!(everything.open.len() + everything.more, open.len());
        assert!(everything.open.iter().all(|p| p.claimant_id.is_none()));
        for project in &open {
            let filter = MarketFilter {
                community: project.community.clone(),
                kind: project.need_kind.clone(),
                budget_min_fen: Some(project.budget_fen),
                budget_max_fen: Some(project.budget_fen),
            };
            let narrowed = market_model(&projections, &filter);
            assert!(
                narrowed
                    .open
                    .iter()
                    .any(|p| p.project_id == project.project_id)
            );
            assert!(narrowed.open.iter().all(|p| filter.admits(p)));
            let above = MarketFilter {
                budget_min_fen: Some(project.budget_fen + 1),
                ..MarketFilter::default()
            };
            assert!(
                market_model(&projections, &above)
                    .open
                    .iter()
                    .all(|p| p.budget_fen > project.budget_fen)
            );
        }
    }

    #[test]
    fn a_pledge_needs_both_its_amount_and_its_date() {
        let key = "0123456789abcdef0123456789abcdef";
        assert!(pledge_of_form(&[], "d1", "f1", key).unwrap().is_none());
        let amount_only = pairs(&[("pledge_total", "5000")]);
        let refusal = Refusal::of(&pledge_of_form(&amount_only, "d1", "f1", key).err().unwrap());
        assert_eq!(
            (refusal.field.as_str(), refusal.rule.as_str()),
            ("pledge_due_on", "date_format")
        );
        let bad_amount = pairs(&[("pledge_total", "0"), ("pledge_due_on", "2026-12-31")]);
        let refusal = Refusal::of(&pledge_of_form(&bad_amount, "d1", "f1", key).err().unwrap());
        assert_eq!(refusal.field, "pledge_total");
        let both = pairs(&[("pledge_total", "5000"), ("pledge_due_on", "2026-12-31")]);
        let pledge = pledge_of_form(&both, "d1", "f1", key).unwrap().unwrap();
        assert_eq!(pledge.pledge_id, pledge_id_of("d1", key));
        assert_ne!(pledge.pledge_id, pledge_id_of("d2", key));
        assert!(pledge.pledge_id.len() <= mingzhang_ledger::decide::ID_LEN_MAX);
        assert_eq!(pledge.fund_id, "f1");
    }
}
