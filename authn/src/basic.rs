//! `basicAuth`: `Authorization: Basic` checked against an htpasswd file.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use http::HeaderMap;

use crate::config::{BasicAuthConfig, Mode};
use crate::failure::{quote, Failure, Reason};
use crate::htpasswd::Htpasswd;
use crate::identity::{BasicIdentity, Identity, Method};
use crate::{invalid, missing, BuildError, Verdict};

/// The built `basicAuth` policy.
#[derive(Debug)]
pub struct BasicAuth {
    mode: Mode,
    users: Arc<Htpasswd>,
    challenge: String,
}

impl BasicAuth {
    /// Reads the htpasswd file (relative to `base_dir`); errors are at `htpasswd` and name
    /// the file and line.
    pub fn build(config: &BasicAuthConfig, base_dir: &Path) -> Result<Self, BuildError> {
        let BasicAuthConfig {
            mode,
            htpasswd,
            realm,
        } = config;
        let path = base_dir.join(htpasswd);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            BuildError::new("htpasswd", format!("cannot read {}: {e}", path.display()))
        })?;
        let users = Htpasswd::parse(&text)
            .map_err(|e| BuildError::new("htpasswd", format!("{}: {e}", path.display())))?;
        let realm = realm.as_deref().unwrap_or("switchboard");
        Ok(BasicAuth {
            mode: mode.unwrap_or_default(),
            users: Arc::new(users),
            challenge: format!("Basic realm={}, charset=\"UTF-8\"", quote(realm)),
        })
    }

    /// Checks `Authorization: Basic`. bcrypt entries are verified on tokio's blocking pool,
    /// not on the event loop that serves other requests.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Verdict {
        let Some(encoded) = crate::authorization(headers, "basic") else {
            return missing(
                self.mode,
                self.failure(Reason::Missing, "no basic credentials"),
            );
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return invalid(
                self.mode,
                self.failure(Reason::Malformed, "malformed basic credentials"),
            );
        };
        let ok = match self.users.get(user) {
            None => false,
            Some(hash) if hash.is_slow() => {
                let (hash, password) = (hash.clone(), password.as_bytes().to_vec());
                tokio::task::spawn_blocking(move || hash.verify(&password))
                    .await
                    .unwrap_or(false)
            }
            Some(hash) => hash.verify(password.as_bytes()),
        };
        if ok {
            Verdict::Authenticated(Identity::new(Method::Basic(BasicIdentity {
                username: user.to_string(),
            })))
        } else {
            invalid(
                self.mode,
                self.failure(
                    Reason::BadCredentials,
                    &format!("wrong user name or password (user {user:?})"),
                ),
            )
        }
    }

    fn failure(&self, reason: Reason, detail: &str) -> Failure {
        Failure {
            reason,
            detail: detail.to_string(),
            status: http::StatusCode::UNAUTHORIZED,
            challenge: self.challenge.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pw: &str) -> HeaderMap {
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Basic {v}").parse().unwrap());
        h
    }

    #[tokio::test]
    async fn users_realm_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(
            dir.path().join("users"),
            format!("alice:{hash}\nbob:$apr1$saltsalt$5MCuaE4VxZK/CDugVarlJ.\n"),
        )
        .unwrap();
        let config = BasicAuthConfig {
            htpasswd: "users".into(),
            realm: Some("in\"ternal".into()),
            ..Default::default()
        };
        let a = BasicAuth::build(&config, dir.path()).unwrap();
        match a.authenticate(&basic("alice", "pw")).await {
            Verdict::Authenticated(id) => assert_eq!(id.subject(), "alice"),
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            a.authenticate(&basic("bob", "secret1")).await,
            Verdict::Authenticated(_)
        ));
        for h in [basic("alice", "PW"), basic("eve", "pw"), basic("bob", "")] {
            match a.authenticate(&h).await {
                Verdict::Rejected(f) => {
                    assert_eq!(f.reason, Reason::BadCredentials);
                    assert_eq!(f.challenge, r#"Basic realm="in\"ternal", charset="UTF-8""#);
                }
                v => panic!("{v:?}"),
            }
        }
        let mut garbage = HeaderMap::new();
        garbage.insert("authorization", "Basic !!!".parse().unwrap());
        assert!(matches!(
            a.authenticate(&garbage).await,
            Verdict::Rejected(Failure {
                reason: Reason::Malformed,
                ..
            })
        ));

        std::fs::write(dir.path().join("bad"), "alice:x\n").unwrap();
        let err = BasicAuth::build(
            &BasicAuthConfig {
                htpasswd: "bad".into(),
                ..Default::default()
            },
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(err.at, "htpasswd");
        assert!(err.message.contains("line 1"), "{}", err.message);
        let missing = BasicAuth::build(
            &BasicAuthConfig {
                htpasswd: "nope".into(),
                ..Default::default()
            },
            dir.path(),
        )
        .unwrap_err();
        assert!(
            missing.message.contains("cannot read"),
            "{}",
            missing.message
        );
    }
}
