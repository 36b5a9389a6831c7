//! A compact JSON Schema (2020-12) validator for the keywords Discord's OpenAPI spec uses.
//!
//! Covered: `$ref` (local pointers), `type`, `const`, `enum`, `properties`, `required`,
//! `additionalProperties`, `min/maxProperties`, `items`, `prefixItems`, `min/maxItems`,
//! `uniqueItems`, `min/maxLength` (code points), `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `allOf`, `anyOf`, `oneOf`, `not`, and `pattern` for the snowflake pattern
//! (the only pattern in a request body). `format` is an annotation in 2020-12 and is ignored.

use serde_json::{Map, Value};

/// The only `pattern` used by request bodies: `SnowflakeType`.
const SNOWFLAKE_PATTERN: &str = "^(0|[1-9][0-9]*)$";
const MAX_DEPTH: u32 = 96;

/// One failed check: where in the instance, and what.
#[derive(Clone, Debug)]
pub struct SchemaError {
    pub path: String,
    pub message: String,
    /// A `type`, `const` or `enum` mismatch: in a union, the mark of a wrong alternative.
    pub mismatch: bool,
}

impl SchemaError {
    fn new(path: impl Into<String>, message: String) -> Self {
        Self {
            path: path.into(),
            message,
            mismatch: false,
        }
    }
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(body)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Validates instances against schemas that may `$ref` into `root`.
pub struct Validator<'a> {
    pub root: &'a Value,
}

impl Validator<'_> {
    pub fn validate(&self, schema: &Value, instance: &Value) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        self.check(schema, instance, "", &mut errors, 0);
        errors
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        self.root.pointer(reference.strip_prefix('#')?)
    }

    fn check(
        &self,
        schema: &Value,
        inst: &Value,
        at: &str,
        out: &mut Vec<SchemaError>,
        depth: u32,
    ) {
        let err =
            |out: &mut Vec<SchemaError>, message: String| out.push(SchemaError::new(at, message));
        let mismatch = |out: &mut Vec<SchemaError>, message: String| {
            out.push(SchemaError {
                mismatch: true,
                ..SchemaError::new(at, message)
            });
        };
        let s = match schema {
            Value::Object(s) => s,
            Value::Bool(false) => return err(out, "no value is allowed here".into()),
            _ => return,
        };
        if depth > MAX_DEPTH {
            return err(out, "schema nesting too deep".into());
        }
        if let Some(reference) = s.get("$ref").and_then(Value::as_str) {
            match self.resolve(reference) {
                Some(target) => self.check(target, inst, at, out, depth + 1),
                None => err(out, format!("unresolvable $ref {reference}")),
            }
        }
        if let Some(t) = s.get("type")
            && !type_matches(t, inst)
        {
            return mismatch(out, format!("expected type {t} but got {}", describe(inst)));
        }
        if let Some(c) = s.get("const")
            && !json_eq(c, inst)
        {
            mismatch(out, format!("expected {c} but got {}", describe(inst)));
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.iter().any(|o| json_eq(o, inst))
        {
            mismatch(
                out,
                format!(
                    "{} is not one of {}",
                    describe(inst),
                    Value::Array(options.clone())
                ),
            );
        }
        match inst {
            Value::String(text) => check_string(s, text, at, out),
            Value::Number(n) => check_number(s, n.as_f64().unwrap_or(f64::NAN), at, out),
            Value::Array(items) => self.check_array(s, items, at, out, depth),
            Value::Object(map) => self.check_object(s, map, at, out, depth),
            _ => {}
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                self.check(sub, inst, at, out, depth + 1);
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            let Some(Value::Array(alternatives)) = s.get(keyword) else {
                continue;
            };
            let results: Vec<Vec<SchemaError>> = alternatives
                .iter()
                .map(|alt| {
                    let mut errs = Vec::new();
                    self.check(alt, inst, at, &mut errs, depth + 1);
                    errs
                })
                .collect();
            let matched = results.iter().filter(|r| r.is_empty()).count();
            if matched == 0 {
                let (index, closest) = closest(&results, at);
                let shown: Vec<String> = closest.iter().take(4).map(ToString::to_string).collect();
                err(
                    out,
                    format!(
                        "matches none of the {} alternatives of {keyword}; closest (#{index}) fails: {}",
                        results.len(),
                        shown.join("; ")
                    ),
                );
            } else if keyword == "oneOf" && matched > 1 {
                err(
                    out,
                    format!("matches {matched} alternatives of oneOf, exactly one allowed"),
                );
            }
        }
        if let Some(not) = s.get("not") {
            let mut errs = Vec::new();
            self.check(not, inst, at, &mut errs, depth + 1);
            if errs.is_empty() {
                err(out, format!("must not match {not}"));
            }
        }
    }

    fn check_array(
        &self,
        s: &Map<String, Value>,
        items: &[Value],
        at: &str,
        out: &mut Vec<SchemaError>,
        depth: u32,
    ) {
        let len = items.len() as f64;
        if let Some(min) = s
            .get("minItems")
            .and_then(Value::as_f64)
            .filter(|m| len < *m)
        {
            out.push(SchemaError::new(
                at,
                format!("{len} items, fewer than minItems {min}"),
            ));
        }
        if let Some(max) = s
            .get("maxItems")
            .and_then(Value::as_f64)
            .filter(|m| len > *m)
        {
            out.push(SchemaError::new(
                at,
                format!("{len} items, more than maxItems {max}"),
            ));
        }
        if s.get("uniqueItems") == Some(&Value::Bool(true)) {
            let duplicate = (0..items.len())
                .find(|&i| items[..i].iter().any(|earlier| json_eq(earlier, &items[i])));
            if let Some(i) = duplicate {
                out.push(SchemaError::new(
                    at,
                    format!("item {i} repeats an earlier item"),
                ));
            }
        }
        let prefix = s
            .get("prefixItems")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, item) in items.iter().enumerate() {
            let sub = prefix.get(i).or_else(|| s.get("items"));
            if let Some(sub) = sub {
                self.check(sub, item, &format!("{at}/{i}"), out, depth + 1);
            }
        }
    }

    fn check_object(
        &self,
        s: &Map<String, Value>,
        map: &Map<String, Value>,
        at: &str,
        out: &mut Vec<SchemaError>,
        depth: u32,
    ) {
        if let Some(Value::Array(required)) = s.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    out.push(SchemaError::new(
                        at,
                        format!("missing required property `{name}`"),
                    ));
                }
            }
        }
        let count = map.len() as f64;
        if let Some(min) = s
            .get("minProperties")
            .and_then(Value::as_f64)
            .filter(|m| count < *m)
        {
            out.push(SchemaError::new(
                at,
                format!("fewer than minProperties {min}"),
            ));
        }
        if let Some(max) = s
            .get("maxProperties")
            .and_then(Value::as_f64)
            .filter(|m| count > *m)
        {
            out.push(SchemaError::new(
                at,
                format!("more than maxProperties {max}"),
            ));
        }
        let properties = s.get("properties").and_then(Value::as_object);
        for (name, value) in map {
            let path = format!("{at}/{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => self.check(sub, value, &path, out, depth + 1),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(SchemaError::new(
                        path,
                        "property is not allowed (additionalProperties: false)".into(),
                    )),
                    Some(sub @ Value::Object(_)) => self.check(sub, value, &path, out, depth + 1),
                    _ => {}
                },
            }
        }
    }
}

