//! The Kaixuan (凯旋街道) scenario, built from the figures of the domain brief:
//! a 10,000,000 CNY five-year campaign whose first year raises over 1,600,000
//! CNY, alliance member units pledging over five years, Public-Welfare Partners
//! Day 2015 (9 units each claim one service project; over 200,000 CNY for them;
//! more than 10 enterprises give 450,000 CNY), a 2016 micro-venture round with
//! 26 shortlisted projects paid in evaluation-gated tranches, and the 1,000,000
//! CNY special support fund. `mingzhang demo` and the tests submit exactly this,
//! through the same `Ledger::submit` path users take.

use mingzhang_proto::v1::{self, event_envelope::Event};

use crate::service::CommandMeta;

pub const CAMPAIGN_ID: &str = "kaixuan-5y";
pub const CHARITY_FUND_ID: &str = "kaixuan-charity";
pub const SPECIAL_SUPPORT_FUND_ID: &str = "special-support";
pub const PARTNERS_FUND_ID: &str = "partners-day";
pub const GRANT_ROUND_ID: &str = "mv-2016";
pub const YUAN: i64 = 100;

pub const ALLIANCE_MEMBERS: [(&str, &str); 12] = [
    ("unit-01", "凯旋示范商贸有限公司"),
    ("unit-02", "景芳示例科技有限公司"),
    ("unit-03", "钱塘样例建设集团"),
    ("unit-04", "凯联盟示例银行杭州分行"),
    ("unit-05", "东站示例物业服务有限公司"),
    ("unit-06", "采荷样例餐饮管理有限公司"),
    ("unit-07", "凯旋样例医药连锁有限公司"),
    ("unit-08", "闸弄口示例文化传媒有限公司"),
    ("unit-09", "庆春样例电力工程有限公司"),
    ("unit-10", "天城示例律师事务所"),
    ("unit-11", "新塘样例教育咨询有限公司"),
    ("unit-12", "机场路示例汽车服务有限公司"),
];

const ORGANISATION_THEMES: [&str; 40] = [
    "社工服务中心",
    "助老服务社",
    "青少年成长营",
    "邻里互助会",
    "心理关爱工作室",
    "垃圾分类宣传队",
    "残障融合服务社",
    "家庭教育指导中心",
    "社区营造研究社",
    "非遗传承工作坊",
    "文明养犬劝导队",
    "楼道微治理小组",
    "四点半课堂",
    "阳光助残服务站",
    "平安巡防志愿队",
    "亲子阅读会",
    "银龄互助社",
    "健康促进会",
    "法律援助服务站",
    "外来务工者之家",
    "绿色家园行动组",
    "手工艺互助社",
    "社区食堂服务社",
    "睦邻书院",
    "旧物改造工坊",
    "少儿科普社",
    "老年大学分校",
    "社区调解工作室",
    "居家养老服务社",
    "社区戏曲社",
    "便民维修队",
    "文明交通宣导队",
    "小区自治促进会",
    "退役军人服务社",
    "妇女儿童之家",
    "社区体育俱乐部",
    "环保骑行社",
    "心理援助热线站",
    "社区摄影社",
    "睦邻音乐会",
];

/// Builds the scenario as (command, meta) pairs in submission order.
pub fn kaixuan() -> Vec<(Event, CommandMeta)> {
    let mut script = Script::default();
    script.open_funds_and_campaign();
    script.register_donors_and_organisations();
    script.pledges_and_first_year_giving();
    script.partners_day_2015();
    script.special_support_fund();
    script.micro_venture_round_2016();
    script.later_years_and_corrections();
    script.commands
}

#[derive(Default)]
struct Script {
    commands: Vec<(Event, CommandMeta)>,
}

