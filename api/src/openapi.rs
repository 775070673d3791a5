//! `/openapi.json`, generated from the route table in `http` (every command
//! route, its body's JSON Schema derived from the very structs the server
//! deserializes) and the query list below, so it cannot drift from the
//! routes and bodies the server actually has.

use axum::Json;
use mingzhang_ledger::service::IDEMPOTENCY_KEY_LEN_MAX;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Value, json};

use crate::backend::{LIST_PAGE_DEFAULT, LIST_PAGE_MAX};
use crate::http::records::RECORDS_PAGE_MAX;

mod responses;

pub use responses::named;

pub struct CommandDoc {
    pub path: &'static str,
    pub body: &'static str,
    pub summary: &'static str,
    /// The body's schema: a `$ref` into `components/schemas`.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
}

/// Who may call a route, which decides whether it can answer 401 and 403.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No token is read: the page, its exports, the ops routes, the public
    /// transparency calls.
    Anyone,
    /// A token is read when sent (a malformed, unknown or revoked one is
    /// 401); every role, and the public, may call it.
    EveryRole,
    /// Only the roles named: no token or a bad one is 401, another role 403.
    Roles(&'static str),
}

impl Access {
    fn who(self) -> &'static str {
        match self {
            Access::Anyone | Access::EveryRole => "everyone",
            Access::Roles(roles) => roles,
        }
    }

    fn statuses(self) -> &'static [&'static str] {
        match self {
            Access::Anyone => &[],
            Access::EveryRole => &["401"],
            Access::Roles(_) => &["401", "403"],
        }
    }

    fn security(self) -> Value {
        match self {
            Access::Anyone => json!([]),
            Access::EveryRole => json!([{}, {"bearer": []}]),
            Access::Roles(_) => json!([{"bearer": []}]),
        }
    }
}

/// A projection read: (path, summary, who may read it, the 200 body's
/// schema, the problems its handler can answer besides 401/403).
/// Every one answers 400 `min_seq_past_end` for a `min_seq` the log does
/// not hold, 422 for a bad query and 503 while the projections lag or are
/// stopped at a record that does not apply.
struct QueryRoute {
    path: &'static str,
    summary: &'static str,
    access: Access,
    answer: fn() -> Value,
    /// 404 for the routes naming one thing; 400 for those with a path segment.
    names_one: bool,
    /// Takes `offset` and `limit` (paged lists).
    paged: bool,
}

fn array_of(name: &'static str) -> Value {
    json!({"type": "array", "items": named(name)})
}

const QUERY_ROUTES: [QueryRoute; 11] = [
    QueryRoute {
        path: "/v1/funds",
        summary: "Fund balances",
        access: Access::EveryRole,
        answer: || array_of("FundBalance"),
        names_one: false,
        paged: false,
    },
    QueryRoute {
        path: "/v1/campaigns",
        summary: "Campaign progress",
        access: Access::EveryRole,
        answer: || array_of("CampaignProgress"),
        names_one: false,
        paged: false,
    },
    QueryRoute {
        path: "/v1/campaigns/{id}",
        summary: "One campaign's progress against total and yearly targets",
        access: Access::EveryRole,
        answer: || named("CampaignProgress"),
        names_one: true,
        paged: false,
    },
    QueryRoute {
        path: "/v1/donations",
        summary: "Donations (for the public, a donor is named only if it chose to be and the gift is not anonymous; otherwise no part of its name or id appears)",
        access: Access::EveryRole,
        answer: || array_of("ListedDonation"),
        names_one: false,
        paged: true,
    },
    QueryRoute {
        path: "/v1/pledges",
        summary: "Pledges and instalments; with `as_of`, each instalment's status on that date and each sponsor's totals",
        access: Access::Roles("operator, auditor"),
        answer: || {
            json!({"oneOf": [
                {"type": "array", "items": named("PledgeView"), "description": "without as_of"},
                named("PledgeStatusReport"),
            ]})
        },
        names_one: false,
        paged: false,
    },
    QueryRoute {
        path: "/v1/grant-rounds",
        summary: "Grant rounds",
        access: Access::EveryRole,
        answer: || array_of("GrantRoundView"),
        names_one: false,
        paged: false,
    },
    QueryRoute {
        path: "/v1/grants",
        summary: "Grants and tranches",
        access: Access::EveryRole,
        answer: || array_of("GrantView"),
        names_one: false,
        paged: false,
    },
    QueryRoute {
        path: "/v1/projects",
        summary: "Project board: needs, claims, funding",
        access: Access::EveryRole,
        answer: || array_of("ProjectView"),
        names_one: false,
        paged: false,
    },
    QueryRoute {
        path: "/v1/expenditures",
        summary: "Expenditures (for the public, a private person paid is not named at all)",
        access: Access::EveryRole,
        answer: || array_of("ExpenditureEntry"),
        names_one: false,
        paged: true,
    },
    QueryRoute {
        path: "/v1/donors/{id}/statement",
        summary: "A donor's statement",
        access: Access::Roles("operator, auditor, the donor's own sponsor token"),
        answer: || named("DonorStatement"),
        names_one: true,
        paged: true,
    },
    QueryRoute {
        path: "/v1/trial-balance",
        summary: "Double-entry trial balance (sums to zero)",
        access: Access::EveryRole,
        answer: || named("TrialBalance"),
        names_one: false,
        paged: false,
    },
];

/// The id every path segment `{id}` names: the ledger's `check_id` rule.
const ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,64}$";

