//! Playbook replies laid out for Discord, as plain data checked against Discord's limits.
//! Long sections are split over several embeds and messages at line or word boundaries; nothing
//! is cut. Converting to serenity builders happens in `reply.rs`.

use crate::playbook::{Section, SectionKind};
use crate::render::inline::code_to_backticks;
use crate::service::PlaybookView;

/// Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
pub mod limits {
    pub const CONTENT: usize = 2000;
    pub const EMBED_TITLE: usize = 256;
    pub const EMBED_DESCRIPTION: usize = 4096;
    pub const EMBED_FOOTER: usize = 2048;
    pub const EMBEDS_TOTAL: usize = 6000;
    pub const EMBEDS_PER_MESSAGE: usize = 10;
    pub const SELECT_OPTIONS: usize = 25;
    pub const SELECT_LABEL: usize = 100;
    pub const CUSTOM_ID: usize = 100;
    pub const CHOICE_NAME: usize = 100;
    pub const THREAD_NAME: usize = 100;
}

/// One embed, as Discord counts it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmbedSpec {
    pub title: String,
    pub url: Option<String>,
    pub description: String,
    pub footer: Option<String>,
    pub color: u32,
}

impl EmbedSpec {
    /// Characters counted toward the 6,000 per-message total.
    pub fn size(&self) -> usize {
        self.title.chars().count()
            + self.description.chars().count()
            + self.footer.as_deref().map_or(0, |f| f.chars().count())
    }
}

/// One message: optional text, embeds, and (on the first message) the section picker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSpec {
    pub content: Option<String>,
    pub embeds: Vec<EmbedSpec>,
    pub section_picker: Option<SectionPicker>,
    /// Rows of buttons (at most 5 rows of 5).
    pub buttons: Vec<Vec<ButtonSpec>>,
    /// Exactly who this message may ping (nobody by default).
    pub ping_users: Vec<crate::id::DiscordId>,
    pub ping_roles: Vec<crate::id::DiscordId>,
}

/// A button whose custom_id says what it means (stateless: works after a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonSpec {
    pub custom_id: String,
    pub label: String,
    pub style: ButtonStyle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    Primary,
    Secondary,
    Success,
    Danger,
}

/// A select menu that switches the message to one section, in place. Its custom_id carries the
/// technique so it keeps working after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionPicker {
    pub custom_id: String,
    /// (value, label, selected)
    pub options: Vec<(String, String, bool)>,
}

/// The custom_id prefix of the section picker: `pb:T1583.006`.
pub const PICKER_PREFIX: &str = "pb:";
/// The picker value for "every section".
pub const ALL_SECTIONS: &str = "all";

const BLUE: u32 = 0x3b82f6;
const AMBER: u32 = 0xf59e0b;

/// Escapes playbook text so Discord shows what the author wrote: backslashes and markdown
/// characters are escaped, `<code>` becomes inline code, an author's `**bold**` stays bold.
pub fn escape(text: &str) -> String {
    let converted = code_to_backticks(text);
    // An unpaired backtick would swallow the rest of the message as code: then nothing is code,
    // and every backtick and markdown character is escaped as plain text.
    if converted.matches('`').count() % 2 == 1 {
        let mut out = String::with_capacity(converted.len() + 16);
        escape_markdown(&converted, true, &mut out);
        return out;
    }
    let mut out = String::with_capacity(converted.len() + 16);
    for (i, part) in converted.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(part);
        } else {
            escape_markdown(part, i == 0, &mut out);
        }
    }
    out
}

/// Escapes markdown outside code; `at_start`: `part` begins a line. An author's `**` is kept.
fn escape_markdown(part: &str, at_start: bool, out: &mut String) {
    let mut chars = part.chars().peekable();
    // The character before (None at the start of `part`).
    let mut prev = None;
    while let Some(c) = chars.next() {
        if c == '*' && chars.peek() == Some(&'*') {
            chars.next();
            out.push_str("**");
            prev = Some('*');
            continue;
        }
        let line_start = prev.map_or(at_start, |p| p == '\n');
        if matches!(c, '\\' | '*' | '_' | '~' | '|' | '`')
            || (line_start && matches!(c, '#' | '>' | '-'))
        {
            out.push('\\');
        }
        out.push(c);
        prev = Some(c);
    }
}

