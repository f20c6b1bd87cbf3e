//! Global endpoints from the YAML config file (`--config`, default
//! `herald.yaml`): parsing, validation (every problem collected, each naming
//! the file, the endpoint and the field), secret resolution and the
//! effective-config rendering used by `herald check-config`.
//!
//! - Owns: the file format, validation rules, secret lookup.
//! - Does not: reload on SIGHUP (the daemon calls [`load`] again) or store
//!   project webhooks (those come from the database).

pub mod file;
mod located;
pub mod secrets;
mod shape;
pub mod templates;
pub mod time_intervals;

use std::fmt;
use std::path::{Path, PathBuf};

use tracing::info;

pub use file::{EndpointNotes, FileConfig, FileEndpoint, FileLinks};
pub use located::Position;
pub use secrets::SecretOrigin;

use crate::endpoint::Endpoint;

/// The default config file (missing is fine: no global endpoints).
pub const DEFAULT_CONFIG_PATH: &str = "herald.yaml";
/// The default secrets directory.
pub const DEFAULT_SECRETS_DIR: &str = "/run/secrets";

/// The loaded, validated configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Global endpoints, in file order.
    pub endpoints: Vec<Endpoint>,
    /// Per endpoint (same order): the secret's name and origin, the
    /// insecure-http opt-in — what `check-config` shows besides the endpoint.
    pub notes: Vec<EndpointNotes>,
    /// The file it came from (None: the default file was absent).
    pub path: Option<PathBuf>,
    /// The `links:` section (also applied to project webhooks).
    pub links: std::sync::Arc<crate::presentation::LinkTemplates>,
    /// The `time_intervals:` section as written (endpoints hold them
    /// parsed), for showing the effective config.
    pub time_intervals: Vec<time_intervals::FileTimeInterval>,
    /// The `templates:` section as written (endpoints hold them compiled).
    pub templates: std::collections::BTreeMap<String, crate::formats::template::TemplateSource>,
}

/// One problem with the file: where (line and column when known), which
/// endpoint and field, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub position: Option<Position>,
    /// The endpoint's id, or `#<position>` when it has none; empty for a
    /// problem outside `endpoints:` (`links:`, a top-level key).
    pub endpoint: String,
    /// The endpoint's place in `endpoints:` (0-based), for locating it.
    pub index: Option<usize>,
    /// The key, as written in the file (`links.issue` outside endpoints).
    pub field: String,
    pub message: String,
}

