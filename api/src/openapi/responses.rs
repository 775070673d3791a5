//! The shapes of the JSON the server answers, for `/openapi.json`. The
//! projections' views derive no schema, so they are written out here, and
//! checked against real answers: every object lists each of its fields as
//! required and allows no other, so a field added to a view (or one gone)
//! fails schemathesis's `response_schema_conformance` in
//! tests/tests/openapi_served.rs, and the unit test below, until it is
//! described here.

use serde_json::{Value, json};

fn string() -> Value {
    json!({"type": "string"})
}

/// Signed fen, or another signed count.
fn integer() -> Value {
    json!({"type": "integer"})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// `projections::Day` as it serialises.
fn day() -> Value {
    json!({"type": "string", "pattern": "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$",
           "description": "YYYY-MM-DD, or empty when unknown"})
}

/// A SHA-256 as 64 lower-case hex digits.
fn hash() -> Value {
    json!({"type": "string", "pattern": "^[0-9a-f]{64}$"})
}

fn list(item: Value) -> Value {
    json!({"type": "array", "items": item})
}

pub fn named(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn nullable(schema: Value) -> Value {
    json!({"oneOf": [schema, {"type": "null"}]})
}

fn one_of(names: &[&str]) -> Value {
    json!({"type": "string", "enum": names})
}

/// An object with exactly these fields, every one present.
fn object(fields: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let properties: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    assert_eq!(properties.len(), fields.len(), "a field named twice");
    json!({"type": "object", "additionalProperties": false,
           "required": required, "properties": properties})
}

/// A write's answer; `receipt_link` only for a recorded donation.
fn write_response() -> Value {
    let mut response = object(&[
        (
            "records",
            list(object(&[("seq", count()), ("hash", hash())])),
        ),
        ("idempotent_replay", boolean()),
        (
            "receipt_link",
            json!({"type": "string", "pattern": "^/r/[A-Za-z0-9_-]{22}$",
                   "description": "the donation's receipt link, for the donor: an unguessable code, revocable by DELETE /v1/receipt-links/{code}; a retry answers the same link. Absent when the links file cannot be written (a full disk): the donation is recorded all the same, and a retry under the same key once it can be written issues the link"}),
        ),
    ]);
    response["required"]
        .as_array_mut()
        .expect("required fields")
        .retain(|field| field != "receipt_link");
    response
}

/// `GET /v1/disclosures`: every field always present but `next_offset`,
/// there only while more calendars remain.
fn disclosure_calendars() -> Value {
    let mut answer = object(&[
        ("as_of", day()),
        ("overdue_only", boolean()),
        ("overdue_total", count()),
        ("calendars", list(named("DisclosureCalendar"))),
        ("next_offset", count()),
    ]);
    answer["required"]
        .as_array_mut()
        .expect("required fields")
        .retain(|field| field != "next_offset");
    answer
}

/// `GET /v1/funds/{id}/transactions`: every field always present but
/// `next_offset`, there only while more movements remain.
fn fund_account() -> Value {
    let mut account = object(&[
        ("fund_id", string()),
        ("in_fen", integer()),
        ("out_fen", integer()),
        ("balance_fen", integer()),
        ("movements", list(named("Movement"))),
        ("next_offset", count()),
    ]);
    account["required"]
        .as_array_mut()
        .expect("required fields")
        .retain(|field| field != "next_offset");
    account["description"] = json!(
        "Σ in = `in_fen` = the fund's `total_in_fen`, Σ out = `out_fen`, the last `balance_after_fen` = `balance_fen` = `total_held_fen`"
    );
    account
}

fn income_kind() -> Value {
    one_of(&mingzhang_projections::IncomeKind::ALL.map(|kind| kind.name()))
}

/// An outflow of 善款去向 (docs/flows.md): in `GiftFlow.paid_for` the part
/// that gift paid, in `OutflowFlow` the whole.
fn flow_outflow_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("seq", count()),
        (
            "kind",
            one_of(&mingzhang_projections::OutflowKind::ALL.map(|kind| kind.name())),
        ),
        ("date", day()),
        ("amount_fen", count()),
        ("reference_id", string()),
        ("tranche_no", count()),
        ("project_id", string()),
        ("fund_id", string()),
    ]
}

