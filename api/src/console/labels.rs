//! The console's words: each form, field and choice in Chinese, then
//! English. A unit test holds every field of every command body to having
//! one here.

use maud::{Markup, html};

/// (field name, 中文, English)
pub const FIELD_LABELS: &[(&str, &str, &str)] = &[
    ("fund_id", "基金编号", "Fund id"),
    ("name", "名称", "Name"),
    ("kind", "类别", "Kind"),
    ("restriction", "限定用途", "Restriction"),
    ("campaign_id", "筹款活动编号", "Campaign id"),
    ("total_target", "总目标（元）", "Total target (CNY)"),
    ("first_year", "起始年份", "First year"),
    ("yearly_targets", "年度目标", "Yearly targets"),
    ("year", "年份", "Year"),
    ("target", "目标（元）", "Target (CNY)"),
    ("donor_id", "捐赠人编号", "Donor id"),
    ("alliance_member", "凯联盟成员单位", "Alliance member unit"),
    (
        "show_name_publicly",
        "愿意公开署名",
        "May be named publicly",
    ),
    ("organisation_id", "社会组织编号", "Organisation id"),
    ("registration_no", "登记证号", "Registration number"),
    ("donation_id", "捐赠编号", "Donation id"),
    ("project_id", "项目编号", "Project id"),
    ("amount", "金额（元）", "Amount (CNY)"),
    ("channel", "渠道", "Channel"),
    ("bank_reference", "银行流水号", "Bank reference"),
    ("anonymous", "匿名捐赠", "Anonymous gift"),
    ("received_on", "到账日期", "Received on"),
    ("refund_id", "退款编号", "Refund id"),
    ("reason", "原因", "Reason"),
    ("legal_basis", "法律依据", "Legal basis"),
    ("erased_on", "删除日期", "Erased on"),
    ("pledge_id", "认捐编号", "Pledge id"),
    ("total", "认捐总额（元）", "Total pledged (CNY)"),
    ("instalments", "分期", "Instalments"),
    ("due_on", "到期日", "Due on"),
    ("payment_id", "付款编号", "Payment id"),
    ("new_total", "新总额（元）", "New total (CNY)"),
    ("round_id", "微创投轮次编号", "Grant round id"),
    ("budget", "预算（元）", "Budget (CNY)"),
    (
        "applications_open_on",
        "申报开始日期",
        "Applications open on",
    ),
    (
        "applications_close_on",
        "申报截止日期",
        "Applications close on",
    ),
    ("application_id", "申报编号", "Application id"),
    ("title", "标题", "Title"),
    ("summary", "摘要", "Summary"),
    ("requested", "申请金额（元）", "Requested (CNY)"),
    ("submitted_on", "申报日期", "Submitted on"),
    ("reviewer", "评审人", "Reviewer"),
    ("score", "评分（0–100）", "Score (0–100)"),
    ("notes", "备注", "Notes"),
    ("grant_id", "资助编号", "Grant id"),
    ("tranches", "拨付批次", "Tranches"),
    (
        "requires_evaluation",
        "须评估后拨付（以奖代拨）",
        "Paid only after an evaluation",
    ),
    ("awarded_on", "资助决定日期", "Awarded on"),
    (
        "tranche_index",
        "批次序号（从 0 起）",
        "Tranche index (from 0)",
    ),
    ("paid_on", "支付日期", "Paid on"),
    ("evaluation_id", "评估编号", "Evaluation id"),
    ("period", "评估期（如 2016-H1）", "Period (e.g. 2016-H1)"),
    ("evaluator", "评估方", "Evaluator"),
    ("passed", "评估通过", "Passed"),
    ("quarter", "季度（如 2016-Q3）", "Quarter (e.g. 2016-Q3)"),
    ("report_sha256", "报告 SHA-256", "Report SHA-256"),
    ("description", "说明", "Description"),
    ("need_kind", "需求类别", "Kind of need"),
    ("community", "社区", "Community"),
    (
        "survey",
        "需求调查期（如 2016-H1）",
        "Survey (e.g. 2016-H1)",
    ),
    ("sponsor_id", "认领单位（捐赠人编号）", "Sponsor (donor id)"),
    ("funding_id", "出资编号", "Funding id"),
    ("completed_on", "完成日期", "Completed on"),
    ("expenditure_id", "支出编号", "Expenditure id"),
    ("payee", "收款方", "Payee"),
    ("payee_kind", "收款方类别", "Payee kind"),
    ("purpose", "用途", "Purpose"),
    ("category", "支出类别", "Category"),
    ("receipt_no", "票据号", "Receipt number"),
];

/// (enum value, 中文, English)
pub const ENUM_LABELS: &[(&str, &str, &str)] = &[
    ("unrestricted", "非限定", "Unrestricted"),
    ("restricted", "限定用途", "Restricted"),
    ("special_support", "专项扶持基金", "Special support fund"),
    ("enterprise", "企业", "Enterprise"),
    ("individual", "个人", "Individual"),
    ("bank_transfer", "银行转账", "Bank transfer"),
    ("cash", "现金", "Cash"),
    ("online", "网上", "Online"),
    ("micro_wish", "微心愿", "Micro-wish"),
    ("micro_charity", "微公益", "Micro-charity"),
    ("service", "服务项目", "Service project"),
    ("livelihood", "民生问题", "Livelihood issue"),
    ("organisation", "社会组织", "Social organisation"),
    ("company", "企业", "Company"),
    ("person", "个人", "Person"),
    ("one_off_support", "一次性扶持", "One-off support"),
    ("purchase_of_services", "购买服务", "Purchase of services"),
    ("award_for_excellence", "奖励优秀", "Award for excellence"),
    ("project_delivery", "项目实施", "Project delivery"),
    ("operations", "运营", "Operations"),
];

