//! `apiKeyAuth`: keys from the config, kept only as SHA-256 hashes.
//!
//! A presented key is hashed and compared with every configured hash in constant time, and
//! every hash is compared (no early exit), so neither the comparison nor the position of the
//! match leaks through timing.

use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ApiKeyAuthConfig, Mode};
use crate::failure::{Failure, Reason};
use crate::identity::{ApiKeyIdentity, Identity, Method};
use crate::{invalid, missing, BuildError, Verdict};

/// Keys shorter than this are refused at load: they can be guessed.
const MIN_KEY_LEN: usize = 16;

/// The built `apiKeyAuth` policy.
#[derive(Debug)]
pub struct ApiKeyAuth {
    mode: Mode,
    header: HeaderName,
    keys: Vec<Entry>,
}

struct Entry {
    hash: [u8; 32],
    identity: Identity,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.identity.subject())
            .finish_non_exhaustive()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl ApiKeyAuth {
    /// Builds the policy; errors name the key (`keys[2].key`).
    pub fn build(config: &ApiKeyAuthConfig) -> Result<Self, BuildError> {
        let ApiKeyAuthConfig { mode, header, keys } = config;
        let header = match header {
            None => HeaderName::from_static("x-api-key"),
            Some(h) => HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| BuildError::new("header", format!("invalid header name {h:?}")))?,
        };
        if keys.is_empty() {
            return Err(BuildError::new("keys", "list at least one key"));
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(keys.len());
        let mut names = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !names.insert(k.name.as_str()) {
                return Err(BuildError::new(
                    format!("keys[{i}].name"),
                    format!("duplicate key name {:?}", k.name),
                ));
            }
            if k.key.len() < MIN_KEY_LEN {
                return Err(BuildError::new(
                    format!("keys[{i}].key"),
                    format!(
                        "the key of {:?} is shorter than {MIN_KEY_LEN} characters (is its variable set?)",
                        k.name
                    ),
                ));
            }
            let hash = sha256(k.key.as_bytes());
            if let Some(prev) = entries.iter().position(|e| e.hash == hash) {
                return Err(BuildError::new(
                    format!("keys[{i}].key"),
                    format!("the same key as keys[{prev}]"),
                ));
            }
            entries.push(Entry {
                hash,
                identity: Identity::new(Method::ApiKey(ApiKeyIdentity {
                    name: k.name.clone(),
                    metadata: k.metadata.clone().into_iter().collect(),
                })),
            });
        }
        Ok(ApiKeyAuth {
            mode: mode.unwrap_or_default(),
            header,
            keys: entries,
        })
    }

    /// The key's header and `Authorization`.
    pub fn credential_headers(&self) -> Vec<HeaderName> {
        vec![self.header.clone(), http::header::AUTHORIZATION]
    }

    /// Checks the key in the configured header, else in `Authorization: Bearer`.
    pub fn authenticate(&self, headers: &HeaderMap) -> Verdict {
        let presented = match headers.get(&self.header) {
            Some(v) => Some(v.as_bytes()),
            None => crate::authorization(headers, "bearer").map(str::as_bytes),
        };
        let Some(presented) = presented else {
            return missing(self.mode, failure(Reason::Missing, "no API key"));
        };
        let hash = sha256(presented);
        let mut found: Option<&Identity> = None;
        for e in &self.keys {
            if bool::from(e.hash.ct_eq(&hash)) {
                found = Some(&e.identity);
            }
        }
        match found {
            Some(identity) => Verdict::Authenticated(identity.clone()),
            None => invalid(
                self.mode,
                failure(Reason::BadCredentials, "unknown API key"),
            ),
        }
    }
}

fn failure(reason: Reason, detail: &str) -> Failure {
    Failure {
        reason,
        detail: detail.to_string(),
        status: http::StatusCode::UNAUTHORIZED,
        challenge: "ApiKey".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKeyConfig;

    fn auth(mode: Mode) -> ApiKeyAuth {
        ApiKeyAuth::build(&ApiKeyAuthConfig {
            mode: Some(mode),
            header: None,
            keys: vec![
                ApiKeyConfig {
                    name: "ci".into(),
                    key: "ci-key-0123456789abcdef".into(),
                    metadata: [("team".to_string(), serde_json::json!("infra"))].into(),
                },
                ApiKeyConfig {
                    name: "ops".into(),
                    key: "ops-key-0123456789abcdef".into(),
                    metadata: Default::default(),
                },
            ],
        })
        .unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn header_and_bearer_forms() {
        let a = auth(Mode::Strict);
        let Verdict::Authenticated(id) =
            a.authenticate(&headers(&[("x-api-key", "ci-key-0123456789abcdef")]))
        else {
            panic!("header form refused")
        };
        assert_eq!(id.subject(), "ci");
        assert_eq!(id.api_key().unwrap().metadata["team"], "infra");
        let Verdict::Authenticated(id) = a.authenticate(&headers(&[(
            "authorization",
            "Bearer ops-key-0123456789abcdef",
        )])) else {
            panic!("bearer form refused")
        };
        assert_eq!(id.subject(), "ops");
    }

    #[test]
    fn wrong_missing_and_modes() {
        let a = auth(Mode::Strict);
        for h in [
            headers(&[("x-api-key", "ci-key-0123456789abcdeX")]),
            headers(&[("x-api-key", "")]),
            headers(&[("authorization", "Basic Y2k6eA==")]),
        ] {
            assert!(matches!(a.authenticate(&h), Verdict::Rejected(_)), "{h:?}");
        }
        match a.authenticate(&HeaderMap::new()) {
            Verdict::Rejected(f) => assert_eq!(f.reason, Reason::Missing),
            v => panic!("{v:?}"),
        }
        let opt = auth(Mode::Optional);
        assert!(matches!(
            opt.authenticate(&HeaderMap::new()),
            Verdict::Anonymous(None)
        ));
        assert!(matches!(
            opt.authenticate(&headers(&[("x-api-key", "nope-nope-nope-nope")])),
            Verdict::Rejected(_)
        ));
        let perm = auth(Mode::Permissive);
        assert!(matches!(
            perm.authenticate(&headers(&[("x-api-key", "nope-nope-nope-nope")])),
            Verdict::Anonymous(Some(_))
        ));
    }

    #[test]
    fn build_errors_name_the_key() {
        let short = ApiKeyAuthConfig {
            keys: vec![ApiKeyConfig {
                name: "x".into(),
                key: "short".into(),
                metadata: Default::default(),
            }],
            ..Default::default()
        };
        assert_eq!(ApiKeyAuth::build(&short).unwrap_err().at, "keys[0].key");
        let empty = ApiKeyAuthConfig::default();
        assert_eq!(ApiKeyAuth::build(&empty).unwrap_err().at, "keys");
        let bad_header = ApiKeyAuthConfig {
            header: Some("bad header".into()),
            ..Default::default()
        };
        assert_eq!(ApiKeyAuth::build(&bad_header).unwrap_err().at, "header");
    }

    #[test]
    fn debug_never_prints_keys() {
        let a = auth(Mode::Strict);
        let printed = format!("{a:?}");
        assert!(!printed.contains("0123456789"), "{printed}");
    }
}
