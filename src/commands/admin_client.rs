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

impl AdminClient {
    pub fn new(args: &AdminClientArgs) -> anyhow::Result<Self> {
        Ok(AdminClient {
            base: args.admin_url.clone(),
            token: admin_token::for_client(args)?,
            http: reqwest::Client::new(),
        })
    }

    async fn call(&self, method: reqwest::Method, path_and_query: &str) -> anyhow::Result<Value> {
        let url = self
            .base
            .join(path_and_query)
            .with_context(|| format!("bad admin URL {}", self.base))?;
        let mutating = method != reqwest::Method::GET;
        let mut request = self.http.request(method, url.clone());
        if mutating {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{}");
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
        self.call(reqwest::Method::GET, path_and_query).await
    }

    pub async fn post(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path).await
    }
}
