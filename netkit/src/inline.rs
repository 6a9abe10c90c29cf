//! An HTTP/1.1 client whose connections are driven by the task that uses them.
//!
//! Why not hyper_util's pooled legacy `Client`: it spawns a task per
//! connection, so every request crosses from the caller's task to that task and back (the
//! request through a channel, the response through a oneshot, body chunks through another
//! channel), often between two worker threads. Under load, those wake-ups and context switches
//! were about half of the gateway's CPU. Here the caller's future polls the connection future
//! itself: checkout, one write, one read, on the caller's task, with no spawn and no thread
//! hop. The response body ([`InlineBody`]) keeps polling the connection while it is read, and
//! gives it back to the pool at its end.
//!
//! The API follows hyper_util's client so callers switch easily: [`InlineClient::request`]
//! takes an absolute-form request (`http://host/path`), sets `Host` and sends it in origin
//! form. Connections come from [`Connector`] (TCP, TLS, `TCP_NODELAY`, quick ACKs). A request
//! that a reused connection could not even write (the server had closed it while it was idle)
//! is sent once more on a new connection. HTTP/1.1 only; a `101 Switching Protocols` hands
//! its connection over (`hyper::upgrade::on`), as hyper_util's client does.

mod body;
mod error;
mod pool;
#[cfg(test)]
mod tests;

use std::future::{poll_fn, Future as _};
use std::pin::pin;
use std::sync::Arc;

use http::header::HOST;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Body;
use hyper::client::conn::http1;

pub use body::InlineBody;
pub use error::InlineError;

use crate::client::HyperOptions;
use crate::connector::Connector;
use pool::{Key, Lease, Pool, Pooled};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A pool of HTTP/1.1 connections per `(scheme, authority)`, driven by the callers' tasks.
/// Cloning is cheap and clones share the pool.
pub struct InlineClient<B: Body + 'static> {
    inner: Arc<Inner<B>>,
}

impl<B: Body + 'static> Clone for InlineClient<B> {
    fn clone(&self) -> Self {
        InlineClient {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Body + 'static> std::fmt::Debug for InlineClient<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineClient")
            .field("connector", &self.inner.connector)
            .finish_non_exhaustive()
    }
}

struct Inner<B: Body + 'static> {
    connector: Connector,
    handshake: http1::Builder,
    pool: Arc<Pool<B>>,
}

/// How one attempt on one connection failed.
enum Attempt<B> {
    /// The request was not written: here it is, for another connection.
    Unsent(Request<B>, hyper::Error),
    Failed(InlineError),
}

