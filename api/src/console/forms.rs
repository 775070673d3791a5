//! The console's forms, one per command route, made from the route's body
//! schema (`http::command_table`): field names, which are required, enums
//! as selects, amounts as decimal text, dates as date inputs, lists
//! (instalments, tranches, yearly targets) as a few numbered rows. A posted
//! form turns back into the route's JSON body, so it is parsed, refused and
//! recorded exactly as the JSON route would.

use std::sync::OnceLock;

use maud::{Markup, html};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::labels::{enum_label, field_label, form_title};
use crate::http::{CommandRoute, command_table};

/// Rows a list field shows; empty rows are left out of the body.
const LIST_ROWS: usize = 4;

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text,
    /// Multi-line text (`Text`, `OptionalText` in the schema).
    LongText,
    /// CNY as a decimal string.
    Amount,
    Date,
    Integer,
    Checkbox,
    /// The schema's enum values, in order.
    Select(Vec<String>),
    /// A SHA-256 of a report: typed, or computed from an uploaded file.
    Sha256,
    /// Numbered rows of the inner fields.
    List(Vec<FieldSpec>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub kind: FieldKind,
    pub required: bool,
}

pub struct FormSpec {
    /// `/console/{slug}`: the body's name in kebab case.
    pub slug: String,
    pub route: CommandRoute,
    /// The form field holding the route's `{id}` (e.g. `donation_id`),
    /// named as the ledger names it in a refusal.
    pub path_id: Option<&'static str>,
    pub fields: Vec<FieldSpec>,
}

impl FormSpec {
    /// Records or returns money: a review step comes before the write.
    pub fn moves_money(&self) -> bool {
        MONEY_MOVING.contains(&self.route.event)
    }

    /// Carries a report (a SHA-256 field): the form takes a file.
    pub fn takes_document(&self) -> bool {
        self.fields
            .iter()
            .any(|field| field.kind == FieldKind::Sha256)
    }

    /// Every input name the form has, list rows expanded.
    fn input_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.path_id.iter().map(|id| (*id).to_owned()).collect();
        for field in &self.fields {
            match &field.kind {
                FieldKind::List(inner) => {
                    for row in 0..LIST_ROWS {
                        for item in inner {
                            names.push(format!("{}[{row}].{}", field.name, item.name));
                        }
                    }
                }
                _ => names.push(field.name.clone()),
            }
        }
        names
    }

    /// The kind of the input named `name` (a list row's inner field by
    /// its own name).
    pub fn kind_of(&self, name: &str) -> Option<&FieldKind> {
        let (list, inner) = match name.split_once('[') {
            Some((list, rest)) => (list, rest.split_once("].").map(|(_, inner)| inner)),
            None => (name, None),
        };
        let field = self.fields.iter().find(|field| field.name == list)?;
        match (&field.kind, inner) {
            (FieldKind::List(items), Some(inner)) => items
                .iter()
                .find(|item| item.name == inner)
                .map(|item| &item.kind),
            (kind, None) => Some(kind),
            _ => None,
        }
    }

    /// `value` of the input `name` as the review step shows it: an enum by
    /// its label, a ticked box as 是 yes, anything else as typed.
    pub fn shown_value(&self, name: &str, value: &str) -> String {
        match self.kind_of(name) {
            Some(FieldKind::Select(_)) => enum_label(value),
            Some(FieldKind::Checkbox) if matches!(value, "on" | "true") => "是 yes".to_owned(),
            Some(FieldKind::Checkbox) => "否 no".to_owned(),
            _ => value.to_owned(),
        }
    }

    /// Whether a refusal's `field` is one this form shows.
    pub fn shows_field(&self, field: &str) -> bool {
        self.input_names().iter().any(|name| name == field)
    }
}

/// Events that move money in or out: their forms show a review step.
const MONEY_MOVING: [&str; 9] = [
    "DonationReceived",
    "DonationRefunded",
    "DonationReversed",
    "PledgePaymentReceived",
    "GrantTrancheDisbursed",
    "GrantClosed",
    "ProjectFunded",
    "ExpenditureMade",
    "ExpenditureReversed",
];

