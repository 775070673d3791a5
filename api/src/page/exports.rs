//! Downloads for people who want the figures in a spreadsheet or in the
//! 360Giving data standard. Names are masked exactly as on the page: the rows
//! come from the same view models.

use mingzhang_ledger::money::{decimal_from_fen, format_fen};
use mingzhang_projections::{Day, LIST_PAGE_MAX, MovementFilter, Projections};

use super::model::{Directory, donation_row, expenditure_row, for_each_page};
use super::public::{Credit, public_counterparty, public_payee};

/// Excel opens a UTF-8 CSV as UTF-8 (and shows Chinese correctly) only when
/// the file starts with a byte-order mark.
const UTF8_BOM: &str = "\u{feff}";

/// One CSV field: quoted when needed, and defused when a spreadsheet would
/// take it for a formula (text recorded by operators is not trusted as code).
fn field(text: &str) -> String {
    let defused = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn row(out: &mut String, fields: &[&str]) {
    for (position, value) in fields.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push_str(&field(value));
    }
    out.push_str("\r\n");
}

/// The giver's public label in an export: the name, or "匿名".
fn credit_label(credit: &Credit) -> &str {
    match credit {
        Credit::Named { name, .. } => name,
        Credit::Anonymous => "匿名",
    }
}

pub fn donations_csv(projections: &Projections, directory: &Directory) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "donation_id",
            "received_on",
            "donor",
            "amount_cny",
            "net_cny",
            "fund",
            "project_id",
            "channel",
        ],
    );
    for_each_page(
        projections.donations_count(),
        |offset, limit| projections.donations(offset, limit),
        |donation| {
            let view = donation_row(&donation, directory);
            let project_id = view
                .project
                .as_ref()
                .map(|project| project.project_id.as_str())
                .unwrap_or("");
            row(
                &mut out,
                &[
                    &view.donation_id,
                    &view.received_on,
                    credit_label(&view.giver),
                    &format_fen(view.amount_fen),
                    &format_fen(view.net_fen),
                    &view.fund_name,
                    project_id,
                    &view.channel,
                ],
            );
        },
    );
    out
}

pub fn expenditures_csv(projections: &Projections, directory: &Directory) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "expenditure_id",
            "paid_on",
            "payee",
            "payee_kind",
            "purpose",
            "category",
            "amount_cny",
            "reversed_cny",
            "fund",
            "project_id",
            "receipt_no",
        ],
    );
    for_each_page(
        projections.expenditures_count(),
        |offset, limit| projections.expenditures(offset, limit),
        |expenditure| {
            let view = expenditure_row(&expenditure, directory);
            let project_id = view
                .project
                .as_ref()
                .map(|project| project.project_id.as_str())
                .unwrap_or("");
            row(
                &mut out,
                &[
                    &view.expenditure_id,
                    &view.paid_on,
                    &view.payee,
                    &view.payee_kind,
                    &view.purpose,
                    &view.category,
                    &format_fen(view.amount_fen),
                    &format_fen(view.reversed_fen),
                    &view.fund_name,
                    project_id,
                    &view.receipt_no,
                ],
            );
        },
    );
    out
}

pub fn grants_csv(projections: &Projections) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "grant_id",
            "round_id",
            "organisation",
            "title",
            "awarded_cny",
            "disbursed_cny",
            "returned_cny",
            "closed",
        ],
    );
    for grant in projections.grants() {
        row(
            &mut out,
            &[
                &grant.grant_id,
                &grant.round_id,
                &grant.organisation_name,
                &grant.title,
                &format_fen(grant.amount_fen),
                &format_fen(grant.disbursed_fen),
                &format_fen(grant.returned_fen),
                if grant.closed { "true" } else { "false" },
            ],
        );
    }
    out
}

/// The prefix of every identifier this publisher makes up (360Giving's
/// "360G-" prefix, then the publisher's own): grants, and organisations
/// with no registration number the standard's lists know.
const PUBLISHER_PREFIX: &str = "360G-mingzhang";

