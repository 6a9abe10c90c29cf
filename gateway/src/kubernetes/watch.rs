//! Watches every kind the translator reads, each into a reflector store, and says when any
//! of them changed.
//!
//! kube's watcher does what a controller depends on: it lists, then watches from the list's
//! `resourceVersion`, resumes from the last version it saw when a watch ends, and relists when
//! the API server answers `410 Gone` (the version was compacted away). Between a lost API server
//! and its return the stores keep their last contents, so the config built from them keeps
//! serving. Each relist and each watch error is counted, by kind.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// How often the same watch error is logged again while it persists.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// How far the first list of a kind got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListState {
    /// Not listed yet.
    Listing,
    /// Listed at least once; the store holds what the API server said.
    Listed,
    /// The API server does not serve this kind (`404`: its CRD is not installed). It counts
    /// as empty, and is listed as soon as the CRD appears (the watch keeps retrying).
    NotServed,
}

/// One watched kind: its store and the task that fills it.
pub struct Watched<K: Resource + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    /// What the API server last said about this kind.
    pub store: Store<K>,
    state: watch::Receiver<ListState>,
    task: tokio::task::JoinHandle<()>,
}

impl<K: Resource + 'static> Drop for Watched<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K> Watched<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Starts watching `api` (all namespaces or one), bumping `changed` after every change that
    /// reached the store, and once when the first list completes.
    pub fn start(
        api: Api<K>,
        kind: &'static str,
        changed: watch::Sender<u64>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (store, writer) = reflector::store();
        let (state_tx, state) = watch::channel(ListState::Listing);
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer);
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            let mut listed_once = false;
            let mut last_error: Option<(String, Instant)> = None;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Init) => {
                        if listed_once {
                            metrics.kubernetes.relist(kind);
                            tracing::info!(kind, "relisting (the watch could not resume)");
                        }
                    }
                    Ok(watcher::Event::InitApply(_)) => {}
                    Ok(watcher::Event::InitDone) => {
                        if !listed_once {
                            tracing::debug!(kind, "initial list done");
                        }
                        listed_once = true;
                        state_tx.send_replace(ListState::Listed);
                        last_error = None;
                        changed.send_modify(|v| *v += 1);
                    }
                    Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                        last_error = None;
                        changed.send_modify(|v| *v += 1);
                    }
                    Err(watcher::Error::InitialListFailed(kube::Error::Api(status)))
                        if status.code == 404 && !listed_once =>
                    {
                        // Log once: the backoff retries every few seconds for as long as the
                        // CRD is missing, which may be forever in a cluster that does not use
                        // this kind.
                        let was = state_tx.send_replace(ListState::NotServed);
                        if was != ListState::NotServed {
                            tracing::warn!(kind, "the API server does not serve this kind (is its CRD installed?); objects of it are ignored until it does");
                            changed.send_modify(|v| *v += 1);
                        }
                    }
                    Err(e) => {
                        metrics.kubernetes.watch_error(kind);
                        let text = e.to_string();
                        let repeat = last_error
                            .as_ref()
                            .is_some_and(|(t, at)| *t == text && at.elapsed() < ERROR_LOG_INTERVAL);
                        if !repeat {
                            tracing::warn!(kind, error = %text, "watch failed; retrying with backoff, the last good config keeps serving");
                            last_error = Some((text, Instant::now()));
                        }
                    }
                }
            }
        });
        Watched { store, state, task }
    }

    /// Every object in the store, in a stable order (namespace, then name), so translation
    /// sees the same input for the same state.
    pub fn sorted(&self) -> Vec<Arc<K>> {
        let mut all = self.store.state();
        all.sort_by(|a, b| {
            let ka = (a.meta().namespace.as_deref(), a.meta().name.as_deref());
            let kb = (b.meta().namespace.as_deref(), b.meta().name.as_deref());
            ka.cmp(&kb)
        });
        all
    }

    /// Waits until the first list of this kind has completed, or the API server said it does
    /// not serve the kind; returns which.
    pub async fn ready(&self) -> ListState {
        let mut state = self.state.clone();
        let reached = match state.wait_for(|s| *s != ListState::Listing).await {
            Ok(s) => *s,
            // The task ended (aborted): nothing more will come.
            Err(_) => ListState::NotServed,
        };
        reached
    }
}
