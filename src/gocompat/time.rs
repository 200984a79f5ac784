//! Go reference-time layouts (`2006-01-02 15:04:05`, `Jan _2 15:04:05`, `02/Jan/2006:15:04:05 -0700`): parsing and
//! formatting with the rules of Go's `time.Parse` / `Time.Format`, which CrowdSec's date enricher and
//! `StrTimeFormat` use.
//!
//! Go rules reproduced here (they decide whether a log date parses at all):
//! * a layout is literal text around "std" chunks (`Jan`, `January`, `01`, `1`, `02`, `2`, `_2`, `002`, `15`, `3`,
//!   `03`, `04`, `4`, `05`, `5`, `2006`, `06`, `PM`, `pm`, `Mon`, `Monday`, `MST`, `-0700`, `-07:00`, `-07`,
//!   `Z0700`, `Z07:00`, `Z07`, the seconds variants, and `.000` / `,999` fractions);
//! * a run of spaces in the layout matches one or more spaces in the value (or none at its very end);
//! * `1`, `2`, `3`, `4`, `5` accept one or two digits, `_2` a space-padded day; month and day names are English and
//!   case-insensitive;
//! * a fraction after the seconds is accepted even when the layout has none; `.000` wants exactly that many digits,
//!   `.999` any number (or none);
//! * no zone in the layout or value → UTC; a zone abbreviation (`MST`) other than `UTC` gets offset 0 (Go gives it
//!   the local zone's offset only when the local zone uses that name; Correlator, like hubtest, runs in UTC), `GMT+3`
//!   gets +3h;
//! * a layout without year gives year 0 (the caller decides which year it is); values are range-checked (month
//!   1–12, day within the month, hour < 24, …) and the whole value must be consumed.
//!
//! What this module is not: it does not pick layouts or add the current year (`parser::enrich::date` does).

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike};

/// Why a value does not match a layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeParseError {
    pub layout: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for TimeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parsing time {:?} as {:?}: {}", self.value, self.layout, self.reason)
    }
}

impl std::error::Error for TimeParseError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
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
    Tz,
    Iso8601Tz,
    Iso8601SecondsTz,
    Iso8601ShortTz,
    Iso8601ColonTz,
    Iso8601ColonSecondsTz,
    NumTz,
    NumSecondsTz,
    NumShortTz,
    NumColonTz,
    NumColonSecondsTz,
    /// Fraction with exactly `digits` digits (`.000`); `sep` is the layout's separator.
    FracSecond0 {
        digits: usize,
        sep: u8,
    },
    /// Fraction with up to `digits` digits, trailing zeros dropped when formatting (`.999`).
    FracSecond9 {
        digits: usize,
        sep: u8,
    },
}

impl Std {
    fn is_iso(self) -> bool {
        matches!(
            self,
            Std::Iso8601Tz
                | Std::Iso8601SecondsTz
                | Std::Iso8601ShortTz
                | Std::Iso8601ColonTz
                | Std::Iso8601ColonSecondsTz
        )
    }
}

const SHORT_MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

fn starts_with_lower(s: &[u8]) -> bool {
    s.first().is_some_and(|c| c.is_ascii_lowercase())
}

