//! Embeds the commit herald is built from (`herald --version`,
//! `herald_build_info`): `HERALD_COMMIT` if set, else `git rev-parse`,
//! else `unknown` (a source tarball).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HERALD_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{reference}");
        }
    }
    let commit = std::env::var("HERALD_COMMIT").ok().or_else(|| {
        let output = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .filter(|c| !c.is_empty())
    });
    println!(
        "cargo:rustc-env=HERALD_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
}
