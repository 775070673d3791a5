//! `decide(state, command) -> event`: the one place business rules live.
//!
//! A command is the event its issuer wants recorded. `decide` checks it against
//! the current state and every invariant of the domain, fills the fields that
//! are derived rather than chosen (a reversal's amount, a closed grant's
//! returned money, ...) and returns the event to append. A refused command
//! returns a `Rejection` naming the field and the rule, and nothing is written.
//! `decide` is pure: no clock, no I/O.

use mingzhang_proto::v1::{self, event_envelope::Event};

use crate::money::{AMOUNT_FEN_MAX, TOTAL_FEN_MAX, format_fen_grouped};
use crate::personal_data;
use crate::state::LedgerState;

/// How a caller should treat a refusal (HTTP status in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The command is malformed or breaks a rule (422).
    Invalid,
    /// It names something that does not exist (404).
    NotFound,
    /// It clashes with what exists: id taken, project already claimed (409).
    Conflict,
    /// The principal may not do this to someone else's pledge, grant or claim (403).
    Forbidden,
}

/// On whose behalf a command is decided. The API maps tokens to principals;
/// ownership is checked here, against the same state the rules read, so it
/// cannot race with the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Staff of the street office or foundation, and the CLI: may do everything.
    Operator,
    /// An enterprise or person acting for one registered donor.
    Donor(String),
    /// A social organisation acting for itself.
    Organisation(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} [{rule}]")]
pub struct Rejection {
    pub field: String,
    /// Stable snake_case rule name, e.g. `exceeds_available`.
    pub rule: &'static str,
    pub message: String,
    pub kind: RejectionKind,
}

pub const ID_LEN_MAX: usize = 64;
pub const NAME_LEN_MAX: usize = 200;
pub const TEXT_LEN_MAX: usize = 4000;
pub const INSTALMENTS_MAX: usize = 120;
pub const TRANCHES_MAX: usize = 12;
pub const CAMPAIGN_YEARS_MAX: usize = 20;

type Decided = Result<Event, Rejection>;

fn invalid(field: &str, rule: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        field: field.to_owned(),
        rule,
        message: message.into(),
        kind: RejectionKind::Invalid,
    }
}

fn not_found(field: &str, what: &str, id: &str) -> Rejection {
    Rejection {
        field: field.to_owned(),
        rule: "not_found",
        message: format!("no {what} with id {id:?}"),
        kind: RejectionKind::NotFound,
    }
}

fn conflict(field: &str, rule: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        field: field.to_owned(),
        rule,
        message: message.into(),
        kind: RejectionKind::Conflict,
    }
}

/// Whether a name and the id it belongs to pass the rules `decide` holds
/// them to: the API keeps only such a name in the side store of personal
/// data, and leaves any other in the command for `decide` to refuse.
pub fn check_personal_name(
    (id_field, id): (&str, &str),
    (name_field, name): (&str, &str),
) -> Result<(), Rejection> {
    check_id(id_field, id)?;
    check_text(name_field, name, true, NAME_LEN_MAX)
}

/// The bytes an id may hold, by value: a table, because the replay checks
/// some five ids a record (`chars().all` over them was 4% of its CPU).
/// Every allowed character is ASCII, so a byte of any other character fails.
static ID_BYTES: [bool; 256] = {
    let mut allowed = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        allowed[byte] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-');
        byte += 1;
    }
    allowed
};

/// An id's shape: 1 to 64 characters of A-Z a-z 0-9 . _ : -.
pub fn check_id(field: &str, id: &str) -> Result<(), Rejection> {
    if id.is_empty() {
        return Err(invalid(field, "required", "must not be empty"));
    }
    if id.len() > ID_LEN_MAX || !id.bytes().all(|byte| ID_BYTES[usize::from(byte)]) {
        return Err(invalid(
            field,
            "id_format",
            "must be 1 to 64 characters of A-Z a-z 0-9 . _ : -",
        ));
    }
    Ok(())
}

fn check_new_id(field: &str, id: &str, taken: bool) -> Result<(), Rejection> {
    check_id(field, id)?;
    if taken {
        return Err(conflict(
            field,
            "id_taken",
            format!("{id:?} is already used"),
        ));
    }
    Ok(())
}

fn check_existing<'a, T>(
    field: &str,
    what: &str,
    id: &str,
    map: &'a crate::id_map::IdMap<T>,
) -> Result<&'a T, Rejection> {
    check_id(field, id)?;
    map.get(id).ok_or_else(|| not_found(field, what, id))
}