impl Problem {
    /// The node's path as the locator names it.
    fn path(&self) -> String {
        match self.index {
            Some(index) => format!("endpoints[{index}].{}", self.field),
            None => self.field.clone(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.endpoint.is_empty() {
            write!(f, ": endpoint `{}`", self.endpoint)?;
        }
        write!(f, ": {}: {}", self.field, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is not valid: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("config file {}{} is not valid YAML: {message}", path.display(), at(position))]
    Syntax {
        path: PathBuf,
        position: Option<Position>,
        message: String,
    },
    #[error("config file {} has {} problem(s):\n{}", path.display(), problems.len(), list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn at(position: &Option<Position>) -> String {
    position.map_or(String::new(), |p| format!(":{}:{}", p.line, p.column))
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the config comes from: enough to load it again on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub secrets_dir: PathBuf,
    /// Given explicitly (a missing file is then an error).
    pub explicit: bool,
}

impl Source {
    pub fn load(&self) -> Result<Config, ConfigError> {
        load(&self.path, &self.secrets_dir, self.explicit)
    }
}

/// Load and validate `path`. A missing file is an error when `explicit`
/// (given with `--config` / `HERALD_CONFIG`), otherwise no global endpoints.
pub fn load(path: &Path, secrets_dir: &Path, explicit: bool) -> Result<Config, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => {
            info!(event = "config.absent", path = %path.display(), "no config file: no global endpoints");
            return Ok(Config::default());
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound {
                path: path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let config = parse(&text, path, secrets_dir)?;
    info!(
        event = "config.loaded",
        path = %path.display(),
        endpoints = config.endpoints.len(),
    );
    Ok(config)
}

/// Parse and validate config text (`path` names it in errors). A file
/// without an `endpoints:` key — empty, only comments, truncated before it —
/// is refused: running without global endpoints must be said explicitly
/// (`endpoints: []`), so a half-written file on reload cannot silently stop
/// every global delivery.
pub fn parse(text: &str, path: &Path, secrets_dir: &Path) -> Result<Config, ConfigError> {
    let value: serde_norway::Value = if text.trim().is_empty() {
        serde_norway::Value::Null
    } else {
        serde_norway::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            position: e.location().map(|l| Position {
                line: l.line(),
                column: l.column(),
            }),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_owned(),
        })?
    };
    let has_endpoints = value
        .as_mapping()
        .is_some_and(|m| m.contains_key("endpoints"));
    if !has_endpoints {
        return Err(ConfigError::Parse {
            path: path.to_path_buf(),
            message: "no `endpoints:` key (the file is empty or cut short); write `endpoints: []` to run without global endpoints".into(),
        });
    }
    let labels = endpoint_labels(&value);
    let shaped = shape::read(value);
    let locations = located::Locations::of(text);
    let mut problems: Vec<Problem> = shaped
        .problems
        .iter()
        .map(|found| {
            let index = endpoint_index(&found.path);
            let field = match index {
                Some(index) => found
                    .path
                    .strip_prefix(&format!("endpoints[{index}]"))
                    .unwrap_or("")
                    .trim_start_matches('.')
                    .to_owned(),
                None => found.path.clone(),
            };
            Problem {
                file: path.to_path_buf(),
                position: locations.find(&found.path),
                endpoint: index
                    .and_then(|i| labels.get(i).cloned())
                    .unwrap_or_default(),
                index,
                field: match (field.is_empty(), index) {
                    (false, _) => field,
                    (true, Some(_)) => "(the endpoint)".into(),
                    (true, None) => "(the file)".into(),
                },
                message: found.message.clone(),
            }
        })
        .collect();
    let validated = file::validate(&shaped.file, path, secrets_dir);
    let semantic = match &validated {
        Ok(_) => Vec::new(),
        Err(found) => found.clone(),
    };
    for mut problem in semantic {
        let item = problem.index.map(|i| format!("endpoints[{i}]"));
        if shaped.reported.contains(&problem.path())
            || item.is_some_and(|item| shaped.reported.contains(&item))
        {
            continue; // said already, as a shape problem
        }
        problem.position = locations.find(&problem.path());
        problems.push(problem);
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.position);
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    }
    let validated = validated.map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })?;
    let (endpoints, notes) = validated.endpoints.into_iter().unzip();
    Ok(Config {
        endpoints,
        notes,
        path: Some(path.to_path_buf()),
        links: validated.links,
        time_intervals: shaped.file.time_intervals.clone(),
        templates: shaped.file.templates.clone(),
    })
}

/// Where `node` (`endpoints[2].url`) is in config `text`.
pub fn locate(text: &str, node: &str) -> Option<Position> {
    located::Locations::of(text).find(node)
}

/// Each endpoint's label as problems name it: its id, or `#<n>`.
fn endpoint_labels(value: &serde_norway::Value) -> Vec<String> {
    value
        .get("endpoints")
        .and_then(|e| e.as_sequence())
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(
                    |(i, item)| match item.get("id").and_then(|id| id.as_str()) {
                        Some(id) if !id.is_empty() => id.to_owned(),
                        _ => format!("#{}", i + 1),
                    },
                )
                .collect()
        })
        .unwrap_or_default()
}

/// `Some(i)` for a path inside `endpoints[i]`.
fn endpoint_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("endpoints[")?;
    rest.split(']').next()?.parse().ok()
}

