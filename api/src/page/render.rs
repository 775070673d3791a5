//! HTML of every public page, as maud templates compiled into the binary.
//! Chinese first; `Lang::En` switches every label. Data text recorded in the
//! log (fund names, purposes) is shown as recorded.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::accounts::corrections_section;
use super::chart::{campaign_chart, monthly_chart, outflow_chart};
use super::model::{
    AsOfSource, CheckpointSummary, DonationRowView, ExpenditureRowView, FundKindView,
    GrantPageView, GrantRowView, InstalmentStatusView, ProjectPageView, ProjectRowView,
    ProjectStatusView, Provenance, PublicOverview, SponsorPageView, SponsorView, TrancheStatusView,
};
use super::public::{Credit, cny, percent_bp, share_bp};

pub(crate) const STYLE: &str = include_str!("../../static/page.css");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `?lang=en` selects English; anything else is Chinese.
    pub fn from_query(value: Option<&str>) -> Lang {
        match value {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    fn html_lang(self) -> &'static str {
        self.t("zh-CN", "en")
    }

    /// A link to `path` in this language.
    pub fn href(self, path: &str) -> String {
        match self {
            Lang::Zh => path.to_owned(),
            Lang::En => format!("{path}?lang=en"),
        }
    }
}

pub(super) fn layout(
    lang: Lang,
    path: &str,
    title: &str,
    provenance: &Provenance,
    body: Markup,
) -> String {
    let page = html! {
        (DOCTYPE)
        html lang=(lang.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("明账", "Mingzhang")) }
                link rel="icon" type="image/svg+xml" href="/favicon.svg";
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    a.brand href=(lang.href("/")) { (lang.t("明账 · 凯旋街道公益资金公开", "Mingzhang · Kaixuan public-welfare money, in the open")) }
                    nav.lang-switch {
                        @if lang == Lang::Zh {
                            strong { "中文" } " | " a #lang-en href=(Lang::En.href(path)) hreflang="en" lang="en" { "English" }
                        } @else {
                            a #lang-zh href=(Lang::Zh.href(path)) hreflang="zh-CN" lang="zh-CN" { "中文" } " | " strong { "English" }
                        }
                    }
                }
                (provenance_banner(lang, provenance))
                main { (body) }
                footer {
                    p {
                        a href=(lang.href("/verify")) { (lang.t("自己核对账目", "Check it yourself")) }
                        " · "
                        a href="/exports/donations.csv" { (lang.t("捐赠 CSV", "Donations CSV")) }
                        " · "
                        a href="/exports/grants.csv" { (lang.t("资助 CSV", "Grants CSV")) }
                        " · "
                        a href="/exports/expenditures.csv" { (lang.t("支出 CSV", "Expenditures CSV")) }
                        " · "
                        a href="/exports/transactions.csv" { (lang.t("资金流水 CSV", "Fund movements CSV")) }
                        " · "
                        a href="/exports/grants-360giving.json" { "360Giving JSON" }
                    }
                    p.small { (lang.t(
                        "所有金额单位为人民币元，精确到分。本页由只追加、哈希链接的账本生成，历史从不修改，更正以新记录登记。",
                        "All amounts are CNY, exact to the fen. This page is derived from an append-only, hash-chained log: history is never edited; corrections are new records.")) }
                }
            }
        }
    };
    page.into_string()
}

fn provenance_banner(lang: Lang, provenance: &Provenance) -> Markup {
    html! {
        section.provenance #provenance {
            p {
                (lang.t("本页反映账本前 ", "This page reflects the first "))
                strong #record-count { (provenance.records) }
                (lang.t(" 条记录", " records of the log"))
                @match &provenance.checkpoint {
                    Some(checkpoint) => {
                        (lang.t("；最新签名检查点：共 ", "; latest signed checkpoint: "))
                        strong #checkpoint-size { (checkpoint.tree_size) }
                        (lang.t(" 条记录，根哈希 ", " records, root hash "))
                        code.hash { (checkpoint.root_hash_base64) }
                        @if !checkpoint.cosigned_by.is_empty() {
                            span #cosigned-by {
                                (lang.t("；见证人联署：", "; cosigned by witnesses: "))
                                @for (index, (witness, time)) in checkpoint.cosigned_by.iter().enumerate() {
                                    @if index > 0 { (lang.t("、", ", ")) }
                                    strong { (witness) } " (" (time) (lang.t(" 北京时间", " CST")) ")"
                                }
                            }
                        }
                    }
                    None => {
                        (lang.t("；暂无签名检查点。", "; no signed checkpoint yet."))
                    }
                }
                " "
                a href=(lang.href("/verify")) { (lang.t("如何核验", "How to check")) }
            }
            p.small #as-of {
                (lang.t("判断日期：", "As of: ")) strong #as-of-date { (provenance.as_of) }
                (lang.t("（认捐是否逾期按此日期判断；", " (pledge instalments are judged overdue against this date; "))
                (match provenance.as_of_source {
                    AsOfSource::Asked => lang.t("由链接中的 as_of 指定", "as the link's as_of asks"),
                    AsOfSource::Configured => lang.t("由服务器配置", "as the server is configured"),
                    AsOfSource::NewestRecord => lang.t(
                        "账本最新一条记录的日期：账本的数据止于此日，不按今天判断",
                        "the day of the ledger's newest record: its data end there, so pledges are not judged against today"),
                    AsOfSource::Today => lang.t("今天", "today"),
                })
                (lang.t("；可在网址后加 ?as_of=YYYY-MM-DD 查看其他日期）", "; add ?as_of=YYYY-MM-DD to the address for another date)"))
            }
        }
    }
}

