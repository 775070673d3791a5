//! Money at the edges. Inside, every amount is an `i64` count of fen (0.01 CNY);
//! outside (JSON, CLI, the page) it is a decimal string such as "1234.56".

use rust_decimal::Decimal;

pub const FEN_PER_YUAN: i64 = 100;
/// 100 billion CNY: far above any real gift, far below i64 overflow when summed.
pub const AMOUNT_FEN_MAX: i64 = 10_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("not a decimal number")]
    NotADecimal,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("has more than 2 decimal places (分 is the smallest unit)")]
    TooPrecise,
    #[error("exceeds the maximum of 100,000,000,000.00")]
    TooLarge,
}

impl AmountError {
    /// Stable machine-readable rule name, used in API errors.
    pub fn rule(&self) -> &'static str {
        match self {
            AmountError::NotADecimal => "amount_not_decimal",
            AmountError::NotPositive => "amount_not_positive",
            AmountError::TooPrecise => "amount_too_precise",
            AmountError::TooLarge => "amount_too_large",
        }
    }
}

/// Parses a CNY amount written as a decimal ("1234.56", "10", "0.01") into fen.
/// Rejects exponents, signs other than a leading '-' (which is then refused as
/// not positive), more than 2 decimal places, zero and absurdly large values.
pub fn parse_amount_fen(text: &str) -> Result<i64, AmountError> {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if text.is_empty() || !plain {
        return Err(AmountError::NotADecimal);
    }
    let value: Decimal = text.parse().map_err(|_| AmountError::NotADecimal)?;
    amount_fen_from_decimal(value)
}

pub fn amount_fen_from_decimal(value: Decimal) -> Result<i64, AmountError> {
    if value <= Decimal::ZERO {
        return Err(AmountError::NotPositive);
    }
    // "1.50" has scale 2 and "1.500" scale 3: the trailing zero is still a claim
    // of precision we do not keep, but it is not a different amount.
    let normalized = value.normalize();
    if normalized.scale() > 2 {
        return Err(AmountError::TooPrecise);
    }
    let fen = normalized
        .checked_mul(Decimal::from(FEN_PER_YUAN))
        .ok_or(AmountError::TooLarge)?;
    let fen = i64::try_from(fen).map_err(|_| AmountError::TooLarge)?;
    if fen > AMOUNT_FEN_MAX {
        return Err(AmountError::TooLarge);
    }
    Ok(fen)
}

/// "1234.56" for 123456 fen; "-0.05" for -5 (balances may be shown signed).
pub fn format_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

pub fn decimal_from_fen(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_become_exact_fen() {
        assert_eq!(parse_amount_fen("1234.56"), Ok(123_456));
        assert_eq!(parse_amount_fen("10000000"), Ok(1_000_000_000));
        assert_eq!(parse_amount_fen("0.01"), Ok(1));
        assert_eq!(parse_amount_fen("1.50"), Ok(150));
        assert_eq!(parse_amount_fen("1.500"), Ok(150));
    }

    #[test]
    fn bad_amounts_name_their_rule() {
        assert_eq!(parse_amount_fen("0"), Err(AmountError::NotPositive));
        assert_eq!(parse_amount_fen("-5.00"), Err(AmountError::NotPositive));
        assert_eq!(parse_amount_fen("0.001"), Err(AmountError::TooPrecise));
        assert_eq!(parse_amount_fen("1e3"), Err(AmountError::NotADecimal));
        assert_eq!(parse_amount_fen("12,00"), Err(AmountError::NotADecimal));
        assert_eq!(parse_amount_fen(""), Err(AmountError::NotADecimal));
        assert_eq!(
            parse_amount_fen("100000000000.01"),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            parse_amount_fen("99999999999999999999999"),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn fen_format_round_trips() {
        for fen in [1, 5, 99, 100, 123_456, 1_000_000_000, AMOUNT_FEN_MAX] {
            assert_eq!(parse_amount_fen(&format_fen(fen)), Ok(fen));
        }
        assert_eq!(format_fen(-5), "-0.05");
        assert_eq!(decimal_from_fen(123_456).to_string(), "1234.56");
    }
}
