//! JSON command bodies and their translation into ledger commands. A command IS
//! the event its issuer wants recorded; derived fields stay 0 for `decide` to
//! fill. JSON field names are the proto names with `_fen` dropped, because
//! JSON amounts are decimal CNY strings, not fen.
//!
//! **Invariant:** nothing here checks a business rule; only shape and units.

use mingzhang_proto::v1 as pb;
use pb::event_envelope::Event;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::AppError;
use crate::money::parse_amount_fen;

/// A JSON body that becomes one ledger command. `path_id` is the `{id}` of the
/// route, empty for routes without one.
pub trait CommandBody: serde::de::DeserializeOwned + Send + 'static {
    /// The event this body asks for (`auth::event_name`), known before the
    /// body is read, so a role that may not issue it is refused first.
    const EVENT: &'static str;

    fn into_event(self, path_id: String) -> Result<Event, AppError>;
}

/// How an amount looks in JSON, for the OpenAPI document: the parser
/// (`parse_amount_fen`) is the authority; this only describes it.
struct AmountSchema;

impl JsonSchema for AmountSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": crate::money::AMOUNT_TEXT_LEN_MAX,
            "pattern": crate::money::AMOUNT_PATTERN,
            "description": "CNY as a decimal string with digits on both sides of any point, greater than 0 and at most 100000000000.00, at most 2 decimals (trailing zeros aside): \"1234.56\"",
            "examples": ["1234.56"],
        })
    }
}

