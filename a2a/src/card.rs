//! Agent card rewriting: every interface URL in a relayed card points at the gateway.
//!
//! Works on `serde_json::Value`, never on typed structs: typed A2A models drop the fields of the
//! other protocol version (a hybrid card loses `url`/`preferredTransport` through `a2a-lf`) and
//! vendor fields. Only the interface fields are touched:
//!
//! - 1.0: `supportedInterfaces[].url` (binding in `protocolBinding`);
//! - 0.3: top-level `url` (binding in `preferredTransport`, default `JSONRPC`) and
//!   `additionalInterfaces[].url` (binding in `transport`);
//! - hybrid cards (1.0 card with the 0.3 top-level fields merged in, as a2a-sdk serves them):
//!   both sets.
//!
//! # URL rule
//!
//! The route forwards `<public base><rest>` to `<upstream base><rest>`, so an interface URL is
//! rewritten to `<public base>` + the part of its path below the upstream base's path (kept
//! verbatim, trailing slash and query included). With upstream base `http://agent:9999/` and
//! public base `https://gw.example.com/agents/travel`, `http://agent:9999/a2a/v1` becomes
//! `https://gw.example.com/agents/travel/a2a/v1`. Scheme, host and port of the interface URL are
//! always replaced: agents often advertise their own hostname (`localhost`, an internal DNS
//! name) while the gateway reaches them by the configured address; such URLs are rewritten all
//! the same and flagged `foreign_origin` in the report.
//!
//! An interface whose path lies outside the upstream base path cannot be reached through the
//! route; it is dropped. Interfaces whose binding the gateway does not proxy (`GRPC`, custom
//! binding URIs) are dropped too: leaving their URL would let clients bypass the gateway's
//! policies. When the 0.3 top-level `url` cannot be kept, the first kept interface is promoted
//! into `url`/`preferredTransport`; with no proxied interface at all the card is an error.
//!
//! # Signed cards
//!
//! A rewrite invalidates a JWS over the card. [`SignedCards::Strip`] (default) removes
//! `signatures` and reports it; [`SignedCards::PassUnmodified`] serves the upstream bytes
//! verbatim (for agents that already advertise the gateway's URLs).
//!
//! Object keys come out in serde_json's map order (sorted): JSON objects are unordered, and the
//! workspace does not enable `preserve_order`.

use serde_json::{Map, Value};
use url::Url;

use crate::public_url::{parse_public_base, PublicUrlError};

/// Bindings relayed by the gateway's HTTP data path.
pub const DEFAULT_PROXIED_BINDINGS: &[&str] = &["JSONRPC", "HTTP+JSON"];

/// Why a card could not be rewritten. The gateway answers these with a 502 and logs the cause.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("agent card is not valid JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
    #[error("agent card is not a JSON object")]
    NotAnObject,
    #[error("JSON-RPC response carries neither `result` nor `error`")]
    NotAJsonRpcResponse,
    #[error("agent card has no interfaces (`supportedInterfaces` or `url`)")]
    NoInterfaces,
    #[error("agent card has no interface the gateway can relay (dropped: {dropped})")]
    NoProxiedInterface { dropped: String },
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error(transparent)]
    PublicUrl(#[from] PublicUrlError),
    #[error("upstream base URL {url:?} is invalid: {reason}")]
    UpstreamBase { url: String, reason: String },
}

/// What to do with a card that carries `signatures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignedCards {
    /// Rewrite and remove `signatures` (they would no longer verify).
    #[default]
    Strip,
    /// Serve the upstream bytes untouched: no rewriting at all.
    PassUnmodified,
}

/// Inputs of a rewrite: where the route is reachable and where it forwards to.
#[derive(Debug, Clone)]
pub struct RewriteOptions {
    /// Public base URL of the route, normalised by [`parse_public_base`].
    pub public_base: Url,
    /// The upstream URL that the route forwards `<public base>` to (backend + rewritten prefix).
    pub upstream_base: Url,
    pub signed_cards: SignedCards,
    /// Binding names (compared case-insensitively) the gateway relays; others are dropped.
    pub proxied_bindings: Vec<String>,
}

