//! Which LLM API a client speaks (detected from the request line) and which one a provider
//! speaks, and what the gateway does between the two: pass the body through or translate.

use std::borrow::Cow;

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
    /// Gemini `generateContent` / `streamGenerateContent?alt=sse` (Gemini API and Vertex AI).
    Gemini,
    /// Amazon Bedrock Converse / ConverseStream.
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

    /// Whether the provider's error bodies are OpenAI's (`{"error":{"message",...}}`).
    pub fn is_openai(self) -> bool {
        matches!(
            self,
            ProviderApi::OpenAiChat | ProviderApi::OpenAiResponses | ProviderApi::OpenAiEmbeddings
        )
    }

    /// The path below the provider's base URL for a request for `model`, streamed or not:
    /// the fixed [`ProviderApi::path`], or for Gemini
    /// `/v1beta/models/{model}:generateContent` (`:streamGenerateContent?alt=sse`) and for
    /// Bedrock `/model/{modelId}/converse` (`/converse-stream`). The model is
    /// percent-encoded (Bedrock ids hold `:`, and ARNs `/`), as the AWS SDKs do.
    pub fn path_for_model(self, model: &str, stream: bool) -> Cow<'static, str> {
        match self {
            ProviderApi::Gemini => Cow::Owned(crate::gemini::path(model, stream)),
            ProviderApi::BedrockConverse => Cow::Owned(crate::bedrock::path(model, stream)),
            p => Cow::Borrowed(p.path().unwrap_or("/")),
        }
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
    /// OpenAI chat client, Gemini provider.
    OpenAiToGemini,
    /// Anthropic Messages client, Gemini provider.
    AnthropicToGemini,
    /// OpenAI chat client, Bedrock Converse provider.
    OpenAiToBedrock,
    /// Anthropic Messages client, Bedrock Converse provider.
    AnthropicToBedrock,
    /// OpenAI Responses client, Anthropic Messages provider.
    ResponsesToAnthropic,
    /// OpenAI Responses client, Gemini provider.
    ResponsesToGemini,
    /// OpenAI Responses client, Bedrock Converse provider.
    ResponsesToBedrock,
}

impl Plan {
    /// The plan for a pair, or [`LlmError::NoRoute`] when neither passthrough nor a
    /// translation exists (for example Responses to OpenAI chat: not translated yet).
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
            (C::OpenAiChat, P::Gemini) => Ok(Plan::OpenAiToGemini),
            (C::AnthropicMessages, P::Gemini) => Ok(Plan::AnthropicToGemini),
            (C::OpenAiChat, P::BedrockConverse) => Ok(Plan::OpenAiToBedrock),
            (C::AnthropicMessages, P::BedrockConverse) => Ok(Plan::AnthropicToBedrock),
            (C::OpenAiResponses, P::AnthropicMessages) => Ok(Plan::ResponsesToAnthropic),
            (C::OpenAiResponses, P::Gemini) => Ok(Plan::ResponsesToGemini),
            (C::OpenAiResponses, P::BedrockConverse) => Ok(Plan::ResponsesToBedrock),
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
        assert_eq!(
            Plan::new(ClientApi::OpenAiResponses, ProviderApi::AnthropicMessages).unwrap(),
            Plan::ResponsesToAnthropic
        );
        assert!(Plan::new(ClientApi::OpenAiResponses, ProviderApi::OpenAiChat).is_err());
        for (client, provider, plan) in [
            (
                ClientApi::OpenAiChat,
                ProviderApi::Gemini,
                Plan::OpenAiToGemini,
            ),
            (
                ClientApi::AnthropicMessages,
                ProviderApi::Gemini,
                Plan::AnthropicToGemini,
            ),
            (
                ClientApi::OpenAiChat,
                ProviderApi::BedrockConverse,
                Plan::OpenAiToBedrock,
            ),
            (
                ClientApi::AnthropicMessages,
                ProviderApi::BedrockConverse,
                Plan::AnthropicToBedrock,
            ),
        ] {
            assert_eq!(Plan::new(client, provider).unwrap(), plan);
        }
        assert_eq!(
            Plan::new(ClientApi::OpenAiResponses, ProviderApi::Gemini).unwrap(),
            Plan::ResponsesToGemini
        );
        assert_eq!(
            Plan::new(ClientApi::OpenAiResponses, ProviderApi::BedrockConverse).unwrap(),
            Plan::ResponsesToBedrock
        );
        assert!(Plan::new(
            ClientApi::AnthropicCountTokens,
            ProviderApi::BedrockConverse
        )
        .is_err());
    }

    #[test]
    fn model_paths() {
        let p = |api: ProviderApi, m: &str, s: bool| api.path_for_model(m, s).into_owned();
        assert_eq!(
            p(ProviderApi::Gemini, "gemini-2.5-flash", false),
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            p(ProviderApi::Gemini, "models/gemini-2.5-pro", true),
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            p(
                ProviderApi::BedrockConverse,
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                false
            ),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert_eq!(
            p(
                ProviderApi::BedrockConverse,
                "arn:aws:bedrock:us-east-1:1:inference-profile/x",
                true
            ),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/converse-stream"
        );
        assert_eq!(
            p(ProviderApi::OpenAiChat, "gpt-4o", true),
            "/v1/chat/completions"
        );
    }
}
