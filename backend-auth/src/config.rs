//! The `backendAuth` policy as written in the config file (camelCase keys, unknown keys
//! rejected, JSON Schema derived).
//!
//! ```yaml
//! backendAuth: { key: "${TOKEN}" }                                  # Authorization: Bearer …
//! backendAuth: { key: { header: x-api-key, value: "${KEY}" } }      # x-api-key: …
//! backendAuth:
//!   oauth2:                                                         # client credentials
//!     tokenUrl: https://idp.example.com/oauth/token
//!     clientId: switchboard
//!     clientSecret: ${CLIENT_SECRET}
//!     scopes: [tools.read, tools.call]
//! backendAuth: { gcp: {} }                                          # Google access token (ADC)
//! backendAuth: { gcp: { type: idToken, audience: https://svc-xyz.a.run.app } }
//! backendAuth: { aws: { region: us-east-1, service: bedrock } }     # SigV4 signature
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::{de, Deserialize, Deserializer, Serialize};

/// Credentials added to every request to an upstream. Exactly one key is set.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum BackendAuthConfig {
    /// A static credential: a string is sent as `Authorization: Bearer <string>`;
    /// `{ header, value }` sends `value` as it is in `header`.
    Key(KeyConfig),
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): a token is fetched on first use, reused
    /// until shortly before it expires, and fetched again at once when the upstream answers
    /// 401 to it.
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2Config),
    /// Google credentials (Application Default Credentials order): an OAuth2 access token
    /// or an OpenID Connect ID token for an audience, cached like `oauth2`'s.
    Gcp(GcpConfig),
    /// AWS Signature Version 4: every request is signed (method, URL, headers and body).
    Aws(AwsConfig),
    /// Forward the caller's own credential. Accepted by the schema so that the error can say
    /// where it is not supported and why (see [`crate::AuthError::Passthrough`]).
    Passthrough(PassthroughConfig),
}

impl fmt::Debug for BackendAuthConfig {
    /// Secrets are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(k) => f
                .debug_struct("Key")
                .field("header", &k.header_name())
                .finish_non_exhaustive(),
            Self::OAuth2(o) => f
                .debug_struct("OAuth2")
                .field("token_url", &o.token_url)
                .field("client_id", &o.client_id)
                .field("scopes", &o.scopes)
                .finish_non_exhaustive(),
            Self::Gcp(g) => f
                .debug_struct("Gcp")
                .field("type", &g.kind)
                .field("audience", &g.audience)
                .field("credentials_file", &g.credentials_file)
                .field("scopes", &g.scopes)
                .finish(),
            Self::Aws(a) => f
                .debug_struct("Aws")
                .field("region", &a.region)
                .field("service", &a.service)
                .field("access_key_id", &a.access_key_id)
                .field("unsigned_payload", &a.unsigned_payload)
                .finish_non_exhaustive(),
            Self::Passthrough(_) => f.write_str("Passthrough"),
        }
    }
}

/// `key: "<token>"` or `key: { header, value }`.
#[derive(Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum KeyConfig {
    /// Sent as `Authorization: Bearer <token>`.
    Bearer(String),
    /// Sent as it is in the named header.
    Header(HeaderKeyConfig),
}

/// `{ header, value }`.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderKeyConfig {
    /// The header to send (`x-api-key`). Default `authorization`, in which case the value is
    /// sent as it is (write `Bearer …` or `Basic …` yourself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The header's value.
    pub value: String,
}

impl KeyConfig {
    /// The header this key is sent in.
    pub fn header_name(&self) -> &str {
        match self {
            Self::Bearer(_) => "authorization",
            Self::Header(h) => h.header.as_deref().unwrap_or("authorization"),
        }
    }
}

