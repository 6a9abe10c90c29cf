//! The server handle: a plain-HTTP listener on loopback, one task per connection, a CRD sync
//! task; `kill()` (or drop) closes the listener and every open connection and watch at once,
//! like a crashed API server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::etcd::{EtcdClient, WatchMessage};
use crate::handlers::{self, AppState, MAX_BODY};
use crate::resources::{self, Registry};
use crate::store::{decode, Store};

/// Options of a test API server.
#[derive(Debug, Clone)]
pub struct Config {
    /// etcd client URLs; requests fail over between them.
    pub etcd_endpoints: Vec<String>,
    /// Where to listen (default 127.0.0.1:0).
    pub listen: SocketAddr,
    /// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK (default 5 s).
    pub bookmark_interval: Duration,
}

impl Config {
    pub fn new(etcd_endpoints: Vec<String>) -> Self {
        Config {
            etcd_endpoints,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bookmark_interval: Duration::from_secs(5),
        }
    }
}

/// What starting a server can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
}

/// A running test API server; dropping it kills it.
pub struct TestApiServer {
    addr: SocketAddr,
    stop: CancellationToken,
    registry: Registry,
    etcd: EtcdClient,
}

impl TestApiServer {
    /// Starts a server over these etcd endpoints with default options.
    pub async fn start(etcd_endpoints: Vec<String>) -> Result<TestApiServer, StartError> {
        Self::start_with(Config::new(etcd_endpoints)).await
    }

    pub async fn start_with(config: Config) -> Result<TestApiServer, StartError> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let etcd = EtcdClient::new(config.etcd_endpoints.clone());
        let registry = Registry::new();
        let stop = CancellationToken::new();
        let state = Arc::new(AppState {
            store: Store::new(etcd.clone()),
            registry: registry.clone(),
            addr: addr.to_string(),
            bookmark_interval: config.bookmark_interval,
            stop: stop.clone(),
        });
        let app = axum::Router::new()
            .fallback(handlers::handle)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
            .with_state(state);
        // The CRDs already in etcd are served from the first request on (bounded: an etcd
        // that does not answer leaves it to the sync task).
        let _ = tokio::time::timeout(Duration::from_secs(15), load_crds(&etcd, &registry)).await;
        tokio::spawn(crd_sync(etcd.clone(), registry.clone(), stop.clone()));
        tokio::spawn(accept_loop(listener, app, stop.clone()));
        Ok(TestApiServer {
            addr,
            stop,
            registry,
            etcd,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The served resources (for tests that wait for a CRD to be learnt).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The etcd client this server uses.
    pub fn etcd(&self) -> &EtcdClient {
        &self.etcd
    }

    /// A kubeconfig (YAML) with one cluster, user and context named `test`, no credentials.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    /// Writes the kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// Closes the listener and every connection (watches included) at once.
    pub fn kill(&self) {
        self.stop.cancel();
    }

    /// Whether `kill` was called.
    pub fn is_killed(&self) -> bool {
        self.stop.is_cancelled()
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A kubeconfig for a plain-HTTP server at `url`.
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\ncurrent-context: test\nusers:\n- name: test\n  user: {{}}\n"
    )
}

async fn accept_loop(listener: TcpListener, app: axum::Router, stop: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                // Dropping the connection future closes the socket mid-stream.
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// Lists the CRDs in etcd into the registry; answers the revision read at.
async fn load_crds(etcd: &EtcdClient, registry: &Registry) -> Result<i64, crate::etcd::EtcdError> {
    let prefix = crd_prefix();
    let list = etcd
        .range(&prefix, Some(&crate::etcd::prefix_end(&prefix)), 0, 0)
        .await?;
    let mut all = BTreeMap::new();
    for kv in &list.kvs {
        if let Some(obj) = decode(kv) {
            if let Some(name) = obj["metadata"]["name"].as_str() {
                all.insert(name.to_string(), resources::from_crd(&obj));
            }
        }
    }
    registry.reset_crds(all);
    Ok(list.revision)
}

fn crd_prefix() -> String {
    resources::builtins()
        .into_iter()
        .find(|r| r.kind == "CustomResourceDefinition")
        .map(|r| r.prefix())
        .unwrap_or_else(|| "/registry/apiextensions.k8s.io/customresourcedefinitions/".into())
}

/// Keeps the registry's CRD-declared resources in step with etcd: list, then watch from the
/// list's revision; relist when the watch breaks or its revision was compacted.
async fn crd_sync(etcd: EtcdClient, registry: Registry, stop: CancellationToken) {
    let prefix = crd_prefix();
    let run = async {
        loop {
            let revision = match load_crds(&etcd, &registry).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("crd list: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let mut rx = etcd.watch_prefix(&prefix, revision + 1);
            while let Some(msg) = rx.recv().await {
                match msg {
                    WatchMessage::Events(evs) => {
                        for ev in evs {
                            let name = ev.kv.key.trim_start_matches(&prefix).to_string();
                            if ev.deleted {
                                registry.remove_crd(&name);
                            } else if let Some(obj) = decode(&ev.kv) {
                                registry.set_crd(&name, resources::from_crd(&obj));
                            }
                        }
                    }
                    WatchMessage::Progress(_) => {}
                    WatchMessage::Compacted(_) | WatchMessage::Broken(_) => break,
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        _ = run => {}
        _ = stop.cancelled() => {}
    }
}
