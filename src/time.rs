//! Calendar arithmetic and timestamp interpretation.
//!
//! Inside the pipeline a date is an `i32` count of days since 1970-01-01
//! (the Parquet DATE encoding) and a month is an `i32` index
//! `year * 12 + month0`, so month arithmetic is integer subtraction.
//! Timestamps are `i64` microseconds since the Unix epoch, UTC.

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
};
use chrono_tz::Tz;

/// 1970-01-01, day 0.
pub fn epoch() -> NaiveDate {
    const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
        Some(date) => date,
        None => panic!("1970-01-01 is a date"),
    };
    EPOCH
}

// chrono's own day-number conversions, not date arithmetic from a
// 1970-01-01 made afresh at each call: these run for every customer and
// table row. (Timed at 10 M orders, publishing did not get measurably
// faster; the code is the simpler for it.)
pub fn day_number(date: NaiveDate) -> i32 {
    date.to_epoch_days()
}

pub fn date_of(day: i32) -> NaiveDate {
    NaiveDate::from_epoch_days(day).expect("a day number chrono can hold")
}

/// Month index of a day number.
pub fn month_of_day(day: i32) -> i32 {
    let d = date_of(day);
    d.year() * 12 + d.month0() as i32
}

/// First day (day number) of a month index.
pub fn month_start(month: i32) -> i32 {
    let (year, month0) = (month.div_euclid(12), month.rem_euclid(12));
    day_number(NaiveDate::from_ymd_opt(year, month0 as u32 + 1, 1).expect("valid month"))
}

/// Last day (day number) of a month index.
pub fn month_end(month: i32) -> i32 {
    month_start(month + 1) - 1
}

/// The same calendar date twelve months earlier (29 February becomes
/// 28 February). The trailing twelve months ending on `day` are the days
/// after this one, up to and including `day`.
pub fn twelve_months_before(day: i32) -> i32 {
    let date = date_of(day);
    let earlier = date
        .checked_sub_months(chrono::Months::new(12))
        .expect("dates stay in chrono's range");
    day_number(earlier)
}

/// The unit of cohorts and of the periods after them (`[business]
/// cohort_period`): calendar months, ISO weeks (Monday to Sunday) or
/// calendar quarters, all in the business time zone's local dates.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CohortPeriod {
    #[default]
    Month,
    Week,
    Quarter,
}

impl CohortPeriod {
    /// The unit's name as written in a pipeline file and in table metadata.
    pub fn name(self) -> &'static str {
        match self {
            CohortPeriod::Month => "month",
            CohortPeriod::Week => "week",
            CohortPeriod::Quarter => "quarter",
        }
    }

    /// Index of the period containing `day`. Consecutive periods have
    /// consecutive indices, so "whole periods between" is a subtraction.
    pub fn index_of_day(self, day: i32) -> i32 {
        match self {
            CohortPeriod::Month => month_of_day(day),
            // Day 0 (1970-01-01) is a Thursday: Monday 1969-12-29 is day −3.
            CohortPeriod::Week => (day + 3).div_euclid(7),
            CohortPeriod::Quarter => month_of_day(day).div_euclid(3),
        }
    }

    /// First day of period `index`.
    pub fn start(self, index: i32) -> i32 {
        match self {
            CohortPeriod::Month => month_start(index),
            CohortPeriod::Week => index * 7 - 3,
            CohortPeriod::Quarter => month_start(index * 3),
        }
    }

    /// Last day of period `index`.
    pub fn end(self, index: i32) -> i32 {
        self.start(index + 1) - 1
    }
}

/// Why a timestamp could not be placed on the business calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    Missing,
    Unparseable,
    /// A local wall-clock time skipped by a DST change (e.g. 02:30 on the
    /// spring-forward night).
    Nonexistent,
    /// A local wall-clock time that happens twice (the fall-back hour).
    Ambiguous,
    /// A valid timestamp far outside the accepted dates (see
    /// [`PLACEABLE_DAYS`]), or one beyond what a calendar can hold at all
    /// (`+262142-12-31`, an `i32` day number or `i64` micros at the limit).
    OutOfRange,
}

/// The day numbers a timestamp is placed within: the accepted order dates
/// (1900-01-01 to 2200-12-31, checked after placing) with two days to spare
/// for time-zone offsets. Anything further out is out of range before any
/// calendar arithmetic, which would overflow near chrono's limits.
pub const PLACEABLE_DAYS: std::ops::RangeInclusive<i32> = -25_569..=84_372;