/// Every `{name}` in `path`, declared as OpenAPI requires: in the path,
/// required. Ids follow `ID_PATTERN`; `{size}` and `{seq}` are record counts.
fn path_parameters(path: &str) -> Vec<Value> {
    let parameters: Vec<Value> = path
        .split('{')
        .skip(1)
        .map(|rest| {
            let name = &rest[..rest.find('}').expect("a path parameter closes")];
            let schema = match name {
                "id" => json!({"type": "string", "pattern": ID_PATTERN}),
                "size" | "seq" => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
                // A receipt link's code (`receipt_links::ReceiptCode`); any
                // other text is a code never issued, so 404 as well.
                "code" => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"}),
                "sha256" => json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
                // A tlog-tiles file, slashes and all (docs/proofs.md §15).
                "path" => json!({"type": "string", "pattern": "^(checkpoint|tile/.+)$"}),
                // A console form: a command body's name in kebab case.
                "form" => json!({"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$"}),
                other => panic!("path parameter {other} has no schema here"),
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    assert_eq!(parameters.len(), path.matches('{').count(), "{path}");
    parameters
}

fn query_parameter(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false,
           "description": description, "schema": schema})
}

/// The query parameters a projection read takes (`queries::ReadParams`;
/// any other is refused with 422 `bad_query`).
fn read_parameters(route: &QueryRoute) -> Vec<Value> {
    let mut parameters = vec![query_parameter(
        "min_seq",
        "wait up to 2 s until projections include the record with this sequence number (the seq a write returned); 503 `projections_lagging` if they do not; 400 `min_seq_past_end` at once for a seq the log does not hold",
        json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
    )];
    if route.path == "/v1/pledges" {
        parameters.push(query_parameter(
            "as_of",
            "answer each pledge's due, paid and overdue instalments as of this date (422 `date_invalid` otherwise); the other reads refuse it (422 `as_of_not_applicable`)",
            json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
        ));
    }
    parameters.push(query_parameter(
        "offset",
        if route.paged {
            "rows to skip"
        } else {
            "rows to skip (this read answers every row; accepted, with no effect)"
        },
        json!({"type": "integer", "minimum": 0, "maximum": u64::MAX, "default": 0}),
    ));
    parameters.push(query_parameter(
        "limit",
        &format!(
            "rows to answer at most (422 `limit_out_of_range` outside 1..={LIST_PAGE_MAX}){}",
            if route.paged { "" } else { "; this read answers every row" }
        ),
        json!({"type": "integer", "minimum": 1, "maximum": LIST_PAGE_MAX, "default": LIST_PAGE_DEFAULT}),
    ));
    parameters
}

/// What each problem status means on this API (the `rule` names which).
fn problem_description(status: &str) -> &'static str {
    match status {
        "400" => {
            "malformed: unparseable JSON, a header or path segment that is not text, a position past the log's end"
        }
        "401" => "no token where one is needed, or a malformed, unknown or revoked one",
        "403" => "this role may not do this, or not for the one named",
        "404" => "nothing with this id or at this position",
        "409" => {
            "the ledger's state forbids it: an id already used, an idempotency key reused with another request"
        }
        "413" => "the body is larger than 64 KiB",
        "415" => "the body is not declared application/json",
        "422" => "a field or query parameter breaks a rule",
        "503" => {
            "the projections lag behind the log or are stopped at a record that does not apply; for a write: the log has failed (`log_failed`), or this server follows the log and another holds the write role (`not_the_writer`, naming it); retry with the same Idempotency-Key"
        }
        "507" => {
            "the disk is full (`insufficient_storage`): the log takes no writes until space returns and the server restarts"
        }
        other => panic!("no description for status {other}"),
    }
}

/// The problem responses for exactly these statuses.
fn problems(statuses: &[&str]) -> serde_json::Map<String, Value> {
    let mut sorted = statuses.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
        .into_iter()
        .map(|status| {
            (
                status.to_owned(),
                json!({"description": problem_description(status),
                       "content": {"application/problem+json": {"schema": named("Problem")}}}),
            )
        })
        .collect()
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn ok_text(description: &str, media_type: &str) -> Value {
    json!({"description": description,
           "content": {media_type: {"schema": {"type": "string"}}}})
}

/// One operation: its responses are the 200 given and exactly the problems
/// listed plus those its access implies.
fn operation(
    summary: &str,
    access: Access,
    parameters: Vec<Value>,
    ok: Value,
    statuses: &[&str],
) -> Value {
    let mut all = statuses.to_vec();
    all.extend_from_slice(access.statuses());
    let mut responses = problems(&all);
    responses.insert("200".to_owned(), ok);
    json!({"summary": summary, "description": format!("Callable by: {}.", access.who()),
           "parameters": parameters, "responses": responses, "security": access.security()})
}

/// The raw log: (path, summary, media type of the answer).
const RECORD_ROUTES: [(&str, &str, &str); 2] = [
    (
        "/v1/records",
        "Raw hash-chained records (`from`, `limit`); `from` equal to the log's length answers an empty page; past it, 400 `from_past_end`",
        "application/json",
    ),
    (
        "/v1/records/follow",
        "The raw records from `from` on, streamed as server-sent events (`record`, or `error` when the log cannot be read) as they are written; the stream does not end while the server runs",
        "text/event-stream",
    ),
];

/// `Idempotency-Key`: 1 to 200 printable ASCII characters without spaces
/// (400 `idempotency_key_invalid` otherwise: `state::validate_idempotency_key`).
fn idempotency_key_parameter() -> Value {
    json!({"name": "Idempotency-Key", "in": "header", "required": false,
           "description": "a retry with the same key and body answers the first result (`idempotent_replay`); keys are the caller's own",
           "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_LEN_MAX,
                      "pattern": "^[\\x21-\\x7E]+$"}})
}

/// The order a write is checked in (`auth::authorize_command_kind`), the
/// same over gRPC; the first check that fails answers.
const WRITE_CHECK_ORDER: &str = "Checked in this order, the first failure answering: \
    the bearer token (401); whether the token's role may record this kind of command (403 `role_may_not_issue`, `auditor_read_only`); \
    the body: `Content-Type: application/json` (415), its size (413), its JSON and fields (400, 422); \
    whether a sponsor or organisation acts for itself, decided from the command's own fields before any rule (403 `not_yours`, \
    the same whether or not what it names exists); then the ledger's rules (404, 409, 422). \
    Errors name fields as this body names them (`amount`, not `amount_fen`). \
    An Idempotency-Key belongs to the caller that sent it: another caller's use of the same key is another request.";

/// The writes that open or register something new and name nothing that
/// must exist already (the ledger's `decide` looks nothing up for them), so
/// they cannot answer 404.
const NAME_NOTHING_EXISTING: [&str; 3] = ["/v1/funds", "/v1/donors", "/v1/organisations"];

/// The transparency page and its exports (`page::page_router`): (path,
/// summary, media type, whether it names one thing and so can be 404).
const PAGE_ROUTES: [(&str, &str, &str, bool); 18] = [
    (
        "/",
        "The transparency page (信息公开): funds, campaigns, projects, grants, donations, expenditures",
        "text/html",
        false,
    ),
    (
        "/projects",
        "Every project, searched and filtered (q, community, need_kind, status, year)",
        "text/html",
        false,
    ),
    (
        "/sponsors",
        "Every sponsor and donor the page may name, searched (q)",
        "text/html",
        false,
    ),
    (
        "/grants",
        "Every micro-venture grant, searched and filtered (q, status, year, round)",
        "text/html",
        false,
    ),
    (
        "/rounds",
        "Every micro-venture grant round, searched and filtered (q, year)",
        "text/html",
        false,
    ),
    ("/projects/{id}", "One project's page", "text/html", true),
    ("/grants/{id}", "One grant's page", "text/html", true),
    (
        "/sponsors/{id}",
        "One sponsor's page; a donor with no gift it may be named for has none",
        "text/html",
        true,
    ),
    (
        "/verify",
        "Check a receipt yourself, in the browser",
        "text/html",
        false,
    ),
    (
        "/assets/verify.js",
        "The receipt checker's script",
        "text/javascript",
        false,
    ),
    (
        "/assets/documents.js",
        "The script that checks each linked document against the SHA-256 on the log",
        "text/javascript",
        false,
    ),
    (
        "/favicon.svg",
        "The site's icon, linked from every page; cached for a week",
        "image/svg+xml",
        false,
    ),
    (
        "/exports/donations.csv",
        "Donations as CSV, masked as on the page",
        "text/csv",
        false,
    ),
    ("/exports/grants.csv", "Grants as CSV", "text/csv", false),
    (
        "/exports/expenditures.csv",
        "Expenditures as CSV, masked as on the page",
        "text/csv",
        false,
    ),
    (
        "/funds/{id}",
        "One fund's account: every movement with its running balance, paged",
        "text/html",
        true,
    ),
    (
        "/exports/transactions.csv",
        "Every fund's movements as CSV, masked as on the page",
        "text/csv",
        false,
    ),
    (
        "/exports/grants-360giving.json",
        "Grants in the 360Giving data standard",
        "application/json",
        false,
    ),
];

