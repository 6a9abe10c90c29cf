//! The response body of an [`super::InlineClient`]: hyper's `Incoming` plus the connection
//! it arrives on, which reading the body drives.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use sync_wrapper::SyncWrapper;

/// The connection side of a body, with its request body type erased.
pub(super) trait Drive: Send {
    /// Polls the connection future; `Ready` once it has completed (closed or failed), after
    /// which it must not be polled again.
    fn poll_connection(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    /// The exchange is over: the connection may serve another request.
    fn release(self: Box<Self>);
}

/// A response body read straight from its connection.
///
/// hyper's HTTP/1.1 client reads body bytes in the connection future and hands them to
/// `Incoming`, so each poll of this body polls that future as well: a chunk is returned as
/// soon as the server sends it. Once the body has ended the connection goes back to the pool;
/// a body dropped before its end, a `Connection: close` or an error drop the connection.
pub struct InlineBody {
    incoming: Incoming,
    /// Only ever used through `&mut self`, so the body is `Sync` (as boxed bodies require)
    /// without asking it of the connection and the request body it may still be writing.
    connection: Option<SyncWrapper<Box<dyn Drive>>>,
}

impl InlineBody {
    pub(super) fn new(incoming: Incoming, connection: Option<Box<dyn Drive>>) -> Self {
        let mut body = InlineBody {
            incoming,
            connection: connection.map(SyncWrapper::new),
        };
        // A body with nothing to read (204, 304, `Content-Length: 0`, HEAD) is over already:
        // its connection is free before the caller even looks.
        if body.incoming.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.into_inner().release();
        }
    }

    fn settle(
        &mut self,
        frame: Option<Result<Frame<Bytes>, hyper::Error>>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &frame {
            None => self.release(),
            Some(Ok(_)) if self.incoming.is_end_stream() => self.release(),
            Some(Ok(_)) => {}
            Some(Err(_)) => self.connection = None,
        }
        Poll::Ready(frame)
    }
}

impl Body for InlineBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        // The connection first: it reads what the server sent and hands it to `Incoming`.
        if let Some(connection) = &mut this.connection {
            if connection.get_mut().poll_connection(cx).is_ready() {
                // Closed (`Connection: close` after the body) or failed (then `Incoming` has
                // the error): it cannot serve another request either way.
                this.connection = None;
            }
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => this.settle(frame),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for InlineBody {
    fn drop(&mut self) {
        // Read to its end without the final poll (a caller that stops at the announced
        // length): still reusable. Otherwise the unread rest would be the next response's
        // start, so the connection closes with `self.connection`.
        if self.incoming.is_end_stream() {
            self.release();
        }
    }
}

impl std::fmt::Debug for InlineBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineBody")
            .field("incoming", &self.incoming)
            .field("pooled", &self.connection.is_some())
            .finish()
    }
}
