//! What the public may read: money written out exactly, and the masking rule
//! that decides which names appear. Every name on the page, in a CSV export,
//! in the 360Giving file and in the public answers of the JSON and gRPC
//! queries (`query_answers`) goes through here, so the rule lives in one place.

use mingzhang_ledger::money::format_fen;
use mingzhang_projections::Counterparty;

/// "10,000,000.00" for 1_000_000_000 fen: exact, two decimals, thousands
/// separated. Built from the integer; never a float.
pub fn cny(fen: i64) -> String {
    let plain = format_fen(fen);
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (whole, fraction) = digits
        .split_once('.')
        .expect("format_fen always writes two decimals");
    assert_eq!(fraction.len(), 2, "format_fen writes exactly two decimals");
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3 + 4);
    for (position, digit) in whole.chars().enumerate() {
        if position > 0 && (whole.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{fraction}")
}

/// A share in basis points (10_000 = 100 %), rounded to one decimal:
/// 5_556 is "55.6%". Integer arithmetic only. A share short of the whole
/// never shows as "100.0%": a target 99.96% reached is not reached.
pub fn percent_bp(bp: i64) -> String {
    let bp = bp.max(0);
    let tenths = if bp < 10_000 {
        ((bp + 5) / 10).min(999)
    } else {
        (bp + 5) / 10
    };
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// `part / whole` in basis points, rounded to the nearest; 0 when there is
/// no whole.
pub fn share_bp(part_fen: i64, whole_fen: i64) -> i64 {
    if whole_fen <= 0 || part_fen <= 0 {
        return 0;
    }
    ((part_fen as i128 * 10_000 * 2 + whole_fen as i128) / (whole_fen as i128 * 2)) as i64
}

/// What stands in for a donor who may not be named, on every public surface.
pub const ANONYMOUS_DONOR_NAME: &str = "匿名 anonymous";
/// What stands in for a private person paid out of a fund, likewise.
pub const PRIVATE_PAYEE: &str = "个人 private person";

/// How a giver is credited in public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credit {
    /// Shown by name; `donor_id` links to the sponsor page.
    Named { donor_id: String, name: String },
    /// Not to be named: no part of the name and no id appears.
    Anonymous,
}

/// The one masking rule of every public surface (the page, its CSV and
/// 360Giving exports, the JSON API and gRPC): a donor is named for a gift
/// only if the donor chose to be named and did not give this gift
/// anonymously. Anyone else is not shown at all, not even in part: a
/// surname with stars still identifies a person in a small community.
pub fn donor_is_named(show_name_publicly: bool, gift_is_anonymous: bool) -> bool {
    show_name_publicly && !gift_is_anonymous
}

/// What the masking rules need to know about a registered donor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorIdentity {
    pub donor_id: String,
    pub name: String,
    pub is_enterprise: bool,
    pub show_name_publicly: bool,
}

impl DonorIdentity {
    /// The credit for one gift, by `donor_is_named`.
    pub fn credit(&self, gift_is_anonymous: bool) -> Credit {
        if donor_is_named(self.show_name_publicly, gift_is_anonymous) {
            Credit::Named {
                donor_id: self.donor_id.clone(),
                name: self.name.clone(),
            }
        } else {
            Credit::Anonymous
        }
    }
}

/// A payee as the public sees it: organisations and companies by name (they
/// are public entities), a private person not at all.
pub fn public_payee(payee: &str, payee_kind: &str) -> String {
    match payee_kind {
        "organisation" | "company" => payee.to_owned(),
        _ => PRIVATE_PAYEE.to_owned(),
    }
}

/// The other side of a fund movement as a caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicCounterparty {
    /// "donor" | "walk_in" | "payee" | "organisation".
    pub kind: &'static str,
    /// The donor or organisation id; empty where the name is masked, for a
    /// walk-in gift and for a payee (payees have no id).
    pub id: String,
    /// The name, or `ANONYMOUS_DONOR_NAME` / `PRIVATE_PAYEE` where masked.
    pub name: String,
}

