//! `GeoIpCity` and `GeoIpASN`: country and AS of an IP from MaxMind databases in CrowdSec's data dir
//! (`GeoLite2-City.mmdb`, `GeoLite2-ASN.mmdb`).
//!
//! Output keys and formats are CrowdSec's: `IsoCode` (country, else registered country, else represented country,
//! else ""), `IsInEU` (`true`/`false` of the country the code came from), `Latitude`/`Longitude` (Go `%f`, six
//! decimals); `ASNNumber` and its old alias `ASNumber` (decimal), `ASNOrg`. An address the database has no record
//! for gets the zero values, as Go's reader returns an empty record. A missing database is not an error: the
//! enricher adds nothing (logged once, when the pipeline is built); an input that is not an IP adds nothing.
//!
//! What this module is not: `IpToRange` lives in `ip` (it reads the ASN database through [`GeoIp`] too).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use maxminddb::{Reader, geoip2};

use super::{EnrichContext, EnrichOutput, Enricher};

pub const CITY_DB: &str = "GeoLite2-City.mmdb";
pub const ASN_DB: &str = "GeoLite2-ASN.mmdb";

/// The opened GeoIP databases (each optional). Cheap to clone.
#[derive(Clone, Default)]
pub struct GeoIp {
    pub(crate) city: Option<Arc<Reader<Vec<u8>>>>,
    pub(crate) asn: Option<Arc<Reader<Vec<u8>>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").field("city", &self.city.is_some()).field("asn", &self.asn.is_some()).finish()
    }
}

fn open_db(dir: &Path, file: &str) -> Option<Arc<Reader<Vec<u8>>>> {
    let path = dir.join(file);
    match Reader::open_readfile(&path) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            tracing::info!("GeoIP database {} not loaded ({e}): its enrichers will add nothing", path.display());
            None
        }
    }
}

impl GeoIp {
    /// Opens the databases of `data_dir`; a missing or unreadable one is logged and left out.
    pub fn open(data_dir: Option<&Path>) -> Self {
        match data_dir {
            None => GeoIp::default(),
            Some(dir) => GeoIp { city: open_db(dir, CITY_DB), asn: open_db(dir, ASN_DB) },
        }
    }

    pub fn has_city(&self) -> bool {
        self.city.is_some()
    }

    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    /// `GeoIpCity` output for `ip`; empty without a database or for an input that is not an IP.
    pub fn city(&self, ip: &str) -> Vec<(&'static str, String)> {
        let (Some(db), Ok(addr)) = (&self.city, ip.parse::<IpAddr>()) else { return Vec::new() };
        let record = match db.lookup(addr).and_then(|r| r.decode::<geoip2::City>()) {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => {
                tracing::debug!("GeoIpCity: lookup of {ip} failed: {e}");
                return Vec::new();
            }
        };
        let (iso, eu) = if let Some(code) = record.country.iso_code.filter(|c| !c.is_empty()) {
            (code, record.country.is_in_european_union)
        } else if let Some(code) = record.registered_country.iso_code.filter(|c| !c.is_empty()) {
            (code, record.registered_country.is_in_european_union)
        } else if let Some(code) = record.represented_country.iso_code.filter(|c| !c.is_empty()) {
            (code, record.represented_country.is_in_european_union)
        } else {
            ("", Some(false))
        };
        vec![
            ("IsoCode", iso.to_string()),
            ("IsInEU", eu.unwrap_or(false).to_string()),
            ("Latitude", format!("{:.6}", record.location.latitude.unwrap_or(0.0))),
            ("Longitude", format!("{:.6}", record.location.longitude.unwrap_or(0.0))),
        ]
    }

    /// `GeoIpASN` output for `ip`; empty without a database or for an input that is not an IP.
    pub fn asn(&self, ip: &str) -> Vec<(&'static str, String)> {
        let (Some(db), Ok(addr)) = (&self.asn, ip.parse::<IpAddr>()) else { return Vec::new() };
        let record = match db.lookup(addr).and_then(|r| r.decode::<geoip2::Asn>()) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("GeoIpASN: lookup of {ip} failed: {e}");
                return Vec::new();
            }
        };
        let (number, org) = record.map_or((0, ""), |r| {
            (r.autonomous_system_number.unwrap_or(0), r.autonomous_system_organization.unwrap_or(""))
        });
        let number = number.to_string();
        vec![("ASNNumber", number.clone()), ("ASNumber", number), ("ASNOrg", org.to_string())]
    }

    /// The network of the ASN database's record holding `ip` (`IpToRange`); `None` without database or record.
    pub fn asn_network(&self, ip: &str) -> Option<String> {
        let db = self.asn.as_ref()?;
        let addr = ip.parse::<IpAddr>().ok()?;
        let result = db.lookup(addr).ok()?;
        if !result.has_data() {
            return None;
        }
        result.network().ok().map(|n| n.to_string())
    }
}

