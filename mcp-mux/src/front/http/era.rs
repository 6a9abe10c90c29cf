//! Which protocol era a POST speaks, and the header rules of each.
//!
//! The decision follows the 2026-07-28 backward-compatibility rules: an
//! `initialize` request is legacy whatever version it names; a request whose
//! `_meta` carries the per-request protocol version is modern; a
//! `MCP-Protocol-Version` header of 2026-07-28 or later without that `_meta`
//! is a malformed modern request; everything else is legacy and needs a session.

use http::{HeaderMap, HeaderName};
use rmcp::model::{
    ClientRequest, ErrorCode, ErrorData, GetMeta as _, ProtocolVersion, ServerResult,
};

/// `MCP-Protocol-Version`.
pub(crate) const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Session-Id`.
pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `Last-Event-ID`: where a resumed SSE stream picks up.
pub(crate) const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// How one request is to be served.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Era {
    /// Legacy: `initialize`, or a request within a session.
    Legacy,
    /// Modern: stateless, per-request `_meta`, at this version.
    Modern(ProtocolVersion),
}

/// A request refused before it reaches the multiplexer.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: http::StatusCode,
    pub(crate) error: ErrorData,
}

impl Refusal {
    pub(crate) fn bad_request(error: ErrorData) -> Self {
        Self {
            status: http::StatusCode::BAD_REQUEST,
            error,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::bad_request(ErrorData::header_mismatch(
            format!("the {name} header is given more than once"),
            None,
        )));
    }
    first.to_str().map(Some).map_err(|_| {
        Refusal::bad_request(ErrorData::invalid_request(
            format!("the {name} header is not visible ASCII"),
            None,
        ))
    })
}

fn is_known(version: &str) -> bool {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|v| v.as_str() == version)
}

/// The versions this server speaks, newest last (as rmcp lists them).
pub(crate) fn supported_versions() -> Vec<ProtocolVersion> {
    ProtocolVersion::KNOWN_VERSIONS.to_vec()
}

/// Decides the era of `request` and checks the headers that era requires.
pub(crate) fn classify(headers: &HeaderMap, request: &ClientRequest) -> Result<Era, Refusal> {
    let header_version = header(headers, &PROTOCOL_VERSION)?;
    if let ClientRequest::InitializeRequest(init) = request {
        if let Some(h) = header_version {
            if h != init.params.protocol_version.as_str() {
                return Err(Refusal::bad_request(ErrorData::invalid_request(
                    format!(
                        "MCP-Protocol-Version header ({h}) does not match initialize params.protocolVersion ({})",
                        init.params.protocol_version
                    ),
                    None,
                )));
            }
        }
        return Ok(Era::Legacy);
    }
    let meta = request.get_meta();
    let meta_version = meta.protocol_version();
    let modern_header =
        header_version.is_some_and(|v| v >= ProtocolVersion::NO_INITIALIZE.as_str());
    let is_discover = matches!(request, ClientRequest::DiscoverRequest(_));
    if meta_version.is_none() && !modern_header && !is_discover {
        if let Some(h) = header_version {
            if !is_known(h) {
                return Err(Refusal::bad_request(ErrorData::invalid_request(
                    format!("unsupported MCP-Protocol-Version: {h}"),
                    None,
                )));
            }
        }
        return Ok(Era::Legacy);
    }
    // Modern from here on.
    let missing = meta.missing_required_keys(&ProtocolVersion::NO_INITIALIZE);
    let Some(version) = meta_version.filter(|_| missing.is_empty()) else {
        return Err(Refusal::bad_request(ErrorData::invalid_params(
            format!(
                "request _meta is missing or has malformed required fields: {}",
                missing.join(", ")
            ),
            None,
        )));
    };
    let Some(h) = header_version else {
        return Err(Refusal::bad_request(ErrorData::header_mismatch(
            "the MCP-Protocol-Version header is required and must equal _meta's protocolVersion",
            None,
        )));
    };
    if h != version.as_str() {
        return Err(Refusal::bad_request(ErrorData::header_mismatch(
            format!("MCP-Protocol-Version header ({h}) does not match request _meta protocolVersion ({version})"),
            None,
        )));
    }
    if version.has_initialize() || !is_known(version.as_str()) {
        return Err(Refusal::bad_request(
            ErrorData::unsupported_protocol_version(version, &supported_versions()),
        ));
    }
    check_routing_headers(headers, request)?;
    if matches!(
        request,
        ClientRequest::PingRequest(_)
            | ClientRequest::SetLevelRequest(_)
            | ClientRequest::SubscribeRequest(_)
            | ClientRequest::UnsubscribeRequest(_)
    ) {
        // Removed in 2026-07-28 (no `ping`; the log level travels in each request's `_meta`;
        // resource subscriptions are `subscriptions/listen` streams):
        // an unknown method there, answered as such (404 + -32601), as rmcp does for `ping`.
        return Err(Refusal {
            status: http::StatusCode::NOT_FOUND,
            error: ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "Method not found: {} (not part of MCP {version})",
                    request.method()
                ),
                None,
            ),
        });
    }
    Ok(Era::Modern(version))
}

/// `Mcp-Method` and `Mcp-Name` must agree with the body: intermediaries route
/// and authorize on them without reading it.
fn check_routing_headers(headers: &HeaderMap, request: &ClientRequest) -> Result<(), Refusal> {
    let method = request.method();
    match header(headers, &MCP_METHOD)? {
        Some(m) if m == method => {}
        Some(m) => {
            return Err(Refusal::bad_request(ErrorData::header_mismatch(
                format!("Mcp-Method header `{m}` does not match body method `{method}`"),
                None,
            )))
        }
        None => {
            return Err(Refusal::bad_request(ErrorData::header_mismatch(
                format!("the Mcp-Method header is required (expected `{method}`)"),
                None,
            )))
        }
    }
    let name = match request {
        ClientRequest::CallToolRequest(r) => Some(r.params.name.as_ref()),
        ClientRequest::GetPromptRequest(r) => Some(r.params.name.as_str()),
        ClientRequest::ReadResourceRequest(r) => Some(r.params.uri.as_str()),
        _ => None,
    };
    if let Some(name) = name {
        let given = header(headers, &MCP_NAME)?.map(decode_header_value);
        match given {
            Some(Some(g)) if g == name => {}
            Some(_) => {
                return Err(Refusal::bad_request(ErrorData::header_mismatch(
                    format!("Mcp-Name header does not match `{name}` in the body"),
                    None,
                )))
            }
            None => {
                return Err(Refusal::bad_request(ErrorData::header_mismatch(
                    format!("the Mcp-Name header is required for {method} (expected `{name}`)"),
                    None,
                )))
            }
        }
    }
    Ok(())
}

/// A header value, decoding the `=?base64?…?=` form used for unsafe values.
fn decode_header_value(v: &str) -> Option<String> {
    use base64::Engine as _;
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_owned()),
    }
}

/// Shapes a result for the era of the client that gets it.
pub(crate) fn shape_result(result: &mut ServerResult, era: &Era) {
    match era {
        Era::Legacy => {
            result.strip_result_type_for_legacy_peer();
            result.strip_non_object_output_for_legacy_peer();
        }
        Era::Modern(_) => {
            mark_complete(result);
            result.fill_missing_cache_hints();
        }
    }
}

/// Results from legacy targets have no `resultType`; a modern client reads a
/// missing one as complete, but the spec asks servers to send it.
fn mark_complete(result: &mut ServerResult) {
    use rmcp::model::ResultType;
    let slot = match result {
        ServerResult::CompleteResult(r) => &mut r.result_type,
        ServerResult::GetPromptResult(r) => &mut r.result_type,
        ServerResult::ListPromptsResult(r) => &mut r.result_type,
        ServerResult::ListResourcesResult(r) => &mut r.result_type,
        ServerResult::ListResourceTemplatesResult(r) => &mut r.result_type,
        ServerResult::ReadResourceResult(r) => &mut r.result_type,
        ServerResult::ListToolsResult(r) => &mut r.result_type,
        ServerResult::CallToolResult(r) => &mut r.result_type,
        _ => return,
    };
    slot.get_or_insert(ResultType::COMPLETE);
}

/// Shapes an error for the era of the client that gets it.
pub(crate) fn shape_error(error: &mut ErrorData, era: &Era) {
    if matches!(era, Era::Modern(_)) && error.code == ErrorCode::RESOURCE_NOT_FOUND {
        error.code = ErrorCode::INVALID_PARAMS;
    }
}

/// The HTTP status of a response carrying an error with `code`: the modern era
/// maps some codes to statuses; legacy errors always travel with 200.
pub(crate) fn error_status(code: ErrorCode, era: &Era) -> http::StatusCode {
    match era {
        Era::Legacy => http::StatusCode::OK,
        Era::Modern(_) => match code {
            ErrorCode::METHOD_NOT_FOUND => http::StatusCode::NOT_FOUND,
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
            | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
            | ErrorCode::HEADER_MISMATCH => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::OK,
        },
    }
}
