//! `bench-mcp`: the MCP counterpart of the plain HTTP harness. Numbers are ratios of Switchboard's
//! MCP backend against calling the same rmcp Streamable HTTP server directly, in the same run.
//!
//! Reuses the HTTP harness's child handling ([`crate::children`]), binary lookup
//! ([`crate::targets::switchboard`]) and `/proc` sampling ([`crate::procfs`]); what differs is
//! the upstream (MCP servers, not a fixed body), the client (rmcp sessions, not raw HTTP/1.1)
//! and the gateway config.
//!
//! - [`cli`]: the command line.
//! - [`server`]: the in-process echo servers, on one dedicated thread.
//! - [`auth`]: the token, JWKS and rule of the access-controlled rows.
//! - [`gateway`]: Switchboard started with a generated `mcp` backend config.
//! - [`load`]: rmcp client sessions in a closed loop, latencies in a histogram.
//! - [`shared`]: one session shared by many connections, over a raw HTTP/1.1 client.
//! - [`run`]: the scenarios, each measured with CPU samples at the window's edges.
//! - [`idle`]: resident memory per idle legacy session.
//! - [`report`]: the header and the results table.

pub mod auth;
pub mod cli;
pub mod gateway;
pub mod idle;
pub mod load;
pub mod report;
pub mod run;
pub mod server;
pub mod shared;
