//! Classifies HTTP+JSON (REST) binding requests and card fetches by verb and path.
//!
//! The operation is read from the **trailing** path segments, so any prefix in front of them —
//! the route prefix, the agent's REST interface path (`/a2a/rest`), a 0.3 `/v1`, a 1.0
//! `/{tenant}` — is allowed and returned as [`RestPeek::prefix`]. Requests that match no
//! operation give `None`; the gateway decides whether to relay them unclassified.
//!
//! Paths per a2a.md §4: `POST message:send|message:stream`, `GET tasks`, `GET tasks/{id}`,
//! `POST tasks/{id}:cancel`, `GET|POST tasks/{id}:subscribe` (the spec text says POST, the proto
//! GET; servers register both), `POST|GET tasks/{id}/pushNotificationConfigs`,
//! `GET|DELETE tasks/{id}/pushNotificationConfigs/{configId}`, `GET extendedAgentCard` (0.3:
//! `GET /v1/card`), and the public card at `/.well-known/agent-card.json` (legacy `agent.json`).

use http::Method;
use percent_encoding::percent_decode_str;

use crate::method::A2aMethod;

/// A classified HTTP request on an A2A route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpRequestKind {
    /// `GET …/.well-known/agent-card.json`, or the pre-0.3 `agent.json` when `legacy`.
    /// The response body goes through [`crate::card::rewrite_card`].
    PublicCard { legacy: bool },
    /// A REST binding operation.
    Rest(RestPeek),
}

/// What the gateway learns from a REST request's verb and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestPeek {
    pub method: A2aMethod,
    /// Percent-decoded `{id}` for task operations.
    pub task_id: Option<String>,
    /// Percent-decoded `{configId}` for push-config get/delete.
    pub push_config_id: Option<String>,
    /// The path before the operation's segments (route, interface path, `/v1`, tenant), as
    /// received, without a trailing slash.
    pub prefix: String,
}