impl<B> InlineClient<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// A client with `options`' connect timeout, TLS server name, quick ACKs and pool
    /// bounds. Building one does no I/O: `SSL_CERT_FILE` is read on the first `https` connect.
    pub fn new(options: HyperOptions) -> Self {
        Self::build(options, true)
    }

    /// `probe: false` only for the test that needs a checkout to take a dead connection.
    fn build(options: HyperOptions, probe: bool) -> Self {
        let connector = Connector::new(options.connect_timeout)
            .with_server_name(options.server_name)
            .with_quick_ack(options.quick_ack);
        InlineClient {
            inner: Arc::new(Inner {
                connector,
                handshake: http1::Builder::new(),
                pool: Arc::new(Pool::new(
                    options.pool_idle_timeout,
                    options.pool_max_idle_per_host,
                    probe,
                )),
            }),
        }
    }

    /// Sends `request` (absolute URI, `http` or `https`) on an idle pooled connection or a
    /// new one, and returns the response once its head has arrived. Dropping the future
    /// closes the connection it was using (HTTP/1.1 cannot abandon one exchange otherwise).
    pub async fn request(
        &self,
        mut request: Request<B>,
    ) -> Result<Response<InlineBody>, InlineError> {
        let key = key_of(request.uri())?;
        set_host(&mut request, &key);
        *request.uri_mut() = origin_form(request.uri());
        let (conn, reused) = match self.inner.pool.checkout(&key) {
            Some(conn) => (conn, true),
            // Boxed: connecting is the rare case, and its future would otherwise be part of
            // (and copied with) every request's.
            None => (Box::pin(self.connect(&key)).await?, false),
        };
        match self.exchange(&key, conn, request).await {
            Ok(response) => Ok(response),
            Err(Attempt::Unsent(request, e)) if reused => {
                // The server closed the idle connection before it got the request: once more
                // on a new connection, where this cannot happen the same way.
                tracing::debug!(authority = %key.1, error = %e, "pooled connection was closed; sending again on a new one");
                let conn = Box::pin(self.connect(&key)).await?;
                match self.exchange(&key, conn, request).await {
                    Ok(response) => Ok(response),
                    Err(Attempt::Unsent(_, source)) => Err(unsent(&key, source)),
                    Err(Attempt::Failed(e)) => Err(e),
                }
            }
            Err(Attempt::Unsent(_, source)) => Err(unsent(&key, source)),
            Err(Attempt::Failed(e)) => Err(e),
        }
    }

    /// How many idle connections the pool holds now.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    async fn connect(&self, key: &Key) -> Result<Pooled<B>, InlineError> {
        let authority = || key.1.to_string();
        let uri = Uri::builder()
            .scheme(key.0.clone())
            .authority(key.1.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| InlineError::Uri {
                uri: format!("{}://{}", key.0, key.1),
                reason: "not a valid URI",
            })?;
        let io = self
            .inner
            .connector
            .open(uri)
            .await
            .map_err(|source| InlineError::Connect {
                authority: authority(),
                source,
            })?;
        let (tx, conn) =
            self.inner
                .handshake
                .handshake(io)
                .await
                .map_err(|source| InlineError::Handshake {
                    authority: authority(),
                    source,
                })?;
        Ok(Pooled {
            tx,
            conn: Box::pin(conn.with_upgrades()),
        })
    }

    /// Writes `request` on `conn` and reads the response head, polling the connection future
    /// and the response future together on this task.
    async fn exchange(
        &self,
        key: &Key,
        conn: Pooled<B>,
        request: Request<B>,
    ) -> Result<Response<InlineBody>, Attempt<B>> {
        let Pooled { mut tx, conn } = conn;
        let mut conn = Some(conn);
        let mut response = pin!(tx.try_send_request(request));
        let result = poll_fn(|cx| {
            if let Some(c) = &mut conn {
                if c.as_mut().poll(cx).is_ready() {
                    // Closed or failed: dropping it hands the response future its error (and
                    // the request, if it was never written).
                    conn = None;
                }
            }
            response.as_mut().poll(cx)
        })
        .await;
        match result {
            Ok(response) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                // The connection is the caller's now: completing its future hands the socket
                // to `hyper::upgrade::on(&mut response)`.
                if let Some(mut conn) = conn {
                    if let Err(source) = poll_fn(|cx| conn.as_mut().poll(cx)).await {
                        return Err(Attempt::Failed(InlineError::Send {
                            authority: key.1.to_string(),
                            source,
                        }));
                    }
                }
                Ok(response.map(|incoming| InlineBody::new(incoming, None)))
            }
            Ok(response) => {
                let lease = conn.map(|conn| {
                    Box::new(Lease {
                        pool: self.inner.pool.clone(),
                        key: key.clone(),
                        conn: Pooled { tx, conn },
                    }) as Box<dyn body::Drive>
                });
                Ok(response.map(|incoming| InlineBody::new(incoming, lease)))
            }
            Err(mut e) => match e.take_message() {
                Some(request) => Err(Attempt::Unsent(request, e.into_error())),
                None => Err(Attempt::Failed(InlineError::Send {
                    authority: key.1.to_string(),
                    source: e.into_error(),
                })),
            },
        }
    }
}

fn unsent(key: &Key, source: hyper::Error) -> InlineError {
    InlineError::Unsent {
        authority: key.1.to_string(),
        source,
    }
}

/// The pool key of `uri`, which must be absolute with an `http` or `https` scheme.
fn key_of(uri: &Uri) -> Result<Key, InlineError> {
    let bad = |reason| InlineError::Uri {
        uri: uri.to_string(),
        reason,
    };
    let scheme = match uri.scheme() {
        Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
        Some(_) => return Err(bad("the scheme is not http or https")),
        None => return Err(bad("not an absolute URI")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?.clone();
    if authority.host().is_empty() {
        return Err(bad("no host"));
    }
    Ok((scheme, authority))
}

/// `Host` from the URI when the request has none (as hyper_util's client does): the host,
/// and the port unless it is the scheme's default.
fn set_host<B>(request: &mut Request<B>, (scheme, authority): &Key) {
    if request.headers().contains_key(HOST) {
        return;
    }
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    let value = match authority.port_u16() {
        Some(port) if port != default_port => {
            HeaderValue::from_str(&format!("{}:{port}", authority.host()))
        }
        _ => HeaderValue::from_str(authority.host()),
    };
    // The authority parsed as part of a URI, so it is a valid header value.
    if let Ok(value) = value {
        request.headers_mut().insert(HOST, value);
    }
}

/// The path and query only: what an HTTP/1.1 request line to an origin server carries.
fn origin_form(uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::from(path)
}
