//! One table cell's text into a lead-in and list items, for every cell style found in real
//! playbooks: prose, `1. …<br>2. …`, `1) …`, inline `1) …; 2) …`, `- …` bullets, Python-list
//! cells `['…', "…"]`, items glued without `<br>`, a lead-in sentence before the list. Nothing is
//! dropped: text that belongs to no item stays in the lead or the nearest item.

/// A cell split into its parts. A prose cell is all lead and no items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    pub lead: Option<String>,
    pub items: Vec<String>,
}

/// Splits a cell (pipes already unescaped).
pub fn split(raw: &str) -> Cell {
    let raw = raw.trim();
    if let Some(items) = python_list(raw) {
        return Cell { lead: None, items };
    }
    let text = segments(raw).join("\n");
    if let Some(cell) = numbered(&text) {
        return cell;
    }
    if let Some(cell) = bulleted(&text) {
        return cell;
    }
    Cell {
        lead: non_empty(&text),
        items: Vec::new(),
    }
}

/// Splits an analysis-questions cell into single questions and the lead-in before them.
/// Each list item, or the prose, is cut after every `?`; text after an item's last `?` stays
/// with that item's last question. Questions written in a list's lead-in come first.
pub fn questions(raw: &str) -> (Option<String>, Vec<String>) {
    let cell = split(raw);
    match cell.lead {
        // Prose without a single `?`: the whole paragraph is the one question.
        Some(prose) if cell.items.is_empty() && !prose.contains('?') => (None, vec![prose]),
        Some(prose) if cell.items.is_empty() => prose_questions(&prose),
        Some(prose) => {
            let (lead, mut qs, opener) = list_lead_questions(&prose);
            let mut items = cell.items;
            if let (Some(opener), Some(first)) = (opener, items.first_mut()) {
                *first = format!("{opener} {first}");
            }
            qs.extend(items.iter().flat_map(|item| split_questions(item)));
            (lead, qs)
        }
        None => (
            None,
            cell.items.iter().flat_map(|i| split_questions(i)).collect(),
        ),
    }
}

/// A paragraph holding questions: the lead-in before the first one, then the questions.
fn prose_questions(prose: &str) -> (Option<String>, Vec<String>) {
    let first_q = prose.find('?').unwrap_or(prose.len());
    let start = lead_in_end(&prose[..first_q]);
    (non_empty(&prose[..start]), split_questions(&prose[start..]))
}

