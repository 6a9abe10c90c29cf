//! `bench-mcp`: MCP gateway benchmark. In one run it measures `tools/call` of a trivial `echo`
//! tool on in-process rmcp Streamable HTTP servers of two kinds (`--targets`: one answering with
//! SSE streams, stateful; one answering JSON, stateless), with two loads: one rmcp client
//! session per worker at each `--concurrency` (default 1 and 16), and one session shared by
//! `--shared-concurrency` keep-alive connections (default 1 and 64). Each against
//!
//! 1. the server directly,
//! 2. a bytes-only TCP relay process (`bench-relay`) in front of it, the floor of any proxy:
//!    what one more process hop costs on this machine,
//! 3. the server through Switchboard's `mcp` backend (`switchboard run -c <generated config>`),
//!    once per `--logging` setup (default: as a user configures it, access log on; and logs off),
//!
//! and `tools/list` through the gateway with 1 and 10 targets; it prints req/s, p50/p99, the
//! gateway's user, system and total CPU µs per call and the ratios against direct.
//!
//! ```text
//! cargo build --release -p bench -p gateway   # bench-mcp, bench-relay, switchboard
//! target/release/bench-mcp [--concurrency 1,16] [--shared-concurrency 1,64] [--duration 3s]
//! ```
//!
//! Everything lives in `bench::mcp`; this file only builds the runtime.

use anyhow::Result;
use bench::children::until_interrupted;
use bench::mcp::cli::Args;
use bench::mcp::run::run;
use clap::Parser;

fn main() -> Result<()> {
    let args = Args::parse();
    args.validate()?;
    // `--client-threads` sizes the runtime, so it is built here rather than with `#[tokio::main]`.
    // The MCP servers have their own thread and runtime (see `bench::mcp::server`).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    rt.block_on(until_interrupted(run(args)))
}
