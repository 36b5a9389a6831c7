//! Alerts over HTTP for the tests and the bench: a bot with alert sources and its listener on
//! loopback, and a small HTTP/1.1 client that POSTs a payload and reads the answer.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::bot::{Bot, BotDirs, config};
use super::discord::FakeDiscord;

/// The token every test source is configured with.
pub const TOKEN: &str = "alert-token-7f3a9c1e5b";

/// `SOCBOT__…` variables for a listener on a free loopback port and one source per
/// `(name, format)`, each with [`TOKEN`].
pub fn sources(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![("SOCBOT__HTTP__LISTEN".to_owned(), "127.0.0.1:0".to_owned())];
    for (name, format) in list {
        let upper = name.to_ascii_uppercase().replace('-', "_");
        env.push((
            format!("SOCBOT__ALERTS__SOURCES__{upper}__FORMAT"),
            (*format).to_owned(),
        ));
        env.push((
            format!("SOCBOT__ALERTS__SOURCES__{upper}__TOKEN"),
            TOKEN.to_owned(),
        ));
    }
    env
}

/// Starts the bot with `env` (see [`sources`]); returns it with the listener's address.
pub async fn start(
    fake: &FakeDiscord,
    dirs: &BotDirs,
    env: &[(String, String)],
) -> (Bot, SocketAddr) {
    let extra: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let cfg = config(fake, dirs, &extra);
    let bound = cfg.http.bound.clone();
    let bot = Bot::start_with(fake, cfg).await;
    let addr = bound.get().expect("the daemon reports where it listens");
    (bot, addr)
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// `results[i]` as (incident, status).
    pub fn result(&self, i: usize) -> (Option<String>, String) {
        let v = self.json();
        let r = &v["results"][i];
        (
            r["incident"].as_str().map(str::to_owned),
            r["status"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

/// Sends raw bytes and reads until the server closes.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    try_raw(addr, request)
        .await
        .unwrap_or_else(|e| panic!("the listener on {addr} answers: {e}"))
}

/// [`raw`], with a refused or reset connection as an error (a bot starting or just killed).
pub async fn try_raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("the server answers and closes")?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    Ok(Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// POSTs `body` to `path` with `headers` (`Connection: close`).
pub async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    raw(addr, &post_bytes(path, headers, body)).await
}

/// The bytes of a `POST` request (`Connection: close`).
fn post_bytes(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: socbot\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// POSTs `payload` to `/alerts/<source>` with the right token.
pub async fn send(addr: SocketAddr, source: &str, payload: &Value) -> Reply {
    raw(addr, &alert_bytes(source, payload)).await
}

/// [`send`] to a bot that may be starting or just killed: a refused or reset connection is an
/// error to retry on.
pub async fn try_send(addr: SocketAddr, source: &str, payload: &Value) -> std::io::Result<Reply> {
    try_raw(addr, &alert_bytes(source, payload)).await
}

fn alert_bytes(source: &str, payload: &Value) -> Vec<u8> {
    let auth = format!("Bearer {TOKEN}");
    post_bytes(
        &format!("/alerts/{source}"),
        &[("Authorization", &auth)],
        payload.to_string().as_bytes(),
    )
}
