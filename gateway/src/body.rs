//! Body wrappers for the data path: one boxed body type, a size limit that fails the stream
//! instead of buffering it, and an observer that reports bytes and completion for the access log.
//!
//! A leaf module, below the model: the model's plan names the body type (the MCP server of an
//! `mcp` backend takes and returns it), and both `mcp` and `proxy` read and answer with it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// Error type carried by bodies on the data path.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one body type requests and responses carry through the gateway.
pub type Body = BoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body with these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The request body grew beyond the route's limit.
#[derive(Debug, thiserror::Error)]
#[error("request body is larger than the limit of {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit in bytes.
    pub limit: u64,
}

pin_project_lite::pin_project! {
    /// Fails with [`BodyTooLarge`] once more than `limit` bytes have passed.
    pub struct Limited<B> {
        #[pin]
        inner: B,
        remaining: u64,
        limit: u64,
    }
}

impl<B> Limited<B> {
    /// Wraps `inner` with a limit.
    pub fn new(inner: B, limit: u64) -> Self {
        Limited {
            inner,
            remaining: limit,
            limit,
        }
    }
}

impl<B> HttpBody for Limited<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > *this.remaining {
                        *this.remaining = 0;
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge {
                            limit: *this.limit,
                        }))));
                    }
                    *this.remaining -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Called once when an observed body ends, fails or is dropped.
pub trait BodyObserver: Send + Sync + 'static {
    /// `bytes` passed; `error` is the stream's failure, if any; `complete` is false when the
    /// body was dropped before its end (the client went away).
    fn finished(self: Box<Self>, bytes: u64, error: Option<String>, complete: bool);
}

pin_project_lite::pin_project! {
    /// Counts bytes and tells an observer when the body is done.
    pub struct Observed<B> where B: HttpBody {
        #[pin]
        inner: B,
        bytes: u64,
        observer: Option<Box<dyn BodyObserver>>,
    }

    impl<B> PinnedDrop for Observed<B> where B: HttpBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(o) = this.observer.take() {
                // hyper stops polling a body that says it has ended, so this is a normal end too.
                let complete = this.inner.is_end_stream();
                o.finished(*this.bytes, None, complete);
            }
        }
    }
}

impl<B: HttpBody> Observed<B> {
    /// Wraps `inner`; the observer is told exactly once.
    pub fn new(inner: B, observer: Box<dyn BodyObserver>) -> Self {
        Observed {
            inner,
            bytes: 0,
            observer: Some(observer),
        }
    }
}

impl<B> HttpBody for Observed<B>
where
    B: HttpBody<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    *this.bytes += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(o) = this.observer.take() {
                    o.finished(*this.bytes, Some(e.to_string()), false);
                }
            }
            Poll::Ready(None) => {
                if let Some(o) = this.observer.take() {
                    o.finished(*this.bytes, None, true);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A stream went quiet for longer than its idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("upstream stream idle for more than {0:?}; closed")]
pub struct StreamIdle(pub std::time::Duration);

pin_project_lite::pin_project! {
    /// Fails the body when no frame arrives for `idle`. The clock restarts with every frame,
    /// keep-alive comments included, so a long but live stream is never cut.
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: tokio::time::Sleep,
        idle: std::time::Duration,
    }
}

impl<B> IdleTimeout<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, idle: std::time::Duration) -> Self {
        IdleTimeout {
            inner,
            sleep: tokio::time::sleep(idle),
            idle,
        }
    }
}

impl<B> HttpBody for IdleTimeout<B>
where
    B: HttpBody<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(StreamIdle(*this.idle)))));
                }
                Poll::Pending
            }
            ready => {
                let deadline = tokio::time::Instant::now() + *this.idle;
                this.sleep.as_mut().reset(deadline);
                ready
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client took longer than its bind's `bodyReadTimeout` to send the request body.
#[derive(Debug, thiserror::Error)]
#[error("the client did not send the request body within {0:?} (limits.bodyReadTimeout)")]
pub struct BodyReadTimeout(pub std::time::Duration);

pin_project_lite::pin_project! {
    /// Fails a request body once the client has kept the gateway waiting for its bytes for
    /// `budget` in all. Only time spent waiting on the client counts, not time the body sat
    /// unread because the upstream was slow to take it, so backpressure never cuts a client
    /// off; a client that trickles its body (slowloris) is, however slowly it trickles.
    pub struct ReadDeadline<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: tokio::time::Sleep,
        budget: std::time::Duration,
        spent: std::time::Duration,
        waiting_since: Option<tokio::time::Instant>,
    }
}

impl<B> ReadDeadline<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, budget: std::time::Duration) -> Self {
        ReadDeadline {
            inner,
            sleep: tokio::time::sleep(budget),
            budget,
            spent: std::time::Duration::ZERO,
            waiting_since: None,
        }
    }
}

