//! Prometheus metrics with CrowdSec's names (`cs_*`, see `docs/metrics.md`), rendered on each scrape from the
//! counters the components already keep: [`SourceMetrics`] per datasource, [`NodeStats`] per parser node,
//! [`ScenarioStats`] per scenario, the live bucket count the daemon publishes, the API's request counters and the
//! store's decision and alert counts.
//!
//! Values are read when `/metrics` is scraped (no copy on the hot path) and encoded by metrics-exporter-prometheus
//! in the Prometheus text format 0.0.4 (what CrowdSec serves; counters are named with their `_total`).
//!
//! **Registration point for other components** (listeners, ...): implement [`Collect`] and call
//! [`Metrics::register`]; your samples are added to every scrape.
//!
//! [`NodeStats`]: crate::parser::node::NodeStats
//! [`ScenarioStats`]: crate::scenario::compile::ScenarioStats

pub mod scrape;
pub mod striped;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use crate::acquisition::manager::SourceInfo;
use crate::acquisition::metrics::SourceMetrics;
use crate::decisions::ProcessorStats;
use crate::output::dispatch::ListenerCounters;
use crate::pipeline::Pipeline;
use crate::scenario::manager::Buckets;
use crate::store::{Store, now_nanos};

/// Content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

/// The samples of one scrape, grouped by metric name (a family is written once, with all its label sets).
#[derive(Debug, Default)]
pub struct Samples {
    families: BTreeMap<String, Family>,
}

impl Samples {
    fn add(&mut self, name: &str, help: &str, kind: Kind, labels: &[(&str, &str)], v: f64) {
        let fam = self.families.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            samples: Vec::new(),
        });
        fam.samples.push((labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), v));
    }

    /// A counter sample (`name` ends with `_total`, as Prometheus names counters).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: u64) {
        self.add(name, help, Kind::Counter, labels, v as f64);
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        self.add(name, help, Kind::Gauge, labels, v);
    }
}

/// Something that adds samples at scrape time.
pub trait Collect: Send + Sync {
    fn collect(&self, out: &mut Samples);
}

/// A datasource as the metrics see it.
#[derive(Clone, Debug)]
struct SourceEntry {
    name: String,
    module: &'static str,
    acquis_type: String,
    metrics: Arc<SourceMetrics>,
}

/// Request counters of the local API.
#[derive(Debug, Default)]
pub struct ApiCounters {
    /// (route, method) → requests.
    routes: Mutex<HashMap<(String, String), u64>>,
    /// (bouncer, route, method) → requests.
    bouncers: Mutex<HashMap<(String, String, String), u64>>,
    /// (machine, route, method) → requests.
    machines: Mutex<HashMap<(String, String, String), u64>>,
    /// bouncer → (empty answers, non-empty answers) of `GET /v1/decisions`.
    answers: Mutex<HashMap<String, (u64, u64)>>,
}

fn bump<K: std::hash::Hash + Eq>(m: &Mutex<HashMap<K, u64>>, k: K) {
    *m.lock().unwrap_or_else(|p| p.into_inner()).entry(k).or_default() += 1;
}

impl ApiCounters {
    pub fn route(&self, route: &str, method: &str) {
        bump(&self.routes, (route.to_string(), method.to_string()));
    }

    pub fn bouncer(&self, bouncer: &str, route: &str, method: &str) {
        bump(&self.bouncers, (bouncer.to_string(), route.to_string(), method.to_string()));
    }

    pub fn machine(&self, machine: &str, route: &str, method: &str) {
        bump(&self.machines, (machine.to_string(), route.to_string(), method.to_string()));
    }

