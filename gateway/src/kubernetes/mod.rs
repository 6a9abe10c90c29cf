//! Kubernetes as a second config source: Gateway API resources, Inference Extension
//! `InferencePool`s and Switchboard's own CRDs translated into the same [`ConfigFile`] that a
//! file gives, then lowered into the same [`crate::model::Model`].
//!
//! The pure part contacts no API server:
//! - [`crd`]: the custom resources Switchboard defines or reads (`InferencePool`,
//!   `SwitchboardBackend`, `SwitchboardPolicy`) and their CRD YAML (`switchboard crds`);
//! - [`snapshot`]: the watched objects at one moment, and the [`snapshot::Scope`] of this
//!   controller;
//! - [`translate`]: snapshot to config, status for every object, and the lowering that drops
//!   an invalid resource instead of failing the whole config.
//!
//! The run-time part ([`run`], `switchboard run --kubernetes`) talks to the API server:
//! - `watch`: one reflector store per kind, resumed or relisted by kube's watcher;
//! - `source`: the round of snapshot, translation, apply and status hand-off, after each change;
//! - [`leader`]: the Lease that lets one replica at a time write status;
//! - [`status`]: the writer of `.status`, active only on the lease holder;
//! - [`options`]: the command-line options.
//!
//! docs/kubernetes.md documents every CRD field and the translation rules.
//!
//! [`ConfigFile`]: crate::config::file::ConfigFile

pub mod crd;
pub mod leader;
pub mod options;
pub mod snapshot;
mod source;
pub mod status;
pub mod translate;
mod watch;
pub mod yaml;

pub use options::KubernetesOptions;
pub use snapshot::{Scope, Snapshot};
pub use source::{client, run, SourceError};
pub use translate::{serve, translate, Served, StatusReport, Translation};
