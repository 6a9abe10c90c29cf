//! Virtual MCP server: aggregates many MCP targets behind one endpoint ([`Multiplexer`]).
//!
//! Pipeline, in three layers whose imports go one way only (front → core → upstream):
//!
//! * **`front/`** — how clients reach it. [`http::HttpFront`] is the Streamable HTTP endpoint
//!   (both eras, with 2026-07-28 multi-round-trip calls) and the legacy HTTP+SSE transport;
//!   the [`Multiplexer`] is also an rmcp `ServerHandler` (in-process, stdio). Each front turns
//!   a request into a [`CallContext`] and implements [`Downstream`] for its transport, so a
//!   target's progress, log messages and questions reach the client whose call caused them.
//! * **`core/`** — the [`Multiplexer`]: lists fan out concurrently and merge with
//!   gateway-minted cursors (`failOpen`/`failClosed` decide what one failing target does);
//!   names are `target_tool` with several targets, always client-safe and shortened
//!   reversibly ([`naming`]); calls go to the owning target only; notices for every client.
//! * **`upstream/`** — the [`Target`]s (`stdio` child processes, Streamable HTTP and legacy
//!   SSE servers, in-process rmcp servers), each with a timeout and a [`ToolFilter`],
//!   connected lazily and reconnected after a crash; one client per connection, the list
//!   cache, and the routers that relay progress and questions. Every request goes through
//!   one engine (`upstream::engine`): connect, send on rmcp's session or straight within a
//!   Streamable HTTP session, progress and question registrations held by guards, the
//!   target's timeout, cancellation forwarded, and the target's state settled.
//!
//! At the root, shared by all three: [`config`] ([`McpBackendConfig`] is the `backends[].mcp`
//! shape of the gateway's config), [`MuxError`], [`metrics`] ([`MuxMetrics`]: per-target
//! request counts and up/down state), [`policy`] (the route's `mcpAuthorization`, checked on
//! every list item and call), and JSON-RPC parsing (the HTTP front reads requests with
//! it, the Streamable HTTP client reads answers).

pub mod config;
mod core;
mod error;
mod front;
mod jsonrpc_parse;
pub mod metrics;
pub mod policy;
mod upstream;

pub use crate::core::naming;
pub use crate::core::tool_limit::{ToolLimit, ToolLimiter, RATE_LIMITED};
pub use front::http;
pub use upstream::filter;

pub use crate::core::context::{CallContext, CallRecord, Downstream, RecordSlot};
pub use crate::core::mux::{Multiplexer, MultiplexerBuilder};
pub use crate::upstream::logging::LogInterest;
pub use backend_auth::{BackendAuth, BackendAuthConfig};
pub use config::{FailureMode, McpBackendConfig, TargetConfig, TargetEra};
pub use error::MuxError;
pub use filter::ToolFilter;
pub use metrics::{MuxMetrics, MuxStats, NoMetrics, Outcome};
pub use policy::{ClientAddr, McpPolicy};
pub use upstream::list_cache::DEFAULT_LIST_CACHE_TTL;
pub use upstream::target::{backend_auth, build_backend_auth, Target, DEFAULT_CONNECT_TIMEOUT};
pub use upstream::TargetState;