fn lang_parameter() -> Value {
    query_parameter(
        "lang",
        "`en` for English; anything else, or none, is Chinese",
        json!({"type": "string"}),
    )
}

/// The index pages' filters (api/src/page/index.rs); an unknown status or a
/// year that is not four digits is a 400 naming the parameter.
fn index_parameters(path: &str) -> Vec<Value> {
    let text = |name: &str, description: &str| {
        query_parameter(name, description, json!({"type": "string"}))
    };
    let mut parameters = vec![query_parameter(
        "q",
        "words the row's names contain (400 `search_too_long` past 100 characters)",
        json!({"type": "string", "maxLength": 100}),
    )];
    if path != "/sponsors" {
        parameters.push(query_parameter(
            "year",
            "a four-digit year, or empty for any (400 `year_invalid` otherwise)",
            json!({"type": "string", "pattern": "^([0-9]{4})?$"}),
        ));
    }
    match path {
        "/projects" => {
            parameters.push(text("community", "the community (社区) as recorded"));
            parameters.push(text(
                "need_kind",
                "micro_wish, micro_charity, service or livelihood",
            ));
            parameters.push(query_parameter(
                "status",
                "the project's status (400 `status_unknown` otherwise)",
                json!({"type": "string", "enum": ["", "published", "claimed", "funded", "completed"]}),
            ));
        }
        "/grants" => {
            parameters.push(text("round", "the round's id"));
            parameters.push(query_parameter(
                "status",
                "open or closed (400 `status_unknown` otherwise)",
                json!({"type": "string", "enum": ["", "open", "closed"]}),
            ));
        }
        _ => {}
    }
    parameters
}

/// (method, path, summary, each status with what it means).
type SignedInRoute = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The browser's routes for signed-in people (`session`, `console`): HTML
/// forms posted `application/x-www-form-urlencoded`, a session cookie
/// instead of a bearer token. Each answers HTML, with the statuses listed.
const SIGNED_IN_ROUTES: [SignedInRoute; 6] = [
    (
        "get",
        "/login",
        "The sign-in form (field `token`); signed in already, 303 to the role's home",
        &[
            ("200", "the form"),
            ("303", "signed in: to the role's home"),
        ],
    ),
    (
        "post",
        "/login",
        "Sign in with a token (form field `token`): sets the HttpOnly, SameSite=Strict cookie `mz_session` and answers 303 to /console, /sponsor, /organisation or / by role",
        &[
            (
                "303",
                "signed in: to the role's home, with the session cookie",
            ),
            ("400", "no token given"),
            ("401", "the token is unknown or revoked"),
            (
                "403",
                "posted from another site's page (its Origin is not this site)",
            ),
            ("413", "the form is too large"),
            (
                "429",
                "too many failed sign-ins from this address or in all; Retry-After says how long to wait",
            ),
            ("503", "too many live sessions"),
        ],
    ),
    (
        "post",
        "/logout",
        "Sign out (form field `csrf`): ends the session and clears its cookie",
        &[
            ("303", "to /login; without a session, to /login as well"),
            ("403", "the form's `csrf` is missing or wrong"),
            ("413", "the form is too large"),
        ],
    ),
    (
        "get",
        "/console",
        "The operator console: the to-do list (instalments, tranches waiting for an evaluation, disclosures, unfunded claims) and a form for every command",
        &[
            ("200", "the console"),
            ("303", "not signed in: to /login"),
            ("403", "signed in with another role than operator"),
        ],
    ),
    (
        "get",
        "/console/{form}",
        "One command's form (`receive-donation`, ...: the body's name in kebab case), filled from the query's fields, with its own idempotency key",
        &[
            ("200", "the form"),
            ("303", "not signed in: to /login"),
            ("403", "signed in with another role than operator"),
            ("404", "no such form"),
        ],
    ),
    (
        "post",
        "/console/{form}",
        "Posts a form (urlencoded, or multipart with a report file) through its command route's parse and submit: a money-moving form answers its review step first (`step=review`), then records on `step=confirm`",
        &[
            (
                "200",
                "the review step, or what was recorded (a re-post says nothing was recorded twice)",
            ),
            ("303", "not signed in: to /login; nothing written"),
            (
                "400",
                "the form is malformed, or the command's shape: the form again, the message beside the field",
            ),
            (
                "403",
                "the form's `csrf` is missing or wrong, or the role may not; nothing written",
            ),
            (
                "404",
                "no such form, or the command names nothing that exists: the form again",
            ),
            ("409", "the ledger's state forbids it: the form again"),
            ("413", "the form is too large"),
            (
                "415",
                "the uploaded report's type is not accepted: the form again",
            ),
            (
                "422",
                "a rule refuses the command: the form again, the message beside the field",
            ),
            (
                "503",
                "the log or the projections are unavailable: the form again",
            ),
            ("507", "the disk is full: the form again"),
        ],
    ),
];

fn signed_in_operation(path: &str, summary: &str, statuses: &[(&str, &str)]) -> Value {
    let responses: serde_json::Map<String, Value> = statuses
        .iter()
        .map(|(status, description)| {
            let answer = if *status == "303" {
                json!({"description": description,
                       "headers": {"Location": {"schema": {"type": "string"}}}})
            } else {
                ok_text(description, "text/html")
            };
            ((*status).to_owned(), answer)
        })
        .collect();
    json!({"summary": summary, "tags": ["browser"], "parameters": path_parameters(path),
           "responses": responses})
}

fn page_operation(path: &str, summary: &str, media_type: &str, names_one: bool) -> Value {
    let mut parameters = path_parameters(path);
    if media_type == "text/html" {
        parameters.push(lang_parameter());
        parameters.push(query_parameter(
            "as_of",
            "the date pledges are judged against, YYYY-MM-DD (400 `date_invalid` otherwise); by default the newest record's day",
            json!({"type": "string", "format": "date"}),
        ));
        if ["/projects", "/sponsors", "/grants", "/rounds"].contains(&path) {
            parameters.extend(index_parameters(path));
        }
        if path == "/funds/{id}" {
            parameters.push(query_parameter(
                "offset",
                "movements to skip (400 `offset_invalid` for anything but a count)",
                json!({"type": "integer", "minimum": 0}),
            ));
        }
    }
    let ok = if media_type == "application/json" {
        ok_json(summary, json!({"type": "object"}))
    } else {
        ok_text(summary, media_type)
    };
    let mut responses = serde_json::Map::new();
    responses.insert("200".to_owned(), ok);
    if media_type == "text/html" {
        responses.extend(problems(&["400"]));
    }
    // page::transport: what reflects the log carries a weak ETag bound to
    // the log size; the static assets do not.
    if !path.starts_with("/assets/") && !path.starts_with("/favicon") {
        responses.insert(
            "304".to_owned(),
            json!({"description": "not modified: If-None-Match names the current ETag (weak, bound to the records applied, the checkpoint shown, the as-of date and the query)"}),
        );
    }
    if names_one {
        // An empty id (`/projects/`) matches no page route: the API's own
        // 404 `no_such_route` answers it.
        responses.insert(
            "404".to_owned(),
            json!({"description": "no such page: an HTML page saying so, or problem+json `no_such_route` for an empty id",
                   "content": {"text/html": {"schema": {"type": "string"}},
                               "application/problem+json": {"schema": named("Problem")}}}),
        );
    }
    json!({"summary": summary, "description": "Callable by: everyone; no token is read.",
           "parameters": parameters, "responses": responses, "security": []})
}

