//! The fund page (资金流水): one fund's figures and every movement of its
//! money in date order with the running balance, paged; and the correction
//! notes (更正说明) every page shows beside what they correct.
//!
//! The figures and the movements come from one read of the projections, so
//! the movements' in and out columns sum to the fund's 累计收入 and 累计支出
//! and the last 余额 is its 现有, to the fen.

use maud::{Markup, html};
use mingzhang_projections::{CorrectionKind, Direction, MovementFilter, MovementKind, Projections};

use super::model::{Directory, FundView, Provenance, fund_view};
use super::public::{Credit, PublicCounterparty, cny, public_counterparty};
use super::render::{Lang, credit, layout, recorded};

/// Movements per page of the fund page.
pub const FUND_PAGE_ROWS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementRowView {
    pub seq: u64,
    pub date: String,
    pub kind: MovementKind,
    pub direction: Direction,
    pub amount_fen: i64,
    pub balance_after_fen: i64,
    pub reference_id: String,
    pub reversed_fen: i64,
    pub counterparty: PublicCounterparty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionRowView {
    pub seq: u64,
    pub recorded_on: String,
    pub kind: CorrectionKind,
    pub subject_id: String,
    pub fund_id: String,
    /// The donor of the corrected gift or pledge, the sponsor releasing a
    /// claim, masked; `None` where no one is concerned.
    pub who: Option<Credit>,
    /// Unmasked donor id, to pick a sponsor's own notes; never rendered.
    pub donor_id: String,
    pub amount_fen: i64,
    pub previous_fen: i64,
    pub duplicate_entry: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundPageView {
    pub fund: FundView,
    pub movements: Vec<MovementRowView>,
    pub offset: usize,
    pub next_offset: Option<usize>,
    pub corrections: Vec<CorrectionRowView>,
    /// Where this fund's money went (支出去向).
    pub outflows: super::outflows::OutflowView,
}

/// Every correction note, in log order, names masked as on the page.
pub fn correction_rows(projections: &Projections, directory: &Directory) -> Vec<CorrectionRowView> {
    projections
        .corrections()
        .into_iter()
        .map(|note| {
            let who = match note.kind {
                CorrectionKind::DonationRefund | CorrectionKind::DonationReversal => {
                    let anonymous = projections
                        .donation(&note.subject_id)
                        .is_none_or(|donation| donation.anonymous);
                    Some(directory.credit(&note.donor_id, anonymous))
                }
                CorrectionKind::PledgeAmended
                | CorrectionKind::PledgeCancelled
                | CorrectionKind::ClaimReleased => Some(directory.credit(&note.donor_id, false)),
                CorrectionKind::ExpenditureReversal | CorrectionKind::GrantClosed => None,
            };
            CorrectionRowView {
                seq: note.seq,
                recorded_on: note.recorded_on.render(),
                kind: note.kind,
                subject_id: note.subject_id,
                fund_id: note.fund_id,
                who,
                donor_id: note.donor_id,
                amount_fen: note.amount_fen,
                previous_fen: note.previous_fen,
                duplicate_entry: note.duplicate_entry,
                reason: note.reason,
            }
        })
        .collect()
}

pub fn fund_page(
    projections: &Projections,
    directory: &Directory,
    fund_id: &str,
    offset: usize,
) -> Option<FundPageView> {
    let fund = fund_view(projections.fund_balance(fund_id)?);
    let page = projections.fund_movements(
        fund_id,
        MovementFilter::default(),
        None,
        offset,
        FUND_PAGE_ROWS,
    )?;
    assert_eq!(
        (page.in_fen, page.out_fen, page.balance_fen),
        (fund.total_in_fen, fund.total_out_fen, fund.total_held_fen),
        "a fund's movements reconcile with its totals"
    );
    let movements = page
        .movements
        .into_iter()
        .map(|movement| MovementRowView {
            seq: movement.seq,
            date: movement.date.render(),
            kind: movement.kind,
            direction: movement.direction,
            amount_fen: movement.amount_fen,
            balance_after_fen: movement.balance_after_fen,
            reference_id: movement.reference_id,
            reversed_fen: movement.reversed_fen,
            counterparty: public_counterparty(&movement.counterparty, false),
        })
        .collect();
    let corrections = correction_rows(projections, directory)
        .into_iter()
        .filter(|note| note.fund_id == fund_id)
        .collect();
    Some(FundPageView {
        fund,
        movements,
        offset,
        next_offset: page.next_offset,
        corrections,
        outflows: super::outflows::outflows(projections, Some(fund_id)),
    })
}

pub fn movement_kind(lang: Lang, kind: MovementKind) -> &'static str {
    match kind {
        MovementKind::Donation => lang.t("捐赠", "donation"),
        MovementKind::PledgePayment => lang.t("认捐付款", "pledge payment"),
        MovementKind::ProjectFunding => lang.t("认领项目出资", "project funding"),
        MovementKind::DonationRefund => lang.t("捐赠退款", "refund of a donation"),
        MovementKind::Expenditure => lang.t("支出", "expenditure"),
        MovementKind::GrantTranche => lang.t("资助拨付", "grant tranche"),
    }
}

fn counterparty(lang: Lang, counterparty: &PublicCounterparty) -> Markup {
    html! {
        @match (counterparty.kind, counterparty.id.is_empty()) {
            ("donor", false) => {
                a.sponsor href=(lang.href(&format!("/sponsors/{}", counterparty.id))) { (recorded(&counterparty.name)) }
            }
            ("donor" | "walk_in", true) => { span.anonymous { (lang.t("匿名", "Anonymous")) } }
            ("payee", _) if counterparty.name == super::public::PRIVATE_PAYEE => {
                span.anonymous { (lang.t("个人（不具名）", "private person (not named)")) }
            }
            _ => { (recorded(&counterparty.name)) }
        }
    }
}

/// The note's sentence: what was corrected, by how much, in plain words.
fn correction_text(lang: Lang, note: &CorrectionRowView) -> Markup {
    let amount = cny(note.amount_fen);
    html! {
        @match note.kind {
            CorrectionKind::DonationRefund => {
                (lang.t("捐赠退款：捐赠 ", "Refund: ")) (amount) (lang.t(" 元退回捐赠人（捐赠 ", " CNY given back to the donor (donation ")) (note.subject_id) (lang.t("）", ")"))
            }
            CorrectionKind::DonationReversal => {
                strong.duplicate-entry { (lang.t("重复录入更正", "Duplicate-entry correction")) }
                (lang.t("：捐赠 ", ": donation ")) (note.subject_id) (lang.t(" 的 ", ", ")) (amount)
                (lang.t(" 元已冲正，不计入收入（账本保留两条记录）", " CNY reversed and not counted as income (the log keeps both records)"))
            }
            CorrectionKind::ExpenditureReversal => {
                (lang.t("支出冲回：支出 ", "Expenditure reversed: ")) (note.subject_id) (lang.t(" 冲回 ", ", ")) (amount) (lang.t(" 元", " CNY back"))
            }
            CorrectionKind::PledgeAmended => {
                (lang.t("认捐调整：", "Pledge amended: ")) (note.subject_id) (lang.t(" 总额由 ", " from ")) (cny(note.previous_fen)) (lang.t(" 元调整为 ", " to ")) (amount) (lang.t(" 元", " CNY"))
            }
            CorrectionKind::PledgeCancelled => {
                (lang.t("认捐取消：", "Pledge cancelled: ")) (note.subject_id) (lang.t(" 未付的 ", ", the unpaid ")) (amount) (lang.t(" 元不再认捐；已付的仍为捐赠", " CNY is no longer expected; what was paid stays given"))
            }
            CorrectionKind::ClaimReleased => {
                (lang.t("释放认领：项目 ", "Claim released: project ")) a href=(lang.href(&format!("/projects/{}", note.subject_id))) { (note.subject_id) }
            }
            CorrectionKind::GrantClosed => {
                (lang.t("资助结项：", "Grant closed: ")) a href=(lang.href(&format!("/grants/{}", note.subject_id))) { (note.subject_id) }
                (lang.t("，未拨付的 ", "; the unpaid ")) (amount) (lang.t(" 元回到基金可用资金（这笔钱从未离开账户）", " CNY returns to the fund's available money (it never left the bank)"))
            }
        }
    }
}

/// A section of correction notes; nothing when there are none.
pub fn corrections_section(lang: Lang, notes: &[CorrectionRowView]) -> Markup {
    html! {
        @if !notes.is_empty() {
            section #corrections {
                h2 { (lang.t("更正说明", "Correction notes")) }
                p.small { (lang.t(
                    "账本从不修改历史：退款、冲正、认捐调整或取消、释放认领都以新记录登记，并在此公开说明。",
                    "The log never edits history: refunds, reversals, pledge amendments and cancellations and claim releases are new records, published here as correction notes.")) }
                ul.corrections {
                    @for note in notes {
                        li.correction data-kind=(correction_kind_name(note.kind)) {
                            (note.recorded_on) " · " (correction_text(lang, note))
                            @if let Some(who) = &note.who { " · " (credit(lang, who)) }
                            @if !note.reason.is_empty() { br; span.small { (lang.t("原因：", "Reason: ")) (recorded(&note.reason)) } }
                        }
                    }
                }
            }
        }
    }
}

