//! Sealed session ids: the legacy era's `Mcp-Session-Id`, made so that any
//! replica holding the same key can serve the session.
//!
//! The multiplexer shares one upstream connection per target among all its
//! clients, so a downstream session has no upstream state to carry: what a
//! replica needs is what the client said in `initialize` (protocol version,
//! capabilities) and when the session expires. That is sealed with
//! ChaCha20-Poly1305 under `config.sessionKey`, with the backend's identity as
//! associated data so an id minted for one route is refused on another.
//!
//! Format: `sb1.` + base64url(nonce ‖ ciphertext ‖ tag). Visible ASCII, as the
//! spec requires of session ids.
//!
//! Keys, nonces and the other unguessable ids of the front end come from the
//! system's random generator ([`Rng`]) and from nothing else: when it fails, the
//! endpoint does not start or the request fails ([`RngError`]). A time-derived
//! fallback would repeat nonces under one key (which breaks ChaCha20-Poly1305)
//! and make ids guessable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use rmcp::model::{ClientCapabilities, ProtocolVersion};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "sb1.";
/// Most revoked ids remembered (a DELETE flood must not grow memory without bound).
const MAX_REVOKED: usize = 100_000;
/// Most opened ids remembered with their claims; the memory is emptied when it is full.
const MAX_OPENED: usize = 1024;

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The protocol version agreed in `initialize`.
    #[serde(rename = "v")]
    pub protocol_version: String,
    /// What the client said it can do (sampling, elicitation, roots).
    #[serde(rename = "c", default)]
    pub capabilities: ClientCapabilities,
    /// Expiry, seconds since the Unix epoch.
    #[serde(rename = "x")]
    pub expires: u64,
}

impl SessionClaims {
    /// The protocol version as rmcp's type.
    pub fn version(&self) -> ProtocolVersion {
        serde_json::from_value(serde_json::Value::String(self.protocol_version.clone()))
            .unwrap_or(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

/// Why a presented session id is not accepted. Every case is answered 404, so
/// the client re-initializes, as the spec says.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("not a session id minted by this gateway")]
    Malformed,
    #[error("the session id does not open with this gateway's key (a different sessionKey, or another route)")]
    Unsealable,
    #[error("the session expired")]
    Expired,
    #[error("the session was terminated")]
    Terminated,
}

/// The system's random generator failed. Nothing that needs randomness (a key,
/// a nonce, a session id) is made from anything weaker, so what needed it fails.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the system random number generator failed")]
pub struct RngError;

/// Fills a buffer with secure random bytes. The system's ([`Rng::system`]) everywhere
/// but in tests, which make it fail to check that nothing falls back to weaker values.
#[derive(Clone)]
pub(crate) struct Rng(Arc<FillFn>);

type FillFn = dyn Fn(&mut [u8]) -> Result<(), RngError> + Send + Sync;

impl Rng {
    /// The operating system's generator (through `ring`).
    pub(crate) fn system() -> Self {
        Self(Arc::new(|dest| {
            SystemRandom::new().fill(dest).map_err(|_| RngError)
        }))
    }

    /// A generator that calls `fill` (tests).
    #[cfg(test)]
    pub(crate) fn from_fn(
        fill: impl Fn(&mut [u8]) -> Result<(), RngError> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(fill))
    }

    pub(crate) fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        (self.0)(dest)
    }

    /// 32 random bytes: a key, or the material of an id.
    pub(crate) fn key(&self) -> Result<[u8; 32], RngError> {
        let mut key = [0u8; 32];
        self.fill(&mut key)?;
        Ok(key)
    }

