//! What the LLM routing tests share: a gateway with one route `/llm` to an `ai` backend,
//! the base URL each official SDK takes for it, and its set-aside count per provider.

use e2e::llm::Sdk;
use e2e::Gateway;

/// One route `/llm` to the `ai` backend whose `ai:` block is `ai` (YAML, indented by 4).
pub fn config(ai: &str) -> String {
    format!(
        "binds:
- port: {{port}}
  address: 127.0.0.1
  listeners:
  - name: main
    routes:
    - name: llm
      matches: [{{ path: {{ prefix: /llm }} }}]
      backends: [{{ backend: llm }}]
backends:
- name: llm
  ai:
{ai}"
    )
}

/// The base URL each SDK takes for the gateway's route.
pub fn base(sdk: Sdk, gw: &Gateway) -> String {
    match sdk {
        Sdk::OpenAi => gw.url("/llm/v1"),
        Sdk::Anthropic => gw.url("/llm"),
    }
}

/// How often the gateway set `provider` aside after a 429 (`rate_limited`).
pub async fn rate_limited_set_asides(gw: &Gateway, provider: &str) -> f64 {
    gw.metric_or_zero(
        "switchboard_ai_provider_set_aside_total",
        &[("provider", provider), ("result", "rate_limited")],
    )
    .await
}