/// A giver as the public may see them.
pub(super) fn credit(lang: Lang, credit: &Credit) -> Markup {
    html! {
        @match credit {
            Credit::Named { donor_id, name } => {
                a.sponsor href=(lang.href(&format!("/sponsors/{donor_id}"))) { (recorded(name)) }
            }
            Credit::Anonymous => { span.anonymous { (lang.t("匿名", "Anonymous")) } }
        }
    }
}

fn bar(bp: i64) -> Markup {
    let shown = bp.clamp(0, 10_000);
    html! {
        div.bar { div.fill style={"width:" (percent_bp(shown))} {} }
    }
}

fn money(fen: i64) -> Markup {
    html! { span.money { (cny(fen)) } }
}

/// The home page's sections, in order, for the contents bar that leads it.
fn overview_contents(lang: Lang) -> [(&'static str, &'static str); 9] {
    [
        ("campaign", lang.t("募集", "Campaign")),
        ("outflows", lang.t("支出去向", "Where it went")),
        ("funds", lang.t("基金余额", "Funds")),
        ("sponsors", lang.t("爱心单位", "Sponsors")),
        ("pledges", lang.t("认捐", "Pledges")),
        ("rounds", lang.t("微创投", "Grant rounds")),
        ("projects", lang.t("项目", "Projects")),
        ("expenditures", lang.t("支出", "Spending")),
        ("donations", lang.t("捐赠", "Donations")),
    ]
}

/// Text recorded in the log (a name, a purpose, a reason), shown as recorded
/// in whatever language it was written, and marked so: translators and the
/// page's copy tests leave it alone.
pub(super) fn recorded(text: &str) -> Markup {
    html! { span translate="no" { (text) } }
}

/// What an empty section or list says instead of showing nothing.
pub(super) fn none_yet(lang: Lang) -> Markup {
    html! { p.none-yet { (lang.t("暂无", "None yet")) } }
}

