//! The page's own view models, built from the projections by the functions in
//! this file alone. Templates read only these structs, so when the read models
//! change, only this adapter changes.
//!
//! **Invariant:** every name in these structs has already passed the masking
//! rules of `public.rs`; templates and exports never see a raw donor name or a
//! private payee.

use std::collections::HashMap;

use mingzhang_projections::{
    InstalmentStatus, LIST_PAGE_MAX, ProjectStatus, Projections, TrancheStatus,
};

use super::public::{Credit, DonorIdentity, public_payee};

/// How many of the latest donations and expenditures the overview lists; the
/// rest are in the CSV exports.
pub const LATEST_ROWS_MAX: usize = 50;

/// Who may be credited, and for how much, derived from every donation. The
/// router keeps one per projection version (`records`); `refreshed` brings it
/// up to date by reading only the donations appended since, unless an older
/// donation of a named donor was refunded or reversed meanwhile, which forces
/// one full pass.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// The projection version (records applied) this was built from.
    pub records: u64,
    /// Donations read so far, in log order.
    donations_seen: usize,
    pub donors: HashMap<String, DonorIdentity>,
    /// Per donor: donations given under their name (not anonymous), net of
    /// refunds and reversals. Anonymous gifts are never added to a name.
    pub credited_donations_fen: HashMap<String, i64>,
    /// Per donor: all their donations, net, as read here; compared with the
    /// projections' own total to notice refunds of older gifts.
    donated_net_fen: HashMap<String, i64>,
    pub fund_names: HashMap<String, String>,
    pub project_titles: HashMap<String, String>,
}

impl Directory {
    /// One full pass over the donations.
    pub fn build(projections: &Projections) -> Directory {
        Directory::default().refreshed(projections)
    }

    /// This directory brought up to `projections`' version.
    pub fn refreshed(&self, projections: &Projections) -> Directory {
        let mut next = Directory {
            records: projections.applied_len(),
            donations_seen: self.donations_seen,
            credited_donations_fen: self.credited_donations_fen.clone(),
            donated_net_fen: self.donated_net_fen.clone(),
            ..Directory::default()
        };
        let total = projections.donations_count();
        assert!(next.donations_seen <= total, "donations are never removed");
        let first_unseen = next.donations_seen;
        for_each_page(
            total - first_unseen,
            |offset, limit| projections.donations(first_unseen + offset, limit),
            |donation| next.count_donation(donation),
        );
        next.donations_seen = total;
        let donors = projections.donors();
        let older_gift_given_back = donors.iter().any(|donor| {
            donor.donated_fen
                != next
                    .donated_net_fen
                    .get(&donor.donor_id)
                    .copied()
                    .unwrap_or(0)
        });
        if older_gift_given_back && self.donations_seen > 0 {
            return Directory::build(projections);
        }
        assert!(
            !older_gift_given_back,
            "a full pass must agree with the projections' donor totals"
        );
        for donor in donors {
            next.donors.insert(
                donor.donor_id.clone(),
                DonorIdentity {
                    donor_id: donor.donor_id,
                    name: donor.name,
                    is_enterprise: donor.kind == "enterprise",
                    show_name_publicly: donor.show_name_publicly,
                },
            );
        }
        for fund in projections.fund_balances() {
            next.fund_names.insert(fund.fund_id, fund.name);
        }
        for project in projections.projects() {
            next.project_titles
                .insert(project.project_id, project.title);
        }
        next
    }

    fn count_donation(&mut self, donation: mingzhang_projections::DonationEntry) {
        if donation.donor_id.is_empty() {
            return;
        }
        *self
            .donated_net_fen
            .entry(donation.donor_id.clone())
            .or_default() += donation.net_fen;
        if !donation.anonymous {
            *self
                .credited_donations_fen
                .entry(donation.donor_id)
                .or_default() += donation.net_fen;
        }
    }

    /// The credit for a gift or act of `donor_id` (empty: a walk-in gift).
    pub fn credit(&self, donor_id: &str, anonymous: bool) -> Credit {
        match self.donors.get(donor_id) {
            Some(identity) => identity.credit(anonymous),
            None => Credit::Anonymous,
        }
    }

    pub fn fund_name(&self, fund_id: &str) -> String {
        self.fund_names
            .get(fund_id)
            .cloned()
            .unwrap_or_else(|| fund_id.to_owned())
    }

    pub fn project_title(&self, project_id: &str) -> String {
        self.project_titles
            .get(project_id)
            .cloned()
            .unwrap_or_else(|| project_id.to_owned())
    }
}

