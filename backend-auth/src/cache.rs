//! One bearer token shared by every request of an upstream: fetched on first use, reused until
//! shortly before it expires, fetched again at once when an upstream refuses it, and fetched
//! by one request at a time (the others wait for that fetch instead of sending their own).
//! OAuth2 client credentials and Google tokens differ only in how a token is fetched.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::HeaderValue;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::AuthError;

/// Lifetime assumed when the issuer does not say (`expires_in` is only RECOMMENDED).
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest lifetime believed: a token is fetched again at least daily, and an absurd
/// `expires_in` cannot overflow the clock.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// A token is replaced this long before it expires (at most; a fifth of short lifetimes), so
/// a request never leaves with one that expires on the way.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// A token in use.
#[derive(Debug)]
pub(crate) struct Token {
    /// `Bearer <token>`.
    pub(crate) value: HeaderValue,
    /// Counts fetches, so a 401 for an old token does not throw away a newer one.
    pub(crate) generation: u64,
    refresh_at: Instant,
    expires_at: Instant,
}

/// A freshly fetched token, before the cache numbers it.
pub(crate) struct Fetched {
    /// `Bearer <token>` (see [`bearer`]).
    pub(crate) value: HeaderValue,
    /// How long it is valid from `sent_at` (`None`: [`DEFAULT_LIFETIME`]).
    pub(crate) lifetime: Option<Duration>,
    /// When the request for it left (its lifetime counts from then, to be safe).
    pub(crate) sent_at: Instant,
}

/// The cached token of one source. `what` names the source in logs ("OAuth2 token from …").
pub(crate) struct TokenCache {
    what: String,
    current: RwLock<Option<Arc<Token>>>,
    /// Held while fetching, so concurrent requests wait for one fetch instead of each
    /// sending their own.
    fetching: Mutex<Fetches>,
}

/// What the fetches so far left behind, for the requests that waited on one.
#[derive(Default)]
struct Fetches {
    /// The generation of the last token fetched.
    generation: u64,
    /// When the last fetch failed, and why.
    failed: Option<(Instant, AuthError)>,
}

impl TokenCache {
    pub(crate) fn new(what: String) -> Self {
        Self {
            what,
            current: RwLock::new(None),
            fetching: Mutex::default(),
        }
    }

    fn cached(&self) -> Option<Arc<Token>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A token to send now: the cached one while it is fresh, else one from `fetch`. When the
    /// fetch fails, a token that has not expired yet is still used; requests that waited for
    /// that failed fetch share its error rather than each asking again (an endpoint that
    /// hangs would otherwise hold the n-th of them for n times its timeout).
    pub(crate) async fn token<F, Fut>(&self, fetch: F) -> Result<Arc<Token>, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, AuthError>>,
    {
        if let Some(t) = self.cached().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t);
        }
        let arrived = Instant::now();
        let mut fetches = self.fetching.lock().await;
        // Another request may have fetched one while this one waited.
        let cached = self.cached();
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.clone());
        }
        let usable = |t: &Arc<Token>| Instant::now() < t.expires_at;
        if let Some((_, e)) = fetches.failed.as_ref().filter(|(at, _)| *at >= arrived) {
            return cached.filter(usable).ok_or_else(|| e.clone());
        }
        match fetch().await.map(|f| token(f, fetches.generation + 1)) {
            Ok(token) => {
                fetches.generation = token.generation;
                fetches.failed = None;
                let token = Arc::new(token);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
                Ok(token)
            }
            Err(e) => {
                fetches.failed = Some((Instant::now(), e.clone()));
                match cached.filter(usable) {
                    Some(still_valid) => {
                        tracing::warn!(source = %self.what, error = %e, "token refresh failed; using the current token until it expires");
                        Ok(still_valid)
                    }
                    None => {
                        tracing::warn!(source = %self.what, error = %e, "token request failed");
                        Err(e)
                    }
                }
            }
        }
    }

    /// An upstream answered 401 to `generation`'s token: forget it (unless a newer one
    /// replaced it already), so the next request fetches another.
    pub(crate) fn rejected(&self, generation: u64) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|t| t.generation == generation) {
            tracing::info!(source = %self.what, "upstream refused the token; fetching a new one");
            *current = None;
        }
    }
}

/// `Bearer <token>`, marked sensitive; `None` when the token has characters a header cannot
/// carry.
pub(crate) fn bearer(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Numbers a fetched token and works out when to replace it.
fn token(fetched: Fetched, generation: u64) -> Token {
    let Fetched {
        value,
        lifetime,
        sent_at,
    } = fetched;
    let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME).min(MAX_LIFETIME);
    let margin = MAX_REFRESH_MARGIN.min(lifetime / 5);
    Token {
        value,
        generation,
        refresh_at: sent_at + lifetime - margin,
        expires_at: sent_at + lifetime,
    }
}
