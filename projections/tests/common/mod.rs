//! Event constructors shared by the read-model tests: the Kaixuan figures in
//! fen, and small builders so that a scenario reads as a list of facts.
#![allow(dead_code)]

use mingzhang_projections::Projections;
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;

/// 1 CNY = 100 fen.
pub const fn cny(yuan: i64) -> i64 {
    yuan * 100
}

/// 2016-03-01T12:00:00+08:00: when the commands of these scenarios were accepted.
pub const RECORDED_AT_UNIX_MS: i64 = 1_456_804_800_000;

pub fn envelope(event: Event) -> v1::EventEnvelope {
    v1::EventEnvelope {
        recorded_at_unix_ms: RECORDED_AT_UNIX_MS,
        actor: "operator:test".to_owned(),
        event: Some(event),
        ..Default::default()
    }
}

/// Applies `events` in order from seq 0.
pub fn given(events: Vec<Event>) -> Projections {
    let mut projections = Projections::default();
    when(&mut projections, events);
    projections
}

/// Applies `events` after whatever was applied, checking the identities after each.
pub fn when(projections: &mut Projections, events: Vec<Event>) {
    for event in events {
        let seq = projections.applied_len();
        if let Err(not_applied) = projections.apply(seq, &envelope(event)) {
            panic!("{not_applied}");
        }
        projections
            .check_identities()
            .unwrap_or_else(|broken| panic!("after seq {seq}: {broken}"));
    }
}

pub fn fund(fund_id: &str, kind: v1::FundKind) -> Event {
    Event::FundOpened(v1::FundOpened {
        fund_id: fund_id.to_owned(),
        name: format!("{fund_id} fund"),
        kind: kind as i32,
        restriction: String::new(),
    })
}

pub fn campaign(campaign_id: &str, fund_id: &str, total_fen: i64, yearly: &[(i32, i64)]) -> Event {
    Event::CampaignOpened(v1::CampaignOpened {
        campaign_id: campaign_id.to_owned(),
        name: format!("{campaign_id} campaign"),
        fund_id: fund_id.to_owned(),
        total_target_fen: total_fen,
        first_year: yearly.first().map_or(0, |&(year, _)| year),
        yearly_targets: yearly
            .iter()
            .map(|&(year, target_fen)| v1::YearlyTarget { year, target_fen })
            .collect(),
    })
}

pub fn enterprise(donor_id: &str, alliance_member: bool) -> Event {
    Event::DonorRegistered(v1::DonorRegistered {
        donor_id: donor_id.to_owned(),
        name: format!("{donor_id} Co."),
        kind: v1::DonorKind::Enterprise as i32,
        alliance_member,
        show_name_publicly: true,
        name_commitment: Default::default(),
    })
}

pub fn resident(donor_id: &str) -> Event {
    Event::DonorRegistered(v1::DonorRegistered {
        donor_id: donor_id.to_owned(),
        name: format!("resident {donor_id}"),
        kind: v1::DonorKind::Individual as i32,
        alliance_member: false,
        show_name_publicly: false,
        name_commitment: Default::default(),
    })
}

pub fn organisation(organisation_id: &str) -> Event {
    Event::OrganisationRegistered(v1::OrganisationRegistered {
        organisation_id: organisation_id.to_owned(),
        name: format!("{organisation_id} social organisation"),
        registration_no: format!("5233{organisation_id}"),
    })
}

pub struct Gift<'a> {
    pub donation_id: &'a str,
    pub donor_id: &'a str,
    pub fund_id: &'a str,
    pub campaign_id: &'a str,
    pub project_id: &'a str,
    pub amount_fen: i64,
    pub received_on: &'a str,
    pub anonymous: bool,
}

impl Default for Gift<'_> {
    fn default() -> Self {
        Gift {
            donation_id: "d",
            donor_id: "",
            fund_id: "",
            campaign_id: "",
            project_id: "",
            amount_fen: 0,
            received_on: "2015-01-01",
            anonymous: false,
        }
    }
}

pub fn donation(gift: Gift<'_>) -> Event {
    Event::DonationReceived(v1::DonationReceived {
        donation_id: gift.donation_id.to_owned(),
        donor_id: gift.donor_id.to_owned(),
        fund_id: gift.fund_id.to_owned(),
        campaign_id: gift.campaign_id.to_owned(),
        project_id: gift.project_id.to_owned(),
        amount_fen: gift.amount_fen,
        channel: v1::Channel::BankTransfer as i32,
        bank_reference: format!("REF-{}", gift.donation_id),
        anonymous: gift.anonymous,
        received_on: gift.received_on.to_owned(),
    })
}

