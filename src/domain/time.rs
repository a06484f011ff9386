//! Timestamps (microseconds since the Unix epoch, UTC) and calendar dates
//! (`YYYY-MM-DD`), the two time shapes ladder stores.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// UTC+8 (China Standard Time, no daylight saving), in microseconds.
pub const CHINA_OFFSET_MICROS: Micros = 8 * 3600 * 1_000_000;

/// The current time in microseconds.
pub fn now_micros() -> Micros {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A calendar date, ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Days since 1970-01-01.
    days: i64,
}

impl Date {
    /// Parses `YYYY-MM-DD` (years 1800–9999), rejecting impossible days such as
    /// `2023-02-29`.
    pub fn parse(s: &str) -> Option<Date> {
        let bytes = s.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year: i64 = s.get(0..4)?.parse().ok()?;
        let month: u32 = s.get(5..7)?.parse().ok()?;
        let day: u32 = s.get(8..10)?.parse().ok()?;
        if !(1800..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        let date = Date { days: days_from_civil(year, month, day) };
        // A day past the month's end rolls into the next month: reject it.
        (date.ymd() == (year, month, day)).then_some(date)
    }

    /// The date of a timestamp (UTC).
    pub fn from_micros(micros: Micros) -> Date {
        Date { days: micros.div_euclid(86_400_000_000) }
    }

    /// The date of a timestamp in China Standard Time (UTC+8).
    pub fn china(micros: Micros) -> Date {
        Self::from_micros(micros + CHINA_OFFSET_MICROS)
    }

    /// Today's date in China Standard Time (UTC+8), the zone's calendar:
    /// a firm founded "today" in Xi'an is not in the future at 07:00.
    pub fn today() -> Date {
        Self::china(now_micros())
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i64, u32, u32) {
        civil_from_days(self.days)
    }

    /// The date `n` days later (earlier for negative `n`).
    pub fn add_days(self, n: i64) -> Date {
        Date { days: self.days + n }
    }

    /// The same day `n` years later (28 February for a 29 February that
    /// does not exist then).
    pub fn add_years(self, n: i64) -> Date {
        let (y, m, d) = self.ymd();
        let mut day = d;
        loop {
            let candidate = Date { days: days_from_civil(y + n, m, day) };
            if candidate.ymd() == (y + n, m, day) || day <= 28 {
                return candidate;
            }
            day -= 1;
        }
    }

    /// Days from `earlier` to `self` (negative if `earlier` is later).
    pub fn days_since(self, earlier: Date) -> i64 {
        self.days - earlier.days
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_dates_and_round_trips() {
        for s in ["1970-01-01", "2000-02-29", "2024-12-31", "1800-01-01", "2026-11-27"] {
            let date = Date::parse(s).unwrap_or_else(|| panic!("{s} should parse"));
            assert_eq!(date.to_string(), s);
        }
        assert_eq!(Date::parse("1970-01-02").map(|d| d.days), Some(1));
    }

    #[test]
    fn rejects_impossible_or_malformed_dates() {
        for s in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "24-01-01",
            "2024/01/01",
            "",
            "2024-1-1",
            "1700-01-01",
        ] {
            assert!(Date::parse(s).is_none(), "{s} should be rejected");
        }
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(17) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn years_are_added_on_the_calendar() {
        assert_eq!(Date::parse("2024-01-01").unwrap().add_years(3).to_string(), "2027-01-01");
        assert_eq!(Date::parse("2024-02-29").unwrap().add_years(1).to_string(), "2025-02-28");
        assert_eq!(Date::parse("2024-03-01").unwrap().add_days(-1).to_string(), "2024-02-29");
    }

    #[test]
    fn date_from_micros_floors_negative_times() {
        assert_eq!(Date::from_micros(-1).to_string(), "1969-12-31");
        assert_eq!(Date::from_micros(86_400_000_000).to_string(), "1970-01-02");
    }
}
