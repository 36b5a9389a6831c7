//! Markdown playbook → [`Playbook`]. No I/O: takes the text and the name to report it under.
//!
//! The format: a `# Name - T1583006` heading, then one `| Column Name | Value |` table whose rows
//! are the playbook's fields. Tolerates what editors produce (CRLF, a byte-order mark, trailing
//! spaces, blank lines, escaped pipes `\|`) and reports every problem with its line.

use std::collections::HashMap;

use super::cell;
use super::diagnostic::Diagnostic;
use super::id::TechniqueId;
use super::model::{Playbook, Section, SectionKind};
use super::rule::Rule;

/// A parsed playbook and the warnings it raised.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub playbook: Playbook,
    pub warnings: Vec<Diagnostic>,
}

/// One table row, with the line it is on.
struct Row {
    line: usize,
    title: String,
    value: String,
}

const TACTIC: &str = "MITRE Tactic";
const TTP: &str = "MITRE TTP";
const SUB_TTP: &str = "MITRE Sub-TTP";
const NAME: &str = "Name";
const RULE: &str = "Escalation Rule";

/// Parses one playbook. `Err` holds at least one error (and any warnings found on the way).
pub fn parse(src: &str, path: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut heading: Option<(usize, String)> = None;
    let mut rows: Vec<Row> = Vec::new();
    let mut header_seen = false;
    for (idx, line) in src.split('\n').enumerate() {
        let n = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            if heading.is_none() && rows.is_empty() {
                heading = Some((n, h.trim().to_owned()));
            } else {
                diags.push(Diagnostic::warning(
                    path,
                    n,
                    "a second `# ` heading is ignored; one playbook per file",
                ));
            }
            continue;
        }
        if !line.starts_with('|') {
            diags.push(Diagnostic::warning(
                path,
                n,
                "text outside the table is ignored; put it in a table row (`| Title | text |`) to keep it",
            ));
            continue;
        }
        let cells = split_row(line);
        if is_separator(&cells) {
            // The row just above the first separator is the table's header, whatever it says.
            if !header_seen && rows.len() == 1 {
                rows.pop();
            }
            header_seen = true;
            continue;
        }
        if !header_seen
            && rows.is_empty()
            && cells
                .first()
                .is_some_and(|c| c.eq_ignore_ascii_case("Column Name"))
        {
            header_seen = true;
            continue;
        }
        let (title, value) = match cells.as_slice() {
            [] => continue,
            [title] => {
                diags.push(Diagnostic::warning(
                    path,
                    n,
                    format!("row `{title}` has no value cell; add `| value |`"),
                ));
                (title.clone(), String::new())
            }
            [title, value] => (title.clone(), value.clone()),
            [title, rest @ ..] => {
                diags.push(Diagnostic::warning(
                    path,
                    n,
                    format!(
                        "row `{title}` has {} cells; the extra `|` is kept as text. Escape a pipe inside a cell as `\\|`",
                        cells.len()
                    ),
                ));
                (title.clone(), rest.join(" | "))
            }
        };
        rows.push(Row {
            line: n,
            title,
            value,
        });
    }

    if rows.is_empty() {
        diags.push(Diagnostic::error(
            path,
            1,
            "no playbook table found: expected `| Column Name | Value |` followed by rows such as `| MITRE TTP | T1583.006 |`",
        ));
        return Err(diags);
    }

    // Index rows by title; a row given twice is an error, not a silent overwrite.
    let mut by_title: HashMap<String, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let key = row.title.to_ascii_lowercase();
        if let Some(&first) = by_title.get(&key) {
            diags.push(Diagnostic::error(
                path,
                row.line,
                format!(
                    "row `{}` is given twice (first at line {}); keep one",
                    row.title, rows[first].line
                ),
            ));
        } else {
            by_title.insert(key, i);
        }
    }
    let get = |title: &str| by_title.get(&title.to_ascii_lowercase()).map(|&i| &rows[i]);
    let first_line = rows[0].line;

    let id = technique_id(path, get(TTP), get(SUB_TTP), first_line, &mut diags);
    let heading_info = heading
        .as_ref()
        .map(|(line, text)| (*line, parse_heading(text)));
    if let (Some(id), Some((line, (_, Some(hid))))) = (id, &heading_info) {
        match TechniqueId::parse(hid) {
            Ok(h) if h == id => {}
            Ok(h) => diags.push(Diagnostic::error(
                path,
                *line,
                format!("the heading says {h} but the MITRE TTP row says {id}; make them the same technique"),
            )),
            Err(e) => diags.push(Diagnostic::error(path, *line, format!("heading: {e}"))),
        }
    }

    let name = match get(NAME).map(|r| r.value.trim()).filter(|v| !v.is_empty()) {
        Some(v) => v.to_owned(),
        None => match heading_info
            .as_ref()
            .and_then(|(_, (name, _))| name.clone())
        {
            Some(fallback) => {
                diags.push(Diagnostic::warning(
                    path,
                    get(NAME).map_or(first_line, |r| r.line),
                    "no `Name` row; using the heading's name. Add `| Name | … |`",
                ));
                fallback
            }
            None => {
                diags.push(Diagnostic::error(
                    path,
                    first_line,
                    "missing required row `Name` (e.g. `| Name | Acquire Infrastructure: Web Services |`)",
                ));
                String::new()
            }
        },
    };

    let tactics: Vec<String> = match get(TACTIC) {
        Some(r) => r
            .value
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        None => {
            diags.push(Diagnostic::warning(
                path,
                first_line,
                "no `MITRE Tactic` row; add one (e.g. `| MITRE Tactic | Resource Development |`)",
            ));
            Vec::new()
        }
    };

    let mut sections = Vec::new();
    let mut questions = Vec::new();
    for kind in SectionKind::KNOWN {
        let Some(row) = get(kind.row_title()) else {
            let message = format!("missing row `{}`", kind.row_title());
            if kind == SectionKind::Questions {
                diags.push(Diagnostic::error(
                    path,
                    first_line,
                    format!("{message}: add `| Questions for Analysis | Is …? Was …? |`"),
                ));
            } else {
                diags.push(Diagnostic::warning(
                    path,
                    first_line,
                    format!("{message}; the section will be empty"),
                ));
            }
            continue;
        };
        if row.value.trim().is_empty() {
            let sev = if kind == SectionKind::Questions {
                Diagnostic::error
            } else {
                Diagnostic::warning
            };
            diags.push(sev(path, row.line, format!("row `{}` is empty", row.title)));
        }
        if kind == SectionKind::Questions && !row.value.trim().is_empty() && !row.value.contains('?')
        {
            diags.push(Diagnostic::warning(
                path,
                row.line,
                "`Questions for Analysis` has no `?`, so it is read as one question; end each question with `?`",
            ));
        }
        let (lead, items) = if kind == SectionKind::Questions {
            let (lead, qs) = cell::questions(&row.value);
            questions.clone_from(&qs);
            (lead, qs)
        } else {
            let c = cell::split(&row.value);
            (c.lead, c.items)
        };
        sections.push(Section {
            kind,
            title: kind.row_title().to_owned(),
            lead,
            items,
            line: row.line,
        });
    }

    let known = [TACTIC, TTP, SUB_TTP, NAME, RULE];
    for row in &rows {
        let is_known = known.iter().any(|k| k.eq_ignore_ascii_case(&row.title))
            || SectionKind::from_row_title(&row.title).is_some();
        let first = by_title
            .get(&row.title.to_ascii_lowercase())
            .is_some_and(|&i| rows[i].line == row.line);
        if !is_known && first {
            let c = cell::split(&row.value);
            sections.push(Section {
                kind: SectionKind::Extra,
                title: row.title.clone(),
                lead: c.lead,
                items: c.items,
                line: row.line,
            });
        }
    }

    let (escalation_rule, rule) = match get(RULE) {
        None => (None, None),
        Some(row) => {
            let text = row.value.trim().to_owned();
            match Rule::parse(&text) {
                Ok(rule) => {
                    if let Some(&max) = rule.questions().last().filter(|&&m| m > questions.len()) {
                        diags.push(Diagnostic::error(
                            path,
                            row.line,
                            format!(
                                "the escalation rule names q{max} but the playbook has {} questions (q1…q{})",
                                questions.len(),
                                questions.len()
                            ),
                        ));
                    }
                    (Some(text), Some(rule))
                }
                Err(e) => {
                    diags.push(Diagnostic::error(path, row.line, e.to_string()));
                    (Some(text), None)
                }
            }
        }
    };

    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let Some(id) = id else { return Err(diags) };
    Ok(Parsed {
        playbook: Playbook {
            id,
            name,
            tactics,
            questions,
            sections,
            escalation_rule,
            rule,
            source: path.to_owned(),
        },
        warnings: diags,
    })
}

