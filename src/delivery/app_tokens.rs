//! App access tokens (Feishu/Lark tenant tokens, WeCom and DingTalk access
//! tokens), cached per app until shortly before they expire and shared by
//! every delivery actor of the replica: the platforms ask for it (WeCom
//! rate-limits `gettoken` and blocks an app for an hour after too many
//! calls — https://developer.work.weixin.qq.com/document/path/91039;
//! DingTalk: https://open.dingtalk.com/document/orgapp/obtain-orgapp-token;
//! Feishu returns the same token until its last 30 minutes —
//! https://open.feishu.cn/document/ukTMukTMukTM/ukDNz4SO0MjL5QzM/auth-v3/auth/tenant_access_token_internal).
//!
//! The key is the app's API base and a digest of its credentials, so a
//! rotated secret never reuses the old app's token; tokens are never logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Tokens are used until this long before they expire.
const MARGIN: Duration = Duration::from_secs(5 * 60);
/// A token is kept at least this long, whatever its `expires_in` says.
const SHORTEST: Duration = Duration::from_secs(30);

/// Per app key: the token and until when herald uses it.
type Cached = HashMap<[u8; 32], (String, Instant)>;
/// Per app key: the lock its token calls take.
type Fetches = HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>;

#[derive(Clone, Default)]
pub struct AppTokens {
    tokens: Arc<Mutex<Cached>>,
    /// The newest refresh token of apps that rotate them.
    refresh: Arc<Mutex<HashMap<[u8; 32], String>>>,
    /// One token call at a time per app: senders that find the cache
    /// empty at once wait for the first one's token instead of each asking
    /// (WeCom blocks an app that calls `gettoken` too often); other apps'
    /// calls do not wait for it.
    fetches: Arc<Mutex<Fetches>>,
}

impl std::fmt::Debug for AppTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppTokens(***)")
    }
}

/// The cache key of an app: its API base and credentials.
pub fn key(base: &url::Url, credentials: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(base.as_str().as_bytes());
    digest.update([0]);
    digest.update(credentials.as_bytes());
    digest.finalize().into()
}

impl AppTokens {
    /// The app's token, if one is cached and not about to expire.
    pub fn get(&self, key: &[u8; 32]) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(token, _)| token.clone())
    }

    /// Keep `token`, valid for `expires_in` (as the platform said).
    pub fn put(&self, key: [u8; 32], token: String, expires_in: Duration) {
        let keep = expires_in.saturating_sub(MARGIN).max(SHORTEST);
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|_, (_, until)| Instant::now() < *until);
        tokens.insert(key, (token, Instant::now() + keep));
    }

    /// Held while an app's token is fetched (see the struct).
    pub async fn fetching(&self, key: &[u8; 32]) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.fetches.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(*key).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The newest refresh token of an app that rotates them (Microsoft's
    /// sign-in returns a new one with each access token).
    pub fn refresh_token(&self, key: &[u8; 32]) -> Option<String> {
        let tokens = self.refresh.lock().unwrap_or_else(|p| p.into_inner());
        tokens.get(key).cloned()
    }

    pub fn put_refresh_token(&self, key: [u8; 32], token: String) {
        let mut tokens = self.refresh.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(key, token);
    }

    /// The sign-in refused the rotated refresh token: the next sign-in
    /// uses the configured one again.
    pub fn forget_refresh_token(&self, key: &[u8; 32]) {
        let mut tokens = self.refresh.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(key);
    }

    /// The platform refused the token (expired early, revoked): forget it.
    pub fn forget(&self, key: &[u8; 32]) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_per_app_and_credentials_until_near_expiry() {
        let tokens = AppTokens::default();
        let base: url::Url = "https://qyapi.weixin.qq.com/cgi-bin".parse().unwrap();
        let app = key(&base, "corp:secret:1");
        let rotated = key(&base, "corp:secret2:1");
        tokens.put(app, "t1".into(), Duration::from_secs(7200));
        assert_eq!(tokens.get(&app).as_deref(), Some("t1"));
        assert_eq!(tokens.get(&rotated), None);
        tokens.forget(&app);
        assert_eq!(tokens.get(&app), None);
        // A token about to expire is not used.
        tokens.put(app, "t2".into(), Duration::from_secs(0));
        assert_eq!(
            tokens.get(&app).as_deref(),
            Some("t2"),
            "kept the shortest time"
        );
    }
}
