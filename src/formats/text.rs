//! Text helpers every platform module shares: cutting on character
//! boundaries, and making user-provided text inert on platforms that parse
//! mentions, links and HTML out of message text.
//!
//! Escaping rule: **every string that comes from the host app or a receiver
//! goes through its platform's escape before it is placed in a body**;
//! herald's own markup (bold labels, the mentions it adds) is written after
//! escaping, so it is the only markup that survives.

/// U+200B ZERO WIDTH SPACE: placed inside a syntax (`<`, `](`, `![`) it
/// breaks the platform's parser without changing what a reader sees. Used
/// where a platform documents no escape of its own.
pub const BREAK: char = '\u{200B}';

/// The horizontal ellipsis that marks a cut.
pub const ELLIPSIS: char = '…';

/// `text` cut to at most `max` characters (the last being `…` when cut).
pub fn cut_chars(text: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some(_) => {
            let end = text
                .char_indices()
                .nth(max - 1)
                .map_or(text.len(), |(i, _)| i);
            let mut cut = text[..end].to_string();
            cut.push(ELLIPSIS);
            cut
        }
    }
}

/// `text` cut to at most `max` UTF-8 bytes, on a character boundary, with
/// `…` (3 bytes) when cut.
pub fn cut_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(ELLIPSIS.len_utf8());
    let mut end = room.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = text[..end].to_string();
    if max >= ELLIPSIS.len_utf8() {
        cut.push(ELLIPSIS);
    }
    cut
}

/// Length in UTF-16 code units: how Discord and JavaScript-based limits
/// count "characters".
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `&`, `<`, `>` as HTML entities (Slack mrkdwn, Google Chat card HTML,
/// Feishu/Lark `lark_md`).
pub fn html_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Breaks every syntax that can turn text into a mention, a tag, a link or
/// an image on Markdown-with-HTML platforms that document no escape:
/// `<` (tags, `<@userid>`, `<at …>`, `<users/all>`, autolinks) and the `](`
/// of `[text](url)` / `![alt](url)`. Line breaks are kept.
pub fn defuse_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous = None;
    for c in text.chars() {
        if c == '(' && previous == Some(']') {
            out.push(BREAK);
        }
        out.push(c);
        if c == '<' {
            out.push(BREAK);
        }
        previous = Some(c);
    }
    out
}

/// [`html_entities`], then the `](` of Markdown links and images broken
/// (Feishu/Lark `lark_md`, Google Chat cards).
pub fn entities_and_links(text: &str) -> String {
    defuse_markup(&html_entities(text))
}

/// Backslash before every character of Discord's Markdown that can make
/// a mention, a masked link or formatting out of text (`<@id>`, `@everyone`,
/// `[text](url)`, `*`, `_`, `~`, `` ` ``, `|`). Discord renders `\x` as `x`.
pub fn backslash_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>' | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Control characters other than line breaks and tabs removed: they render
/// as boxes or break some platforms' JSON parsers.
pub fn strip_controls(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(cut_chars("abcdef", 10), "abcdef");
        assert_eq!(cut_chars("abcdef", 6), "abcdef");
        assert_eq!(cut_chars("abcdef", 4), "abc…");
        assert_eq!(cut_chars("数据库迁移失败", 3), "数据…");
        assert_eq!(cut_chars("abc", 0), "");
        assert_eq!(cut_bytes("数据库", 9), "数据库");
        // 8 bytes: room for one 3-byte character and the 3-byte ellipsis.
        assert_eq!(cut_bytes("数据库", 8), "数…");
        assert!(cut_bytes("😀😀😀", 7).len() <= 7);
    }

    #[test]
    fn defuse_breaks_tags_and_links_only() {
        assert_eq!(
            defuse_markup("<at id=all></at>"),
            "<\u{200B}at id=all><\u{200B}/at>"
        );
        assert_eq!(
            defuse_markup("![x](http://t/p.gif)"),
            "![x]\u{200B}(http://t/p.gif)"
        );
        assert_eq!(defuse_markup("a (b) [c]\nd"), "a (b) [c]\nd");
    }

    #[test]
    fn discord_escape_covers_mentions_and_links() {
        assert_eq!(backslash_markdown("@everyone"), "\\@everyone");
        assert_eq!(backslash_markdown("[x](y)"), "\\[x\\](y)");
        assert_eq!(backslash_markdown("<@1>"), "\\<\\@1\\>");
    }
}
