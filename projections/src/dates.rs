//! Calendar dates as the events carry them ("YYYY-MM-DD", China Standard
//! Time), kept as one packed integer so that ordering, year and month
//! bucketing cost no allocation.

use serde::Serialize;

/// A calendar day packed as `year * 10_000 + month * 100 + day`, so that the
/// integer order is the calendar order. `Day::UNKNOWN` (0) stands for a date
/// the event did not carry (a grant awarded without its date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Day(u32);

/// China Standard Time is UTC+8 all year (no daylight saving).
const CST_OFFSET_MS: i64 = 8 * 3_600 * 1_000;
const MS_PER_DAY: i64 = 86_400_000;

impl Day {
    pub const UNKNOWN: Day = Day(0);

    /// Parses "YYYY-MM-DD" strictly (ASCII digits, month 1..=12, day 1..=31).
    pub fn parse(text: &str) -> Option<Day> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year = digits(&bytes[0..4])?;
        let month = digits(&bytes[5..7])?;
        let day = digits(&bytes[8..10])?;
        if year == 0 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        Some(Day(year * 10_000 + month * 100 + day))
    }

    /// The CST calendar day of a Unix instant in milliseconds.
    pub fn from_unix_ms_cst(unix_ms: i64) -> Day {
        let days = (unix_ms.saturating_add(CST_OFFSET_MS)).div_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if !(1..=9999).contains(&year) {
            return Day::UNKNOWN;
        }
        Day(year as u32 * 10_000 + month * 100 + day)
    }

    /// The packed integer (at most 99_991_231, under 2^27), for storage
    /// that packs more beside it (`movements.rs`).
    pub(crate) fn to_bits(self) -> u32 {
        self.0
    }

    pub(crate) fn from_bits(bits: u32) -> Day {
        Day(bits)
    }

    /// The same day `months` later, or the month's last day where it is
    /// shorter (2016-08-31 + 3 months = 2016-11-30), as calendar-month
    /// deadlines are counted. `Day::UNKNOWN` stays unknown, and so does a
    /// day past year 9999.
    pub fn plus_months(self, months: u32) -> Day {
        if !self.is_known() {
            return Day::UNKNOWN;
        }
        let (year, month, day) = (self.0 / 10_000, self.0 / 100 % 100, self.0 % 100);
        assert!(
            (1..=12).contains(&month),
            "a known day has a month: {}",
            self.0
        );
        let month_index = year as u64 * 12 + u64::from(month - 1) + u64::from(months);
        let (year, month) = (month_index / 12, (month_index % 12) as u32 + 1);
        if year > 9999 {
            return Day::UNKNOWN;
        }
        let year = year as u32;
        Day(year * 10_000 + month * 100 + day.min(days_in_month(year, month)))
    }

    pub fn is_known(self) -> bool {
        self != Day::UNKNOWN
    }

    pub fn year(self) -> i32 {
        (self.0 / 10_000) as i32
    }

    /// `year * 100 + month`, the key of the monthly series.
    pub fn month_key(self) -> u32 {
        self.0 / 100
    }

    /// "YYYY-MM-DD", or "" for `Day::UNKNOWN`.
    pub fn render(self) -> String {
        if !self.is_known() {
            return String::new();
        }
        format!(
            "{:04}-{:02}-{:02}",
            self.0 / 10_000,
            self.0 / 100 % 100,
            self.0 % 100
        )
    }
}

impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.render())
    }
}

/// "YYYY-MM" of a `Day::month_key`.
pub fn render_month(month_key: u32) -> String {
    format!("{:04}-{:02}", month_key / 100, month_key % 100)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(byte - b'0');
    }
    Some(value)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d) in
/// the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_order_like_the_calendar() {
        let first = Day::parse("2015-12-31").unwrap();
        let second = Day::parse("2016-01-01").unwrap();
        assert!(first < second);
        assert_eq!(first.render(), "2015-12-31");
        assert_eq!(second.year(), 2016);
        assert_eq!(render_month(second.month_key()), "2016-01");
    }

    #[test]
    fn months_are_added_as_calendar_months_clamped_to_the_month_end() {
        let day = |text| Day::parse(text).unwrap();
        assert_eq!(day("2016-04-28").plus_months(3), day("2016-07-28"));
        assert_eq!(day("2016-08-31").plus_months(3), day("2016-11-30"));
        assert_eq!(day("2015-11-30").plus_months(3), day("2016-02-29"));
        assert_eq!(day("2016-11-30").plus_months(3), day("2017-02-28"));
        assert_eq!(day("2016-10-15").plus_months(3), day("2017-01-15"));
        assert_eq!(day("2016-01-31").plus_months(0), day("2016-01-31"));
        assert_eq!(day("9999-12-01").plus_months(1), Day::UNKNOWN);
        assert_eq!(Day::UNKNOWN.plus_months(3), Day::UNKNOWN);
    }

    #[test]
    fn malformed_dates_are_refused() {
        for text in [
            "2015-13-01",
            "2015-1-01",
            "20150101",
            "2015-02-3x",
            "",
            "0000-01-01",
        ] {
            assert_eq!(Day::parse(text), None, "{text}");
        }
    }

    #[test]
    fn instants_fall_on_the_china_standard_time_day() {
        // 2016-01-31T16:00:00Z is midnight of 2016-02-01 in Beijing.
        assert_eq!(
            Day::from_unix_ms_cst(1_454_256_000_000),
            Day::parse("2016-02-01").unwrap()
        );
        assert_eq!(
            Day::from_unix_ms_cst(1_454_255_999_999),
            Day::parse("2016-01-31").unwrap()
        );
        assert_eq!(Day::from_unix_ms_cst(0), Day::parse("1970-01-01").unwrap());
    }
}
