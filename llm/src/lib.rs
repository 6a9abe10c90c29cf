//! LLM API translation for the gateway's `ai` backends: pure, network-free.
//!
//! The gateway's use, per request:
//! 1. [`ClientApi::detect`] the client's API from method and path, [`inspect_request`] the
//!    body for the model and whether it streams, choose a provider, and get the
//!    [`Plan`] for the pair.
//! 2. [`prepare_request`] the body for the provider (passthrough rewrites only `model`;
//!    a translation goes through the [`ir`]).
//! 3. A complete response: [`translate_response`] (body for the client and [`Usage`]). A
//!    stream: a [`ResponseStream`], fed each body chunk, giving the bytes to send at once.
//! 4. Errors: [`error_response`] for the gateway's own, [`translate_error_body`] for the
//!    provider's, [`ResponseStream::abort`] / [`error_event`] once a stream is under way.
//!
//! The README lists what is translated, what is lost in translation and why, and the
//! defaults.

mod anthropic;
mod api;
mod bedrock;
mod client_error;
mod error;
mod gemini;
pub mod ir;
mod models;
mod openai;
mod passthrough;
mod responses;
mod stream;
mod usage;

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::Value;

pub use api::{ClientApi, Plan, ProviderApi};
pub use client_error::{
    error_event, error_response, read_error_body, translate_error_body, ErrorKind, JSON,
};
pub use error::LlmError;
pub use models::models_list_body;
pub use passthrough::{inspect_request, rewrite_body, RequestInfo};
pub use stream::{Outcome, ResponseStream, StreamOutput, MAX_EVENT};
pub use usage::Usage;

/// The content type of a streamed response.
pub const EVENT_STREAM: &str = "text/event-stream";

/// The content type of a Bedrock ConverseStream response: AWS's binary event stream, which
/// [`ResponseStream`] decodes for the Bedrock plans (the client still gets SSE).
pub const AWS_EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Whether a provider's response with this `Content-Type` is a stream (SSE, or Bedrock's
/// binary event stream) rather than a complete body.
pub fn is_stream_content_type(content_type: &str) -> bool {
    let ct = content_type.trim_start();
    ct.starts_with(EVENT_STREAM) || ct.starts_with(AWS_EVENT_STREAM)
}

/// The Vertex AI path of a Gemini model (the body is the Gemini API's):
/// `/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`
/// (`:streamGenerateContent?alt=sse`). The Gemini API's is [`ProviderApi::path_for_model`].
pub fn vertex_gemini_path(project: &str, location: &str, model: &str, stream: bool) -> String {
    let api = gemini::path(model, stream);
    let rest = api.strip_prefix("/v1beta").unwrap_or(&api);
    format!(
        "/v1/projects/{}/locations/{}/publishers/google{rest}",
        bedrock::encode_segment(project),
        bedrock::encode_segment(location)
    )
}

/// The Vertex AI path of an Anthropic model (`rawPredict`, or `streamRawPredict` for a
/// stream), under a project and location; the body is the Messages API's made by
/// [`vertex_anthropic_body`].
pub fn vertex_anthropic_path(project: &str, location: &str, model: &str, stream: bool) -> String {
    format!(
        "/v1/projects/{}/locations/{}/publishers/anthropic/models/{}:{}",
        bedrock::encode_segment(project),
        bedrock::encode_segment(location),
        // `@` (the version in `claude-sonnet-4-5@20250929`) is valid in a path segment, and
        // Google's documentation writes it as it is.
        bedrock::encode_segment(model).replace("%40", "@"),
        if stream {
            "streamRawPredict"
        } else {
            "rawPredict"
        }
    )
}

/// The `anthropic_version` Vertex AI takes in the body of a Claude request.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// A Messages request body as Vertex AI takes it for Anthropic models: without `model` (it is
/// in the path) and with `anthropic_version` (kept when the client set one); every other field
/// byte for byte.
pub fn vertex_anthropic_body(body: &[u8]) -> Result<Bytes, LlmError> {
    passthrough::vertex_anthropic_body(body, VERTEX_ANTHROPIC_VERSION)
}

