//! Discord limits that the OpenAPI spec states more loosely (or not at all) but Discord enforces
//! for bots: 2,000-char content, 6,000 chars over all embeds, 5 action rows, autocomplete
//! choice values of 100 chars, 5 rows in a modal.

use serde_json::Value;

const CONTENT_MAX: usize = 2000;
const EMBEDS_TOTAL_MAX: usize = 6000;
const ACTION_ROWS_MAX: usize = 5;
const CHOICE_VALUE_MAX: usize = 100;
/// Message flag that switches a message to components v2 (other limits apply then).
const IS_COMPONENTS_V2: u64 = 1 << 15;

/// Limit violations of a request body, by route.
pub fn check(method: &str, path: &str, body: &Value) -> Vec<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut out = Vec::new();
    match (method, segments.as_slice()) {
        ("POST", ["channels", _, "messages"])
        | ("PATCH", ["channels", _, "messages", _])
        | ("POST", ["webhooks", _, _])
        | ("PATCH", ["webhooks", _, _, "messages", _]) => message(body, &mut out),
        ("POST", ["interactions", _, _, "callback"]) => {
            let data = body.get("data").unwrap_or(&Value::Null);
            match body.get("type").and_then(Value::as_u64) {
                Some(4 | 7) => message(data, &mut out),
                Some(8) => choices(data, &mut out),
                Some(9) => rows("/data/components", data, &mut out),
                _ => {}
            }
        }
        _ => {}
    }
    out
}

fn chars(value: Option<&Value>) -> usize {
    value
        .and_then(Value::as_str)
        .map_or(0, |s| s.chars().count())
}

fn message(body: &Value, out: &mut Vec<String>) {
    let content = chars(body.get("content"));
    if content > CONTENT_MAX {
        out.push(format!(
            "content: {content} chars, more than the {CONTENT_MAX} Discord allows a bot"
        ));
    }
    let embeds = body
        .get("embeds")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let total: usize = embeds
        .iter()
        .map(|e| {
            let fields = e
                .get("fields")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            chars(e.get("title"))
                + chars(e.get("description"))
                + chars(e.pointer("/footer/text"))
                + chars(e.pointer("/author/name"))
                + fields
                    .iter()
                    .map(|f| chars(f.get("name")) + chars(f.get("value")))
                    .sum::<usize>()
        })
        .sum();
    if total > EMBEDS_TOTAL_MAX {
        out.push(format!(
            "embeds: {total} chars in all, more than {EMBEDS_TOTAL_MAX}"
        ));
    }
    let flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0);
    if flags & IS_COMPONENTS_V2 == 0 {
        rows("components", body, out);
    }
}

fn rows(what: &str, body: &Value, out: &mut Vec<String>) {
    let count = body
        .get("components")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if count > ACTION_ROWS_MAX {
        out.push(format!("{what}: {count} rows, more than {ACTION_ROWS_MAX}"));
    }
}

fn choices(data: &Value, out: &mut Vec<String>) {
    for (i, choice) in data
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let len = chars(choice.get("value"));
        if len > CHOICE_VALUE_MAX {
            out.push(format!(
                "/data/choices/{i}/value: {len} chars, more than {CHOICE_VALUE_MAX}"
            ));
        }
    }
}
