//! Credentials from config applied per the document's `security` requirements.
//!
//! Credentials never appear as tool parameters or in descriptions. For each call the first
//! `security` alternative whose schemes all have a matching credential is used; when none is
//! satisfiable the request goes out without auth and the API's 401/403 reaches the model.
//! OAuth2 client-credentials tokens are fetched on first use, cached, and refreshed shortly
//! before they expire (by the `backend-auth` crate, which `backendAuth` uses too).

use std::collections::BTreeMap;
use std::sync::Mutex;

use backend_auth::{BackendAuth, BackendAuthConfig, ClientAuth, OAuth2Config};
use base64::Engine;

use crate::config::Credential;
use crate::model::{ApiModel, Location, Operation, SecurityScheme};
use crate::request::Extra;

/// Applies credentials; owns the OAuth2 token cache.
#[derive(Debug)]
pub struct Authenticator {
    credentials: BTreeMap<String, Credential>,
    /// Token sources by (scheme, space-separated scopes).
    tokens: Mutex<BTreeMap<(String, String), BackendAuth>>,
}

impl Authenticator {
    pub fn new(credentials: BTreeMap<String, Credential>) -> Self {
        Authenticator {
            credentials,
            tokens: Mutex::new(BTreeMap::new()),
        }
    }

    fn satisfies(&self, scheme: &SecurityScheme, cred: &Credential) -> bool {
        matches!(
            (scheme, cred),
            (SecurityScheme::ApiKey { .. }, Credential::ApiKey { .. })
                | (SecurityScheme::Bearer, Credential::Bearer { .. })
                | (SecurityScheme::Basic, Credential::Basic { .. })
                | (
                    SecurityScheme::OAuth2ClientCredentials { .. },
                    Credential::OAuth2 { .. }
                )
                | (SecurityScheme::Bearer, Credential::OAuth2 { .. })
        )
    }

    /// Request parts for `op`'s security. Errors (token endpoint failures) go to the model.
    pub async fn apply(
        &self,
        model: &ApiModel,
        op: &Operation,
        client: &reqwest::Client,
        base: &url::Url,
    ) -> Result<Extra, String> {
        let reqs = op.security.as_ref().unwrap_or(&model.security);
        let mut extra = Extra::default();
        let chosen = reqs.iter().find(|req| {
            req.keys().all(|name| {
                match (model.security_schemes.get(name), self.credentials.get(name)) {
                    (Some(s), Some(c)) => self.satisfies(s, c),
                    _ => false,
                }
            })
        });
        let Some(req) = chosen else { return Ok(extra) };
        for (name, scopes) in req {
            let (Some(scheme), Some(cred)) =
                (model.security_schemes.get(name), self.credentials.get(name))
            else {
                continue;
            };
            match (scheme, cred) {
                (
                    SecurityScheme::ApiKey {
                        name: key,
                        location,
                    },
                    Credential::ApiKey { api_key },
                ) => {
                    let pair = (key.clone(), api_key.clone());
                    match location {
                        Location::Header => extra.headers.push(pair),
                        Location::Query => extra.query.push(pair),
                        Location::Cookie => extra.cookies.push(pair),
                        Location::Path => {}
                    }
                }
                (SecurityScheme::Bearer, Credential::Bearer { token }) => {
                    extra
                        .headers
                        .push(("authorization".into(), format!("Bearer {token}")));
                }
                (SecurityScheme::Basic, Credential::Basic { username, password }) => {
                    let raw = format!("{username}:{password}");
                    let enc = base64::engine::general_purpose::STANDARD.encode(raw);
                    extra
                        .headers
                        .push(("authorization".into(), format!("Basic {enc}")));
                }
                (
                    SecurityScheme::OAuth2ClientCredentials { token_url },
                    Credential::OAuth2 { .. },
                ) => {
                    let token = self
                        .oauth_token(name, token_url, cred, scopes, client, base)
                        .await?;
                    extra
                        .headers
                        .push(("authorization".into(), format!("Bearer {token}")));
                }
                _ => {}
            }
        }
        Ok(extra)
    }

    /// A client-credentials token for `scheme` with the operation's scopes (unless the
    /// credential names its own). One token source per scheme and scope set, so an operation
    /// never gets a token fetched for other scopes; `backend-auth` caches, shares and
    /// refreshes it.
    async fn oauth_token(
        &self,
        scheme: &str,
        doc_token_url: &str,
        cred: &Credential,
        op_scopes: &[String],
        client: &reqwest::Client,
        base: &url::Url,
    ) -> Result<String, String> {
        let Credential::OAuth2 {
            client_id,
            client_secret,
            scopes,
            token_url,
        } = cred
        else {
            return Err("not an OAuth2 credential".into());
        };
        let scopes = if scopes.is_empty() {
            op_scopes
        } else {
            scopes.as_slice()
        };
        let key = (scheme.to_owned(), scopes.join(" "));
        let source = {
            let mut sources = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            match sources.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let raw = token_url.as_deref().unwrap_or(doc_token_url);
                    // A relative tokenUrl is relative to the API's base URL.
                    let url = base
                        .join(raw)
                        .map_err(|e| format!("bad tokenUrl {raw:?}: {e}"))?;
                    let config = BackendAuthConfig::OAuth2(OAuth2Config {
                        token_url: url.to_string(),
                        client_id: client_id.clone(),
                        client_secret: client_secret.clone(),
                        scopes: scopes.to_vec(),
                        audience: None,
                        resource: None,
                        client_auth: ClientAuth::Basic,
                    });
                    let client = client.clone();
                    let source = BackendAuth::new(&config, "", move || Ok(client))
                        .map_err(|e| e.to_string())?;
                    sources.insert(key, source.clone());
                    source
                }
            }
        };
        let credential = source.credential().await.map_err(|e| e.to_string())?;
        credential
            .value
            .to_str()
            .map(|v| v.trim_start_matches("Bearer ").to_owned())
            .map_err(|_| "the access token is not text".to_owned())
    }
}
