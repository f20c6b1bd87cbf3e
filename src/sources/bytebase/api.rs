//! Bytebase's HTTP API, for the one call herald makes: creating a plan's
//! rollout (repair, when Bytebase's own creator has not).
//!
//! - Login: `POST /v1/auth/login` with `{"email", "password", "web": false}`
//!   answers `{"token": …}`; later calls send `Authorization: Bearer
//!   <token>` (AuthService.Login, proto/v1/v1/auth_service.proto; the token
//!   is read from that header, backend/api/auth/auth.go). The token is kept
//!   until a call answers 401, then herald logs in again once.
//! - Create: `POST /v1/projects/{project}/plans/{plan}/rollout` with body
//!   `{"parent": "projects/{project}/plans/{plan}"}`
//!   (RolloutService.CreateRollout, proto/v1/v1/rollout_service.proto).
//!   Answers 2xx with the rollout; a rollout that exists answers
//!   ALREADY_EXISTS (HTTP 409; connect code `already_exists`, gRPC code 6),
//!   which herald counts as created.

use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;

/// What the create call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Bytebase created it now.
    Created,
    /// Bytebase says it exists already.
    AlreadyExists,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Bytebase API unreachable: {0}")]
    Transport(String),
    #[error("Bytebase login failed: HTTP {status}: {body}")]
    Login { status: u16, body: String },
    #[error("Bytebase refused to create the rollout: HTTP {status}: {body}")]
    Refused { status: u16, body: String },
}

/// How herald signs in to Bytebase.
#[derive(Clone)]
pub struct ApiConfig {
    /// `https://bytebase.example.com` (no trailing path).
    pub base: url::Url,
    /// A Bytebase service account (or user) allowed `bb.rollouts.create`.
    pub email: String,
    /// Its password or service key.
    pub password: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("base", &self.base.as_str())
            .field("email", &self.email)
            .field("password", &"(secret)")
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct BytebaseApi {
    config: ApiConfig,
    client: reqwest::Client,
    token: Mutex<Option<String>>,
}

/// A body excerpt for errors (Bytebase's error JSON; never a token).
fn excerpt(body: &str) -> String {
    crate::store::text::RecordText::error(body)
        .as_str()
        .to_owned()
}

impl BytebaseApi {
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .no_proxy()
            .build()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(BytebaseApi {
            config,
            client,
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base.as_str().trim_end_matches('/'))
    }

    async fn login(&self) -> Result<String, ApiError> {
        let response = self
            .client
            .post(self.url("/v1/auth/login"))
            .json(&json!({
                "email": self.config.email,
                "password": self.config.password,
                "web": false,
            }))
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(ApiError::Login {
                status,
                body: excerpt(&body),
            });
        }
        let token = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Login {
                status,
                body: "the answer carries no token".into(),
            })?;
        Ok(token)
    }

    /// Create the rollout of plan `plan` of project `project`.
    pub async fn create_rollout(&self, project: &str, plan: i64) -> Result<Created, ApiError> {
        let mut relogged = false;
        loop {
            let token = {
                let mut slot = self.token.lock().await;
                match slot.as_ref() {
                    Some(token) => token.clone(),
                    None => {
                        let token = self.login().await?;
                        *slot = Some(token.clone());
                        token
                    }
                }
            };
            let project_path =
                percent_encoding::utf8_percent_encode(project, percent_encoding::NON_ALPHANUMERIC);
            let response = self
                .client
                .post(self.url(&format!("/v1/projects/{project_path}/plans/{plan}/rollout")))
                .bearer_auth(&token)
                .json(&json!({ "parent": format!("projects/{project}/plans/{plan}") }))
                .send()
                .await
                .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            match status {
                200..=299 => return Ok(Created::Created),
                401 if !relogged => {
                    *self.token.lock().await = None;
                    relogged = true;
                }
                409 => return Ok(Created::AlreadyExists),
                _ if body.contains("already_exists") || body.contains("ALREADY_EXISTS") => {
                    return Ok(Created::AlreadyExists)
                }
                _ => {
                    return Err(ApiError::Refused {
                        status,
                        body: excerpt(&body),
                    })
                }
            }
        }
    }
}