pub fn refund(refund_id: &str, donation_id: &str, amount_fen: i64) -> Event {
    Event::DonationRefunded(v1::DonationRefunded {
        refund_id: refund_id.to_owned(),
        donation_id: donation_id.to_owned(),
        amount_fen,
        reason: "donor asked".to_owned(),
    })
}

pub fn reversal(donation_id: &str, amount_fen: i64) -> Event {
    Event::DonationReversed(v1::DonationReversed {
        donation_id: donation_id.to_owned(),
        amount_fen,
        reason: "booked twice".to_owned(),
    })
}

pub fn pledge(
    pledge_id: &str,
    donor_id: &str,
    campaign_id: &str,
    fund_id: &str,
    schedule: &[(&str, i64)],
) -> Event {
    Event::PledgeMade(v1::PledgeMade {
        pledge_id: pledge_id.to_owned(),
        donor_id: donor_id.to_owned(),
        campaign_id: campaign_id.to_owned(),
        fund_id: fund_id.to_owned(),
        total_fen: schedule.iter().map(|&(_, amount)| amount).sum(),
        instalments: instalments(schedule),
    })
}

pub fn instalments(schedule: &[(&str, i64)]) -> Vec<v1::Instalment> {
    schedule
        .iter()
        .map(|&(due_on, amount_fen)| v1::Instalment {
            due_on: due_on.to_owned(),
            amount_fen,
        })
        .collect()
}

pub fn pledge_payment(
    payment_id: &str,
    pledge_id: &str,
    amount_fen: i64,
    received_on: &str,
) -> Event {
    Event::PledgePaymentReceived(v1::PledgePaymentReceived {
        payment_id: payment_id.to_owned(),
        pledge_id: pledge_id.to_owned(),
        amount_fen,
        channel: v1::Channel::BankTransfer as i32,
        bank_reference: format!("REF-{payment_id}"),
        received_on: received_on.to_owned(),
    })
}

pub fn pledge_amended(pledge_id: &str, schedule: &[(&str, i64)]) -> Event {
    Event::PledgeAmended(v1::PledgeAmended {
        pledge_id: pledge_id.to_owned(),
        new_total_fen: schedule.iter().map(|&(_, amount)| amount).sum(),
        instalments: instalments(schedule),
        reason: "new schedule agreed".to_owned(),
    })
}

pub fn pledge_cancelled(pledge_id: &str, cancelled_fen: i64) -> Event {
    Event::PledgeCancelled(v1::PledgeCancelled {
        pledge_id: pledge_id.to_owned(),
        cancelled_fen,
        reason: "company restructured".to_owned(),
    })
}

pub fn round(round_id: &str, fund_id: &str, budget_fen: i64) -> Event {
    Event::GrantRoundOpened(v1::GrantRoundOpened {
        round_id: round_id.to_owned(),
        fund_id: fund_id.to_owned(),
        name: format!("{round_id} micro-venture round"),
        budget_fen,
        applications_open_on: "2016-03-01".to_owned(),
        applications_close_on: "2016-04-30".to_owned(),
    })
}

pub fn application(
    application_id: &str,
    round_id: &str,
    organisation_id: &str,
    requested_fen: i64,
) -> Event {
    Event::GrantApplicationSubmitted(v1::GrantApplicationSubmitted {
        application_id: application_id.to_owned(),
        round_id: round_id.to_owned(),
        organisation_id: organisation_id.to_owned(),
        title: format!("service plan {application_id}"),
        summary: String::new(),
        requested_fen,
        submitted_on: "2016-04-01".to_owned(),
    })
}

pub fn reviewed(application_id: &str, score: i32) -> Event {
    Event::GrantApplicationReviewed(v1::GrantApplicationReviewed {
        application_id: application_id.to_owned(),
        reviewer: "panel".to_owned(),
        score,
        notes: String::new(),
    })
}

pub fn shortlisted(application_id: &str) -> Event {
    Event::GrantApplicationShortlisted(v1::GrantApplicationShortlisted {
        application_id: application_id.to_owned(),
    })
}

/// `tranches`: (amount, requires a passing evaluation first).
pub fn awarded(grant_id: &str, application_id: &str, tranches: &[(i64, bool)]) -> Event {
    Event::GrantAwarded(v1::GrantAwarded {
        grant_id: grant_id.to_owned(),
        application_id: application_id.to_owned(),
        amount_fen: tranches.iter().map(|&(amount, _)| amount).sum(),
        awarded_on: "2016-04-28".into(),
        tranches: tranches
            .iter()
            .map(|&(amount_fen, requires_evaluation)| v1::Tranche {
                amount_fen,
                requires_evaluation,
            })
            .collect(),
    })
}