pub fn overview(lang: Lang, view: &PublicOverview) -> String {
    let body = html! {
        nav.contents #contents aria-label=(lang.t("目录", "Contents")) {
            @for (anchor, label) in overview_contents(lang) {
                a href={"#" (anchor)} { (label) }
            }
        }
        @for campaign in &view.campaigns {
            section #campaign {
                h1 { (recorded(&campaign.name)) }
                p.headline {
                    (lang.t("已筹 ", "Raised "))
                    strong #campaign-raised { (cny(campaign.raised_fen)) }
                    (lang.t(" 元 / 目标 ", " of the target CNY "))
                    strong #campaign-target { (cny(campaign.target_fen)) }
                    (lang.t(" 元", ""))
                    " (" (percent_bp(campaign.reached_bp)) ")"
                }
                (bar(campaign.reached_bp))
                p.small {
                    (lang.t("其中捐赠 ", "Donations ")) (money(campaign.donations_fen))
                    (lang.t("，认捐已付 ", ", pledge payments ")) (money(campaign.pledge_payments_fen))
                    (lang.t("，认捐总额 ", "; pledged in all ")) (money(campaign.pledged_fen))
                }
                (campaign_chart(campaign, lang))
                div.scroll {
                    table.years {
                        thead { tr {
                            th { (lang.t("年度", "Year")) }
                            th.num { (lang.t("年度目标", "Target")) }
                            th.num { (lang.t("已筹", "Raised")) }
                            th.num { (lang.t("其中认捐已付", "of which pledge payments")) }
                            th.num { (lang.t("当年到期认捐", "Pledged instalments due")) }
                            th { (lang.t("完成度", "Reached")) }
                        } }
                        tbody {
                            @for year in &campaign.years {
                                tr {
                                    td data-label=(lang.t("年度", "Year")) { (year.year) }
                                    td.num data-label=(lang.t("年度目标", "Target")) { (cny(year.target_fen)) }
                                    td.num data-label=(lang.t("已筹", "Raised")) { (cny(year.raised_fen)) }
                                    td.num data-label=(lang.t("其中认捐已付", "of which pledge payments")) { (cny(year.pledge_payments_fen)) }
                                    td.num data-label=(lang.t("当年到期认捐", "Pledged instalments due")) { (cny(year.pledged_fen)) }
                                    td data-label=(lang.t("完成度", "Reached")) { (percent_bp(year.reached_bp)) (bar(year.reached_bp)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #monthly {
            h2 { (lang.t("每月收支", "Money in and out, month by month")) }
            (monthly_chart(&view.monthly, lang))
        }
        section #outflows {
            h2 { (lang.t("支出去向", "Where the money went")) }
            (outflow_chart(&view.outflows, lang))
        }
        section #funds {
            h2 { (lang.t("基金与余额", "Funds and balances")) }
            p.small { (lang.t(
                "限定性资金单独列出，只能按约定的用途使用。",
                "Restricted money is listed apart: it may be spent only on its stated purpose.")) }
            @for restricted in [false, true] {
                h3 { @if restricted { (lang.t("限定性资金", "Restricted funds")) } @else { (lang.t("非限定性资金", "Unrestricted funds")) } }
                @if !view.funds.iter().any(|fund| fund.restricted == restricted) { (none_yet(lang)) }
                @else { div.scroll { table {
                    thead { tr {
                        th { (lang.t("基金", "Fund")) }
                        th.num { (lang.t("余额", "Held")) }
                        th.num { (lang.t("可用", "Available")) }
                        th.num { (lang.t("项目专款", "Held for projects")) }
                        th.num { (lang.t("已承诺资助", "Committed to grants")) }
                        th.num { (lang.t("累计收入", "Total in")) }
                        th.num { (lang.t("累计支出", "Total out")) }
                    } }
                    tbody {
                        @for fund in view.funds.iter().filter(|fund| fund.restricted == restricted) {
                            tr {
                                td data-label=(lang.t("基金", "Fund")) {
                                    a.fund href=(lang.href(&format!("/funds/{}", fund.fund_id))) { (recorded(&fund.name)) }
                                    @if fund.kind == FundKindView::SpecialSupport { br; span.tag { (lang.t("专项扶持基金", "special support fund")) } }
                                    @if !fund.restriction.is_empty() { br; span.small { (lang.t("用途：", "Purpose: ")) (recorded(&fund.restriction)) } }
                                }
                                td.num data-label=(lang.t("余额", "Held")) { (cny(fund.total_held_fen)) }
                                td.num data-label=(lang.t("可用", "Available")) { (cny(fund.available_fen)) }
                                td.num data-label=(lang.t("项目专款", "Held for projects")) { (cny(fund.restricted_to_projects_fen)) }
                                td.num data-label=(lang.t("已承诺资助", "Committed to grants")) { (cny(fund.committed_to_grants_fen)) }
                                td.num data-label=(lang.t("累计收入", "Total in")) { (cny(fund.total_in_fen)) }
                                td.num data-label=(lang.t("累计支出", "Total out")) { (cny(fund.total_out_fen)) }
                            }
                        }
                    }
                } } }
            }
        }
        section #sponsors {
            h2 { (lang.t("爱心单位与捐赠人", "Sponsors and donors")) }
            p.small { (lang.t(
                "下表列出愿意公开名称的爱心单位和个人的捐款；匿名捐款不记在任何人名下，没有同意公开姓名的个人不列出。",
                "Each sum below was given by the named company or person; anonymous gifts are credited to no one, and people who did not agree to be named are not listed.")) }
            (sponsor_table(lang, &view.sponsors.iter().filter(|sponsor| !sponsor.is_government).collect::<Vec<_>>()))
            p.see-all { a href=(lang.href("/sponsors")) { (lang.t("搜索全部爱心单位与捐赠人 →", "Search all sponsors and donors →")) } }
            @let government: Vec<&SponsorView> = view.sponsors.iter().filter(|sponsor| sponsor.is_government).collect();
            @if !government.is_empty() {
                h3 #government-funding { (lang.t("政府资金", "Government funding")) }
                p.small { (lang.t("街道办事处等政府部门投入的资金，不列为爱心单位。", "Money a government office put in itself; it is not listed among the sponsors.")) }
                div.scroll { table.government {
                    thead { tr {
                        th { (lang.t("名称", "Name")) }
                        th.num { (lang.t("投入", "Put in")) }
                    } }
                    tbody { @for body in government {
                        tr {
                            td data-label=(lang.t("名称", "Name")) { a.sponsor href=(lang.href(&format!("/sponsors/{}", body.donor_id))) { (recorded(&body.name)) } }
                            td.num data-label=(lang.t("投入", "Put in")) { (cny(body.total_given_fen())) }
                        }
                    } }
                } }
            }
        }
        section #pledges {
            h2 { (lang.t("认捐履约", "Pledges: fulfilled, due and overdue")) }
            div.scroll { table {
                thead { tr {
                    th { (lang.t("认捐单位", "Sponsor")) }
                    th.num { (lang.t("认捐总额", "Pledged")) }
                    th.num { (lang.t("已付", "Paid")) }
                    th.num { (lang.t("已履约", "Fulfilled")) }
                    th.num { (lang.t("待到期", "Due")) }
                    th.num { (lang.t("逾期", "Overdue")) }
                } }
                tbody {
                    @for pledge in &view.pledges {
                        tr {
                            td data-label=(lang.t("认捐单位", "Sponsor")) { (credit(lang, &pledge.sponsor)) }
                            td.num data-label=(lang.t("认捐总额", "Pledged")) { (cny(pledge.pledged_fen)) }
                            td.num data-label=(lang.t("已付", "Paid")) { (cny(pledge.paid_fen)) }
                            td.num data-label=(lang.t("已履约", "Fulfilled")) { (pledge.fulfilled_instalments) (lang.t(" 期 ", " × ")) (cny(pledge.fulfilled_fen)) }
                            td.num data-label=(lang.t("待到期", "Due")) { (pledge.due_instalments) (lang.t(" 期 ", " × ")) (cny(pledge.due_fen)) }
                            td.num.overdue[pledge.overdue_instalments > 0] data-label=(lang.t("逾期", "Overdue")) { (pledge.overdue_instalments) (lang.t(" 期 ", " × ")) (cny(pledge.overdue_fen)) }
                        }
                    }
                }
            } }
        }
        section #rounds {
            h2 { (lang.t("公益微创投", "Micro-venture grant rounds")) }
            @for round in &view.rounds {
                h3 { (recorded(&round.name)) }
                dl.figures {
                    dt { (lang.t("预算", "Budget")) } dd { (cny(round.budget_fen)) }
                    dt { (lang.t("申报", "Applications")) } dd #round-applications { (round.applications) }
                    dt { (lang.t("入围", "Shortlisted")) } dd #round-shortlisted { (round.shortlisted) }
                    dt { (lang.t("获资助", "Awarded")) } dd { (round.awarded) " · " (cny(round.awarded_fen)) }
                    dt { (lang.t("已拨付", "Disbursed")) } dd { (cny(round.disbursed_fen)) }
                    dt { (lang.t("评估（通过/总数）", "Evaluations (passed/all)")) } dd { (round.evaluations_passed) " / " (round.evaluations) }
                    dt { (lang.t("自评报告", "Self-assessments")) } dd { (round.self_assessments) }
                    dt { (lang.t("结项退回", "Returned on closing")) } dd { (round.closed_grants) " · " (cny(round.returned_fen)) }
                    dt { (lang.t("预算余额", "Budget remaining")) } dd { (cny(round.budget_remaining_fen)) }
                }
                p.small { (lang.t("以奖代拨：后续拨款须在评估通过后支付。", "Award in lieu of allocation: later tranches are paid only after a passing evaluation.")) }
            }
            (grant_table(lang, &view.grants.iter().collect::<Vec<_>>()))
            p.see-all { a href=(lang.href("/grants")) { (lang.t("搜索全部资助 →", "Search all grants →")) } " · " a href=(lang.href("/rounds")) { (lang.t("全部轮次 →", "All rounds →")) } }
        }
        section #projects {
            h2 { (lang.t("居民需求与认领项目", "Residents' needs and claimed projects")) }
            (project_table(lang, &view.projects.iter().collect::<Vec<_>>()))
            p.see-all { a href=(lang.href("/projects")) { (lang.t("按社区、类别、状态搜索全部项目 →", "Search all projects by community, need and status →")) } }
        }
        section #expenditures {
            h2 { (lang.t("支出", "Expenditures")) }
            p.small {
                (lang.t("最近 ", "Latest ")) (view.latest_expenditures.len())
                (lang.t(" 笔，共 ", " of ")) (view.expenditures_total)
                (lang.t(" 笔；全部见 ", "; all in the "))
                a href="/exports/expenditures.csv" { (lang.t("支出 CSV", "expenditures CSV")) }
                (lang.t("。资助拨付、退款等每一笔进出，见各基金的资金流水：",
                    ". Every movement in and out, grant tranches and refunds included, is in each fund's account: "))
                @for (position, fund) in view.funds.iter().enumerate() {
                    @if position > 0 { (lang.t("、", ", ")) }
                    a href=(lang.href(&format!("/funds/{}", fund.fund_id))) { (recorded(&fund.name)) }
                }
            }
            (expenditure_table(lang, &view.latest_expenditures))
        }
        section #donations {
            h2 { (lang.t("捐赠", "Donations")) }
            p.small {
                (lang.t("最近 ", "Latest ")) (view.latest_donations.len())
                (lang.t(" 笔，共 ", " of ")) (view.donations_total)
                (lang.t(" 笔；全部见 ", "; all in the "))
                a href="/exports/donations.csv" { (lang.t("捐赠 CSV", "donations CSV")) }
            }
            (donation_table(lang, &view.latest_donations))
        }
        (corrections_section(lang, &view.corrections))
    };
    layout(
        lang,
        "/",
        lang.t("公益资金公开", "Public-welfare money"),
        &view.provenance,
        body,
    )
}

