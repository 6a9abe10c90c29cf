//! Kubernetes as a second config source: Gateway API resources, Inference Extension
//! `InferencePool`s and Switchboard's own CRDs translated into the same [`ConfigFile`] that a
//! file gives, then lowered into the same [`crate::model::Model`].
//!
//! This tree is the pure part: no API server is contacted here.
//! - [`crd`]: the custom resources Switchboard defines or reads (`InferencePool`,
//!   `SwitchboardBackend`, `SwitchboardPolicy`) and their CRD YAML (`switchboard crds`);
//! - [`snapshot`]: the watched objects at one moment, and the [`snapshot::Scope`] of this
//!   controller;
//! - [`translate`]: snapshot to config, status for every object, and the lowering that drops
//!   an invalid resource instead of failing the whole config.
//!
//! docs/kubernetes.md documents every CRD field and the translation rules.
//!
//! [`ConfigFile`]: crate::config::file::ConfigFile

pub mod crd;
pub mod snapshot;
pub mod translate;
pub mod yaml;

pub use snapshot::{Scope, Snapshot};
pub use translate::{serve, translate, Served, StatusReport, Translation};
