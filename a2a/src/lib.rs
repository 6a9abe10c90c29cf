//! A2A protocol core for Switchboard's A2A relay (A2A 1.0.x and 0.3, see
//! `shared/reference/a2a.md`). A standalone library: it knows nothing about the gateway's config
//! or HTTP server, works on bytes, `serde_json::Value` and `http` types, and is tested alone.
//!
//! | module | job |
//! |---|---|
//! | [`card`] | rewrite agent cards (1.0, 0.3, hybrid, extended) so every interface URL points at the gateway |
//! | [`public_url`] | the route's public base URL, configured or derived from the request |
//! | [`method`] | one enum for the operations of both eras and all bindings |
//! | [`jsonrpc`] | peek a JSON-RPC request: method, id, task/context id, tenant, push URLs |
//! | [`rest`] | classify HTTP+JSON requests and card fetches by verb and path |
//! | [`errors`] | JSON-RPC and HTTP+JSON (`google.rpc.Status`) error bodies |
//! | [`headers`] | `A2A-Version` / `A2A-Extensions` handling |
//! | [`push_guard`] | SSRF checks for push-notification webhook URLs |
//! | [`ownership`] | task ownership: store with TTL, sealed task ids, `ListTasks` filtering |
//! | [`events`] | task id/state from results and SSE events (ownership, access logs) |
//! | [`tools`] | an A2A agent as an in-process MCP server: skills → tools, calls → A2A messages |
//!
//! How the gateway is expected to use it, per request on an A2A route:
//! 1. [`rest::classify_http`]: a card fetch → relay, then [`card::rewrite_card`] on the body;
//!    a REST operation → policies on its [`A2aMethod`]; otherwise a POST to a JSON-RPC
//!    interface → [`jsonrpc::peek_request`] (errors answered with
//!    [`jsonrpc::PeekError::to_response_bytes`]).
//! 2. Ownership: [`ownership::OwnershipStore::authorize`] when the method
//!    [`targets_existing_task`](A2aMethod::targets_existing_task); push URLs through
//!    [`push_guard::PushGuard::check_url`].
//! 3. Response: JSON → [`events::inspect_response`] to record the owner; SSE → forward frames
//!    and feed a copy to [`events::summarize_sse`]; `ListTasks` →
//!    [`ownership::OwnershipStore::filter_list_response`]; extended card →
//!    [`card::rewrite_card`] / [`card::rewrite_card_jsonrpc_response`].
//!
//! Separately, for `a2a` targets of an MCP backend ("agents as MCP tools"), the gateway mounts
//! a [`tools::A2aToolsServer`] (an rmcp `ServerHandler`) in `mcp-mux`: it is an A2A *client*
//! of the agent, not part of the relay.

pub mod card;
pub mod errors;
pub mod events;
pub mod headers;
pub mod jsonrpc;
pub mod method;
pub mod ownership;
pub mod public_url;
pub mod push_guard;
pub mod rest;
pub mod tools;

pub use card::{
    rewrite_card, rewrite_card_jsonrpc_response, CardError, CardRewrite, RewriteOptions,
    RewriteReport, SignedCards,
};
pub use errors::{ErrorKind, RpcError};
pub use events::{inspect_response, summarize_sse, EventInfo, StreamSummary, TaskState};
pub use jsonrpc::{peek_request, JsonRpcPeek, PeekError};
pub use method::{A2aMethod, Dialect};
pub use ownership::{filter_task_list, OwnershipStore, TaskIdSealer, UnknownTasks};
pub use public_url::{public_base_url, PublicUrlError};
pub use push_guard::{PushGuard, PushGuardConfig, PushUrlError};
pub use rest::{classify_http, HttpRequestKind, RestPeek};
pub use tools::{A2aToolsError, A2aToolsOptions, A2aToolsServer};
