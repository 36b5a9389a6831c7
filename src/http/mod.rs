//! The optional HTTP listener (`http.listen`), on hyper's HTTP/1 server:
//!
//! - `GET /healthz`: 200 while the process serves requests (liveness).
//! - `GET /readyz`: 200 when the Discord gateway is connected, the store answers and playbooks
//!   are loaded; 503 naming what is not (readiness).
//! - `GET /metrics`: Prometheus text format ([`crate::metrics`]).
//! - `POST /alerts/{source}`: SIEM and EDR alerts ([`alerts`]).
//!
//! Anything else is 404; other methods 405. A client has [`HEADER_TIMEOUT`] to send its request
//! head and [`BODY_TIMEOUT`] its body. At most [`MAX_CONNECTIONS`] connections are served at
//! once; past that, [`PROBE_CONNECTIONS`] more are kept for the probes and metrics only (an
//! alert there is told to retry), so clients holding connections open never starve `/healthz`.
//! On shutdown the listener stops accepting, lets requests in flight finish (an alert being
//! written still gets its answer) and closes idle connections.

pub mod alerts;

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::metrics::{self, Gauges};
use crate::service::LibraryHandle;
use crate::store::Store;

/// Longest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Time a client has to send its request head (also while a kept-alive connection is idle).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client has to send its request body once the head is in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections served at once for everything.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections beyond [`MAX_CONNECTIONS`] served for the probes and metrics only; more are
/// closed at once.
pub const PROBE_CONNECTIONS: usize = 16;
/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The body every response has.
pub type Body = Full<Bytes>;

/// What the probes look at.
#[derive(Clone)]
pub struct Probe {
    pub library: LibraryHandle,
    pub store: Store,
}

/// Whether each readiness condition holds, for `/readyz` and `socbot_ready`.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    pub gateway: bool,
    pub store: bool,
    pub playbooks: usize,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.gateway && self.store && self.playbooks > 0
    }

    fn body(&self) -> String {
        let ok = |b: bool| if b { "ok" } else { "not ready" };
        format!(
            "{}\ngateway: {}\nstore: {}\nplaybooks: {} ({} loaded)\n",
            if self.ready() { "ready" } else { "not ready" },
            if self.gateway {
                "connected"
            } else {
                "not connected"
            },
            ok(self.store),
            ok(self.playbooks > 0),
            self.playbooks
        )
    }
}

impl Probe {
    pub fn readiness(&self) -> Readiness {
        Readiness {
            gateway: metrics::gateway_connected(),
            store: self.store.schema_version().is_ok(),
            playbooks: self.library.current().len(),
        }
    }

    fn gauges(&self) -> Gauges {
        let r = self.readiness();
        Gauges {
            playbooks_loaded: r.playbooks,
            outbox_depth: Some(self.store.outbox_len()),
            paging_deadlines: self.store.timer_count().ok(),
            dead_letters: Some(self.store.dead_letter_count()),
            ready: r.ready(),
        }
    }
}

/// Binds `addr`, naming the configuration key when it cannot.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("configuration key `http.listen`: cannot listen on {addr}: {e}")
    })
}

/// What the listener serves: the probes, and alerts once the incident service is up.
#[derive(Clone)]
pub struct Routes {
    pub probe: Probe,
    pub alerts: alerts::Slot,
}

/// Which connections a request came in on: one of the [`MAX_CONNECTIONS`], or one of the
/// [`PROBE_CONNECTIONS`] kept for the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Full,
    ProbesOnly,
}

/// Serves until `stop` turns true, then lets requests in flight finish (up to 10 s).
pub async fn serve(listener: TcpListener, routes: Routes, mut stop: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "HTTP listening (/healthz, /readyz, /metrics, POST /alerts/<source>)");
    }
    let full = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let probes = Arc::new(Semaphore::new(PROBE_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "HTTP listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let (permit, lane) = match full.clone().try_acquire_owned() {
            Ok(p) => (p, Lane::Full),
            Err(_) => match probes.clone().try_acquire_owned() {
                Ok(p) => (p, Lane::ProbesOnly),
                Err(_) => {
                    debug!(%peer, "HTTP listener busy; connection closed");
                    metrics::alert_rejected("busy");
                    continue;
                }
            },
        };
        let routes = routes.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, routes, lane, stop).await {
                debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("HTTP listener: requests still running after 10 s were cut at shutdown");
    }
}

/// Serves one connection: kept alive for alert senders, one request on the probes' lane.
async fn connection(
    stream: TcpStream,
    routes: Routes,
    lane: Lane,
    mut stop: watch::Receiver<bool>,
) -> Result<(), hyper::Error> {
    let service = service_fn(move |req| {
        let routes = routes.clone();
        async move { Ok::<_, Infallible>(route(req, &routes, lane).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .title_case_headers(true)
        .keep_alive(lane == Lane::Full);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        done = conn.as_mut() => done,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

async fn route(req: Request<Incoming>, routes: &Routes, lane: Lane) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if let Some(source) = path.strip_prefix("/alerts/") {
        if lane == Lane::ProbesOnly {
            metrics::alert_rejected("busy");
            let mut r = alerts::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "socbot is serving as many connections as it takes; retry in a moment",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        return alerts::handle(req, source, &routes.alerts).await;
    }
    if path == "/alerts" {
        metrics::alert_rejected("unknown_source");
        return alerts::error(
            StatusCode::NOT_FOUND,
            "name the source in the path: POST /alerts/<source>, one of the [alerts.sources] names",
        );
    }
    let head_only = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head_only {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET is served here\n".into(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let (status, kind, body) = respond(&path, &routes.probe);
    text(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        kind,
        body,
    )
}

/// A probe's answer: never cached, and the connection closes after it.
fn text(status: StatusCode, kind: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The status, content type and body for `path`.
pub fn respond(path: &str, probe: &Probe) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    match path {
        "/healthz" => (200, TEXT, "ok\n".into()),
        "/readyz" => {
            let r = probe.readiness();
            (if r.ready() { 200 } else { 503 }, TEXT, r.body())
        }
        "/metrics" => (200, metrics::CONTENT_TYPE, metrics::render(&probe.gauges())),
        _ => (
            404,
            TEXT,
            "not found: try /healthz, /readyz, /metrics or POST /alerts/<source>\n".into(),
        ),
    }
}

/// A minimal blocking client for `socbot health`: GETs `path` from `addr`; returns the status
/// and body.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    Ok((status, body.to_owned()))
}

/// The address a local client should use for a listener configured on `addr`: an unspecified
/// IP (`0.0.0.0`, `::`) becomes loopback.
pub fn local_target(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        assert_eq!(
            local_target("0.0.0.0:9184".parse().unwrap()),
            "127.0.0.1:9184".parse().unwrap()
        );
        assert_eq!(
            local_target("[::]:1".parse().unwrap()),
            "[::1]:1".parse().unwrap()
        );
        assert_eq!(
            local_target("10.1.2.3:5".parse().unwrap()),
            "10.1.2.3:5".parse().unwrap()
        );
    }
}
