//! Where each policy key may be written and which backend kinds it applies to.
//!
//! [`policy_keys`] destructures a policy block exhaustively: a new field of
//! [`file::Policies`] does not compile until it is placed here, with the kinds of backend it
//! applies to. A key set where it cannot apply is a load error at that key's line, never a
//! policy accepted and silently ignored.

use super::{Level, Lowering};
use crate::config::file;
use crate::model::plan::BackendKind;

/// Every kind: the policy runs in the route's phases or on the response, whatever serves it.
const ANY: &[BackendKind] = &[BackendKind::Host, BackendKind::Mcp, BackendKind::Ai];
/// Only the reverse proxy has an upstream request to change.
const HOST: &[BackendKind] = &[BackendKind::Host];
/// The kinds that send requests of their own upstream, attempt by attempt.
const HOST_AI: &[BackendKind] = &[BackendKind::Host, BackendKind::Ai];
/// Only the virtual MCP server has tools, prompts and resources.
const MCP: &[BackendKind] = &[BackendKind::Mcp];
/// Only `ai` backends read LLM calls.
const AI: &[BackendKind] = &[BackendKind::Ai];

/// One key of a policy block, as written.
pub(super) struct PolicyKey {
    /// The key, as users write it (`timeout.backendRequest` for a sub-key).
    pub key: &'static str,
    /// Whether the block sets it.
    pub set: bool,
    /// Where it may be written.
    pub scope: Scope,
    /// The backend kinds it applies to.
    pub applies: &'static [BackendKind],
    /// Why it does not apply to an `mcp` backend, when it does not: what to do instead.
    pub not_on_mcp: &'static str,
    /// Why it does not apply to a `host` backend, when it does not.
    pub not_on_host: &'static str,
    /// Why it does not apply to an `ai` backend, when it does not.
    pub not_on_ai: &'static str,
}

/// Where a key may be written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// On routes and on backends.
    Anywhere,
    /// Only on routes: it acts before a backend is chosen, or on the whole route.
    RouteOnly,
    /// Accepted by the schema, refused at load: not built yet.
    NotSupportedYet,
}

/// Why `backendAuth` does not apply to an `mcp` backend.
pub(super) const MCP_BACKEND_AUTH: &str = "an mcp backend calls its targets itself: set \
                                           backendAuth on each target \
                                           (backends[].mcp.targets[].policies.backendAuth)";

/// Every key of a policy block, in the order of the phases they become.
pub(super) fn policy_keys(p: &file::Policies) -> Vec<PolicyKey> {
    let file::Policies {
        cors,
        request_redirect,
        max_request_body,
        url_rewrite,
        a2a,
        request_header_modifier,
        response_header_modifier,
        retry,
        request_mirror,
        backend_auth,
        backend_tls,
        timeout,
        jwt_auth,
        api_key_auth,
        basic_auth,
        mcp_authentication,
        mcp_authorization,
        authorization,
        local_rate_limit,
        rate_limit,
        token_rate_limit,
        prompt_guard,
    } = p;
    let (timeout_request, timeout_backend) = match timeout {
        Some(file::Timeout {
            request,
            backend_request,
        }) => (request.is_some(), backend_request.is_some()),
        None => (false, false),
    };
    let key = |key, set: bool, scope, applies, not_on_mcp| PolicyKey {
        key,
        set,
        scope,
        applies,
        not_on_mcp,
        not_on_host: "",
        not_on_ai: "",
    };
    use Scope::{Anywhere, RouteOnly};
    vec![
        key("cors", cors.is_some(), RouteOnly, ANY, ""),
        key(
            "requestRedirect",
            request_redirect.is_some(),
            RouteOnly,
            ANY,
            "",
        ),
        key(
            "maxRequestBody",
            max_request_body.is_some(),
            RouteOnly,
            ANY,
            "",
        ),
        PolicyKey {
            not_on_ai: "an ai backend sends each API call to its provider's own path; set the provider's url",
            ..key(
            "urlRewrite",
            url_rewrite.is_some(),
            Anywhere,
            HOST,
            "the virtual MCP server serves the route's own path",
        )
        },
        PolicyKey {
            not_on_ai: "a2a relays an agent reached as a host backend",
            ..key(
            "a2a",
            a2a.is_some(),
            RouteOnly,
            HOST,
            "a2a relays an agent reached as a host backend; to offer an agent as MCP tools, \
             add it as an a2a target of the mcp backend",
        )
        },
        key(
            "requestHeaderModifier",
            request_header_modifier.is_some(),
            Anywhere,
            ANY,
            "",
        ),
        key(
            "responseHeaderModifier",
            response_header_modifier.is_some(),
            Anywhere,
            ANY,
            "",
        ),
        PolicyKey {
            not_on_ai: "an ai backend fails over to the next provider itself (groups and setAside)",
            ..key(
            "retry",
            retry.is_some(),
            Anywhere,
            HOST,
            "the virtual MCP server answers itself; a call that fails at a target is \
             reported to the client, which decides whether to call again",
        )
        },
        PolicyKey {
            not_on_ai: "a copy of an LLM call would spend its tokens twice",
            ..key(
            "requestMirror",
            request_mirror.is_some(),
            Anywhere,
            HOST,
            "MCP messages belong to a session that a copy sent elsewhere would not have",
        )
        },
        PolicyKey {
            not_on_ai: "each provider has its own credential: set backendAuth on the provider \
                        (backends[].ai.groups[].providers[].policies.backendAuth)",
            ..key(
            "backendAuth",
            backend_auth.is_some(),
            Anywhere,
            HOST,
            MCP_BACKEND_AUTH,
        )
        },
        PolicyKey {
            not_on_ai: "set backendTLS on the provider, or give it an https url",
            ..key(
            "backendTLS",
            backend_tls.is_some(),
            Anywhere,
            HOST,
            "use an https URL on the target",
        )
        },
        key("timeout.request", timeout_request, Anywhere, ANY, ""),
        key(
            "timeout.backendRequest",
            timeout_backend,
            Anywhere,
            HOST_AI,
            "the virtual MCP server sends no request of its own to a backend; use \
             timeout.request, which limits the time until the response starts",
        ),
        key("jwtAuth", jwt_auth.is_some(), RouteOnly, ANY, ""),
        key("apiKeyAuth", api_key_auth.is_some(), RouteOnly, ANY, ""),
        key("basicAuth", basic_auth.is_some(), RouteOnly, ANY, ""),
        key(
            "mcpAuthentication",
            mcp_authentication.is_some(),
            RouteOnly,
            ANY,
            "",
        ),
        PolicyKey {
            not_on_host: "it decides MCP tools, prompts and resources; use authorization \
                          for HTTP and A2A routes",
            not_on_ai: "it decides MCP tools, prompts and resources; use authorization",
            ..key(
                "mcpAuthorization",
                mcp_authorization.is_some(),
                RouteOnly,
                MCP,
                "",
            )
        },
        // On an mcp route it gates the HTTP requests, before the MCP server sees them.
        key("authorization", authorization.is_some(), RouteOnly, ANY, ""),
        key(
            "localRateLimit",
            local_rate_limit.is_some(),
            RouteOnly,
            ANY,
            "",
        ),
        key("rateLimit", rate_limit.is_some(), RouteOnly, ANY, ""),
        PolicyKey {
            not_on_host: "it counts LLM tokens; use localRateLimit or rateLimit",
            ..key(
                "tokenRateLimit",
                token_rate_limit.is_some(),
                RouteOnly,
                AI,
                "it counts LLM tokens; use localRateLimit or rateLimit (per: tool)",
            )
        },
        // Reads the LLM call after the body is read, before a provider is chosen, and the
        // answer on its way back: only the ai terminal knows either.
        PolicyKey {
            not_on_host: "it reads LLM API calls, which only routes to ai backends understand; \
                          route the calls to an ai backend",
            ..key(
                "promptGuard",
                prompt_guard.is_some(),
                RouteOnly,
                AI,
                "it reads LLM API calls; MCP tool calls are not LLM prompts (use \
                 mcpAuthorization to decide which tools may be called)",
            )
        },
    ]
}

