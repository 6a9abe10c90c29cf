//! Network toolkit: the pieces every crate of the workspace needs to talk to other servers,
//! kept in one place so there is one answer to each question.
//!
//! - [`tls`]: which servers are trusted (Mozilla's roots plus `SSL_CERT_FILE`);
//! - [`connector`]: the TCP/TLS connector of hyper clients (gateway routes, `mcp` targets),
//!   with `TCP_NODELAY` and `TCP_QUICKACK`;
//! - [`client`]: the one builder of reqwest clients and the one of hyper clients;
//! - [`inline`]: the HTTP/1.1 client of the hot paths, whose connections are driven by the
//!   task that sends the request (no task, channel or thread hop per request);
//! - [`duration`] and [`size`]: the config grammar of durations (`500ms`, `5s`) and byte
//!   sizes (`4MiB`);
//! - [`error_chain()`]: an error with its causes on one line;
//! - [`PairKey`]: map lookups by a borrowed pair, for maps on the request path;
//! - [`sse`]: the SSE parser (`eventsource-stream`) and its event-size bound.

pub mod client;
pub mod connector;
pub mod duration;
mod error_chain;
pub mod inline;
mod pair_key;
pub mod size;
pub mod sse;
pub mod tls;

pub use client::{reqwest_client, HyperOptions, ReqwestOptions};
pub use connector::Connector;
pub use duration::{Duration, DURATION_PATTERN, MAX_DURATION};
pub use error_chain::error_chain;
pub use inline::{InlineBody, InlineClient, InlineError};
pub use pair_key::PairKey;
pub use size::{ByteSize, BYTE_SIZE_PATTERN};
pub use tls::{ClientBuildError, SSL_CERT_FILE};

/// Why a duration or a byte size did not parse: the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);
