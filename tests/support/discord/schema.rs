//! A compact JSON Schema (2020-12) validator for the keywords Discord's OpenAPI spec uses.
//!
//! Covered: `$ref` (local pointers), `type`, `const`, `enum`, `properties`, `required`,
//! `additionalProperties`, `min/maxProperties`, `items`, `prefixItems`, `min/maxItems`,
//! `uniqueItems`, `min/maxLength` (code points), `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `allOf`, `anyOf`, `oneOf`, `not`, and `pattern` for the snowflake pattern
//! (the only pattern in a request body). `format` is an annotation in 2020-12 and is ignored.

use std::collections::HashMap;

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

/// Where in the instance, as a chain of steps: written out only when an error is reported
/// (a valid body, and every union alternative tried on the way, allocates no paths).
#[derive(Clone, Copy)]
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Key(parent, key) => write!(f, "{parent}/{key}"),
            At::Index(parent, i) => write!(f, "{parent}/{i}"),
        }
    }
}

/// Where failed checks go. A union's alternatives are first tried against [`Quiet`], which
/// stops at the first failure and builds no message; only when none matches are they checked
/// again into a list, for the message naming the closest one. The errors reported are the same.
trait Sink {
    fn report(&mut self, at: &At<'_>, mismatch: bool, message: impl FnOnce() -> String);
    /// True once nothing more needs checking (quiet: something failed).
    fn done(&self) -> bool;
}

impl Sink for Vec<SchemaError> {
    fn report(&mut self, at: &At<'_>, mismatch: bool, message: impl FnOnce() -> String) {
        self.push(SchemaError {
            path: at.to_string(),
            message: message(),
            mismatch,
        });
    }

    fn done(&self) -> bool {
        false
    }
}

/// Whether anything failed, and nothing else.
#[derive(Default)]
struct Quiet {
    failed: bool,
}

impl Sink for Quiet {
    fn report(&mut self, _: &At<'_>, _: bool, _: impl FnOnce() -> String) {
        self.failed = true;
    }

    fn done(&self) -> bool {
        self.failed
    }
}

/// The keywords the validator reads.
#[derive(Clone, Copy)]
enum K {
    Ref,
    Type,
    Const,
    Enum,
    AllOf,
    AnyOf,
    OneOf,
    Not,
    MinItems,
    MaxItems,
    UniqueItems,
    PrefixItems,
    Items,
    Required,
    MinProperties,
    MaxProperties,
    Properties,
    AdditionalProperties,
    MinLength,
    MaxLength,
    Pattern,
    Minimum,
    Maximum,
    ExclusiveMinimum,
    ExclusiveMaximum,
}

/// A schema object's keywords, found in one pass over its entries (a schema object has a few;
/// looking each of the 25 keywords up by name on every visit was most of the validator's time).
struct Keywords<'s>([Option<&'s Value>; 25]);

impl<'s> Keywords<'s> {
    fn of(schema: &'s Map<String, Value>) -> Self {
        let mut slots = [None; 25];
        for (name, value) in schema {
            let k = match name.as_str() {
                "$ref" => K::Ref,
                "type" => K::Type,
                "const" => K::Const,
                "enum" => K::Enum,
                "allOf" => K::AllOf,
                "anyOf" => K::AnyOf,
                "oneOf" => K::OneOf,
                "not" => K::Not,
                "minItems" => K::MinItems,
                "maxItems" => K::MaxItems,
                "uniqueItems" => K::UniqueItems,
                "prefixItems" => K::PrefixItems,
                "items" => K::Items,
                "required" => K::Required,
                "minProperties" => K::MinProperties,
                "maxProperties" => K::MaxProperties,
                "properties" => K::Properties,
                "additionalProperties" => K::AdditionalProperties,
                "minLength" => K::MinLength,
                "maxLength" => K::MaxLength,
                "pattern" => K::Pattern,
                "minimum" => K::Minimum,
                "maximum" => K::Maximum,
                "exclusiveMinimum" => K::ExclusiveMinimum,
                "exclusiveMaximum" => K::ExclusiveMaximum,
                _ => continue,
            };
            slots[k as usize] = Some(value);
        }
        Self(slots)
    }

    fn get(&self, k: K) -> Option<&'s Value> {
        self.0[k as usize]
    }
}

/// Every local `$ref` of a document, resolved once (a JSON pointer lookup per use would
/// unescape and walk the document on every visit).
pub struct Refs<'a>(HashMap<&'a str, &'a Value>);

impl<'a> Refs<'a> {
    pub fn collect(root: &'a Value) -> Self {
        let mut refs = HashMap::new();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            match node {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref")
                        && let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p))
                    {
                        refs.insert(r.as_str(), target);
                    }
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        Self(refs)
    }
}