/// The lead-in of a list may ask questions of its own (`Was it expected? Also check:`): the
/// lead-in before them, those questions, and the words after the last one, which open the list
/// and so go in front of its first item. Nothing changes place in reading order.
fn list_lead_questions(prose: &str) -> (Option<String>, Vec<String>, Option<String>) {
    let Some(&last) = question_ends(prose).last() else {
        return (non_empty(prose), Vec::new(), None);
    };
    let (lead, qs) = prose_questions(&prose[..last]);
    (lead, qs, non_empty(&prose[last..]))
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Words that open a question in English.
const QUESTION_WORDS: [&str; 26] = [
    "is", "are", "was", "were", "do", "does", "did", "has", "have", "had", "can", "could",
    "should", "would", "will", "may", "might", "must", "what", "which", "who", "whose", "when",
    "where", "why", "how",
];

/// Whether `text` starts with a capitalised question word (`Was …`, `How …`).
fn starts_question(text: &str) -> bool {
    let word: String = text.chars().take_while(|c| c.is_alphabetic()).collect();
    word.starts_with(char::is_uppercase)
        && QUESTION_WORDS.iter().any(|q| q.eq_ignore_ascii_case(&word))
}

/// Last words of a sentence that announces questions (`Consider the following:`).
const INTRODUCTIONS: [&str; 8] = [
    "following",
    "questions",
    "ask",
    "consider",
    "include",
    "includes",
    "these",
    "below",
];

/// Whether `text` (before a `:`) ends like an announcement of the questions.
fn ends_introduction(text: &str) -> bool {
    let last = text
        .rsplit(|c: char| !c.is_alphabetic())
        .next()
        .unwrap_or("");
    INTRODUCTIONS.iter().any(|w| w.eq_ignore_ascii_case(last))
}

/// Where the lead-in ends inside `before` (the text before the first `?`): after the last `:`
/// or sentence-ending `.` that is followed by a question word (`Consider the following: Was
/// …`), or after a `:` that ends an announcement (`Consider the following: Any …`); 0 when
/// there is none, so a `:` inside the first question (`path: C:\Temp`) stays in it.
fn lead_in_end(before: &str) -> usize {
    let b = before.as_bytes();
    let mut best = 0;
    for (i, &c) in b.iter().enumerate() {
        if !(c == b':' || c == b'.') || !b.get(i + 1).is_some_and(u8::is_ascii_whitespace) {
            continue;
        }
        let next = before[i + 1..].trim_start();
        let introduces = c == b':' && ends_introduction(&before[..i]);
        if !(starts_question(next) || introduces && next.starts_with(char::is_uppercase)) {
            continue;
        }
        if c == b'.' && is_abbreviation(&before[..i]) {
            continue;
        }
        best = i + 1;
    }
    best
}

/// Abbreviations whose `.` does not end a sentence.
const ABBREVIATIONS: [&str; 9] = [
    "e.g", "i.e", "eg", "ie", "etc", "vs", "cf", "approx", "incl",
];

/// Whether the text before a `.` ends in an abbreviation (`e.g`, `etc`) or an initial (`J`)
/// rather than a sentence.
fn is_abbreviation(before_dot: &str) -> bool {
    let start = before_dot
        .trim_end_matches(|c: char| c.is_alphanumeric() || c == '.')
        .len();
    let word = before_dot[start..].to_lowercase();
    word.chars().count() == 1 || ABBREVIATIONS.contains(&word.as_str())
}

/// Byte offsets just after each `?` that ends a sentence: one followed (after any closing
/// quotes or brackets) by a space or the end of the text.
fn question_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '?' {
            continue;
        }
        let mut end = i + 1;
        while let Some(&(at, q)) = chars.peek() {
            if !matches!(q, '"' | '\'' | '”' | '’' | ')') {
                break;
            }
            end = at + q.len_utf8();
            chars.next();
        }
        // `run "whoami?" on the host?`: a quoted or bracketed `?` followed by a lower-case
        // word is inside the sentence, not the end of a question.
        let quoted = end > i + 1;
        let continues = || {
            text[end..]
                .trim_start()
                .chars()
                .next()
                .is_some_and(char::is_lowercase)
        };
        if chars.peek().is_none_or(|&(_, n)| n.is_whitespace()) && !(quoted && continues()) {
            ends.push(end);
        }
    }
    ends
}

/// Cuts after each `?` that ends a sentence. Text after the last one stays with the last
/// question, so no word is lost.
fn split_questions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    for end in question_ends(text) {
        if let Some(q) = non_empty(&text[start..end]) {
            out.push(q);
        }
        start = end;
    }
    if let Some(rest) = non_empty(&text[start..]) {
        match out.last_mut() {
            Some(last) => {
                last.push(' ');
                last.push_str(&rest);
            }
            None => out.push(rest),
        }
    }
    out
}

/// `<br>`, `<br/>`, `<br />` (any case) separate lines inside a cell.
fn segments(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = raw.to_ascii_lowercase();
    let mut start = 0;
    let mut i = 0;
    while let Some(pos) = lower[i..].find("<br") {
        let at = i + pos;
        let after = &lower[at + 3..];
        let close = after
            .find('>')
            .filter(|&c| after[..c].bytes().all(|b| matches!(b, b' ' | b'\t' | b'/')));
        match close {
            Some(c) => {
                out.push(raw[start..at].trim().to_owned());
                start = at + 3 + c + 1;
                i = start;
            }
            None => i = at + 3,
        }
    }
    out.push(raw[start..].trim().to_owned());
    out.retain(|s| !s.is_empty());
    out
}

/// A list marker candidate: number, style (`.` or `)`), where the marker starts, where its
/// text starts, and how sure we are that it opens a list item.
struct Marker {
    n: u32,
    style: u8,
    at: usize,
    text: usize,
    place: Place,
}