/// The 统一社会信用代码's alphabet (GB 32100-2015): digits and the capital
/// letters but I, O, Z, S and V.
const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// An organisation's 360Giving identifier: `CN-USC-<code>` (org-id.guide's
/// list for the unified social credit code) where the registration number
/// recorded has the code's shape, 18 characters of its alphabet; otherwise
/// the publisher's own, `360G-mingzhang-<kind>-<id>`, as the standard asks
/// for organisations without an official number.
pub fn organisation_identifier(registration_no: &str, kind: &str, internal_id: &str) -> String {
    let code = registration_no.trim();
    if code.len() == 18 && code.chars().all(|c| USCC_ALPHABET.contains(c)) {
        format!("CN-USC-{code}")
    } else {
        format!("{PUBLISHER_PREFIX}-{kind}-{internal_id}")
    }
}

/// One JSON object written field by field, so that amounts go out as the
/// exact decimals they are (`30000.00`), never through a float.
#[derive(Default)]
struct JsonObject(String);

impl JsonObject {
    fn key(&mut self, key: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push_str(&text(key));
        self.0.push(':');
    }

    fn text(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        self.0.push_str(&text(value));
        self
    }

    fn amount(mut self, key: &str, fen: i64) -> Self {
        self.key(key);
        self.0.push_str(&decimal_from_fen(fen).to_string());
        self
    }

    fn value(mut self, key: &str, value: serde_json::Value) -> Self {
        self.key(key);
        self.0.push_str(&value.to_string());
        self
    }

    fn finish(mut self) -> String {
        assert!(!self.0.is_empty(), "a 360Giving record has fields");
        self.0.push('}');
        self.0
    }
}

fn text(value: &str) -> String {
    serde_json::to_string(value).expect("strings always serialise")
}

/// What every 360Giving grant record of ours says.
struct GrantRecord {
    id: String,
    title: String,
    description: String,
    amount_awarded_fen: i64,
    amount_disbursed_fen: i64,
    award_date: String,
    recipient: (String, String),
    funder: (String, String),
    programme: (String, String),
    /// The community that benefits, where the log knows it.
    beneficiary_location: Option<String>,
    /// (start, end) where known; either may be empty.
    planned_dates: Option<(String, String)>,
    actual_dates: Option<(String, String)>,
}

fn dates_event(start: &str, end: &str) -> serde_json::Value {
    let mut event = serde_json::json!({ "startDate": start });
    if !end.is_empty() {
        event["endDate"] = serde_json::json!(end);
    }
    serde_json::json!([event])
}

impl GrantRecord {
    fn write(self) -> String {
        let organisation =
            |(id, name): (String, String)| serde_json::json!([{"id": id, "name": name}]);
        let mut object = JsonObject::default()
            .text("id", &self.id)
            .text("title", &self.title)
            .text("description", &self.description)
            .text("currency", "CNY")
            .amount("amountAwarded", self.amount_awarded_fen)
            .amount("amountDisbursed", self.amount_disbursed_fen)
            .text("awardDate", &self.award_date)
            .value("recipientOrganization", organisation(self.recipient))
            .value("fundingOrganization", organisation(self.funder))
            .value(
                "grantProgramme",
                serde_json::json!([{"code": self.programme.0, "title": self.programme.1}]),
            );
        if let Some(community) = self.beneficiary_location {
            object = object.value(
                "beneficiaryLocation",
                serde_json::json!([{"name": community, "countryCode": "CN"}]),
            );
        }
        if let Some((start, end)) = self.planned_dates.filter(|(start, _)| !start.is_empty()) {
            object = object.value("plannedDates", dates_event(&start, &end));
        }
        if let Some((start, end)) = self.actual_dates.filter(|(start, _)| !start.is_empty()) {
            object = object.value("actualDates", dates_event(&start, &end));
        }
        object.finish()
    }
}

/// Special-support spending that is a grant: one-off support and awards for
/// excellence. Purchase of services is a contract for work, not a grant.
const SPECIAL_SUPPORT_GRANT_CATEGORIES: [(&str, &str); 2] = [
    ("one_off_support", "专项扶持基金·一次性扶持"),
    ("award_for_excellence", "专项扶持基金·奖励优秀"),
];

