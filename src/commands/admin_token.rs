//! Where the admin API's bearer token comes from: a file (preferred), else
//! `HERALD_ADMIN_TOKEN` with a warning.

use std::path::Path;

use anyhow::Context as _;
use tracing::warn;

use crate::endpoint::Secret;

pub const TOKEN_ENV: &str = "HERALD_ADMIN_TOKEN";

/// The token from `file`, else from the environment, else none.
pub fn load(file: Option<&Path>) -> anyhow::Result<Option<Secret>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the admin token file {}", file.display()))?;
        let token = text.trim_end_matches(['\n', '\r']);
        anyhow::ensure!(
            !token.is_empty(),
            "the admin token file {} is empty",
            file.display()
        );
        return Ok(Some(Secret::new(token)));
    }
    match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.is_empty() => {
            warn!(
                event = "admin.token_from_env",
                "the admin token comes from {TOKEN_ENV}; environment variables leak into \
                 process listings and crash reports — put it in a file and pass \
                 --admin-token-file instead"
            );
            Ok(Some(Secret::new(token)))
        }
        _ => Ok(None),
    }
}