/// A section's body: the lead paragraph, then the items as a list (`q1.` for questions).
pub fn section_text(s: &Section) -> String {
    let mut out = String::new();
    if let Some(lead) = &s.lead {
        out.push_str(&escape(lead));
    }
    for (i, item) in s.items.iter().enumerate() {
        if !out.is_empty() {
            out.push('\n');
        }
        let marker = if s.kind == SectionKind::Questions {
            format!("**q{}.** ", i + 1)
        } else {
            format!("{}. ", i + 1)
        };
        out.push_str(&marker);
        out.push_str(&escape(item).replace('\n', "\n   "));
    }
    if out.is_empty() {
        out.push_str("*(empty in this playbook)*");
    }
    out
}

/// `text` within `max` characters: whole when it fits, else its first part ending in a line
/// that says it was cut and where the rest is (never a silent cut).
pub fn fit(text: &str, max: usize, rest_in: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let marker = format!("\n… *(cut to fit Discord; {rest_in} has it all)*");
    let room = max.saturating_sub(marker.chars().count()).max(1);
    let mut out = chunk(text, room).swap_remove(0);
    out.push_str(&marker);
    out
}

/// Splits `text` into pieces of at most `max` characters: at line breaks when possible, else at
/// spaces, else (one enormous word) between characters. Joining the pieces gives back the words.
pub fn chunk(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    let push_piece =
        |piece: &str, cur: &mut String, cur_len: &mut usize, out: &mut Vec<String>, sep: &str| {
            let n = piece.chars().count();
            let sep_n = if cur.is_empty() {
                0
            } else {
                sep.chars().count()
            };
            if *cur_len + sep_n + n <= max {
                if !cur.is_empty() {
                    cur.push_str(sep);
                }
                cur.push_str(piece);
                *cur_len += sep_n + n;
                true
            } else {
                if !cur.is_empty() {
                    out.push(std::mem::take(cur));
                    *cur_len = 0;
                }
                false
            }
        };
    for line in text.split('\n') {
        if push_piece(line, &mut cur, &mut cur_len, &mut out, "\n") {
            continue;
        }
        // The line does not fit in what is left: start afresh, word by word.
        for word in line.split(' ') {
            if push_piece(word, &mut cur, &mut cur_len, &mut out, " ") {
                continue;
            }
            let mut rest: Vec<char> = word.chars().collect();
            while rest.len() > max {
                out.push(rest.drain(..max).collect());
            }
            cur = rest.into_iter().collect();
            cur_len = cur.chars().count();
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// The header: id, name, tactics, ATT&CK link, escalation rule, note, source. One embed, or
/// (a note, tactics or rule past 4,096 characters) several numbered ones carrying the rest;
/// nothing is cut. The first links to ATT&CK, the last names the source file.
fn header(view: &PlaybookView) -> Vec<EmbedSpec> {
    let p = &view.playbook;
    let mut description = String::new();
    if let Some(note) = &view.note {
        description.push_str(&format!("*{}*\n", escape(note)));
    }
    let tactics = if p.tactics.is_empty() {
        "—".to_owned()
    } else {
        escape(&p.tactics.join(", "))
    };
    description.push_str(&format!(
        "**Tactics:** {tactics}\n**ATT&CK:** {}",
        p.id.attack_url()
    ));
    if let Some(rule) = &p.escalation_rule {
        description.push_str(&format!(
            "\n**Escalation rule:** `{}`",
            rule.replace('`', "'")
        ));
    }
    let title = format!("{} · {}", p.id, p.name);
    // The file name only: the server's directory layout is nobody's business in chat.
    let footer = clip(
        std::path::Path::new(&p.source)
            .file_name()
            .map_or(p.source.as_str(), |n| n.to_str().unwrap_or_default()),
        limits::EMBED_FOOTER,
    );
    let color = if view.note.is_some() { AMBER } else { BLUE };
    let parts = chunk(&description, limits::EMBED_DESCRIPTION);
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, description)| EmbedSpec {
            title: numbered_title(&title, i, n),
            url: (i == 0).then(|| p.id.attack_url()),
            description,
            footer: (i + 1 == n).then(|| footer.clone()),
            color,
        })
        .collect()
}

/// `title`, or `title (i/n)` when a text is split over `n` embeds, within the title limit: the
/// title is clipped, never the part number.
fn numbered_title(title: &str, i: usize, n: usize) -> String {
    if n <= 1 {
        return clip(title, limits::EMBED_TITLE);
    }
    let suffix = format!(" ({}/{n})", i + 1);
    let room = limits::EMBED_TITLE.saturating_sub(suffix.chars().count());
    clip(title, room) + &suffix
}

fn clip(s: &str, max: usize) -> String {
    crate::service::playbook::clip(s, max)
}

/// Cuts a title to `max` characters (with `…`).
pub fn clip_title(s: &str, max: usize) -> String {
    clip(s, max)
}

/// The whole reply: the header and the chosen sections, packed into as few messages as the
/// limits allow. The first message carries the section picker.
pub fn playbook_messages(view: &PlaybookView) -> Vec<MessageSpec> {
    let mut embeds = header(view);
    for s in view
        .playbook
        .sections
        .iter()
        .filter(|s| view.section.is_none_or(|k| s.kind == k))
    {
        let parts = chunk(&section_text(s), limits::EMBED_DESCRIPTION);
        let n = parts.len();
        for (i, description) in parts.into_iter().enumerate() {
            embeds.push(EmbedSpec {
                title: numbered_title(&s.title, i, n),
                description,
                color: BLUE,
                ..EmbedSpec::default()
            });
        }
    }
    let mut messages: Vec<MessageSpec> = Vec::new();
    let mut cur = MessageSpec::default();
    let mut size = 0;
    for e in embeds {
        if !cur.embeds.is_empty()
            && (cur.embeds.len() == limits::EMBEDS_PER_MESSAGE
                || size + e.size() > limits::EMBEDS_TOTAL)
        {
            messages.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += e.size();
        cur.embeds.push(e);
    }
    messages.push(cur);
    messages[0].section_picker = Some(picker(view));
    messages
}

fn picker(view: &PlaybookView) -> SectionPicker {
    let current = view.section.map_or(ALL_SECTIONS, SectionKind::key);
    let mut options = vec![(
        ALL_SECTIONS.to_owned(),
        "All sections".to_owned(),
        current == ALL_SECTIONS,
    )];
    for s in view
        .playbook
        .sections
        .iter()
        .filter(|s| s.kind != SectionKind::Extra)
    {
        options.push((
            s.kind.key().to_owned(),
            clip(&s.title, limits::SELECT_LABEL),
            s.kind.key() == current,
        ));
    }
    options.truncate(limits::SELECT_OPTIONS);
    SectionPicker {
        custom_id: format!("{PICKER_PREFIX}{}", view.playbook.id),
        options,
    }
}

/// Checks a message against every limit; the list of what is over (empty when fine).
pub fn violations(m: &MessageSpec) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(c) = &m.content
        && c.chars().count() > limits::CONTENT
    {
        v.push(format!(
            "content {} > {}",
            c.chars().count(),
            limits::CONTENT
        ));
    }
    if m.embeds.len() > limits::EMBEDS_PER_MESSAGE {
        v.push(format!("{} embeds", m.embeds.len()));
    }
    let total: usize = m.embeds.iter().map(EmbedSpec::size).sum();
    if total > limits::EMBEDS_TOTAL {
        v.push(format!("embeds total {total} > {}", limits::EMBEDS_TOTAL));
    }
    for e in &m.embeds {
        if e.title.chars().count() > limits::EMBED_TITLE {
            v.push(format!("title {}", e.title.chars().count()));
        }
        if e.description.chars().count() > limits::EMBED_DESCRIPTION {
            v.push(format!("description {}", e.description.chars().count()));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_what_fits_and_marks_a_cut() {
        assert_eq!(fit("short", 100, "`x`"), "short");
        let long = "word ".repeat(100);
        let cut = fit(&long, 120, "`/incident export`");
        assert!(cut.chars().count() <= 120, "{}", cut.chars().count());
        assert!(cut.starts_with("word word"));
        assert!(
            cut.ends_with("*(cut to fit Discord; `/incident export` has it all)*"),
            "{cut}"
        );
    }

    #[test]
    fn escaping_shows_what_the_author_wrote() {
        assert_eq!(
            escape(r"C:\Windows\Temp\*.dll"),
            r"C:\\Windows\\Temp\\\*.dll"
        );
        assert_eq!(
            escape("run <code>reg query HKLM\\x</code> now"),
            "run `reg query HKLM\\x` now"
        );
        assert_eq!(
            escape("**System Logs**: check_this"),
            "**System Logs**: check\\_this"
        );
        assert_eq!(escape("# not a heading"), "\\# not a heading");
        assert_eq!(escape("a ` b"), "a \\` b");
        // A line's first character is escaped on every line, not only the first; mid-line not.
        assert_eq!(
            escape("a - b\n# c\n> d\n- **e** - f"),
            "a - b\n\\# c\n\\> d\n\\- **e** - f"
        );
        // After an unpaired backtick the text is still escaped, not left raw as if in code.
        assert_eq!(
            escape("run `x` then `y_z *w*"),
            "run \\`x\\` then \\`y\\_z \\*w\\*"
        );
    }

    #[test]
    fn chunks_keep_every_word_and_respect_the_limit() {
        let text = (0..500)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" ")
            + "\nsecond line";
        let parts = chunk(&text, 300);
        assert!(parts.iter().all(|p| p.chars().count() <= 300));
        let joined: Vec<&str> = parts.iter().flat_map(|p| p.split_whitespace()).collect();
        assert_eq!(joined, text.split_whitespace().collect::<Vec<_>>());
        let giant = "x".repeat(1000);
        assert_eq!(chunk(&giant, 300).concat(), giant);
    }

    /// A playbook whose header (tactics) and note are far past one embed's 4,096 characters.
    fn long_header_view() -> PlaybookView {
        let tactics: Vec<String> = (0..400).map(|i| format!("Tactic number {i}")).collect();
        let text = format!(
            "# Long_Header - T1583006\n\n| Column Name | Value |\n|-------------|-------|\n\
             | MITRE Tactic | {} |\n| MITRE TTP | T1583.006 |\n| MITRE Sub-TTP | T1583.006 |\n\
             | Name | Long Header |\n| Questions for Analysis | Is it long? |\n\
             | Decision for Escalation | Escalate when long. |\n",
            tactics.join(", ")
        );
        let parsed = crate::playbook::parser::parse(&text, "dir/T1583.006-long-header.md")
            .expect("the fixture parses");
        PlaybookView {
            playbook: std::sync::Arc::new(parsed.playbook),
            section: None,
            note: Some(format!("A note that goes on: {}", "and on ".repeat(700))),
        }
    }

    #[test]
    fn a_header_past_one_embed_is_carried_into_the_next_not_cut() {
        let view = long_header_view();
        let header = header(&view);
        assert!(header.len() >= 2, "{} header embed(s)", header.len());
        let n = header.len();
        for (i, e) in header.iter().enumerate() {
            assert!(e.description.chars().count() <= limits::EMBED_DESCRIPTION);
            assert_eq!(e.title, format!("T1583.006 · Long Header ({}/{n})", i + 1));
            assert_eq!(e.url.is_some(), i == 0, "the first links to ATT&CK");
            assert_eq!(
                e.footer.as_deref(),
                (i + 1 == n).then_some("T1583.006-long-header.md"),
                "the last names the file"
            );
        }
        // Every tactic, the whole note and the ATT&CK link are there, in order.
        let joined = header
            .iter()
            .map(|e| e.description.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let words: Vec<&str> = joined.split_whitespace().collect();
        let mut want = format!("*{}*\n", view.note.as_deref().unwrap());
        want.push_str(&format!(
            "**Tactics:** {}\n**ATT&CK:** {}",
            view.playbook.tactics.join(", "),
            view.playbook.id.attack_url()
        ));
        assert_eq!(words, want.split_whitespace().collect::<Vec<_>>());

        // The whole reply stays within Discord's limits, the header parts first and in order.
        let messages = playbook_messages(&view);
        for m in &messages {
            assert_eq!(violations(m), Vec::<String>::new());
        }
        let embeds: Vec<&EmbedSpec> = messages.iter().flat_map(|m| &m.embeds).collect();
        assert_eq!(
            embeds[..n].iter().map(|e| (*e).clone()).collect::<Vec<_>>(),
            header
        );
        assert!(messages[0].section_picker.is_some());
    }

    #[test]
    fn a_short_header_is_one_embed_with_link_and_footer() {
        let mut view = long_header_view();
        view.note = None;
        let mut playbook = (*view.playbook).clone();
        playbook.tactics = vec!["Resource Development".into()];
        view.playbook = std::sync::Arc::new(playbook);
        let header = header(&view);
        assert_eq!(header.len(), 1);
        assert_eq!(header[0].title, "T1583.006 · Long Header");
        assert!(header[0].url.is_some() && header[0].footer.is_some());
    }

    #[test]
    fn numbered_titles_keep_their_number_within_the_limit() {
        let long = "x".repeat(300);
        let t = numbered_title(&long, 1, 3);
        assert_eq!(t.chars().count(), limits::EMBED_TITLE);
        assert!(t.ends_with("… (2/3)"), "{t}");
        assert_eq!(numbered_title("Short", 0, 1), "Short");
    }
}
