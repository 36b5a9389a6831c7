//! The fake REST API over HTTP/1.1: intake, fault injection, spec validation, recording.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::faults::FaultKind;
use super::http1::{self, RawRequest, RawResponse};
use super::state::{RecordedRequest, Shared, UploadedFile};
use super::{limits, multipart, objects, routes, spec};

const API_PREFIX: &str = "/api/v10";
const RECORDED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "user-agent",
    "x-audit-log-reason",
    "retry-after",
];

/// A parsed request on its way through the fake.
#[derive(Debug)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
    pub files: Vec<UploadedFile>,
}

/// A route's answer. `problem` is a protocol error to report as a violation.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub problem: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            problem: None,
        }
    }

    pub fn empty() -> Self {
        Self {
            status: 204,
            body: None,
            problem: None,
        }
    }

    /// A Discord error reply that is also reported as a protocol violation.
    pub fn error(status: u16, code: u32, message: &str, problem: impl Into<String>) -> Self {
        Self {
            status,
            body: Some(objects::error(code, message, None)),
            problem: Some(problem.into()),
        }
    }
}

/// Serves REST connections until the runtime ends.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let written = Arc::clone(&shared);
        let record_write = move |started: std::time::Instant| {
            super::state::Cost::add(&written.cost.handling_ns, started);
        };
        tokio::spawn(http1::serve_connection(
            tcp,
            move |req| handle(&shared, req),
            record_write,
        ));
    }
}

/// The interaction whose callback `record` is, when the fake accepted it.
fn accepted_callback(record: &RecordedRequest) -> Option<u64> {
    let rest = record.path.strip_prefix("/interactions/")?;
    let (id, _) = rest.split_once('/')?;
    (record.method == "POST" && record.path.ends_with("/callback") && record.status == 204)
        .then(|| id.parse().ok())
        .flatten()
}

/// Records and answers one request; `None` drops the connection (fault injection).
fn handle(shared: &Shared, raw: RawRequest) -> Option<RawResponse> {
    let started = std::time::Instant::now();
    let answered = handle_timed(shared, raw);
    let cost = &shared.cost;
    cost.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    super::state::Cost::add(&cost.handling_ns, started);
    answered
}

fn handle_timed(shared: &Shared, raw: RawRequest) -> Option<RawResponse> {
    let mut headers = BTreeMap::new();
    for name in RECORDED_HEADERS {
        if let Some(value) = raw.header(name) {
            headers.insert(name.to_owned(), value.to_owned());
        }
    }
    let (raw_path, query) = raw.target.split_once('?').unwrap_or((&raw.target, ""));
    let mut problems = Vec::new();
    let path = match raw_path.strip_prefix(API_PREFIX) {
        Some(rest) => rest.to_owned(),
        None => {
            let method = &raw.method;
            problems.push(format!(
                "[unexpected] {method} {raw_path}: not under {API_PREFIX}"
            ));
            raw_path.to_owned()
        }
    };
    let mut incoming = ApiRequest {
        method: raw.method,
        path,
        query: query.to_owned(),
        headers,
        body: None,
        files: Vec::new(),
    };
    parse_body(&mut incoming, &raw.body, &mut problems);

    let (status, response, fault) = answer(shared, &incoming, &mut problems);
    // Written out now, so the answer moves into the record instead of being copied.
    let body = response
        .as_ref()
        .map(|value| value.to_string().into_bytes());
    let record = RecordedRequest {
        seq: 0,
        method: incoming.method,
        path: incoming.path,
        query: incoming.query,
        headers: incoming.headers,
        body: incoming.body,
        files: incoming.files,
        status,
        response,
        fault: fault.clone(),
        violations: problems.clone(),
    };
    {
        let mut state = shared.lock();
        let seq = state.requests.len() as u64 + 1;
        if let Some(id) = accepted_callback(&record) {
            let at = state.requests.len();
            state.callbacks.entry(id).or_insert(at);
        }
        state.requests.push(RecordedRequest { seq, ..record });
        let numbered = problems.into_iter().map(|p| format!("request #{seq}: {p}"));
        state.violations.extend(numbered);
    }
    shared.changed();
    let mut headers = Vec::new();
    match fault {
        Some(FaultKind::DropConnection | FaultKind::LoseResponse) => return None,
        Some(FaultKind::Hang) => {
            return Some(RawResponse {
                hang: true,
                ..RawResponse::default()
            });
        }
        Some(FaultKind::Status429 { retry_after }) => {
            headers.push(("retry-after", retry_after.ceil().to_string()));
            headers.push(("x-ratelimit-scope", "user".to_owned()));
        }
        _ => {}
    }
    if body.is_some() {
        headers.push(("content-type", "application/json".to_owned()));
    }
    let body = body.unwrap_or_default();
    Some(RawResponse {
        status,
        headers,
        body,
        hang: false,
    })
}

