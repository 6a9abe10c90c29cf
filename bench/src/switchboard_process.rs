//! One Switchboard process for a benchmark: `switchboard run -c <config>` in a temp dir, on free
//! loopback ports, with `RUST_LOG=warn` (per-request logging would be measured as gateway
//! cost), ready once its admin `/readyz` answers 200. The HTTP, MCP and A2A benchmarks give it
//! their own config; dropping it stops the process and deletes the temp dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use http::StatusCode;

use crate::children::{tail, wait_ready, ChildGuard};
use crate::client::http_get;
use crate::targets::free_port;

/// A running Switchboard.
pub struct SwitchboardProcess {
    /// The data port (127.0.0.1).
    pub port: u16,
    log: PathBuf,
    guard: ChildGuard,
    _dir: tempfile::TempDir,
}

impl SwitchboardProcess {
    /// Writes `config(port, admin_port)` into a temp dir named after `prefix`, starts `bin run
    /// -c` on it and waits until it is ready.
    pub async fn start(
        bin: &Path,
        prefix: &str,
        config: impl FnOnce(u16, u16) -> String,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let port = free_port()?;
        let admin_port = free_port()?;
        let config_path = dir.path().join("switchboard.yaml");
        std::fs::write(&config_path, config(port, admin_port))?;
        let log = dir.path().join("switchboard.log");
        let logf = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .arg("run")
            .arg("-c")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut guard = ChildGuard::new("switchboard", child);
        let admin: SocketAddr = ([127, 0, 0, 1], admin_port).into();
        wait_ready(&mut guard, &log, || async move {
            matches!(
                http_get(admin, "/readyz", Duration::from_secs(1)).await,
                Ok((StatusCode::OK, _))
            )
        })
        .await
        .with_context(|| {
            format!(
                "starting {} run -c {}",
                bin.display(),
                config_path.display()
            )
        })?;
        Ok(Self {
            port,
            log,
            guard,
            _dir: dir,
        })
    }

    /// The process to sample for CPU and RSS.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// The end of the gateway's log, to print when a run fails or sees errors.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }
}
