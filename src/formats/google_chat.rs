//! `google_chat`: an incoming-webhook message with one `cardsV2` card
//! (header, a decorated-text widget per field, a paragraph for the list).
//! People appear by name; text is HTML-escaped.

use serde_json::json;

use super::summary::{plain_name, Message};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn body(message: &Message) -> serde_json::Value {
    let widgets: Vec<_> = message
        .fields
        .iter()
        .map(|f| {
            json!({"decoratedText": {
                "topLabel": f.label,
                "text": escape(&f.value.render(plain_name)),
                "wrapText": true,
            }})
        })
        .collect();
    let mut sections = vec![json!({"widgets": widgets})];
    if let Some((heading, items)) = &message.list {
        let text = items
            .iter()
            .map(|i| format!("• {}", escape(i)))
            .collect::<Vec<_>>()
            .join("<br>");
        sections.push(json!({
            "header": escape(heading),
            "widgets": [{"textParagraph": {"text": text}}]
        }));
    }
    sections.push(json!({
        "widgets": [{"textParagraph": {"text": format!("<i>{}</i>", escape(&message.footer))}}]
    }));
    json!({
        "text": message.title,
        "cardsV2": [{
            "cardId": "herald",
            "card": {
                "header": {"title": message.title, "subtitle": message.event_type},
                "sections": sections,
            }
        }]
    })
}