impl Script {
    /// Each command is stamped 09:00 CST on its business date, or one second
    /// after the previous command when sections go back in time, so stamps
    /// strictly increase as they would on a real server.
    fn push(&mut self, date: &str, event: Event) {
        let position = self.commands.len() as i64;
        let previous = self
            .commands
            .last()
            .map_or(i64::MIN, |(_, meta)| meta.at_unix_ms);
        let at_unix_ms = unix_ms_at_0900_cst(date).max(previous + 1000);
        let key = format!("demo-kaixuan-{position:04}");
        let meta =
            CommandMeta::operator(at_unix_ms, "demo:kaixuan").with_idempotency_key(key, [0; 32]);
        self.commands.push((event, meta));
    }

    fn open_funds_and_campaign(&mut self) {
        self.push("2015-01-05", Event::FundOpened(v1::FundOpened {
            fund_id: CHARITY_FUND_ID.into(),
            name: "凯旋街道社区公益基金 Kaixuan Community Charity Fund".into(),
            kind: v1::FundKind::Restricted as i32,
            restriction: "支持社会组织发展与社区公益项目 Support for social organisations and community projects".into(),
        }));
        self.push(
            "2015-01-05",
            Event::FundOpened(v1::FundOpened {
                fund_id: PARTNERS_FUND_ID.into(),
                name: "公益伙伴日认领项目资金 Partners Day claimed projects".into(),
                kind: v1::FundKind::Unrestricted as i32,
                restriction: String::new(),
            }),
        );
        self.push(
            "2015-01-05",
            Event::FundOpened(v1::FundOpened {
                fund_id: SPECIAL_SUPPORT_FUND_ID.into(),
                name: "社会组织专项扶持基金 Special Support Fund".into(),
                kind: v1::FundKind::SpecialSupport as i32,
                restriction: "一次性扶持、购买服务、奖励优秀".into(),
            }),
        );
        let yearly = [1_500_000, 1_800_000, 2_000_000, 2_200_000, 2_500_000];
        self.push(
            "2015-01-06",
            Event::CampaignOpened(v1::CampaignOpened {
                campaign_id: CAMPAIGN_ID.into(),
                name: "五年社会募集1000万元 Raise 10,000,000 CNY in five years".into(),
                fund_id: CHARITY_FUND_ID.into(),
                total_target_fen: 10_000_000 * YUAN,
                first_year: 2015,
                yearly_targets: yearly
                    .iter()
                    .enumerate()
                    .map(|(index, yuan)| v1::YearlyTarget {
                        year: 2015 + index as i32,
                        target_fen: yuan * YUAN,
                    })
                    .collect(),
            }),
        );
    }

    fn register_donors_and_organisations(&mut self) {
        for (donor_id, name) in ALLIANCE_MEMBERS {
            self.push(
                "2015-01-10",
                Event::DonorRegistered(v1::DonorRegistered {
                    donor_id: donor_id.into(),
                    name: name.into(),
                    kind: v1::DonorKind::Enterprise as i32,
                    alliance_member: true,
                    show_name_publicly: true,
                    name_commitment: Default::default(),
                }),
            );
        }
        self.push(
            "2015-01-10",
            Event::DonorRegistered(v1::DonorRegistered {
                donor_id: "street-office".into(),
                name: "凯旋街道办事处 Kaixuan Sub-district Office".into(),
                kind: v1::DonorKind::Enterprise as i32,
                alliance_member: false,
                show_name_publicly: true,
                name_commitment: Default::default(),
            }),
        );
        let residents = [
            ("resident-wang", "王丽华", true),
            ("resident-li", "李建国", false),
            ("resident-zhang", "张敏", false),
        ];
        for (donor_id, name, named) in residents {
            self.push(
                "2015-01-12",
                Event::DonorRegistered(v1::DonorRegistered {
                    donor_id: donor_id.into(),
                    name: name.into(),
                    kind: v1::DonorKind::Individual as i32,
                    alliance_member: false,
                    show_name_publicly: named,
                    name_commitment: Default::default(),
                }),
            );
        }
        for (index, theme) in ORGANISATION_THEMES.iter().enumerate() {
            self.push(
                "2015-02-01",
                Event::OrganisationRegistered(v1::OrganisationRegistered {
                    organisation_id: organisation_id(index),
                    name: format!("凯益荟·{theme}"),
                    registration_no: format!("52330104MJ{:08}", 10_000 + index),
                }),
            );
        }
    }

