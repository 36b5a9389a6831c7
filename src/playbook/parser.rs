//! Markdown playbook → [`Playbook`]. No I/O: takes the text and the name to report it under.
//!
//! The format: a `# Name - T1583006` heading, then one `| Column Name | Value |` table whose rows
//! are the playbook's fields. Tolerates what editors produce (CRLF, a byte-order mark, trailing
//! spaces, blank lines, escaped pipes `\|`) and reports every problem with its line.

use std::collections::HashMap;

use super::cell;
use super::diagnostic::Diagnostic;
use super::id::TechniqueId;
use super::model::{MAX_QUESTIONS, Playbook, Section, SectionKind};
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

/// The problems found so far in one file.
struct Problems<'a> {
    path: &'a str,
    diags: Vec<Diagnostic>,
}

impl Problems<'_> {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(self.path, line, message));
    }
    fn warning(&mut self, line: usize, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(self.path, line, message));
    }
    fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// What the file holds before interpretation: the `# ` heading and the table rows.
struct Table {
    heading: Option<(usize, String)>,
    rows: Vec<Row>,
}

/// The rows indexed by title (case-insensitive); the first of a repeated title wins.
struct Rows {
    rows: Vec<Row>,
    by_title: HashMap<String, usize>,
}

impl Rows {
    fn get(&self, title: &str) -> Option<&Row> {
        self.by_title
            .get(&title.to_ascii_lowercase())
            .map(|&i| &self.rows[i])
    }
    fn first_line(&self) -> usize {
        self.rows.first().map_or(1, |r| r.line)
    }
}

/// Parses one playbook. `Err` holds at least one error (and any warnings found on the way).
pub fn parse(src: &str, path: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let mut p = Problems {
        path,
        diags: Vec::new(),
    };
    let table = read_table(src, &mut p);
    if table.rows.is_empty() {
        p.error(
            1,
            "no playbook table found: expected `| Column Name | Value |` followed by rows such as `| MITRE TTP | T1583.006 |`",
        );
        return Err(p.diags);
    }
    let rows = index_rows(table.rows, &mut p);
    let heading = table
        .heading
        .map(|(line, text)| (line, parse_heading(&text)));
    let found = technique_id(&rows, &mut p);
    let (id_line, id) = (found.map_or(0, |(line, _)| line), found.map(|(_, id)| id));
    if let (Some(id), Some((line, (_, Some(text))))) = (id, &heading) {
        check_heading_id(id, *line, text, &mut p);
    }
    let heading_name = heading.and_then(|(_, (name, _))| name);
    let name = name(&rows, heading_name, &mut p);
    let tactics = tactics(&rows, &mut p);
    let (mut sections, questions) = known_sections(&rows, &mut p);
    sections.extend(extra_sections(&rows));
    let (escalation_rule, rule) = escalation_rule(rows.get(RULE), questions.len(), &mut p);
    match id {
        Some(id) if !p.has_errors() => Ok(Parsed {
            playbook: Playbook {
                id,
                name,
                tactics,
                questions,
                sections,
                escalation_rule,
                rule,
                source: path.to_owned(),
                id_line,
            },
            warnings: p.diags,
        }),
        _ => Err(p.diags),
    }
}

/// Reads the heading and the table rows line by line, skipping the header and separator rows.
fn read_table(src: &str, p: &mut Problems<'_>) -> Table {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut table = Table {
        heading: None,
        rows: Vec::new(),
    };
    let mut header_seen = false;
    for (idx, line) in src.split('\n').enumerate() {
        let n = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            if table.heading.is_none() && table.rows.is_empty() {
                table.heading = Some((n, h.trim().to_owned()));
            } else {
                p.warning(n, "a second `# ` heading is ignored; one playbook per file");
            }
            continue;
        }
        if !line.starts_with('|') {
            p.warning(
                n,
                "text outside the table is ignored; put it in a table row (`| Title | text |`) to keep it",
            );
            continue;
        }
        let cells = split_row(line);
        if is_separator(&cells) {
            // The row just above the first separator is the table's header, whatever it says.
            if !header_seen && table.rows.len() == 1 {
                table.rows.pop();
            }
            header_seen = true;
            continue;
        }
        let is_header = cells
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case("Column Name"));
        if !header_seen && table.rows.is_empty() && is_header {
            header_seen = true;
            continue;
        }
        if let Some(row) = row_of(cells, n, p) {
            table.rows.push(row);
        }
    }
    table
}

