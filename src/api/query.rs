//! Query strings of the local API → store filters, with CrowdSec's parameter names and defaults.

use crate::gocompat::duration::parse_duration_with_days;
use crate::store::{AlertFilter, DecisionFilter, IpInterval, Nanos};

fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn boolean(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" => Ok(true),
        "false" | "0" | "f" | "" => Ok(false),
        _ => Err(format!("invalid {key} value: {v:?}")),
    }
}

fn interval(v: &str) -> Result<IpInterval, String> {
    IpInterval::parse(v).ok_or_else(|| format!("unable to convert '{v}' to int: not an IP address or range"))
}

/// How strictly unknown parameters are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// Ignored (bouncer queries: clients add their own parameters).
    Ignore,
    /// An error (deletions: a typo must not widen what is deleted).
    Reject,
}

/// `GET /v1/decisions`, `GET /v1/decisions/stream`, `DELETE /v1/decisions` parameters.
pub fn decision_filter(params: &[(String, String)], unknown: Unknown) -> Result<DecisionFilter, String> {
    let mut f = DecisionFilter::default();
    let mut contains = true;
    let mut iv = None;
    for (k, v) in params {
        match k.as_str() {
            "scope" | "scopes" => f.scopes.extend(list(v)),
            "value" => f.value = Some(v.clone()),
            "type" => f.kind = Some(v.clone()),
            "ip" | "range" => iv = Some(interval(v)?),
            "contains" => contains = boolean(k, v)?,
            "origins" | "origin" => f.origins.extend(list(v)),
            "scenario" => f.scenario = Some(v.clone()),
            "scenarios_containing" => f.scenarios_containing.extend(list(v)),
            "scenarios_not_containing" => f.scenarios_not_containing.extend(list(v)),
            "simulated" => f.include_simulated = boolean(k, v)?,
            "startup" | "dedup" | "community_pull" | "additional_pull" => {}
            _ if unknown == Unknown::Ignore => {}
            _ => return Err(format!("'{k}' doesn't exist")),
        }
    }
    f.interval = iv.map(|i| (i, contains));
    Ok(f)
}

/// `GET /v1/alerts` parameters. `since`/`until` are durations back from `now` (`since=1h`: the last hour).
pub fn alert_filter(params: &[(String, String)], now: Nanos) -> Result<AlertFilter, String> {
    let mut f = AlertFilter::default();
    let mut contains = true;
    let mut iv = None;
    let ago = |k: &str, v: &str| -> Result<Nanos, String> {
        parse_duration_with_days(v).map(|d| now.saturating_sub(d)).map_err(|e| format!("{k}: {e}"))
    };
    for (k, v) in params {
        match k.as_str() {
            "scope" => f.scope = Some(v.clone()),
            "value" => f.value = Some(v.clone()),
            "scenario" => f.scenario = Some(v.clone()),
            "ip" | "range" => iv = Some(interval(v)?),
            "contains" => contains = boolean(k, v)?,
            "since" => f.since = Some(ago(k, v)?),
            "until" => f.until = Some(ago(k, v)?),
            "simulated" => f.include_simulated = boolean(k, v)?,
            "has_active_decision" => f.has_active_decision = Some(boolean(k, v)?),
            "decision_type" => f.decision_type = Some(v.clone()),
            "origin" => f.origin = Some(v.clone()),
            "limit" => {
                let n: usize = v.parse().map_err(|_| format!("invalid limit {v:?}"))?;
                f.limit = (n > 0).then_some(n);
            }
            _ => {}
        }
    }
    f.interval = iv.map(|i| (i, contains));
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn decision_parameters() {
        let f = decision_filter(&p(&[("ip", "192.0.2.1"), ("type", "ban"), ("foo", "x")]), Unknown::Ignore).unwrap();
        assert_eq!(f.interval.map(|(_, c)| c), Some(true));
        assert_eq!(f.kind.as_deref(), Some("ban"));
        let f = decision_filter(&p(&[("range", "192.0.2.0/24"), ("contains", "false")]), Unknown::Ignore).unwrap();
        assert_eq!(f.interval.map(|(_, c)| c), Some(false));
        let f = decision_filter(&p(&[("scopes", "ip,range"), ("origins", "crowdsec,cscli")]), Unknown::Ignore).unwrap();
        assert_eq!(f.scopes, ["ip", "range"]);
        assert_eq!(f.origins, ["crowdsec", "cscli"]);
        assert!(decision_filter(&p(&[("ip", "nope")]), Unknown::Ignore).is_err());
        assert!(decision_filter(&p(&[("vaule", "x")]), Unknown::Reject).is_err());
    }

    #[test]
    fn alert_parameters() {
        let now = 10 * 3_600_000_000_000;
        let f = alert_filter(&p(&[("since", "1h"), ("has_active_decision", "true"), ("limit", "5")]), now).unwrap();
        assert_eq!(f.since, Some(9 * 3_600_000_000_000));
        assert_eq!(f.has_active_decision, Some(true));
        assert_eq!(f.limit, Some(5));
        assert!(alert_filter(&p(&[("since", "soon")]), now).is_err());
    }
}