fn digit_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Splits `layout` at its first std chunk: (literal prefix, chunk, rest). `None` when there is no chunk left.
fn next_chunk(layout: &[u8]) -> (&[u8], Option<Std>, &[u8]) {
    let at = |i: usize, s: &str| layout.get(i..i + s.len()) == Some(s.as_bytes());
    for i in 0..layout.len() {
        let hit = |std: Std, len: usize| (&layout[..i], Some(std), &layout[i + len..]);
        match layout[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return hit(Std::LongMonth, 7);
                }
                if !starts_with_lower(&layout[i + 3..]) {
                    return hit(Std::Month, 3);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return hit(Std::LongWeekDay, 6);
                    }
                    if !starts_with_lower(&layout[i + 3..]) {
                        return hit(Std::WeekDay, 3);
                    }
                }
                if at(i, "MST") {
                    return hit(Std::Tz, 3);
                }
            }
            b'0' => {
                if let Some(&d @ b'1'..=b'6') = layout.get(i + 1) {
                    let std =
                        [Std::ZeroMonth, Std::ZeroDay, Std::ZeroHour12, Std::ZeroMinute, Std::ZeroSecond, Std::Year]
                            [usize::from(d - b'1')];
                    return hit(std, 2);
                }
                if at(i, "002") {
                    return hit(Std::ZeroYearDay, 3);
                }
            }
            b'1' => return if at(i, "15") { hit(Std::Hour, 2) } else { hit(Std::NumMonth, 1) },
            b'2' => return if at(i, "2006") { hit(Std::LongYear, 4) } else { hit(Std::Day, 1) },
            b'_' => {
                if at(i, "_2") {
                    // `_2006` is a literal `_` followed by the year.
                    if at(i, "_2006") {
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    return hit(Std::UnderDay, 2);
                }
                if at(i, "__2") {
                    return hit(Std::UnderYearDay, 3);
                }
            }
            b'3' => return hit(Std::Hour12, 1),
            b'4' => return hit(Std::Minute, 1),
            b'5' => return hit(Std::Second, 1),
            b'P' if at(i, "PM") => return hit(Std::PM, 2),
            b'p' if at(i, "pm") => return hit(Std::Pm, 2),
            b'-' => {
                for (s, std) in [
                    ("-070000", Std::NumSecondsTz),
                    ("-07:00:00", Std::NumColonSecondsTz),
                    ("-0700", Std::NumTz),
                    ("-07:00", Std::NumColonTz),
                    ("-07", Std::NumShortTz),
                ] {
                    if at(i, s) {
                        return hit(std, s.len());
                    }
                }
            }
            b'Z' => {
                for (s, std) in [
                    ("Z070000", Std::Iso8601SecondsTz),
                    ("Z07:00:00", Std::Iso8601ColonSecondsTz),
                    ("Z0700", Std::Iso8601Tz),
                    ("Z07:00", Std::Iso8601ColonTz),
                    ("Z07", Std::Iso8601ShortTz),
                ] {
                    if at(i, s) {
                        return hit(std, s.len());
                    }
                }
            }
            sep @ (b'.' | b',') => {
                if let Some(&ch @ (b'0' | b'9')) = layout.get(i + 1) {
                    let mut j = i + 1;
                    while layout.get(j) == Some(&ch) {
                        j += 1;
                    }
                    // Only a fraction when the run of 0s or 9s is not followed by another digit.
                    if !digit_at(layout, j) {
                        let digits = j - (i + 1);
                        let std = if ch == b'0' {
                            Std::FracSecond0 { digits, sep }
                        } else {
                            Std::FracSecond9 { digits, sep }
                        };
                        return (&layout[..i], Some(std), &layout[j..]);
                    }
                }
            }
            _ => {}
        }
    }
    (layout, None, &[])
}

/// Matches the literal `prefix`; a space run in the prefix eats a space run in the value.
fn skip<'v>(mut value: &'v [u8], mut prefix: &[u8]) -> Option<&'v [u8]> {
    let cut = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b' ').count() };
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return None;
            }
            prefix = &prefix[cut(prefix)..];
            value = &value[cut(value)..];
            continue;
        }
        if value.first() != Some(&p) {
            return None;
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Some(value)
}

/// One or two digits (exactly two when `fixed`).
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    if !digit_at(s, 0) {
        return None;
    }
    if !digit_at(s, 1) {
        return if fixed { None } else { Some((i64::from(s[0] - b'0'), &s[1..])) };
    }
    Some((i64::from(s[0] - b'0') * 10 + i64::from(s[1] - b'0'), &s[2..]))
}

/// One to three digits (exactly three when `fixed`).
fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let n = s.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    let v = s[..n].iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'));
    Some((v, &s[n..]))
}

/// Go's `time.atoi`: optional sign, then only digits.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

/// Case-insensitive (ASCII) prefix lookup in a name table, as Go's `lookup`.
fn lookup<'v>(table: &[&str], value: &'v [u8]) -> Option<(usize, &'v [u8])> {
    table.iter().enumerate().find_map(|(i, name)| {
        let n = name.len();
        (value.len() >= n && value[..n].eq_ignore_ascii_case(name.as_bytes())).then(|| (i, &value[n..]))
    })
}