/// Choices a translation makes that the gateway may want to set.
#[derive(Debug, Clone)]
pub struct TranslateOptions {
    /// `max_tokens` sent to Anthropic (which requires it) when an OpenAI client gave none.
    pub default_max_tokens: u64,
    /// Send an Anthropic client's `max_tokens` to OpenAI as `max_completion_tokens` (which
    /// OpenAI's reasoning models require) instead of `max_tokens` (which every
    /// OpenAI-compatible server knows).
    pub openai_max_completion_tokens: bool,
    /// Ask an OpenAI chat provider for usage in streams (`stream_options.include_usage`).
    /// On by default; off only for a server that refuses the field (it then streams no
    /// usage, and metering reads zero).
    pub openai_stream_usage: bool,
}

/// The default output limit for Anthropic when the client set none: large enough not to cut
/// ordinary replies, small enough for every current Claude model's output limit.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            default_max_tokens: DEFAULT_MAX_TOKENS,
            openai_max_completion_tokens: false,
            openai_stream_usage: true,
        }
    }
}

/// A request body ready for the provider.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// The body to send.
    pub body: Bytes,
    /// The path below the provider's base URL (for Gemini and Bedrock it names the model,
    /// see [`ProviderApi::path_for_model`]).
    pub path: Cow<'static, str>,
    /// The response will be a stream.
    pub stream: bool,
    /// The client asked for usage in its stream itself (pass to [`ResponseStream::new`]).
    pub client_wants_usage: bool,
}

/// The body to send to the provider for a client request.
///
/// `model`: the provider's model name (`None` keeps the client's). Passthrough keeps every
/// byte but the `model` value, and asks a streamed OpenAI chat request for usage
/// (`stream_options.include_usage: true`); translations rewrite the whole body (and streamed
/// translations to OpenAI always ask for usage too).
pub fn prepare_request(
    plan: Plan,
    client: ClientApi,
    provider: ProviderApi,
    body: &[u8],
    model: Option<&str>,
    opts: &TranslateOptions,
) -> Result<PreparedRequest, LlmError> {
    let (body, path, stream, client_wants_usage) = match plan {
        Plan::Passthrough => {
            let usage_if_streamed = provider == ProviderApi::OpenAiChat && opts.openai_stream_usage;
            let (body, info) = rewrite_body(body, model, usage_if_streamed)?;
            let path = provider.path().unwrap_or(client.path());
            (
                body,
                Cow::Borrowed(path),
                info.stream,
                info.client_wants_usage,
            )
        }
        Plan::OpenAiToAnthropic => {
            let (mut req, wants_usage) = openai::parse_request(body)?;
            if let Some(m) = model {
                req.model = m.to_string();
            }
            let body = anthropic::write_request(&req, opts)
                .to_string()
                .into_bytes();
            (body, Cow::Borrowed("/v1/messages"), req.stream, wants_usage)
        }
        Plan::ResponsesToAnthropic => {
            let mut req = responses::parse_request(body)?;
            if let Some(m) = model {
                req.model = m.to_string();
            }
            let body = anthropic::write_request(&req, opts)
                .to_string()
                .into_bytes();
            (body, Cow::Borrowed("/v1/messages"), req.stream, false)
        }
        Plan::AnthropicToOpenAi => {
            let mut req = anthropic::parse_request(body)?;
            if let Some(m) = model {
                req.model = m.to_string();
            }
            let body = openai::write_request(&req, opts).to_string().into_bytes();
            (
                body,
                Cow::Borrowed("/v1/chat/completions"),
                req.stream,
                false,
            )
        }
        Plan::OpenAiToGemini
        | Plan::AnthropicToGemini
        | Plan::OpenAiToBedrock
        | Plan::AnthropicToBedrock
        | Plan::ResponsesToGemini
        | Plan::ResponsesToBedrock => {
            let parsed = match client {
                ClientApi::AnthropicMessages => anthropic::parse_request(body).map(|r| (r, false)),
                ClientApi::OpenAiResponses => responses::parse_request(body).map(|r| (r, false)),
                _ => openai::parse_request(body),
            };
            let (mut req, wants_usage) = parsed.map_err(|e| e.retarget(provider.name()))?;
            if let Some(m) = model {
                req.model = m.to_string();
            }
            let body = if provider == ProviderApi::Gemini {
                gemini::write_request(&req)?
            } else {
                bedrock::write_request(&req)?
            };
            let path = provider.path_for_model(&req.model, req.stream);
            (body.to_string().into_bytes(), path, req.stream, wants_usage)
        }
    };
    Ok(PreparedRequest {
        body: Bytes::from(body),
        path,
        stream,
        client_wants_usage,
    })
}

