//! Message templates: an endpoint's own words, written in minijinja
//! (Jinja2) over the event's documented fields (docs/templates.md).
//!
//! - Owns: compiling and checking templates at load ([`MessageTemplate::compile`]),
//!   rendering them into the parts of a neutral [`Message`] (title,
//!   fields, text) or, for `generic`, into the JSON body.
//! - Guarantees: a template renders to *text*. Its output is laid out like
//!   host data — escaped by the platform, fitted to its limits by the same
//!   loop as herald's own bodies — so a template cannot produce a mention,
//!   link or tag out of host data; the only markup is herald's own
//!   (`mention()`, `bold()`, see [`fragments`]).
//! - Does not: decide what happens when a render fails or cannot fit (the
//!   caller falls back to the built-in body and logs why).

mod compile;
mod context;
mod fields;
pub mod fragments;
#[cfg(test)]
mod tests;

use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::events::Event;
use crate::presentation::{Links, Locale};
pub use context::MAX_VALUE_CHARS;
use fragments::Rendered;

/// Most output kept from one part of a chat template: more than any
/// platform shows (Teams' whole card is 28 KB), so fitting never works
/// through megabytes.
const MAX_OUTPUT_BYTES: usize = 40 * 1024;
/// Most output of one string of a generic body (1 MiB); more is an error
/// (and herald's own body goes).
const MAX_BODY_PART_BYTES: usize = 1024 * 1024;

/// A template as written in the config (`template:` of an endpoint, or
/// `templates.<platform>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSource {
    /// The message's title (chat platforms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Labelled fields, in place of herald's (chat platforms). A field
    /// whose value renders empty is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldSource>>,
    /// Free text, in place of herald's list (failed tasks) (chat platforms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The JSON body (`generic`): its strings are templates; a string that
    /// is exactly one `{{ expression }}` becomes that value (a number, a
    /// list, an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Json>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSource {
    /// Shown as written (escaped for the platform).
    pub label: String,
    pub value: String,
}

/// One problem with a template, found at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// `title`, `fields[1].value`, `body.summary`.
    pub part: String,
    /// The line within the template's text, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a template produced no message this time (the caller falls back).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("template {part}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct RenderError {
    pub part: String,
    pub line: Option<usize>,
    pub message: String,
}

