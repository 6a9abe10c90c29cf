//! The response body of the HTTP front end: a whole JSON message, or an SSE
//! stream that relays a request's notifications and questions (elicitation,
//! sampling) as they happen and ends with its result.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use rmcp::model::ServerJsonRpcMessage;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::DropGuard;

/// Comment lines sent on a quiet stream so proxies and idle timeouts between
/// the client and us do not cut a long call.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The body of every response the front end gives.
pub struct ResponseBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Sse(Box<SseStream>),
}

impl ResponseBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind::Full(Some(bytes.into())),
        }
    }

    /// No body.
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
        }
    }

    pub(crate) fn sse(stream: SseStream) -> Self {
        Self {
            kind: Kind::Sse(Box::new(stream)),
        }
    }
}

/// One SSE `message` event carrying `msg`.
pub(crate) fn sse_event(msg: &ServerJsonRpcMessage) -> Bytes {
    let json = serde_json::to_string(msg).unwrap_or_default();
    Bytes::from(format!("event: message\ndata: {json}\n\n"))
}

/// Where a stream's messages come from.
enum Source {
    /// Messages, made into events here.
    Messages(mpsc::UnboundedReceiver<ServerJsonRpcMessage>),
    /// Events made elsewhere (a resumable stream, see [`super::resume`]).
    Events(mpsc::UnboundedReceiver<Bytes>),
}

impl Source {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self {
            Self::Messages(rx) => rx.poll_recv(cx).map(|m| m.map(|m| sse_event(&m))),
            Self::Events(rx) => rx.poll_recv(cx),
        }
    }

    fn try_recv(&mut self) -> Option<Bytes> {
        match self {
            Self::Messages(rx) => rx.try_recv().ok().map(|m| sse_event(&m)),
            Self::Events(rx) => rx.try_recv().ok(),
        }
    }
}

/// The SSE response of one request: its notifications, then its result.
pub(crate) struct SseStream {
    /// Events already known when the stream was made.
    queued: VecDeque<Bytes>,
    /// Notifications and questions for the client, in order.
    messages: Source,
    result: Option<oneshot::Receiver<ServerJsonRpcMessage>>,
    /// A session's stream (GET, legacy SSE) has no result: it ends when its
    /// message channel closes.
    open_ended: bool,
    keep_alive: Pin<Box<tokio::time::Sleep>>,
    /// Dropping the stream before its final message (the client went away)
    /// cancels the request; disarmed when the final message arrives.
    cancel_on_drop: Option<DropGuard>,
}

impl SseStream {
    pub(crate) fn new(
        queued: VecDeque<Bytes>,
        messages: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
        result: oneshot::Receiver<ServerJsonRpcMessage>,
        cancel_on_drop: DropGuard,
    ) -> Self {
        Self {
            queued,
            messages: Source::Messages(messages),
            result: Some(result),
            open_ended: false,
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            cancel_on_drop: Some(cancel_on_drop),
        }
    }

    /// A stream with no result: `queued`, then `messages` until their senders are gone.
    pub(crate) fn open_ended(
        queued: VecDeque<Bytes>,
        messages: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
        cancel_on_drop: DropGuard,
    ) -> Self {
        Self {
            queued,
            messages: Source::Messages(messages),
            result: None,
            open_ended: true,
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            cancel_on_drop: Some(cancel_on_drop),
        }
    }

    /// A stream of ready-made events: `queued`, then `events` until their sender is gone.
    /// Leaving it cancels nothing (a resumable stream's request outlives its responses).
    pub(crate) fn events(queued: VecDeque<Bytes>, events: mpsc::UnboundedReceiver<Bytes>) -> Self {
        Self {
            queued,
            messages: Source::Events(events),
            result: None,
            open_ended: true,
            keep_alive: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
            cancel_on_drop: None,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(b) = self.queued.pop_front() {
            return Poll::Ready(Some(b));
        }
        // Messages first: whatever the request sent before finishing
        // precedes its result on the wire.
        match self.messages.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                self.reset_keep_alive();
                return Poll::Ready(Some(event));
            }
            Poll::Ready(None) if self.open_ended => return Poll::Ready(None),
            _ => {}
        }
        if self.open_ended {
            return self.poll_keep_alive(cx);
        }
        let Some(result) = self.result.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(result).poll(cx) {
            Poll::Ready(outcome) => {
                self.result = None;
                // The request is over (or parked for the client's input): leaving
                // now must not cancel it.
                if let Some(guard) = self.cancel_on_drop.take() {
                    guard.disarm();
                }
                while let Some(event) = self.messages.try_recv() {
                    self.queued.push_back(event);
                }
                if let Ok(msg) = outcome {
                    self.queued.push_back(sse_event(&msg));
                }
                Poll::Ready(self.queued.pop_front())
            }
            Poll::Pending => self.poll_keep_alive(cx),
        }
    }

    /// A comment line when the stream has been quiet for [`KEEP_ALIVE`].
    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.keep_alive.as_mut().poll(cx).is_ready() {
            self.reset_keep_alive();
            return Poll::Ready(Some(Bytes::from_static(b": keep-alive\n\n")));
        }
        Poll::Pending
    }

    fn reset_keep_alive(&mut self) {
        let next = tokio::time::Instant::now() + KEEP_ALIVE;
        self.keep_alive.as_mut().reset(next);
    }
}

use std::future::Future as _;

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Sse(stream) => stream.poll_next(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Sse(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Sse(_) => SizeHint::default(),
        }
    }
}
