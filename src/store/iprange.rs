//! IP addresses and CIDR ranges as ordered integer intervals, so "which decisions contain this address" is an indexed
//! range comparison in SQL (CrowdSec's `Addr2Ints`, with our own encoding).
//!
//! An address is a 128-bit number split into two halves (`hi`, `lo`); IPv4 uses `hi = 0`. Each half is stored as a
//! SQLite `INTEGER` (signed 64-bit) with its top bit flipped, which keeps the unsigned order. `size` (4 or 16)
//! keeps the two families apart.

use std::net::IpAddr;

use ipnet::IpNet;

/// An inclusive interval of addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInterval {
    pub size: i64,
    pub start: (i64, i64),
    pub end: (i64, i64),
}

fn ordered(u: u64) -> i64 {
    (u ^ (1 << 63)) as i64
}

fn split(v: u128) -> (i64, i64) {
    (ordered((v >> 64) as u64), ordered(v as u64))
}

fn as_u128(ip: IpAddr) -> (i64, u128) {
    match ip {
        IpAddr::V4(a) => (4, u32::from(a) as u128),
        IpAddr::V6(a) => (16, u128::from(a)),
    }
}

impl IpInterval {
    /// A single address.
    pub fn address(ip: IpAddr) -> IpInterval {
        let (size, v) = as_u128(ip);
        IpInterval { size, start: split(v), end: split(v) }
    }

    /// A network: its first to its last address.
    pub fn network(net: IpNet) -> IpInterval {
        let (size, first) = as_u128(net.network());
        let (_, last) = as_u128(net.broadcast());
        IpInterval { size, start: split(first), end: split(last) }
    }

    /// Parses an address (`192.0.2.1`, `2001:db8::1`) or a CIDR (`192.0.2.0/24`; host bits are ignored, as Go's
    /// `net.ParseCIDR` does).
    pub fn parse(s: &str) -> Option<IpInterval> {
        let s = s.trim();
        if s.contains('/') {
            s.parse::<IpNet>().ok().map(|n| IpInterval::network(n.trunc()))
        } else {
            s.parse::<IpAddr>().ok().map(IpInterval::address)
        }
    }

    /// True when `other` lies within `self`.
    pub fn contains(&self, other: &IpInterval) -> bool {
        self.size == other.size && self.start <= other.start && self.end >= other.end
    }
}

/// The interval a decision covers, for the scopes that name addresses (`Ip`, `Range`); `None` for other scopes or
/// a value that does not parse.
pub fn decision_interval(scope: &str, value: &str) -> Option<IpInterval> {
    match scope {
        "Ip" if !value.contains('/') => IpInterval::parse(value),
        "Range" if value.contains('/') => IpInterval::parse(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_contain_their_addresses_and_keep_families_apart() {
        let net = IpInterval::parse("192.0.2.0/24").unwrap();
        assert!(net.contains(&IpInterval::parse("192.0.2.0").unwrap()));
        assert!(net.contains(&IpInterval::parse("192.0.2.255").unwrap()));
        assert!(!net.contains(&IpInterval::parse("192.0.3.0").unwrap()));
        assert!(!net.contains(&IpInterval::parse("192.0.1.255").unwrap()));
        assert!(net.contains(&IpInterval::parse("192.0.2.128/25").unwrap()));
        assert!(!IpInterval::parse("192.0.2.128/25").unwrap().contains(&net));
        assert!(!net.contains(&IpInterval::parse("::ffff:192.0.2.1").unwrap()));
        // Host bits of a CIDR are ignored.
        assert_eq!(IpInterval::parse("192.0.2.77/24"), Some(net));
    }

    #[test]
    fn ipv6_order_holds_across_the_sign_bit() {
        let net = IpInterval::parse("8000::/1").unwrap();
        assert!(net.contains(&IpInterval::parse("ffff::1").unwrap()));
        assert!(net.contains(&IpInterval::parse("8000::").unwrap()));
        assert!(!net.contains(&IpInterval::parse("7fff:ffff::").unwrap()));
        let low = IpInterval::parse("2001:db8::/32").unwrap();
        assert!(low.contains(&IpInterval::parse("2001:db8:ffff::1").unwrap()));
        assert!(!low.contains(&IpInterval::parse("2001:db9::").unwrap()));
        let all = IpInterval::parse("::/0").unwrap();
        assert!(all.contains(&IpInterval::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").unwrap()));
        assert!(all.contains(&IpInterval::parse("::").unwrap()));
    }

    #[test]
    fn decision_scopes_decide_what_is_an_interval() {
        assert!(decision_interval("Ip", "192.0.2.1").is_some());
        assert!(decision_interval("Ip", "192.0.2.0/24").is_none());
        assert!(decision_interval("Range", "192.0.2.0/24").is_some());
        assert!(decision_interval("Range", "nope/24").is_none());
        assert!(decision_interval("Country", "FR").is_none());
        assert!(IpInterval::parse("not an ip").is_none());
    }
}
