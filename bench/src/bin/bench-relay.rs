//! `bench-relay`: a TCP relay that copies bytes both ways and nothing else, the floor any proxy
//! starts from. `bench-mcp` starts it next to Switchboard (see `bench::relay`).
//!
//! ```text
//! bench-relay <upstream host:port> [--listen 127.0.0.1:0] [--workers 2]
//! ```
//!
//! Prints `relay listening on <addr>` once it accepts connections.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use bench::relay::{serve, READY_PREFIX};
use clap::Parser;

/// TCP relay: every connection accepted is copied to a new connection to the upstream.
#[derive(Parser, Debug)]
#[command(name = "bench-relay", version)]
struct Args {
    /// Where every accepted connection is relayed to.
    upstream: SocketAddr,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Tokio worker threads (Switchboard's default is one per core).
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .thread_name("relay")
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        println!("{READY_PREFIX}{}", listener.local_addr()?);
        serve(listener, args.upstream).await
    })
}
