//! Why a request of an [`super::InlineClient`] failed, and whether it may be sent again.

use std::io;

/// A failed request. [`InlineError::unsent`] says whether the request surely never reached
/// the server, which is what a caller needs to decide on a retry; `Display` plus the
/// `source()` chain ([`crate::error_chain`]) say why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InlineError {
    /// The request's URI cannot be sent: no `http`/`https` scheme or no host.
    #[error("invalid request URI {uri:?}: {reason}")]
    Uri { uri: String, reason: &'static str },
    /// No connection could be made (refused, unreachable, timed out, TLS refused).
    #[error("cannot connect to {authority}")]
    Connect {
        authority: String,
        #[source]
        source: io::Error,
    },
    /// The connection was made but hyper refused it for HTTP/1.1.
    #[error("the HTTP/1.1 handshake with {authority} failed")]
    Handshake {
        authority: String,
        #[source]
        source: hyper::Error,
    },
    /// The connection closed before the request was written: the server never saw it.
    #[error("the connection to {authority} closed before the request was sent")]
    Unsent {
        authority: String,
        #[source]
        source: hyper::Error,
    },
    /// The exchange failed after the request started out: the server may have seen it.
    #[error("the request to {authority} failed")]
    Send {
        authority: String,
        #[source]
        source: hyper::Error,
    },
}

impl InlineError {
    /// Whether the failure happened before any connection existed (as hyper_util's
    /// `Error::is_connect`): connect, TLS, handshake and URI errors.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            InlineError::Uri { .. } | InlineError::Connect { .. } | InlineError::Handshake { .. }
        )
    }

    /// Whether the request surely never reached the server, so sending it again cannot do
    /// anything twice: [`Self::is_connect`], or a connection that closed before the request
    /// was written.
    pub fn unsent(&self) -> bool {
        self.is_connect() || matches!(self, InlineError::Unsent { .. })
    }
}