pub(super) fn sponsor_table(lang: Lang, rows: &[&SponsorView]) -> Markup {
    html! {
        @if rows.is_empty() { (none_yet(lang)) } @else {
        div.scroll { table {
            thead { tr {
                th { (lang.t("名称", "Name")) }
                th.num { (lang.t("具名捐赠", "Gave (named)")) }
                th.num { (lang.t("认捐总额", "Pledged")) }
                th.num { (lang.t("认捐已付", "Pledge paid")) }
                th.num { (lang.t("认领项目出资", "Project funding")) }
                th { (lang.t("认领项目", "Projects claimed")) }
            } }
            tbody {
                @for sponsor in rows { (sponsor_row(lang, sponsor)) }
            }
        } }
        }
    }
}

pub(super) fn grant_table(lang: Lang, rows: &[&GrantRowView]) -> Markup {
    html! {
        @if rows.is_empty() { (none_yet(lang)) } @else {
        div.scroll { table {
            thead { tr {
                th { (lang.t("受资助组织与项目", "Organisation and project")) }
                th.num { (lang.t("资助", "Awarded")) }
                th.num { (lang.t("已拨付", "Disbursed")) }
                th.num { (lang.t("评估", "Evaluations")) }
            } }
            tbody { @for grant in rows { (grant_row(lang, grant)) } }
        } }
        }
    }
}

pub(super) fn project_table(lang: Lang, rows: &[&ProjectRowView]) -> Markup {
    html! {
        @if rows.is_empty() { (none_yet(lang)) } @else {
        div.scroll { table {
            thead { tr {
                th { (lang.t("项目", "Project")) }
                th { (lang.t("认领单位", "Claimed by")) }
                th.num { (lang.t("预算", "Budget")) }
                th.num { (lang.t("已到资金", "Funding received")) }
                th { (lang.t("状态", "Status")) }
            } }
            tbody { @for project in rows { (project_row(lang, project)) } }
        } }
        }
    }
}

fn sponsor_row(lang: Lang, sponsor: &SponsorView) -> Markup {
    html! {
        tr {
            td data-label=(lang.t("名称", "Name")) {
                a.sponsor href=(lang.href(&format!("/sponsors/{}", sponsor.donor_id))) { (recorded(&sponsor.name)) }
                @if sponsor.alliance_member { " " span.tag { (lang.t("凯联盟成员", "alliance member")) } }
            }
            td.num data-label=(lang.t("具名捐赠", "Gave (named)")) { (cny(sponsor.credited_donations_fen)) }
            td.num data-label=(lang.t("认捐总额", "Pledged")) { (cny(sponsor.pledged_fen)) }
            td.num data-label=(lang.t("认捐已付", "Pledge paid")) { (cny(sponsor.pledge_paid_fen)) }
            td.num data-label=(lang.t("认领项目出资", "Project funding")) { (cny(sponsor.project_funding_fen)) }
            td data-label=(lang.t("认领项目", "Projects claimed")) { @for (position, project) in sponsor.projects_claimed.iter().enumerate() {
                @if position > 0 { (lang.t("、", ", ")) }
                a href=(lang.href(&format!("/projects/{}", project.project_id))) { (recorded(&project.title)) }
            } }
        }
    }
}