/// Characters no text in the ledger may hold: control characters (NUL, ESC,
/// ...) and the bidirectional overrides and isolates (U+202A-U+202E,
/// U+2066-U+2069), which make a name read differently from what it is. Line
/// breaks and tabs are allowed in multi-line texts only.
fn is_forbidden_character(c: char, multi_line: bool) -> bool {
    if multi_line && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_text(field: &str, text: &str, required: bool, len_max: usize) -> Result<(), Rejection> {
    if required && text.trim().is_empty() {
        return Err(invalid(field, "required", "must not be empty"));
    }
    let multi_line = len_max == TEXT_LEN_MAX;
    if let Some(bad) = text
        .chars()
        .find(|c| is_forbidden_character(*c, multi_line))
    {
        return Err(invalid(
            field,
            "control_character",
            format!(
                "must not contain control or bidirectional-override characters (found U+{:04X})",
                bad as u32
            ),
        ));
    }
    if text.chars().count() > len_max {
        return Err(invalid(
            field,
            "text_too_long",
            format!("must be at most {len_max} characters"),
        ));
    }
    Ok(())
}

fn check_amount(field: &str, fen: i64) -> Result<(), Rejection> {
    if fen <= 0 {
        return Err(invalid(
            field,
            "amount_not_positive",
            "must be greater than zero",
        ));
    }
    if fen > AMOUNT_FEN_MAX {
        return Err(invalid(
            field,
            "amount_too_large",
            "exceeds the maximum of 100,000,000,000.00 CNY",
        ));
    }
    Ok(())
}

/// Refuses adding `fen` to a total already at `total_fen` if the sum would pass
/// `TOTAL_FEN_MAX`; `total` names the total (built only for the message).
fn check_total(
    field: &str,
    total_fen: i64,
    fen: i64,
    total: impl FnOnce() -> String,
) -> Result<(), Rejection> {
    debug_assert!(
        (0..=TOTAL_FEN_MAX).contains(&total_fen),
        "a total left its bound"
    );
    match total_fen.checked_add(fen) {
        Some(sum) if sum <= TOTAL_FEN_MAX => Ok(()),
        _ => Err(invalid(
            field,
            "total_out_of_range",
            format!(
                "would take {} past {} CNY",
                total(),
                format_fen_grouped(TOTAL_FEN_MAX)
            ),
        )),
    }
}

/// Money coming into `fund_id` (for `project_id`, when set) keeps every total
/// it adds to within `TOTAL_FEN_MAX`; the most specific one is named.
fn check_received(
    state: &LedgerState,
    field: &str,
    fund_id: &str,
    project_id: &str,
    fen: i64,
) -> Result<(), Rejection> {
    if !project_id.is_empty() {
        check_total(field, state.spendable_fen(fund_id, project_id), fen, || {
            format!("project {project_id}'s balance")
        })?;
    }
    // A fund's available money never exceeds what it received (awards leave
    // it before they can come back), so the received total covers it.
    check_total(field, state.funds[fund_id].received_fen, fen, || {
        format!("fund {fund_id}'s total received")
    })?;
    check_total(field, state.gross.received_fen, fen, || {
        "the ledger's total received".to_owned()
    })
}

/// `YYYY-MM-DD`, a real calendar date.
pub fn check_date(field: &str, date: &str) -> Result<(), Rejection> {
    let bad = || invalid(field, "date_format", "must be a calendar date YYYY-MM-DD");
    let bytes = date.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| date[range].parse::<u32>().map_err(|_| bad());
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1900..=2999).contains(&year) || day == 0 || day > days_in_month {
        return Err(bad());
    }
    Ok(())
}

/// `YYYY-<prefix><n>` with n in 1..=max, e.g. "2016-Q3", "2016-H1".
fn check_period(field: &str, period: &str, prefix: char, max: u32) -> Result<(), Rejection> {
    let rule_text = format!("must look like YYYY-{prefix}1 .. YYYY-{prefix}{max}");
    let ok = period.len() == 7
        && period[0..4].bytes().all(|b| b.is_ascii_digit())
        && period.as_bytes()[4] == b'-'
        && period.as_bytes()[5] == prefix as u8
        && period[6..7]
            .parse::<u32>()
            .is_ok_and(|n| (1..=max).contains(&n));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "period_format", rule_text))
    }
}

fn check_sha256(field: &str, digest: &[u8]) -> Result<(), Rejection> {
    if digest.len() != 32 {
        return Err(invalid(
            field,
            "sha256_length",
            "must be a 32-byte SHA-256 digest",
        ));
    }
    Ok(())
}

/// A name either in the clear or as a salted commitment, never both: the
/// commitment only where `may_commit` (an individual, a person), since
/// enterprises and organisations are public entities.
fn check_clear_or_committed(
    (clear_field, clear): (&str, &str),
    (commitment_field, commitment): (&str, &[u8]),
    may_commit: bool,
    why_not: &str,
) -> Result<(), Rejection> {
    if commitment.is_empty() {
        return check_text(clear_field, clear, true, NAME_LEN_MAX);
    }
    if !may_commit {
        return Err(invalid(
            commitment_field,
            "commitment_not_for_public_entity",
            why_not,
        ));
    }
    if commitment.len() != personal_data::COMMITMENT_LEN {
        return Err(invalid(
            commitment_field,
            "commitment_length",
            "must be a 32-byte salted SHA-256 commitment",
        ));
    }
    if !clear.is_empty() {
        return Err(invalid(
            clear_field,
            "clear_beside_commitment",
            format!(
                "must be empty when {commitment_field} is set: the clear value lives in the side store"
            ),
        ));
    }
    Ok(())
}

fn check_score(field: &str, score: i32) -> Result<(), Rejection> {
    if !(0..=100).contains(&score) {
        return Err(invalid(
            field,
            "score_out_of_range",
            "must be between 0 and 100",
        ));
    }
    Ok(())
}

fn check_channel(channel: v1::Channel, bank_reference: &str) -> Result<(), Rejection> {
    if channel == v1::Channel::Unspecified {
        return Err(invalid(
            "channel",
            "enum_unspecified",
            "must be bank_transfer, cash or online",
        ));
    }
    if channel == v1::Channel::BankTransfer && bank_reference.trim().is_empty() {
        return Err(invalid(
            "bank_reference",
            "bank_reference_required",
            "a bank transfer needs its bank reference for reconciliation",
        ));
    }
    check_text("bank_reference", bank_reference, false, NAME_LEN_MAX)
}

fn check_derived(field: &str, supplied: i64, derived: i64) -> Result<(), Rejection> {
    if supplied != 0 && supplied != derived {
        return Err(invalid(
            field,
            "derived_field_mismatch",
            format!("is derived by the ledger ({derived} fen); leave it 0 or send exactly that"),
        ));
    }
    Ok(())
}

