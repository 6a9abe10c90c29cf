//! Which LLM API a client speaks (detected from the request line) and which one a provider
//! speaks, and what the gateway does between the two: pass the body through or translate.

use http::Method;

use crate::LlmError;

/// The API a client called, detected from method and path by [`ClientApi::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientApi {
    /// `POST /v1/chat/completions`
    OpenAiChat,
    /// `POST /v1/responses`
    OpenAiResponses,
    /// `POST /v1/embeddings`
    OpenAiEmbeddings,
    /// `GET /v1/models`: answered by the gateway itself ([`crate::models_list_body`]).
    OpenAiModels,
    /// `POST /v1/messages`
    AnthropicMessages,
    /// `POST /v1/messages/count_tokens`
    AnthropicCountTokens,
}

impl ClientApi {
    /// The API of a request, from its method and path (the path below the route's prefix,
    /// query excluded; a query is ignored if present). `None`: not an LLM API call, which the
    /// gateway passes through to the provider untouched.
    ///
    /// Paths are matched with and without the `/v1` prefix (`/chat/completions` too), since
    /// OpenAI SDK users often point `base_url` at a URL that already ends in `/v1` or at the
    /// route root; one trailing `/` is tolerated. The method must be the API's (`POST`, or
    /// `GET` for models): `GET /v1/messages` is not a Messages call.
    pub fn detect(method: &Method, path: &str) -> Option<ClientApi> {
        let path = path.split('?').next().unwrap_or(path);
        let path = path.strip_suffix('/').unwrap_or(path);
        let path = path.strip_prefix("/v1").unwrap_or(path);
        let api = match path {
            "/chat/completions" => ClientApi::OpenAiChat,
            "/responses" => ClientApi::OpenAiResponses,
            "/embeddings" => ClientApi::OpenAiEmbeddings,
            "/models" => ClientApi::OpenAiModels,
            "/messages" => ClientApi::AnthropicMessages,
            "/messages/count_tokens" => ClientApi::AnthropicCountTokens,
            _ => return None,
        };
        let expected = match api {
            ClientApi::OpenAiModels => Method::GET,
            _ => Method::POST,
        };
        (*method == expected).then_some(api)
    }

    /// A short name for logs, metrics and errors.
    pub fn name(self) -> &'static str {
        match self {
            ClientApi::OpenAiChat => "openai chat completions",
            ClientApi::OpenAiResponses => "openai responses",
            ClientApi::OpenAiEmbeddings => "openai embeddings",
            ClientApi::OpenAiModels => "openai models",
            ClientApi::AnthropicMessages => "anthropic messages",
            ClientApi::AnthropicCountTokens => "anthropic count_tokens",
        }
    }

    /// The error body family this client understands.
    pub fn is_anthropic(self) -> bool {
        matches!(
            self,
            ClientApi::AnthropicMessages | ClientApi::AnthropicCountTokens
        )
    }

    /// The canonical path of the API (with `/v1`).
    pub fn path(self) -> &'static str {
        match self {
            ClientApi::OpenAiChat => "/v1/chat/completions",
            ClientApi::OpenAiResponses => "/v1/responses",
            ClientApi::OpenAiEmbeddings => "/v1/embeddings",
            ClientApi::OpenAiModels => "/v1/models",
            ClientApi::AnthropicMessages => "/v1/messages",
            ClientApi::AnthropicCountTokens => "/v1/messages/count_tokens",
        }
    }
}

/// The native format a request is sent to a provider in. The gateway picks it from the
/// provider's kind (an OpenAI-compatible server speaks [`ProviderApi::OpenAiChat`] for chat,
/// Anthropic speaks [`ProviderApi::AnthropicMessages`], ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderApi {
    /// OpenAI chat completions (OpenAI, Azure, and every OpenAI-compatible server).
    OpenAiChat,
    /// OpenAI Responses.
    OpenAiResponses,
    /// OpenAI embeddings.
    OpenAiEmbeddings,
    /// Anthropic Messages (Anthropic; also Vertex and Bedrock's invoke for Claude models).
    AnthropicMessages,
    /// Anthropic token counting.
    AnthropicCountTokens,
    /// Gemini `generateContent` (not translated yet).
    Gemini,
    /// Bedrock Converse (not translated yet).
    BedrockConverse,
}

