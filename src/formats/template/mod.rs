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

mod context;
mod fields;
pub mod fragments;
#[cfg(test)]
mod tests;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::endpoint::Platform;
use crate::events::Event;
use crate::presentation::{Links, Locale};
pub use context::MAX_VALUE_CHARS;
use fragments::{FragmentValue, Rendered};

/// Instructions one render may run (minijinja's fuel): a loop over a
/// thousand failed tasks uses a few tens of thousands; a runaway loop stops.
const FUEL: u64 = 200_000;
/// Most output kept from one part of a chat template: more than any
/// platform shows (Teams' whole card is 28 KB), so fitting never works
/// through megabytes.
const MAX_OUTPUT_BYTES: usize = 40 * 1024;
/// Most output of one string of a generic body (1 MiB); more is an error
/// (and herald's own body goes).
const MAX_BODY_PART_BYTES: usize = 1024 * 1024;
/// Longest template source, per part.
const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Most fields a template may define (no platform shows more than 25).
const MAX_FIELDS: usize = 25;
/// Longest field label.
const MAX_LABEL_CHARS: usize = 100;

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

/// The environment every template renders in: herald's formatter (values
/// written as text, fragments as tokens, `none` as nothing), functions
/// and filters, fuel.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(64);
    env.set_formatter(|out, state, value| {
        if let Some(fragment) = value.downcast_object_ref::<FragmentValue>() {
            out.write_str(&fragments::token(state, &fragment.0)?)
                .map_err(minijinja::Error::from)?;
        } else if !(value.is_undefined() || value.is_none()) {
            out.write_str(&fragments::without_tokens(&value.to_string()))
                .map_err(minijinja::Error::from)?;
        }
        Ok(())
    });
    env.add_function("mention", fragments::mention);
    env.add_function("bold", fragments::bold);
    env.add_filter("time", context::time_filter);
    // As in Jinja2: what an event of another type does not have counts 0.
    env.add_filter("length", context::length_filter);
    env.add_filter("count", context::length_filter);
    env.add_filter("duration", context::duration_filter);
    env
}

fn problem(part: &str, error: &minijinja::Error) -> TemplateProblem {
    TemplateProblem {
        part: part.to_owned(),
        line: error.line(),
        message: error_text(error),
    }
}

/// The error's words without minijinja's own location suffix.
fn error_text(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// A string that is exactly one `{{ expression }}`.
fn lone_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    // Whitespace control (`{{-`, `-}}`) is not part of the expression.
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%")).then(|| inner.trim())
}

struct Compiler {
    env: Environment<'static>,
    problems: Vec<TemplateProblem>,
    open_data: bool,
    /// Templates added (name, source), checked for names after.
    added: Vec<(String, String)>,
}

impl Compiler {
    fn add(&mut self, part: &str, source: &str) -> bool {
        if self.added.iter().any(|(name, _)| name == part) {
            self.problems.push(TemplateProblem {
                part: part.into(),
                line: None,
                message: "two parts of the body have this path (a key with a dot in it?)".into(),
            });
            return false;
        }
        if source.len() > MAX_SOURCE_BYTES {
            self.problems.push(TemplateProblem {
                part: part.into(),
                line: None,
                message: format!("{} bytes > {MAX_SOURCE_BYTES}", source.len()),
            });
            return false;
        }
        if source.contains([fragments::OPEN, fragments::CLOSE]) {
            self.problems.push(TemplateProblem {
                part: part.into(),
                line: None,
                message: "contains U+E000/U+E001, which herald reserves".into(),
            });
            return false;
        }
        match self
            .env
            .add_template_owned(part.to_owned(), source.to_owned())
        {
            Ok(()) => {
                self.added.push((part.to_owned(), source.to_owned()));
                true
            }
            Err(error) => {
                self.problems.push(problem(part, &error));
                false
            }
        }
    }

    fn body(&mut self, path: &str, value: &Json) -> BodyNode {
        match value {
            Json::String(text) if !text.contains("{{") && !text.contains("{%") => {
                BodyNode::Literal(value.clone())
            }
            Json::String(text) => match lone_expression(text) {
                Some(expression) => match self.env.compile_expression(expression) {
                    Ok(compiled) => {
                        for name in compiled.undeclared_variables(true) {
                            if let Err(message) = fields::check(&name, self.open_data) {
                                self.problems.push(TemplateProblem {
                                    part: path.into(),
                                    line: Some(1),
                                    message,
                                });
                            }
                        }
                        BodyNode::Expression(expression.to_owned())
                    }
                    Err(error) => {
                        self.problems.push(problem(path, &error));
                        BodyNode::Literal(Json::Null)
                    }
                },
                None => {
                    self.add(path, text);
                    BodyNode::Text(path.to_owned())
                }
            },
            Json::Array(items) => BodyNode::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.body(&format!("{path}[{i}]"), item))
                    .collect(),
            ),
            Json::Object(map) => BodyNode::Object(
                map.iter()
                    .map(|(key, item)| (key.clone(), self.body(&format!("{path}.{key}"), item)))
                    .collect(),
            ),
            other => BodyNode::Literal(other.clone()),
        }
    }

    /// Every name each template uses, against the documented fields, with
    /// the first line that uses it.
    fn check_names(&mut self) {
        for (part, source) in std::mem::take(&mut self.added) {
            let Ok(template) = self.env.get_template(&part) else {
                continue;
            };
            let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
            names.sort();
            for name in names {
                if let Err(message) = fields::check(&name, self.open_data) {
                    let line = source
                        .lines()
                        .position(|l| l.contains(name.as_str()))
                        .or_else(|| {
                            let root = name.split('.').next().unwrap_or_default();
                            source.lines().position(|l| l.contains(root))
                        })
                        .map(|i| i + 1);
                    self.problems.push(TemplateProblem {
                        part: part.clone(),
                        line,
                        message,
                    });
                }
            }
        }
    }
}

