//! A compact JSON Schema (2020-12) validator for the keywords Discord's OpenAPI spec uses.
//!
//! Covered: `$ref` (local pointers), `type`, `const`, `enum`, `properties`, `required`,
//! `additionalProperties`, `min/maxProperties`, `items`, `prefixItems`, `min/maxItems`,
//! `uniqueItems`, `min/maxLength` (code points), `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `allOf`, `anyOf`, `oneOf`, `not`, and `pattern` for the snowflake pattern
//! (the only pattern in a request body). `format` is an annotation in 2020-12 and is ignored.
//!
//! Schemas are compiled once per process ([`Compiler`]): each schema object becomes a [`Node`]
//! with its keywords read, its `$ref` resolved and its subschemas numbered, so checking a body
//! reads no keyword by name, resolves no pointer and copies nothing from the spec.

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
    /// Only pass or fail counts (the order of the checks may change, not their outcome).
    fn quiet(&self) -> bool;
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

    fn quiet(&self) -> bool {
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

    fn quiet(&self) -> bool {
        true
    }
}

/// A compiled schema's number in [`Schemas`].
pub type Id = usize;

/// JSON types as bits, for `type` (a name, or a list of names, read once).
const NULL: u8 = 1;
const BOOLEAN: u8 = 2;
const STRING: u8 = 4;
const ARRAY: u8 = 8;
const OBJECT: u8 = 16;
const NUMBER: u8 = 32;
const INTEGER: u8 = 64;
const ANY_TYPE: u8 = u8::MAX;

/// What a schema value is: an object of keywords, `false`, or anything else (`true`: no check).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keywords,
    Nothing,
    Anything,
}

/// `additionalProperties`: absent or `true`, `false`, or a schema.
#[derive(Clone, Copy)]
enum Additional {
    Any,
    Refused,
    Schema(Id),
}

