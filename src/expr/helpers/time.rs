//! Time helpers and methods: `TimeNow`, `ParseUnix`, `MedianInterval`, `AverageInterval`; the Go methods of
//! `time.Time` (`Hour()`, `Weekday().String()`, `Format(layout)`, ...), `time.Duration` (`Seconds()`, ...);
//! method dispatch for every value (`call_method`); Go reference-time layouts (`2006-01-02T15:04:05Z07:00`).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

use super::super::Scope;
use super::super::builtins::arg_str;
use super::super::value::{Value, month_name, weekday_name};
use crate::event::{Timestamp, format_rfc3339};
use crate::gocompat::duration::format_duration;

type Res<'a> = Result<Value<'a>, String>;

/// Calls method `name` on any value: host objects, times, durations, weekdays, months.
pub fn call_method<'a>(recv: Value<'a>, name: &str, args: Vec<Value<'a>>) -> Res<'a> {
    match recv {
        Value::Host(h) => h.method(name, args),
        Value::Time(t) => time_method(t, name, &args),
        Value::Duration(d) => duration_method(d, name, &args),
        Value::Weekday(d) if name == "String" => Ok(Value::str(weekday_name(d))),
        Value::Month(m) if name == "String" => Ok(Value::str(month_name(m))),
        Value::Nil => Err(format!("cannot call method {name} on nil")),
        other => Err(format!("type {} has no method {name}", other.type_name())),
    }
}

fn dur_arg(args: &[Value<'_>], i: usize, m: &str) -> Result<i64, String> {
    match args.get(i) {
        Some(Value::Duration(d)) => Ok(*d),
        Some(Value::Int(d)) => Ok(*d),
        _ => Err(format!("{m}: argument {} must be a duration", i + 1)),
    }
}

fn time_arg(args: &[Value<'_>], i: usize, m: &str) -> Result<Timestamp, String> {
    match args.get(i) {
        Some(Value::Time(t)) => Ok(*t),
        _ => Err(format!("{m}: argument {} must be a time", i + 1)),
    }
}

fn time_method<'a>(t: Timestamp, name: &str, args: &[Value<'a>]) -> Res<'a> {
    let nanos = |t: &Timestamp| t.timestamp_nanos_opt().unwrap_or(i64::MAX);
    Ok(match name {
        "Hour" => Value::Int(t.hour() as i64),
        "Minute" => Value::Int(t.minute() as i64),
        "Second" => Value::Int(t.second() as i64),
        "Nanosecond" => Value::Int(t.nanosecond() as i64),
        "Year" => Value::Int(t.year() as i64),
        "Month" => Value::Month(t.month() as u8),
        "Day" => Value::Int(t.day() as i64),
        "YearDay" => Value::Int(t.ordinal() as i64),
        "Weekday" => Value::Weekday(t.weekday().num_days_from_sunday() as u8),
        "Unix" => Value::Int(t.timestamp()),
        "UnixMilli" => Value::Int(t.timestamp_millis()),
        "UnixMicro" => Value::Int(t.timestamp_micros()),
        "UnixNano" => Value::Int(nanos(&t)),
        "IsZero" => Value::Bool(t == crate::event::zero_time()),
        "UTC" | "Local" => Value::Time(t.with_timezone(&Utc).fixed_offset()),
        "String" => Value::string(t.format("%Y-%m-%d %H:%M:%S%.f %z").to_string()),
        "Format" => Value::string(format_go_layout(&t, arg_str(args, 0, "Format")?)),
        "Add" => Value::Time(
            t.checked_add_signed(chrono::Duration::nanoseconds(dur_arg(args, 0, "Add")?))
                .ok_or("Add: time out of range")?,
        ),
        "Sub" => Value::Duration((t - time_arg(args, 0, "Sub")?).num_nanoseconds().unwrap_or(i64::MAX)),
        "Before" => Value::Bool(t < time_arg(args, 0, "Before")?),
        "After" => Value::Bool(t > time_arg(args, 0, "After")?),
        "Equal" => Value::Bool(t == time_arg(args, 0, "Equal")?),
        "Truncate" => {
            let d = dur_arg(args, 0, "Truncate")?;
            if d <= 0 {
                Value::Time(t)
            } else {
                let n = nanos(&t);
                Value::Time(
                    t.checked_sub_signed(chrono::Duration::nanoseconds(n.rem_euclid(d)))
                        .ok_or("Truncate: time out of range")?,
                )
            }
        }
        _ => return Err(format!("type time.Time has no method {name}")),
    })
}

