//! `ParseDate`: the date enricher of `crowdsecurity/dateparse-enrich`, turning `evt.StrTime` into
//! `evt.Enriched.MarshaledTime` exactly as CrowdSec does.
//!
//! Order: the event's `StrTimeFormat` (a Go layout) if set; then sixteen fixed Go layouts in CrowdSec's order; then
//! unix epoch seconds (the text before the first `.`, must be > 0); otherwise "now". A layout without year (syslog's
//! `Jan  2 15:04:05`) parses as year 0 and gets the current UTC year added (Go `AddDate`, so a year-less Feb 29
//! becomes Mar 1 in a non-leap year). The result is printed like Go's `MarshalText` (RFC 3339, nanoseconds only
//! when non-zero, the offset kept); the epoch form prints whole seconds in UTC (Go's `Format(RFC3339)` in a UTC
//! process).
//!
//! What this module is not: it does not decide whether to apply `evt.Time` (the caller gets the parsed time and the
//! mode says); Go layout parsing itself is `gocompat::time`.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};

use super::{EnrichContext, EnrichOutput, Enricher};
use crate::event::{Timestamp, format_rfc3339, zero_time};
use crate::gocompat::time::try_parse;

/// The layouts tried after `StrTimeFormat`, in CrowdSec's order.
pub const DATE_LAYOUTS: [&str; 16] = [
    "2006-01-02T15:04:05Z07:00", // time.RFC3339
    "02/Jan/2006:15:04:05 -0700",
    "Mon Jan 2 15:04:05 2006",
    "02-Jan-2006 15:04:05 europe/paris",
    "01/02/2006 15:04:05",
    "2006-01-02 15:04:05.999999999 -0700 MST",
    "Jan  2 15:04:05",
    "Mon Jan 02 15:04:05.000000 2006",
    "2006-01-02T15:04:05Z07:00",
    "2006/01/02",
    "2006/01/02 15:04",
    "2006-01-02",
    "2006-01-02 15:04",
    "2006/01/02 15:04:05",
    "2006-01-02 15:04:05",
    "2006-01-02T15:04:05",
];

/// How a date string was understood.
#[derive(Clone, Debug, PartialEq)]
pub enum DateSource {
    /// `StrTimeFormat` or one of [`DATE_LAYOUTS`] parsed it.
    Layout,
    /// Unix epoch seconds.
    Epoch,
    /// Nothing did: "now" was used.
    Now,
}

/// The result of [`parse_date`].
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedDate {
    /// The `MarshaledTime` value.
    pub marshaled: String,
    /// The parsed time (`None` when the fallback "now" was used: CrowdSec then leaves `evt.Time` alone).
    pub time: Option<Timestamp>,
    pub source: DateSource,
}

/// Go's `parseDateWithFormat`: parse, add the current year to a year-0 date, print with `MarshalText`.
fn with_layout(value: &str, layout: &str, now: &DateTime<Utc>) -> Option<(String, Timestamp)> {
    let t = try_parse(layout, value)?;
    // Go treats the zero time as "no date".
    if t == zero_time() {
        return None;
    }
    let t = if t.year() == 0 { add_years(&t, now.year())? } else { t };
    // MarshalText refuses years outside 0..=9999; none of the layouts can produce one, but stay exact.
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some((format_rfc3339(&t), t))
}

/// Go's `t.AddDate(years, 0, 0)`: same wall clock, `years` later; a Feb 29 that does not exist rolls to Mar 1.
fn add_years(t: &Timestamp, years: i32) -> Option<Timestamp> {
    let year = t.year().checked_add(years)?;
    let date = NaiveDate::from_ymd_opt(year, t.month(), t.day()).or_else(|| {
        NaiveDate::from_ymd_opt(year, t.month(), 1)?.checked_add_days(chrono::Days::new(u64::from(t.day()) - 1))
    })?;
    let naive = date.and_time(t.time());
    t.offset().from_local_datetime(&naive).single()
}

