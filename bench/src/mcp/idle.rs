//! Memory per idle legacy session: the gateway's resident memory before and after `n` clients
//! each ran `initialize` (and `notifications/initialized`) and then went quiet, plus a check that
//! the idle sessions still work. Sessions are sealed ids the gateway does not store, so the
//! expected cost is close to nothing; this row is the evidence.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::procfs::rss_kib;

/// Sessions opened at once while filling.
const FILL_CONCURRENCY: usize = 32;
/// Idle sessions used again at the end, to show they still work.
const PROBES: usize = 10;

/// What [`measure`] found.
pub struct IdleSessions {
    pub sessions: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// Probed sessions that answered `tools/list` after idling.
    pub probes_ok: usize,
    pub probes: usize,
}

impl IdleSessions {
    /// Resident memory added per session, in bytes (0 when RSS went down).
    pub fn bytes_per_session(&self) -> f64 {
        let grown = self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0;
        grown / self.sessions.max(1) as f64
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Opens `n` sessions on the gateway at `url` (process `pid`), lets them idle, and measures.
pub async fn measure(url: &str, pid: u32, n: usize) -> Result<IdleSessions> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    // Warm the gateway's own first-use allocations (the target connection, the list cache) so
    // they do not count as session cost.
    let first = initialize(&client, url).await.context("first initialize")?;
    list(&client, url, &first)
        .await
        .context("first tools/list")?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rss_before_kib = rss_kib(pid).context("reading the gateway's RSS")?;

    let mut ids = Vec::with_capacity(n);
    let mut pending = futures_unordered(&client, url, n);
    while let Some(id) = pending.next_id().await {
        ids.push(id?);
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let rss_after_kib = rss_kib(pid).context("reading the gateway's RSS")?;

    let step = (ids.len() / PROBES).max(1);
    let mut probes_ok = 0;
    let mut probes = 0;
    for id in ids.iter().step_by(step).take(PROBES) {
        probes += 1;
        if list(&client, url, id).await.is_ok() {
            probes_ok += 1;
        }
    }
    Ok(IdleSessions {
        sessions: ids.len(),
        rss_before_kib,
        rss_after_kib,
        probes_ok,
        probes,
    })
}

/// `n` initializations, at most [`FILL_CONCURRENCY`] at a time.
fn futures_unordered<'a>(client: &'a HttpClient, url: &'a str, n: usize) -> Filler<'a> {
    Filler {
        client,
        url,
        left: n,
        running: tokio::task::JoinSet::new(),
    }
}

struct Filler<'a> {
    client: &'a HttpClient,
    url: &'a str,
    left: usize,
    running: tokio::task::JoinSet<Result<String>>,
}

impl Filler<'_> {
    async fn next_id(&mut self) -> Option<Result<String>> {
        while self.left > 0 && self.running.len() < FILL_CONCURRENCY {
            self.left -= 1;
            let (client, url) = (self.client.clone(), self.url.to_owned());
            self.running
                .spawn(async move { initialize(&client, &url).await });
        }
        let joined = self.running.join_next().await?;
        Some(joined.context("initialize task").and_then(|r| r))
    }
}

async fn post(
    client: &HttpClient,
    url: &str,
    session: Option<&str>,
    body: serde_json::Value,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes)> {
    let mut req = http::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let req = req.body(Full::new(Bytes::from(body.to_string())))?;
    let resp = tokio::time::timeout(std::time::Duration::from_secs(10), client.request(req))
        .await
        .context("request timed out")??;
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

/// `initialize` then `notifications/initialized`; the session id.
async fn initialize(client: &HttpClient, url: &str) -> Result<String> {
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench-mcp-idle", "version": "1"}}});
    let (status, headers, body) = post(client, url, None, init).await?;
    if !status.is_success() {
        bail!(
            "initialize: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let id = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .context("initialize: no Mcp-Session-Id")?
        .to_owned();
    let done = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = post(client, url, Some(&id), done).await?;
    if !status.is_success() {
        bail!("notifications/initialized: HTTP {status}");
    }
    Ok(id)
}

async fn list(client: &HttpClient, url: &str, session: &str) -> Result<()> {
    let req = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (status, _, body) = post(client, url, Some(session), req).await?;
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() || !text.contains("\"tools\"") {
        bail!("tools/list: HTTP {status}: {text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_session_cost_is_growth_over_sessions_and_never_negative() {
        let r = |before, after| IdleSessions {
            sessions: 1000,
            rss_before_kib: before,
            rss_after_kib: after,
            probes_ok: 0,
            probes: 0,
        };
        assert_eq!(r(1000, 2000).bytes_per_session(), 1024.0);
        assert_eq!(r(2000, 1000).bytes_per_session(), 0.0);
    }
}