fn duration_method<'a>(d: i64, name: &str, args: &[Value<'a>]) -> Res<'a> {
    Ok(match name {
        "Hours" => Value::Float(d as f64 / 3.6e12),
        "Minutes" => Value::Float(d as f64 / 6e10),
        "Seconds" => Value::Float(d as f64 / 1e9),
        "Milliseconds" => Value::Int(d / 1_000_000),
        "Microseconds" => Value::Int(d / 1_000),
        "Nanoseconds" => Value::Int(d),
        "String" => Value::string(format_duration(d)),
        "Abs" => Value::Duration(d.saturating_abs()),
        "Truncate" => {
            let m = dur_arg(args, 0, "Truncate")?;
            Value::Duration(if m <= 0 { d } else { d - d % m })
        }
        _ => return Err(format!("type time.Duration has no method {name}")),
    })
}

// --- Go layouts -------------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Chunk<'l> {
    Lit(&'l str),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekday,
    Weekday,
    Day,
    UnderDay,
    ZeroDay,
    YearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TzName,
    /// (`Z` for UTC, colon, with seconds, hours only)
    Offset {
        z: bool,
        colon: bool,
        hours_only: bool,
    },
    /// (digits, trim trailing zeros)
    Frac(usize, bool),
}

fn chunks(layout: &str) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    let b = layout.as_bytes();
    type Maker = fn() -> Chunk<'static>;
    let table: &[(&str, Maker)] = &[
        ("January", || Chunk::LongMonth),
        ("Jan", || Chunk::Month),
        ("Monday", || Chunk::LongWeekday),
        ("Mon", || Chunk::Weekday),
        ("MST", || Chunk::TzName),
        ("2006", || Chunk::LongYear),
        ("002", || Chunk::YearDay),
        ("01", || Chunk::ZeroMonth),
        ("02", || Chunk::ZeroDay),
        ("03", || Chunk::ZeroHour12),
        ("04", || Chunk::ZeroMinute),
        ("05", || Chunk::ZeroSecond),
        ("06", || Chunk::Year),
        ("15", || Chunk::Hour),
        ("_2", || Chunk::UnderDay),
        ("PM", || Chunk::PM),
        ("pm", || Chunk::Pm),
        ("Z07:00", || Chunk::Offset { z: true, colon: true, hours_only: false }),
        ("Z0700", || Chunk::Offset { z: true, colon: false, hours_only: false }),
        ("Z07", || Chunk::Offset { z: true, colon: false, hours_only: true }),
        ("-07:00", || Chunk::Offset { z: false, colon: true, hours_only: false }),
        ("-0700", || Chunk::Offset { z: false, colon: false, hours_only: false }),
        ("-07", || Chunk::Offset { z: false, colon: false, hours_only: true }),
        ("1", || Chunk::NumMonth),
        ("2", || Chunk::Day),
        ("3", || Chunk::Hour12),
        ("4", || Chunk::Minute),
        ("5", || Chunk::Second),
    ];
    while i < b.len() {
        // Fractional seconds: `.000`, `,000`, `.999` followed by a non-digit.
        if (b[i] == b'.' || b[i] == b',') && i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') {
            let d = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == d {
                j += 1;
            }
            if j >= b.len() || !b[j].is_ascii_digit() {
                if lit_start < i {
                    out.push(Chunk::Lit(&layout[lit_start..i]));
                }
                out.push(Chunk::Frac(j - i - 1, d == b'9'));
                i = j;
                lit_start = i;
                continue;
            }
        }
        if let Some((tok, mk)) = table.iter().find(|(t, _)| layout[i..].starts_with(t)) {
            if lit_start < i {
                out.push(Chunk::Lit(&layout[lit_start..i]));
            }
            out.push(mk());
            i += tok.len();
            lit_start = i;
            continue;
        }
        i += layout[i..].chars().next().map(char::len_utf8).unwrap_or(1);
    }
    if lit_start < layout.len() {
        out.push(Chunk::Lit(&layout[lit_start..]));
    }
    out
}