/// A donor's receipt link (`page::receipt`): (path, summary, media type).
const RECEIPT_LINK_ROUTES: [(&str, &str, &str); 2] = [
    (
        "/r/{code}",
        "A donor's receipt link: the receipt of one donation, checked in the browser, said in words (masked as on the page). The code is the permission; an unknown or revoked one answers the same 404 page",
        "text/html",
    ),
    (
        "/r/{code}/receipt.json",
        "The receipt file a receipt link opens (see docs/proofs.md); 404 `no_such_receipt_link` for an unknown or revoked code",
        "application/json",
    ),
];

fn receipt_link_operation(path: &str, summary: &str, media_type: &str) -> Value {
    let mut parameters = path_parameters(path);
    let mut responses = serde_json::Map::new();
    if media_type == "text/html" {
        parameters.push(lang_parameter());
        parameters.push(query_parameter(
            "as_of",
            "the date pledges are judged against, YYYY-MM-DD (400 `date_invalid` otherwise)",
            json!({"type": "string", "format": "date"}),
        ));
        responses.insert("200".to_owned(), ok_text(summary, media_type));
        responses.extend(problems(&["400"]));
        responses.insert(
            "404".to_owned(),
            json!({"description": "no receipt opens with this code: an HTML page saying so, or problem+json `no_such_route` for an empty code",
                   "content": {"text/html": {"schema": {"type": "string"}},
                               "application/problem+json": {"schema": named("Problem")}}}),
        );
    } else {
        responses.insert("200".to_owned(), ok_json(summary, named("Receipt")));
        responses.extend(problems(&["404"]));
    }
    responses.extend(problems(&["503"]));
    json!({"summary": summary, "description": "Callable by: whoever holds the link; no token is read.",
           "parameters": parameters, "responses": responses, "security": []})
}

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    let mut add = |method: &str, path: &str, operation: Value| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        assert!(entry.get(method).is_none(), "{method} {path} twice");
        entry[method] = operation;
    };
    for route in &QUERY_ROUTES {
        let mut parameters = path_parameters(route.path);
        parameters.extend(read_parameters(route));
        let mut statuses = vec!["400", "422", "503"];
        if route.names_one {
            statuses.push("404");
        }
        add(
            "get",
            route.path,
            operation(
                route.summary,
                route.access,
                parameters,
                ok_json("JSON; amounts are `*_fen` integers", (route.answer)()),
                &statuses,
            ),
        );
    }
    for (path, summary, media_type) in RECORD_ROUTES {
        let mut parameters = vec![query_parameter(
            "from",
            "the first record's sequence number; equal to the log's length answers nothing yet, past it 400 `from_past_end`",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX, "default": 0}),
        )];
        let ok = if media_type == "application/json" {
            parameters.push(query_parameter(
                "limit",
                &format!("records to answer at most (422 `limit_out_of_range` outside 1..={RECORDS_PAGE_MAX})"),
                json!({"type": "integer", "minimum": 1, "maximum": RECORDS_PAGE_MAX, "default": 100}),
            ));
            ok_json("records with seq, hash and event", named("RecordsPage"))
        } else {
            json!({"description": "one `record` event per record, its data a Record as JSON",
            "content": {media_type: {"schema": {
                "type": "object", "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": ["record", "error"]},
                    "id": {"type": "string", "pattern": "^[0-9]+$"},
                    "data": {"type": "string", "contentMediaType": "application/json",
                             "contentSchema": named("Record")},
                }}}}})
        };
        add(
            "get",
            path,
            operation(
                summary,
                Access::Roles("operator, auditor"),
                parameters,
                ok,
                &["400", "422"],
            ),
        );
    }
    let size_query = |name: &str| {
        json!({"name": name, "in": "query", "required": true,
               "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX}})
    };
    let note = |summary: &str| ok_text(summary, "text/plain");
    add(
        "get",
        "/v1/checkpoint",
        operation(
            "The latest signed checkpoint (C2SP signed note, text/plain; with the cosignatures of the witnesses the server is configured with, see docs/proofs.md §14)",
            Access::Anyone,
            vec![],
            note("the signed note"),
            &[],
        ),
    );
    add(
        "post",
        "/v1/checkpoints",
        operation(
            "Sign a checkpoint of the durable log now; a retry with the same Idempotency-Key answers the same note with `Idempotent-Replay: true`",
            Access::Roles("operator"),
            vec![idempotency_key_parameter()],
            note("the signed note"),
            &["400", "503"],
        ),
    );
    add(
        "get",
        "/v1/checkpoints/{size}",
        operation(
            "The checkpoint signed at a tree size (404 `no_checkpoint_at_size` where none was; 422 `beyond_log` past the log)",
            Access::Anyone,
            path_parameters("/v1/checkpoints/{size}"),
            note("the signed note"),
            &["400", "404", "422"],
        ),
    );
    add(
        "get",
        "/tiles/{path}",
        operation(
            "The log as C2SP tlog-tiles, for mirrors and CDNs (docs/proofs.md §15): `checkpoint` (the latest signed checkpoint with its cosignatures, `Cache-Control: no-cache`), hash tiles `tile/<L>/<N>[.p/<W>]` and entry bundles `tile/entries/<N>[.p/<W>]` (`application/octet-stream`, immutable), up to the checkpoint's size. 404 `no_such_tile` for a path not spelled as the spec says, `tile_beyond_checkpoint` past the signed size; 409 `personal_data_in_clear` while the log names an individual in the clear",
            Access::Anyone,
            path_parameters("/tiles/{path}"),
            json!({"description": "the checkpoint note (text/plain) or the tile's bytes",
                   "content": {"text/plain": {"schema": {"type": "string"}},
                               "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
            &["404", "409", "503"],
        ),
    );
    add(
        "get",
        "/v1/public-key",
        operation(
            "The checkpoint signer's verifier key (C2SP note verifier key)",
            Access::Anyone,
            vec![],
            note("name+hash+base64 key, one line"),
            &[],
        ),
    );
    add(
        "get",
        "/v1/proofs/inclusion",
        operation(
            "RFC 9162 inclusion proof of record `seq` in the tree of `size` records (422 `beyond_log`, `seq_not_in_tree`)",
            Access::Anyone,
            vec![size_query("seq"), size_query("size")],
            ok_json("the proof, hashes as hex", named("InclusionProof")),
            &["422"],
        ),
    );
    add(
        "get",
        "/v1/proofs/consistency",
        operation(
            "RFC 9162 consistency proof between tree sizes `from` and `to` (422 `beyond_log`, `sizes_out_of_order`)",
            Access::Anyone,
            vec![size_query("from"), size_query("to")],
            ok_json("the proof, hashes as hex", named("ConsistencyProof")),
            &["422"],
        ),
    );
    add(
        "get",
        "/v1/receipts/{seq}",
        operation(
            "A receipt: the record, its inclusion proof and the signed checkpoint it is proven against (404 `no_such_record` past the log). A sponsor token gets the receipts of its own donations and 403 `not_yours` for any other record, alike whether or not it exists",
            Access::Roles("operator, auditor, a sponsor for its own donations"),
            path_parameters("/v1/receipts/{seq}"),
            ok_json("see docs/proofs.md", named("Receipt")),
            &["400", "404", "503"],
        ),
    );
    let mut revoke = operation(
        "Revoke a receipt link: from now on `/r/{code}` answers 404, as for a code never issued; the log is untouched. 204 also when it was revoked before, so a retry answers alike (404 `no_such_receipt_link` for a code never issued)",
        Access::Roles("operator"),
        {
            let mut parameters = path_parameters("/v1/receipt-links/{code}");
            parameters.push(idempotency_key_parameter());
            parameters
        },
        json!({}),
        &["400", "404"],
    );
    let responses = revoke["responses"].as_object_mut().expect("responses");
    responses.remove("200");
    responses.insert(
        "204".to_owned(),
        json!({"description": "revoked (now or before)", "content": {}}),
    );
    add("delete", "/v1/receipt-links/{code}", revoke);
    for (path, summary, media_type) in RECEIPT_LINK_ROUTES {
        add(
            "get",
            path,
            receipt_link_operation(path, summary, media_type),
        );
    }
    for (path, gift) in [
        ("/v1/flows/donations/{id}/receipt", "donation"),
        ("/v1/flows/pledge-payments/{id}/receipt", "pledge payment"),
    ] {
        add(
            "get",
            path,
            operation(
                &format!(
                    "A flow receipt: the {gift}'s record and each outflow's it paid, each with an inclusion proof against one signed checkpoint, and the amounts allocated (docs/proofs.md §13; 409 `too_many_outflows` past 1,000)"
                ),
                Access::Roles("operator, auditor"),
                path_parameters(path),
                ok_json("see docs/proofs.md §13", named("FlowReceipt")),
                &["404", "409", "503"],
            ),
        );
    }
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "#/components/schemas".into())
        .into_generator();
    for command in crate::http::command_route_docs() {
        let body_schema = (command.schema)(&mut generator);
        let mut parameters = path_parameters(command.path);
        parameters.push(idempotency_key_parameter());
        let mut write = operation(
            command.summary,
            // Who may is in the summary; the description is the check order.
            Access::Roles("operator, or as the summary says"),
            parameters,
            ok_json(
                "recorded (or an idempotent replay): records with seq and hash",
                named("WriteResponse"),
            ),
            if NAME_NOTHING_EXISTING.contains(&command.path) {
                &["400", "409", "413", "415", "422", "503", "507"]
            } else {
                &["400", "404", "409", "413", "415", "422", "503", "507"]
            },
        );
        write["description"] = json!(WRITE_CHECK_ORDER);
        write["operationId"] = json!(command.body);
        write["requestBody"] = json!({"required": true, "content": {"application/json": {
            "schema": body_schema,
        }}});
        add("post", command.path, write);
    }
    add(
        "get",
        "/healthz",
        operation(
            "Liveness: the process answers",
            Access::Anyone,
            vec![],
            ok_text("ok", "text/plain"),
            &[],
        ),
    );
    let mut readyz = operation(
        "Readiness: the log is open and the projections have applied every durable record (the gRPC health service answers the same)",
        Access::Anyone,
        vec![],
        ok_json("ready", named("Readiness")),
        &[],
    );
    readyz["responses"]["503"] = ok_json("not ready, and why", named("Readiness"));
    add("get", "/readyz", readyz);
    add(
        "get",
        "/metrics",
        operation(
            "Prometheus metrics",
            Access::Anyone,
            vec![],
            ok_text("the text exposition format 0.0.4", "text/plain"),
            &[],
        ),
    );
    add(
        "get",
        "/openapi.json",
        operation(
            "This document",
            Access::Anyone,
            vec![],
            ok_json("OpenAPI 3.1", json!({"type": "object"})),
            &[],
        ),
    );
    for (method, path, summary, statuses) in SIGNED_IN_ROUTES {
        add(method, path, signed_in_operation(path, summary, statuses));
    }
    for (method, path, summary, statuses) in crate::portal::PORTAL_ROUTES {
        add(method, path, signed_in_operation(path, summary, statuses));
    }
    for (path, summary, media_type, names_one) in PAGE_ROUTES {
        add(
            "get",
            path,
            page_operation(path, summary, media_type, names_one),
        );
    }
    let mut schemas = generator.take_definitions(true);
    for (name, schema) in responses::schemas() {
        assert!(
            schemas.insert(name.to_owned(), schema).is_none(),
            "{name} is both a body and an answer"
        );
    }
    let (path, item) = fund_transactions_route();
    paths.insert(path.to_owned(), item);
    for (path, item) in flow_routes() {
        paths.insert(path.to_owned(), item);
    }
    let (path, item) = disclosures_route();
    paths.insert(path.to_owned(), item);
    for (path, item) in document_routes() {
        paths.insert(path.to_owned(), item);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Mingzhang (明账) API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Every error is application/problem+json (see the Problem schema). A route asked with a method it does not answer says 405 `method_not_allowed`; a path no route has, 404 `no_such_route`."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    })
}

// -- fund accounts (http::transactions) -------------------------------------

/// `GET /v1/funds/{id}/transactions`: its own parameters
/// (`transactions::TransactionParams`; any other is 422 `bad_query`).
fn fund_transactions_route() -> (&'static str, Value) {
    let path = "/v1/funds/{id}/transactions";
    let kinds: Vec<&str> = std::iter::once("")
        .chain(
            mingzhang_projections::MovementKind::ALL
                .iter()
                .map(|kind| kind.name()),
        )
        .collect();
    let mut parameters = path_parameters(path);
    parameters.extend([
        query_parameter(
            "min_seq",
            "wait up to 2 s until projections include the record with this sequence number; 503 if they do not",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        ),
        query_parameter(
            "offset",
            "matching movements to skip; the answer's `next_offset` is the next page's",
            json!({"type": "integer", "minimum": 0, "default": 0}),
        ),
        query_parameter(
            "limit",
            &format!("movements to answer at most (422 `limit_out_of_range` outside 1..={LIST_PAGE_MAX})"),
            json!({"type": "integer", "minimum": 1, "maximum": LIST_PAGE_MAX, "default": LIST_PAGE_DEFAULT}),
        ),
        query_parameter(
            "kind",
            "only movements of this kind (422 `no_such_kind` otherwise); empty: every kind",
            json!({"type": "string", "enum": kinds}),
        ),
        query_parameter(
            "month",
            "only movements dated in this month, YYYY-MM (422 `month_invalid` otherwise); empty: every month",
            // Year 0000 is no year (`Day::parse`).
            json!({"type": "string", "pattern": "^((000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2]))?$"}),
        ),
        query_parameter(
            "counterparty",
            "only movements whose counterparty id or name, as the caller sees it (masked for the public), is exactly this",
            json!({"type": "string"}),
        ),
    ]);
    let operation = operation(
        "One fund's account: every movement in and out in date order with the running balance (names masked for the public as on the page)",
        Access::EveryRole,
        parameters,
        ok_json(
            "`movements` with `next_offset` while more remain",
            named("FundAccount"),
        ),
        &["400", "404", "422", "503"],
    );
    (path, json!({"get": operation}))
}

// -- 善款去向 (http::flows) ----------------------------------------------------

/// `GET /v1/flows/...`: `min_seq` only (`flows::FlowParams`; any other is
/// 422 `bad_query`).
fn flow_routes() -> Vec<(&'static str, Value)> {
    [
        (
            "/v1/flows/donations/{id}",
            "What one donation paid for (grant tranches, project spending, expenditures, refunds, with amounts and dates) and what of it is still unspent, first in, first out within the money it may pay (docs/flows.md); the giver masked for the public as on the page",
            "GiftFlow",
        ),
        (
            "/v1/flows/pledge-payments/{id}",
            "What one pledge payment paid for and what of it is still unspent (docs/flows.md); the giver masked for the public as on the page",
            "GiftFlow",
        ),
        (
            "/v1/flows/outflows/{seq}",
            "Which gifts paid the outflow (grant tranche, expenditure, refund, reversal) recorded at this seq (docs/flows.md); givers masked for the public as on the page; 404 for a record that moved no money out",
            "OutflowFlow",
        ),
    ]
    .into_iter()
    .map(|(path, summary, answer)| {
        let mut parameters = path_parameters(path);
        parameters.push(query_parameter(
            "min_seq",
            "wait up to 2 s until projections include the record with this sequence number; 503 if they do not",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        ));
        let operation = operation(
            summary,
            Access::EveryRole,
            parameters,
            ok_json("`unspent_fen` + Σ amounts paid = `amount_fen`", named(answer)),
            &["400", "404", "422", "503"],
        );
        (path, json!({"get": operation}))
    })
    .collect()
}

// -- the disclosure calendar (http::disclosures) -----------------------------

/// `GET /v1/disclosures`: its own parameters (`disclosures::DisclosureParams`;
/// any other is 422 `bad_query`).
fn disclosures_route() -> (&'static str, Value) {
    let path = "/v1/disclosures";
    let parameters = vec![
        query_parameter(
            "min_seq",
            "wait up to 2 s until projections include the record with this sequence number; 503 if they do not; 400 `min_seq_past_end` at once for a seq the log does not hold",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        ),
        query_parameter(
            "as_of",
            "judge the calendar as of this date (422 `date_invalid` otherwise); records after it are not known on it; default: the page's stated date (the newest record's day, or today in China if earlier)",
            json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
        ),
        query_parameter(
            "overdue",
            "only the grants and projects with an obligation overdue",
            json!({"type": "boolean", "default": false}),
        ),
        query_parameter(
            "offset",
            "calendars to skip; the answer's `next_offset` is the next page's",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX, "default": 0}),
        ),
        query_parameter(
            "limit",
            &format!(
                "calendars to answer at most (422 `limit_out_of_range` outside 1..={LIST_PAGE_MAX})"
            ),
            json!({"type": "integer", "minimum": 1, "maximum": LIST_PAGE_MAX, "default": LIST_PAGE_DEFAULT}),
        ),
    ];
    let operation = operation(
        "The disclosure calendar (docs/disclosures.md): for every grant and project, the quarterly reports and final account the Charity Law asks of it, what was disclosed and when, and what is overdue as of a date",
        Access::Roles("operator, auditor"),
        parameters,
        ok_json(
            "every grant's calendar (award order), then every project's (by id); `next_offset` while more remain",
            named("DisclosureCalendars"),
        ),
        &["400", "422", "503"],
    );
    (path, json!({"get": operation}))
}

// -- documents (http::documents) ---------------------------------------------

/// The answer about one document (`http::documents::DocumentAnswer`).
fn document_answer_schema() -> Value {
    json!({"type": "object",
    "required": ["sha256", "media_type", "size_bytes", "public", "references"],
    "properties": {
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "media_type": {"type": "string", "enum": ["application/pdf", "image/jpeg", "image/png", "text/plain"]},
        "size_bytes": {"type": "integer", "minimum": 1, "maximum": crate::documents::DOCUMENT_LEN_MAX},
        "public": {"type": "boolean", "description": "false: it holds personal data; its bytes are never served publicly"},
        "url": {"type": "string", "description": "where its bytes are served; only for a public document"},
        "references": {"type": "array", "items": {"type": "object",
            "required": ["seq", "kind", "id", "period", "page"],
            "properties": {
                "seq": {"type": "integer", "minimum": 0, "description": "the record's sequence number in the log"},
                "kind": {"type": "string", "enum": ["grant_self_assessment", "project_completion"]},
                "id": {"type": "string", "description": "the grant's or the project's id"},
                "period": {"type": "string", "description": "the self-assessment's quarter, or the day the project was completed"},
                "page": {"type": "string", "description": "the public page showing the record"},
            }}},
    }})
}

/// `PUT` and `GET /v1/documents/{sha256}`, `GET /documents/{sha256}`
/// (docs/documents.md). Their 413 and 415 differ from the JSON writes'.
fn document_routes() -> Vec<(&'static str, Value)> {
    let path = "/v1/documents/{sha256}";
    let binary = json!({"schema": {"type": "string", "format": "binary"}});
    let mut upload = operation(
        "Upload a report or invoice under its SHA-256 (operator; an organisation a report its own grant's self-assessment names): PDF, JPEG, PNG or UTF-8 text without NUL, told by content, at most 10 MiB; `?public=false` for one holding personal data. The same bytes again answer 200 with the same body",
        Access::Roles("operator; organisation for its own self-assessment reports"),
        {
            let mut parameters = path_parameters(path);
            parameters.push(query_parameter(
                "public",
                "false: the document holds personal data and its bytes are never served publicly (its hash stays visible); true by default; 409 `public_flag_differs` if stored already with the other flag",
                json!({"type": "string", "enum": ["true", "false"], "default": "true"}),
            ));
            parameters.push(query_parameter(
                "min_seq",
                "wait up to 2 s until projections include the record with this sequence number (the self-assessment just filed) before an organisation's ownership is checked; 400 `min_seq_past_end` past the log, 503 if they do not",
                json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
            ));
            parameters
        },
        ok_json("stored before: nothing written", document_answer_schema()),
        &["400", "409", "413", "415", "422", "503"],
    );
    upload["description"] = json!(
        "Checked in order: token (401), role (403 `role_may_not_upload`), the path's hash (400 `sha256_invalid`), the query (400), `min_seq` reached (400 `min_seq_past_end`, 503), an organisation's own report (403 `not_own_report`), the body's size (413 `body_too_large`), its SHA-256 against the path's (422 `sha256_mismatch`), its type by content (415 `document_type_unsupported`, `document_empty`). A refused upload writes nothing."
    );
    upload["responses"]["201"] = ok_json("stored now", document_answer_schema());
    upload["responses"]["413"]["description"] = json!("the body is larger than 10 MiB");
    upload["responses"]["415"]["description"] =
        json!("the body is not a PDF, JPEG, PNG or UTF-8 text without NUL (told by content)");
    upload["responses"]["422"]["description"] =
        json!("the body's SHA-256 is not the path's (`sha256_mismatch`)");
    upload["requestBody"] = json!({"required": true, "content": {
        "application/pdf": binary, "image/jpeg": binary, "image/png": binary,
        "text/plain": binary, "application/octet-stream": binary,
    }});
    let metadata = operation(
        "A stored document's type, size, public flag and the records (grant self-assessments, project completions) that name it; 404 `no_such_document` if none is stored",
        Access::Anyone,
        path_parameters(path),
        ok_json("the document", document_answer_schema()),
        &["400", "404", "503"],
    );
    let mut bytes = operation(
        "A public document's bytes, as stored, with its type, `Content-Disposition`, `X-Content-Type-Options: nosniff` and (but for PDF) `Content-Security-Policy: default-src 'none'; sandbox`; 404 `no_such_document` for one not stored or not public. Check it against the hash on the log: the page does, in the browser",
        Access::Anyone,
        path_parameters("/documents/{sha256}"),
        json!({"description": "the document's bytes", "content": {
            "application/pdf": binary, "image/jpeg": binary, "image/png": binary,
            "text/plain": binary,
        }}),
        &["400", "404", "503"],
    );
    bytes["responses"]["404"]["description"] = json!("no public document with this hash");
    vec![
        (path, json!({"get": metadata, "put": upload})),
        ("/documents/{sha256}", json!({"get": bytes})),
    ]
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    /// Follows a local `$ref` such as `#/components/schemas/ReceiveDonation`.
    fn resolve<'d>(document: &'d Value, schema: &'d Value) -> &'d Value {
        match schema["$ref"].as_str() {
            Some(pointer) => document
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {pointer}")),
            None => schema,
        }
    }

    #[test]
    fn fund_transactions_declare_their_filters_and_paging() {
        let document = super::document();
        let route = &document["paths"]["/v1/funds/{id}/transactions"]["get"];
        let names: Vec<&str> = route["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|parameter| parameter["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "id",
                "min_seq",
                "offset",
                "limit",
                "kind",
                "month",
                "counterparty"
            ]
        );
        assert!(route["responses"]["404"].is_object());
    }

    #[test]
    fn every_command_body_is_described_with_its_fields_types_and_rules() {
        let document = super::document();
        let body = |path: &str| {
            let schema = &document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
                ["schema"];
            resolve(&document, schema).clone()
        };
        let donation = body("/v1/donations");
        assert_eq!(donation["additionalProperties"], json!(false), "{donation}");
        let amount = resolve(&document, &donation["properties"]["amount"]);
        assert_eq!(amount["type"], json!("string"), "{donation}");
        assert!(amount["pattern"].as_str().is_some(), "{amount}");
        assert_eq!(
            donation["properties"]["anonymous"]["type"],
            json!("boolean")
        );
        let channel = resolve(&document, &donation["properties"]["channel"]);
        assert!(channel.to_string().contains("bank_transfer"), "{channel}");
        let required: Vec<&str> = donation["required"]
            .as_array()
            .expect("required fields listed")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(required.contains(&"donation_id"), "{required:?}");
        assert!(!required.contains(&"anonymous"), "optional: {required:?}");
        assert!(document["paths"]["/v1/donations"]["get"].is_object());
        assert!(document["paths"]["/v1/checkpoints"]["post"].is_object());
        let inclusion = &document["paths"]["/v1/proofs/inclusion"]["get"];
        assert_eq!(
            inclusion["parameters"][1]["name"],
            json!("size"),
            "{inclusion}"
        );
        let write = &document["paths"]["/v1/donations"]["post"];
        for status in ["401", "403", "413", "415", "422"] {
            assert!(write["responses"][status].is_object(), "{status}: {write}");
        }
        assert!(
            write["description"]
                .as_str()
                .is_some_and(|order| order.find("401") < order.find("403")
                    && order.find("403") < order.find("415")),
            "{write}"
        );
        let records = &document["paths"]["/v1/records"]["get"];
        assert!(
            records["summary"]
                .as_str()
                .unwrap()
                .contains("from_past_end")
        );
        assert!(records["responses"]["400"].is_object(), "{records}");
        let refund = body("/v1/donations/{id}/refunds");
        assert!(refund["properties"]["refund_id"].is_object(), "{refund}");
        // What the ledger refuses when empty is required, not defaulted.
        let required = |schema: &Value, field: &str| {
            schema["required"]
                .as_array()
                .is_some_and(|fields| fields.contains(&json!(field)))
        };
        assert!(required(&refund, "reason"), "{refund}");
        assert!(required(&body("/v1/pledges/{id}/cancellation"), "reason"));
        assert!(required(&body("/v1/projects"), "community"));
        let received_on = resolve(&document, &donation["properties"]["received_on"]);
        assert_eq!(received_on["format"], json!("date"), "{received_on}");
        let fund_id = resolve(&document, &donation["properties"]["fund_id"]);
        assert_eq!(fund_id["pattern"], json!(super::ID_PATTERN), "{fund_id}");
        let key = &write["parameters"][0];
        assert_eq!(key["schema"]["maxLength"], json!(200), "{key}");
        let pledges = &document["paths"]["/v1/pledges"]["get"]["parameters"];
        assert!(
            pledges.to_string().contains("\"format\":\"date\""),
            "{pledges}"
        );
        // Every $ref in the document resolves.
        let text = document.to_string();
        for pointer in text.split("\"$ref\":\"").skip(1) {
            let pointer = &pointer[..pointer.find('"').expect("closing quote")];
            assert!(
                document.pointer(pointer.trim_start_matches('#')).is_some(),
                "dangling {pointer}"
            );
        }
    }
}

#[cfg(test)]
mod route_tests {
    use serde_json::Value;

    /// `(method, path)` of every `.route("PATH", method(...))` in a source file.
    fn routes_in(source: &str) -> Vec<(String, String)> {
        // rustfmt puts a long route's path on a line of its own.
        source
            .split(".route(")
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"'))
            .map(|rest| {
                let path = &rest[..rest.find('"').expect("the path closes")];
                let after = rest[path.len()..].trim_start_matches(['"', ',', ' ', '\n']);
                let method = &after[..after.find('(').expect("a method router")];
                // OpenAPI has no catch-all: axum's `{*name}` is documented as `{name}`.
                (method.to_owned(), path.replace("{*", "{"))
            })
            .collect()
    }

    /// The routers' own route lists, read from their sources, against the
    /// document: a route added to a router and not documented fails here
    /// (the command routes cannot drift: one macro line makes both).
    #[test]
    fn every_route_the_server_serves_is_in_the_document() {
        let document = super::document();
        let sources = [
            include_str!("http/mod.rs"),
            include_str!("http/queries.rs"),
            include_str!("http/records.rs"),
            include_str!("http/proofs.rs"),
            include_str!("http/transactions.rs"),
            include_str!("http/flows.rs"),
            include_str!("http/disclosures.rs"),
            include_str!("http/documents.rs"),
            include_str!("page/mod.rs"),
            include_str!("tiles.rs"),
            include_str!("session.rs"),
            include_str!("console/mod.rs"),
            include_str!("portal/mod.rs"),
        ];
        let served: Vec<(String, String)> = sources
            .iter()
            .flat_map(|source| routes_in(source))
            .collect();
        assert!(served.len() >= 30, "{served:?}");
        for (method, path) in &served {
            assert!(
                document["paths"][path][method].is_object(),
                "{method} {path} is served and not documented"
            );
        }
        let commands = crate::http::command_route_docs();
        let documented = document["paths"].as_object().expect("paths");
        for (path, item) in documented {
            for method in item.as_object().expect("a path item").keys() {
                let is_served = served.iter().any(|(m, p)| m == method && p == path)
                    || (method == "post" && commands.iter().any(|command| command.path == path));
                assert!(is_served, "{method} {path} is documented and not served");
            }
        }
    }

    fn statuses(document: &Value, method: &str, path: &str) -> Vec<String> {
        document["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has responses"))
            .keys()
            .cloned()
            .collect()
    }

    /// Each route lists what its handler can answer, and not what it cannot.
    #[test]
    fn each_route_lists_the_statuses_its_handler_can_answer_and_no_others() {
        let document = super::document();
        let cases: [(&str, &str, &[&str]); 17] = [
            (
                "delete",
                "/v1/receipt-links/{code}",
                &["204", "400", "401", "403", "404"],
            ),
            ("get", "/r/{code}", &["200", "400", "404", "503"]),
            ("get", "/r/{code}/receipt.json", &["200", "404", "503"]),
            ("get", "/v1/funds", &["200", "400", "401", "422", "503"]),
            (
                "get",
                "/v1/campaigns/{id}",
                &["200", "400", "401", "404", "422", "503"],
            ),
            (
                "get",
                "/v1/pledges",
                &["200", "400", "401", "403", "422", "503"],
            ),
            ("get", "/v1/checkpoint", &["200"]),
            ("get", "/v1/proofs/inclusion", &["200", "422"]),
            (
                "get",
                "/v1/receipts/{seq}",
                &["200", "400", "401", "403", "404", "503"],
            ),
            (
                "post",
                "/v1/checkpoints",
                &["200", "400", "401", "403", "503"],
            ),
            ("get", "/readyz", &["200", "503"]),
            ("get", "/sponsors/{id}", &["200", "304", "400", "404"]),
            ("get", "/favicon.svg", &["200"]),
            (
                "post",
                "/v1/donors",
                &[
                    "200", "400", "401", "403", "409", "413", "415", "422", "503", "507",
                ],
            ),
            (
                "post",
                "/v1/donors/{id}/erasure",
                &[
                    "200", "400", "401", "403", "404", "409", "413", "415", "422", "503", "507",
                ],
            ),
            (
                "post",
                "/v1/expenditures/{id}/payee-erasure",
                &[
                    "200", "400", "401", "403", "404", "409", "413", "415", "422", "503", "507",
                ],
            ),
            (
                "post",
                "/v1/donations/{id}/refunds",
                &[
                    "200", "400", "401", "403", "404", "409", "413", "415", "422", "503", "507",
                ],
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                statuses(&document, method, path),
                expected,
                "{method} {path}"
            );
        }
        // `/projects/` (an empty id) is the fallback's problem+json 404.
        let page_missing = &document["paths"]["/projects/{id}"]["get"]["responses"]["404"];
        assert!(
            page_missing["content"]["application/problem+json"].is_object(),
            "{page_missing}"
        );
        // Every JSON answer has a schema; every problem is a Problem.
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    if status == "303" {
                        // A redirect: where to is the Location header.
                        assert!(
                            response["headers"]["Location"].is_object(),
                            "{method} {path} 303"
                        );
                        continue;
                    }
                    if status == "304" {
                        // Not modified: the answer has no body by definition.
                        assert!(response.get("content").is_none(), "{method} {path} 304");
                        continue;
                    }
                    let content = response["content"].as_object().unwrap_or_else(|| {
                        panic!("{method} {path} {status} declares no content type")
                    });
                    for (media_type, body) in content {
                        if media_type.contains("json") {
                            assert!(
                                body["schema"].is_object(),
                                "{method} {path} {status} {media_type}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod path_tests {
    use serde_json::Value;

    /// Each `{name}` in a path must be declared by every operation on it as
    /// a required path parameter: OpenAPI requires it, and a document
    /// missing one is invalid.
    #[test]
    fn every_path_template_parameter_is_declared_by_every_operation() {
        let document = super::document();
        let paths = document["paths"].as_object().expect("paths");
        assert!(paths.len() >= 30, "{}", paths.len());
        for (path, item) in paths {
            let names: Vec<&str> = path
                .split('{')
                .skip(1)
                .map(|rest| &rest[..rest.find('}').expect("closing brace")])
                .collect();
            for (method, operation) in item.as_object().expect("path item") {
                let declared: Vec<&str> = operation["parameters"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter(|parameter| parameter["in"] == "path")
                    .map(|parameter| {
                        assert_eq!(parameter["required"], Value::Bool(true), "{parameter}");
                        parameter["name"].as_str().expect("name")
                    })
                    .collect();
                assert_eq!(declared, names, "{method} {path}");
            }
        }
    }
}

#[cfg(test)]
mod validator_tests {
    use std::process::Command;

    /// Python's `openapi-spec-validator` (ops/test.sh installs it): run on
    /// the served document. Without it the test says so and passes, except
    /// under CI, where a missing validator fails.
    #[test]
    fn the_document_is_valid_openapi_3_1_by_a_real_validator() {
        const VALIDATE: &str = "import json, sys\n\
            from openapi_spec_validator import validate\n\
            validate(json.load(open(sys.argv[1])))\n";
        let present = Command::new("python3")
            .args(["-c", "import openapi_spec_validator"])
            .output()
            .is_ok_and(|output| output.status.success());
        if !present {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "openapi-spec-validator is missing: python3 -m pip install openapi-spec-validator"
            );
            eprintln!("skipped: python3 openapi-spec-validator is not installed");
            return;
        }
        let file =
            std::env::temp_dir().join(format!("mingzhang-openapi-{}.json", std::process::id()));
        std::fs::write(&file, super::document().to_string()).expect("write the document");
        let output = Command::new("python3")
            .args(["-c", VALIDATE])
            .arg(&file)
            .output()
            .expect("run python3");
        std::fs::remove_file(&file).expect("remove the document");
        assert!(
            output.status.success(),
            "invalid OpenAPI document:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
