//! One Switchboard process for a benchmark: `switchboard run -c <config>` in a temp dir, on free
//! loopback ports, ready once its admin `/readyz` answers 200. The HTTP, MCP and A2A benchmarks
//! give it their own config; dropping it stops the process and deletes the temp dir.
//!
//! Its logging is chosen per run ([`Logging`]): as a user gets it (the access log on, a line per
//! request) or off. Both are measured because a user runs the default, and the gap between the
//! two is what the logging costs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use http::StatusCode;

use crate::children::{tail, wait_ready, ChildGuard};
use crate::client::http_get;
use crate::targets::free_port;

/// How the gateway logs during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Logging {
    /// The config as a user writes it: no `logging` section and no `RUST_LOG` (the harness's
    /// own `RUST_LOG` is not passed on), so the info-level access log writes one line per
    /// request to stderr, which goes to a file in a `log/` directory of the gateway's temp dir (not a terminal).
    /// For nginx: `access_log` to a file in its temp dir in the default `combined` format, as
    /// nginx ships.
    Default,
    /// Logs effectively off: `RUST_LOG=warn`, which silences the access log. For nginx:
    /// `access_log off`.
    Off,
}

impl Logging {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Logging::Default => "default",
            Logging::Off => "logs off",
        }
    }
}

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
    /// -c` on it with `logging` and waits until it is ready.
    pub async fn start(
        bin: &Path,
        prefix: &str,
        logging: Logging,
        config: impl FnOnce(u16, u16) -> String,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let port = free_port()?;
        let admin_port = free_port()?;
        let config_path = dir.path().join("switchboard.yaml");
        std::fs::write(&config_path, config(port, admin_port))?;
        // Not beside the config: the gateway watches its config's directory for changes, and a
        // log written there would wake that watcher on every flush, which no deployment (logs
        // to a terminal, a pipe or a log directory) pays.
        std::fs::create_dir(dir.path().join("log"))?;
        let log = dir.path().join("log").join("switchboard.log");
        let logf = std::fs::File::create(&log)?;
        let mut cmd = Command::new(bin);
        cmd.arg("run").arg("-c").arg(&config_path);
        match logging {
            Logging::Default => cmd.env_remove("RUST_LOG"),
            Logging::Off => cmd.env("RUST_LOG", "warn"),
        };
        let child = cmd
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
