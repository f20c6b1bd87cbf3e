//! `wecom` (WeChat Work group robot): a markdown message with a coloured
//! title. People appear by name in the text, and those with a phone number
//! are listed in `mentioned_mobile_list`.

use serde_json::json;

use super::summary::{markdown_bold, plain_name, Markup, Message, Severity};

const MARKUP: Markup = Markup {
    bold: markdown_bold,
    mention: plain_name,
};

/// WeCom markdown's three font colours.
fn colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Failure | Severity::Warning => "warning",
        Severity::Success => "info",
        Severity::Info => "comment",
    }
}

pub fn body(message: &Message) -> serde_json::Value {
    let phones: Vec<&str> = message
        .mentions
        .iter()
        .filter_map(|u| u.phone.as_deref())
        .collect();
    let content = format!(
        "## <font color=\"{}\">{}</font>\n{}\n> {}",
        colour(message.severity),
        message.title,
        message.text(&MARKUP, "\n"),
        message.footer
    );
    json!({
        "msgtype": "markdown",
        "markdown": {"content": content, "mentioned_mobile_list": phones},
    })
}