/// `value[..nbytes]` is a separator plus digits: the nanoseconds it denotes.
fn parse_nanos(value: &[u8], nbytes: usize) -> Result<i64, &'static str> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return Err("bad fractional second");
    }
    let nbytes = nbytes.min(10);
    let ns = atoi(&value[1..nbytes]).ok_or("bad fractional second")?;
    if ns < 0 {
        return Err("fractional second out of range");
    }
    Ok(ns * 10i64.pow((10 - nbytes) as u32))
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `value`.
fn zone_len(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        return Some(3 + signed_offset_len(&value[3..]));
    }
    if matches!(value[0], b'+' | b'-') {
        let n = signed_offset_len(value);
        return (n > 0).then_some(n);
    }
    let upper = value.iter().take(6).take_while(|c| c.is_ascii_uppercase()).count();
    match upper {
        3 => Some(3),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        5 if value[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: `+h`/`-hh` with hours ≤ 12; 0 when not that.
fn signed_offset_len(value: &[u8]) -> usize {
    if !matches!(value.first(), Some(b'+' | b'-')) {
        return 0;
    }
    let digits = value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return 0;
    }
    match atoi(&value[1..1 + digits]) {
        Some(h) if h <= 12 => 1 + digits,
        _ => 0,
    }
}

/// Parses `value` with the Go `layout`. A layout without year yields year 0.
pub fn parse(layout: &str, value: &str) -> Result<DateTime<FixedOffset>, TimeParseError> {
    parse_fast(layout, value).map_err(|f| TimeParseError {
        layout: layout.to_string(),
        value: value.to_string(),
        reason: f.describe(value),
    })
}

/// Like [`parse`] without the error: what callers that try several layouts in a row use (no allocation on the
/// layouts that do not match).
pub fn try_parse(layout: &str, value: &str) -> Option<DateTime<FixedOffset>> {
    parse_fast(layout, value).ok()
}

/// Why a value did not match, without allocating.
enum Fail {
    /// Cannot parse the value from this byte offset.
    Cannot(usize),
    /// Text left over from this byte offset.
    Extra(usize),
    Range(&'static str),
    Msg(&'static str),
}

impl Fail {
    fn describe(&self, value: &str) -> String {
        let rest = |at: usize| String::from_utf8_lossy(&value.as_bytes()[at.min(value.len())..]).into_owned();
        match self {
            Fail::Cannot(at) => format!("cannot parse {:?}", rest(*at)),
            Fail::Extra(at) => format!("extra text: {:?}", rest(*at)),
            Fail::Range(what) => format!("{what} out of range"),
            Fail::Msg(m) => (*m).to_string(),
        }
    }
}

fn parse_fast(layout: &str, value: &str) -> Result<DateTime<FixedOffset>, Fail> {
    let bad = |rest: &[u8]| Fail::Cannot(value.len() - rest.len());
    let range = |what: &'static str| Fail::Range(what);

    let mut lay = layout.as_bytes();
    let mut val = value.as_bytes();
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let (mut pm, mut am) = (false, false);
    let mut utc = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name: Option<&[u8]> = None;

    loop {
        let (prefix, std, suffix) = next_chunk(lay);
        val = skip(val, prefix).ok_or_else(|| bad(val))?;
        let Some(std) = std else {
            if !val.is_empty() {
                return Err(Fail::Extra(value.len() - val.len()));
            }
            break;
        };
        lay = suffix;
        let hold = val;
        match std {
            Std::Year => {
                if val.len() < 2 {
                    return Err(bad(hold));
                }
                let y = atoi(&val[..2]).ok_or_else(|| bad(hold))?;
                val = &val[2..];
                year = if y >= 69 { y + 1900 } else { y + 2000 };
            }
            Std::LongYear => {
                if val.len() < 4 || !digit_at(val, 0) {
                    return Err(bad(hold));
                }
                year = atoi(&val[..4]).ok_or_else(|| bad(hold))?;
                val = &val[4..];
            }
            Std::Month | Std::LongMonth => {
                let table: &[&str] = if std == Std::Month { &SHORT_MONTHS } else { &LONG_MONTHS };
                let (m, rest) = lookup(table, val).ok_or_else(|| bad(hold))?;
                month = m as i64 + 1;
                val = rest;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, rest) = getnum(val, std == Std::ZeroMonth).ok_or_else(|| bad(hold))?;
                if !(1..=12).contains(&m) {
                    return Err(range("month"));
                }
                month = m;
                val = rest;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let table: &[&str] = if std == Std::WeekDay { &SHORT_DAYS } else { &LONG_DAYS };
                val = lookup(table, val).ok_or_else(|| bad(hold))?.1;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && val.first() == Some(&b' ') {
                    val = &val[1..];
                }
                let (d, rest) = getnum(val, std == Std::ZeroDay).ok_or_else(|| bad(hold))?;
                day = d;
                val = rest;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && val.first() == Some(&b' ') {
                        val = &val[1..];
                    }
                }
                let (d, rest) = getnum3(val, std == Std::ZeroYearDay).ok_or_else(|| bad(hold))?;
                yday = d;
                val = rest;
            }
            Std::Hour => {
                let (h, rest) = getnum(val, false).ok_or_else(|| bad(hold))?;
                if h >= 24 {
                    return Err(range("hour"));
                }
                hour = h;
                val = rest;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, rest) = getnum(val, std == Std::ZeroHour12).ok_or_else(|| bad(hold))?;
                if h > 12 {
                    return Err(range("hour"));
                }
                hour = h;
                val = rest;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, rest) = getnum(val, std == Std::ZeroMinute).ok_or_else(|| bad(hold))?;
                if m >= 60 {
                    return Err(range("minute"));
                }
                min = m;
                val = rest;
            }
            Std::Second | Std::ZeroSecond => {
                let (s, rest) = getnum(val, std == Std::ZeroSecond).ok_or_else(|| bad(hold))?;
                if s >= 60 {
                    return Err(range("second"));
                }
                sec = s;
                val = rest;
                // A fraction the layout does not spell out is accepted right after the seconds.
                if val.len() >= 2 && matches!(val[0], b'.' | b',') && digit_at(val, 1) {
                    let next = next_chunk(lay).1;
                    if !matches!(next, Some(Std::FracSecond0 { .. } | Std::FracSecond9 { .. })) {
                        let n = 2 + val[2..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nsec = parse_nanos(val, n).map_err(Fail::Msg)?;
                        val = &val[n..];
                    }
                }
            }
            Std::PM | Std::Pm => {
                if val.len() < 2 {
                    return Err(bad(hold));
                }
                let (p, a) = if std == Std::PM { (&b"PM"[..], &b"AM"[..]) } else { (&b"pm"[..], &b"am"[..]) };
                match &val[..2] {
                    x if x == p => pm = true,
                    x if x == a => am = true,
                    _ => return Err(bad(hold)),
                }
                val = &val[2..];
            }
            Std::Iso8601Tz
            | Std::Iso8601SecondsTz
            | Std::Iso8601ShortTz
            | Std::Iso8601ColonTz
            | Std::Iso8601ColonSecondsTz
            | Std::NumTz
            | Std::NumSecondsTz
            | Std::NumShortTz
            | Std::NumColonTz
            | Std::NumColonSecondsTz => {
                if std.is_iso() && val.first() == Some(&b'Z') {
                    val = &val[1..];
                    utc = true;
                    continue;
                }
                let v = val;
                let colon = |i: usize| v.get(i) == Some(&b':');
                // (sign, hh, mm, ss, consumed)
                let (hh, mm, ss, used): (&[u8], &[u8], &[u8], usize) = match std {
                    Std::Iso8601ColonTz | Std::NumColonTz if v.len() >= 6 && colon(3) => (&v[1..3], &v[4..6], b"00", 6),
                    Std::NumShortTz | Std::Iso8601ShortTz if v.len() >= 3 => (&v[1..3], b"00", b"00", 3),
                    Std::Iso8601ColonSecondsTz | Std::NumColonSecondsTz if v.len() >= 9 && colon(3) && colon(6) => {
                        (&v[1..3], &v[4..6], &v[7..9], 9)
                    }
                    Std::Iso8601SecondsTz | Std::NumSecondsTz if v.len() >= 7 => (&v[1..3], &v[3..5], &v[5..7], 7),
                    Std::Iso8601Tz | Std::NumTz if v.len() >= 5 => (&v[1..3], &v[3..5], b"00", 5),
                    _ => return Err(bad(hold)),
                };
                let num = |s: &[u8]| getnum(s, true).map(|(n, _)| n).ok_or_else(|| bad(hold));
                let (h, m, s) = (num(hh)?, num(mm)?, num(ss)?);
                // Go accepts 24h offsets, hence `>`.
                if h > 24 || m > 60 || s > 60 {
                    return Err(range("time zone offset"));
                }
                let off = (h * 60 + m) * 60 + s;
                zone_offset = Some(match v[0] {
                    b'+' => off,
                    b'-' => -off,
                    _ => return Err(bad(hold)),
                });
                val = &v[used..];
            }
            Std::Tz => {
                if val.starts_with(b"UTC") {
                    utc = true;
                    val = &val[3..];
                    continue;
                }
                let n = zone_len(val).ok_or_else(|| bad(hold))?;
                zone_name = Some(&val[..n]);
                val = &val[n..];
            }
            Std::FracSecond0 { digits, .. } => {
                let n = 1 + digits;
                if val.len() < n {
                    return Err(bad(hold));
                }
                nsec = parse_nanos(val, n).map_err(Fail::Msg)?;
                val = &val[n..];
            }
            Std::FracSecond9 { .. } => {
                if val.len() < 2 || !matches!(val[0], b'.' | b',') || !digit_at(val, 1) {
                    continue; // fraction omitted
                }
                let n = 1 + val[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                nsec = parse_nanos(val, n).map_err(Fail::Msg)?;
                val = &val[n..];
            }
        }
    }

    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    let year = i32::try_from(year).map_err(|_| range("year"))?;
    if yday >= 0 {
        let date =
            NaiveDate::from_yo_opt(year, u32::try_from(yday).unwrap_or(0)).ok_or_else(|| range("day-of-year"))?;
        if month >= 0 && month != i64::from(date.month()) {
            return Err(Fail::Msg("day-of-year does not match month"));
        }
        if day >= 0 && day != i64::from(date.day()) {
            return Err(Fail::Msg("day-of-year does not match day"));
        }
        month = i64::from(date.month());
        day = i64::from(date.day());
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    let date =
        NaiveDate::from_ymd_opt(year, month as u32, u32::try_from(day).unwrap_or(0)).ok_or_else(|| range("day"))?;
    let naive = date.and_hms_nano_opt(hour as u32, min as u32, sec as u32, nsec as u32).ok_or_else(|| range("time"))?;

    let offset = if utc {
        0
    } else if let Some(off) = zone_offset {
        off
    } else if let Some(name) = zone_name {
        // Only `GMT+h` carries an offset; other abbreviations are not known in a UTC process.
        if name.len() > 3 && name.starts_with(b"GMT") { atoi(&name[3..]).unwrap_or(0) * 3600 } else { 0 }
    } else {
        0
    };
    let tz = FixedOffset::east_opt(offset as i32).ok_or_else(|| range("time zone offset"))?;
    tz.from_local_datetime(&naive).single().ok_or_else(|| range("time"))
}

/// 0–23 → 1–12.
fn hour12(h: u32) -> u32 {
    if h.is_multiple_of(12) { 12 } else { h % 12 }
}

/// Formats `t` with the Go `layout`. Zone abbreviations (`MST`) print `UTC` for a zero offset and `+hhmm`
/// otherwise (the value carries an offset, not a zone name).
pub fn format(t: &DateTime<FixedOffset>, layout: &str) -> String {
    let mut out = String::with_capacity(layout.len() + 10);
    let mut lay = layout.as_bytes();
    let offset = t.offset().local_minus_utc();
    let push2 = |out: &mut String, v: u32| out.push_str(&format!("{v:02}"));
    loop {
        let (prefix, std, suffix) = next_chunk(lay);
        out.push_str(&String::from_utf8_lossy(prefix));
        let Some(std) = std else { break };
        lay = suffix;
        match std {
            Std::Year => push2(&mut out, t.year().rem_euclid(100) as u32),
            Std::LongYear => out.push_str(&format!("{:04}", t.year())),
            Std::Month => out.push_str(SHORT_MONTHS[t.month0() as usize]),
            Std::LongMonth => out.push_str(LONG_MONTHS[t.month0() as usize]),
            Std::NumMonth => out.push_str(&t.month().to_string()),
            Std::ZeroMonth => push2(&mut out, t.month()),
            Std::WeekDay => out.push_str(SHORT_DAYS[t.weekday().num_days_from_sunday() as usize]),
            Std::LongWeekDay => out.push_str(LONG_DAYS[t.weekday().num_days_from_sunday() as usize]),
            Std::Day => out.push_str(&t.day().to_string()),
            Std::UnderDay => out.push_str(&format!("{:>2}", t.day())),
            Std::ZeroDay => push2(&mut out, t.day()),
            Std::UnderYearDay => out.push_str(&format!("{:>3}", t.ordinal())),
            Std::ZeroYearDay => out.push_str(&format!("{:03}", t.ordinal())),
            Std::Hour => push2(&mut out, t.hour()),
            Std::Hour12 => out.push_str(&hour12(t.hour()).to_string()),
            Std::ZeroHour12 => push2(&mut out, hour12(t.hour())),
            Std::Minute => out.push_str(&t.minute().to_string()),
            Std::ZeroMinute => push2(&mut out, t.minute()),
            Std::Second => out.push_str(&t.second().to_string()),
            Std::ZeroSecond => push2(&mut out, t.second()),
            Std::PM => out.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            Std::Tz => {
                if offset == 0 {
                    out.push_str("UTC");
                } else {
                    let m = offset.abs() / 60;
                    out.push(if offset < 0 { '-' } else { '+' });
                    out.push_str(&format!("{:02}{:02}", m / 60, m % 60));
                }
            }
            Std::FracSecond0 { digits, sep } => {
                let ns = format!("{:09}", t.nanosecond() % 1_000_000_000);
                out.push(char::from(sep));
                out.push_str(&ns[..digits.min(9)]);
                out.extend(std::iter::repeat_n('0', digits.saturating_sub(9)));
            }
            Std::FracSecond9 { digits, sep } => {
                let ns = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let kept = ns[..digits.min(9)].trim_end_matches('0');
                if !kept.is_empty() {
                    out.push(char::from(sep));
                    out.push_str(kept);
                }
            }
            zone => {
                if offset == 0 && zone.is_iso() {
                    out.push('Z');
                    continue;
                }
                let abs = offset.abs();
                out.push(if offset < 0 { '-' } else { '+' });
                push2(&mut out, (abs / 3600) as u32);
                let colon = matches!(
                    zone,
                    Std::Iso8601ColonTz | Std::NumColonTz | Std::Iso8601ColonSecondsTz | Std::NumColonSecondsTz
                );
                if !matches!(zone, Std::NumShortTz | Std::Iso8601ShortTz) {
                    if colon {
                        out.push(':');
                    }
                    push2(&mut out, (abs / 60 % 60) as u32);
                }
                if matches!(
                    zone,
                    Std::Iso8601SecondsTz | Std::NumSecondsTz | Std::Iso8601ColonSecondsTz | Std::NumColonSecondsTz
                ) {
                    if colon {
                        out.push(':');
                    }
                    push2(&mut out, (abs % 60) as u32);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::format_rfc3339;

    /// (layout, value, expected RFC 3339 or None for a parse error)
    const CASES: &[(&str, &str, Option<&str>)] = &[
        // Hub StrTimeFormat layouts.
        ("2006-01-02 15:04:05,999999999", "2026-02-12 14:10:21,123", Some("2026-02-12T14:10:21.123Z")),
        ("2006-01-02 15:04:05,999999999", "2026-02-12 14:10:21", Some("2026-02-12T14:10:21Z")),
        ("2006-01-02 15:04:05,999999999", "2026-02-12 14:10:21.5", Some("2026-02-12T14:10:21.5Z")),
        ("Mon Jan _2 15:04:05 2006", "Thu Feb  5 14:10:21 2026", Some("2026-02-05T14:10:21Z")),
        ("Mon Jan _2 15:04:05 2006", "Thu Feb 12 14:10:21 2026", Some("2026-02-12T14:10:21Z")),
        ("Mon Jan _2 15:04:05 2006", "thu FEB 12 14:10:21 2026", Some("2026-02-12T14:10:21Z")),
        ("01/02/2006, 3:04:05 PM", "02/12/2026, 2:10:21 PM", Some("2026-02-12T14:10:21Z")),
        ("01/02/2006, 3:04:05 PM", "02/12/2026, 12:10:21 AM", Some("2026-02-12T00:10:21Z")),
        ("01/02/2006, 3:04:05 PM", "02/12/2026, 12:10:21 PM", Some("2026-02-12T12:10:21Z")),
        ("01/02/2006, 3:04:05 PM", "02/12/2026, 2:10:21 pm", None),
        ("060102 15:04:05", "260212 14:10:21", Some("2026-02-12T14:10:21Z")),
        ("060102 15:04:05", "690212 14:10:21", Some("1969-02-12T14:10:21Z")),
        // ParseDate's fixed layouts.
        ("02/Jan/2006:15:04:05 -0700", "02/Mar/2026:00:00:05 +0000", Some("2026-03-02T00:00:05Z")),
        ("02/Jan/2006:15:04:05 -0700", "02/Mar/2026:00:00:05 +0200", Some("2026-03-02T00:00:05+02:00")),
        ("02/Jan/2006:15:04:05 -0700", "02/Mar/2026:00:00:05 -0730", Some("2026-03-02T00:00:05-07:30")),
        ("2006-01-02T15:04:05Z07:00", "2026-02-12T14:10:21Z", Some("2026-02-12T14:10:21Z")),
        ("2006-01-02T15:04:05Z07:00", "2026-02-12T14:10:21.250+01:00", Some("2026-02-12T14:10:21.25+01:00")),
        ("2006-01-02T15:04:05Z07:00", "2026-02-12T14:10:21+0100", None),
        ("Jan  2 15:04:05", "Feb 12 14:10:21", Some("0000-02-12T14:10:21Z")),
        ("Jan  2 15:04:05", "Feb  2 14:10:21", Some("0000-02-02T14:10:21Z")),
        ("Jan  2 15:04:05", "Feb 2 14:10:21", Some("0000-02-02T14:10:21Z")),
        ("Jan  2 15:04:05", "Feb02 14:10:21", None),
        ("Jan  2 15:04:05", "Feb 12 14:10:21.123456", Some("0000-02-12T14:10:21.123456Z")),
        ("Jan  2 15:04:05", "Feb 30 14:10:21", None),
        ("Jan  2 15:04:05", "Feb 29 14:10:21", Some("0000-02-29T14:10:21Z")),
        ("Mon Jan 2 15:04:05 2006", "Thu Feb  5 14:10:21 2026", Some("2026-02-05T14:10:21Z")),
        ("Mon Jan 02 15:04:05.000000 2006", "Thu Feb 05 14:10:21.123456 2026", Some("2026-02-05T14:10:21.123456Z")),
        ("Mon Jan 02 15:04:05.000000 2006", "Thu Feb 05 14:10:21.1234 2026", None),
        (
            "2006-01-02 15:04:05.999999999 -0700 MST",
            "2026-02-12 14:10:21.5 +0100 CET",
            Some("2026-02-12T14:10:21.5+01:00"),
        ),
        ("2006-01-02 15:04:05.999999999 -0700 MST", "2026-02-12 14:10:21 +0000 UTC", Some("2026-02-12T14:10:21Z")),
        ("02-Jan-2006 15:04:05 europe/paris", "12-Feb-2026 14:10:21 europe/paris", Some("2026-02-12T14:10:21Z")),
        ("2006/01/02", "2026/02/12", Some("2026-02-12T00:00:00Z")),
        ("2006-01-02 15:04", "2026-02-12 14:10", Some("2026-02-12T14:10:00Z")),
        ("2006-01-02 15:04:05", "2026-02-12 14:10:21", Some("2026-02-12T14:10:21Z")),
        ("2006-01-02 15:04:05", "2026-02-12  14:10:21", Some("2026-02-12T14:10:21Z")),
        ("2006-01-02 15:04:05", "2026-02-12T14:10:21", None),
        ("2006-01-02 15:04:05", "2026-02-12 14:10:21 trailing", None),
        ("2006-01-02 15:04:05", "2026-13-12 14:10:21", None),
        ("2006-01-02 15:04:05", "2026-02-12 24:10:21", None),
        ("2006-01-02 15:04:05", "2026-02-12 14:60:21", None),
        ("2006-01-02", "2026-2-12", None),
        ("2006-1-2", "2026-2-5", Some("2026-02-05T00:00:00Z")),
        ("2006-01-02T15:04:05", "2026-02-12T14:10:21,5", Some("2026-02-12T14:10:21.5Z")),
        // Zone forms.
        ("15:04:05 MST 2006-01-02", "14:10:21 EST 2026-02-12", Some("2026-02-12T14:10:21Z")),
        ("15:04:05 MST 2006-01-02", "14:10:21 GMT+3 2026-02-12", Some("2026-02-12T14:10:21+03:00")),
        ("15:04:05 MST 2006-01-02", "14:10:21 est 2026-02-12", None),
        ("15:04:05 -07 2006", "14:10:21 -05 2026", Some("2026-01-01T14:10:21-05:00")),
        ("15:04:05 -07:00:00", "14:10:21 +01:02:03", Some("0000-01-01T14:10:21+01:02")),
        ("15:04:05 Z0700", "14:10:21 Z", Some("0000-01-01T14:10:21Z")),
        // Names, day of year, 12-hour clock.
        ("Monday, January 2 2006", "Thursday, February 12 2026", Some("2026-02-12T00:00:00Z")),
        ("Monday, January 2 2006", "Thu, February 12 2026", None),
        ("2006.002", "2026.043", Some("2026-02-12T00:00:00Z")),
        ("3:04pm", "2:10pm", Some("0000-01-01T14:10:00Z")),
        ("_2006", "_2026", Some("2026-01-01T00:00:00Z")),
    ];

    fn rfc(t: &DateTime<FixedOffset>) -> String {
        format_rfc3339(t)
    }

    #[test]
    fn parse_table() {
        for (layout, value, want) in CASES {
            let got = parse(layout, value);
            match (want, &got) {
                (Some(w), Ok(t)) => assert_eq!(&rfc(t), w, "{layout:?} {value:?}"),
                (None, Err(_)) => {}
                _ => panic!("{layout:?} {value:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn format_table() {
        let t = DateTime::parse_from_rfc3339("2026-02-05T14:10:21.120+02:00").unwrap();
        let cases = [
            ("2006-01-02T15:04:05Z07:00", "2026-02-05T14:10:21+02:00"),
            ("2006-01-02T15:04:05.999999999Z07:00", "2026-02-05T14:10:21.12+02:00"),
            ("02/Jan/2006:15:04:05 -0700", "05/Feb/2026:14:10:21 +0200"),
            ("Mon Jan _2 15:04:05 2006", "Thu Feb  5 14:10:21 2026"),
            ("Monday January 2 3:04PM .000 ,9", "Thursday February 5 2:10PM .120 ,1"),
            ("060102 MST -07 Z07:00:00", "260205 +0200 +02 +02:00:00"),
        ];
        for (layout, want) in cases {
            assert_eq!(format(&t, layout), want, "{layout}");
        }
        let utc = DateTime::parse_from_rfc3339("2026-02-05T04:05:06Z").unwrap();
        assert_eq!(format(&utc, "MST Z0700 -0700 3 pm 002"), "UTC Z +0000 4 am 036");
    }

    #[test]
    fn round_trips() {
        let layouts = ["2006-01-02 15:04:05,999999999", "02/Jan/2006:15:04:05 -0700", "Mon Jan _2 15:04:05 2006"];
        let t = DateTime::parse_from_rfc3339("2026-02-05T14:10:21.5-03:00").unwrap();
        for l in layouts {
            let s = format(&t, l);
            let back = parse(l, &s).unwrap();
            assert_eq!(format(&back, l), s, "{l}");
        }
    }
}
