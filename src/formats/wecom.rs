//! `wecom` (WeChat Work group robot). WeCom honours `mentioned_list` and
//! `mentioned_mobile_list` only on `text` messages, so:
//! - a message that mentions someone with a WeCom userid in the people
//!   directory (`mentioned_list`) or a phone number (`mentioned_mobile_list`)
//!   is a `text` message, which notifies them;
//! - any other message is `markdown` with a coloured title.
//!
//! User text is defused (WeCom documents no escape): no `<@userid>`,
//! `<font>`, link or image comes from data.

use serde_json::{json, Value as Json};

use super::dingtalk::mention_targets;
use super::limits::wecom as limit;
use super::summary::{Markup, Message, Severity};
use super::text::defuse_markup;
use crate::events::UserRef;

fn mention(user: &UserRef) -> String {
    defuse_markup(&user.name)
}

const MARKDOWN: Markup = Markup {
    bold: super::summary::markdown_bold,
    escape: defuse_markup,
    mention,
};

const PLAIN: Markup = Markup {
    bold: str::to_owned,
    escape: defuse_markup,
    mention,
};

/// WeCom markdown's three font colours.
fn colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Failure | Severity::Warning => "warning",
        Severity::Success => "info",
        Severity::Info => "comment",
    }
}

pub fn body(message: &Message) -> Json {
    let (ids, phones) = mention_targets(message, "wecom");
    let title = defuse_markup(&message.title);
    let footer = defuse_markup(&message.footer);
    if !ids.is_empty() || !phones.is_empty() {
        // Text messages show no Markdown; WeCom makes the bare URL a link.
        let links: String = message
            .actions()
            .iter()
            .map(|(label, url)| format!("\n{label}{}{url}", message.words.title_colon))
            .collect();
        let content = format!("{title}\n{}{links}\n{footer}", message.text(&PLAIN, "\n"));
        let mut text = json!({"content": content, "mentioned_mobile_list": phones});
        if !ids.is_empty() {
            text["mentioned_list"] = json!(ids);
        }
        return json!({"msgtype": "text", "text": text});
    }
    // markdown takes `[text](url)` links; text messages show the bare
    // URL (https://developer.work.weixin.qq.com/document/path/91770).
    let links = message.markdown_links(" · ");
    let content = format!(
        "## <font color=\"{}\">{title}</font>\n{}{}\n> {footer}",
        colour(message.severity),
        message.text(&MARKDOWN, "\n"),
        if links.is_empty() {
            String::new()
        } else {
            format!("\n{links}")
        },
    );
    json!({
        "msgtype": "markdown",
        "markdown": {"content": content},
    })
}

/// The content against WeCom's byte limits for its message type.
pub fn check(body: &Json, _: usize) -> Result<(), String> {
    let (content, max) = match body["msgtype"].as_str() {
        Some("text") => (&body["text"]["content"], limit::TEXT_BYTES),
        _ => (&body["markdown"]["content"], limit::MARKDOWN_BYTES),
    };
    super::within_bytes(content.as_str().unwrap_or_default().len(), max)
}
