//! `mcpAuthentication`: an MCP route as an OAuth 2.1 resource server, as the MCP authorization
//! spec (2025-11-25) asks.
//!
//! - Its RFC 9728 protected resource metadata ([`ProtectedResource`]) names the route's
//!   configured public URL as `resource` (never one guessed from the request: behind a TLS
//!   terminator the gateway sees `http` while clients use `https`), the authorization servers,
//!   the scopes and `bearer_methods_supported: ["header"]`. The gateway serves it at
//!   `/.well-known/oauth-protected-resource` + the resource's path.
//! - A request without a token gets `401` with `WWW-Authenticate: Bearer
//!   resource_metadata="…", scope="…"`, from which a client discovers everything else; an
//!   invalid one adds `error="invalid_token"`; a valid one that lacks a required scope gets
//!   `403` with `error="insufficient_scope"` (the client may step up).
//! - Tokens are JWTs checked exactly as `jwtAuth` checks them (the same verifier), with the
//!   audience bound to the resource (RFC 8707): `aud` must contain `resource` (or one of the
//!   extra `audiences`). Only `Authorization: Bearer` is read, never the query string.

use std::path::Path;

use http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::config::{JwtAuthConfig, McpAuthenticationConfig, Mode};
use crate::failure::{quote, Failure, Reason};
use crate::identity::Identity;
use crate::jwt::{check_url, description, JwtAuth};
use crate::{BuildError, Verdict};

/// The well-known path prefix of RFC 9728 metadata.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The built `mcpAuthentication` policy.
#[derive(Debug)]
pub struct McpAuth {
    jwt: JwtAuth,
    /// Scopes every token must carry.
    required: Vec<String>,
    /// `resource_metadata="…"`, with `, scope="…"` when scopes are required.
    discovery_params: String,
    /// `scope="…"` of the required scopes, empty when none.
    scope_param: String,
    metadata: ProtectedResource,
}

/// The RFC 9728 document of one resource and where it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    /// The configured `resource`.
    pub resource: String,
    /// The path-inserted well-known path on this gateway:
    /// `/.well-known/oauth-protected-resource/mcp` for the resource `https://gw/mcp`.
    pub path: String,
    /// The absolute URL of the document, as the `401` challenge names it.
    pub url: String,
    /// The JSON document.
    pub document: String,
}

impl McpAuth {
    /// Builds the policy, reading a JWKS file relative to `base_dir`. Errors name the key under
    /// the policy (`authorizationServers[1]`, `jwks.url`).
    pub fn build(config: &McpAuthenticationConfig, base_dir: &Path) -> Result<Self, BuildError> {
        let McpAuthenticationConfig {
            resource,
            authorization_servers,
            scopes,
            scopes_supported,
            issuer,
            audiences,
            jwks,
            leeway,
        } = config;
        let (origin, path) =
            split_resource(resource).map_err(|e| BuildError::new("resource", e))?;
        if authorization_servers.is_empty() {
            return Err(BuildError::new(
                "authorizationServers",
                "list at least one authorization server (its issuer URL)",
            ));
        }
        for (i, s) in authorization_servers.iter().enumerate() {
            check_url(s).map_err(|e| BuildError::new(format!("authorizationServers[{i}]"), e))?;
        }
        for (key, list) in [("scopes", scopes), ("scopesSupported", scopes_supported)] {
            for (i, s) in list.iter().enumerate() {
                if !is_scope_token(s) {
                    return Err(BuildError::new(
                        format!("{key}[{i}]"),
                        format!(
                            "{s:?} is not a scope (printable ASCII, no space, quote or backslash)"
                        ),
                    ));
                }
            }
        }
        let issuer =
            match (issuer, authorization_servers.as_slice()) {
                (Some(i), _) => i.clone(),
                (None, [only]) => only.clone(),
                (None, _) => return Err(BuildError::new(
                    "issuer",
                    "with several authorizationServers, name the issuer whose tokens are accepted",
                )),
            };
        if audiences.iter().any(String::is_empty) {
            return Err(BuildError::new("audiences", "empty audience"));
        }
        let mut accepted = vec![resource.clone()];
        accepted.extend(audiences.iter().filter(|a| *a != resource).cloned());
        let jwt = JwtAuth::build(
            &JwtAuthConfig {
                mode: Some(Mode::Strict),
                issuer: Some(issuer),
                audiences: accepted,
                jwks: Some(jwks.clone()),
                providers: Vec::new(),
                leeway: *leeway,
                realm: None,
            },
            base_dir,
        )?;

        let path = format!("{WELL_KNOWN}{}", if path == "/" { "" } else { path });
        let url = format!("{origin}{path}");
        let mut supported: Vec<String> = scopes.clone();
        for s in scopes_supported {
            if !supported.contains(s) {
                supported.push(s.clone());
            }
        }
        let metadata = ProtectedResource {
            resource: resource.clone(),
            document: metadata_document(resource, authorization_servers, &supported),
            path,
            url,
        };
        let scope_param = if scopes.is_empty() {
            String::new()
        } else {
            format!("scope={}", quote(&scopes.join(" ")))
        };
        let mut discovery_params = format!("resource_metadata={}", quote(&metadata.url));
        if !scope_param.is_empty() {
            discovery_params = format!("{discovery_params}, {scope_param}");
        }
        Ok(McpAuth {
            jwt,
            required: scopes.clone(),
            discovery_params,
            scope_param,
            metadata,
        })
    }