/// Declares the schema of a field the server checks by rule (the rule is the
/// authority; this only describes it).
macro_rules! string_schema {
    ($name:ident, $schema_name:literal, $schema:tt) => {
        struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $schema_name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

// The ledger's `check_id`: 1 to 64 of A-Z a-z 0-9 . _ : -
string_schema!(IdSchema, "Id", {
    "type": "string",
    "pattern": "^[A-Za-z0-9._:-]{1,64}$",
});
string_schema!(OptionalIdSchema, "OptionalId", {
    "type": "string",
    "pattern": "^([A-Za-z0-9._:-]{1,64})?$",
    "description": "an id, or empty (the same as omitted) for none",
    "default": "",
});
// The ledger's `check_date`: a calendar date YYYY-MM-DD in the years
// 1900..=2999 (`format: date` rules out February 30th).
const DATE_PATTERN: &str = "^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
string_schema!(DateSchema, "Date", {
    "type": "string",
    "format": "date",
    "pattern": DATE_PATTERN,
});
string_schema!(OptionalDateSchema, "OptionalDate", {
    "type": "string",
    "anyOf": [{"const": ""}, {"format": "date", "pattern": DATE_PATTERN}],
    "description": "a calendar date YYYY-MM-DD, or empty (the same as omitted) for none",
    "default": "",
});

// The ledger's `check_text`: no control characters (line breaks and tabs
// only in multi-line texts) nor bidirectional overrides and isolates; a
// required text holds something besides white space (Rust's `trim`);
// names are at most 200 characters, texts 4000.
macro_rules! forbidden {
    (single_line) => {
        "\\x00-\\x1F\\x7F-\\x9F\\u202A-\\u202E\\u2066-\\u2069"
    };
    (multi_line) => {
        "\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F\\u202A-\\u202E\\u2066-\\u2069"
    };
}
/// What `str::trim` removes: Unicode White_Space.
macro_rules! white_space {
    () => {
        "\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000"
    };
}
string_schema!(NameSchema, "Name", {
    "type": "string",
    "minLength": 1,
    "maxLength": mingzhang_ledger::decide::NAME_LEN_MAX,
    "pattern": concat!("^[^", forbidden!(single_line), "]*[^", forbidden!(single_line), white_space!(), "][^", forbidden!(single_line), "]*$"),
    "description": "one line of text, not blank, at most 200 characters; no control or bidirectional-override characters",
});
string_schema!(OptionalNameSchema, "OptionalName", {
    "type": "string",
    "maxLength": mingzhang_ledger::decide::NAME_LEN_MAX,
    "pattern": concat!("^[^", forbidden!(single_line), "]*$"),
    "description": "one line of text, at most 200 characters; no control or bidirectional-override characters",
    "default": "",
});
string_schema!(TextSchema, "Text", {
    "type": "string",
    "minLength": 1,
    "maxLength": mingzhang_ledger::decide::TEXT_LEN_MAX,
    "pattern": concat!("^[^", forbidden!(multi_line), "]*[^", forbidden!(multi_line), white_space!(), "][^", forbidden!(multi_line), "]*$"),
    "description": "text, not blank, at most 4000 characters; line breaks and tabs allowed, other control or bidirectional-override characters not",
});
string_schema!(OptionalTextSchema, "OptionalText", {
    "type": "string",
    "maxLength": mingzhang_ledger::decide::TEXT_LEN_MAX,
    "pattern": concat!("^[^", forbidden!(multi_line), "]*$"),
    "description": "text, at most 4000 characters; line breaks and tabs allowed, other control or bidirectional-override characters not",
    "default": "",
});
// The ledger's `check_period`.
string_schema!(HalfYearSchema, "HalfYear", {
    "type": "string",
    "pattern": "^[0-9]{4}-H[12]$",
    "examples": ["2016-H1"],
});
string_schema!(OptionalHalfYearSchema, "OptionalHalfYear", {
    "type": "string",
    "pattern": "^([0-9]{4}-H[12])?$",
    "default": "",
});
string_schema!(QuarterSchema, "Quarter", {
    "type": "string",
    "pattern": "^[0-9]{4}-Q[1-4]$",
    "examples": ["2016-Q3"],
});
string_schema!(Sha256Schema, "Sha256", {
    "type": "string",
    "pattern": "^[0-9A-Fa-f]{64}$",
    "description": "a SHA-256 digest as 64 hex digits",
});
string_schema!(ScoreSchema, "Score", {
    "type": "integer",
    "minimum": 0,
    "maximum": 100,
});
string_schema!(CampaignYearSchema, "Year", {
    "type": "integer",
    "minimum": 1900,
    "maximum": 2999,
});
// A yearly target's year: the campaign's first year onwards, one a target.
string_schema!(TargetYearSchema, "TargetYear", {
    "type": "integer",
    "minimum": 1900,
    "maximum": 2999 + mingzhang_ledger::decide::CAMPAIGN_YEARS_MAX - 1,
    "description": "the first year, then each following one in turn",
});

fn amount(field: &str, text: &str) -> Result<i64, AppError> {
    parse_amount_fen(field, text)
}

fn sha256_hex(field: &str, text: &str) -> Result<Vec<u8>, AppError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match hex::decode(text) {
        Ok(bytes) if bytes.len() == 32 => Ok(bytes),
        _ => Err(AppError::invalid(
            field,
            "sha256_not_hex",
            format!("`{field}` must be 64 hex digits (a SHA-256)"),
        )),
    }
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FundKindJson {
    Unrestricted,
    Restricted,
    SpecialSupport,
}

impl From<FundKindJson> for pb::FundKind {
    fn from(kind: FundKindJson) -> pb::FundKind {
        match kind {
            FundKindJson::Unrestricted => pb::FundKind::Unrestricted,
            FundKindJson::Restricted => pb::FundKind::Restricted,
            FundKindJson::SpecialSupport => pb::FundKind::SpecialSupport,
        }
    }
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum DonorKindJson {
    Enterprise,
    Individual,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ChannelJson {
    BankTransfer,
    Cash,
    Online,
}

fn channel(channel: Option<ChannelJson>) -> i32 {
    (match channel {
        None => pb::Channel::Unspecified,
        Some(ChannelJson::BankTransfer) => pb::Channel::BankTransfer,
        Some(ChannelJson::Cash) => pb::Channel::Cash,
        Some(ChannelJson::Online) => pb::Channel::Online,
    }) as i32
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum NeedKindJson {
    MicroWish,
    MicroCharity,
    Service,
    Livelihood,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum PayeeKindJson {
    Organisation,
    Company,
    Person,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum CategoryJson {
    OneOffSupport,
    PurchaseOfServices,
    AwardForExcellence,
    ProjectDelivery,
    Operations,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenFund {
    #[schemars(with = "IdSchema")]
    pub fund_id: String,
    #[schemars(with = "NameSchema")]
    pub name: String,
    pub kind: FundKindJson,
    #[serde(default)]
    #[schemars(with = "OptionalTextSchema")]
    pub restriction: String,
}

impl CommandBody for OpenFund {
    const EVENT: &'static str = "FundOpened";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::FundOpened(pb::FundOpened {
            fund_id: self.fund_id,
            name: self.name,
            kind: pb::FundKind::from(self.kind) as i32,
            restriction: self.restriction,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YearlyTargetJson {
    #[schemars(with = "TargetYearSchema")]
    #[serde(deserialize_with = "super::json::integral")]
    pub year: i32,
    #[schemars(with = "AmountSchema")]
    pub target: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCampaign {
    #[schemars(with = "IdSchema")]
    pub campaign_id: String,
    #[schemars(with = "NameSchema")]
    pub name: String,
    #[schemars(with = "IdSchema")]
    pub fund_id: String,
    #[schemars(with = "AmountSchema")]
    pub total_target: String,
    #[schemars(with = "CampaignYearSchema")]
    #[serde(deserialize_with = "super::json::integral")]
    pub first_year: i32,
    #[schemars(length(min = 1, max = mingzhang_ledger::decide::CAMPAIGN_YEARS_MAX))]
    pub yearly_targets: Vec<YearlyTargetJson>,
}

impl CommandBody for OpenCampaign {
    const EVENT: &'static str = "CampaignOpened";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        let mut yearly_targets = Vec::with_capacity(self.yearly_targets.len());
        for (index, target) in self.yearly_targets.into_iter().enumerate() {
            yearly_targets.push(pb::YearlyTarget {
                year: target.year,
                target_fen: amount(&format!("yearly_targets[{index}].target"), &target.target)?,
            });
        }
        Ok(Event::CampaignOpened(pb::CampaignOpened {
            campaign_id: self.campaign_id,
            name: self.name,
            fund_id: self.fund_id,
            total_target_fen: amount("total_target", &self.total_target)?,
            first_year: self.first_year,
            yearly_targets,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDonor {
    #[schemars(with = "IdSchema")]
    pub donor_id: String,
    #[schemars(with = "NameSchema")]
    pub name: String,
    pub kind: DonorKindJson,
    #[serde(default)]
    pub alliance_member: bool,
    #[serde(default)]
    pub show_name_publicly: bool,
}

impl CommandBody for RegisterDonor {
    const EVENT: &'static str = "DonorRegistered";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::DonorRegistered(pb::DonorRegistered {
            donor_id: self.donor_id,
            name: self.name,
            kind: (match self.kind {
                DonorKindJson::Enterprise => pb::DonorKind::Enterprise,
                DonorKindJson::Individual => pb::DonorKind::Individual,
            }) as i32,
            alliance_member: self.alliance_member,
            show_name_publicly: self.show_name_publicly,
            name_commitment: Default::default(),
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterOrganisation {
    #[schemars(with = "IdSchema")]
    pub organisation_id: String,
    #[schemars(with = "NameSchema")]
    pub name: String,
    #[serde(default)]
    #[schemars(with = "OptionalNameSchema")]
    pub registration_no: String,
}

impl CommandBody for RegisterOrganisation {
    const EVENT: &'static str = "OrganisationRegistered";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::OrganisationRegistered(pb::OrganisationRegistered {
            organisation_id: self.organisation_id,
            name: self.name,
            registration_no: self.registration_no,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveDonation {
    #[schemars(with = "IdSchema")]
    pub donation_id: String,
    #[serde(default)]
    #[schemars(with = "OptionalIdSchema")]
    pub donor_id: String,
    #[schemars(with = "IdSchema")]
    pub fund_id: String,
    #[serde(default)]
    #[schemars(with = "OptionalIdSchema")]
    pub campaign_id: String,
    #[serde(default)]
    #[schemars(with = "OptionalIdSchema")]
    pub project_id: String,
    #[schemars(with = "AmountSchema")]
    pub amount: String,
    pub channel: ChannelJson,
    #[serde(default)]
    #[schemars(with = "OptionalNameSchema")]
    pub bank_reference: String,
    #[serde(default)]
    pub anonymous: bool,
    #[schemars(with = "DateSchema")]
    pub received_on: String,
}

impl CommandBody for ReceiveDonation {
    const EVENT: &'static str = "DonationReceived";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::DonationReceived(pb::DonationReceived {
            donation_id: self.donation_id,
            donor_id: self.donor_id,
            fund_id: self.fund_id,
            campaign_id: self.campaign_id,
            project_id: self.project_id,
            amount_fen: amount("amount", &self.amount)?,
            channel: channel(Some(self.channel)),
            bank_reference: self.bank_reference,
            anonymous: self.anonymous,
            received_on: self.received_on,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundDonation {
    #[schemars(with = "IdSchema")]
    pub refund_id: String,
    #[schemars(with = "AmountSchema")]
    pub amount: String,
    #[schemars(with = "TextSchema")]
    pub reason: String,
}

impl CommandBody for RefundDonation {
    const EVENT: &'static str = "DonationRefunded";

    fn into_event(self, donation_id: String) -> Result<Event, AppError> {
        Ok(Event::DonationRefunded(pb::DonationRefunded {
            refund_id: self.refund_id,
            donation_id,
            amount_fen: amount("amount", &self.amount)?,
            reason: self.reason,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    #[schemars(with = "TextSchema")]
    pub reason: String,
}

pub struct ReverseDonation(pub Reason);
pub struct CancelPledge(pub Reason);
pub struct CloseGrant(pub Reason);
pub struct ReverseExpenditure(pub Reason);

macro_rules! reason_command {
    ($name:ident, $kind:literal, |$id:ident, $reason:ident| $event:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Reason::deserialize(d).map($name)
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                Reason::schema_name()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                Reason::json_schema(generator)
            }
        }
        impl CommandBody for $name {
            const EVENT: &'static str = $kind;

            fn into_event(self, $id: String) -> Result<Event, AppError> {
                let $reason = self.0.reason;
                Ok($event)
            }
        }
    };
}

reason_command!(
    ReverseDonation,
    "DonationReversed",
    |donation_id, reason| {
        Event::DonationReversed(pb::DonationReversed {
            donation_id,
            amount_fen: 0,
            reason,
        })
    }
);
reason_command!(CancelPledge, "PledgeCancelled", |pledge_id, reason| {
    Event::PledgeCancelled(pb::PledgeCancelled {
        pledge_id,
        cancelled_fen: 0,
        reason,
    })
});
reason_command!(CloseGrant, "GrantClosed", |grant_id, reason| {
    Event::GrantClosed(pb::GrantClosed {
        grant_id,
        disbursed_fen: 0,
        returned_fen: 0,
        reason,
    })
});
reason_command!(
    ReverseExpenditure,
    "ExpenditureReversed",
    |expenditure_id, reason| {
        Event::ExpenditureReversed(pb::ExpenditureReversed {
            expenditure_id,
            amount_fen: 0,
            reason,
        })
    }
);

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalmentJson {
    #[schemars(with = "DateSchema")]
    pub due_on: String,
    #[schemars(with = "AmountSchema")]
    pub amount: String,
}

fn instalments(list: Vec<InstalmentJson>) -> Result<Vec<pb::Instalment>, AppError> {
    list.into_iter()
        .enumerate()
        .map(|(index, instalment)| {
            Ok(pb::Instalment {
                due_on: instalment.due_on,
                amount_fen: amount(&format!("instalments[{index}].amount"), &instalment.amount)?,
            })
        })
        .collect()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MakePledge {
    #[schemars(with = "IdSchema")]
    pub pledge_id: String,
    #[schemars(with = "IdSchema")]
    pub donor_id: String,
    #[serde(default)]
    #[schemars(with = "OptionalIdSchema")]
    pub campaign_id: String,
    #[schemars(with = "IdSchema")]
    pub fund_id: String,
    #[schemars(with = "AmountSchema")]
    pub total: String,
    #[schemars(length(min = 1, max = mingzhang_ledger::decide::INSTALMENTS_MAX))]
    pub instalments: Vec<InstalmentJson>,
}

impl CommandBody for MakePledge {
    const EVENT: &'static str = "PledgeMade";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::PledgeMade(pb::PledgeMade {
            pledge_id: self.pledge_id,
            donor_id: self.donor_id,
            campaign_id: self.campaign_id,
            fund_id: self.fund_id,
            total_fen: amount("total", &self.total)?,
            instalments: instalments(self.instalments)?,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivePledgePayment {
    #[schemars(with = "IdSchema")]
    pub payment_id: String,
    #[schemars(with = "AmountSchema")]
    pub amount: String,
    pub channel: ChannelJson,
    #[serde(default)]
    #[schemars(with = "OptionalNameSchema")]
    pub bank_reference: String,
    #[schemars(with = "DateSchema")]
    pub received_on: String,
}

impl CommandBody for ReceivePledgePayment {
    const EVENT: &'static str = "PledgePaymentReceived";

    fn into_event(self, pledge_id: String) -> Result<Event, AppError> {
        Ok(Event::PledgePaymentReceived(pb::PledgePaymentReceived {
            payment_id: self.payment_id,
            pledge_id,
            amount_fen: amount("amount", &self.amount)?,
            channel: channel(Some(self.channel)),
            bank_reference: self.bank_reference,
            received_on: self.received_on,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendPledge {
    #[schemars(with = "AmountSchema")]
    pub new_total: String,
    #[schemars(length(min = 1, max = mingzhang_ledger::decide::INSTALMENTS_MAX))]
    pub instalments: Vec<InstalmentJson>,
    #[schemars(with = "TextSchema")]
    pub reason: String,
}

impl CommandBody for AmendPledge {
    const EVENT: &'static str = "PledgeAmended";

    fn into_event(self, pledge_id: String) -> Result<Event, AppError> {
        Ok(Event::PledgeAmended(pb::PledgeAmended {
            pledge_id,
            new_total_fen: amount("new_total", &self.new_total)?,
            instalments: instalments(self.instalments)?,
            reason: self.reason,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenGrantRound {
    #[schemars(with = "IdSchema")]
    pub round_id: String,
    #[schemars(with = "IdSchema")]
    pub fund_id: String,
    #[schemars(with = "NameSchema")]
    pub name: String,
    #[schemars(with = "AmountSchema")]
    pub budget: String,
    #[schemars(with = "DateSchema")]
    pub applications_open_on: String,
    #[schemars(with = "DateSchema")]
    pub applications_close_on: String,
}

impl CommandBody for OpenGrantRound {
    const EVENT: &'static str = "GrantRoundOpened";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::GrantRoundOpened(pb::GrantRoundOpened {
            round_id: self.round_id,
            fund_id: self.fund_id,
            name: self.name,
            budget_fen: amount("budget", &self.budget)?,
            applications_open_on: self.applications_open_on,
            applications_close_on: self.applications_close_on,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitApplication {
    #[schemars(with = "IdSchema")]
    pub application_id: String,
    #[schemars(with = "IdSchema")]
    pub organisation_id: String,
    #[schemars(with = "NameSchema")]
    pub title: String,
    #[serde(default)]
    #[schemars(with = "OptionalTextSchema")]
    pub summary: String,
    #[schemars(with = "AmountSchema")]
    pub requested: String,
    #[schemars(with = "DateSchema")]
    pub submitted_on: String,
}

impl CommandBody for SubmitApplication {
    const EVENT: &'static str = "GrantApplicationSubmitted";

    fn into_event(self, round_id: String) -> Result<Event, AppError> {
        Ok(Event::GrantApplicationSubmitted(
            pb::GrantApplicationSubmitted {
                application_id: self.application_id,
                round_id,
                organisation_id: self.organisation_id,
                title: self.title,
                summary: self.summary,
                requested_fen: amount("requested", &self.requested)?,
                submitted_on: self.submitted_on,
            },
        ))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewApplication {
    #[schemars(with = "NameSchema")]
    pub reviewer: String,
    #[schemars(with = "ScoreSchema")]
    #[serde(deserialize_with = "super::json::integral")]
    pub score: i32,
    #[serde(default)]
    #[schemars(with = "OptionalTextSchema")]
    pub notes: String,
}

impl CommandBody for ReviewApplication {
    const EVENT: &'static str = "GrantApplicationReviewed";

    fn into_event(self, application_id: String) -> Result<Event, AppError> {
        Ok(Event::GrantApplicationReviewed(
            pb::GrantApplicationReviewed {
                application_id,
                reviewer: self.reviewer,
                score: self.score,
                notes: self.notes,
            },
        ))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shortlist {}

impl CommandBody for Shortlist {
    const EVENT: &'static str = "GrantApplicationShortlisted";

    fn into_event(self, application_id: String) -> Result<Event, AppError> {
        Ok(Event::GrantApplicationShortlisted(
            pb::GrantApplicationShortlisted { application_id },
        ))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrancheJson {
    #[schemars(with = "AmountSchema")]
    pub amount: String,
    #[serde(default)]
    pub requires_evaluation: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardGrant {
    #[schemars(with = "IdSchema")]
    pub grant_id: String,
    #[schemars(with = "IdSchema")]
    pub application_id: String,
    #[schemars(with = "AmountSchema")]
    pub amount: String,
    #[schemars(length(min = 1, max = mingzhang_ledger::decide::TRANCHES_MAX))]
    pub tranches: Vec<TrancheJson>,
    /// The date of the award decision, YYYY-MM-DD.
    #[serde(default)]
    #[schemars(with = "OptionalDateSchema")]
    pub awarded_on: String,
}

impl CommandBody for AwardGrant {
    const EVENT: &'static str = "GrantAwarded";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        let mut tranches = Vec::with_capacity(self.tranches.len());
        for (index, tranche) in self.tranches.into_iter().enumerate() {
            tranches.push(pb::Tranche {
                amount_fen: amount(&format!("tranches[{index}].amount"), &tranche.amount)?,
                requires_evaluation: tranche.requires_evaluation,
            });
        }
        Ok(Event::GrantAwarded(pb::GrantAwarded {
            grant_id: self.grant_id,
            application_id: self.application_id,
            amount_fen: amount("amount", &self.amount)?,
            tranches,
            awarded_on: self.awarded_on,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisburseTranche {
    #[serde(deserialize_with = "super::json::integral")]
    pub tranche_index: u32,
    #[schemars(with = "DateSchema")]
    pub paid_on: String,
    #[serde(default)]
    #[schemars(with = "OptionalNameSchema")]
    pub bank_reference: String,
}

impl CommandBody for DisburseTranche {
    const EVENT: &'static str = "GrantTrancheDisbursed";

    fn into_event(self, grant_id: String) -> Result<Event, AppError> {
        Ok(Event::GrantTrancheDisbursed(pb::GrantTrancheDisbursed {
            grant_id,
            tranche_index: self.tranche_index,
            amount_fen: 0,
            paid_on: self.paid_on,
            bank_reference: self.bank_reference,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordEvaluation {
    #[schemars(with = "IdSchema")]
    pub evaluation_id: String,
    #[schemars(with = "HalfYearSchema")]
    pub period: String,
    #[schemars(with = "NameSchema")]
    pub evaluator: String,
    #[schemars(with = "ScoreSchema")]
    #[serde(deserialize_with = "super::json::integral")]
    pub score: i32,
    pub passed: bool,
}

impl CommandBody for RecordEvaluation {
    const EVENT: &'static str = "GrantEvaluationRecorded";

    fn into_event(self, grant_id: String) -> Result<Event, AppError> {
        Ok(Event::GrantEvaluationRecorded(
            pb::GrantEvaluationRecorded {
                evaluation_id: self.evaluation_id,
                grant_id,
                period: self.period,
                evaluator: self.evaluator,
                score: self.score,
                passed: self.passed,
            },
        ))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSelfAssessment {
    #[schemars(with = "QuarterSchema")]
    pub quarter: String,
    /// SHA-256 of the report kept off-log, as 64 hex digits.
    #[schemars(with = "Sha256Schema")]
    pub report_sha256: String,
    #[serde(default)]
    #[schemars(with = "OptionalTextSchema")]
    pub summary: String,
}

impl CommandBody for FileSelfAssessment {
    const EVENT: &'static str = "GrantSelfAssessmentFiled";

    fn into_event(self, grant_id: String) -> Result<Event, AppError> {
        Ok(Event::GrantSelfAssessmentFiled(
            pb::GrantSelfAssessmentFiled {
                grant_id,
                quarter: self.quarter,
                report_sha256: sha256_hex("report_sha256", &self.report_sha256)?,
                summary: self.summary,
            },
        ))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishProject {
    #[schemars(with = "IdSchema")]
    pub project_id: String,
    #[schemars(with = "NameSchema")]
    pub title: String,
    #[serde(default)]
    #[schemars(with = "OptionalTextSchema")]
    pub description: String,
    pub need_kind: NeedKindJson,
    #[schemars(with = "NameSchema")]
    pub community: String,
    #[serde(default)]
    #[schemars(with = "OptionalHalfYearSchema")]
    pub survey: String,
    #[schemars(with = "AmountSchema")]
    pub budget: String,
    #[schemars(with = "IdSchema")]
    pub fund_id: String,
}

impl CommandBody for PublishProject {
    const EVENT: &'static str = "ProjectPublished";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::ProjectPublished(pb::ProjectPublished {
            project_id: self.project_id,
            title: self.title,
            description: self.description,
            need_kind: (match self.need_kind {
                NeedKindJson::MicroWish => pb::NeedKind::MicroWish,
                NeedKindJson::MicroCharity => pb::NeedKind::MicroCharity,
                NeedKindJson::Service => pb::NeedKind::Service,
                NeedKindJson::Livelihood => pb::NeedKind::Livelihood,
            }) as i32,
            community: self.community,
            survey: self.survey,
            budget_fen: amount("budget", &self.budget)?,
            fund_id: self.fund_id,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimProject {
    #[schemars(with = "IdSchema")]
    pub sponsor_id: String,
}

impl CommandBody for ClaimProject {
    const EVENT: &'static str = "ProjectClaimed";

    fn into_event(self, project_id: String) -> Result<Event, AppError> {
        Ok(Event::ProjectClaimed(pb::ProjectClaimed {
            project_id,
            sponsor_id: self.sponsor_id,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseClaim {
    #[schemars(with = "IdSchema")]
    pub sponsor_id: String,
    #[schemars(with = "TextSchema")]
    pub reason: String,
}

impl CommandBody for ReleaseClaim {
    const EVENT: &'static str = "ProjectClaimReleased";

    fn into_event(self, project_id: String) -> Result<Event, AppError> {
        Ok(Event::ProjectClaimReleased(pb::ProjectClaimReleased {
            project_id,
            sponsor_id: self.sponsor_id,
            reason: self.reason,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FundProject {
    #[schemars(with = "IdSchema")]
    pub funding_id: String,
    #[schemars(with = "IdSchema")]
    pub sponsor_id: String,
    #[schemars(with = "AmountSchema")]
    pub amount: String,
    pub channel: ChannelJson,
    #[serde(default)]
    #[schemars(with = "OptionalNameSchema")]
    pub bank_reference: String,
    #[schemars(with = "DateSchema")]
    pub received_on: String,
}

impl CommandBody for FundProject {
    const EVENT: &'static str = "ProjectFunded";

    fn into_event(self, project_id: String) -> Result<Event, AppError> {
        Ok(Event::ProjectFunded(pb::ProjectFunded {
            funding_id: self.funding_id,
            project_id,
            sponsor_id: self.sponsor_id,
            amount_fen: amount("amount", &self.amount)?,
            channel: channel(Some(self.channel)),
            bank_reference: self.bank_reference,
            received_on: self.received_on,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteProject {
    #[schemars(with = "Sha256Schema")]
    pub report_sha256: String,
    #[schemars(with = "TextSchema")]
    pub summary: String,
    #[schemars(with = "DateSchema")]
    pub completed_on: String,
}

impl CommandBody for CompleteProject {
    const EVENT: &'static str = "ProjectCompleted";

    fn into_event(self, project_id: String) -> Result<Event, AppError> {
        Ok(Event::ProjectCompleted(pb::ProjectCompleted {
            project_id,
            report_sha256: sha256_hex("report_sha256", &self.report_sha256)?,
            summary: self.summary,
            completed_on: self.completed_on,
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeExpenditure {
    #[schemars(with = "IdSchema")]
    pub expenditure_id: String,
    #[schemars(with = "IdSchema")]
    pub fund_id: String,
    #[serde(default)]
    #[schemars(with = "OptionalIdSchema")]
    pub project_id: String,
    #[schemars(with = "AmountSchema")]
    pub amount: String,
    #[schemars(with = "NameSchema")]
    pub payee: String,
    pub payee_kind: PayeeKindJson,
    #[schemars(with = "TextSchema")]
    pub purpose: String,
    pub category: CategoryJson,
    #[serde(default)]
    #[schemars(with = "OptionalNameSchema")]
    pub receipt_no: String,
    #[schemars(with = "DateSchema")]
    pub paid_on: String,
}

impl CommandBody for MakeExpenditure {
    const EVENT: &'static str = "ExpenditureMade";

    fn into_event(self, _: String) -> Result<Event, AppError> {
        Ok(Event::ExpenditureMade(pb::ExpenditureMade {
            expenditure_id: self.expenditure_id,
            fund_id: self.fund_id,
            project_id: self.project_id,
            amount_fen: amount("amount", &self.amount)?,
            payee: self.payee,
            payee_kind: (match self.payee_kind {
                PayeeKindJson::Organisation => pb::PayeeKind::Organisation,
                PayeeKindJson::Company => pb::PayeeKind::Company,
                PayeeKindJson::Person => pb::PayeeKind::Person,
            }) as i32,
            purpose: self.purpose,
            category: (match self.category {
                CategoryJson::OneOffSupport => pb::ExpenditureCategory::OneOffSupport,
                CategoryJson::PurchaseOfServices => pb::ExpenditureCategory::PurchaseOfServices,
                CategoryJson::AwardForExcellence => pb::ExpenditureCategory::AwardForExcellence,
                CategoryJson::ProjectDelivery => pb::ExpenditureCategory::ProjectDelivery,
                CategoryJson::Operations => pb::ExpenditureCategory::Operations,
            }) as i32,
            receipt_no: self.receipt_no,
            paid_on: self.paid_on,
            payee_commitment: Default::default(),
        }))
    }
}

/// PIPL Article 47: destroys an individual donor's name and its salt in the
/// side store and records `PersonalDataErased` (docs/proofs.md, "Personal data").
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasePersonalData {
    /// Why, e.g. "PIPL Art. 47 request of 2026-12-01".
    #[schemars(with = "TextSchema")]
    pub legal_basis: String,
    #[schemars(with = "DateSchema")]
    pub erased_on: String,
}

impl CommandBody for ErasePersonalData {
    const EVENT: &'static str = "PersonalDataErased";

    fn into_event(self, subject_id: String) -> Result<Event, AppError> {
        Ok(Event::PersonalDataErased(pb::PersonalDataErased {
            subject_id,
            legal_basis: self.legal_basis,
            erased_on: self.erased_on,
            subject_kind: pb::ErasedSubject::Donor as i32,
        }))
    }
}

/// PIPL Article 47 for a private payee: destroys the name an expenditure
/// paid to a person and its salt in the side store and records
/// `PersonalDataErased` naming the expenditure (docs/proofs.md, "Personal
/// data").
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasePayeeData {
    /// Why, e.g. "PIPL Art. 47 request of 2026-12-01".
    #[schemars(with = "TextSchema")]
    pub legal_basis: String,
    #[schemars(with = "DateSchema")]
    pub erased_on: String,
}

impl CommandBody for ErasePayeeData {
    const EVENT: &'static str = "PersonalDataErased";

    fn into_event(self, expenditure_id: String) -> Result<Event, AppError> {
        Ok(Event::PersonalDataErased(pb::PersonalDataErased {
            subject_id: expenditure_id,
            legal_basis: self.legal_basis,
            erased_on: self.erased_on,
            subject_kind: pb::ErasedSubject::Payee as i32,
        }))
    }
}