/// Every form, built once from the command routes' schemas.
pub fn forms() -> &'static [FormSpec] {
    static FORMS: OnceLock<Vec<FormSpec>> = OnceLock::new();
    FORMS.get_or_init(|| command_table().into_iter().map(form_of).collect())
}

pub fn form(slug: &str) -> Option<&'static FormSpec> {
    forms().iter().find(|form| form.slug == slug)
}

fn kebab(name: &str) -> String {
    let mut slug = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            slug.push('-');
        }
        slug.push(c.to_ascii_lowercase());
    }
    slug
}

/// The id field a route's `{id}` is, by the collection before it.
fn path_id_field(path: &str) -> Option<&'static str> {
    let before = path
        .split("/{id}")
        .next()
        .filter(|_| path.contains("{id}"))?;
    Some(match before.rsplit('/').next()? {
        "donors" => "donor_id",
        "donations" => "donation_id",
        "pledges" => "pledge_id",
        "grant-rounds" => "round_id",
        "grant-applications" => "application_id",
        "grants" => "grant_id",
        "projects" => "project_id",
        "expenditures" => "expenditure_id",
        other => panic!("a command route on /{other}/{{id}} has no form field named for it"),
    })
}

fn form_of(route: CommandRoute) -> FormSpec {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let root = (route.schema)(&mut generator).to_value();
    let definitions = generator.take_definitions(true);
    let body = resolve(&root, &definitions).0;
    FormSpec {
        slug: kebab(route.body),
        path_id: path_id_field(route.path),
        fields: fields_of(body, &definitions),
        route,
    }
}

/// A schema with its `$ref` followed, and the name referred to.
fn resolve<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> (&'a Value, &'a str) {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .rsplit('/')
                .next()
                .expect("a $ref names something");
            let target = definitions
                .get(name)
                .unwrap_or_else(|| panic!("{reference} is defined"));
            (target, name)
        }
        None => (schema, ""),
    }
}

fn fields_of(object: &Value, definitions: &Map<String, Value>) -> Vec<FieldSpec> {
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object["properties"].as_object() else {
        return Vec::new();
    };
    let mut fields: Vec<FieldSpec> = properties
        .iter()
        .map(|(name, schema)| FieldSpec {
            name: name.clone(),
            kind: kind_of(schema, definitions),
            required: required.contains(&name.as_str()),
        })
        .collect();
    // The schema's properties come alphabetically; a clerk fills in what
    // the record is (its ids) first.
    fields.sort_by_key(|field| !field.name.ends_with("_id"));
    fields
}

fn kind_of(schema: &Value, definitions: &Map<String, Value>) -> FieldKind {
    let (schema, name) = resolve(schema, definitions);
    match name {
        "Amount" => return FieldKind::Amount,
        "Date" | "OptionalDate" => return FieldKind::Date,
        "Text" | "OptionalText" => return FieldKind::LongText,
        "Sha256" => return FieldKind::Sha256,
        _ => {}
    }
    if let Some(values) = schema["enum"].as_array() {
        return FieldKind::Select(
            values
                .iter()
                .map(|value| value.as_str().expect("an enum of strings").to_owned())
                .collect(),
        );
    }
    match schema["type"].as_str() {
        Some("boolean") => FieldKind::Checkbox,
        Some("integer") => FieldKind::Integer,
        Some("array") => {
            let (item, _) = resolve(&schema["items"], definitions);
            FieldKind::List(fields_of(item, definitions))
        }
        _ => FieldKind::Text,
    }
}

/// The value a form posted for `name` (its first, as a browser sends one).
fn value<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
}

