//! The `ai` backend of the config file: LLM providers in priority groups, the model names
//! clients may ask for, and how long a failing provider is set aside.
//!
//! Lowered by `model::lower::ai`, served by `proxy::ai`; docs/config.md ("ai backends")
//! documents every key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::file::BackendTls;
use super::units::Duration;

/// An `ai` backend: one endpoint for several LLM providers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiBackendConfig {
    /// Priority groups, tried in order: a request goes to the first group with a provider that
    /// can serve its model and is not set aside, and moves to the next group when that
    /// provider fails (connection error, timeout, 429 or 5xx) before its answer began.
    pub groups: Vec<AiGroup>,
    /// The model names clients may ask for, each mapped to a provider (and optionally to that
    /// provider's own name for it). First match wins; `*` in a name matches any characters.
    /// Absent: any model name goes to any provider, renamed to the provider's `model` when it
    /// has one. Present: a name no entry matches is refused with `404`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<AiModel>,
    /// How long a provider that failed is left out of the choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_aside: Option<SetAside>,
    /// How long a provider may send nothing: before the first byte of a stream (then the
    /// next provider is tried) and between chunks after it (then the client's stream ends
    /// with an error event). Default 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout: Option<Duration>,
    /// Prices of the providers' models, in US dollars per million tokens: the cost metric
    /// and spend budgets (`tokenRateLimit` with `maxCost`) read them. First match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pricing: Vec<ModelPrice>,
}

/// The price of a provider model, in US dollars per million tokens.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelPrice {
    /// The provider's model name (as sent to it), with `*` wildcards.
    pub model: String,
    /// Input tokens not read from a cache.
    pub input: f64,
    /// Output tokens, reasoning included.
    pub output: f64,
    /// Input tokens read from the provider's cache. Default: `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Input tokens written to the provider's cache. Default: `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation: Option<f64>,
}

/// `tokenRateLimit`: token and spend budgets, in this replica's memory or shared through
/// Redis.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRateLimitConfig {
    /// The buckets; a request needs its estimate in each.
    pub limits: Vec<TokenLimitConfig>,
    /// Where the buckets are kept: absent, this replica's memory; `{redis: {url, timeout,
    /// keyPrefix}}`, shared by every replica (as `rateLimit`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<ratelimit::StoreConfig>,
    /// With a store: what a request gets when Redis cannot answer in time (default
    /// `failOpen`).
    #[serde(default)]
    pub failure_mode: ratelimit::FailureMode,
}

/// One `tokenRateLimit` bucket: tokens (`maxTokens`, `tokensPerFill`) or money
/// (`maxCost`, `costPerFill`, in US dollars, priced by the backend's `pricing`), refilled
/// every `fillInterval`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenLimitConfig {
    /// The bucket's size in tokens (input and output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Tokens added at each fill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_fill: Option<u64>,
    /// The bucket's size in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
    /// Dollars added at each fill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_fill: Option<f64>,
    /// Time between fills (`1m`, `1h`, `24h`).
    pub fill_interval: Duration,
    /// Whose bucket: `route` (default), `identity` (the authenticated caller, else the
    /// client address) or `model` (the model name the client asked for).
    #[serde(default)]
    pub per: TokenLimitPer,
}

/// `tokenRateLimit[].per`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TokenLimitPer {
    /// One bucket for the route.
    #[default]
    Route,
    /// One per caller.
    Identity,
    /// One per model name asked for.
    Model,
}

/// One priority group of providers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiGroup {
    /// The providers of the group; the least loaded of two chosen by weight serves first.
    pub providers: Vec<AiProvider>,
}