impl<B> HttpBody for ReadDeadline<B>
where
    B: HttpBody<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Pending => {
                if this.waiting_since.is_none() {
                    let now = tokio::time::Instant::now();
                    *this.waiting_since = Some(now);
                    let left = this.budget.saturating_sub(*this.spent);
                    this.sleep.as_mut().reset(now + left);
                }
                if this.sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyReadTimeout(*this.budget)))));
                }
                Poll::Pending
            }
            ready => {
                if let Some(since) = this.waiting_since.take() {
                    *this.spent += since.elapsed();
                }
                ready
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Finds a [`BodyReadTimeout`] anywhere in an error's source chain: its budget.
pub fn is_body_read_timeout(
    err: &(dyn std::error::Error + 'static),
) -> Option<std::time::Duration> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<BodyReadTimeout>() {
            return Some(t.0);
        }
        cur = e.source();
    }
    None
}

/// Finds a [`BodyTooLarge`] anywhere in an error's source chain.
pub fn is_body_too_large(err: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<BodyTooLarge>() {
            return Some(t.limit);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limit_fails_the_stream() {
        let body = Limited::new(Full::new(Bytes::from_static(b"0123456789")), 5);
        let err = body.collect().await.expect_err("over the limit");
        assert_eq!(is_body_too_large(err.as_ref()), Some(5));
        let ok = Limited::new(Full::new(Bytes::from_static(b"01234")), 5)
            .collect()
            .await;
        assert_eq!(ok.expect("at the limit").to_bytes().len(), 5);
    }

    #[tokio::test]
    async fn idle_streams_are_closed_and_live_ones_kept() {
        use std::time::Duration;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|f| (f, rx)) },
            );
        let mut body = std::pin::pin!(IdleTimeout::new(
            http_body_util::StreamBody::new(Box::pin(stream)),
            Duration::from_millis(150),
        ));
        // Frames every 50 ms keep it open past the idle limit.
        let feeder = tokio::spawn(async move {
            for _ in 0..6 {
                tx.send(Ok(Frame::data(Bytes::from_static(b": ping\n\n"))))
                    .await
                    .ok();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Then silence, with the sender still open.
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(tx);
        });
        for _ in 0..6 {
            let frame = body.frame().await.expect("a frame").expect("not an error");
            assert!(frame.is_data());
        }
        let started = std::time::Instant::now();
        let err = body
            .frame()
            .await
            .expect("an error frame")
            .expect_err("idle");
        assert!(err.downcast_ref::<StreamIdle>().is_some(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        feeder.abort();
    }

    #[tokio::test]
    async fn a_trickled_body_is_cut_off_but_backpressure_does_not_count() {
        use http_body_util::BodyExt as _;
        let budget = std::time::Duration::from_millis(200);
        // A client that sends a frame every 80 ms: over the budget after three waits.
        let (tx, rx) = futures_channel_body();
        tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(std::time::Duration::from_millis(80)).await;
                if tx
                    .send(Ok(Frame::data(Bytes::from_static(b"x"))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let started = std::time::Instant::now();
        let err = ReadDeadline::new(rx, budget)
            .collect()
            .await
            .expect_err("cut off");
        assert!(is_body_read_timeout(err.as_ref()).is_some(), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_millis(600));

        // A body whose frames are all there, read slowly by its consumer: never cut off.
        let (tx, rx) = futures_channel_body();
        for _ in 0..3 {
            tx.send(Ok(Frame::data(Bytes::from_static(b"y"))))
                .await
                .expect("buffered");
        }
        drop(tx);
        let mut body = std::pin::pin!(ReadDeadline::new(rx, budget));
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            frame.expect("not cut off");
            frames += 1;
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        }
        assert_eq!(frames, 3);
    }

    /// A channel body: frames sent on the sender arrive on the body.
    #[allow(clippy::type_complexity)]
    fn futures_channel_body() -> (
        tokio::sync::mpsc::Sender<Result<Frame<Bytes>, BoxError>>,
        http_body_util::StreamBody<
            tokio_stream::wrappers::ReceiverStream<Result<Frame<Bytes>, BoxError>>,
        >,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        (tx, http_body_util::StreamBody::new(stream))
    }

    #[tokio::test]
    async fn observer_sees_bytes_once() {
        use std::sync::{Arc, Mutex};
        struct Seen(Arc<Mutex<Vec<(u64, bool)>>>);
        impl BodyObserver for Seen {
            fn finished(self: Box<Self>, bytes: u64, _: Option<String>, complete: bool) {
                self.0.lock().unwrap().push((bytes, complete));
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let body = Observed::new(full("hello"), Box::new(Seen(seen.clone())));
        body.collect().await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(5, true)]);
        let dropped = Observed::new(full("x"), Box::new(Seen(seen.clone())));
        drop(dropped);
        assert_eq!(seen.lock().unwrap()[1], (0, false));
    }
}