    pub fn decisions_answer(&self, bouncer: &str, empty: bool) {
        let mut m = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(bouncer.to_string()).or_default();
        if empty {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
}

/// Everything `/metrics` reports. Shared (`Arc`) between the daemon, which publishes what it owns, and the
/// server, which renders.
#[derive(Default)]
pub struct Metrics {
    pipeline: RwLock<Option<Arc<Pipeline>>>,
    sources: RwLock<Vec<SourceEntry>>,
    /// Live bucket instances per scenario name, as last published. Keyed by name, not by position, so a scrape
    /// between a stack reload and the next tick never attributes counts to the wrong scenario.
    live_buckets: RwLock<HashMap<Arc<str>, usize>>,
    /// The listeners' counters (name, counters), replaced when the listeners are rebuilt.
    listeners: RwLock<Vec<(String, Arc<ListenerCounters>)>>,
    store: RwLock<Option<Arc<dyn Store>>>,
    processor: RwLock<Option<Arc<crate::decisions::Processor>>>,
    extra: RwLock<Vec<Arc<dyn Collect>>>,
    pub api: ApiCounters,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// The pipeline whose parser nodes and scenarios are reported.
    pub fn set_pipeline(&self, p: Arc<Pipeline>) {
        *write(&self.pipeline) = Some(p);
    }

    /// The running datasources (call again after a reload).
    pub fn set_sources(&self, sources: &[SourceInfo]) {
        *write(&self.sources) = sources
            .iter()
            .map(|s| SourceEntry {
                name: s.config.describe(),
                module: s.config.kind.module(),
                acquis_type: s.config.labels.get_or_empty("type").to_string(),
                metrics: Arc::clone(&s.metrics),
            })
            .collect();
    }

    /// Publishes the live bucket instances (the buckets live in the daemon's loop; call on its tick).
    pub fn observe_buckets(&self, buckets: &Buckets) {
        let sc = buckets.scenarios();
        *write(&self.live_buckets) =
            sc.iter().enumerate().map(|(i, s)| (Arc::clone(&s.name), buckets.live_instances(i))).collect();
    }

    /// The running listeners (call again when a reload replaces them).
    pub fn set_listeners(&self, counters: Vec<(String, Arc<ListenerCounters>)>) {
        *write(&self.listeners) = counters;
    }

    pub fn set_store(&self, store: Arc<dyn Store>) {
        *write(&self.store) = Some(store);
    }

    pub fn set_processor(&self, p: Arc<crate::decisions::Processor>) {
        *write(&self.processor) = Some(p);
    }

    /// Adds a component's samples to every scrape (listeners register here).
    pub fn register(&self, c: Arc<dyn Collect>) {
        write(&self.extra).push(c);
    }

    /// Collects every sample. Reads the store (a short query): call it off the async threads.
    pub fn collect(&self) -> Samples {
        let mut s = Samples::default();
        s.gauge("cs_info", "Correlator version", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        self.collect_sources(&mut s);
        self.collect_pipeline(&mut s);
        self.collect_api(&mut s);
        self.collect_store(&mut s);
        self.collect_listeners(&mut s);
        for c in read(&self.extra).iter() {
            c.collect(&mut s);
        }
        s
    }

    fn collect_sources(&self, s: &mut Samples) {
        for src in read(&self.sources).iter() {
            let m = src.metrics.snapshot();
            let name = format!("cs_{}source_hits_total", src.module);
            let help = format!("Lines read by {} datasources", src.module);
            let labels =
                [("source", src.name.as_str()), ("datasource_type", src.module), ("acquis_type", &src.acquis_type)];
            s.counter(&name, &help, &labels, m.lines);
            let pl = [("source", src.name.as_str()), ("type", src.module), ("acquis_type", &src.acquis_type)];
            s.counter("cs_parser_hits_total", "Lines entering parsing", &pl, m.parsed_ok + m.parsed_ko);
            s.counter("cs_parser_hits_ok_total", "Lines parsed", &pl, m.parsed_ok);
            s.counter("cs_parser_hits_ko_total", "Lines no parser accepted", &pl, m.parsed_ko);
            s.counter("correlator_source_bytes_total", "Bytes read per datasource", &labels, m.bytes);
            s.counter("correlator_source_errors_total", "Read errors per datasource", &labels, m.errors);
        }
    }

    fn collect_listeners(&self, s: &mut Samples) {
        for (name, c) in read(&self.listeners).iter() {
            let (sent, failed, dropped, rate_limited) = c.snapshot();
            let l = [("listener", name.as_str())];
            s.counter("correlator_listener_sent_total", "Items a listener delivered", &l, sent);
            s.counter("correlator_listener_failed_total", "Deliveries that failed after retries", &l, failed);
            s.counter(
                "correlator_listener_dropped_total",
                "Items dropped: queue full or shutdown deadline",
                &l,
                dropped,
            );
            s.counter(
                "correlator_listener_rate_limited_total",
                "Items refused by the listener's rate limit",
                &l,
                rate_limited,
            );
            let queued = c.queued.load(Ordering::Relaxed);
            s.gauge("correlator_listener_queued", "Items waiting in the listener's queue", &l, queued as f64);
        }
    }

    fn collect_pipeline(&self, s: &mut Samples) {
        let Some(p) = read(&self.pipeline).clone() else { return };
        let mut node = |stages: &crate::parser::stages::Stages| {
            stages.for_each_node(|stage, n| {
                let l = [("name", &*n.name), ("stage", stage)];
                s.counter("cs_node_hits_total", "Events entering a parser node", &l, n.stats.hits());
                s.counter("cs_node_hits_ok_total", "Events a parser node succeeded on", &l, n.stats.ok());
                s.counter("cs_node_hits_ko_total", "Events a parser node failed on", &l, n.stats.ko());
            });
        };
        node(&p.parsers);
        node(&p.postoverflows);
        let c = &p.counters;
        for (kind, v) in [
            ("filter", &c.filter_errors),
            ("static", &c.static_errors),
            ("node", &c.node_errors),
            ("grok_source", &c.grok_source_errors),
            ("whitelist", &c.whitelist_errors),
        ] {
            let help = "Parser expressions that failed at run time (logged with the item name)";
            s.counter("correlator_parser_errors_total", help, &[("kind", kind)], v.load(Ordering::Relaxed));
        }
        let live = read(&self.live_buckets).clone();
        for sc in p.scenarios.iter() {
            let l = [("name", &*sc.name)];
            let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            s.counter("cs_bucket_poured_total", "Events poured into a scenario", &l, g(&sc.stats.poured));
            s.counter("cs_bucket_overflowed_total", "Scenario overflows", &l, g(&sc.stats.overflows));
            s.counter("cs_bucket_instantiation_total", "Bucket instances created", &l, g(&sc.stats.instantiated));
            s.counter(
                "cs_bucket_underflowed_total",
                "Bucket instances that expired empty",
                &l,
                g(&sc.stats.underflows),
            );
            s.counter("cs_bucket_canceled_total", "Bucket instances canceled (cancel_on)", &l, g(&sc.stats.canceled));
            let help = "Scenario expressions that failed at run time (filter, groupby, ...)";
            s.counter("correlator_scenario_errors_total", help, &l, g(&sc.stats.errors));
            s.gauge("cs_buckets", "Live bucket instances", &l, live.get(&sc.name).copied().unwrap_or(0) as f64);
        }
    }

    fn collect_api(&self, s: &mut Samples) {
        for ((route, method), n) in self.api.routes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            s.counter(
                "cs_lapi_route_requests_total",
                "Local API requests",
                &[("route", route), ("method", method)],
                *n,
            );
        }
        for ((b, route, method), n) in self.api.bouncers.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let l = [("bouncer", b.as_str()), ("route", route), ("method", method)];
            s.counter("cs_lapi_bouncer_requests_total", "Local API requests by bouncer", &l, *n);
        }
        for ((m, route, method), n) in self.api.machines.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let l = [("machine", m.as_str()), ("route", route), ("method", method)];
            s.counter("cs_lapi_machine_requests_total", "Local API requests by machine", &l, *n);
        }
        for (b, (empty, nonempty)) in self.api.answers.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            s.counter("cs_lapi_decisions_ko_total", "Decision queries with no decision", &[("bouncer", b)], *empty);
            s.counter("cs_lapi_decisions_ok_total", "Decision queries with decisions", &[("bouncer", b)], *nonempty);
        }
        if let Some(p) = read(&self.processor).as_ref() {
            let st: &ProcessorStats = &p.stats;
            s.counter(
                "correlator_alerts_recorded_total",
                "Alerts recorded in the store",
                &[],
                st.alerts.load(Ordering::Relaxed),
            );
            s.counter(
                "correlator_decisions_created_total",
                "Decisions created by profiles or by hand",
                &[],
                st.decisions.load(Ordering::Relaxed),
            );
            s.counter(
                "correlator_store_errors_total",
                "Alerts that could not be recorded",
                &[],
                st.errors.load(Ordering::Relaxed),
            );
        }
    }

    fn collect_store(&self, s: &mut Samples) {
        let Some(store) = read(&self.store).clone() else { return };
        match store.stats(now_nanos()) {
            Ok(st) => {
                for (reason, origin, action, n) in &st.active_decisions {
                    let l = [("reason", reason.as_str()), ("origin", origin), ("action", action)];
                    s.gauge("cs_active_decisions", "Active decisions", &l, *n as f64);
                }
                for (reason, n) in &st.alerts {
                    s.gauge("cs_alerts", "Alerts in the store", &[("reason", reason)], *n as f64);
                }
            }
            Err(e) => tracing::warn!("metrics: store counts: {e}"),
        }
    }

    /// The Prometheus text exposition (format 0.0.4, as CrowdSec serves it).
    pub fn render(&self) -> String {
        render_samples(self.collect())
    }
}