/// The day number of `date` when it is within [`PLACEABLE_DAYS`].
fn placeable_day(date: NaiveDate) -> Result<i32, TimestampError> {
    placeable_day_number(date.to_epoch_days().into())
}

/// `day` when it is within [`PLACEABLE_DAYS`].
fn placeable_day_number(day: i64) -> Result<i32, TimestampError> {
    i32::try_from(day)
        .ok()
        .filter(|d| PLACEABLE_DAYS.contains(d))
        .ok_or(TimestampError::OutOfRange)
}

/// The date of a day number, when chrono can represent it (a Parquet DATE
/// may hold any `i32`).
pub fn checked_date_of(day: i32) -> Option<NaiveDate> {
    NaiveDate::from_epoch_days(day)
}

/// An order timestamp placed in time and on the business calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlacedTimestamp {
    pub utc_micros: i64,
    pub local_day: i32,
}

/// How textual timestamps are read.
#[derive(Debug, Clone)]
pub enum TimestampFormat {
    /// ISO 8601: a date, or a date-time with `T` or a space, optional
    /// fractional seconds, optional `Z` or `±hh:mm` offset.
    Iso,
    /// A chrono strftime format; with `%z`/`%:z`/`%#z` it carries an offset.
    Custom { format: String, has_offset: bool },
}

impl TimestampFormat {
    pub fn new(format: Option<&str>) -> TimestampFormat {
        match format {
            None => TimestampFormat::Iso,
            Some(f) => TimestampFormat::Custom {
                format: f.to_string(),
                has_offset: f.contains("%z") || f.contains("%:z") || f.contains("%#z"),
            },
        }
    }
}

/// Places a naive wall-clock time of the business time zone.
pub fn place_local(naive: NaiveDateTime, tz: Tz) -> Result<PlacedTimestamp, TimestampError> {
    let local_day = placeable_day(naive.date())?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => Ok(PlacedTimestamp {
            utc_micros: dt.timestamp_micros(),
            local_day,
        }),
        LocalResult::Ambiguous(_, _) => Err(TimestampError::Ambiguous),
        LocalResult::None => Err(TimestampError::Nonexistent),
    }
}

/// Places an instant given in UTC microseconds. Day numbers by integer
/// division, the zone asked only for its offset (none for UTC): this runs
/// once per order line, and building chrono dates for it took 6 % of a
/// typed 10 M-order run's CPU. The local date is the UTC wall time plus
/// the offset, as chrono's `with_timezone` makes it
/// (`instants_are_placed_as_chrono_places_them`).
pub fn place_instant(utc_micros: i64, tz: Tz) -> Result<PlacedTimestamp, TimestampError> {
    const SECONDS_A_DAY: i64 = 86_400;
    let utc_seconds = utc_micros.div_euclid(1_000_000);
    placeable_day_number(utc_seconds.div_euclid(SECONDS_A_DAY))?;
    let offset_seconds = match tz {
        Tz::UTC | Tz::Etc__UTC => 0,
        _ => {
            let utc = DateTime::from_timestamp(utc_seconds, 0).ok_or(TimestampError::OutOfRange)?;
            let offset = tz.offset_from_utc_datetime(&utc.naive_utc());
            i64::from(offset.fix().local_minus_utc())
        }
    };
    Ok(PlacedTimestamp {
        utc_micros,
        local_day: (utc_seconds + offset_seconds).div_euclid(SECONDS_A_DAY) as i32,
    })
}

/// Places a calendar date with no time: it is that local date; its instant
/// is the first moment of that day in the business zone.
pub fn place_date(date: NaiveDate, tz: Tz) -> Result<PlacedTimestamp, TimestampError> {
    let local_day = placeable_day(date)?;
    let midnight = date.and_time(NaiveTime::MIN);
    let utc_micros = match tz.from_local_datetime(&midnight) {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => dt.timestamp_micros(),
        // Midnight skipped by a DST change (e.g. America/Santiago): the day
        // starts at the first instant after the gap.
        LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map(|dt| dt.timestamp_micros())
            .unwrap_or_else(|| midnight.and_utc().timestamp_micros()),
    };
    Ok(PlacedTimestamp {
        utc_micros,
        local_day,
    })
}

