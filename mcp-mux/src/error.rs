//! The crate's error type and its mapping to JSON-RPC errors.
//!
//! Every variant names the target it concerns, because an aggregated server
//! that says only "connection closed" leaves the operator guessing which of
//! twenty upstreams broke.

use std::time::Duration;

use rmcp::model::ErrorData;
use rmcp::ServiceError;

/// Errors from building, connecting to or calling MCP targets.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// A target name breaks `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` or the length limit.
    #[error("invalid target name {name:?}: {reason}")]
    InvalidTargetName { name: String, reason: &'static str },
    /// Two targets of one backend share a name, so names could not be routed back.
    #[error("duplicate target name {0:?}")]
    DuplicateTarget(String),
    /// A target's settings are inconsistent (no transport, two transports, bad header...).
    #[error("target {target:?}: {message}")]
    InvalidTarget { target: String, message: String },
    /// The config names a transport this crate cannot build on its own.
    #[error("target {target:?}: the `{kind}` transport is not built by mcp-mux; the embedder must supply it as an in-process target")]
    Unsupported { target: String, kind: &'static str },
    /// The backend has no targets at all.
    #[error("an MCP backend needs at least one target")]
    NoTargets,
    /// Spawning a stdio target's process failed.
    #[error("target {target:?}: failed to start `{cmd}`: {source}")]
    Spawn {
        target: String,
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// The MCP handshake with a target failed.
    #[error("target {target:?}: connect failed: {message}")]
    Connect { target: String, message: String },
    /// A request to a connected target failed (transport or protocol).
    #[error("target {target:?}: {source}")]
    Service {
        target: String,
        #[source]
        source: ServiceError,
    },
    /// The HTTP exchange of a call sent straight to an `mcp` target failed (refused, reset,
    /// session gone); the connection is dropped and the next use reconnects.
    #[error("target {target:?}: {message}")]
    Transport { target: String, message: String },
    /// A request or handshake took longer than the target's `timeout`.
    #[error("target {target:?}: no answer within {timeout:?}")]
    Timeout { target: String, timeout: Duration },
    /// The target answered with a result of the wrong type for the request.
    #[error("target {target:?}: unexpected response to {method}")]
    UnexpectedResponse {
        target: String,
        method: &'static str,
    },
    /// The downstream client cancelled the request; the cancel was forwarded.
    #[error("target {target:?}: request cancelled by the client")]
    Cancelled { target: String },
    /// A pagination cursor was not minted by this multiplexer (or was altered).
    #[error("invalid cursor")]
    InvalidCursor,
}

impl MuxError {
    /// The target this error concerns, if any (for logs and metrics labels).
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::InvalidTargetName { name, .. } => Some(name),
            Self::DuplicateTarget(name) => Some(name),
            Self::InvalidTarget { target, .. }
            | Self::Unsupported { target, .. }
            | Self::Spawn { target, .. }
            | Self::Connect { target, .. }
            | Self::Service { target, .. }
            | Self::Transport { target, .. }
            | Self::Timeout { target, .. }
            | Self::UnexpectedResponse { target, .. }
            | Self::Cancelled { target } => Some(target),
            Self::NoTargets | Self::InvalidCursor => None,
        }
    }

    /// Whether the connection that produced this error should be dropped so the
    /// next use reconnects (stdio process gone, HTTP session lost for good).
    pub(crate) fn is_transport_failure(&self) -> bool {
        matches!(
            self,
            Self::Service {
                source: ServiceError::TransportClosed | ServiceError::TransportSend(_),
                ..
            } | Self::Connect { .. }
                | Self::Spawn { .. }
                | Self::Transport { .. }
        )
    }

    /// The JSON-RPC error a downstream client sees.
    ///
    /// A protocol error from the upstream (bad arguments, unknown resource) is
    /// passed through unchanged so a single-target mux stays transparent;
    /// everything the gateway itself observed becomes `-32603` with a message
    /// that names the target, or `-32602` for a bad cursor, as the spec asks.
    pub fn to_error_data(&self) -> ErrorData {
        match self {
            Self::Service {
                source: ServiceError::McpError(e),
                ..
            } => e.clone(),
            Self::InvalidCursor => ErrorData::invalid_params("invalid cursor", None),
            other => ErrorData::internal_error(other.to_string(), None),
        }
    }
}

impl From<MuxError> for ErrorData {
    fn from(e: MuxError) -> Self {
        e.to_error_data()
    }
}