/// Encodes one scrape's samples with metrics-exporter-prometheus. A fresh recorder per scrape holds exactly the
/// samples collected now, so a datasource removed by a reload disappears from the output.
fn render_samples(samples: Samples) -> String {
    use metrics::{Key, Label, Metadata, Recorder};
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let meta = Metadata::new(module_path!(), metrics::Level::INFO, None);
    for (name, fam) in samples.families {
        let key_name = metrics::KeyName::from(name.clone());
        match fam.kind {
            Kind::Counter => recorder.describe_counter(key_name, None, fam.help.into()),
            Kind::Gauge => recorder.describe_gauge(key_name, None, fam.help.into()),
        }
        for (labels, v) in fam.samples {
            let labels: Vec<Label> = labels.into_iter().map(|(k, v)| Label::new(k, v)).collect();
            let key = Key::from_parts(name.clone(), labels);
            match fam.kind {
                Kind::Counter => recorder.register_counter(&key, &meta).absolute(v as u64),
                Kind::Gauge => recorder.register_gauge(&key, &meta).set(v),
            }
        }
    }
    recorder.handle().render()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Listener;

    impl Collect for Listener {
        fn collect(&self, out: &mut Samples) {
            out.counter("correlator_listener_sent_total", "Alerts sent by listeners", &[("listener", "mail")], 3);
        }
    }

    #[test]
    fn renders_registered_collectors_and_api_counters() {
        let m = Metrics::new();
        m.register(Arc::new(Listener));
        m.api.route("/v1/decisions", "GET");
        m.api.route("/v1/decisions", "GET");
        m.api.bouncer("fw", "/v1/decisions", "GET");
        m.api.decisions_answer("fw", true);
        let text = m.render();
        assert!(text.contains("# TYPE cs_lapi_route_requests_total counter"), "{text}");
        assert!(text.contains(r#"cs_lapi_route_requests_total{route="/v1/decisions",method="GET"} 2"#), "{text}");
        assert!(text.contains(r#"correlator_listener_sent_total{listener="mail"} 3"#), "{text}");
        assert!(text.contains(r#"cs_lapi_decisions_ko_total{bouncer="fw"} 1"#), "{text}");
        assert!(text.contains("cs_info{version="), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = Samples::default();
        s.counter("x_total", "h", &[("source", "a\"b\\c\nd")], 1);
        let m = Metrics::new();
        struct Fixed(Mutex<Option<Samples>>);
        impl Collect for Fixed {
            fn collect(&self, out: &mut Samples) {
                if let Some(s) = self.0.lock().unwrap().take() {
                    out.families.extend(s.families);
                }
            }
        }
        m.register(Arc::new(Fixed(Mutex::new(Some(s)))));
        let text = m.render();
        assert!(text.contains(r#"x_total{source="a\"b\\c\nd"} 1"#), "{text}");
    }
}
