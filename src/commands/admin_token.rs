//! Where the admin API's bearer token comes from: a file (preferred), else
//! `HERALD_ADMIN_TOKEN` with a warning, else — for `herald run` — one
//! generated on first start into the data directory (`admin-token`, mode
//! 0600), which the CLI on the same machine then finds by itself.

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

/// The token file herald generates in `data_dir`.
pub fn generated_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("admin-token")
}

/// `herald run`'s token: given, or the one generated in `data_dir` (made on
/// first start, mode 0600).
pub fn for_server(file: Option<&Path>, data_dir: &Path) -> anyhow::Result<Secret> {
    if let Some(token) = load(file)? {
        return Ok(token);
    }
    let path = generated_path(data_dir);
    if path.exists() {
        return load(Some(&path))?.context("the generated admin token vanished");
    }
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let token = crate::signing::generate_secret();
    let token = token.expose().trim_start_matches("whsec_").to_owned();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write the admin token to {}", path.display()))?;
    writeln!(file, "{token}")?;
    tracing::info!(event = "admin.token_generated", file = %path.display(), "the admin API needs this bearer token; the CLI on this machine reads it from there");
    Ok(Secret::new(token))
}

/// The CLI's token: `--admin-token-file`, else `HERALD_ADMIN_TOKEN`, else
/// the one a local `herald run` generated in `--data-dir`.
pub fn for_client(args: &crate::cli::AdminClientArgs) -> anyhow::Result<Option<Secret>> {
    if let Some(token) = load(args.admin_token_file.as_deref())? {
        return Ok(Some(token));
    }
    let path = generated_path(&args.data_dir);
    if path.exists() {
        return load(Some(&path));
    }
    Ok(None)
}
