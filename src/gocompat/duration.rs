//! Go `time.Duration` text: parsing (`time.ParseDuration`) and printing (`Duration.String()`).
//!
//! Durations are kept as signed nanoseconds, like Go's `time.Duration`, so arithmetic and comparisons match.

/// Nanoseconds per unit.
const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// Parses a Go duration (`300ms`, `-1.5h`, `2h45m`, `0.5s`). Units: ns, us (µs, μs), ms, s, m, h.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    parse(s, false)
}

/// Like [`parse_duration`] but also accepts `d` (days), as CrowdSec profiles do (`duration: 7d`).
pub fn parse_duration_with_days(s: &str) -> Result<i64, String> {
    parse(s, true)
}

fn parse(orig: &str, days: bool) -> Result<i64, String> {
    let invalid = || format!("invalid duration {orig:?}");
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !s.is_empty() {
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        // Fraction.
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..n];
            s = &rest[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s.bytes().take_while(|b| !b.is_ascii_digit() && *b != b'.').count();
        if unit_len == 0 {
            return Err(format!("missing unit in duration {orig:?}"));
        }
        let unit = match &s[..unit_len] {
            "ns" => NS,
            "us" | "µs" | "μs" => US,
            "ms" => MS,
            "s" => SEC,
            "m" => MIN,
            "h" => HOUR,
            "d" if days => DAY,
            other => return Err(format!("unknown unit {other:?} in duration {orig:?}")),
        };
        s = &s[unit_len..];
        let whole: i128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| invalid())? };
        let mut v = whole.checked_mul(unit as i128).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            // Go keeps the fraction exactly up to nanosecond resolution.
            let mut scale: i128 = 1;
            let mut frac: i128 = 0;
            for b in frac_part.bytes().take(18) {
                frac = frac * 10 + i128::from(b - b'0');
                scale *= 10;
            }
            v += frac * unit as i128 / scale;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as i128 {
            return Err(invalid());
        }
    }
    let total = total as i64;
    Ok(if neg { -total } else { total })
}

/// Formats like Go's `Duration.String()`: `0s`, `500ms`, `1.5s`, `1m0s`, `2h0m0s`.
pub fn format_duration(d: i64) -> String {
    if d == 0 {
        return "0s".to_string();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < SEC as u64 {
        if u < US as u64 {
            out = format!("{u}ns");
        } else if u < MS as u64 {
            out = format!("{}µs", frac(u, 3));
        } else {
            out = format!("{}ms", frac(u, 6));
        }
    } else {
        let secs_total = u / SEC as u64;
        let sub = u % SEC as u64;
        let secs = secs_total % 60;
        let mins_total = secs_total / 60;
        let sec_text = frac(secs * SEC as u64 + sub, 9);
        if mins_total == 0 {
            out.push_str(&format!("{sec_text}s"));
        } else {
            let mins = mins_total % 60;
            let hours = mins_total / 60;
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            out.push_str(&format!("{mins}m{sec_text}s"));
        }
    }
    if neg { format!("-{out}") } else { out }
}

/// `v` with its last `prec` decimal digits as a fraction, trailing zeros (and a bare point) dropped.
fn frac(v: u64, prec: u32) -> String {
    let p = 10u64.pow(prec);
    let whole = v / p;
    let f = v % p;
    if f == 0 {
        return whole.to_string();
    }
    let digits = format!("{:0width$}", f, width = prec as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("10s"), Ok(10 * SEC));
        assert_eq!(parse_duration("0.5s"), Ok(500 * MS));
        assert_eq!(parse_duration("1h30m"), Ok(90 * MIN));
        assert_eq!(parse_duration("-1.5h"), Ok(-90 * MIN));
        assert_eq!(parse_duration("300ms"), Ok(300 * MS));
        assert_eq!(parse_duration("2µs"), Ok(2 * US));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration(".5m"), Ok(30 * SEC));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(parse_duration_with_days("7d"), Ok(7 * DAY));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(10 * SEC), "10s");
        assert_eq!(format_duration(MIN), "1m0s");
        assert_eq!(format_duration(2 * HOUR), "2h0m0s");
        assert_eq!(format_duration(500 * MS), "500ms");
        assert_eq!(format_duration(1500 * MS), "1.5s");
        assert_eq!(format_duration(90 * SEC), "1m30s");
        assert_eq!(format_duration(1500), "1.5µs");
        assert_eq!(format_duration(15), "15ns");
        assert_eq!(format_duration(-MIN), "-1m0s");
        assert_eq!(format_duration(HOUR + 2 * MIN + 3 * SEC + 400 * MS), "1h2m3.4s");
    }
}
