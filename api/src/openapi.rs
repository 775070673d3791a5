//! `/openapi.json`, generated from the route table in `http` (every command
//! route, its body's JSON Schema derived from the very structs the server
//! deserializes) and the query list below, so it cannot drift from the
//! routes and bodies the server actually has.

use axum::Json;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Value, json};

pub struct CommandDoc {
    pub path: &'static str,
    pub body: &'static str,
    pub summary: &'static str,
    /// The body's schema: a `$ref` into `components/schemas`.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
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
        "Donations (for the public, a donor is named only if it chose to be and the gift is not anonymous; otherwise no part of its name or id appears)",
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
        "Expenditures (for the public, a private person paid is not named at all)",
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
        "Raw hash-chained records (`from`, `limit`); `/v1/records/follow` streams them as SSE. `from` equal to the log's length answers an empty page; past it, 400 `from_past_end`",
        "operator, auditor",
    ),
];

/// The transparency-log routes (docs/proofs.md): (method, path, summary,
/// who may call it, query parameters).
const PROOF_ROUTES: [(&str, &str, &str, &str, &[&str]); 7] = [
    (
        "get",
        "/v1/checkpoint",
        "The latest signed checkpoint (C2SP signed note, text/plain)",
        "everyone",
        &[],
    ),
    (
        "post",
        "/v1/checkpoints",
        "Sign a checkpoint of the durable log now (Idempotency-Key accepted)",
        "operator",
        &[],
    ),
    (
        "get",
        "/v1/checkpoints/{size}",
        "The checkpoint signed at a tree size",
        "everyone",
        &[],
    ),
    (
        "get",
        "/v1/public-key",
        "The checkpoint signer's verifier key (C2SP note verifier key)",
        "everyone",
        &[],
    ),
    (
        "get",
        "/v1/proofs/inclusion",
        "RFC 9162 inclusion proof of record `seq` in the tree of `size` records",
        "everyone",
        &["seq", "size"],
    ),
    (
        "get",
        "/v1/proofs/consistency",
        "RFC 9162 consistency proof between tree sizes `from` and `to`",
        "everyone",
        &["from", "to"],
    ),
    (
        "get",
        "/v1/receipts/{seq}",
        "A receipt: the record, its inclusion proof and the signed checkpoint it is proven against",
        "operator, auditor",
        &[],
    ),
];

fn problem_responses() -> Value {
    let problem = json!({"description": "problem+json with type, title, status, detail, field, rule",
                         "content": {"application/problem+json": {}}});
    json!({
        "400": problem, "401": problem, "403": problem, "404": problem, "405": problem,
        "409": problem, "413": problem, "415": problem, "422": problem, "503": problem
    })
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
                           "responses": {
                               "200": {"description": "JSON; amounts are `*_fen` integers"},
                               "400": problem_responses()["400"], "401": problem_responses()["401"],
                               "403": problem_responses()["403"], "404": problem_responses()["404"],
                               "503": problem_responses()["503"]}}}),
        );
    }
    for (method, path, summary, who, query) in PROOF_ROUTES {
        let parameters: Vec<Value> = query
            .iter()
            .map(|name| {
                json!({"name": name, "in": "query", "required": true,
                               "schema": {"type": "integer", "minimum": 0}})
            })
            .collect();
        let mut responses = problem_responses();
        responses["200"] = json!({"description": "see docs/proofs.md for every byte"});
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = json!({"summary": summary, "description": format!("Callable by: {who}."),
                               "parameters": parameters, "responses": responses});
    }
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "#/components/schemas".into())
        .into_generator();
    for command in crate::http::command_route_docs() {
        let body_schema = (command.schema)(&mut generator);
        let mut responses = problem_responses();
        responses["200"] =
            json!({"description": "recorded (or an idempotent replay): records with seq and hash"});
        let operation = json!({
            "summary": command.summary,
            "description": WRITE_CHECK_ORDER,
            "operationId": command.body,
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false,
                            "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": body_schema,
            }}},
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
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": generator.take_definitions(true),
        },
        "paths": paths,
    })
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
        for status in ["401", "403", "405", "415", "422"] {
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
