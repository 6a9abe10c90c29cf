//! Lowering `promptGuard`: patterns compiled (an invalid one is a load error at its key),
//! the webhook's URL, headers and client checked.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::Lowering;
use crate::config::guard::{
    GuardAction, GuardFailureMode, PromptGuardConfig, RegexGuardConfig, WebhookGuardConfig,
};
use crate::guard::{Action, Detector, RuleSpec};
use crate::model::guard::{PromptGuard, RegexGuard, Webhook};

/// The webhook's time limit when `timeout` is not set.
const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(2);

impl Lowering<'_> {
    /// The `promptGuard` at `path`; `None` when it is empty or has errors (reported).
    pub(super) fn prompt_guard(
        &mut self,
        path: &str,
        c: &PromptGuardConfig,
    ) -> Option<Arc<PromptGuard>> {
        let before = self.errors.len();
        let request = c.request.as_ref();
        let guard = PromptGuard {
            request: request
                .and_then(|r| r.regex.as_ref())
                .and_then(|g| self.regex_guard(&format!("{path}.request.regex"), g)),
            webhook: request
                .and_then(|r| r.webhook.as_ref())
                .and_then(|w| self.webhook_guard(&format!("{path}.request.webhook"), w)),
            response: c
                .response
                .as_ref()
                .and_then(|r| r.regex.as_ref())
                .and_then(|g| self.regex_guard(&format!("{path}.response.regex"), g)),
        };
        if self.errors.len() > before {
            return None;
        }
        let empty = guard.request.is_none() && guard.webhook.is_none() && guard.response.is_none();
        (!empty).then(|| Arc::new(guard))
    }

    fn regex_guard(&mut self, path: &str, c: &RegexGuardConfig) -> Option<RegexGuard> {
        let mut specs = Vec::new();
        for b in &c.builtins {
            if specs.iter().any(|s: &RuleSpec| s.name == b.name()) {
                self.err(
                    format!("{path}.builtins"),
                    format!("{} is listed twice", b.name()),
                );
            }
            specs.push(RuleSpec::builtin(*b, c.replacement.as_deref()));
        }
        for (i, p) in c.patterns.iter().enumerate() {
            let at = format!("{path}.patterns[{i}]");
            if p.name.is_empty() || specs.iter().any(|s| s.name == p.name) {
                self.err(
                    format!("{at}.name"),
                    "each pattern needs a name of its own (not a built-in's)",
                );
            }
            // Each pattern alone, so an error names the key it is at.
            let spec = RuleSpec {
                name: p.name.clone(),
                pattern: p.pattern.clone(),
                replacement: p
                    .replacement
                    .clone()
                    .or_else(|| c.replacement.clone())
                    .unwrap_or_else(|| format!("<{}>", p.name.to_uppercase())),
                validate: None,
            };
            match Detector::new(vec![spec.clone()]) {
                Ok(_) => specs.push(spec),
                Err(e) => self.err(format!("{at}.pattern"), e.to_string()),
            }
        }
        if specs.is_empty() {
            self.err(path, "a regex guard needs builtins or patterns");
            return None;
        }
        let detector = Detector::new(specs)
            .map_err(|e| self.err(path, e.to_string()))
            .ok()?;
        Some(RegexGuard {
            detector: Arc::new(detector),
            action: match c.action {
                GuardAction::Reject => Action::Reject,
                GuardAction::Mask => Action::Mask,
            },
        })
    }

    fn webhook_guard(&mut self, path: &str, c: &WebhookGuardConfig) -> Option<Webhook> {
        let url = match reqwest::Url::parse(&c.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            Ok(_) => {
                self.err(
                    format!("{path}.url"),
                    "the webhook needs an http:// or https:// URL",
                );
                None
            }
            Err(e) => {
                self.err(format!("{path}.url"), format!("not a URL: {e}"));
                None
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &c.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                _ => self.err(
                    format!("{path}.headers.{name}"),
                    "not a valid header name and value",
                ),
            }
        }
        let timeout = c.timeout.map_or(DEFAULT_WEBHOOK_TIMEOUT, |d| d.0);
        if timeout.is_zero() {
            self.err(format!("{path}.timeout"), "the timeout must be more than 0");
        }
        let options = netkit::ReqwestOptions {
            connect_timeout: timeout.min(netkit::client::DEFAULT_CONNECT_TIMEOUT),
            timeout: Some(timeout),
            ..Default::default()
        };
        let client = match netkit::reqwest_client(options) {
            Ok(c) => Some(c),
            Err(e) => {
                self.err(format!("{path}.url"), e.to_string());
                None
            }
        };
        Some(Webhook {
            url: url?,
            timeout,
            fail_open: c.failure_mode == GuardFailureMode::FailOpen,
            headers,
            client: client?,
        })
    }
}
