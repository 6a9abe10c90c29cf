//! The caller, as every phase after authentication sees it.

use std::sync::Arc;

/// The authenticated caller of a request. Cheap to clone (one reference count): it is attached
/// to every authenticated request and read by later phases and the MCP layer (which finds it
/// in the request's extensions).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity(Arc<Method>);

/// How the caller proved who it is, with what the credential says.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `jwtAuth`: a verified JWT.
    Jwt(JwtIdentity),
    /// `apiKeyAuth`: a configured key.
    ApiKey(ApiKeyIdentity),
    /// `basicAuth`: a user of the htpasswd file.
    Basic(BasicIdentity),
}

/// A verified JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtIdentity {
    /// The `iss` claim (the provider that verified it).
    pub issuer: String,
    /// The `sub` claim, when the token has one.
    pub subject: Option<String>,
    /// Every claim of the token, as JSON. The raw token is not kept.
    pub claims: serde_json::Value,
}

/// A configured API key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyIdentity {
    /// The key's `name`.
    pub name: String,
    /// The key's `metadata`, a JSON object.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// An htpasswd user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicIdentity {
    /// The user name.
    pub username: String,
}

impl Identity {
    /// Wraps a method's identity.
    pub fn new(method: Method) -> Self {
        Identity(Arc::new(method))
    }

    /// How the caller authenticated.
    pub fn method(&self) -> &Method {
        &self.0
    }

    /// Who the caller is, for logs: the JWT's `sub` (its issuer when it has none), the API
    /// key's name, or the user name.
    pub fn subject(&self) -> &str {
        match &*self.0 {
            Method::Jwt(j) => j.subject.as_deref().unwrap_or(&j.issuer),
            Method::ApiKey(k) => &k.name,
            Method::Basic(b) => &b.username,
        }
    }

    /// The method's name: `jwt`, `apiKey` or `basic`.
    pub fn method_name(&self) -> &'static str {
        match &*self.0 {
            Method::Jwt(_) => "jwt",
            Method::ApiKey(_) => "apiKey",
            Method::Basic(_) => "basic",
        }
    }

    /// The JWT, when the caller used one.
    pub fn jwt(&self) -> Option<&JwtIdentity> {
        match &*self.0 {
            Method::Jwt(j) => Some(j),
            _ => None,
        }
    }

    /// The API key, when the caller used one.
    pub fn api_key(&self) -> Option<&ApiKeyIdentity> {
        match &*self.0 {
            Method::ApiKey(k) => Some(k),
            _ => None,
        }
    }

    /// The htpasswd user, when the caller used basic authentication.
    pub fn basic(&self) -> Option<&BasicIdentity> {
        match &*self.0 {
            Method::Basic(b) => Some(b),
            _ => None,
        }
    }
}
