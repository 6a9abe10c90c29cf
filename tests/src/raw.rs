//! Raw TCP helpers for what an HTTP client library will not send or hide: malformed requests
//! ([`raw_exchange`]), connect probes and a hand-driven keep-alive connection ([`RawConn`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `bytes` on a fresh connection to `addr` and reads until EOF or `limit`; returns what
/// was read.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code in a raw HTTP/1.1 response (`HTTP/1.1 400 ...`).
pub fn raw_status(resp: &str) -> Option<u16> {
    resp.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Whether a TCP connect to `addr` succeeds (within 1 s).
pub async fn can_connect(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// One HTTP/1.1 keep-alive connection driven by hand, to prove a connection survives a change.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A response read from a [`RawConn`].
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl RawResponse {
    /// A header value ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

impl RawConn {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> RawConn {
        RawConn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    /// Sends `GET path` with keep-alive and reads one response (Content-Length framed), within 10 s.
    pub async fn get(&mut self, path: &str) -> RawResponse {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        self.stream
            .write_all(req.as_bytes())
            .await
            .expect("write on the kept-alive connection");
        tokio::time::timeout(Duration::from_secs(10), self.read_response())
            .await
            .expect("response on the kept-alive connection timed out")
    }

    /// Writes `bytes` as they are (a request head, a body, or part of one).
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("write on the kept-alive connection");
    }

    /// Reads the next response, within 10 s.
    pub async fn response(&mut self) -> RawResponse {
        tokio::time::timeout(Duration::from_secs(10), self.read_response())
            .await
            .expect("response on the kept-alive connection timed out")
    }

    async fn fill(&mut self) {
        let mut b = [0u8; 4096];
        let n = self.stream.read(&mut b).await.expect("read");
        assert!(n > 0, "the connection was closed");
        self.buf.extend_from_slice(&b[..n]);
    }

    async fn read_response(&mut self) -> RawResponse {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status =
            raw_status(&format!("{}\r\n", lines.next().unwrap_or(""))).expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().expect("content-length"))
            .expect("RawConn reads Content-Length framed responses only");
        while self.buf.len() < head_end + 4 + len {
            self.fill().await;
        }
        let body =
            String::from_utf8_lossy(&self.buf[head_end + 4..head_end + 4 + len]).into_owned();
        self.buf.drain(..head_end + 4 + len);
        RawResponse {
            status,
            headers,
            body,
        }
    }
}