impl RewriteOptions {
    /// Options with the defaults: strip signatures, relay `JSONRPC` and `HTTP+JSON`.
    pub fn new(public_base: &str, upstream_base: &str) -> Result<Self, CardError> {
        let upstream = Url::parse(upstream_base).map_err(|e| CardError::UpstreamBase {
            url: upstream_base.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            public_base: parse_public_base(public_base)?,
            upstream_base: upstream,
            signed_cards: SignedCards::default(),
            proxied_bindings: DEFAULT_PROXIED_BINDINGS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        })
    }

    fn proxies(&self, binding: &str) -> bool {
        self.proxied_bindings
            .iter()
            .any(|b| b.eq_ignore_ascii_case(binding))
    }
}

/// Which protocol era's interface fields the card carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardDialect {
    /// `supportedInterfaces` only.
    V1,
    /// `url` (+ `additionalInterfaces`) only.
    V03,
    /// Both, as dual-version agents serve them.
    Hybrid,
}

/// One URL that now points at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrittenUrl {
    /// JSON pointer of the field, e.g. `/supportedInterfaces/0/url`.
    pub field: String,
    pub from: String,
    pub to: String,
    /// The upstream URL named another scheme/host/port than the configured upstream.
    pub foreign_origin: bool,
}

/// Why an interface was removed from the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// The gateway does not relay this binding (e.g. `GRPC`, a custom binding URI).
    UnproxiedBinding(String),
    /// The URL's path is outside the upstream base path, so the route cannot reach it.
    OutsideUpstreamBase,
    /// The URL does not parse.
    InvalidUrl(String),
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnproxiedBinding(b) if b.is_empty() => f.write_str("no binding named"),
            Self::UnproxiedBinding(b) => write!(f, "binding {b} is not relayed"),
            Self::OutsideUpstreamBase => f.write_str("path outside the upstream base"),
            Self::InvalidUrl(e) => write!(f, "invalid URL: {e}"),
        }
    }
}

/// One interface removed from the card (or, for the 0.3 top-level `url`, replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedInterface {
    pub field: String,
    pub url: String,
    pub binding: String,
    pub reason: DropReason,
}

/// What happened to `signatures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureAction {
    /// The card was not signed.
    #[default]
    Unsigned,
    /// `signatures` removed; the gateway should log that the card is served unsigned.
    Stripped { count: usize },
    /// Signed card served byte for byte; nothing was rewritten.
    PassedUnmodified,
}

/// Everything the gateway may log about a rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RewriteReport {
    pub dialect: Option<CardDialect>,
    pub rewritten: Vec<RewrittenUrl>,
    pub dropped: Vec<DroppedInterface>,
    /// The 0.3 top-level `url` was replaced by this kept interface URL (already rewritten).
    pub promoted: Option<String>,
    pub signatures: SignatureAction,
}

/// A rewritten card: new body bytes and the report.
#[derive(Debug, Clone)]
pub struct CardRewrite {
    pub body: Vec<u8>,
    pub report: RewriteReport,
}

/// Rewrites an agent card (the public card or the authenticated extended card, which is a full
/// card too) given the upstream response body.
pub fn rewrite_card(body: &[u8], opts: &RewriteOptions) -> Result<CardRewrite, CardError> {
    let mut card: Value = serde_json::from_slice(body)?;
    if is_signed(&card) && opts.signed_cards == SignedCards::PassUnmodified {
        return Ok(CardRewrite {
            body: body.to_vec(),
            report: RewriteReport {
                signatures: SignatureAction::PassedUnmodified,
                ..RewriteReport::default()
            },
        });
    }
    let report = rewrite_card_value(&mut card, opts)?;
    Ok(CardRewrite {
        body: serde_json::to_vec(&card)?,
        report,
    })
}

