//! The CrowdSec-compatible local API (axum): bouncers pull decisions (`/v1/decisions`, `/v1/decisions/stream`),
//! agents log in and push alerts (`/v1/watchers/login`, `/v1/alerts`), plus `/health` and `/metrics`.
//!
//! [`Server::start`] binds the listeners (127.0.0.1 by default; TLS with rustls when configured), runs the
//! periodic store cleanup, and returns a [`ServerHandle`] to stop it. [`Lapi`] bundles what the daemon needs: the
//! alert processor, the metrics, and the server.
//!
//! What this module is not: the store (`store`), profiles (`decisions`) or metric names (`metrics`).

pub mod auth;
pub mod query;
pub mod routes;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::acquisition::manager::SourceInfo;
use crate::config::settings::Settings;
use crate::decisions::Processor;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::scenario::manager::Buckets;
use crate::store::now_nanos;

/// A running server.
pub struct ServerHandle {
    /// Where the API listens, if enabled.
    pub api_addr: Option<SocketAddr>,
    /// Where the separate `/metrics` listener listens, if configured.
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting, lets requests in flight finish (up to 5 s), stops the cleanup.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), t).await.is_err() {
                tracing::warn!("local API: a task did not stop in time");
            }
        }
    }
}

pub struct Server;

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

impl Server {
    /// Starts what `settings` enables: the API (`api.enabled`, needs `processor`), the `/metrics` listener
    /// (`prometheus:`), and the periodic cleanup of the store. A listener that cannot bind is an error.
    pub async fn start(
        settings: &Settings,
        processor: Option<Arc<Processor>>,
        metrics: Arc<Metrics>,
    ) -> Result<ServerHandle, String> {
        let api = &settings.api;
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut api_addr = None;
        let mut metrics_addr = None;
        let state = match &processor {
            Some(p) => {
                let store = Arc::clone(p.store());
                let (secret, metrics_key) = tokio::task::spawn_blocking(move || {
                    Ok::<_, crate::store::StoreError>((store.secret("jwt")?, auth::metrics_key(&*store)?))
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                Some(Arc::new(routes::AppState {
                    processor: Arc::clone(p),
                    metrics: Arc::clone(&metrics),
                    secret,
                    token_ttl: api.token_ttl,
                    metrics_key,
                }))
            }
            None => None,
        };
        if api.enabled {
            let Some(state) = state.clone() else {
                return Err("api.enabled needs the store (store.enabled: true)".to_string());
            };
            let addr: SocketAddr =
                api.listen.parse().map_err(|_| format!("api.listen: bad address {:?}", api.listen))?;
            if !is_loopback(&addr) && !api.listen_explicit {
                return Err(format!("api.listen: {addr} is not a loopback address; write it in the configuration"));
            }
            let app = routes::router(state, api.max_body_bytes, api.metrics);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("local API: cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            api_addr = Some(local);
            let rx = stop_rx.clone();
            match &api.tls {
                Some((cert, key)) => {
                    let acceptor = tls::acceptor(cert, key)?;
                    let l = tls::TlsListener::new(listener, acceptor, stopped(rx.clone()));
                    tasks.push(tokio::spawn(async move {
                        if let Err(e) = axum::serve(l, app).with_graceful_shutdown(stopped(rx)).await {
                            tracing::error!("local API: {e}");
                        }
                    }));
                    tracing::info!("local API listening on https://{local}");
                }
                None => {
                    if !is_loopback(&local) {
                        tracing::warn!(
                            "WARNING: the local API listens on {local} WITHOUT TLS: bouncer API keys, machine \
                             passwords and tokens cross the network in clear text. Configure api.tls (cert_file, \
                             key_file) or listen on 127.0.0.1."
                        );
                    }
                    tasks.push(tokio::spawn(async move {
                        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped(rx)).await {
                            tracing::error!("local API: {e}");
                        }
                    }));
                    tracing::info!("local API listening on http://{local}");
                }
            }
        }
        if let Some(l) = &api.prometheus_listen {
            let addr: SocketAddr = l.parse().map_err(|_| format!("prometheus.listen: bad address {l:?}"))?;
            // The keys are checked against the store: no store, no way to authenticate a scraper.
            let Some(state) = state.clone() else {
                return Err("prometheus.listen needs the store (store.enabled: true): /metrics takes an API key".into());
            };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("metrics: cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            metrics_addr = Some(local);
            if !is_loopback(&local) {
                tracing::warn!(
                    "WARNING: /metrics listens on {local} WITHOUT TLS: the API key a scraper sends crosses the \
                     network in clear text. Listen on 127.0.0.1, or scrape through the API with api.tls."
                );
            }
            let app = routes::metrics_router(state);
            let rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped(rx)).await {
                    tracing::error!("metrics listener: {e}");
                }
            }));
            tracing::info!("metrics listening on http://{local}/metrics");
        }
        if let Some(p) = &processor {
            tasks.push(spawn_cleanup(Arc::clone(p), settings, stop_rx.clone()));
        }
        Ok(ServerHandle { api_addr, metrics_addr, stop, tasks })
    }
}

