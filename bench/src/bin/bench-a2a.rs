//! `bench-a2a`: A2A gateway benchmark (issue 5). In one run it measures, against an in-process
//! A2A echo agent directly and through Switchboard's `a2a` route policy
//! (`switchboard run -c <generated config>`):
//!
//! 1. `SendMessage` (JSON-RPC, `A2A-Version: 1.0`) at each `--concurrency` (default 1 and 64
//!    keep-alive connections) for `--duration`: req/s, p50/p99, ratios and added latency against
//!    direct, and the gateway's CPU time per call;
//! 2. `SendStreamingMessage`: the time to the first SSE event over `--streams` sequential
//!    streams per target, the latency the gateway adds to it, and the spacing of the later
//!    events as seen through the gateway against the agent's `--stream-delay`.
//!
//! ```text
//! cargo build --release -p gateway -p bench --bin switchboard --bin bench-a2a
//! target/release/bench-a2a [--duration 3s] [--concurrency 1,64] [--streams 200] [--gateway PATH]
//! ```
//!
//! Everything lives in `bench::a2a`; this file only builds the runtime. Exits non-zero with the
//! reason (and the gateway's log tail) when the setup fails.

use anyhow::Result;
use bench::a2a::cli::Args;
use bench::a2a::run::run;
use bench::children::until_interrupted;
use clap::Parser;

fn main() -> Result<()> {
    let args = Args::parse();
    args.validate()?;
    // `--client-threads` sizes the runtime, so it is built here rather than with `#[tokio::main]`.
    // The agent has its own thread and runtime (see `bench::a2a::agent`).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    rt.block_on(until_interrupted(run(args)))
}