impl ProviderApi {
    /// A short name for logs, metrics and errors.
    pub fn name(self) -> &'static str {
        match self {
            ProviderApi::OpenAiChat => "openai chat completions",
            ProviderApi::OpenAiResponses => "openai responses",
            ProviderApi::OpenAiEmbeddings => "openai embeddings",
            ProviderApi::AnthropicMessages => "anthropic messages",
            ProviderApi::AnthropicCountTokens => "anthropic count_tokens",
            ProviderApi::Gemini => "gemini",
            ProviderApi::BedrockConverse => "bedrock converse",
        }
    }

    /// The path below the provider's base URL (with `/v1`); `None` where it depends on the
    /// model (Gemini, Bedrock).
    pub fn path(self) -> Option<&'static str> {
        match self {
            ProviderApi::OpenAiChat => Some("/v1/chat/completions"),
            ProviderApi::OpenAiResponses => Some("/v1/responses"),
            ProviderApi::OpenAiEmbeddings => Some("/v1/embeddings"),
            ProviderApi::AnthropicMessages => Some("/v1/messages"),
            ProviderApi::AnthropicCountTokens => Some("/v1/messages/count_tokens"),
            ProviderApi::Gemini | ProviderApi::BedrockConverse => None,
        }
    }

    /// Whether the provider's SSE and error bodies are Anthropic's.
    pub fn is_anthropic(self) -> bool {
        matches!(
            self,
            ProviderApi::AnthropicMessages | ProviderApi::AnthropicCountTokens
        )
    }
}

/// What the gateway does with a request of one API sent to a provider of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Same format: the body goes through with `model` rewritten (see
    /// [`crate::prepare_request`]); the response goes through untouched and is only observed.
    Passthrough,
    /// OpenAI chat client, Anthropic Messages provider.
    OpenAiToAnthropic,
    /// Anthropic Messages client, OpenAI chat provider.
    AnthropicToOpenAi,
}

impl Plan {
    /// The plan for a pair, or [`LlmError::NoRoute`] when neither passthrough nor a
    /// translation exists (for example Responses to Anthropic: not translated yet).
    pub fn new(client: ClientApi, provider: ProviderApi) -> Result<Plan, LlmError> {
        use ClientApi as C;
        use ProviderApi as P;
        match (client, provider) {
            (C::OpenAiChat, P::OpenAiChat)
            | (C::OpenAiResponses, P::OpenAiResponses)
            | (C::OpenAiEmbeddings, P::OpenAiEmbeddings)
            | (C::AnthropicMessages, P::AnthropicMessages)
            | (C::AnthropicCountTokens, P::AnthropicCountTokens) => Ok(Plan::Passthrough),
            (C::OpenAiChat, P::AnthropicMessages) => Ok(Plan::OpenAiToAnthropic),
            (C::AnthropicMessages, P::OpenAiChat) => Ok(Plan::AnthropicToOpenAi),
            _ => Err(LlmError::NoRoute {
                client: client.name(),
                provider: provider.name(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_detected_with_and_without_v1() {
        let post = Method::POST;
        for (path, api) in [
            ("/v1/chat/completions", ClientApi::OpenAiChat),
            ("/chat/completions", ClientApi::OpenAiChat),
            ("/v1/chat/completions/", ClientApi::OpenAiChat),
            ("/v1/chat/completions?x=1", ClientApi::OpenAiChat),
            ("/v1/responses", ClientApi::OpenAiResponses),
            ("/v1/embeddings", ClientApi::OpenAiEmbeddings),
            ("/v1/messages", ClientApi::AnthropicMessages),
            ("/messages", ClientApi::AnthropicMessages),
            ("/v1/messages/count_tokens", ClientApi::AnthropicCountTokens),
        ] {
            assert_eq!(ClientApi::detect(&post, path), Some(api), "{path}");
            assert!(api
                .path()
                .ends_with(path.split('?').next().unwrap().trim_end_matches('/')));
        }
        assert_eq!(
            ClientApi::detect(&Method::GET, "/v1/models"),
            Some(ClientApi::OpenAiModels)
        );
        assert_eq!(ClientApi::detect(&post, "/v1/models"), None);
        assert_eq!(ClientApi::detect(&Method::GET, "/v1/messages"), None);
        assert_eq!(ClientApi::detect(&post, "/v1/messages/batches"), None);
        assert_eq!(ClientApi::detect(&post, "/v2/chat/completions"), None);
        assert_eq!(ClientApi::detect(&post, "/v1/v1/messages"), None);
    }

    #[test]
    fn plans() {
        assert_eq!(
            Plan::new(ClientApi::OpenAiChat, ProviderApi::OpenAiChat).unwrap(),
            Plan::Passthrough
        );
        assert_eq!(
            Plan::new(ClientApi::OpenAiChat, ProviderApi::AnthropicMessages).unwrap(),
            Plan::OpenAiToAnthropic
        );
        assert_eq!(
            Plan::new(ClientApi::AnthropicMessages, ProviderApi::OpenAiChat).unwrap(),
            Plan::AnthropicToOpenAi
        );
        assert!(Plan::new(ClientApi::OpenAiResponses, ProviderApi::AnthropicMessages).is_err());
        assert!(Plan::new(ClientApi::OpenAiChat, ProviderApi::Gemini).is_err());
    }
}
