//! The operator console (`/console`): a to-do list from the projections and
//! a form for every command route, in Chinese then English, looking like
//! the public page and fitting a phone.
//!
//! A form posts through the command route's own parse and submit
//! (`http::CommandRoute`: authorise, read the body, decide, append), never
//! a copy of them, so a form and the JSON API cannot disagree on a rule.
//! Each rendered form carries its own idempotency key, so a double click,
//! a reload or a Back-and-confirm records once. A money-moving form shows
//! what it is about to record and writes only on Confirm. A refused
//! command comes back as the form, filled in as sent, with the rule's
//! message beside the field it names (role="alert", aria-describedby).
//!
//! **Invariant:** every POST here goes through `session::SignedInForm`,
//! so it is made with a live session and the session's CSRF token.

pub mod forms;
pub mod labels;
pub mod review;
pub mod todo;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};

use crate::auth::Principal;
use crate::error::AppError;
use crate::http::WriteResponse;
use crate::session::{SignedIn, SignedInForm, csrf_input, staff_html, staff_layout, wrong_role};
use crate::state::AppState;
use forms::{FILE_SUFFIX, FieldKind, FieldProblem, FormSpec};

/// The hidden field holding a rendered form's idempotency key.
pub const IDEMPOTENCY_FIELD: &str = "idempotency_key";
/// The field saying which button was pressed.
const STEP_FIELD: &str = "step";

/// `/console`, `/console/{form}` (GET shows, POST records).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(console))
        .route("/console/{form}", get(show_form))
        .route("/console/{form}", post(post_form))
}

fn not_an_operator(signed_in: &SignedIn) -> Option<Response> {
    match signed_in.principal {
        Principal::Operator { .. } => None,
        _ => Some(wrong_role(signed_in, "operator")),
    }
}

async fn console(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    if let Some(refused) = not_an_operator(&signed_in) {
        return refused;
    }
    let body = {
        let projections = state.projections.read();
        let as_of = crate::page::default_judging_day(&projections);
        console_page(&todo::to_do(&projections, as_of))
    };
    staff_html(
        StatusCode::OK,
        staff_layout("控制台 · Console", Some(&signed_in), body),
    )
}

/// The console's home: the to-do list, then every form by group.
pub fn console_page(todo: &todo::ToDo) -> Markup {
    html! {
        h1 { "控制台 " span lang="en" { "Console" } }
        (todo::render(todo))
        section #forms aria-labelledby="forms-heading" {
            h2 #forms-heading { "记录 " span lang="en" { "Record" } }
            @for (group, zh, en) in labels::GROUPS {
                h3 { (zh) " " span lang="en" { (en) } }
                ul.forms {
                    @for form in forms::forms().iter().filter(|form| labels::group_of(form.route.event) == group) {
                        li { a href={"/console/" (form.slug)} { (forms::title(form)) } }
                    }
                }
            }
        }
    }
}

fn new_idempotency_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("console-{}", hex::encode(bytes))
}

async fn show_form(
    Path(slug): Path<String>,
    State(state): State<AppState>,
    Query(prefill): Query<Vec<(String, String)>>,
    request: Request,
) -> Response {
    // A form that does not exist is 404 to anyone, signed in or not.
    let Some(form) = forms::form(&slug) else {
        return no_such_form();
    };
    let (mut parts, _) = request.into_parts();
    let signed_in = match SignedIn::from_request_parts(&mut parts, &state).await {
        Ok(signed_in) => signed_in,
        Err(to_login) => return to_login,
    };
    if let Some(refused) = not_an_operator(&signed_in) {
        return refused;
    }
    let key = new_idempotency_key();
    form_response(StatusCode::OK, &signed_in, form, &prefill, &key, None)
}

fn no_such_form() -> Response {
    staff_html(
        StatusCode::NOT_FOUND,
        staff_layout(
            "404",
            None,
            html! {
                h1 { "没有这张表单 " span lang="en" { "No such form" } }
                p { a href="/console" { "返回控制台 " span lang="en" { "Back to the console" } } }
            },
        ),
    )
}

fn form_response(
    status: StatusCode,
    signed_in: &SignedIn,
    form: &FormSpec,
    fields: &[(String, String)],
    key: &str,
    problem: Option<&FieldProblem>,
) -> Response {
    let (zh, en) = labels::form_title(form.route.event);
    staff_html(
        status,
        staff_layout(
            &format!("{zh} · {en}"),
            Some(signed_in),
            form_page(&signed_in.csrf, form, fields, key, problem),
        ),
    )
}

