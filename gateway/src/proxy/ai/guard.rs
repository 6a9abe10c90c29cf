//! `promptGuard` on the `ai` terminal: the request guards (regex, then webhook) between
//! reading the client's call and choosing a provider, and the response guard on the answer
//! in the client's format (complete, or a stream event by event). Every refusal is in the
//! client's format and names the guard, never the matched text; every decision is counted
//! (`switchboard_ai_guard_decisions_total`) and logged without the text.
//!
//! The webhook's contract (docs/config.md, "promptGuard"): `POST url` with
//! `{"direction": "request", "route": "...", "texts": ["...", ...]}`; it answers 200 with
//! `{"action": "allow"}`, `{"action": "reject", "reason": "..."}` or
//! `{"action": "mask", "texts": [...]}` (as many texts as were sent, in the same order).
//! Anything else (another status, another shape, no answer within `timeout`) is a failure,
//! which `failureMode` decides.

use bytes::Bytes;
use http::StatusCode;
use llm::ClientApi;
use serde::{Deserialize, Serialize};

use crate::guard::sse::{Format, SseGuard};
use crate::guard::{body, Action};
use crate::metrics::GenAiMetrics;
use crate::model::guard::{PromptGuard, RegexGuard, Webhook};

/// Why a request (or response) may not go on: the client's status and message.
#[derive(Debug)]
pub(super) struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

/// Runs the request guards over `body`; the body to send (masked or as it was).
pub(super) async fn guard_request(
    guard: &PromptGuard,
    metrics: &GenAiMetrics,
    route: &str,
    body: Bytes,
) -> Result<Bytes, Refusal> {
    let mut body = body;
    if let Some(g) = &guard.request {
        body = regex_request(g, metrics, route, body)?;
    }
    if let Some(w) = &guard.webhook {
        body = webhook_request(w, metrics, route, body).await?;
    }
    Ok(body)
}

/// The regex guard over a request.
fn regex_request(
    g: &RegexGuard,
    metrics: &GenAiMetrics,
    route: &str,
    body: Bytes,
) -> Result<Bytes, Refusal> {
    let mut rules = Vec::new();
    let masked = body::map_request(&body, &mut |s| {
        let m = g.detector.mask(s);
        rules.extend(m.rules);
        if g.action == Action::Mask {
            *s = m.text;
        }
    })
    .map_err(|e| Refusal {
        status: StatusCode::BAD_REQUEST,
        message: e.to_string(),
    })?;
    rules.sort_unstable();
    rules.dedup();
    let names: Vec<&str> = rules.iter().map(|&r| g.detector.rule_name(r)).collect();
    decide(metrics, route, &names, g.action, "request");
    if g.action == Action::Reject && !names.is_empty() {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "the request was rejected by promptGuard: its text matches the {} guard",
                names.join(", ")
            ),
        });
    }
    Ok(masked.unwrap_or(body))
}

/// Counts and logs the rules that matched.
fn decide(metrics: &GenAiMetrics, route: &str, names: &[&str], action: Action, direction: &str) {
    for name in names {
        metrics.guard_decision(route, name, action.label(), direction);
        match action {
            Action::Reject => {
                tracing::warn!(route, guard = %name, direction, "promptGuard rejected an LLM {direction}")
            }
            Action::Mask => {
                tracing::info!(route, guard = %name, direction, "promptGuard masked an LLM {direction}")
            }
        }
    }
}

/// What the gateway sends the webhook.
#[derive(Serialize)]
struct HookCall<'a> {
    direction: &'static str,
    route: &'a str,
    texts: &'a [String],
}

/// What the webhook answers.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
enum HookAnswer {
    Allow,
    Reject {
        #[serde(default)]
        reason: Option<String>,
    },
    Mask {
        texts: Vec<String>,
    },
}

