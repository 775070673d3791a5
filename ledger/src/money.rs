//! Money at the edges. Inside, every amount is an `i64` count of fen (0.01 CNY);
//! outside (JSON, CLI, the page) it is a decimal string such as "1234.56".

use rust_decimal::Decimal;

pub const FEN_PER_YUAN: i64 = 100;
/// 100 billion CNY: far above any real gift, far below i64 overflow when summed.
pub const AMOUNT_FEN_MAX: i64 = 10_000_000_000_000;

/// 1,000,000,000,000,000.00 CNY (10^17 fen): the most the whole ledger may
/// ever receive, have pledged, be asked for in grant applications, or spend.
/// `decide` refuses a command that would take one of these ledger-wide gross
/// totals past it (rule `total_out_of_range`); `LedgerState::gross` keeps them.
///
/// Why that keeps every total inside i64. Call them R (received: donations,
/// pledge payments, sponsor funding of projects), P (pledged: the current
/// totals of all pledges, cancelled ones included), Q (requested in grant
/// applications) and S (spent: every expenditure, reversed ones included);
/// each is <= T = TOTAL_FEN_MAX. A, all awards ever made (returned ones
/// included), is <= Q: an award is at most its application's request and an
/// application is awarded once. Every total the rules or the projections keep
/// is a sum over a subset of the amounts behind one of these, or a short sum
/// or difference of such sums:
///
/// - within R: a fund's total received, and its available money (awards leave
///   it before they can come back, so it never exceeds what it received); a
///   project's balance, sponsor funding, designated donations and net
///   spending; a campaign's raised, donations and pledge payments, in all and
///   per year; a donor's donated, pledge-paid and project funding, and a
///   sponsor's total given on the public page; a month's in-flow;
///   `assets:bank` and every donations, refunds, pledge-payments,
///   sponsor-funding and expenses account (refunds and net spending come out
///   of money received).
/// - within P: a donor's, a campaign's and a sponsor's pledged, due, overdue
///   and fulfilled sums, and pledged by year.
/// - within Q: a grant round's requested total; within A: its awarded,
///   disbursed and returned totals, its budget remaining (budget - awarded +
///   returned), and the grants-committed, grants-returned and grant-liability
///   accounts.
/// - a fund's total out: refunds (<= R) + tranches (<= A) + net spending (<= R).
/// - a month's out-flow: the refunds, tranches and expenditures of the month
///   minus the expenditure reversals recorded in it, so between -S and
///   R + A + S; the monthly series nets within 2R + A + 2S.
/// - the trial balance adds every account's balance: its partial sums stay
///   within twice all postings, 2 * (R + refunds + A + tranches + returned +
///   S + reversals) <= 2 * (2R + 3A + 2S) <= 14 T.
///
/// The largest, 14 T = 1.4 * 10^18, is far inside i64::MAX (about 9.2 * 10^18),
/// and T is far above real giving (all of China's is about 10^13 fen a year).
/// The totals `decide` keeps per fund and project are checked against T too,
/// so a refusal names the most specific total that would pass it.
pub const TOTAL_FEN_MAX: i64 = 100_000_000_000_000_000;

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
    // Digits on both sides of the point: ".5" and "5." are refused, so the
    // API's pattern `^[0-9]+(\.[0-9]{1,2}0*)?$` says exactly what is taken.
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
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

/// "1,000,000,000,000,000.00" for 10^17 fen: thousands grouped, for messages.
pub fn format_fen_grouped(fen: i64) -> String {
    let plain = format_fen(fen);
    let (sign, digits) = plain
        .strip_prefix('-')
        .map_or(("", plain.as_str()), |rest| ("-", rest));
    let (yuan, fen_part) = digits.split_once('.').expect("format_fen writes a point");
    let mut grouped = String::with_capacity(yuan.len() + yuan.len() / 3);
    for (index, digit) in yuan.chars().enumerate() {
        if index > 0 && (yuan.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{fen_part}")
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
        for half_written in [".5", "5.", "-.5", ".", "1..5", "1.2.3", "+5"] {
            assert_eq!(
                parse_amount_fen(half_written),
                Err(AmountError::NotADecimal),
                "{half_written}"
            );
        }
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
        assert_eq!(
            format_fen_grouped(TOTAL_FEN_MAX),
            "1,000,000,000,000,000.00"
        );
        assert_eq!(format_fen_grouped(123_456), "1,234.56");
        assert_eq!(format_fen_grouped(99_999), "999.99");
        assert_eq!(format_fen_grouped(-100_000), "-1,000.00");
        assert_eq!(format_fen_grouped(i64::MAX), "92,233,720,368,547,758.07");
        assert_eq!(decimal_from_fen(123_456).to_string(), "1234.56");
    }
}
