//! Number, date and text formatting shared by the HTML report and the
//! terminal summary.
//!
//! Every formatter that takes a floating-point value returns [`MISSING`]
//! ("—") for `None`, NaN and infinities, so neither output can ever show
//! "NaN" or "inf". Money is currency-neutral with two decimals, rates are
//! percentages, and large counts get thousands separators.

use chrono::{Datelike, NaiveDate};

use crate::time::CohortPeriod;

/// What a missing (null, NaN or infinite) value prints as.
pub const MISSING: &str = "—";

/// `Some(v)` only when `v` is a finite number.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Drops non-finite values from an optional number.
pub fn finite_opt(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Inserts a comma every three digits of a string of ASCII digits.
fn group(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// An integer with thousands separators: `-1234567` → `-1,234,567`.
pub fn int(v: i64) -> String {
    let digits = group(&v.unsigned_abs().to_string());
    if v < 0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// An unsigned integer with thousands separators.
pub fn uint(v: u64) -> String {
    group(&v.to_string())
}

/// A number with `decimals` decimals and thousands separators; "—" when not
/// finite. A value that rounds to zero never gets a minus sign.
pub fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return MISSING.to_string();
    }
    let text = format!("{:.*}", decimals, v.abs());
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text.as_str(), None),
    };
    let is_zero = text.chars().all(|c| c == '0' || c == '.');
    let mut out = String::new();
    if v < 0.0 && !is_zero {
        out.push('-');
    }
    out.push_str(&group(whole));
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Money: two decimals, thousands separators, no currency symbol.
pub fn money(v: f64) -> String {
    fixed(v, 2)
}

/// Optional money; "—" when missing.
pub fn money_opt(v: Option<f64>) -> String {
    finite_opt(v).map_or_else(|| MISSING.to_string(), money)
}

/// A rate (0.123) as a percentage with `decimals` decimals ("12.3%").
pub fn pct(rate: f64, decimals: usize) -> String {
    match finite(rate) {
        Some(r) => format!("{}%", fixed(r * 100.0, decimals)),
        None => MISSING.to_string(),
    }
}

/// Optional rate as a percentage with one decimal; "—" when missing.
pub fn pct_opt(rate: Option<f64>) -> String {
    finite_opt(rate).map_or_else(|| MISSING.to_string(), |r| pct(r, 1))
}

/// A plain decimal number with up to `decimals` decimals, "—" when missing.
pub fn num_opt(v: Option<f64>, decimals: usize) -> String {
    finite_opt(v).map_or_else(|| MISSING.to_string(), |x| fixed(x, decimals))
}

/// A number of no particular unit (a gate's threshold, a count held as a
/// float): a whole number with thousands separators, else four significant
/// digits without trailing zeros, scientific for tiny or huge magnitudes;
/// "—" when not finite.
pub fn plain(v: f64) -> String {
    if !v.is_finite() {
        return MISSING.to_string();
    }
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e15 {
        return int(v as i64);
    }
    if !(1e-4..1e15).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 8) as usize;
    let text = fixed(v, decimals);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `text`, the formatted change `v`, with a `+` when `v` is above zero and
/// the text not zero.
pub fn signed(v: f64, text: String) -> String {
    let nonzero = text.chars().any(|c| c.is_ascii_digit() && c != '0');
    if v > 0.0 && nonzero {
        format!("+{text}")
    } else {
        text
    }
}

/// A model parameter: four significant digits, switching to scientific
/// notation for very small or very large magnitudes.
pub fn param(v: f64) -> String {
    if !v.is_finite() {
        return MISSING.to_string();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        // Decimals so that four significant digits show.
        let magnitude = a.log10().floor() as i32;
        let decimals = (3 - magnitude).clamp(0, 6) as usize;
        fixed(v, decimals)
    }
}

/// A byte count in binary units: `1536` → `1.5 KiB`.
pub fn bytes(v: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if v < 1024 {
        return format!("{v} B");
    }
    let mut size = v as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// A duration in seconds: `0.042` → `0.04 s`, `83.2` → `1 min 23 s`.
pub fn seconds(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return MISSING.to_string();
    }
    if v < 60.0 {
        format!("{v:.2} s")
    } else {
        let total = v.round() as u64;
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
        if h > 0 {
            format!("{h} h {m} min {s} s")
        } else {
            format!("{m} min {s} s")
        }
    }
}

/// `part / whole` as a percentage with one decimal, "—" when whole is 0.
pub fn share(part: f64, whole: f64) -> String {
    if whole == 0.0 {
        MISSING.to_string()
    } else {
        pct(part / whole, 1)
    }
}

/// A signed change of a count: `+12`, `-3`, `0`.
pub fn change_int(delta: i64) -> String {
    if delta > 0 {
        format!("+{}", int(delta))
    } else {
        int(delta)
    }
}

/// A signed change of a rate in percentage points: `+1.2 pp`.
pub fn change_pp(now: Option<f64>, before: Option<f64>) -> String {
    match (finite_opt(now), finite_opt(before)) {
        (Some(a), Some(b)) => {
            let d = (a - b) * 100.0;
            let text = fixed(d, 1);
            if text.starts_with('-') || text == "0.0" {
                format!("{text} pp")
            } else {
                format!("+{text} pp")
            }
        }
        _ => MISSING.to_string(),
    }
}

