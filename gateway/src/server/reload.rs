//! Watching the config file: a change is reloaded after a short quiet period.
//!
//! The directory is watched rather than the file, because editors and Kubernetes replace files
//! (rename or symlink swap) instead of writing them in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Runtime;

/// Changes closer together than this are reloaded once.
const QUIET_PERIOD: Duration = Duration::from_millis(150);

/// Starts watching; keep the returned watcher alive for as long as reloads should happen.
pub fn watch(path: &Path, runtime: Arc<Runtime>) -> notify::Result<RecommendedWatcher> {
    let file = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = file.file_name().map(|n| n.to_os_string());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(ev) => {
                let relevant = ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove();
                // Kubernetes ConfigMaps swap a `..data` symlink; any change in the directory counts.
                let ours = ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == name)
                    || ev
                        .paths
                        .iter()
                        .any(|p| p.to_string_lossy().contains("..data"));
                if relevant && ours {
                    let _ = tx.send(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "config watch error"),
        })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let a burst of writes settle, then reload once.
            loop {
                match tokio::time::timeout(QUIET_PERIOD, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let _ = runtime.reload().await;
        }
    });
    tracing::info!(path = %file.display(), "watching the config file for changes");
    Ok(watcher)
}