/// Parses and places one textual timestamp.
pub fn parse_timestamp(
    text: &str,
    format: &TimestampFormat,
    tz: Tz,
) -> Result<PlacedTimestamp, TimestampError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(TimestampError::Missing);
    }
    match format {
        TimestampFormat::Iso => parse_iso(t, tz),
        TimestampFormat::Custom { format, has_offset } => {
            if *has_offset {
                let dt =
                    DateTime::parse_from_str(t, format).map_err(|_| TimestampError::Unparseable)?;
                place_instant(dt.timestamp_micros(), tz)
            } else if let Ok(naive) = NaiveDateTime::parse_from_str(t, format) {
                place_local(naive, tz)
            } else {
                let date = NaiveDate::parse_from_str(t, format)
                    .map_err(|_| TimestampError::Unparseable)?;
                place_date(date, tz)
            }
        }
    }
}

fn parse_iso(t: &str, tz: Tz) -> Result<PlacedTimestamp, TimestampError> {
    // A bare date: `2024-05-01`, or with a signed year (`+262142-12-31`).
    // Bytes, not `&t[1..]`: a cell may start with a multi-byte character.
    let has_time = t.bytes().skip(1).any(|b| matches!(b, b'T' | b't' | b' '));
    if t.len() == 10 || !has_time {
        let date =
            NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| TimestampError::Unparseable)?;
        return place_date(date, tz);
    }
    // Split a trailing `Z` or `±hh:mm` / `±hhmm` offset from the wall time.
    let bytes = t.as_bytes();
    let (wall, offset_seconds) = if t.ends_with('Z') || t.ends_with('z') {
        (&t[..t.len() - 1], Some(0))
    } else {
        match find_offset(bytes) {
            Some((pos, secs)) => (&t[..pos], Some(secs)),
            None => (t, None),
        }
    };
    let naive = parse_naive_iso(wall.trim_end()).ok_or(TimestampError::Unparseable)?;
    match offset_seconds {
        Some(secs) => {
            // Range first: near chrono's limits the offset itself overflows.
            placeable_day(naive.date())?;
            let utc = naive - chrono::Duration::seconds(secs as i64);
            place_instant(utc.and_utc().timestamp_micros(), tz)
        }
        None => place_local(naive, tz),
    }
}

fn parse_naive_iso(wall: &str) -> Option<NaiveDateTime> {
    if let Some(fast) = parse_plain_iso(wall.as_bytes()) {
        return Some(fast);
    }
    const FORMATS: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(wall, f).ok())
}

/// The common shape `YYYY-MM-DD HH:MM:SS`, with `T` or a space, with or
/// without a fraction of 1 to 9 digits, read directly: chrono's
/// format-driven parser is several times slower (it was a sixth of a run
/// on text timestamps), and inputs have hundreds of millions of these.
/// Anything else (leap seconds included) falls back to chrono, which reads
/// these shapes to the same value.
fn parse_plain_iso(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + (d - b'0') as u32)
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            num(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    // A second of 60 is chrono's to read (as a leap second).
    (second < 60).then_some(())?;
    date.and_hms_nano_opt(hour, minute, second, nanos)
}