fn grant_row(lang: Lang, grant: &GrantRowView) -> Markup {
    html! {
        tr {
            td data-label=(lang.t("受资助组织与项目", "Organisation and project")) {
                a href=(lang.href(&format!("/grants/{}", grant.grant_id))) { (recorded(&grant.organisation_name)) }
                br; span.small { (recorded(&grant.title)) }
                @if grant.closed { " " span.tag { (lang.t("已结项", "closed")) } }
            }
            td.num data-label=(lang.t("资助", "Awarded")) { (cny(grant.amount_fen)) }
            td.num data-label=(lang.t("已拨付", "Disbursed")) { (cny(grant.disbursed_fen)) (bar(share_bp(grant.disbursed_fen, grant.amount_fen))) }
            td.num data-label=(lang.t("评估", "Evaluations")) { (grant.evaluations_passed) " / " (grant.evaluations) }
        }
    }
}

pub(super) fn project_status(lang: Lang, status: ProjectStatusView) -> &'static str {
    match status {
        ProjectStatusView::Published => lang.t("待认领", "open for a sponsor"),
        ProjectStatusView::Claimed => lang.t("已认领", "claimed"),
        ProjectStatusView::Funded => lang.t("已足额到资", "funded"),
        ProjectStatusView::Completed => lang.t("已完成", "completed"),
    }
}

fn project_row(lang: Lang, project: &ProjectRowView) -> Markup {
    html! {
        tr {
            td data-label=(lang.t("项目", "Project")) {
                a href=(lang.href(&format!("/projects/{}", project.project_id))) { (recorded(&project.title)) }
                br; span.small { (recorded(&project.community)) " · " (recorded(&project.survey)) }
            }
            td data-label=(lang.t("认领单位", "Claimed by")) { @match &project.claimant {
                Some(sponsor) => { (credit(lang, sponsor)) }
                None => { span.small { (lang.t("待认领", "unclaimed")) } }
            } }
            td.num data-label=(lang.t("预算", "Budget")) { (cny(project.budget_fen)) }
            td.num data-label=(lang.t("已到资金", "Funding received")) { (cny(project.funding_received_fen)) (bar(share_bp(project.funding_received_fen, project.budget_fen))) }
            td data-label=(lang.t("状态", "Status")) {
                (project_status(lang, project.status))
                @if let Some(completion) = &project.completion {
                    br; span.small { (lang.t("完成报告 SHA-256：", "Report SHA-256: ")) }
                    code.hash { (completion.report_sha256) }
                }
            }
        }
    }
}

fn expenditure_table(lang: Lang, rows: &[ExpenditureRowView]) -> Markup {
    html! {
        @if rows.is_empty() { (none_yet(lang)) } @else {
        div.scroll { table {
            thead { tr {
                th { (lang.t("日期", "Paid on")) }
                th { (lang.t("收款方", "Payee")) }
                th { (lang.t("用途", "Purpose")) }
                th.num { (lang.t("金额", "Amount")) }
                th { (lang.t("来源", "From")) }
            } }
            tbody {
                @for row in rows {
                    tr {
                        td.date data-label=(lang.t("日期", "Paid on")) { (row.paid_on) }
                        td.payee data-label=(lang.t("收款方", "Payee")) { @if row.payee_kind == "person" { span.anonymous { (lang.t("个人（不具名）", "private person (not named)")) } } @else { (recorded(&row.payee)) } }
                        td data-label=(lang.t("用途", "Purpose")) { (recorded(&row.purpose)) br; span.small { (lang.t("票据 ", "Receipt ")) (recorded(&row.receipt_no)) } }
                        td.num data-label=(lang.t("金额", "Amount")) { (cny(row.amount_fen)) @if row.reversed_fen > 0 { br; span.small { (lang.t("已冲回 ", "reversed ")) (cny(row.reversed_fen)) } } }
                        td data-label=(lang.t("来源", "From")) { (recorded(&row.fund_name)) @if let Some(project) = &row.project {
                            br; a href=(lang.href(&format!("/projects/{}", project.project_id))) { (recorded(&project.title)) }
                        } }
                    }
                }
            }
        } }
        }
    }
}

fn donation_table(lang: Lang, rows: &[DonationRowView]) -> Markup {
    html! {
        @if rows.is_empty() { (none_yet(lang)) } @else {
        div.scroll { table {
            thead { tr {
                th { (lang.t("日期", "Received")) }
                th { (lang.t("捐赠人", "Donor")) }
                th.num { (lang.t("金额", "Amount")) }
                th.num { (lang.t("净额", "Net")) }
                th { (lang.t("基金", "Fund")) }
            } }
            tbody {
                @for row in rows {
                    tr {
                        td.date data-label=(lang.t("日期", "Received")) { (row.received_on) }
                        td data-label=(lang.t("捐赠人", "Donor")) { (credit(lang, &row.giver)) }
                        td.num data-label=(lang.t("金额", "Amount")) { (cny(row.amount_fen)) }
                        td.num data-label=(lang.t("净额", "Net")) { (cny(row.net_fen))
                            @if row.reversed_fen > 0 { br; span.small.duplicate-entry { (lang.t("重复录入，已冲正，不计入收入", "duplicate entry, reversed; not income")) } }
                            @else if row.net_fen != row.amount_fen { br; span.small { (lang.t("部分退回", "partly refunded")) } } }
                        td data-label=(lang.t("基金", "Fund")) { (recorded(&row.fund_name)) }
                    }
                }
            }
        } }
        }
    }
}

