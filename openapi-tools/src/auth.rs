//! Credentials from config applied per the document's `security` requirements.
//!
//! Credentials never appear as tool parameters or in descriptions. For each call the first
//! `security` alternative whose schemes all have a matching credential is used; when none is
//! satisfiable the request goes out without auth and the API's 401/403 reaches the model.
//! OAuth2 client-credentials tokens are fetched on first use, cached, and refreshed 30 s before
//! they expire.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::sync::Mutex;

use crate::config::Credential;
use crate::model::{ApiModel, Location, Operation, SecurityScheme};
use crate::request::Extra;

#[derive(Debug, Clone)]
struct CachedToken {
    token: String,
    expires: Instant,
}

/// Applies credentials; owns the OAuth2 token cache.
#[derive(Debug)]
pub struct Authenticator {
    credentials: BTreeMap<String, Credential>,
    tokens: Mutex<BTreeMap<String, CachedToken>>,
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
        // One lock for fetch + store: concurrent first calls share one token request.
        let mut cache = self.tokens.lock().await;
        if let Some(t) = cache.get(scheme) {
            if t.expires > Instant::now() {
                return Ok(t.token.clone());
            }
        }
        let raw = token_url.as_deref().unwrap_or(doc_token_url);
        // A relative tokenUrl is relative to the API's base URL.
        let url = base
            .join(raw)
            .map_err(|e| format!("bad tokenUrl {raw:?}: {e}"))?;
        let url = url.as_str();
        let scope_list = if scopes.is_empty() {
            op_scopes
        } else {
            scopes.as_slice()
        };
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !scope_list.is_empty() {
            form.push(("scope", scope_list.join(" ")));
        }
        let resp = client
            .post(url)
            .basic_auth(client_id, Some(client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("OAuth2 token request to {url} failed: {e}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| format!("OAuth2 token response from {url} is not JSON: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "OAuth2 token request to {url} returned {status}: {body}"
            ));
        }
        let token = body
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| format!("OAuth2 token response from {url} has no access_token"))?
            .to_string();
        let ttl = body
            .get("expires_in")
            .and_then(|e| e.as_u64())
            .unwrap_or(3600);
        let expires = Instant::now() + Duration::from_secs(ttl.saturating_sub(30));
        cache.insert(
            scheme.to_string(),
            CachedToken {
                token: token.clone(),
                expires,
            },
        );
        Ok(token)
    }
}
