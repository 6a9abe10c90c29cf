//! Cheaper parsing of the JSON-RPC messages on the `tools/call` hot path, with exactly rmcp's
//! result.
//!
//! rmcp's `JsonRpcMessage` deserializer buffers the whole message into serde's `Content`, then
//! tries its variants in order (Request first), each cloning the buffer into a flatten buffer and
//! building a serde error when it does not fit; `ClientRequest` is itself an untagged union of
//! some twenty request types tried in order (`tools/call` is the fourteenth). A profile at
//! concurrency 1 put each of the downstream request and the upstream answer at ~7% of the
//! gateway's CPU. Here the common messages (a client request of a known method, a server response
//! or error) are read in one pass as the one variant they must be, with rmcp's own types; any
//! other message, and any failure, goes to rmcp's parser. A response whose result has only a
//! tool result's members is read straight as a `CallToolResult` ([`is_call_tool_result`] says
//! why that is the member rmcp's untagged `ServerResult` would pick). Why the result is always
//! rmcp's:
//!
//! - The envelopes below accept a message only when rmcp's shape check would pick the same
//!   variant: rmcp classifies by which of `method`, `id`, `result`, `error` are present (a request
//!   has `method` and `id` and neither `result` nor `error`; see [`OtherKeys`]), and only the
//!   variant of that shape can then succeed.
//! - Their fields are rmcp's field types, and whatever is not an envelope field is buffered and
//!   handed on as rmcp's own flatten buffer hands it on, so values (including `_meta`, which rmcp
//!   moves into the request's extensions) come out the same.
//! - serde_json's recursion limit rejects the same messages: every top-level value is read either
//!   as a string or through `deserialize_any` at the same depth as in rmcp's whole-message
//!   buffer (an `ErrorData` is buffered first for this reason: read directly, its unknown
//!   fields would be skipped without a depth count).
//! - A request's method is found by a byte search ([`method_hint`]) and is only a hint: each
//!   request type's `method` is a constant string that rejects any other value, so a wrong hint
//!   makes the typed read fail (and rmcp parse), never pick another type. With distinct method
//!   constants, the first member of rmcp's untagged `ClientRequest` that can succeed on a method
//!   is that method's type, so a successful typed read is the member rmcp picks. `CustomRequest`
//!   (any method) is left to rmcp: it only applies when no known type fits.
//!
//! The tests compare both parsers on a corpus; they are what catches an rmcp upgrade that
//! changes this reasoning (say, a new `ClientRequest` member without a constant method).

use rmcp::model::{
    self, ClientJsonRpcMessage, ClientRequest, ConstString, ErrorData, JsonRpcError,
    JsonRpcMessage, JsonRpcRequest, JsonRpcResponse, JsonRpcVersion2_0, RequestId,
    ServerJsonRpcMessage, ServerResult,
};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A downstream message, as `serde_json::from_slice::<ClientJsonRpcMessage>` reads it.
pub(crate) fn client_message(bytes: &[u8]) -> serde_json::Result<ClientJsonRpcMessage> {
    match method_hint(bytes).and_then(|method| known_request(method, bytes)) {
        Some(message) => Ok(message),
        None => serde_json::from_slice(bytes),
    }
}

/// A target's message, as `serde_json::from_slice::<ServerJsonRpcMessage>` reads it (and as
/// `from_str` does: the input is then valid UTF-8, where the two agree).
pub(crate) fn server_message(bytes: &[u8]) -> serde_json::Result<ServerJsonRpcMessage> {
    let fast = if contains(bytes, b"\"result\"") {
        response(bytes)
    } else if contains(bytes, b"\"error\"") {
        error(bytes)
    } else {
        None
    };
    match fast {
        Some(message) => Ok(message),
        None => serde_json::from_slice(bytes),
    }
}

/// The method constant of an rmcp request type.
trait KnownMethod {
    const METHOD: &'static str;
}

impl<M: ConstString, P> KnownMethod for model::Request<M, P> {
    const METHOD: &'static str = M::VALUE;
}

