//! An A2A agent as an in-process MCP server ("agents as MCP tools"): each skill on the agent's
//! card becomes a tool; calling it sends the model's text to the agent as an A2A message and
//! returns the agent's answer as the tool result. `mcp-mux` mounts [`A2aToolsServer`] as a
//! target next to stdio, HTTP and OpenAPI targets, so MCP clients reach A2A agents with no
//! A2A support of their own.
//!
//! | module | job |
//! |---|---|
//! | [`card`] | fetch the card (`agent-card.json`, legacy `agent.json`), pick the JSON-RPC endpoint and dialect |
//! | [`skills`] | skills → tools (names, descriptions, input schema), call arguments |
//! | [`call`] | the A2A JSON-RPC client: blocking or streaming send, cancel, error shapes |
//! | [`outcome`] | fold results / stream events of both dialects into one outcome, progress texts |
//! | [`result`] | outcome or failure → MCP tool result |
//!
//! Why the card is fetched lazily ([`A2aToolsServer::new`]) as well as eagerly
//! ([`A2aToolsServer::connect`]): the gateway builds its targets while validating config, with
//! no network; an agent that is down at start must behave like any other target that is down
//! (its list fails, `failOpen` / `failClosed` decide), and must come up on its own later. The
//! card is re-read on `tools/list` at most every [`A2aToolsOptions::card_refresh`]; a failed
//! re-read keeps the last good card.

pub mod call;
pub mod card;
pub mod outcome;
pub mod result;
pub mod skills;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use url::Url;

pub use self::call::CallFailure;
pub use self::card::{AgentCardInfo, Skill};
pub use self::outcome::Outcome;
pub use self::skills::{CallArgs, ToolSet, SEND_MESSAGE};
use crate::method::Dialect;

/// Settings of one agent's tools.
#[derive(Debug, Clone)]
pub struct A2aToolsOptions {
    /// Longest a call may take, stream included (default 5 min: agents do real work).
    pub call_timeout: Duration,
    /// Longest a card fetch may take (default 10 s).
    pub card_timeout: Duration,
    /// `tools/list` re-reads the card when the copy is older than this (default 60 s).
    pub card_refresh: Duration,
    /// Headers sent on every request to the agent (card included): credentials, tenancy.
    pub headers: Vec<(String, String)>,
    /// The dialect to speak; `None` takes the card's preferred JSON-RPC interface. With
    /// `Some`, the card must list a JSON-RPC interface of that version.
    pub version: Option<Dialect>,
    /// Largest answer read from the agent (a blocking body, or a whole stream; default 16 MiB).
    pub max_response_bytes: usize,
    /// The target's `backendAuth`: a credential set on every request (card included), over
    /// a header of the same name in `headers`.
    pub backend_auth: Option<backend_auth::BackendAuth>,
}

impl Default for A2aToolsOptions {
    fn default() -> Self {
        A2aToolsOptions {
            call_timeout: Duration::from_secs(300),
            card_timeout: Duration::from_secs(10),
            card_refresh: Duration::from_secs(60),
            headers: Vec::new(),
            version: None,
            max_response_bytes: 16 * 1024 * 1024,
            backend_auth: None,
        }
    }
}

/// Why an agent's tools cannot be built or listed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum A2aToolsError {
    #[error("invalid agent URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader { name: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot read the agent card of {url}: {cause}")]
    CardFetch { url: String, cause: String },
    #[error("the agent card at {url} is not usable: {reason}")]
    InvalidCard { url: String, reason: String },
    #[error("the agent card at {url} lists no {wanted} interface (it lists: {found})")]
    NoJsonRpcInterface {
        url: String,
        wanted: &'static str,
        found: String,
    },
}

/// A card and the tools made from it, with when they were read.
struct Loaded {
    card: AgentCardInfo,
    tools: ToolSet,
    at: Instant,
}

struct Inner {
    base: Url,
    options: A2aToolsOptions,
    headers: HeaderMap,
    http: reqwest::Client,
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// One card fetch at a time; callers that waited reuse its result.
    fetching: tokio::sync::Mutex<()>,
}

impl Inner {
    /// What a call to the agent of `loaded`'s card needs.
    fn endpoint<'a>(&'a self, loaded: &'a Loaded) -> call::Endpoint<'a> {
        call::Endpoint {
            http: &self.http,
            card: &loaded.card,
            headers: &self.headers,
            auth: self.options.backend_auth.as_ref(),
            max_response_bytes: self.options.max_response_bytes,
        }
    }
}

