//! `discord`: an execute-webhook message with one coloured embed. People
//! with a Discord user id in the people directory are mentioned (`<@id>`)
//! in the embed and in `content` (mentions in embeds do not notify), and
//! only those ids are in `allowed_mentions.users`; others appear by name.
//! User text is backslash-escaped (no masked links, mentions or formatting
//! from data) and `allowed_mentions.parse` is empty, so nothing else pings.

use chrono::SecondsFormat;
use serde_json::{json, Value as Json};

use super::handles::handle;
use super::limits::discord as limit;
use super::summary::{markdown_bold, Markup, Message};
use super::text::{backslash_markdown, utf16_len};
use crate::events::UserRef;

fn mention(user: &UserRef) -> String {
    match handle(user, "discord") {
        Some(id) => format!("<@{id}>"),
        None => backslash_markdown(&user.name),
    }
}

/// Users `allowed_mentions.users` may list,
/// https://discord.com/developers/docs/resources/message#allowed-mentions-object
const MAX_ALLOWED_USERS: usize = 100;

const MARKUP: Markup = Markup {
    bold: markdown_bold,
    escape: backslash_markdown,
    mention,
};

pub fn body(message: &Message) -> Json {
    let fields: Vec<_> = message
        .fields
        .iter()
        .map(|f| {
            json!({
                "name": f.label.shown(&MARKUP),
                "value": message.value(f, &MARKUP),
                "inline": !f.label.is(message.words.data),
            })
        })
        .collect();
    let mut embed = json!({
        "title": backslash_markdown(&message.title),
        "color": message.severity.rgb(),
        "fields": fields,
        "footer": {"text": message.footer},
        "timestamp": message.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    let list = message.list_lines(&MARKUP);
    if !list.is_empty() {
        embed["description"] = json!(list.join("\n"));
    }
    // The title links to the first action (issue, else plan, rollout):
    // a webhook not owned by an application cannot carry buttons
    // ("components: requires an application-owned webhook",
    // https://discord.com/developers/docs/resources/webhook#execute-webhook).
    if let Some((_, url)) = message.actions().first() {
        embed["url"] = json!(url.as_str());
    }
    let ids: Vec<&str> = message
        .mentions
        .iter()
        .filter_map(|u| handle(u, "discord"))
        .take(MAX_ALLOWED_USERS)
        .collect();
    let mut body = json!({
        "username": "herald",
        "allowed_mentions": {"parse": [], "users": ids},
        "embeds": [embed]
    });
    if !ids.is_empty() {
        let pings: Vec<String> = ids.iter().map(|id| format!("<@{id}>")).collect();
        body["content"] = json!(pings.join(" "));
    }
    body
}

/// `body` against Discord's documented embed limits (counted in UTF-16
/// units, as Discord counts).
pub fn check(body: &Json) -> Result<(), String> {
    let len = |v: &Json| utf16_len(v.as_str().unwrap_or_default());
    let over = |what: &str, n: usize, max: usize| {
        if n > max {
            Err(format!("{what} has {n} characters > {max}"))
        } else {
            Ok(())
        }
    };
    over("content", len(&body["content"]), limit::CONTENT)?;
    let empty = Vec::new();
    let embeds = body["embeds"].as_array().unwrap_or(&empty);
    if embeds.len() > limit::EMBEDS {
        return Err(format!("{} embeds > {}", embeds.len(), limit::EMBEDS));
    }
    let mut total = 0;
    for embed in embeds {
        let fields = embed["fields"].as_array().unwrap_or(&empty);
        if fields.len() > limit::FIELDS {
            return Err(format!("{} fields > {}", fields.len(), limit::FIELDS));
        }
        over("title", len(&embed["title"]), limit::TITLE)?;
        over(
            "description",
            len(&embed["description"]),
            limit::DESCRIPTION,
        )?;
        over("footer", len(&embed["footer"]["text"]), limit::FOOTER)?;
        total += len(&embed["title"])
            + len(&embed["description"])
            + len(&embed["footer"]["text"])
            + len(&embed["author"]["name"]);
        for field in fields {
            over("field name", len(&field["name"]), limit::FIELD_NAME)?;
            over("field value", len(&field["value"]), limit::FIELD_VALUE)?;
            for part in ["name", "value"] {
                if field[part].as_str().map_or(true, |s| s.trim().is_empty()) {
                    return Err(format!("empty field {part}"));
                }
            }
            total += len(&field["name"]) + len(&field["value"]);
        }
    }
    over("all embeds", total, limit::EMBEDS_TOTAL)
}
