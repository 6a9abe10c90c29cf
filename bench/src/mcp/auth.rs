//! The access policies a real deployment puts in front of its tools, for the `sb jwt+rule` rows:
//! `jwtAuth` (an RS256 token checked against a JWKS file, as most identity providers issue them)
//! and one `mcpAuthorization` CEL rule over the token's subject and the tool's name.
//!
//! The client sends the same token on every call, as an agent does until the token expires.
//! The rows measure what these two policies add to a call: compare them with the plain
//! `switchboard` rows of the same group.

use std::path::Path;

use anyhow::{Context, Result};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// The signing key: the RSA test key of the `authn` crate (a test key, never a real one).
const SIGNING_KEY: &str = include_str!("../../../authn/testdata/rsa1.pem");
const ISSUER: &str = "https://idp.bench.invalid";
const AUDIENCE: &str = "switchboard";
const SUBJECT: &str = "bench-agent";
const KID: &str = "bench-1";

/// A token for the load generator and the matching JWKS for the gateway.
pub struct AccessSetup {
    /// The `Authorization` header's value: `Bearer <JWT>`.
    pub bearer: String,
    jwks: String,
}

impl AccessSetup {
    /// Signs a token valid for a day (longer than any run).
    pub fn new() -> Result<Self> {
        let key = EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes()).context("bench RSA key")?;
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).context("bench JWK")?;
        jwk.common.key_id = Some(KID.into());
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] })?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT,
            "iat": now, "exp": now + 86_400, "scope": "tools.call",
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.into());
        let token = jsonwebtoken::encode(&header, &claims, &key).context("signing")?;
        Ok(Self {
            bearer: format!("Bearer {token}"),
            jwks,
        })
    }

    /// Writes the JWKS into `dir` and returns the route's `policies:` block (YAML, indented for
    /// a route at the generated config's depth).
    pub fn policies(&self, dir: &Path) -> Result<String> {
        let path = dir.join("jwks.json");
        std::fs::write(&path, &self.jwks).with_context(|| format!("writing {}", path.display()))?;
        Ok(format!(
            "      policies:\n\
             \x20       jwtAuth:\n\
             \x20         issuer: {ISSUER}\n\
             \x20         audiences: [{AUDIENCE}]\n\
             \x20         jwks: {{ file: \"{}\" }}\n\
             \x20       mcpAuthorization:\n\
             \x20         rules:\n\
             \x20         - allow: 'jwt.sub == \"{SUBJECT}\" && mcp.tool.name == \"echo\"'\n",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn the_token_verifies_with_the_jwks_it_ships_with() {
        let setup = AccessSetup::new().unwrap();
        let set: JwkSet = serde_json::from_str(&setup.jwks).unwrap();
        let key = DecodingKey::from_jwk(set.find(KID).unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[ISSUER]);
        let token = setup.bearer.strip_prefix("Bearer ").unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], SUBJECT);
    }

    #[test]
    fn policies_name_the_jwks_file_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = AccessSetup::new().unwrap().policies(dir.path()).unwrap();
        let file = dir.path().join("jwks.json");
        assert!(p.contains(&file.display().to_string()));
        assert!(std::fs::read_to_string(file).unwrap().contains(KID));
        assert!(p.contains("mcpAuthorization"));
    }
}
