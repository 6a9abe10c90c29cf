//! Virtual MCP server: aggregates many MCP targets behind one rmcp
//! `ServerHandler` ([`Multiplexer`]).
//!
//! * [`Target`]s: `stdio` child processes, Streamable HTTP (`mcp`) servers and
//!   in-process rmcp servers (OpenAPI tools, A2A agents), each with a timeout
//!   and a tool filter; connected lazily and reconnected after a crash.
//! * Names: `target_tool` with several targets, unchanged with one; always
//!   client-safe, shortened reversibly when needed ([`naming`]).
//! * Lists fan out concurrently and merge with gateway-minted cursors;
//!   `failOpen`/`failClosed` decide what one failing target does.
//! * Calls go to the owning target only, with progress relayed,
//!   cancellation forwarded, and the target's questions (elicitation,
//!   sampling) relayed to the client whose call caused them.
//! * [`MuxMetrics`] reports per-target request counts and up/down state.
//!
//! [`McpBackendConfig`] is the `backends[].mcp` shape of the gateway's config.

mod answers;
pub mod config;
mod context;
mod cursor;
mod error;
pub mod filter;
pub mod http;
mod http_client;
mod jsonrpc_parse;
mod list_cache;
mod lists;
mod logging;
pub mod metrics;
mod mux;
pub mod naming;
mod notices;
mod ordered_relay;
mod progress;
mod questions;
mod rmcp_server;
mod sse_client;
mod target;
mod upstream;
mod upstream_client;

pub use backend_auth::{BackendAuth, BackendAuthConfig};
pub use config::{FailureMode, McpBackendConfig, TargetConfig, TargetEra};
pub use context::{CallContext, CallRecord, Downstream, RecordSlot, StreamDownstream};
pub use error::MuxError;
pub use filter::ToolFilter;
pub use list_cache::DEFAULT_LIST_CACHE_TTL;
pub use logging::LogInterest;
pub use metrics::{MuxMetrics, MuxStats, NoMetrics, Outcome};
pub use mux::{Multiplexer, MultiplexerBuilder};
pub use target::{backend_auth, build_backend_auth, Target, DEFAULT_CONNECT_TIMEOUT};
pub use upstream::TargetState;
