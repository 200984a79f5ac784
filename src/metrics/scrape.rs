//! `correlator metrics`: reads a running daemon's `/metrics` and arranges the samples into the tables `cscli
//! metrics` users know (Acquisition, Parsers, Scenarios, Local API, Decisions, Alerts).
//!
//! Includes a small reader of the Prometheus / OpenMetrics text format (samples only; `# HELP`/`# TYPE` lines are
//! skipped) and a plain HTTP/1.1 GET, so the command needs no HTTP client library.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;

/// One sample: metric name (with `_total` for counters), labels, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the text exposition. Malformed lines are skipped (the daemon's own output has none).
pub fn parse_text(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let end;
        loop {
            // key
            while chars.peek().is_some_and(|(_, c)| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let &(start, c) = chars.peek()?;
            if c == '}' {
                end = start + 1;
                break;
            }
            let mut key_end = start;
            while let Some(&(i, c)) = chars.peek() {
                if c == '=' {
                    key_end = i;
                    break;
                }
                chars.next();
            }
            let key = r[start..key_end].trim().to_string();
            chars.next(); // '='
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
        }
        rest = &r[end..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

/// `GET http://addr/metrics`; the body as text.
pub fn fetch(addr: &str, path: &str, api_key: &str) -> Result<String, String> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(5))
        .map_err(|e| format!("cannot reach the daemon at {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: text/plain\r\nX-Api-Key: {api_key}\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("reading the answer: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP answer")?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{addr}{path}: {status}"));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    Ok(if chunked { dechunk(body) } else { body.to_string() })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A titled table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn sum_by(samples: &[Sample], name: &str, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    let mut m = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        let k: Vec<String> = keys.iter().map(|k| s.labels.get(*k).cloned().unwrap_or_default()).collect();
        *m.entry(k).or_insert(0.0) += s.value;
    }
    m
}

fn num(v: Option<&f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) if *v == 0.0 => "-".to_string(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v}"),
    }
}

/// Builds the `cscli metrics` tables from a scrape; tables without rows are left out.
pub fn tables(samples: &[Sample]) -> Vec<Table> {
    let mut out = Vec::new();
    let t = |title: &str, header: &[&str], rows: Vec<Vec<String>>| Table {
        title: title.to_string(),
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
    };

    // Acquisition: every cs_*source_hits_total, by source.
    let mut read: BTreeMap<Vec<String>, f64> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.starts_with("cs_") && s.name.ends_with("source_hits_total")) {
        *read.entry(vec![s.labels.get("source").cloned().unwrap_or_default()]).or_insert(0.0) += s.value;
    }
    let ok = sum_by(samples, "cs_parser_hits_ok_total", &["source"]);
    let ko = sum_by(samples, "cs_parser_hits_ko_total", &["source"]);
    let rows = read.iter().map(|(k, v)| vec![k[0].clone(), num(Some(v)), num(ok.get(k)), num(ko.get(k))]).collect();
    out.push(t("Acquisition", &["Source", "Lines read", "Lines parsed", "Lines unparsed"], rows));

    let hits = sum_by(samples, "cs_node_hits_total", &["name"]);
    let ok = sum_by(samples, "cs_node_hits_ok_total", &["name"]);
    let ko = sum_by(samples, "cs_node_hits_ko_total", &["name"]);
    let rows = hits
        .iter()
        .filter(|(_, v)| **v > 0.0)
        .map(|(k, v)| vec![k[0].clone(), num(Some(v)), num(ok.get(k)), num(ko.get(k))])
        .collect();
    out.push(t("Parsers", &["Parsers", "Hits", "Parsed", "Unparsed"], rows));

    let live = sum_by(samples, "cs_buckets", &["name"]);
    let ovf = sum_by(samples, "cs_bucket_overflowed_total", &["name"]);
    let inst = sum_by(samples, "cs_bucket_instantiation_total", &["name"]);
    let poured = sum_by(samples, "cs_bucket_poured_total", &["name"]);
    let under = sum_by(samples, "cs_bucket_underflowed_total", &["name"]);
    let rows = poured
        .iter()
        .filter(|(k, v)| **v > 0.0 || live.get(*k).is_some_and(|l| *l > 0.0))
        .map(|(k, v)| {
            vec![k[0].clone(), num(live.get(k)), num(ovf.get(k)), num(inst.get(k)), num(Some(v)), num(under.get(k))]
        })
        .collect();
    out.push(t("Scenarios", &["Scenario", "Current Count", "Overflows", "Instantiated", "Poured", "Expired"], rows));

    let routes = sum_by(samples, "cs_lapi_route_requests_total", &["route", "method"]);
    let rows = routes.iter().map(|(k, v)| vec![k[0].clone(), k[1].clone(), num(Some(v))]).collect();
    out.push(t("Local API", &["Route", "Method", "Hits"], rows));

    let b = sum_by(samples, "cs_lapi_bouncer_requests_total", &["bouncer", "route", "method"]);
    let rows = b.iter().map(|(k, v)| vec![k[0].clone(), k[1].clone(), k[2].clone(), num(Some(v))]).collect();
    out.push(t("Local API Bouncers", &["Bouncer", "Route", "Method", "Hits"], rows));

    let m = sum_by(samples, "cs_lapi_machine_requests_total", &["machine", "route", "method"]);
    let rows = m.iter().map(|(k, v)| vec![k[0].clone(), k[1].clone(), k[2].clone(), num(Some(v))]).collect();
    out.push(t("Local API Machines", &["Machine", "Route", "Method", "Hits"], rows));

    let ko = sum_by(samples, "cs_lapi_decisions_ko_total", &["bouncer"]);
    let okd = sum_by(samples, "cs_lapi_decisions_ok_total", &["bouncer"]);
    let mut keys: Vec<_> = ko.keys().chain(okd.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let rows = keys.iter().map(|k| vec![k[0].clone(), num(ko.get(k)), num(okd.get(k))]).collect();
    out.push(t("Local API Decisions", &["Bouncer", "Empty answers", "Non-empty answers"], rows));

    let d = sum_by(samples, "cs_active_decisions", &["reason", "origin", "action"]);
    let rows = d.iter().map(|(k, v)| vec![k[0].clone(), k[1].clone(), k[2].clone(), num(Some(v))]).collect();
    out.push(t("Decisions", &["Reason", "Origin", "Action", "Count"], rows));

    let a = sum_by(samples, "cs_alerts", &["reason"]);
    let rows = a.iter().map(|(k, v)| vec![k[0].clone(), num(Some(v))]).collect();
    out.push(t("Alerts", &["Reason", "Count"], rows));

    out.retain(|t| !t.rows.is_empty());
    out
}

