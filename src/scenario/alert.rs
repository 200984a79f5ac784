//! Turning an overflowing bucket into an alert, as CrowdSec does (spec §8): sources from the kept events
//! (Ip / Range / custom scope), the kept events with their key-sorted Meta, timestamps, the message.

use std::collections::BTreeMap;

use crate::event::{
    Alert, AlertEvent, Event, EventType, ExpectMode, MetaItem, RuntimeAlert, Source, Timestamp, format_rfc3339,
};
use crate::expr::{Scope, Services};
use crate::gocompat::duration::format_duration;
use crate::parser::whitelist::parse_ip;

use super::compile::Scenario;
use super::instance::{Instance, nanos};

/// Builds the overflow event of `inst`. `Err` when no valid source can be found (CrowdSec logs and sends nothing).
pub fn overflow_event(sc: &Scenario, inst: &Instance, services: &Services) -> Result<Event, String> {
    let first = inst.first_ts.unwrap_or_else(crate::event::zero_time);
    let ovflw = inst.ovflw_ts.or(inst.last_ts).unwrap_or(first);
    let last = inst.last_ts.unwrap_or(ovflw);

    let (sources, scope) = sources(sc, inst, services)?;
    let source_str = match sources.len() {
        0 => "UNKNOWN".to_string(),
        1 => sources.keys().next().cloned().unwrap_or_default(),
        n => format!("{n} sources"),
    };
    let message = format!(
        "{scope} {source_str} performed '{}' ({} events over {}) at {}",
        sc.name,
        inst.total_count,
        format_duration(nanos(&ovflw).saturating_sub(nanos(&first))),
        go_time_string(&last)
    );
    let events = inst
        .queue
        .iter()
        .filter(|e| e.kind == EventType::Log)
        .map(|e| AlertEvent {
            timestamp: if !e.marshaled_time.is_empty() {
                e.marshaled_time.to_string()
            } else {
                e.time.map(|t| format_rfc3339(&t)).unwrap_or_default()
            },
            meta: e.meta.iter().map(|(k, v)| MetaItem { key: k.to_string(), value: v.to_string() }).collect(),
            raw: e.line.raw.clone(),
        })
        .collect();
    let source_key = sources.keys().next().cloned().unwrap_or_default();
    let alert = Alert {
        scenario: sc.name.to_string(),
        scenario_hash: String::new(),
        scenario_version: sc.version.clone(),
        capacity: sc.capacity,
        leakspeed: format_duration(sc.leakspeed),
        events_count: inst.total_count,
        start_at: format_rfc3339(&first),
        stop_at: format_rfc3339(&ovflw),
        simulated: false,
        remediation: sc.remediation,
        message: message.clone(),
        kind: "crowdsec".into(),
        source: sources.get(&source_key).cloned(),
        events,
        meta: Vec::new(),
        labels: sc.labels.clone(),
        severity: sc.severity,
        summary: message,
        audit: None,
    };
    let mut ovf = RuntimeAlert {
        mapkey: format!("{}/{}", sc.name, inst.key),
        bucket_id: format!("{:016x}", inst.id),
        whitelisted: false,
        reprocess: sc.reprocess,
        sources,
        alert,
        source_key,
    };
    render_texts(sc, &mut ovf);
    let mut evt = Event::overflow_event(ovf);
    evt.expect_mode = match inst.mode {
        // Replays stay on log time so they are deterministic (CrowdSec switches to live here; see `docs/design.md`,
        // "Overflow events stay on log time in replay").
        ExpectMode::TimeMachine => ExpectMode::TimeMachine,
        ExpectMode::Live => ExpectMode::Live,
    };
    evt.marshaled_time = format_rfc3339(&ovflw).into();
    evt.time = Some(ovflw);
    Ok(evt)
}

/// Renders the scenario's `summary:` and `message:` templates into the alert. Both default to CrowdSec's message
/// (already in place); a template that fails at run time keeps that default, with a rate-limited warning, so a
/// hostile event can never cost an alert. The message template sees the rendered summary.
fn render_texts(sc: &Scenario, ovf: &mut RuntimeAlert) {
    if sc.summary.is_none() && sc.message.is_none() {
        return;
    }
    let mut ctx = crate::output::render::runtime_alert_json(ovf);
    if let Some(t) = &sc.summary {
        match t.render(&ctx) {
            Ok(text) => {
                ctx["summary"] = serde_json::Value::String(text.clone());
                ovf.alert.summary = text;
            }
            Err(e) => {
                sc.stats.error();
                crate::warn_limited!(scenario = %sc.name, "summary template failed, default kept: {e}")
            }
        }
    }
    if let Some(t) = &sc.message {
        match t.render(&ctx) {
            Ok(text) => ovf.alert.message = text,
            Err(e) => {
                sc.stats.error();
                crate::warn_limited!(scenario = %sc.name, "message template failed, default kept: {e}")
            }
        }
    }
}