fn parse_body(incoming: &mut ApiRequest, bytes: &[u8], problems: &mut Vec<String>) {
    if bytes.is_empty() {
        return;
    }
    let content_type = incoming
        .headers
        .get("content-type")
        .cloned()
        .unwrap_or_default();
    let what = format!("{} {}", incoming.method, incoming.path);
    if content_type.starts_with("multipart/form-data") {
        match multipart::parse(&content_type, bytes) {
            Ok(parts) => {
                for part in parts {
                    if part.name == "payload_json" {
                        match serde_json::from_slice(&part.data) {
                            Ok(value) => incoming.body = Some(value),
                            Err(e) => problems
                                .push(format!("[spec] {what}: payload_json is not JSON: {e}")),
                        }
                    } else if let Some(filename) = part.filename {
                        let file = UploadedFile {
                            field: part.name,
                            filename,
                            content_type: part.content_type,
                            bytes: part.data,
                        };
                        incoming.files.push(file);
                    }
                }
            }
            Err(e) => problems.push(format!("[spec] {what}: bad multipart body: {e}")),
        }
    } else {
        match serde_json::from_slice(bytes) {
            Ok(value) => incoming.body = Some(value),
            Err(e) => problems.push(format!(
                "[spec] {what}: body is not JSON ({content_type}): {e}"
            )),
        }
    }
}

/// Decides the answer: a fault, a spec rejection, or the route's reply.
fn answer(
    shared: &Shared,
    incoming: &ApiRequest,
    problems: &mut Vec<String>,
) -> (u16, Option<Value>, Option<FaultKind>) {
    let spec = spec::spec();
    let mut invalid = Vec::new();
    if let Some(body) = &incoming.body {
        let started = std::time::Instant::now();
        if let Some(op) = spec.and_then(|s| Some((s, s.find(&incoming.method, &incoming.path)?))) {
            invalid.extend(
                op.0.validate(op.1, body)
                    .into_iter()
                    .map(|v| format!("[spec] {v}")),
            );
        }
        let limits = limits::check(&incoming.method, &incoming.path, body);
        invalid.extend(
            limits
                .into_iter()
                .map(|v| format!("[limit] {} {}: {v}", incoming.method, incoming.path)),
        );
        super::state::Cost::add(&shared.cost.spec_ns, started);
    }
    problems.extend(invalid.iter().cloned());

    let mut state = shared.lock();
    let fault = state
        .faults
        .as_mut()
        .and_then(|f| f.decide(&incoming.method, &incoming.path));
    match fault {
        Some(FaultKind::Status500) => {
            return (
                500,
                Some(objects::error(0, "500: Internal Server Error", None)),
                fault,
            );
        }
        Some(FaultKind::Status403) => {
            return (
                403,
                Some(objects::error(50013, "Missing Permissions", None)),
                fault,
            );
        }
        Some(FaultKind::Status404) => {
            return (
                404,
                Some(objects::error(10003, "Unknown Channel", None)),
                fault,
            );
        }
        Some(FaultKind::Status429 { retry_after }) => {
            let body = json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false });
            return (429, Some(body), fault);
        }
        Some(FaultKind::DropConnection | FaultKind::Hang) => return (0, None, fault),
        Some(FaultKind::LoseResponse) | None => {}
    }
    if !invalid.is_empty() && shared.config.reject_invalid_bodies {
        let errors = json!({ "_errors": invalid.iter().map(|v| json!({ "code": "SPEC_VIOLATION", "message": v })).collect::<Vec<_>>() });
        return (
            400,
            Some(objects::error(50035, "Invalid Form Body", Some(errors))),
            None,
        );
    }
    let reply = match routes::route(shared, &mut state, incoming) {
        Some(reply) => reply,
        None => {
            let known = spec.map_or("", |s| {
                if s.knows(&incoming.method, &incoming.path) {
                    " (a Discord route the fake does not implement)"
                } else {
                    " (not a route in Discord's spec)"
                }
            });
            problems.push(format!(
                "[unexpected] {} {}{known}",
                incoming.method, incoming.path
            ));
            Reply {
                status: 404,
                body: Some(objects::error(0, "404: Not Found", None)),
                problem: None,
            }
        }
    };
    if let Some(problem) = reply.problem {
        problems.push(format!(
            "[protocol] {} {}: {problem}",
            incoming.method, incoming.path
        ));
    }
    (reply.status, reply.body, fault)
}