/// Every grant the ledger made, in the 360Giving data standard (1.4):
///
/// - each micro-venture grant: the application's title and text, the round
///   as its programme, paid tranches as `amountDisbursed`, its award date
///   (for an award recorded without one, its first payment's, or the
///   round's closing date before any) and, once closed, its actual dates;
/// - each one-off support and award for excellence paid out of a special
///   support fund to an organisation or company (net of reversals; a
///   private person's is left out: the standard would need their identity);
/// - each sponsor's funding of a claimed project (enterprise → project),
///   the project's community as the beneficiary location; the sponsor
///   masked by `public::donor_is_named` as everywhere.
///
/// Recipients are identified by `organisation_identifier`.
pub fn grants_360giving(projections: &Projections, directory: &Directory) -> String {
    use std::collections::HashMap;
    let every_record = Day::parse("9999-12-31").expect("a date");
    let rounds: HashMap<String, mingzhang_projections::GrantRoundView> = projections
        .grant_rounds()
        .into_iter()
        .map(|round| (round.round_id.clone(), round))
        .collect();
    let applications: HashMap<String, mingzhang_projections::ApplicationView> = projections
        .grant_applications(None)
        .into_iter()
        .map(|application| (application.application_id.clone(), application))
        .collect();
    let organisations = projections.organisations();
    let registration_of_id: HashMap<&str, &str> = organisations
        .iter()
        .map(|o| (o.organisation_id.as_str(), o.registration_no.as_str()))
        .collect();
    let organisation_of_name: HashMap<&str, &mingzhang_projections::OrganisationView> =
        organisations.iter().map(|o| (o.name.as_str(), o)).collect();
    let fund_funder = |fund_id: &str| {
        (
            format!("{PUBLISHER_PREFIX}-fund-{fund_id}"),
            directory.fund_name(fund_id),
        )
    };
    let mut records: Vec<String> = Vec::new();

    for grant in projections.grants() {
        let round = rounds.get(&grant.round_id);
        let calendar = projections
            .grant_disclosure_calendar(&grant.grant_id, every_record)
            .expect("a listed grant has a calendar");
        let award_date = Some(grant.awarded_on)
            .filter(|day| day.is_known())
            .or_else(|| {
                grant
                    .tranches
                    .iter()
                    .map(|tranche| tranche.paid_on)
                    .find(|day| day.is_known())
            })
            .map(|day| day.render())
            .or_else(|| round.map(|round| round.applications_close_on.render()))
            .unwrap_or_default();
        let summary = applications
            .get(&grant.application_id)
            .map(|application| application.summary.as_str())
            .filter(|summary| !summary.is_empty())
            .unwrap_or(&grant.title);
        let fund_id = round.map(|round| round.fund_id.as_str()).unwrap_or("");
        let registration_no = registration_of_id
            .get(grant.organisation_id.as_str())
            .copied()
            .unwrap_or("");
        records.push(
            GrantRecord {
                id: format!("{PUBLISHER_PREFIX}-grant-{}", grant.grant_id),
                title: grant.title.clone(),
                description: summary.to_owned(),
                amount_awarded_fen: grant.amount_fen,
                amount_disbursed_fen: grant.disbursed_fen,
                award_date,
                recipient: (
                    organisation_identifier(registration_no, "org", &grant.organisation_id),
                    grant.organisation_name.clone(),
                ),
                funder: fund_funder(fund_id),
                programme: (
                    grant.round_id.clone(),
                    round.map(|round| round.name.clone()).unwrap_or_default(),
                ),
                beneficiary_location: None,
                planned_dates: Some((calendar.starts_on.render(), String::new())),
                actual_dates: calendar
                    .ended_on
                    .is_known()
                    .then(|| (calendar.starts_on.render(), calendar.ended_on.render())),
            }
            .write(),
        );
    }

    let special_funds: Vec<String> = projections
        .fund_balances()
        .into_iter()
        .filter(|fund| fund.kind == "special_support")
        .map(|fund| fund.fund_id)
        .collect();
    for_each_page(
        projections.expenditures_count(),
        |offset, limit| projections.expenditures(offset, limit),
        |expenditure| {
            let programme = SPECIAL_SUPPORT_GRANT_CATEGORIES
                .iter()
                .find(|(category, _)| *category == expenditure.category);
            let net_fen = expenditure.amount_fen - expenditure.reversed_fen;
            let to_an_organisation =
                matches!(expenditure.payee_kind.as_str(), "organisation" | "company");
            let (Some((category, programme_title)), true, true, true) = (
                programme,
                special_funds.contains(&expenditure.fund_id),
                to_an_organisation,
                net_fen > 0,
            ) else {
                return;
            };
            let view = expenditure_row(&expenditure, directory);
            let payee = public_payee(&expenditure.payee, &expenditure.payee_kind);
            let recipient_id = match organisation_of_name.get(expenditure.payee.as_str()) {
                Some(organisation) => organisation_identifier(
                    &organisation.registration_no,
                    "org",
                    &organisation.organisation_id,
                ),
                None => organisation_identifier("", "payee", &name_identifier(&payee)),
            };
            records.push(
                GrantRecord {
                    id: format!("{PUBLISHER_PREFIX}-award-{}", expenditure.expenditure_id),
                    title: expenditure.purpose.clone(),
                    description: format!(
                        "{programme_title}：{}（{}支付，凭证号 {}）",
                        expenditure.purpose, view.fund_name, expenditure.receipt_no
                    ),
                    amount_awarded_fen: net_fen,
                    amount_disbursed_fen: net_fen,
                    award_date: view.paid_on.clone(),
                    recipient: (recipient_id, payee),
                    funder: fund_funder(&expenditure.fund_id),
                    programme: (
                        format!("special-support-{category}"),
                        (*programme_title).to_owned(),
                    ),
                    beneficiary_location: None,
                    planned_dates: None,
                    actual_dates: None,
                }
                .write(),
            );
        },
    );

    let projects: HashMap<String, mingzhang_projections::ProjectView> = projections
        .projects()
        .into_iter()
        .map(|project| (project.project_id.clone(), project))
        .collect();
    for_each_page(
        projections.project_fundings_count(),
        |offset, limit| projections.project_fundings(offset, limit),
        |funding| {
            let project = projects
                .get(&funding.project_id)
                .expect("a funding's project is projected");
            let calendar = projections
                .project_disclosure_calendar(&project.project_id, every_record)
                .expect("a listed project has a calendar");
            let funder = match directory.credit(&funding.sponsor_id, false) {
                Credit::Named { donor_id, name } => {
                    (organisation_identifier("", "donor", &donor_id), name)
                }
                Credit::Anonymous => (
                    format!("{PUBLISHER_PREFIX}-anonymous"),
                    credit_label(&Credit::Anonymous).to_owned(),
                ),
            };
            let description = projections
                .project_description(&project.project_id)
                .filter(|description| !description.is_empty())
                .unwrap_or(&project.title);
            records.push(
                GrantRecord {
                    id: format!("{PUBLISHER_PREFIX}-funding-{}", funding.funding_id),
                    title: project.title.clone(),
                    description: description.to_owned(),
                    amount_awarded_fen: funding.amount_fen,
                    amount_disbursed_fen: funding.amount_fen,
                    award_date: funding.received_on.render(),
                    recipient: (
                        format!("{PUBLISHER_PREFIX}-fund-{}", project.fund_id),
                        directory.fund_name(&project.fund_id),
                    ),
                    funder,
                    programme: ("claimed-projects".to_owned(), "认领项目".to_owned()),
                    beneficiary_location: Some(project.community.clone()),
                    planned_dates: None,
                    actual_dates: calendar
                        .ended_on
                        .is_known()
                        .then(|| (calendar.starts_on.render(), calendar.ended_on.render())),
                }
                .write(),
            );
        },
    );

    format!("{{\"grants\":[{}]}}", records.join(","))
}

