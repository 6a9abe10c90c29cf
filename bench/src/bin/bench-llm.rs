//! `bench-llm`: LLM gateway benchmark (issue 15). In one run, against an in-process
//! OpenAI-compatible provider with a fixed reply of `--tokens` tokens, directly, through
//! Switchboard's `ai` backend (`switchboard run -c <generated config>`, access log on) and
//! through LiteLLM's proxy (started offline with a generated config, if installed):
//!
//! 1. non-streamed chat completions at `--concurrency` (default 64) keep-alive connections and
//!    at one: req/s, p50/p99, added latency against direct, Switchboard against LiteLLM, and
//!    CPU per request (user and system) of the process in the middle;
//! 2. streams with usage, one at a time, paths interleaved: the time to the first content
//!    chunk and what each path adds to it.
//!
//! ```text
//! cargo build --release -p gateway -p bench
//! python3 -m venv .venv-litellm && .venv-litellm/bin/python -m pip install -r bench/requirements-litellm.txt
//! target/release/bench-llm [--duration 5s] [--concurrency 64] [--tokens 20] [--only direct,switchboard]
//! ```
//!
//! Everything lives in `bench::llm`; this file only builds the runtime.

use anyhow::Result;
use bench::children::until_interrupted;
use bench::llm::cli::Args;
use bench::llm::run::run;
use clap::Parser;

fn main() -> Result<()> {
    let args = Args::parse();
    args.validate()?;
    // `--client-threads` sizes the runtime; the provider has its own thread and runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    rt.block_on(until_interrupted(run(args)))
}
