//! The multiplexer proper, independent of how clients reach it and of how targets are
//! reached.
//!
//! * [`mux`]: the [`mux::Multiplexer`] and its builder; calls, subscriptions and tasks.
//! * [`lists`]: the fan-out of list requests and the merged, renamed lists.
//! * [`naming`]: the client-safe `target_tool` naming scheme, reversible.
//! * [`cursor`]: gateway-minted cursors over several targets' pagination.
//! * [`context`]: what one downstream request brings ([`context::CallContext`]).
//! * [`notices`]: notifications for every client (list changes, logs, updates).
//! * [`tool_limit`]: the embedder's per-tool rate limit on `tools/call`.

pub(crate) mod context;
pub(crate) mod cursor;
pub(crate) mod lists;
pub(crate) mod mux;
pub mod naming;
pub(crate) mod notices;
pub mod tool_limit;