/// Go's `strconv.ParseInt(s, 10, 64)`: optional sign, ASCII digits only, no overflow.
fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// CrowdSec's `ParseDate` on `value`, with `str_time_format` tried first when not empty.
pub fn parse_date(value: &str, str_time_format: &str, now: DateTime<Utc>) -> ParsedDate {
    if !value.is_empty() {
        if !str_time_format.is_empty() {
            if let Some((marshaled, t)) = with_layout(value, str_time_format, &now) {
                return ParsedDate { marshaled, time: Some(t), source: DateSource::Layout };
            }
            tracing::debug!("failed to parse date {value:?} with format {str_time_format:?}");
        }
        for layout in DATE_LAYOUTS {
            if let Some((marshaled, t)) = with_layout(value, layout, &now) {
                return ParsedDate { marshaled, time: Some(t), source: DateSource::Layout };
            }
        }
        let secs = value.split('.').next().and_then(parse_int).filter(|&s| s > 0);
        if let Some(t) = secs.and_then(|s| Utc.timestamp_opt(s, 0).single()) {
            let t: DateTime<FixedOffset> = t.fixed_offset();
            // Format(RFC3339): whole seconds.
            let marshaled = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            return ParsedDate { marshaled, time: Some(t), source: DateSource::Epoch };
        }
    }
    tracing::debug!("no suitable date format found for {value:?}, falling back to now");
    ParsedDate { marshaled: format_rfc3339(&now.fixed_offset()), time: None, source: DateSource::Now }
}

/// The last date a thread parsed: the text, the format, the year "now" had, and the result.
type LastDate = (String, String, i32, ParsedDate);

thread_local! {
    static LAST_DATE: std::cell::RefCell<Option<LastDate>> = const { std::cell::RefCell::new(None) };
}

/// [`parse_date`], remembering the last result on this thread: log lines come in bursts that share their
/// timestamp text (in the benchmark logs, about 7 lines in 10 repeat the previous line's), and trying the layouts
/// in order costs hundreds of instructions per line. The result depends on the text, the format and, for year-less
/// layouts, the current year, which is all the cache compares; a text nothing parses (the "now" fallback) is not
/// kept, since its result is the clock.
pub fn parse_date_cached(value: &str, str_time_format: &str, now: DateTime<Utc>) -> ParsedDate {
    let year = now.year();
    let hit = LAST_DATE.with_borrow(|last| match last {
        Some((v, f, y, parsed)) if v == value && f == str_time_format && *y == year => Some(parsed.clone()),
        _ => None,
    });
    if let Some(parsed) = hit {
        return parsed;
    }
    let parsed = parse_date(value, str_time_format, now);
    if parsed.source != DateSource::Now {
        LAST_DATE.with_borrow_mut(|last| match last {
            Some((v, f, y, p)) => {
                v.clear();
                v.push_str(value);
                f.clear();
                f.push_str(str_time_format);
                *y = year;
                *p = parsed.clone();
            }
            None => *last = Some((value.to_string(), str_time_format.to_string(), year, parsed.clone())),
        });
    }
    parsed
}

/// The `ParseDate` method.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseDate;

