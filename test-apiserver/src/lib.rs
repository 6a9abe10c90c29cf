//! A test Kubernetes API server over a real etcd, for tests of controllers built on the `kube`
//! client and for `kubectl`. It keeps the semantics those clients depend on (resourceVersion =
//! etcd revision, list at a revision with pagination, watch from a revision with 410 on
//! compaction and bookmarks, 409 on stale writes, `/status`, `metadata.generation`, discovery,
//! CRDs registering their resources) and nothing more: no authentication, admission,
//! finalizers, graceful deletion, namespace lifecycle or server-side apply. README.md lists
//! what is kept and what is not.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let etcd = test_apiserver::EtcdCluster::start(3).await?;
//! let api = test_apiserver::TestApiServer::start(etcd.endpoints()).await?;
//! api.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! # Ok(()) }
//! ```

mod discovery;
pub mod etcd;
mod frontend;
mod handlers;
mod openapi;
pub mod patch;
mod protobuf;
pub mod resources;
pub mod selectors;
mod server;
pub mod status;
pub mod store;
mod watch;

pub use etcd::{EtcdClient, EtcdCluster};
pub use frontend::ApiFrontend;
pub use server::{kubeconfig_yaml, Config, StartError, TestApiServer};