    fn pledges_and_first_year_giving(&mut self) {
        // Six member units pledge 1,000,000 CNY each over five years.
        for (donor_id, _) in ALLIANCE_MEMBERS.iter().take(6) {
            let donor_id = *donor_id;
            self.push(
                "2015-03-01",
                Event::PledgeMade(v1::PledgeMade {
                    pledge_id: format!("pledge-{donor_id}"),
                    donor_id: donor_id.into(),
                    campaign_id: CAMPAIGN_ID.into(),
                    fund_id: CHARITY_FUND_ID.into(),
                    total_fen: 1_000_000 * YUAN,
                    instalments: (0..5)
                        .map(|year| v1::Instalment {
                            due_on: format!("{}-06-30", 2015 + year),
                            amount_fen: 200_000 * YUAN,
                        })
                        .collect(),
                }),
            );
        }
        for (unit, (donor_id, _)) in ALLIANCE_MEMBERS.iter().enumerate().take(6) {
            let donor_id = *donor_id;
            self.push(
                "2015-06-20",
                Event::PledgePaymentReceived(v1::PledgePaymentReceived {
                    payment_id: format!("pay-{donor_id}-2015"),
                    pledge_id: format!("pledge-{donor_id}"),
                    amount_fen: 200_000 * YUAN,
                    channel: v1::Channel::BankTransfer as i32,
                    bank_reference: format!("ICBC-2015-06-{unit:04}"),
                    received_on: "2015-06-20".into(),
                }),
            );
        }
        // Residents give small sums; one stays anonymous.
        let gifts = [
            ("resident-wang", 2_000 * YUAN, false),
            ("resident-li", 500 * YUAN, true),
            ("resident-zhang", 1_288 * YUAN + 88, false),
            ("", 300 * YUAN, true),
        ];
        for (index, (donor_id, fen, anonymous)) in gifts.into_iter().enumerate() {
            self.push(
                "2015-05-10",
                Event::DonationReceived(v1::DonationReceived {
                    donation_id: format!("don-2015-resident-{index}"),
                    donor_id: donor_id.into(),
                    fund_id: CHARITY_FUND_ID.into(),
                    campaign_id: CAMPAIGN_ID.into(),
                    project_id: String::new(),
                    amount_fen: fen,
                    channel: if donor_id.is_empty() {
                        v1::Channel::Cash
                    } else {
                        v1::Channel::Online
                    } as i32,
                    bank_reference: String::new(),
                    anonymous,
                    received_on: "2015-05-10".into(),
                }),
            );
        }
    }

