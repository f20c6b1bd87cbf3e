//! The embedded default: a private PostgreSQL cluster that herald creates,
//! starts and stops itself when no `DATABASE_URL` is given.
//!
//! The cluster lives in a data directory (default `./herald-data`), listens on
//! loopback only (on a free port chosen at each start; no Unix socket), and
//! trusts its single superuser `herald`. The binaries come from `PATH` or from
//! `/usr/lib/postgresql/<version>/bin` (newest first). When herald runs as
//! root, the cluster runs as the `postgres` system user, since PostgreSQL
//! refuses to run as root.
//!
//! The `postgres` user must be able to reach the data directory. When a
//! parent of it is private (a clone under `/root`, a `mktemp -d`), the
//! cluster itself lives in `/var/lib/herald/embedded/<hash of the path>`
//! instead, which is reachable, and the data directory holds a
//! `CLUSTER_LOCATION` file saying so; the same path always maps to the
//! same cluster.
//!
//! A `postmaster.pid` left by a killed run is handled before starting: if its
//! process is a postmaster still serving this data directory it is stopped
//! cleanly; otherwise the file is stale and is removed.

use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::process::Command;
use tracing::{info, warn};

/// Where distribution packages put PostgreSQL's server binaries.
pub const PACKAGE_BIN_ROOT: &str = "/usr/lib/postgresql";
/// The cluster's superuser and database.
pub const SUPERUSER: &str = "herald";
pub const DATABASE: &str = "herald";

