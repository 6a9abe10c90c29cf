//! Tokens already verified, so that a caller pays for a signature check once per token rather
//! than once per request.
//!
//! An agent sends the same access token on every call until it expires, and checking an RS256
//! signature costs more CPU than the rest of an MCP call through the gateway (ES256 several
//! times more). A verified token's identity is therefore kept, keyed by the token's SHA-256
//! (the token itself is never stored), and served again while all of these still hold:
//!
//! - the token has not expired (`exp`, with the policy's leeway, checked on every hit exactly as
//!   the full check does), and is not before its `nbf`;
//! - the provider's key set is the very one that verified it: any JWKS fetch that replaces the
//!   set (a rotation, a refresh) makes every entry verified under the old set miss, so a key
//!   withdrawn from the JWKS stops its tokens at once;
//! - the policy is the same: a config reload builds a new policy with an empty cache.
//!
//! Only successes are kept. The cache is bounded: [`SHARDS`] × [`PER_SHARD`] entries; a full
//! shard first drops its expired entries, then everything (callers whose entry is dropped
//! simply pay one more verification).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use sha2::{Digest as _, Sha256};

use super::jwks::KeySet;
use crate::identity::Identity;

const SHARDS: usize = 16;
const PER_SHARD: usize = 1024;

/// A token's SHA-256.
pub(crate) type TokenDigest = [u8; 32];

/// The digest a token is kept under.
pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// One verified token.
#[derive(Debug)]
struct Entry {
    identity: Identity,
    /// The index of the provider that verified it.
    provider: usize,
    /// The key set that verified it. Weak, so the cache does not keep retired sets alive, yet
    /// the allocation cannot be reused by a new set while this points to it.
    keys: Weak<KeySet>,
    exp: u64,
    nbf: u64,
}

/// The verified tokens of one `jwtAuth` policy.
#[derive(Debug)]
pub(crate) struct VerifiedTokens {
    shards: Vec<RwLock<HashMap<TokenDigest, Entry>>>,
    hits: AtomicU64,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hits: AtomicU64::new(0),
        }
    }
}