/// What the page says about the log it reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Records applied to the projections the page was rendered from.
    pub records: u64,
    /// The latest signed checkpoint (C2SP signed note), if the log signs them.
    pub checkpoint: Option<CheckpointSummary>,
    pub verifier_key: Option<String>,
    /// The date overdue pledges are judged against (CST, "YYYY-MM-DD").
    pub as_of: String,
    /// Where `as_of` came from, which the page says.
    pub as_of_source: AsOfSource,
}

/// Why the page judges pledges as of its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOfSource {
    /// `?as_of=` in the request.
    Asked,
    /// The server was configured with it.
    Configured,
    /// The day the newest record was recorded: the ledger's data end
    /// before today, so today would brand pledgers overdue for instalments
    /// the ledger cannot know about yet.
    NewestRecord,
    /// Today in China.
    Today,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSummary {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash_base64: String,
    pub text: String,
    /// Witnesses whose cosignature on this checkpoint verifies, with the
    /// time they cosigned (CST, "YYYY-MM-DD HH:MM").
    pub cosigned_by: Vec<(String, String)>,
}

impl CheckpointSummary {
    /// Reads the body of a signed note: origin, tree size, base64 root hash.
    /// A checkpoint that does not parse is shown as text only (`None`).
    pub fn parse(text: &str) -> Option<CheckpointSummary> {
        let mut lines = text.lines();
        let origin = lines.next()?.to_owned();
        let tree_size = lines.next()?.parse().ok()?;
        let root_hash_base64 = lines.next()?.to_owned();
        Some(CheckpointSummary {
            origin,
            tree_size,
            root_hash_base64,
            text: text.to_owned(),
            cosigned_by: Vec::new(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignView {
    pub campaign_id: String,
    pub name: String,
    pub target_fen: i64,
    pub raised_fen: i64,
    pub donations_fen: i64,
    pub pledge_payments_fen: i64,
    pub pledged_fen: i64,
    pub reached_bp: i64,
    pub years: Vec<CampaignYearView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignYearView {
    pub year: i32,
    pub target_fen: i64,
    pub raised_fen: i64,
    pub pledged_fen: i64,
    pub pledge_payments_fen: i64,
    pub reached_bp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthView {
    /// "YYYY-MM"
    pub month: String,
    pub in_fen: i64,
    pub out_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundView {
    pub fund_id: String,
    pub name: String,
    pub kind: FundKindView,
    /// Whether the money may be spent only on a stated purpose: a restricted
    /// or special support fund, or a fund that received nothing but project
    /// funding (each fen of which belongs to its project), whatever kind it
    /// was opened with.
    pub restricted: bool,
    pub restriction: String,
    pub available_fen: i64,
    pub restricted_to_projects_fen: i64,
    pub committed_to_grants_fen: i64,
    pub total_held_fen: i64,
    pub total_in_fen: i64,
    pub total_out_fen: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundKindView {
    Unrestricted,
    Restricted,
    SpecialSupport,
    Unspecified,
}

impl FundKindView {
    /// Restricted money (by fund, or special support) is shown apart from
    /// money the operator may spend on any purpose.
    pub fn is_restricted(self) -> bool {
        matches!(
            self,
            FundKindView::Restricted | FundKindView::SpecialSupport
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SponsorView {
    pub donor_id: String,
    pub name: String,
    pub is_enterprise: bool,
    /// A government body's own money (see `is_government_name`): shown as
    /// government funding, not among the 爱心单位 (sponsors).
    pub is_government: bool,
    pub alliance_member: bool,
    /// Given under the sponsor's name, net of refunds; anonymous gifts excluded.
    pub credited_donations_fen: i64,
    pub pledged_fen: i64,
    pub pledge_paid_fen: i64,
    pub project_funding_fen: i64,
    pub projects_claimed: Vec<ProjectLink>,
}

impl SponsorView {
    pub fn total_given_fen(&self) -> i64 {
        self.credited_donations_fen + self.pledge_paid_fen + self.project_funding_fen
    }

    /// Whether anything this donor did is credited to its name in public: a
    /// named gift, a pledge, a project claimed or funded. A donor whose only
    /// gifts were anonymous has done nothing in public, so has no page: a
    /// page of its own would name who gave anonymously.
    pub fn has_public_act(&self) -> bool {
        self.total_given_fen() > 0 || self.pledged_fen > 0 || !self.projects_claimed.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLink {
    pub project_id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeSummaryView {
    pub sponsor: Credit,
    pub pledged_fen: i64,
    pub paid_fen: i64,
    pub fulfilled_instalments: u64,
    pub fulfilled_fen: i64,
    pub due_instalments: u64,
    pub due_fen: i64,
    pub overdue_instalments: u64,
    pub overdue_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundView {
    pub round_id: String,
    pub name: String,
    pub fund_name: String,
    pub budget_fen: i64,
    pub applications_open_on: String,
    pub applications_close_on: String,
    pub applications: u64,
    pub requested_fen: i64,
    pub reviewed: u64,
    pub shortlisted: u64,
    pub awarded: u64,
    pub awarded_fen: i64,
    pub disbursed_fen: i64,
    pub evaluations: u64,
    pub evaluations_passed: u64,
    pub self_assessments: u64,
    pub closed_grants: u64,
    pub returned_fen: i64,
    pub budget_remaining_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRowView {
    pub grant_id: String,
    pub round_id: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub title: String,
    pub amount_fen: i64,
    pub disbursed_fen: i64,
    pub returned_fen: i64,
    pub closed: bool,
    pub evaluations_passed: usize,
    pub evaluations: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPageView {
    pub row: GrantRowView,
    pub round_name: String,
    pub summary_close_reason: String,
    pub tranches: Vec<TrancheRowView>,
    pub evaluations: Vec<EvaluationRowView>,
    pub self_assessments: Vec<SelfAssessmentRowView>,
    /// As of the page's stated date (docs/disclosures.md).
    pub disclosures: mingzhang_projections::DisclosureCalendar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrancheRowView {
    pub index: u32,
    pub amount_fen: i64,
    pub requires_evaluation: bool,
    pub status: TrancheStatusView,
    pub paid_on: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrancheStatusView {
    Paid,
    Payable,
    AwaitingEvaluation,
    Scheduled,
    Returned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationRowView {
    pub period: String,
    pub evaluator: String,
    pub score: i32,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfAssessmentRowView {
    pub quarter: String,
    pub report_sha256: String,
    pub summary: String,
    /// The uploaded report, filled by the page from the document store.
    pub document: Option<crate::documents::DocumentMeta>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectStatusView {
    Published,
    Claimed,
    Funded,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRowView {
    pub project_id: String,
    pub title: String,
    pub need_kind: String,
    pub community: String,
    pub survey: String,
    pub budget_fen: i64,
    pub funding_received_fen: i64,
    pub spent_fen: i64,
    pub balance_fen: i64,
    pub status: ProjectStatusView,
    /// The sponsor holding the claim now.
    pub claimant: Option<Credit>,
    pub completion: Option<CompletionRowView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRowView {
    pub report_sha256: String,
    pub summary: String,
    pub completed_on: String,
    /// The uploaded report, filled by the page from the document store.
    pub document: Option<crate::documents::DocumentMeta>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPageView {
    pub row: ProjectRowView,
    pub description_fund_name: String,
    pub claim_history: Vec<ClaimRowView>,
    /// Who paid, whether or not it holds the claim now.
    pub funders: Vec<FunderView>,
    pub fundings: Vec<FundingRowView>,
    pub expenditures: Vec<ExpenditureRowView>,
    /// Claim releases and reversals of its expenditures.
    pub corrections: Vec<super::accounts::CorrectionRowView>,
    /// As of the page's stated date (docs/disclosures.md).
    pub disclosures: mingzhang_projections::DisclosureCalendar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRowView {
    pub sponsor: Credit,
    pub released: bool,
    /// The day the release was recorded; empty while held.
    pub released_on: String,
    pub release_reason: String,
    /// What this claimant paid towards the project (0 if nothing).
    pub funded_fen: i64,
}

/// A sponsor credited for the money it paid into a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunderView {
    pub sponsor: Credit,
    pub funded_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingRowView {
    pub sponsor: Credit,
    pub project_id: String,
    pub amount_fen: i64,
    pub received_on: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpenditureRowView {
    pub expenditure_id: String,
    pub fund_name: String,
    pub project: Option<ProjectLink>,
    pub amount_fen: i64,
    /// Organisations and companies by name; private persons masked.
    pub payee: String,
    pub payee_kind: String,
    pub purpose: String,
    pub category: String,
    pub receipt_no: String,
    pub paid_on: String,
    pub reversed_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonationRowView {
    pub donation_id: String,
    pub giver: Credit,
    pub fund_name: String,
    pub project: Option<ProjectLink>,
    pub amount_fen: i64,
    pub net_fen: i64,
    /// Reversed as a booking error (a duplicate entry): never income.
    pub reversed_fen: i64,
    pub channel: String,
    pub received_on: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOverview {
    pub provenance: Provenance,
    pub campaigns: Vec<CampaignView>,
    pub monthly: Vec<MonthView>,
    pub funds: Vec<FundView>,
    pub sponsors: Vec<SponsorView>,
    pub pledges: Vec<PledgeSummaryView>,
    pub rounds: Vec<RoundView>,
    pub grants: Vec<GrantRowView>,
    pub projects: Vec<ProjectRowView>,
    pub latest_expenditures: Vec<ExpenditureRowView>,
    pub expenditures_total: usize,
    pub latest_donations: Vec<DonationRowView>,
    pub donations_total: usize,
    /// Every correction note, newest first, at most `LATEST_ROWS_MAX`.
    pub corrections: Vec<super::accounts::CorrectionRowView>,
    /// Where every fund's money went (支出去向).
    pub outflows: super::outflows::OutflowView,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SponsorPageView {
    pub sponsor: SponsorView,
    /// Corrections of its pledges, its named gifts and its claims.
    pub corrections: Vec<super::accounts::CorrectionRowView>,
    pub donations: Vec<DonationRowView>,
    pub pledges: Vec<SponsorPledgeView>,
    pub fundings: Vec<FundingRowView>,
    /// 善款去向 of its named gifts (`page::flows`).
    pub flows: super::flows::SponsorFlowsView,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SponsorPledgeView {
    pub pledge_id: String,
    pub total_fen: i64,
    pub paid_fen: i64,
    pub cancelled: bool,
    pub instalments: Vec<InstalmentRowView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalmentRowView {
    pub due_on: String,
    pub amount_fen: i64,
    pub paid_fen: i64,
    pub status: InstalmentStatusView,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstalmentStatusView {
    Paid,
    Due,
    Overdue,
    Waived,
}

fn instalment_status(status: InstalmentStatus) -> InstalmentStatusView {
    match status {
        InstalmentStatus::Paid => InstalmentStatusView::Paid,
        InstalmentStatus::Due => InstalmentStatusView::Due,
        InstalmentStatus::Overdue => InstalmentStatusView::Overdue,
        InstalmentStatus::Waived => InstalmentStatusView::Waived,
    }
}

fn fund_kind(kind: &str) -> FundKindView {
    match kind {
        "unrestricted" => FundKindView::Unrestricted,
        "restricted" => FundKindView::Restricted,
        "special_support" => FundKindView::SpecialSupport,
        _ => FundKindView::Unspecified,
    }
}

fn project_status(status: ProjectStatus) -> ProjectStatusView {
    match status {
        ProjectStatus::Published => ProjectStatusView::Published,
        ProjectStatus::Claimed => ProjectStatusView::Claimed,
        ProjectStatus::Funded => ProjectStatusView::Funded,
        ProjectStatus::Completed => ProjectStatusView::Completed,
    }
}

pub fn fund_view(fund: mingzhang_projections::FundBalance) -> FundView {
    FundView {
        fund_id: fund.fund_id,
        name: fund.name,
        kind: fund_kind(&fund.kind),
        restricted: fund_kind(&fund.kind).is_restricted(),
        restriction: fund.restriction,
        available_fen: fund.available_fen,
        restricted_to_projects_fen: fund.restricted_to_projects_fen,
        committed_to_grants_fen: fund.committed_to_grants_fen,
        total_held_fen: fund.total_held_fen,
        total_in_fen: fund.total_in_fen,
        total_out_fen: fund.total_out_fen,
    }
}

/// Everything the overview shows, from one read of the projections.
pub fn views_from(
    projections: &Projections,
    directory: &Directory,
    provenance: Provenance,
) -> PublicOverview {
    assert_eq!(
        directory.records,
        projections.applied_len(),
        "the directory must be built from the same projection version"
    );
    let campaigns = projections
        .campaigns()
        .into_iter()
        .map(|campaign| CampaignView {
            campaign_id: campaign.campaign_id,
            name: campaign.name,
            target_fen: campaign.total_target_fen,
            raised_fen: campaign.raised_fen,
            donations_fen: campaign.donations_fen,
            pledge_payments_fen: campaign.pledge_payments_fen,
            pledged_fen: campaign.pledged_fen,
            reached_bp: campaign.target_reached_bp,
            years: campaign
                .years
                .into_iter()
                .map(|year| CampaignYearView {
                    year: year.year,
                    target_fen: year.target_fen,
                    raised_fen: year.raised_fen,
                    pledged_fen: year.pledged_fen,
                    pledge_payments_fen: year.pledge_payments_fen,
                    reached_bp: year.target_reached_bp,
                })
                .collect(),
        })
        .collect();
    let monthly = projections
        .monthly_flows()
        .into_iter()
        .map(|flow| MonthView {
            month: flow.month,
            in_fen: flow.in_fen,
            out_fen: flow.out_fen,
        })
        .collect();
    let projects_view = projections.projects();
    let funds = projections
        .fund_balances()
        .into_iter()
        .map(fund_view)
        .map(|mut fund| {
            let project_funding_fen: i64 = projects_view
                .iter()
                .filter(|project| project.fund_id == fund.fund_id)
                .map(|project| project.funding_received_fen)
                .sum();
            if fund.total_in_fen > 0 && project_funding_fen >= fund.total_in_fen {
                fund.restricted = true;
            }
            fund
        })
        .collect();
    let pledges = match projections.pledge_status(&provenance.as_of) {
        Ok(report) => report
            .sponsors
            .into_iter()
            .map(|sponsor| PledgeSummaryView {
                sponsor: directory.credit(&sponsor.donor_id, false),
                pledged_fen: sponsor.pledged_fen,
                paid_fen: sponsor.paid_fen,
                fulfilled_instalments: sponsor.fulfilled_instalments,
                fulfilled_fen: sponsor.fulfilled_fen,
                due_instalments: sponsor.due_instalments,
                due_fen: sponsor.due_fen,
                overdue_instalments: sponsor.overdue_instalments,
                overdue_fen: sponsor.overdue_fen,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let rounds = projections
        .grant_rounds()
        .into_iter()
        .map(|round| RoundView {
            fund_name: directory.fund_name(&round.fund_id),
            round_id: round.round_id,
            name: round.name,
            budget_fen: round.budget_fen,
            applications_open_on: round.applications_open_on.render(),
            applications_close_on: round.applications_close_on.render(),
            applications: round.applications,
            requested_fen: round.requested_fen,
            reviewed: round.reviewed,
            shortlisted: round.shortlisted,
            awarded: round.awarded,
            awarded_fen: round.awarded_fen,
            disbursed_fen: round.disbursed_fen,
            evaluations: round.evaluations,
            evaluations_passed: round.evaluations_passed,
            self_assessments: round.self_assessments,
            closed_grants: round.closed_grants,
            returned_fen: round.returned_fen,
            budget_remaining_fen: round.budget_remaining_fen,
        })
        .collect();
    let grants = projections
        .grants()
        .into_iter()
        .map(|grant| grant_row(&grant))
        .collect();
    let projects = projections
        .projects()
        .into_iter()
        .map(|project| project_row(&project, directory))
        .collect();
    let expenditures_total = projections.expenditures_count();
    let latest_expenditures = latest_expenditures(projections, directory, LATEST_ROWS_MAX);
    let donations_total = projections.donations_count();
    let first = donations_total.saturating_sub(LATEST_ROWS_MAX);
    let mut latest_donations: Vec<DonationRowView> = projections
        .donations(first, LATEST_ROWS_MAX)
        .into_iter()
        .map(|donation| donation_row(&donation, directory))
        .collect();
    latest_donations.reverse();
    // "最近 N 笔" reads newest first by date; a record entered late with an
    // earlier stated date takes its place by date (the sort is stable, so
    // one day's rows stay newest recorded first).
    latest_donations.sort_by(|a, b| b.received_on.cmp(&a.received_on));
    PublicOverview {
        provenance,
        campaigns,
        monthly,
        funds,
        sponsors: sponsors(projections, directory),
        pledges,
        rounds,
        grants,
        projects,
        latest_expenditures,
        expenditures_total,
        latest_donations,
        donations_total,
        corrections: {
            let mut notes = super::accounts::correction_rows(projections, directory);
            notes.reverse();
            notes.truncate(LATEST_ROWS_MAX);
            notes
        },
        outflows: super::outflows::outflows(projections, None),
    }
}

/// Publicly named donors with what they gave, pledged and claimed, most
/// generous first.
/// The ledger records no "government" donor kind, and the log format stays
/// as it is; so a donor is a government body when its recorded name says so:
/// a 街道办事处 (sub-district office), a 人民政府 (people's government) or a
/// 政府 department. docs/glossary.md states the rule.
pub fn is_government_name(name: &str) -> bool {
    ["街道办事处", "人民政府", "政府"]
        .iter()
        .any(|marker| name.contains(marker))
}

pub fn sponsors(projections: &Projections, directory: &Directory) -> Vec<SponsorView> {
    let mut sponsors: Vec<SponsorView> = projections
        .donors()
        .into_iter()
        .filter(|donor| donor.show_name_publicly)
        .map(|donor| sponsor_view(donor, directory))
        .filter(SponsorView::has_public_act)
        .collect();
    sponsors.sort_by(|a, b| {
        b.total_given_fen()
            .cmp(&a.total_given_fen())
            .then_with(|| a.donor_id.cmp(&b.donor_id))
    });
    sponsors
}

fn sponsor_view(donor: mingzhang_projections::DonorView, directory: &Directory) -> SponsorView {
    assert!(
        donor.show_name_publicly,
        "only publicly named donors become sponsor views"
    );
    SponsorView {
        credited_donations_fen: directory
            .credited_donations_fen
            .get(&donor.donor_id)
            .copied()
            .unwrap_or(0),
        projects_claimed: donor
            .projects_claimed
            .iter()
            .map(|project_id| ProjectLink {
                project_id: project_id.clone(),
                title: directory.project_title(project_id),
            })
            .collect(),
        donor_id: donor.donor_id,
        is_government: is_government_name(&donor.name),
        name: donor.name,
        is_enterprise: donor.kind == "enterprise",
        alliance_member: donor.alliance_member,
        pledged_fen: donor.pledged_fen,
        pledge_paid_fen: donor.pledge_paid_fen,
        project_funding_fen: donor.project_funding_fen,
    }
}

fn grant_row(grant: &mingzhang_projections::GrantView) -> GrantRowView {
    GrantRowView {
        grant_id: grant.grant_id.clone(),
        round_id: grant.round_id.clone(),
        organisation_id: grant.organisation_id.clone(),
        organisation_name: grant.organisation_name.clone(),
        title: grant.title.clone(),
        amount_fen: grant.amount_fen,
        disbursed_fen: grant.disbursed_fen,
        returned_fen: grant.returned_fen,
        closed: grant.closed,
        evaluations_passed: grant.evaluations.iter().filter(|e| e.passed).count(),
        evaluations: grant.evaluations.len(),
    }
}

fn project_row(
    project: &mingzhang_projections::ProjectView,
    directory: &Directory,
) -> ProjectRowView {
    ProjectRowView {
        project_id: project.project_id.clone(),
        title: project.title.clone(),
        need_kind: project.need_kind.clone(),
        community: project.community.clone(),
        survey: project.survey.clone(),
        budget_fen: project.budget_fen,
        funding_received_fen: project.funding_received_fen,
        spent_fen: project.spent_fen,
        balance_fen: project.balance_fen,
        status: project_status(project.status),
        claimant: project
            .claimant_id
            .as_deref()
            .map(|sponsor_id| directory.credit(sponsor_id, false)),
        completion: project
            .completion
            .as_ref()
            .map(|completion| CompletionRowView {
                report_sha256: completion.report_sha256.clone(),
                summary: completion.summary.clone(),
                completed_on: completion.completed_on.render(),
                document: None,
            }),
    }
}

fn project_link(project_id: &str, directory: &Directory) -> Option<ProjectLink> {
    (!project_id.is_empty()).then(|| ProjectLink {
        project_id: project_id.to_owned(),
        title: directory.project_title(project_id),
    })
}

pub fn donation_row(
    donation: &mingzhang_projections::DonationEntry,
    directory: &Directory,
) -> DonationRowView {
    DonationRowView {
        donation_id: donation.donation_id.clone(),
        giver: directory.credit(&donation.donor_id, donation.anonymous),
        fund_name: directory.fund_name(&donation.fund_id),
        project: project_link(&donation.project_id, directory),
        amount_fen: donation.amount_fen,
        net_fen: donation.net_fen,
        reversed_fen: donation.reversed_fen,
        channel: donation.channel.clone(),
        received_on: donation.received_on.render(),
    }
}

pub fn expenditure_row(
    expenditure: &mingzhang_projections::ExpenditureEntry,
    directory: &Directory,
) -> ExpenditureRowView {
    ExpenditureRowView {
        expenditure_id: expenditure.expenditure_id.clone(),
        fund_name: directory.fund_name(&expenditure.fund_id),
        project: project_link(&expenditure.project_id, directory),
        amount_fen: expenditure.amount_fen,
        payee: public_payee(&expenditure.payee, &expenditure.payee_kind),
        payee_kind: expenditure.payee_kind.clone(),
        purpose: expenditure.purpose.clone(),
        category: expenditure.category.clone(),
        receipt_no: expenditure.receipt_no.clone(),
        paid_on: expenditure.paid_on.render(),
        reversed_fen: expenditure.reversed_fen,
    }
}

fn latest_expenditures(
    projections: &Projections,
    directory: &Directory,
    limit: usize,
) -> Vec<ExpenditureRowView> {
    let total = projections.expenditures_count();
    let mut rows: Vec<ExpenditureRowView> = projections
        .expenditures(total.saturating_sub(limit), limit)
        .iter()
        .map(|expenditure| expenditure_row(expenditure, directory))
        .collect();
    rows.reverse();
    rows.sort_by(|a, b| b.paid_on.cmp(&a.paid_on));
    rows
}

/// Visits every row of a paged list, `LIST_PAGE_MAX` at a time.
pub fn for_each_page<T>(
    total: usize,
    mut fetch: impl FnMut(usize, usize) -> Vec<T>,
    mut visit: impl FnMut(T),
) {
    let mut offset = 0;
    while offset < total {
        let batch = fetch(offset, LIST_PAGE_MAX);
        assert!(!batch.is_empty(), "a paged list ended before its count");
        offset += batch.len();
        batch.into_iter().for_each(&mut visit);
    }
}

pub fn project_page(
    projections: &Projections,
    directory: &Directory,
    project_id: &str,
    as_of: mingzhang_projections::Day,
) -> Option<ProjectPageView> {
    let project = projections.project(project_id)?;
    let mut fundings = Vec::new();
    for_each_page(
        projections.project_fundings_count(),
        |offset, limit| projections.project_fundings(offset, limit),
        |funding| {
            if funding.project_id == project_id {
                fundings.push(FundingRowView {
                    sponsor: directory.credit(&funding.sponsor_id, false),
                    project_id: funding.project_id,
                    amount_fen: funding.amount_fen,
                    received_on: funding.received_on.render(),
                });
            }
        },
    );
    let mut expenditures = Vec::new();
    for_each_page(
        projections.expenditures_count(),
        |offset, limit| projections.expenditures(offset, limit),
        |expenditure| {
            if expenditure.project_id == project_id {
                expenditures.push(expenditure_row(&expenditure, directory));
            }
        },
    );
    let corrections: Vec<super::accounts::CorrectionRowView> =
        super::accounts::correction_rows(projections, directory)
            .into_iter()
            .filter(|note| {
                let released = note.subject_id == project_id
                    && note.kind == mingzhang_projections::CorrectionKind::ClaimReleased;
                let reversed = note.kind
                    == mingzhang_projections::CorrectionKind::ExpenditureReversal
                    && expenditures
                        .iter()
                        .any(|row: &ExpenditureRowView| row.expenditure_id == note.subject_id);
                released || reversed
            })
            .collect();
    let released_on = |seq: Option<u64>| {
        corrections
            .iter()
            .find(|note| Some(note.seq) == seq)
            .map(|note| note.recorded_on.clone())
            .unwrap_or_default()
    };
    Some(ProjectPageView {
        description_fund_name: directory.fund_name(&project.fund_id),
        claim_history: project
            .claim_history
            .iter()
            .map(|claim| ClaimRowView {
                sponsor: directory.credit(&claim.sponsor_id, false),
                released: claim.released_at_seq.is_some(),
                released_on: released_on(claim.released_at_seq),
                release_reason: claim.release_reason.clone(),
                funded_fen: claim.funded_fen,
            })
            .collect(),
        funders: project
            .funders
            .iter()
            .map(|funder| FunderView {
                sponsor: directory.credit(&funder.sponsor_id, false),
                funded_fen: funder.funded_fen,
            })
            .collect(),
        corrections,
        row: project_row(&project, directory),
        fundings,
        expenditures,
        disclosures: projections.project_disclosure_calendar(project_id, as_of)?,
    })
}

pub fn grant_page(
    projections: &Projections,
    grant_id: &str,
    as_of: mingzhang_projections::Day,
) -> Option<GrantPageView> {
    let grant = projections.grant(grant_id)?;
    let round_name = projections
        .grant_round(&grant.round_id)
        .map(|round| round.name)
        .unwrap_or_default();
    Some(GrantPageView {
        row: grant_row(&grant),
        round_name,
        summary_close_reason: grant.close_reason.clone(),
        tranches: grant
            .tranches
            .iter()
            .map(|tranche| TrancheRowView {
                index: tranche.index,
                amount_fen: tranche.amount_fen,
                requires_evaluation: tranche.requires_evaluation,
                status: match tranche.status {
                    TrancheStatus::Paid => TrancheStatusView::Paid,
                    TrancheStatus::Payable => TrancheStatusView::Payable,
                    TrancheStatus::AwaitingEvaluation => TrancheStatusView::AwaitingEvaluation,
                    TrancheStatus::Scheduled => TrancheStatusView::Scheduled,
                    TrancheStatus::Closed => TrancheStatusView::Returned,
                },
                paid_on: tranche.paid_on.render(),
            })
            .collect(),
        evaluations: grant
            .evaluations
            .iter()
            .map(|evaluation| EvaluationRowView {
                period: evaluation.period.clone(),
                evaluator: evaluation.evaluator.clone(),
                score: evaluation.score,
                passed: evaluation.passed,
            })
            .collect(),
        self_assessments: grant
            .self_assessments
            .iter()
            .map(|report| SelfAssessmentRowView {
                quarter: report.quarter.clone(),
                report_sha256: report.report_sha256.clone(),
                summary: report.summary.clone(),
                document: None,
            })
            .collect(),
        disclosures: projections.grant_disclosure_calendar(grant_id, as_of)?,
    })
}

/// A donor with more gifts than this is looked up from the newest donations
/// backwards; one with fewer through `donations_of`, which walks them all.
const FREQUENT_DONOR_DONATIONS_MIN: u64 = 1_000;
/// Donations read per step of the backward walk.
const BACKWARD_PAGE: usize = 1_000;

/// The donor's latest gifts given under their name, newest first.
fn latest_named_donations(
    projections: &Projections,
    directory: &Directory,
    donor: &mingzhang_projections::DonorView,
) -> Vec<DonationRowView> {
    let named = |donation: &mingzhang_projections::DonationEntry| {
        donation.donor_id == donor.donor_id && !donation.anonymous
    };
    if donor.donations < FREQUENT_DONOR_DONATIONS_MIN {
        return projections
            .donations_of(&donor.donor_id)
            .iter()
            .rev()
            .filter(|donation| named(donation))
            .take(LATEST_ROWS_MAX)
            .map(|donation| donation_row(donation, directory))
            .collect();
    }
    let mut rows = Vec::with_capacity(LATEST_ROWS_MAX);
    let mut end = projections.donations_count();
    while end > 0 && rows.len() < LATEST_ROWS_MAX {
        let start = end.saturating_sub(BACKWARD_PAGE);
        let batch = projections.donations(start, end - start);
        assert_eq!(batch.len(), end - start, "a page inside the count is full");
        for donation in batch.iter().rev().filter(|donation| named(donation)) {
            if rows.len() == LATEST_ROWS_MAX {
                break;
            }
            rows.push(donation_row(donation, directory));
        }
        end = start;
    }
    rows
}

/// The sponsor page exists only for donors who chose to be named and did
/// something in public (`SponsorView::has_public_act`): anyone else's id must
/// not lead to a list of their gifts, nor to their name.
pub fn sponsor_page(
    projections: &Projections,
    directory: &Directory,
    donor_id: &str,
    as_of: &str,
) -> Option<SponsorPageView> {
    let identity = directory.donors.get(donor_id)?;
    if !identity.show_name_publicly {
        return None;
    }
    let donor = projections.donor(donor_id)?;
    let sponsor = sponsor_view(donor.clone(), directory);
    if !sponsor.has_public_act() {
        return None;
    }
    let donations = latest_named_donations(projections, directory, &donor);
    let statuses = projections
        .pledge_status(as_of)
        .map(|report| report.pledges)
        .unwrap_or_default();
    let pledges = projections
        .pledges_of(donor_id)
        .into_iter()
        .map(|pledge| {
            let status = statuses.iter().find(|s| s.pledge_id == pledge.pledge_id);
            SponsorPledgeView {
                instalments: match status {
                    Some(status) => status
                        .instalments
                        .iter()
                        .map(|instalment| InstalmentRowView {
                            due_on: instalment.due_on.render(),
                            amount_fen: instalment.amount_fen,
                            paid_fen: instalment.paid_fen,
                            status: instalment_status(instalment.status),
                        })
                        .collect(),
                    None => Vec::new(),
                },
                pledge_id: pledge.pledge_id,
                total_fen: pledge.total_fen,
                paid_fen: pledge.paid_fen,
                cancelled: pledge.cancelled,
            }
        })
        .collect();
    let mut fundings = Vec::new();
    for_each_page(
        projections.project_fundings_count(),
        |offset, limit| projections.project_fundings(offset, limit),
        |funding| {
            if funding.sponsor_id == donor_id {
                fundings.push(FundingRowView {
                    sponsor: directory.credit(donor_id, false),
                    project_id: funding.project_id,
                    amount_fen: funding.amount_fen,
                    received_on: funding.received_on.render(),
                });
            }
        },
    );
    let corrections = super::accounts::correction_rows(projections, directory)
        .into_iter()
        .filter(|note| {
            note.donor_id == donor_id
                && matches!(&note.who, Some(Credit::Named { donor_id: named, .. }) if named == donor_id)
        })
        .collect();
    Some(SponsorPageView {
        flows: super::flows::sponsor_flows(projections, donor_id, identity.show_name_publicly),
        sponsor,
        corrections,
        donations,
        pledges,
        fundings,
    })
}
