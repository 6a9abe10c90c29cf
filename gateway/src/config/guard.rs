//! The `promptGuard` policy of the config file: regex guards (built-in detectors and custom
//! patterns) on requests and responses of routes to `ai` backends, and a webhook guard on
//! requests.
//!
//! Lowered by `model::lower::guard`, served by `proxy::ai::guard`; docs/config.md
//! ("promptGuard") documents every key and the webhook's JSON contract.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::Duration;
pub use crate::guard::Builtin;

/// `promptGuard`: what may not reach a provider, and what may not come back from one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptGuardConfig {
    /// Guards on the client's request (the text of its messages, system prompt, prompt or
    /// input), before a provider is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestGuards>,
    /// Guards on the provider's answer (its text, complete and streamed), before the client
    /// gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseGuards>,
}

/// The guards of requests: the regex guard first, then the webhook (which sees the text as
/// the regex guard left it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestGuards {
    /// Patterns matched in the request's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexGuardConfig>,
    /// A service asked about the request's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookGuardConfig>,
}

/// The guards of responses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseGuards {
    /// Patterns matched in the response's text (streams too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexGuardConfig>,
}

/// A regex guard: built-in detectors and custom patterns, and what to do on a match.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexGuardConfig {
    /// `reject` (default): refuse the request with `400`, or end the response; `mask`:
    /// replace each match with its placeholder.
    #[serde(default)]
    pub action: GuardAction,
    /// Built-in detectors: `email`, `creditCard` (Luhn-checked), `usSsn`, `phoneNumber`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builtins: Vec<Builtin>,
    /// Custom patterns (Rust `regex` syntax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<GuardPattern>,
    /// What `mask` writes instead of a built-in's match (default: its placeholder, such as
    /// `<EMAIL>`), and instead of a pattern's match when the pattern sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// A custom pattern.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardPattern {
    /// Its name, in metrics, logs and rejection messages.
    pub name: String,
    /// The pattern (Rust `regex` syntax; `(?i)` for case-insensitive).
    pub pattern: String,
    /// What `mask` writes instead of a match. Default: the guard's `replacement`, else
    /// `<NAME>` (the name upper-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// What a regex guard does on a match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GuardAction {
    /// Refuse the request, or end the response with an error.
    #[default]
    Reject,
    /// Replace the match.
    Mask,
}

/// A webhook guard: the request's texts are POSTed to `url`, which answers `allow`,
/// `reject` (with a reason) or `mask` (with the texts to send instead).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookGuardConfig {
    /// `http://` or `https://` URL of the guard service.
    pub url: String,
    /// How long the service may take to answer. Default 2s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// When the service cannot be reached, is too slow, or answers something else than the
    /// contract: `failClosed` (default) refuses the request with `503`, `failOpen` lets it
    /// through unchanged.
    #[serde(default)]
    pub failure_mode: GuardFailureMode,
    /// Headers sent with each call (a credential for the service, say).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// What happens when the webhook fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum GuardFailureMode {
    /// Let the request through unchanged.
    FailOpen,
    /// Refuse it with `503`.
    #[default]
    FailClosed,
}
