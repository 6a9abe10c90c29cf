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

    /// The same error naming `target` as the format it could not be carried to (the
    /// parsers name their usual target; a parsed request may go elsewhere).
    pub(crate) fn retarget(self, target: &'static str) -> Self {
        match self {
            LlmError::Unsupported { what, .. } => LlmError::Unsupported { what, target },
            other => other,
        }
    }

    /// The HTTP status the gateway should answer with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            LlmError::ProviderResponse(_) => http::StatusCode::BAD_GATEWAY,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The whole error response for a client of `client` (status, content type, body).
    pub fn response(
        &self,
        client: crate::ClientApi,
    ) -> (http::StatusCode, &'static str, bytes::Bytes) {
        let status = self.status();
        let kind = crate::ErrorKind::from_status(status);
        crate::error_response(client, status, kind, &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientApi;

    #[test]
    fn errors_answer_in_the_clients_format() {
        let e = LlmError::unsupported("n > 1", "anthropic messages");
        let (status, _, body) = e.response(ClientApi::OpenAiChat);
        assert_eq!(status.as_u16(), 400);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["error"]["message"],
            "not supported when translating to anthropic messages: n > 1"
        );
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let (status, _, body) =
            LlmError::ProviderResponse("x".into()).response(ClientApi::AnthropicMessages);
        assert_eq!(status.as_u16(), 502);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["type"], "api_error");
    }
}