impl Lowering<'_> {
    /// Checks where the keys of a policy block at `path` are written: keys not built yet, and
    /// route-only keys on a backend.
    pub(super) fn policy_placement(&mut self, path: &str, p: &file::Policies, level: Level) {
        for k in policy_keys(p).into_iter().filter(|k| k.set) {
            match k.scope {
                Scope::NotSupportedYet => {
                    self.err(
                        format!("{path}.{}", k.key),
                        format!("not supported yet: {}", k.key),
                    );
                }
                Scope::RouteOnly if level == Level::Backend => self.err(
                    format!("{path}.{}", k.key),
                    format!(
                        "{} applies to a whole route; move it to the route's policies",
                        k.key
                    ),
                ),
                _ => {}
            }
        }
    }

    /// Checks that every key of the policy block at `path` applies to a backend of `kind`,
    /// named `backend` in the message.
    pub(super) fn policy_applies(
        &mut self,
        path: &str,
        p: &file::Policies,
        kind: BackendKind,
        backend: &str,
    ) {
        for k in policy_keys(p).into_iter().filter(|k| k.set) {
            if k.scope == Scope::NotSupportedYet || k.applies.contains(&kind) {
                continue;
            }
            let why = match kind {
                BackendKind::Mcp => k.not_on_mcp,
                BackendKind::Host => k.not_on_host,
                BackendKind::Ai => k.not_on_ai,
            };
            self.err(
                format!("{path}.{}", k.key),
                format!(
                    "{} does not apply to {} backend {backend:?}: {why}",
                    k.key,
                    kind.key()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the schema knows is listed once: the list and the struct cannot drift apart.
    #[test]
    fn every_policy_key_is_listed_once() {
        let keys: Vec<&str> = policy_keys(&file::Policies::default())
            .iter()
            .map(|k| k.key)
            .collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
        let schema = serde_json::to_value(schemars::schema_for!(file::Policies)).unwrap();
        let props = schema["properties"].as_object().unwrap();
        for name in props.keys() {
            assert!(
                keys.iter()
                    .any(|k| k.split('.').next() == Some(name.as_str())),
                "{name} is missing from policy_keys"
            );
        }
    }

    /// Keys that do not apply to a kind of backend say what to do instead.
    #[test]
    fn host_only_keys_explain_themselves() {
        for k in policy_keys(&file::Policies::default()) {
            if !k.applies.contains(&BackendKind::Mcp) {
                assert!(!k.not_on_mcp.is_empty(), "{} needs a reason", k.key);
            }
            if !k.applies.contains(&BackendKind::Host) {
                assert!(!k.not_on_host.is_empty(), "{} needs a reason", k.key);
            }
            if !k.applies.contains(&BackendKind::Ai) {
                assert!(!k.not_on_ai.is_empty(), "{} needs a reason", k.key);
            }
        }
    }
}
