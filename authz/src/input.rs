//! What a rule is evaluated against: plain borrowed views the gateway fills from its own types
//! (the caller identity from authentication, the HTTP request, the MCP item). Nothing here is
//! converted to CEL values until a rule set that reads it is evaluated.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// Everything one evaluation may read. Cheap to build: it only borrows.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Who is calling; the default (no credential) is an anonymous caller.
    pub identity: IdentityView<'a>,
    /// The HTTP request (for MCP, the request that carried the JSON-RPC message).
    pub request: RequestView<'a>,
    /// The MCP method and item; `None` outside MCP routes.
    pub mcp: Option<McpView<'a>>,
}

/// The caller identity as rules see it. Each part is `None` when the caller did not present
/// that credential (or it was not configured).
///
/// CEL sees a missing part as empty, never as an error by itself: `jwt` is an empty map (so
/// `has(jwt.sub)` is false, while `jwt.sub` fails and so denies), `apiKey` is
/// `{name: "", metadata: {}}`, `basicAuth` is `{username: ""}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityView<'a> {
    /// The validated JWT's claims.
    pub jwt: Option<&'a Map<String, Value>>,
    /// The API key the caller presented.
    pub api_key: Option<ApiKeyView<'a>>,
    /// The user of a valid basic-auth credential.
    pub basic_auth: Option<BasicAuthView<'a>>,
}

/// An API key: its configured name and metadata.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyView<'a> {
    /// The key's `name` in the config.
    pub name: &'a str,
    /// The key's `metadata` (a JSON object, as `apiKeyAuth` keys have). `None` is an empty map.
    pub metadata: Option<&'a Map<String, Value>>,
}

/// A basic-auth user.
#[derive(Debug, Clone, Copy)]
pub struct BasicAuthView<'a> {
    /// The user name from the htpasswd file.
    pub username: &'a str,
}

/// The request as rules see it.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The request headers. CEL sees a map from lowercase name to value; several values of one
    /// name are joined with `", "`; values that are not UTF-8 are left out.
    pub headers: &'a http::HeaderMap,
    /// The client's address (the connection peer). CEL sees it as a string, `""` if unknown.
    pub source_address: Option<IpAddr>,
}

/// The MCP part: the JSON-RPC method and the item it is about.
#[derive(Debug, Clone, Copy)]
pub struct McpView<'a> {
    /// The JSON-RPC method: `tools/call`, `prompts/get`, `resources/read`, ... When filtering
    /// a list, the list method (`tools/list`, `prompts/list`, `resources/list`, ...).
    pub method: &'a str,
    /// The tool, prompt or resource; `None` for methods about no item (`initialize`, `ping`).
    pub item: Option<McpItem<'a>>,
}

/// What kind of MCP item a rule is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpKind {
    /// A tool: `mcp.tool`.
    Tool,
    /// A prompt: `mcp.prompt`.
    Prompt,
    /// A resource or resource template: `mcp.resource` (`name` is its URI).
    Resource,
}

/// One tool, prompt or resource, as the client names it minus the target prefix.
#[derive(Debug, Clone, Copy)]
pub struct McpItem<'a> {
    /// Tool, prompt or resource.
    pub kind: McpKind,
    /// The MCP target (upstream server) it belongs to.
    pub target: &'a str,
    /// Its name at the target (for a resource, its URI at the target).
    pub name: &'a str,
    /// A tool call's `arguments`; `None` (no arguments) is an empty map. Ignored for prompts
    /// and resources.
    pub arguments: Option<&'a Map<String, Value>>,
}
