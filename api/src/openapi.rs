//! `/openapi.json`, generated from the route table in `http` (every command
//! route and its body's fields) and the query list below, so it cannot drift
//! from the routes the server actually has.

use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub struct CommandDoc {
    pub path: &'static str,
    pub body: &'static str,
    pub summary: &'static str,
    pub fields: Vec<String>,
}

/// (path, summary, who may read it).
const QUERY_ROUTES: [(&str, &str, &str); 12] = [
    ("/v1/funds", "Fund balances", "everyone"),
    ("/v1/campaigns", "Campaign progress", "everyone"),
    (
        "/v1/campaigns/{id}",
        "One campaign's progress against total and yearly targets",
        "everyone",
    ),
    (
        "/v1/donations",
        "Donations (donor names masked for the public unless shown by consent)",
        "everyone",
    ),
    (
        "/v1/pledges",
        "Pledges and instalments, overdue `as_of` a date",
        "operator, auditor",
    ),
    ("/v1/grant-rounds", "Grant rounds", "everyone"),
    ("/v1/grants", "Grants and tranches", "everyone"),
    (
        "/v1/projects",
        "Project board: needs, claims, funding",
        "everyone",
    ),
    (
        "/v1/expenditures",
        "Expenditures (private payees masked for the public)",
        "everyone",
    ),
    (
        "/v1/donors/{id}/statement",
        "A donor's statement",
        "operator, auditor, the donor's sponsor token",
    ),
    (
        "/v1/trial-balance",
        "Double-entry trial balance (sums to zero)",
        "everyone",
    ),
    (
        "/v1/records",
        "Raw hash-chained records (`from`, `limit`); `/v1/records/follow` streams them as SSE",
        "operator, auditor",
    ),
];

/// The field names a body accepts, read from serde's own "unknown field"
/// message: the derive keeps its field list private, and this way the
/// document can never list a field the server would refuse.
pub fn field_names<T: DeserializeOwned>() -> Vec<String> {
    let probe = serde_json::json!({"\u{1}probe": null});
    let Err(error) = serde_json::from_value::<T>(probe) else {
        return Vec::new();
    };
    let message = error.to_string();
    let Some(expected) = message.split("expected").nth(1) else {
        return Vec::new();
    };
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn problem_responses() -> Value {
    let problem = json!({"description": "problem+json with type, title, status, detail, field, rule",
                         "content": {"application/problem+json": {}}});
    json!({
        "400": problem, "401": problem, "403": problem, "404": problem,
        "409": problem, "413": problem, "422": problem, "503": problem
    })
}

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    let min_seq = json!({"name": "min_seq", "in": "query", "required": false,
        "description": "wait up to 2 s until projections include the record with this sequence number (the seq a write returned)",
        "schema": {"type": "integer"}});
    for (path, summary, who) in QUERY_ROUTES {
        paths.insert(
            path.to_owned(),
            json!({"get": {"summary": summary, "description": format!("Readable by: {who}."),
                           "parameters": [min_seq],
                           "responses": {"200": {"description": "JSON; amounts are `*_fen` integers"}}}}),
        );
    }
    for command in crate::http::command_route_docs() {
        let properties: serde_json::Map<String, Value> = command
            .fields
            .iter()
            .map(|field| (field.clone(), json!({})))
            .collect();
        let mut responses = problem_responses();
        responses["200"] =
            json!({"description": "recorded (or an idempotent replay): records with seq and hash"});
        let operation = json!({
            "summary": command.summary,
            "operationId": command.body,
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": false, "properties": properties,
                "description": "Amounts are decimal CNY strings such as \"1234.56\"."
            }}}},
            "responses": responses,
            "security": [{"bearer": []}],
        });
        let entry = paths
            .entry(command.path.to_owned())
            .or_insert_with(|| json!({}));
        entry["post"] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Mingzhang (明账) API", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_route_documents_its_body_fields() {
        let document = super::document();
        let donation = &document["paths"]["/v1/donations"]["post"];
        let properties =
            &donation["requestBody"]["content"]["application/json"]["schema"]["properties"];
        assert!(properties["amount"].is_object(), "{donation}");
        assert!(properties["donor_id"].is_object(), "{donation}");
        assert!(document["paths"]["/v1/donations"]["get"].is_object());
        let refund = &document["paths"]["/v1/donations/{id}/refunds"]["post"];
        assert!(refund["requestBody"]["content"]["application/json"]["schema"]["properties"]["refund_id"].is_object());
    }
}