/// A form, filled with `fields`; a problem naming no field of the form is
/// announced above it.
pub fn form_page(
    csrf: &str,
    form: &FormSpec,
    fields: &[(String, String)],
    key: &str,
    problem: Option<&FieldProblem>,
) -> Markup {
    let beside_a_field = problem
        .and_then(|problem| problem.field.as_deref())
        .is_some_and(|field| form.shows_field(field));
    let submit = if form.moves_money() {
        "review"
    } else {
        "submit"
    };
    html! {
        p.small { a href="/console" { "← 控制台 " span lang="en" { "Console" } } }
        h1 { (forms::title(form)) }
        p.small { "同 API：" code { "POST " (form.route.path) } }
        @if let Some(problem) = problem.filter(|_| !beside_a_field) {
            p.problem #form-error role="alert" { (problem.message) }
        }
        form.command method="post" action={"/console/" (form.slug)}
            enctype=[form.takes_document().then_some("multipart/form-data")] {
            (csrf_input(csrf))
            input type="hidden" name=(IDEMPOTENCY_FIELD) value=(key);
            (forms::render_inputs(form, fields, problem.filter(|_| beside_a_field)))
            div.actions {
                button type="submit" name=(STEP_FIELD) value=(submit) {
                    @if form.moves_money() { "核对 " span lang="en" { "Review" } }
                    @else { "记录 " span lang="en" { "Record" } }
                }
            }
        }
    }
}

/// A refusal as the form shows it: the field it names, and its rule and
/// message.
fn problem_of(error: &AppError) -> FieldProblem {
    let (field, rule) = error.field_and_rule();
    let message = match error {
        AppError::IdempotencyKeyReused { .. } => "这张表单已用于另一笔记录，未再记录。请重新打开表单。 This form was already used for another record; nothing more was recorded. Open the form afresh.".to_owned(),
        _ => match rule {
            Some(rule) => format!("{rule}: {}", error.public_detail()),
            None => error.public_detail(),
        },
    };
    FieldProblem {
        field: field.map(str::to_owned),
        message,
    }
}

fn take(fields: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let index = fields.iter().position(|(field, _)| field == name)?;
    Some(fields.remove(index).1)
}

async fn post_form(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    request: Request,
) -> Response {
    let Some(form) = forms::form(&slug) else {
        return no_such_form();
    };
    let SignedInForm {
        signed_in,
        mut fields,
        files,
    } = match SignedInForm::from_request(request, &state).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    if let Some(refused) = not_an_operator(&signed_in) {
        return refused;
    }
    let step = take(&mut fields, STEP_FIELD).unwrap_or_default();
    let key = take(&mut fields, IDEMPOTENCY_FIELD).unwrap_or_else(new_idempotency_key);
    let refused = |fields: &[(String, String)], error: AppError| {
        form_response(
            error.status(),
            &signed_in,
            form,
            fields,
            &key,
            Some(&problem_of(&error)),
        )
    };
    if step == "back" {
        return form_response(StatusCode::OK, &signed_in, form, &fields, &key, None);
    }
    // A report uploaded with the form is stored first; its hash is the
    // field. The rules are asked before it is stored, with the hashes the
    // files will have, so a form they refuse leaves no report behind.
    let uploads: Vec<(&str, &[u8])> = form
        .fields
        .iter()
        .filter(|field| field.kind == FieldKind::Sha256)
        .filter_map(|field| {
            let file_field = format!("{}{FILE_SUFFIX}", field.name);
            let (_, bytes) = files.iter().find(|(name, _)| *name == file_field)?;
            Some((field.name.as_str(), bytes.as_slice()))
        })
        .collect();
    if !uploads.is_empty() {
        let mut with_hashes = fields.clone();
        for (name, bytes) in &uploads {
            with_hashes.retain(|(field, _)| field != name);
            with_hashes.push((
                (*name).to_owned(),
                crate::documents::DocumentHash::of(bytes).to_hex(),
            ));
        }
        let (json, path_id) = forms::body_of(form, &with_hashes);
        let early = (form.route.preview)(&json, path_id)
            .and_then(|event| state.refuse_early(&signed_in.principal, Some(key.clone()), &event));
        if let Err(error) = early {
            return refused(&fields, error);
        }
    }
    for field in form
        .fields
        .iter()
        .filter(|field| field.kind == FieldKind::Sha256)
    {
        let file_field = format!("{}{FILE_SUFFIX}", field.name);
        let Some((_, bytes)) = files.iter().find(|(name, _)| *name == file_field) else {
            continue;
        };
        match crate::http::documents::store_uploaded(
            &state,
            &signed_in.principal,
            &field.name,
            bytes.clone(),
            true,
        )
        .await
        {
            Ok(hash) => {
                fields.retain(|(name, _)| *name != field.name);
                fields.push((field.name.clone(), hash.to_hex()));
            }
            Err(error) => return refused(&fields, error),
        }
    }
    let (json, path_id) = forms::body_of(form, &fields);
    if form.moves_money() && step != "confirm" {
        return match (form.route.preview)(&json, path_id) {
            Ok(event) => {
                let sentence = {
                    let projections = state.projections.read();
                    review::review_sentence(&projections, &event)
                };
                let (zh, en) = labels::form_title(form.route.event);
                staff_html(
                    StatusCode::OK,
                    staff_layout(
                        &format!("核对 · Review · {zh} · {en}"),
                        Some(&signed_in),
                        review_page(&signed_in.csrf, form, &fields, &key, sentence),
                    ),
                )
            }
            Err(error) => refused(&fields, error),
        };
    }
    let written = (form.route.submit)(
        state.clone(),
        signed_in.principal.clone(),
        Some(key.clone()),
        json,
        path_id,
    )
    .await;
    match written {
        Ok(answer) => {
            let (zh, en) = labels::form_title(form.route.event);
            staff_html(
                StatusCode::OK,
                staff_layout(
                    &format!("已记录 · Recorded · {zh} · {en}"),
                    Some(&signed_in),
                    recorded_page(form, &fields, &answer),
                ),
            )
        }
        Err(error) => refused(&fields, error),
    }
}

