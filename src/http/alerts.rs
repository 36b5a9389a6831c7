//! `POST /alerts/{source}`: a SIEM or EDR alert in, authenticated by the source's token
//! (`Authorization: Bearer <token>`, or `?token=<token>` for senders that cannot set headers),
//! compared in constant time. The answer comes once the alerts and all they cause are on disk:
//!
//! - `202 {"results": [{"incident": "INC-12", "status": "opened"}, …]}`, one per alert, status
//!   `opened`, `grouped`, `storm` or `resolved` (`incident` null for a resolved alert that
//!   matched no incident);
//! - `400 {"error": "…"}` naming what is missing or malformed, `401` for a missing or wrong
//!   token, `404` for an unknown source, `405` for another method, `408` for a body that does
//!   not arrive in time, `413` past `alerts.max_body_bytes`, `503` while starting or busy
//!   (retry), `500` when the store fails (retry: a repeat never opens a second incident).

use std::sync::{Arc, OnceLock};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{BODY_TIMEOUT, Body};
use crate::config::AlertSource;
use crate::metrics;
use crate::service::alert::AlertIntake;

/// Where the alert service appears once the daemon has built it (the listener starts first).
pub type Slot = Arc<OnceLock<AlertIntake>>;

/// A JSON error answer: `{"error": message}`.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn rejected(reason: &str, status: StatusCode, message: &str) -> Response<Body> {
    metrics::alert_rejected(reason);
    tracing::info!(reason, status = status.as_u16(), "alert request refused");
    error(status, message)
}

/// An answer that ends the request early (boxed: a response is large).
type Refusal = Box<Response<Body>>;

/// Handles `POST /alerts/<source>`.
pub async fn handle(req: Request<Incoming>, source: &str, slot: &Slot) -> Response<Body> {
    let (intake, config) = match admit(&req, source, slot) {
        Ok(found) => found,
        Err(refusal) => return *refusal,
    };
    let bytes = match read_body(req, intake.max_body_bytes()).await {
        Ok(bytes) => bytes,
        Err(refusal) => return *refusal,
    };
    let alerts = match crate::alert::parse(config.format, &bytes, &intake.parse_options()) {
        Ok(a) => a,
        Err(e) => return rejected("malformed", StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match intake.receive(source, &alerts).await {
        Ok(accepted) => {
            let results: Vec<serde_json::Value> = accepted
                .iter()
                .map(|a| {
                    json!({
                        "incident": a.incident.map(|i| i.to_string()),
                        "status": a.outcome.key(),
                    })
                })
                .collect();
            json_response(StatusCode::ACCEPTED, &json!({ "results": results }))
        }
        Err(e) => {
            tracing::error!(source, error = %e, "alert not stored");
            metrics::store_error();
            rejected(
                "store",
                StatusCode::INTERNAL_SERVER_ERROR,
                "socbot could not store the alert (a storage problem, logged for the operator); retry: a repeated alert never opens a second incident",
            )
        }
    }
}

/// The intake and the source's settings, once the service is up, the source known, the method
/// POST and the token right; otherwise the refusal to send.
fn admit<'a>(
    req: &Request<Incoming>,
    source: &str,
    slot: &'a Slot,
) -> Result<(&'a AlertIntake, &'a AlertSource), Refusal> {
    let Some(intake) = slot.get() else {
        let mut r = rejected(
            "unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "socbot is starting; retry in a moment",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(Box::new(r));
    };
    let Some(config) = intake.source(source) else {
        let shown: String = source.chars().take(64).collect();
        return Err(Box::new(rejected(
            "unknown_source",
            StatusCode::NOT_FOUND,
            &format!(
                "no alert source `{shown}`: the path names a source configured as [alerts.sources.<name>]"
            ),
        )));
    };
    if req.method() != Method::POST {
        let mut r = rejected(
            "method",
            StatusCode::METHOD_NOT_ALLOWED,
            "alerts are sent with POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(Box::new(r));
    }
    let presented = bearer(req).or_else(|| query_token(req.uri().query()));
    let expected = config.token.expose_secret().as_bytes();
    if !presented.is_some_and(|t| same(t.as_bytes(), expected)) {
        let mut r = rejected("unauthorized", StatusCode::UNAUTHORIZED, "unauthorized");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(Box::new(r));
    }
    Ok((intake, config))
}

/// The body, at most `max` bytes, arriving within [`BODY_TIMEOUT`].
async fn read_body(req: Request<Incoming>, max: usize) -> Result<Bytes, Refusal> {
    let too_large = || {
        rejected(
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than alerts.max_body_bytes ({max} bytes)"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Box::new(too_large()));
    }
    let body = Limited::new(req.into_body(), max);
    match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
        Err(_) => Err(Box::new(rejected(
            "timeout",
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        ))),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Box::new(too_large())),
        Ok(Err(e)) => Err(Box::new(rejected(
            "malformed",
            StatusCode::BAD_REQUEST,
            &format!("the body could not be read: {e}"),
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(req: &Request<Incoming>) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The `token` parameter of a query string, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(percent_decode)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Equal, in time that depends only on the lengths (not on where they differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3cre"));
        assert!(!same(b"s3cret", b"s3cret!"));
        assert!(!same(b"s3cret", b"S3cret"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn query_tokens_are_decoded() {
        assert_eq!(
            query_token(Some("a=1&token=ab%2Fc%3D")).as_deref(),
            Some("ab/c=")
        );
        assert_eq!(query_token(Some("token=x")).as_deref(), Some("x"));
        assert_eq!(query_token(Some("tokens=x")), None);
        assert_eq!(query_token(None), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
