//! Metrics of `ai` backends, after the OpenTelemetry GenAI semantic conventions
//! (`gen_ai.client.token.usage`, `gen_ai.server.request.duration`,
//! `gen_ai.server.time_to_first_token`, `gen_ai.server.time_per_output_token`), in Prometheus
//! spelling, plus Switchboard's own counts of provider attempts and broken streams.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels `{route, provider, gen_ai_provider_name, gen_ai_request_model}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GenAiLabels {
    /// `listener/route`.
    pub route: String,
    /// The provider's configured name.
    pub provider: String,
    /// Its API family: `openai`, `anthropic`, `gcp.gemini`, `gcp.vertex_ai` or `aws.bedrock`.
    pub gen_ai_provider_name: String,
    /// The model name sent to the provider.
    pub gen_ai_request_model: String,
}

/// [`GenAiLabels`] plus `gen_ai_token_type`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// `listener/route`.
    pub route: String,
    /// The provider's configured name.
    pub provider: String,
    /// Its API family.
    pub gen_ai_provider_name: String,
    /// The model name sent to the provider.
    pub gen_ai_request_model: String,
    /// `input` or `output` (the conventions' two), and the parts of them providers report:
    /// `cache_read`, `cache_creation` (of input), `reasoning` (of output).
    pub gen_ai_token_type: String,
}

/// Labels `{route, provider, result}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// `listener/route`.
    pub route: String,
    /// The provider's configured name.
    pub provider: String,
    /// `ok`, `client_error` (a 4xx passed to the client), `rate_limited`, `unavailable`
    /// (5xx), `connect`, `timeout`, `stream_failed` (broke before its first byte).
    pub result: String,
}

/// Labels `{route, guard, action, direction}` of `promptGuard` decisions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardLabels {
    /// `listener/route`.
    pub route: String,
    /// The rule (`email`, `creditCard`, `usSsn`, `phoneNumber`, a pattern's name) or
    /// `webhook`.
    pub guard: String,
    /// `reject`, `mask`; for the webhook also `allow`, `fail_open`, `fail_closed`.
    pub action: String,
    /// `request` or `response`.
    pub direction: String,
}

/// The `ai` metrics.
#[derive(Debug, Clone)]
pub struct GenAiMetrics {
    /// Tokens per response, by type.
    pub token_usage: Family<TokenLabels, Histogram>,
    /// Time from the request's arrival to the end of the response.
    pub request_duration: Family<GenAiLabels, Histogram>,
    /// Time from the request's arrival to the first token sent to the client (streams).
    pub time_to_first_token: Family<GenAiLabels, Histogram>,
    /// Time per output token after the first (streams).
    pub time_per_output_token: Family<GenAiLabels, Histogram>,
    /// Attempts at providers, by result.
    pub attempts: Family<AttemptLabels, Counter>,
    /// Streams that broke after their first byte, by cause (`result` holds it: `truncated`,
    /// `provider_error`, `malformed`, `idle`, `read_error`, `client_gone`).
    pub stream_errors: Family<AttemptLabels, Counter>,
    /// Providers set aside, by cause (`rate_limited`, `unavailable`).
    pub set_aside: Family<AttemptLabels, Counter>,
    /// Dollars spent, by the backend's `pricing`.
    pub cost: Family<GenAiLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    /// Requests refused by `tokenRateLimit` (`provider` is `-`, `result` is `refused`).
    pub budget_refusals: Family<AttemptLabels, Counter>,
    /// `promptGuard` decisions: a rule that matched (once per request or response), each
    /// webhook answer.
    pub guard_decisions: Family<GuardLabels, Counter>,
}

impl GenAiMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let token_usage: Family<TokenLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(1.0, 4.0, 14)));
        registry.register(
            "gen_ai_client_token_usage",
            "Tokens used per LLM response, by token type (OpenTelemetry gen_ai.client.token.usage)",
            token_usage.clone(),
        );
        let seconds = || Histogram::new(exponential_buckets(0.01, 2.0, 16));
        let request_duration: Family<GenAiLabels, Histogram> =
            Family::new_with_constructor(seconds);
        registry.register(
            "gen_ai_server_request_duration_seconds",
            "Time from an LLM request's arrival to the end of its response",
            request_duration.clone(),
        );
        let time_to_first_token: Family<GenAiLabels, Histogram> =
            Family::new_with_constructor(seconds);
        registry.register(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from a streamed LLM request's arrival to its first token",
            time_to_first_token.clone(),
        );
        let time_per_output_token: Family<GenAiLabels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 14)));
        registry.register(
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token after the first, in streamed LLM responses",
            time_per_output_token.clone(),
        );
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "switchboard_ai_attempts",
            "Requests sent to LLM providers, by result",
            attempts.clone(),
        );
        let stream_errors = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "switchboard_ai_stream_errors",
            "LLM streams that failed after their first byte (the client got an error event)",
            stream_errors.clone(),
        );
        let set_aside = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "switchboard_ai_provider_set_aside",
            "LLM providers set aside after a failure, by cause",
            set_aside.clone(),
        );
        let cost = Family::<GenAiLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "gen_ai_client_cost_usd",
            "US dollars spent on LLM responses, priced by the backend's pricing table",
            cost.clone(),
        );
        let budget_refusals = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "switchboard_ai_budget_refusals",
            "LLM requests refused by tokenRateLimit, by the refusing bucket's unit",
            budget_refusals.clone(),
        );
        let guard_decisions = Family::<GuardLabels, Counter>::default();
        registry.register(
            "switchboard_ai_guard_decisions",
            "promptGuard decisions on LLM requests and responses, by guard and action",
            guard_decisions.clone(),
        );
        GenAiMetrics {
            cost,
            budget_refusals,
            guard_decisions,
            token_usage,
            request_duration,
            time_to_first_token,
            time_per_output_token,
            attempts,
            stream_errors,
            set_aside,
        }
    }

    /// Counts an attempt at a provider.
    pub fn attempt(&self, route: &str, provider: &str, result: &str) {
        self.attempts
            .get_or_create(&labels(route, provider, result))
            .inc();
    }

    /// Counts a provider set aside.
    pub fn set_aside(&self, route: &str, provider: &str, why: &str) {
        self.set_aside
            .get_or_create(&labels(route, provider, why))
            .inc();
    }

    /// Counts a `promptGuard` decision.
    pub fn guard_decision(&self, route: &str, guard: &str, action: &str, direction: &str) {
        self.guard_decisions
            .get_or_create(&GuardLabels {
                route: route.to_string(),
                guard: guard.to_string(),
                action: action.to_string(),
                direction: direction.to_string(),
            })
            .inc();
    }

    /// Counts a stream broken after its first byte.
    pub fn stream_error(&self, route: &str, provider: &str, why: &str) {
        self.stream_errors
            .get_or_create(&labels(route, provider, why))
            .inc();
    }
}

fn labels(route: &str, provider: &str, result: &str) -> AttemptLabels {
    AttemptLabels {
        route: route.to_string(),
        provider: provider.to_string(),
        result: result.to_string(),
    }
}
