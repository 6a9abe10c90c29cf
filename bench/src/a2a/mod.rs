//! `bench-a2a`: the A2A counterpart of the HTTP and MCP harnesses. Numbers are differences and
//! ratios of Switchboard's `a2a` route against calling the same agent directly, in the same run.
//!
//! Reuses the child handling ([`crate::children`]), binary lookup
//! ([`crate::targets::switchboard`]) and `/proc` sampling ([`crate::procfs`]); what differs is
//! the upstream (an A2A echo agent), the client (JSON-RPC over keep-alive hyper connections, SSE
//! parsed as it arrives) and the gateway config.
//!
//! - [`cli`]: the command line.
//! - [`proto`]: the JSON-RPC messages of both dialects (1.0 and 0.3) and the checks of answers.
//! - [`agent`]: the in-process agent (axum, one dedicated thread): card, sends, SSE streams.
//! - [`gateway`]: Switchboard started with a generated `a2a` route in front of the agent.
//! - [`client`]: endpoints, connections and the probes' one-off requests.
//! - [`sse`]: the incremental SSE parser that dates each event.
//! - [`load`]: the closed-loop `SendMessage` load and its latency histogram.
//! - [`stream`]: the interleaved sequential streams: first event, gaps between events.
//! - [`run`]: the scenarios, each measured with CPU samples at its edges.
//! - [`report`]: the header, the tables and the goal lines.

pub mod agent;
pub mod cli;
pub mod client;
pub mod gateway;
pub mod load;
pub mod proto;
pub mod report;
pub mod run;
pub mod sse;
pub mod stream;
