//! The [`Gateway`] handle: a real `switchboard run` process on its own temp dir and free ports,
//! killed on drop, with helpers for its URLs, signals, config reloads and `/metrics`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{client, fill, free_port, switchboard_command};

/// How long a gateway gets to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `switchboard run -c FILE` process, killed on drop.
///
/// The config template may use `{admin}` (the admin address; added as `config.adminAddr`
/// automatically when the template has no `adminAddr`), `{port}`, `{port2}`, `{port3}` (free
/// ports) and `{dir}` (the temp dir holding the config file).
pub struct Gateway {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The config file.
    pub config_path: PathBuf,
    /// Admin address.
    pub admin: SocketAddr,
    vars: Vec<(String, String)>,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Gateway {
    /// Writes the config, starts the gateway and waits until `/readyz` is 200.
    pub async fn start(template: &str) -> Gateway {
        Self::start_with(template, |_| {}).await
    }

    /// Like [`Gateway::start`], with a hook that may write extra files (certs) into the temp dir
    /// before the gateway starts.
    pub async fn start_with(template: &str, prepare: impl FnOnce(&Path)) -> Gateway {
        let mut gw = Self::spawn(template, prepare);
        gw.wait_ready().await;
        gw
    }

    /// Like [`Gateway::start_with`], with extra environment variables for the process.
    pub async fn start_with_env(
        template: &str,
        prepare: impl FnOnce(&Path),
        env: &[(&str, String)],
    ) -> Gateway {
        let mut gw = Self::spawn_with_env(template, prepare, env);
        gw.wait_ready().await;
        gw
    }

    /// Writes the config and starts the process without waiting for readiness.
    pub fn spawn(template: &str, prepare: impl FnOnce(&Path)) -> Gateway {
        Self::spawn_with_env(template, prepare, &[])
    }

    fn spawn_with_env(
        template: &str,
        prepare: impl FnOnce(&Path),
        env: &[(&str, String)],
    ) -> Gateway {
        Self::spawn_run(template, prepare, env, &[])
    }

    /// `switchboard run --kubernetes -c SETTINGS ARGS…` (the settings template holds only
    /// `config:`; `{admin}` as in [`Gateway::start`]), waiting until `/readyz` is 200: until its
    /// first config from the API server is served.
    pub async fn start_kubernetes(settings: &str, args: &[String]) -> Gateway {
        let mut all = vec!["--kubernetes".to_string()];
        all.extend(args.iter().cloned());
        let mut gw = Self::spawn_run(settings, |_| {}, &[], &all);
        gw.wait_ready().await;
        gw
    }

    fn spawn_run(
        template: &str,
        prepare: impl FnOnce(&Path),
        env: &[(&str, String)],
        extra_args: &[String],
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        prepare(dir.path());
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let vars = vec![
            ("admin".to_string(), admin.to_string()),
            ("port".to_string(), free_port().to_string()),
            ("port2".to_string(), free_port().to_string()),
            ("port3".to_string(), free_port().to_string()),
            ("dir".to_string(), dir.path().display().to_string()),
        ];
        let config_path = dir.path().join("switchboard.yaml");
        std::fs::write(&config_path, render(template, &vars)).expect("write config");
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["run".as_ref(), "-c".as_ref(), config_path.as_os_str()];
        args.extend(extra_args.iter().map(|a| a.as_ref() as &std::ffi::OsStr));
        let mut child = switchboard_command(&args, dir.path())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard");
        let stderr = crate::collect_stderr(&mut child);
        Gateway {
            child: Some(child),
            dir,
            config_path,
            admin,
            vars,
            stderr,
            http: client(),
        }
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.try_exit() {
                panic!(
                    "switchboard exited before it was ready ({status}); stderr:\n{}",
                    self.stderr()
                );
            }
            if let Ok(r) = self.http.get(self.admin_url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "switchboard not ready within {READY_TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The temp dir holding the config file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The value of a template variable (`port`, `port2`, `port3`, `admin`, `dir`).
    pub fn var(&self, name: &str) -> String {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no template variable {name}"))
    }

    /// The first data port (`{port}`).
    pub fn port(&self) -> u16 {
        self.var("port").parse().unwrap()
    }

    /// A data port by variable name (`port2`, ...).
    pub fn port_of(&self, name: &str) -> u16 {
        self.var(name).parse().unwrap()
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// Data address `127.0.0.1:{port}`.
    pub fn addr(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.port()).parse().unwrap()
    }

    /// An admin URL.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The stderr once `wanted` holds for it, or after 5 s (then the caller's assertion fails
    /// and prints it). The gateway writes its log from a thread of its own, so a line may
    /// trail the event that caused it by a few milliseconds.
    pub async fn stderr_once(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let log = self.stderr();
            if wanted(&log) || std::time::Instant::now() >= deadline {
                return log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (`libc::SIGTERM`, ...).
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// The exit status, if the process has exited.
    fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits (polling) for the process to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_exit() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Replaces the config file (write to a sibling, then rename) with `template` filled with
    /// the same variables.
    pub fn write_config(&self, template: &str) {
        let tmp = self.dir.path().join(".switchboard.yaml.tmp");
        std::fs::write(&tmp, render(template, &self.vars)).expect("write config");
        std::fs::rename(&tmp, &self.config_path).expect("rename config");
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// A sample's value by metric name and labels (all given labels must match; others are
    /// ignored). `None` when absent.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_value(&self.metrics().await, name, labels)
    }

    /// Like [`Gateway::metric`] with 0 for an absent sample.
    pub async fn metric_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metric(name, labels).await.unwrap_or(0.0)
    }

    /// Polls until the metric reaches at least `at_least`, up to `limit`; returns the last value.
    pub async fn wait_metric(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        at_least: f64,
        limit: Duration,
    ) -> f64 {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.metric_or_zero(name, labels).await;
            if v >= at_least || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn render(template: &str, vars: &[(String, String)]) -> String {
    let mut t = template.trim_start().to_string();
    if !t.contains("adminAddr") {
        if let Some(rest) = t.strip_prefix("config:\n") {
            t = format!("config:\n  adminAddr: {{admin}}\n{rest}");
        } else {
            t = format!("config:\n  adminAddr: {{admin}}\n{t}");
        }
    }
    fill(&t, vars)
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let all = self.stderr();
            let lines: Vec<&str> = all.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("---- switchboard stderr (last 40 lines) ----\n{tail}");
        }
    }
}

/// A sample's value in Prometheus text: `name{labels} value`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some(v) => v,
            None => continue,
        };
        let (n, lbls) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            continue;
        }
        let all = labels
            .iter()
            .all(|(k, v)| lbls.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
        if all {
            return value.parse().ok();
        }
    }
    None
}