/// Classifies `verb` + `path` (the path only; strip the query first).
pub fn classify_http(verb: &Method, path: &str) -> Option<HttpRequestKind> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let segs: Vec<&str> = trimmed.split('/').collect();
    let n = segs.len();
    let last = *segs.last()?;
    let back = |i: usize| n.checked_sub(i + 1).map(|j| segs[j]);
    let prefix_before = |count: usize| segs[..n.saturating_sub(count)].join("/");
    let is_get = *verb == Method::GET;
    let is_post = *verb == Method::POST;

    if is_get && back(1) == Some(".well-known") {
        match last {
            "agent-card.json" => return Some(HttpRequestKind::PublicCard { legacy: false }),
            "agent.json" => return Some(HttpRequestKind::PublicCard { legacy: true }),
            _ => {}
        }
    }

    let op = |method, count, task_id: Option<&str>, config_id: Option<&str>| {
        Some(HttpRequestKind::Rest(RestPeek {
            method,
            task_id: task_id.map(decode),
            push_config_id: config_id.map(decode),
            prefix: prefix_before(count),
        }))
    };

    match last {
        "message:send" if is_post => return op(A2aMethod::SendMessage, 1, None, None),
        "message:stream" if is_post => return op(A2aMethod::SendStreamingMessage, 1, None, None),
        "extendedAgentCard" if is_get => return op(A2aMethod::GetExtendedAgentCard, 1, None, None),
        "card" if is_get && back(1) == Some("v1") => {
            return op(A2aMethod::GetExtendedAgentCard, 1, None, None)
        }
        "tasks" if is_get => return op(A2aMethod::ListTasks, 1, None, None),
        "pushNotificationConfigs" if back(2) == Some("tasks") => {
            let id = back(1).filter(|s| !s.is_empty());
            return match *verb {
                Method::POST => op(A2aMethod::CreatePushConfig, 3, id, None),
                Method::GET => op(A2aMethod::ListPushConfigs, 3, id, None),
                _ => None,
            };
        }
        _ => {}
    }

    if back(1) == Some("pushNotificationConfigs") && back(3) == Some("tasks") {
        let id = back(2).filter(|s| !s.is_empty());
        return match *verb {
            Method::GET => op(A2aMethod::GetPushConfig, 4, id, Some(last)),
            Method::DELETE => op(A2aMethod::DeletePushConfig, 4, id, Some(last)),
            _ => None,
        };
    }

    if back(1) == Some("tasks") && !last.is_empty() {
        // Custom verbs follow the last ':'; an id may itself contain ':'.
        if let Some((id, custom)) = last.rsplit_once(':') {
            match custom {
                "cancel" if is_post => return op(A2aMethod::CancelTask, 2, Some(id), None),
                "subscribe" if is_get || is_post => {
                    return op(A2aMethod::SubscribeToTask, 2, Some(id), None)
                }
                "cancel" | "subscribe" => return None,
                _ => {}
            }
        }
        if is_get {
            return op(A2aMethod::GetTask, 2, Some(last), None);
        }
    }
    None
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(verb: Method, path: &str) -> RestPeek {
        match classify_http(&verb, path) {
            Some(HttpRequestKind::Rest(p)) => p,
            other => panic!("{verb} {path}: {other:?}"),
        }
    }

    #[test]
    fn every_v1_rest_operation() {
        let cases = [
            (
                Method::POST,
                "/message:send",
                A2aMethod::SendMessage,
                None,
                None,
            ),
            (
                Method::POST,
                "/message:stream",
                A2aMethod::SendStreamingMessage,
                None,
                None,
            ),
            (
                Method::GET,
                "/tasks/t1",
                A2aMethod::GetTask,
                Some("t1"),
                None,
            ),
            (Method::GET, "/tasks", A2aMethod::ListTasks, None, None),
            (
                Method::POST,
                "/tasks/t1:cancel",
                A2aMethod::CancelTask,
                Some("t1"),
                None,
            ),
            (
                Method::GET,
                "/tasks/t1:subscribe",
                A2aMethod::SubscribeToTask,
                Some("t1"),
                None,
            ),
            (
                Method::POST,
                "/tasks/t1:subscribe",
                A2aMethod::SubscribeToTask,
                Some("t1"),
                None,
            ),
            (
                Method::POST,
                "/tasks/t1/pushNotificationConfigs",
                A2aMethod::CreatePushConfig,
                Some("t1"),
                None,
            ),
            (
                Method::GET,
                "/tasks/t1/pushNotificationConfigs",
                A2aMethod::ListPushConfigs,
                Some("t1"),
                None,
            ),
            (
                Method::GET,
                "/tasks/t1/pushNotificationConfigs/c1",
                A2aMethod::GetPushConfig,
                Some("t1"),
                Some("c1"),
            ),
            (
                Method::DELETE,
                "/tasks/t1/pushNotificationConfigs/c1",
                A2aMethod::DeletePushConfig,
                Some("t1"),
                Some("c1"),
            ),
            (
                Method::GET,
                "/extendedAgentCard",
                A2aMethod::GetExtendedAgentCard,
                None,
                None,
            ),
        ];
        for (verb, path, method, task, config) in cases {
            let p = rest(verb.clone(), path);
            assert_eq!(p.method, method, "{verb} {path}");
            assert_eq!(p.task_id.as_deref(), task, "{verb} {path}");
            assert_eq!(p.push_config_id.as_deref(), config, "{verb} {path}");
            assert_eq!(p.prefix, "", "{verb} {path}");
        }
    }

    #[test]
    fn prefixes_tenants_and_v03_paths() {
        let p = rest(Method::POST, "/agents/travel/a2a/rest/acme/message:send");
        assert_eq!(p.prefix, "/agents/travel/a2a/rest/acme");
        let p = rest(Method::POST, "/v1/tasks/abc:cancel");
        assert_eq!(
            (p.method, p.prefix.as_str()),
            (A2aMethod::CancelTask, "/v1")
        );
        // Trailing slashes are tolerated, as for JSON-RPC URLs (a2a.md §9.7).
        assert_eq!(rest(Method::GET, "/tasks/").method, A2aMethod::ListTasks);
        let p = rest(Method::GET, "/v1/card");
        assert_eq!(p.method, A2aMethod::GetExtendedAgentCard);
        let p = rest(Method::GET, "/r/tasks/t9/pushNotificationConfigs/c9/");
        assert_eq!(p.prefix, "/r");
        assert_eq!(p.push_config_id.as_deref(), Some("c9"));
    }

    #[test]
    fn ids_are_percent_decoded_and_may_contain_colons() {
        let p = rest(Method::GET, "/tasks/a%2Fb%20c");
        assert_eq!(p.task_id.as_deref(), Some("a/b c"));
        let p = rest(Method::POST, "/tasks/urn:x:1:cancel");
        assert_eq!(p.task_id.as_deref(), Some("urn:x:1"));
        let p = rest(Method::GET, "/tasks/urn:x:1");
        assert_eq!(
            (p.method, p.task_id.as_deref()),
            (A2aMethod::GetTask, Some("urn:x:1"))
        );
    }

    #[test]
    fn cards() {
        assert_eq!(
            classify_http(&Method::GET, "/agents/travel/.well-known/agent-card.json"),
            Some(HttpRequestKind::PublicCard { legacy: false })
        );
        assert_eq!(
            classify_http(&Method::GET, "/.well-known/agent.json"),
            Some(HttpRequestKind::PublicCard { legacy: true })
        );
        assert_eq!(
            classify_http(&Method::POST, "/.well-known/agent-card.json"),
            None
        );
    }

    #[test]
    fn wrong_verbs_and_unknown_paths_are_unclassified() {
        for (verb, path) in [
            (Method::GET, "/message:send"),
            (Method::POST, "/tasks"),
            (Method::GET, "/tasks/t1:cancel"),
            (Method::DELETE, "/tasks/t1:subscribe"),
            (Method::PUT, "/tasks/t1/pushNotificationConfigs"),
            (Method::POST, "/tasks/t1/pushNotificationConfigs/c1"),
            (Method::DELETE, "/tasks/t1"),
            (Method::GET, "/card"),
            (Method::GET, "/"),
            (Method::GET, ""),
            (Method::POST, "/a2a/jsonrpc"),
        ] {
            assert_eq!(classify_http(&verb, path), None, "{verb} {path}");
        }
    }
}
