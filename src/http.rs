//! The optional operations listener (`http.listen`): a tiny HTTP/1.1 responder on tokio's
//! `TcpListener`, no server framework. GET (and HEAD) only, one request per connection
//! (`Connection: close`), three paths:
//!
//! - `/healthz`: 200 while the process serves requests (liveness).
//! - `/readyz`: 200 when the Discord gateway is connected, the store answers and playbooks are
//!   loaded; 503 naming what is not (readiness).
//! - `/metrics`: Prometheus text format ([`crate::metrics`]).
//!
//! Anything else is 404; other methods 405. Requests are read with a deadline and a size cap,
//! and connections are capped, so a slow or hostile client cannot hold the daemon.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::metrics::{self, Gauges};
use crate::service::LibraryHandle;
use crate::store::Store;

/// Longest request head accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;

/// Where the listener actually bound (useful with port 0). Shared by clones: whoever holds the
/// configuration can read it once the daemon has started. Not a configuration key.
#[derive(Debug, Clone, Default)]
pub struct BoundAddr(Arc<Mutex<Option<SocketAddr>>>);

impl BoundAddr {
    pub fn get(&self) -> Option<SocketAddr> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, addr: Option<SocketAddr>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = addr;
    }
}

/// Parses `http.listen`: empty for off, else `IP:port` (`127.0.0.1:9184`, `[::]:9184`).
pub fn parse_listen(listen: &str) -> Result<Option<SocketAddr>, String> {
    let listen = listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    listen.parse().map(Some).map_err(|_| {
        format!(
            "`{listen}` is not an address to listen on; put IP:port such as 127.0.0.1:9184 (this host only) or 0.0.0.0:9184 (containers), or leave it empty for no listener"
        )
    })
}

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

/// Serves until `stop` turns true.
pub async fn serve(listener: TcpListener, probe: Probe, mut stop: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "health and metrics listening (/healthz, /readyz, /metrics)");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "health listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "health listener busy; connection closed");
            continue;
        };
        let probe = probe.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, &probe).await {
                debug!(%peer, error = %e, "health listener: connection ended");
            }
        });
    }
}

/// One request, one response, close.
async fn connection(mut stream: TcpStream, probe: &Probe) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            return write(&mut stream, false, 400, "text/plain", "bad request\n").await;
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return write(&mut stream, false, 408, "text/plain", "timeout\n").await,
    };
    let mut parts = head.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return write(&mut stream, false, 400, "text/plain", "bad request\n").await;
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return write(
            &mut stream,
            false,
            405,
            "text/plain",
            "only GET is served here\n",
        )
        .await;
    }
    let path = target.split('?').next().unwrap_or("");
    let (status, kind, body) = respond(path, probe);
    write(&mut stream, head_only, status, kind, &body).await
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
        "/metrics" => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(&probe.gauges()),
        ),
        _ => (
            404,
            TEXT,
            "not found: try /healthz, /readyz or /metrics\n".into(),
        ),
    }
}

/// Reads up to the end of the request head and returns its first line; None when it is not
/// HTTP or too long.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            return Ok(head.lines().next().map(str::to_owned));
        }
        if buf.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
}

async fn write(
    stream: &mut TcpStream,
    head_only: bool,
    status: u16,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        _ => "Service Unavailable",
    };
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&out).await?;
    stream.shutdown().await
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
    fn listen_is_off_or_an_ip_and_port() {
        assert_eq!(parse_listen("").unwrap(), None);
        assert_eq!(
            parse_listen(" 127.0.0.1:9184 ").unwrap(),
            Some("127.0.0.1:9184".parse().unwrap())
        );
        assert!(parse_listen("[::]:0").unwrap().is_some());
        let err = parse_listen("localhost").unwrap_err();
        assert!(err.contains("127.0.0.1:9184"), "{err}");
    }

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
