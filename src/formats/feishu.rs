//! `feishu` and `lark` (the same bot API on open.feishu.cn / open.larksuite.com):
//! an interactive card with a coloured header. People are mentioned with
//! `<at id=ou_…></at>` when the people directory has their open_id for this
//! platform, else `<at email=...></at>`; user text in `lark_md` has `&`, `<`, `>` as HTML
//! entities and Markdown links broken, so `<at id=all></at>` or a link in
//! data stays text. Header
//! and footer are `plain_text` (nothing parsed). With a secret, the body carries `timestamp` and
//! `sign` = base64(HMAC-SHA256 keyed by "timestamp\nsecret" over nothing),
//! as the bot's signature check expects.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::handles::handle;
use super::limits::feishu as limit;
use super::summary::{markdown_bold, Markup, Message, Severity};
use super::text::entities_and_links as escape;
use crate::endpoint::Secret;
use crate::events::UserRef;

/// Whether `email` is safe inside `<at email=…>` (no spaces, quotes or tags).
fn mentionable(email: &str) -> bool {
    email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && email
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-@".contains(c))
}

fn mention_on(user: &UserRef, platform: &str) -> String {
    if let Some(open_id) = handle(user, platform) {
        format!("<at id={open_id}></at>")
    } else if mentionable(&user.email) {
        format!("<at email={}></at>", user.email)
    } else {
        escape(&user.name)
    }
}

/// Feishu (open.feishu.cn): open_ids from the directory's `feishu` handles.
pub const FEISHU: Markup = Markup {
    bold: markdown_bold,
    escape,
    mention: |user| mention_on(user, "feishu"),
};

/// Lark (open.larksuite.com): open_ids from the `lark` handles.
pub const LARK: Markup = Markup {
    bold: markdown_bold,
    escape,
    mention: |user| mention_on(user, "lark"),
};

fn template(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "blue",
        Severity::Success => "green",
        Severity::Warning => "orange",
        Severity::Failure => "red",
    }
}

/// The `sign` for `timestamp` (seconds).
pub fn sign(secret: &Secret, timestamp: i64) -> String {
    let key = format!("{timestamp}\n{}", secret.expose());
    let mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    BASE64.encode(mac.finalize().into_bytes())
}

pub fn body(
    message: &Message,
    markup: Markup,
    secret: Option<&Secret>,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let mut elements = Vec::new();
    if !message.fields.is_empty() {
        elements.push(json!({
            "tag": "div",
            "text": {"tag": "lark_md", "content": message.field_lines(&markup).join("\n")}
        }));
    }
    let list = message.list_lines(&markup);
    if !list.is_empty() {
        if !elements.is_empty() {
            elements.push(json!({"tag": "hr"}));
        }
        elements.push(json!({
            "tag": "div",
            "text": {"tag": "lark_md", "content": list.join("\n")}
        }));
    }
    // https://open.feishu.cn/document/common-capabilities/message-card/message-cards-content/button
    let buttons: Vec<_> = message
        .actions()
        .into_iter()
        .enumerate()
        .map(|(index, (label, url))| {
            json!({
                "tag": "button",
                "text": {"tag": "plain_text", "content": label},
                "type": if index == 0 { "primary" } else { "default" },
                "url": url.as_str(),
            })
        })
        .collect();
    if !buttons.is_empty() {
        elements.push(json!({"tag": "action", "actions": buttons}));
    }
    elements.push(json!({
        "tag": "note",
        "elements": [{"tag": "plain_text", "content": message.footer}]
    }));
    let mut body = json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {
                "title": {"tag": "plain_text", "content": message.title},
                "template": template(message.severity),
            },
            "elements": elements,
        }
    });
    if let Some(secret) = secret {
        let timestamp = now.timestamp();
        body["timestamp"] = json!(timestamp.to_string());
        body["sign"] = json!(sign(secret, timestamp));
    }
    body
}

pub fn check(_: &serde_json::Value, bytes: usize) -> Result<(), String> {
    super::within_bytes(bytes, limit::BODY_BYTES)
}