    fn partners_day_2015(&mut self) {
        let needs = [
            ("老旧小区加装扶手", v1::NeedKind::Livelihood, 25_000),
            ("独居老人微心愿：助听器", v1::NeedKind::MicroWish, 8_600),
            ("四点半课堂图书角", v1::NeedKind::Service, 22_000),
            ("楼道文化墙", v1::NeedKind::MicroCharity, 18_000),
            ("社区助餐点厨具", v1::NeedKind::Service, 32_000),
            ("残障儿童康复训练", v1::NeedKind::Service, 30_000),
            ("垃圾分类智能回收站", v1::NeedKind::Livelihood, 26_000),
            ("外来务工子女暑托班", v1::NeedKind::Service, 24_000),
            ("社区应急救护培训", v1::NeedKind::MicroCharity, 19_200),
        ];
        let communities = [
            "凯旋社区",
            "景芳社区",
            "南肖埠社区",
            "三里亭社区",
            "景华社区",
            "濮家社区",
            "凯旋南苑社区",
            "景昙社区",
            "采荷社区",
        ];
        for (index, (title, need_kind, yuan)) in needs.iter().enumerate() {
            self.push(
                "2015-08-01",
                Event::ProjectPublished(v1::ProjectPublished {
                    project_id: project_id(index),
                    title: (*title).into(),
                    description: format!("2015年上半年居民需求调查 · {title}"),
                    need_kind: *need_kind as i32,
                    community: communities[index].into(),
                    survey: "2015-H1".into(),
                    budget_fen: yuan * YUAN,
                    fund_id: PARTNERS_FUND_ID.into(),
                }),
            );
        }
        // Public-Welfare Partners Day: 9 units each claim one project and fund it:
        // 224,800 CNY in all, "over 200,000".
        for (index, (_, _, yuan)) in needs.iter().enumerate() {
            let sponsor = ALLIANCE_MEMBERS[index + 3].0;
            self.push(
                "2015-09-19",
                Event::ProjectClaimed(v1::ProjectClaimed {
                    project_id: project_id(index),
                    sponsor_id: sponsor.into(),
                }),
            );
            self.push(
                "2015-09-25",
                Event::ProjectFunded(v1::ProjectFunded {
                    funding_id: format!("funding-{}", project_id(index)),
                    project_id: project_id(index),
                    sponsor_id: sponsor.into(),
                    amount_fen: yuan * YUAN,
                    channel: v1::Channel::BankTransfer as i32,
                    bank_reference: format!("PD2015-{index:03}"),
                    received_on: "2015-09-25".into(),
                }),
            );
        }
        // More than 10 enterprises give 450,000 CNY to public-welfare projects.
        for (index, (donor_id, _)) in ALLIANCE_MEMBERS.iter().enumerate().take(11) {
            let yuan = if index < 10 { 41_000 } else { 40_000 };
            self.push(
                "2015-09-19",
                Event::DonationReceived(v1::DonationReceived {
                    donation_id: format!("don-pd2015-{donor_id}"),
                    donor_id: (*donor_id).into(),
                    fund_id: CHARITY_FUND_ID.into(),
                    campaign_id: CAMPAIGN_ID.into(),
                    project_id: String::new(),
                    amount_fen: yuan * YUAN,
                    channel: v1::Channel::BankTransfer as i32,
                    bank_reference: format!("PD2015-D-{index:03}"),
                    anonymous: false,
                    received_on: "2015-09-19".into(),
                }),
            );
        }
        // Two projects are delivered and reported; one claim is released and re-claimed.
        for (index, (title, _, yuan)) in needs.iter().enumerate().take(2) {
            self.push(
                "2015-12-10",
                Event::ExpenditureMade(v1::ExpenditureMade {
                    expenditure_id: format!("exp-{}", project_id(index)),
                    fund_id: PARTNERS_FUND_ID.into(),
                    project_id: project_id(index),
                    amount_fen: yuan * YUAN,
                    payee: if index == 0 {
                        "杭州示例建筑安装有限公司".into()
                    } else {
                        "陈秀英".into()
                    },
                    payee_kind: if index == 0 {
                        v1::PayeeKind::Company
                    } else {
                        v1::PayeeKind::Person
                    } as i32,
                    purpose: format!("项目实施：{title}"),
                    category: v1::ExpenditureCategory::ProjectDelivery as i32,
                    receipt_no: format!("FP2015-{index:04}"),
                    paid_on: "2015-12-10".into(),
                    payee_commitment: Default::default(),
                }),
            );
            self.push(
                "2015-12-20",
                Event::ProjectCompleted(v1::ProjectCompleted {
                    project_id: project_id(index),
                    report_sha256: sha256_of(&format!(
                        "completion report of {}",
                        project_id(index)
                    )),
                    summary: format!("{title}已完成并经居民代表验收"),
                    completed_on: "2015-12-20".into(),
                }),
            );
        }
    }