/// The MCP server fronting one A2A agent. Cheap to clone (shared state), as `mcp-mux` clones
/// a handler per connection.
#[derive(Clone)]
pub struct A2aToolsServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for A2aToolsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A2aToolsServer")
            .field("url", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

impl A2aToolsServer {
    /// The server for the agent at `url` (its base URL, or its card's URL), without touching
    /// the network: the card is read on the first list or call. Fails on a bad URL or header.
    pub fn new(url: &str, options: A2aToolsOptions) -> Result<Self, A2aToolsError> {
        let base = Url::parse(url).map_err(|e| A2aToolsError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(A2aToolsError::InvalidUrl {
                url: url.to_owned(),
                reason: "an http:// or https:// URL with a host is required".to_owned(),
            });
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &options.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                A2aToolsError::InvalidHeader {
                    name: name.clone(),
                    reason: e.to_string(),
                }
            })?;
            let mut v = HeaderValue::from_str(value).map_err(|e| A2aToolsError::InvalidHeader {
                name: name.clone(),
                reason: e.to_string(),
            })?;
            v.set_sensitive(true);
            headers.append(n, v);
        }
        // netkit's client: the built-in roots plus `SSL_CERT_FILE`; no redirects.
        let http = netkit::reqwest_client(netkit::ReqwestOptions {
            connect_timeout: options.card_timeout,
            ..Default::default()
        })
        .map_err(|e| A2aToolsError::Client(e.to_string()))?;
        Ok(A2aToolsServer {
            inner: Arc::new(Inner {
                base,
                options,
                headers,
                http,
                loaded: RwLock::new(None),
                fetching: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// [`new`](Self::new), then reads the card now: an agent that is down or has no usable
    /// card is an error here rather than at the first list.
    pub async fn connect(url: &str, options: A2aToolsOptions) -> Result<Self, A2aToolsError> {
        let server = Self::new(url, options)?;
        server.refresh().await?;
        Ok(server)
    }

    /// The agent's URL as configured.
    pub fn url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The card as last read, if any.
    pub fn card(&self) -> Option<AgentCardInfo> {
        self.snapshot().map(|l| l.card.clone())
    }

    /// The tools as of the current card (read when missing or older than `card_refresh`).
    pub async fn tools(&self) -> Result<Vec<Tool>, A2aToolsError> {
        let loaded = self.current(self.inner.options.card_refresh).await?;
        Ok(loaded.tools.tools().to_vec())
    }

    /// Reads the card now; on failure the last good card (if any) stays.
    pub async fn refresh(&self) -> Result<(), A2aToolsError> {
        let _guard = self.inner.fetching.lock().await;
        self.fetch().await.map(|_| ())
    }

    fn snapshot(&self) -> Option<Arc<Loaded>> {
        self.inner
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn store(&self, loaded: Arc<Loaded>) {
        *self.inner.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
    }

    /// The card, read again when the copy is older than `max_age`. A failed re-read keeps the
    /// old copy (and waits `max_age` before trying again); with no copy it is an error.
    async fn current(&self, max_age: Duration) -> Result<Arc<Loaded>, A2aToolsError> {
        let fresh = |l: &Arc<Loaded>| l.at.elapsed() < max_age;
        if let Some(l) = self.snapshot().filter(fresh) {
            return Ok(l);
        }
        let _guard = self.inner.fetching.lock().await;
        // Someone else may have read it while this call waited.
        if let Some(l) = self.snapshot().filter(fresh) {
            return Ok(l);
        }
        match self.fetch().await {
            Ok(l) => Ok(l),
            Err(e) => match self.snapshot() {
                Some(old) => {
                    tracing::warn!(agent = %self.inner.base, error = %e,
                        "cannot re-read the A2A agent card; keeping the last good copy");
                    let kept = Arc::new(Loaded {
                        card: old.card.clone(),
                        tools: old.tools.clone(),
                        at: Instant::now(),
                    });
                    self.store(kept.clone());
                    Ok(kept)
                }
                None => Err(e),
            },
        }
    }

    /// Fetches and stores the card (caller holds `fetching`).
    async fn fetch(&self) -> Result<Arc<Loaded>, A2aToolsError> {
        let o = &self.inner.options;
        let card = card::fetch_card(
            &self.inner.http,
            &self.inner.base,
            &self.inner.headers,
            o.backend_auth.as_ref(),
            o.card_timeout,
            o.version,
        )
        .await?;
        let tools = ToolSet::from_card(&card);
        let loaded = Arc::new(Loaded {
            card,
            tools,
            at: Instant::now(),
        });
        self.store(loaded.clone());
        Ok(loaded)
    }

    /// Runs one call against the agent and maps the answer; never fails (agent-side problems
    /// are tool errors the model can see).
    async fn run_call(
        &self,
        loaded: Arc<Loaded>,
        args: CallArgs,
        skill: Option<String>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let inner = &self.inner;
        let endpoint = inner.endpoint(&loaded);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let token = context.meta.get_progress_token();
        let peer = context.peer.clone();
        // Progress: a counter per event, the event's text as the message. Sent from here,
        // inside the request's own future, so rmcp ties it to this request.
        let relay = async move {
            let mut n = 0u32;
            while let Some(text) = rx.recv().await {
                n += 1;
                if let Some(token) = &token {
                    let p = ProgressNotificationParam::new(token.clone(), f64::from(n))
                        .with_message(text);
                    if let Err(e) = peer.notify_progress(p).await {
                        tracing::debug!(error = %e, "cannot send a progress notification");
                    }
                }
            }
        };
        let mut outcome = Outcome::default();
        let timeout = inner.options.call_timeout;
        let ct = context.ct.clone();
        let call = {
            let outcome = &mut outcome;
            let endpoint = &endpoint;
            let (args, skill) = (&args, skill.as_deref());
            async move {
                let r = tokio::select! {
                    biased;
                    () = ct.cancelled() => Err(CallFailure::Cancelled),
                    r = tokio::time::timeout(timeout, endpoint.send(args, skill, outcome, &tx)) => {
                        r.unwrap_or(Err(CallFailure::Timeout(timeout)))
                    }
                };
                drop(tx);
                r
            }
        };
        let (r, ()) = tokio::join!(call, relay);
        match r {
            Ok(()) => result::to_call_result(&outcome),
            Err(failure) => {
                let abandoned = matches!(failure, CallFailure::Cancelled | CallFailure::Timeout(_));
                let task = outcome.task_id.clone().or_else(|| args.task_id.clone());
                if let (true, Some(task)) = (abandoned, task) {
                    self.cancel_in_background(loaded.clone(), task);
                }
                result::failure_result(&failure, &outcome)
            }
        }
    }

    /// Best-effort `CancelTask` for a call nobody waits for any more; its outcome is logged.
    fn cancel_in_background(&self, loaded: Arc<Loaded>, task: String) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            match inner.endpoint(&loaded).cancel(&task).await {
                Ok(()) => tracing::debug!(agent = %inner.base, %task, "cancelled the A2A task"),
                Err(e) => tracing::info!(agent = %inner.base, %task, error = %e,
                    "cannot cancel the abandoned A2A task"),
            }
        });
    }
}

impl ServerHandler for A2aToolsServer {
    fn get_info(&self) -> ServerConfig {
        let info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("a2a-tools", env!("CARGO_PKG_VERSION")));
        match self.snapshot() {
            Some(l) if !l.card.description.trim().is_empty() => info.with_instructions(format!(
                "Tools of the A2A agent \"{}\": {}",
                l.card.name,
                l.card.description.trim()
            )),
            _ => info,
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        match self.tools().await {
            Ok(tools) => Ok(ListToolsResult::with_all_items(tools)),
            Err(e) => Err(ErrorData::internal_error(
                format!("the A2A agent at {} is unavailable: {e}", self.inner.base),
                None,
            )),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let loaded = match self.current(Duration::MAX).await {
            Ok(l) => l,
            Err(e) => {
                let text = format!(
                    "The A2A agent at {} is unavailable: {e}. Try again later.",
                    self.inner.base
                );
                return Ok(CallToolResult::error(vec![ContentBlock::text(text)]).into());
            }
        };
        let name = request.name.as_ref();
        // A name from a newer card than the copy here: re-read (rate-limited) once.
        let loaded = if loaded.tools.skill_of(name).is_none() {
            self.current(self.inner.options.card_refresh)
                .await
                .unwrap_or(loaded)
        } else {
            loaded
        };
        let Some(skill) = loaded.tools.skill_of(name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {name:?} (this agent's tools: {})",
                    loaded.tools.names().join(", ")
                ),
                None,
            ));
        };
        let skill = skill.map(str::to_owned);
        let args = skills::parse_args(request.arguments.as_ref())
            .map_err(|m| ErrorData::invalid_params(format!("{name}: {m}"), None))?;
        Ok(self.run_call(loaded, args, skill, &context).await.into())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.snapshot()?.tools.tool(name).cloned()
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
