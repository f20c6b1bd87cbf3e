//! The admin HTTP API (actix-web): health, readiness, metrics, endpoints,
//! the delivery log, replays, reloads and custom events.
//!
//! - Owns: the HTTP surface and its authentication.
//! - Does not: decide anything itself; it reads through the store and asks
//!   the actors (reload, enable/disable) by message.
//! - Binding to anything but loopback requires a bearer token; without one
//!   herald refuses to start.

mod auth;
mod error;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, App, HttpServer};
use tracing::info;

pub use error::ApiError;

use actix::Addr;

use crate::actors::EndpointLeases;
use crate::daemon::Daemon;
use crate::endpoint::Secret;
use crate::metrics::Metrics;
use crate::store::Store;

/// Where the admin API listens and how it authenticates.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub addr: SocketAddr,
    /// Required when `addr` is not loopback (`herald run` always sets one,
    /// generating it on first start); when set, every route but `/healthz`
    /// and `/readyz` needs `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// Host names the API answers to besides its bind address (and
    /// `localhost` on loopback): a reverse proxy's name, say.
    pub names: Vec<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            names: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminStartError {
    #[error(
        "the admin API would listen on {addr}, which is not loopback, without a token: \
         set --admin-token-file (or HERALD_ADMIN_TOKEN), or bind to 127.0.0.1"
    )]
    TokenRequired { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What the routes need: shared, cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub delivery: Addr<EndpointLeases>,
    /// Where `POST /v1/reload` reads the config from (None: nothing to reload).
    pub config_source: Option<crate::config::Source>,
    /// The plan registry, for open failure windows (None: not here).
    pub plans: Option<Addr<crate::actors::PlanRegistry>>,
}

/// How long an API request waits for the database before answering 503.
pub const DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl AdminState {
    /// `call` to the database, answered within [`DATABASE_WAIT`]: a
    /// database that is down or does not answer is a 503 saying so, not a
    /// 500 after the pool's timeout.
    pub async fn db<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, crate::store::StoreError>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(DATABASE_WAIT, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if error.is_unavailable() => Err(ApiError::Unavailable(format!(
                "the database is unavailable: {error}"
            ))),
            Ok(Err(error)) => Err(ApiError::Store(error)),
            Err(_) => Err(ApiError::Unavailable(format!(
                "the database did not answer within {DATABASE_WAIT:?}"
            ))),
        }
    }

    /// The state for serving `daemon`.
    pub fn of(daemon: &Daemon) -> Self {
        AdminState {
            store: daemon.store.clone(),
            metrics: daemon.metrics.clone(),
            delivery: daemon.delivery.clone(),
            config_source: None,
            plans: Some(daemon.plans.clone()),
        }
    }
}

/// A running admin server.
pub struct AdminServer {
    handle: ServerHandle,
    /// The address actually bound (port 0 resolves here).
    pub local_addr: SocketAddr,
}

/// What `Host` may say: the bound address, `localhost` on a loopback
/// bind, and the configured names, each with the port. Nothing (no check)
/// when bound to an unspecified address without names.
fn allowed_hosts(addr: SocketAddr, names: &[String]) -> Vec<String> {
    let port = addr.port();
    let mut hosts: Vec<String> = names
        .iter()
        .flat_map(|name| {
            let name = name.to_ascii_lowercase();
            [format!("{name}:{port}"), name]
        })
        .collect();
    if addr.ip().is_unspecified() {
        return hosts;
    }
    hosts.push(addr.to_string().to_ascii_lowercase());
    if addr.ip().is_loopback() {
        hosts.push(format!("localhost:{port}"));
    }
    hosts
}

impl AdminServer {
    /// Bind and start serving on the current actix system.
    pub fn start(config: &AdminConfig, state: AdminState) -> Result<AdminServer, AdminStartError> {
        if !config.addr.ip().is_loopback() && config.token.is_none() {
            return Err(AdminStartError::TokenRequired { addr: config.addr });
        }
        let token = config.token.clone();
        let data = web::Data::new(state);
        let hosts = std::sync::Arc::new(std::sync::OnceLock::new());
        let allowed = hosts.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::Data::new(auth::Token(token.clone())))
                .app_data(web::Data::new(auth::AllowedHosts(allowed.clone())))
                .app_data(web::JsonConfig::default().error_handler(error::json_error))
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .wrap(middleware::from_fn(auth::require_token))
                .configure(routes::configure)
                .default_service(web::to(error::not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .bind(config.addr)
        .map_err(|source| AdminStartError::Bind {
            addr: config.addr,
            source,
        })?;
        let local_addr = server.addrs().first().copied().unwrap_or(config.addr);
        let _ = hosts.set(allowed_hosts(local_addr, &config.names));
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        info!(event = "admin.listening", addr = %local_addr, auth = config.token.is_some());
        Ok(AdminServer { handle, local_addr })
    }

    /// Stop accepting requests and finish the ones in flight.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// `--metrics-addr`: `GET /metrics` alone, without a token, on a listener
/// of its own (the Prometheus convention: a scrape endpoint), so the admin
/// API can keep its token and stay on loopback.
pub struct MetricsServer {
    handle: actix_web::dev::ServerHandle,
    pub local_addr: SocketAddr,
}

impl MetricsServer {
    pub fn start(addr: SocketAddr, state: AdminState) -> Result<MetricsServer, AdminStartError> {
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/metrics",
                    web::get().to(|state: web::Data<AdminState>| async move {
                        routes::health::render_metrics(&state).await
                    }),
                )
                .default_service(web::to(error::not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .bind(addr)
        .map_err(|source| AdminStartError::Bind { addr, source })?;
        let local_addr = server.addrs().first().copied().unwrap_or(addr);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        info!(event = "metrics.listening", addr = %local_addr);
        Ok(MetricsServer { handle, local_addr })
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
