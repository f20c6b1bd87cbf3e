//! `herald sink`: a local webhook receiver for trying herald out. It prints
//! each webhook readably (type, webhook-id, summary), verifies Standard
//! Webhooks signatures when given a secret, and answers 401 to bad ones and
//! 200 otherwise. [`start`] runs it on any address with a callback per
//! webhook (the demo and the tests reuse it).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context as _;
use chrono::Utc;
use tracing::info;

use crate::cli::SinkArgs;
use crate::endpoint::Secret;
use crate::events::Event;
use crate::formats::summary;
use crate::signing;

/// What the sink decided about one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The signature verified against the sink's secret.
    Verified,
    /// The sink has no secret: nothing was checked.
    Unchecked,
    /// Rejected (answered 401), with the reason.
    Rejected(String),
}

/// One received webhook.
#[derive(Debug, Clone)]
pub struct ReceivedWebhook {
    pub webhook_id: Option<String>,
    pub timestamp: Option<String>,
    /// The body's `type` when it is a herald event.
    pub event_type: Option<String>,
    /// A one-line description: the event's title, or the body's size.
    pub summary: String,
    pub body: Vec<u8>,
    pub verification: Verification,
}

impl ReceivedWebhook {
    pub fn accepted(&self) -> bool {
        !matches!(self.verification, Verification::Rejected(_))
    }

    /// The line `herald sink` prints.
    pub fn line(&self) -> String {
        let verdict = match &self.verification {
            Verification::Verified => "verified".to_string(),
            Verification::Unchecked => "unchecked".to_string(),
            Verification::Rejected(reason) => format!("REJECTED: {reason}"),
        };
        format!(
            "[{verdict}] {} {} — {}",
            self.event_type.as_deref().unwrap_or("(unknown type)"),
            self.webhook_id.as_deref().unwrap_or("(no webhook-id)"),
            self.summary
        )
    }
}

type Callback = Arc<dyn Fn(ReceivedWebhook) + Send + Sync>;

struct SinkState {
    secret: Option<Secret>,
    on_webhook: Callback,
}

/// A running sink.
pub struct SinkServer {
    handle: ServerHandle,
    pub local_addr: SocketAddr,
}

impl SinkServer {
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

fn header(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn verify(
    secret: Option<&Secret>,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Verification {
    let Some(secret) = secret else {
        return Verification::Unchecked;
    };
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        return Verification::Rejected(
            "missing webhook-id, webhook-timestamp or webhook-signature".into(),
        );
    };
    match signing::verify(
        secret,
        id,
        timestamp,
        signature,
        body,
        Utc::now(),
        signing::DEFAULT_TOLERANCE,
    ) {
        Ok(()) => Verification::Verified,
        Err(error) => Verification::Rejected(error.to_string()),
    }
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<SinkState>,
) -> HttpResponse {
    let webhook_id = header(&request, signing::HEADER_ID);
    let timestamp = header(&request, signing::HEADER_TIMESTAMP);
    let signature = header(&request, signing::HEADER_SIGNATURE);
    let verification = verify(
        state.secret.as_ref(),
        webhook_id.as_deref(),
        timestamp.as_deref(),
        signature.as_deref(),
        &body,
    );
    let (event_type, summary) = match serde_json::from_slice::<Event>(&body) {
        Ok(event) => (
            Some(event.event_type.clone()),
            summary::summarize(&event, crate::presentation::Locale::En).title,
        ),
        Err(_) => (None, format!("{} bytes, not a herald event", body.len())),
    };
    let received = ReceivedWebhook {
        webhook_id,
        timestamp,
        event_type,
        summary,
        body: body.to_vec(),
        verification,
    };
    let accepted = received.accepted();
    (state.on_webhook)(received);
    if accepted {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::Unauthorized().body("signature verification failed")
    }
}

/// Start a sink on `addr` (port 0: any free port; see `local_addr`); every
/// POST to any path is one webhook, passed to `on_webhook`. Must run inside
/// an actix system.
pub fn start(
    addr: SocketAddr,
    secret: Option<Secret>,
    on_webhook: impl Fn(ReceivedWebhook) + Send + Sync + 'static,
) -> std::io::Result<SinkServer> {
    let state = web::Data::new(SinkState {
        secret,
        on_webhook: Arc::new(on_webhook),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
            .default_service(web::post().to(receive))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(addr)?;
    let local_addr = server.addrs().first().copied().unwrap_or(addr);
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(SinkServer { handle, local_addr })
}

/// `herald sink`: run until SIGINT/SIGTERM, printing each webhook.
pub async fn sink(args: SinkArgs) -> anyhow::Result<()> {
    let secret = match (&args.secret, &args.secret_file) {
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --secret-file {}", path.display()))?;
            Some(Secret::new(text.trim_end_matches(['\n', '\r'])))
        }
        (Some(secret), None) => Some(Secret::new(secret.clone())),
        (None, None) => None,
    };
    if let Some(secret) = &secret {
        signing::SigningKey::from_secret(secret).context("the sink's secret is not usable")?;
    }
    let checks = secret.is_some();
    let server = start(args.addr, secret, |webhook| println!("{}", webhook.line()))
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    info!(event = "sink.listening", addr = %server.local_addr, verifies = checks);
    let shutdown = crate::shutdown::Shutdown::default();
    let signal = shutdown
        .on_signal()
        .await
        .context("cannot install signal handlers")?;
    info!(event = "shutdown.requested", signal);
    server.stop().await;
    Ok(())
}