/// Finds an offset suffix `+hh:mm`, `-hh:mm`, `+hhmm` or `+hh` after the
/// time part (position > 10, so the date's own dashes are not taken).
fn find_offset(bytes: &[u8]) -> Option<(usize, i32)> {
    let pos = bytes.iter().rposition(|&b| b == b'+' || b == b'-')?;
    if pos <= 10 {
        return None;
    }
    let sign = if bytes[pos] == b'-' { -1 } else { 1 };
    let digits: Vec<u8> = bytes[pos + 1..]
        .iter()
        .copied()
        .filter(|b| *b != b':')
        .collect();
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |s: &[u8]| -> i32 { s.iter().fold(0, |acc, d| acc * 10 + (d - b'0') as i32) };
    let (hours, minutes) = match digits.len() {
        2 => (num(&digits), 0),
        4 => (num(&digits[..2]), num(&digits[2..])),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((pos, sign * (hours * 3600 + minutes * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The day-number conversions agree with date arithmetic from
    /// 1970-01-01 on every day within a thousand years of it and on the
    /// ends of chrono's range, and `checked_date_of` refuses the days
    /// beyond, as that arithmetic does.
    #[test]
    fn day_numbers_are_days_since_1970() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let ends = [NaiveDate::MIN, NaiveDate::MAX].map(|d| (d - epoch).num_days() as i32);
        for day in (-366_000..=366_000).chain(ends) {
            let date = epoch + chrono::Duration::days(day.into());
            assert_eq!(date_of(day), date, "{day}");
            assert_eq!(day_number(date), day, "{date}");
            assert_eq!(checked_date_of(day), Some(date));
        }
        for beyond in [ends[0] - 1, ends[1] + 1, i32::MIN, i32::MAX] {
            let by_arithmetic = epoch.checked_add_signed(chrono::Duration::days(beyond.into()));
            assert_eq!(checked_date_of(beyond), by_arithmetic);
            assert_eq!(checked_date_of(beyond), None);
        }
    }

    /// The placing by integer division agrees with chrono's dates: every
    /// zone of a sample with odd historical offsets, instants around the
    /// epoch, DST changes and the ends of the placeable range.
    #[test]
    fn instants_are_placed_as_chrono_places_them() {
        let by_chrono = |micros: i64, tz: Tz| {
            let utc = DateTime::from_timestamp_micros(micros).ok_or(TimestampError::OutOfRange)?;
            placeable_day(utc.date_naive())?;
            Ok(day_number(utc.with_timezone(&tz).date_naive()))
        };
        let zones = [
            Tz::UTC,
            Tz::Etc__UTC,
            Tz::Europe__Amsterdam,
            Tz::America__New_York,
            Tz::America__Santiago,
            Tz::Asia__Kathmandu,
            Tz::Australia__Lord_Howe,
            Tz::Pacific__Kiritimati,
            Tz::Pacific__Pago_Pago,
            Tz::Africa__Monrovia,
        ];
        let day_micros = 86_400_000_000i64;
        let ends = [*PLACEABLE_DAYS.start(), *PLACEABLE_DAYS.end()];
        let mut instants: Vec<i64> = vec![i64::MIN, i64::MAX, -1, 0, 1];
        for day in ends {
            for delta in [-1i64, 0, 1] {
                instants.push((day as i64 + delta) * day_micros);
                instants.push((day as i64 + delta + 1) * day_micros - 1);
            }
        }
        // Every half hour (and a microsecond either side) of the weeks
        // around the 2023 changes of both hemispheres.
        for start in ["2023-03-08", "2023-03-30", "2023-09-20", "2023-10-25"] {
            let first = NaiveDate::parse_from_str(start, "%Y-%m-%d").expect("a date");
            let first = day_number(first) as i64 * day_micros;
            for k in 0..(14 * 48) {
                let at = first + k * day_micros / 48;
                instants.extend([at - 1, at, at + 1]);
            }
        }
        for i in 0u64..40_000 {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let span = (ends[1] - ends[0] + 1) as u64 * day_micros as u64;
            instants.push(ends[0] as i64 * day_micros + (h % span) as i64);
        }
        for &micros in &instants {
            for tz in zones {
                let placed = place_instant(micros, tz).map(|p| p.local_day);
                assert_eq!(placed, by_chrono(micros, tz), "{micros} in {tz}");
            }
        }
    }

    /// The direct reader gives what chrono's formats give, on every shape
    /// it accepts, and declines the rest (brute force over generated
    /// strings: fraction lengths 0 to 12, bad digits, bad separators).
    #[test]
    fn plain_iso_reader_agrees_with_chrono() {
        let chrono_reads = |wall: &str| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(wall, f).ok())
        };
        let mut accepted = 0;
        for i in 0u64..20_000 {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let pick = |shift: u32, n: u64| (h >> shift) % n;
            let fraction: String = (0..pick(3, 13))
                .map(|k| char::from(b'0' + ((h >> k) % 10) as u8))
                .collect();
            let mut text = format!(
                "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}{}{}",
                1990 + pick(8, 40),
                1 + pick(14, 13),
                1 + pick(20, 31),
                ['T', ' ', 'x'][pick(26, 3) as usize],
                pick(30, 25),
                pick(36, 61),
                pick(42, 62),
                if pick(48, 4) == 0 { "" } else { "." },
                fraction
            );
            if pick(52, 50) == 0 {
                text.replace_range(6..7, "a");
            }
            // Declined: chrono decides (it may accept a leap second), so
            // there is nothing to compare.
            if let Some(fast) = parse_plain_iso(text.as_bytes()) {
                accepted += 1;
                assert_eq!(Some(fast), chrono_reads(&text), "{text}");
            }
        }
        assert!(accepted > 5_000, "{accepted}");
    }

    fn ny() -> Tz {
        "America/New_York".parse().unwrap()
    }

    fn day(s: &str) -> i32 {
        day_number(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn month_arithmetic() {
        let m = month_of_day(day("2024-02-29"));
        assert_eq!(m, 2024 * 12 + 1);
        assert_eq!(month_start(m), day("2024-02-01"));
        assert_eq!(month_end(m), day("2024-02-29"));
        assert_eq!(month_end(2023 * 12 + 11), day("2023-12-31"));
    }

    #[test]
    fn week_and_quarter_arithmetic() {
        let w = CohortPeriod::Week;
        // 2024-01-01 is a Monday (ISO week 1 of 2024); 2023-12-31 a Sunday.
        assert_eq!(
            w.start(w.index_of_day(day("2024-01-01"))),
            day("2024-01-01")
        );
        assert_eq!(
            w.start(w.index_of_day(day("2024-01-07"))),
            day("2024-01-01")
        );
        assert_eq!(w.end(w.index_of_day(day("2024-01-03"))), day("2024-01-07"));
        assert_eq!(
            w.start(w.index_of_day(day("2023-12-31"))),
            day("2023-12-25")
        );
        assert_eq!(
            w.index_of_day(day("2024-01-08")) - w.index_of_day(day("2023-12-31")),
            2
        );
        // Before 1970 too.
        assert_eq!(
            w.start(w.index_of_day(day("1969-12-31"))),
            day("1969-12-29")
        );
        let q = CohortPeriod::Quarter;
        assert_eq!(
            q.start(q.index_of_day(day("2024-02-29"))),
            day("2024-01-01")
        );
        assert_eq!(q.end(q.index_of_day(day("2024-02-29"))), day("2024-03-31"));
        assert_eq!(
            q.start(q.index_of_day(day("2024-12-31"))),
            day("2024-10-01")
        );
        assert_eq!(
            q.index_of_day(day("2025-01-01")) - q.index_of_day(day("2024-03-31")),
            4
        );
        let m = CohortPeriod::Month;
        assert_eq!(m.end(m.index_of_day(day("2024-02-10"))), day("2024-02-29"));
    }

    #[test]
    fn utc_marker_converts_to_previous_local_day() {
        let p = parse_timestamp("2024-03-01T02:30:00Z", &TimestampFormat::Iso, ny()).unwrap();
        assert_eq!(p.local_day, day("2024-02-29"));
        let p = parse_timestamp("2024-03-01 02:30:00+00:00", &TimestampFormat::Iso, ny()).unwrap();
        assert_eq!(p.local_day, day("2024-02-29"));
        let p = parse_timestamp("2024-03-01T09:30:00+09:00", &TimestampFormat::Iso, ny()).unwrap();
        assert_eq!(p.local_day, day("2024-02-29"));
    }

    #[test]
    fn dst_gaps_and_overlaps_are_named() {
        let f = TimestampFormat::Iso;
        assert_eq!(
            parse_timestamp("2024-03-10 02:30:00", &f, ny()),
            Err(TimestampError::Nonexistent)
        );
        assert_eq!(
            parse_timestamp("2024-11-03 01:30:00", &f, ny()),
            Err(TimestampError::Ambiguous)
        );
        // Either side of the gap is fine and 1 hour apart in real time.
        let a = parse_timestamp("2024-03-10 01:30:00", &f, ny()).unwrap();
        let b = parse_timestamp("2024-03-10 03:30:00", &f, ny()).unwrap();
        assert_eq!(b.utc_micros - a.utc_micros, 3_600_000_000);
    }

    #[test]
    fn dates_formats_and_garbage() {
        let f = TimestampFormat::Iso;
        assert_eq!(
            parse_timestamp("2024-05-01", &f, ny()).unwrap().local_day,
            day("2024-05-01")
        );
        assert_eq!(
            parse_timestamp("  ", &f, ny()),
            Err(TimestampError::Missing)
        );
        assert_eq!(
            parse_timestamp("yesterday", &f, ny()),
            Err(TimestampError::Unparseable)
        );
        assert_eq!(
            parse_timestamp("2024-02-30 10:00:00", &f, ny()),
            Err(TimestampError::Unparseable)
        );
        let custom = TimestampFormat::new(Some("%m/%d/%Y %H:%M"));
        assert_eq!(
            parse_timestamp("12/1/2010 8:26", &custom, chrono_tz::UTC)
                .unwrap()
                .local_day,
            day("2010-12-01")
        );
    }

    /// Cells that start with (or hold) multi-byte characters are unparseable
    /// timestamps, never a panic on a byte index inside a character.
    #[test]
    fn non_ascii_cells_are_unparseable_not_a_panic() {
        let iso = TimestampFormat::new(None);
        for cell in [
            "é",
            "２０２４-01-01",
            "\u{feff}2024-01-01T10:00:00Z",
            "2024-01-01T10:00:00é",
            "ééééééééé1",
            "2024-01-01Té",
            "日本",
        ] {
            let parsed = parse_timestamp(cell, &iso, ny());
            assert!(parsed.is_err(), "{cell:?} parsed as {parsed:?}");
        }
    }
}