pub fn disbursed(grant_id: &str, tranche_index: u32, amount_fen: i64, paid_on: &str) -> Event {
    Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
        grant_id: grant_id.to_owned(),
        tranche_index,
        amount_fen,
        paid_on: paid_on.to_owned(),
        bank_reference: format!("PAY-{grant_id}-{tranche_index}"),
    })
}

pub fn evaluated(evaluation_id: &str, grant_id: &str, period: &str, passed: bool) -> Event {
    Event::GrantEvaluationRecorded(v1::GrantEvaluationRecorded {
        evaluation_id: evaluation_id.to_owned(),
        grant_id: grant_id.to_owned(),
        period: period.to_owned(),
        evaluator: "third-party assessor".to_owned(),
        score: if passed { 85 } else { 50 },
        passed,
    })
}

pub fn self_assessed(grant_id: &str, quarter: &str, report_sha256: [u8; 32]) -> Event {
    Event::GrantSelfAssessmentFiled(v1::GrantSelfAssessmentFiled {
        grant_id: grant_id.to_owned(),
        quarter: quarter.to_owned(),
        report_sha256: report_sha256.to_vec(),
        summary: "on track".to_owned(),
    })
}

pub fn grant_closed(grant_id: &str, disbursed_fen: i64, returned_fen: i64) -> Event {
    Event::GrantClosed(v1::GrantClosed {
        grant_id: grant_id.to_owned(),
        disbursed_fen,
        returned_fen,
        reason: "project ended".to_owned(),
    })
}

pub fn project(project_id: &str, fund_id: &str, budget_fen: i64) -> Event {
    Event::ProjectPublished(v1::ProjectPublished {
        project_id: project_id.to_owned(),
        title: format!("service project {project_id}"),
        description: String::new(),
        need_kind: v1::NeedKind::Service as i32,
        community: "Kaixuan".to_owned(),
        survey: "2015-H1".to_owned(),
        budget_fen,
        fund_id: fund_id.to_owned(),
    })
}

pub fn claimed(project_id: &str, sponsor_id: &str) -> Event {
    Event::ProjectClaimed(v1::ProjectClaimed {
        project_id: project_id.to_owned(),
        sponsor_id: sponsor_id.to_owned(),
    })
}

pub fn claim_released(project_id: &str, sponsor_id: &str) -> Event {
    Event::ProjectClaimReleased(v1::ProjectClaimReleased {
        project_id: project_id.to_owned(),
        sponsor_id: sponsor_id.to_owned(),
        reason: "strengths fit another project".to_owned(),
    })
}

pub fn funded(
    funding_id: &str,
    project_id: &str,
    sponsor_id: &str,
    amount_fen: i64,
    received_on: &str,
) -> Event {
    Event::ProjectFunded(v1::ProjectFunded {
        funding_id: funding_id.to_owned(),
        project_id: project_id.to_owned(),
        sponsor_id: sponsor_id.to_owned(),
        amount_fen,
        channel: v1::Channel::BankTransfer as i32,
        bank_reference: format!("REF-{funding_id}"),
        received_on: received_on.to_owned(),
    })
}

pub fn completed(project_id: &str, report_sha256: [u8; 32]) -> Event {
    Event::ProjectCompleted(v1::ProjectCompleted {
        project_id: project_id.to_owned(),
        report_sha256: report_sha256.to_vec(),
        summary: "delivered to residents".to_owned(),
        completed_on: "2015-12-20".to_owned(),
    })
}

pub fn expenditure(
    expenditure_id: &str,
    fund_id: &str,
    project_id: &str,
    amount_fen: i64,
    category: v1::ExpenditureCategory,
    paid_on: &str,
) -> Event {
    Event::ExpenditureMade(v1::ExpenditureMade {
        expenditure_id: expenditure_id.to_owned(),
        fund_id: fund_id.to_owned(),
        project_id: project_id.to_owned(),
        amount_fen,
        payee: format!("payee of {expenditure_id}"),
        payee_kind: v1::PayeeKind::Organisation as i32,
        purpose: "community service".to_owned(),
        category: category as i32,
        receipt_no: format!("R-{expenditure_id}"),
        paid_on: paid_on.to_owned(),
        payee_commitment: Default::default(),
    })
}

pub fn expenditure_reversed(expenditure_id: &str, amount_fen: i64) -> Event {
    Event::ExpenditureReversed(v1::ExpenditureReversed {
        expenditure_id: expenditure_id.to_owned(),
        amount_fen,
        reason: "payee returned the money".to_owned(),
    })
}