/// A string or a map; written by hand so that a mistake in the map is reported as such
/// (serde's untagged enums only say that nothing matched).
impl<'de> Deserialize<'de> for KeyConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = KeyConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token string or a map { header, value }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyConfig, E> {
                Ok(KeyConfig::Bearer(v.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<KeyConfig, A::Error> {
                HeaderKeyConfig::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(KeyConfig::Header)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `oauth2: { tokenUrl, clientId, clientSecret, scopes, audience, resource, clientAuth }`.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuth2Config {
    /// The authorization server's token endpoint (`https://idp.example.com/oauth/token`).
    pub token_url: String,
    /// The gateway's client id at that server.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Scopes asked for (sent space-separated as `scope`); default: none, so the server's
    /// default scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Sent as `audience` (Auth0, Okta and others use it to choose the token's audience).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Sent as `resource` (RFC 8707): the upstream the token is for. MCP authorization asks
    /// clients to name the MCP server this way, so that a token for one server is refused
    /// by another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// `clientAuth`: where the client id and secret go in the token request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`), which every server must accept (default).
    #[default]
    Basic,
    /// In the form body (`client_secret_post`).
    Post,
}

/// `gcp: { type, audience, credentialsFile, scopes }`. Credentials are looked for where
/// Google's own libraries look (Application Default Credentials): `credentialsFile`, else the
/// file named by `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's
/// `application_default_credentials.json`, else the metadata server of the machine
/// (`GCE_METADATA_HOST` overrides its address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpConfig {
    /// Which token the upstream gets: `accessToken` (default; Google APIs) or `idToken`
    /// (Cloud Run, Cloud Functions, IAP: services that check who calls them).
    #[serde(rename = "type", default)]
    pub kind: GcpTokenType,
    /// The ID token's audience (required with `idToken`, refused otherwise): usually the
    /// service's URL (`https://svc-xyz.a.run.app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// A service account key or an `authorized_user` credentials file (JSON), instead of
    /// the Application Default Credentials search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
    /// Scopes of the access token; default `https://www.googleapis.com/auth/cloud-platform`.
    /// Refused with `idToken`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// `gcp.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GcpTokenType {
    /// An OAuth2 access token (default).
    #[default]
    AccessToken,
    /// An OpenID Connect ID token whose `aud` is `audience`.
    IdToken,
}

/// `aws: { region, service, accessKeyId, secretAccessKey, sessionToken, unsignedPayload }`.
/// Without `accessKeyId`, the credentials come from the gateway's environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), read at config load.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsConfig {
    /// The region signed for (`us-east-1`); default `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The service's signing name; default `bedrock` (Amazon Bedrock's runtime API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The access key id (with `secretAccessKey`); `${VAR}` works as anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The secret access key (with `accessKeyId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// A session token of temporary credentials (sent as `x-amz-security-token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Sign `UNSIGNED-PAYLOAD` instead of the body's SHA-256, so that request bodies stream
    /// instead of being read whole first (within the route's body limit). Default false:
    /// the body is signed.
    #[serde(default)]
    pub unsigned_payload: bool,
}

/// `passthrough: {}` (no settings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassthroughConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<BackendAuthConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_key_is_a_string_or_a_header_and_value() {
        let bearer = parse(r#"{"key": "t0k"}"#).expect("string key");
        assert_eq!(
            bearer,
            BackendAuthConfig::Key(KeyConfig::Bearer("t0k".into()))
        );
        let header = parse(r#"{"key": {"header": "x-api-key", "value": "k"}}"#).expect("map");
        let BackendAuthConfig::Key(key) = header else {
            panic!("not a key: {header:?}");
        };
        assert_eq!(key.header_name(), "x-api-key");
    }

    #[test]
    fn mistakes_are_named() {
        let typo = parse(r#"{"key": {"heder": "x", "value": "k"}}"#).expect_err("typo");
        assert!(typo.contains("unknown field `heder`"), "{typo}");
        let missing = parse(r#"{"key": {"header": "x"}}"#).expect_err("no value");
        assert!(missing.contains("missing field `value`"), "{missing}");
        let unknown = parse(r#"{"azure": {}}"#).expect_err("unknown kind");
        assert!(unknown.contains("unknown variant `azure`"), "{unknown}");
        let typo = parse(r#"{"gcp": {"type": "idtoken"}}"#).expect_err("bad type");
        assert!(typo.contains("unknown variant `idtoken`"), "{typo}");
        let typo = parse(r#"{"aws": {"regoin": "x"}}"#).expect_err("typo");
        assert!(typo.contains("unknown field `regoin`"), "{typo}");
        let no_secret = parse(r#"{"oauth2": {"tokenUrl": "http://x", "clientId": "c"}}"#)
            .expect_err("no secret");
        assert!(no_secret.contains("clientSecret"), "{no_secret}");
    }

    #[test]
    fn oauth2_defaults_to_basic_client_auth() {
        let cfg = parse(
            r#"{"oauth2": {"tokenUrl": "http://127.0.0.1/t", "clientId": "c",
                "clientSecret": "s", "scopes": ["a", "b"], "clientAuth": "post"}}"#,
        )
        .expect("oauth2");
        let BackendAuthConfig::OAuth2(o) = &cfg else {
            panic!("not oauth2");
        };
        assert_eq!(o.client_auth, ClientAuth::Post);
        assert_eq!(o.scopes, ["a", "b"]);
        let printed = format!("{cfg:?}");
        assert!(
            !printed.contains("\"s\""),
            "the secret is printed: {printed}"
        );
    }

    #[test]
    fn gcp_and_aws_parse_with_defaults_and_hide_secrets() {
        let gcp = parse(r#"{"gcp": {}}"#).expect("gcp");
        let BackendAuthConfig::Gcp(g) = &gcp else {
            panic!("not gcp");
        };
        assert_eq!(g.kind, GcpTokenType::AccessToken);
        let id = parse(r#"{"gcp": {"type": "idToken", "audience": "https://a"}}"#).expect("id");
        let BackendAuthConfig::Gcp(g) = &id else {
            panic!("not gcp");
        };
        assert_eq!(g.kind, GcpTokenType::IdToken);
        let aws = parse(
            r#"{"aws": {"region": "eu-west-1", "accessKeyId": "AKID",
                "secretAccessKey": "very-secret", "sessionToken": "sess-secret"}}"#,
        )
        .expect("aws");
        let BackendAuthConfig::Aws(a) = &aws else {
            panic!("not aws");
        };
        assert!(!a.unsigned_payload);
        let printed = format!("{aws:?}");
        assert!(printed.contains("AKID"), "{printed}");
        assert!(
            !printed.contains("very-secret") && !printed.contains("sess-secret"),
            "a secret is printed: {printed}"
        );
    }
}