/// Renders a table with box-drawing borders, as cscli does.
pub fn render_table(t: &Table) -> String {
    let width =
        |i: usize| t.rows.iter().map(|r| r[i].chars().count()).chain([t.header[i].chars().count()]).max().unwrap_or(0);
    let w: Vec<usize> = (0..t.header.len()).map(width).collect();
    let line = |l: char, m: char, r: char| {
        let mut s = String::new();
        s.push(l);
        for (i, wi) in w.iter().enumerate() {
            s.push_str(&"─".repeat(wi + 2));
            s.push(if i + 1 == w.len() { r } else { m });
        }
        s.push('\n');
        s
    };
    let row = |cells: &[String]| {
        let mut s = String::from("│");
        for (c, wi) in cells.iter().zip(&w) {
            s.push_str(&format!(" {c:<wi$} │"));
        }
        s.push('\n');
        s
    };
    let mut s = format!("{}:\n", t.title);
    s += &line('╭', '┬', '╮');
    s += &row(&t.header);
    s += &line('├', '┼', '┤');
    for r in &t.rows {
        s += &row(r);
    }
    s += &line('╰', '┴', '╯');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_with_escaped_labels() {
        let text = "# HELP x h\n# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"u\\\\o\\nte\"} 3\ny 2.5\nz{} 1e3\n# EOF\n";
        let s = parse_text(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(s[0].labels["b"], "q\"u\\o\nte");
        assert_eq!(s[1].value, 2.5);
        assert_eq!(s[2].value, 1000.0);
    }

    #[test]
    fn tables_group_like_cscli() {
        let text = r#"cs_filesource_hits_total{source="auth",datasource_type="file",acquis_type="syslog"} 10
cs_parser_hits_ok_total{source="auth",type="file",acquis_type="syslog"} 7
cs_parser_hits_ko_total{source="auth",type="file",acquis_type="syslog"} 3
cs_node_hits_total{name="sshd-logs",stage="s01-parse"} 7
cs_node_hits_ok_total{name="sshd-logs",stage="s01-parse"} 5
cs_bucket_poured_total{name="ssh-bf"} 5
cs_bucket_overflowed_total{name="ssh-bf"} 1
cs_buckets{name="ssh-bf"} 0
cs_bucket_poured_total{name="idle"} 0
cs_active_decisions{reason="ssh-bf",origin="crowdsec",action="ban"} 1
"#;
        let t = tables(&parse_text(text));
        let titles: Vec<_> = t.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles, ["Acquisition", "Parsers", "Scenarios", "Decisions"]);
        assert_eq!(t[0].rows, [vec!["auth", "10", "7", "3"]]);
        assert_eq!(t[1].rows, [vec!["sshd-logs", "7", "5", "-"]]);
        assert_eq!(t[2].rows, [vec!["ssh-bf", "-", "1", "-", "5", "-"]]);
        let r = render_table(&t[3]);
        assert!(r.contains("│ ssh-bf │ crowdsec │ ban    │ 1     │"), "{r}");
    }

    #[test]
    fn dechunks() {
        assert_eq!(dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world");
    }
}
