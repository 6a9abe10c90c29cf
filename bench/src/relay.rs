//! The floor of any proxy: a TCP relay that copies bytes both ways and does nothing else.
//!
//! `bench-mcp` runs it as its own process (the `bench-relay` binary, [`RelayProcess`]) between
//! the client and the MCP server, in the same run as Switchboard. Its added latency and CPU are
//! what one more process hop costs on this machine, whatever the proxy does; what Switchboard
//! adds above the relay is what its HTTP and MCP work costs. On a VM where waking a process is
//! expensive, the hop alone can be most of the added latency at concurrency 1.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::{TcpListener, TcpStream};

use crate::children::ChildGuard;

/// The line `bench-relay` prints once it listens, followed by the address.
pub const READY_PREFIX: &str = "relay listening on ";

/// Accepts connections on `listener` and relays each to a new connection to `upstream`, with
/// `TCP_NODELAY` on both sides (as Switchboard sets it). Runs until the process ends.
pub async fn serve(listener: TcpListener, upstream: SocketAddr) -> Result<()> {
    loop {
        let (mut down, _) = listener.accept().await.context("accept")?;
        tokio::spawn(async move {
            let Ok(mut up) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = down.set_nodelay(true);
            let _ = up.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
        });
    }
}

/// A running `bench-relay` child; dropping it stops the process.
pub struct RelayProcess {
    /// Where clients connect.
    pub addr: SocketAddr,
    child: ChildGuard,
}

impl RelayProcess {
    /// Starts `bench-relay` (found next to the running benchmark binary) in front of `upstream`
    /// with `workers` runtime threads, and waits for its ready line.
    pub async fn start(upstream: SocketAddr, workers: usize) -> Result<Self> {
        let bin = relay_binary()?;
        let mut child = Command::new(&bin)
            .arg(upstream.to_string())
            .arg("--workers")
            .arg(workers.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("bench-relay's stdout")?;
        let child = ChildGuard::new("bench-relay", child);
        // A thread reads the ready line, then drains stdout so the relay never blocks on it.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .context("bench-relay did not print its address within 10 s")?
            .ok()
            .flatten()
            .context("bench-relay exited before listening")?
            .context("reading bench-relay's stdout")?;
        let Some(addr) = line.strip_prefix(READY_PREFIX) else {
            bail!("unexpected first line from bench-relay: {line:?}");
        };
        let addr = addr
            .parse()
            .with_context(|| format!("bench-relay's address {addr:?}"))?;
        Ok(Self { addr, child })
    }

    /// The process to sample for CPU and RSS.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// `bench-relay` in the directory of the running binary (cargo builds all of a package's
/// binaries into the same `target/<profile>`).
fn relay_binary() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating the running benchmark binary")?;
    let bin = me.with_file_name("bench-relay");
    if !bin.is_file() {
        bail!(
            "{} not found; build it next to the benchmark: cargo build --release -p bench --bin bench-relay",
            bin.display()
        );
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Bytes go through both ways, on several connections at once.
    #[tokio::test]
    async fn relays_bytes_both_ways() {
        let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let echo_addr = echo.local_addr().expect("echo addr");
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = conn.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let relay = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let relay_addr = relay.local_addr().expect("relay addr");
        tokio::spawn(serve(relay, echo_addr));

        let mut clients = Vec::new();
        for i in 0..3u8 {
            clients.push(tokio::spawn(async move {
                let mut conn = TcpStream::connect(relay_addr).await.expect("connect");
                let sent = vec![i; 64 * 1024];
                conn.write_all(&sent).await.expect("write");
                let mut got = vec![0; sent.len()];
                conn.read_exact(&mut got).await.expect("read");
                assert_eq!(got, sent);
            }));
        }
        for c in clients {
            tokio::time::timeout(Duration::from_secs(10), c)
                .await
                .expect("relay answered within 10 s")
                .expect("client task");
        }
    }
}
