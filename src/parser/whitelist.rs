//! Whitelists: a node that marks an event as not to be acted upon (spec §10).
//!
//! IPs and CIDRs are checked first, against `Meta.source_ip` for a log event or the source keys of an overflow;
//! then the expressions, in order, the first true one winning. A whitelisted log event is dropped before the
//! scenarios; a whitelisted overflow is not sent to listeners.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::event::{Event, EventType};
use crate::expr::Program;

use super::runtime::Runtime;

#[derive(Clone, Debug)]
pub struct Whitelist {
    pub reason: String,
    pub ips: Vec<IpAddr>,
    pub cidrs: Vec<IpNet>,
    pub exprs: Vec<Program>,
}

impl Whitelist {
    /// Checks the event and marks it when it matches. Returns whether it matched.
    pub fn check(&self, evt: &mut Event, rt: &Runtime) -> bool {
        let matched = self.matches_ip(evt) || self.matches_expr(evt, rt);
        if matched && !evt.whitelisted {
            evt.whitelisted = true;
            evt.extra_mut().whitelist_reason = self.reason.clone();
            if let Some(ovf) = evt.overflow_mut() {
                ovf.whitelisted = true;
            }
        }
        matched
    }

    fn matches_ip(&self, evt: &Event) -> bool {
        if self.ips.is_empty() && self.cidrs.is_empty() {
            return false;
        }
        let hit = |ip: IpAddr| self.ips.contains(&ip) || self.cidrs.iter().any(|n| n.contains(&ip));
        match evt.kind {
            EventType::Log => parse_ip(evt.meta.get_or_empty("source_ip")).is_some_and(hit),
            EventType::Overflow => {
                evt.overflow().is_some_and(|o| o.sources.keys().filter_map(|k| parse_ip(k)).any(hit))
            }
        }
    }

    fn matches_expr(&self, evt: &mut Event, rt: &Runtime) -> bool {
        for p in &self.exprs {
            match rt.eval_bool(p, evt) {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    // CrowdSec stops the check on a runtime error: not whitelisted.
                    super::runtime::ParserCounters::bump(&rt.counters.whitelist_errors);
                    crate::warn_limited!(expression = p.source(), "whitelist expression failed: {e}");
                    return false;
                }
            }
        }
        false
    }
}

/// Parses an IP the way Go's `net.ParseIP` accepts it (IPv4-mapped IPv6 counts as IPv4).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}

/// Parses a whitelist CIDR; a bare IP is a host network, as CrowdSec accepts it.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    parse_ip(s).map(IpNet::from).ok_or_else(|| format!("invalid CIDR {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forms() {
        assert_eq!(parse_ip("::ffff:10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_ip(" 2001:db8::1 "), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse_ip("nope"), None);
        assert!(parse_cidr("10.0.0.0/8").unwrap().contains(&"10.1.2.3".parse::<IpAddr>().unwrap()));
        assert!(parse_cidr("192.168.1.7/24").unwrap().contains(&"192.168.1.200".parse::<IpAddr>().unwrap()));
        assert!(parse_cidr("1.2.3.4").unwrap().contains(&"1.2.3.4".parse::<IpAddr>().unwrap()));
        assert!(parse_cidr("x/8").is_err());
    }
}