/// Rewrites the card inside a JSON-RPC response (`GetExtendedAgentCard`,
/// `agent/getAuthenticatedExtendedCard`). Error responses pass through with an empty report.
pub fn rewrite_card_jsonrpc_response(
    body: &[u8],
    opts: &RewriteOptions,
) -> Result<CardRewrite, CardError> {
    let mut envelope: Value = serde_json::from_slice(body)?;
    let obj = envelope.as_object_mut().ok_or(CardError::NotAnObject)?;
    let Some(card) = obj.get_mut("result") else {
        if obj.contains_key("error") {
            return Ok(CardRewrite {
                body: body.to_vec(),
                report: RewriteReport::default(),
            });
        }
        return Err(CardError::NotAJsonRpcResponse);
    };
    if is_signed(card) && opts.signed_cards == SignedCards::PassUnmodified {
        return Ok(CardRewrite {
            body: body.to_vec(),
            report: RewriteReport {
                signatures: SignatureAction::PassedUnmodified,
                ..RewriteReport::default()
            },
        });
    }
    let report = rewrite_card_value(card, opts)?;
    Ok(CardRewrite {
        body: serde_json::to_vec(&envelope)?,
        report,
    })
}

fn is_signed(card: &Value) -> bool {
    card.get("signatures")
        .is_some_and(|s| s.as_array().is_none_or(|a| !a.is_empty()))
}

/// Rewrites a parsed card in place. `SignedCards::PassUnmodified` is handled by the byte-level
/// callers; here signatures are always stripped.
pub fn rewrite_card_value(
    card: &mut Value,
    opts: &RewriteOptions,
) -> Result<RewriteReport, CardError> {
    let obj = card.as_object_mut().ok_or(CardError::NotAnObject)?;
    let mut report = RewriteReport::default();

    let has_v1 = obj.contains_key("supportedInterfaces");
    let has_v03 = obj.contains_key("url");
    report.dialect = match (has_v1, has_v03) {
        (true, true) => Some(CardDialect::Hybrid),
        (true, false) => Some(CardDialect::V1),
        (false, true) => Some(CardDialect::V03),
        (false, false) => return Err(CardError::NoInterfaces),
    };

    // Kept interfaces in preference order, for promotion into the 0.3 `url`.
    let mut kept: Vec<(String, String)> = Vec::new();
    rewrite_list(
        obj,
        "supportedInterfaces",
        "protocolBinding",
        opts,
        &mut report,
        &mut kept,
    )?;
    rewrite_list(
        obj,
        "additionalInterfaces",
        "transport",
        opts,
        &mut report,
        &mut kept,
    )?;
    if has_v03 {
        rewrite_top_level(obj, opts, &mut report, &kept)?;
    } else if kept.is_empty() {
        return Err(no_proxied(&report));
    }

    if let Some(sigs) = obj.remove("signatures") {
        let count = sigs.as_array().map_or(1, Vec::len);
        if count > 0 {
            report.signatures = SignatureAction::Stripped { count };
        }
    }
    Ok(report)
}

fn no_proxied(report: &RewriteReport) -> CardError {
    let dropped = report
        .dropped
        .iter()
        .map(|d| format!("{} {:?} ({})", d.field, d.url, d.reason))
        .collect::<Vec<_>>()
        .join(", ");
    CardError::NoProxiedInterface {
        dropped: if dropped.is_empty() {
            "none".to_owned()
        } else {
            dropped
        },
    }
}