/// The technique id from the TTP and Sub-TTP rows: the Sub-TTP when it names a sub-technique.
fn technique_id(
    path: &str,
    ttp: Option<&Row>,
    sub: Option<&Row>,
    first_line: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<TechniqueId> {
    let errors_before = diags.len();
    let mut read = |row: Option<&Row>| -> Option<(usize, TechniqueId)> {
        let row = row.filter(|r| !is_placeholder(&r.value))?;
        match TechniqueId::parse(&row.value) {
            Ok(id) => Some((row.line, id)),
            Err(e) => {
                diags.push(Diagnostic::error(
                    path,
                    row.line,
                    format!("row `{}`: {e}", row.title),
                ));
                None
            }
        }
    };
    let ttp_id = read(ttp);
    let sub_id = read(sub);
    if ttp_id.is_none() && sub_id.is_none() && diags.len() == errors_before {
        diags.push(missing_id(path, ttp.or(sub), first_line));
    }
    match (ttp_id, sub_id) {
        (Some((_, t)), Some((line, s))) => {
            if t.technique != s.technique || (t.is_sub() && s.is_sub() && t != s) {
                diags.push(Diagnostic::error(
                    path,
                    line,
                    format!(
                        "MITRE Sub-TTP {s} does not belong to MITRE TTP {t}; correct one of them"
                    ),
                ));
                return None;
            }
            Some(if s.is_sub() { s } else { t })
        }
        (Some((_, id)), None) | (None, Some((_, id))) => Some(id),
        (None, None) => None,
    }
}

/// The error for a playbook that names no technique: the row is missing, or empty.
fn missing_id(path: &str, row: Option<&Row>, first_line: usize) -> Diagnostic {
    match row {
        None => Diagnostic::error(
            path,
            first_line,
            "missing required row `MITRE TTP`: add the technique id, e.g. `| MITRE TTP | T1583.006 |`",
        ),
        Some(row) => Diagnostic::error(
            path,
            row.line,
            format!(
                "row `{}` is empty: write the technique id, e.g. `| MITRE TTP | T1583.006 |`",
                row.title
            ),
        ),
    }
}

/// An empty id cell, or one that says there is none (`-`, `N/A`, `none`).
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || v.chars().all(|c| matches!(c, '-' | '—' | '–'))
        || ["n/a", "na", "none"].contains(&v.to_ascii_lowercase().as_str())
}

/// `Acquire_Infrastructure:_Web_Services - T1583006` → (name with spaces, id text).
fn parse_heading(text: &str) -> (Option<String>, Option<String>) {
    let (name, id) = match text.rsplit_once(" - ") {
        Some((name, id)) if id.trim().starts_with(['T', 't']) => (name, Some(id.trim().to_owned())),
        _ => (text, None),
    };
    let name = name
        .replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    ((!name.is_empty()).then_some(name), id)
}

/// Splits `| a | b \| c |` into cells, unescaping `\|`. Other backslashes are kept as written.
fn split_row(line: &str) -> Vec<String> {
    let body = line.strip_prefix('|').unwrap_or(line);
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        cells.push(cur);
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

fn is_separator(cells: &[String]) -> bool {
    !cells.is_empty()
        && cells
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}
