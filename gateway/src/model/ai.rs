//! An `ai` backend as the data path reads it: providers in priority groups, the model names
//! clients may use, and each provider's live state (set aside, load), with the choice of the
//! providers that serve a request, in the order they are tried.
//!
//! The choice is data plus one function ([`AiBackend::candidates`]): groups in order; inside a
//! group the better of two providers drawn by weight first (power of two choices on a load
//! score: the EWMA of time to response headers times the requests in flight), then the rest
//! by score. A provider set aside (it answered 429 or 5xx, refused the connection or timed out)
//! is left out until its time is up. State lives in the model: a config reload starts afresh.

mod budget;
mod choice;
mod pricing;
mod state;

use std::sync::Arc;
use std::time::Duration;

use llm::{ClientApi, ProviderApi};

use super::policy::UpstreamAuth;
use super::upstream::Upstream;
pub use budget::{Amounts, BudgetLimit, BudgetPer, Reservation, TokenBudgets, Unit};
pub use choice::{Candidate, NoCandidate};
pub use pricing::{price_for, Price};
pub use state::{Failure, InFlight, ProviderState};

/// One `ai` backend.
#[derive(Debug)]
pub struct AiBackend {
    /// The backend's name (metrics and logs).
    pub name: Arc<str>,
    /// Priority groups, in order.
    pub groups: Vec<Vec<Arc<Provider>>>,
    /// `models`, in order; empty: any name, any provider.
    pub models: Vec<ModelRule>,
    /// How long a failing provider is left out.
    pub set_aside: SetAsidePolicy,
    /// `streamIdleTimeout`: the longest a provider may send nothing.
    pub stream_idle: Duration,
    /// `pricing`, in order.
    pub pricing: Vec<Price>,
}

/// The default `streamIdleTimeout`.
pub const DEFAULT_STREAM_IDLE: Duration = Duration::from_secs(60);

/// `setAside`.
#[derive(Debug, Clone, Copy)]
pub struct SetAsidePolicy {
    /// Without `Retry-After`.
    pub default: Duration,
    /// The cap on `Retry-After`.
    pub max: Duration,
}

impl Default for SetAsidePolicy {
    fn default() -> Self {
        SetAsidePolicy {
            default: Duration::from_secs(30),
            max: Duration::from_secs(300),
        }
    }
}

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI, or a server speaking its API.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google's Gemini API (`generateContent`).
    Gemini,
    /// Gemini models on Vertex AI (the Gemini API's body, a project's path).
    Vertex,
    /// Anthropic's Claude models on Vertex AI (the Messages body with `anthropic_version` and
    /// no `model`, a project's `rawPredict` path).
    VertexAnthropic,
    /// Amazon Bedrock Converse.
    Bedrock,
}

impl ProviderKind {
    /// Whether it takes Anthropic's headers (`anthropic-version`, `anthropic-beta`).
    pub fn speaks_anthropic(self) -> bool {
        matches!(
            self,
            ProviderKind::Anthropic | ProviderKind::VertexAnthropic
        )
    }

    /// The provider API that serves a client of `client`, or `None` when this kind of
    /// provider cannot serve it (even through a translation).
    pub fn api_for(self, client: ClientApi) -> Option<ProviderApi> {
        use ClientApi as C;
        match (self, client) {
            (ProviderKind::OpenAi, C::OpenAiChat | C::AnthropicMessages) => {
                Some(ProviderApi::OpenAiChat)
            }
            (ProviderKind::OpenAi, C::OpenAiResponses) => Some(ProviderApi::OpenAiResponses),
            (ProviderKind::OpenAi, C::OpenAiEmbeddings) => Some(ProviderApi::OpenAiEmbeddings),
            (
                ProviderKind::Anthropic | ProviderKind::VertexAnthropic,
                C::AnthropicMessages | C::OpenAiChat | C::OpenAiResponses,
            ) => Some(ProviderApi::AnthropicMessages),
            (ProviderKind::Anthropic, C::AnthropicCountTokens) => {
                Some(ProviderApi::AnthropicCountTokens)
            }
            // Chat and Responses are translated to these (no embeddings or count_tokens).
            (
                ProviderKind::Gemini | ProviderKind::Vertex,
                C::OpenAiChat | C::AnthropicMessages | C::OpenAiResponses,
            ) => Some(ProviderApi::Gemini),
            (ProviderKind::Bedrock, C::OpenAiChat | C::AnthropicMessages | C::OpenAiResponses) => {
                Some(ProviderApi::BedrockConverse)
            }
            _ => None,
        }
    }