/// Rewrites the interface list `key`, removing entries the gateway cannot relay.
fn rewrite_list(
    obj: &mut Map<String, Value>,
    key: &str,
    binding_key: &str,
    opts: &RewriteOptions,
    report: &mut RewriteReport,
    kept: &mut Vec<(String, String)>,
) -> Result<(), CardError> {
    let Some(list) = obj.get_mut(key) else {
        return Ok(());
    };
    let Some(entries) = list.as_array_mut() else {
        return Err(CardError::WrongType {
            field: format!("/{key}"),
            expected: "an array",
        });
    };
    let original = std::mem::take(entries);
    for (index, mut entry) in original.into_iter().enumerate() {
        let field = format!("/{key}/{index}/url");
        let Some(iface) = entry.as_object_mut() else {
            return Err(CardError::WrongType {
                field: format!("/{key}/{index}"),
                expected: "an object",
            });
        };
        let binding = iface
            .get(binding_key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let url = iface
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !opts.proxies(&binding) {
            report.dropped.push(DroppedInterface {
                field,
                url,
                binding: binding.clone(),
                reason: DropReason::UnproxiedBinding(binding),
            });
            continue;
        }
        match map_url(&url, opts) {
            Ok((to, foreign_origin)) => {
                iface.insert("url".to_owned(), Value::String(to.clone()));
                report.rewritten.push(RewrittenUrl {
                    field,
                    from: url,
                    to: to.clone(),
                    foreign_origin,
                });
                kept.push((to, binding));
                entries.push(entry);
            }
            Err(reason) => report.dropped.push(DroppedInterface {
                field,
                url,
                binding,
                reason,
            }),
        }
    }
    Ok(())
}

/// Rewrites the 0.3 top-level `url`, or promotes the first kept interface into it.
fn rewrite_top_level(
    obj: &mut Map<String, Value>,
    opts: &RewriteOptions,
    report: &mut RewriteReport,
    kept: &[(String, String)],
) -> Result<(), CardError> {
    let url = match obj.get("url") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(CardError::WrongType {
                field: "/url".to_owned(),
                expected: "a string",
            })
        }
    };
    // 0.3 default when `preferredTransport` is absent.
    let binding = obj
        .get("preferredTransport")
        .and_then(Value::as_str)
        .unwrap_or("JSONRPC")
        .to_owned();
    let outcome = if opts.proxies(&binding) {
        map_url(&url, opts)
    } else {
        Err(DropReason::UnproxiedBinding(binding.clone()))
    };
    match outcome {
        Ok((to, foreign_origin)) => {
            obj.insert("url".to_owned(), Value::String(to.clone()));
            report.rewritten.push(RewrittenUrl {
                field: "/url".to_owned(),
                from: url,
                to,
                foreign_origin,
            });
            Ok(())
        }
        Err(reason) => {
            report.dropped.push(DroppedInterface {
                field: "/url".to_owned(),
                url,
                binding,
                reason,
            });
            let Some((to, kept_binding)) = kept.first() else {
                return Err(no_proxied(report));
            };
            obj.insert("url".to_owned(), Value::String(to.clone()));
            obj.insert(
                "preferredTransport".to_owned(),
                Value::String(kept_binding.clone()),
            );
            report.promoted = Some(to.clone());
            Ok(())
        }
    }
}

/// Maps one upstream interface URL to the gateway (see the module docs for the rule).
/// Returns the new URL and whether the upstream URL named a foreign origin.
fn map_url(url: &str, opts: &RewriteOptions) -> Result<(String, bool), DropReason> {
    // `join` accepts absolute URLs and resolves the odd relative one against the upstream base.
    let parsed = opts
        .upstream_base
        .join(url)
        .map_err(|e| DropReason::InvalidUrl(e.to_string()))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(DropReason::InvalidUrl(format!(
            "scheme {} is not http or https",
            parsed.scheme()
        )));
    }
    let base = &opts.upstream_base;
    let foreign_origin = parsed.scheme() != base.scheme()
        || parsed.host_str() != base.host_str()
        || parsed.port_or_known_default() != base.port_or_known_default();
    let base_path = base.path().trim_end_matches('/');
    let path = parsed.path();
    let rest = if base_path.is_empty() {
        path
    } else if path == base_path {
        ""
    } else if path.starts_with(base_path) && path[base_path.len()..].starts_with('/') {
        &path[base_path.len()..]
    } else {
        return Err(DropReason::OutsideUpstreamBase);
    };
    let mut to = opts.public_base.as_str().trim_end_matches('/').to_owned();
    to.push_str(rest);
    if let Some(q) = parsed.query() {
        to.push('?');
        to.push_str(q);
    }
    Ok((to, foreign_origin))
}

#[cfg(test)]
#[path = "card_tests.rs"]
mod tests;
