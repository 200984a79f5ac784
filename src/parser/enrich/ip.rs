//! `IpToRange` (the enricher: the ASN database's network holding the IP, as `SourceRange`) and the prefix helper
//! behind CrowdSec's `IpToRange(ip, "/64")` expression function.
//!
//! What this module is not: database handling lives in `geoip`.

use std::net::IpAddr;

use super::geoip::GeoIp;
use super::{EnrichContext, EnrichOutput, Enricher};

/// The `IpToRange` method: `SourceRange` = CIDR of the record containing the IP in `GeoLite2-ASN.mmdb`; nothing
/// when the database is missing, the IP is not in it, or the input is not an IP.
pub struct IpToRangeEnricher(pub GeoIp);

impl Enricher for IpToRangeEnricher {
    fn name(&self) -> &'static str {
        "IpToRange"
    }

    fn enrich(&self, input: &str, _ctx: &EnrichContext<'_>) -> EnrichOutput {
        let fields = match self.0.asn_network(input) {
            Some(range) => vec![("SourceRange", range)],
            None => Vec::new(),
        };
        EnrichOutput { fields, ..EnrichOutput::default() }
    }
}

/// The network of `ip` with a `mask` written `/N` or `N` (CrowdSec's `IpToRange(ip, mask)` helper):
/// `IpToRange("2001:db8:85a3::8a2e:370:7334", "/64")` = `2001:db8:85a3::/64`. `None` for a bad IP or mask (the
/// helper then returns `""`). A mask larger than the address family allows is an error too.
pub fn ip_to_range(ip: &str, mask: &str) -> Option<String> {
    let bits: u8 = mask.replacen('/', "", 1).parse().ok()?;
    let addr: IpAddr = ip.parse().ok()?;
    Some(format!("{}/{bits}", network(addr, bits)?))
}

/// `addr` with every bit past the first `bits` cleared; `None` when `bits` exceeds the address length.
pub fn network(addr: IpAddr, bits: u8) -> Option<IpAddr> {
    let bits = u32::from(bits);
    match addr {
        IpAddr::V4(v4) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Some(IpAddr::V4((u32::from(v4) & mask).into()))
        }
        IpAddr::V6(v6) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Some(IpAddr::V6((u128::from(v6) & mask).into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::geoip::testdb::{Value, build};
    use super::*;
    use crate::parser::enrich::{FixedClock, geoip::ASN_DB};

    #[test]
    fn prefix_helper() {
        assert_eq!(
            ip_to_range("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "/64").as_deref(),
            Some("2001:db8:85a3::/64")
        );
        assert_eq!(ip_to_range("192.168.17.42", "24").as_deref(), Some("192.168.17.0/24"));
        assert_eq!(ip_to_range("192.168.17.42", "/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(ip_to_range("192.168.17.42", "/32").as_deref(), Some("192.168.17.42/32"));
        assert_eq!(ip_to_range("192.168.17.42", "/33"), None);
        assert_eq!(ip_to_range("::1", "/129"), None);
        assert_eq!(ip_to_range("nope", "/24"), None);
        assert_eq!(ip_to_range("1.2.3.4", "x"), None);
    }

    #[test]
    fn source_range_from_the_asn_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = build(
            "GeoLite2-ASN",
            &[("81.2.69.0".parse().unwrap(), 24, Value::Map(vec![("autonomous_system_number", Value::U32(1))]))],
        );
        std::fs::write(dir.path().join(ASN_DB), db).unwrap();
        let e = IpToRangeEnricher(GeoIp::open(Some(dir.path())));
        let clock = FixedClock(chrono::Utc::now());
        let ctx = EnrichContext { clock: &clock, time_machine: false, str_time_format: "", line_raw: "" };
        assert_eq!(e.enrich("81.2.69.160", &ctx).fields, vec![("SourceRange", "81.2.69.0/24".to_string())]);
        assert!(e.enrich("81.2.70.1", &ctx).is_empty());
        assert!(IpToRangeEnricher(GeoIp::open(None)).enrich("81.2.69.160", &ctx).is_empty());
    }
}
