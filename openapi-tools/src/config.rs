//! Configuration of one OpenAPI target (camelCase keys, unknown keys rejected, as DESIGN.md asks).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Settings for one REST API exposed as tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenApiConfig {
    /// Path to the OpenAPI / Swagger document (JSON or YAML), or an `http://` / `https://`
    /// URL to fetch it from (on first use; see `refresh`).
    pub spec: PathBuf,
    /// For a `spec` URL only: fetch the document again when the copy is older than this
    /// (`10m`, `1h`); a failed fetch keeps the last good copy. Default: fetched once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
    /// Overrides the document's `servers` (always wins; recommended when the spec is third-party).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Values for `servers[].variables`, overriding their defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_variables: BTreeMap<String, String>,
    /// Which operations become tools.
    #[serde(default, skip_serializing_if = "is_default")]
    pub tools: Selection,
    /// Tool name overrides, keyed by `operationId` or by `"METHOD /path"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
    /// Credentials, keyed by security scheme name from the document. Each must fit its scheme
    /// (see [`crate::auth`]); one that names no scheme or fits none is a load error.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, Credential>,
    /// Per-call timeout (`500ms`, `5s`, `1m`); default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Response bodies are read up to this many bytes; the rest is cut and the cut reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<usize>,
    /// Maximum tool name length (leave room for a gateway prefix); default 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_name_length: Option<usize>,
    /// Maximum description length in characters; default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_description_length: Option<usize>,
    /// Emit `outputSchema` for object responses (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<bool>,
    /// `tools` (default): one MCP tool per selected operation. `meta`: three tools instead,
    /// `search_operations`, `describe_operation` and `call_operation`, for APIs with more
    /// operations than a model's context can take (see [`crate::meta`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: ToolMode,
}

/// How the operations are exposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolMode {
    /// One tool per operation.
    #[default]
    Tools,
    /// Three meta-tools: search, describe, call.
    Meta,
}

impl OpenApiConfig {
    /// A config with just the document path.
    pub fn new(spec: impl Into<PathBuf>) -> Self {
        OpenApiConfig {
            spec: spec.into(),
            ..Default::default()
        }
    }

    /// The call timeout.
    pub fn timeout(&self) -> Result<Duration> {
        match &self.timeout {
            None => Ok(Duration::from_secs(30)),
            Some(s) => parse_duration(s).ok_or_else(|| {
                Error::Config(format!(
                    "bad timeout {s:?} (a duration such as 30s, at most ten years)"
                ))
            }),
        }
    }

    /// The `refresh` interval of a URL spec (`None`: never re-fetched).
    pub fn refresh(&self) -> Result<Option<Duration>> {
        match &self.refresh {
            None => Ok(None),
            Some(s) => match parse_duration(s) {
                Some(d) if !d.is_zero() => Ok(Some(d)),
                _ => Err(Error::Config(format!(
                    "bad refresh {s:?} (a duration such as 10m, at most ten years)"
                ))),
            },
        }
    }

    /// The `spec` as an `http://` or `https://` URL, when it is one.
    pub fn spec_url(&self) -> Option<&str> {
        crate::source::spec_url(&self.spec)
    }
}

/// `tools:` selection. An operation is a tool when it matches `include` (or `include` is empty),
/// does not match `exclude`, and passes the tag, method and path-prefix filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selection {
    /// Globs (`*`, `?`) over operationId or tool name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Globs that drop an operation even when `include` matches it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Keep only operations with at least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Keep only these HTTP methods (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Keep only paths starting with one of these (segment-aware: `/pets` matches `/pets/{id}`, not `/petsitters`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_prefixes: Vec<String>,
    /// Deprecated operations are left out unless this is true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_deprecated: bool,
}

/// A credential for one security scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all_fields = "camelCase", untagged, deny_unknown_fields)]
pub enum Credential {
    /// For `apiKey` schemes.
    ApiKey { api_key: String },
    /// For `http: bearer`, and for `oauth2` (any flow) and `openIdConnect` schemes with a
    /// token obtained elsewhere: sent as `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// For `http: basic`.
    Basic { username: String, password: String },
    /// For `oauth2` client-credentials flows (and, with `tokenUrl`, any bearer, `oauth2` or
    /// `openIdConnect` scheme): tokens fetched, cached and refreshed.
    OAuth2 {
        client_id: String,
        client_secret: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
        /// Overrides the document's `tokenUrl`; required when the scheme has no
        /// client-credentials flow.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_url: Option<String>,
    },
}

