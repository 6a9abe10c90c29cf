//! Errors in the API server's own protocol: `Status` objects (kind Status, code, reason,
//! message, details), as the real server answers.

use serde_json::{json, Value};

use crate::etcd::EtcdError;
use crate::resources::ResourceInfo;

/// An API error, rendered as a `Status` object with its HTTP code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, ri: &ResourceInfo, name: &str) -> Self {
        self.details = Some(json!({"name": name, "group": ri.group, "kind": ri.plural}));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `<plural>.<group>`, as the real server names a resource in messages.
    fn qualified(ri: &ResourceInfo) -> String {
        if ri.group.is_empty() {
            ri.plural.clone()
        } else {
            format!("{}.{}", ri.plural, ri.group)
        }
    }

    pub fn not_found(ri: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", Self::qualified(ri), name),
        )
        .with_details(ri, name)
    }

    pub fn already_exists(ri: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", Self::qualified(ri), name),
        )
        .with_details(ri, name)
    }

    pub fn conflict(ri: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                Self::qualified(ri),
                name
            ),
        )
        .with_details(ri, name)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn path_not_found(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// The Status object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl From<EtcdError> for ApiError {
    fn from(e: EtcdError) -> Self {
        match e {
            EtcdError::Compacted(rev) => ApiError::gone(format!(
                "The resourceVersion for the provided list is too old (revision {rev} was compacted)."
            )),
            EtcdError::FutureRevision => {
                ApiError::new(504, "Timeout", "Too large resource version")
            }
            EtcdError::Unavailable(m) => {
                ApiError::new(503, "ServiceUnavailable", format!("etcd unavailable: {m}"))
            }
            EtcdError::Server(m) => ApiError::new(500, "InternalError", format!("etcd: {m}")),
        }
    }
}