/// Removes old expired decisions and old alerts every `store.cleanup_interval`.
fn spawn_cleanup(p: Arc<Processor>, settings: &Settings, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let s = settings.store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_nanos(s.cleanup_interval.max(1) as u64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let store = Arc::clone(p.store());
            let (ke, ka) = (s.keep_expired_decisions, s.keep_alerts);
            match tokio::task::spawn_blocking(move || store.cleanup(now_nanos(), ke, ka)).await {
                Ok(Ok(r)) if r.decisions + r.alerts > 0 => {
                    tracing::info!(decisions = r.decisions, alerts = r.alerts, "store cleanup")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("store cleanup: {e}"),
                Err(e) => tracing::warn!("store cleanup task: {e}"),
            }
        }
    })
}

/// What the daemon runs beside its pipeline: the alert processor (alert → profiles → store), the metrics, and
/// the server. Every call is cheap except [`Lapi::on_alert`], one SQLite transaction per alert.
pub struct Lapi {
    pub processor: Option<Arc<Processor>>,
    pub metrics: Arc<Metrics>,
    server: Option<ServerHandle>,
}

impl Lapi {
    /// Opens the store (unless `store.enabled: false`), loads the profiles, starts the enabled listeners.
    pub async fn start(settings: &Settings, pipeline: &Arc<Pipeline>) -> Result<Lapi, String> {
        let metrics = Metrics::new();
        metrics.set_pipeline(Arc::clone(pipeline));
        let processor = if settings.store.enabled {
            let s = settings.clone();
            let p = tokio::task::spawn_blocking(move || Processor::from_settings(&s))
                .await
                .map_err(|e| e.to_string())??;
            let p = Arc::new(p);
            metrics.set_store(Arc::clone(p.store()));
            metrics.set_processor(Arc::clone(&p));
            Some(p)
        } else {
            None
        };
        let wants_server = settings.api.enabled || settings.api.prometheus_listen.is_some() || processor.is_some();
        let server = if wants_server {
            Some(Server::start(settings, processor.clone(), Arc::clone(&metrics)).await?)
        } else {
            None
        };
        Ok(Lapi { processor, metrics, server })
    }

    /// Every listener name that some profile lists in `notifications` (see [`crate::output::dispatch::Route`]).
    pub fn routed_listeners(&self) -> std::collections::HashSet<String> {
        let Some(p) = &self.processor else { return Default::default() };
        p.profiles().profiles.iter().flat_map(|pr| pr.notifications.iter().cloned()).collect()
    }

    /// Where the API listens, if it does.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|s| s.api_addr)
    }

    /// Records one of the daemon's alerts (profiles → decisions → store) and returns the listener names the
    /// matching profiles ask to notify (for the daemon to route the alert). Errors are logged and counted: the
    /// alert still reaches the other outputs.
    pub fn on_alert(&self, alert: &Event) -> Vec<String> {
        let Some(p) = &self.processor else { return Vec::new() };
        match p.on_alert(alert) {
            Ok(recorded) => {
                let mut names: Vec<String> = Vec::new();
                for n in recorded.into_iter().flat_map(|r| r.notifications) {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                names
            }
            Err(e) => {
                tracing::error!("alert not recorded: {e}");
                Vec::new()
            }
        }
    }

    /// Publishes the live bucket count (call on the daemon's tick).
    pub fn on_tick(&self, buckets: &Buckets) {
        self.metrics.observe_buckets(buckets);
    }

    /// The running datasources, for their counters (call after start and after each reload).
    pub fn set_sources(&self, sources: &[SourceInfo]) {
        self.metrics.set_sources(sources);
    }

    pub async fn shutdown(self) {
        if let Some(s) = self.server {
            s.shutdown().await;
        }
    }
}