/// A render's output, kept up to `max` bytes: the rest is counted out,
/// never held, so a runaway template cannot fill memory.
struct Capped {
    kept: Vec<u8>,
    max: usize,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = self.max.saturating_sub(self.kept.len());
        if bytes.len() > room {
            self.over = true;
        }
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the template defines.
#[derive(Debug)]
enum Parts {
    Chat {
        title: bool,
        /// Labels; values are templates `fields[i]`.
        fields: Option<Vec<String>>,
        text: bool,
    },
    Body(BodyNode),
}

/// The generic body's shape: literals, and strings that are templates.
#[derive(Debug)]
enum BodyNode {
    Literal(Json),
    /// A template by name; its output is a string.
    Text(String),
    /// `{{ expression }}` alone: its value.
    Expression(String),
    List(Vec<BodyNode>),
    Object(Vec<(String, BodyNode)>),
}

/// A compiled, checked template.
pub struct MessageTemplate {
    env: Environment<'static>,
    parts: Parts,
    source: TemplateSource,
}

impl std::fmt::Debug for MessageTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageTemplate")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl PartialEq for MessageTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// The error's words without minijinja's own location suffix.
fn error_text(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

impl MessageTemplate {
    /// The template as written.
    pub fn source(&self) -> &TemplateSource {
        &self.source
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<Rendered, RenderError> {
        let failed = |error: minijinja::Error| RenderError {
            part: name.to_owned(),
            line: error.line(),
            message: error_text(&error),
        };
        let template = self.env.get_template(name).map_err(failed)?;
        let generic = matches!(self.parts, Parts::Body(_));
        let mut output = Capped {
            kept: Vec::new(),
            max: if generic {
                MAX_BODY_PART_BYTES
            } else {
                MAX_OUTPUT_BYTES
            },
            over: false,
        };
        let captured = template
            .render_captured_to(ctx, &mut output)
            .map_err(failed)?;
        if output.over && generic {
            return Err(RenderError {
                part: name.to_owned(),
                line: None,
                message: format!("output over {MAX_BODY_PART_BYTES} bytes"),
            });
        }
        // A cut may end inside a character: the cut one is left out.
        let text = match String::from_utf8(output.kept) {
            Ok(text) => text,
            Err(error) => {
                let valid = error.utf8_error().valid_up_to();
                let mut bytes = error.into_bytes();
                bytes.truncate(valid);
                String::from_utf8(bytes).unwrap_or_default()
            }
        };
        Ok(Rendered {
            text,
            fragments: fragments::written(captured.state()).into(),
        })
    }

    /// `base` (herald's own message for `event`, links included) with the
    /// template's parts in place of herald's.
    pub fn message(
        &self,
        event: &Event,
        mut base: crate::formats::summary::Message,
    ) -> Result<crate::formats::summary::Message, RenderError> {
        use crate::formats::summary::{Field, Label, Value};
        let Parts::Chat {
            title,
            fields,
            text,
        } = &self.parts
        else {
            return Ok(base);
        };
        let ctx = context::chat(event, &base);
        let mut mentioned = Vec::new();
        if *title {
            let rendered = self.render("title", &ctx)?;
            let plain = rendered.plain();
            if !plain.trim().is_empty() {
                base.title = plain;
            }
        }
        if let Some(labels) = fields {
            let mut out = Vec::with_capacity(labels.len());
            for (i, label) in labels.iter().enumerate() {
                let rendered = self.render(&format!("fields[{i}].value"), &ctx)?;
                if rendered.plain().trim().is_empty() {
                    continue;
                }
                mentioned.extend(rendered.mentioned().cloned());
                out.push(Field {
                    label: Label::Config(label.as_str().into()),
                    value: Value::Template(rendered),
                });
            }
            base.fields = out;
        }
        if *text {
            let rendered = self.render("text", &ctx)?;
            base.list = None;
            if !rendered.plain().trim().is_empty() {
                mentioned.extend(rendered.mentioned().cloned());
                base.text = Some(rendered);
            }
        }
        if fields.is_some() || *text {
            // Who is notified follows who is shown: the template's people
            // first, then those of herald's fields still shown.
            let shown = base.fields.iter().flat_map(|f| match &f.value {
                Value::Users { users, .. } => users.clone(),
                _ => Vec::new(),
            });
            let mut people: Vec<crate::events::UserRef> = Vec::new();
            for user in mentioned.into_iter().chain(shown) {
                if !people.iter().any(|m| m.id == user.id) {
                    people.push(user);
                }
            }
            base.mentions = people;
        } else {
            for user in mentioned {
                if !base.mentions.iter().any(|m| m.id == user.id) {
                    base.mentions.push(user);
                }
            }
        }
        Ok(base)
    }

    /// The generic body for `event` (`links`: the endpoint's, expanded) in
    /// the endpoint's `locale`.
    pub fn body(&self, event: &Event, links: &Links, locale: Locale) -> Result<Json, RenderError> {
        let Parts::Body(shape) = &self.parts else {
            return Err(RenderError {
                part: "body".into(),
                line: None,
                message: "not a generic template".into(),
            });
        };
        let ctx = context::generic(event, links, locale);
        self.node(shape, &ctx)
    }

    fn node(&self, node: &BodyNode, ctx: &minijinja::Value) -> Result<Json, RenderError> {
        Ok(match node {
            BodyNode::Literal(value) => value.clone(),
            BodyNode::Text(name) => Json::String(self.render(name, ctx)?.plain()),
            BodyNode::Expression(source) => {
                let failed = |error: minijinja::Error| RenderError {
                    part: "body".into(),
                    line: None,
                    message: format!("`{source}`: {}", error_text(&error)),
                };
                let value = self
                    .env
                    .compile_expression(source)
                    .map_err(failed)?
                    .eval(ctx)
                    .map_err(failed)?;
                context::to_json(&value)
            }
            BodyNode::List(items) => Json::Array(
                items
                    .iter()
                    .map(|item| self.node(item, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            BodyNode::Object(entries) => {
                let mut map = serde_json::Map::new();
                for (key, item) in entries {
                    map.insert(key.clone(), self.node(item, ctx)?);
                }
                Json::Object(map)
            }
        })
    }
}
