//! Query results: plain, serialisable snapshots of the read models. Amounts
//! are i64 fen in fields named `*_fen`; lists come in a deterministic order
//! (log order for events, id order for entities).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::accounts::{Account, AccountBalance, AccountClass, EntityIndex, Posting, TrialBalance};
use crate::dates::{Day, render_month};
use crate::{Pledge, ProjectionError, Projections};

/// Upper bound on one page of a list query.
pub const LIST_PAGE_MAX: usize = 10_000;

/// One in ten thousand: percentages are reported in basis points (10_000 = 100 %).
pub const BASIS_POINTS_WHOLE: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundBalance {
    pub fund_id: String,
    pub name: String,
    /// "unrestricted" | "restricted" | "special_support" | "unspecified"
    pub kind: String,
    pub restriction: String,
    /// Uncommitted, unrestricted money: `-Σ fund:F:*`.
    pub available_fen: i64,
    /// Held for projects whose fund is F: `Σ_P -Σ project:P:*`.
    pub restricted_to_projects_fen: i64,
    /// Awarded from F's rounds, not yet paid or returned: `Σ_G -Σ liabilities:grants:G`.
    pub committed_to_grants_fen: i64,
    /// available + restricted to projects + committed; always `total_in - total_out`.
    pub total_held_fen: i64,
    /// Donations (incl. those designated to F's projects) net of their
    /// reversals, pledge payments, sponsor funding of F's projects.
    pub total_in_fen: i64,
    /// Refunds, expenditures net of their reversals, grant tranches paid.
    pub total_out_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignYear {
    pub year: i32,
    /// 0 when the campaign set no target for the year.
    pub target_fen: i64,
    /// donations + pledge payments of the year.
    pub raised_fen: i64,
    /// Donations received in the year, net of their later refunds and reversals.
    pub donations_fen: i64,
    pub pledge_payments_fen: i64,
    /// Pledged instalments falling due in the year (for a cancelled pledge,
    /// only what was paid towards them).
    pub pledged_fen: i64,
    /// raised / target in basis points, rounded down; 0 without a target.
    pub target_reached_bp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignProgress {
    pub campaign_id: String,
    pub name: String,
    pub fund_id: String,
    pub total_target_fen: i64,
    pub first_year: i32,
    /// donations (net) + payments on the campaign's pledges.
    pub raised_fen: i64,
    pub donations_fen: i64,
    pub pledge_payments_fen: i64,
    /// Σ pledge totals after amendments, minus what cancellations released.
    pub pledged_fen: i64,
    pub target_reached_bp: i64,
    /// Every year with a target or with money, ascending.
    pub years: Vec<CampaignYear>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalmentView {
    pub due_on: Day,
    pub amount_fen: i64,
    /// Payments fulfil the earliest instalments first.
    pub paid_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PledgeView {
    pub pledge_id: String,
    pub donor_id: String,
    pub campaign_id: String,
    pub fund_id: String,
    /// After amendments; a cancellation does not change it (see `cancelled_fen`).
    pub total_fen: i64,
    pub paid_fen: i64,
    pub cancelled: bool,
    pub cancelled_fen: i64,
    /// Still expected: 0 once cancelled.
    pub outstanding_fen: i64,
    pub instalments: Vec<InstalmentView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstalmentStatus {
    Paid,
    /// Not fully paid, due on or after the as-of date.
    Due,
    /// Not fully paid, due before the as-of date.
    Overdue,
    /// Not fully paid, but the pledge was cancelled: nothing more is expected.
    Waived,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalmentStatusView {
    pub due_on: Day,
    pub amount_fen: i64,
    pub paid_fen: i64,
    /// amount − paid, or 0 when paid or waived.
    pub unpaid_fen: i64,
    pub status: InstalmentStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PledgeStatusView {
    pub pledge_id: String,
    pub donor_id: String,
    pub cancelled: bool,
    pub instalments: Vec<InstalmentStatusView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SponsorPledgeSummary {
    pub donor_id: String,
    pub name: String,
    pub pledged_fen: i64,
    pub paid_fen: i64,
    pub fulfilled_instalments: u64,
    pub fulfilled_fen: i64,
    pub due_instalments: u64,
    pub due_fen: i64,
    pub overdue_instalments: u64,
    pub overdue_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PledgeStatusReport {
    pub as_of: Day,
    pub pledges: Vec<PledgeStatusView>,
    /// One entry per donor with at least one pledge, by donor id.
    pub sponsors: Vec<SponsorPledgeSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantRoundView {
    pub round_id: String,
    pub fund_id: String,
    pub name: String,
    pub budget_fen: i64,
    pub applications_open_on: Day,
    pub applications_close_on: Day,
    pub applications: u64,
    pub requested_fen: i64,
    /// Applications with at least one review.
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
    /// budget − awarded + returned: a closed grant counts as what it
    /// disbursed, as the write side counts it against the budget.
    pub budget_remaining_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicationView {
    pub application_id: String,
    pub round_id: String,
    pub organisation_id: String,
    pub title: String,
    /// The application's text (what the project will do).
    pub summary: String,
    pub requested_fen: i64,
    pub submitted_on: Day,
    pub reviews: u64,
    /// Mean review score rounded down; 0 before any review.
    pub mean_score: i64,
    pub shortlisted: bool,
    /// Empty until awarded.
    pub grant_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrancheStatus {
    Paid,
    /// The next tranche, and nothing (no evaluation) stands in its way.
    Payable,
    /// The next tranche, but 以奖代拨: no passing evaluation since the last tranche.
    AwaitingEvaluation,
    /// An earlier tranche is still unpaid.
    Scheduled,
    /// Unpaid when the grant closed: returned to the fund.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrancheView {
    pub index: u32,
    pub amount_fen: i64,
    pub requires_evaluation: bool,
    pub status: TrancheStatus,
    pub paid_fen: i64,
    /// Empty until paid.
    pub paid_on: Day,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvaluationView {
    pub evaluation_id: String,
    pub period: String,
    pub evaluator: String,
    pub score: i32,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelfAssessmentView {
    pub quarter: String,
    /// Lower-case hex.
    pub report_sha256: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantView {
    pub grant_id: String,
    pub round_id: String,
    pub application_id: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub title: String,
    pub amount_fen: i64,
    /// The award decision's date; unknown for awards recorded without one.
    pub awarded_on: Day,
    pub disbursed_fen: i64,
    /// Awarded, not yet paid or returned: `-Σ liabilities:grants:G`.
    pub outstanding_commitment_fen: i64,
    pub tranches: Vec<TrancheView>,
    pub evaluations: Vec<EvaluationView>,
    pub self_assessments: Vec<SelfAssessmentView>,
    pub closed: bool,
    pub returned_fen: i64,
    pub close_reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// Open for a sponsor to claim.
    Published,
    /// A sponsor holds the claim; the funding received is below the budget.
    Claimed,
    /// Funding received (sponsor funding + designated donations, net) reached the budget.
    Funded,
    /// The completion report is filed.
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimView {
    pub sponsor_id: String,
    pub claimed_at_seq: u64,
    /// `None` while the claim is held.
    pub released_at_seq: Option<u64>,
    pub release_reason: String,
    /// What this sponsor paid towards the project (0 if nothing): a
    /// released claim keeps the credit for what it paid.
    pub funded_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompletionView {
    /// Lower-case hex.
    pub report_sha256: String,
    pub summary: String,
    pub completed_on: Day,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectView {
    pub project_id: String,
    pub title: String,
    /// "micro_wish" | "micro_charity" | "service" | "livelihood" | "unspecified"
    pub need_kind: String,
    pub community: String,
    pub survey: String,
    pub budget_fen: i64,
    pub fund_id: String,
    pub status: ProjectStatus,
    /// The sponsor holding the claim now, if any.
    pub claimant_id: Option<String>,
    pub claim_history: Vec<ClaimView>,
    /// Who paid the sponsor funding, whether or not it holds the claim now.
    pub funders: Vec<crate::ProjectFunder>,
    pub sponsor_funding_fen: i64,
    /// Designated donations net of refunds and reversals.
    pub donations_fen: i64,
    /// sponsor funding + donations.
    pub funding_received_fen: i64,
    /// Expenditures net of reversals.
    pub spent_fen: i64,
    /// `-Σ project:P:*` = funding received − spent.
    pub balance_fen: i64,
    pub completion: Option<CompletionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DonorView {
    pub donor_id: String,
    pub name: String,
    /// "enterprise" | "individual" | "unspecified"
    pub kind: String,
    pub alliance_member: bool,
    pub show_name_publicly: bool,
    /// Donations net of refunds and reversals.
    pub donated_fen: i64,
    pub donations: u64,
    /// Pledge totals after amendments, minus what cancellations released.
    pub pledged_fen: i64,
    pub pledge_paid_fen: i64,
    pub project_funding_fen: i64,
    /// Projects this donor holds the claim on now, by project id.
    pub projects_claimed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DonationEntry {
    pub donation_id: String,
    /// Empty for an unregistered walk-in gift.
    pub donor_id: String,
    pub fund_id: String,
    pub campaign_id: String,
    pub project_id: String,
    pub amount_fen: i64,
    /// "bank_transfer" | "cash" | "online" | "unspecified"
    pub channel: String,
    pub received_on: Day,
    /// The donor asked not to be named for this gift; the public page also
    /// masks donors without `show_name_publicly` and walk-in gifts.
    pub anonymous: bool,
    pub refunded_fen: i64,
    pub reversed_fen: i64,
    /// amount − refunded − reversed.
    pub net_fen: i64,
    /// Any part refunded or reversed.
    pub refunded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpenditureEntry {
    pub expenditure_id: String,
    pub fund_id: String,
    pub project_id: String,
    pub amount_fen: i64,
    /// A person's name is masked by the public page (see `payee_kind`).
    pub payee: String,
    /// "organisation" | "company" | "person" | "unspecified"
    pub payee_kind: String,
    pub purpose: String,
    /// As in the account name: "one_off_support", "purchase_of_services", ...
    pub category: String,
    pub receipt_no: String,
    pub paid_on: Day,
    pub reversed_fen: i64,
    pub reversed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectFundingEntry {
    pub funding_id: String,
    pub project_id: String,
    pub sponsor_id: String,
    pub amount_fen: i64,
    pub channel: String,
    pub received_on: Day,
}

/// Money in and out of the bank in one calendar month (CST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthFlow {
    /// "YYYY-MM"; "0000-00" collects events whose date was malformed.
    pub month: String,
    /// Donations (net of their reversals) + pledge payments + sponsor
    /// project funding, by received_on.
    pub in_fen: i64,
    /// Expenditures (paid_on, net of their reversals) + grant tranches
    /// (paid_on) + refunds of donations (month recorded).
    pub out_fen: i64,
    pub net_fen: i64,
}

fn fund_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "unrestricted",
        2 => "restricted",
        3 => "special_support",
        _ => "unspecified",
    }
}

fn donor_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "enterprise",
        2 => "individual",
        _ => "unspecified",
    }
}

fn channel_name(channel: i32) -> &'static str {
    match channel {
        1 => "bank_transfer",
        2 => "cash",
        3 => "online",
        _ => "unspecified",
    }
}

fn need_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "micro_wish",
        2 => "micro_charity",
        3 => "service",
        4 => "livelihood",
        _ => "unspecified",
    }
}

pub(crate) fn payee_kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "organisation",
        2 => "company",
        3 => "person",
        _ => "unspecified",
    }
}

/// `part / whole` in basis points, rounded down, without floats or overflow.
fn basis_points(part_fen: i64, whole_fen: i64) -> i64 {
    if whole_fen <= 0 {
        return 0;
    }
    let bp = i128::from(part_fen) * i128::from(BASIS_POINTS_WHOLE) / i128::from(whole_fen);
    i64::try_from(bp).unwrap_or(if bp < 0 { i64::MIN } else { i64::MAX })
}

/// Spreads `paid_fen` over the schedule, earliest instalment first; whatever
/// exceeds the schedule is not attributed to any instalment.
fn allocate_paid(instalments: &[(Day, i64)], paid_fen: i64) -> Vec<i64> {
    let mut left_fen = paid_fen.max(0);
    instalments
        .iter()
        .map(|&(_, amount_fen)| {
            let share_fen = left_fen.min(amount_fen.max(0));
            left_fen -= share_fen;
            share_fen
        })
        .collect()
}

fn id_or_empty(id: Option<&str>) -> String {
    id.unwrap_or_default().to_owned()
}

fn page<T>(items: &[T], offset: usize, limit: usize) -> &[T] {
    let start = offset.min(items.len());
    let end = start
        .saturating_add(limit.min(LIST_PAGE_MAX))
        .min(items.len());
    &items[start..end]
}

impl Projections {
    // -- double entry ------------------------------------------------------

    fn account_name(&self, account: Account) -> String {
        let fund_id = |fund: EntityIndex| &*self.funds[fund as usize].id;
        let project_id = |project: EntityIndex| &*self.projects[project as usize].id;
        let grant_id = |grant: EntityIndex| &*self.grants[grant as usize].id;
        match account.class() {
            AccountClass::Bank => account.name("", "", ""),
            AccountClass::Fund(fund) => account.name(fund_id(fund), "", ""),
            AccountClass::Project(project) => account.name("", project_id(project), ""),
            AccountClass::Grant(grant) => account.name("", "", grant_id(grant)),
        }
    }

    /// The postings of record `seq` (empty for events that move no money or
    /// were skipped); `None` beyond `applied_len()`.
    pub fn postings_for(&self, seq: u64) -> Option<Vec<Posting>> {
        let index = usize::try_from(seq).ok()?;
        let transfer = self.transfers.get(index)?;
        Some(transfer.map_or_else(Vec::new, |transfer| {
            vec![
                Posting {
                    account: self.account_name(transfer.debit),
                    amount_fen: transfer.amount_fen,
                },
                Posting {
                    account: self.account_name(transfer.credit),
                    amount_fen: -transfer.amount_fen,
                },
            ]
        }))
    }

    /// Balance of one account by its hierarchical name; `None` if never posted.
    pub fn account_balance(&self, account: &str) -> Option<i64> {
        self.balances
            .iter()
            .find(|&(&candidate, _)| self.account_name(candidate) == account)
            .map(|(_, &balance_fen)| balance_fen)
    }

    pub fn trial_balance(&self) -> TrialBalance {
        let accounts: BTreeMap<String, i64> = self
            .balances
            .iter()
            .map(|(&account, &balance_fen)| (self.account_name(account), balance_fen))
            .collect();
        debug_assert_eq!(accounts.len(), self.balances.len(), "account names collide");
        let total_fen = accounts.values().sum();
        TrialBalance {
            accounts: accounts
                .into_iter()
                .map(|(account, balance_fen)| AccountBalance {
                    account,
                    balance_fen,
                })
                .collect(),
            total_fen,
        }
    }

    /// SHA-256 binding every account balance, for signed checkpoints.
    ///
    /// **Canonical form:** for every account that has received at least one
    /// posting (zero balances included, so the set is exactly the one
    /// `trial_balance()` lists), one line `<account>=<balance_fen>\n`, where
    /// `<account>` is the hierarchical name (e.g. `fund:kaixuan:donations`)
    /// and `<balance_fen>` the signed decimal balance in fen (debit positive,
    /// credit negative, `-` sign, no `+`, no leading zeros, `0` for zero);
    /// lines sorted by account name in byte order; UTF-8; no header or
    /// trailer. The digest is SHA-256 of the concatenated lines (the empty
    /// string, for an empty ledger).
    pub fn balances_digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.balances_canonical_text());
        hasher.finalize().into()
    }

    /// The exact text `balances_digest` hashes.
    pub fn balances_canonical_text(&self) -> String {
        let mut text = String::new();
        for line in self.trial_balance().accounts {
            text.push_str(&line.account);
            text.push('=');
            text.push_str(&line.balance_fen.to_string());
            text.push('\n');
        }
        text
    }

    /// Checks the ledger identities: the trial balance is zero; `assets:bank`
    /// equals Σ fund available + Σ project balances + Σ outstanding grant
    /// commitments; per fund, held = in − out; and the monthly series nets
    /// to the bank balance. A failure is a bug in projections or in the
    /// write side, described in the error.
    pub fn check_identities(&self) -> Result<(), String> {
        let mut total_fen = 0i64;
        let mut bank_fen = 0i64;
        let mut held_fen = 0i64;
        for (&account, &balance_fen) in &self.balances {
            total_fen += balance_fen;
            match account.class() {
                AccountClass::Bank => bank_fen += balance_fen,
                AccountClass::Fund(_) | AccountClass::Project(_) | AccountClass::Grant(_) => {
                    held_fen -= balance_fen
                }
            }
        }
        if total_fen != 0 {
            return Err(format!("trial balance is {total_fen} fen, not 0"));
        }
        if bank_fen != held_fen {
            return Err(format!(
                "assets:bank is {bank_fen} fen but funds, projects and grant commitments hold {held_fen}"
            ));
        }
        for fund in self.fund_balances() {
            if fund.total_held_fen != fund.total_in_fen - fund.total_out_fen {
                return Err(format!(
                    "fund {:?} holds {} fen but took in {} and paid out {}",
                    fund.fund_id, fund.total_held_fen, fund.total_in_fen, fund.total_out_fen
                ));
            }
        }
        let monthly_net_fen: i64 = self
            .monthly
            .values()
            .map(|flow| flow.in_fen - flow.out_fen)
            .sum();
        if monthly_net_fen != bank_fen {
            return Err(format!(
                "monthly series nets to {monthly_net_fen} fen but assets:bank is {bank_fen}"
            ));
        }
        Ok(())
    }

    fn balance(&self, account: Account) -> i64 {
        self.balances.get(&account).copied().unwrap_or(0)
    }

    fn fund_available_fen(&self, fund: EntityIndex) -> i64 {
        let categories: BTreeSet<i32> = self
            .balances
            .keys()
            .filter_map(|account| match *account {
                Account::FundExpenses(of, category) if of == fund => Some(category),
                _ => None,
            })
            .collect();
        let expenses_fen: i64 = categories
            .into_iter()
            .map(|category| self.balance(Account::FundExpenses(fund, category)))
            .sum();
        -(self.balance(Account::FundDonations(fund))
            + self.balance(Account::FundRefunds(fund))
            + self.balance(Account::FundPledgePayments(fund))
            + self.balance(Account::FundGrantsCommitted(fund))
            + self.balance(Account::FundGrantsReturned(fund))
            + expenses_fen)
    }

    fn project_balance_fen(&self, project: EntityIndex) -> i64 {
        -(self.balance(Account::ProjectDonations(project))
            + self.balance(Account::ProjectRefunds(project))
            + self.balance(Account::ProjectSponsorFunding(project))
            + self.balance(Account::ProjectExpenses(project)))
    }

    fn grant_outstanding_fen(&self, grant: EntityIndex) -> i64 {
        -self.balance(Account::GrantLiability(grant))
    }

    // -- funds -------------------------------------------------------------

    /// Every fund, by fund id.
    pub fn fund_balances(&self) -> Vec<FundBalance> {
        let mut restricted_fen = vec![0i64; self.funds.len()];
        for (index, project) in self.projects.iter().enumerate() {
            restricted_fen[project.fund as usize] += self.project_balance_fen(index as EntityIndex);
        }
        let mut committed_fen = vec![0i64; self.funds.len()];
        for (index, grant) in self.grants.iter().enumerate() {
            let fund = self.rounds[grant.round as usize].fund;
            committed_fen[fund as usize] += self.grant_outstanding_fen(index as EntityIndex);
        }
        let mut balances: Vec<FundBalance> = self
            .funds
            .iter()
            .enumerate()
            .map(|(index, fund)| {
                let available_fen = self.fund_available_fen(index as EntityIndex);
                FundBalance {
                    fund_id: fund.id.to_string(),
                    name: fund.name.clone(),
                    kind: fund_kind_name(fund.kind).to_owned(),
                    restriction: fund.restriction.clone(),
                    available_fen,
                    restricted_to_projects_fen: restricted_fen[index],
                    committed_to_grants_fen: committed_fen[index],
                    total_held_fen: available_fen + restricted_fen[index] + committed_fen[index],
                    total_in_fen: fund.total_in_fen,
                    total_out_fen: fund.total_out_fen,
                }
            })
            .collect();
        balances.sort_by(|a, b| a.fund_id.cmp(&b.fund_id));
        balances
    }

    pub fn fund_balance(&self, fund_id: &str) -> Option<FundBalance> {
        self.funds.index_of(fund_id)?;
        self.fund_balances()
            .into_iter()
            .find(|fund| fund.fund_id == fund_id)
    }

    // -- campaigns ---------------------------------------------------------

    /// Every campaign, by campaign id.
    pub fn campaigns(&self) -> Vec<CampaignProgress> {
        let mut campaigns: Vec<CampaignProgress> = (0..self.campaigns.len())
            .map(|index| self.campaign_progress_at(index))
            .collect();
        campaigns.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
        campaigns
    }

    pub fn campaign(&self, campaign_id: &str) -> Option<CampaignProgress> {
        let index = self.campaigns.index_of(campaign_id)?;
        Some(self.campaign_progress_at(index as usize))
    }

    fn campaign_progress_at(&self, index: usize) -> CampaignProgress {
        let campaign = &self.campaigns[index];
        let mut pledged_by_year: BTreeMap<i32, i64> = BTreeMap::new();
        let mut pledged_fen = 0i64;
        for &pledge in &campaign.pledges {
            let pledge = &self.pledges[pledge as usize];
            pledged_fen += pledge.total_fen - pledge.cancelled_fen;
            let paid = allocate_paid(&pledge.instalments, pledge.paid_fen);
            for (&(due_on, amount_fen), paid_fen) in pledge.instalments.iter().zip(paid) {
                let expected_fen = if pledge.cancelled {
                    paid_fen
                } else {
                    amount_fen
                };
                if due_on.is_known() {
                    *pledged_by_year.entry(due_on.year()).or_default() += expected_fen;
                }
            }
        }
        let years: BTreeSet<i32> = campaign
            .yearly_targets
            .keys()
            .chain(campaign.by_year.keys())
            .chain(pledged_by_year.keys())
            .copied()
            .collect();
        let years = years
            .into_iter()
            .map(|year| {
                let flow = campaign.by_year.get(&year).copied().unwrap_or_default();
                let target_fen = campaign.yearly_targets.get(&year).copied().unwrap_or(0);
                let raised_fen = flow.donations_fen + flow.pledge_payments_fen;
                CampaignYear {
                    year,
                    target_fen,
                    raised_fen,
                    donations_fen: flow.donations_fen,
                    pledge_payments_fen: flow.pledge_payments_fen,
                    pledged_fen: pledged_by_year.get(&year).copied().unwrap_or(0),
                    target_reached_bp: basis_points(raised_fen, target_fen),
                }
            })
            .collect();
        let raised_fen = campaign.donations_fen + campaign.pledge_payments_fen;
        CampaignProgress {
            campaign_id: campaign.id.to_string(),
            name: campaign.name.clone(),
            fund_id: self.funds[campaign.fund as usize].id.to_string(),
            total_target_fen: campaign.total_target_fen,
            first_year: campaign.first_year,
            raised_fen,
            donations_fen: campaign.donations_fen,
            pledge_payments_fen: campaign.pledge_payments_fen,
            pledged_fen,
            target_reached_bp: basis_points(raised_fen, campaign.total_target_fen),
            years,
        }
    }

    // -- pledges -----------------------------------------------------------

    /// Every pledge, by pledge id.
    pub fn pledges(&self) -> Vec<PledgeView> {
        let mut pledges: Vec<PledgeView> =
            self.pledges.iter().map(|p| self.pledge_view(p)).collect();
        pledges.sort_by(|a, b| a.pledge_id.cmp(&b.pledge_id));
        pledges
    }

    pub fn pledge(&self, pledge_id: &str) -> Option<PledgeView> {
        let index = self.pledges.index_of(pledge_id)?;
        Some(self.pledge_view(&self.pledges[index as usize]))
    }

    fn pledge_view(&self, pledge: &Pledge) -> PledgeView {
        let paid = allocate_paid(&pledge.instalments, pledge.paid_fen);
        PledgeView {
            pledge_id: pledge.id.to_string(),
            donor_id: self.donors[pledge.donor as usize].id.to_string(),
            campaign_id: id_or_empty(
                pledge
                    .campaign
                    .map(|campaign| &*self.campaigns[campaign as usize].id),
            ),
            fund_id: self.funds[pledge.fund as usize].id.to_string(),
            total_fen: pledge.total_fen,
            paid_fen: pledge.paid_fen,
            cancelled: pledge.cancelled,
            cancelled_fen: pledge.cancelled_fen,
            outstanding_fen: if pledge.cancelled {
                0
            } else {
                (pledge.total_fen - pledge.paid_fen).max(0)
            },
            instalments: pledge
                .instalments
                .iter()
                .zip(paid)
                .map(|(&(due_on, amount_fen), paid_fen)| InstalmentView {
                    due_on,
                    amount_fen,
                    paid_fen,
                })
                .collect(),
        }
    }

    /// Classifies every instalment as of `as_of` ("YYYY-MM-DD"): paid, due
    /// (on or after `as_of`), overdue (before it) or waived (cancelled).
    pub fn pledge_status(&self, as_of: &str) -> Result<PledgeStatusReport, ProjectionError> {
        let as_of_day = Day::parse(as_of).ok_or_else(|| ProjectionError::InvalidDate {
            field: "as_of",
            value: as_of.to_owned(),
        })?;
        let mut sponsors: BTreeMap<EntityIndex, SponsorPledgeSummary> = BTreeMap::new();
        let mut pledges = Vec::with_capacity(self.pledges.len());
        for pledge in &self.pledges {
            let donor = &self.donors[pledge.donor as usize];
            let summary = sponsors
                .entry(pledge.donor)
                .or_insert_with(|| SponsorPledgeSummary {
                    donor_id: donor.id.to_string(),
                    name: donor.name.clone(),
                    pledged_fen: 0,
                    paid_fen: 0,
                    fulfilled_instalments: 0,
                    fulfilled_fen: 0,
                    due_instalments: 0,
                    due_fen: 0,
                    overdue_instalments: 0,
                    overdue_fen: 0,
                });
            summary.pledged_fen += pledge.total_fen - pledge.cancelled_fen;
            summary.paid_fen += pledge.paid_fen;
            let paid = allocate_paid(&pledge.instalments, pledge.paid_fen);
            let instalments = pledge
                .instalments
                .iter()
                .zip(paid)
                .map(|(&(due_on, amount_fen), paid_fen)| {
                    let unpaid_fen = amount_fen - paid_fen;
                    let status = if unpaid_fen <= 0 {
                        summary.fulfilled_instalments += 1;
                        summary.fulfilled_fen += amount_fen;
                        InstalmentStatus::Paid
                    } else if pledge.cancelled {
                        InstalmentStatus::Waived
                    } else if due_on >= as_of_day {
                        summary.due_instalments += 1;
                        summary.due_fen += unpaid_fen;
                        InstalmentStatus::Due
                    } else {
                        summary.overdue_instalments += 1;
                        summary.overdue_fen += unpaid_fen;
                        InstalmentStatus::Overdue
                    };
                    InstalmentStatusView {
                        due_on,
                        amount_fen,
                        paid_fen,
                        unpaid_fen: match status {
                            InstalmentStatus::Due | InstalmentStatus::Overdue => unpaid_fen,
                            InstalmentStatus::Paid | InstalmentStatus::Waived => 0,
                        },
                        status,
                    }
                })
                .collect();
            pledges.push(PledgeStatusView {
                pledge_id: pledge.id.to_string(),
                donor_id: donor.id.to_string(),
                cancelled: pledge.cancelled,
                instalments,
            });
        }
        pledges.sort_by(|a, b| a.pledge_id.cmp(&b.pledge_id));
        let mut sponsors: Vec<SponsorPledgeSummary> = sponsors.into_values().collect();
        sponsors.sort_by(|a, b| a.donor_id.cmp(&b.donor_id));
        Ok(PledgeStatusReport {
            as_of: as_of_day,
            pledges,
            sponsors,
        })
    }

    // -- grants ------------------------------------------------------------

    /// Every grant round, by round id.
    pub fn grant_rounds(&self) -> Vec<GrantRoundView> {
        let mut rounds: Vec<GrantRoundView> = self
            .rounds
            .iter()
            .map(|round| GrantRoundView {
                round_id: round.id.to_string(),
                fund_id: self.funds[round.fund as usize].id.to_string(),
                name: round.name.clone(),
                budget_fen: round.budget_fen,
                applications_open_on: round.applications_open_on,
                applications_close_on: round.applications_close_on,
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
                budget_remaining_fen: round.budget_fen - round.awarded_fen + round.returned_fen,
            })
            .collect();
        rounds.sort_by(|a, b| a.round_id.cmp(&b.round_id));
        rounds
    }

    pub fn grant_round(&self, round_id: &str) -> Option<GrantRoundView> {
        self.rounds.index_of(round_id)?;
        self.grant_rounds()
            .into_iter()
            .find(|round| round.round_id == round_id)
    }

    /// Applications of one round (all rounds for `None`), in submission order.
    pub fn grant_applications(&self, round_id: Option<&str>) -> Vec<ApplicationView> {
        let round = round_id.map(|id| self.rounds.index_of(id));
        if round == Some(None) {
            return Vec::new();
        }
        let round = round.flatten();
        self.applications
            .iter()
            .filter(|application| round.is_none_or(|round| application.round == round))
            .map(|application| ApplicationView {
                application_id: application.id.to_string(),
                round_id: self.rounds[application.round as usize].id.to_string(),
                organisation_id: self.organisations[application.organisation as usize]
                    .id
                    .to_string(),
                title: application.title.clone(),
                summary: application.summary.clone(),
                requested_fen: application.requested_fen,
                submitted_on: application.submitted_on,
                reviews: application.reviews,
                mean_score: if application.reviews == 0 {
                    0
                } else {
                    application.score_total / application.reviews as i64
                },
                shortlisted: application.shortlisted,
                grant_id: id_or_empty(
                    application
                        .grant
                        .map(|grant| &*self.grants[grant as usize].id),
                ),
            })
            .collect()
    }

    /// Every grant, in award order.
    pub fn grants(&self) -> Vec<GrantView> {
        (0..self.grants.len())
            .map(|index| self.grant_view(index as EntityIndex))
            .collect()
    }

    pub fn grant(&self, grant_id: &str) -> Option<GrantView> {
        Some(self.grant_view(self.grants.index_of(grant_id)?))
    }

    fn grant_view(&self, index: EntityIndex) -> GrantView {
        let grant = &self.grants[index as usize];
        let application = &self.applications[grant.application as usize];
        let organisation = &self.organisations[application.organisation as usize];
        let next_unpaid = grant
            .tranches
            .iter()
            .position(|tranche| tranche.paid.is_none());
        let tranches = grant
            .tranches
            .iter()
            .enumerate()
            .map(|(position, tranche)| {
                let status = match tranche.paid {
                    Some(_) => TrancheStatus::Paid,
                    None if grant.closure.is_some() => TrancheStatus::Closed,
                    None if Some(position) != next_unpaid => TrancheStatus::Scheduled,
                    None if tranche.requires_evaluation
                        && !grant.passed_evaluation_since_last_tranche =>
                    {
                        TrancheStatus::AwaitingEvaluation
                    }
                    None => TrancheStatus::Payable,
                };
                let (paid_fen, paid_on) = tranche.paid.unwrap_or((0, Day::UNKNOWN));
                TrancheView {
                    index: position as u32,
                    amount_fen: tranche.amount_fen,
                    requires_evaluation: tranche.requires_evaluation,
                    status,
                    paid_fen,
                    paid_on,
                }
            })
            .collect();
        GrantView {
            grant_id: grant.id.to_string(),
            round_id: self.rounds[grant.round as usize].id.to_string(),
            application_id: application.id.to_string(),
            organisation_id: organisation.id.to_string(),
            organisation_name: organisation.name.clone(),
            title: application.title.clone(),
            amount_fen: grant.amount_fen,
            awarded_on: grant.awarded_on,
            disbursed_fen: grant.disbursed_fen,
            outstanding_commitment_fen: self.grant_outstanding_fen(index),
            tranches,
            evaluations: grant
                .evaluations
                .iter()
                .map(|evaluation| EvaluationView {
                    evaluation_id: evaluation.id.clone(),
                    period: evaluation.period.clone(),
                    evaluator: evaluation.evaluator.clone(),
                    score: evaluation.score,
                    passed: evaluation.passed,
                })
                .collect(),
            self_assessments: grant
                .self_assessments
                .iter()
                .map(|assessment| SelfAssessmentView {
                    quarter: assessment.quarter.clone(),
                    report_sha256: hex::encode(&assessment.report_sha256),
                    summary: assessment.summary.clone(),
                })
                .collect(),
            closed: grant.closure.is_some(),
            returned_fen: grant.closure.as_ref().map_or(0, |c| c.returned_fen),
            close_reason: grant
                .closure
                .as_ref()
                .map_or_else(String::new, |c| c.reason.clone()),
        }
    }

    // -- projects ----------------------------------------------------------

    /// The project board, by project id.
    pub fn projects(&self) -> Vec<ProjectView> {
        let mut projects: Vec<ProjectView> = (0..self.projects.len())
            .map(|index| self.project_view(index as EntityIndex))
            .collect();
        projects.sort_by(|a, b| a.project_id.cmp(&b.project_id));
        projects
    }

    pub fn project(&self, project_id: &str) -> Option<ProjectView> {
        Some(self.project_view(self.projects.index_of(project_id)?))
    }

    fn project_view(&self, index: EntityIndex) -> ProjectView {
        let project = &self.projects[index as usize];
        let funding_received_fen = project.sponsor_funding_fen + project.donations_fen;
        let status = if project.completion.is_some() {
            ProjectStatus::Completed
        } else if project.budget_fen > 0 && funding_received_fen >= project.budget_fen {
            ProjectStatus::Funded
        } else if project.claimant.is_some() {
            ProjectStatus::Claimed
        } else {
            ProjectStatus::Published
        };
        let donor_id = |donor: EntityIndex| self.donors[donor as usize].id.to_string();
        let funders = self.fund_accounts.funders_of(index);
        let funded_fen = |sponsor: EntityIndex| {
            funders
                .iter()
                .find(|(funder, _)| *funder == sponsor)
                .map_or(0, |&(_, funded_fen)| funded_fen)
        };
        ProjectView {
            project_id: project.id.to_string(),
            title: project.title.clone(),
            need_kind: need_kind_name(project.need_kind).to_owned(),
            community: project.community.clone(),
            survey: project.survey.clone(),
            budget_fen: project.budget_fen,
            fund_id: self.funds[project.fund as usize].id.to_string(),
            status,
            claimant_id: project.claimant.map(donor_id),
            claim_history: project
                .claims
                .iter()
                .map(|claim| ClaimView {
                    sponsor_id: donor_id(claim.sponsor),
                    claimed_at_seq: claim.claimed_at_seq,
                    released_at_seq: claim.released_at_seq,
                    release_reason: claim.release_reason.clone(),
                    funded_fen: funded_fen(claim.sponsor),
                })
                .collect(),
            funders: funders
                .iter()
                .map(|&(sponsor, funded_fen)| crate::ProjectFunder {
                    sponsor_id: donor_id(sponsor),
                    funded_fen,
                })
                .collect(),
            sponsor_funding_fen: project.sponsor_funding_fen,
            donations_fen: project.donations_fen,
            funding_received_fen,
            spent_fen: project.spent_fen,
            balance_fen: self.project_balance_fen(index),
            completion: project
                .completion
                .as_ref()
                .map(|completion| CompletionView {
                    report_sha256: hex::encode(&completion.report_sha256),
                    summary: completion.summary.clone(),
                    completed_on: completion.completed_on,
                }),
        }
    }

    // -- donors and sponsors -----------------------------------------------

    /// Every registered donor (enterprises and individuals), by donor id.
    pub fn donors(&self) -> Vec<DonorView> {
        let mut claimed: Vec<Vec<String>> = vec![Vec::new(); self.donors.len()];
        for project in &self.projects {
            if let Some(claimant) = project.claimant {
                claimed[claimant as usize].push(project.id.to_string());
            }
        }
        let mut donors: Vec<DonorView> = self
            .donors
            .iter()
            .zip(claimed)
            .map(|(donor, mut projects_claimed)| {
                projects_claimed.sort();
                DonorView {
                    donor_id: donor.id.to_string(),
                    name: donor.name.clone(),
                    kind: donor_kind_name(donor.kind).to_owned(),
                    alliance_member: donor.alliance_member,
                    show_name_publicly: donor.show_name_publicly,
                    donated_fen: donor.donated_fen,
                    donations: donor.donations_count,
                    pledged_fen: donor.pledged_fen,
                    pledge_paid_fen: donor.pledge_paid_fen,
                    project_funding_fen: donor.project_funding_fen,
                    projects_claimed,
                }
            })
            .collect();
        donors.sort_by(|a, b| a.donor_id.cmp(&b.donor_id));
        donors
    }

    pub fn donor(&self, donor_id: &str) -> Option<DonorView> {
        self.donors.index_of(donor_id)?;
        self.donors()
            .into_iter()
            .find(|donor| donor.donor_id == donor_id)
    }

    /// One donor's donations, in log order.
    pub fn donations_of(&self, donor_id: &str) -> Vec<DonationEntry> {
        self.gifts_of(donor_id)
            .map(|donation| self.donation_entry(donation))
            .collect()
    }

    /// The donations of `donor_id`, in log order: read from the donor's
    /// own incomes, not every donation, so a sponsor's page does not cost a
    /// pass over a million gifts.
    fn gifts_of(&self, donor_id: &str) -> impl DoubleEndedIterator<Item = &crate::Donation> + '_ {
        let incomes = self
            .donors
            .index_of(donor_id)
            .and_then(|donor| self.flows.donor_incomes.get(donor as usize))
            .map_or(&[][..], Vec::as_slice);
        incomes
            .iter()
            .map(|income| &self.flows.incomes[income.income() as usize])
            .filter(|income| income.kind() == crate::flows::IncomeKind::Donation)
            .map(|income| &self.donations[income.entity() as usize])
    }

    /// One donor's newest `limit` donations, newest first: a sponsor's
    /// portal lists receipts to share without building an entry for each
    /// of a hundred thousand gifts.
    pub fn newest_donations_of(&self, donor_id: &str, limit: usize) -> Vec<DonationEntry> {
        self.gifts_of(donor_id)
            .rev()
            .take(limit)
            .map(|donation| self.donation_entry(donation))
            .collect()
    }

    /// One sponsor's pledges, in pledge order.
    pub fn pledges_of(&self, donor_id: &str) -> Vec<PledgeView> {
        let Some(donor) = self.donors.index_of(donor_id) else {
            return Vec::new();
        };
        self.donors[donor as usize]
            .pledges
            .iter()
            .map(|&pledge| self.pledge_view(&self.pledges[pledge as usize]))
            .collect()
    }

    // -- lists -------------------------------------------------------------

    pub fn donations_count(&self) -> usize {
        self.donations.len()
    }

    /// Donations in log order, `limit` (at most `LIST_PAGE_MAX`) from `offset`.
    pub fn donations(&self, offset: usize, limit: usize) -> Vec<DonationEntry> {
        page(&self.donations, offset, limit)
            .iter()
            .map(|donation| self.donation_entry(donation))
            .collect()
    }

    pub fn donation(&self, donation_id: &str) -> Option<DonationEntry> {
        let index = self.donations.index_of(donation_id)?;
        Some(self.donation_entry(&self.donations[index as usize]))
    }

    fn donation_entry(&self, donation: &crate::Donation) -> DonationEntry {
        let given_back_fen = donation.refunded_fen + donation.reversed_fen;
        DonationEntry {
            donation_id: donation.id.to_string(),
            donor_id: id_or_empty(donation.donor.map(|d| &*self.donors[d as usize].id)),
            fund_id: self.funds[donation.fund as usize].id.to_string(),
            campaign_id: id_or_empty(donation.campaign.map(|c| &*self.campaigns[c as usize].id)),
            project_id: id_or_empty(donation.project.map(|p| &*self.projects[p as usize].id)),
            amount_fen: donation.amount_fen,
            channel: channel_name(donation.channel).to_owned(),
            received_on: donation.received_on,
            anonymous: donation.anonymous,
            refunded_fen: donation.refunded_fen,
            reversed_fen: donation.reversed_fen,
            net_fen: donation.amount_fen - given_back_fen,
            refunded: given_back_fen > 0,
        }
    }

    pub fn expenditures_count(&self) -> usize {
        self.expenditures.len()
    }

    /// Expenditures in log order, `limit` (at most `LIST_PAGE_MAX`) from `offset`.
    pub fn expenditures(&self, offset: usize, limit: usize) -> Vec<ExpenditureEntry> {
        page(&self.expenditures, offset, limit)
            .iter()
            .map(|expenditure| ExpenditureEntry {
                expenditure_id: expenditure.id.to_string(),
                fund_id: self.funds[expenditure.fund as usize].id.to_string(),
                project_id: id_or_empty(
                    expenditure.project.map(|p| &*self.projects[p as usize].id),
                ),
                amount_fen: expenditure.amount_fen,
                payee: expenditure.payee.clone(),
                payee_kind: payee_kind_name(expenditure.payee_kind).to_owned(),
                purpose: expenditure.purpose.clone(),
                category: crate::accounts::category_name(expenditure.category),
                receipt_no: expenditure.receipt_no.clone(),
                paid_on: expenditure.paid_on,
                reversed_fen: expenditure.reversed_fen,
                reversed: expenditure.reversed_fen > 0,
            })
            .collect()
    }

    pub fn project_fundings_count(&self) -> usize {
        self.fundings.len()
    }

    /// Sponsor fundings of projects in log order, `limit` (at most `LIST_PAGE_MAX`) from `offset`.
    pub fn project_fundings(&self, offset: usize, limit: usize) -> Vec<ProjectFundingEntry> {
        page(&self.fundings, offset, limit)
            .iter()
            .map(|funding| ProjectFundingEntry {
                funding_id: funding.id.to_string(),
                project_id: self.projects[funding.project as usize].id.to_string(),
                sponsor_id: self.donors[funding.sponsor as usize].id.to_string(),
                amount_fen: funding.amount_fen,
                channel: channel_name(funding.channel).to_owned(),
                received_on: funding.received_on,
            })
            .collect()
    }

    /// Money in and out per calendar month, ascending.
    pub fn monthly_flows(&self) -> Vec<MonthFlow> {
        self.monthly
            .iter()
            .map(|(&month_key, flow)| MonthFlow {
                month: render_month(month_key),
                in_fen: flow.in_fen,
                out_fen: flow.out_fen,
                net_fen: flow.in_fen - flow.out_fen,
            })
            .collect()
    }
}
