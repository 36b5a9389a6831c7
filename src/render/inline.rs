//! Inline markup inside playbook cells. Authors write `<code>…</code>` and, now and then,
//! markdown such as `**bold**`; everything else (`<username>`, `C:\Temp`) is literal text.
//!
//! And the marks in the service's own words ([`crate::service::UserError`]): `` `…` `` around
//! what to type (a command, an option, an id, a configuration key) and `<@&id>` for a Discord
//! role. [`spans`] reads them as data; each adapter renders the spans its way (Discord: code
//! spans and role mentions, as written; a terminal: [`plain`]).

/// Replaces `<code>x</code>` (any case) with `` `x` ``: how both a terminal and Discord show code.
pub fn code_to_backticks(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let lower = s.to_ascii_lowercase();
    let mut i = 0;
    while let Some(open) = lower[i..].find("<code>").map(|p| p + i) {
        let Some(close) = lower[open + 6..].find("</code>").map(|p| p + open + 6) else {
            break;
        };
        out.push_str(&s[i..open]);
        out.push('`');
        out.push_str(&s[open + 6..close]);
        out.push('`');
        i = close + 7;
    }
    out.push_str(&s[i..]);
    out
}

/// A piece of the service's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span<'a> {
    /// Words to read.
    Text(&'a str),
    /// What to type, as typed: a command, an option, an id, a configuration key.
    Typed(&'a str),
    /// A Discord role (written `<@&id>`).
    Role(crate::id::DiscordId),
}

/// The service's words as spans. A backtick opens what to type and the next one closes it; an
/// unclosed one is text.
pub fn spans(s: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let tick = rest.find('`');
        let role = rest.find("<@&");
        match (tick, role) {
            (Some(t), r) if r.is_none_or(|r| t < r) => {
                let Some(len) = rest[t + 1..].find('`') else {
                    break;
                };
                text(&mut out, &rest[..t]);
                out.push(Span::Typed(&rest[t + 1..t + 1 + len]));
                rest = &rest[t + 2 + len..];
            }
            (_, Some(r)) => {
                let after = &rest[r + 3..];
                let id = after
                    .find('>')
                    .and_then(|end| Some((end, after[..end].parse::<u64>().ok()?)))
                    .and_then(|(end, n)| Some((end, crate::id::DiscordId::new(n)?)));
                text(&mut out, &rest[..r]);
                match id {
                    Some((end, id)) => {
                        out.push(Span::Role(id));
                        rest = &after[end + 1..];
                    }
                    None => {
                        text(&mut out, "<@&");
                        rest = after;
                    }
                }
            }
            _ => break,
        }
    }
    text(&mut out, rest);
    out
}

fn text<'a>(out: &mut Vec<Span<'a>>, s: &'a str) {
    if !s.is_empty() {
        out.push(Span::Text(s));
    }
}

/// The service's words for a terminal: what to type shown as is, without the marks; a role by
/// its id (a terminal cannot show Discord's mention).
pub fn plain(s: &str) -> String {
    terminal(s, false)
}

/// [`plain`], with what to type in bold when `bold` (at an interactive terminal).
pub fn terminal(s: &str, bold: bool) -> String {
    spans(s)
        .into_iter()
        .map(|span| match span {
            Span::Typed(t) if bold => format!("\x1b[1m{t}\x1b[22m"),
            Span::Text(t) | Span::Typed(t) => t.to_owned(),
            Span::Role(id) => format!("role {id}"),
        })
        .collect()
}

/// The service's words for Discord: code spans and role mentions (exactly as written).
pub fn markdown(s: &str) -> String {
    spans(s)
        .into_iter()
        .map(|span| match span {
            Span::Text(t) => t.to_owned(),
            Span::Typed(t) => format!("`{t}`"),
            Span::Role(id) => format!("<@&{id}>"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_marks_are_spans_each_output_renders() {
        let words = "Give `incident` (e.g. `incident:INC-12`); you need <@&33> or <@&44>.";
        let role = |n| Span::Role(crate::id::DiscordId::new(n).unwrap());
        assert_eq!(
            spans(words),
            [
                Span::Text("Give "),
                Span::Typed("incident"),
                Span::Text(" (e.g. "),
                Span::Typed("incident:INC-12"),
                Span::Text("); you need "),
                role(33),
                Span::Text(" or "),
                role(44),
                Span::Text("."),
            ]
        );
        assert_eq!(
            plain(words),
            "Give incident (e.g. incident:INC-12); you need role 33 or role 44."
        );
        // Discord gets its markdown back byte for byte, odd marks included.
        for s in [
            words,
            "an unclosed ` stays",
            "``",
            "<@&> <@&x> <@&0> <@&12",
            "• `T1` one\n• `T2` two\n",
            "",
        ] {
            assert_eq!(markdown(s), s);
        }
        assert_eq!(plain("an unclosed ` stays"), "an unclosed ` stays");
        // At an interactive terminal what to type stands out, in bold.
        assert_eq!(
            terminal("Give `incident` to <@&33>.", true),
            "Give \x1b[1mincident\x1b[22m to role 33."
        );
        assert_eq!(plain("<@&0> <@&12"), "<@&0> <@&12");
    }

    #[test]
    fn code_tags_become_backticks_and_placeholders_stay() {
        assert_eq!(
            code_to_backticks("set <code>AlwaysInstallElevated</code> for <username>"),
            "set `AlwaysInstallElevated` for <username>"
        );
        assert_eq!(
            code_to_backticks("<CODE>a</CODE> and <code>unclosed"),
            "`a` and <code>unclosed"
        );
    }
}
