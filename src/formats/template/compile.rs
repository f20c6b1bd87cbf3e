//! Compiling a template and checking it at load: syntax, names against
//! the documented fields, parts the platform has a place for, and a render
//! of every sample event the endpoint takes.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value as Json;

use super::fragments::{self, FragmentValue};
use super::{
    context, error_text, fields, BodyNode, MessageTemplate, Parts, RenderError, TemplateProblem,
    TemplateSource,
};
use crate::endpoint::Platform;
use crate::events::Event;
use crate::presentation::{Links, Locale};

/// Instructions one render may run (minijinja's fuel): a loop over a
/// thousand failed tasks uses a few tens of thousands; a runaway loop stops.
const FUEL: u64 = 200_000;
/// Longest template source, per part.
const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Most fields a template may define: Discord's embed limit (the
/// smallest; its source is in `limits::discord`).
const MAX_FIELDS: usize = crate::formats::limits::discord::FIELDS;
/// Longest field label.
const MAX_LABEL_CHARS: usize = 100;

/// The environment every template renders in: herald's formatter (values
/// written as text, fragments as tokens, `none` as nothing), functions
/// and filters, fuel.
pub(super) fn environment() -> Environment<'static> {
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

    fn check_render(&self, event: &Event, locale: Locale) -> Result<(), RenderError> {
        match &self.parts {
            Parts::Body(_) => self.body(event, &Links::default(), locale).map(|_| ()),
            Parts::Chat { .. } => {
                let base = crate::formats::summary::summarize(event, locale);
                self.message(event, base).map(|_| ())
            }
        }
    }
}