impl MessageTemplate {
    /// Compile and check `source` for an endpoint of `platform` taking
    /// `event_types` in `locales`: syntax, names that are not documented
    /// fields, parts the platform has no place for, and a render of every
    /// sample event it takes.
    pub fn compile(
        source: &TemplateSource,
        platform: Platform,
        event_types: &[String],
        locales: &[Locale],
    ) -> Result<MessageTemplate, Vec<TemplateProblem>> {
        let open_data = event_types
            .iter()
            .any(|t| t == "*" || crate::events::EventType::parse(t).is_none());
        let mut compiler = Compiler {
            env: environment(),
            problems: Vec::new(),
            open_data,
            added: Vec::new(),
        };
        let structural = |part: &str, message: &str| TemplateProblem {
            part: part.into(),
            line: None,
            message: message.into(),
        };
        let chat = source.title.is_some() || source.fields.is_some() || source.text.is_some();
        let parts = if platform == Platform::Generic {
            if chat {
                compiler.problems.push(structural(
                    "(the template)",
                    "a generic endpoint's template is its `body`; title, fields and text are for chat platforms",
                ));
            }
            match &source.body {
                Some(body) => Parts::Body(compiler.body("body", body)),
                None => {
                    compiler.problems.push(structural(
                        "body",
                        "a generic endpoint's template needs `body`",
                    ));
                    Parts::Body(BodyNode::Literal(Json::Null))
                }
            }
        } else {
            if source.body.is_some() {
                compiler.problems.push(structural(
                    "body",
                    "only generic endpoints take a JSON `body`; chat platforms take title, fields and text",
                ));
            }
            if !chat {
                compiler.problems.push(structural(
                    "(the template)",
                    "needs at least one of title, fields, text",
                ));
            }
            if let Some(title) = &source.title {
                compiler.add("title", title);
            }
            if let Some(text) = &source.text {
                compiler.add("text", text);
            }
            let fields = source.fields.as_ref().map(|fields| {
                if fields.len() > MAX_FIELDS {
                    compiler.problems.push(structural(
                        "fields",
                        &format!("{} fields > {MAX_FIELDS}", fields.len()),
                    ));
                }
                fields
                    .iter()
                    .enumerate()
                    .map(|(i, field)| {
                        let label = field.label.trim();
                        if label.is_empty()
                            || label.chars().count() > MAX_LABEL_CHARS
                            || label.chars().any(char::is_control)
                        {
                            compiler.problems.push(structural(
                                &format!("fields[{i}].label"),
                                &format!("must be 1–{MAX_LABEL_CHARS} characters on one line"),
                            ));
                        }
                        compiler.add(&format!("fields[{i}].value"), &field.value);
                        label.to_owned()
                    })
                    .collect()
            });
            Parts::Chat {
                title: source.title.is_some(),
                fields,
                text: source.text.is_some(),
            }
        };
        compiler.check_names();
        let template = MessageTemplate {
            env: compiler.env,
            parts,
            source: source.clone(),
        };
        let mut problems = compiler.problems;
        if problems.is_empty() {
            // Every sample it would receive, in each language it speaks.
            for event in crate::formats::samples::all() {
                if !event_types
                    .iter()
                    .any(|t| t == "*" || *t == event.event_type)
                {
                    continue;
                }
                for &locale in locales {
                    if let Err(error) = template.check_render(&event, locale) {
                        let found = TemplateProblem {
                            part: error.part,
                            line: error.line,
                            message: format!(
                                "{} (rendering the sample {})",
                                error.message, event.event_type
                            ),
                        };
                        if !problems
                            .iter()
                            .any(|p: &TemplateProblem| p.part == found.part && p.line == found.line)
                        {
                            problems.push(found);
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(template)
        } else {
            Err(problems)
        }
    }

    /// The template as written.
    pub fn source(&self) -> &TemplateSource {
        &self.source
    }

    fn check_render(&self, event: &Event, locale: Locale) -> Result<(), RenderError> {
        match &self.parts {
            Parts::Body(_) => self.body(event, &Links::default(), locale).map(|_| ()),
            Parts::Chat { .. } => {
                let base = crate::formats::summary::summarize(event, locale);
                self.message(event, base).map(|_| ())
            }
        }
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
