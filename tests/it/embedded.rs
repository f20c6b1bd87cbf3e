//! The embedded default: herald creates, starts, stops and restarts its own
//! PostgreSQL cluster, and survives a stale lock from a killed run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use herald::embedded_postgres::{EmbeddedConfig, EmbeddedPostgres};
use sqlx::{ConnectOptions, Connection};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::wait_until;

/// A temporary directory the `postgres` system user can reach (tests may run as root).
fn scratch_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("herald-embedded-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn process_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false)
}

async fn marker_count(cluster: &EmbeddedPostgres) -> i64 {
    let mut connection = cluster.connect_options().connect().await.expect("connect");
    sqlx::query("CREATE TABLE IF NOT EXISTS marker (id int)")
        .execute(&mut connection)
        .await
        .expect("create marker");
    sqlx::query("INSERT INTO marker VALUES (1)")
        .execute(&mut connection)
        .await
        .expect("insert marker");
    let count = sqlx::query_scalar("SELECT count(*) FROM marker")
        .fetch_one(&mut connection)
        .await
        .expect("count");
    connection.close().await.expect("close");
    count
}

/// First start creates the cluster; stop leaves no process; the second start
/// reuses the same data directory and its data.
#[actix_rt::test]
async fn cluster_starts_stops_and_restarts_on_the_same_data() {
    let scratch = scratch_dir();
    let config = EmbeddedConfig {
        data_dir: scratch.path().join("data"),
        bin_dir: None,
    };
    let cluster = EmbeddedPostgres::start(&config).await.expect("first start");
    assert_eq!(marker_count(&cluster).await, 1);
    let pid = cluster.postmaster_pid().expect("running postmaster");
    assert!(process_alive(pid));
    cluster.stop().await.expect("stop");
    assert!(
        !process_alive(pid),
        "postmaster {pid} still running after stop"
    );

    let cluster = EmbeddedPostgres::start(&config)
        .await
        .expect("second start");
    assert_eq!(marker_count(&cluster).await, 2, "data survived the restart");
    cluster.stop().await.expect("stop");
}

/// A `postmaster.pid` naming a live process that is not our postmaster (pid
/// reuse after a kill) does not block the next start.
#[actix_rt::test]
async fn stale_lock_from_a_killed_run_is_removed() {
    let scratch = scratch_dir();
    let config = EmbeddedConfig {
        data_dir: scratch.path().join("data"),
        bin_dir: None,
    };
    EmbeddedPostgres::start(&config)
        .await
        .expect("create")
        .stop()
        .await
        .expect("stop");
    let lock = config.data_dir.join("postmaster.pid");
    std::fs::write(
        &lock,
        format!("{}\n{}\n", std::process::id(), config.data_dir.display()),
    )
    .expect("write stale lock");
    let cluster = EmbeddedPostgres::start(&config)
        .await
        .expect("start over stale lock");
    assert_ne!(cluster.postmaster_pid(), Some(std::process::id() as i32));
    cluster.stop().await.expect("stop");
}

/// A postmaster orphaned by a `kill -9` of herald is stopped and replaced.
#[actix_rt::test]
async fn orphaned_postmaster_is_replaced() {
    let scratch = scratch_dir();
    let config = EmbeddedConfig {
        data_dir: scratch.path().join("data"),
        bin_dir: None,
    };
    let orphan = EmbeddedPostgres::start(&config).await.expect("start");
    let orphan_pid = orphan.postmaster_pid().expect("pid");
    // Simulate herald dying without cleanup: forget the handle, keep the server.
    std::mem::forget(orphan);
    let cluster = EmbeddedPostgres::start(&config).await.expect("restart");
    assert!(
        !process_alive(orphan_pid),
        "orphan {orphan_pid} was stopped"
    );
    let pid = cluster.postmaster_pid().expect("pid");
    cluster.stop().await.expect("stop");
    assert!(!process_alive(pid));
}

/// `herald run` without DATABASE_URL, as a user runs it: the embedded cluster
/// starts, the listener connects, SIGINT stops everything and leaves no
/// PostgreSQL process behind.
#[actix_rt::test]
async fn herald_run_on_the_embedded_default_stops_cleanly_on_sigint() {
    let scratch = scratch_dir();
    let data_dir: PathBuf = scratch.path().join("data");
    for round in 1..=2 {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["--log-format", "json", "run", "--data-dir"])
            .arg(&data_dir)
            .args(["--admin-addr", "127.0.0.1:0"])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn herald");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut log = Vec::new();
        let connected = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let done = line.contains("\"listener.connected\"");
                log.push(line);
                if done {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(connected, Ok(true)),
            "round {round}: no listener.connected:\n{}",
            log.join("\n")
        );
        assert_eq!(
            log.iter().any(|l| l.contains("\"embedded.initdb\"")),
            round == 1,
            "initdb runs on the first start only"
        );
        let postmaster: i32 = std::fs::read_to_string(data_dir.join("postmaster.pid"))
            .expect("lock file while running")
            .lines()
            .next()
            .and_then(|l| l.parse().ok())
            .expect("pid");
        let herald_pid = child.id().expect("herald pid") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(herald_pid),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("send SIGINT");
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("herald exits after SIGINT")
            .expect("wait");
        assert!(status.success(), "herald exited with {status}");
        wait_until("postmaster gone", Duration::from_secs(10), || async {
            (!process_alive(postmaster)).then_some(())
        })
        .await;
        assert!(!data_dir.join("postmaster.pid").exists());
    }
}

/// Run as root with the data directory under a private (0700) parent, the
/// cluster still starts — in a place the `postgres` user can reach — and
/// the data directory says where; the same path finds the same cluster.
/// (As an ordinary user the cluster runs as that user and always starts.)
#[actix_rt::test]
async fn a_data_directory_under_a_private_parent_works() {
    let private = tempfile::Builder::new()
        .prefix("herald-private-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let config = EmbeddedConfig {
        data_dir: private.path().join("herald-data"),
        bin_dir: None,
    };
    let cluster = EmbeddedPostgres::start(&config).await.expect("starts");
    assert_eq!(marker_count(&cluster).await, 1);
    let cluster_dir = cluster.data_dir().to_path_buf();
    cluster.stop().await.expect("stop");
    let again = EmbeddedPostgres::start(&config)
        .await
        .expect("starts again");
    assert_eq!(again.data_dir(), cluster_dir, "the same cluster");
    assert_eq!(marker_count(&again).await, 2, "with its data");
    again.stop().await.expect("stop");
    if nix::unistd::geteuid().is_root() {
        let location = std::fs::read_to_string(config.data_dir.join("CLUSTER_LOCATION"))
            .expect("the data directory says where the cluster is");
        assert!(
            location.starts_with(&*cluster_dir.to_string_lossy()),
            "{location}"
        );
        std::fs::remove_dir_all(&cluster_dir).expect("clean up");
    }
}