/// What a money-moving form will record, with Confirm and Back; the form's
/// values ride along hidden, with its idempotency key.
pub fn review_page(
    csrf: &str,
    form: &FormSpec,
    fields: &[(String, String)],
    key: &str,
    sentence: Option<(String, String)>,
) -> Markup {
    html! {
        h1 { "请核对 " span lang="en" { "Please review" } }
        p.small { (forms::title(form)) }
        @if let Some((zh, en)) = sentence {
            p.review #review-sentence role="status" { (zh) br; span lang="en" { (en) } }
        }
        dl.figures {
            @for (name, value) in fields.iter().filter(|(_, value)| !value.trim().is_empty()) {
                dt { (labels::field_label(name.rsplit('.').next().unwrap_or(name))) }
                dd translate="no" { (form.shown_value(name, value)) }
            }
        }
        form.command method="post" action={"/console/" (form.slug)} {
            (csrf_input(csrf))
            input type="hidden" name=(IDEMPOTENCY_FIELD) value=(key);
            @for (name, value) in fields {
                input type="hidden" name=(name) value=(value);
            }
            div.actions {
                button #confirm type="submit" name=(STEP_FIELD) value="confirm" { "确认记录 " span lang="en" { "Confirm" } }
                button #back type="submit" name=(STEP_FIELD) value="back" { "返回修改 " span lang="en" { "Back" } }
            }
        }
    }
}

fn recorded_page(form: &FormSpec, fields: &[(String, String)], answer: &WriteResponse) -> Markup {
    let fund = fields
        .iter()
        .find(|(name, value)| name == "fund_id" && !value.is_empty())
        .map(|(_, value)| value.as_str());
    html! {
        h1 { "已记录 " span lang="en" { "Recorded" } }
        p.done #recorded role="status" {
            @if answer.idempotent_replay {
                "这张表单之前已提交，这次没有重复记录。 " span lang="en" { "This form was submitted before; nothing was recorded twice." }
            } @else {
                (forms::title(form)) "：已写入账本。 " span lang="en" { "Written to the ledger." }
            }
        }
        ul {
            @for record in &answer.records {
                li { "记录 " span lang="en" { "Record" } " #" span.seq { (record.seq) } " " code.hash { (record.hash) } }
            }
        }
        @if let Some(link) = &answer.receipt_link {
            p { "捐赠人的收据链接 " span lang="en" { "The donor's receipt link" } ": " a href=(link) { (link) } }
        }
        ul.forms {
            li { a href={"/console/" (form.slug)} { "再记录一笔 " span lang="en" { "Record another" } } }
            @if let Some(fund) = fund {
                li { a #fund-account href={"/funds/" (fund)} { "查看基金账目 " span lang="en" { "See the fund's account" } } }
            }
            li { a href="/console" { "返回控制台 " span lang="en" { "Back to the console" } } }
        }
    }
}