/// Where a marker stands, most trusted first: at the start of a line (`<br>1. …`), after the
/// end of a sentence or clause (`…? 4. …`, `…; 2) …`), or after a word (`Escalate if 1. …`,
/// but also `version 3. Then`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    LineStart,
    AfterPunctuation,
    AfterWord,
}

/// Where a marker starting at byte `i` stands, or None when it is glued to a word or number.
fn place(b: &[u8], i: usize) -> Option<Place> {
    if i == 0 || b[i - 1] == b'\n' {
        return Some(Place::LineStart);
    }
    if matches!(b[i - 1], b':' | b';' | b'?') {
        return Some(Place::AfterPunctuation);
    }
    if !matches!(b[i - 1], b' ' | b'\t') {
        return None;
    }
    let before = b[..i].iter().rev().find(|c| !matches!(c, b' ' | b'\t'));
    Some(match before {
        None | Some(b'\n') => Place::LineStart,
        Some(b'.' | b'?' | b'!' | b';' | b':' | b',') => Place::AfterPunctuation,
        Some(_) => Place::AfterWord,
    })
}

/// Every `1.`/`1)` … `99.`/`99)` followed by a space or the end, that is not glued to a word.
fn markers(text: &str) -> Vec<Marker> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start_of_number = b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit());
        let Some(place) = start_of_number.then(|| place(b, i)).flatten() else {
            i += 1;
            continue;
        };
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let marker = j - i <= 2
            && j < b.len()
            && matches!(b[j], b'.' | b')')
            && b.get(j + 1).is_none_or(|c| c.is_ascii_whitespace());
        if marker {
            let mut t = j + 1;
            while t < b.len() && b[t].is_ascii_whitespace() {
                t += 1;
            }
            out.push(Marker {
                n: text[i..j].parse().unwrap_or(0),
                style: b[j],
                at: i,
                text: t,
                place,
            });
        }
        i = j;
    }
    out
}

/// The marker that opens item `n` among `all[from..]`: the most trusted place wins, then the
/// earliest. `style` (after the first item) keeps `1.` and `1)` lists apart.
fn pick(all: &[Marker], from: usize, n: u32, style: Option<u8>) -> Option<usize> {
    (from..all.len())
        .filter(|&k| all[k].n == n && style.is_none_or(|s| all[k].style == s))
        .min_by_key(|&k| (all[k].place, k))
}

/// A numbered list: the markers 1, 2, 3, … in order and in one style, at least two of them
/// (or one that opens the cell).
fn numbered(text: &str) -> Option<Cell> {
    let all = markers(text);
    let first = pick(&all, 0, 1, None)?;
    let style = all[first].style;
    let mut chosen = vec![&all[first]];
    let mut from = first + 1;
    while let Some(k) = pick(&all, from, chosen.len() as u32 + 1, Some(style)) {
        chosen.push(&all[k]);
        from = k + 1;
    }
    if chosen.len() < 2 && chosen[0].at != 0 {
        return None;
    }
    let lead = non_empty(&text[..chosen[0].at]);
    let items = chosen
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let end = chosen.get(k + 1).map_or(text.len(), |next| next.at);
            let item = text[m.text..end].trim();
            // Inline lists separate items with `;` or `,`: that separator is not the item's.
            let item = if k + 1 < chosen.len() {
                item.strip_suffix([';', ',']).unwrap_or(item)
            } else {
                item
            };
            item.trim().to_owned()
        })
        .filter(|item| !item.is_empty())
        .collect();
    Some(Cell { lead, items })
}

/// Lines that start with `- `, `* ` or `• ` (a `•` may also stand inside a line). Lines before
/// the first bullet are the lead; a line after a bullet that is not one continues it.
fn bulleted(text: &str) -> Option<Cell> {
    fn bullet(l: &str) -> Option<&str> {
        ["- ", "* ", "• "]
            .iter()
            .find_map(|m| l.strip_prefix(m))
            .map(str::trim)
    }
    let text = text.replace(" • ", "\n• ");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let first = lines.iter().position(|l| bullet(l).is_some())?;
    let lead = non_empty(&lines[..first].join("\n"));
    let mut items: Vec<String> = Vec::new();
    for l in &lines[first..] {
        match bullet(l) {
            Some(item) => items.push(item.to_owned()),
            None => {
                let last = items.last_mut().expect("a bullet came first");
                last.push('\n');
                last.push_str(l);
            }
        }
    }
    Some(Cell { lead, items })
}

