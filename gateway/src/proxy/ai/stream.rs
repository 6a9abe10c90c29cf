//! A provider's stream on its way to the client: each chunk translated (or observed) as it
//! arrives, then guarded (`promptGuard.response`: masked, or ended with an error event), an
//! error event in the client's format when it breaks, metering at its end.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use llm::{ErrorKind, Outcome, ResponseStream};

use super::guard::StreamGuard;
use super::meter::Meter;
use crate::body::{Body, BoxError};

/// The client's body of a streamed LLM response.
pub(super) struct TranslatedStream {
    inner: Body,
    idle: Pin<Box<tokio::time::Sleep>>,
    idle_for: Duration,
    stream: ResponseStream,
    /// Bytes to send before reading more (the first chunk's, an error event).
    pending: Option<Bytes>,
    done: bool,
    meter: Meter,
    /// `promptGuard.response`, when the route has one.
    guard: Option<StreamGuard>,
}

impl TranslatedStream {
    /// Continues `inner` after its first chunk, whose output is `first`.
    pub(super) fn new(
        inner: Body,
        stream: ResponseStream,
        first: Bytes,
        idle_for: Duration,
        meter: Meter,
        guard: Option<StreamGuard>,
    ) -> Self {
        let mut s = TranslatedStream {
            inner,
            idle: Box::pin(tokio::time::sleep(idle_for)),
            idle_for,
            stream,
            pending: None,
            done: false,
            meter,
            guard,
        };
        let over = s.stream.is_over();
        s.pending = Some(s.guarded(first, over));
        if s.stream.is_over() {
            s.end();
        }
        s
    }

    /// `bytes` for the client through the guard (`last`: nothing follows them). A guard that
    /// rejects ends the stream here with an error event.
    fn guarded(&mut self, bytes: Bytes, last: bool) -> Bytes {
        let Some(guard) = self.guard.as_mut() else {
            return bytes;
        };
        let step = guard.filter(&bytes, last);
        let Some(message) = step.rejected else {
            return step.bytes;
        };
        self.guard = None;
        let event = self.stream.abort(ErrorKind::InvalidRequest, &message);
        if !std::mem::replace(&mut self.done, true) {
            self.meter.stream_error("guard_rejected");
            self.meter.finish(self.stream.usage());
        }
        let mut out = Vec::with_capacity(step.bytes.len() + event.len());
        out.extend_from_slice(&step.bytes);
        out.extend_from_slice(&event);
        Bytes::from(out)
    }

    /// The stream is over (whatever the reason): meter it once.
    fn end(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let why = match self.stream.outcome() {
            Outcome::Completed => None,
            Outcome::ProviderError(_) => Some("provider_error"),
            Outcome::Malformed(_) => Some("malformed"),
            Outcome::Truncated => Some("truncated"),
            Outcome::Aborted(_) | Outcome::InProgress => Some("read_error"),
        };
        if let Some(why) = why {
            self.meter.stream_error(why);
        }
        self.meter.finish(self.stream.usage());
    }

    fn abort(&mut self, why: &str, kind: ErrorKind, message: &str) {
        let event = self.stream.abort(kind, message);
        // What the guard still holds goes out before the error event.
        let event = self.guarded(event, true);
        self.pending = Some(event);
        if !std::mem::replace(&mut self.done, true) {
            self.meter.stream_error(why);
            self.meter.finish(self.stream.usage());
        }
    }
}

impl HttpBody for TranslatedStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.pending.take() {
                if !bytes.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
            }
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        let message = format!(
                            "the provider sent nothing for {:?}; the response is incomplete",
                            this.idle_for
                        );
                        this.abort("idle", ErrorKind::Timeout, &message);
                        continue;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let deadline = tokio::time::Instant::now() + this.idle_for;
                    this.idle.as_mut().reset(deadline);
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let out = this.stream.push(&data);
                    if out.first_token {
                        this.meter.first_token();
                    }
                    let over = this.stream.is_over();
                    this.pending = Some(this.guarded(out.bytes, over));
                    if this.stream.is_over() {
                        this.end();
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let message = format!(
                        "the provider's stream failed: {}",
                        crate::proxy::forward::error_chain(&*e)
                    );
                    this.abort("read_error", ErrorKind::Server, &message);
                }
                Poll::Ready(None) => {
                    let tail = this.stream.finish();
                    this.pending = Some(this.guarded(tail, true));
                    this.end();
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.as_ref().is_none_or(Bytes::is_empty)
    }
}

impl Drop for TranslatedStream {
    fn drop(&mut self) {
        if !self.done {
            // The client went away mid-stream: what was used is still metered.
            self.done = true;
            self.meter.stream_error("client_gone");
            self.meter.finish(self.stream.usage());
        }
    }
}