/// One field's JSON, or `None` to leave it out (an empty optional field,
/// which the body's default fills). Values that do not fit the type are
/// passed on as text for the body's parser to refuse, naming the field.
fn json_of(field: &FieldSpec, posted: Option<&str>) -> Option<Value> {
    let text = posted.unwrap_or("").trim();
    match &field.kind {
        FieldKind::Checkbox => Some(Value::Bool(matches!(text, "on" | "true"))),
        _ if text.is_empty() && !field.required => None,
        FieldKind::Integer => Some(
            text.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(text)),
        ),
        FieldKind::Sha256 => Some(Value::from(text.to_ascii_lowercase())),
        _ => Some(Value::from(text)),
    }
}

/// The route's JSON body and path id from a posted form.
pub fn body_of(form: &FormSpec, fields: &[(String, String)]) -> (Vec<u8>, String) {
    let mut body = Map::new();
    for field in &form.fields {
        match &field.kind {
            FieldKind::List(inner) => {
                let rows: Vec<Value> = (0..LIST_ROWS)
                    .filter_map(|row| {
                        let posted = |item: &FieldSpec| {
                            value(fields, &format!("{}[{row}].{}", field.name, item.name))
                        };
                        let filled = inner.iter().any(|item| {
                            item.kind != FieldKind::Checkbox
                                && posted(item).is_some_and(|text| !text.trim().is_empty())
                        });
                        filled.then(|| {
                            let object: Map<String, Value> = inner
                                .iter()
                                .filter_map(|item| {
                                    let value = json_of(item, posted(item))?;
                                    Some((item.name.clone(), value))
                                })
                                .collect();
                            Value::Object(object)
                        })
                    })
                    .collect();
                body.insert(field.name.clone(), Value::Array(rows));
            }
            _ => {
                if let Some(json) = json_of(field, value(fields, &field.name)) {
                    body.insert(field.name.clone(), json);
                }
            }
        }
    }
    let path_id = form
        .path_id
        .and_then(|name| value(fields, name))
        .unwrap_or("")
        .trim()
        .to_owned();
    (
        serde_json::to_vec(&Value::Object(body)).expect("JSON serialises"),
        path_id,
    )
}

/// A refusal shown beside the field it names (or above the form).
pub struct FieldProblem {
    pub field: Option<String>,
    pub message: String,
}

fn input_id(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("f-{cleaned}")
}

/// The inputs of `form`, filled with `fields`, the problem beside its field.
pub fn render_inputs(
    form: &FormSpec,
    fields: &[(String, String)],
    problem: Option<&FieldProblem>,
) -> Markup {
    let problem_at = |name: &str| {
        problem
            .filter(|problem| problem.field.as_deref() == Some(name))
            .map(|problem| problem.message.as_str())
    };
    html! {
        @if let Some(id_field) = form.path_id {
            (input(&FieldSpec { name: id_field.to_owned(), kind: FieldKind::Text, required: true },
                   id_field, value(fields, id_field), problem_at(id_field)))
        }
        @for field in &form.fields {
            @match &field.kind {
                FieldKind::List(inner) => {
                    fieldset {
                        legend { (field_label(&field.name)) }
                        @for row in 0..LIST_ROWS {
                            fieldset {
                                legend { "第 " (row + 1) " 行 " span lang="en" { "Row " (row + 1) } }
                                @for item in inner {
                                    @let name = format!("{}[{row}].{}", field.name, item.name);
                                    @let item = FieldSpec { required: item.required && row == 0, ..item.clone() };
                                    (input(&item, &name, value(fields, &name), problem_at(&name)))
                                }
                            }
                        }
                    }
                }
                _ => (input(field, &field.name, value(fields, &field.name), problem_at(&field.name))),
            }
        }
    }
}