pub fn project_page(lang: Lang, view: &ProjectPageView, provenance: &Provenance) -> String {
    let row = &view.row;
    let body = html! {
        p { a href=(lang.href("/")) { "← " (lang.t("返回总览", "Back to the overview")) } }
        h1 { (recorded(&row.title)) }
        p { (recorded(&row.community)) " · " (lang.t("需求调查 ", "survey ")) (recorded(&row.survey)) " · " (project_status(lang, row.status)) }
        @for funder in &view.funders {
            @if let Credit::Named { name, .. } = &funder.sponsor {
                p.kindness.project-kindness { strong { (recorded(name)) } (lang.t("为此项目出资 ", " funded this project with ")) (money(funder.funded_fen)) (lang.t(" 元。", " CNY.")) }
            }
        }
        @if let Some(claimant) = &row.claimant {
            p #project-claimant { (lang.t("现认领单位：", "Claimed now by ")) (credit(lang, claimant))
                (lang.t("，已出资 ", ", which has paid ")) (money(view.claim_history.last().map_or(0, |claim| claim.funded_fen))) (lang.t(" 元", " CNY")) }
        }
        dl.figures {
            dt { (lang.t("预算", "Budget")) } dd { (cny(row.budget_fen)) }
            dt { (lang.t("已到资金", "Funding received")) } dd #project-funding { (cny(row.funding_received_fen)) }
            dt { (lang.t("已支出", "Spent")) } dd { (cny(row.spent_fen)) }
            dt { (lang.t("余额", "Balance")) } dd { (cny(row.balance_fen)) }
            dt { (lang.t("资金所在基金", "Held in")) } dd { (recorded(&view.description_fund_name)) }
        }
        (bar(share_bp(row.funding_received_fen, row.budget_fen)))
        h2 { (lang.t("认领记录", "Claims")) }
        @if view.claim_history.is_empty() { (none_yet(lang)) }
        ul.claims { @for claim in &view.claim_history {
            li { (credit(lang, &claim.sponsor))
                (lang.t(" · 出资 ", " · paid ")) (money(claim.funded_fen))
                @if claim.released { " — " (lang.t("已于 ", "released on ")) (claim.released_on) (lang.t(" 释放：", ": ")) (recorded(&claim.release_reason)) } @else { " — " (lang.t("认领中", "holds the claim")) } }
        } }
        h2 { (lang.t("出资", "Funding")) }
        @if view.fundings.is_empty() { (none_yet(lang)) }
        ul { @for funding in &view.fundings {
            li { (funding.received_on) " " (credit(lang, &funding.sponsor)) " " (money(funding.amount_fen)) }
        } }
        h2 { (lang.t("支出", "Expenditures")) }
        (expenditure_table(lang, &view.expenditures))
        (corrections_section(lang, &view.corrections))
        h2 { (lang.t("完成报告", "Completion report")) }
        @match &row.completion {
            Some(completion) => {
                p { (completion.completed_on) " · " (recorded(&completion.summary)) }
                div #report-sha256 { (super::documents::report_document(lang, &completion.report_sha256, completion.document)) }
                (super::documents::check_script(completion.document.is_some_and(|document| document.public)))
            }
            None => { p { (lang.t("尚未提交。", "Not filed yet.")) } }
        }
        (super::disclosures::disclosure_section(lang, &view.disclosures, &provenance.as_of))
    };
    layout(
        lang,
        &format!("/projects/{}", row.project_id),
        &row.title,
        provenance,
        body,
    )
}

fn tranche_status(lang: Lang, status: TrancheStatusView) -> &'static str {
    match status {
        TrancheStatusView::Paid => lang.t("已拨付", "paid"),
        TrancheStatusView::Payable => lang.t("可拨付", "payable"),
        TrancheStatusView::AwaitingEvaluation => {
            lang.t("待评估通过", "awaiting a passing evaluation")
        }
        TrancheStatusView::Scheduled => lang.t("待拨付", "scheduled"),
        TrancheStatusView::Returned => {
            lang.t("结项未拨，退回基金", "not paid; returned to the fund")
        }
    }
}