/// Errors of the embedded cluster, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found: looked on PATH \
         and under {PACKAGE_BIN_ROOT}/*/bin. Install PostgreSQL (Debian/Ubuntu: \
         `apt-get install postgresql`; macOS: `brew install postgresql@16`), or set \
         HERALD_PG_BIN_DIR to the directory holding initdb, or point herald at an existing \
         server with DATABASE_URL=postgres://user@host/db"
    )]
    BinariesNotFound,
    #[error("HERALD_PG_BIN_DIR={0} does not contain initdb, pg_ctl and postgres")]
    BadBinDir(PathBuf),
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("running as root, and there is no `postgres` system user to run the cluster as: run herald as an ordinary user or set DATABASE_URL")]
    NoUnprivilegedUser,
    #[error("{command} failed ({status}): {output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    #[error("the embedded cluster started but does not accept connections: {0}")]
    Connect(#[from] sqlx::Error),
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresBinaries {
    pub bin_dir: PathBuf,
}

impl PostgresBinaries {
    const REQUIRED: [&'static str; 3] = ["initdb", "pg_ctl", "postgres"];

    /// Find the binaries: `override_dir` if given, else `PATH`, else the
    /// newest `/usr/lib/postgresql/*/bin`.
    pub fn locate(override_dir: Option<&Path>) -> Result<Self, EmbeddedError> {
        if let Some(dir) = override_dir {
            return if Self::complete(dir) {
                Ok(PostgresBinaries {
                    bin_dir: dir.to_path_buf(),
                })
            } else {
                Err(EmbeddedError::BadBinDir(dir.to_path_buf()))
            };
        }
        Self::locate_in(std::env::var_os("PATH"), Path::new(PACKAGE_BIN_ROOT))
    }

    /// [`locate`](Self::locate) with the search places given explicitly.
    pub fn locate_in(
        path_var: Option<OsString>,
        package_root: &Path,
    ) -> Result<Self, EmbeddedError> {
        let on_path = path_var
            .iter()
            .flat_map(std::env::split_paths)
            .filter_map(|dir| {
                // PATH may hold symlinks to a version's bin dir (Debian's
                // wrappers, /usr/local/bin links): follow initdb to its home.
                let initdb = dir.join("initdb");
                let real = std::fs::canonicalize(&initdb).ok()?;
                real.parent().map(Path::to_path_buf)
            })
            .find(|dir| Self::complete(dir));
        if let Some(bin_dir) = on_path {
            return Ok(PostgresBinaries { bin_dir });
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(package_root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry
                    .file_name()
                    .to_str()?
                    .split('.')
                    .next()?
                    .parse()
                    .ok()?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, dir)| Self::complete(dir))
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin_dir)| PostgresBinaries { bin_dir })
            .ok_or(EmbeddedError::BinariesNotFound)
    }

    fn complete(dir: &Path) -> bool {
        Self::REQUIRED.iter().all(|name| dir.join(name).is_file())
    }

    fn command(&self, name: &str, run_as: Option<RunAs>) -> Command {
        let mut command = Command::new(self.bin_dir.join(name));
        if let Some(user) = run_as {
            command.uid(user.uid).gid(user.gid);
        }
        command
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// The unprivileged user the cluster runs as when herald runs as root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl RunAs {
    fn for_current_user() -> Result<Option<RunAs>, EmbeddedError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        match nix::unistd::User::from_name("postgres") {
            Ok(Some(user)) => Ok(Some(RunAs {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            })),
            _ => Err(EmbeddedError::NoUnprivilegedUser),
        }
    }
}

/// Settings of the embedded cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    pub data_dir: PathBuf,
    /// Use the binaries in this directory instead of searching.
    pub bin_dir: Option<PathBuf>,
}

/// A running embedded cluster. Stop it with [`EmbeddedPostgres::stop`]; if it
/// is dropped without that, `Drop` stops it (blocking).
#[derive(Debug)]
pub struct EmbeddedPostgres {
    binaries: PostgresBinaries,
    data_dir: PathBuf,
    port: u16,
    run_as: Option<RunAs>,
    running: bool,
}

impl EmbeddedPostgres {
    /// Create the cluster if needed, start it, and make sure herald's
    /// database exists.
    pub async fn start(config: &EmbeddedConfig) -> Result<Self, EmbeddedError> {
        let binaries = PostgresBinaries::locate(config.bin_dir.as_deref())?;
        let run_as = RunAs::for_current_user()?;
        let data_dir = prepare_data_dir(&config.data_dir, run_as)?;
        let mut cluster = EmbeddedPostgres {
            binaries,
            data_dir,
            port: 0,
            run_as,
            running: false,
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.initdb().await?;
        }
        cluster.clear_stale_lock().await?;
        cluster.port = free_port()?;
        cluster.pg_ctl_start().await?;
        cluster.running = true;
        cluster.ensure_database().await?;
        info!(
            event = "embedded.started",
            data_dir = %cluster.data_dir.display(),
            port = cluster.port,
            url = %cluster.url(),
        );
        Ok(cluster)
    }

    /// Connection options for herald's database in this cluster.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .database(DATABASE)
    }

    /// The same as a URL, for people (`psql <url>`).
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The postmaster's process id, while running.
    pub fn postmaster_pid(&self) -> Option<i32> {
        read_postmaster_pid(&self.data_dir)
    }

    /// Crash the cluster the way a power cut does (`pg_ctl stop -m
    /// immediate`: no checkpoint, recovery from the WAL at the next start).
    /// For chaos runs; [`EmbeddedPostgres::restart`] brings it back.
    pub async fn crash(&mut self) -> Result<(), EmbeddedError> {
        self.running = false;
        let output = self
            .pg_ctl()
            .args(["stop", "-m", "immediate", "-w", "-t", "60", "-D"])
            .arg(&self.data_dir)
            .output();
        checked("pg_ctl stop -m immediate", output.await)?;
        Ok(())
    }

    /// Start the cluster again on the same port (after [`EmbeddedPostgres::crash`]).
    pub async fn restart(&mut self) -> Result<(), EmbeddedError> {
        self.clear_stale_lock().await?;
        self.pg_ctl_start().await?;
        self.running = true;
        Ok(())
    }

    /// Stop the cluster (fast shutdown: open sessions are ended) and wait.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        self.running = false;
        let output = self
            .pg_ctl()
            .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.data_dir)
            .output();
        checked("pg_ctl stop", output.await)?;
        info!(event = "embedded.stopped", data_dir = %self.data_dir.display());
        Ok(())
    }

    fn pg_ctl(&self) -> Command {
        let mut command = self.binaries.command("pg_ctl", self.run_as);
        command.current_dir(&self.data_dir);
        command
    }

    async fn initdb(&self) -> Result<(), EmbeddedError> {
        info!(event = "embedded.initdb", data_dir = %self.data_dir.display());
        let output = self
            .binaries
            .command("initdb", self.run_as)
            .current_dir(&self.data_dir)
            .args([
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
                "-D",
            ])
            .arg(&self.data_dir)
            .output();
        checked("initdb", output.await)
    }

    /// Deal with a `postmaster.pid` that a killed run left behind.
    async fn clear_stale_lock(&self) -> Result<(), EmbeddedError> {
        let Some(pid) = read_postmaster_pid(&self.data_dir) else {
            return Ok(());
        };
        if serves_data_dir(pid, &self.data_dir) {
            warn!(event = "embedded.orphan_stopped", pid, data_dir = %self.data_dir.display());
            let output = self
                .pg_ctl()
                .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
                .arg(&self.data_dir)
                .output();
            return checked("pg_ctl stop (orphaned cluster)", output.await);
        }
        warn!(event = "embedded.stale_lock_removed", pid, data_dir = %self.data_dir.display());
        let lock = self.data_dir.join("postmaster.pid");
        std::fs::remove_file(&lock).map_err(|source| EmbeddedError::DataDir { path: lock, source })
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories=''",
            self.port
        );
        let output = self
            .pg_ctl()
            .args(["start", "-w", "-t", "60", "-o", &options, "-l"])
            .arg(self.data_dir.join("postgres.log"))
            .arg("-D")
            .arg(&self.data_dir)
            .output();
        checked("pg_ctl start", output.await).map_err(|e| match e {
            EmbeddedError::Command {
                command,
                status,
                output,
            } => EmbeddedError::Command {
                command,
                status,
                output: format!(
                    "{output}\n(see {} for the server's own log)",
                    self.data_dir.join("postgres.log").display()
                ),
            },
            other => other,
        })
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let mut connection = self
            .connect_options()
            .database("postgres")
            .connect()
            .await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut connection)
                .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut connection)
                .await?;
        }
        connection.close().await?;
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        // Last resort (error paths, panics): stop synchronously.
        let mut command = std::process::Command::new(self.binaries.bin_dir.join("pg_ctl"));
        if let Some(user) = self.run_as {
            use std::os::unix::process::CommandExt;
            command.uid(user.uid).gid(user.gid);
        }
        let result = command
            .current_dir(&self.data_dir)
            .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(error) = result {
            warn!(event = "embedded.stop_failed", error = %error);
        }
    }
}

