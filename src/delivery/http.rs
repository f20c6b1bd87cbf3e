//! One HTTP attempt: POST the rendered request with connect and total
//! timeouts, keep at most `limit` bytes of the response, never follow
//! redirects. The status decides: a body that never completes does not
//! turn a 2xx into a failure.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::destination::{DestinationRefused, NetworkPolicy, PolicyResolver};
use crate::formats::RenderedRequest;
use crate::store::text::RecordText;

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct HttpOutcome {
    pub status: Option<u16>,
    /// The kept start of the response body (lossy UTF-8, recordable).
    pub body_excerpt: Option<RecordText>,
    pub body: Vec<u8>,
    /// `Retry-After` as sent, if any.
    pub retry_after: Option<String>,
    /// Transport error (connect, timeout, ...), if the request did not complete.
    pub error: Option<String>,
    /// The destination policy refused the address the host resolved to
    /// (no connection was made).
    pub refused: bool,
    pub latency: Duration,
    /// The request as sent (none when nothing was built to send).
    pub request: Option<SentRequest>,
}

impl HttpOutcome {
    /// An attempt that got no answer.
    pub fn transport_error(error: String, latency: Duration) -> HttpOutcome {
        HttpOutcome {
            status: None,
            body_excerpt: None,
            body: Vec::new(),
            retry_after: None,
            error: Some(error),
            refused: false,
            latency,
            request: None,
        }
    }

    /// The outcome without its request (one whose body carries credentials).
    pub fn without_request(self) -> HttpOutcome {
        HttpOutcome {
            request: None,
            ..self
        }
    }
}

/// Longest request body kept with an attempt, bytes (bodies herald renders
/// fit the platforms' limits, all far below this; a larger custom event's
/// body is cut with an ellipsis).
pub const REQUEST_BODY_MAX_BYTES: usize = 64 * 1024;

/// herald's `User-Agent`.
pub const USER_AGENT: &str = concat!("herald/", env!("CARGO_PKG_VERSION"));

/// A request as the attempt log keeps it: every header herald set, with
/// credentials masked, and the body (capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRequest {
    pub headers: Vec<(String, String)>,
    pub body: RecordText,
}

impl SentRequest {
    pub fn of(request: &RenderedRequest) -> SentRequest {
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), masked(name, value)))
            .collect();
        headers.push(("user-agent".into(), USER_AGENT.into()));
        SentRequest {
            headers,
            body: RecordText::capped(&masked_body(&request.body), REQUEST_BODY_MAX_BYTES),
        }
    }

    /// The headers as a JSON array of `[name, value]` pairs.
    pub fn headers_json(&self) -> String {
        serde_json::Value::from(
            self.headers
                .iter()
                .map(|(name, value)| serde_json::json!([name, value]))
                .collect::<Vec<_>>(),
        )
        .to_string()
    }
}

/// The body as the log may show it: a top-level `sign` (Feishu/Lark custom
/// bots sign in the body: with the webhook URL it would let anyone post
/// within the timestamp window) becomes `****`; the rest byte for byte.
fn masked_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).into_owned();
    let sign = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("sign").and_then(|s| s.as_str()).map(str::to_owned));
    match sign {
        Some(sign) if !sign.is_empty() => text.replace(&format!("\"{sign}\""), "\"****\""),
        _ => text,
    }
}

/// Whether a header named `name` (lower-case) carries a credential.
pub fn credential_header(name: &str) -> bool {
    ["authorization", "proxy-authorization", "cookie"].contains(&name)
        || ["token", "secret", "key", "password"]
            .iter()
            .any(|word| name.contains(word))
}

/// A header's value as the log may show it: credentials (an
/// `Authorization` token, a cookie, anything named like a key, token or
/// secret) become `****`, keeping an auth scheme's name.
fn masked(name: &str, value: &str) -> String {
    let name = name.to_ascii_lowercase();
    if !credential_header(&name) {
        return value.to_owned();
    }
    match value.split_once(' ') {
        Some((scheme, _)) if name.ends_with("authorization") => format!("{scheme} ****"),
        _ => "****".into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
    #[error("cannot start the HTTP runtime: {0}")]
    Runtime(std::io::Error),
}

/// Where deliveries' requests run: the client every delivery actor shares,
/// on a multi-threaded Tokio runtime of its own, so rendering, signing, TLS
/// and HTTP use every core while the actors stay on actix's single-threaded
/// arbiter. Cloning shares both; the runtime stops when the last clone goes.
#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    runtime: std::sync::Arc<SendRuntime>,
    /// Direct messages' app tokens, shared by every endpoint of the replica.
    tokens: super::app_tokens::AppTokens,
}

/// Owns the runtime; dropping it (possibly from async code) stops the
/// runtime's threads without blocking.
struct SendRuntime(Option<tokio::runtime::Runtime>);

impl Drop for SendRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl HttpSender {
    /// A sender with `threads` worker threads (at least one).
    pub fn new(
        connect_timeout: Duration,
        policy: std::sync::Arc<NetworkPolicy>,
        threads: usize,
    ) -> Result<HttpSender, ClientError> {
        HttpSender::with_roots(connect_timeout, policy, threads, &[])
    }