/// The webhook guard over a request (not called when the request has no text).
async fn webhook_request(
    w: &Webhook,
    metrics: &GenAiMetrics,
    route: &str,
    body: Bytes,
) -> Result<Bytes, Refusal> {
    let texts = body::request_texts(&body).map_err(|e| Refusal {
        status: StatusCode::BAD_REQUEST,
        message: e.to_string(),
    })?;
    if texts.is_empty() {
        return Ok(body);
    }
    let count = |action: &str| metrics.guard_decision(route, "webhook", action, "request");
    match call_webhook(w, route, &texts).await {
        Ok(HookAnswer::Allow) => {
            count("allow");
            Ok(body)
        }
        Ok(HookAnswer::Reject { reason }) => {
            count("reject");
            tracing::warn!(
                route,
                guard = "webhook",
                "promptGuard webhook rejected an LLM request"
            );
            let why = reason.filter(|r| !r.trim().is_empty());
            Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                message: match why {
                    Some(r) => format!("the request was rejected by the promptGuard webhook: {r}"),
                    None => "the request was rejected by the promptGuard webhook".to_string(),
                },
            })
        }
        Ok(HookAnswer::Mask { texts: new }) if new.len() == texts.len() => {
            count("mask");
            tracing::info!(
                route,
                guard = "webhook",
                "promptGuard webhook masked an LLM request"
            );
            let mut it = new.into_iter();
            let masked = body::map_request(&body, &mut |s| {
                if let Some(t) = it.next() {
                    *s = t;
                }
            })
            .map_err(|e| Refusal {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
            })?;
            Ok(masked.unwrap_or(body))
        }
        Ok(HookAnswer::Mask { texts: new }) => webhook_failed(
            w,
            route,
            body,
            format!(
                "it answered mask with {} texts for {} sent",
                new.len(),
                texts.len()
            ),
            &count,
        ),
        Err(e) => webhook_failed(w, route, body, e, &count),
    }
}

/// A webhook that could not decide: `failureMode` does.
fn webhook_failed(
    w: &Webhook,
    route: &str,
    body: Bytes,
    why: String,
    count: &dyn Fn(&str),
) -> Result<Bytes, Refusal> {
    if w.fail_open {
        count("fail_open");
        tracing::warn!(route, guard = "webhook", error = %why, "promptGuard webhook failed; the request goes on (failOpen)");
        Ok(body)
    } else {
        count("fail_closed");
        tracing::warn!(route, guard = "webhook", error = %why, "promptGuard webhook failed; the request is refused (failClosed)");
        Err(Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the promptGuard webhook could not check the request".to_string(),
        })
    }
}

/// One call of the webhook.
async fn call_webhook(w: &Webhook, route: &str, texts: &[String]) -> Result<HookAnswer, String> {
    let call = HookCall {
        direction: "request",
        route,
        texts,
    };
    let resp = w
        .client
        .post(w.url.clone())
        .headers(w.headers.clone())
        .timeout(w.timeout)
        .json(&call)
        .send()
        .await
        .map_err(|e| netkit::error_chain(&e))?;
    let status = resp.status();
    if status != StatusCode::OK {
        return Err(format!("it answered {status}"));
    }
    let bytes = resp.bytes().await.map_err(|e| netkit::error_chain(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("its answer is not the contract's: {e}"))
}

/// The response guard over a complete body in the client's format; the body to send.
pub(super) fn guard_response(
    g: &RegexGuard,
    metrics: &GenAiMetrics,
    route: &str,
    body: Bytes,
) -> Result<Bytes, Refusal> {
    let mut rules = Vec::new();
    let masked = body::map_response(&body, &mut |s| {
        let m = g.detector.mask(s);
        rules.extend(m.rules);
        if g.action == Action::Mask {
            *s = m.text;
        }
    });
    // A body the guard cannot read is not one it could pass unread.
    let Ok(masked) = masked else {
        return Err(Refusal {
            status: StatusCode::BAD_GATEWAY,
            message: "promptGuard could not read the provider's response".to_string(),
        });
    };
    rules.sort_unstable();
    rules.dedup();
    let names: Vec<&str> = rules.iter().map(|&r| g.detector.rule_name(r)).collect();
    decide(metrics, route, &names, g.action, "response");
    if g.action == Action::Reject && !names.is_empty() {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            message: response_rejected(&names),
        });
    }
    Ok(masked.unwrap_or(body))
}

fn response_rejected(names: &[&str]) -> String {
    format!(
        "the response was withheld by promptGuard: its text matches the {} guard",
        names.join(", ")
    )
}

/// The stream formats the response guard reads, by client API.
pub(super) fn stream_format(client: ClientApi) -> Option<Format> {
    match client {
        ClientApi::OpenAiChat => Some(Format::OpenAiChat),
        ClientApi::AnthropicMessages => Some(Format::Anthropic),
        _ => None,
    }
}

/// The response guard of one streamed response.
pub(super) struct StreamGuard {
    sse: SseGuard,
    guard: RegexGuard,
    metrics: GenAiMetrics,
    route: std::sync::Arc<str>,
}

/// What the stream guard made of some bytes.
pub(super) struct StreamStep {
    /// What to send.
    pub bytes: Bytes,
    /// The stream must end now with this message (under `reject`).
    pub rejected: Option<String>,
}

impl StreamGuard {
    pub(super) fn new(
        g: &RegexGuard,
        format: Format,
        metrics: GenAiMetrics,
        route: std::sync::Arc<str>,
    ) -> Self {
        StreamGuard {
            sse: SseGuard::new(g.detector.clone(), g.action, format),
            guard: g.clone(),
            metrics,
            route,
        }
    }

