//! The downstream layer: how clients reach the multiplexer.
//!
//! * [`http`]: our own Streamable HTTP endpoint (both eras), the legacy HTTP+SSE transport,
//!   and the 2026-07-28 multi-round-trip (MRTR) calls ([`http::mrtr`]).
//! * [`answers`]: a legacy HTTP client's answers to the targets' questions, which arrive as
//!   POSTs of their own.
//! * [`rmcp_server`]: the multiplexer served as an rmcp `ServerHandler` (in-process, stdio).
//!
//! Each front turns a client's request into a [`crate::core::context::CallContext`] and
//! calls the [`crate::core`] multiplexer; nothing below this layer knows the fronts.

pub(crate) mod answers;
pub mod http;
mod rmcp_server;