/// `GET /v1/flows/donations/{id}` and `/v1/flows/pledge-payments/{id}`.
fn gift_flow() -> Value {
    let mut flow = object(&[
        ("kind", income_kind()),
        ("id", string()),
        ("date", day()),
        ("fund_id", string()),
        ("restricted_to_project_id", string()),
        ("counterparty_kind", one_of(&["donor", "walk_in"])),
        ("counterparty_id", string()),
        ("counterparty", string()),
        ("amount_fen", integer()),
        ("unspent_fen", count()),
        ("paid_for", list(named("FlowOutflow"))),
    ]);
    flow["description"] = json!(
        "What one gift paid for, first in, first out within the money it may pay (docs/flows.md): `unspent_fen` + Σ `paid_for[].amount_fen` = `amount_fen`"
    );
    flow
}

/// `GET /v1/flows/outflows/{seq}`.
fn outflow_flow() -> Value {
    let mut fields = flow_outflow_fields();
    fields.push(("unattributed_fen", count()));
    fields.push(("paid_by", list(named("PaidBy"))));
    let mut flow = object(&fields);
    flow["description"] = json!(
        "Which gifts paid one outflow: Σ `paid_by[].amount_fen` + `unattributed_fen` = `amount_fen` (net of reversals); `unattributed_fen` is 0 on every log the rules accept"
    );
    flow
}

fn donation_entry_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("donation_id", string()),
        ("donor_id", string()),
        ("fund_id", string()),
        ("campaign_id", string()),
        ("project_id", string()),
        ("amount_fen", integer()),
        (
            "channel",
            one_of(&["bank_transfer", "cash", "online", "unspecified"]),
        ),
        ("received_on", day()),
        ("anonymous", boolean()),
        ("refunded_fen", integer()),
        ("reversed_fen", integer()),
        ("net_fen", integer()),
        ("refunded", boolean()),
    ]
}