/// One labelled input; its error, if any, is announced and described.
fn input(field: &FieldSpec, name: &str, value: Option<&str>, problem: Option<&str>) -> Markup {
    let id = input_id(name);
    let error_id = format!("{id}-error");
    let described = problem.map(|_| error_id.as_str());
    let invalid = problem.map(|_| "true");
    // A refused form opens on the field to fix, for keyboard and screen
    // reader alike.
    let focus = problem.is_some();
    let label_name = name.rsplit('.').next().unwrap_or(name);
    let value = value.unwrap_or("");
    html! {
        @if field.kind == FieldKind::Checkbox {
            label.check for=(id) {
                input #(id) type="checkbox" name=(name) checked[matches!(value, "on" | "true")]
                    autofocus[focus] aria-describedby=[described] aria-invalid=[invalid];
                (field_label(label_name))
            }
        } @else {
            label for=(id) {
                (field_label(label_name))
                @if !field.required { span.hint { " （选填 " span lang="en" { "optional" } "）" } }
            }
            @match &field.kind {
                FieldKind::LongText => {
                    textarea #(id) name=(name) rows="3" required[field.required] autofocus[focus]
                        aria-describedby=[described] aria-invalid=[invalid] { (value) }
                }
                FieldKind::Select(options) => {
                    select #(id) name=(name) required[field.required] autofocus[focus]
                        aria-describedby=[described] aria-invalid=[invalid] {
                        @if !field.required { option value="" { "—" } }
                        @for option in options {
                            option value=(option) selected[value == option] { (enum_label(option)) }
                        }
                    }
                }
                FieldKind::Amount => {
                    input #(id) type="text" name=(name) value=(value) inputmode="decimal"
                        autocomplete="off" placeholder="41000.00" required[field.required]
                        autofocus[focus] aria-describedby=[described] aria-invalid=[invalid];
                }
                FieldKind::Date => {
                    input #(id) type="date" name=(name) value=(value) required[field.required]
                        autofocus[focus] aria-describedby=[described] aria-invalid=[invalid];
                }
                FieldKind::Integer => {
                    input #(id) type="number" name=(name) value=(value) inputmode="numeric"
                        required[field.required] autofocus[focus]
                        aria-describedby=[described] aria-invalid=[invalid];
                }
                FieldKind::Sha256 => {
                    input #(id) type="text" name=(name) value=(value) autocomplete="off"
                        spellcheck="false" autofocus[focus] aria-describedby=(format!("{id}-hint{}", described.map(|d| format!(" {d}")).unwrap_or_default()))
                        aria-invalid=[invalid];
                    p.hint #(format!("{id}-hint")) {
                        "填写报告的 SHA-256，或在下面上传报告文件（PDF、JPEG、PNG 或文本，最大 10 MiB），由服务器计算并保存。 "
                        span lang="en" { "Type the report's SHA-256, or upload the report below (PDF, JPEG, PNG or text, at most 10 MiB): the server hashes and keeps it." }
                    }
                    label for=(format!("{id}-file")) { "报告文件 " span lang="en" { "Report file" } }
                    input #(format!("{id}-file")) type="file" name=(format!("{name}{FILE_SUFFIX}"))
                        accept="application/pdf,image/jpeg,image/png,text/plain";
                }
                _ => {
                    input #(id) type="text" name=(name) value=(value) autocomplete="off"
                        required[field.required] autofocus[focus]
                        aria-describedby=[described] aria-invalid=[invalid];
                }
            }
        }
        @if let Some(problem) = problem {
            p.problem #(error_id) role="alert" { (problem) }
        }
    }
}

/// A SHA-256 field's file input is named `<field>__file`.
pub const FILE_SUFFIX: &str = "__file";

