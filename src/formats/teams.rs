//! `teams`: a Microsoft Teams **Workflows** webhook ("When a Teams webhook
//! request is received"): a `message` with one Adaptive Card attachment —
//! a coloured title container, a fact set, the failed tasks, a footer.
//! Workflows answer `202 Accepted` before the flow posts the card.
//!
//! People with an e-mail (their UPN in most tenants) are mentioned with
//! `<at>Name</at>` plus an `msteams.entities` mention; user text is
//! defused, so an `<at>` or a Markdown link in data stays text.

use serde_json::{json, Value as Json};

use super::limits::teams as limit;
use super::summary::{markdown_bold, Field, Markup, Message, Severity, Value};
use super::text::defuse_markup;
use crate::events::UserRef;

/// Adaptive Card schema version: 1.5 is what Teams renders on desktop,
/// web and mobile.
/// — https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-reference#adaptive-card
pub const CARD_VERSION: &str = "1.5";

/// Whether `email` can be a Teams mention id (a UPN-like address).
fn mentionable(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && email
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-@".contains(c))
}

fn at_text(user: &UserRef) -> String {
    format!("<at>{}</at>", defuse_markup(&user.name))
}

fn mention(user: &UserRef) -> String {
    if mentionable(&user.email) {
        at_text(user)
    } else {
        defuse_markup(&user.name)
    }
}

const MARKUP: Markup = Markup {
    bold: markdown_bold,
    escape: defuse_markup,
    mention,
};

/// Container style for the title band.
fn style(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "accent",
        Severity::Success => "good",
        Severity::Warning => "warning",
        Severity::Failure => "attention",
    }
}

/// Every string in `value`, joined: what the card shows.
fn shown_text(value: &Json, out: &mut String) {
    match value {
        Json::String(text) => {
            out.push_str(text);
            out.push('\n');
        }
        Json::Array(items) => items.iter().for_each(|item| shown_text(item, out)),
        Json::Object(map) => map.values().for_each(|item| shown_text(item, out)),
        _ => {}
    }
}

/// One `mention` entity per distinct person shown with `<at>` in `items`
/// (Teams refuses an entity whose text the card does not show: a template
/// may leave out people herald would mention).
fn entities(message: &Message, items: &[Json]) -> Vec<Json> {
    let mut card_text = String::new();
    items
        .iter()
        .for_each(|item| shown_text(item, &mut card_text));
    let shown = message.fields.iter().flat_map(|f| match &f.value {
        Value::Users { users, .. } => users.iter().collect::<Vec<_>>(),
        Value::Template(rendered) => rendered.mentioned().collect(),
        Value::Text(_) => Vec::new(),
    });
    let in_text = message.text.iter().flat_map(|t| t.mentioned());
    let mut seen = std::collections::HashSet::new();
    message
        .mentions
        .iter()
        .chain(shown)
        .chain(in_text)
        .filter(|u| {
            mentionable(&u.email) && card_text.contains(&at_text(u)) && seen.insert(at_text(u))
        })
        .map(|u| {
            json!({
                "type": "mention",
                "text": at_text(u),
                "mentioned": {"id": u.email, "name": defuse_markup(&u.name)},
            })
        })
        .collect()
}

/// Mentions work in a TextBlock, not in a FactSet: fields with people
/// get a TextBlock of their own.
fn in_text_block(field: &Field) -> bool {
    match &field.value {
        Value::Users { .. } => true,
        Value::Template(rendered) => rendered.mentioned().next().is_some(),
        Value::Text(_) => false,
    }
}

fn text_block(text: String) -> Json {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

pub fn body(message: &Message) -> Json {
    let mut items = vec![json!({
        "type": "Container",
        "style": style(message.severity),
        "bleed": true,
        "items": [{
            "type": "TextBlock",
            "text": defuse_markup(&message.title),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": true,
        }],
    })];
    let facts: Vec<Json> = message
        .fields
        .iter()
        .filter(|f| !in_text_block(f))
        .map(|f| json!({"title": f.label.shown(&MARKUP), "value": message.value(f, &MARKUP)}))
        .collect();
    if !facts.is_empty() {
        items.push(json!({"type": "FactSet", "facts": facts}));
    }
    // Mentions render in TextBlocks.
    for field in &message.fields {
        if in_text_block(field) {
            items.push(text_block(message.field_line(field, &MARKUP)));
        }
    }
    let list = message.list_lines(&MARKUP);
    if !list.is_empty() {
        items.push(text_block(list.join("\n\n")));
    }
    let mut footer = text_block(defuse_markup(&message.footer));
    footer["isSubtle"] = json!(true);
    footer["size"] = json!("Small");
    items.push(footer);
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full", "entities": entities(message, &items)},
        "body": items,
    });
    // https://adaptivecards.io/explorer/Action.OpenUrl.html
    let actions: Vec<Json> = message
        .actions()
        .into_iter()
        .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url.as_str()}))
        .collect();
    if !actions.is_empty() {
        card["actions"] = json!(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }]
    })
}

pub fn check(_: &Json, bytes: usize) -> Result<(), String> {
    super::within_bytes(bytes, limit::BODY_BYTES)
}
