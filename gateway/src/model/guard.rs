//! The `promptGuard` policy, compiled: the rules of each regex guard (patterns compiled once,
//! at load), the webhook with its client. The `ai` terminal runs them (`proxy::ai::guard`);
//! the engine is [`crate::guard`].

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use crate::guard::{Action, Detector};

/// A route's `promptGuard`.
#[derive(Debug)]
pub struct PromptGuard {
    /// `request.regex`.
    pub request: Option<RegexGuard>,
    /// `request.webhook`, after the regex guard.
    pub webhook: Option<Webhook>,
    /// `response.regex`.
    pub response: Option<RegexGuard>,
}

/// A regex guard.
#[derive(Debug, Clone)]
pub struct RegexGuard {
    /// Its rules.
    pub detector: Arc<Detector>,
    /// `reject` or `mask`.
    pub action: Action,
}

/// A webhook guard.
#[derive(Debug)]
pub struct Webhook {
    /// Where the texts are POSTed.
    pub url: reqwest::Url,
    /// How long it may take.
    pub timeout: Duration,
    /// `failOpen`: a failed call lets the request through.
    pub fail_open: bool,
    /// Headers sent with each call.
    pub headers: HeaderMap,
    /// The client (no redirects, bounded connects).
    pub client: reqwest::Client,
}