    /// The metadata document and where it is served.
    pub fn metadata(&self) -> &ProtectedResource {
        &self.metadata
    }

    /// Starts fetching the JWKS URL (see [`crate::Authenticator::start`]).
    pub fn start(&self) {
        self.jwt.start();
    }

    /// Checks the bearer token of a request. There is no anonymous mode: the MCP spec makes a
    /// protected server answer every request without a valid token with the discovery `401`.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Verdict {
        let Some(token) = crate::authorization(headers, "bearer") else {
            return Verdict::Rejected(self.missing());
        };
        let identity = match self.jwt.verify(token).await {
            Ok(identity) => identity,
            Err((reason, detail)) => return Verdict::Rejected(self.invalid(reason, detail)),
        };
        match self.missing_scopes(&identity) {
            None => Verdict::Authenticated(identity),
            Some(lacking) => Verdict::Rejected(self.insufficient(&lacking)),
        }
    }

    /// The `401` of a request without a token: where the metadata is, and what to ask for.
    pub fn missing(&self) -> Failure {
        Failure {
            reason: Reason::Missing,
            detail: "no bearer token".into(),
            status: StatusCode::UNAUTHORIZED,
            challenge: format!("Bearer {}", self.discovery_params),
        }
    }

    fn invalid(&self, reason: Reason, detail: String) -> Failure {
        let status = match reason {
            Reason::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        Failure {
            reason,
            detail,
            status,
            challenge: format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\", {}",
                description(reason),
                self.discovery_params
            ),
        }
    }

    fn insufficient(&self, lacking: &[&str]) -> Failure {
        Failure {
            reason: Reason::InsufficientScope,
            detail: format!("the token lacks the scopes {}", lacking.join(" ")),
            status: StatusCode::FORBIDDEN,
            challenge: format!(
                "Bearer error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", {}, resource_metadata={}",
                self.scope_param,
                quote(&self.metadata.url)
            ),
        }
    }

    /// The required scopes the token does not carry, `None` when it has them all.
    fn missing_scopes(&self, identity: &Identity) -> Option<Vec<&str>> {
        if self.required.is_empty() {
            return None;
        }
        let granted = identity
            .jwt()
            .map(|j| token_scopes(&j.claims))
            .unwrap_or_default();
        let lacking: Vec<&str> = self
            .required
            .iter()
            .filter(|r| !granted.iter().any(|g| g == *r))
            .map(String::as_str)
            .collect();
        (!lacking.is_empty()).then_some(lacking)
    }
}

/// The scopes a token was granted: its `scope` claim (space-separated, RFC 9068 / RFC 8693),
/// or else `scp` (a list or a string, as some providers write it).
fn token_scopes(claims: &serde_json::Value) -> Vec<String> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(serde_json::Value::String(s)) => words(s),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str())
            .flat_map(words)
            .collect(),
        _ => Vec::new(),
    }
}

/// The RFC 9728 document.
fn metadata_document(resource: &str, servers: &[String], scopes: &[String]) -> String {
    let mut doc = json!({
        "resource": resource,
        "authorization_servers": servers,
        "bearer_methods_supported": ["header"],
    });
    if !scopes.is_empty() {
        doc["scopes_supported"] = json!(scopes);
    }
    doc.to_string()
}

/// Checks the configured resource URL and splits it into its origin (`https://gw:8443`) and
/// path (`/mcp`, `/` when it has none).
fn split_resource(resource: &str) -> Result<(String, &str), String> {
    check_url(resource)?;
    if resource.contains('#') {
        return Err(format!(
            "{resource:?}: a resource URL has no fragment (RFC 8707)"
        ));
    }
    let uri: http::Uri = resource
        .parse()
        .map_err(|e| format!("invalid URL {resource:?}: {e}"))?;
    if uri.query().is_some() {
        return Err(format!(
            "{resource:?}: write the resource URL without a query"
        ));
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    if authority.contains('@') {
        return Err(format!("{resource:?}: a resource URL has no user info"));
    }
    let scheme = uri.scheme_str().unwrap_or("https");
    // The path as written (`Uri` reports `/` for none).
    let start = scheme.len() + 3 + authority.len();
    let path = resource
        .get(start..)
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    Ok((format!("{scheme}://{authority}"), path))
}

/// RFC 6749 `scope-token`: `%x21 / %x23-5B / %x5D-7E`, at least one.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests;
