//! AWS Signature Version 4 (`backendAuth.aws`), with the `aws-sigv4` crate.
//!
//! Unlike a bearer token, a signature covers the request itself: method, URL, headers and
//! (unless `unsignedPayload`) the SHA-256 of the body, at the time it is sent. So it is made
//! per request, just before sending, from the request as it will leave ([`Outgoing`]).
//! Credentials are long-lived keys (or temporary ones with a session token) read once when
//! the config is loaded; nothing is fetched.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    self, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderName, HeaderValue};

use crate::config::AwsConfig;
use crate::{AuthError, Outgoing};

/// The signing name used when `service` is not set: Amazon Bedrock, the AWS API an LLM
/// gateway calls most.
pub(crate) const DEFAULT_SERVICE: &str = "bedrock";

/// Headers the signature sets; a client's own values are removed first so they can neither
/// be signed nor sent next to the gateway's.
const SIGNING_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// The SigV4 signer of one `aws` config.
pub(crate) struct SigV4 {
    region: String,
    service: String,
    identity: Identity,
    unsigned_payload: bool,
}

impl SigV4 {
    /// Checks `config`, taking what it leaves out from `env` (the process environment, or a
    /// test's).
    pub(crate) fn new(
        config: &AwsConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AuthError> {
        let AwsConfig {
            region,
            service,
            access_key_id,
            secret_access_key,
            session_token,
            unsigned_payload,
        } = config;
        let bad = |message: String| AuthError::Config { message };
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let region = nonempty(region.clone())
            .or_else(|| nonempty(env("AWS_REGION")))
            .or_else(|| nonempty(env("AWS_DEFAULT_REGION")))
            .ok_or_else(|| {
                bad(
                    "aws.region is not set, nor AWS_REGION or AWS_DEFAULT_REGION in the \
                     gateway's environment: set one (e.g. region: us-east-1)"
                        .into(),
                )
            })?;
        let service = match service {
            Some(s) if s.trim().is_empty() => return Err(bad("aws.service is empty".into())),
            Some(s) => s.clone(),
            None => DEFAULT_SERVICE.to_owned(),
        };
        let (key, secret, token) = match (access_key_id, secret_access_key) {
            (Some(k), Some(s)) => (k.clone(), s.clone(), session_token.clone()),
            (Some(_), None) | (None, Some(_)) => {
                return Err(bad(
                    "aws.accessKeyId and aws.secretAccessKey go together: set both, or \
                     neither to take them from the environment"
                        .into(),
                ))
            }
            (None, None) if session_token.is_some() => {
                return Err(bad(
                    "aws.sessionToken is set without aws.accessKeyId and aws.secretAccessKey"
                        .into(),
                ))
            }
            (None, None) => {
                match (
                    nonempty(env("AWS_ACCESS_KEY_ID")),
                    nonempty(env("AWS_SECRET_ACCESS_KEY")),
                ) {
                    (Some(k), Some(s)) => (k, s, nonempty(env("AWS_SESSION_TOKEN"))),
                    _ => {
                        return Err(bad("aws: no credentials: set aws.accessKeyId and \
                             aws.secretAccessKey, or AWS_ACCESS_KEY_ID and \
                             AWS_SECRET_ACCESS_KEY in the gateway's environment"
                            .into()))
                    }
                }
            }
        };
        if key.trim().is_empty() || secret.trim().is_empty() {
            return Err(bad(
                "aws.accessKeyId or aws.secretAccessKey is empty (an unset ${VAR}?)".into(),
            ));
        }
        let credentials = Credentials::new(key, secret, token, None, "switchboard config");
        Ok(Self {
            region,
            service,
            identity: credentials.into(),
            unsigned_payload: *unsigned_payload,
        })
    }

    /// Whether the body's hash is signed (so the body must be at hand when signing).
    pub(crate) fn signs_body(&self) -> bool {
        !self.unsigned_payload
    }

    /// Signs `request` as of `now`: sets `authorization`, `x-amz-date`, with temporary
    /// credentials `x-amz-security-token`, and for S3 or an unsigned payload
    /// `x-amz-content-sha256`.
    /// Returns the `authorization` value.
    pub(crate) fn sign(
        &self,
        request: Outgoing<'_>,
        now: SystemTime,
    ) -> Result<HeaderValue, AuthError> {
        let Outgoing {
            method,
            uri,
            headers,
            body,
        } = request;
        let failed = |message: String| AuthError::Sign { message };
        if uri.host().is_none() {
            return Err(failed(format!("the URL {uri} has no host")));
        }
        for name in SIGNING_HEADERS {
            headers.remove(name);
        }
        let body = match (self.unsigned_payload, body) {
            (true, _) => SignableBody::UnsignedPayload,
            (false, Some(bytes)) => SignableBody::Bytes(bytes),
            (false, None) => {
                return Err(failed(
                    "the request body streams, so its hash cannot be signed (set \
                     aws.unsignedPayload: true to sign UNSIGNED-PAYLOAD instead)"
                        .into(),
                ))
            }
        };
        // Header values that are not text cannot be signed; they are sent unsigned, which
        // SigV4 allows (the signature lists the headers it covers).
        let signed = headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)));
        let uri = uri.to_string();
        let signable = SignableRequest::new(method.as_str(), uri, signed, body)
            .map_err(|e| failed(format!("cannot sign this request: {e}")))?;
        let mut settings = SigningSettings::default();
        // `x-amz-content-sha256` tells S3 the body's hash, and any service that the payload
        // is unsigned; others take the hash from the body (as the AWS SDKs do).
        if self.unsigned_payload || self.service == "s3" {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        if self.service == "s3" {
            // S3 signs the path as sent: encoded once, not normalized (as the AWS SDKs do).
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(&self.service)
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| failed(e.to_string()))?
            .into();
        let (instructions, _signature) = http_request::sign(signable, &params)
            .map_err(|e| failed(format!("cannot sign this request: {e}")))?
            .into_parts();
        let (set, _query) = instructions.into_parts();
        for header in set {
            let name = HeaderName::from_static(header.name());
            let mut value = HeaderValue::try_from(header.value())
                .map_err(|_| failed(format!("{name} is not a valid header value")))?;
            value.set_sensitive(header.sensitive() || name == http::header::AUTHORIZATION);
            headers.insert(name, value);
        }
        headers
            .get(http::header::AUTHORIZATION)
            .cloned()
            .ok_or_else(|| failed("the signer set no authorization header".into()))
    }
}
