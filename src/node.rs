//! This replica's name, as it appears in claims, leases and logs.

/// `<hostname>-<pid>`: unique per running process on a host.
pub fn default_node_id() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "herald".to_owned());
    format!("{host}-{}", std::process::id())
}
