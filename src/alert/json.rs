//! Reading a JSON payload by path, the way SIEM products write it: nested objects
//! (`{"rule": {"id": …}}`), flattened dotted keys (`{"rule.id": …}`) or any mix, with lists
//! anywhere along the way. Every value found carries the path it was found at, so an error can
//! say exactly where the payload is wrong (`alerts[2].labels.severity`).

use serde_json::{Map, Value};

use super::AlertError;

/// A value inside the payload and the path that leads to it (empty for the root).
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub value: &'a Value,
    path: &'a str,
    // Owned paths are built on demand; `At` stays `Copy` by borrowing from a `Found`.
}

/// A value found by [`At::all`]: owns its path.
#[derive(Debug, Clone)]
pub(crate) struct Found<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Found<'a> {
    pub fn at(&self) -> At<'_> {
        At {
            value: self.value,
            path: &self.path,
        }
    }
}

/// `base.key`, or `key` at the root.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

impl<'a> At<'a> {
    pub fn root(value: &'a Value) -> Self {
        Self { value, path: "" }
    }

    pub fn path(&self) -> &str {
        self.path
    }

    /// The path of `rel` below this value, for messages.
    pub fn path_of(&self, rel: &str) -> String {
        join(self.path, rel)
    }

    pub fn as_object(&self) -> Option<&'a Map<String, Value>> {
        self.value.as_object()
    }

    /// Every value at the dotted path `rel` below this one: objects may be nested or have
    /// dotted keys, and a list along the way (or at the end) contributes each of its elements.
    /// `null` counts as absent.
    pub fn all(&self, rel: &str) -> Vec<Found<'a>> {
        let segments: Vec<&str> = rel.split('.').filter(|s| !s.is_empty()).collect();
        let mut out = Vec::new();
        collect(self.value, self.path.to_owned(), &segments, &mut out);
        out
    }

    /// The first value at `rel` (see [`At::all`]), or none.
    pub fn first(&self, rel: &str) -> Option<Found<'a>> {
        self.all(rel).into_iter().next()
    }

    /// Text at `rel`: a string, or a number or boolean written as text. Empty text is absent.
    /// A list takes its first element. An object is an error naming the path.
    pub fn text(&self, rel: &str) -> Result<Option<String>, AlertError> {
        match self.first(rel) {
            None => Ok(None),
            Some(found) => scalar_text(&found),
        }
    }

    /// Like [`At::text`], but absent is an error saying what the field is for.
    pub fn required_text(&self, rel: &str, what: &str) -> Result<String, AlertError> {
        self.text(rel)?
            .ok_or_else(|| AlertError::at(self.path_of(rel), format!("missing: {what}")))
    }

    /// Every text value at `rel`, lists flattened (for technique ids and tags).
    pub fn texts(&self, rel: &str) -> Result<Vec<(String, String)>, AlertError> {
        self.all(rel)
            .iter()
            .filter_map(|f| {
                scalar_text(f)
                    .transpose()
                    .map(|t| t.map(|t| (t, f.path.clone())))
            })
            .collect()
    }
}

impl At<'_> {
    /// Every text value at `rel`, skipping objects (for fields that are text in one product
    /// version and an object in another, like Splunk's `annotations.mitre_attack`).
    pub fn texts_only(&self, rel: &str) -> Vec<(String, String)> {
        self.all(rel)
            .iter()
            .filter_map(|f| scalar_text(f).ok().flatten().map(|t| (t, f.path.clone())))
            .collect()
    }

    /// The alerts in a payload that holds one alert object, a list of them, or either under
    /// `wrapper` (`{"alerts": [...]}`): each with its path (`[2]`, `alerts[2]`, or the root).
    pub fn alerts(&self, wrapper: Option<&str>) -> Vec<Found<'_>> {
        let (value, base) = match (wrapper, self.value) {
            (Some(key), Value::Object(map)) if map.contains_key(key) => {
                (&map[key], self.path_of(key))
            }
            _ => (self.value, self.path.to_owned()),
        };
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, value)| Found {
                    value,
                    path: format!("{base}[{i}]"),
                })
                .collect(),
            _ => vec![Found { value, path: base }],
        }
    }

    /// This value as an object, or an error saying what it is instead.
    pub fn object(&self, what: &str) -> Result<&Map<String, Value>, AlertError> {
        self.value.as_object().ok_or_else(|| {
            AlertError::at(
                self.path,
                format!("expected {what} (an object), found {}", kind(self.value)),
            )
        })
    }
}

/// A scalar as text: strings, numbers and booleans; `None` for empty text.
pub(crate) fn scalar_text(found: &Found<'_>) -> Result<Option<String>, AlertError> {
    let text = match found.value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => return Ok(None),
        Value::Object(_) | Value::Array(_) => {
            return Err(AlertError::at(
                found.path.clone(),
                format!("expected text, found {}", kind(found.value)),
            ));
        }
    };
    Ok((!text.is_empty()).then_some(text))
}

/// What a JSON value is, for messages: "an object", "a list", "text", …
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn collect<'a>(value: &'a Value, path: String, segments: &[&str], out: &mut Vec<Found<'a>>) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, format!("{path}[{i}]"), segments, out);
            }
        }
        _ if segments.is_empty() => out.push(Found { value, path }),
        Value::Object(map) => {
            // `a.b.c` may be written {"a": {"b": {"c"}}}, {"a.b": {"c"}}, {"a.b.c"}, …: try
            // every split, shortest key first, so nested and flattened both match.
            for take in 1..=segments.len() {
                let key = segments[..take].join(".");
                if let Some(child) = map.get(&key) {
                    collect(child, join(&path, &key), &segments[take..], out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_flattened_and_mixed_paths_find_the_same_values() {
        for doc in [
            json!({"kibana": {"alert": {"rule": {"name": "R"}}}}),
            json!({"kibana.alert.rule.name": "R"}),
            json!({"kibana.alert": {"rule.name": "R"}}),
        ] {
            let at = At::root(&doc);
            assert_eq!(
                at.text("kibana.alert.rule.name").unwrap().as_deref(),
                Some("R")
            );
        }
    }

    #[test]
    fn lists_along_the_path_contribute_every_element_with_its_index() {
        let doc = json!({"threat": [
            {"technique": [{"id": "T1059"}, {"id": "T1003"}]},
            {"technique": {"id": "T1566"}},
        ]});
        let found = At::root(&doc).texts("threat.technique.id").unwrap();
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|(t, p)| (t.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("T1059", "threat[0].technique[0].id"),
                ("T1003", "threat[0].technique[1].id"),
                ("T1566", "threat[1].technique.id"),
            ]
        );
    }

    #[test]
    fn an_object_where_text_belongs_names_the_path() {
        let doc = json!({"rule": {"description": {"en": "x"}}});
        let err = At::root(&doc).text("rule.description").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`rule.description`: expected text, found an object"
        );
    }

    #[test]
    fn numbers_read_as_text_and_null_or_empty_is_absent() {
        let doc = json!({"id": 5710, "a": null, "b": "  "});
        let at = At::root(&doc);
        assert_eq!(at.text("id").unwrap().as_deref(), Some("5710"));
        assert_eq!(at.text("a").unwrap(), None);
        assert_eq!(at.text("b").unwrap(), None);
        assert_eq!(
            at.required_text("c", "the title").unwrap_err().to_string(),
            "`c`: missing: the title"
        );
    }
}