pub fn grant_page(lang: Lang, view: &GrantPageView, provenance: &Provenance) -> String {
    let row = &view.row;
    let body = html! {
        p { a href=(lang.href("/")) { "← " (lang.t("返回总览", "Back to the overview")) } }
        h1 { (recorded(&row.title)) }
        p { (recorded(&row.organisation_name)) " · " (recorded(&view.round_name)) }
        dl.figures {
            dt { (lang.t("资助金额", "Awarded")) } dd #grant-amount { (cny(row.amount_fen)) }
            dt { (lang.t("已拨付", "Disbursed")) } dd #grant-disbursed { (cny(row.disbursed_fen)) }
            @if row.closed {
                dt { (lang.t("退回基金", "Returned")) } dd { (cny(row.returned_fen)) }
                dt { (lang.t("结项原因", "Closed because")) } dd { (recorded(&view.summary_close_reason)) }
            }
        }
        (bar(share_bp(row.disbursed_fen, row.amount_fen)))
        h2 { (lang.t("分期拨付", "Tranches")) }
        div.scroll { table {
            thead { tr { th { "#" } th.num { (lang.t("金额", "Amount")) } th { (lang.t("以奖代拨", "Needs evaluation")) } th { (lang.t("状态", "Status")) } th { (lang.t("拨付日期", "Paid on")) } } }
            tbody { @for tranche in &view.tranches {
                tr {
                    td data-label=(lang.t("期次", "Tranche")) { (tranche.index + 1) }
                    td.num data-label=(lang.t("金额", "Amount")) { (cny(tranche.amount_fen)) }
                    td data-label=(lang.t("以奖代拨", "Needs evaluation")) { @if tranche.requires_evaluation { (lang.t("是", "yes")) } @else { (lang.t("否", "no")) } }
                    td data-label=(lang.t("状态", "Status")) { (tranche_status(lang, tranche.status)) }
                    td.date data-label=(lang.t("拨付日期", "Paid on")) { (tranche.paid_on) }
                }
            } }
        } }
        h2 { (lang.t("评估", "Evaluations")) }
        @if view.evaluations.is_empty() { (none_yet(lang)) }
        ul { @for evaluation in &view.evaluations {
            li { (recorded(&evaluation.period)) " · " (recorded(&evaluation.evaluator)) " · " (evaluation.score) " · "
                @if evaluation.passed { (lang.t("通过", "passed")) } @else { strong.overdue { (lang.t("未通过", "failed")) } } }
        } }
        h2 { (lang.t("季度自评报告", "Quarterly self-assessments")) }
        @if view.self_assessments.is_empty() { (none_yet(lang)) }
        ul { @for report in &view.self_assessments {
            li { (report.quarter) " · " (recorded(&report.summary)) (super::documents::report_document(lang, &report.report_sha256, report.document)) }
        } }
        (super::disclosures::disclosure_section(lang, &view.disclosures, &provenance.as_of))
        (super::documents::check_script(view.self_assessments.iter().any(|report| report.document.is_some_and(|document| document.public))))
    };
    layout(
        lang,
        &format!("/grants/{}", row.grant_id),
        &row.title,
        provenance,
        body,
    )
}

fn instalment_status(lang: Lang, status: InstalmentStatusView) -> Markup {
    html! {
        @match status {
            InstalmentStatusView::Paid => { (lang.t("已付", "paid")) }
            InstalmentStatusView::Due => { (lang.t("待到期", "due")) }
            InstalmentStatusView::Overdue => { strong.overdue { (lang.t("逾期", "overdue")) } }
            InstalmentStatusView::Waived => { (lang.t("已取消", "waived")) }
        }
    }
}

pub fn sponsor_page(lang: Lang, view: &SponsorPageView, provenance: &Provenance) -> String {
    let sponsor = &view.sponsor;
    let body = html! {
        p { a href=(lang.href("/")) { "← " (lang.t("返回总览", "Back to the overview")) } }
        h1 { (recorded(&sponsor.name)) }
        p.kindness { (lang.t("以下是", "Every gift, pledge and project payment made by ")) strong { (recorded(&sponsor.name)) } (lang.t("的每一笔捐款、认捐和项目出资。", ".")) }
        dl.figures {
            dt { (lang.t("具名捐赠", "Gave (named)")) } dd #sponsor-donated { (cny(sponsor.credited_donations_fen)) }
            dt { (lang.t("认捐总额", "Pledged")) } dd { (cny(sponsor.pledged_fen)) }
            dt { (lang.t("认捐已付", "Pledge paid")) } dd { (cny(sponsor.pledge_paid_fen)) }
            dt { (lang.t("认领项目出资", "Project funding")) } dd { (cny(sponsor.project_funding_fen)) }
        }
        (super::flows::flows_section(lang, &sponsor.name, &view.flows))
        h2 { (lang.t("认领的项目", "Projects claimed")) }
        @if sponsor.projects_claimed.is_empty() { (none_yet(lang)) }
        ul { @for project in &sponsor.projects_claimed {
            li { a href=(lang.href(&format!("/projects/{}", project.project_id))) { (recorded(&project.title)) } }
        } }
        h2 { (lang.t("认捐", "Pledges")) }
        @if view.pledges.is_empty() { (none_yet(lang)) }
        @for pledge in &view.pledges {
            h3 { (recorded(&pledge.pledge_id)) " · " (cny(pledge.total_fen)) @if pledge.cancelled { " " span.tag { (lang.t("已取消", "cancelled")) } } }
            div.scroll { table {
                thead { tr { th { (lang.t("到期日", "Due on")) } th.num { (lang.t("金额", "Amount")) } th.num { (lang.t("已付", "Paid")) } th { (lang.t("状态", "Status")) } } }
                tbody { @for instalment in &pledge.instalments {
                    tr { td.date data-label=(lang.t("到期日", "Due on")) { (instalment.due_on) } td.num data-label=(lang.t("金额", "Amount")) { (cny(instalment.amount_fen)) } td.num data-label=(lang.t("已付", "Paid")) { (cny(instalment.paid_fen)) } td data-label=(lang.t("状态", "Status")) { (instalment_status(lang, instalment.status)) } }
                } }
            } }
        }
        h2 { (lang.t("项目出资", "Project funding")) }
        @if view.fundings.is_empty() { (none_yet(lang)) }
        ul { @for funding in &view.fundings {
            li { (funding.received_on) " " a href=(lang.href(&format!("/projects/{}", funding.project_id))) { (funding.project_id) } " " (money(funding.amount_fen)) }
        } }
        h2 { (lang.t("具名捐赠", "Named donations")) }
        (donation_table(lang, &view.donations))
        (corrections_section(lang, &view.corrections))
    };
    layout(
        lang,
        &format!("/sponsors/{}", sponsor.donor_id),
        &sponsor.name,
        provenance,
        body,
    )
}