/// Go's `Time.Format(layout)`.
pub fn format_go_layout(t: &Timestamp, layout: &str) -> String {
    let mut s = String::new();
    for c in chunks(layout) {
        match c {
            Chunk::Lit(l) => s.push_str(l),
            Chunk::LongMonth => s.push_str(month_name(t.month() as u8)),
            Chunk::Month => s.push_str(&month_name(t.month() as u8)[..3]),
            Chunk::NumMonth => s.push_str(&t.month().to_string()),
            Chunk::ZeroMonth => s.push_str(&format!("{:02}", t.month())),
            Chunk::LongWeekday => s.push_str(weekday_name(t.weekday().num_days_from_sunday() as u8)),
            Chunk::Weekday => s.push_str(&weekday_name(t.weekday().num_days_from_sunday() as u8)[..3]),
            Chunk::Day => s.push_str(&t.day().to_string()),
            Chunk::UnderDay => s.push_str(&format!("{:>2}", t.day())),
            Chunk::ZeroDay => s.push_str(&format!("{:02}", t.day())),
            Chunk::YearDay => s.push_str(&format!("{:03}", t.ordinal())),
            Chunk::Hour => s.push_str(&format!("{:02}", t.hour())),
            Chunk::Hour12 => s.push_str(&(if t.hour12().1 == 0 { 12 } else { t.hour12().1 }).to_string()),
            Chunk::ZeroHour12 => s.push_str(&format!("{:02}", t.hour12().1)),
            Chunk::Minute => s.push_str(&t.minute().to_string()),
            Chunk::ZeroMinute => s.push_str(&format!("{:02}", t.minute())),
            Chunk::Second => s.push_str(&t.second().to_string()),
            Chunk::ZeroSecond => s.push_str(&format!("{:02}", t.second())),
            Chunk::LongYear => s.push_str(&format!("{:04}", t.year())),
            Chunk::Year => s.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            Chunk::PM => s.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Chunk::Pm => s.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            Chunk::TzName => {
                let off = t.offset().local_minus_utc();
                if off == 0 { s.push_str("UTC") } else { s.push_str(&offset_text(off, false, false)) }
            }
            Chunk::Offset { z, colon, hours_only } => {
                let off = t.offset().local_minus_utc();
                if z && off == 0 {
                    s.push('Z');
                } else {
                    s.push_str(&offset_text(off, colon, hours_only));
                }
            }
            Chunk::Frac(n, trim) => {
                let frac = format!("{:09}", t.nanosecond());
                let mut digits = frac[..n.min(9)].to_string();
                if trim {
                    digits = digits.trim_end_matches('0').to_string();
                    if !digits.is_empty() {
                        s.push('.');
                        s.push_str(&digits);
                    }
                } else {
                    s.push('.');
                    s.push_str(&digits);
                }
            }
        }
    }
    s
}

fn offset_text(off: i32, colon: bool, hours_only: bool) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    let (h, m) = (a / 3600, (a % 3600) / 60);
    if hours_only {
        format!("{sign}{h:02}")
    } else if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// Go's `time.Parse(layout, s)`, translated to a chrono format. Times without a zone are UTC.
pub fn parse_go_layout(s: &str, layout: &str) -> Result<Timestamp, String> {
    let mut f = String::new();
    let mut has_zone = false;
    let mut has_date = false;
    for c in chunks(layout) {
        match c {
            Chunk::Lit(l) => f.push_str(&l.replace('%', "%%")),
            Chunk::LongMonth => f.push_str("%B"),
            Chunk::Month => f.push_str("%b"),
            Chunk::NumMonth | Chunk::ZeroMonth => f.push_str("%m"),
            Chunk::LongWeekday => f.push_str("%A"),
            Chunk::Weekday => f.push_str("%a"),
            Chunk::Day | Chunk::ZeroDay => {
                has_date = true;
                f.push_str("%d")
            }
            Chunk::UnderDay => {
                has_date = true;
                f.push_str("%e")
            }
            Chunk::YearDay => f.push_str("%j"),
            Chunk::Hour => f.push_str("%H"),
            Chunk::Hour12 | Chunk::ZeroHour12 => f.push_str("%I"),
            Chunk::Minute | Chunk::ZeroMinute => f.push_str("%M"),
            Chunk::Second | Chunk::ZeroSecond => f.push_str("%S"),
            Chunk::LongYear => f.push_str("%Y"),
            Chunk::Year => f.push_str("%y"),
            Chunk::PM | Chunk::Pm => f.push_str("%p"),
            Chunk::TzName => f.push_str("UTC"),
            Chunk::Offset { z, colon, .. } => {
                has_zone = true;
                f.push_str(if z || colon { "%:z" } else { "%z" });
            }
            Chunk::Frac(..) => f.push_str("%.f"),
        }
    }
    let input = if has_zone && s.ends_with('Z') { format!("{}+00:00", &s[..s.len() - 1]) } else { s.to_string() };
    let bad = |e: chrono::ParseError| format!("parsing time {s:?} as {layout:?}: {e}");
    if has_zone {
        return DateTime::parse_from_str(&input, &f).map_err(bad);
    }
    if (has_date || f.contains("%H"))
        && let Ok(n) = NaiveDateTime::parse_from_str(&input, &f)
    {
        return Ok(Utc.from_utc_datetime(&n).fixed_offset());
    }
    let d = NaiveDate::parse_from_str(&input, &f).map_err(bad)?;
    Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()).fixed_offset())
}