fn check_string(s: &Map<String, Value>, text: &str, at: &str, out: &mut Vec<SchemaError>) {
    let len = text.chars().count() as f64;
    if let Some(min) = s
        .get("minLength")
        .and_then(Value::as_f64)
        .filter(|m| len < *m)
    {
        out.push(SchemaError::new(
            at,
            format!("string of {len} chars is shorter than minLength {min}"),
        ));
    }
    if let Some(max) = s
        .get("maxLength")
        .and_then(Value::as_f64)
        .filter(|m| len > *m)
    {
        out.push(SchemaError::new(
            at,
            format!("string of {len} chars is longer than maxLength {max}"),
        ));
    }
    if s.get("pattern").and_then(Value::as_str) == Some(SNOWFLAKE_PATTERN) {
        let ok = text == "0"
            || (!text.starts_with('0')
                && !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            out.push(SchemaError::new(at, format!("{text:?} is not a snowflake")));
        }
    }
}

fn check_number(s: &Map<String, Value>, n: f64, at: &str, out: &mut Vec<SchemaError>) {
    let bound = |k: &str| s.get(k).and_then(Value::as_f64);
    let failed = [
        bound("minimum")
            .filter(|m| n < *m)
            .map(|m| format!("{n} is less than minimum {m}")),
        bound("maximum")
            .filter(|m| n > *m)
            .map(|m| format!("{n} is more than maximum {m}")),
        bound("exclusiveMinimum")
            .filter(|m| n <= *m)
            .map(|m| format!("{n} is not above {m}")),
        bound("exclusiveMaximum")
            .filter(|m| n >= *m)
            .map(|m| format!("{n} is not below {m}")),
    ];
    out.extend(
        failed
            .into_iter()
            .flatten()
            .map(|message| SchemaError::new(at, message)),
    );
}

/// The alternative that got furthest: the fewest type/const/enum mismatches near the top (a
/// tagged union's wrong branches fail on the tag), then the deepest first error, then the
/// fewest errors.
fn closest<'r>(results: &'r [Vec<SchemaError>], at: &str) -> (usize, &'r [SchemaError]) {
    let depth = |e: &SchemaError| e.path[at.len().min(e.path.len())..].matches('/').count();
    results
        .iter()
        .enumerate()
        .max_by_key(|(i, errs)| {
            let first_mismatch = errs
                .iter()
                .filter(|e| e.mismatch)
                .map(depth)
                .min()
                .unwrap_or(usize::MAX);
            let shallowest = errs.iter().map(depth).min().unwrap_or(usize::MAX);
            (
                first_mismatch,
                shallowest,
                std::cmp::Reverse(errs.len()),
                std::cmp::Reverse(*i),
            )
        })
        .map_or((0, &[][..]), |(i, errs)| (i, errs.as_slice()))
}

fn type_matches(t: &Value, inst: &Value) -> bool {
    match t {
        Value::Array(types) => types.iter().any(|t| type_matches(t, inst)),
        Value::String(name) => match (name.as_str(), inst) {
            ("null", Value::Null) | ("boolean", Value::Bool(_)) | ("string", Value::String(_)) => {
                true
            }
            ("array", Value::Array(_))
            | ("object", Value::Object(_))
            | ("number", Value::Number(_)) => true,
            ("integer", Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

/// Equality as JSON Schema defines it: `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        _ => a == b,
    }
}

fn describe(inst: &Value) -> String {
    let text = inst.to_string();
    if text.chars().count() > 60 {
        let short: String = text.chars().take(57).collect();
        format!("{short}…")
    } else {
        text
    }
}