fn check_payout(
    state: &LedgerState,
    field: &str,
    fund_id: &str,
    project_id: &str,
    fen: i64,
) -> Result<(), Rejection> {
    let spendable = state.spendable_fen(fund_id, project_id);
    if fen > spendable {
        let (rule, holder) = if project_id.is_empty() {
            ("exceeds_available", format!("fund {fund_id:?}"))
        } else {
            ("exceeds_project_balance", format!("project {project_id:?}"))
        };
        return Err(invalid(
            field,
            rule,
            format!("{fen} fen is more than the {spendable} fen {holder} holds"),
        ));
    }
    Ok(())
}

/// An optional campaign must exist and raise money for `fund_id`.
fn check_campaign_of_fund(
    state: &LedgerState,
    campaign_id: &str,
    fund_id: &str,
) -> Result<(), Rejection> {
    if campaign_id.is_empty() {
        return Ok(());
    }
    let campaign = check_existing("campaign_id", "campaign", campaign_id, &state.campaigns)?;
    if campaign.fund_id != fund_id {
        return Err(invalid(
            "campaign_id",
            "campaign_fund_mismatch",
            format!(
                "campaign {campaign_id:?} raises money for fund {:?}",
                campaign.fund_id
            ),
        ));
    }
    Ok(())
}

/// Instalments: at least one, dates valid and non-decreasing, amounts positive
/// and summing to `total_fen`.
fn check_schedule(instalments: &[v1::Instalment], total_fen: i64) -> Result<(), Rejection> {
    if instalments.is_empty() {
        return Err(invalid(
            "instalments",
            "required",
            "a pledge needs at least one instalment",
        ));
    }
    if instalments.len() > INSTALMENTS_MAX {
        return Err(invalid(
            "instalments",
            "too_many",
            format!("at most {INSTALMENTS_MAX} instalments"),
        ));
    }
    let mut sum: i64 = 0;
    for (index, instalment) in instalments.iter().enumerate() {
        check_date(&format!("instalments[{index}].due_on"), &instalment.due_on)?;
        check_amount(
            &format!("instalments[{index}].amount_fen"),
            instalment.amount_fen,
        )?;
        if index > 0 && instalment.due_on < instalments[index - 1].due_on {
            return Err(invalid(
                &format!("instalments[{index}].due_on"),
                "instalments_out_of_order",
                "instalments must be ordered by due date",
            ));
        }
        sum += instalment.amount_fen;
    }
    if sum != total_fen {
        return Err(invalid(
            "instalments",
            "instalments_do_not_sum_to_total",
            format!("instalments sum to {sum} fen, the total is {total_fen} fen"),
        ));
    }
    Ok(())
}

/// `decide` on someone's behalf: permission first, then the rules. Whether
/// the principal may issue this kind of command, and for whom, is settled
/// from the command's own fields before any rule runs, so a refusal tells a
/// sponsor or an organisation nothing about ids it does not own.
pub fn decide_as(state: &LedgerState, principal: &Principal, command: Event) -> Decided {
    check_may_issue(state, principal, &command)?;
    decide(state, command)
}

fn not_yours(message: String) -> Rejection {
    Rejection {
        field: "principal".to_owned(),
        rule: "not_yours",
        message,
        kind: RejectionKind::Forbidden,
    }
}

/// Whether `principal` may issue `command` at all, and for the donor or
/// organisation it names. A pledge or grant named by id is looked up only to
/// find its owner; one that does not exist is refused exactly as one owned by
/// someone else.
pub fn check_may_issue(
    state: &LedgerState,
    principal: &Principal,
    command: &Event,
) -> Result<(), Rejection> {
    match principal {
        Principal::Operator => Ok(()),
        Principal::Donor(donor_id) => {
            let owner = match command {
                Event::DonationReceived(e) => Some(e.donor_id.as_str()),
                Event::PledgeMade(e) => Some(e.donor_id.as_str()),
                Event::PledgePaymentReceived(e) => {
                    let owner = state.pledges.get(&e.pledge_id).map(|p| p.donor_id.as_str());
                    if owner != Some(donor_id.as_str()) {
                        return Err(not_yours(format!(
                            "pledge_id names no pledge of donor {donor_id:?}"
                        )));
                    }
                    owner
                }
                Event::ProjectClaimed(e) => Some(e.sponsor_id.as_str()),
                Event::ProjectClaimReleased(e) => Some(e.sponsor_id.as_str()),
                Event::ProjectFunded(e) => Some(e.sponsor_id.as_str()),
                _ => None,
            };
            match owner {
                None => Err(not_yours(
                    "a sponsor may give, pledge, pay its pledges and claim, release and fund projects".into(),
                )),
                Some(owner) if owner != donor_id => Err(not_yours(format!(
                    "acting for donor {donor_id:?}, not {owner:?}"
                ))),
                Some(_) => Ok(()),
            }
        }
        Principal::Organisation(organisation_id) => {
            let owner = match command {
                Event::GrantApplicationSubmitted(e) => Some(e.organisation_id.as_str()),
                Event::GrantSelfAssessmentFiled(e) => {
                    let owner = state
                        .grants
                        .get(&e.grant_id)
                        .map(|g| g.organisation_id.as_str());
                    if owner != Some(organisation_id.as_str()) {
                        return Err(not_yours(format!(
                            "grant_id names no grant of organisation {organisation_id:?}"
                        )));
                    }
                    owner
                }
                _ => None,
            };
            match owner {
                None => Err(not_yours(
                    "an organisation may apply for grants and file self-assessments".into(),
                )),
                Some(owner) if owner != organisation_id => Err(not_yours(format!(
                    "acting for organisation {organisation_id:?}, not {owner:?}"
                ))),
                Some(_) => Ok(()),
            }
        }
    }
}

