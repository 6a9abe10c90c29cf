//! The `jwtAuth`, `apiKeyAuth` and `basicAuth` policies as written in the config file
//! (camelCase keys, unknown keys rejected, JSON Schema derived).
//!
//! ```yaml
//! jwtAuth:
//!   mode: strict                      # strict (default) | optional | permissive
//!   issuer: https://idp.example.com   # one provider written inline...
//!   audiences: [switchboard]
//!   jwks: { url: https://idp.example.com/jwks.json }   # or { file: ./jwks.json }
//!   providers: [...]                  # ...or several, chosen by the token's `iss`
//! apiKeyAuth:
//!   keys: [{ name: ci, key: "${CI_KEY}", metadata: { team: infra } }]
//! basicAuth: { htpasswd: ./users.htpasswd, realm: internal }
//! mcpAuthentication:                  # an MCP route as an OAuth 2.1 resource server
//!   resource: https://gw.example.com/mcp
//!   authorizationServers: [https://idp.example.com]
//!   scopes: [mcp:tools]
//!   jwks: { url: https://idp.example.com/jwks }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use netkit::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a policy does with a request that has no credential, or an invalid one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// A valid credential is required (default).
    #[default]
    Strict,
    /// No credential: the request goes on anonymous. A credential that is present must be
    /// valid.
    Optional,
    /// No credential or an invalid one: the request goes on anonymous (an invalid one is
    /// logged and counted).
    Permissive,
}

/// `jwtAuth`: bearer JWTs in `Authorization`. Write one provider inline (`issuer`,
/// `audiences`, `jwks`) or several under `providers`, not both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtAuthConfig {
    /// `strict` (default), `optional` or `permissive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The one provider's issuer: the token's `iss` must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The one provider's accepted audiences: the token's `aud` must name one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// The one provider's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksConfig>,
    /// Several providers; a token is checked by the one whose `issuer` is its `iss`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<JwtProviderConfig>,
    /// Clock skew allowed on `exp` and `nbf`. Default `30s`, at most `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<Duration>,
    /// The `realm` of the `WWW-Authenticate` challenge. Default `switchboard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

/// `mcpAuthentication`: the route is an OAuth 2.1 protected resource as the MCP authorization
/// spec (2025-11-25) describes it. Its RFC 9728 metadata is served at
/// `/.well-known/oauth-protected-resource` + the path of `resource`; requests need
/// `Authorization: Bearer <JWT>` issued by `issuer` for `resource` (RFC 8707 audience) and
/// carrying every scope of `scopes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpAuthenticationConfig {
    /// The route's public URL, as clients reach it (`https://gw.example.com/mcp`; `http://`
    /// only on a loopback address). It is the `resource` of the metadata, the audience every
    /// token must carry, and where the metadata URL is built from. Never guessed from the
    /// request.
    pub resource: String,
    /// The issuers of the authorization servers clients get tokens from (RFC 8414 / OIDC
    /// discovery is done from these). At least one.
    pub authorization_servers: Vec<String>,
    /// Scopes every request's token must carry (all of them); also the `scope` of the `401`
    /// and `403` challenges and listed in `scopes_supported`. Default: none required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// More scopes to list in `scopes_supported`, not required.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// The token's `iss` must equal this. Default: the authorization server, when exactly one
    /// is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Audiences accepted besides `resource` (which is always accepted): for tokens issued
    /// for an older name of the gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// The issuer's keys, as in `jwtAuth`.
    pub jwks: JwksConfig,
    /// Clock skew allowed on `exp` and `nbf`. Default `30s`, at most `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<Duration>,
}

/// One JWT issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtProviderConfig {
    /// The token's `iss` must equal this.
    pub issuer: String,
    /// The token's `aud` must name one of these. At least one.
    pub audiences: Vec<String>,
    /// Where the issuer's public keys are.
    pub jwks: JwksConfig,
}

/// A JSON Web Key Set: exactly one of `file` or `url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwksConfig {
    /// A JWKS file, read when the config is loaded; relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A JWKS URL (`https://`, or `http://` on loopback), fetched at start, refreshed every
    /// `refreshInterval`, and fetched again (at most every 10 s) when a token names an unknown
    /// `kid`. The last good keys are kept while it cannot be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How often `url` is fetched again. Default `5m`, at least `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<Duration>,
}

/// `apiKeyAuth`: keys in a header (default `x-api-key`) or as `Authorization: Bearer <key>`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyAuthConfig {
    /// `strict` (default), `optional` or `permissive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The header the key is read from. Default `x-api-key`. `Authorization: Bearer <key>` is
    /// accepted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The accepted keys. At least one.
    pub keys: Vec<ApiKeyConfig>,
}

/// One API key.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who holds the key (logs, rules). Unique.
    pub name: String,
    /// The key; write `${VAR}` to take it from the environment. At least 16 characters.
    pub key: String,
    /// Anything rules should know about the holder.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// `basicAuth`: users of an htpasswd file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// `strict` (default), `optional` or `permissive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The htpasswd file (bcrypt `$2y$`/`$2b$`/`$2a$`, `$apr1$` or `{SHA}` entries), read when
    /// the config is loaded; relative to the config file.
    pub htpasswd: String,
    /// The `realm` of the `WWW-Authenticate` challenge. Default `switchboard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

impl fmt::Debug for ApiKeyAuthConfig {
    /// Keys are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthConfig")
            .field("mode", &self.mode)
            .field("header", &self.header)
            .field("keys", &self.keys)
            .finish()
    }
}

impl fmt::Debug for ApiKeyConfig {
    /// The key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("name", &self.name)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}
