//! Benchmark harness for Switchboard (not tests): numbers are ratios against a direct call to the
//! same upstream, measured on the same machine in the same run.
//!
//! The `bench-http` binary is a thin shell over this library, so that a later harness (another
//! protocol, another load shape) can reuse the upstream, the load generator, the child-process
//! handling and the /proc sampling instead of copying them.
//!
//! How a run fits together:
//!
//! - [`cli`]: the command line.
//! - [`harness`]: finds the targets and runs every round over them, then hands the rows to
//!   [`report`].
//! - [`measure`]: one target, one round: warm-up, measured window, CPU samples at its edges.
//! - [`upstream`]: the in-process HTTP server every target ultimately talks to.
//! - [`load`]: the closed-loop load generator and its latency histogram; [`client`] holds the
//!   connection helpers it shares with probes and readiness checks.
//! - [`targets`]: starting Switchboard and nginx as child processes with generated configs.
//! - [`children`]: stopping those children on every exit path.
//! - [`procfs`]: CPU time and RSS from `/proc`, plus the machine description.
//! - [`wrk`]: the optional cross-check with `wrk`.
//! - [`relay`]: a bytes-only TCP relay process, the floor any proxy's added latency starts from.
//!
//! The other harnesses live in their own modules: [`mcp`], [`a2a`], [`llm`].

pub mod a2a;
pub mod children;
pub mod cli;
pub mod client;
pub mod harness;
pub mod llm;
pub mod load;
pub mod mcp;
pub mod measure;
pub mod procfs;
pub mod relay;
pub mod report;
pub mod switchboard_process;
pub mod targets;
pub mod upstream;
pub mod wrk;