impl<M: ConstString, P> KnownMethod for model::RequestOptionalParam<M, P> {
    const METHOD: &'static str = M::VALUE;
}

impl<M: ConstString> KnownMethod for model::RequestNoParam<M> {
    const METHOD: &'static str = M::VALUE;
}

/// `known_request(method, bytes)`: the message as the `ClientRequest` member for `method`, when
/// it reads as one. Each member is named once: its method comes from its type, so the list
/// cannot pair a method with the wrong type. Deprecated members (logging, legacy subscribe)
/// are left to rmcp.
macro_rules! known_requests {
    ($($member:ident),* $(,)?) => {
        fn known_request(method: &str, bytes: &[u8]) -> Option<ClientJsonRpcMessage> {
            $(
                if method == <model::$member as KnownMethod>::METHOD {
                    return request::<model::$member>(bytes).map(|r| {
                        JsonRpcMessage::Request(JsonRpcRequest {
                            jsonrpc: r.jsonrpc,
                            id: r.id,
                            request: ClientRequest::$member(r.request),
                        })
                    });
                }
            )*
            None
        }
    };
}

known_requests!(
    CallToolRequest,
    ListToolsRequest,
    PingRequest,
    InitializeRequest,
    DiscoverRequest,
    CompleteRequest,
    GetPromptRequest,
    ListPromptsRequest,
    ListResourcesRequest,
    ListResourceTemplatesRequest,
    ReadResourceRequest,
    SubscriptionsListenRequest,
    GetTaskRequest,
    UpdateTaskRequest,
    CancelTaskRequest,
    ListSkillsRequest,
    GetSkillRequest,
    ReadResourceDirectoryRequest,
);

/// A request as rmcp's `JsonRpcRequest<R>` reads it after its shape check.
#[derive(serde::Deserialize)]
struct RequestEnvelope<R> {
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    // Read before `request`, which takes `method` and `params` out of the buffer.
    #[serde(flatten)]
    others: OtherKeys,
    #[serde(flatten)]
    request: R,
}

fn request<'de, R: Deserialize<'de>>(bytes: &'de [u8]) -> Option<RequestEnvelope<R>> {
    let envelope: RequestEnvelope<R> = serde_json::from_slice(bytes).ok()?;
    let OtherKeys {
        method,
        result,
        error,
    } = envelope.others;
    (method && !result && !error).then_some(envelope)
}

/// A response as rmcp's `JsonRpcResponse<ServerResult>` reads it after its shape check, with
/// the result read as `R` (a `ServerResult`, or the one member it must be).
#[derive(serde::Deserialize)]
struct ResponseEnvelope<R> {
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    result: R,
    #[serde(flatten)]
    others: OtherKeys,
}

fn response(bytes: &[u8]) -> Option<ServerJsonRpcMessage> {
    let (others, jsonrpc, id, result) = if is_call_tool_result(bytes) {
        let e: ResponseEnvelope<model::CallToolResult> = serde_json::from_slice(bytes).ok()?;
        let result = ServerResult::CallToolResult(e.result);
        (e.others, e.jsonrpc, e.id, result)
    } else {
        let e: ResponseEnvelope<ServerResult> = serde_json::from_slice(bytes).ok()?;
        (e.others, e.jsonrpc, e.id, e.result)
    };
    let OtherKeys { method, error, .. } = others;
    (!method && !error).then_some(JsonRpcMessage::Response(JsonRpcResponse {
        jsonrpc,
        id,
        result,
    }))
}

/// Whether the message's `result` is an object whose members are all `CallToolResult`'s, with
/// at least one of those that make it one (`content`, `structuredContent`, `isError`; rmcp's
/// `CallToolResult` refuses an object without any of them).
///
/// `ServerResult` is an untagged union: serde buffers the result and tries each member in
/// order, and `CallToolResult` is the sixteenth, so a tool's answer used to pay for fifteen
/// failed reads (about 5% of the gateway's CPU per call at concurrency 1). Every member before
/// it requires a member `CallToolResult` does not have (`tools`, `task`, `action`, ...; the
/// test `no_member_before_call_tool_result_takes_its_members` checks this against rmcp), so for
/// such an object the first member that can succeed is `CallToolResult`, and reading it as one
/// gives rmcp's answer. This pass only looks at member names and skips their values.
fn is_call_tool_result(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Scan {
        result: CallToolShape,
    }
    serde_json::from_slice::<Scan>(bytes).is_ok_and(|scan| scan.result.0)
}

