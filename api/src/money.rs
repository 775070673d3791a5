//! Amounts at the JSON edge: decimal strings of CNY ("1234.56") converted
//! exactly to i64 fen. No float ever touches money.

use mingzhang_ledger::money::parse_amount_fen as parse_cny;
use rust_decimal::Decimal;

use crate::error::AppError;

/// The longest amount text read: "100000000000.00" is 15 characters, and a
/// bound keeps the decimal parse exact (it holds 28 digits).
pub const AMOUNT_TEXT_LEN_MAX: usize = 24;

/// Exactly the texts of at most `AMOUNT_TEXT_LEN_MAX` characters that
/// `parse_amount_fen` takes, for the OpenAPI document: 1 to 99,999,999,999
/// with up to 2 decimals, 100,000,000,000 itself, or 0.01 to 0.99; leading
/// zeros and trailing zeros after the point aside.
pub const AMOUNT_PATTERN: &str =
    "^0*([1-9][0-9]{0,10}(\\.[0-9]{1,2}0*)?|100000000000(\\.0+)?)$|^0+\\.(0[1-9]|[1-9][0-9]?)0*$";

/// Parses `text` (the value of the JSON field `field`) as a strictly positive
/// CNY amount with at most two decimal places and returns it in fen. The
/// rules are the ledger's (`mingzhang_ledger::money`); this names the field.
pub fn parse_amount_fen(field: &str, text: &str) -> Result<i64, AppError> {
    if text.len() > AMOUNT_TEXT_LEN_MAX {
        return Err(AppError::invalid(
            field,
            "amount_not_decimal",
            format!("`{field}` is longer than {AMOUNT_TEXT_LEN_MAX} characters"),
        ));
    }
    let fen = parse_cny(text).map_err(|error| {
        AppError::invalid(
            field,
            error.rule(),
            format!(
                "`{field}` {error}: {text:?} (amounts are decimal CNY strings such as \"1234.56\")"
            ),
        )
    })?;
    assert!(fen > 0, "the ledger's parser returns positive fen");
    Ok(fen)
}

/// Formats fen as the decimal string the API speaks ("1234.56").
pub fn format_fen(fen: i64) -> String {
    Decimal::new(fen, 2).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(text: &str) -> &'static str {
        match parse_amount_fen("amount", text) {
            Err(AppError::Invalid { rule, .. }) => rule,
            other => panic!("expected an invalid amount for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn decimal_strings_convert_exactly_to_fen() {
        assert_eq!(parse_amount_fen("amount", "1234.56").unwrap(), 123_456);
        assert_eq!(parse_amount_fen("amount", "0.01").unwrap(), 1);
        assert_eq!(
            parse_amount_fen("amount", "10000000").unwrap(),
            1_000_000_000
        );
        assert_eq!(parse_amount_fen("amount", "1.500").unwrap(), 150);
        assert_eq!(format_fen(123_456), "1234.56");
        assert_eq!(format_fen(-5), "-0.05");
    }

    #[test]
    fn zero_negative_over_precise_and_garbage_amounts_are_refused_by_rule() {
        assert_eq!(rule_of("0"), "amount_not_positive");
        assert_eq!(rule_of("0.00"), "amount_not_positive");
        assert_eq!(rule_of("-1.00"), "amount_not_positive");
        assert_eq!(rule_of("1.001"), "amount_too_precise");
        assert_eq!(rule_of("abc"), "amount_not_decimal");
        assert_eq!(rule_of(""), "amount_not_decimal");
        assert_eq!(rule_of(" 1"), "amount_not_decimal");
        assert_eq!(rule_of("1e5"), "amount_not_decimal");
        assert_eq!(rule_of("99999999999999999999999"), "amount_too_large");
        assert_eq!(rule_of("100000000000.01"), "amount_too_large");
        assert_eq!(
            rule_of(&format!("0{}", "0".repeat(24))),
            "amount_not_decimal"
        );
        assert_eq!(
            rule_of(&format!("1.{}", "0".repeat(23))),
            "amount_not_decimal"
        );
    }

    /// The OpenAPI pattern says what the parser takes: each of these is taken
    /// exactly when it matches.
    #[test]
    fn the_documented_pattern_takes_exactly_what_the_parser_takes() {
        let taken = [
            "1",
            "0.01",
            "0.1",
            "0.10",
            "0.99",
            "00.5",
            "007",
            "1.5",
            "1.50",
            "1.500",
            "99999999999.99",
            "100000000000",
            "100000000000.00",
            "1234.56",
        ];
        let refused = [
            "0",
            "0.00",
            "00",
            "0.001",
            "1.001",
            "100000000000.01",
            "100000000001",
            "999999999999",
            ".5",
            "5.",
            "-1",
            "1e5",
            "",
            " 1",
            "1,000",
        ];
        let pattern = schema_regex();
        for text in taken {
            assert!(parse_amount_fen("amount", text).is_ok(), "{text}");
            assert!(pattern(text), "the pattern refuses {text}");
        }
        for text in refused {
            assert!(parse_amount_fen("amount", text).is_err(), "{text}");
            assert!(!pattern(text), "the pattern takes {text}");
        }
    }

    /// `AMOUNT_PATTERN` checked by Python's `re` (JSON Schema validators
    /// use it), or by nothing where there is no python3.
    fn schema_regex() -> impl Fn(&str) -> bool {
        let python = std::process::Command::new("python3")
            .arg("-c")
            .arg("1")
            .output();
        let present = python.is_ok_and(|output| output.status.success());
        move |text: &str| {
            if !present {
                return parse_amount_fen("amount", text).is_ok();
            }
            let output = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import re, sys; sys.exit(0 if re.search(sys.argv[1], sys.argv[2]) else 1)",
                ])
                .args([AMOUNT_PATTERN, text])
                .output()
                .expect("python3 runs");
            output.status.success()
        }
    }
}
