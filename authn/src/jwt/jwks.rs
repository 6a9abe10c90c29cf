//! JWKS key sets: parsed from a file once, or fetched from a URL and kept fresh.
//!
//! A URL's keys are fetched at start (in the background: startup never waits on an identity
//! provider), again every `refreshInterval`, and again when a token names a `kid` the set does
//! not have (the provider rotated its keys). Those refetches are single-flight (concurrent
//! requests wait for one fetch) and debounced (at most one per [`REFETCH_DEBOUNCE`]), so a
//! flood of tokens with made-up `kid`s costs the provider one request per interval, not one per
//! token. A failed fetch keeps the last good keys.

use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// At most one refetch for unknown `kid`s (or while no keys are known) per this long.
pub const REFETCH_DEBOUNCE: Duration = Duration::from_secs(10);
/// Default `refreshInterval`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// A JWKS larger than this is refused.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// One fetch, connect to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One usable public key.
pub(crate) struct Key {
    /// `kid`, when the JWK has one.
    pub kid: Option<String>,
    /// `alg`, when the JWK pins one.
    pub alg: Option<Algorithm>,
    /// The key itself.
    pub decoding: DecodingKey,
}

/// The usable keys of one JWKS document.
#[derive(Default)]
pub(crate) struct KeySet {
    pub keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| (&k.kid, k.alg)))
            .finish()
    }
}

impl KeySet {
    /// Parses a JWKS document. Keys that cannot verify signatures here are skipped (and named
    /// in the returned notes): encryption keys, symmetric (`oct`) keys, which would let an
    /// HMAC token through, and kinds this build does not know. No usable key is an error.
    pub fn parse(bytes: &[u8]) -> Result<(KeySet, Vec<String>), String> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
        let list = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("not a JWKS document: no \"keys\" list")?;
        let mut keys = Vec::new();
        let mut notes = Vec::new();
        for (i, raw) in list.iter().enumerate() {
            match parse_key(raw) {
                Ok(k) => keys.push(k),
                Err(why) => notes.push(format!("keys[{i}] skipped: {why}")),
            }
        }
        if keys.is_empty() {
            let why = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            };
            return Err(format!("no usable signing key in the JWKS{why}"));
        }
        Ok((KeySet { keys }, notes))
    }

    /// The keys a token signed with `alg` (and naming `kid`, when it does) may be verified by.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.iter().filter(move |k| {
            let kid_ok = match kid {
                Some(kid) => k.kid.as_deref() == Some(kid),
                None => true,
            };
            kid_ok && k.alg.is_none_or(|a| a == alg) && k.decoding.family() == family(alg)
        })
    }

    /// Whether a key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The family an algorithm's key belongs to (HMAC for any algorithm this crate does not know,
/// which no public key then matches).
pub(crate) fn family(alg: Algorithm) -> AlgorithmFamily {
    [
        AlgorithmFamily::Rsa,
        AlgorithmFamily::Ec,
        AlgorithmFamily::Ed,
    ]
    .into_iter()
    .find(|f| f.algorithms().contains(&alg))
    .unwrap_or(AlgorithmFamily::Hmac)
}

fn parse_key(raw: &serde_json::Value) -> Result<Key, String> {
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("an encryption key (use: enc)".into());
    }
    match &jwk.algorithm {
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (oct) key: only public keys are accepted".into())
        }
        AlgorithmParameters::Other(_) => return Err("unsupported key type".into()),
        _ => {}
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(ka) => {
            let alg = Algorithm::from_str(&ka.to_string())
                .map_err(|_| format!("unsupported alg {ka}"))?;
            if family(alg) == AlgorithmFamily::Hmac {
                return Err(format!("alg {ka} is symmetric"));
            }
            Some(alg)
        }
    };
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| format!("invalid key: {e}"))?;
    Ok(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        decoding,
    })
}

/// Where a provider's keys come from.
#[derive(Debug)]
pub(crate) enum Jwks {
    /// A file read at load.
    Static(Arc<KeySet>),
    /// A URL, fetched and refreshed.
    Remote(Arc<Remote>),
}

/// What a key lookup found.
pub(crate) enum Lookup {
    /// The set to pick candidates from (it has the `kid`, or the token named none).
    Keys(Arc<KeySet>),
    /// The set has no key with the token's `kid`, even after a refetch was allowed.
    UnknownKid,
    /// No keys are known yet (the URL has not answered).
    Unavailable,
}