/// Validates instances against schemas that may `$ref` into `root`.
pub struct Validator<'a> {
    pub root: &'a Value,
    /// The document's references, resolved in advance (see [`Refs`]); None: resolved on use.
    pub refs: Option<&'a Refs<'a>>,
}

impl Validator<'_> {
    pub fn validate(&self, schema: &Value, instance: &Value) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        self.check(schema, instance, &At::Root, &mut errors, 0);
        errors
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        if let Some(found) = self.refs.and_then(|r| r.0.get(reference)) {
            return Some(found);
        }
        self.root.pointer(reference.strip_prefix('#')?)
    }

    fn check<S: Sink>(&self, schema: &Value, inst: &Value, at: &At<'_>, out: &mut S, depth: u32) {
        let s = match schema {
            Value::Object(s) => Keywords::of(s),
            Value::Bool(false) => {
                return out.report(at, false, || "no value is allowed here".into());
            }
            _ => return,
        };
        if depth > MAX_DEPTH {
            return out.report(at, false, || "schema nesting too deep".into());
        }
        if let Some(reference) = s.get(K::Ref).and_then(Value::as_str) {
            match self.resolve(reference) {
                Some(target) => self.check(target, inst, at, out, depth + 1),
                None => out.report(at, false, || format!("unresolvable $ref {reference}")),
            }
        }
        if let Some(t) = s.get(K::Type)
            && !type_matches(t, inst)
        {
            return out.report(at, true, || {
                format!("expected type {t} but got {}", describe(inst))
            });
        }
        if let Some(c) = s.get(K::Const)
            && !json_eq(c, inst)
        {
            out.report(at, true, || {
                format!("expected {c} but got {}", describe(inst))
            });
        }
        if let Some(Value::Array(options)) = s.get(K::Enum)
            && !options.iter().any(|o| json_eq(o, inst))
        {
            out.report(at, true, || {
                format!(
                    "{} is not one of {}",
                    describe(inst),
                    Value::Array(options.clone())
                )
            });
        }
        if out.done() {
            return;
        }
        match inst {
            Value::String(text) => check_string(&s, text, at, out),
            Value::Number(n) => check_number(&s, n.as_f64().unwrap_or(f64::NAN), at, out),
            Value::Array(items) => self.check_array(&s, items, at, out, depth),
            Value::Object(map) => self.check_object(&s, map, at, out, depth),
            _ => {}
        }
        if let Some(Value::Array(all)) = s.get(K::AllOf) {
            for sub in all {
                if out.done() {
                    return;
                }
                self.check(sub, inst, at, out, depth + 1);
            }
        }
        for (keyword, key) in [("anyOf", K::AnyOf), ("oneOf", K::OneOf)] {
            if let Some(Value::Array(alternatives)) = s.get(key)
                && !out.done()
            {
                self.check_union(keyword, alternatives, inst, at, out, depth);
            }
        }
        if let Some(not) = s.get(K::Not)
            && !out.done()
            && self.matches(not, inst, at, depth + 1)
        {
            out.report(at, false, || format!("must not match {not}"));
        }
    }

    /// Whether `inst` passes `schema`, stopping at the first failure.
    fn matches(&self, schema: &Value, inst: &Value, at: &At<'_>, depth: u32) -> bool {
        let mut quiet = Quiet::default();
        self.check(schema, inst, at, &mut quiet, depth);
        !quiet.failed
    }

    /// `anyOf` (at least one alternative) or `oneOf` (exactly one). When none matches, the
    /// message shows the errors of the alternative that got furthest (see [`closest`]).
    fn check_union<S: Sink>(
        &self,
        keyword: &str,
        alternatives: &[Value],
        inst: &Value,
        at: &At<'_>,
        out: &mut S,
        depth: u32,
    ) {
        let mut passing = alternatives
            .iter()
            .filter(|alt| self.matches(alt, inst, at, depth + 1));
        let matched = if keyword == "oneOf" {
            passing.count()
        } else {
            usize::from(passing.next().is_some())
        };
        if matched == 0 {
            out.report(at, false, || {
                let results: Vec<Vec<SchemaError>> = alternatives
                    .iter()
                    .map(|alt| {
                        let mut errs = Vec::new();
                        self.check(alt, inst, at, &mut errs, depth + 1);
                        errs
                    })
                    .collect();
                let (index, closest) = closest(&results, &at.to_string());
                let shown: Vec<String> = closest.iter().take(4).map(ToString::to_string).collect();
                format!(
                    "matches none of the {} alternatives of {keyword}; closest (#{index}) fails: {}",
                    results.len(),
                    shown.join("; ")
                )
            });
        } else if keyword == "oneOf" && matched > 1 {
            out.report(at, false, || {
                format!("matches {matched} alternatives of oneOf, exactly one allowed")
            });
        }
    }

    fn check_array<S: Sink>(
        &self,
        s: &Keywords<'_>,
        items: &[Value],
        at: &At<'_>,
        out: &mut S,
        depth: u32,
    ) {
        let len = items.len() as f64;
        if let Some(min) = s
            .get(K::MinItems)
            .and_then(Value::as_f64)
            .filter(|m| len < *m)
        {
            out.report(at, false, || {
                format!("{len} items, fewer than minItems {min}")
            });
        }
        if let Some(max) = s
            .get(K::MaxItems)
            .and_then(Value::as_f64)
            .filter(|m| len > *m)
        {
            out.report(at, false, || {
                format!("{len} items, more than maxItems {max}")
            });
        }
        if s.get(K::UniqueItems) == Some(&Value::Bool(true)) {
            let duplicate = (0..items.len())
                .find(|&i| items[..i].iter().any(|earlier| json_eq(earlier, &items[i])));
            if let Some(i) = duplicate {
                out.report(at, false, || format!("item {i} repeats an earlier item"));
            }
        }
        let prefix = s
            .get(K::PrefixItems)
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, item) in items.iter().enumerate() {
            if out.done() {
                return;
            }
            let sub = prefix.get(i).or_else(|| s.get(K::Items));
            if let Some(sub) = sub {
                self.check(sub, item, &At::Index(at, i), out, depth + 1);
            }
        }
    }

    fn check_object<S: Sink>(
        &self,
        s: &Keywords<'_>,
        map: &Map<String, Value>,
        at: &At<'_>,
        out: &mut S,
        depth: u32,
    ) {
        if let Some(Value::Array(required)) = s.get(K::Required) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    out.report(at, false, || format!("missing required property `{name}`"));
                }
            }
        }
        let count = map.len() as f64;
        if let Some(min) = s
            .get(K::MinProperties)
            .and_then(Value::as_f64)
            .filter(|m| count < *m)
        {
            out.report(at, false, || format!("fewer than minProperties {min}"));
        }
        if let Some(max) = s
            .get(K::MaxProperties)
            .and_then(Value::as_f64)
            .filter(|m| count > *m)
        {
            out.report(at, false, || format!("more than maxProperties {max}"));
        }
        let properties = s.get(K::Properties).and_then(Value::as_object);
        for (name, value) in map {
            if out.done() {
                return;
            }
            let path = At::Key(at, name);
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => self.check(sub, value, &path, out, depth + 1),
                None => match s.get(K::AdditionalProperties) {
                    Some(Value::Bool(false)) => out.report(&path, false, || {
                        "property is not allowed (additionalProperties: false)".into()
                    }),
                    Some(sub @ Value::Object(_)) => self.check(sub, value, &path, out, depth + 1),
                    _ => {}
                },
            }
        }
    }
}

