//! `requestMirror`: fire-and-forget copies of requests.
//!
//! A copy never delays or fails the main request. A streamed request body is teed frame by
//! frame into a small bounded channel; if the mirror falls behind and the channel fills, the copy
//! is abandoned (its body fails, so the mirror upstream sees an aborted request, never a
//! truncated one) and counted as `dropped`.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::mpsc;

use super::Proxy;
use crate::body::{empty, full, BoxError};
use crate::metrics::ResultLabel;
use crate::model::policy::Mirror;
use crate::model::upstream::Upstream;

/// Frames buffered for a slow mirror before the copy is dropped.
const TEE_CAPACITY: usize = 32;
/// A mirror request that takes longer than this is abandoned.
const MIRROR_TIMEOUT: Duration = Duration::from_secs(30);

/// What the copy's body is.
pub enum MirrorBody {
    /// No body, or the whole body was already buffered.
    Bytes(Option<Bytes>),
    /// Frames teed from the main request as it streams.
    Teed(mpsc::Receiver<Bytes>, Arc<TeeState>),
}

/// How the tee of a streamed body ended, shared by both sides.
#[derive(Debug, Default)]
pub struct TeeState(AtomicU8);

impl TeeState {
    const STREAMING: u8 = 0;
    const DONE: u8 = 1;
    const ABANDONED: u8 = 2;

    fn set(&self, state: u8) {
        let _ =
            self.0
                .compare_exchange(Self::STREAMING, state, Ordering::AcqRel, Ordering::Acquire);
    }

    fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::DONE
    }

    fn is_abandoned(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::ABANDONED
    }
}

/// The part of a request a mirror copies.
pub struct MirrorRequest {
    /// Method.
    pub method: Method,
    /// Path and query as sent to the main upstream.
    pub path_and_query: String,
    /// Headers as sent to the main upstream.
    pub headers: HeaderMap,
}

/// Sends a copy in the background, with the pooled client of route backends (over `https`
/// when the mirror has a TLS server name, trusting what they trust).
pub fn spawn(proxy: Arc<Proxy>, mirror: &Mirror, req: MirrorRequest, body: MirrorBody) {
    let (upstream, tls) = (mirror.upstream.clone(), mirror.tls.clone());
    tokio::spawn(async move {
        let sent = send(&proxy, &upstream, tls, req, body);
        let result = tokio::time::timeout(MIRROR_TIMEOUT, sent).await;
        let label = match result {
            Ok(Ok(())) => "ok",
            Ok(Err(e)) => {
                tracing::debug!(upstream = %upstream, error = %e, "mirror request failed");
                if e == "dropped" {
                    "dropped"
                } else {
                    "error"
                }
            }
            Err(_) => {
                tracing::debug!(upstream = %upstream, "mirror request timed out");
                "error"
            }
        };
        proxy
            .metrics
            .mirrors
            .get_or_create(&ResultLabel {
                result: label.into(),
            })
            .inc();
    });
}

async fn send(
    proxy: &Proxy,
    upstream: &Upstream,
    tls: Option<Arc<str>>,
    req: MirrorRequest,
    body: MirrorBody,
) -> Result<(), String> {
    let uri = Uri::builder()
        .scheme(if tls.is_some() { "https" } else { "http" })
        .authority(upstream.authority.clone())
        .path_and_query(req.path_and_query.as_str())
        .build()
        .map_err(|e| e.to_string())?;
    let (body, tee_state) = match body {
        MirrorBody::Bytes(Some(b)) => (full(b), None),
        MirrorBody::Bytes(None) => (empty(), None),
        MirrorBody::Teed(rx, state) => {
            let shared = state.clone();
            let stream = futures_util::stream::unfold((rx, state), |(mut rx, state)| async move {
                match rx.recv().await {
                    Some(bytes) => Some((Ok::<_, BoxError>(Frame::data(bytes)), (rx, state))),
                    None if state.is_done() => None,
                    // Ended without finishing: abandoned, or the main request failed. Either way
                    // the copy must not look complete.
                    None => Some((
                        Err::<Frame<Bytes>, BoxError>(
                            "the main request body did not complete".into(),
                        ),
                        (rx, state),
                    )),
                }
            });
            (StreamBody::new(stream).boxed(), Some(shared))
        }
    };
    let mut request = Request::new(body);
    *request.method_mut() = req.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = req.headers;
    match proxy.client(tls.as_ref()).request(request).await {
        Ok(resp) => {
            // Drain so the connection returns to the pool.
            let _ = resp.into_body().collect().await;
            Ok(())
        }
        Err(e) => {
            if tee_state.is_some_and(|s| s.is_abandoned()) {
                Err("dropped".into())
            } else {
                Err(crate::proxy::forward::error_chain(&e))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// Passes the main body through and offers each data frame to the mirror.
    pub struct Tee<B> {
        #[pin]
        inner: B,
        tx: Option<mpsc::Sender<Bytes>>,
        state: Arc<TeeState>,
    }
}

impl<B> Tee<B> {
    /// Wraps `inner`; returns the body to send upstream and the mirror's side.
    pub fn new(inner: B) -> (Self, MirrorBody) {
        let (tx, rx) = mpsc::channel(TEE_CAPACITY);
        let state = Arc::new(TeeState::default());
        (
            Tee {
                inner,
                tx: Some(tx),
                state: state.clone(),
            },
            MirrorBody::Teed(rx, state),
        )
    }
}

impl<B> HttpBody for Tee<B>
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
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(tx), Some(data)) = (this.tx.as_ref(), frame.data_ref()) {
                    if tx.try_send(data.clone()).is_err() {
                        // Full or closed: abandon the copy rather than slow the main request.
                        this.state.set(TeeState::ABANDONED);
                        *this.tx = None;
                    }
                }
                // hyper may stop polling once the body says it has ended.
                if this.inner.is_end_stream() && this.tx.take().is_some() {
                    this.state.set(TeeState::DONE);
                }
            }
            Poll::Ready(None) => {
                if this.tx.take().is_some() {
                    this.state.set(TeeState::DONE);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                *this.tx = None;
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

/// Whether this request is chosen for mirroring at `percentage` (0 to 100).
pub fn chosen(percentage: f64) -> bool {
    percentage >= 100.0 || (percentage > 0.0 && rand::random::<f64>() * 100.0 < percentage)
}
