//! `correlator run`: the daemon. Sources from `acquis.yaml` feed the pipeline; alerts go to the outputs; buckets
//! expire on a one-second tick; `acquis.yaml` is reloaded when it changes or on SIGHUP; SIGINT/SIGTERM stop
//! reading, drain what was read, save bucket state and file positions, and exit.
//!
//! When every source is finite (cat mode, stdin), the daemon exits on its own once they are consumed, like
//! CrowdSec does: that is how the shipped defaults replay the sample logs.

pub mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{SignalKind, signal};

use crate::acquisition::manager::{Manager, ManagerOptions};
use crate::config::acquis::{self, Mode, SourceConfig};
use crate::config::settings::Settings;
use crate::event::{Event, FieldMap};
use crate::pipeline::{self, Engine, EngineStats, Pipeline};

/// What the daemon is asked to do.
pub struct RunOptions {
    pub settings: Settings,
    /// `--stdin --type T`: read standard input instead of `acquis.yaml`.
    pub stdin_type: Option<String>,
    /// Where alerts go.
    pub sink: Box<dyn AlertSink>,
}

/// Receives every alert the daemon raises (the listeners plug in here).
pub trait AlertSink: Send {
    fn alert(&mut self, alert: &Event);
    /// Called once before exit: flush what is buffered.
    fn close(&mut self) {}
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
    let settings = opts.settings.clone();
    let pipeline: Arc<Pipeline> = Arc::new(pipeline::build(&settings.build_options()).map_err(|e| e.to_string())?);
    for w in &pipeline.warnings {
        tracing::warn!("{w}");
    }
    // Alert store, profiles → decisions, local API and /metrics (docs/api.md).
    let lapi = crate::api::Lapi::start(&settings, &pipeline).await?;
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
    let acquis_path: Option<PathBuf> = opts.stdin_type.is_none().then(|| settings.acquisition.clone());
    let mut acquis_mtime = acquis_path.as_deref().and_then(mtime);
    let mut stopping = false;

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
                deliver(&mut opts.sink, &lapi, &mut alerts, &mut summary);
            }
            _ = tick.tick() => {
                engine.tick(chrono::Utc::now().fixed_offset(), &mut alerts);
                lapi.on_tick(&engine.buckets);
                deliver(&mut opts.sink, &lapi, &mut alerts, &mut summary);
                if let Some(p) = &acquis_path && !stopping {
                    let m = mtime(p);
                    if m != acquis_mtime {
                        acquis_mtime = m;
                        reload(&mut manager, p).await;
                        lapi.set_sources(&manager.sources());
                    }
                }
            }
            _ = sighup.recv(), if !stopping => {
                if let Some(p) = &acquis_path {
                    tracing::info!("SIGHUP: reloading {}", p.display());
                    reload(&mut manager, p).await;
                    lapi.set_sources(&manager.sources());
                }
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
    lapi.shutdown().await;
    summary.stats = engine.stats.clone();
    Ok(summary)
}

fn deliver(sink: &mut Box<dyn AlertSink>, lapi: &crate::api::Lapi, alerts: &mut Vec<Event>, summary: &mut RunSummary) {
    for a in alerts.drain(..) {
        summary.alerts += 1;
        lapi.on_alert(&a);
        sink.alert(&a);
    }
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