impl Selection {
    /// Whether an operation passes the filters.
    pub fn allows(&self, op: &crate::model::Operation, tool_name: &str) -> bool {
        let ids: Vec<&str> = op
            .operation_id
            .as_deref()
            .into_iter()
            .chain([tool_name])
            .collect();
        let any = |globs: &[String]| globs.iter().any(|g| ids.iter().any(|id| glob_match(g, id)));
        if !self.include.is_empty() && !any(&self.include) {
            return false;
        }
        if any(&self.exclude) {
            return false;
        }
        if !self.tags.is_empty() && !op.tags.iter().any(|t| self.tags.contains(t)) {
            return false;
        }
        if !self.methods.is_empty()
            && !self
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&op.method))
        {
            return false;
        }
        if !self.path_prefixes.is_empty()
            && !self
                .path_prefixes
                .iter()
                .any(|p| path_has_prefix(&op.path, p))
        {
            return false;
        }
        self.include_deprecated || !op.deprecated
    }
}

fn path_has_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `*` matches any run of characters, `?` exactly one; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `500ms`, `5s`, `2m`, `1h`: netkit's grammar, the one of the whole gateway config (a whole
/// number and a unit, at most ten years).
pub fn parse_duration(s: &str) -> Option<Duration> {
    s.parse::<netkit::Duration>().ok().map(Duration::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("list*", "listPets"));
        assert!(glob_match("*Pet?", "getPets"));
        assert!(!glob_match("get*", "listPets"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn prefixes() {
        assert!(path_has_prefix("/pets/{id}", "/pets"));
        assert!(!path_has_prefix("/petsitters", "/pets"));
        assert!(path_has_prefix("/pets", "/pets/"));
    }

    #[test]
    fn mode_key() {
        let c: OpenApiConfig = serde_json::from_str(r#"{"spec": "a.yaml", "mode": "meta"}"#)
            .expect("meta mode parses");
        assert_eq!(c.mode, ToolMode::Meta);
        let c: OpenApiConfig = serde_json::from_str(r#"{"spec": "a.yaml"}"#).expect("default");
        assert_eq!(c.mode, ToolMode::Tools);
        assert!(serde_json::from_str::<OpenApiConfig>(r#"{"spec": "a", "mode": "x"}"#).is_err());
    }

    #[test]
    fn credential_keys_are_camel_case() {
        let c: Credential = serde_json::from_str(r#"{"apiKey": "k"}"#).expect("apiKey");
        assert_eq!(
            c,
            Credential::ApiKey {
                api_key: "k".into()
            }
        );
        let c: Credential =
            serde_json::from_str(r#"{"clientId": "i", "clientSecret": "s", "tokenUrl": "/t"}"#)
                .expect("oauth2");
        assert!(matches!(
            c,
            Credential::OAuth2 {
                token_url: Some(_),
                ..
            }
        ));
        assert!(serde_json::from_str::<Credential>(r#"{"api_key": "k"}"#).is_err());
    }

    #[test]
    fn refresh_key() {
        let c: OpenApiConfig =
            serde_json::from_str(r#"{"spec": "http://h/a.yaml", "refresh": "10m"}"#)
                .expect("refresh parses");
        assert_eq!(c.refresh().expect("valid"), Some(Duration::from_secs(600)));
        assert_eq!(c.spec_url(), Some("http://h/a.yaml"));
        assert_eq!(OpenApiConfig::new("a.yaml").refresh().expect("none"), None);
        let mut bad = OpenApiConfig::new("http://h/a.yaml");
        bad.refresh = Some("0s".into());
        assert!(bad.refresh().is_err());
        bad.refresh = Some("soon".into());
        assert!(bad.refresh().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(
            parse_duration("30"),
            None,
            "a unit is required, as everywhere"
        );
        assert_eq!(parse_duration("87601h"), None, "beyond ten years");
        assert_eq!(parse_duration("18446744073709551615m"), None, "overflows");
    }
}
