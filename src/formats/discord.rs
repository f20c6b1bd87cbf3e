//! `discord`: an execute-webhook message with one coloured embed. Discord
//! mentions need user ids herald does not have, so people appear by name.

use chrono::SecondsFormat;
use serde_json::json;

use super::summary::{markdown_bold, plain_name, Markup, Message};

const MARKUP: Markup = Markup {
    bold: markdown_bold,
    mention: plain_name,
};

pub fn body(message: &Message) -> serde_json::Value {
    let fields: Vec<_> = message
        .fields
        .iter()
        .map(|f| {
            json!({
                "name": f.label,
                "value": f.value.render(MARKUP.mention),
                "inline": f.label != "Data",
            })
        })
        .collect();
    json!({
        "username": "herald",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": message.title,
            "color": message.severity.rgb(),
            "description": message.list_lines(&MARKUP).join("\n"),
            "fields": fields,
            "footer": {"text": message.footer},
            "timestamp": message.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
        }]
    })
}