fn check_string<S: Sink>(s: &Keywords<'_>, text: &str, at: &At<'_>, out: &mut S) {
    let len = text.chars().count() as f64;
    if let Some(min) = s
        .get(K::MinLength)
        .and_then(Value::as_f64)
        .filter(|m| len < *m)
    {
        out.report(at, false, || {
            format!("string of {len} chars is shorter than minLength {min}")
        });
    }
    if let Some(max) = s
        .get(K::MaxLength)
        .and_then(Value::as_f64)
        .filter(|m| len > *m)
    {
        out.report(at, false, || {
            format!("string of {len} chars is longer than maxLength {max}")
        });
    }
    if s.get(K::Pattern).and_then(Value::as_str) == Some(SNOWFLAKE_PATTERN) {
        let ok = text == "0"
            || (!text.starts_with('0')
                && !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            out.report(at, false, || format!("{text:?} is not a snowflake"));
        }
    }
}

fn check_number<S: Sink>(s: &Keywords<'_>, n: f64, at: &At<'_>, out: &mut S) {
    let bound = |k: K| s.get(k).and_then(Value::as_f64);
    if let Some(m) = bound(K::Minimum).filter(|m| n < *m) {
        out.report(at, false, || format!("{n} is less than minimum {m}"));
    }
    if let Some(m) = bound(K::Maximum).filter(|m| n > *m) {
        out.report(at, false, || format!("{n} is more than maximum {m}"));
    }
    if let Some(m) = bound(K::ExclusiveMinimum).filter(|m| n <= *m) {
        out.report(at, false, || format!("{n} is not above {m}"));
    }
    if let Some(m) = bound(K::ExclusiveMaximum).filter(|m| n >= *m) {
        out.report(at, false, || format!("{n} is not below {m}"));
    }
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