/// A signed change of money, with the relative change: `+0.90 (+1.7%)`.
pub fn change_money(now: Option<f64>, before: Option<f64>) -> String {
    match (finite_opt(now), finite_opt(before)) {
        (Some(a), Some(b)) => {
            let d = fixed(a - b, 2);
            let abs = if d.starts_with('-') || d == "0.00" {
                d
            } else {
                format!("+{d}")
            };
            if b == 0.0 {
                abs
            } else {
                let r = fixed((a - b) / b.abs() * 100.0, 1);
                let rel = if r.starts_with('-') || r == "0.0" {
                    r
                } else {
                    format!("+{r}")
                };
                format!("{abs} ({rel}%)")
            }
        }
        _ => MISSING.to_string(),
    }
}

/// A month for people: `May 2024`.
pub fn month_name(d: NaiveDate) -> String {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{} {}", NAMES[d.month0() as usize], d.year())
}

/// A cohort period's label: `Mar 2024`, `2024-W09` (ISO week) or
/// `2024 Q1`, from the period's first day.
pub fn period_name(unit: CohortPeriod, d: NaiveDate) -> String {
    match unit {
        CohortPeriod::Month => month_name(d),
        CohortPeriod::Week => {
            let w = d.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
        CohortPeriod::Quarter => format!("{} Q{}", d.year(), d.month0() / 3 + 1),
    }
}

/// The unit's noun, lower case: `month`, `week`, `quarter`.
pub fn period_noun(unit: CohortPeriod) -> &'static str {
    unit.name()
}

/// The unit's plural, capitalised: `Months`, `Weeks`, `Quarters`.
pub fn period_plural(unit: CohortPeriod) -> &'static str {
    match unit {
        CohortPeriod::Month => "Months",
        CohortPeriod::Week => "Weeks",
        CohortPeriod::Quarter => "Quarters",
    }
}

/// Consecutive periods of `unit` differ by one (from a period's first day
/// or any day in it).
pub fn period_index(unit: CohortPeriod, d: NaiveDate) -> i32 {
    unit.index_of_day(crate::time::day_number(d))
}

/// Months since year 0, so that consecutive months differ by one.
pub fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// Escapes text for HTML/XML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_get_thousands_separators() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(-1234567), "-1,234,567");
        assert_eq!(int(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(uint(12345678), "12,345,678");
    }

    #[test]
    fn money_rounds_and_never_prints_nan() {
        assert_eq!(money(1234.565), "1,234.57");
        assert_eq!(money(-0.001), "0.00");
        assert_eq!(money(-1234.5), "-1,234.50");
        assert_eq!(money(f64::NAN), MISSING);
        assert_eq!(money(f64::INFINITY), MISSING);
        assert_eq!(money_opt(None), MISSING);
        assert_eq!(pct(0.1234, 1), "12.3%");
        assert_eq!(pct_opt(Some(f64::NEG_INFINITY)), MISSING);
    }

    #[test]
    fn changes_are_signed() {
        assert_eq!(change_pp(Some(0.52), Some(0.50)), "+2.0 pp");
        assert_eq!(change_pp(Some(0.50), Some(0.52)), "-2.0 pp");
        assert_eq!(change_pp(Some(0.50), None), MISSING);
        assert_eq!(change_money(Some(55.0), Some(50.0)), "+5.00 (+10.0%)");
        assert_eq!(change_int(-5), "-5");
        assert_eq!(change_int(5), "+5");
    }

    #[test]
    fn plain_numbers_drop_trailing_zeros() {
        assert_eq!(plain(698.0), "698");
        assert_eq!(plain(12_591.0), "12,591");
        assert_eq!(plain(0.001), "0.001");
        assert_eq!(plain(0.25), "0.25");
        assert_eq!(plain(0.484239), "0.4842");
        assert_eq!(plain(-2.5), "-2.5");
        assert_eq!(plain(1234.5678), "1,235");
        assert_eq!(plain(0.00001234), "1.234e-5");
        assert_eq!(plain(f64::NAN), MISSING);
        assert_eq!(signed(3.0, plain(3.0)), "+3");
        assert_eq!(signed(-3.0, plain(-3.0)), "-3");
        assert_eq!(signed(0.0001, money(0.0001)), "0.00");
    }

    #[test]
    fn small_helpers() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(seconds(83.2), "1 min 23 s");
        assert_eq!(seconds(0.042), "0.04 s");
        assert_eq!(param(0.000123), "1.230e-4");
        assert_eq!(param(2.5), "2.500");
        assert_eq!(param(1234.56), "1,235");
        assert_eq!(escape("Can't <b>&\""), "Can&#39;t &lt;b&gt;&amp;&quot;");
        let d = NaiveDate::from_ymd_opt(2024, 5, 1).expect("valid date");
        assert_eq!(month_name(d), "May 2024");
    }
}