fn correction_kind_name(kind: CorrectionKind) -> &'static str {
    match kind {
        CorrectionKind::DonationRefund => "donation_refund",
        CorrectionKind::DonationReversal => "donation_reversal",
        CorrectionKind::ExpenditureReversal => "expenditure_reversal",
        CorrectionKind::PledgeAmended => "pledge_amended",
        CorrectionKind::PledgeCancelled => "pledge_cancelled",
        CorrectionKind::ClaimReleased => "claim_released",
        CorrectionKind::GrantClosed => "grant_closed",
    }
}

pub fn render_fund_page(lang: Lang, view: &FundPageView, provenance: &Provenance) -> String {
    let fund = &view.fund;
    let path = format!("/funds/{}", fund.fund_id);
    let page_href = |offset: usize| match lang {
        Lang::Zh => format!("{path}?offset={offset}"),
        Lang::En => format!("{path}?lang=en&offset={offset}"),
    };
    let body = html! {
        p { a href=(lang.href("/")) { "← " (lang.t("返回总览", "Back to the overview")) } }
        h1 { (recorded(&fund.name)) }
        @if !fund.restriction.is_empty() { p { (lang.t("用途：", "Purpose: ")) (recorded(&fund.restriction)) } }
        dl.figures #fund-figures {
            dt { (lang.t("累计收入", "Total in")) } dd #fund-in { (cny(fund.total_in_fen)) }
            dt { (lang.t("累计支出", "Total out")) } dd #fund-out { (cny(fund.total_out_fen)) }
            dt { (lang.t("余额（现有）", "Balance (held)")) } dd #fund-held { (cny(fund.total_held_fen)) }
            dt { (lang.t("其中可用", "of which available")) } dd { (cny(fund.available_fen)) }
            dt { (lang.t("其中项目专款", "of which held for projects")) } dd { (cny(fund.restricted_to_projects_fen)) }
            dt { (lang.t("其中已承诺资助", "of which committed to grants")) } dd { (cny(fund.committed_to_grants_fen)) }
        }
        section #outflows {
            h2 { (lang.t("支出去向", "Where the money went")) }
            (super::chart::outflow_chart(&view.outflows, lang))
        }
        section #movements {
            h2 { (lang.t("资金流水", "Every movement in and out")) }
            p.small { (lang.t(
                "按日期排列（同日按记账顺序）；收入列之和等于累计收入，支出列之和等于累计支出，最后一行余额等于现有余额。冲正的记录按更正后的金额列出，全额冲正的不列入。",
                "In date order (same day: in the order recorded). The in column sums to the total in, the out column to the total out, and the last balance is the balance held. Reversed entries show their corrected amount; an entry reversed in full is not listed.")) }
            div.scroll { table.movements {
                thead { tr {
                    th { (lang.t("日期", "Date")) }
                    th { (lang.t("类别", "Kind")) }
                    th { (lang.t("对方", "Counterparty")) }
                    th.num { (lang.t("收入", "In")) }
                    th.num { (lang.t("支出", "Out")) }
                    th.num { (lang.t("余额", "Balance")) }
                    th { (lang.t("记录", "Record")) }
                } }
                tbody {
                    @for movement in &view.movements {
                        tr data-direction=(movement.direction.name()) {
                            td.date data-label=(lang.t("日期", "Date")) { (movement.date) }
                            td data-label=(lang.t("类别", "Kind")) { (movement_kind(lang, movement.kind)) br; span.small { (recorded(&movement.reference_id)) } }
                            td data-label=(lang.t("对方", "Counterparty")) { (counterparty(lang, &movement.counterparty)) }
                            td.num.in data-label=(lang.t("收入", "In")) { @if movement.direction == Direction::In { (cny(movement.amount_fen)) } }
                            td.num.out data-label=(lang.t("支出", "Out")) { @if movement.direction == Direction::Out { (cny(movement.amount_fen)) } }
                            td.num.balance data-label=(lang.t("余额", "Balance")) { (cny(movement.balance_after_fen)) }
                            td data-label=(lang.t("记录", "Record")) { "#" (movement.seq)
                                @if movement.reversed_fen > 0 { br; span.small.correction { (lang.t("已冲正 ", "reversed ")) (cny(movement.reversed_fen)) } } }
                        }
                    }
                }
            } }
            p.pager {
                @if view.offset > 0 {
                    a #previous-page href=(page_href(view.offset.saturating_sub(FUND_PAGE_ROWS))) { (lang.t("← 上一页", "← Previous")) } " "
                }
                @if let Some(next) = view.next_offset {
                    a #next-page href=(page_href(next)) { (lang.t("下一页 →", "Next →")) }
                }
                " " a href="/exports/transactions.csv" { (lang.t("全部流水 CSV", "All movements (CSV)")) }
            }
        }
        (corrections_section(lang, &view.corrections))
    };
    layout(lang, &path, &fund.name, provenance, body)
}