impl Jwks {
    /// The keys in use now, without fetching: what verified tokens are checked against.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        match self {
            Jwks::Static(set) => Some(set.clone()),
            Jwks::Remote(remote) => remote.current(),
        }
    }

    /// The keys for a token naming `kid`: an unknown `kid` triggers one (debounced) refetch.
    pub async fn lookup(&self, kid: Option<&str>) -> Lookup {
        match self {
            Jwks::Static(set) => match kid {
                Some(kid) if !set.has_kid(kid) => Lookup::UnknownKid,
                _ => Lookup::Keys(set.clone()),
            },
            Jwks::Remote(remote) => {
                remote.start();
                let current = remote.current();
                let known = |s: &KeySet| kid.is_none_or(|kid| s.has_kid(kid));
                if let Some(set) = current.as_ref().filter(|s| known(s)) {
                    return Lookup::Keys(set.clone());
                }
                match remote.refetch().await {
                    Some(set) if known(&set) => Lookup::Keys(set),
                    Some(_) => Lookup::UnknownKid,
                    None => Lookup::Unavailable,
                }
            }
        }
    }
}

/// A JWKS URL and the keys last fetched from it.
pub struct Remote {
    url: String,
    client: reqwest::Client,
    refresh: Duration,
    debounce: Duration,
    keys: RwLock<Option<Arc<KeySet>>>,
    /// When a request last caused a fetch (success or not), for the debounce. Scheduled
    /// fetches do not count: a rotation found just after one is fetched at once.
    last_refetch: Mutex<Option<Instant>>,
    /// Bumped by every successful fetch: a waiter that sees it change knows the keys are new.
    generation: AtomicU64,
    /// Held by the one fetch in flight.
    in_flight: tokio::sync::Mutex<()>,
    started: AtomicBool,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A URL whose keys are not fetched yet.
    pub fn new(url: String, refresh: Duration, debounce: Duration) -> Result<Self, String> {
        let client = netkit::reqwest_client(netkit::ReqwestOptions {
            timeout: Some(FETCH_TIMEOUT),
            connect_timeout: FETCH_TIMEOUT,
            // Fetches are rare and may come from any worker's runtime: no pooled connections
            // tied to one of them.
            pool_max_idle_per_host: 0,
            ..netkit::ReqwestOptions::default()
        })
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Remote {
            url,
            client,
            refresh,
            debounce,
            keys: RwLock::new(None),
            last_refetch: Mutex::new(None),
            generation: AtomicU64::new(0),
            in_flight: tokio::sync::Mutex::new(()),
            started: AtomicBool::new(false),
        })
    }

    /// The keys last fetched.
    pub(crate) fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().ok().and_then(|k| k.clone())
    }

    /// Starts the first fetch and the refresh schedule on the current runtime, once. The task
    /// holds the set weakly and ends when the config that built it is gone.
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.started.store(false, Ordering::Release);
            return;
        };
        let weak: Weak<Remote> = Arc::downgrade(self);
        rt.spawn(async move {
            loop {
                let Some(me) = weak.upgrade() else { return };
                me.fetch_now().await;
                // Until the first keys arrive, try again soon; then on the schedule.
                let wait = if me.current().is_some() {
                    me.refresh
                } else {
                    me.debounce
                };
                drop(me);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// A scheduled fetch: single-flight, not debounced; skipped when a request's fetch
    /// brought new keys while this one waited.
    async fn fetch_now(&self) {
        let seen = self.generation.load(Ordering::Acquire);
        let _one = self.in_flight.lock().await;
        if self.generation.load(Ordering::Acquire) == seen {
            self.fetch().await;
        }
    }

    /// A fetch asked for by a request (unknown `kid`, or no keys yet): single-flight and
    /// debounced. Returns the keys after it (new or not).
    pub(crate) async fn refetch(&self) -> Option<Arc<KeySet>> {
        let seen = self.generation.load(Ordering::Acquire);
        let _one = self.in_flight.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            // Another request fetched while this one waited.
            return self.current();
        }
        let allowed = match self.last_refetch.lock() {
            Ok(mut last) => {
                let recent = last.is_some_and(|t| t.elapsed() < self.debounce);
                if !recent {
                    *last = Some(Instant::now());
                }
                !recent
            }
            Err(_) => false,
        };
        if allowed {
            self.fetch().await;
        }
        self.current()
    }

    async fn fetch(&self) {
        match self.download().await.and_then(|b| KeySet::parse(&b)) {
            Ok((set, notes)) => {
                for note in notes {
                    tracing::debug!(url = %self.url, "JWKS {note}");
                }
                tracing::debug!(url = %self.url, keys = set.keys.len(), "JWKS fetched");
                if let Ok(mut k) = self.keys.write() {
                    *k = Some(Arc::new(set));
                }
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                let kept = self.current().is_some();
                tracing::warn!(url = %self.url, error = %e, kept_last_good_keys = kept, "cannot fetch the JWKS");
            }
        }
    }

    async fn download(&self) -> Result<Vec<u8>, String> {
        let mut resp = self
            .client
            .get(&self.url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| netkit::error_chain(&e))?;
        if !resp.status().is_success() {
            return Err(format!("the JWKS URL answered {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| netkit::error_chain(&e))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
