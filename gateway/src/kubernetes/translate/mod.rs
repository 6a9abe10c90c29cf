//! Snapshot to config: Gateway API semantics applied to the watched objects, giving the
//! [`ConfigFile`] that the file source would give and the status of every object.
//!
//! [`translate`] is a pure function of the snapshot and scope: the same input gives the same
//! config byte for byte (every list is sorted, every name derived from namespace and name).
//! [`serve`] lowers the result into a [`Model`] as a file is lowered; when lowering finds
//! errors it maps their key paths back to the object that produced that part, rejects that
//! object (its status says why) and translates again, so one invalid object never takes the
//! rest down.
//!
//! Submodules: `refs` (object keys, ReferenceGrants), `conditions` (status conditions with
//! stable times), `secrets` (`${secret:NAME/KEY}`), `gateways` (classes, Gateways, listeners),
//! `routes` (HTTPRoute and GRPCRoute rules), `backends` (backendRefs to Services,
//! InferencePools and SwitchboardBackends), `policies` (SwitchboardPolicy attachment) and
//! `build` (the run that ties them together).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::snapshot::{Scope, Snapshot};
use crate::config::file::ConfigFile;
use crate::config::{ConfigErrors, Source};
use crate::model::plan::BuildMcp;
use crate::model::Model;

mod backends;
mod build;
mod check;
mod conditions;
mod filters;
mod gateways;
mod hostnames;
mod policies;
mod refs;
mod report;
mod routes;
mod secrets;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
mod view;

use build::Cx;
pub use refs::ObjectRef;
pub use report::current_status;

/// The label of generated configs in diagnostics (where a file's path would be).
pub const SOURCE_LABEL: &str = "kubernetes";

/// The outcome of one translation.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The config, as the file source would give it.
    pub file: ConfigFile,
    /// The `.status` of every object the translation concerns.
    pub status: StatusReport,
    /// Which object produced which part of `file`: key-path prefixes
    /// (`binds[0].listeners[1].routes[3]`, `backends[2]`) and their object, longest first
    /// wins. Lowering errors are mapped back through these.
    pub origins: Vec<(String, ObjectRef)>,
    /// Key paths of values that came from Secrets, redacted in `/config`.
    pub secret_paths: BTreeSet<String>,
}

/// The `.status` of objects, each ready to be sent as the merge patch
/// `{"status": <value>}` on the object's `/status` subresource. Sorted by object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusReport {
    /// Object to its whole `.status`.
    pub statuses: BTreeMap<ObjectRef, Value>,
}

impl StatusReport {
    /// The status of one object, if the translation concerns it.
    pub fn get(&self, object: &ObjectRef) -> Option<&Value> {
        self.statuses.get(object)
    }
}

/// A translation lowered into what the process serves.
pub struct Served {
    /// The config source (no file, no lines; key paths only) the model was lowered from, for
    /// `/config`. `None` when not even an empty config could be lowered.
    pub source: Option<Source>,
    /// The model; `None` only when lowering failed on parts no object could be blamed for
    /// (then `errors` says why and the caller keeps its last good model).
    pub model: Option<Model>,
    /// Status of every object, including those rejected while lowering.
    pub status: StatusReport,
    /// Every lowering error met on the way, each already reported on its object's status.
    pub errors: ConfigErrors,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("model", &self.model.is_some())
            .field("status", &self.status)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

/// Translates the snapshot for this scope: the config and the status of every object.
pub fn translate(snapshot: &Snapshot, scope: &Scope) -> Translation {
    build::run(snapshot, scope, &BTreeMap::new())
}

/// The config source of a translation, checked with the file's JSON Schema (as a file is).
pub fn source_of(translation: &Translation) -> Result<Source, ConfigErrors> {
    let raw = serde_json::to_value(&translation.file).unwrap_or(Value::Null);
    Source::generated(
        raw,
        Path::new(SOURCE_LABEL),
        translation.secret_paths.iter().cloned().collect(),
    )
}

/// Translates and lowers the snapshot into a model, rejecting each object whose part of the
/// config does not lower (see the module docs). `build_mcp` builds `mcp` backends, as for a
/// file (`crate::mcp::build` in the binary).
pub fn serve(snapshot: &Snapshot, scope: &Scope, build_mcp: BuildMcp) -> Served {
    build::serve(snapshot, scope, build_mcp)
}
