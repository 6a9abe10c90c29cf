//! `bench-llm`: the LLM counterpart of the HTTP, MCP and A2A harnesses (issue 15). OpenAI chat
//! completions against an in-process loopback provider, three ways in one run: directly,
//! through Switchboard's `ai` backend, and through LiteLLM's proxy; the numbers are ratios and
//! differences against direct, and Switchboard's throughput against LiteLLM's.
//!
//! Reuses the child handling ([`crate::children`]), Switchboard's process and binary lookup,
//! `/proc` sampling ([`crate::procfs`]), and the A2A harness's connections, SSE parser and
//! latency histogram.
//!
//! - [`cli`]: the command line.
//! - [`wire`]: requests, the provider's fixed replies, and the checks of answers.
//! - [`provider`]: the loopback provider (hyper, one dedicated thread).
//! - [`gateway`]: Switchboard's generated config (one `ai` backend).
//! - [`litellm`]: finding, configuring and starting LiteLLM's proxy.
//! - [`picker`]: a loopback endpoint picker (ext_proc) for the `sb-epp` path.
//! - [`client`]: endpoints and one checked completion or stream.
//! - [`load`]: the closed-loop load and the interleaved streams.
//! - [`run`]: the scenarios, each measured with CPU samples at its edges.
//! - [`report`]: the header, the tables and the goal lines.

pub mod cli;
pub mod client;
pub mod gateway;
pub mod litellm;
pub mod load;
pub mod picker;
pub mod provider;
pub mod report;
pub mod run;
pub mod wire;