/// Every named response schema, for `components/schemas`.
pub fn schemas() -> Vec<(&'static str, Value)> {
    let mut listed_donation = donation_entry_fields();
    listed_donation.push((
        "donor_name",
        json!({"type": "string",
               "description": "the donor's name where the caller may see it; for the public, \"匿名 anonymous\" unless the donor chose to be named and the gift is not anonymous, \"\" for a walk-in gift"}),
    ));
    vec![
        (
            "Problem",
            json!({"type": "object", "additionalProperties": false,
            "description": "RFC 9457 problem details; `rule` is the stable name of what was refused, `field` the part of the request it concerns",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"}, "field": {"type": "string"},
                "rule": {"type": "string"},
                "applied_len": {"type": "integer", "minimum": 0,
                                "description": "with `projections_lagging`: how many records the projections have applied"},
            }}),
        ),
        ("WriteResponse", write_response()),
        (
            "FundBalance",
            object(&[
                ("fund_id", string()),
                ("name", string()),
                (
                    "kind",
                    one_of(&[
                        "unrestricted",
                        "restricted",
                        "special_support",
                        "unspecified",
                    ]),
                ),
                ("restriction", string()),
                ("available_fen", integer()),
                ("restricted_to_projects_fen", integer()),
                ("committed_to_grants_fen", integer()),
                ("total_held_fen", integer()),
                ("total_in_fen", integer()),
                ("total_out_fen", integer()),
            ]),
        ),
        (
            "CampaignYear",
            object(&[
                ("year", integer()),
                ("target_fen", integer()),
                ("raised_fen", integer()),
                ("donations_fen", integer()),
                ("pledge_payments_fen", integer()),
                ("pledged_fen", integer()),
                ("target_reached_bp", integer()),
            ]),
        ),
        (
            "CampaignProgress",
            object(&[
                ("campaign_id", string()),
                ("name", string()),
                ("fund_id", string()),
                ("total_target_fen", integer()),
                ("first_year", integer()),
                ("raised_fen", integer()),
                ("donations_fen", integer()),
                ("pledge_payments_fen", integer()),
                ("pledged_fen", integer()),
                ("target_reached_bp", integer()),
                ("years", list(named("CampaignYear"))),
            ]),
        ),
        (
            "InstalmentView",
            object(&[
                ("due_on", day()),
                ("amount_fen", integer()),
                ("paid_fen", integer()),
            ]),
        ),
        (
            "PledgeView",
            object(&[
                ("pledge_id", string()),
                ("donor_id", string()),
                ("campaign_id", string()),
                ("fund_id", string()),
                ("total_fen", integer()),
                ("paid_fen", integer()),
                ("cancelled", boolean()),
                ("cancelled_fen", integer()),
                ("outstanding_fen", integer()),
                ("instalments", list(named("InstalmentView"))),
            ]),
        ),
        (
            "InstalmentStatusView",
            object(&[
                ("due_on", day()),
                ("amount_fen", integer()),
                ("paid_fen", integer()),
                ("unpaid_fen", integer()),
                ("status", one_of(&["paid", "due", "overdue", "waived"])),
            ]),
        ),
        (
            "PledgeStatusView",
            object(&[
                ("pledge_id", string()),
                ("donor_id", string()),
                ("cancelled", boolean()),
                ("instalments", list(named("InstalmentStatusView"))),
            ]),
        ),
        (
            "SponsorPledgeSummary",
            object(&[
                ("donor_id", string()),
                ("name", string()),
                ("pledged_fen", integer()),
                ("paid_fen", integer()),
                ("fulfilled_instalments", count()),
                ("fulfilled_fen", integer()),
                ("due_instalments", count()),
                ("due_fen", integer()),
                ("overdue_instalments", count()),
                ("overdue_fen", integer()),
            ]),
        ),
        (
            "PledgeStatusReport",
            object(&[
                ("as_of", day()),
                ("pledges", list(named("PledgeStatusView"))),
                ("sponsors", list(named("SponsorPledgeSummary"))),
            ]),
        ),
        (
            "GrantRoundView",
            object(&[
                ("round_id", string()),
                ("fund_id", string()),
                ("name", string()),
                ("budget_fen", integer()),
                ("applications_open_on", day()),
                ("applications_close_on", day()),
                ("applications", count()),
                ("requested_fen", integer()),
                ("reviewed", count()),
                ("shortlisted", count()),
                ("awarded", count()),
                ("awarded_fen", integer()),
                ("disbursed_fen", integer()),
                ("evaluations", count()),
                ("evaluations_passed", count()),
                ("self_assessments", count()),
                ("closed_grants", count()),
                ("returned_fen", integer()),
                ("budget_remaining_fen", integer()),
            ]),
        ),
        (
            "TrancheView",
            object(&[
                ("index", count()),
                ("amount_fen", integer()),
                ("requires_evaluation", boolean()),
                (
                    "status",
                    one_of(&[
                        "paid",
                        "payable",
                        "awaiting_evaluation",
                        "scheduled",
                        "closed",
                    ]),
                ),
                ("paid_fen", integer()),
                ("paid_on", day()),
            ]),
        ),
        (
            "EvaluationView",
            object(&[
                ("evaluation_id", string()),
                ("period", string()),
                ("evaluator", string()),
                ("score", integer()),
                ("passed", boolean()),
            ]),
        ),
        (
            "SelfAssessmentView",
            object(&[
                ("quarter", string()),
                ("report_sha256", hash()),
                ("summary", string()),
            ]),
        ),
        (
            "GrantView",
            object(&[
                ("grant_id", string()),
                ("round_id", string()),
                ("application_id", string()),
                ("organisation_id", string()),
                ("organisation_name", string()),
                ("title", string()),
                ("amount_fen", integer()),
                ("awarded_on", day()),
                ("disbursed_fen", integer()),
                ("outstanding_commitment_fen", integer()),
                ("tranches", list(named("TrancheView"))),
                ("evaluations", list(named("EvaluationView"))),
                ("self_assessments", list(named("SelfAssessmentView"))),
                ("closed", boolean()),
                ("returned_fen", integer()),
                ("close_reason", string()),
            ]),
        ),
        (
            "ClaimView",
            object(&[
                ("sponsor_id", string()),
                ("claimed_at_seq", count()),
                ("released_at_seq", nullable(count())),
                ("release_reason", string()),
                ("funded_fen", integer()),
            ]),
        ),
        (
            "ProjectFunder",
            object(&[("sponsor_id", string()), ("funded_fen", integer())]),
        ),
        (
            "CompletionView",
            object(&[
                ("report_sha256", hash()),
                ("summary", string()),
                ("completed_on", day()),
            ]),
        ),
        (
            "ProjectView",
            object(&[
                ("project_id", string()),
                ("title", string()),
                (
                    "need_kind",
                    one_of(&[
                        "micro_wish",
                        "micro_charity",
                        "service",
                        "livelihood",
                        "unspecified",
                    ]),
                ),
                ("community", string()),
                ("survey", string()),
                ("budget_fen", integer()),
                ("fund_id", string()),
                (
                    "status",
                    one_of(&["published", "claimed", "funded", "completed"]),
                ),
                ("claimant_id", nullable(string())),
                ("claim_history", list(named("ClaimView"))),
                ("funders", list(named("ProjectFunder"))),
                ("sponsor_funding_fen", integer()),
                ("donations_fen", integer()),
                ("funding_received_fen", integer()),
                ("spent_fen", integer()),
                ("balance_fen", integer()),
                ("completion", nullable(named("CompletionView"))),
            ]),
        ),
        (
            "Movement",
            object(&[
                ("seq", count()),
                ("date", day()),
                (
                    "kind",
                    one_of(&mingzhang_projections::MovementKind::ALL.map(|kind| kind.name())),
                ),
                ("direction", one_of(&["in", "out"])),
                ("amount_fen", json!({"type": "integer", "minimum": 1})),
                ("balance_after_fen", integer()),
                ("reference_id", string()),
                ("reversed_fen", count()),
                (
                    "counterparty_kind",
                    one_of(&["donor", "walk_in", "payee", "organisation"]),
                ),
                ("counterparty_id", string()),
                ("counterparty", string()),
            ]),
        ),
        ("FundAccount", fund_account()),
        ("GiftFlow", gift_flow()),
        ("FlowOutflow", object(&flow_outflow_fields())),
        ("OutflowFlow", outflow_flow()),
        (
            "PaidBy",
            object(&[
                ("kind", income_kind()),
                ("id", string()),
                ("date", day()),
                ("amount_fen", json!({"type": "integer", "minimum": 1})),
                ("counterparty_kind", one_of(&["donor", "walk_in"])),
                ("counterparty_id", string()),
                ("counterparty", string()),
            ]),
        ),
        (
            "DonorView",
            object(&[
                ("donor_id", string()),
                ("name", string()),
                ("kind", one_of(&["enterprise", "individual", "unspecified"])),
                ("alliance_member", boolean()),
                ("show_name_publicly", boolean()),
                ("donated_fen", integer()),
                ("donations", count()),
                ("pledged_fen", integer()),
                ("pledge_paid_fen", integer()),
                ("project_funding_fen", integer()),
                ("projects_claimed", list(string())),
            ]),
        ),
        ("DonationEntry", object(&donation_entry_fields())),
        ("ListedDonation", object(&listed_donation)),
        (
            "ExpenditureEntry",
            object(&[
                ("expenditure_id", string()),
                ("fund_id", string()),
                ("project_id", string()),
                ("amount_fen", integer()),
                ("payee", string()),
                (
                    "payee_kind",
                    one_of(&["organisation", "company", "person", "unspecified"]),
                ),
                ("purpose", string()),
                ("category", string()),
                ("receipt_no", string()),
                ("paid_on", day()),
                ("reversed_fen", integer()),
                ("reversed", boolean()),
            ]),
        ),
        (
            "TrialBalance",
            object(&[
                (
                    "accounts",
                    list(object(&[("account", string()), ("balance_fen", integer())])),
                ),
                (
                    "total_fen",
                    json!({"type": "integer", "const": 0,
                           "description": "double entry: the balances sum to zero"}),
                ),
            ]),
        ),
        (
            "DonorStatement",
            object(&[
                ("donor", named("DonorView")),
                ("donations", list(named("DonationEntry"))),
                ("pledges", list(named("PledgeView"))),
            ]),
        ),
        (
            "Record",
            object(&[
                ("seq", count()),
                ("hash", hash()),
                ("prev_hash", hash()),
                ("recorded_at_unix_ms", integer()),
                ("actor", string()),
                ("idempotency_key", string()),
                ("event_type", string()),
                (
                    "envelope",
                    json!({"type": "object",
                           "description": "the EventEnvelope in protobuf's canonical JSON mapping (proto field names; 64-bit integers as strings)"}),
                ),
                (
                    "payload_hex",
                    json!({"type": "string", "pattern": "^([0-9a-f]{2})*$",
                           "description": "the protobuf EventEnvelope that is hashed"}),
                ),
            ]),
        ),
        (
            "RecordsPage",
            object(&[("log_len", count()), ("records", list(named("Record")))]),
        ),
        (
            "InclusionProof",
            object(&[
                ("seq", count()),
                ("tree_size", count()),
                ("leaf_hash", hash()),
                ("proof", list(hash())),
            ]),
        ),
        (
            "ConsistencyProof",
            object(&[
                ("old_size", count()),
                ("new_size", count()),
                ("proof", list(hash())),
            ]),
        ),
        (
            "Receipt",
            object(&[
                ("seq", count()),
                (
                    "record",
                    json!({"type": "string", "contentEncoding": "base64",
                           "description": "the exact stored record bytes"}),
                ),
                ("tree_size", count()),
                ("inclusion_proof", list(hash())),
                ("checkpoint", string()),
            ]),
        ),
        ("DisclosureCalendars", disclosure_calendars()),
        (
            "DisclosureCalendar",
            object(&[
                ("kind", one_of(&["grant", "project"])),
                ("id", string()),
                ("title", string()),
                ("starts_on", day()),
                ("ended_on", day()),
                ("runs_longer_than_six_months", boolean()),
                ("obligations", list(named("DisclosureObligation"))),
                ("disclosures", list(named("DisclosureRecord"))),
                ("overdue", count()),
            ]),
        ),
        (
            "DisclosureObligation",
            object(&[
                ("kind", one_of(&["quarterly_report", "final_account"])),
                ("due_on", day()),
                (
                    "status",
                    one_of(&["on_time", "late", "overdue", "not_yet_due"]),
                ),
                ("met_by_seq", nullable(count())),
                ("disclosed_on", day()),
            ]),
        ),
        (
            "DisclosureRecord",
            object(&[
                ("seq", count()),
                (
                    "kind",
                    one_of(&[
                        "self_assessment",
                        "evaluation",
                        "grant_closure",
                        "project_completion",
                    ]),
                ),
                ("label", string()),
                ("disclosed_on", day()),
            ]),
        ),
        (
            "FlowReceipt",
            object(&[
                (
                    "format",
                    one_of(&[mingzhang_audit::flow_receipt::FLOW_RECEIPT_FORMAT]),
                ),
                ("tree_size", count()),
                ("checkpoint", string()),
                (
                    "gift",
                    object(&[
                        ("kind", one_of(&["donation", "pledge_payment"])),
                        ("id", string()),
                        ("amount_fen", integer()),
                        ("seq", count()),
                        (
                            "record",
                            json!({"type": "string", "contentEncoding": "base64"}),
                        ),
                        ("inclusion_proof", list(hash())),
                    ]),
                ),
                ("unspent_fen", integer()),
                (
                    "paid_for",
                    list(object(&[
                        (
                            "kind",
                            one_of(
                                &mingzhang_projections::OutflowKind::ALL.map(|kind| kind.name()),
                            ),
                        ),
                        ("reference_id", string()),
                        ("tranche_no", count()),
                        ("amount_fen", integer()),
                        ("seq", count()),
                        (
                            "record",
                            json!({"type": "string", "contentEncoding": "base64"}),
                        ),
                        ("inclusion_proof", list(hash())),
                    ])),
                ),
            ]),
        ),
        (
            "Readiness",
            object(&[
                ("log_records", count()),
                ("applied_records", count()),
                ("log_failed", boolean()),
                ("not_applied", nullable(string())),
            ]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The flow answers' real JSON on the demo against their schemas, down
    /// to the items of their lists.
    #[test]
    fn flow_answers_carry_exactly_the_fields_their_schemas_list() {
        use crate::backend::Page;
        use crate::query_answers::{QueryKind, answer};
        let projections = crate::test_support::kaixuan_projections();
        let schemas: std::collections::BTreeMap<&str, Value> =
            super::schemas().into_iter().collect();
        let check = |name: &str, value: &Value| {
            let mut listed: Vec<&str> = schemas[name]["required"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} lists its fields"))
                .iter()
                .map(|field| field.as_str().expect("a name"))
                .collect();
            listed.sort();
            let mut keys: Vec<&str> = value
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort();
            assert_eq!(keys, listed, "{name}");
        };
        for (kind, id) in [
            (QueryKind::PledgePaymentFlow, "pay-unit-02-2015"),
            (QueryKind::DonationFlow, "don-pd2015-unit-02"),
        ] {
            let json = answer(&projections, false, kind, id, None, Page::default())
                .expect("a gift of the demo")
                .to_json();
            check("GiftFlow", &json);
            let paid_for = json["paid_for"].as_array().expect("a list");
            paid_for.iter().for_each(|item| check("FlowOutflow", item));
        }
        let json = answer(
            &projections,
            false,
            QueryKind::OutflowFlow,
            "241",
            None,
            Page::default(),
        )
        .expect("an outflow of the demo")
        .to_json();
        check("OutflowFlow", &json);
        let paid_by = json["paid_by"].as_array().expect("a list");
        assert!(!paid_by.is_empty());
        paid_by.iter().for_each(|item| check("PaidBy", item));
    }

    /// The views' real JSON, field by field, against the schemas here: a
    /// field added to or removed from a view fails until it is described.
    #[test]
    fn each_view_serialises_to_exactly_the_fields_its_schema_lists() {
        use mingzhang_projections::{
            ClaimView, CompletionView, Day, DonationEntry, ExpenditureEntry, FundBalance,
            ProjectFunder, ProjectStatus, ProjectView,
        };
        let schemas: std::collections::BTreeMap<&str, Value> =
            super::schemas().into_iter().collect();
        let fields = |name: &str| -> Vec<String> {
            let mut names: Vec<String> = schemas[name]["required"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} lists its fields"))
                .iter()
                .map(|field| field.as_str().expect("a name").to_owned())
                .collect();
            names.sort();
            names
        };
        let keys = |value: Value| -> Vec<String> {
            let mut names: Vec<String> = value
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        };
        let day = Day::parse("2016-03-01").expect("a date");
        let fund = FundBalance {
            fund_id: String::new(),
            name: String::new(),
            kind: String::new(),
            restriction: String::new(),
            available_fen: 0,
            restricted_to_projects_fen: 0,
            committed_to_grants_fen: 0,
            total_held_fen: 0,
            total_in_fen: 0,
            total_out_fen: 0,
        };
        assert_eq!(
            keys(serde_json::to_value(fund).unwrap()),
            fields("FundBalance")
        );
        let donation = DonationEntry {
            donation_id: String::new(),
            donor_id: String::new(),
            fund_id: String::new(),
            campaign_id: String::new(),
            project_id: String::new(),
            amount_fen: 1,
            channel: String::new(),
            received_on: day,
            anonymous: false,
            refunded_fen: 0,
            reversed_fen: 0,
            net_fen: 1,
            refunded: false,
        };
        assert_eq!(
            keys(serde_json::to_value(donation).unwrap()),
            fields("DonationEntry")
        );
        let expenditure = ExpenditureEntry {
            expenditure_id: String::new(),
            fund_id: String::new(),
            project_id: String::new(),
            amount_fen: 1,
            payee: String::new(),
            payee_kind: String::new(),
            purpose: String::new(),
            category: String::new(),
            receipt_no: String::new(),
            paid_on: day,
            reversed_fen: 0,
            reversed: false,
        };
        assert_eq!(
            keys(serde_json::to_value(expenditure).unwrap()),
            fields("ExpenditureEntry")
        );
        let project = ProjectView {
            project_id: String::new(),
            title: String::new(),
            need_kind: String::new(),
            community: String::new(),
            survey: String::new(),
            budget_fen: 1,
            fund_id: String::new(),
            status: ProjectStatus::Completed,
            claimant_id: None,
            claim_history: vec![ClaimView {
                sponsor_id: String::new(),
                claimed_at_seq: 0,
                released_at_seq: Some(1),
                release_reason: String::new(),
                funded_fen: 0,
            }],
            funders: vec![ProjectFunder {
                sponsor_id: String::new(),
                funded_fen: 0,
            }],
            sponsor_funding_fen: 0,
            donations_fen: 0,
            funding_received_fen: 0,
            spent_fen: 0,
            balance_fen: 0,
            completion: Some(CompletionView {
                report_sha256: String::new(),
                summary: String::new(),
                completed_on: day,
            }),
        };
        let project = serde_json::to_value(project).unwrap();
        assert_eq!(
            keys(project["claim_history"][0].clone()),
            fields("ClaimView")
        );
        assert_eq!(
            keys(project["completion"].clone()),
            fields("CompletionView")
        );
        assert_eq!(keys(project["funders"][0].clone()), fields("ProjectFunder"));
        assert_eq!(keys(project), fields("ProjectView"));
    }
}
