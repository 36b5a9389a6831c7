//! Discord's OpenAPI spec, loaded once per process: operation lookup and request-body validation.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use super::schema::{Compiler, Id, Schemas};

/// Environment variable that points at another copy of `openapi.json`.
pub const SPEC_ENV: &str = "FAKE_DISCORD_SPEC";

/// One operation of the spec: method, path template and its JSON request-body schema.
#[derive(Debug)]
pub struct Operation {
    pub method: String,
    pub template: String,
    segments: Vec<String>,
    /// The JSON request body's schema, compiled.
    body_schema: Option<Id>,
}

/// The parsed spec with its operations indexed and their body schemas compiled (`$ref`s
/// resolved, keywords read). Loaded once per process and kept for its life (so the schemas
/// are borrowed, never copied, per request).
pub struct Spec {
    schemas: Schemas<'static>,
    operations: Vec<Operation>,
}

static SPEC: OnceLock<Option<Spec>> = OnceLock::new();

/// The spec, loaded and indexed on first use; `None` (after one explanatory line on stderr)
/// when the file is missing or unreadable.
pub fn spec() -> Option<&'static Spec> {
    SPEC.get_or_init(load).as_ref()
}

fn spec_path() -> PathBuf {
    std::env::var_os(SPEC_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/discord-api-spec/openapi.json"
            ))
        })
}

fn load() -> Option<Spec> {
    let path = spec_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(_) => {
            eprintln!(
                "fake-discord: spec not found at {}, request bodies are not validated",
                path.display()
            );
            return None;
        }
    };
    let doc: &'static Value = match serde_json::from_str(&text) {
        Ok(doc) => Box::leak(Box::new(doc)),
        Err(e) => {
            eprintln!(
                "fake-discord: spec at {} is not JSON ({e}), request bodies are not validated",
                path.display()
            );
            return None;
        }
    };
    let mut compiler = Compiler::new(doc);
    let mut operations = Vec::new();
    for (template, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for (method, op) in item.as_object().into_iter().flatten() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let body_schema = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(|schema| compiler.compile(schema));
            operations.push(Operation {
                method: method.to_ascii_uppercase(),
                template: template.clone(),
                segments: template
                    .trim_start_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect(),
                body_schema,
            });
        }
    }
    Some(Spec {
        schemas: compiler.finish(),
        operations,
    })
}

impl Spec {
    /// The operation for `method` and a concrete `path` (without `/api/v10`); literal segments
    /// win over `{parameters}`, so `/users/@me` beats `/users/{user_id}`.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| {
                op.method.eq_ignore_ascii_case(method) && op.segments.len() == segments.len()
            })
            .filter_map(|op| {
                let mut literal = 0;
                for (pattern, actual) in op.segments.iter().zip(&segments) {
                    if pattern.starts_with('{') {
                        continue;
                    }
                    if pattern != actual {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, op))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, op)| op)
    }

    /// Whether `method path` is an operation the spec knows.
    pub fn knows(&self, method: &str, path: &str) -> bool {
        self.find(method, path).is_some()
    }

    /// Validates a JSON body (or a multipart `payload_json`) against the operation's JSON
    /// request schema; returns readable violations.
    pub fn validate(&self, op: &Operation, body: &Value) -> Vec<String> {
        let Some(schema) = op.body_schema else {
            return Vec::new();
        };
        let tolerated;
        let body = if has_known_deviations(body) {
            let mut copy = body.clone();
            tolerate_known_deviations(&mut copy);
            tolerated = copy;
            &tolerated
        } else {
            body
        };
        self.schemas
            .validate(schema, body)
            .into_iter()
            .map(|e| format!("{} {}: {e}", op.method, op.template))
            .collect()
    }
}

/// Whether [`tolerate_known_deviations`] would change anything (most bodies: no copy needed).
fn has_known_deviations(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, child)| {
            (key == "attachments"
                && child
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.get("id").is_some_and(Value::is_u64))))
                || has_known_deviations(child)
        }),
        Value::Array(items) => items.iter().any(has_known_deviations),
        _ => false,
    }
}

/// Discord accepts, and serenity sends, a new attachment's placeholder id as a number
/// (`"attachments":[{"id":0,…}]`) where the spec says string: turn exactly those into strings.
fn tolerate_known_deviations(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "attachments" {
                    for attachment in child.as_array_mut().into_iter().flatten() {
                        if let Some(id) = attachment.get_mut("id").filter(|id| id.is_u64()) {
                            *id = Value::String(id.to_string());
                        }
                    }
                }
                tolerate_known_deviations(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tolerate_known_deviations),
        _ => {}
    }
}
