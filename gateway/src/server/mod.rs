//! The running gateway: binds opened and closed as models come and go, hot reload, and
//! graceful shutdown.

mod admission;
mod listener;
pub mod reload;
mod workers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::ConfigErrors;
use crate::metrics::Metrics;
use crate::model::Model;
use crate::proxy::Proxy;
use listener::RunningBind;
pub use workers::Workers;

/// Errors applying a model.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A port could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The config file is invalid.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
}

/// The gateway's state across reloads.
pub struct Runtime {
    proxy: Arc<Proxy>,
    /// Metrics shared by every part.
    pub metrics: Arc<Metrics>,
    binds: tokio::sync::Mutex<HashMap<SocketAddr, RunningBind>>,
    ready: AtomicBool,
    effective_config: ArcSwap<serde_json::Value>,
    /// The config file that `reload` reads again; `None` when the config comes from another
    /// source (Kubernetes), which applies its own changes.
    config_path: Option<PathBuf>,
    drain: Duration,
    workers: Workers,
}

impl Runtime {
    /// Creates a runtime that will serve models on `workers` threads; `config_path` is the file
    /// that [`Runtime::reload`] reads again, if the config comes from a file.
    pub fn new(
        config_path: Option<&Path>,
        drain: Duration,
        workers: usize,
    ) -> std::io::Result<Arc<Self>> {
        let metrics = Metrics::global();
        let workers = Workers::start(workers)?;
        Ok(Arc::new(Runtime {
            proxy: Arc::new(Proxy::new(metrics.clone())),
            metrics,
            binds: tokio::sync::Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
            effective_config: ArcSwap::from_pointee(serde_json::Value::Null),
            config_path: config_path.map(Path::to_path_buf),
            drain,
            workers,
        }))
    }

    /// Whether every bind is open and a config is loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The effective config with secrets redacted.
    pub fn effective_config(&self) -> Arc<serde_json::Value> {
        self.effective_config.load_full()
    }

    /// Addresses actually bound, by configured address.
    pub async fn bound_addrs(&self) -> Vec<(SocketAddr, SocketAddr)> {
        self.binds
            .lock()
            .await
            .iter()
            .map(|(k, b)| (*k, b.local_addr))
            .collect()
    }

    /// Serves `model`: opens new ports first (so a port that cannot open rejects the whole
    /// change), then swaps the model of kept ports atomically, then drains removed ports.
    pub async fn apply(
        &self,
        model: Model,
        redacted: serde_json::Value,
    ) -> Result<(), ServerError> {
        // JWKS URLs start fetching now, in the background: a route answers 503 until its keys
        // arrive, and startup never waits on an identity provider.
        for a in &model.authenticators {
            a.start();
        }
        let mut binds = self.binds.lock().await;
        let mut opened = Vec::new();
        for bind in &model.binds {
            if binds.contains_key(&bind.addr) {
                continue;
            }
            match RunningBind::start(bind.clone(), self.proxy.clone(), self.workers.handles()) {
                Ok(running) => {
                    tracing::info!(addr = %running.local_addr, tls = bind.is_tls(), "listening");
                    opened.push((bind.addr, running));
                }
                Err(source) => {
                    for (_, r) in opened {
                        r.shutdown(Duration::ZERO).await;
                    }
                    return Err(ServerError::Bind {
                        addr: bind.addr,
                        source,
                    });
                }
            }
        }
        for bind in &model.binds {
            if let Some(running) = binds.get(&bind.addr) {
                running.model.store(bind.clone());
            }
        }
        binds.extend(opened);
        let keep: Vec<SocketAddr> = model.binds.iter().map(|b| b.addr).collect();
        let removed: Vec<SocketAddr> = binds
            .keys()
            .filter(|a| !keep.contains(a))
            .copied()
            .collect();
        for addr in removed {
            if let Some(running) = binds.remove(&addr) {
                tracing::info!(addr = %running.local_addr, "closing port removed from the config");
                let drain = self.drain;
                tokio::spawn(running.shutdown(drain));
            }
        }
        self.effective_config.store(Arc::new(redacted));
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Loads the config file again and applies it; an invalid file keeps the current config.
    pub async fn reload(&self) -> Result<(), ServerError> {
        let Some(config_path) = &self.config_path else {
            tracing::info!("the config comes from the Kubernetes API server and applies itself; nothing to reload");
            return Ok(());
        };
        let result = async {
            let (source, model) = crate::model::load(config_path, crate::mcp::build)?;
            self.apply(model, source.redacted()).await
        }
        .await;
        match &result {
            Ok(()) => {
                self.metrics.reload(true);
                tracing::info!(path = %config_path.display(), "config reloaded");
            }
            Err(e) => {
                self.metrics.reload(false);
                tracing::error!(path = %config_path.display(), "config change rejected; still serving the last good config:\n{e}");
            }
        }
        result
    }

    /// Stops accepting on every port and drains in-flight requests for up to the drain time.
    pub async fn shutdown(&self) {
        self.ready.store(false, Ordering::Release);
        let binds: Vec<RunningBind> = self.binds.lock().await.drain().map(|(_, b)| b).collect();
        let drain = self.drain;
        futures_util::future::join_all(binds.into_iter().map(|b| b.shutdown(drain))).await;
    }
}