    fn special_support_fund(&mut self) {
        self.push(
            "2015-04-01",
            Event::DonationReceived(v1::DonationReceived {
                donation_id: "don-special-support-seed".into(),
                donor_id: "street-office".into(),
                fund_id: SPECIAL_SUPPORT_FUND_ID.into(),
                campaign_id: String::new(),
                project_id: String::new(),
                amount_fen: 1_000_000 * YUAN,
                channel: v1::Channel::BankTransfer as i32,
                bank_reference: "CZ-2015-0401".into(),
                anonymous: false,
                received_on: "2015-04-01".into(),
            }),
        );
        let spending = [
            (
                v1::ExpenditureCategory::OneOffSupport,
                0,
                50_000,
                "一次性扶持：新孵化社会组织开办",
            ),
            (
                v1::ExpenditureCategory::OneOffSupport,
                1,
                30_000,
                "一次性扶持：助老服务设备",
            ),
            (
                v1::ExpenditureCategory::PurchaseOfServices,
                2,
                120_000,
                "购买服务：青少年课后托管一年",
            ),
            (
                v1::ExpenditureCategory::PurchaseOfServices,
                3,
                80_000,
                "购买服务：邻里互助网络运营",
            ),
            (
                v1::ExpenditureCategory::AwardForExcellence,
                4,
                20_000,
                "奖励优秀：年度优秀社会组织",
            ),
        ];
        for (index, (category, organisation, yuan, purpose)) in spending.iter().enumerate() {
            self.push(
                "2015-11-15",
                Event::ExpenditureMade(v1::ExpenditureMade {
                    expenditure_id: format!("exp-special-{index}"),
                    fund_id: SPECIAL_SUPPORT_FUND_ID.into(),
                    project_id: String::new(),
                    amount_fen: yuan * YUAN,
                    payee: format!("凯益荟·{}", ORGANISATION_THEMES[*organisation]),
                    payee_kind: v1::PayeeKind::Organisation as i32,
                    purpose: (*purpose).into(),
                    category: *category as i32,
                    receipt_no: format!("ZX2015-{index:04}"),
                    paid_on: "2015-11-15".into(),
                    payee_commitment: Default::default(),
                }),
            );
        }
        self.push(
            "2015-11-20",
            Event::ExpenditureMade(v1::ExpenditureMade {
                expenditure_id: "exp-special-counsel".into(),
                fund_id: SPECIAL_SUPPORT_FUND_ID.into(),
                project_id: String::new(),
                amount_fen: 6_000 * YUAN,
                payee: "刘志强".into(),
                payee_kind: v1::PayeeKind::Person as i32,
                purpose: "购买服务：社会组织财务辅导（个人讲师）".into(),
                category: v1::ExpenditureCategory::PurchaseOfServices as i32,
                receipt_no: "ZX2015-0099".into(),
                paid_on: "2015-11-20".into(),
                payee_commitment: Default::default(),
            }),
        );
    }

