//! A real HTTP receiver on loopback: records every request and answers as
//! the test tells it to (status, delay, `Retry-After`, a huge body, or never).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::StreamExt;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub webhook_id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    /// Every header as received (names lower-case).
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    /// The body as received (for signatures).
    pub raw: Vec<u8>,
    pub at: Instant,
    /// The status the receiver answered (None: it never answered).
    pub answered: Option<u16>,
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    RetryAfter(u16, String),
    Delay(Duration, u16),
    HugeBody(usize),
    Body(u16, Vec<u8>),
    Never,
    /// The status and the start of a body that never ends.
    Drip(u16),
    /// Hold the request until the flag is set, then answer the status.
    Gate(Arc<AtomicBool>, u16),
}

type Behaviour = dyn Fn(usize, &str) -> Reply + Send + Sync;

struct Shared {
    received: Mutex<Vec<Received>>,
    behaviour: Mutex<Arc<Behaviour>>,
}

/// A running receiver. Each path is its own endpoint (`url(path)`).
pub struct Receiver {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl Receiver {
    /// Start answering with `behaviour(n, path)`, `n` counting requests to
    /// that path from 0.
    pub fn start(behaviour: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> Receiver {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            behaviour: Mutex::new(Arc::new(behaviour)),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .bind("127.0.0.1:0")
        .expect("receiver binds");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Receiver {
            shared,
            addr,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Change how future requests are answered.
    pub fn set(&self, behaviour: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) {
        *self.shared.behaviour.lock().expect("lock") = Arc::new(behaviour);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Requests to `path` that were answered 2xx.
    pub fn accepted(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path && r.answered.is_some_and(|s| (200..300).contains(&s)))
            .collect()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn handle(request: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let path = request.path().to_owned();
    let behaviour = shared.behaviour.lock().expect("lock").clone();
    let (index, n) = {
        let mut received = shared.received.lock().expect("lock");
        let n = received.iter().filter(|r| r.path == path).count();
        received.push(Received {
            path: path.clone(),
            webhook_id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            raw: body.to_vec(),
            at: Instant::now(),
            answered: None,
        });
        (received.len() - 1, n)
    };
    let reply = behaviour(n, &path);
    let (status, response) = match reply {
        Reply::Status(status) => (status, respond(status).finish()),
        Reply::RetryAfter(status, value) => (
            status,
            respond(status)
                .insert_header(("retry-after", value))
                .finish(),
        ),
        Reply::Delay(delay, status) => {
            tokio::time::sleep(delay).await;
            (status, respond(status).finish())
        }
        Reply::HugeBody(size) => (200, respond(200).body(vec![b'x'; size])),
        Reply::Body(status, body) => (status, respond(status).body(body)),
        Reply::Never => std::future::pending().await,
        Reply::Drip(status) => {
            let first = futures_util::stream::once(async {
                Ok::<_, actix_web::Error>(web::Bytes::from_static(b"{\"ok\":"))
            });
            let never = futures_util::stream::pending();
            (status, respond(status).streaming(first.chain(never)))
        }
        Reply::Gate(open, status) => {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !open.load(Ordering::Acquire) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (status, respond(status).finish())
        }
    };
    shared.received.lock().expect("lock")[index].answered = Some(status);
    response
}

fn respond(status: u16) -> actix_web::HttpResponseBuilder {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid status"))
}
