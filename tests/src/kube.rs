//! A Kubernetes control plane on loopback for the end-to-end tests of `run --kubernetes`: a
//! real etcd cluster, test API servers over it (crate `test-apiserver`), and `kubectl` driven
//! as a user drives it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use test_apiserver::{Config, EtcdCluster, TestApiServer};

/// The CRDs of the kinds the gateway watches that a bare API server lacks: the Gateway API's
/// and the Inference Extension's (minimal schemas, test-apiserver's fixtures).
pub const UPSTREAM_CRDS: &str = include_str!("../../test-apiserver/fixtures/crds.yaml");

/// etcd members, API servers over them, and a kubeconfig per API server.
pub struct KubeCluster {
    /// The etcd cluster every API server stores in.
    pub etcd: EtcdCluster,
    servers: Vec<Option<TestApiServer>>,
    addrs: Vec<SocketAddr>,
    dir: tempfile::TempDir,
}

impl KubeCluster {
    /// Starts `members` etcd members and `api_servers` API servers, then installs the
    /// upstream CRDs and Switchboard's (`switchboard crds`, from the binary under test).
    pub async fn start(members: usize, api_servers: usize) -> KubeCluster {
        let etcd = EtcdCluster::start(members).await.expect("start etcd");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cluster = KubeCluster {
            etcd,
            servers: Vec::new(),
            addrs: Vec::new(),
            dir,
        };
        for i in 0..api_servers {
            let mut config = Config::new(cluster.etcd.endpoints());
            config.bookmark_interval = Duration::from_secs(1);
            let server = TestApiServer::start_with(config)
                .await
                .expect("start test API server");
            server
                .write_kubeconfig(&cluster.kubeconfig(i))
                .expect("write kubeconfig");
            cluster.addrs.push(server.addr());
            cluster.servers.push(Some(server));
        }
        cluster.apply(UPSTREAM_CRDS);
        let ours = crate::run_switchboard(&["crds"], cluster.dir.path());
        assert!(ours.status.success(), "switchboard crds: {}", ours.stderr);
        cluster.apply(&ours.stdout);
        cluster
    }

    /// The kubeconfig file of API server `i`.
    pub fn kubeconfig(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("kubeconfig-{i}"))
    }

    /// Runs `kubectl ARGS` against API server 0, stdin from `input`; panics with its output
    /// when it fails.
    pub fn kubectl(&self, args: &[&str], input: Option<&str>) -> String {
        self.kubectl_on(self.first_live(), args, input)
    }

    /// Runs `kubectl ARGS` against API server `i`; panics with its output when it fails.
    pub fn kubectl_on(&self, i: usize, args: &[&str], input: Option<&str>) -> String {
        let out = self.run_kubectl(i, args, input);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs `kubectl ARGS` against API server `i`, whatever its outcome.
    fn run_kubectl(&self, i: usize, args: &[&str], input: Option<&str>) -> std::process::Output {
        let mut cmd = Command::new(test_apiserver::kubectl::binary());
        cmd.args(args);
        if args.first() == Some(&"apply") {
            cmd.args(test_apiserver::kubectl::apply_flags());
        }
        cmd.env("KUBECONFIG", self.kubeconfig(i))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(text) = input {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write kubectl stdin");
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// `kubectl apply -f -` of a YAML document set.
    pub fn apply(&self, yaml: &str) -> String {
        self.kubectl(&["apply", "-f", "-"], Some(yaml))
    }

    /// `kubectl get KIND NAME -n NS -o json`, parsed.
    pub fn get_json(&self, kind: &str, namespace: &str, name: &str) -> serde_json::Value {
        let out = self.kubectl(&["get", kind, name, "-n", namespace, "-o", "json"], None);
        serde_json::from_str(&out).expect("kubectl get -o json")
    }

    /// Like [`KubeCluster::get_json`], `None` when the object does not exist (yet).
    pub fn try_get_json(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let args = ["get", kind, name, "-n", namespace, "-o", "json"];
        let out = self.run_kubectl(self.first_live(), &args, None);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Stops API server `i` at once: its listener and every connection and watch close.
    pub fn kill_server(&mut self, i: usize) {
        if let Some(s) = self.servers[i].take() {
            s.kill();
        }
    }

    /// Starts API server `i` again on the address it had.
    pub async fn restart_server(&mut self, i: usize) {
        let mut config = Config::new(self.etcd.endpoints());
        config.listen = self.addrs[i];
        config.bookmark_interval = Duration::from_secs(1);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TestApiServer::start_with(config.clone()).await {
                Ok(s) => {
                    self.servers[i] = Some(s);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("restart API server {i}: {e}"),
            }
        }
    }

    fn first_live(&self) -> usize {
        self.servers
            .iter()
            .position(Option::is_some)
            .expect("an API server is running")
    }

    /// The directory of the kubeconfigs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
