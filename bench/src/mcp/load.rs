//! The MCP load generator: one rmcp client session per worker, one request in flight each
//! (closed loop), latencies in an HDR histogram.
//!
//! Sessions are opened (MCP `initialize`) before the clock starts, so the handshake is not
//! measured; only requests that start and finish inside the measured window count, as in
//! [`crate::load`].

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use rmcp::model::ProtocolVersion;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, JsonObject, ListToolsRequest, ServerResult,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use tokio::time::Instant;

/// Highest latency tracked; slower requests are clamped (and would be a failure anyway).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// An open client session.
pub type Session = RunningService<RoleClient, ()>;

/// What each request of a scenario is.
#[derive(Clone)]
pub enum Op {
    /// `tools/call` of `tool` with a short `text` argument; the answer must echo it.
    Call { tool: Arc<str> },
    /// `tools/list`; the answer must hold `tools` tools (one per target behind a gateway).
    List { tools: usize },
}

/// What the sessions saw in the measured window, merged over all of them.
pub struct McpLoad {
    hist: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    /// Only the first error is kept: enough to diagnose without flooding the output.
    pub first_error: Option<String>,
}

impl McpLoad {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1_000, MAX_LATENCY_NS, 3)
                .context("histogram bounds")?,
            ok: 0,
            errors: 0,
            first_error: None,
        })
    }

    pub(crate) fn merge(&mut self, o: McpLoad) -> Result<()> {
        self.hist.add(&o.hist).context("merging histograms")?;
        self.ok += o.ok;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        Ok(())
    }

    /// Counts one request that ran from `t0` to `t1` with outcome `r`, if it started and
    /// finished inside the measured window `[measure_start, end]`.
    pub(crate) fn record(
        &mut self,
        (t0, t1): (Instant, Instant),
        (measure_start, end): (Instant, Instant),
        r: Result<()>,
    ) {
        if t0 < measure_start || t1 > end {
            return;
        }
        match r {
            Ok(()) => {
                self.ok += 1;
                let ns = u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX);
                self.hist.saturating_record(ns.min(MAX_LATENCY_NS));
            }
            Err(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }

    /// Successful requests per second over a window of `secs`.
    pub fn rps(&self, secs: f64) -> f64 {
        self.ok as f64 / secs
    }

    /// The `q`th percentile latency in µs (`q` in 0..=100); NaN when nothing succeeded.
    pub fn pct_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.value_at_quantile(q / 100.0) as f64 / 1_000.0
    }
}

/// Which protocol era a client speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Era {
    /// `initialize` and an `Mcp-Session-Id` (2025-11-25 and older).
    Legacy,
    /// Stateless, `server/discover` and per-request `_meta` (2026-07-28).
    Modern,
}

impl Era {
    fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Era::Legacy => ClientLifecycleMode::Initialize,
            Era::Modern => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        }
    }
}

/// How a client session uses TCP connections.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Connections {
    /// Kept alive and reused (httpx, fetch).
    Pooled,
    /// A new one per request (rmcp's default client).
    Fresh,
}

/// Opens `n` sessions to `url` concurrently, in `era`, each with its own HTTP client.
pub async fn open_sessions(
    url: &str,
    n: usize,
    era: Era,
    connections: Connections,
) -> Result<Vec<Session>> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let transport = match connections {
            Connections::Fresh => StreamableHttpClientTransport::from_uri(url.to_string()),
            Connections::Pooled => {
                let http = reqwest013::Client::builder()
                    .tcp_nodelay(true)
                    .build()
                    .context("building the HTTP client")?;
                StreamableHttpClientTransport::with_client(
                    http,
                    StreamableHttpClientTransportConfig::with_uri(url.to_string()),
                )
            }
        };
        tasks.push(tokio::spawn(async move {
            ().serve_with_lifecycle(transport, era.lifecycle()).await
        }));
    }
    let mut sessions = Vec::with_capacity(n);
    for t in tasks {
        let s = t
            .await
            .context("session task")?
            .with_context(|| format!("MCP initialize with {url}"))?;
        sessions.push(s);
    }
    Ok(sessions)
}

/// Closes the sessions (the client side ends its transport, which tells the server).
pub async fn close_sessions(sessions: Vec<Session>) {
    for s in sessions {
        let _ = s.cancel().await;
    }
}

/// One request on `session`, checked: an answer with the wrong content is an error, so a
/// gateway answering quickly with errors cannot look fast.
pub async fn one(session: &Session, op: &Op, seq: u64) -> Result<()> {
    match op {
        Op::Call { tool } => {
            let want = format!("ping {seq}");
            let mut args = JsonObject::new();
            args.insert("text".into(), serde_json::Value::String(want.clone()));
            let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args);
            let r = session.call_tool(params).await?;
            let got = r.content.first().and_then(|c| c.as_text()).map(|t| &t.text);
            if r.is_error == Some(true) || got != Some(&want) {
                bail!("tools/call {tool}: unexpected answer {:?}", r.content);
            }
        }
        Op::List { tools } => {
            // Sent as a raw request: the rmcp client's `list_tools` may answer from its
            // response cache, which would measure the cache instead of the gateway.
            let req = ListToolsRequest {
                method: Default::default(),
                params: None,
                extensions: Default::default(),
            };
            match session
                .send_request(ClientRequest::ListToolsRequest(req))
                .await?
            {
                ServerResult::ListToolsResult(r) if r.tools.len() == *tools => {}
                ServerResult::ListToolsResult(r) => {
                    bail!("tools/list: {} tools, expected {tools}", r.tools.len())
                }
                other => bail!("tools/list: unexpected answer {other:?}"),
            }
        }
    }
    Ok(())
}

/// Runs `op` in a closed loop on every session from now until `end`, counting requests that
/// start at or after `measure_start`. Returns the sessions (for reuse or closing) and the
/// merged result.
pub async fn run_load(
    sessions: Vec<Session>,
    op: Op,
    measure_start: Instant,
    end: Instant,
) -> Result<(Vec<Session>, McpLoad)> {
    let mut tasks = Vec::with_capacity(sessions.len());
    for session in sessions {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut res = McpLoad::new()?;
            let mut seq = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                seq += 1;
                let r = one(&session, &op, seq).await;
                res.record((t0, Instant::now()), (measure_start, end), r);
            }
            anyhow::Ok((session, res))
        }));
    }
    let mut total = McpLoad::new()?;
    let mut sessions = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (s, r) = t.await.context("load task")??;
        sessions.push(s);
        total.merge(r)?;
    }
    Ok((sessions, total))
}