fn bilingual(zh: &str, en: &str) -> Markup {
    html! { (zh) " " span lang="en" { (en) } }
}

pub fn field_label(name: &str) -> Markup {
    match FIELD_LABELS.iter().find(|(field, _, _)| *field == name) {
        Some((_, zh, en)) => bilingual(zh, en),
        None => html! { (name) },
    }
}

pub fn enum_label(value: &str) -> String {
    match ENUM_LABELS.iter().find(|(option, _, _)| *option == value) {
        Some((_, zh, en)) => format!("{zh} {en}"),
        None => value.to_owned(),
    }
}

/// Each form's title and the group it is listed under, by the event it
/// records: (event, group, 中文, English).
pub const FORM_TITLES: &[(&str, Group, &str, &str)] = &[
    (
        "DonorRegistered",
        Group::Registry,
        "登记捐赠人",
        "Register a donor",
    ),
    (
        "OrganisationRegistered",
        Group::Registry,
        "登记社会组织",
        "Register an organisation",
    ),
    ("FundOpened", Group::Registry, "设立基金", "Open a fund"),
    (
        "CampaignOpened",
        Group::Registry,
        "发起筹款活动",
        "Open a campaign",
    ),
    (
        "DonationReceived",
        Group::MoneyIn,
        "记录捐赠",
        "Record a donation",
    ),
    (
        "DonationRefunded",
        Group::MoneyIn,
        "退还捐赠",
        "Refund a donation",
    ),
    (
        "DonationReversed",
        Group::MoneyIn,
        "冲销误记的捐赠",
        "Reverse a donation booked in error",
    ),
    ("PledgeMade", Group::MoneyIn, "登记认捐", "Record a pledge"),
    (
        "PledgePaymentReceived",
        Group::MoneyIn,
        "记录认捐付款",
        "Record a pledge payment",
    ),
    (
        "PledgeAmended",
        Group::MoneyIn,
        "修改认捐计划",
        "Amend a pledge",
    ),
    (
        "PledgeCancelled",
        Group::MoneyIn,
        "取消认捐未付部分",
        "Cancel a pledge's unpaid part",
    ),
    (
        "GrantRoundOpened",
        Group::Grants,
        "开启微创投轮次",
        "Open a grant round",
    ),
    (
        "GrantApplicationSubmitted",
        Group::Grants,
        "代为申报",
        "Submit an application",
    ),
    (
        "GrantApplicationReviewed",
        Group::Grants,
        "记录评审",
        "Record a review",
    ),
    (
        "GrantApplicationShortlisted",
        Group::Grants,
        "入围",
        "Shortlist an application",
    ),
    ("GrantAwarded", Group::Grants, "资助立项", "Award a grant"),
    (
        "GrantTrancheDisbursed",
        Group::Grants,
        "拨付一批资助",
        "Pay a tranche",
    ),
    (
        "GrantEvaluationRecorded",
        Group::Grants,
        "记录评估",
        "Record an evaluation",
    ),
    (
        "GrantSelfAssessmentFiled",
        Group::Grants,
        "提交季度自评报告",
        "File a self-assessment",
    ),
    (
        "GrantClosed",
        Group::Grants,
        "结项（未拨余款退回基金）",
        "Close a grant",
    ),
    (
        "ProjectPublished",
        Group::Projects,
        "发布需求项目",
        "Publish a project",
    ),
    (
        "ProjectClaimed",
        Group::Projects,
        "代成员单位认领",
        "Claim a project for a unit",
    ),
    (
        "ProjectClaimReleased",
        Group::Projects,
        "解除认领",
        "Release a claim",
    ),
    (
        "ProjectFunded",
        Group::Projects,
        "记录项目出资",
        "Record a project funding",
    ),
    (
        "ProjectCompleted",
        Group::Projects,
        "项目完成",
        "Report a project complete",
    ),
    (
        "ExpenditureMade",
        Group::MoneyOut,
        "记录支出",
        "Record an expenditure",
    ),
    (
        "ExpenditureReversed",
        Group::MoneyOut,
        "冲销支出",
        "Reverse an expenditure",
    ),
    (
        "PersonalDataErased",
        Group::Registry,
        "删除个人信息（个人信息保护法第四十七条）",
        "Erase personal data (PIPL Art. 47)",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Registry,
    MoneyIn,
    Grants,
    Projects,
    MoneyOut,
}

pub const GROUPS: [(Group, &str, &str); 5] = [
    (
        Group::MoneyIn,
        "收入：捐赠与认捐",
        "Money in: donations and pledges",
    ),
    (Group::MoneyOut, "支出", "Money out"),
    (Group::Grants, "微创投", "Micro-venture grants"),
    (Group::Projects, "需求项目与认领", "Projects and claims"),
    (
        Group::Registry,
        "登记与设立",
        "Registers, funds and campaigns",
    ),
];

pub fn form_title(event: &str) -> (&'static str, &'static str) {
    FORM_TITLES
        .iter()
        .find(|(kind, ..)| *kind == event)
        .map(|(_, _, zh, en)| (*zh, *en))
        .unwrap_or_else(|| panic!("{event} has a form title"))
}

pub fn group_of(event: &str) -> Group {
    FORM_TITLES
        .iter()
        .find(|(kind, ..)| *kind == event)
        .map(|(_, group, ..)| *group)
        .unwrap_or_else(|| panic!("{event} has a group"))
}