/// One row from its cells: the first is the title, the rest the value.
fn row_of(cells: Vec<String>, line: usize, p: &mut Problems<'_>) -> Option<Row> {
    let mut cells = cells.into_iter();
    let title = cells.next()?;
    let rest: Vec<String> = cells.collect();
    let value = match rest.len() {
        0 => {
            p.warning(
                line,
                format!("row `{title}` has no value cell; add `| value |`"),
            );
            String::new()
        }
        1 => rest.into_iter().next().unwrap_or_default(),
        n => {
            p.warning(
                line,
                format!(
                    "row `{title}` has {} cells; the extra `|` is kept as text. Escape a pipe inside a cell as `\\|`",
                    n + 1
                ),
            );
            rest.join(" | ")
        }
    };
    let title = if title.is_empty() {
        p.warning(line, "a row without a title: its text is kept under `Untitled`; write the title in the first cell");
        "Untitled".to_owned()
    } else {
        title
    };
    Some(Row { line, title, value })
}

/// Indexes rows by title. A row given twice is an error, not a silent overwrite.
fn index_rows(rows: Vec<Row>, p: &mut Problems<'_>) -> Rows {
    let mut by_title: HashMap<String, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let key = row.title.to_ascii_lowercase();
        match by_title.get(&key) {
            Some(&first) => p.error(
                row.line,
                format!(
                    "row `{}` is given twice (first at line {}); keep one",
                    row.title, rows[first].line
                ),
            ),
            None => {
                by_title.insert(key, i);
            }
        }
    }
    Rows { rows, by_title }
}

/// The heading's id (`T1583006`) must name the same technique as the TTP rows.
fn check_heading_id(id: TechniqueId, line: usize, text: &str, p: &mut Problems<'_>) {
    match TechniqueId::parse(text) {
        Ok(h) if h == id => {}
        Ok(h) => p.error(
            line,
            format!(
                "the heading says {h} but the MITRE TTP row says {id}; make them the same technique"
            ),
        ),
        Err(e) => p.error(line, format!("heading: {e}")),
    }
}

/// The Name row, else the heading's name (with a warning), else an error.
fn name(rows: &Rows, heading_name: Option<String>, p: &mut Problems<'_>) -> String {
    let row = rows.get(NAME);
    if let Some(v) = row.map(|r| r.value.trim()).filter(|v| !v.is_empty()) {
        return v.to_owned();
    }
    let line = row.map_or(rows.first_line(), |r| r.line);
    match heading_name {
        Some(fallback) => {
            p.warning(
                line,
                "the `Name` row is missing or empty; using the heading's name. Add `| Name | … |`",
            );
            fallback
        }
        None => {
            p.error(
                line,
                "missing required row `Name`: add it, e.g. `| Name | Acquire Infrastructure: Web Services |`",
            );
            String::new()
        }
    }
}

/// The MITRE Tactic row as a list: `Persistence, Privilege Escalation`.
fn tactics(rows: &Rows, p: &mut Problems<'_>) -> Vec<String> {
    let tactics: Vec<String> = rows
        .get(TACTIC)
        .map(|r| r.value.split(',').map(str::trim).filter(|t| !t.is_empty()))
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    if tactics.is_empty() {
        p.warning(
            rows.get(TACTIC).map_or(rows.first_line(), |r| r.line),
            "no tactic: add one or more, comma separated (e.g. `| MITRE Tactic | Persistence, Privilege Escalation |`)",
        );
    }
    tactics
}

