//! `templates:` (a default message template per platform) and each
//! endpoint's `template:`, compiled and checked at load; problems name the
//! part (`template.fields[1].value`) and the line within the template.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::Problem;
use crate::endpoint::Platform;
use crate::formats::template::{MessageTemplate, TemplateProblem, TemplateSource};
use crate::presentation::Locale;

/// The per-platform defaults, compiled.
pub type Defaults = HashMap<Platform, Arc<MessageTemplate>>;

/// `field` (the section's path) joined with the problem's part.
fn field(section: &str, found: &TemplateProblem) -> String {
    if found.part.starts_with('(') {
        section.to_owned()
    } else {
        format!("{section}.{}", found.part)
    }
}

/// `templates:`: each key a platform, each value a template for every
/// event type and language.
pub fn defaults(
    written: &BTreeMap<String, TemplateSource>,
    path: &Path,
    problems: &mut Vec<Problem>,
) -> Defaults {
    let mut out = HashMap::new();
    for (name, source) in written {
        let section = format!("templates.{name}");
        let Some(platform) = Platform::parse(name) else {
            let known: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
            problems.push(Problem {
                file: path.to_path_buf(),
                position: None,
                endpoint: String::new(),
                index: None,
                field: section,
                message: format!("`{name}` is not a type; known types: {}", known.join(", ")),
            });
            continue;
        };
        match MessageTemplate::compile(source, platform, &["*".to_owned()], &Locale::ALL) {
            Ok(template) => {
                out.insert(platform, Arc::new(template));
            }
            Err(found) => problems.extend(found.iter().map(|p| Problem {
                file: path.to_path_buf(),
                position: None,
                endpoint: String::new(),
                index: None,
                field: field(&section, p),
                message: p.to_string(),
            })),
        }
    }
    out
}

/// What an endpoint sends: its own `template:` if it has one, else its
/// platform's default; `Err` holds the problems of its own.
pub struct EndpointTemplate<'a> {
    pub written: Option<&'a TemplateSource>,
    pub platform: Platform,
    pub event_types: &'a [String],
    pub locale: Locale,
    pub direct_messages: bool,
}

impl EndpointTemplate<'_> {
    /// The template, or each problem as (field, message).
    pub fn resolve(
        &self,
        defaults: &Defaults,
    ) -> Result<Option<Arc<MessageTemplate>>, Vec<(String, String)>> {
        match self.written {
            // Direct messages are herald's own (formats::direct).
            None if self.direct_messages => Ok(None),
            None => Ok(defaults.get(&self.platform).cloned()),
            Some(_) if self.direct_messages => Err(vec![(
                "template".into(),
                "direct messages are herald's own; a template applies to webhook messages".into(),
            )]),
            Some(source) => {
                MessageTemplate::compile(source, self.platform, self.event_types, &[self.locale])
                    .map(|t| Some(Arc::new(t)))
                    .map_err(|found| {
                        found
                            .iter()
                            .map(|p| (field("template", p), p.to_string()))
                            .collect()
                    })
            }
        }
    }
}
