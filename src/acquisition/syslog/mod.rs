//! The `syslog` datasource: a syslog server on UDP and/or TCP whose messages are rebuilt into BSD lines.
//!
//! UDP: one datagram is one message, cut at `max_message_len`. TCP (RFC 6587): several concurrent senders, each
//! connection framed by octet counting or newlines (see `framing`), at most `max_connections` at once (more are
//! refused), closed after `idle_timeout` of silence. Malformed messages are counted and logged at a limited rate
//! (governor), never fatal. `Src` is the sender's IP address, as in CrowdSec.
//!
//! What this module is not: message parsing (`rebuild`) or stream framing (`framing`).

pub mod framing;
pub mod rebuild;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::acquisition::record::{Emitter, Stopped};
use crate::config::acquis::SyslogConfig;
use crate::event::LineOrigin;

use framing::Framer;

/// Warnings about bad input: at most this many per minute per datasource; the rest are only counted.
const WARNINGS_PER_MINUTE: u32 = 10;

/// Rate-limited warnings, with a count of what was suppressed.
struct WarnLimiter {
    limiter: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
}

impl WarnLimiter {
    fn new() -> Self {
        let per_minute = NonZeroU32::new(WARNINGS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        WarnLimiter { limiter: RateLimiter::direct(Quota::per_minute(per_minute)), suppressed: AtomicU64::new(0) }
    }

    fn warn(&self, what: std::fmt::Arguments<'_>) {
        if self.limiter.check().is_ok() {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            warn!(suppressed_since_last = suppressed, "syslog: {what}");
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A bound syslog server, ready to run.
pub struct SyslogServer {
    cfg: SyslogConfig,
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
}

impl SyslogServer {
    /// Binds the configured sockets (the error names the address).
    pub async fn bind(cfg: &SyslogConfig) -> Result<Self, String> {
        let ip: IpAddr =
            cfg.listen_addr.parse().map_err(|_| format!("listen_addr {:?} is not an IP address", cfg.listen_addr))?;
        let addr = SocketAddr::new(ip, cfg.listen_port);
        let udp = if cfg.udp {
            Some(UdpSocket::bind(addr).await.map_err(|e| format!("syslog: cannot listen on udp://{addr}: {e}"))?)
        } else {
            None
        };
        let tcp = if cfg.tcp {
            Some(TcpListener::bind(addr).await.map_err(|e| format!("syslog: cannot listen on tcp://{addr}: {e}"))?)
        } else {
            None
        };
        Ok(SyslogServer { cfg: cfg.clone(), udp, tcp })
    }

    /// The bound addresses (UDP, TCP): useful with port 0.
    pub fn local_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (self.udp.as_ref().and_then(|s| s.local_addr().ok()), self.tcp.as_ref().and_then(|s| s.local_addr().ok()))
    }

    /// Serves until stopped.
    pub async fn run(self, emitter: Emitter) {
        let warn = Arc::new(WarnLimiter::new());
        let handler = Arc::new(Handler { emitter, cfg: self.cfg.clone(), warn });
        let udp = self.udp.map(|s| tokio::spawn(serve_udp(s, Arc::clone(&handler))));
        let tcp = self.tcp.map(|l| tokio::spawn(serve_tcp(l, Arc::clone(&handler))));
        if let Some(h) = udp {
            let _ = h.await;
        }
        if let Some(h) = tcp {
            let _ = h.await;
        }
    }
}

/// What every socket task shares: turns raw messages into records.
struct Handler {
    emitter: Emitter,
    cfg: SyslogConfig,
    warn: Arc<WarnLimiter>,
}

impl Handler {
    async fn message(&self, data: &[u8], truncated: bool, origin: &Arc<LineOrigin>) -> Result<(), Stopped> {
        let m = &self.emitter.metrics;
        m.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        if truncated {
            m.truncated.fetch_add(1, Ordering::Relaxed);
        }
        let now = chrono::Utc::now();
        match rebuild::rebuild(data, self.cfg.disable_rfc_parser, now) {
            Ok(line) => self.emitter.send(self.emitter.record(origin, line, now.fixed_offset(), None)).await,
            Err(why) => {
                m.malformed.fetch_add(1, Ordering::Relaxed);
                let shown = String::from_utf8_lossy(&data[..data.len().min(200)]).into_owned();
                self.warn.warn(format_args!("dropped message from {}: {why}: {shown:?}", origin.src));
                Ok(())
            }
        }
    }
}

async fn serve_udp(sock: UdpSocket, h: Arc<Handler>) {
    let max = h.cfg.max_message_len;
    // One byte more than the cap tells a datagram that was cut.
    let mut buf = vec![0u8; (max + 1).min(65_536)];
    let mut last_peer: Option<(IpAddr, Arc<LineOrigin>)> = None;
    loop {
        let (n, peer) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    h.emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    h.warn.warn(format_args!("udp receive error: {e}"));
                    continue;
                }
            },
            _ = h.emitter.stop.wait() => return,
        };
        // Reuse the origin while the sender does not change (the common case: one relay).
        let origin = match &last_peer {
            Some((ip, s)) if *ip == peer.ip() => Arc::clone(s),
            _ => {
                let s = h.emitter.origin(&peer.ip().to_string());
                last_peer = Some((peer.ip(), Arc::clone(&s)));
                s
            }
        };
        let truncated = n > max;
        if h.message(&buf[..n.min(max)], truncated, &origin).await.is_err() {
            return;
        }
    }
}

async fn serve_tcp(listener: TcpListener, h: Arc<Handler>) {
    let slots = Arc::new(Semaphore::new(h.cfg.max_connections));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    h.emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    h.warn.warn(format_args!("tcp accept error: {e}"));
                    // Out of file descriptors and the like: don't spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = h.emitter.stop.wait() => break,
        };
        // Reap finished connection tasks so the set does not grow.
        while conns.try_join_next().is_some() {}
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            h.emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
            h.warn.warn(format_args!(
                "refused connection from {peer}: max_connections ({}) reached",
                h.cfg.max_connections
            ));
            drop(stream);
            continue;
        };
        let h = Arc::clone(&h);
        conns.spawn(async move {
            h.emitter.metrics.open.fetch_add(1, Ordering::Relaxed);
            serve_connection(stream, peer, &h).await;
            h.emitter.metrics.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    // Stop requested: connection tasks see it too; wait for them to finish their current message.
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, h: &Handler) {
    debug!(%peer, "syslog connection");
    let origin = h.emitter.origin(&peer.ip().to_string());
    let mut framer = Framer::new(h.cfg.max_message_len);
    let mut buf = vec![0u8; 16 * 1024];
    let idle = Duration::from_secs(h.cfg.idle_timeout_secs.max(1));
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => match r {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "syslog connection error");
                    0
                }
                Err(_) => {
                    debug!(%peer, "syslog connection idle, closed");
                    return;
                }
            },
            _ = h.emitter.stop.wait() => return,
        };
        if n == 0 {
            if let Some(f) = framer.finish() {
                let _ = h.message(&f.data, f.truncated, &origin).await;
            }
            debug!(%peer, "syslog connection closed");
            return;
        }
        framer.push(&buf[..n]);
        while let Some(f) = framer.next_frame() {
            if h.message(&f.data, f.truncated, &origin).await.is_err() {
                return;
            }
        }
    }
}
