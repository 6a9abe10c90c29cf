//! The internal model every document version is converted into.
//!
//! Swagger 2.0, OpenAPI 3.0 and 3.1 differ in where things live (`definitions` vs `components`,
//! `in: body` vs `requestBody`, `host`+`basePath` vs `servers`); after conversion the tool
//! builder and the executor see only this model, with schemas already in JSON Schema 2020-12.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// Where a parameter goes in the HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

impl Location {
    /// The spelling used in OpenAPI (`in:`) and in clash suffixes (`id__query`).
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
        }
    }
}

/// Serialisation style of a parameter (OpenAPI `style`, Swagger `collectionFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `simple` (path, header): `a,b,c`
    Simple,
    /// `form` (query, cookie): `k=a&k=b` exploded, `k=a,b` otherwise
    Form,
    /// `spaceDelimited` / Swagger `ssv`
    SpaceDelimited,
    /// `pipeDelimited` / Swagger `pipes`
    PipeDelimited,
    /// Swagger `tsv`
    TabDelimited,
    /// `deepObject`: `k[p]=v`
    DeepObject,
    /// `label` (path): `.a.b`
    Label,
    /// `matrix` (path): `;k=a,b`
    Matrix,
}

/// One operation parameter.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub description: Option<String>,
    /// Normalised schema (2020-12); `{}` when the document gave none.
    pub schema: Value,
    pub style: Style,
    pub explode: bool,
    /// 3.x `content` parameters: the value is sent JSON-encoded.
    pub json_content: bool,
}

/// How the request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` and `*+json`
    Json,
    /// `application/x-www-form-urlencoded`
    Form,
    /// `multipart/form-data`
    Multipart,
    /// `text/*`: the argument is sent as is
    Text,
    /// anything else: the argument is base64 and sent as raw bytes
    Binary,
}

/// The request body of an operation (one media type chosen out of the document's list).
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub media_type: String,
    pub kind: BodyKind,
    pub required: bool,
    pub description: Option<String>,
    pub schema: Value,
}

/// An HTTP operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template as in the document, e.g. `/pets/{petId}`.
    pub path: String,
    pub operation_id: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub deprecated: bool,
    pub parameters: Vec<Parameter>,
    pub body: Option<RequestBody>,
    /// Schema of the first 2xx (then `default`) JSON response, normalised.
    pub response_schema: Option<Value>,
    /// Media types the document lists for the success responses (every 2xx, else `default`;
    /// Swagger 2.0: `produces`). The request's `Accept` header is built from
    /// them ([`crate::request::accept`]).
    pub response_media_types: Vec<String>,
    /// `None`: inherit the document's `security`; `Some(vec![])`: no auth.
    pub security: Option<Vec<SecurityRequirement>>,
    /// Operation- or path-level servers (innermost wins); empty: use the document's.
    pub servers: Vec<Server>,
}

/// A set of schemes that must all be satisfied together (one entry of a `security` array).
pub type SecurityRequirement = BTreeMap<String, Vec<String>>;

/// A server URL template with its variables' defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub url: String,
    pub variables: BTreeMap<String, String>,
}

impl Server {
    /// The URL with `{var}` replaced by defaults (or by `overrides`).
    pub fn render(&self, overrides: &BTreeMap<String, String>) -> String {
        let mut url = self.url.clone();
        for (k, v) in &self.variables {
            let val = overrides.get(k).unwrap_or(v);
            url = url.replace(&format!("{{{k}}}"), val);
        }
        url
    }
}

/// A security scheme from `components.securitySchemes` / `securityDefinitions`.
#[derive(Debug, Clone, PartialEq)]
pub enum SecurityScheme {
    ApiKey {
        name: String,
        location: Location,
    },
    Basic,
    Bearer,
    /// `oauth2` with a client-credentials flow: a `{ clientId, clientSecret }` credential gets
    /// its tokens from `token_url`; a `{ token }` credential is sent as is.
    OAuth2ClientCredentials {
        token_url: String,
    },
    /// `oauth2` without a client-credentials flow (implicit, authorization code, password):
    /// tokens are obtained by a user outside the gateway, so only a `{ token }` credential can
    /// satisfy it, sent as a bearer token. `flows` names the document's flows, for messages.
    OAuth2 {
        flows: Vec<String>,
    },
    /// `openIdConnect`: like [`SecurityScheme::OAuth2`], a `{ token }` sent as a bearer token.
    OpenIdConnect,
    /// A scheme we cannot satisfy (an `http` scheme other than basic and bearer, mutual TLS,
    /// an unknown type); the text says which.
    Unsupported(String),
}

/// Document version, kept for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

/// An operation the converter had to leave out, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub method: String,
    pub path: String,
    pub reason: String,
}

/// A whole converted document.
#[derive(Debug, Clone)]
pub struct ApiModel {
    pub version: SpecVersion,
    pub title: String,
    pub servers: Vec<Server>,
    pub operations: Vec<Operation>,
    pub security_schemes: BTreeMap<String, SecurityScheme>,
    pub security: Vec<SecurityRequirement>,
    /// Shared normalised schemas referenced as `#/$defs/<name>`.
    pub defs: BTreeMap<String, Arc<Value>>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<String>,
}
