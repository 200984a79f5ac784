//! IP helpers: `IpInRange`, `IpToRange`, `IsIP`, `IsIPV4`, `IsIPV6` (Go `net` semantics: an IPv4-mapped IPv6
//! address counts as IPv4), and `LookupHost` when the network is enabled.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;

use ipnet::IpNet;

use super::super::Scope;
use super::super::builtins::arg_str;
use super::super::value::Value;

type Res<'a> = Result<Value<'a>, String>;

/// Go `net.ParseIP`: dotted IPv4 or IPv6 (zones are not accepted).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.contains('%') {
        return None;
    }
    s.parse::<IpAddr>().ok()
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub fn ip_in_range<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let ip = arg_str(&a, 0, "IpInRange")?;
    let cidr = arg_str(&a, 1, "IpInRange")?;
    let (Some(ip), Ok(net)) = (parse_ip(ip), cidr.parse::<IpNet>()) else {
        return Ok(Value::Bool(false));
    };
    let ip = canonical(ip);
    Ok(Value::Bool(match (net, ip) {
        (IpNet::V4(n), IpAddr::V4(i)) => n.contains(&i),
        (IpNet::V6(n), IpAddr::V6(i)) => n.contains(&i),
        // Go's IPNet.Contains: an IPv4 address (also IPv4-mapped) is never in an IPv6 network.
        _ => false,
    }))
}

pub fn ip_to_range<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let ip = arg_str(&a, 0, "IpToRange")?;
    let mask = arg_str(&a, 1, "IpToRange")?;
    let Ok(bits) = mask.trim_start_matches('/').parse::<u8>() else {
        tracing::error!("IpToRange: invalid mask {mask:?}");
        return Ok(Value::str(""));
    };
    let Some(ip) = parse_ip(ip) else {
        tracing::error!("IpToRange: invalid IP {ip:?}");
        return Ok(Value::str(""));
    };
    // Go's netip keeps an IPv4-mapped IPv6 address as IPv6 here.
    let net = match ip {
        IpAddr::V4(v4) => ipnet::Ipv4Net::new(v4, bits).map(|n| IpNet::V4(n.trunc())),
        IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, bits).map(|n| IpNet::V6(n.trunc())),
    };
    Ok(match net {
        Ok(n) => Value::string(n.to_string()),
        Err(_) => {
            tracing::error!("IpToRange: mask {mask:?} too long for {ip}");
            Value::str("")
        }
    })
}

pub fn is_ip<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Bool(parse_ip(arg_str(&a, 0, "IsIP")?).is_some()))
}

pub fn is_ipv4<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Bool(parse_ip(arg_str(&a, 0, "IsIPV4")?).map(canonical).is_some_and(|i| i.is_ipv4())))
}

pub fn is_ipv6<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Bool(parse_ip(arg_str(&a, 0, "IsIPV6")?).map(canonical).is_some_and(|i| i.is_ipv6())))
}

/// `LookupHost(name)`: DNS resolution, only when `Services.network.enabled`, bounded by its timeout.
pub fn lookup_host<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let policy = cx.services.network;
    if !policy.enabled {
        return Err("network helpers are disabled".to_string());
    }
    let host = arg_str(&a, 0, "LookupHost")?.to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = (host.as_str(), 0u16).to_socket_addrs().map(|it| it.map(|s| s.ip().to_string()).collect::<Vec<_>>());
        let _ = tx.send(r);
    });
    // Like CrowdSec, a failed lookup is logged and gives an empty list.
    match rx.recv_timeout(policy.timeout) {
        Ok(Ok(mut ips)) => {
            ips.dedup();
            Ok(Value::array(ips.into_iter().map(Value::string)))
        }
        Ok(Err(e)) => {
            tracing::error!("Failed to lookup host: {e}");
            Ok(Value::array([]))
        }
        Err(_) => {
            tracing::error!("Failed to lookup host: timed out after {:?}", policy.timeout);
            Ok(Value::array([]))
        }
    }
}
