//! Real etcd processes on loopback for tests: `/usr/bin/etcd` (Debian's etcd-server), one data
//! directory per member in a temp dir, free ports, killed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::{EtcdClient, EtcdError};

/// What starting a cluster can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("etcd member {0} not healthy within {1:?}; its log: {2}")]
    NotHealthy(usize, Duration, String),
    #[error("{0}")]
    Etcd(#[from] EtcdError),
}

/// The etcd binary: `$ETCD_BIN` or `/usr/bin/etcd`.
pub fn etcd_binary() -> String {
    std::env::var("ETCD_BIN").unwrap_or_else(|_| "/usr/bin/etcd".to_string())
}

struct Member {
    name: String,
    client_url: String,
    log: PathBuf,
    child: Option<Child>,
}

/// A running etcd cluster of 1..n members.
pub struct EtcdCluster {
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

/// On Linux, etcd gets SIGKILL when the thread that started it exits, so a test process that
/// dies (or is killed by a CI timeout) leaves no etcd behind. `start` runs on a runtime thread
/// (a test's own thread, or a worker that lives as long as the runtime), not a short-lived
/// blocking-pool thread.
#[cfg(target_os = "linux")]
fn kill_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn kill_with_parent(_command: &mut Command) {}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How long a member may take to become healthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

impl EtcdCluster {
    /// Starts `members` etcd processes forming one cluster and waits until each answers
    /// `/health` (bounded). Progress notifications every second make watch bookmarks carry the
    /// store's current revision. A start that does not become healthy (a free port taken by
    /// someone else in between) is retried on new ports, three times at most.
    pub async fn start(members: usize) -> Result<EtcdCluster, ClusterError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(members).await {
                Err(ClusterError::NotHealthy(..)) if attempt < 3 => continue,
                other => return other,
            }
        }
    }

    async fn start_once(members: usize) -> Result<EtcdCluster, ClusterError> {
        let members = members.max(1);
        let dir = tempfile::Builder::new().prefix("etcd-cluster").tempdir()?;
        let mut ports = Vec::new();
        for _ in 0..members {
            ports.push((free_port()?, free_port()?));
        }
        let initial_cluster: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let initial_cluster = initial_cluster.join(",");
        let token = format!("tc-{}", rand::random::<u64>());
        let mut cluster = EtcdCluster {
            members: Vec::new(),
            _dir: dir,
        };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{i}");
            let data = cluster._dir.path().join(&name);
            let log = cluster._dir.path().join(format!("{name}.log"));
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log_file = std::fs::File::create(&log)?;
            let mut command = Command::new(etcd_binary());
            kill_with_parent(&mut command);
            let child = command
                .arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(&data)
                .arg("--listen-client-urls")
                .arg(&client_url)
                .arg("--advertise-client-urls")
                .arg(&client_url)
                .arg("--listen-peer-urls")
                .arg(&peer_url)
                .arg("--initial-advertise-peer-urls")
                .arg(&peer_url)
                .arg("--initial-cluster")
                .arg(&initial_cluster)
                .arg("--initial-cluster-token")
                .arg(&token)
                .arg("--initial-cluster-state")
                .arg("new")
                .arg("--experimental-watch-progress-notify-interval")
                .arg("1s")
                .arg("--heartbeat-interval")
                .arg("50")
                .arg("--election-timeout")
                .arg("500")
                .arg("--log-level")
                .arg("warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log_file))
                .spawn()
                .map_err(|source| ClusterError::Spawn {
                    binary: etcd_binary(),
                    source,
                })?;
            cluster.members.push(Member {
                name,
                client_url,
                log,
                child: Some(child),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        for (i, m) in cluster.members.iter().enumerate() {
            let deadline = Instant::now() + HEALTH_TIMEOUT;
            loop {
                let ok = match http.get(format!("{}/health", m.client_url)).send().await {
                    Ok(r) => r
                        .text()
                        .await
                        .map(|t| t.contains("\"true\""))
                        .unwrap_or(false),
                    Err(_) => false,
                };
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                    let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                    return Err(ClusterError::NotHealthy(i, HEALTH_TIMEOUT, tail));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(cluster)
    }

    /// The client URLs of every member (stopped ones included: clients fail over).
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Member names (`m0`, `m1`, ...).
    pub fn member_names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// A client over every member.
    pub fn client(&self) -> EtcdClient {
        EtcdClient::new(self.endpoints())
    }

    /// Kills member `index` (SIGKILL) and waits for it to exit; the others keep a quorum in a
    /// three-member cluster.
    pub fn stop_member(&mut self, index: usize) {
        if let Some(m) = self.members.get_mut(index) {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Compacts the store up to `revision` (physically), so watches and reads from older
    /// revisions get "compacted" (the API server's 410).
    pub async fn compact(&self, revision: i64) -> Result<(), EtcdError> {
        self.client().compact(revision).await
    }

    /// Compacts up to the current revision.
    pub async fn compact_now(&self) -> Result<i64, EtcdError> {
        let client = self.client();
        let rev = client.current_revision().await?;
        client.compact(rev).await?;
        Ok(rev)
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
