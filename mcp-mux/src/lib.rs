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

pub mod config;
mod core;
mod error;
mod front;
mod http_client;
mod jsonrpc_parse;
pub mod metrics;
mod sse_client;
mod upstream;

pub use crate::core::naming;
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
pub use upstream::list_cache::DEFAULT_LIST_CACHE_TTL;
pub use upstream::target::{backend_auth, build_backend_auth, Target, DEFAULT_CONNECT_TIMEOUT};
pub use upstream::TargetState;