/// A name as an identifier, as the 360Giving guidance suggests for a
/// recipient with no account reference: spaces become dashes.
fn name_identifier(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join("-")
}

/// Every fund's movements, fund by fund (by fund id), each in date order
/// with its running balance; counterparties masked as on the fund page.
pub fn transactions_csv(projections: &Projections) -> String {
    let mut out = String::from(UTF8_BOM);
    row(
        &mut out,
        &[
            "fund_id",
            "seq",
            "date",
            "kind",
            "direction",
            "amount_cny",
            "balance_after_cny",
            "reference_id",
            "reversed_cny",
            "counterparty_kind",
            "counterparty_id",
            "counterparty",
        ],
    );
    for fund in projections.fund_balances() {
        let mut offset = 0;
        loop {
            let page = projections
                .fund_movements(
                    &fund.fund_id,
                    MovementFilter::default(),
                    None,
                    offset,
                    LIST_PAGE_MAX,
                )
                .expect("a listed fund exists");
            for movement in &page.movements {
                let counterparty = public_counterparty(&movement.counterparty, false);
                row(
                    &mut out,
                    &[
                        &fund.fund_id,
                        &movement.seq.to_string(),
                        &movement.date.render(),
                        movement.kind.name(),
                        movement.direction.name(),
                        &format_fen(movement.amount_fen),
                        &format_fen(movement.balance_after_fen),
                        &movement.reference_id,
                        &format_fen(movement.reversed_fen),
                        counterparty.kind,
                        &counterparty.id,
                        &counterparty.name,
                    ],
                );
            }
            match page.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    /// The grant schema's `$id`, by which the package schema refers to it.
    const GRANT_SCHEMA_ID: &str = "https://raw.githubusercontent.com/ThreeSixtyGiving/standard/1.4.2/schema/360-giving-schema.json";

    /// The vendored schema (api/tests/360giving/), its `$schema` written as
    /// JSON Schema 2020-12 names itself: the 360Giving files say `http://`,
    /// which the validator does not recognise.
    fn vendored(text: &str) -> Value {
        let mut schema: Value = serde_json::from_str(text).expect("the vendored schema is JSON");
        assert_eq!(
            schema["$schema"],
            "http://json-schema.org/draft/2020-12/schema"
        );
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
        schema
    }

    /// The 360Giving package schema, its grants checked by the grant schema
    /// (resolved to the vendored copy: nothing is fetched).
    fn package_validator() -> jsonschema::Validator {
        let grant = vendored(include_str!("../../tests/360giving/360-giving-schema.json"));
        assert_eq!(grant["$id"], GRANT_SCHEMA_ID);
        let package = vendored(include_str!(
            "../../tests/360giving/360-giving-package-schema.json"
        ));
        // 360Giving's dates are `oneOf` a date-time `format` and a pattern:
        // formats must be asserted (2020-12 only annotates them by default)
        // or every date matches both.
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .with_resource(
                GRANT_SCHEMA_ID,
                jsonschema::Draft::Draft202012.create_resource(grant),
            )
            .build(&package)
            .expect("the 360Giving schemas compile")
    }

    fn errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
        validator
            .iter_errors(document)
            .map(|error| format!("{error} at {}", error.instance_path))
            .collect()
    }

    fn demo_export() -> (String, Value) {
        let projections = crate::test_support::kaixuan_projections();
        let directory = Directory::build(&projections);
        let json = grants_360giving(&projections, &directory);
        let parsed = serde_json::from_str(&json).expect("the export is JSON");
        (json, parsed)
    }

    fn grant_with_id<'a>(document: &'a Value, id: &str) -> &'a Value {
        document["grants"]
            .as_array()
            .expect("grants")
            .iter()
            .find(|grant| grant["id"] == id)
            .unwrap_or_else(|| panic!("no grant {id}"))
    }

    #[test]
    fn the_demo_export_is_valid_against_the_360giving_schema() {
        let validator = package_validator();
        let (_, document) = demo_export();
        assert_eq!(errors(&validator, &document), Vec::<String>::new());
    }

    #[test]
    fn a_grant_missing_a_required_field_is_refused_by_the_schema() {
        let validator = package_validator();
        let (_, document) = demo_export();
        for field in [
            "id",
            "title",
            "description",
            "currency",
            "amountAwarded",
            "awardDate",
            "recipientOrganization",
            "fundingOrganization",
        ] {
            let mut broken = document.clone();
            broken["grants"][3]
                .as_object_mut()
                .expect("a grant")
                .remove(field);
            assert!(!validator.is_valid(&broken), "{field} is required");
        }
        let mut no_grants = document.clone();
        no_grants["grants"] = serde_json::json!([]);
        assert!(!validator.is_valid(&no_grants));
        let mut bad_date = document;
        bad_date["grants"][0]["awardDate"] = "28/04/2016".into();
        assert!(!validator.is_valid(&bad_date));
    }

    #[test]
    fn micro_venture_grants_carry_the_application_the_round_and_what_was_paid() {
        let (json, document) = demo_export();
        let grant = grant_with_id(&document, "360G-mingzhang-grant-grant-mv2016-000");
        assert_eq!(grant["title"], "社工服务中心2016年度社区服务项目");
        assert_eq!(grant["description"], "面向辖区居民的年度公益服务");
        // The demo's registration numbers have the 统一社会信用代码's shape.
        assert_eq!(
            grant["recipientOrganization"][0]["id"],
            "CN-USC-52330104MJ00010000"
        );
        assert_eq!(
            grant["recipientOrganization"][0]["name"],
            "凯益荟·社工服务中心"
        );
        assert_eq!(grant["grantProgramme"][0]["code"], "mv-2016");
        assert_eq!(grant["awardDate"], "2016-04-28");
        assert_eq!(grant["plannedDates"][0]["startDate"], "2016-04-28");
        assert!(json.contains("\"amountAwarded\":30000.00,\"amountDisbursed\":30000.00"));
        // The grant closed after its failed evaluation: 60% paid, ended 2016-12-31.
        let closed = grant_with_id(&document, "360G-mingzhang-grant-grant-mv2016-025");
        assert_eq!(closed["actualDates"][0]["endDate"], "2016-12-31");
        assert!(json.contains("\"id\":\"360G-mingzhang-grant-grant-mv2016-025\",\"title\""));
        assert!(!json.contains("XI-MINGZHANG"));
    }

    #[test]
    fn special_support_awards_and_claimed_project_fundings_are_grants_too() {
        let (_, document) = demo_export();
        let grants = document["grants"].as_array().unwrap();
        let with_prefix = |prefix: &str| {
            grants
                .iter()
                .filter(|grant| grant["id"].as_str().unwrap().starts_with(prefix))
                .count()
        };
        assert_eq!(with_prefix("360G-mingzhang-grant-"), 26);
        // Two one-off supports and one award for excellence; the purchases
        // of services are contracts, the private lecturer a person.
        assert_eq!(with_prefix("360G-mingzhang-award-"), 3);
        assert_eq!(with_prefix("360G-mingzhang-funding-"), 9);
        let award = grant_with_id(&document, "360G-mingzhang-award-exp-special-4");
        assert_eq!(award["title"], "奖励优秀：年度优秀社会组织");
        assert_eq!(award["grantProgramme"][0]["title"], "专项扶持基金·奖励优秀");
        assert_eq!(award["amountAwarded"], serde_json::json!(20000.0));
        assert!(
            award["recipientOrganization"][0]["id"]
                .as_str()
                .unwrap()
                .starts_with("CN-USC-")
        );
        let funding = grant_with_id(&document, "360G-mingzhang-funding-funding-pd2015-00");
        assert_eq!(funding["title"], "老旧小区加装扶手");
        assert_eq!(
            funding["description"],
            "2015年上半年居民需求调查 · 老旧小区加装扶手"
        );
        assert_eq!(funding["beneficiaryLocation"][0]["name"], "凯旋社区");
        assert_eq!(funding["actualDates"][0]["endDate"], "2015-12-20");
        assert!(
            funding["fundingOrganization"][0]["id"]
                .as_str()
                .unwrap()
                .starts_with("360G-mingzhang-donor-unit-")
        );
        let text = document.to_string();
        assert!(
            !text.contains("刘志强") && !text.contains("陈秀英"),
            "private persons never appear"
        );
    }

    #[test]
    fn organisation_ids_use_the_credit_code_only_where_it_has_the_codes_shape() {
        assert_eq!(
            organisation_identifier("91330104MA2B3C4D5E", "org", "org-1"),
            "CN-USC-91330104MA2B3C4D5E"
        );
        // Too short, or a letter the code never uses (O, I, Z, S, V).
        assert_eq!(
            organisation_identifier("浙民证字第123号", "org", "org-1"),
            "360G-mingzhang-org-org-1"
        );
        assert_eq!(
            organisation_identifier("91330104MA2B3C4D5O", "org", "org-1"),
            "360G-mingzhang-org-org-1"
        );
        assert_eq!(
            organisation_identifier("", "donor", "unit-01"),
            "360G-mingzhang-donor-unit-01"
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-5"), "'-5");
    }
}