    /// `bytes` random bytes as lowercase hex: an unguessable id.
    pub(crate) fn hex_id(&self, bytes: usize) -> Result<String, RngError> {
        let mut raw = vec![0u8; bytes];
        self.fill(&mut raw)?;
        Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Mints and opens session ids.
pub struct SessionSealer {
    key: LessSafeKey,
    scope: Vec<u8>,
    max_age: Duration,
    rng: Rng,
    ids: Mutex<Ids>,
}

/// What a sealer remembers of the ids it has seen.
#[derive(Default)]
struct Ids {
    /// Ids ended by DELETE on this replica, with their expiry. Other replicas do
    /// not learn of a DELETE; the id stays valid there until it expires.
    revoked: HashMap<String, u64>,
    /// Ids opened lately, with their claims. A client sends its id with every request,
    /// and opening one (base64, ChaCha20-Poly1305, JSON) cost more than the rest of the
    /// request's session handling; an id always opens to the same claims under one key
    /// and scope, so remembering them is safe. Revoked ids are never here.
    opened: hashbrown::HashMap<Box<str>, SessionClaims>,
}

impl SessionSealer {
    /// A sealer with `key` for the backend named by `scope`.
    pub fn new(key: [u8; 32], scope: &str, max_age: Duration) -> Self {
        Self::with_rng(key, scope, max_age, Rng::system())
    }

    /// A sealer whose nonces come from `rng`.
    pub(crate) fn with_rng(key: [u8; 32], scope: &str, max_age: Duration, rng: Rng) -> Self {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key);
        // A 32-byte key is always valid for ChaCha20-Poly1305.
        let key = LessSafeKey::new(unbound.unwrap_or_else(|_| unreachable!("32-byte key")));
        Self {
            key,
            scope: scope.as_bytes().to_vec(),
            max_age,
            rng,
            ids: Mutex::default(),
        }
    }

    /// A random 32-byte key (for a gateway started without `sessionKey`), or an error
    /// when the system has no randomness to give: then there is no safe key to make.
    pub fn random_key() -> Result<[u8; 32], RngError> {
        Rng::system().key()
    }

    /// A new session id for a client that initialized with `version` and `capabilities`.
    /// Fails when no random nonce can be had: a nonce repeated under the key would
    /// expose the sealed claims and let ids be forged.
    pub fn mint(
        &self,
        version: &ProtocolVersion,
        capabilities: &ClientCapabilities,
    ) -> Result<String, RngError> {
        let claims = SessionClaims {
            protocol_version: version.as_str().to_owned(),
            capabilities: capabilities.clone(),
            expires: now_secs() + self.max_age.as_secs(),
        };
        let mut buf = serde_json::to_vec(&claims).unwrap_or_default();
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce)?;
        // Sealing in place cannot fail for inputs under the 256 GiB limit.
        let _ = self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&self.scope),
            &mut buf,
        );
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens `id`, checking its seal, expiry and revocation.
    pub fn open(&self, id: &str) -> Result<SessionClaims, SessionError> {
        let now = now_secs();
        if let Some(claims) = self.lock_ids().opened.get(id) {
            if claims.expires <= now {
                return Err(SessionError::Expired);
            }
            return Ok(claims.clone());
        }
        let claims = self.unseal(id)?;
        if claims.expires <= now {
            return Err(SessionError::Expired);
        }
        let mut ids = self.lock_ids();
        if ids.revoked.contains_key(id) {
            return Err(SessionError::Terminated);
        }
        if ids.opened.len() >= MAX_OPENED {
            ids.opened.clear();
        }
        ids.opened.insert(id.into(), claims.clone());
        Ok(claims)
    }

    /// The claims sealed in `id`, if it opens with this sealer's key and scope.
    fn unseal(&self, id: &str) -> Result<SessionClaims, SessionError> {
        let b64 = id.strip_prefix(PREFIX).ok_or(SessionError::Malformed)?;
        let raw = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| SessionError::Malformed)?;
        if raw.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(SessionError::Malformed);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SessionError::Malformed)?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&self.scope), &mut sealed)
            .map_err(|_| SessionError::Unsealable)?;
        serde_json::from_slice(plain).map_err(|_| SessionError::Unsealable)
    }

    /// Ends `id` on this replica (DELETE).
    pub fn revoke(&self, id: &str, claims: &SessionClaims) {
        let now = now_secs();
        let mut ids = self.lock_ids();
        ids.opened.remove(id);
        if ids.revoked.len() >= MAX_REVOKED {
            ids.revoked.retain(|_, exp| *exp > now);
        }
        if ids.revoked.len() < MAX_REVOKED {
            ids.revoked.insert(id.to_owned(), claims.expires);
        }
    }

    fn lock_ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: u8, scope: &str) -> SessionSealer {
        SessionSealer::new([key; 32], scope, Duration::from_secs(3600))
    }

    /// A session id from `sealer` for a 2025-11-25 client with no capabilities.
    fn plain_id(sealer: &SessionSealer) -> String {
        sealer
            .mint(
                &ProtocolVersion::V_2025_11_25,
                &ClientCapabilities::default(),
            )
            .expect("mint")
    }

    #[test]
    fn a_minted_id_opens_on_another_sealer_with_the_same_key() {
        let a = sealer(7, "route/mcp");
        let b = sealer(7, "route/mcp");
        let mut caps = ClientCapabilities::default();
        caps.roots = Some(Default::default());
        let id = a.mint(&ProtocolVersion::V_2025_06_18, &caps).expect("mint");
        assert!(id.starts_with("sb1.") && id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        let claims = b.open(&id).expect("opens");
        assert_eq!(claims.version(), ProtocolVersion::V_2025_06_18);
        assert!(claims.capabilities.roots.is_some());
        assert_ne!(
            id,
            a.mint(&ProtocolVersion::V_2025_06_18, &caps).expect("mint"),
            "ids are unique"
        );
    }

    #[test]
    fn other_keys_routes_and_tampering_are_refused() {
        let a = sealer(7, "route/mcp");
        let id = plain_id(&a);
        assert_eq!(
            sealer(8, "route/mcp").open(&id),
            Err(SessionError::Unsealable)
        );
        assert_eq!(
            sealer(7, "other/mcp").open(&id),
            Err(SessionError::Unsealable)
        );
        let mut bytes = id.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(a.open(&tampered).is_err());
        assert_eq!(a.open("not-ours"), Err(SessionError::Malformed));
        assert_eq!(a.open("sb1.!!!"), Err(SessionError::Malformed));
        assert_eq!(a.open("sb1.AAAA"), Err(SessionError::Malformed));
    }

    #[test]
    fn expired_and_revoked_ids_are_refused() {
        let short = SessionSealer::new([1; 32], "r", Duration::from_secs(0));
        let id = plain_id(&short);
        assert_eq!(short.open(&id), Err(SessionError::Expired));
        let a = sealer(1, "r");
        let id = plain_id(&a);
        let claims = a.open(&id).expect("opens");
        assert_eq!(a.open(&id), Ok(claims.clone()), "opens again (remembered)");
        a.revoke(&id, &claims);
        assert_eq!(a.open(&id), Err(SessionError::Terminated));
    }

    /// An id remembered as opened still expires on time.
    #[test]
    fn a_remembered_id_expires() {
        let a = SessionSealer::new([1; 32], "r", Duration::from_secs(1));
        let id = plain_id(&a);
        let claims = a.open(&id).expect("opens");
        while now_secs() < claims.expires {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(a.open(&id), Err(SessionError::Expired));
    }

    /// A failing system RNG makes minting an error, never an id sealed under a
    /// made-up nonce; the same sealer mints again once the RNG is back.
    #[test]
    fn a_failing_rng_mints_no_session_id() {
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = broken.clone();
        let rng = Rng::from_fn(move |dest| {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(RngError);
            }
            dest.fill(0x5a);
            Ok(())
        });
        let a = SessionSealer::with_rng([3; 32], "r", Duration::from_secs(60), rng.clone());
        let caps = ClientCapabilities::default();
        assert_eq!(a.mint(&ProtocolVersion::V_2025_11_25, &caps), Err(RngError));
        assert_eq!(rng.key(), Err(RngError), "no key either");
        assert_eq!(rng.hex_id(16), Err(RngError), "no id either");
        broken.store(false, std::sync::atomic::Ordering::SeqCst);
        let id = a
            .mint(&ProtocolVersion::V_2025_11_25, &caps)
            .expect("the RNG is back");
        assert!(a.open(&id).is_ok());
        assert_eq!(rng.hex_id(2).as_deref(), Ok("5a5a"));
    }
}