    /// The client's next bytes, guarded; `last`: the stream ends after them.
    pub(super) fn filter(&mut self, bytes: &[u8], last: bool) -> StreamStep {
        let mut out = self.sse.push(bytes);
        if last && out.rejected.is_none() {
            let tail = self.sse.finish();
            out.bytes.extend(tail.bytes);
            out.matched.extend(tail.matched);
            out.rejected = tail.rejected;
        }
        let names: Vec<&str> = out
            .matched
            .iter()
            .map(|&r| self.guard.detector.rule_name(r))
            .collect();
        decide(
            &self.metrics,
            &self.route,
            &names,
            self.guard.action,
            "response",
        );
        StreamStep {
            bytes: Bytes::from(out.bytes),
            rejected: out
                .rejected
                .map(|r| response_rejected(&[self.guard.detector.rule_name(r)])),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::guard::{Builtin, Detector, RuleSpec};

    fn regex(action: Action) -> RegexGuard {
        let specs = vec![
            RuleSpec::builtin(Builtin::CreditCard, None),
            RuleSpec::builtin(Builtin::Email, None),
        ];
        RegexGuard {
            detector: Arc::new(Detector::new(specs).unwrap()),
            action,
        }
    }

    fn metrics() -> GenAiMetrics {
        GenAiMetrics::register(&mut prometheus_client::registry::Registry::default())
    }

    fn count(m: &GenAiMetrics, guard: &str, action: &str, direction: &str) -> u64 {
        m.guard_decisions
            .get_or_create(&crate::metrics::GuardLabels {
                route: "r".into(),
                guard: guard.into(),
                action: action.into(),
                direction: direction.into(),
            })
            .get()
    }

    #[test]
    fn a_rejected_request_names_the_guard_not_the_text() {
        let m = metrics();
        let body = Bytes::from_static(
            br#"{"model":"m","messages":[{"role":"user","content":"card 4111111111111111"}]}"#,
        );
        let Err(r) = regex_request(&regex(Action::Reject), &m, "r", body) else {
            panic!("not rejected");
        };
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.message.contains("creditCard"), "{}", r.message);
        assert!(!r.message.contains("4111"), "{}", r.message);
        assert_eq!(count(&m, "creditCard", "reject", "request"), 1);
        assert_eq!(count(&m, "email", "reject", "request"), 0);
    }

    #[test]
    fn masked_requests_and_responses() {
        let m = metrics();
        let body = Bytes::from_static(
            br#"{"model":"m","messages":[{"role":"user","content":"to a@b.io"}],"n":1}"#,
        );
        let out = regex_request(&regex(Action::Mask), &m, "r", body).unwrap();
        assert_eq!(
            &out[..],
            br#"{"model":"m","messages":[{"content":"to <EMAIL>","role":"user"}],"n":1}"#
        );
        let resp = Bytes::from_static(br#"{"content":[{"type":"text","text":"a@b.io"}]}"#);
        let out = guard_response(&regex(Action::Mask), &m, "r", resp.clone()).unwrap();
        assert!(std::str::from_utf8(&out).unwrap().contains("<EMAIL>"));
        let Err(r) = guard_response(&regex(Action::Reject), &m, "r", resp) else {
            panic!("not withheld");
        };
        assert!(r.message.contains("email") && !r.message.contains("a@b.io"));
        assert_eq!(count(&m, "email", "mask", "request"), 1);
        assert_eq!(count(&m, "email", "mask", "response"), 1);
        assert_eq!(count(&m, "email", "reject", "response"), 1);
    }

    #[test]
    fn webhook_answers_follow_the_contract() {
        let read = |s: &str| serde_json::from_str::<HookAnswer>(s);
        assert!(matches!(
            read(r#"{"action":"allow"}"#),
            Ok(HookAnswer::Allow)
        ));
        assert!(matches!(
            read(r#"{"action":"reject","reason":"no","extra":1}"#),
            Ok(HookAnswer::Reject { reason: Some(r) }) if r == "no"
        ));
        assert!(matches!(
            read(r#"{"action":"reject"}"#),
            Ok(HookAnswer::Reject { reason: None })
        ));
        assert!(matches!(
            read(r#"{"action":"mask","texts":["x"]}"#),
            Ok(HookAnswer::Mask { texts }) if texts == ["x"]
        ));
        assert!(read(r#"{"action":"mask"}"#).is_err());
        assert!(read(r#"{"action":"block"}"#).is_err());
        assert!(read(r#"{}"#).is_err());
    }
}
