//! `bench-http`: plain HTTP proxy benchmark. In one run it measures a closed-loop load of small
//! GET requests (128-byte response bodies by default) against
//!
//! 1. the upstream directly,
//! 2. the upstream through Switchboard (`switchboard run -c <generated config>`),
//! 3. the upstream through nginx configured as the same reverse proxy,
//!
//! each proxy once with its logging as it ships (access log on) and once with logs off
//! (`--logging`), and prints requests/s, p50/p99 latency, the ratios against the direct call and
//! against nginx with the same logging, and each proxy's user and system CPU per request.
//!
//! This is a harness, not a test: numbers depend on the machine, and on a small machine the load
//! generator, the upstream and the proxy all share the same cores (the output says so).
//!
//! ```text
//! cargo build --release -p bench -p gateway
//! target/release/bench-http [--concurrency 32] [--duration 5s] [--only direct,switchboard,nginx]
//! ```
//!
//! Everything lives in the `bench` library; this file only builds the runtime.

use anyhow::Result;
use bench::children::until_interrupted;
use bench::cli::Args;
use bench::harness::run;
use clap::Parser;

fn main() -> Result<()> {
    let args = Args::parse();
    args.validate()?;
    // `--client-threads` sizes the runtime, so it is built here rather than with `#[tokio::main]`.
    // The upstream has its own thread and runtime (see `bench::upstream`).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    rt.block_on(until_interrupted(run(args)))
}
