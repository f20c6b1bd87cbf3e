//! `--ca-bundle`: a receiver with its own certificate authority (a local
//! trial, a company CA) is reached over https once its CA is trusted, and
//! refused before. The receiver is a real TLS server on loopback (Python's
//! `ssl`), its certificates made by `openssl` for this test.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use herald::daemon::{Daemon, DaemonConfig};
use herald::delivery::destination::NetworkPolicy;

use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(20);

fn openssl(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA (`ca.pem`) and a leaf for 127.0.0.1 it signed (`leaf.pem`, `leaf.key`).
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=herald test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "leaf.pem",
            "-extfile",
            "leaf.ext",
        ],
    );
}

const SERVER: &str = r#"
import http.server, ssl, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

async fn deliveries_state(db: &TestDb) -> Option<(String, Option<String>)> {
    sqlx::query_as("SELECT state, last_error FROM herald_delivery ORDER BY id DESC LIMIT 1")
        .fetch_optional(&db.pool)
        .await
        .ok()
        .flatten()
}

async fn run_with(db: &TestDb, roots: Vec<reqwest::Certificate>) -> Daemon {
    let mut delivery = crate::delivery::fast_delivery();
    delivery.retry.max_attempts = 1;
    // A project webhook on loopback: allowed only as the operator allows it.
    delivery.network = NetworkPolicy::new(vec!["127.0.0.0/8".parse().expect("net")]);
    delivery.extra_roots = roots;
    Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: "tls".into(),
            delivery,
            ..DaemonConfig::default()
        },
    )
    .await
    .expect("daemon starts")
}

#[actix_rt::test]
async fn a_receiver_with_its_own_ca_is_reached_once_the_ca_is_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    certificates(dir.path());
    let mut server = tokio::process::Command::new("python3")
        .args(["-c", SERVER])
        .arg(dir.path().join("leaf.pem"))
        .arg(dir.path().join("leaf.key"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut port = String::new();
    {
        use tokio::io::AsyncBufReadExt as _;
        let stdout = server.stdout.take().expect("stdout");
        tokio::io::BufReader::new(stdout)
            .read_line(&mut port)
            .await
            .expect("the port");
    }
    let url = format!("https://127.0.0.1:{}/hook", port.trim());
    let db = TestDb::new().await;
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('p', 'P') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .expect("project");
    sqlx::query(
        "INSERT INTO project_webhook (project_id, type, url, event_types) VALUES ($1, 'slack', $2, '{*}')",
    )
    .bind(project)
    .bind(&url)
    .execute(&db.pool)
    .await
    .expect("webhook");
    let emit = || async {
        sqlx::query("SELECT herald_emit('test.tls', '{\"data\": {}}', $1)")
            .bind(project)
            .execute(&db.pool)
            .await
            .expect("emit");
    };

    // Without the CA: the certificate is not trusted, the delivery fails.
    let untrusting = run_with(&db, Vec::new()).await;
    emit().await;
    let (state, error) = wait_until("the untrusted attempt", DEADLINE, || async {
        deliveries_state(&db)
            .await
            .filter(|(state, _)| state != "pending")
    })
    .await;
    assert_eq!(state, "failed");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.to_lowercase().contains("certificate")),
        "{error:?}"
    );
    untrusting.stop().await;

    // With --ca-bundle: delivered.
    let pem = std::fs::read(dir.path().join("ca.pem")).expect("ca");
    let roots = reqwest::Certificate::from_pem_bundle(&pem).expect("pem");
    let trusting = run_with(&db, roots).await;
    emit().await;
    let (state, error) = wait_until("the trusted delivery", DEADLINE, || async {
        deliveries_state(&db)
            .await
            .filter(|(state, _)| state != "pending")
    })
    .await;
    assert_eq!(state, "delivered", "{error:?}");
    trusting.stop().await;
    let _ = server.kill().await;
}
