//! Child processes (the proxies under test): stopping them on every way out of the harness, and
//! waiting for them to become ready.
//!
//! A leaked nginx or Switchboard would keep its port and CPU and skew the next run, so each child
//! is owned by a [`ChildGuard`] and the exit paths are arranged so that its destructor runs:
//! normal return, `?` errors, panics (unwinding), and Ctrl-C ([`until_interrupted`]).

use std::future::Future;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::time::Instant;

/// Kills its child on drop (also when unwinding from a panic): SIGTERM, then SIGKILL after 3 s.
///
/// SIGTERM first so each child shuts down its own way (nginx's master stops its workers);
/// SIGKILL after the grace period so a hung child cannot hang the harness.
pub struct ChildGuard {
    name: &'static str,
    child: Child,
}

impl ChildGuard {
    /// `name` is what messages call the child ("nginx", "switchboard").
    pub fn new(name: &'static str, child: Child) -> Self {
        Self { name, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not exit on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `work` until it finishes or Ctrl-C arrives.
///
/// On Ctrl-C `work` is dropped rather than the process exiting: dropping it drops every
/// [`ChildGuard`] it owns, which stops the children. Without this, the default SIGINT action
/// would end the harness and leave them running.
pub async fn until_interrupted(work: impl Future<Output = Result<()>>) -> Result<()> {
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\ninterrupted; stopping child processes");
            Ok(())
        }
    }
}

/// Polls until `check` succeeds, the child exits, or 30 s pass.
///
/// Watching the child as well as polling means a config the child rejects fails at once, with
/// the tail of its log, instead of after the full timeout.
pub async fn wait_ready<F, Fut>(guard: &mut ChildGuard, log: &Path, check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_ready_within(guard, log, Duration::from_secs(30), check).await
}

/// [`wait_ready`] with another limit, for children that start slowly (LiteLLM imports for
/// seconds before it listens).
pub async fn wait_ready_within<F, Fut>(
    guard: &mut ChildGuard,
    log: &Path,
    limit: Duration,
    mut check: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let t0 = Instant::now();
    loop {
        if let Some(status) = guard.child.try_wait()? {
            bail!(
                "{} exited with {status} before it was ready\n{}",
                guard.name,
                tail(log, 40)
            );
        }
        if check().await {
            return Ok(());
        }
        if t0.elapsed() > limit {
            bail!(
                "{} was not ready after {limit:?}\n{}",
                guard.name,
                tail(log, 40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last `max_lines` lines of a child's log, headed by its path, for error messages: the
/// children log to files in a temp dir that is deleted when they stop.
pub fn tail(path: &Path, max_lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let lines: Vec<&str> = s.lines().collect();
            let from = lines.len().saturating_sub(max_lines);
            format!(
                "--- last lines of {} ---\n{}",
                path.display(),
                lines[from..].join("\n")
            )
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