    fn micro_venture_round_2016(&mut self) {
        self.push(
            "2016-02-15",
            Event::GrantRoundOpened(v1::GrantRoundOpened {
                round_id: GRANT_ROUND_ID.into(),
                fund_id: CHARITY_FUND_ID.into(),
                name: "2016年凯旋街道公益微创投 2016 Micro-venture Round".into(),
                budget_fen: 900_000 * YUAN,
                applications_open_on: "2016-03-01".into(),
                applications_close_on: "2016-03-31".into(),
            }),
        );
        for (index, theme) in ORGANISATION_THEMES.iter().enumerate() {
            self.push(
                "2016-03-20",
                Event::GrantApplicationSubmitted(v1::GrantApplicationSubmitted {
                    application_id: application_id(index),
                    round_id: GRANT_ROUND_ID.into(),
                    organisation_id: organisation_id(index),
                    title: format!("{theme}2016年度社区服务项目"),
                    summary: "面向辖区居民的年度公益服务".into(),
                    requested_fen: (30_000 + 1_000 * (index as i64 % 7)) * YUAN,
                    submitted_on: "2016-03-20".into(),
                }),
            );
            self.push(
                "2016-04-10",
                Event::GrantApplicationReviewed(v1::GrantApplicationReviewed {
                    application_id: application_id(index),
                    reviewer: "第三方评审委员会".into(),
                    score: 60 + (index as i32 * 7) % 40,
                    notes: String::new(),
                }),
            );
        }
        // 26 projects are shortlisted (入围) and awarded: 60% now, 40% after evaluation.
        for index in 0..26 {
            self.push(
                "2016-04-20",
                Event::GrantApplicationShortlisted(v1::GrantApplicationShortlisted {
                    application_id: application_id(index),
                }),
            );
            let award_yuan = 30_000;
            self.push(
                "2016-04-28",
                Event::GrantAwarded(v1::GrantAwarded {
                    grant_id: grant_id(index),
                    application_id: application_id(index),
                    amount_fen: award_yuan * YUAN,
                    awarded_on: "2016-04-28".into(),
                    tranches: vec![
                        v1::Tranche {
                            amount_fen: award_yuan * 60,
                            requires_evaluation: false,
                        },
                        v1::Tranche {
                            amount_fen: award_yuan * 40,
                            requires_evaluation: true,
                        },
                    ],
                }),
            );
            self.push(
                "2016-05-05",
                Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
                    grant_id: grant_id(index),
                    tranche_index: 0,
                    amount_fen: 0,
                    paid_on: "2016-05-05".into(),
                    bank_reference: format!("MV2016-T1-{index:03}"),
                }),
            );
        }
        for index in 0..26 {
            for quarter in ["2016-Q2", "2016-Q3"] {
                self.push(
                    if quarter.ends_with('2') {
                        "2016-07-05"
                    } else {
                        "2016-10-05"
                    },
                    Event::GrantSelfAssessmentFiled(v1::GrantSelfAssessmentFiled {
                        grant_id: grant_id(index),
                        quarter: quarter.into(),
                        report_sha256: sha256_of(&format!(
                            "self-assessment {} {quarter}",
                            grant_id(index)
                        )),
                        summary: "按计划推进".into(),
                    }),
                );
            }
            let passed = index != 25;
            self.push(
                "2016-07-15",
                Event::GrantEvaluationRecorded(v1::GrantEvaluationRecorded {
                    evaluation_id: format!("eval-{}-2016-H1", grant_id(index)),
                    grant_id: grant_id(index),
                    period: "2016-H1".into(),
                    evaluator: "第三方评估机构".into(),
                    score: if passed { 75 + (index as i32 % 20) } else { 48 },
                    passed,
                }),
            );
            // 以奖代拨: grants 0..20 get their second tranche now; the failing one
            // (25) is closed and its unspent 40% returns to the fund.
            if index < 20 {
                self.push(
                    "2016-08-01",
                    Event::GrantTrancheDisbursed(v1::GrantTrancheDisbursed {
                        grant_id: grant_id(index),
                        tranche_index: 1,
                        amount_fen: 0,
                        paid_on: "2016-08-01".into(),
                        bank_reference: format!("MV2016-T2-{index:03}"),
                    }),
                );
            }
        }
        self.push(
            "2016-12-31",
            Event::GrantClosed(v1::GrantClosed {
                grant_id: grant_id(25),
                disbursed_fen: 0,
                returned_fen: 0,
                reason: "中期评估未通过，未拨付部分退回基金".into(),
            }),
        );
    }

    fn later_years_and_corrections(&mut self) {
        // 2016: five of six pledging units pay on time; unit-06 falls overdue.
        for (unit, (donor_id, _)) in ALLIANCE_MEMBERS.iter().enumerate().take(5) {
            self.push(
                "2016-06-25",
                Event::PledgePaymentReceived(v1::PledgePaymentReceived {
                    payment_id: format!("pay-{donor_id}-2016"),
                    pledge_id: format!("pledge-{donor_id}"),
                    amount_fen: 200_000 * YUAN,
                    channel: v1::Channel::BankTransfer as i32,
                    bank_reference: format!("ICBC-2016-06-{unit:04}"),
                    received_on: "2016-06-25".into(),
                }),
            );
        }
        // unit-05 reduces its pledge to 600,000 CNY (two more years at 100,000).
        self.push(
            "2016-09-01",
            Event::PledgeAmended(v1::PledgeAmended {
                pledge_id: "pledge-unit-05".into(),
                new_total_fen: 600_000 * YUAN,
                instalments: vec![
                    v1::Instalment {
                        due_on: "2015-06-30".into(),
                        amount_fen: 200_000 * YUAN,
                    },
                    v1::Instalment {
                        due_on: "2016-06-30".into(),
                        amount_fen: 200_000 * YUAN,
                    },
                    v1::Instalment {
                        due_on: "2017-06-30".into(),
                        amount_fen: 100_000 * YUAN,
                    },
                    v1::Instalment {
                        due_on: "2018-06-30".into(),
                        amount_fen: 100_000 * YUAN,
                    },
                ],
                reason: "经营调整，认捐总额调整为60万元".into(),
            }),
        );
        // A resident's gift entered twice by mistake is reversed; another is partly refunded.
        self.push(
            "2016-01-08",
            Event::DonationReceived(v1::DonationReceived {
                donation_id: "don-2016-duplicate".into(),
                donor_id: "resident-zhang".into(),
                fund_id: CHARITY_FUND_ID.into(),
                campaign_id: CAMPAIGN_ID.into(),
                project_id: String::new(),
                amount_fen: 1_288 * YUAN + 88,
                channel: v1::Channel::Online as i32,
                bank_reference: String::new(),
                anonymous: false,
                received_on: "2016-01-08".into(),
            }),
        );
        self.push(
            "2016-01-09",
            Event::DonationReversed(v1::DonationReversed {
                donation_id: "don-2016-duplicate".into(),
                amount_fen: 0,
                reason: "重复录入，冲正 (duplicate entry of don-2015-resident-2)".into(),
            }),
        );
        self.push(
            "2016-01-20",
            Event::DonationRefunded(v1::DonationRefunded {
                refund_id: "refund-2016-0001".into(),
                donation_id: "don-2015-resident-0".into(),
                amount_fen: 500 * YUAN,
                reason: "捐赠人申请部分退回 donor asked for part back".into(),
            }),
        );
        // One Partners Day claim is released and re-claimed by another unit.
        self.push(
            "2016-03-01",
            Event::ProjectClaimReleased(v1::ProjectClaimReleased {
                project_id: project_id(8),
                sponsor_id: ALLIANCE_MEMBERS[11].0.into(),
                reason: "认领单位搬离辖区".into(),
            }),
        );
        self.push(
            "2016-03-05",
            Event::ProjectClaimed(v1::ProjectClaimed {
                project_id: project_id(8),
                sponsor_id: ALLIANCE_MEMBERS[0].0.into(),
            }),
        );
    }
}

