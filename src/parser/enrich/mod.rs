//! Enrichers: the functions a parser node's `method:` statics call (`ParseDate`, `GeoIpCity`, `GeoIpASN`,
//! `IpToRange`, `reverse_dns`, `UnmarshalJSON`), with CrowdSec's names, inputs and output keys.
//!
//! Each enricher takes the static's value and returns key/value pairs the parser merges into `evt.Enriched`
//! ([`EnrichOutput`]); `ParseDate` may also ask for `evt.Time` to be set, `UnmarshalJSON` for `evt.Unmarshaled` to
//! be filled. Enrichers hold their state (GeoIP databases, the DNS cache) and are built once per pipeline with
//! [`Enrichers::new`]; the per-call [`EnrichContext`] carries what depends on the event or the run mode.
//!
//! What this module is not: it does not touch events (the parser applies the output), and it never fails an event:
//! a missing database or an unparsable input yields no output, as in CrowdSec.

pub mod date;
pub mod geoip;
pub mod ip;
pub mod rdns;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::event::{JsonMap, Timestamp};

pub use geoip::GeoIp;
pub use rdns::{RdnsConfig, ReverseDns};

/// Where "now" comes from: the wall clock in the daemon, a pinned instant in tests and hubtest replays (hub asserts
/// expect year-less syslog dates to land in the year they were generated).
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// What an enricher call may depend on besides its input.
pub struct EnrichContext<'a> {
    pub clock: &'a dyn Clock,
    /// Time-machine (replay) mode: `ParseDate` then reports the parsed date as the event time.
    pub time_machine: bool,
    /// `evt.StrTimeFormat`: a Go layout `ParseDate` tries first.
    pub str_time_format: &'a str,
    /// `evt.Line.Raw`, which `UnmarshalJSON` parses (it ignores its input, as in CrowdSec).
    pub line_raw: &'a str,
}

/// What an enricher call produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnrichOutput {
    /// Keys and values to merge into `evt.Enriched`.
    pub fields: Vec<(&'static str, String)>,
    /// Set `evt.Time` to this (only `ParseDate`, only in time-machine mode).
    pub event_time: Option<Timestamp>,
    /// Merge these top-level keys into `evt.Unmarshaled` (only `UnmarshalJSON`).
    pub unmarshaled: Option<JsonMap>,
}

impl EnrichOutput {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.event_time.is_none() && self.unmarshaled.is_none()
    }
}

/// One `method:`.
pub trait Enricher: Send + Sync {
    /// The name statics use (`method: GeoIpCity`).
    fn name(&self) -> &'static str;
    fn enrich(&self, input: &str, ctx: &EnrichContext<'_>) -> EnrichOutput;
}

/// Settings for [`Enrichers::new`].
#[derive(Clone, Debug, Default)]
pub struct EnrichConfig {
    /// Folder holding `GeoLite2-City.mmdb` and `GeoLite2-ASN.mmdb` (CrowdSec's data dir). `None`: no GeoIP.
    pub data_dir: Option<PathBuf>,
    pub reverse_dns: RdnsConfig,
}

/// Every enricher of a pipeline, looked up by method name.
pub struct Enrichers {
    parse_date: date::ParseDate,
    city: geoip::GeoIpCity,
    asn: geoip::GeoIpAsn,
    range: ip::IpToRangeEnricher,
    rdns: rdns::ReverseDnsEnricher,
    json: UnmarshalJson,
}

impl Enrichers {
    /// Opens the GeoIP databases found in the data dir (a missing one is logged once, not an error) and sets up
    /// reverse DNS if enabled.
    pub fn new(cfg: &EnrichConfig) -> Self {
        let geo = GeoIp::open(cfg.data_dir.as_deref());
        Enrichers {
            parse_date: date::ParseDate,
            city: geoip::GeoIpCity(geo.clone()),
            asn: geoip::GeoIpAsn(geo.clone()),
            range: ip::IpToRangeEnricher(geo),
            rdns: rdns::ReverseDnsEnricher(ReverseDns::new(cfg.reverse_dns.clone())),
            json: UnmarshalJson,
        }
    }

    /// Method names this registry knows.
    pub const NAMES: [&'static str; 6] =
        ["ParseDate", "GeoIpCity", "GeoIpASN", "IpToRange", "reverse_dns", "UnmarshalJSON"];

    /// The enricher for a `method:` name; `None` for an unknown method (CrowdSec logs it at debug level and goes on).
    pub fn get(&self, name: &str) -> Option<&dyn Enricher> {
        Some(match name {
            "ParseDate" => &self.parse_date,
            "GeoIpCity" => &self.city,
            "GeoIpASN" => &self.asn,
            "IpToRange" => &self.range,
            "reverse_dns" => &self.rdns,
            "UnmarshalJSON" => &self.json,
            _ => return None,
        })
    }

    /// Calls `name` on `input`; `None` for an unknown method.
    pub fn call(&self, name: &str, input: &str, ctx: &EnrichContext<'_>) -> Option<EnrichOutput> {
        self.get(name).map(|e| e.enrich(input, ctx))
    }
}

/// `UnmarshalJSON`: parses the raw line (not its input) as a JSON object into `evt.Unmarshaled`.
struct UnmarshalJson;

impl Enricher for UnmarshalJson {
    fn name(&self) -> &'static str {
        "UnmarshalJSON"
    }

    fn enrich(&self, _input: &str, ctx: &EnrichContext<'_>) -> EnrichOutput {
        match serde_json::from_str::<JsonMap>(ctx.line_raw) {
            Ok(map) => EnrichOutput { unmarshaled: Some(map), ..EnrichOutput::default() },
            Err(e) => {
                tracing::debug!("UnmarshalJSON: could not parse the line as a JSON object: {e}");
                EnrichOutput::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(clock: &'a dyn Clock, raw: &'a str) -> EnrichContext<'a> {
        EnrichContext { clock, time_machine: true, str_time_format: "", line_raw: raw }
    }

    #[test]
    fn registry_knows_crowdsec_methods_only() {
        let e = Enrichers::new(&EnrichConfig::default());
        for name in Enrichers::NAMES {
            assert_eq!(e.get(name).map(|x| x.name()), Some(name));
        }
        let clock = FixedClock(Utc::now());
        assert!(e.call("GeoIPCity", "1.2.3.4", &ctx(&clock, "")).is_none());
        assert!(e.get("parsedate").is_none());
    }

    #[test]
    fn registry_calls_parse_date_and_json() {
        let e = Enrichers::new(&EnrichConfig::default());
        let clock = FixedClock("2026-05-01T00:00:00Z".parse().unwrap());
        let out = e.call("ParseDate", "Feb 12 14:10:21", &ctx(&clock, "")).unwrap();
        assert_eq!(out.fields, vec![("MarshaledTime", "2026-02-12T14:10:21Z".to_string())]);
        assert!(out.event_time.is_some());
        let out = e.call("UnmarshalJSON", "ignored", &ctx(&clock, r#"{"a": {"b": 1}}"#)).unwrap();
        assert_eq!(out.unmarshaled.unwrap()["a"]["b"], 1);
        assert!(e.call("UnmarshalJSON", "", &ctx(&clock, "not json")).unwrap().is_empty());
        // No databases and rDNS off: nothing, without error.
        assert!(e.call("GeoIpCity", "1.2.3.4", &ctx(&clock, "")).unwrap().is_empty());
        assert!(e.call("reverse_dns", "1.2.3.4", &ctx(&clock, "")).unwrap().is_empty());
    }
}