/// A movement's counterparty by the one rule above: donors by
/// `donor_is_named`, payees by `public_payee`; `full_view` (operators and
/// auditors) sees everything.
pub fn public_counterparty(counterparty: &Counterparty, full_view: bool) -> PublicCounterparty {
    match counterparty {
        Counterparty::Donor {
            donor_id,
            name,
            show_name_publicly,
            gift_anonymous,
        } => {
            if full_view || donor_is_named(*show_name_publicly, *gift_anonymous) {
                PublicCounterparty {
                    kind: "donor",
                    id: donor_id.clone(),
                    name: name.clone(),
                }
            } else {
                PublicCounterparty {
                    kind: "donor",
                    id: String::new(),
                    name: ANONYMOUS_DONOR_NAME.to_owned(),
                }
            }
        }
        Counterparty::WalkIn => PublicCounterparty {
            kind: "walk_in",
            id: String::new(),
            name: ANONYMOUS_DONOR_NAME.to_owned(),
        },
        Counterparty::Payee { name, payee_kind } => PublicCounterparty {
            kind: "payee",
            id: String::new(),
            name: if full_view {
                name.clone()
            } else {
                public_payee(name, payee_kind)
            },
        },
        Counterparty::Organisation {
            organisation_id,
            name,
        } => PublicCounterparty {
            kind: "organisation",
            id: organisation_id.clone(),
            name: name.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_with_thousands_separators() {
        assert_eq!(cny(1_000_000_000), "10,000,000.00");
        assert_eq!(cny(0), "0.00");
        assert_eq!(cny(5), "0.05");
        assert_eq!(cny(99_999), "999.99");
        assert_eq!(cny(100_000), "1,000.00");
        assert_eq!(cny(128_888), "1,288.88");
        assert_eq!(cny(-123_456_789), "-1,234,567.89");
        assert_eq!(cny(i64::MAX), "92,233,720,368,547,758.07");
    }

    #[test]
    fn percentages_round_to_one_decimal() {
        assert_eq!(share_bp(1, 3), 3_333);
        assert_eq!(share_bp(2, 3), 6_667);
        assert_eq!(share_bp(5_556, 10_000), 5_556);
        assert_eq!(percent_bp(5_556), "55.6%");
        assert_eq!(percent_bp(5_555), "55.6%");
        assert_eq!(percent_bp(5_554), "55.5%");
        assert_eq!(percent_bp(3_333), "33.3%");
        assert_eq!(percent_bp(9_996), "99.9%");
        assert_eq!(percent_bp(10_000), "100.0%");
        assert_eq!(percent_bp(12_345), "123.5%");
        assert_eq!(share_bp(5, 0), 0);
    }

    #[test]
    fn credit_follows_consent_and_anonymity() {
        let person = |show| DonorIdentity {
            donor_id: "resident-x".into(),
            name: "李建国".into(),
            is_enterprise: false,
            show_name_publicly: show,
        };
        assert_eq!(
            person(true).credit(false),
            Credit::Named {
                donor_id: "resident-x".into(),
                name: "李建国".into()
            }
        );
        assert_eq!(person(false).credit(false), Credit::Anonymous);
        assert_eq!(person(true).credit(true), Credit::Anonymous);
        let shy_company = DonorIdentity {
            is_enterprise: true,
            ..person(false)
        };
        assert_eq!(shy_company.credit(false), Credit::Anonymous);
    }

    #[test]
    fn payees_are_named_unless_private_persons() {
        assert_eq!(
            public_payee("杭州示例建筑安装有限公司", "company"),
            "杭州示例建筑安装有限公司"
        );
        assert_eq!(
            public_payee("凯益荟·社工服务中心", "organisation"),
            "凯益荟·社工服务中心"
        );
        assert_eq!(public_payee("刘志强", "person"), PRIVATE_PAYEE);
        assert_eq!(public_payee("某人", "unspecified"), PRIVATE_PAYEE);
    }
}
