//! Turning one received syslog message (RFC 3164 or RFC 5424) into the BSD line CrowdSec's parsers expect.
//!
//! CrowdSec's syslog datasource does not pass the message through: it parses it and rebuilds
//! `Jan 2 15:04:05 host app[pid]: msg` (Go layout `Jan 2 15:04:05`: the day is not padded), so that the hub's
//! s00 `syslog-logs` parser reads network syslog exactly like `/var/log/syslog`. Missing timestamp: now (UTC);
//! missing host: `unknownhost`; missing app: nothing; missing pid: no brackets. Structured data of RFC 5424 is
//! dropped, as CrowdSec does. With `disable_rfc_parser` only the `<PRI>` prefix is removed.
//!
//! What this module is not: framing or sockets.

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use syslog_loose::{IncompleteDate, Variant};

/// Why a message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Empty,
    /// Neither RFC 3164 nor RFC 5424.
    Unrecognized,
    /// `disable_rfc_parser`: no valid `<PRI>` prefix.
    BadPri,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Malformed::Empty => "empty message",
            Malformed::Unrecognized => "neither RFC 3164 nor RFC 5424",
            Malformed::BadPri => "missing or invalid <PRI>",
        })
    }
}

/// The BSD line for `msg` (bytes of one datagram or frame), or why it was rejected. `now` stands in for a missing
/// timestamp and gives the year of RFC 3164 dates.
pub fn rebuild(msg: &[u8], disable_rfc_parser: bool, now: DateTime<Utc>) -> Result<String, Malformed> {
    let text = String::from_utf8_lossy(msg);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    if text.trim().is_empty() {
        return Err(Malformed::Empty);
    }
    if disable_rfc_parser {
        return strip_pri(text).map(str::to_string);
    }
    let year = now.year();
    let this_month = now.month();
    // RFC 3164 dates have no year: the current one, except a December date received in January (last year's).
    let get_year = move |(month, _day, _h, _m, _s): IncompleteDate| {
        if month == 12 && this_month == 1 { year - 1 } else { year }
    };
    let parsed = syslog_loose::parse_message_with_year_exact(text, get_year, Variant::Either)
        .map_err(|_| Malformed::Unrecognized)?;
    let pid = parsed.procid.as_ref().map(|p| p.to_string());
    Ok(bsd_line(parsed.timestamp, parsed.hostname, parsed.appname, pid.as_deref(), parsed.msg, now))
}

/// `<PRI>` removed under CrowdSec's rules: `<`, one to three digits, `>`.
fn strip_pri(text: &str) -> Result<&str, Malformed> {
    let b = text.as_bytes();
    if b.len() < 3 || b[0] != b'<' {
        return Err(Malformed::BadPri);
    }
    let end = memchr::memchr(b'>', b).ok_or(Malformed::BadPri)?;
    if !(2..=4).contains(&end) || !b[1..end].iter().all(u8::is_ascii_digit) {
        return Err(Malformed::BadPri);
    }
    Ok(&text[end + 1..])
}

/// `Jan 2 15:04:05 host app[pid]: msg`.
pub fn bsd_line(
    ts: Option<DateTime<FixedOffset>>,
    host: Option<&str>,
    app: Option<&str>,
    pid: Option<&str>,
    msg: &str,
    now: DateTime<Utc>,
) -> String {
    let mut line = String::with_capacity(msg.len() + 48);
    use std::fmt::Write;
    let _ = match ts {
        Some(t) => write!(line, "{}", t.format("%b %-d %H:%M:%S")),
        None => write!(line, "{}", now.format("%b %-d %H:%M:%S")),
    };
    line.push(' ');
    line.push_str(host.filter(|h| !h.is_empty()).unwrap_or("unknownhost"));
    if let Some(app) = app.filter(|a| !a.is_empty()) {
        line.push(' ');
        line.push_str(app);
    }
    match pid.filter(|p| !p.is_empty()) {
        Some(p) => {
            line.push('[');
            line.push_str(p);
            line.push_str("]: ");
        }
        None => line.push_str(": "),
    }
    line.push_str(msg);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().unwrap_or_default()
    }

    fn rb(msg: &str) -> Result<String, Malformed> {
        rebuild(msg.as_bytes(), false, now())
    }

    #[test]
    fn rfc3164_is_rebuilt_in_bsd_form() {
        assert_eq!(
            rb("<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8\n"),
            Ok("Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8".to_string())
        );
        // Single-digit day: Go's "Jan 2" layout does not pad it.
        assert_eq!(
            rb("<13>Feb  5 17:32:18 host sshd: Invalid user x"),
            Ok("Feb 5 17:32:18 host sshd: Invalid user x".to_string())
        );
    }

    #[test]
    fn rfc5424_is_rebuilt_in_bsd_form_without_structured_data() {
        let m = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 4242 ID47 [exampleSDID@32473 iut=\"3\"] An application event";
        assert_eq!(rb(m), Ok("Oct 11 22:14:15 mymachine.example.com evntslog[4242]: An application event".to_string()));
        // Nil host, app and pid; the timestamp keeps its own offset.
        let m = "<13>1 2026-01-02T03:04:05+02:00 - - - - - hello";
        assert_eq!(rb(m), Ok("Jan 2 03:04:05 unknownhost: hello".to_string()));
    }

    #[test]
    fn missing_timestamp_uses_now() {
        assert_eq!(bsd_line(None, None, Some("app"), None, "m", now()), "Mar 4 05:06:07 unknownhost app: m");
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(rb(""), Err(Malformed::Empty));
        assert_eq!(rb("\n\0"), Err(Malformed::Empty));
        assert_eq!(rb("<999>1 not-a-date host app - - msg"), Err(Malformed::Unrecognized));
    }

    #[test]
    fn disable_rfc_parser_only_strips_pri() {
        assert_eq!(rebuild(b"<13>anything goes\n", true, now()), Ok("anything goes".to_string()));
        assert_eq!(rebuild(b"no pri", true, now()), Err(Malformed::BadPri));
        assert_eq!(rebuild(b"<1234>x", true, now()), Err(Malformed::BadPri));
        assert_eq!(rebuild(b"<a>x", true, now()), Err(Malformed::BadPri));
    }
}
