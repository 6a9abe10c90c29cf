//! Errors of the translation library.

/// Why a request or response could not be prepared or translated.
///
/// Every variant is the client's fault or a limit of the translation (the gateway answers
/// 400 with [`crate::error_response`]), except [`LlmError::ProviderResponse`] (the provider
/// answered something that is not its own format: 502).
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The request body is not JSON of the client API's shape.
    #[error("invalid request body: {0}")]
    InvalidRequest(String),
    /// The request uses a feature that cannot be carried to the provider's format.
    #[error("not supported when translating to {target}: {what}")]
    Unsupported {
        /// What was asked for.
        what: String,
        /// The format it could not be carried to.
        target: &'static str,
    },
    /// This client API is not served by this provider API (no passthrough, no translation).
    #[error("{client} requests cannot be sent to a provider speaking {provider}")]
    NoRoute {
        /// The client's API.
        client: &'static str,
        /// The provider's API.
        provider: &'static str,
    },
    /// The provider's response is not of its format.
    #[error("unreadable provider response: {0}")]
    ProviderResponse(String),
}

impl LlmError {
    pub(crate) fn unsupported(what: impl Into<String>, target: &'static str) -> Self {
        LlmError::Unsupported {
            what: what.into(),
            target,
        }
    }

    /// The HTTP status the gateway should answer with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            LlmError::ProviderResponse(_) => http::StatusCode::BAD_GATEWAY,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}