/// `date(s)` without a layout: the layouts expr-lang tries, in its order (date, time of day, date and time,
/// RFC 3339, RFC 822, RFC 850, RFC 1123).
pub fn parse_any(s: &str) -> Option<Timestamp> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?).fixed_offset());
    }
    if let Ok(t) = chrono::NaiveTime::parse_from_str(s, "%H:%M:%S") {
        // Go's time.Parse gives year 0, January 1 for a layout without a date.
        let d = NaiveDate::from_ymd_opt(0, 1, 1)?;
        return Some(Utc.from_utc_datetime(&d.and_time(t)).fixed_offset());
    }
    if let Ok(t) = parse_go_layout(s, "2006-01-02 15:04:05") {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    const LAYOUTS: &[&str] =
        &["02 Jan 06 15:04 MST", "Monday, 02-Jan-06 15:04:05 MST", "Mon, 02 Jan 2006 15:04:05 MST"];
    LAYOUTS.iter().find_map(|l| parse_go_layout(s, l).ok())
}

// --- Helpers ----------------------------------------------------------------------------------------------------

/// `TimeNow()`: RFC 3339 in UTC, whole seconds (Go's `time.RFC3339` layout).
pub fn time_now<'a>(cx: &mut Scope<'a>, _: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(cx.services.now().with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// `ParseUnix(s)`: the integer part of a Unix timestamp (`"1700000000.123"` keeps the seconds) as RFC 3339 UTC;
/// `""` (and an error log) when it is not a positive integer.
pub fn parse_unix<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "ParseUnix")?;
    let whole = s.split('.').next().unwrap_or("");
    let t = whole.parse::<i64>().ok().filter(|i| *i > 0).and_then(|i| Utc.timestamp_opt(i, 0).single());
    Ok(match t {
        Some(t) => Value::string(format_rfc3339(&t.fixed_offset())),
        None => {
            tracing::error!("unable to parse {s} as unix timestamp");
            Value::str("")
        }
    })
}

fn gaps(a: &[Value<'_>], f: &str) -> Result<Vec<i64>, String> {
    let list = a[0].to_list().map_err(|e| format!("{f}: {e}"))?;
    let mut times: Vec<Timestamp> = Vec::with_capacity(list.len());
    for v in list.iter() {
        match v {
            Value::Time(t) => times.push(*t),
            other => {
                return Err(format!("{f}: expected an array of times, got an element of type {}", other.type_name()));
            }
        }
    }
    if times.len() < 2 {
        return Err(format!("{f}: need at least two times"));
    }
    times.sort();
    Ok(times.windows(2).map(|w| (w[1] - w[0]).num_nanoseconds().unwrap_or(i64::MAX)).collect())
}

pub fn median_interval<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let mut g = gaps(&a, "MedianInterval")?;
    g.sort();
    let n = g.len();
    let m = if n.is_multiple_of(2) { (g[n / 2 - 1] / 2).saturating_add(g[n / 2] / 2) } else { g[n / 2] };
    Ok(Value::Duration(m))
}

pub fn average_interval<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let g = gaps(&a, "AverageInterval")?;
    let sum: i128 = g.iter().map(|x| *x as i128).sum();
    Ok(Value::Duration((sum / g.len() as i128) as i64))
}

/// The UTC offset type used by parsed times, re-exported for callers building `Value::Time`.
pub type Offset = FixedOffset;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn go_layout_format_and_parse() {
        let x = t("2026-02-05T07:04:09.120+02:00");
        assert_eq!(format_go_layout(&x, "2006-01-02T15:04:05Z07:00"), "2026-02-05T07:04:09+02:00");
        assert_eq!(format_go_layout(&x, "Jan _2 3:04PM .000 Monday"), "Feb  5 7:04AM .120 Thursday");
        assert_eq!(format_go_layout(&x, "02/01/06 .999"), "05/02/26 .12");
        let p = parse_go_layout("2026-02-05 07:04:09", "2006-01-02 15:04:05").unwrap();
        assert_eq!(format_rfc3339(&p), "2026-02-05T07:04:09Z");
        let p = parse_go_layout("2026-02-05T07:04:09Z", "2006-01-02T15:04:05Z07:00").unwrap();
        assert_eq!(p.timestamp(), t("2026-02-05T07:04:09Z").timestamp());
        assert!(parse_go_layout("nope", "2006-01-02").is_err());
        assert!(parse_any("2026-02-05").is_some());
    }

    #[test]
    fn methods() {
        let x = Value::Time(t("2026-02-05T07:04:09Z"));
        assert_eq!(call_method(x.clone(), "Hour", vec![]).unwrap(), Value::Int(7));
        let wd = call_method(x.clone(), "Weekday", vec![]).unwrap();
        assert_eq!(call_method(wd, "String", vec![]).unwrap(), Value::from("Thursday"));
        assert_eq!(call_method(Value::Duration(90_000_000_000), "Minutes", vec![]).unwrap(), Value::Float(1.5));
        assert!(call_method(Value::Nil, "Hour", vec![]).is_err());
        assert!(call_method(x, "Nope", vec![]).is_err());
    }
}