/// One schema object with its keywords read and its subschemas compiled. Values are borrowed
/// from the spec (kept for the life of the process), for the messages that quote them.
struct Node<'a> {
    kind: Kind,
    /// The `$ref`'s target, or the reference that resolves to nothing.
    reference: Option<Result<Id, &'a str>>,
    types: Option<(&'a Value, u8)>,
    constant: Option<&'a Value>,
    options: Option<&'a Vec<Value>>,
    all_of: Option<Vec<Id>>,
    any_of: Option<Vec<Id>>,
    one_of: Option<Vec<Id>>,
    not: Option<(&'a Value, Id)>,
    min_items: Option<f64>,
    max_items: Option<f64>,
    unique_items: bool,
    prefix_items: Vec<Id>,
    items: Option<Id>,
    required: Vec<&'a str>,
    min_properties: Option<f64>,
    max_properties: Option<f64>,
    /// `properties`, sorted by name (looked up by binary search).
    properties: Option<Vec<(&'a str, Id)>>,
    /// Of `properties`, those that discriminate (see [`Node::discriminates`]): the tags a
    /// quiet check reads first.
    tags: Vec<(&'a str, Id)>,
    additional: Additional,
    min_length: Option<f64>,
    max_length: Option<f64>,
    snowflake: bool,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
}

impl Node<'_> {
    fn of_kind(kind: Kind) -> Self {
        Self {
            kind,
            reference: None,
            types: None,
            constant: None,
            options: None,
            all_of: None,
            any_of: None,
            one_of: None,
            not: None,
            min_items: None,
            max_items: None,
            unique_items: false,
            prefix_items: Vec::new(),
            items: None,
            required: Vec::new(),
            min_properties: None,
            max_properties: None,
            properties: None,
            tags: Vec::new(),
            additional: Additional::Any,
            min_length: None,
            max_length: None,
            snowflake: false,
            minimum: None,
            maximum: None,
            exclusive_minimum: None,
            exclusive_maximum: None,
        }
    }

    /// A `const` or `enum` check: what tells a tagged union's alternatives apart, so a quiet
    /// check tries these properties first.
    fn discriminates(&self) -> bool {
        self.constant.is_some() || self.options.is_some()
    }
}

/// Compiles schemas of one document: each schema value once (by address), `$ref`s resolved
/// through the document's references found in one walk.
pub struct Compiler<'a> {
    root: &'a Value,
    refs: HashMap<&'a str, &'a Value>,
    nodes: Vec<Node<'a>>,
    ids: HashMap<*const Value, Id>,
}

impl<'a> Compiler<'a> {
    pub fn new(root: &'a Value) -> Self {
        Self {
            root,
            refs: collect_refs(root),
            nodes: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// The compiled schema `schema`, compiling it (and what it reaches) on first sight.
    pub fn compile(&mut self, schema: &'a Value) -> Id {
        let key: *const Value = schema;
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.nodes.len();
        // Numbered before its subschemas, so a cycle of `$ref`s ends here.
        self.nodes.push(Node::of_kind(Kind::Anything));
        self.ids.insert(key, id);
        let node = match schema {
            Value::Object(map) => self.keywords(map),
            Value::Bool(false) => Node::of_kind(Kind::Nothing),
            _ => Node::of_kind(Kind::Anything),
        };
        self.nodes[id] = node;
        id
    }

    /// The compiled schemas, ready to check instances.
    pub fn finish(mut self) -> Schemas<'a> {
        // Tags are known once every node is (a property's node may have been compiled after
        // the object that names it, through a cycle of `$ref`s).
        let tags: Vec<Vec<(&str, Id)>> = self
            .nodes
            .iter()
            .map(|node| {
                let properties = node.properties.iter().flatten();
                let tagged = properties.filter(|(_, id)| self.nodes[*id].discriminates());
                tagged.copied().collect()
            })
            .collect();
        for (node, tags) in self.nodes.iter_mut().zip(tags) {
            node.tags = tags;
        }
        Schemas { nodes: self.nodes }
    }

    fn resolve(&self, reference: &'a str) -> Option<&'a Value> {
        if let Some(found) = self.refs.get(reference) {
            return Some(found);
        }
        self.root.pointer(reference.strip_prefix('#')?)
    }

    fn list(&mut self, value: Option<&'a Value>) -> Option<Vec<Id>> {
        match value {
            Some(Value::Array(all)) => Some(all.iter().map(|s| self.compile(s)).collect()),
            _ => None,
        }
    }

    fn keywords(&mut self, s: &'a Map<String, Value>) -> Node<'a> {
        let number = |k: &str| s.get(k).and_then(Value::as_f64);
        let mut node = Node::of_kind(Kind::Keywords);
        if let Some(reference) = s.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(reference).ok_or(reference);
            node.reference = Some(target.map(|t| self.compile(t)));
        }
        node.types = s.get("type").map(|t| (t, type_mask(t)));
        node.constant = s.get("const");
        node.options = s.get("enum").and_then(Value::as_array);
        node.all_of = self.list(s.get("allOf"));
        node.any_of = self.list(s.get("anyOf"));
        node.one_of = self.list(s.get("oneOf"));
        node.not = s.get("not").map(|not| (not, self.compile(not)));
        self.array_keywords(s, &mut node);
        self.object_keywords(s, &mut node);
        node.min_length = number("minLength");
        node.max_length = number("maxLength");
        node.snowflake = s.get("pattern").and_then(Value::as_str) == Some(SNOWFLAKE_PATTERN);
        node.minimum = number("minimum");
        node.maximum = number("maximum");
        node.exclusive_minimum = number("exclusiveMinimum");
        node.exclusive_maximum = number("exclusiveMaximum");
        node
    }

    fn array_keywords(&mut self, s: &'a Map<String, Value>, node: &mut Node<'a>) {
        node.min_items = s.get("minItems").and_then(Value::as_f64);
        node.max_items = s.get("maxItems").and_then(Value::as_f64);
        node.unique_items = s.get("uniqueItems") == Some(&Value::Bool(true));
        if let Some(prefix) = s.get("prefixItems").and_then(Value::as_array) {
            node.prefix_items = prefix.iter().map(|p| self.compile(p)).collect();
        }
        node.items = s.get("items").map(|items| self.compile(items));
    }

    fn object_keywords(&mut self, s: &'a Map<String, Value>, node: &mut Node<'a>) {
        if let Some(Value::Array(required)) = s.get("required") {
            node.required = required.iter().filter_map(Value::as_str).collect();
        }
        node.min_properties = s.get("minProperties").and_then(Value::as_f64);
        node.max_properties = s.get("maxProperties").and_then(Value::as_f64);
        if let Some(properties) = s.get("properties").and_then(Value::as_object) {
            let mut compiled: Vec<(&str, Id)> = properties
                .iter()
                .map(|(name, sub)| (name.as_str(), self.compile(sub)))
                .collect();
            compiled.sort_unstable_by(|a, b| a.0.cmp(b.0));
            node.properties = Some(compiled);
        }
        node.additional = match s.get("additionalProperties") {
            Some(Value::Bool(false)) => Additional::Refused,
            Some(sub @ Value::Object(_)) => Additional::Schema(self.compile(sub)),
            _ => Additional::Any,
        };
    }
}

/// Every local `$ref` of a document, resolved in one walk (a JSON pointer lookup per use would
/// unescape and walk the document each time).
fn collect_refs(root: &Value) -> HashMap<&str, &Value> {
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
    refs
}

/// Compiled schemas (see [`Compiler`]); checks instances against them.
pub struct Schemas<'a> {
    nodes: Vec<Node<'a>>,
}

impl Schemas<'_> {
    /// Every way `instance` breaks schema `id`, in the order the checks find them.
    pub fn validate(&self, id: Id, instance: &Value) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        self.check(id, instance, &At::Root, &mut errors, 0);
        errors
    }

    fn check<S: Sink>(&self, id: Id, inst: &Value, at: &At<'_>, out: &mut S, depth: u32) {
        let s = &self.nodes[id];
        match s.kind {
            Kind::Keywords => {}
            Kind::Nothing => return out.report(at, false, || "no value is allowed here".into()),
            Kind::Anything => return,
        }
        if depth > MAX_DEPTH {
            return out.report(at, false, || "schema nesting too deep".into());
        }
        match s.reference {
            Some(Ok(target)) => self.check(target, inst, at, out, depth + 1),
            Some(Err(reference)) => {
                out.report(at, false, || format!("unresolvable $ref {reference}"));
            }
            None => {}
        }
        if let Some((t, mask)) = s.types
            && mask & type_bits(inst) == 0
        {
            return out.report(at, true, || {
                format!("expected type {t} but got {}", describe(inst))
            });
        }
        if !self.check_value(s, inst, at, out) {
            return;
        }
        match inst {
            Value::String(text) => check_string(s, text, at, out),
            Value::Number(n) => check_number(s, n.as_f64().unwrap_or(f64::NAN), at, out),
            Value::Array(items) => self.check_array(s, items, at, out, depth),
            Value::Object(map) => self.check_object(s, map, at, out, depth),
            _ => {}
        }
        self.check_combinators(s, inst, at, out, depth);
    }

    /// `const` and `enum`; false when nothing more needs checking.
    fn check_value<S: Sink>(&self, s: &Node<'_>, inst: &Value, at: &At<'_>, out: &mut S) -> bool {
        if let Some(c) = s.constant
            && !json_eq(c, inst)
        {
            out.report(at, true, || {
                format!("expected {c} but got {}", describe(inst))
            });
        }
        if let Some(options) = s.options
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
        !out.done()
    }

    /// `allOf`, `anyOf`, `oneOf` and `not`.
    fn check_combinators<S: Sink>(
        &self,
        s: &Node<'_>,
        inst: &Value,
        at: &At<'_>,
        out: &mut S,
        depth: u32,
    ) {
        for &sub in s.all_of.iter().flatten() {
            if out.done() {
                return;
            }
            self.check(sub, inst, at, out, depth + 1);
        }
        for (keyword, alternatives) in [("anyOf", &s.any_of), ("oneOf", &s.one_of)] {
            if let Some(alternatives) = alternatives
                && !out.done()
            {
                self.check_union(keyword, alternatives, inst, at, out, depth);
            }
        }
        if let Some((not, id)) = s.not
            && !out.done()
            && self.matches(id, inst, at, depth + 1)
        {
            out.report(at, false, || format!("must not match {not}"));
        }
    }

    /// Whether `inst` passes schema `id`, stopping at the first failure.
    fn matches(&self, id: Id, inst: &Value, at: &At<'_>, depth: u32) -> bool {
        let mut quiet = Quiet::default();
        self.check(id, inst, at, &mut quiet, depth);
        !quiet.failed
    }

    /// `anyOf` (at least one alternative) or `oneOf` (exactly one). When none matches, the
    /// message shows the errors of the alternative that got furthest (see [`closest`]).
    fn check_union<S: Sink>(
        &self,
        keyword: &str,
        alternatives: &[Id],
        inst: &Value,
        at: &At<'_>,
        out: &mut S,
        depth: u32,
    ) {
        let mut passing = alternatives
            .iter()
            .filter(|&&alt| self.matches(alt, inst, at, depth + 1));
        let matched = if keyword == "oneOf" {
            passing.count()
        } else {
            usize::from(passing.next().is_some())
        };
        if matched == 0 {
            out.report(at, false, || {
                let results: Vec<Vec<SchemaError>> = alternatives
                    .iter()
                    .map(|&alt| {
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
        s: &Node<'_>,
        items: &[Value],
        at: &At<'_>,
        out: &mut S,
        depth: u32,
    ) {
        let len = items.len() as f64;
        if let Some(min) = s.min_items.filter(|m| len < *m) {
            out.report(at, false, || {
                format!("{len} items, fewer than minItems {min}")
            });
        }
        if let Some(max) = s.max_items.filter(|m| len > *m) {
            out.report(at, false, || {
                format!("{len} items, more than maxItems {max}")
            });
        }
        if s.unique_items {
            let duplicate = (0..items.len())
                .find(|&i| items[..i].iter().any(|earlier| json_eq(earlier, &items[i])));
            if let Some(i) = duplicate {
                out.report(at, false, || format!("item {i} repeats an earlier item"));
            }
        }
        for (i, item) in items.iter().enumerate() {
            if out.done() {
                return;
            }
            if let Some(&sub) = s.prefix_items.get(i).or(s.items.as_ref()) {
                self.check(sub, item, &At::Index(at, i), out, depth + 1);
            }
        }
    }

    fn check_object<S: Sink>(
        &self,
        s: &Node<'_>,
        map: &Map<String, Value>,
        at: &At<'_>,
        out: &mut S,
        depth: u32,
    ) {
        for &name in &s.required {
            if !map.contains_key(name) {
                out.report(at, false, || format!("missing required property `{name}`"));
            }
        }
        let count = map.len() as f64;
        if let Some(min) = s.min_properties.filter(|m| count < *m) {
            out.report(at, false, || format!("fewer than minProperties {min}"));
        }
        if let Some(max) = s.max_properties.filter(|m| count > *m) {
            out.report(at, false, || format!("more than maxProperties {max}"));
        }
        // Quiet (a union's alternative on trial): the tags (`const`/`enum` properties) first,
        // so a wrong alternative fails on its tag before its other properties are walked.
        // Loud: in order, for the same errors in the same order.
        let tags_first = out.quiet();
        if tags_first {
            for &(name, sub) in &s.tags {
                if out.done() {
                    return;
                }
                if let Some((name, value)) = map.get_key_value(name) {
                    self.check(sub, value, &At::Key(at, name), out, depth + 1);
                }
            }
        }
        let mut properties = Properties::new(s.properties.as_deref().unwrap_or_default());
        for (name, value) in map {
            if out.done() {
                return;
            }
            let path = At::Key(at, name);
            match properties.find(name) {
                Some(sub) if tags_first && self.nodes[sub].discriminates() => {}
                Some(sub) => self.check(sub, value, &path, out, depth + 1),
                None => match s.additional {
                    Additional::Refused => out.report(&path, false, || {
                        "property is not allowed (additionalProperties: false)".into()
                    }),
                    Additional::Schema(sub) => self.check(sub, value, &path, out, depth + 1),
                    Additional::Any => {}
                },
            }
        }
    }
}

/// Finds an instance's properties among a schema's (both sorted by name): a cursor that walks
/// forward as the names come in order (serde_json's map is sorted), a binary search when one
/// does not.
struct Properties<'n, 'a> {
    sorted: &'n [(&'a str, Id)],
    at: usize,
    last: Option<&'n str>,
}

impl<'n, 'a> Properties<'n, 'a> {
    fn new(sorted: &'n [(&'a str, Id)]) -> Self {
        Self {
            sorted,
            at: 0,
            last: None,
        }
    }

    fn find(&mut self, name: &'n str) -> Option<Id> {
        if self.last.is_some_and(|last| name < last) {
            self.at = self.sorted.partition_point(|(p, _)| *p < name);
        } else {
            while self.sorted.get(self.at).is_some_and(|(p, _)| *p < name) {
                self.at += 1;
            }
        }
        self.last = Some(name);
        let (p, id) = self.sorted.get(self.at)?;
        (*p == name).then_some(*id)
    }
}

fn check_string<S: Sink>(s: &Node<'_>, text: &str, at: &At<'_>, out: &mut S) {
    if s.min_length.is_none() && s.max_length.is_none() && !s.snowflake {
        return;
    }
    let len = text.chars().count() as f64;
    if let Some(min) = s.min_length.filter(|m| len < *m) {
        out.report(at, false, || {
            format!("string of {len} chars is shorter than minLength {min}")
        });
    }
    if let Some(max) = s.max_length.filter(|m| len > *m) {
        out.report(at, false, || {
            format!("string of {len} chars is longer than maxLength {max}")
        });
    }
    if s.snowflake {
        let ok = text == "0"
            || (!text.starts_with('0')
                && !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            out.report(at, false, || format!("{text:?} is not a snowflake"));
        }
    }
}

fn check_number<S: Sink>(s: &Node<'_>, n: f64, at: &At<'_>, out: &mut S) {
    if let Some(m) = s.minimum.filter(|m| n < *m) {
        out.report(at, false, || format!("{n} is less than minimum {m}"));
    }
    if let Some(m) = s.maximum.filter(|m| n > *m) {
        out.report(at, false, || format!("{n} is more than maximum {m}"));
    }
    if let Some(m) = s.exclusive_minimum.filter(|m| n <= *m) {
        out.report(at, false, || format!("{n} is not above {m}"));
    }
    if let Some(m) = s.exclusive_maximum.filter(|m| n >= *m) {
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

/// The bits of the types `t` (a name or a list of names) admits; anything else admits all.
fn type_mask(t: &Value) -> u8 {
    match t {
        Value::Array(types) => types.iter().fold(0, |mask, t| mask | type_mask(t)),
        Value::String(name) => match name.as_str() {
            "null" => NULL,
            "boolean" => BOOLEAN,
            "string" => STRING,
            "array" => ARRAY,
            "object" => OBJECT,
            "number" => NUMBER,
            "integer" => INTEGER,
            _ => 0,
        },
        _ => ANY_TYPE,
    }
}

/// The type bits of an instance (a whole number is also an `integer`).
fn type_bits(inst: &Value) -> u8 {
    match inst {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::String(_) => STRING,
        Value::Array(_) => ARRAY,
        Value::Object(_) => OBJECT,
        Value::Number(n) => {
            let whole = n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
            if whole { NUMBER | INTEGER } else { NUMBER }
        }
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
