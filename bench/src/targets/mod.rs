//! The proxies under test, each started as a child process with a generated config in its own
//! temp dir, on free loopback ports, and handed back once it answers.
//!
//! Each `start` returns a handle that owns the child (through a [`ChildGuard`]) and the temp dir:
//! dropping the handle stops the proxy, then deletes its config and logs.
//!
//! [`ChildGuard`]: crate::children::ChildGuard

use std::net::TcpListener as StdTcpListener;

use anyhow::{Context, Result};

pub mod nginx;
pub mod switchboard;

/// A free loopback port: bind 127.0.0.1:0, read the port, release it.
///
/// The proxies bind their ports themselves, from a config written before they start, so the
/// port has to be chosen up front (with a small race against other processes, harmless here).
pub fn free_port() -> Result<u16> {
    let l = StdTcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}