/// `['one', "two"]`: a Python list of string literals, with either quote and backslash escapes.
fn python_list(raw: &str) -> Option<Vec<String>> {
    let inner = raw.strip_prefix('[')?.strip_suffix(']')?;
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let quote = match chars.next() {
            None => break,
            Some(q @ ('\'' | '"')) => q,
            Some(_) => return None,
        };
        let mut s = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    c @ ('\'' | '"' | '\\') => s.push(c),
                    c => {
                        s.push('\\');
                        s.push(c);
                    }
                },
                c if c == quote => break,
                c => s.push(c),
            }
        }
        if !s.trim().is_empty() {
            items.push(s.trim().to_owned());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return None,
        }
    }
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(lead: Option<&str>, items: &[&str]) -> Cell {
        Cell {
            lead: lead.map(str::to_owned),
            items: items.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn prose_stays_a_paragraph() {
        assert_eq!(
            split("Watch the proxy. Check the DNS logs. "),
            cell(Some("Watch the proxy. Check the DNS logs."), &[])
        );
    }

    #[test]
    fn numbered_with_br_and_a_lead_in() {
        let c = split(
            "Look at these:<br>1. Proxy logs<br>2. DNS logs<br/>3) not a marker of this list",
        );
        assert_eq!(
            c,
            cell(
                Some("Look at these:"),
                &["Proxy logs", "DNS logs\n3) not a marker of this list"]
            )
        );
    }

    #[test]
    fn glued_and_inline_items() {
        assert_eq!(
            split("1. First? 2. Second? 3. Third?"),
            cell(None, &["First?", "Second?", "Third?"])
        );
        assert_eq!(
            split("Check: 1) the host; 2) the user; 3) the time."),
            cell(Some("Check:"), &["the host", "the user", "the time."])
        );
        // A single marker in mid-text is not a list: the whole cell stays prose.
        assert_eq!(
            split("Runs on Windows 10. 1. alone"),
            cell(Some("Runs on Windows 10. 1. alone"), &[])
        );
    }

    #[test]
    fn bullets_and_continuations() {
        let c = split("Sources:<br>- EDR<br>- Proxy<br>including TLS SNI<br>* DNS");
        assert_eq!(
            c,
            cell(
                Some("Sources:"),
                &["EDR", "Proxy\nincluding TLS SNI", "DNS"]
            )
        );
    }

    #[test]
    fn python_lists_with_mixed_quotes() {
        let c = split(r#"['Is it "odd"?', "Isn't it late?", 'C:\\Temp\\x.exe ran?']"#);
        assert_eq!(
            c,
            cell(
                None,
                &["Is it \"odd\"?", "Isn't it late?", "C:\\Temp\\x.exe ran?"]
            )
        );
        assert_eq!(split("[not a list"), cell(Some("[not a list"), &[]));
    }

    #[test]
    fn a_quoted_question_mark_inside_a_sentence_does_not_split_it() {
        let (_, qs) = questions(
            "Did the user run \"whoami?\" on the host? Was the tool (renamed?) copied? Is it \"signed?\" Was it new?",
        );
        assert_eq!(
            qs,
            [
                "Did the user run \"whoami?\" on the host?",
                "Was the tool (renamed?) copied?",
                "Is it \"signed?\"",
                "Was it new?",
            ]
        );
    }

    #[test]
    fn questions_in_prose_with_a_lead_in() {
        let (lead, qs) = questions(
            "Consider the following: Was it expected? Did the user (e.g. Bob) run it? Is it signed?",
        );
        assert_eq!(lead.as_deref(), Some("Consider the following:"));
        assert_eq!(
            qs,
            vec![
                "Was it expected?",
                "Did the user (e.g. Bob) run it?",
                "Is it signed?"
            ]
        );
    }

    #[test]
    fn two_questions_in_one_item_and_trailing_text() {
        let (lead, qs) = questions(
            "1. Known tool? Signed by a trusted source?<br>2. Seen before? Check the SIEM.",
        );
        assert_eq!(lead, None);
        assert_eq!(
            qs,
            vec![
                "Known tool?",
                "Signed by a trusted source?",
                "Seen before? Check the SIEM."
            ]
        );
    }

    #[test]
    fn question_marks_before_closing_quotes() {
        let (_, qs) = questions("Was it 'odd?' Is it late? Done");
        assert_eq!(qs, vec!["Was it 'odd?'", "Is it late? Done"]);
    }

    #[test]
    fn a_number_inside_an_item_does_not_open_the_next_item() {
        assert_eq!(
            split("1. a<br>2. note logon type 3. Then b<br>3. c"),
            cell(None, &["a", "note logon type 3. Then b", "c"])
        );
        // A glued item after a question mark, even without a space.
        assert_eq!(
            split("1. Is a?<br>2. Is b?3. Is c?"),
            cell(None, &["Is a?", "Is b?", "Is c?"])
        );
        // After a word, a marker still opens a list when nothing better is there.
        assert_eq!(
            split("Escalate to Tier 2 if 1. it spread.<br>2. it is a DC."),
            cell(
                Some("Escalate to Tier 2 if"),
                &["it spread.", "it is a DC."]
            )
        );
        assert_eq!(
            split("Sysmon (Event ID 1) and 4688."),
            cell(Some("Sysmon (Event ID 1) and 4688."), &[])
        );
    }

    #[test]
    fn empty_items_are_dropped() {
        assert_eq!(split("1. <br>2. a"), cell(None, &["a"]));
        assert_eq!(split("['', 'a']"), cell(None, &["a"]));
        assert_eq!(split("['']"), cell(Some("['']"), &[]));
        assert_eq!(questions("1. "), (None, vec![]));
    }

    #[test]
    fn inline_dot_bullets() {
        assert_eq!(
            split("Sources: • EDR • proxy • DNS"),
            cell(Some("Sources:"), &["EDR", "proxy", "DNS"])
        );
    }

    #[test]
    fn a_colon_inside_the_first_question_is_not_a_lead_in() {
        let (lead, qs) = questions(r"Was the file (path: C:\Temp) odd? Is it signed?");
        assert_eq!(lead, None);
        assert_eq!(
            qs,
            vec![r"Was the file (path: C:\Temp) odd?", "Is it signed?"]
        );
        let (lead, qs) = questions("Review the alert first. Was it expected? Is it signed?");
        assert_eq!(lead.as_deref(), Some("Review the alert first."));
        assert_eq!(qs.len(), 2);
        let (lead, qs) = questions("Ask the following: Any new admin? Any new service?");
        assert_eq!(lead.as_deref(), Some("Ask the following:"));
        assert_eq!(qs, vec!["Any new admin?", "Any new service?"]);
        // `e.g.` is not the end of a sentence.
        let (lead, _) = questions("Check the tools, e.g. Was it PsExec? Is it signed?");
        assert_eq!(lead, None);
    }

    #[test]
    fn questions_written_in_a_lists_lead_in_come_first() {
        let (lead, qs) =
            questions("Was it expected? Also check:<br>1. Is it signed?<br>2. Is it new?");
        assert_eq!(lead, None);
        assert_eq!(
            qs,
            vec![
                "Was it expected?",
                "Also check: Is it signed?",
                "Is it new?"
            ]
        );
        let (lead, qs) = questions("Consider: Was it new? Does the • tool phone home?");
        assert_eq!(lead.as_deref(), Some("Consider:"));
        assert_eq!(qs, vec!["Was it new?", "Does the tool phone home?"]);
    }

    #[test]
    fn prose_without_a_question_mark_is_one_question() {
        assert_eq!(
            questions("Check the owner."),
            (None, vec!["Check the owner.".to_owned()])
        );
    }
}
