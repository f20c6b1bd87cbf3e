//! `slack`: an incoming-webhook message — a header block and a coloured
//! attachment with the details. Slack webhooks cannot mention by email, so
//! people appear as `Name <email>`.

use serde_json::json;

use super::summary::{Markup, Message};
use crate::events::UserRef;

fn bold(text: &str) -> String {
    format!("*{text}*")
}

fn mention(user: &UserRef) -> String {
    format!("{} <mailto:{}|{}>", user.name, user.email, user.email)
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
