//! What the public may read: money written out exactly, and the masking rules
//! that decide which names appear. Every name on the page, in a CSV export or
//! in the 360Giving file goes through here, so the rules live in one place.

use mingzhang_ledger::money::format_fen;

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

/// A share in basis points (10_000 = 100 %), shown with one decimal: "16.3%".
/// Integer arithmetic only; rounds down like the projections do.
pub fn percent_bp(bp: i64) -> String {
    let bp = bp.max(0);
    format!("{}.{}%", bp / 100, (bp % 100) / 10)
}

/// `part / whole` in basis points, rounded down; 0 when there is no whole.
pub fn share_bp(part_fen: i64, whole_fen: i64) -> i64 {
    if whole_fen <= 0 || part_fen <= 0 {
        return 0;
    }
    ((part_fen as i128 * 10_000) / whole_fen as i128) as i64
}

/// A private person's name as the public sees it: the family name and one
/// star per remaining character ("陈秀英" -> "陈**"). Latin names keep their
/// first letter ("Alice Wong" -> "A*********"). Never reveals the length of an
/// empty name.
pub fn mask_person_name(name: &str) -> String {
    let mut characters = name.trim().chars();
    match characters.next() {
        None => "*".to_owned(),
        Some(first) => {
            let rest = characters.count().max(1);
            let mut masked = String::with_capacity(first.len_utf8() + rest);
            masked.push(first);
            masked.extend(std::iter::repeat_n('*', rest));
            masked
        }
    }
}

/// How a giver is credited in public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credit {
    /// Shown by name; `donor_id` links to the sponsor page.
    Named { donor_id: String, name: String },
    /// A registered person who did not opt in to be named: masked name only.
    Masked { masked_name: String },
    /// The gift was anonymous (or a walk-in gift with no donor): no name at all.
    Anonymous,
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
    /// The credit for one gift: anonymous gifts are 匿名 whoever gave them; an
    /// enterprise or a person is named only if they chose to be; a person who
    /// did not is masked; an enterprise that did not is treated as anonymous
    /// because a masked company name would still identify it.
    pub fn credit(&self, gift_is_anonymous: bool) -> Credit {
        if gift_is_anonymous {
            return Credit::Anonymous;
        }
        if self.show_name_publicly {
            return Credit::Named {
                donor_id: self.donor_id.clone(),
                name: self.name.clone(),
            };
        }
        if self.is_enterprise {
            Credit::Anonymous
        } else {
            Credit::Masked {
                masked_name: mask_person_name(&self.name),
            }
        }
    }

    /// Whether this donor has a public sponsor page at all.
    pub fn is_publicly_named(&self) -> bool {
        self.show_name_publicly
    }
}

/// A payee as the public sees it: organisations and companies by name, a
/// private person masked.
pub fn public_payee(payee: &str, payee_kind: &str) -> String {
    match payee_kind {
        "organisation" | "company" => payee.to_owned(),
        _ => mask_person_name(payee),
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
    fn percentages_round_down_from_basis_points() {
        assert_eq!(share_bp(1, 3), 3_333);
        assert_eq!(percent_bp(3_333), "33.3%");
        assert_eq!(percent_bp(10_000), "100.0%");
        assert_eq!(share_bp(5, 0), 0);
    }

    #[test]
    fn private_names_keep_only_the_family_name() {
        assert_eq!(mask_person_name("陈秀英"), "陈**");
        assert_eq!(mask_person_name("张敏"), "张*");
        assert_eq!(mask_person_name("王"), "王*");
        assert_eq!(mask_person_name(""), "*");
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
        assert_eq!(
            person(false).credit(false),
            Credit::Masked {
                masked_name: "李**".into()
            }
        );
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
        assert_eq!(public_payee("刘志强", "person"), "刘**");
        assert_eq!(public_payee("某人", "unspecified"), "某*");
    }
}
