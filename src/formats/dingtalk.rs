//! `dingtalk`: a custom-robot markdown message. People with a DingTalk
//! userId in the people directory are mentioned with `@<userId>` plus
//! `at.atUserIds`, others with a phone number with `@<phone>` plus
//! `at.atMobiles`, the rest by name. User text is defused (DingTalk documents no Markdown escape): no
//! tag, link or image comes from data, and only phones herald puts in
//! `atMobiles` notify. With a secret the robot's signature goes in the URL:
//! `timestamp` (milliseconds) and `sign` = base64(HMAC-SHA256 keyed by the
//! secret over "timestamp\nsecret") query parameters.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use url::Url;

use super::handles::handle;
use super::limits::dingtalk as limit;
use super::summary::{markdown_bold, Markup, Message};
use super::text::defuse_markup;
use crate::endpoint::Secret;
use crate::events::UserRef;

/// `@phone` (DingTalk highlights it when the phone is also in `atMobiles`).
pub fn mention_by_phone(user: &UserRef) -> String {
    if let Some(id) = handle(user, "dingtalk") {
        return format!("@{id}");
    }
    match mobile(user) {
        Some(phone) => format!("@{phone}"),
        None => defuse_markup(&user.name),
    }
}

/// Who `message` notifies on `platform` (DingTalk, WeCom): the directory's
/// user ids, and the phones of people without one.
pub fn mention_targets<'a>(message: &'a Message, platform: &str) -> (Vec<&'a str>, Vec<&'a str>) {
    let ids = message
        .mentions
        .iter()
        .filter_map(|u| handle(u, platform))
        .collect();
    let phones = message
        .mentions
        .iter()
        .filter(|u| handle(u, platform).is_none())
        .filter_map(mobile)
        .collect();
    (ids, phones)
}

/// The user's phone if it is one (digits, `+`, `-`).
pub fn mobile(user: &UserRef) -> Option<&str> {
    user.phone.as_deref().filter(|p| {
        !p.is_empty()
            && p.len() <= 20
            && p.chars()
                .all(|c| c.is_ascii_digit() || c == '+' || c == '-')
    })
}

const MARKUP: Markup = Markup {
    bold: markdown_bold,
    escape: defuse_markup,
    mention: mention_by_phone,
};

/// The `sign` query parameter for `timestamp_ms`.
pub fn sign(secret: &Secret, timestamp_ms: i64) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(format!("{timestamp_ms}\n{}", secret.expose()).as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The endpoint URL with `timestamp` and `sign` appended.
pub fn signed_url(url: &Url, secret: &Secret, now: DateTime<Utc>) -> Url {
    let timestamp_ms = now.timestamp_millis();
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &sign(secret, timestamp_ms));
    url
}

pub fn body(message: &Message) -> serde_json::Value {
    let (ids, phones) = mention_targets(message, "dingtalk");
    let title = defuse_markup(&message.title);
    let mut text = format!("### {title}\n\n{}", message.text(&MARKUP, "\n\n"));
    // Markdown messages take `[text](url)` links
    // (https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages).
    let links = message.markdown_links(" · ");
    if !links.is_empty() {
        text.push_str(&format!("\n\n{links}"));
    }
    text.push_str(&format!("\n\n> {}", defuse_markup(&message.footer)));
    json!({
        "msgtype": "markdown",
        "markdown": {"title": title, "text": text},
        "at": {"atMobiles": phones, "atUserIds": ids, "isAtAll": false},
    })
}

pub fn check(_: &serde_json::Value, bytes: usize) -> Result<(), String> {
    super::within_bytes(bytes, limit::BODY_BYTES)
}
