//! HTTP/1.1 client connections over hyper 1, shared by the load generator and the one-off
//! probes (the pre-run check of each target, readiness checks of the children).
//!
//! Raw `hyper::client::conn` rather than a pooled client: the load generator needs exactly one
//! connection per worker with one request in flight, and a pool would hide reconnects.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, Result};
use bytes::Bytes;
use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Opens one keep-alive connection with Nagle off (small requests must not wait for ACKs).
/// The connection's driver runs as its own task and ends when the sender is dropped.
pub async fn connect<B>(addr: SocketAddr) -> Result<SendRequest<B>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One GET on a fresh connection, for probes and readiness checks.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(StatusCode, Bytes)> {
    tokio::time::timeout(timeout, async {
        let mut s = connect(addr).await?;
        let req = Request::get(path)
            .header(HOST, addr.to_string())
            .body(Empty::<Bytes>::new())?;
        let resp = s.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    })
    .await
    .map_err(|_| anyhow!("timed out after {timeout:?}"))?
}