impl VerifiedTokens {
    fn shard(&self, digest: &TokenDigest) -> &RwLock<HashMap<TokenDigest, Entry>> {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The identity of a token verified before, if it is still good at `now` (Unix seconds)
    /// with `leeway` seconds of skew and `current_keys(provider)` is still the set that
    /// verified it.
    pub fn get(
        &self,
        digest: &TokenDigest,
        now: u64,
        leeway: u64,
        current_keys: impl FnOnce(usize) -> Option<Arc<KeySet>>,
    ) -> Option<Identity> {
        let (identity, provider, keys) = {
            let shard = self.shard(digest).read().ok()?;
            let e = shard.get(digest)?;
            // The same comparisons as the full check: expired once `exp < now - leeway`, not
            // yet valid while `nbf > now + leeway`.
            if e.exp.saturating_add(leeway) < now || e.nbf > now.saturating_add(leeway) {
                return None;
            }
            (e.identity.clone(), e.provider, e.keys.clone())
        };
        let current = current_keys(provider)?;
        if !std::ptr::eq(keys.as_ptr(), Arc::as_ptr(&current)) {
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(identity)
    }

    /// Keeps a token just verified by `provider` with `keys`. A token without a numeric `exp`
    /// is not kept (the full check requires one, so this does not happen).
    pub fn insert(
        &self,
        digest: TokenDigest,
        identity: &Identity,
        provider: usize,
        keys: &Arc<KeySet>,
        now: u64,
    ) {
        let Some(claims) = identity.jwt().map(|j| &j.claims) else {
            return;
        };
        let Some(exp) = claims.get("exp").and_then(serde_json::Value::as_u64) else {
            return;
        };
        let nbf = claims
            .get("nbf")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let Ok(mut shard) = self.shard(&digest).write() else {
            return;
        };
        if shard.len() >= PER_SHARD && !shard.contains_key(&digest) {
            shard.retain(|_, e| e.exp >= now);
            if shard.len() >= PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(
            digest,
            Entry {
                identity: identity.clone(),
                provider,
                keys: Arc::downgrade(keys),
                exp,
                nbf,
            },
        );
    }

    /// Requests answered from the cache since the policy was built.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map_or(0, |s| s.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{JwtIdentity, Method};
    use serde_json::json;

    fn identity(exp: u64, nbf: Option<u64>) -> Identity {
        let mut claims = json!({"sub": "alice", "exp": exp});
        if let Some(nbf) = nbf {
            claims["nbf"] = json!(nbf);
        }
        Identity::new(Method::Jwt(JwtIdentity {
            issuer: "https://idp.test".into(),
            subject: Some("alice".into()),
            claims,
        }))
    }

    fn keys() -> Arc<KeySet> {
        Arc::new(KeySet { keys: Vec::new() })
    }

    #[test]
    fn a_kept_token_is_served_until_it_expires_with_the_leeway() {
        let cache = VerifiedTokens::default();
        let set = keys();
        let d = digest("token-a");
        cache.insert(d, &identity(1000, None), 0, &set, 900);
        let same = |_| Some(set.clone());
        assert!(cache.get(&d, 1000, 0, same).is_some(), "at exp");
        assert!(cache.get(&d, 1001, 0, same).is_none(), "past exp");
        assert!(cache.get(&d, 1030, 30, same).is_some(), "within the leeway");
        assert!(cache.get(&d, 1031, 30, same).is_none(), "past the leeway");
        assert!(cache.get(&digest("token-b"), 950, 0, same).is_none());
        assert_eq!(cache.hits(), 2);
    }

    #[test]
    fn a_token_is_not_served_before_its_nbf() {
        let cache = VerifiedTokens::default();
        let set = keys();
        let d = digest("t");
        cache.insert(d, &identity(2000, Some(1500)), 0, &set, 1490);
        assert!(cache.get(&d, 1490, 10, |_| Some(set.clone())).is_some());
        assert!(cache.get(&d, 1489, 10, |_| Some(set.clone())).is_none());
    }

    #[test]
    fn a_replaced_key_set_makes_its_tokens_miss() {
        let cache = VerifiedTokens::default();
        let old = keys();
        let d = digest("t");
        cache.insert(d, &identity(2000, None), 1, &old, 100);
        let new = keys();
        assert!(cache.get(&d, 100, 0, |_| Some(new.clone())).is_none());
        assert!(cache.get(&d, 100, 0, |_| None).is_none(), "no keys at all");
        assert!(cache
            .get(&d, 100, 0, |p| (p == 1).then(|| old.clone()))
            .is_some());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = VerifiedTokens::default();
        let set = keys();
        for i in 0..(SHARDS * PER_SHARD * 3) {
            cache.insert(
                digest(&format!("token-{i}")),
                &identity(2000, None),
                0,
                &set,
                100,
            );
        }
        assert!(cache.len() <= SHARDS * PER_SHARD, "{}", cache.len());
    }

    #[test]
    fn a_full_shard_drops_its_expired_entries_first() {
        let cache = VerifiedTokens::default();
        let set = keys();
        let live = digest("live");
        cache.insert(live, &identity(5000, None), 0, &set, 100);
        // Tokens that land in the same shard as `live`.
        let mut same_shard = (0..)
            .map(|i| digest(&format!("t{i}")))
            .filter(|d| usize::from(d[0]) % SHARDS == usize::from(live[0]) % SHARDS);
        for d in same_shard.by_ref().take(PER_SHARD - 1) {
            cache.insert(d, &identity(150, None), 0, &set, 100);
        }
        assert_eq!(cache.len(), PER_SHARD);
        // At 200 the 1023 others have expired: they go, `live` stays.
        let next = same_shard.next().unwrap();
        cache.insert(next, &identity(5000, None), 0, &set, 200);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&live, 200, 0, |_| Some(set.clone())).is_some());
    }
}
