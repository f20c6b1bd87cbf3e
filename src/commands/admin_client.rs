//! A small client for a running herald's admin API (CLI commands).

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::admin_token;
use crate::cli::AdminClientArgs;
use crate::endpoint::Secret;

pub struct AdminClient {
    base: url::Url,
    token: Option<Secret>,
    http: reqwest::Client,
}

/// The address file `herald run` writes in its data directory.
pub fn address_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("admin-url")
}

/// The default when nothing says otherwise.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

impl AdminClient {
    /// `--admin-url`, else the address a local `herald run` wrote to
    /// `--data-dir`, else the default.
    pub fn new(args: &AdminClientArgs) -> anyhow::Result<Self> {
        let base = match &args.admin_url {
            Some(url) => url.clone(),
            None => match std::fs::read_to_string(address_path(&args.data_dir)) {
                Ok(text) => text.trim().parse().with_context(|| {
                    format!(
                        "{} does not hold a URL",
                        address_path(&args.data_dir).display()
                    )
                })?,
                Err(_) => DEFAULT_URL.parse().context("the default admin URL")?,
            },
        };
        Ok(AdminClient {
            base,
            token: admin_token::for_client(args)?,
            http: reqwest::Client::new(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = self
            .base
            .join(path_and_query)
            .with_context(|| format!("bad admin URL {}", self.base))?;
        let mutating = method != reqwest::Method::GET;
        let mut request = self.http.request(method, url.clone());
        if mutating {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.map_or_else(|| "{}".to_owned(), Value::to_string));
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach herald's admin API at {url}: is `herald run` running? (--admin-url)"
            )
        })?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{url} did not answer JSON"))?;
        if !status.is_success() {
            let message = body["error"].as_str().unwrap_or("no message");
            bail!("{url}: {status}: {message}");
        }
        Ok(body)
    }

    pub async fn get(&self, path_and_query: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path_and_query, None).await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// `Err` unless the running herald knows endpoint `id`.
    pub async fn require_endpoint(&self, id: &str) -> anyhow::Result<()> {
        let list = self.get("/v1/endpoints").await?;
        let ids = list["endpoints"]
            .as_array()
            .into_iter()
            .chain(list["invalid"].as_array())
            .flatten()
            .filter_map(|e| e["id"].as_str());
        let known: Vec<&str> = ids.collect();
        if known.contains(&id) {
            return Ok(());
        }
        bail!(
            "no endpoint {id:?} (known: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )
    }

    /// Who the CLI says is asking: `cli:$USER`.
    pub fn requester() -> String {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    }
}