/// The `GeoIpCity` method.
pub struct GeoIpCity(pub GeoIp);

impl Enricher for GeoIpCity {
    fn name(&self) -> &'static str {
        "GeoIpCity"
    }

    fn enrich(&self, input: &str, _ctx: &EnrichContext<'_>) -> EnrichOutput {
        EnrichOutput { fields: self.0.city(input), ..EnrichOutput::default() }
    }
}

/// The `GeoIpASN` method.
pub struct GeoIpAsn(pub GeoIp);

impl Enricher for GeoIpAsn {
    fn name(&self) -> &'static str {
        "GeoIpASN"
    }

    fn enrich(&self, input: &str, _ctx: &EnrichContext<'_>) -> EnrichOutput {
        EnrichOutput { fields: self.0.asn(input), ..EnrichOutput::default() }
    }
}

#[cfg(test)]
pub(crate) mod testdb {
    //! A minimal MaxMind DB writer for tests: a binary trie over IPv6 (IPv4 under `::/96`), 24-bit records, maps of
    //! strings, unsigned integers, doubles and booleans.

    use std::net::IpAddr;

    pub enum Value {
        Str(&'static str),
        U16(u16),
        U32(u32),
        U64(u64),
        F64(f64),
        Bool(bool),
        Map(Vec<(&'static str, Value)>),
        Array(Vec<Value>),
    }

    fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
        let (first, extra): (u8, Vec<u8>) = match size {
            0..=28 => (size as u8, vec![]),
            29..=284 => (29, vec![(size - 29) as u8]),
            _ => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        };
        if kind <= 7 {
            out.push((kind << 5) | first);
        } else {
            out.push(first);
            out.push(kind - 7);
        }
        out.extend(extra);
    }

    /// Unsigned integers are stored big-endian without leading zero bytes.
    fn uint(out: &mut Vec<u8>, kind: u8, be: &[u8]) {
        let bytes: Vec<u8> = be.iter().copied().skip_while(|&b| b == 0).collect();
        control(out, kind, bytes.len());
        out.extend(bytes);
    }

    pub fn encode(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Str(s) => {
                control(out, 2, s.len());
                out.extend(s.as_bytes());
            }
            Value::F64(f) => {
                control(out, 3, 8);
                out.extend(f.to_be_bytes());
            }
            Value::U16(n) => uint(out, 5, &n.to_be_bytes()),
            Value::U32(n) => uint(out, 6, &n.to_be_bytes()),
            Value::U64(n) => uint(out, 9, &n.to_be_bytes()),
            Value::Bool(b) => control(out, 14, usize::from(*b)),
            Value::Array(items) => {
                control(out, 11, items.len());
                for v in items {
                    encode(v, out);
                }
            }
            Value::Map(entries) => {
                control(out, 7, entries.len());
                for (k, v) in entries {
                    encode(&Value::Str(k), out);
                    encode(v, out);
                }
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Rec {
        Empty,
        Node(usize),
        Data(usize),
    }

    /// Builds a database of type `db_type` from (network, prefix length, record) entries.
    pub fn build(db_type: &'static str, entries: &[(IpAddr, u8, Value)]) -> Vec<u8> {
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        let mut data = Vec::new();
        for (ip, len, value) in entries {
            let (bits, len): (u128, u8) = match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(*v4)), len + 96),
                IpAddr::V6(v6) => (u128::from(*v6), *len),
            };
            let offset = data.len();
            encode(value, &mut data);
            let mut node = 0;
            for depth in 0..len {
                let bit = ((bits >> (127 - depth)) & 1) as usize;
                if depth + 1 == len {
                    nodes[node][bit] = Rec::Data(offset);
                } else {
                    node = match nodes[node][bit] {
                        Rec::Node(n) => n,
                        _ => {
                            nodes.push([Rec::Empty, Rec::Empty]);
                            let n = nodes.len() - 1;
                            nodes[node][bit] = Rec::Node(n);
                            n
                        }
                    };
                }
            }
        }
        let count = nodes.len();
        let mut out = Vec::new();
        for node in &nodes {
            for rec in node {
                let v = match *rec {
                    Rec::Empty => count,
                    Rec::Node(n) => n,
                    Rec::Data(off) => count + 16 + off,
                };
                out.extend(&(v as u32).to_be_bytes()[1..]);
            }
        }
        out.extend([0u8; 16]);
        out.extend(&data);
        out.extend(b"\xAB\xCD\xEFMaxMind.com");
        let meta = Value::Map(vec![
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_700_000_000)),
            ("database_type", Value::Str(db_type)),
            ("description", Value::Map(vec![("en", Value::Str("test database"))])),
            ("languages", Value::Array(vec![Value::Str("en")])),
            ("ip_version", Value::U16(6)),
            ("node_count", Value::U32(count as u32)),
            ("record_size", Value::U16(24)),
        ]);
        encode(&meta, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testdb::{Value, build};
    use super::*;

    fn data_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let country = |iso: &'static str, eu: bool| {
            Value::Map(vec![("iso_code", Value::Str(iso)), ("is_in_european_union", Value::Bool(eu))])
        };
        let city = build(
            "GeoLite2-City",
            &[
                (
                    "1.2.3.0".parse().unwrap(),
                    24,
                    Value::Map(vec![
                        ("country", country("FR", true)),
                        (
                            "location",
                            Value::Map(vec![("latitude", Value::F64(48.8582)), ("longitude", Value::F64(2.3387))]),
                        ),
                    ]),
                ),
                ("5.6.0.0".parse().unwrap(), 16, Value::Map(vec![("registered_country", country("US", false))])),
                ("2001:db8::".parse().unwrap(), 32, Value::Map(vec![("represented_country", country("DE", true))])),
            ],
        );
        let asn = build(
            "GeoLite2-ASN",
            &[
                (
                    "1.2.0.0".parse().unwrap(),
                    16,
                    Value::Map(vec![
                        ("autonomous_system_number", Value::U32(64500)),
                        ("autonomous_system_organization", Value::Str("Example Net")),
                    ]),
                ),
                (
                    "2001:db8:1::".parse().unwrap(),
                    48,
                    Value::Map(vec![("autonomous_system_number", Value::U32(64501))]),
                ),
            ],
        );
        std::fs::write(dir.path().join(CITY_DB), city).unwrap();
        std::fs::write(dir.path().join(ASN_DB), asn).unwrap();
        dir
    }

    fn kv(p: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        p.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn city_and_asn_from_a_database() {
        let dir = data_dir();
        let geo = GeoIp::open(Some(dir.path()));
        assert!(geo.has_city() && geo.has_asn());
        assert_eq!(
            geo.city("1.2.3.4"),
            kv(&[("IsoCode", "FR"), ("IsInEU", "true"), ("Latitude", "48.858200"), ("Longitude", "2.338700")])
        );
        // Registered, then represented country when the country is missing.
        assert_eq!(geo.city("5.6.7.8")[..2], kv(&[("IsoCode", "US"), ("IsInEU", "false")]));
        assert_eq!(geo.city("2001:db8::1")[..2], kv(&[("IsoCode", "DE"), ("IsInEU", "true")]));
        // No record: Go's empty record.
        assert_eq!(
            geo.city("9.9.9.9"),
            kv(&[("IsoCode", ""), ("IsInEU", "false"), ("Latitude", "0.000000"), ("Longitude", "0.000000")])
        );
        assert!(geo.city("not an ip").is_empty());
        assert_eq!(
            geo.asn("1.2.200.1"),
            kv(&[("ASNNumber", "64500"), ("ASNumber", "64500"), ("ASNOrg", "Example Net")])
        );
        assert_eq!(geo.asn("2001:db8:1::5"), kv(&[("ASNNumber", "64501"), ("ASNumber", "64501"), ("ASNOrg", "")]));
        assert_eq!(geo.asn("8.8.8.8"), kv(&[("ASNNumber", "0"), ("ASNumber", "0"), ("ASNOrg", "")]));
        assert_eq!(geo.asn_network("1.2.200.1").as_deref(), Some("1.2.0.0/16"));
        assert_eq!(geo.asn_network("2001:db8:1:2::1").as_deref(), Some("2001:db8:1::/48"));
        assert_eq!(geo.asn_network("8.8.8.8"), None);
    }

    #[test]
    fn missing_databases_add_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let geo = GeoIp::open(Some(dir.path()));
        assert!(!geo.has_city() && !geo.has_asn());
        assert!(geo.city("1.2.3.4").is_empty());
        assert!(geo.asn("1.2.3.4").is_empty());
        assert_eq!(geo.asn_network("1.2.3.4"), None);
        // A corrupt file is treated like a missing one.
        std::fs::write(dir.path().join(CITY_DB), b"not a database").unwrap();
        assert!(!GeoIp::open(Some(dir.path())).has_city());
        assert!(!GeoIp::open(None).has_asn());
    }
}