    /// As [`HttpSender::new`], trusting `roots` besides the public CAs.
    pub fn with_roots(
        connect_timeout: Duration,
        policy: std::sync::Arc<NetworkPolicy>,
        threads: usize,
        roots: &[reqwest::Certificate],
    ) -> Result<HttpSender, ClientError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("herald-http")
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        Ok(HttpSender {
            client: client(connect_timeout, policy, roots)?,
            runtime: std::sync::Arc::new(SendRuntime(Some(runtime))),
            tokens: Default::default(),
        })
    }

    /// One worker thread per core.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The app tokens direct messages use.
    pub fn tokens(&self) -> &super::app_tokens::AppTokens {
        &self.tokens
    }

    /// Run `work` on the sender's runtime and wait for it. Err: it panicked
    /// (or the runtime is shutting down).
    pub async fn run<F>(&self, work: F) -> Result<F::Output, tokio::task::JoinError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = match &self.runtime.0 {
            Some(runtime) => runtime.handle().clone(),
            None => tokio::runtime::Handle::current(),
        };
        handle.spawn(work).await
    }
}

/// Build the client every delivery actor shares: host names resolve
/// through the destination policy.
pub fn client(
    connect_timeout: Duration,
    policy: std::sync::Arc<NetworkPolicy>,
    roots: &[reqwest::Certificate],
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder();
    for root in roots {
        builder = builder.add_root_certificate(root.clone());
    }
    Ok(builder
        .dns_resolver(std::sync::Arc::new(PolicyResolver::new(policy)))
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        // HTTPS_PROXY and friends would send every request through a proxy
        // the destination policy never sees: herald connects directly.
        .no_proxy()
        .user_agent(USER_AGENT)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()?)
}

/// POST `request` to `url`.
pub async fn post(
    client: &reqwest::Client,
    url: &url::Url,
    request: &RenderedRequest,
    timeout: Duration,
    limit: usize,
) -> HttpOutcome {
    send(client, reqwest::Method::POST, url, request, timeout, limit).await
}

/// Send `request` to `url` with `method` (an app API's token call may be a
/// GET), with the timeouts, response cap and destination policy of every
/// request herald makes.
pub async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &url::Url,
    request: &RenderedRequest,
    timeout: Duration,
    limit: usize,
) -> HttpOutcome {
    let started = Instant::now();
    let sent = SentRequest::of(request);
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let mut builder = client.request(method, url.clone()).headers(headers);
    if !request.body.is_empty() {
        builder = builder.body(request.body.clone());
    }
    let send = builder.send();
    // One deadline for the whole request. Once the status is in, it
    // decides: a receiver that answers 2xx and then drips (or breaks) its
    // body has accepted the message.
    let deadline = tokio::time::Instant::now() + timeout;
    let failed = |error: String, refused: bool| HttpOutcome {
        status: None,
        body_excerpt: None,
        body: Vec::new(),
        retry_after: None,
        error: Some(error),
        refused,
        latency: started.elapsed(),
        request: Some(sent.clone()),
    };
    let response = match tokio::time::timeout_at(deadline, send).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return failed(describe(&error), refused(&error)),
        Err(_) => return failed(format!("timed out after {timeout:?}"), false),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    // Ends at the end of the body, the limit, the deadline or a broken
    // stream; the rest is not read (dropping the stream closes it).
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    HttpOutcome {
        status: Some(status),
        // A hostile body must not be able to make the attempt unrecordable.
        body_excerpt: (!body.is_empty()).then(|| RecordText::excerpt(&body)),
        body,
        retry_after,
        error: None,
        refused: false,
        latency: started.elapsed(),
        request: Some(sent),
    }
}

/// Whether `error` comes from the destination policy's resolver.
fn refused(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<DestinationRefused>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A reqwest error with its causes, without the URL (which may hold a token).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "connect error"
    } else if error.is_timeout() {
        "timeout"
    } else if error.is_body() || error.is_decode() {
        "error reading the response"
    } else {
        "request error"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_headers_are_masked_and_the_rest_kept() {
        let request = RenderedRequest {
            body: b"{\"text\":\"hi\"}".to_vec(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("webhook-signature".into(), "v1,abc=".into()),
                ("Authorization".into(), "Bearer xoxb-123".into()),
                ("x-api-key".into(), "k-1".into()),
            ],
            url: None,
        };
        let sent = SentRequest::of(&request);
        let value = |name: &str| {
            sent.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value("content-type"), Some("application/json"));
        assert_eq!(value("webhook-signature"), Some("v1,abc="));
        assert_eq!(value("authorization"), Some("Bearer ****"));
        assert_eq!(value("x-api-key"), Some("****"));
        assert_eq!(value("user-agent"), Some(USER_AGENT));
        assert_eq!(sent.body.as_str(), "{\"text\":\"hi\"}");
        assert!(!sent.headers_json().contains("xoxb"));
        let feishu = RenderedRequest {
            body: br#"{"timestamp":"1","sign":"c2lnbmF0dXJl","msg_type":"text"}"#.to_vec(),
            headers: Vec::new(),
            url: None,
        };
        assert_eq!(
            SentRequest::of(&feishu).body.as_str(),
            r#"{"timestamp":"1","sign":"****","msg_type":"text"}"#
        );
    }
}
