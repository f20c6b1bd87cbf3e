//! `slack`: an incoming-webhook message — a header block and a coloured
//! attachment with the details. People with a Slack member id in the people
//! directory are mentioned (`<@U…>`, which notifies); others appear as
//! `Name (email)` (incoming webhooks cannot mention by e-mail). User text is escaped for mrkdwn
//! (`&`, `<`, `>` as entities, as Slack documents), so no `<!channel>`,
//! `<@U…>` or `<url|link>` can come from data.

use serde_json::{json, Value as Json};

use super::handles::handle;
use super::limits::slack as limit;
use super::summary::{Markup, Message};
use super::text::html_entities;
use crate::events::UserRef;

fn bold(text: &str) -> String {
    format!("*{text}*")
}

fn mention(user: &UserRef) -> String {
    if let Some(id) = handle(user, "slack") {
        return format!("<@{id}>");
    }
    format!(
        "{} ({})",
        html_entities(&user.name),
        html_entities(&user.email)
    )
}

const MARKUP: Markup = Markup {
    bold,
    escape: html_entities,
    mention,
};

pub fn body(message: &Message) -> Json {
    let title = html_entities(&message.title);
    let mut blocks = Vec::new();
    if !message.fields.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": message.field_lines(&MARKUP).join("\n")}
        }));
    }
    let list = message.list_lines(&MARKUP);
    if !list.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": list.join("\n")}
        }));
    }
    let buttons: Vec<Json> = message
        .actions()
        .into_iter()
        .map(|(label, url)| {
            json!({
                "type": "button",
                "text": {"type": "plain_text", "text": label},
                "url": url.as_str(),
            })
        })
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": html_entities(&message.footer)}]
    }));
    json!({
        "text": title,
        "blocks": [{
            "type": "header",
            // plain_text: shown as written, nothing parsed.
            "text": {"type": "plain_text", "text": message.title}
        }],
        "attachments": [{"color": message.severity.hex(), "blocks": blocks}]
    })
}

fn text_of(value: &Json) -> &str {
    value["text"]["text"].as_str().unwrap_or_default()
}

/// `body` against Slack's documented limits.
pub fn check(body: &Json) -> Result<(), String> {
    let chars = |s: &str| s.chars().count();
    let top = body["text"].as_str().unwrap_or_default();
    if chars(top) > limit::TEXT {
        return Err(format!(
            "text has {} characters > {}",
            chars(top),
            limit::TEXT
        ));
    }
    let empty = Vec::new();
    let mut blocks: Vec<&Json> = body["blocks"].as_array().unwrap_or(&empty).iter().collect();
    let attached: Vec<&Json> = body["attachments"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .flat_map(|a| a["blocks"].as_array().unwrap_or(&empty).iter())
        .collect();
    if blocks.len() > limit::BLOCKS || attached.len() > limit::BLOCKS {
        return Err(format!("more than {} blocks", limit::BLOCKS));
    }
    blocks.extend(attached);
    for block in blocks {
        match block["type"].as_str() {
            Some("header") if chars(text_of(block)) > limit::HEADER_TEXT => {
                return Err(format!(
                    "header has {} characters > {}",
                    chars(text_of(block)),
                    limit::HEADER_TEXT
                ))
            }
            Some("section") if chars(text_of(block)) > limit::SECTION_TEXT => {
                return Err(format!(
                    "section has {} characters > {}",
                    chars(text_of(block)),
                    limit::SECTION_TEXT
                ))
            }
            Some("actions") => {
                let elements = block["elements"].as_array().unwrap_or(&empty);
                if elements.len() > limit::ACTIONS_ELEMENTS
                    || elements.iter().any(|e| {
                        chars(text_of(e)) > limit::BUTTON_TEXT
                            || chars(e["url"].as_str().unwrap_or_default()) > limit::BUTTON_URL
                    })
                {
                    return Err("actions block over its limits".into());
                }
                continue;
            }
            Some("context") => {
                let elements = block["elements"].as_array().unwrap_or(&empty);
                if elements.len() > limit::CONTEXT_ELEMENTS
                    || elements.iter().any(|e| {
                        chars(e["text"].as_str().unwrap_or_default()) > limit::SECTION_TEXT
                    })
                {
                    return Err("context block over its limits".into());
                }
            }
            _ => {}
        }
        if text_of(block).is_empty() && block["type"] != "context" {
            return Err(format!("empty {} text", block["type"]));
        }
    }
    Ok(())
}