impl Enricher for ParseDate {
    fn name(&self) -> &'static str {
        "ParseDate"
    }

    fn enrich(&self, input: &str, ctx: &EnrichContext<'_>) -> EnrichOutput {
        let parsed = parse_date_cached(input, ctx.str_time_format, ctx.clock.now());
        EnrichOutput {
            fields: vec![("MarshaledTime", parsed.marshaled)],
            // In live mode the event keeps its acquisition time.
            event_time: if ctx.time_machine { parsed.time } else { None },
            unmarshaled: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::enrich::FixedClock;

    fn now() -> DateTime<Utc> {
        "2026-07-15T10:00:00.5Z".parse().unwrap()
    }

    #[test]
    fn date_table() {
        // (StrTimeFormat, value, MarshaledTime)
        let cases = [
            ("", "2026-02-12T14:10:21Z", "2026-02-12T14:10:21Z"),
            ("", "2026-02-12T14:10:21.120+02:00", "2026-02-12T14:10:21.12+02:00"),
            ("", "02/Mar/2026:00:00:05 +0000", "2026-03-02T00:00:05Z"),
            ("", "02/Mar/2026:00:00:05 -0700", "2026-03-02T00:00:05-07:00"),
            ("", "Thu Feb 12 14:10:21 2026", "2026-02-12T14:10:21Z"),
            ("", "Thu Feb  5 14:10:21 2026", "2026-02-05T14:10:21Z"),
            ("", "12-Feb-2026 14:10:21 europe/paris", "2026-02-12T14:10:21Z"),
            ("", "02/12/2026 14:10:21", "2026-02-12T14:10:21Z"),
            ("", "2026-02-12 14:10:21.5 +0100 CET", "2026-02-12T14:10:21.5+01:00"),
            ("", "Feb 12 14:10:21", "2026-02-12T14:10:21Z"),
            ("", "Feb  2 04:10:21", "2026-02-02T04:10:21Z"),
            ("", "Feb 29 04:10:21", "2026-03-01T04:10:21Z"),
            ("", "Feb 12 14:10:21.123456", "2026-02-12T14:10:21.123456Z"),
            ("", "Thu Feb 05 14:10:21.123456 2026", "2026-02-05T14:10:21.123456Z"),
            ("", "2026/02/12", "2026-02-12T00:00:00Z"),
            ("", "2026/02/12 14:10", "2026-02-12T14:10:00Z"),
            ("", "2026-02-12", "2026-02-12T00:00:00Z"),
            ("", "2026-02-12 14:10", "2026-02-12T14:10:00Z"),
            ("", "2026/02/12 14:10:21", "2026-02-12T14:10:21Z"),
            ("", "2026-02-12 14:10:21", "2026-02-12T14:10:21Z"),
            ("", "2026-02-12 14:10:21,345", "2026-02-12T14:10:21.345Z"),
            ("", "2026-02-12T14:10:21", "2026-02-12T14:10:21Z"),
            ("", "1770905421", "2026-02-12T14:10:21Z"),
            ("", "1770905421.987", "2026-02-12T14:10:21Z"),
            ("", "+1770905421", "2026-02-12T14:10:21Z"),
            // StrTimeFormat first.
            ("2006-01-02 15:04:05,999999999", "2026-02-12 14:10:21,5", "2026-02-12T14:10:21.5Z"),
            ("060102 15:04:05", "260212 14:10:21", "2026-02-12T14:10:21Z"),
            ("01/02/2006, 3:04:05 PM", "02/12/2026, 2:10:21 PM", "2026-02-12T14:10:21Z"),
            ("Mon Jan _2 15:04:05 2006", "Thu Feb  5 14:10:21 2026", "2026-02-05T14:10:21Z"),
            // A wrong StrTimeFormat falls back to the fixed layouts.
            ("2006", "Feb 12 14:10:21", "2026-02-12T14:10:21Z"),
        ];
        for (fmt, value, want) in cases {
            let got = parse_date(value, fmt, now());
            assert_eq!(got.marshaled, want, "{fmt:?} {value:?}");
            assert!(got.time.is_some());
        }
    }

    #[test]
    fn unparsable_dates_fall_back_to_now() {
        for value in ["", "garbage", "0", "-5", "12abc", "Feb 30 14:10:21", "2026-02-12 14:10:21 extra", "0.5"] {
            let got = parse_date(value, "", now());
            assert_eq!(
                got,
                ParsedDate { marshaled: "2026-07-15T10:00:00.5Z".into(), time: None, source: DateSource::Now },
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_cache_gives_what_parsing_gives() {
        let next_year: DateTime<Utc> = "2027-01-01T00:00:01Z".parse().unwrap();
        // Repeats, a change of format, a year-less date across a change of year, and the "now" fallback.
        let calls = [
            ("Feb 12 14:10:21", "", now()),
            ("Feb 12 14:10:21", "", now()),
            ("Feb 12 14:10:21", "2006", now()),
            ("Feb 12 14:10:21", "", next_year),
            ("garbage", "", now()),
            ("garbage", "", next_year),
            ("260212 14:10:21", "060102 15:04:05", now()),
            ("260212 14:10:21", "", now()),
            ("Feb 12 14:10:21", "", next_year),
        ];
        for (value, fmt, at) in calls {
            assert_eq!(parse_date_cached(value, fmt, at), parse_date(value, fmt, at), "{value:?} {fmt:?} {at}");
        }
    }

    #[test]
    fn event_time_only_in_time_machine_mode() {
        let clock = FixedClock(now());
        let mut ctx = EnrichContext { clock: &clock, time_machine: false, str_time_format: "", line_raw: "" };
        let out = ParseDate.enrich("Feb 12 14:10:21", &ctx);
        assert_eq!(out.fields, vec![("MarshaledTime", "2026-02-12T14:10:21Z".to_string())]);
        assert_eq!(out.event_time, None);
        ctx.time_machine = true;
        let out = ParseDate.enrich("Feb 12 14:10:21", &ctx);
        assert_eq!(out.event_time, Some("2026-02-12T14:10:21Z".parse().unwrap()));
        // The fallback never sets the event time.
        assert_eq!(ParseDate.enrich("nope", &ctx).event_time, None);
    }
}