/// Where clusters live whose data directory the cluster's user cannot reach.
const RELOCATED_ROOT: &str = "/var/lib/herald/embedded";

/// Create the data directory (mode 0700, owned by the cluster's user) and
/// return the absolute path of the cluster's own directory: the data
/// directory itself, or — when the cluster's user cannot traverse one of
/// its parents — a directory under [`RELOCATED_ROOT`] named by the data
/// directory's path.
fn prepare_data_dir(dir: &Path, run_as: Option<RunAs>) -> Result<PathBuf, EmbeddedError> {
    use std::os::unix::fs::PermissionsExt;
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EmbeddedError::DataDir { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let dir = std::fs::canonicalize(dir).map_err(io_error(dir))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io_error(&dir))?;
    let Some(user) = run_as else {
        return Ok(dir);
    };
    let cluster_dir = match unreachable_parent(&dir, user) {
        None => dir.clone(),
        Some(private) => {
            let relocated = relocated_dir(&dir);
            info!(
                event = "embedded.relocated",
                data_dir = %dir.display(),
                private_parent = %private.display(),
                cluster_dir = %relocated.display(),
                "the postgres user cannot reach the data directory ({} is private); the cluster lives in {} instead",
                private.display(),
                relocated.display()
            );
            let root = Path::new(RELOCATED_ROOT);
            std::fs::create_dir_all(root).map_err(io_error(root))?;
            for ancestor in [Path::new("/var/lib/herald"), root] {
                let mode = std::fs::metadata(ancestor)
                    .map_err(io_error(ancestor))?
                    .permissions()
                    .mode();
                if mode & 0o001 == 0 {
                    std::fs::set_permissions(
                        ancestor,
                        std::fs::Permissions::from_mode(mode | 0o755),
                    )
                    .map_err(io_error(ancestor))?;
                }
            }
            std::fs::create_dir_all(&relocated).map_err(io_error(&relocated))?;
            std::fs::set_permissions(&relocated, std::fs::Permissions::from_mode(0o700))
                .map_err(io_error(&relocated))?;
            std::fs::write(
                dir.join("CLUSTER_LOCATION"),
                format!(
                    "{}\n# herald's embedded PostgreSQL cluster for this data directory lives there:\n# the postgres user cannot reach this directory ({} is private).\n",
                    relocated.display(),
                    private.display()
                ),
            )
            .map_err(io_error(&dir))?;
            relocated
        }
    };
    std::os::unix::fs::chown(&cluster_dir, Some(user.uid), Some(user.gid))
        .map_err(io_error(&cluster_dir))?;
    Ok(cluster_dir)
}