/// One LLM provider. Exactly one of the provider kinds is set.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiProvider {
    /// Unique name within the backend (metrics, logs and `models[].provider` use it).
    pub name: String,
    /// Relative share of requests within the group. Default 1; 0 keeps the provider for
    /// explicit `models` entries only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// OpenAI (chat completions, Responses, embeddings). Default URL `https://api.openai.com/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai: Option<ProviderEndpoint>,
    /// Anthropic Messages (and count_tokens). Default URL `https://api.anthropic.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic: Option<ProviderEndpoint>,
    /// Any server speaking OpenAI's API (vLLM, Ollama, llama.cpp server, Groq, OpenRouter,
    /// ...): `url` is required, e.g. `http://127.0.0.1:8000/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai_compatible: Option<ProviderEndpoint>,
    /// Azure OpenAI through its v1 API: `url` is the resource's endpoint
    /// (`https://RESOURCE.openai.azure.com`; `/openai/v1` is added when it has no path) and
    /// `model` the deployment name. Its key goes in the `api-key` header:
    /// `backendAuth: { key: { header: api-key, value: ... } }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_openai: Option<ProviderEndpoint>,
    /// Google's Gemini API (`generateContent`): `model` is sent in the path. Default URL
    /// `https://generativelanguage.googleapis.com`; the key goes in `x-goog-api-key`:
    /// `backendAuth: { key: { header: x-goog-api-key, value: ... } }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemini: Option<GeminiProvider>,
    /// Gemini models on Google Cloud Vertex AI, with `backendAuth: { gcp: {} }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertex: Option<VertexProvider>,
    /// Amazon Bedrock through its Converse API, signed with `backendAuth: { aws: {} }`
    /// (service `bedrock`, the provider's region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedrock: Option<BedrockProvider>,
    /// A Gateway API Inference Extension pool of model servers speaking OpenAI's API under
    /// `/v1` (vLLM, llama.cpp server, ...): each attempt goes to the server the pool's picker
    /// chooses. The client's model name is sent unchanged (rename it with `models[].model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_pool: Option<super::pool::InferencePoolConfig>,
    /// How the gateway reaches this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<ProviderPolicies>,
}

/// Where a provider is and which model it serves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderEndpoint {
    /// The provider's model name sent with every request this provider serves (unless a
    /// `models` entry names another). Absent: the client's model name is sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Base URL replacing the provider's default (regional endpoints, proxies, loopback test
    /// servers): `http://` or `https://`, with an optional path (`/v1`) that API paths are
    /// appended to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `gemini`: the Gemini API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeminiProvider {
    /// The Gemini model (`gemini-2.5-flash`) sent unless a `models` entry names another.
    /// Absent: the client's model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Base URL replacing `https://generativelanguage.googleapis.com` (the API paths,
    /// `/v1beta/models/...`, are appended to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `vertex`: Gemini (or Claude) models of a Google Cloud project on Vertex AI.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VertexProvider {
    /// The Google Cloud project id.
    pub project: String,
    /// The Vertex AI location (`us-central1`, `europe-west4`, `global`).
    pub location: String,
    /// The model sent unless a `models` entry names another. Absent: the client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whose models: `google` (Gemini, the default) or `anthropic` (Claude, through
    /// `rawPredict` / `streamRawPredict` with the Messages API's body).
    #[serde(default)]
    pub publisher: VertexPublisher,
    /// Base URL replacing `https://{location}-aiplatform.googleapis.com`
    /// (`https://aiplatform.googleapis.com` for `global`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `vertex.publisher`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VertexPublisher {
    /// Gemini models.
    #[default]
    Google,
    /// Anthropic's Claude models.
    Anthropic,
}

/// `bedrock`: Amazon Bedrock's Converse API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BedrockProvider {
    /// The AWS region (`us-east-1`): the default URL's and the signature's.
    pub region: String,
    /// The model id, inference profile or ARN sent unless a `models` entry names another.
    /// Absent: the client's model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Base URL replacing `https://bedrock-runtime.{region}.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The policies a provider takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderPolicies {
    /// The provider's credential: `key` (a bearer token, or `{header, value}` such as
    /// Anthropic's `x-api-key`), `oauth2`, `gcp`, `aws`, or `passthrough` (the client's own
    /// `Authorization`, `x-api-key` or `api-key` header goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_auth: Option<backend_auth::BackendAuthConfig>,
    /// TLS server name when it differs from the URL's host. An `https` URL uses TLS anyway.
    #[serde(
        default,
        rename = "backendTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub backend_tls: Option<BackendTls>,
}

/// A model name clients may ask for.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiModel {
    /// The name as clients send it: exact, or with `*` wildcards (`claude-*`, `*`).
    pub name: String,
    /// The provider that serves it (a `groups[].providers[].name`).
    pub provider: String,
    /// The provider's name for it. Default: the provider's `model`, else the client's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Request headers that must also match (exact values), e.g. `{x-tier: premium}`: the
    /// entry applies only to requests that carry them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// How long a failing provider is left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetAside {
    /// When the provider gave no `Retry-After` (a 5xx, a connection error, a timeout, a 429
    /// without the header). Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Duration>,
    /// The longest a `Retry-After` sets a provider aside. Default 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
}