/// The form's title, Chinese then English.
pub fn title(form: &FormSpec) -> Markup {
    let (zh, en) = form_title(form.route.event);
    html! { (zh) " " span lang="en" { (en) } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::labels::{ENUM_LABELS, FIELD_LABELS};

    #[test]
    fn every_command_route_has_a_form_and_every_field_a_label() {
        let forms = forms();
        assert_eq!(forms.len(), command_table().len());
        for form in forms {
            assert!(
                !form.fields.is_empty() || form.path_id.is_some(),
                "{}",
                form.slug
            );
            // The console's list and each form's page look these up.
            crate::console::labels::form_title(form.route.event);
            crate::console::labels::group_of(form.route.event);
            for name in form.input_names() {
                let last = name.rsplit('.').next().unwrap();
                assert!(
                    FIELD_LABELS.iter().any(|(field, _, _)| *field == last),
                    "{}: no label for {last}",
                    form.slug
                );
            }
            for field in &form.fields {
                if let FieldKind::Select(options) = &field.kind {
                    for option in options {
                        assert!(
                            ENUM_LABELS.iter().any(|(value, _, _)| value == option),
                            "no label for {option}"
                        );
                    }
                }
            }
        }
        let donation = form("receive-donation").unwrap();
        assert!(donation.moves_money());
        let kind = |name: &str| {
            donation
                .fields
                .iter()
                .find(|field| field.name == name)
                .map(|field| field.kind.clone())
        };
        assert_eq!(kind("amount"), Some(FieldKind::Amount));
        assert_eq!(kind("received_on"), Some(FieldKind::Date));
        assert_eq!(kind("anonymous"), Some(FieldKind::Checkbox));
        assert_eq!(
            kind("channel"),
            Some(FieldKind::Select(vec![
                "bank_transfer".into(),
                "cash".into(),
                "online".into()
            ]))
        );
        assert_eq!(
            form("refund-donation").unwrap().path_id,
            Some("donation_id")
        );
        assert!(form("complete-project").unwrap().takes_document());
        assert!(!form("open-fund").unwrap().moves_money());
    }

    #[test]
    fn the_review_step_shows_labels_for_choices_and_ticks() {
        let donation = form("receive-donation").unwrap();
        assert_eq!(
            donation.shown_value("channel", "bank_transfer"),
            enum_label("bank_transfer")
        );
        assert_ne!(enum_label("bank_transfer"), "bank_transfer");
        assert_eq!(donation.shown_value("anonymous", "on"), "是 yes");
        assert_eq!(donation.shown_value("amount", "41000.00"), "41000.00");
        assert_eq!(donation.shown_value("donor_id", "unit-01"), "unit-01");
        let pledge = form("make-pledge").unwrap();
        assert_eq!(
            pledge.kind_of("instalments[1].amount"),
            Some(&FieldKind::Amount)
        );
        assert_eq!(pledge.kind_of("instalments[1].nothing"), None);
        assert_eq!(pledge.kind_of("nothing"), None);
    }

    #[test]
    fn a_posted_form_becomes_the_routes_json_body() {
        let pledge = form("make-pledge").unwrap();
        let posted: Vec<(String, String)> = [
            ("pledge_id", "p1"),
            ("donor_id", "d1"),
            ("campaign_id", ""),
            ("fund_id", "f1"),
            ("total", "200.00"),
            ("instalments[0].due_on", "2016-01-01"),
            ("instalments[0].amount", "100.00"),
            ("instalments[1].due_on", "2017-01-01"),
            ("instalments[1].amount", "100.00"),
            ("instalments[2].due_on", ""),
            ("instalments[2].amount", ""),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .to_vec();
        let (json, path_id) = body_of(pledge, &posted);
        assert_eq!(path_id, "");
        let body: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"pledge_id": "p1", "donor_id": "d1", "fund_id": "f1", "total": "200.00",
                "instalments": [{"due_on": "2016-01-01", "amount": "100.00"},
                                {"due_on": "2017-01-01", "amount": "100.00"}]})
        );
        assert!((pledge.route.preview)(&json, path_id).is_ok());

        let refund = form("refund-donation").unwrap();
        let posted: Vec<(String, String)> = [
            ("donation_id", " g1 "),
            ("refund_id", "r1"),
            ("amount", "abc"),
            ("reason", "duplicate"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .to_vec();
        let (json, path_id) = body_of(refund, &posted);
        assert_eq!(path_id, "g1");
        let refused = (refund.route.preview)(&json, path_id).unwrap_err();
        assert_eq!(refused.field_and_rule().0, Some("amount"));
        assert!(refund.shows_field("amount"));
    }
}