/// The effective configuration as YAML: itself a valid config file (secrets
/// appear by NAME only, never by value; URLs with their path and query —
/// where webhook tokens live — masked), preceded by comments saying where
/// each secret was read from.
pub fn render_effective(config: &Config) -> String {
    let mut out = String::new();
    match &config.path {
        Some(path) => out.push_str(&format!("# effective config from {}\n", path.display())),
        None => out.push_str("# no config file: no global endpoints\n"),
    }
    if !config.endpoints.is_empty() {
        out.push_str("# URLs are shown with their tokens masked (…)\n");
    }
    let mut file = FileConfig {
        links: FileLinks::from_templates(&config.links),
        time_intervals: config.time_intervals.clone(),
        templates: config.templates.clone(),
        ..FileConfig::default()
    };
    for (index, endpoint) in config.endpoints.iter().enumerate() {
        let notes = config.notes.get(index);
        if let Some(origin) = notes.and_then(|n| n.secret_origin.as_ref()) {
            out.push_str(&format!(
                "# endpoint {}: secret value *** (masked) read from {origin}\n",
                endpoint.id
            ));
        }
        file.endpoints.push(FileEndpoint {
            id: endpoint.id.clone(),
            platform: endpoint.platform.as_str().to_string(),
            url: crate::endpoint::redacted_url(&endpoint.url),
            secret: notes.and_then(|n| n.secret_name.clone()),
            events: endpoint.event_types.clone(),
            enabled: endpoint.enabled,
            description: endpoint.description.clone(),
            project: match (&endpoint.project_id, &endpoint.project_resource) {
                (Some(id), _) => Some(file::ProjectRef::Id(*id)),
                (None, Some(resource)) => Some(file::ProjectRef::Resource(resource.clone())),
                (None, None) => None,
            },
            allow_insecure_http: notes.is_some_and(|n| n.allow_insecure_http),
            ordering: match endpoint.ordering {
                crate::endpoint::Ordering::Strict => None,
                crate::endpoint::Ordering::Unordered { .. } => Some("none".into()),
            },
            concurrency: match endpoint.ordering {
                crate::endpoint::Ordering::Strict => None,
                crate::endpoint::Ordering::Unordered { concurrency } => Some(concurrency),
            },
            direct_messages: endpoint.direct_messages,
            filter: (!endpoint.route.filter.is_empty())
                .then(|| file::FileFilter::Many(endpoint.route.filter.texts())),
            retry: file::FileRetry::from_override(&endpoint.retry),
            rate_limit: endpoint.rate_limit.map(|l| file::FileRateLimit {
                per_second: l.per_second,
                burst: Some(l.burst),
            }),
            previous_secret: notes.and_then(|n| n.previous_secret.clone()),
            // A credential written in the file as text is shown masked.
            headers: notes
                .map(|n| {
                    n.headers
                        .iter()
                        .map(|(name, value)| {
                            let shown = match value {
                                file::FileHeaderValue::Text(_)
                                    if crate::delivery::http::credential_header(
                                        &name.to_ascii_lowercase(),
                                    ) =>
                                {
                                    file::FileHeaderValue::Text("****".into())
                                }
                                other => other.clone(),
                            };
                            (name.clone(), shown)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            mute_time_intervals: endpoint
                .route
                .mute_windows
                .iter()
                .map(|w| file::FileMute::Rule {
                    name: w.interval.name.clone(),
                    action: Some(w.action.as_str().to_string()),
                })
                .collect(),
            template: notes.and_then(|n| n.template.clone()),
            locale: match endpoint.presentation.locale {
                crate::presentation::Locale::En => None,
                other => Some(other.as_str().to_string()),
            },
        });
    }
    match serde_norway::to_string(&file) {
        Ok(yaml) => out.push_str(&yaml),
        Err(error) => out.push_str(&format!("# cannot render: {error}\n")),
    }
    out
}

#[cfg(test)]
mod routing_tests;
#[cfg(test)]
mod template_tests;
#[cfg(test)]
mod tests;