/// A complete (non-streamed) provider response for the client, and its usage. Passthrough
/// returns the body unchanged (usage read on the side; a body without usage counts zero).
pub fn translate_response(
    plan: Plan,
    provider: ProviderApi,
    body: &Bytes,
) -> Result<(Bytes, Usage), LlmError> {
    match plan {
        Plan::Passthrough => Ok((body.clone(), response_usage(provider, body))),
        Plan::OpenAiToAnthropic => {
            let resp = anthropic::parse_response(body)?;
            Ok((
                Bytes::from(openai::write_response(&resp).to_string()),
                resp.usage,
            ))
        }
        Plan::AnthropicToOpenAi => {
            let resp = openai::parse_response(body)?;
            Ok((
                Bytes::from(anthropic::write_response(&resp).to_string()),
                resp.usage,
            ))
        }
        Plan::ResponsesToAnthropic => {
            let resp = anthropic::parse_response(body)?;
            Ok((
                Bytes::from(responses::write_response(&resp).to_string()),
                resp.usage,
            ))
        }
        Plan::OpenAiToGemini
        | Plan::AnthropicToGemini
        | Plan::ResponsesToGemini
        | Plan::OpenAiToBedrock
        | Plan::AnthropicToBedrock
        | Plan::ResponsesToBedrock => {
            let resp = match plan {
                Plan::OpenAiToGemini | Plan::AnthropicToGemini | Plan::ResponsesToGemini => {
                    gemini::parse_response(body)?
                }
                _ => bedrock::parse_response(body)?,
            };
            let out = match plan {
                Plan::OpenAiToGemini | Plan::OpenAiToBedrock => openai::write_response(&resp),
                Plan::ResponsesToGemini | Plan::ResponsesToBedrock => {
                    responses::write_response(&resp)
                }
                _ => anthropic::write_response(&resp),
            };
            Ok((Bytes::from(out.to_string()), resp.usage))
        }
    }
}

/// The usage in a complete response of `provider`'s format (zero when absent or unreadable).
pub fn response_usage(provider: ProviderApi, body: &[u8]) -> Usage {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct WithUsage {
        usage: Option<Value>,
        usage_metadata: Option<Value>,
    }
    let Ok(with) = serde_json::from_slice::<WithUsage>(body) else {
        return Usage::default();
    };
    if provider == ProviderApi::Gemini {
        return with
            .usage_metadata
            .as_ref()
            .map(gemini::usage)
            .unwrap_or_default();
    }
    let Some(u) = with.usage else {
        return Usage::default();
    };
    match provider {
        ProviderApi::BedrockConverse => bedrock::usage(&u),
        p if p.is_anthropic() => Usage::from_anthropic(&u),
        ProviderApi::OpenAiResponses => stream::responses_usage(&u),
        // Embeddings: prompt_tokens (and total_tokens) only.
        _ => Usage::from_openai(&u),
    }
}

#[cfg(test)]
mod tests;