/// The seven known sections in the format's order, and the analysis questions.
fn known_sections(rows: &Rows, p: &mut Problems<'_>) -> (Vec<Section>, Vec<String>) {
    let mut sections = Vec::new();
    let mut questions = Vec::new();
    for kind in SectionKind::KNOWN {
        let Some(row) = rows.get(kind.row_title()) else {
            missing_section(kind, rows.first_line(), p);
            continue;
        };
        let (lead, items) = if kind == SectionKind::Questions {
            let (lead, qs) = question_cell(row, p);
            questions.clone_from(&qs);
            (lead, qs)
        } else {
            if row.value.trim().is_empty() {
                p.warning(
                    row.line,
                    format!(
                        "row `{}` is empty; write its text or delete the row",
                        row.title
                    ),
                );
            }
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
    (sections, questions)
}

/// A known row that is absent: an error for the questions, a warning for the others.
fn missing_section(kind: SectionKind, line: usize, p: &mut Problems<'_>) {
    let message = format!("missing row `{}`", kind.row_title());
    if kind == SectionKind::Questions {
        p.error(
            line,
            format!("{message}: add `| Questions for Analysis | Is …? Was …? |`"),
        );
    } else {
        p.warning(line, format!("{message}; the section will be empty"));
    }
}

/// The Questions cell: its lead-in and single questions. No question at all is an error; a
/// cell without any `?` is read as one question, with a warning.
fn question_cell(row: &Row, p: &mut Problems<'_>) -> (Option<String>, Vec<String>) {
    let (lead, qs) = cell::questions(&row.value);
    if qs.is_empty() {
        p.error(
            row.line,
            format!(
                "row `{}` is empty (no question in it); write the questions, each ending in `?`",
                row.title
            ),
        );
    } else if qs.len() > MAX_QUESTIONS {
        p.error(
            row.line,
            format!(
                "{} analysis questions; an incident asks at most {MAX_QUESTIONS} (each with its answer buttons): keep the ones that decide escalation and move the others to `Additional Analysis Steps for L1`",
                qs.len()
            ),
        );
    } else if !row.value.contains('?') {
        p.warning(
            row.line,
            "`Questions for Analysis` has no `?`, so it is read as one question; end each question with `?`",
        );
    }
    (lead, qs)
}

/// Rows the parser does not know, kept as sections in file order (a repeated one only once).
fn extra_sections(rows: &Rows) -> Vec<Section> {
    let known = [TACTIC, TTP, SUB_TTP, NAME, RULE];
    rows.rows
        .iter()
        .enumerate()
        .filter(|(_, row)| {
            !known.iter().any(|k| k.eq_ignore_ascii_case(&row.title))
                && SectionKind::from_row_title(&row.title).is_none()
        })
        .filter(|(i, row)| rows.by_title.get(&row.title.to_ascii_lowercase()) == Some(i))
        .map(|(_, row)| {
            let c = cell::split(&row.value);
            Section {
                kind: SectionKind::Extra,
                title: row.title.clone(),
                lead: c.lead,
                items: c.items,
                line: row.line,
            }
        })
        .collect()
}

/// The optional Escalation Rule row: as written, and parsed. An empty row is no rule.
fn escalation_rule(
    row: Option<&Row>,
    questions: usize,
    p: &mut Problems<'_>,
) -> (Option<String>, Option<Rule>) {
    let Some(row) = row else {
        return (None, None);
    };
    let text = row.value.trim().to_owned();
    if text.is_empty() {
        p.warning(
            row.line,
            "the `Escalation Rule` row is empty, so the default policy applies; write a rule such as `q1 and (q2 or q3)` or delete the row",
        );
        return (None, None);
    }
    let rule = match Rule::parse(&text) {
        Ok(rule) => rule,
        Err(e) => {
            p.error(row.line, e.to_string());
            return (Some(text), None);
        }
    };
    if let Some(&max) = rule.questions().last().filter(|&&m| m > questions) {
        p.error(
            row.line,
            format!(
                "the escalation rule names q{max} but the playbook has {questions} questions (q1…q{questions}); use only those or add the missing questions"
            ),
        );
    }
    (Some(text), Some(rule))
}

/// The technique id and the line of the row that gave it: the Sub-TTP row when it names a
/// sub-technique, else the TTP row; the two must agree.
fn technique_id(rows: &Rows, p: &mut Problems<'_>) -> Option<(usize, TechniqueId)> {
    let (ttp, sub) = (rows.get(TTP), rows.get(SUB_TTP));
    // Some(None): the row has an id that is wrong (reported); None: no id in it.
    let mut read = |row: Option<&Row>| -> Option<Option<(usize, TechniqueId)>> {
        let row = row.filter(|r| !is_placeholder(&r.value))?;
        Some(match TechniqueId::parse(&row.value) {
            Ok(id) => Some((row.line, id)),
            Err(e) => {
                p.error(row.line, format!("row `{}`: {e}", row.title));
                None
            }
        })
    };
    let (ttp_read, sub_read) = (read(ttp), read(sub));
    if ttp_read.is_none() && sub_read.is_none() {
        missing_id(ttp.or(sub), rows.first_line(), p);
    }
    match (ttp_read.flatten(), sub_read.flatten()) {
        (Some((t_line, t)), Some((line, s))) => {
            if t.technique != s.technique || (t.is_sub() && s.is_sub() && t != s) {
                p.error(
                    line,
                    format!(
                        "MITRE Sub-TTP {s} does not belong to MITRE TTP {t}; correct one of them"
                    ),
                );
                return None;
            }
            Some(if s.is_sub() { (line, s) } else { (t_line, t) })
        }
        (Some(found), None) | (None, Some(found)) => Some(found),
        (None, None) => None,
    }
}

/// The error for a playbook that names no technique: the row is missing, or empty.
fn missing_id(row: Option<&Row>, first_line: usize, p: &mut Problems<'_>) {
    match row {
        None => p.error(
            first_line,
            "missing required row `MITRE TTP`: add the technique id, e.g. `| MITRE TTP | T1583.006 |`",
        ),
        Some(row) => p.error(
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
        Some((name, id)) if looks_like_id(id) => (name, Some(id.trim().to_owned())),
        _ => (text, None),
    };
    let name = name
        .replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    ((!name.is_empty()).then_some(name), id)
}

/// `T1583006`, `t1583.006`: a `T` and a digit (so `- The bar` in a name is not taken for an id).
fn looks_like_id(text: &str) -> bool {
    let mut chars = text.trim().chars();
    matches!(chars.next(), Some('T' | 't')) && chars.next().is_some_and(|c| c.is_ascii_digit())
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

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "| MITRE Tactic | Discovery |\n| MITRE TTP | T1082 |\n| Name | System Information Discovery |\n| Questions for Analysis | Is it a script? Is the user an admin? Did it run twice? |\n";

    fn messages(r: Result<Parsed, Vec<Diagnostic>>) -> Vec<String> {
        match r {
            Ok(p) => p.warnings.iter().map(ToString::to_string).collect(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_row_above_the_separator_is_the_header_whatever_it_says() {
        let src = format!("| Field | Text |\n|---|---|\n{BODY}");
        let p = parse(&src, "x.md").unwrap().playbook;
        assert!(p.sections.iter().all(|s| s.title != "Field"));
        assert_eq!(p.questions.len(), 3);
    }

    #[test]
    fn a_dash_in_the_heading_name_is_not_an_id() {
        let src = format!("# Trusted Relationship - The Vendor Way\n\n{BODY}");
        let p = parse(&src, "x.md").unwrap();
        assert_eq!(p.playbook.id.to_string(), "T1082");
        let src = format!("# Name - T1083\n\n{BODY}");
        let m = messages(parse(&src, "x.md"));
        assert!(
            m.iter()
                .any(|m| m.starts_with("x.md:1: error: the heading says T1083"))
        );
    }

    #[test]
    fn an_empty_rule_row_means_no_rule() {
        let src = format!("{BODY}| Escalation Rule |  |\n");
        let p = parse(&src, "x.md").unwrap();
        assert_eq!(p.playbook.escalation_rule, None);
        assert!(
            messages(Ok(p))
                .iter()
                .any(|m| m.contains("default policy applies"))
        );
    }

    #[test]
    fn a_row_without_a_title_is_kept() {
        let src = format!("{BODY}| | stray note |\n");
        let p = parse(&src, "x.md").unwrap();
        let extra = p.playbook.sections.last().unwrap();
        assert_eq!(
            (extra.title.as_str(), extra.lead.as_deref()),
            ("Untitled", Some("stray note"))
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.line == 5 && w.message.contains("without a title"))
        );
    }

    #[test]
    fn a_questions_cell_with_only_markup_is_an_error() {
        let src = BODY.replace(
            "Is it a script? Is the user an admin? Did it run twice?",
            "<br>1. ",
        );
        let m = messages(parse(&src, "x.md"));
        assert!(
            m.iter()
                .any(|m| m.starts_with("x.md:4: error: row `Questions for Analysis` is empty")),
            "{m:?}"
        );
    }
}
