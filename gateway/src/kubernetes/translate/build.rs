//! One translation run, and the lowering loop of [`super::serve`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{ObjectRef, Served, StatusReport, Translation};
use crate::config::file::ConfigFile;
use crate::config::ConfigErrors;
use crate::kubernetes::snapshot::{Scope, Snapshot};
use crate::model::plan::BuildMcp;

/// Objects left out of a translation, with the reason their status gives.
pub(super) type Rejected = BTreeMap<ObjectRef, String>;

pub(super) fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

pub(super) fn run(snapshot: &Snapshot, scope: &Scope, rejected: &Rejected) -> Translation {
    run_at(snapshot, scope, rejected, &now())
}

pub(super) fn run_at(
    _snapshot: &Snapshot,
    scope: &Scope,
    _rejected: &Rejected,
    _now: &Time,
) -> Translation {
    Translation {
        file: ConfigFile {
            config: scope.process.clone(),
            binds: Vec::new(),
            backends: Vec::new(),
        },
        status: StatusReport::default(),
        origins: Vec::new(),
        secret_paths: Default::default(),
    }
}

pub(super) fn serve(snapshot: &Snapshot, scope: &Scope, build_mcp: BuildMcp) -> Served {
    let translation = run(snapshot, scope, &Rejected::new());
    let source = super::source_of(&translation).ok();
    let model = source
        .as_ref()
        .and_then(|s| crate::model::lower(s, build_mcp).ok());
    Served {
        source,
        model,
        status: translation.status,
        errors: ConfigErrors(Vec::new()),
    }
}