/// The sources of the kept events; all must share one scope.
fn sources(sc: &Scenario, inst: &Instance, services: &Services) -> Result<(BTreeMap<String, Source>, String), String> {
    let mut out = BTreeMap::new();
    let mut scope_seen: Option<String> = None;
    for e in &inst.queue {
        let found = match e.kind {
            EventType::Overflow => overflow_sources(sc, e, services)?,
            EventType::Log => log_sources(sc, e, services)?,
        };
        for (k, src) in found {
            match &scope_seen {
                None => scope_seen = Some(src.scope.clone()),
                Some(s) if *s != src.scope => {
                    return Err(format!("event has multiple source types: {} != {s}", src.scope));
                }
                _ => {}
            }
            out.insert(k, src);
        }
    }
    Ok((out, scope_seen.unwrap_or_default()))
}

fn eval_scope(sc: &Scenario, evt: &Event, services: &Services) -> Result<Option<String>, String> {
    let Some(p) = &sc.scope.expr else { return Ok(None) };
    let mut scope = Scope::new(services).with_evt(evt);
    let v = p.eval(&mut scope).map_err(|e| format!("while running scope filter: {e}"))?;
    Ok(Some(v.as_str().map(str::to_string).unwrap_or_default()))
}

fn log_sources(sc: &Scenario, evt: &Event, services: &Services) -> Result<Vec<(String, Source)>, String> {
    match sc.scope.kind.as_str() {
        "Ip" | "Range" => {
            let Some(ip) = evt.meta.get("source_ip") else {
                return Err(format!("scope is {} but Meta[source_ip] doesn't exist", sc.scope.kind));
            };
            if parse_ip(ip).is_none() {
                return Err(format!("scope is {} but '{ip}' isn't a valid ip", sc.scope.kind));
            }
            let en = |k: &str| evt.enriched.get(k).map(str::to_string);
            let mut src = Source {
                ip: ip.to_string(),
                scope: sc.scope.kind.clone(),
                as_number: en("ASNumber").or_else(|| en("ASNNumber")).unwrap_or_default(),
                cn: en("IsoCode").unwrap_or_default(),
                as_name: en("ASNOrg").unwrap_or_default(),
                latitude: en("Latitude").and_then(|v| v.parse::<f32>().ok()).unwrap_or(0.0) as f64,
                longitude: en("Longitude").and_then(|v| v.parse::<f32>().ok()).unwrap_or(0.0) as f64,
                ..Source::default()
            };
            if let Some(r) = evt.meta.get("SourceRange").filter(|r| !r.is_empty()) {
                let net: ipnet::IpNet = r.parse().map_err(|_| format!("declared range {r} of {ip} can't be parsed"))?;
                src.range = net.trunc().to_string();
            }
            src.value = if sc.scope.kind == "Ip" { src.ip.clone() } else { src.range.clone() };
            if sc.scope.kind == "Range"
                && let Some(v) = eval_scope(sc, evt, services)?
            {
                src.value = v;
            }
            Ok(vec![(src.value.clone(), src)])
        }
        other => {
            let value = eval_scope(sc, evt, services)?.ok_or("empty scope information")?;
            let src = Source { scope: other.to_string(), value: value.clone(), ..Source::default() };
            Ok(vec![(value, src)])
        }
    }
}

/// Overflows poured into a scenario (`reprocess` chains): their sources, converted to this scenario's scope.
fn overflow_sources(sc: &Scenario, evt: &Event, services: &Services) -> Result<Vec<(String, Source)>, String> {
    let Some(ovf) = evt.overflow() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (k, v) in &ovf.sources {
        if v.scope == sc.scope.kind {
            out.push((k.clone(), v.clone()));
            continue;
        }
        if sc.scope.kind == "Range" {
            if v.scope != "Ip" {
                crate::warn_limited!(scenario = %sc.name, "scope Range can't be derived from {} ({})", v.scope, v.value);
                continue;
            }
            let mut src = Source { scope: "Range".into(), value: v.range.clone(), ..v.clone() };
            src.ip = String::new();
            if let Some(val) = eval_scope(sc, evt, services)? {
                src.value = val;
            }
            if src.value.is_empty() {
                crate::warn_limited!(scenario = %sc.name, "scope Range required, but {} has no range", v.value);
            } else {
                out.push((src.value.clone(), src));
            }
        }
    }
    Ok(out)
}

/// Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST` (UTC reads `+0000 UTC`).
pub fn go_time_string(t: &Timestamp) -> String {
    let offset = t.offset().local_minus_utc();
    let frac = t.timestamp_subsec_nanos();
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = if frac == 0 { String::new() } else { format!(".{:09}", frac).trim_end_matches('0').to_string() };
    let sign = if offset < 0 { '-' } else { '+' };
    let o = offset.abs();
    let num = format!("{sign}{:02}{:02}", o / 3600, (o % 3600) / 60);
    let name = if offset == 0 { "UTC".to_string() } else { num.clone() };
    format!("{base}{frac} {num} {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_strings() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-02-12T14:10:21Z").unwrap();
        assert_eq!(go_time_string(&t), "2026-02-12 14:10:21 +0000 UTC");
        let t = chrono::DateTime::parse_from_rfc3339("2026-02-12T14:10:21.5+02:00").unwrap();
        assert_eq!(go_time_string(&t), "2026-02-12 14:10:21.5 +0200 +0200");
    }

    fn compile(yaml: &str) -> (Option<Scenario>, String) {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("sc.yaml");
        std::fs::write(&f, yaml).unwrap();
        let docs = super::super::spec::read_scenario_file(&f).unwrap();
        let mut errors = crate::config::yaml::ConfigErrors::default();
        let mut warnings = Vec::new();
        let mut c = super::super::compile::ScenarioCompiler {
            services: std::sync::Arc::new(Services::new()),
            data_dir: d.path(),
            errors: &mut errors,
            warnings: &mut warnings,
        };
        let sc = c.compile(&f, &docs[0]);
        (sc, errors.to_string())
    }

    const HEAD: &str = "type: trigger\nname: t/x\ndescription: d\nfilter: \"true\"\n";

    fn runtime_alert() -> RuntimeAlert {
        let src = Source { ip: "1.2.3.4".into(), scope: "Ip".into(), value: "1.2.3.4".into(), ..Source::default() };
        let mut ovf = RuntimeAlert { source_key: "1.2.3.4".into(), ..RuntimeAlert::default() };
        ovf.sources.insert("1.2.3.4".into(), src.clone());
        ovf.alert.source = Some(src);
        ovf.alert.events = vec![AlertEvent {
            meta: vec![MetaItem { key: "user".into(), value: "r<o>ot".into() }],
            ..AlertEvent::default()
        }];
        ovf.alert.message = "Ip 1.2.3.4 performed 't/x'".into();
        ovf.alert.summary = ovf.alert.message.clone();
        ovf
    }

    #[test]
    fn summary_and_message_templates_render_into_the_alert() {
        let (sc, e) = compile(&format!(
            "{HEAD}summary: \"Brute force from {{{{ source_ip }}}} as {{{{ events[0].meta.user }}}}\"\n\
             message: |\n  {{{{ summary }}}}.\n  {{{{ events | length }}}} event(s)\n"
        ));
        let sc = sc.unwrap_or_else(|| panic!("{e}"));
        let mut ovf = runtime_alert();
        render_texts(&sc, &mut ovf);
        assert_eq!(ovf.alert.summary, "Brute force from 1.2.3.4 as r<o>ot");
        assert_eq!(ovf.alert.message, "Brute force from 1.2.3.4 as r<o>ot.\n1 event(s)");
    }

    #[test]
    fn labels_fallback_and_failing_templates_keep_the_default() {
        let (sc, e) = compile(&format!(
            "{HEAD}labels:\n  summary: \"{{% for i in range(1000) %}}{{% for j in range(1000) %}}{{% endfor %}}{{% endfor %}}\"\n  \
             message: \"from {{{{ value }}}}\"\n"
        ));
        let sc = sc.unwrap_or_else(|| panic!("{e}"));
        let mut ovf = runtime_alert();
        render_texts(&sc, &mut ovf);
        assert_eq!(ovf.alert.summary, "Ip 1.2.3.4 performed 't/x'", "fuel exhausted: default kept");
        assert_eq!(ovf.alert.message, "from 1.2.3.4");
    }

    #[test]
    fn template_syntax_errors_name_the_file_line() {
        let (sc, e) = compile(&format!("{HEAD}summary: \"{{{{ source_ip \"\nmessage: |\n  ok\n  {{% if %}}\n"));
        assert!(sc.is_none());
        assert!(e.contains("sc.yaml:5: scenario t/x: summary template: syntax error"), "{e}");
        assert!(e.contains("sc.yaml:8: scenario t/x: message template: syntax error"), "{e}");
    }
}
