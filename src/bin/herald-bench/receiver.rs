//! A fast loopback receiver: counts requests and remembers when each
//! benchmark event (`data.n`) arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Default)]
pub struct Arrivals {
    pub requests: AtomicU64,
    /// (event number, arrival) for every request.
    pub seen: Mutex<Vec<(u64, Instant)>>,
    /// Requests per (path, webhook-id): more than one is a duplicate.
    pub by_webhook_id: Mutex<HashMap<(String, String), u32>>,
    /// How long each request takes to answer.
    pub latency: std::time::Duration,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub arrivals: Arc<Arrivals>,
    handle: ServerHandle,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    arrivals: web::Data<Arrivals>,
) -> HttpResponse {
    let now = Instant::now();
    arrivals.requests.fetch_add(1, Ordering::Relaxed);
    let id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Ok(mut ids) = arrivals.by_webhook_id.lock() {
        *ids.entry((request.path().to_owned(), id)).or_default() += 1;
    }
    let n = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["data"]["n"].as_u64());
    if let (Some(n), Ok(mut seen)) = (n, arrivals.seen.lock()) {
        seen.push((n, now));
    }
    if !arrivals.latency.is_zero() {
        actix_rt::time::sleep(arrivals.latency).await;
    }
    HttpResponse::NoContent().finish()
}

impl Receiver {
    pub fn start() -> anyhow::Result<Receiver> {
        Receiver::start_with_latency(std::time::Duration::ZERO)
    }

    /// A receiver that answers each request after `latency`.
    pub fn start_with_latency(latency: std::time::Duration) -> anyhow::Result<Receiver> {
        let arrivals = Arc::new(Arrivals {
            latency,
            ..Arrivals::default()
        });
        let data = web::Data::from(arrivals.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .backlog(4096)
        .disable_signals()
        .bind("127.0.0.1:0")?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(Receiver {
            addr,
            arrivals,
            handle,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
