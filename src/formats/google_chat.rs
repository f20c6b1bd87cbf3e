//! `google_chat`: an incoming-webhook message with one `cardsV2` card
//! (header, a decorated-text widget per field, a paragraph for the list).
//! People with a Google Chat user id in the people directory are mentioned
//! (`<users/{id}>`) in the top-level `text`, where mentions notify; the card
//! names everyone. Card text is HTML-escaped; the top-level `text`
//! (the notification preview) is defused, so `<users/all>` in data cannot
//! mention everyone.

use serde_json::{json, Value as Json};

use super::handles::handle;
use super::limits::google_chat as limit;
use super::summary::{Markup, Message};
use super::text::{defuse_markup, entities_and_links};
use crate::events::UserRef;

fn mention(user: &UserRef) -> String {
    entities_and_links(&user.name)
}

const MARKUP: Markup = Markup {
    bold: |text| format!("<b>{text}</b>"),
    escape: entities_and_links,
    mention,
};

pub fn body(message: &Message) -> Json {
    let widgets: Vec<_> = message
        .fields
        .iter()
        .map(|f| {
            json!({"decoratedText": {
                "topLabel": f.label.shown(&MARKUP),
                "text": message.value(f, &MARKUP),
                "wrapText": true,
            }})
        })
        .collect();
    let mut sections = Vec::new();
    if !widgets.is_empty() {
        sections.push(json!({"widgets": widgets}));
    }
    if let Some(text) = &message.text {
        let text = text.render(&MARKUP).replace('\n', "<br>");
        sections.push(json!({"widgets": [{"textParagraph": {"text": text}}]}));
    } else if let Some(list) = &message.list {
        let text = list
            .lines(&MARKUP, message.words)
            .iter()
            .map(|line| format!("•{}", line.trim_start_matches('-')))
            .collect::<Vec<_>>()
            .join("<br>");
        sections.push(json!({
            "header": entities_and_links(&list.heading),
            "widgets": [{"textParagraph": {"text": text}}]
        }));
    }
    // https://developers.google.com/workspace/chat/api/reference/rest/v1/cards#buttonlist
    let buttons: Vec<Json> = message
        .actions()
        .into_iter()
        .map(|(text, url)| json!({"text": text, "onClick": {"openLink": {"url": url.as_str()}}}))
        .collect();
    if !buttons.is_empty() {
        sections.push(json!({"widgets": [{"buttonList": {"buttons": buttons}}]}));
    }
    sections.push(json!({
        "widgets": [{"textParagraph": {"text": format!("<i>{}</i>", entities_and_links(&message.footer))}}]
    }));
    let pings: Vec<String> = message
        .mentions
        .iter()
        .filter_map(|u| handle(u, "google_chat"))
        .map(|id| format!("<users/{id}>"))
        .collect();
    let text = if pings.is_empty() {
        defuse_markup(&message.title)
    } else {
        format!("{} {}", defuse_markup(&message.title), pings.join(" "))
    };
    json!({
        "text": text,
        "cardsV2": [{
            "cardId": "herald",
            "card": {
                "header": {
                    "title": defuse_markup(&message.title),
                    "subtitle": defuse_markup(&message.event_type),
                },
                "sections": sections,
            }
        }]
    })
}

pub fn check(_: &Json, bytes: usize) -> Result<(), String> {
    super::within_bytes(bytes, limit::BODY_BYTES)
}