pub fn verify_page(
    lang: Lang,
    provenance: &Provenance,
    fund_names: &std::collections::HashMap<String, String>,
) -> String {
    let checkpoint_text = provenance
        .checkpoint
        .as_ref()
        .map(|checkpoint: &CheckpointSummary| checkpoint.text.as_str())
        .unwrap_or("");
    let key = provenance.verifier_key.as_deref().unwrap_or("");
    let body = html! {
        h1 { (lang.t("自己核对账目", "Check it yourself")) }
        p { (lang.t(
            "账本的每条记录都是一棵默克尔树（RFC 6962）的叶子。账本定期用私钥签署一个“检查点”：记录条数和树根哈希。只要有检查点和公钥，任何人都能证明某条记录确实在账本里、而且账本没有被改写。",
            "Every record of the log is a leaf of a Merkle tree (RFC 6962). The log regularly signs a checkpoint: the number of records and the tree's root hash. With the checkpoint and the public key, anyone can prove that a record is in the log and that the log was not rewritten.")) }
        h2 { (lang.t("最新签名检查点", "Latest signed checkpoint")) }
        @if checkpoint_text.is_empty() { p { (lang.t("暂无。", "None yet.")) } }
        @else { pre #checkpoint-text { (checkpoint_text) } }
        h2 { (lang.t("公钥", "Public key")) }
        @if key.is_empty() { p { (lang.t("暂无。", "None yet.")) } }
        @else { pre #verifier-key { (key) } }
        h2 { (lang.t("核验收据", "Check a receipt")) }
        ol {
            li { (lang.t(
                "捐赠登记后，机构会把一个收据链接（形如 /r/ 加一串随机字符）通过短信、微信或纸质收据交给您。打开链接，浏览器会自动核验，并可下载收据文件。没有收到链接的，请向收款的机构索取。",
                "Once your gift is recorded, the organisation hands you a receipt link (/r/ followed by random characters) by SMS, WeChat or on a paper receipt. Opening it checks the receipt in your browser, and lets you download the receipt file. If you did not get one, ask the organisation that received your gift.")) }
            li { (lang.t("也可以把收据文件的内容完整粘贴到下面的框里，点“核验”。", "You can also paste the whole receipt file into the box below and press Check.")) }
            li { (lang.t("浏览器会在本机计算哈希，重算树根，并用公钥检查检查点的签名；不会把收据发送到任何地方。",
                "Your browser computes the hashes, recomputes the tree root and checks the checkpoint's signature with the public key, on this device; the receipt is sent nowhere.")) }
        }
        textarea #receipt-input rows="8" placeholder=(lang.t("在此粘贴收据 JSON", "Paste the receipt JSON here")) {}
        p { button #receipt-check type="button" { (lang.t("核验", "Check")) } }
        p #receipt-result role="status" aria-live="polite" data-outcome="none" {}
        p #receipt-record-summary {}
        h2 { (lang.t("给审计人员", "For auditors")) }
        p { (lang.t("审计人员凭机构发给的审计令牌下载整个账本，在自己的电脑上核验哈希链、默克尔树、检查点签名和余额（把地址换成本站的）：",
            "With the auditor token the organisation gives you, download the whole log and verify the hash chain, the Merkle tree, the checkpoint signatures and the balances on your own computer (with this site's address):")) }
        pre { (lang.t("mingzhang verify https://本站地址 --token 审计令牌 --key checkpoint.pub",
            "mingzhang verify https://this-site --token AUDITOR_TOKEN --key checkpoint.pub")) }
        p {
            a #tiles-link href="/tiles/checkpoint" { (lang.t("下载全部账本", "Download the whole ledger")) }
            (lang.t("：C2SP tlog-tiles 静态文件，无需令牌，任何镜像都可转载；核验：",
                ": C2SP tlog-tiles static files, no token needed, for any mirror to copy; to verify: "))
            code { (lang.t("mingzhang verify https://本站地址/tiles/ --key checkpoint.pub", "mingzhang verify https://this-site/tiles/ --key checkpoint.pub")) }
            (lang.t("（账本仍以明文记有个人姓名时不开放）", " (closed while the log names individuals in the clear)"))
        }
        @if !key.is_empty() {
            p {
                (lang.t("公钥文件：", "The public key file: "))
                a #public-key-link href="/v1/public-key" { code { "/v1/public-key" } }
                (lang.t("；最新签名检查点：", "; the latest signed checkpoint: "))
                a #checkpoint-link href="/v1/checkpoint" { code { "/v1/checkpoint" } }
                (lang.t("。", "."))
            }
        }
        p.small { (lang.t("收据格式：{\"seq\", \"record\"(base64), \"tree_size\", \"inclusion_proof\"[hex 或 base64], \"checkpoint\"}；叶子哈希 = SHA-256(0x00 ‖ 记录字节)。",
            "Receipt format: {\"seq\", \"record\" (base64), \"tree_size\", \"inclusion_proof\" [hex or base64], \"checkpoint\"}; leaf hash = SHA-256(0x00 ‖ record bytes).")) }
        script #verify-config type="application/json" {
            (PreEscaped(checker_config_json(lang, key, fund_names, false)))
        }
        script src="/assets/verify.js" {}
    };
    layout(
        lang,
        "/verify",
        lang.t("核验", "Check it yourself"),
        provenance,
        body,
    )
}

/// What the receipt checker needs: the page's language, the key, the funds'
/// names (to say which fund a verified donation went to) and whether to
/// check the receipt on the page as soon as it loads (a receipt link).
/// Escaped for a <script> element: "<" never appears raw.
pub(super) fn checker_config_json(
    lang: Lang,
    key: &str,
    fund_names: &std::collections::HashMap<String, String>,
    check_on_load: bool,
) -> String {
    let config = serde_json::json!({
        "key": key,
        "lang": lang.html_lang(),
        "funds": fund_names,
        "check_on_load": check_on_load,
    });
    config.to_string().replace('<', "\\u003c")
}
