//! `teams`: an Office 365 connector `MessageCard` with facts and a theme
//! colour. People appear by name.

use serde_json::json;

use super::summary::{markdown_bold, plain_name, Markup, Message};

const MARKUP: Markup = Markup {
    bold: markdown_bold,
    mention: plain_name,
};

pub fn body(message: &Message) -> serde_json::Value {
    let facts: Vec<_> = message
        .fields
        .iter()
        .map(|f| json!({"name": f.label, "value": f.value.render(MARKUP.mention)}))
        .collect();
    let mut section = json!({
        "activityTitle": message.title,
        "activitySubtitle": message.footer,
        "facts": facts,
        "markdown": true,
    });
    let list = message.list_lines(&MARKUP);
    if !list.is_empty() {
        // MessageCard Markdown needs blank lines between list entries' paragraphs.
        section["text"] = json!(list.join("\n\n"));
    }
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": message.title,
        "themeColor": message.severity.hex().trim_start_matches('#'),
        "title": message.title,
        "sections": [section],
    })
}
