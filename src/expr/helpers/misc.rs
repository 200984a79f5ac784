//! Miscellaneous helpers: stash access, decision counts (0 without a store), `Hostname`, `FloatApproxEqual`,
//! `Flatten`/`Distinct`, `Distance`, and the network helpers that stay disabled unless a policy enables them.

use super::super::Scope;
use super::super::builtins::{arg_str, flatten_value, uniq_values};
use super::super::value::Value;

type Res<'a> = Result<Value<'a>, String>;

/// `GetFromStash(cache, key)`: the value, or `""` when the key is missing or expired. CrowdSec's `cache.GetKey`
/// returns `("", nil)` for a missing key (the hub relies on it: `GetFromStash(..) != '' && ...`) and for an unknown
/// cache (with a warning).
pub fn get_from_stash<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let cache = arg_str(&a, 0, "GetFromStash")?;
    let key = arg_str(&a, 1, "GetFromStash")?;
    if !cx.services.stash.is_configured(cache) {
        tracing::warn!("GetFromStash: cache {cache:?} not found");
        return Ok(Value::str(""));
    }
    Ok(cx.services.stash.get(cache, key, cx.services.now()).map(Value::string).unwrap_or(Value::str("")))
}

pub fn set_in_stash<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let cache = arg_str(&a, 0, "SetInStash")?;
    let key = arg_str(&a, 1, "SetInStash")?;
    let value = arg_str(&a, 2, "SetInStash")?;
    let ttl = match a.get(3) {
        None | Some(Value::Nil) => None,
        Some(Value::Duration(d)) => Some(*d),
        Some(Value::Str(s)) => Some(crate::gocompat::duration::parse_duration(s)?),
        Some(other) => return Err(format!("SetInStash: invalid ttl of type {}", other.type_name())),
    };
    // CrowdSec's SetKey ignores an unknown cache.
    if let Err(e) = cx.services.stash.set_with_ttl(cache, key, value, ttl, cx.services.now()) {
        tracing::warn!("SetInStash: {e}");
    }
    Ok(Value::Nil)
}

pub fn decisions_count<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let v = arg_str(&a, 0, "GetDecisionsCount")?;
    Ok(Value::Int(cx.services.decisions.as_ref().map(|d| d.decisions_count(v)).unwrap_or(0)))
}

pub fn decisions_since_count<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let v = arg_str(&a, 0, "GetDecisionsSinceCount")?;
    let since = arg_str(&a, 1, "GetDecisionsSinceCount")?;
    let (Some(hook), Ok(since)) =
        (cx.services.decisions.as_ref(), crate::gocompat::duration::parse_duration_with_days(since))
    else {
        return Ok(Value::Int(0));
    };
    Ok(Value::Int(hook.decisions_since_count(v, since)))
}

pub fn active_decisions_count<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let v = arg_str(&a, 0, "GetActiveDecisionsCount")?;
    Ok(Value::Int(cx.services.decisions.as_ref().map(|d| d.active_decisions_count(v)).unwrap_or(0)))
}

pub fn active_decisions_time_left<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let v = arg_str(&a, 0, "GetActiveDecisionsTimeLeft")?;
    // Without a database CrowdSec returns the integer 0, with one a duration.
    Ok(match cx.services.decisions.as_ref() {
        Some(d) => Value::Duration(d.active_decisions_time_left(v)),
        None => Value::Int(0),
    })
}

pub fn hostname<'a>(_: &mut Scope<'a>, _: Vec<Value<'a>>) -> Res<'a> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .map_err(|_| "Hostname: cannot determine the host name".to_string())?;
    Ok(Value::string(h))
}

pub fn float_approx_equal<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (Some(x), Some(y)) = (a[0].as_f64(), a[1].as_f64()) else {
        return Err("FloatApproxEqual: expected two numbers".to_string());
    };
    Ok(Value::Bool((x - y).abs() < 1e-6))
}

pub fn flatten<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::from(flatten_value(Value::from(a))?))
}

pub fn distinct<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    if a[0].is_nil() {
        return Ok(Value::array([]));
    }
    let items = a[0].to_list().map_err(|e| format!("Distinct: {e}"))?.into_owned();
    Ok(Value::from(uniq_values(items)))
}

pub fn flatten_distinct<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::from(uniq_values(flatten_value(Value::from(a))?)))
}

fn coord(v: &Value<'_>, f: &str) -> Result<f64, String> {
    match v {
        Value::Str(s) => s.trim().parse::<f64>().map_err(|_| format!("{f}: invalid coordinate {s:?}")),
        other => other.as_f64().ok_or_else(|| format!("{f}: invalid coordinate of type {}", other.type_name())),
    }
}

/// `Distance(lat1, lon1, lat2, lon2)`: great-circle distance in km; 0 when either point is (0, 0).
pub fn distance<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let lat1 = coord(&a[0], "Distance")?;
    let lon1 = coord(&a[1], "Distance")?;
    let lat2 = coord(&a[2], "Distance")?;
    let lon2 = coord(&a[3], "Distance")?;
    if (lat1 == 0.0 && lon1 == 0.0) || (lat2 == 0.0 && lon2 == 0.0) {
        return Ok(Value::Float(0.0));
    }
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    Ok(Value::Float(2.0 * 6371.0 * h.sqrt().asin()))
}

/// HTTP and CTI helpers: refused unless the network is enabled; even then Correlator has no HTTP client.
pub fn network_unsupported<'a>(cx: &mut Scope<'a>, _: Vec<Value<'a>>) -> Res<'a> {
    if !cx.services.network.enabled {
        return Err("network helpers are disabled".to_string());
    }
    Err("this network helper is not supported by Correlator (no HTTP client)".to_string())
}
