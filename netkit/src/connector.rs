//! The connections of hyper clients (`mcp` targets, gateway route backends): TCP (TLS for
//! `https` URIs, trusting [`crate::tls`]), kept alive in a pool ([`crate::inline`], or
//! hyper_util's), with `TCP_NODELAY` and `TCP_QUICKACK`.
//!
//! Why `TCP_QUICKACK`: many MCP servers leave Nagle's algorithm on (`axum::serve` does). Such a
//! server writes a streamed answer's headers, then holds the next small write until the
//! headers are acknowledged, and on a kept-alive connection Linux delays that acknowledgement
//! by up to 40 ms, so every call would stall. A fresh connection per call avoids it (a new
//! socket acknowledges at once) but pays the connect and teardown, which was most of the
//! gateway's CPU per call. So connections are pooled, and after a read that may leave the
//! server waiting the socket is told to acknowledge now. The flag is not sticky in Linux, hence
//! per read; it costs one `setsockopt`, which was a few per cent of the gateway's CPU per call
//! when paid on every read. A server waits on our acknowledgement only after a small write
//! that ends a unit it flushes on its own: the response head (`\r\n\r\n`), an SSE event
//! (`\n\n`), a chunk (`\r\n`). All of these end in a line feed; a whole JSON answer read at
//! once (head and body in one segment, the common case) does not, and costs no syscall. Nor
//! does a read that ends a chunked body (`\r\n0\r\n\r\n`, the last chunk and an empty
//! trailer): the answer is complete, so the server waits on nothing (a whole SSE answer read at
//! once, the common case under load). A data chunk that happens to end in `\r\n0\r\n` reads
//! the same; that costs at most the old, delayed acknowledgement, never data.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::tls;

/// Opens connections for hyper's client: `http` and `https` URIs only.
#[derive(Clone, Debug)]
pub struct Connector {
    /// Bounds the TCP connect plus the TLS handshake.
    connect_timeout: Duration,
    /// The name sent as SNI and checked against the certificate, when it is not the URI's
    /// host (Gateway API `BackendTLSPolicy.hostname`: the backend is reached by address but
    /// serves a certificate for a name).
    server_name: Option<Arc<str>>,
    /// Acknowledge received data at once (see the module docs).
    quick_ack: bool,
}

impl Connector {
    /// A connector whose TCP connect plus TLS handshake take at most `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Connector {
            connect_timeout,
            server_name: None,
            quick_ack: true,
        }
    }

    /// Whether to acknowledge every read at once (the default). Peers that disable Nagle's
    /// algorithm, as HTTP servers behind a route usually do, gain nothing from it, and it
    /// costs a `setsockopt` per read.
    pub fn with_quick_ack(mut self, quick_ack: bool) -> Self {
        self.quick_ack = quick_ack;
        self
    }

    /// TLS connections present and verify `name` instead of the URI's host. A hyper client
    /// pools by URI authority, so give each name its own client.
    pub fn with_server_name(mut self, name: Option<Arc<str>>) -> Self {
        self.server_name = name;
        self
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Conn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.open(uri).await })
    }
}

impl Connector {
    /// A connection to `uri`'s host and port (TLS for `https`), within the connect timeout.
    pub async fn open(&self, uri: Uri) -> io::Result<Conn> {
        let timeout = self.connect_timeout;
        let connecting = connect(&uri, self.server_name.as_deref(), self.quick_ack);
        tokio::time::timeout(timeout, connecting)
            .await
            .unwrap_or_else(|_| {
                let authority = uri.authority().map_or("", |a| a.as_str());
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting to {authority} timed out after {timeout:?}"),
                ))
            })
    }
}

async fn connect(uri: &Uri, server_name: Option<&str>, quick_ack: bool) -> io::Result<Conn> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported URL scheme {other:?}: use http or https"),
            ))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the URL has no host"))?;
    // `[::1]` in a URI, `::1` for the socket and the TLS name.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let tcp = QuickAck(tcp, quick_ack);
    if !https {
        return Ok(Conn(TokioIo::new(Stream::Plain(tcp))));
    }
    let config = tls::rustls_config().map_err(io::Error::other)?;
    let name = server_name.unwrap_or(host);
    let name = ServerName::try_from(name.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a valid TLS server name: {e}"),
        )
    })?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(Conn(TokioIo::new(Stream::Tls(Box::new(tls)))))
}

/// A TCP stream that acknowledges received data at once when its flag is set (see the module
/// docs).
struct QuickAck(TcpStream, bool);

/// The end of a chunked body: the previous chunk's line end, the last (empty) chunk, no trailer.
const LAST_CHUNK: &[u8] = b"\r\n0\r\n\r\n";

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        let read = &buf.filled()[before..];
        let may_leave_the_server_waiting =
            read.last() == Some(&b'\n') && !read.ends_with(LAST_CHUNK);
        if self.1 && may_leave_the_server_waiting && matches!(polled, Poll::Ready(Ok(()))) {
            // Best effort: failing only means the old, delayed acknowledgement.
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

enum Stream {
    Plain(QuickAck),
    Tls(Box<tokio_rustls::client::TlsStream<QuickAck>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One connection to a server, as hyper's client wants it.
pub struct Conn(TokioIo<Stream>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Echoes what it reads on a fresh loopback listener; returns its address.
    async fn echo_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = peer.read(&mut buf).await {
                if peer.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        addr
    }

    /// Whether the socket acknowledges at once after each of 20 request/response rounds of
    /// `message`.
    async fn quick_after_each_round(message: &[u8]) -> Vec<bool> {
        let mut stream = QuickAck(TcpStream::connect(echo_server().await).await.unwrap(), true);
        let mut buf = [0u8; 64];
        let mut quick = Vec::new();
        for _ in 0..20 {
            stream.write_all(message).await.unwrap();
            let mut got = 0;
            while got < message.len() {
                let n = stream.read(&mut buf[got..]).await.unwrap();
                assert!(n > 0);
                got += n;
            }
            quick.push(socket2::SockRef::from(&stream.0).tcp_quickack().unwrap());
        }
        quick
    }

    /// Data that ends a line (a response head, an SSE event, a chunk) takes the socket out of
    /// delayed-ACK ("pingpong") mode, even in a request/response exchange, where Linux would
    /// otherwise delay the acknowledgement a server with Nagle's algorithm waits for.
    #[tokio::test]
    async fn reads_ending_a_line_switch_the_socket_to_quick_acks() {
        let quick = quick_after_each_round(b"data: ping\n\n").await;
        assert!(
            quick.iter().all(|q| *q),
            "delayed ACKs after a read: {quick:?}"
        );
    }

    /// Data that ends mid-line (a whole JSON answer) costs no `setsockopt`: the kernel's own
    /// choice (pingpong mode in a request/response exchange) is left as it is.
    #[tokio::test]
    async fn reads_ending_mid_line_leave_the_socket_alone() {
        let quick = quick_after_each_round(b"{\"ok\":true}").await;
        assert!(quick.iter().any(|q| !q), "quick ACKs forced: {quick:?}");
    }

    /// A read that ends a chunked body (a whole SSE answer at once) costs no `setsockopt`
    /// either: the answer is complete, the server waits on nothing.
    #[tokio::test]
    async fn reads_ending_a_chunked_body_leave_the_socket_alone() {
        let quick = quick_after_each_round(b"e\r\ndata: result\n\n\r\n0\r\n\r\n").await;
        assert!(quick.iter().any(|q| !q), "quick ACKs forced: {quick:?}");
    }
}
