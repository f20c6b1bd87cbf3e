//! Resolving a secret NAME from the config file to its value: the file
//! `<secrets dir>/<name>` first (Docker / Kubernetes secrets), then an
//! environment variable (with a warning saying how to move it to a file).
//! Secret values are never logged.

use std::io;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use crate::endpoint::Secret;

/// Where a secret's value came from (shown by `herald check-config`; never
/// the value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOrigin {
    File(PathBuf),
    Env(String),
}

impl std::fmt::Display for SecretOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretOrigin::File(path) => write!(f, "file {}", path.display()),
            SecretOrigin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// Why a secret name could not be resolved (one validation problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret name `{0}` must be a plain file name (letters, digits, `.`, `_`, `-`)")]
    BadName(String),
    #[error("secret `{name}` not found: no file {} and no environment variable {env}", file.display())]
    NotFound {
        name: String,
        file: PathBuf,
        env: String,
    },
    #[error("secret `{name}` is empty (in {origin})")]
    Empty { name: String, origin: String },
    #[error("cannot read secret file {}: {detail}", file.display())]
    Unreadable { file: PathBuf, detail: String },
}

/// The environment variable a secret name falls back to: upper-cased, every
/// character other than ASCII letters and digits replaced by `_`.
pub fn env_var_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Resolve secret `name` for endpoint `endpoint_id`.
pub fn resolve(
    name: &str,
    secrets_dir: &Path,
    endpoint_id: &str,
) -> Result<(Secret, SecretOrigin), SecretError> {
    if !valid_name(name) {
        return Err(SecretError::BadName(name.to_string()));
    }
    let file = secrets_dir.join(name);
    let env = env_var_name(name);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let value = text.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                return Err(SecretError::Empty {
                    name: name.to_string(),
                    origin: format!("file {}", file.display()),
                });
            }
            debug!(event = "config.secret_from_file", endpoint_id, secret = name, file = %file.display());
            return Ok((Secret::new(value), SecretOrigin::File(file)));
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(SecretError::Unreadable {
                file,
                detail: error.to_string(),
            })
        }
    }
    match std::env::var(&env) {
        Ok(value) if !value.is_empty() => {
            warn!(
                event = "config.secret_from_env",
                endpoint_id,
                secret = name,
                env_var = %env,
                hint = %format!(
                    "write the value to {} (readable only by herald) and unset {env}",
                    file.display()
                ),
                "secret read from an environment variable; prefer a secrets file"
            );
            Ok((Secret::new(value), SecretOrigin::Env(env)))
        }
        Ok(_) => Err(SecretError::Empty {
            name: name.to_string(),
            origin: format!("environment variable {env}"),
        }),
        Err(_) => Err(SecretError::NotFound {
            name: name.to_string(),
            file,
            env,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert_eq!(env_var_name("slack-ops"), "SLACK_OPS");
        assert_eq!(env_var_name("ci.webhook_secret"), "CI_WEBHOOK_SECRET");
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        for bad in ["", ".", "..", "../etc/passwd", "a/b", "a b"] {
            assert!(
                matches!(
                    resolve(bad, Path::new("/nonexistent"), "e"),
                    Err(SecretError::BadName(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn file_trims_the_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("s1"), "whsec_abc\n").expect("write");
        let (secret, origin) = resolve("s1", dir.path(), "e").expect("resolves");
        assert_eq!(secret.expose(), "whsec_abc");
        assert_eq!(origin, SecretOrigin::File(dir.path().join("s1")));
    }
}
