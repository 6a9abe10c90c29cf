//! The response body of an [`super::InlineClient`]: hyper's `Incoming` plus the connection
//! it arrives on, which reading the body drives.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

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

/// How long a body dropped before its end may take to finish in the background (see
/// [`InlineBody`]'s `Drop`).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// How many unread bytes a dropped body may still read to keep its connection.
const DRAIN_MAX_BYTES: usize = 64 << 10;

/// A response body read straight from its connection.
///
/// hyper's HTTP/1.1 client reads body bytes in the connection future and hands them to
/// `Incoming`, so each poll of this body polls that future as well: a chunk is returned as
/// soon as the server sends it. Once the body has ended the connection goes back to the pool;
/// a `Connection: close` or an error drop the connection. A body dropped before its end is
/// read to its end in the background when that is short (see `Drop`).
pub struct InlineBody {
    /// `None` only once `Drop` has handed it to the background drain.
    incoming: Option<Incoming>,
    /// Whether dropping it before its end reads the rest in the background: false for the
    /// background reader's own body, so that a drain dropped unfinished (the runtime shutting
    /// down cancels it) does not start another.
    drains: bool,
    /// Only ever used through `&mut self`, so the body is `Sync` (as boxed bodies require)
    /// without asking it of the connection and the request body it may still be writing.
    connection: Option<SyncWrapper<Box<dyn Drive>>>,
    /// What the caller asked to keep until the body ends ([`InlineBody::keep_until_end`]).
    kept: Option<SyncWrapper<Box<dyn std::any::Any + Send>>>,
}

impl InlineBody {
    pub(super) fn new(incoming: Incoming, connection: Option<Box<dyn Drive>>) -> Self {
        let mut body = InlineBody {
            incoming: Some(incoming),
            drains: true,
            connection: connection.map(SyncWrapper::new),
            kept: None,
        };
        // A body with nothing to read (204, 304, `Content-Length: 0`, HEAD) is over already:
        // its connection is free before the caller even looks.
        if body.is_end_stream() {
            body.release();
        }
        body
    }

    /// Keeps `value` until the body ends, fails or is dropped, whichever comes first: a
    /// guard that counts the exchange as in flight (an inference pool's load picker) then
    /// lives exactly as long as the answer it counts, a streamed one included.
    pub fn keep_until_end(&mut self, value: Box<dyn std::any::Any + Send>) {
        if !self.is_end_stream() {
            self.kept = Some(SyncWrapper::new(value));
        }
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
            Some(Ok(_)) if self.is_end_stream() => self.release(),
            Some(Ok(_)) => return Poll::Ready(frame),
            Some(Err(_)) => self.connection = None,
        }
        self.kept = None;
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
        let Some(incoming) = &mut this.incoming else {
            return Poll::Ready(None);
        };
        match Pin::new(incoming).poll_frame(cx) {
            Poll::Ready(frame) => this.settle(frame),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

impl Drop for InlineBody {
    fn drop(&mut self) {
        // Read to its end without the final poll (a caller that stops at the announced
        // length): still reusable.
        if self.is_end_stream() {
            self.release();
            return;
        }
        // Dropped before its end, typically an SSE answer whose reader stopped at the event
        // it wanted while the server was about to end the stream. Closing would cost a new
        // connection (a connect, and a socket in TIME_WAIT) for the next request, so the rest
        // is read in the background when it is short and quick; otherwise the connection
        // closes with `self.connection`.
        if !self.drains {
            return;
        }
        let (Some(connection), Some(incoming)) = (self.connection.take(), self.incoming.take())
        else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut rest = InlineBody {
            incoming: Some(incoming),
            drains: false,
            connection: Some(connection),
            kept: None,
        };
        runtime.spawn(async move {
            // Ended in time: `poll_frame` gave the connection back to the pool. If not (too
            // slow, too long, failed), it closes with `rest`.
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
                let mut read = 0;
                while let Some(frame) = poll_fn(|cx| Pin::new(&mut rest).poll_frame(cx)).await {
                    let Ok(frame) = frame else { return };
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > DRAIN_MAX_BYTES {
                        return;
                    }
                }
            })
            .await;
        });
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