/// Whether a result object has only `CallToolResult`'s members and at least one that makes it
/// one. An error (any other member, or not an object) means no.
struct CallToolShape(bool);

impl<'de> Deserialize<'de> for CallToolShape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = CallToolShape;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a tool call's result")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CallToolShape, A::Error> {
                let mut defining = false;
                while let Some(key) = map.next_key::<CallToolKey>()? {
                    match key {
                        CallToolKey::Defining => defining = true,
                        CallToolKey::Optional => {}
                        CallToolKey::Other => return Err(de::Error::custom("not a tool result")),
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(CallToolShape(defining))
            }
        }
        deserializer.deserialize_map(ShapeVisitor)
    }
}

/// A member name of a result object, as [`CallToolShape`] sorts it.
enum CallToolKey {
    /// `content`, `structuredContent` or `isError`.
    Defining,
    /// `_meta` or `resultType`.
    Optional,
    Other,
}

impl<'de> Deserialize<'de> for CallToolKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = CallToolKey;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<CallToolKey, E> {
                Ok(match key {
                    "content" | "structuredContent" | "isError" => CallToolKey::Defining,
                    "_meta" | "resultType" => CallToolKey::Optional,
                    _ => CallToolKey::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// An error as rmcp's `JsonRpcError` reads it after its shape check.
#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    jsonrpc: JsonRpcVersion2_0,
    #[serde(default)]
    id: Option<RequestId>,
    #[serde(flatten)]
    others: OtherKeys,
    // Flattened, so that `error` is buffered with the depth count rmcp's buffer applies.
    #[serde(flatten)]
    body: ErrorBody,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorData,
}

fn error(bytes: &[u8]) -> Option<ServerJsonRpcMessage> {
    let envelope: ErrorEnvelope = serde_json::from_slice(bytes).ok()?;
    let OtherKeys { method, result, .. } = envelope.others;
    (!method && !result).then_some(JsonRpcMessage::Error(JsonRpcError {
        jsonrpc: envelope.jsonrpc,
        id: envelope.id,
        error: envelope.body.error,
    }))
}

/// Which of the keys rmcp's shape check looks at are among the keys an envelope does not read
/// itself (`id` always is an envelope field, required or defaulted as in rmcp).
#[derive(Default)]
struct OtherKeys {
    method: bool,
    result: bool,
    error: bool,
}

impl<'de> Deserialize<'de> for OtherKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OtherKeysVisitor)
    }
}

struct OtherKeysVisitor;

impl<'de> Visitor<'de> for OtherKeysVisitor {
    type Value = OtherKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the members of a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OtherKeys, A::Error> {
        let mut keys = OtherKeys::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Method => keys.method = true,
                Key::Result => keys.result = true,
                Key::Error => keys.error = true,
                Key::Other => {}
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(keys)
    }
}

/// A member name, read without allocating.
enum Key {
    Method,
    Result,
    Error,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "method" => Key::Method,
                    "result" => Key::Result,
                    "error" => Key::Error,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The value of the first `"method": "…"` in `bytes` when it is a string without escapes, found
/// without parsing. Only a hint (see the module doc): it may come from inside `params`.
fn method_hint(bytes: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"method\"";
    let at = find(bytes, KEY)?;
    let rest = bytes.get(at + KEY.len()..)?;
    let rest = skip_whitespace(rest).strip_prefix(b":")?;
    let rest = skip_whitespace(rest).strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    let (value, after) = rest.split_at(end);
    if !after.starts_with(b"\"") {
        return None;
    }
    std::str::from_utf8(value).ok()
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests;
