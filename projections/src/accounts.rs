//! The chart of accounts and the double-entry postings every money event
//! yields. Debits are positive, credits negative, and each event's postings
//! sum to zero, so the trial balance over all accounts is always zero.
//!
//! ```text
//! assets:bank                          money actually held (debit balance)
//! fund:F:donations                     undesignated gifts to fund F
//! fund:F:refunds                       gifts to F given back or reversed
//! fund:F:pledge_payments               payments on pledges held in F
//! fund:F:grants_committed              awards made from F's rounds
//! fund:F:grants_returned               unspent awards returned to F on closing
//! fund:F:expenses:<category>           F's spending, net of reversals
//! project:P:donations                  gifts designated to project P
//! project:P:refunds                    those given back or reversed
//! project:P:sponsor_funding            the claiming sponsor's money
//! project:P:expenses                   P's spending, net of reversals
//! liabilities:grants:G                 awarded to grant G, not yet paid or returned
//! ```
//!
//! Hence: fund F's available money is `-Σ fund:F:*`, project P's restricted
//! money `-Σ project:P:*`, grant G's outstanding commitment
//! `-Σ liabilities:grants:G`, and `assets:bank` equals the sum of all three.

use serde::Serialize;

/// Index of an entity in its `Projections` table; accounts name entities by
/// index so that posting costs no allocation.
pub(crate) type EntityIndex = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Account {
    Bank,
    FundDonations(EntityIndex),
    FundRefunds(EntityIndex),
    FundPledgePayments(EntityIndex),
    FundGrantsCommitted(EntityIndex),
    FundGrantsReturned(EntityIndex),
    /// The category is the proto `ExpenditureCategory` number.
    FundExpenses(EntityIndex, i32),
    ProjectDonations(EntityIndex),
    ProjectRefunds(EntityIndex),
    ProjectSponsorFunding(EntityIndex),
    ProjectExpenses(EntityIndex),
    GrantLiability(EntityIndex),
}

/// Which of the identity's terms an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountClass {
    Bank,
    Fund(EntityIndex),
    Project(EntityIndex),
    Grant(EntityIndex),
}

impl Account {
    pub(crate) fn class(self) -> AccountClass {
        match self {
            Account::Bank => AccountClass::Bank,
            Account::FundDonations(fund)
            | Account::FundRefunds(fund)
            | Account::FundPledgePayments(fund)
            | Account::FundGrantsCommitted(fund)
            | Account::FundGrantsReturned(fund)
            | Account::FundExpenses(fund, _) => AccountClass::Fund(fund),
            Account::ProjectDonations(project)
            | Account::ProjectRefunds(project)
            | Account::ProjectSponsorFunding(project)
            | Account::ProjectExpenses(project) => AccountClass::Project(project),
            Account::GrantLiability(grant) => AccountClass::Grant(grant),
        }
    }

    /// The hierarchical name, given the ids of the entities it refers to.
    pub(crate) fn name(self, fund_id: &str, project_id: &str, grant_id: &str) -> String {
        match self {
            Account::Bank => "assets:bank".to_owned(),
            Account::FundDonations(_) => format!("fund:{fund_id}:donations"),
            Account::FundRefunds(_) => format!("fund:{fund_id}:refunds"),
            Account::FundPledgePayments(_) => format!("fund:{fund_id}:pledge_payments"),
            Account::FundGrantsCommitted(_) => format!("fund:{fund_id}:grants_committed"),
            Account::FundGrantsReturned(_) => format!("fund:{fund_id}:grants_returned"),
            Account::FundExpenses(_, category) => {
                format!("fund:{fund_id}:expenses:{}", category_name(category))
            }
            Account::ProjectDonations(_) => format!("project:{project_id}:donations"),
            Account::ProjectRefunds(_) => format!("project:{project_id}:refunds"),
            Account::ProjectSponsorFunding(_) => format!("project:{project_id}:sponsor_funding"),
            Account::ProjectExpenses(_) => format!("project:{project_id}:expenses"),
            Account::GrantLiability(_) => format!("liabilities:grants:{grant_id}"),
        }
    }
}

/// The account-name segment of an `ExpenditureCategory`; unknown numbers keep
/// their number so that two unknown categories never share an account.
pub fn category_name(category: i32) -> String {
    match category {
        0 => "unspecified".to_owned(),
        1 => "one_off_support".to_owned(),
        2 => "purchase_of_services".to_owned(),
        3 => "award_for_excellence".to_owned(),
        4 => "project_delivery".to_owned(),
        5 => "operations".to_owned(),
        other => format!("category_{other}"),
    }
}

/// One leg of a double-entry posting: debit positive, credit negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Posting {
    pub account: String,
    pub amount_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountBalance {
    pub account: String,
    pub balance_fen: i64,
}

/// Every account ever posted to (zero balances included), sorted by name,
/// and the sum of their balances, which double entry keeps at zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialBalance {
    pub accounts: Vec<AccountBalance>,
    pub total_fen: i64,
}
