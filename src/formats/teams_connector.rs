//! `teams_connector`: the Office 365 connector `MessageCard`, with facts and
//! a theme colour. **Retired by Microsoft** (connectors stop posting; use
//! `teams`, Workflows + Adaptive Card); kept for tenants that still have a
//! working connector URL. People appear by name; user text is defused.

use serde_json::{json, Value as Json};

use super::limits::teams as limit;
use super::summary::{markdown_bold, Markup, Message};
use super::text::defuse_markup;
use crate::events::UserRef;

fn mention(user: &UserRef) -> String {
    defuse_markup(&user.name)
}

const MARKUP: Markup = Markup {
    bold: markdown_bold,
    escape: defuse_markup,
    mention,
};

pub fn body(message: &Message) -> Json {
    let title = defuse_markup(&message.title);
    let facts: Vec<_> = message
        .fields
        .iter()
        .map(|f| json!({"name": f.label.shown(&MARKUP), "value": message.value(f, &MARKUP)}))
        .collect();
    let mut section = json!({
        "activityTitle": title,
        "activitySubtitle": defuse_markup(&message.footer),
        "facts": facts,
        "markdown": true,
    });
    let list = message.list_lines(&MARKUP);
    if !list.is_empty() {
        // MessageCard Markdown needs blank lines between list entries' paragraphs.
        section["text"] = json!(list.join("\n\n"));
    }
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": title,
        "themeColor": message.severity.hex().trim_start_matches('#'),
        "title": title,
        "sections": [section],
    });
    // https://learn.microsoft.com/outlook/actionable-messages/message-card-reference#openuri-action
    let actions: Vec<Json> = message
        .actions()
        .into_iter()
        .map(|(name, url)| {
            json!({
                "@type": "OpenUri",
                "name": name,
                "targets": [{"os": "default", "uri": url.as_str()}],
            })
        })
        .collect();
    if !actions.is_empty() {
        card["potentialAction"] = json!(actions);
    }
    card
}

pub fn check(_: &Json, bytes: usize) -> Result<(), String> {
    super::within_bytes(bytes, limit::BODY_BYTES)
}