pub fn decide(state: &LedgerState, command: Event) -> Decided {
    match command {
        Event::FundOpened(e) => {
            check_new_id("fund_id", &e.fund_id, state.funds.contains_key(&e.fund_id))?;
            check_text("name", &e.name, true, NAME_LEN_MAX)?;
            if e.kind() == v1::FundKind::Unspecified {
                return Err(invalid(
                    "kind",
                    "enum_unspecified",
                    "must be unrestricted, restricted or special_support",
                ));
            }
            let restricted = e.kind() == v1::FundKind::Restricted;
            check_text("restriction", &e.restriction, restricted, TEXT_LEN_MAX)?;
            Ok(Event::FundOpened(e))
        }
        Event::CampaignOpened(e) => {
            check_new_id(
                "campaign_id",
                &e.campaign_id,
                state.campaigns.contains_key(&e.campaign_id),
            )?;
            check_text("name", &e.name, true, NAME_LEN_MAX)?;
            check_existing("fund_id", "fund", &e.fund_id, &state.funds)?;
            check_amount("total_target_fen", e.total_target_fen)?;
            if !(1900..=2999).contains(&e.first_year) {
                return Err(invalid(
                    "first_year",
                    "year_out_of_range",
                    "must be a year between 1900 and 2999",
                ));
            }
            if e.yearly_targets.is_empty() || e.yearly_targets.len() > CAMPAIGN_YEARS_MAX {
                return Err(invalid(
                    "yearly_targets",
                    "required",
                    format!("needs 1 to {CAMPAIGN_YEARS_MAX} yearly targets"),
                ));
            }
            let mut sum = 0i64;
            for (index, target) in e.yearly_targets.iter().enumerate() {
                if target.year != e.first_year + index as i32 {
                    return Err(invalid(
                        &format!("yearly_targets[{index}].year"),
                        "years_not_consecutive",
                        format!("must be {}", e.first_year + index as i32),
                    ));
                }
                check_amount(
                    &format!("yearly_targets[{index}].target_fen"),
                    target.target_fen,
                )?;
                sum += target.target_fen;
            }
            if sum != e.total_target_fen {
                return Err(invalid(
                    "yearly_targets",
                    "yearly_targets_do_not_sum_to_total",
                    format!(
                        "yearly targets sum to {sum} fen, the total target is {} fen",
                        e.total_target_fen
                    ),
                ));
            }
            Ok(Event::CampaignOpened(e))
        }
        Event::DonorRegistered(e) => {
            check_new_id(
                "donor_id",
                &e.donor_id,
                state.donors.contains_key(&e.donor_id),
            )?;
            if e.kind() == v1::DonorKind::Unspecified {
                return Err(invalid(
                    "kind",
                    "enum_unspecified",
                    "must be enterprise or individual",
                ));
            }
            check_clear_or_committed(
                ("name", &e.name),
                ("name_commitment", &e.name_commitment),
                e.kind() == v1::DonorKind::Individual,
                "only an individual's name is committed; an enterprise is named in the clear",
            )?;
            if e.alliance_member && e.kind() != v1::DonorKind::Enterprise {
                return Err(invalid(
                    "alliance_member",
                    "alliance_members_are_enterprises",
                    "only an enterprise can be an alliance member unit",
                ));
            }
            Ok(Event::DonorRegistered(e))
        }
        Event::OrganisationRegistered(e) => {
            check_new_id(
                "organisation_id",
                &e.organisation_id,
                state.organisations.contains(&e.organisation_id),
            )?;
            check_text("name", &e.name, true, NAME_LEN_MAX)?;
            check_text("registration_no", &e.registration_no, false, NAME_LEN_MAX)?;
            Ok(Event::OrganisationRegistered(e))
        }
        Event::DonationReceived(e) => {
            check_new_id(
                "donation_id",
                &e.donation_id,
                state.donations.contains_key(&e.donation_id),
            )?;
            if !e.donor_id.is_empty() {
                check_existing("donor_id", "donor", &e.donor_id, &state.donors)?;
            }
            check_existing("fund_id", "fund", &e.fund_id, &state.funds)?;
            check_campaign_of_fund(state, &e.campaign_id, &e.fund_id)?;
            if !e.project_id.is_empty() {
                let project =
                    check_existing("project_id", "project", &e.project_id, &state.projects)?;
                if project.fund_id != e.fund_id {
                    return Err(invalid(
                        "project_id",
                        "project_fund_mismatch",
                        format!(
                            "project {:?} is held in fund {:?}",
                            e.project_id, project.fund_id
                        ),
                    ));
                }
                if project.completed {
                    return Err(conflict(
                        "project_id",
                        "project_completed",
                        "the project is completed and takes no more money",
                    ));
                }
            }
            check_amount("amount_fen", e.amount_fen)?;
            check_channel(e.channel(), &e.bank_reference)?;
            check_date("received_on", &e.received_on)?;
            check_received(state, "amount_fen", &e.fund_id, &e.project_id, e.amount_fen)?;
            Ok(Event::DonationReceived(e))
        }
        Event::DonationRefunded(e) => {
            check_new_id(
                "refund_id",
                &e.refund_id,
                state.refund_ids.contains(&e.refund_id),
            )?;
            let donation =
                check_existing("donation_id", "donation", &e.donation_id, &state.donations)?;
            check_amount("amount_fen", e.amount_fen)?;
            check_text("reason", &e.reason, true, TEXT_LEN_MAX)?;
            if e.amount_fen > donation.refundable_fen {
                return Err(invalid(
                    "amount_fen",
                    "exceeds_refundable",
                    format!(
                        "only {} fen of this donation is left to refund",
                        donation.refundable_fen
                    ),
                ));
            }
            let (fund_id, project_id) = state.holders.ids(donation.held_in);
            check_payout(state, "amount_fen", fund_id, project_id, e.amount_fen)?;
            Ok(Event::DonationRefunded(e))
        }
        Event::DonationReversed(mut e) => {
            let donation =
                check_existing("donation_id", "donation", &e.donation_id, &state.donations)?;
            check_text("reason", &e.reason, true, TEXT_LEN_MAX)?;
            if donation.reversed || donation.refundable_fen == 0 {
                return Err(conflict(
                    "donation_id",
                    "nothing_to_reverse",
                    "the donation was already reversed or fully refunded",
                ));
            }
            check_derived("amount_fen", e.amount_fen, donation.refundable_fen)?;
            e.amount_fen = donation.refundable_fen;
            let (fund_id, project_id) = state.holders.ids(donation.held_in);
            check_payout(state, "donation_id", fund_id, project_id, e.amount_fen)?;
            Ok(Event::DonationReversed(e))
        }
        Event::PledgeMade(e) => {
            check_new_id(
                "pledge_id",
                &e.pledge_id,
                state.pledges.contains_key(&e.pledge_id),
            )?;
            check_existing("donor_id", "donor", &e.donor_id, &state.donors)?;
            check_existing("fund_id", "fund", &e.fund_id, &state.funds)?;
            check_campaign_of_fund(state, &e.campaign_id, &e.fund_id)?;
            check_amount("total_fen", e.total_fen)?;
            check_schedule(&e.instalments, e.total_fen)?;
            check_total("total_fen", state.gross.pledged_fen, e.total_fen, || {
                "the ledger's total pledged".to_owned()
            })?;
            Ok(Event::PledgeMade(e))
        }
        Event::PledgePaymentReceived(e) => {
            check_new_id(
                "payment_id",
                &e.payment_id,
                state.payment_ids.contains(&e.payment_id),
            )?;
            let pledge = check_existing("pledge_id", "pledge", &e.pledge_id, &state.pledges)?;
            check_amount("amount_fen", e.amount_fen)?;
            check_channel(e.channel(), &e.bank_reference)?;
            check_date("received_on", &e.received_on)?;
            if pledge.cancelled {
                return Err(conflict(
                    "pledge_id",
                    "pledge_cancelled",
                    "the pledge was cancelled",
                ));
            }
            let outstanding = pledge.total_fen - pledge.paid_fen;
            if e.amount_fen > outstanding {
                return Err(invalid(
                    "amount_fen",
                    "exceeds_outstanding",
                    format!("only {outstanding} fen of the pledge is outstanding"),
                ));
            }
            check_received(state, "amount_fen", &pledge.fund_id, "", e.amount_fen)?;
            Ok(Event::PledgePaymentReceived(e))
        }
        Event::PledgeAmended(e) => {
            let pledge = check_existing("pledge_id", "pledge", &e.pledge_id, &state.pledges)?;
            check_text("reason", &e.reason, true, TEXT_LEN_MAX)?;
            if pledge.cancelled {
                return Err(conflict(
                    "pledge_id",
                    "pledge_cancelled",
                    "the pledge was cancelled",
                ));
            }
            check_amount("new_total_fen", e.new_total_fen)?;
            if e.new_total_fen < pledge.paid_fen {
                return Err(invalid(
                    "new_total_fen",
                    "below_paid",
                    format!("{} fen has already been paid", pledge.paid_fen),
                ));
            }
            check_schedule(&e.instalments, e.new_total_fen)?;
            let pledged_without_this_fen = state.gross.pledged_fen - pledge.total_fen;
            check_total(
                "new_total_fen",
                pledged_without_this_fen,
                e.new_total_fen,
                || "the ledger's total pledged".to_owned(),
            )?;
            Ok(Event::PledgeAmended(e))
        }
        Event::PledgeCancelled(mut e) => {
            let pledge = check_existing("pledge_id", "pledge", &e.pledge_id, &state.pledges)?;
            check_text("reason", &e.reason, true, TEXT_LEN_MAX)?;
            if pledge.cancelled {
                return Err(conflict(
                    "pledge_id",
                    "pledge_cancelled",
                    "the pledge was already cancelled",
                ));
            }
            let outstanding = pledge.total_fen - pledge.paid_fen;
            if outstanding == 0 {
                return Err(conflict(
                    "pledge_id",
                    "pledge_fulfilled",
                    "the pledge is fully paid; nothing to cancel",
                ));
            }
            check_derived("cancelled_fen", e.cancelled_fen, outstanding)?;
            e.cancelled_fen = outstanding;
            Ok(Event::PledgeCancelled(e))
        }
        Event::GrantRoundOpened(e) => {
            check_new_id(
                "round_id",
                &e.round_id,
                state.rounds.contains_key(&e.round_id),
            )?;
            check_existing("fund_id", "fund", &e.fund_id, &state.funds)?;
            check_text("name", &e.name, true, NAME_LEN_MAX)?;
            check_amount("budget_fen", e.budget_fen)?;
            check_date("applications_open_on", &e.applications_open_on)?;
            check_date("applications_close_on", &e.applications_close_on)?;
            if e.applications_close_on < e.applications_open_on {
                return Err(invalid(
                    "applications_close_on",
                    "window_inverted",
                    "must not be before applications_open_on",
                ));
            }
            Ok(Event::GrantRoundOpened(e))
        }
        Event::GrantApplicationSubmitted(e) => {
            check_new_id(
                "application_id",
                &e.application_id,
                state.applications.contains_key(&e.application_id),
            )?;
            let round = check_existing("round_id", "grant round", &e.round_id, &state.rounds)?;
            check_id("organisation_id", &e.organisation_id)?;
            if !state.organisations.contains(&e.organisation_id) {
                return Err(not_found(
                    "organisation_id",
                    "organisation",
                    &e.organisation_id,
                ));
            }
            check_text("title", &e.title, true, NAME_LEN_MAX)?;
            check_text("summary", &e.summary, false, TEXT_LEN_MAX)?;
            check_amount("requested_fen", e.requested_fen)?;
            check_date("submitted_on", &e.submitted_on)?;
            if e.submitted_on < round.applications_open_on
                || e.submitted_on > round.applications_close_on
            {
                return Err(invalid(
                    "submitted_on",
                    "outside_application_window",
                    format!(
                        "applications are open {} to {}",
                        round.applications_open_on, round.applications_close_on
                    ),
                ));
            }
            check_total(
                "requested_fen",
                state.gross.requested_fen,
                e.requested_fen,
                || "the ledger's total requested in grant applications".to_owned(),
            )?;
            Ok(Event::GrantApplicationSubmitted(e))
        }
        Event::GrantApplicationReviewed(e) => {
            check_existing(
                "application_id",
                "application",
                &e.application_id,
                &state.applications,
            )?;
            check_text("reviewer", &e.reviewer, true, NAME_LEN_MAX)?;
            check_score("score", e.score)?;
            check_text("notes", &e.notes, false, TEXT_LEN_MAX)?;
            Ok(Event::GrantApplicationReviewed(e))
        }
        Event::GrantApplicationShortlisted(e) => {
            let application = check_existing(
                "application_id",
                "application",
                &e.application_id,
                &state.applications,
            )?;
            if !application.reviewed {
                return Err(invalid(
                    "application_id",
                    "not_reviewed",
                    "an application is reviewed before it is shortlisted",
                ));
            }
            if application.shortlisted {
                return Err(conflict(
                    "application_id",
                    "already_shortlisted",
                    "the application is already shortlisted",
                ));
            }
            Ok(Event::GrantApplicationShortlisted(e))
        }
        Event::GrantAwarded(e) => {
            check_new_id(
                "grant_id",
                &e.grant_id,
                state.grants.contains_key(&e.grant_id),
            )?;
            let application = check_existing(
                "application_id",
                "application",
                &e.application_id,
                &state.applications,
            )?;
            if !application.shortlisted {
                return Err(invalid(
                    "application_id",
                    "not_shortlisted",
                    "only a shortlisted application can be awarded",
                ));
            }
            if application.awarded {
                return Err(conflict(
                    "application_id",
                    "already_awarded",
                    "the application already has a grant",
                ));
            }
            check_amount("amount_fen", e.amount_fen)?;
            if e.amount_fen > application.requested_fen {
                return Err(invalid(
                    "amount_fen",
                    "exceeds_request",
                    format!(
                        "the application asked for {} fen",
                        application.requested_fen
                    ),
                ));
            }
            let round = &state.rounds[&application.round_id];
            let budget_left = round.budget_fen - round.awarded_fen;
            if e.amount_fen > budget_left {
                return Err(invalid(
                    "amount_fen",
                    "exceeds_budget",
                    format!("the round has {budget_left} fen of its budget left"),
                ));
            }
            check_payout(state, "amount_fen", &round.fund_id, "", e.amount_fen)?;
            if !e.awarded_on.is_empty() {
                check_date("awarded_on", &e.awarded_on)?;
            }
            if e.tranches.is_empty() || e.tranches.len() > TRANCHES_MAX {
                return Err(invalid(
                    "tranches",
                    "required",
                    format!("a grant is paid in 1 to {TRANCHES_MAX} tranches"),
                ));
            }
            let mut sum = 0i64;
            for (index, tranche) in e.tranches.iter().enumerate() {
                check_amount(&format!("tranches[{index}].amount_fen"), tranche.amount_fen)?;
                sum += tranche.amount_fen;
            }
            if sum != e.amount_fen {
                return Err(invalid(
                    "tranches",
                    "tranches_do_not_sum_to_award",
                    format!(
                        "tranches sum to {sum} fen, the award is {} fen",
                        e.amount_fen
                    ),
                ));
            }
            Ok(Event::GrantAwarded(e))
        }
        Event::GrantTrancheDisbursed(mut e) => {
            let grant = check_existing("grant_id", "grant", &e.grant_id, &state.grants)?;
            if grant.closed {
                return Err(conflict("grant_id", "grant_closed", "the grant is closed"));
            }
            let Some(tranche) = grant.tranches.get(grant.next_tranche) else {
                return Err(conflict(
                    "grant_id",
                    "grant_fully_disbursed",
                    "every tranche has been paid",
                ));
            };
            if e.tranche_index as usize != grant.next_tranche {
                return Err(invalid(
                    "tranche_index",
                    "tranche_out_of_order",
                    format!("the next tranche to pay is {}", grant.next_tranche),
                ));
            }
            if tranche.requires_evaluation && !grant.passing_evaluation_since_last_tranche {
                return Err(invalid(
                    "tranche_index",
                    "evaluation_required",
                    "以奖代拨: this tranche is paid only after a passing evaluation recorded since the previous tranche",
                ));
            }
            check_derived("amount_fen", e.amount_fen, tranche.amount_fen)?;
            e.amount_fen = tranche.amount_fen;
            check_date("paid_on", &e.paid_on)?;
            if e.paid_on < grant.awarded_on {
                return Err(invalid(
                    "paid_on",
                    "paid_before_award",
                    format!("the grant was awarded on {}", grant.awarded_on),
                ));
            }
            check_text("bank_reference", &e.bank_reference, false, NAME_LEN_MAX)?;
            debug_assert!(
                grant.disbursed_fen + e.amount_fen <= grant.amount_fen,
                "tranches exceed award"
            );
            Ok(Event::GrantTrancheDisbursed(e))
        }
        Event::GrantEvaluationRecorded(e) => {
            check_new_id(
                "evaluation_id",
                &e.evaluation_id,
                state.evaluation_ids.contains(&e.evaluation_id),
            )?;
            let grant = check_existing("grant_id", "grant", &e.grant_id, &state.grants)?;
            if grant.closed {
                return Err(conflict("grant_id", "grant_closed", "the grant is closed"));
            }
            check_period("period", &e.period, 'H', 2)?;
            check_text("evaluator", &e.evaluator, true, NAME_LEN_MAX)?;
            check_score("score", e.score)?;
            Ok(Event::GrantEvaluationRecorded(e))
        }
        Event::GrantSelfAssessmentFiled(e) => {
            let grant = check_existing("grant_id", "grant", &e.grant_id, &state.grants)?;
            if grant.closed {
                return Err(conflict("grant_id", "grant_closed", "the grant is closed"));
            }
            check_period("quarter", &e.quarter, 'Q', 4)?;
            if state
                .self_assessments
                .contains(&(e.grant_id.clone(), e.quarter.clone()))
            {
                return Err(conflict(
                    "quarter",
                    "already_filed",
                    "a self-assessment for this quarter is already filed",
                ));
            }
            check_sha256("report_sha256", &e.report_sha256)?;
            check_text("summary", &e.summary, false, TEXT_LEN_MAX)?;
            Ok(Event::GrantSelfAssessmentFiled(e))
        }
        Event::GrantClosed(mut e) => {
            let grant = check_existing("grant_id", "grant", &e.grant_id, &state.grants)?;
            if grant.closed {
                return Err(conflict(
                    "grant_id",
                    "grant_closed",
                    "the grant is already closed",
                ));
            }
            check_text("reason", &e.reason, true, TEXT_LEN_MAX)?;
            let returned = grant.amount_fen - grant.disbursed_fen;
            check_derived("disbursed_fen", e.disbursed_fen, grant.disbursed_fen)?;
            check_derived("returned_fen", e.returned_fen, returned)?;
            e.disbursed_fen = grant.disbursed_fen;
            e.returned_fen = returned;
            Ok(Event::GrantClosed(e))
        }
        Event::ProjectPublished(e) => {
            check_new_id(
                "project_id",
                &e.project_id,
                state.projects.contains_key(&e.project_id),
            )?;
            check_text("title", &e.title, true, NAME_LEN_MAX)?;
            check_text("description", &e.description, false, TEXT_LEN_MAX)?;
            if e.need_kind() == v1::NeedKind::Unspecified {
                return Err(invalid(
                    "need_kind",
                    "enum_unspecified",
                    "must be micro_wish, micro_charity, service or livelihood",
                ));
            }
            check_text("community", &e.community, true, NAME_LEN_MAX)?;
            check_text("survey", &e.survey, false, NAME_LEN_MAX)?;
            if !e.survey.is_empty() {
                check_period("survey", &e.survey, 'H', 2)?;
            }
            check_amount("budget_fen", e.budget_fen)?;
            check_existing("fund_id", "fund", &e.fund_id, &state.funds)?;
            Ok(Event::ProjectPublished(e))
        }
        Event::ProjectClaimed(e) => {
            let project = check_existing("project_id", "project", &e.project_id, &state.projects)?;
            let sponsor = check_existing("sponsor_id", "donor", &e.sponsor_id, &state.donors)?;
            if sponsor.kind != v1::DonorKind::Enterprise {
                return Err(invalid(
                    "sponsor_id",
                    "sponsor_not_enterprise",
                    "projects are claimed by enterprises and member units",
                ));
            }
            if !sponsor.alliance_member {
                return Err(invalid(
                    "sponsor_id",
                    "sponsor_not_alliance_member",
                    "认领: projects are claimed by 凯联盟 member units; the operator registers membership",
                ));
            }
            if project.completed {
                return Err(conflict(
                    "project_id",
                    "project_completed",
                    "the project is completed",
                ));
            }
            if let Some(claimant) = &project.claimant {
                return Err(conflict(
                    "project_id",
                    "already_claimed",
                    format!("the project is claimed by {claimant:?}; it must be released first"),
                ));
            }
            Ok(Event::ProjectClaimed(e))
        }
        Event::ProjectClaimReleased(e) => {
            let project = check_existing("project_id", "project", &e.project_id, &state.projects)?;
            check_id("sponsor_id", &e.sponsor_id)?;
            check_text("reason", &e.reason, true, TEXT_LEN_MAX)?;
            match &project.claimant {
                None => {
                    return Err(conflict(
                        "project_id",
                        "not_claimed",
                        "the project has no claim to release",
                    ));
                }
                Some(claimant) if *claimant != e.sponsor_id => {
                    return Err(conflict(
                        "sponsor_id",
                        "not_claimant",
                        format!("the project is claimed by {claimant:?}"),
                    ));
                }
                Some(_) => {}
            }
            if project.completed {
                return Err(conflict(
                    "project_id",
                    "project_completed",
                    "the project is completed",
                ));
            }
            Ok(Event::ProjectClaimReleased(e))
        }
        Event::ProjectFunded(e) => {
            check_new_id(
                "funding_id",
                &e.funding_id,
                state.funding_ids.contains(&e.funding_id),
            )?;
            let project = check_existing("project_id", "project", &e.project_id, &state.projects)?;
            check_existing("sponsor_id", "donor", &e.sponsor_id, &state.donors)?;
            if project.claimant.as_deref() != Some(e.sponsor_id.as_str()) {
                return Err(conflict(
                    "sponsor_id",
                    "not_claimant",
                    "only the sponsor holding the claim funds the project",
                ));
            }
            if project.completed {
                return Err(conflict(
                    "project_id",
                    "project_completed",
                    "the project is completed",
                ));
            }
            check_amount("amount_fen", e.amount_fen)?;
            check_channel(e.channel(), &e.bank_reference)?;
            check_date("received_on", &e.received_on)?;
            check_received(
                state,
                "amount_fen",
                &project.fund_id,
                &e.project_id,
                e.amount_fen,
            )?;
            Ok(Event::ProjectFunded(e))
        }
        Event::ProjectCompleted(e) => {
            let project = check_existing("project_id", "project", &e.project_id, &state.projects)?;
            if project.completed {
                return Err(conflict(
                    "project_id",
                    "project_completed",
                    "the project is already completed",
                ));
            }
            check_sha256("report_sha256", &e.report_sha256)?;
            check_text("summary", &e.summary, true, TEXT_LEN_MAX)?;
            check_date("completed_on", &e.completed_on)?;
            Ok(Event::ProjectCompleted(e))
        }
        Event::ExpenditureMade(e) => {
            check_new_id(
                "expenditure_id",
                &e.expenditure_id,
                state.expenditures.contains_key(&e.expenditure_id),
            )?;
            let fund = check_existing("fund_id", "fund", &e.fund_id, &state.funds)?;
            if !e.project_id.is_empty() {
                let project =
                    check_existing("project_id", "project", &e.project_id, &state.projects)?;
                if project.fund_id != e.fund_id {
                    return Err(invalid(
                        "project_id",
                        "project_fund_mismatch",
                        format!(
                            "project {:?} is held in fund {:?}",
                            e.project_id, project.fund_id
                        ),
                    ));
                }
            }
            check_amount("amount_fen", e.amount_fen)?;
            if e.payee_kind() == v1::PayeeKind::Unspecified {
                return Err(invalid(
                    "payee_kind",
                    "enum_unspecified",
                    "must be organisation, company or person",
                ));
            }
            check_clear_or_committed(
                ("payee", &e.payee),
                ("payee_commitment", &e.payee_commitment),
                e.payee_kind() == v1::PayeeKind::Person,
                "only a person's name is committed; an organisation or company is named in the clear",
            )?;
            check_text("purpose", &e.purpose, true, TEXT_LEN_MAX)?;
            let category = e.category();
            if category == v1::ExpenditureCategory::Unspecified {
                return Err(invalid(
                    "category",
                    "enum_unspecified",
                    "must name the kind of spending",
                ));
            }
            use v1::ExpenditureCategory as Category;
            if fund.kind == v1::FundKind::SpecialSupport
                && !matches!(
                    category,
                    Category::OneOffSupport
                        | Category::PurchaseOfServices
                        | Category::AwardForExcellence
                )
            {
                return Err(invalid(
                    "category",
                    "category_not_allowed_for_fund",
                    "the special support fund pays only one-off support, purchase of services and awards for excellence",
                ));
            }
            check_text("receipt_no", &e.receipt_no, false, NAME_LEN_MAX)?;
            check_date("paid_on", &e.paid_on)?;
            check_payout(state, "amount_fen", &e.fund_id, &e.project_id, e.amount_fen)?;
            check_total("amount_fen", state.gross.spent_fen, e.amount_fen, || {
                "the ledger's total spent".to_owned()
            })?;
            Ok(Event::ExpenditureMade(e))
        }
        Event::ExpenditureReversed(mut e) => {
            let expenditure = check_existing(
                "expenditure_id",
                "expenditure",
                &e.expenditure_id,
                &state.expenditures,
            )?;
            check_text("reason", &e.reason, true, TEXT_LEN_MAX)?;
            if expenditure.reversed {
                return Err(conflict(
                    "expenditure_id",
                    "already_reversed",
                    "the expenditure was already reversed",
                ));
            }
            check_derived("amount_fen", e.amount_fen, expenditure.amount_fen)?;
            e.amount_fen = expenditure.amount_fen;
            Ok(Event::ExpenditureReversed(e))
        }
        Event::PersonalDataErased(e) if e.subject_kind() == v1::ErasedSubject::Payee => {
            let expenditure = check_existing(
                "subject_id",
                "expenditure",
                &e.subject_id,
                &state.expenditures,
            )?;
            check_text("legal_basis", &e.legal_basis, true, TEXT_LEN_MAX)?;
            check_date("erased_on", &e.erased_on)?;
            if !expenditure.payee_committed {
                return Err(invalid(
                    "subject_id",
                    "payee_not_committed_person",
                    "only a private person paid with the name as a commitment is erased: an \
                     organisation or company is a public entity, and a name in the clear is \
                     inside the hashed record (docs/proofs.md, \"Personal data\")",
                ));
            }
            if expenditure.payee_erased {
                return Err(conflict(
                    "subject_id",
                    "already_erased",
                    "the payee's personal data was already erased",
                ));
            }
            Ok(Event::PersonalDataErased(e))
        }
        Event::PersonalDataErased(e) => {
            if v1::ErasedSubject::try_from(e.subject_kind).is_err() {
                return Err(invalid(
                    "subject_kind",
                    "unknown_enum_value",
                    "subject_kind must be donor or payee",
                ));
            }
            let donor = check_existing("subject_id", "donor", &e.subject_id, &state.donors)?;
            check_text("legal_basis", &e.legal_basis, true, TEXT_LEN_MAX)?;
            check_date("erased_on", &e.erased_on)?;
            if donor.kind != v1::DonorKind::Individual {
                return Err(invalid(
                    "subject_id",
                    "subject_not_individual",
                    "only an individual's personal data is erased; an enterprise is a public entity",
                ));
            }
            if !donor.name_committed {
                return Err(invalid(
                    "subject_id",
                    "name_in_hashed_record",
                    "the donor was registered with the name in the clear, inside the hashed record: \
                     erasing it would break the chain (docs/proofs.md, \"Personal data\")",
                ));
            }
            if donor.erased {
                return Err(conflict(
                    "subject_id",
                    "already_erased",
                    "the donor's personal data was already erased",
                ));
            }
            Ok(Event::PersonalDataErased(e))
        }
    }
}
