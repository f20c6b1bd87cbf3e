//! Global endpoints from the YAML config file (`--config`, default
//! `herald.yaml`): parsing, validation (every problem collected, each naming
//! the file, the endpoint and the field), secret resolution and the
//! effective-config rendering used by `herald check-config`.
//!
//! - Owns: the file format, validation rules, secret lookup.
//! - Does not: reload on SIGHUP (the daemon calls [`load`] again) or store
//!   project webhooks (those come from the database).

pub mod file;
pub mod secrets;

use std::fmt;
use std::path::{Path, PathBuf};

use tracing::info;

pub use file::{EndpointNotes, FileConfig, FileEndpoint, FileLinks};
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
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// The endpoint's id, or `#<position>` when it has none; empty for a
    /// problem in the `links:` section.
    pub endpoint: String,
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.endpoint.is_empty() {
            return write!(
                f,
                "{}: links: {}: {}",
                self.file.display(),
                self.field,
                self.message
            );
        }
        write!(
            f,
            "{}: endpoint `{}`: {}: {}",
            self.file.display(),
            self.endpoint,
            self.field,
            self.message
        )
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
    #[error("config file {} has {} problem(s):\n{}", path.display(), problems.len(), list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
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
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_norway::Value = if text.trim().is_empty() {
        serde_norway::Value::Null
    } else {
        serde_norway::from_str(text).map_err(|e| parse_error(e.to_string()))?
    };
    let has_endpoints = value
        .as_mapping()
        .is_some_and(|m| m.contains_key("endpoints"));
    if !has_endpoints {
        return Err(parse_error(
            "no `endpoints:` key (the file is empty or cut short); write `endpoints: []` to run without global endpoints".into(),
        ));
    }
    let file: FileConfig =
        serde_norway::from_value(value).map_err(|e| parse_error(e.to_string()))?;
    let validated =
        file::validate(&file, path, secrets_dir).map_err(|problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })?;
    let (endpoints, notes) = validated.endpoints.into_iter().unzip();
    Ok(Config {
        endpoints,
        notes,
        path: Some(path.to_path_buf()),
        links: validated.links,
    })
}

/// The effective configuration as YAML: itself a valid config file (secrets
/// appear by NAME only, never by value), preceded by comments saying where
/// each secret was read from.
pub fn render_effective(config: &Config) -> String {
    let mut out = String::new();
    match &config.path {
        Some(path) => out.push_str(&format!("# effective config from {}\n", path.display())),
        None => out.push_str("# no config file: no global endpoints\n"),
    }
    let mut file = FileConfig {
        links: FileLinks::from_templates(&config.links),
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
            url: endpoint.url.to_string(),
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
mod tests;
