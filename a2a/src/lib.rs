//! A2A protocol core for Switchboard's A2A relay: agent card rewriting, request classification
//! (JSON-RPC methods and HTTP+JSON paths of A2A 0.3 and 1.0), push-notification webhook SSRF
//! checks, task ownership, and SSE event inspection.
//!
//! This crate is a standalone library: it knows nothing about the gateway's config or HTTP
//! server. The gateway calls it from its data path; each module is usable and tested alone.

pub mod card;
pub mod errors;
pub mod events;
pub mod headers;
pub mod jsonrpc;
pub mod method;
pub mod ownership;
pub mod public_url;
pub mod push_guard;
pub mod rest;

pub use card::{
    rewrite_card, rewrite_card_jsonrpc_response, CardError, CardRewrite, RewriteOptions,
    RewriteReport, SignedCards,
};
pub use errors::{ErrorKind, RpcError};
pub use events::{inspect_response, summarize_sse, EventInfo, StreamSummary, TaskState};
pub use jsonrpc::{peek_request, JsonRpcPeek, PeekError};
pub use method::{A2aMethod, Dialect};
pub use ownership::{filter_task_list, OwnershipStore, TaskIdSealer, UnknownTasks};
pub use public_url::{public_base_url, PublicUrlError};
pub use push_guard::{PushGuard, PushGuardConfig, PushUrlError};
pub use rest::{classify_http, HttpRequestKind, RestPeek};