/// The first parent of `dir` that `user` cannot traverse (no execute bit
/// for it by owner, group or others), if any.
fn unreachable_parent(dir: &Path, user: RunAs) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().skip(1).find_map(|ancestor| {
        let meta = std::fs::metadata(ancestor).ok()?;
        let mode = meta.mode();
        let can_traverse = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        (!can_traverse).then(|| ancestor.to_path_buf())
    })
}

/// `RELOCATED_ROOT/<first 16 hex digits of SHA-256 of the path>`.
fn relocated_dir(dir: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let name: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Path::new(RELOCATED_ROOT).join(name)
}

fn read_postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Is `pid` a live postmaster whose working directory is `data_dir`?
/// (A postmaster runs with its data directory as working directory.)
fn serves_data_dir(pid: i32, data_dir: &Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"));
    match (cwd, exe) {
        (Ok(cwd), Ok(exe)) => {
            cwd == data_dir
                && exe
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with("postgres"))
        }
        _ => false,
    }
}

fn free_port() -> Result<u16, EmbeddedError> {
    let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(EmbeddedError::Port)?;
    socket
        .local_addr()
        .map(|addr| addr.port())
        .map_err(EmbeddedError::Port)
}

fn checked(
    command: &str,
    output: std::io::Result<std::process::Output>,
) -> Result<(), EmbeddedError> {
    let output = output.map_err(|source| EmbeddedError::Spawn {
        command: command.to_owned(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if text.is_empty() {
        text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    }
    Err(EmbeddedError::Command {
        command: command.to_owned(),
        status: output.status.to_string(),
        output: text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_say_what_was_searched_and_what_to_do() {
        let empty = std::env::temp_dir().join("herald-no-such-postgres-root");
        let err = PostgresBinaries::locate_in(Some(OsString::from("/nonexistent")), &empty)
            .expect_err("nothing to find");
        let message = err.to_string();
        assert!(message.contains("PATH"), "{message}");
        assert!(message.contains("/usr/lib/postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(message.contains("apt-get install postgresql"), "{message}");
    }

    #[test]
    fn picks_the_newest_packaged_version() {
        let root = tempfile::tempdir().expect("tempdir");
        for version in ["9.6", "13", "15"] {
            let bin = root.path().join(version).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            for name in PostgresBinaries::REQUIRED {
                std::fs::write(bin.join(name), "").expect("touch");
            }
        }
        // An incomplete newer install is passed over.
        std::fs::create_dir_all(root.path().join("16/bin")).expect("mkdir");
        let found = PostgresBinaries::locate_in(None, root.path()).expect("found");
        assert_eq!(found.bin_dir, root.path().join("15").join("bin"));
    }
}
