//! Switchboard's gateway core: config model, listeners, routing, policies, HTTP proxy, admin
//! endpoints and telemetry. The `switchboard` binary (`src/main.rs`) is a thin shell over this.

pub mod admin;
pub mod body;
pub mod config;
pub mod guard;
pub mod kubernetes;
pub mod mcp;
pub mod metrics;
pub mod model;
pub mod proxy;
pub mod server;
pub mod telemetry;

/// Tests of the lowering, at the top because they build real `mcp` backends (the layer above
/// the model) for the `mcp` routes they load.
#[cfg(test)]
mod lower_tests;
