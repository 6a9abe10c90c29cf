//! Reads an agent's card and keeps what the tools adapter needs: the JSON-RPC endpoint, the
//! protocol dialect it speaks there, whether it streams, and its skills.
//!
//! Why a separate, lenient reader (not [`crate::card`], which rewrites cards for the relay):
//! here the card is *consumed*, so only a few fields matter, and a card with odd vendor fields
//! or a missing optional field must still give tools. The card is read as `serde_json::Value`
//! and each field is checked by hand; nothing from the agent is trusted to have a type.
//!
//! Endpoint choice (a2a.md §3): 1.0 cards list `supportedInterfaces[]` in preference order
//! (`protocolBinding: "JSONRPC"`, `protocolVersion`), 0.3 cards have `url` +
//! `preferredTransport` (default JSONRPC) + `additionalInterfaces[]{url, transport}`, and
//! hybrid cards (a2a-sdk ≥ 1.0 with 0.3 compatibility) carry both. The first JSON-RPC
//! interface in `supportedInterfaces` wins; the 0.3 fields are the fallback. Only JSON-RPC is
//! spoken by this adapter (the binding every A2A SDK serves).

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;
use url::Url;

use super::A2aToolsError;
use crate::method::Dialect;

/// The well-known card path since A2A 0.3.
pub const CARD_PATH: &str = ".well-known/agent-card.json";
/// The card path before 0.3, still served by many agents (and tried second).
pub const LEGACY_CARD_PATH: &str = ".well-known/agent.json";

/// Largest card accepted (cards are small; this bounds memory on a misbehaving agent).
const MAX_CARD_BYTES: usize = 2 * 1024 * 1024;

/// What the adapter keeps from an agent card.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCardInfo {
    /// The agent's `name` (used in tool descriptions and the no-skill tool).
    pub name: String,
    /// The agent's `description`.
    pub description: String,
    /// The JSON-RPC endpoint messages are posted to.
    pub endpoint: Url,
    /// The dialect spoken at [`endpoint`](Self::endpoint).
    pub dialect: Dialect,
    /// `tenant` of the chosen 1.0 interface, echoed in every request (a2a.md §3.1).
    pub tenant: Option<String>,
    /// `capabilities.streaming`: calls use the streaming method and relay progress.
    pub streaming: bool,
    /// The skills, in card order.
    pub skills: Vec<Skill>,
    /// Where the card was read from.
    pub card_url: Url,
}

/// One `skills[]` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Skill {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub examples: Vec<String>,
}

/// The card URLs to try for `base`, in order: `base` itself when it already names a card
/// (`…/agent-card.json`, `…/agent.json`), else `base/.well-known/agent-card.json` then the
/// legacy `base/.well-known/agent.json`. A path prefix in `base` is kept (several agents behind
/// one host, a2a.md §2).
pub fn card_urls(base: &Url) -> Vec<Url> {
    let path = base.path();
    if path.ends_with("/agent-card.json") || path.ends_with("/agent.json") {
        return vec![base.clone()];
    }
    let mut dir = base.clone();
    dir.set_query(None);
    dir.set_fragment(None);
    if !dir.path().ends_with('/') {
        let p = format!("{}/", dir.path());
        dir.set_path(&p);
    }
    [CARD_PATH, LEGACY_CARD_PATH]
        .iter()
        .filter_map(|p| dir.join(p).ok())
        .collect()
}

/// Fetches and parses the card of the agent at `base`, trying [`card_urls`] in order. The
/// error names every URL tried and why each failed.
pub async fn fetch_card(
    http: &reqwest::Client,
    base: &Url,
    headers: &HeaderMap,
    auth: Option<&backend_auth::BackendAuth>,
    timeout: Duration,
    forced: Option<Dialect>,
) -> Result<AgentCardInfo, A2aToolsError> {
    let mut failures: Vec<(Url, String)> = Vec::new();
    for url in card_urls(base) {
        match fetch_json(http, &url, headers, auth, timeout).await {
            Ok(card) => return parse_card(&card, &url, forced),
            Err(cause) => failures.push((url, cause)),
        }
    }
    Err(A2aToolsError::CardFetch {
        url: base.to_string(),
        cause: describe_failures(&failures),
    })
}

