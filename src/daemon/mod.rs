//! `correlator run`: the daemon. Sources from `acquis.yaml` feed the pipeline; alerts go to the outputs; buckets
//! expire on a one-second tick; `acquis.yaml` is reloaded when it changes or on SIGHUP; SIGINT/SIGTERM stop
//! reading, drain what was read, save bucket state and file positions, and exit.
//!
//! When every source is finite (cat mode, stdin), the daemon exits on its own once they are consumed, like
//! CrowdSec does: that is how the shipped defaults replay the sample logs.

pub mod state;
pub mod watch;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{SignalKind, signal};

use crate::acquisition::manager::{Manager, ManagerOptions};
use crate::config::acquis::{self, Mode, SourceConfig};
use crate::config::settings::Settings;
use crate::event::{Event, FieldMap};
use crate::output::dispatch::{ListenerCounters, Route};
use crate::pipeline::{self, Engine, EngineStats, Pipeline};

/// Re-reads the settings (the config file plus the command line's overrides) for a reload.
pub type SettingsLoader = Box<dyn Fn() -> Result<Settings, String> + Send + Sync>;

/// Builds the alert sink (the listeners) from the settings, again when a reload changes them.
pub type SinkFactory = Box<dyn Fn(&Settings) -> Result<Box<dyn AlertSink>, String> + Send + Sync>;

/// What the daemon is asked to do.
pub struct RunOptions {
    pub settings: Settings,
    /// How to read the settings again when the configuration changes; `None` disables pipeline reloads.
    pub reload: Option<SettingsLoader>,
    /// `--stdin --type T`: read standard input instead of `acquis.yaml`.
    pub stdin_type: Option<String>,
    /// Where alerts go.
    pub sink: Box<dyn AlertSink>,
    /// How to rebuild `sink` when a configuration reload changes the listeners; `None` keeps `sink` for good.
    pub sink_factory: Option<SinkFactory>,
}

/// Receives every alert the daemon raises (the listeners plug in here).
pub trait AlertSink: Send {
    fn alert(&mut self, alert: &Event);
    /// An alert with the profiles' routing (`notifications:`); sinks without named listeners ignore it.
    fn alert_routed(&mut self, alert: &Event, _route: &Route) {
        self.alert(alert);
    }
    /// Names and counters of the listeners behind this sink, for `/metrics` and the routing check.
    fn listener_counters(&self) -> Vec<(String, Arc<ListenerCounters>)> {
        Vec::new()
    }
    /// Called once before exit (or before a reload replaces the sink): flush what is buffered.
    fn close(&mut self) {}
    /// One line for the exit summary (what was delivered, what failed), if there is anything to say.
    fn summary(&self) -> Option<String> {
        None
    }
}

/// Prints alerts as text lines on stdout.
pub struct ConsoleSink;

impl AlertSink for ConsoleSink {
    fn alert(&mut self, alert: &Event) {
        println!("{}", crate::output::render::alert_text(alert));
    }
}

/// Counters of a run, printed at exit.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub stats: EngineStats,
    pub alerts: u64,
    pub uncommitted: u64,
    /// The listeners' line (of the sink in use at exit: counts restart when a reload replaces the listeners).
    pub listeners: Option<String>,
}