/// One more online gift of about 50 yuan from a registered resident to the
/// five-year campaign, as on a giving day, for loads after `kaixuan()` (the
/// benches): `n` varies the amount.
pub fn giving_day_donation(donation_id: String, n: u64) -> Event {
    Event::DonationReceived(v1::DonationReceived {
        donation_id,
        donor_id: "resident-zhang".into(),
        fund_id: CHARITY_FUND_ID.into(),
        campaign_id: CAMPAIGN_ID.into(),
        project_id: String::new(),
        amount_fen: 50 * YUAN + (n % 100) as i64,
        channel: v1::Channel::Online as i32,
        bank_reference: String::new(),
        anonymous: false,
        received_on: "2025-09-05".into(),
    })
}

pub fn organisation_id(index: usize) -> String {
    format!("org-{index:03}")
}

pub fn project_id(index: usize) -> String {
    format!("pd2015-{index:02}")
}

pub fn application_id(index: usize) -> String {
    format!("app-mv2016-{index:03}")
}

pub fn grant_id(index: usize) -> String {
    format!("grant-mv2016-{index:03}")
}

fn sha256_of(text: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).to_vec()
}

/// Unix milliseconds of 09:00 China Standard Time (UTC+8) on `date` (YYYY-MM-DD).
pub fn unix_ms_at_0900_cst(date: &str) -> i64 {
    let year: i64 = date[0..4].parse().expect("scenario dates are well formed");
    let month: i64 = date[5..7].parse().expect("scenario dates are well formed");
    let day: i64 = date[8..10].parse().expect("scenario dates are well formed");
    days_from_civil(year, month, day) * 86_400_000 + 3_600_000
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A small log the write side never writes, chained correctly, whose record
/// `refused_seq` the rules refuse by `rule`: what an auditor's replay, the
/// projections and `Ledger::open` must all report instead of skipping.
#[derive(Debug, Clone)]
pub struct LogTheRulesRefuse {
    pub what: &'static str,
    pub envelopes: Vec<v1::EventEnvelope>,
    pub refused_seq: u64,
    pub field: &'static str,
    pub rule: &'static str,
}

/// One such log for each way a record can name what does not exist or take
/// what is taken: an unregistered donor, an unknown fund, a reused id.
pub fn logs_the_rules_refuse() -> Vec<LogTheRulesRefuse> {
    let envelope = |event: Event| v1::EventEnvelope {
        recorded_at_unix_ms: unix_ms_at_0900_cst("2015-09-02"),
        actor: "operator:kaixuan-01".into(),
        event: Some(event),
        ..v1::EventEnvelope::default()
    };
    let fund_opened = || {
        envelope(Event::FundOpened(v1::FundOpened {
            fund_id: SPECIAL_SUPPORT_FUND_ID.into(),
            name: "专项扶持基金".into(),
            kind: v1::FundKind::SpecialSupport as i32,
            restriction: String::new(),
        }))
    };
    let donor_registered = || {
        envelope(Event::DonorRegistered(v1::DonorRegistered {
            donor_id: "kailian-member-01".into(),
            name: ALLIANCE_MEMBERS[0].1.into(),
            kind: v1::DonorKind::Enterprise as i32,
            alliance_member: true,
            show_name_publicly: true,
            name_commitment: Default::default(),
        }))
    };
    let donation = |donation_id: &str, fund_id: &str| {
        envelope(Event::DonationReceived(v1::DonationReceived {
            donation_id: donation_id.into(),
            donor_id: "kailian-member-01".into(),
            fund_id: fund_id.into(),
            amount_fen: 1_000_000 * YUAN,
            channel: v1::Channel::BankTransfer as i32,
            bank_reference: "HZ20150902-0001".into(),
            received_on: "2015-09-02".into(),
            ..v1::DonationReceived::default()
        }))
    };
    vec![
        LogTheRulesRefuse {
            what: "a donation by an unregistered donor",
            envelopes: vec![
                fund_opened(),
                donation("donation-0001", SPECIAL_SUPPORT_FUND_ID),
            ],
            refused_seq: 1,
            field: "donor_id",
            rule: "not_found",
        },
        LogTheRulesRefuse {
            what: "a donation into an unknown fund",
            envelopes: vec![
                fund_opened(),
                donor_registered(),
                donation("donation-0001", "no-such-fund"),
            ],
            refused_seq: 2,
            field: "fund_id",
            rule: "not_found",
        },
        LogTheRulesRefuse {
            what: "a donation id used twice",
            envelopes: vec![
                fund_opened(),
                donor_registered(),
                donation("donation-0001", SPECIAL_SUPPORT_FUND_ID),
                donation("donation-0001", SPECIAL_SUPPORT_FUND_ID),
            ],
            refused_seq: 3,
            field: "donation_id",
            rule: "id_taken",
        },
    ]
}