/// One cause when every URL failed the same way (an agent that is down), else each URL with
/// its own cause.
fn describe_failures(failures: &[(Url, String)]) -> String {
    match failures {
        [(_, first), rest @ ..] if rest.iter().all(|(_, c)| c == first) => {
            let urls: Vec<&str> = failures.iter().map(|(u, _)| u.as_str()).collect();
            format!("{first} (tried {})", urls.join(", "))
        }
        _ => failures
            .iter()
            .map(|(u, c)| format!("{u}: {c}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

async fn fetch_json(
    http: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    auth: Option<&backend_auth::BackendAuth>,
    timeout: Duration,
) -> Result<Value, String> {
    let request = http
        .get(url.clone())
        .headers(headers.clone())
        .header(http::header::ACCEPT, "application/json")
        .timeout(timeout);
    let resp = backend_auth::send(auth, request)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| super::call::describe_reqwest(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = super::call::read_capped(resp, MAX_CARD_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

/// Parses a card document read from `card_url`. `forced` picks the dialect instead of the
/// card's preference (an interface of that dialect must exist).
pub fn parse_card(
    card: &Value,
    card_url: &Url,
    forced: Option<Dialect>,
) -> Result<AgentCardInfo, A2aToolsError> {
    let invalid = |reason: &str| A2aToolsError::InvalidCard {
        url: card_url.to_string(),
        reason: reason.to_owned(),
    };
    if !card.is_object() {
        return Err(invalid("the card is not a JSON object"));
    }
    let (endpoint, dialect, tenant) = choose_interface(card, card_url, forced)?;
    let name = str_at(card, "name").unwrap_or_default();
    Ok(AgentCardInfo {
        name: if name.trim().is_empty() {
            "agent".to_owned()
        } else {
            name
        },
        description: str_at(card, "description").unwrap_or_default(),
        endpoint,
        dialect,
        tenant,
        streaming: card
            .pointer("/capabilities/streaming")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        skills: card
            .get("skills")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(parse_skill).collect())
            .unwrap_or_default(),
        card_url: card_url.clone(),
    })
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings_at(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A skill needs an `id`; the other fields are optional here (the spec requires them, but a
/// skill without a description is still callable).
fn parse_skill(v: &Value) -> Option<Skill> {
    let id = str_at(v, "id").filter(|s| !s.trim().is_empty())?;
    Some(Skill {
        name: str_at(v, "name").unwrap_or_else(|| id.clone()),
        description: str_at(v, "description").unwrap_or_default(),
        tags: strings_at(v, "tags"),
        examples: strings_at(v, "examples"),
        id,
    })
}

/// `1.0`, `1.0.1` → 1.0; `0.3`, `0.3.0`, `0.2.5` → the 0.3 dialect (slash method names, which
/// 0.2 used too); anything else is not spoken.
fn dialect_of(version: &str) -> Option<Dialect> {
    let major = version.trim().split('.').next()?;
    match major {
        "1" => Some(Dialect::V1),
        "0" => Some(Dialect::V03),
        _ => None,
    }
}

fn is_jsonrpc(binding: &str) -> bool {
    binding.trim().eq_ignore_ascii_case("JSONRPC")
        || binding.trim().eq_ignore_ascii_case("JSON-RPC")
}

type Choice = (Url, Dialect, Option<String>);

fn choose_interface(
    card: &Value,
    card_url: &Url,
    forced: Option<Dialect>,
) -> Result<Choice, A2aToolsError> {
    let mut found = Vec::new();
    let mut candidates: Vec<Choice> = Vec::new();
    let resolve = |raw: &str| card_url.join(raw.trim()).ok();

    // 1.0 `supportedInterfaces`, in the agent's preference order.
    for i in card
        .get("supportedInterfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let binding = str_at(i, "protocolBinding").unwrap_or_default();
        // A 1.0 field: an interface without a version is taken as 1.0.
        let version = str_at(i, "protocolVersion").unwrap_or_else(|| "1.0".to_owned());
        found.push(format!("{binding} {version}"));
        let (Some(url), Some(dialect)) = (str_at(i, "url"), dialect_of(&version)) else {
            continue;
        };
        if !is_jsonrpc(&binding) {
            continue;
        }
        if let Some(url) = resolve(&url) {
            let tenant = str_at(i, "tenant").filter(|t| !t.is_empty());
            candidates.push((url, dialect, tenant));
        }
    }

    // 0.3 `url` + `preferredTransport`, then `additionalInterfaces`.
    let preferred = str_at(card, "preferredTransport").unwrap_or_else(|| "JSONRPC".to_owned());
    let mut legacy: Vec<(String, String)> = Vec::new();
    if let Some(url) = str_at(card, "url") {
        legacy.push((url, preferred));
    }
    for i in card
        .get("additionalInterfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(url), Some(t)) = (str_at(i, "url"), str_at(i, "transport")) {
            legacy.push((url, t));
        }
    }
    for (url, transport) in legacy {
        found.push(format!("{transport} 0.3"));
        if is_jsonrpc(&transport) {
            if let Some(url) = resolve(&url) {
                candidates.push((url, Dialect::V03, None));
            }
        }
    }

    let pick = match forced {
        Some(d) => candidates.into_iter().find(|c| c.1 == d),
        None => candidates.into_iter().next(),
    };
    pick.ok_or_else(|| A2aToolsError::NoJsonRpcInterface {
        url: card_url.to_string(),
        wanted: match forced {
            Some(Dialect::V1) => "JSONRPC 1.0",
            Some(Dialect::V03) => "JSONRPC 0.3",
            None => "JSONRPC",
        },
        found: if found.is_empty() {
            "none".to_owned()
        } else {
            found.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    const CARD_URL: &str = "http://agent.test/.well-known/agent-card.json";

    #[test]
    fn card_urls_keep_prefix_and_try_legacy_second() {
        let got = card_urls(&url("http://h:1/agents/foo"));
        assert_eq!(
            got.iter().map(Url::as_str).collect::<Vec<_>>(),
            [
                "http://h:1/agents/foo/.well-known/agent-card.json",
                "http://h:1/agents/foo/.well-known/agent.json"
            ]
        );
        let got = card_urls(&url("http://h:1/"));
        assert_eq!(got[0].as_str(), "http://h:1/.well-known/agent-card.json");
        let direct = url("http://h:1/x/.well-known/agent.json");
        assert_eq!(card_urls(&direct), vec![direct]);
    }

    #[test]
    fn hybrid_card_prefers_first_jsonrpc_interface() {
        let card = json!({
            "name": "Echo", "description": "d",
            "supportedInterfaces": [
                {"url": "http://a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
                {"url": "http://a/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0", "tenant": "t1"},
                {"url": "http://a/rpc03", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}
            ],
            "url": "http://a/legacy", "preferredTransport": "JSONRPC", "protocolVersion": "0.3",
            "capabilities": {"streaming": true},
            "skills": [{"id": "echo", "name": "Echo", "description": "e", "tags": ["x"], "examples": ["hi"]}]
        });
        let info = parse_card(&card, &url(CARD_URL), None).unwrap();
        assert_eq!(info.endpoint.as_str(), "http://a/rpc");
        assert_eq!(info.dialect, Dialect::V1);
        assert_eq!(info.tenant.as_deref(), Some("t1"));
        assert!(info.streaming);
        assert_eq!(info.skills[0].examples, ["hi"]);

        let forced = parse_card(&card, &url(CARD_URL), Some(Dialect::V03)).unwrap();
        assert_eq!(forced.endpoint.as_str(), "http://a/rpc03");
        assert_eq!(forced.dialect, Dialect::V03);
    }

    #[test]
    fn v03_card_uses_url_or_additional_interfaces() {
        let card = json!({
            "name": "Old", "url": "http://a/grpc", "preferredTransport": "GRPC",
            "additionalInterfaces": [{"url": "/rpc", "transport": "JSONRPC"}],
            "skills": [{"name": "no id"}, {"id": "ok"}]
        });
        let info = parse_card(&card, &url(CARD_URL), None).unwrap();
        assert_eq!(
            info.endpoint.as_str(),
            "http://agent.test/rpc",
            "relative URL resolved"
        );
        assert_eq!(info.dialect, Dialect::V03);
        assert!(!info.streaming);
        assert_eq!(info.skills.len(), 1, "a skill without id is skipped");
        assert_eq!(info.skills[0].name, "ok");

        let plain = json!({"name": "P", "url": "http://a/rpc"});
        let info = parse_card(&plain, &url(CARD_URL), None).unwrap();
        assert_eq!(
            info.endpoint.as_str(),
            "http://a/rpc",
            "preferredTransport defaults to JSONRPC"
        );
    }

    #[test]
    fn card_without_jsonrpc_is_an_error_naming_what_it_has() {
        let card = json!({"name": "G", "supportedInterfaces": [
            {"url": "a:443", "protocolBinding": "GRPC", "protocolVersion": "1.0"}]});
        let err = parse_card(&card, &url(CARD_URL), None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("GRPC 1.0"), "{msg}");
        let v1only = json!({"supportedInterfaces": [
            {"url": "http://a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]});
        assert!(parse_card(&v1only, &url(CARD_URL), Some(Dialect::V03)).is_err());
        assert!(parse_card(&json!([1]), &url(CARD_URL), None).is_err());
    }

    #[test]
    fn fetch_failures_are_summarised() {
        let a = url("http://h/.well-known/agent-card.json");
        let b = url("http://h/.well-known/agent.json");
        let same =
            describe_failures(&[(a.clone(), "refused".into()), (b.clone(), "refused".into())]);
        assert_eq!(same, format!("refused (tried {a}, {b})"));
        let differ = describe_failures(&[
            (a.clone(), "HTTP 404".into()),
            (b.clone(), "not JSON".into()),
        ]);
        assert_eq!(differ, format!("{a}: HTTP 404; {b}: not JSON"));
    }

    #[test]
    fn odd_field_types_are_tolerated() {
        let card = json!({"name": 5, "description": null, "url": "http://a/rpc",
            "capabilities": {"streaming": "yes"}, "skills": "none"});
        let info = parse_card(&card, &url(CARD_URL), None).unwrap();
        assert_eq!(info.name, "agent");
        assert!(!info.streaming);
        assert!(info.skills.is_empty());
    }
}
