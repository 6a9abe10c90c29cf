//! [`CallContext`]: what one downstream request brings to the multiplexer,
//! independent of how the client reached it.
//!
//! The multiplexer is served two ways: by our own Streamable HTTP front end, which hands
//! notifications to the response stream of the request that caused them, and as an rmcp
//! `ServerHandler` (in-process use, stdio), which sends them through the rmcp peer. Each
//! front implements [`Downstream`] for its transport; everything from here down is shared.
//! (The trait is declared by the upstream layer, whose routers hold it, and re-exported here.)

use std::sync::{Arc, OnceLock};

use rmcp::model::{ClientCapabilities, ProgressToken, ProtocolVersion};
use tokio_util::sync::CancellationToken;

use crate::policy::Caller;
use crate::upstream::call::Call;
pub use crate::upstream::call::Downstream;
use crate::upstream::logging::LogInterest;

/// What the multiplexer needs from the downstream request it serves.
#[derive(Clone)]
pub struct CallContext {
    /// Cancelled when the client cancels the request or goes away.
    pub cancel: CancellationToken,
    /// The client's progress token, if it asked for progress.
    pub progress_token: Option<ProgressToken>,
    /// Where progress and other request-scoped notifications go.
    pub downstream: Option<Arc<dyn Downstream>>,
    /// The protocol version the client speaks.
    pub protocol_version: ProtocolVersion,
    /// What the client said it can do (sampling, elicitation, roots).
    pub client_capabilities: Arc<ClientCapabilities>,
    /// Filled in with the target that served the request, for logs.
    pub record: Option<Arc<CallRecord>>,
    /// Which of the targets' log messages the client wants relayed with this request.
    pub log_interest: LogInterest,
    /// The embedder's per-tool rate limit, from the request's extensions.
    pub tool_limit: Option<crate::core::tool_limit::ToolLimit>,
    /// Who calls, when the route has `mcpAuthorization` rules (see [`crate::policy`]): every
    /// item listed or called is checked against them. `None`: everything is allowed.
    pub caller: Option<Arc<Caller>>,
}

/// What the access log says about one MCP request: its method, the tool,
/// prompt or resource it names, and (once routed) the target that served it.
/// The HTTP front end fills the [`RecordSlot`] it finds in the request's
/// extensions, so the record is there even if the client leaves early.
#[derive(Debug, Default)]
pub struct CallRecord {
    /// `tools/call`, `tools/list`, `initialize`, a notification's method...
    pub method: String,
    /// The tool or prompt name, or resource URI, as the client sent it.
    pub name: Option<String>,
    target: OnceLock<String>,
}

/// Put in a request's extensions by the embedder (the gateway's access log);
/// the HTTP front end sets it as soon as it has parsed the message.
#[derive(Debug, Clone, Default)]
pub struct RecordSlot(pub Arc<OnceLock<Arc<CallRecord>>>);

impl RecordSlot {
    /// The record, once the message was parsed.
    pub fn get(&self) -> Option<&CallRecord> {
        self.0.get().map(|r| &**r)
    }
}

impl CallRecord {
    /// A record of a request for `method` naming `name`.
    pub fn new(method: impl Into<String>, name: Option<String>) -> Self {
        Self {
            method: method.into(),
            name,
            target: OnceLock::new(),
        }
    }

    /// The target that served the request, once routed.
    pub fn target(&self) -> Option<&str> {
        self.target.get().map(String::as_str)
    }

    pub(crate) fn set_target(&self, target: &str) {
        let _ = self.target.set(target.to_owned());
    }
}

impl CallContext {
    /// A context with no client attached: nothing is relayed, nothing cancels.
    pub fn detached() -> Self {
        Self {
            cancel: CancellationToken::new(),
            progress_token: None,
            downstream: None,
            protocol_version: ProtocolVersion::LATEST_WITH_INITIALIZE,
            client_capabilities: Arc::default(),
            record: None,
            log_interest: LogInterest::Unset,
            tool_limit: None,
            caller: None,
        }
    }

    /// Notes that `target` serves this request.
    pub(crate) fn routed_to(&self, target: &str) {
        if let Some(r) = &self.record {
            r.set_target(target);
        }
    }

    /// What the upstream layer needs of this request: where the target's progress, log
    /// messages and questions go, and what cancels it.
    pub(crate) fn upstream(&self) -> Call {
        Call {
            cancel: self.cancel.clone(),
            progress_token: self.progress_token.clone(),
            downstream: self.downstream.clone(),
            capabilities: self.client_capabilities.clone(),
            log_interest: self.log_interest,
        }
    }
}
