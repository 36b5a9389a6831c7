//! Inline markup inside playbook cells. Authors write `<code>…</code>` and, now and then,
//! markdown such as `**bold**`; everything else (`<username>`, `C:\Temp`) is literal text.

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

#[cfg(test)]
mod tests {
    use super::*;

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
