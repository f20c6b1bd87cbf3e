//! `slack`: an incoming-webhook message — a header block and a coloured
//! attachment with the details. Slack webhooks cannot mention by email, so
//! people appear as `Name <email>`.

use serde_json::json;

use super::summary::{Markup, Message, Value};
use crate::events::UserRef;

fn bold(text: &str) -> String {
    format!("*{text}*")
}

/// Slack mrkdwn control characters in user-provided text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn mention(user: &UserRef) -> String {
    let email = escape(&user.email);
    format!("{} <mailto:{email}|{email}>", escape(&user.name))
}

/// The message with its free text escaped for mrkdwn (mentions are
/// escaped when rendered).
fn escaped(message: &Message) -> Message {
    let mut message = message.clone();
    for field in &mut message.fields {
        if let Value::Text(text) = &mut field.value {
            *text = escape(text);
        }
    }
    if let Some((_, items)) = &mut message.list {
        for item in items.iter_mut() {
            *item = escape(item);
        }
    }
    message.footer = escape(&message.footer);
    message
}

const MARKUP: Markup = Markup { bold, mention };

/// Slack `header` text is limited to 150 characters.
fn header(title: &str) -> String {
    if title.chars().count() <= 150 {
        title.to_string()
    } else {
        let cut: String = title.chars().take(149).collect();
        format!("{cut}…")
    }
}

pub fn body(message: &Message) -> serde_json::Value {
    let message = &escaped(message);
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": message.field_lines(&MARKUP).join("\n")}
    })];
    let list = message.list_lines(&MARKUP);
    if !list.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": list.join("\n")}
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": message.footer}]
    }));
    json!({
        "text": message.title,
        "blocks": [{
            "type": "header",
            "text": {"type": "plain_text", "text": header(&message.title)}
        }],
        "attachments": [{"color": message.severity.hex(), "blocks": blocks}]
    })
}
