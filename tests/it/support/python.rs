//! Python packages a test needs (pinned in a requirements file), installed
//! by the test itself into `target/<name>` the first time, again only when
//! the requirements change.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// `target/<name>` with `requirements` (relative to the crate) installed.
/// One install at a time: tests running in parallel that need the same
/// packages must not see a half-installed directory.
pub fn packages(requirements: &str, name: &str) -> PathBuf {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let requirements = root.join(requirements);
    let target = root.join("target").join(name);
    let wanted = std::fs::read_to_string(&requirements).expect("requirements");
    let stamp = target.join(".requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return target;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--upgrade",
            "--target",
        ])
        .arg(&target)
        .arg("-r")
        .arg(&requirements)
        .status()
        .expect("python3 -m pip runs");
    assert!(
        status.success(),
        "could not install {} into {}",
        requirements.display(),
        target.display()
    );
    std::fs::write(&stamp, wanted).expect("stamp");
    target
}