    /// The name in metrics (`gen_ai_provider_name`, after OpenTelemetry's values).
    pub fn system(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gcp.gemini",
            ProviderKind::Vertex | ProviderKind::VertexAnthropic => "gcp.vertex_ai",
            ProviderKind::Bedrock => "aws.bedrock",
        }
    }
}

/// One provider of an `ai` backend.
#[derive(Debug)]
pub struct Provider {
    /// `name`, unique in the backend.
    pub name: Arc<str>,
    /// Its wire format.
    pub kind: ProviderKind,
    /// `host[:port]` of its base URL.
    pub upstream: Upstream,
    /// The TLS server name when the base URL is `https` (`backendTLS.hostname` or its host).
    pub tls: Option<Arc<str>>,
    /// The base URL's path without a trailing `/` (`""`, `/v1`, `/openai/v1`).
    pub base_path: String,
    /// The provider's model name, sent unless a `models` entry says otherwise.
    pub model: Option<String>,
    /// Share within its group; 0: only for `models` entries naming it.
    pub weight: u32,
    /// `backendAuth`.
    pub auth: Option<UpstreamAuth>,
    /// A `vertex` provider's project and location (its paths name them).
    pub vertex: Option<VertexPlace>,
    /// Set aside, load.
    pub state: Arc<ProviderState>,
    /// An `inferencePool` provider's pool: each attempt goes to the model server its picker
    /// chooses (`upstream` then only names the pool's first endpoint).
    pub pool: Option<Arc<super::pool::InferencePool>>,
}

/// Where a `vertex` provider's models are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VertexPlace {
    /// The Google Cloud project id.
    pub project: String,
    /// The Vertex AI location (`us-central1`, `global`).
    pub location: String,
}

impl Provider {
    /// The path and query for an API path (`/v1/chat/completions`): the base path, then the
    /// API path without its `/v1` when the base path already ends with it. Only a whole
    /// `/v1` segment is dropped: Gemini's `/v1beta/...` stays as it is.
    pub fn path_for(&self, api_path: &str) -> String {
        let rest = match api_path.strip_prefix("/v1") {
            Some(rest)
                if self.base_path.ends_with("/v1")
                    && (rest.is_empty() || rest.starts_with(['/', '?'])) =>
            {
                rest
            }
            _ => api_path,
        };
        format!("{}{rest}", self.base_path)
    }

    /// The path and query of a translated request whose API path is `api_path` (as
    /// `llm::prepare_request` gave it) for `model`: a `vertex` provider's names its project,
    /// location and the model; the others' is [`Provider::path_for`].
    pub fn request_path(&self, api_path: &str, model: &str, stream: bool) -> String {
        match (&self.vertex, self.kind) {
            (Some(v), ProviderKind::VertexAnthropic) => self.path_for(&llm::vertex_anthropic_path(
                &v.project,
                &v.location,
                model,
                stream,
            )),
            (Some(v), _) => self.path_for(&llm::vertex_gemini_path(
                &v.project,
                &v.location,
                model,
                stream,
            )),
            (None, _) => self.path_for(api_path),
        }
    }
}

/// An entry of `models`.
#[derive(Debug)]
pub struct ModelRule {
    /// The client's name, with `*` wildcards.
    pub pattern: String,
    /// The provider serving it.
    pub provider: Arc<Provider>,
    /// The provider's name for it.
    pub model: Option<String>,
    /// Request headers that must carry these values too.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl ModelRule {
    /// Whether the client's model name matches the pattern, and the request the headers.
    pub fn matches(&self, name: &str, headers: &http::HeaderMap) -> bool {
        glob_match(&self.pattern, name)
            && self
                .headers
                .iter()
                .all(|(n, v)| headers.get_all(n).iter().any(|have| have == v))
    }

    /// Whether two entries are the same choice (one failover list).
    fn same_choice(&self, other: &ModelRule) -> bool {
        self.pattern == other.pattern && self.headers == other.headers
    }
}

/// `*` matches any run of characters (none included); everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests;