fn acquis_sources(path: &Path) -> Result<Vec<SourceConfig>, String> {
    let cfg = acquis::load_file(path).map_err(|e| e.to_string())?;
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    Ok(cfg.sources)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Runs until the sources are exhausted or a stop signal arrives.
pub async fn run(mut opts: RunOptions) -> Result<RunSummary, String> {
    let mut settings = opts.settings.clone();
    // Taken before anything is built or started: an edit made while the sources start (they log "source started"
    // before this loop runs) must change the signature the loop compares with, or it is missed until the next one.
    let mut config_sig = watch::signature(&settings);
    let pipeline: Arc<Pipeline> = Arc::new(pipeline::build(&settings.build_options()).map_err(|e| e.to_string())?);
    for w in &pipeline.warnings {
        tracing::warn!("{w}");
    }
    // Alert store, profiles → decisions, local API and /metrics (docs/api.md).
    let lapi = crate::api::Lapi::start(&settings, &pipeline).await?;
    let routed = lapi.routed_listeners();
    listeners_changed(&lapi, &routed, opts.sink.as_ref());
    let sources = match &opts.stdin_type {
        Some(t) => {
            let mut labels = FieldMap::new();
            labels.insert("type", t.as_str());
            vec![SourceConfig::stdin(labels, Mode::Tail)]
        }
        None => acquis_sources(&settings.acquisition)?,
    };
    if sources.is_empty() {
        return Err(format!("{}: no datasource configured", settings.acquisition.display()));
    }
    let finite = opts.stdin_type.is_some() || sources.iter().all(|s| s.mode == Mode::Cat);
    std::fs::create_dir_all(&settings.state)
        .map_err(|e| format!("cannot create state directory {}: {e}", settings.state.display()))?;
    let mopts = ManagerOptions { state_file: Some(settings.state.join("positions.json")), ..ManagerOptions::default() };
    let (mut manager, mut rx) = Manager::start(sources, mopts).await?;
    if finite {
        manager.seal();
    }
    lapi.set_sources(&manager.sources());

    let mut engine = Engine::new(Arc::clone(&pipeline));
    let bucket_file = settings.state.join("buckets.json");
    if !finite {
        match state::load(&bucket_file) {
            Ok(Some(saved)) => {
                let n = engine.buckets.restore(saved);
                tracing::info!("restored {n} live buckets from {}", bucket_file.display());
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("ignoring bucket state {}: {e}", bucket_file.display()),
        }
    }

    let mut summary = RunSummary::default();
    let mut alerts: Vec<Event> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut acquis_mtime = if opts.stdin_type.is_none() { mtime(&settings.acquisition) } else { None };
    let mut stopping = false;
    let reload_settings: Option<Arc<SettingsLoader>> = opts.reload.take().map(Arc::new);
    let mut ticks: u64 = 0;
    type Rebuilt = Result<(Settings, Pipeline, Option<Box<dyn AlertSink>>), String>;
    let sink_factory: Option<Arc<SinkFactory>> = opts.sink_factory.take().map(Arc::new);
    // Replaced sinks drain on the blocking pool (a slow webhook must not stall the loop); awaited before exit.
    let mut closing: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut rebuilding: Option<tokio::task::JoinHandle<Rebuilt>> = None;

    loop {
        tokio::select! {
            rec = rx.recv() => {
                let Some(rec) = rec else { break };
                let (evt, ack, metrics) = rec.into_event();
                let now = chrono::Utc::now().fixed_offset();
                let before = engine.stats.parsed;
                engine.process(evt, now, &mut alerts);
                if engine.stats.parsed > before {
                    metrics.parsed_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    metrics.parsed_ko.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                // Committed only now: a crash before this point reads the line again, never loses it.
                if let Some(a) = ack {
                    a.commit();
                }
                deliver(&mut opts.sink, &lapi, &routed, &mut alerts, &mut summary);
            }
            rebuilt = async { rebuilding.as_mut().expect("guarded").await }, if rebuilding.is_some() => {
                rebuilding = None;
                match rebuilt {
                    Ok(Ok((new_settings, new_pipeline, new_sink))) => {
                        for w in &new_pipeline.warnings {
                            tracing::warn!("{w}");
                        }
                        let kept = engine.swap_pipeline(Arc::new(new_pipeline));
                        // /metrics follows the running stack: its nodes, scenarios and their live buckets.
                        lapi.metrics.set_pipeline(Arc::clone(engine.pipeline()));
                        lapi.on_tick(&engine.buckets);
                        tracing::info!(
                            scenarios = engine.pipeline().scenarios.len(),
                            kept_buckets = kept,
                            "pipeline reloaded"
                        );
                        if new_settings.acquisition != settings.acquisition && opts.stdin_type.is_none() {
                            acquis_mtime = None; // the next tick reloads the new acquisition file
                        }
                        if let Some(sink) = new_sink {
                            let mut old = std::mem::replace(&mut opts.sink, sink);
                            closing.push(tokio::task::spawn_blocking(move || old.close()));
                            listeners_changed(&lapi, &routed, opts.sink.as_ref());
                            tracing::info!("listeners reloaded");
                        }
                        settings = new_settings;
                    }
                    Ok(Err(e)) => tracing::error!("configuration not reloaded, the running stack stays:\n{e}"),
                    Err(e) => tracing::error!("configuration reload failed: {e}"),
                }
            }
            _ = tick.tick() => {
                engine.tick(chrono::Utc::now().fixed_offset(), &mut alerts);
                lapi.on_tick(&engine.buckets);
                deliver(&mut opts.sink, &lapi, &routed, &mut alerts, &mut summary);
                ticks += 1;
                if let Some(loader) = &reload_settings
                    && ticks.is_multiple_of(2)
                    && rebuilding.is_none()
                    && !stopping
                {
                    let sig = watch::signature(&settings);
                    if sig != config_sig {
                        config_sig = sig;
                        let loader = Arc::clone(loader);
                        let factory = sink_factory.clone();
                        let old_listeners = settings.listeners.clone();
                        rebuilding = Some(tokio::task::spawn_blocking(move || {
                            let s = loader()?;
                            let p = pipeline::build(&s.build_options()).map_err(|e| e.to_string())?;
                            // Listeners are rebuilt only when their configuration changed, so an edit of a
                            // scenario does not restart delivery (nor reset rate limits).
                            let sink = match &factory {
                                Some(f) if !s.listeners.same_listeners(&old_listeners) => Some(f(&s)?),
                                _ => None,
                            };
                            Ok((s, p, sink))
                        }));
                    }
                }
                if opts.stdin_type.is_none() && !stopping {
                    let p = settings.acquisition.clone();
                    let m = mtime(&p);
                    if m != acquis_mtime {
                        acquis_mtime = m;
                        reload(&mut manager, &p).await;
                        lapi.set_sources(&manager.sources());
                    }
                }
            }
            _ = sighup.recv(), if !stopping => {
                if opts.stdin_type.is_none() {
                    tracing::info!("SIGHUP: reloading {}", settings.acquisition.display());
                    reload(&mut manager, &settings.acquisition.clone()).await;
                    lapi.set_sources(&manager.sources());
                }
                // Forces the configuration check at the next tick.
                config_sig = 0;
            }
            _ = sigint.recv(), if !stopping => {
                tracing::info!("interrupted: draining");
                stopping = true;
                manager.stop_reading().await;
            }
            _ = sigterm.recv(), if !stopping => {
                tracing::info!("terminated: draining");
                stopping = true;
                manager.stop_reading().await;
            }
        }
    }

    let report = manager.shutdown(Duration::from_secs(10)).await;
    if let Some(e) = report.save_error {
        tracing::error!("saving file positions: {e}");
    }
    summary.uncommitted = report.uncommitted;
    if !finite && let Err(e) = state::save(&bucket_file, &engine.buckets.snapshot()) {
        tracing::error!("saving bucket state {}: {e}", bucket_file.display());
    }
    opts.sink.close();
    for h in closing {
        let _ = h.await;
    }
    summary.listeners = opts.sink.summary();
    lapi.shutdown().await;
    summary.stats = engine.stats.clone();
    Ok(summary)
}

fn deliver(
    sink: &mut Box<dyn AlertSink>,
    lapi: &crate::api::Lapi,
    routed: &HashSet<String>,
    alerts: &mut Vec<Event>,
    summary: &mut RunSummary,
) {
    for a in alerts.drain(..) {
        summary.alerts += 1;
        let notify = lapi.on_alert(&a);
        if routed.is_empty() {
            sink.alert(&a);
        } else {
            sink.alert_routed(&a, &Route { routed, notify: &notify });
        }
    }
}

/// Publishes the listeners' counters and warns about profile `notifications` that name no configured listener
/// (their alerts would reach nobody): at start and whenever the listeners are rebuilt.
fn listeners_changed(lapi: &crate::api::Lapi, routed: &HashSet<String>, sink: &dyn AlertSink) {
    let counters = sink.listener_counters();
    for name in routed {
        if !counters.iter().any(|(n, _)| n == name) {
            tracing::warn!(
                "profiles: notifications name the listener {name:?}, which is not configured or not enabled: the \
                 alerts routed to it reach no listener"
            );
        }
    }
    lapi.metrics.set_listeners(counters);
}

async fn reload(manager: &mut Manager, path: &Path) {
    match acquis_sources(path) {
        Ok(sources) => {
            let r = manager.reload(sources).await;
            tracing::info!(kept = r.kept, stopped = r.stopped, started = r.started, "acquisition reloaded");
            for e in r.errors {
                tracing::error!("reload: {e}");
            }
        }
        // An invalid edit keeps the running sources.
        Err(e) => tracing::error!("acquisition not reloaded, the running sources stay:\n{e}"),
    }
}
