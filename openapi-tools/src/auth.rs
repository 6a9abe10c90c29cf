//! Credentials from config applied per the document's `security` requirements.
//!
//! Credentials never appear as tool parameters or in descriptions. For each call the first
//! `security` alternative whose schemes all have a matching credential is used; when none is
//! satisfiable the request goes out without auth and the API's 401/403 reaches the model.
//! OAuth2 client-credentials tokens are fetched on first use, cached, and refreshed shortly
//! before they expire (by the `backend-auth` crate, which `backendAuth` uses too).
//!
//! Which credential fits which scheme ([`fits`]):
//!
//! | scheme | credential |
//! |---|---|
//! | `apiKey` | `{ apiKey }` |
//! | `http: basic` | `{ username, password }` |
//! | `http: bearer` | `{ token }`, or `{ clientId, clientSecret, tokenUrl }` |
//! | `oauth2` with a `clientCredentials` flow | `{ clientId, clientSecret }` (the flow's `tokenUrl` unless the credential names one), or `{ token }` |
//! | `oauth2` with other flows only (implicit, authorization code, password), `openIdConnect` | `{ token }`, or `{ clientId, clientSecret, tokenUrl }` |
//!
//! A `{ token }` is sent as `Authorization: Bearer <token>`: for `oauth2` and `openIdConnect`
//! the gateway cannot run a flow that needs a user, so the operator supplies the token. A
//! credential that names no scheme of the document, or whose shape fits none of the above for
//! its scheme, is a load error ([`check`]) rather than a credential silently never sent.

use std::collections::BTreeMap;
use std::sync::Mutex;

use backend_auth::{BackendAuth, BackendAuthConfig, ClientAuth, OAuth2Config};
use base64::Engine;

use crate::config::Credential;
use crate::error::{Error, Result as LoadResult};
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
                    (Some(s), Some(c)) => fits(s, c).is_ok(),
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
                (SecurityScheme::Basic, Credential::Basic { username, password }) => {
                    let raw = format!("{username}:{password}");
                    let enc = base64::engine::general_purpose::STANDARD.encode(raw);
                    extra
                        .headers
                        .push(("authorization".into(), format!("Basic {enc}")));
                }
                // `fits` allowed a token only for bearer, oauth2 and openIdConnect schemes.
                (_, Credential::Bearer { token }) => {
                    extra
                        .headers
                        .push(("authorization".into(), format!("Bearer {token}")));
                }
                (_, Credential::OAuth2 { .. }) => {
                    let doc_token_url = match scheme {
                        SecurityScheme::OAuth2ClientCredentials { token_url } => Some(token_url),
                        _ => None,
                    };
                    let token = self
                        .oauth_token(name, doc_token_url, cred, scopes, client, base)
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
        doc_token_url: Option<&String>,
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
                    let raw = token_url
                        .as_ref()
                        .or(doc_token_url)
                        .ok_or("the credential has no tokenUrl")?;
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

/// Checks every configured credential against the document's security schemes: each must name
/// a scheme of the document and fit it ([`fits`]). The error names the first credential that
/// does not, and why.
pub fn check(
    schemes: &BTreeMap<String, SecurityScheme>,
    credentials: &BTreeMap<String, Credential>,
) -> LoadResult<()> {
    for (name, cred) in credentials {
        let message = match schemes.get(name) {
            Some(scheme) => match fits(scheme, cred) {
                Ok(()) => continue,
                Err(why) => why,
            },
            None if schemes.is_empty() => {
                "the document defines no security schemes, so it is never sent".to_string()
            }
            None => format!(
                "the document has no security scheme named {name:?}, so it is never sent \
                 (its schemes: {})",
                schemes.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        return Err(Error::Credential {
            name: name.clone(),
            message,
        });
    }
    Ok(())
}

/// Whether `cred` can satisfy `scheme` (see the module docs); `Err` says why not and what
/// would.
pub fn fits(scheme: &SecurityScheme, cred: &Credential) -> Result<(), String> {
    let has_token_url = matches!(
        cred,
        Credential::OAuth2 {
            token_url: Some(_),
            ..
        }
    );
    let ok = match (scheme, cred) {
        (SecurityScheme::ApiKey { .. }, Credential::ApiKey { .. })
        | (SecurityScheme::Basic, Credential::Basic { .. })
        | (SecurityScheme::OAuth2ClientCredentials { .. }, Credential::OAuth2 { .. }) => true,
        (
            SecurityScheme::Bearer
            | SecurityScheme::OAuth2ClientCredentials { .. }
            | SecurityScheme::OAuth2 { .. }
            | SecurityScheme::OpenIdConnect,
            Credential::Bearer { .. },
        ) => true,
        (
            SecurityScheme::Bearer | SecurityScheme::OAuth2 { .. } | SecurityScheme::OpenIdConnect,
            Credential::OAuth2 { .. },
        ) => has_token_url,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let given = match cred {
        Credential::ApiKey { .. } => "an { apiKey } credential",
        Credential::Bearer { .. } => "a { token } credential",
        Credential::Basic { .. } => "a { username, password } credential",
        Credential::OAuth2 { .. } => "a { clientId, clientSecret } credential",
    };
    let wanted = match scheme {
        SecurityScheme::ApiKey { .. } => "an apiKey scheme, which takes { apiKey }".to_string(),
        SecurityScheme::Basic => {
            "an http basic scheme, which takes { username, password }".to_string()
        }
        SecurityScheme::Bearer => "an http bearer scheme, which takes { token } (or { clientId, \
             clientSecret, tokenUrl } to fetch client-credentials tokens)"
            .to_string(),
        SecurityScheme::OAuth2ClientCredentials { .. } => {
            "an oauth2 scheme, which takes { clientId, clientSecret } or { token }".to_string()
        }
        SecurityScheme::OAuth2 { flows } => format!(
            "an oauth2 scheme without a clientCredentials flow (flows: {}), which takes \
             {{ token }} with a token obtained elsewhere, sent as a bearer token (or {{ clientId, \
             clientSecret, tokenUrl }} naming a token endpoint that grants client credentials)",
            if flows.is_empty() {
                "none".to_string()
            } else {
                flows.join(", ")
            }
        ),
        SecurityScheme::OpenIdConnect => "an openIdConnect scheme, which takes { token } with a \
             token obtained elsewhere, sent as a bearer token (or { clientId, clientSecret, \
             tokenUrl })"
            .to_string(),
        SecurityScheme::Unsupported(what) => {
            format!("a scheme openapi-tools cannot send ({what}), so no credential fits it")
        }
    };
    Err(format!(
        "{given} does not fit: the document's scheme is {wanted}"
    ))
}
