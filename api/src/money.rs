//! Amounts at the JSON edge: decimal strings of CNY ("1234.56") converted
//! exactly to i64 fen. No float ever touches money.

use mingzhang_ledger::money::parse_amount_fen as parse_cny;
use rust_decimal::Decimal;

use crate::error::AppError;

/// Parses `text` (the value of the JSON field `field`) as a strictly positive
/// CNY amount with at most two decimal places and returns it in fen. The
/// rules are the ledger's (`mingzhang_ledger::money`); this names the field.
pub fn parse_amount_fen(field: &str, text: &str) -> Result<i64, AppError> {
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
    }
}
