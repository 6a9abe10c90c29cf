//! What a target is (name, transport, timeout, tool filter) and how to open a
//! fresh MCP client connection to it.
//!
//! A [`Target`] is only a recipe: nothing is spawned or dialled until the
//! multiplexer first needs the target, and the same recipe is used again to
//! reconnect after the process exits or the HTTP session is lost.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use backend_auth::{BackendAuth, BackendAuthConfig};
use http::{HeaderName, HeaderValue};
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ServerHandler, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader, DuplexStream};

use crate::config::{TargetConfig, TargetEra, TargetKindConfig};
use crate::upstream::client::UpstreamClient;
use crate::upstream::filter::ToolFilter;
use crate::upstream::http_client::McpHttpClient;
use crate::upstream::ordered_relay::OrderedRelay;
use crate::upstream::sse_client::SseClientTransport;
use crate::MuxError;
use rmcp::transport::IntoTransport;

/// Longest target name, so the target prefix survives shortening.
pub const MAX_TARGET_NAME_LEN: usize = 32;
/// Checks a target name against `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` and the length limit.
pub fn validate_target_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.len() > MAX_TARGET_NAME_LEN {
        return Err("must be at most 32 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("must use only a-z, 0-9 and '-'");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must start and end with a letter or digit");
    }
    Ok(())
}

/// Handshake timeout when the target sets none: long enough for `npx`/`uvx`
/// cold starts, short enough that a hung target does not hang a list forever.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Buffer of the in-memory pipe to an in-process server.
const DUPLEX_BUFFER: usize = 256 * 1024;

/// A connected MCP client session to one target.
pub(crate) type Client = RunningService<RoleClient, UpstreamClient>;

/// Starts one server session of an in-process target on the given pipe end.
type InProcessFactory = Arc<dyn Fn(DuplexStream) + Send + Sync>;

/// How a target is reached.
#[derive(Clone)]
pub(crate) enum TargetKind {
    Stdio {
        cmd: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        headers: HashMap<HeaderName, HeaderValue>,
    },
    /// Legacy HTTP+SSE (2024-11-05): `url` is the SSE stream.
    Sse {
        url: String,
        headers: HashMap<HeaderName, HeaderValue>,
    },
    InProcess(InProcessFactory),
}

impl fmt::Debug for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdio { cmd, args, .. } => write!(f, "stdio({cmd} {args:?})"),
            // Header values may be credentials: never print them.
            Self::Http { url, .. } => write!(f, "mcp({url})"),
            Self::Sse { url, .. } => write!(f, "sse({url})"),
            Self::InProcess(_) => write!(f, "in-process"),
        }
    }
}

/// One upstream MCP server of a virtual server.
#[derive(Debug, Clone)]
pub struct Target {
    pub(crate) name: String,
    pub(crate) kind: TargetKind,
    pub(crate) timeout: Option<Duration>,
    pub(crate) filter: ToolFilter,
    /// Stop the connection (a stdio process) after this long without a request.
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) era: TargetEra,
    /// Credentials added to each request (`mcp` and `sse` targets).
    pub(crate) backend_auth: Option<BackendAuth>,
}

impl Target {
    fn new(name: &str, kind: TargetKind) -> Result<Self, MuxError> {
        validate_target_name(name).map_err(|reason| MuxError::InvalidTargetName {
            name: name.to_owned(),
            reason,
        })?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            timeout: None,
            filter: ToolFilter::default(),
            idle_timeout: None,
            era: TargetEra::Auto,
            backend_auth: None,
        })
    }

    /// A local process speaking MCP over stdin/stdout. Its stderr goes to
    /// `tracing` (target `mcp_mux::stderr`) instead of the gateway's own output.
    pub fn stdio(
        name: &str,
        cmd: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, MuxError> {
        Self::new(
            name,
            TargetKind::Stdio {
                cmd: cmd.into(),
                args: args.into_iter().map(Into::into).collect(),
                env: BTreeMap::new(),
            },
        )
    }

    /// A remote Streamable HTTP MCP server.
    pub fn http(name: &str, url: impl Into<String>) -> Result<Self, MuxError> {
        let url = http_url(name, url.into())?;
        Self::new(
            name,
            TargetKind::Http {
                url,
                headers: HashMap::new(),
            },
        )
    }

    /// A remote MCP server on the legacy HTTP+SSE transport (2024-11-05); `url` is its SSE
    /// stream (`http://127.0.0.1:3002/sse`), which names the URL to POST to.
    pub fn sse(name: &str, url: impl Into<String>) -> Result<Self, MuxError> {
        let url = http_url(name, url.into())?;
        Self::new(
            name,
            TargetKind::Sse {
                url,
                headers: HashMap::new(),
            },
        )
    }

    /// Any rmcp server in this process (e.g. `openapi_tools::server::OpenApiServer`),
    /// connected through an in-memory pipe. Each (re)connect serves a clone of
    /// `handler`, so per-session state in the handler starts fresh.
    pub fn in_process<H>(name: &str, handler: H) -> Result<Self, MuxError>
    where
        H: ServerHandler + Clone,
    {
        let factory: InProcessFactory = Arc::new(move |io: DuplexStream| {
            let handler = handler.clone();
            tokio::spawn(async move {
                if let Ok(running) = handler.serve(io).await {
                    let _ = running.waiting().await;
                }
            });
        });
        Self::new(name, TargetKind::InProcess(factory))
    }

    /// Builds a `stdio`, `mcp` or `sse` target from config. Other kinds need crates
    /// this one does not depend on: build their server and use
    /// [`Target::in_process_from_config`].
    pub fn from_config(cfg: &TargetConfig) -> Result<Self, MuxError> {
        let mut t = match cfg.kind()? {
            TargetKindConfig::Stdio(s) => {
                let mut t = Self::stdio(&cfg.name, &s.cmd, &s.args)?;
                for (k, v) in &s.env {
                    t = t.with_env(k, v);
                }
                t.idle_timeout = s.idle_timeout.map(|d| d.0);
                t
            }
            TargetKindConfig::Mcp(h) => {
                let mut t = Self::http(&cfg.name, &h.url)?;
                for (k, v) in &h.headers {
                    t = t.with_header(k, v)?;
                }
                t
            }
            TargetKindConfig::Sse(h) => {
                let mut t = Self::sse(&cfg.name, &h.url)?;
                for (k, v) in &h.headers {
                    t = t.with_header(k, v)?;
                }
                t
            }
            TargetKindConfig::OpenApi(_) => return Err(unsupported(cfg, "openapi")),
            TargetKindConfig::A2a(_) => return Err(unsupported(cfg, "a2a")),
        };
        t.apply_common(cfg);
        if let Some(auth) = backend_auth(cfg)? {
            t = t.with_backend_auth(auth)?;
        }
        Ok(t)
    }

    /// An in-process target carrying `cfg`'s name, timeout and tool filter. Its
    /// `policies.backendAuth` is for the handler's own requests, so it is refused here
    /// rather than ignored: build it with [`backend_auth`], give it to the handler, and pass
    /// a config without it.
    pub fn in_process_from_config<H>(cfg: &TargetConfig, handler: H) -> Result<Self, MuxError>
    where
        H: ServerHandler + Clone,
    {
        if cfg.backend_auth().is_some() {
            return Err(MuxError::InvalidTarget {
                target: cfg.name.clone(),
                message: "policies.backendAuth of an in-process target is applied by its \
                          server; this server was built without it"
                    .into(),
            });
        }
        let mut t = Self::in_process(&cfg.name, handler)?;
        t.apply_common(cfg);
        Ok(t)
    }

    fn apply_common(&mut self, cfg: &TargetConfig) {
        self.timeout = cfg.timeout.map(|d| d.0);
        self.era = cfg.era.unwrap_or_default();
        self.filter = cfg.tools.clone().unwrap_or_default();
    }

    /// Stops the target's connection (a stdio process) after `idle` without a request; the
    /// next use starts it again.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// Adds an environment variable for a stdio target (ignored by other kinds).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let TargetKind::Stdio { env, .. } = &mut self.kind {
            env.insert(key.into(), value.into());
        }
        self
    }

    /// Adds a header sent with every request of an HTTP or SSE target (ignored by other kinds).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, MuxError> {
        let target = self.name.clone();
        if let TargetKind::Http { headers, .. } | TargetKind::Sse { headers, .. } = &mut self.kind {
            let n =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| MuxError::InvalidTarget {
                    target: target.clone(),
                    message: format!("invalid header name {name:?}"),
                })?;
            let v = HeaderValue::from_str(value).map_err(|_| MuxError::InvalidTarget {
                target,
                message: format!("header {name:?} has an invalid value"),
            })?;
            headers.insert(n, v);
        }
        Ok(self)
    }

    /// Adds `auth`'s credential to every request of an `mcp` or `sse` target (refreshing
    /// OAuth2 tokens as they expire or are refused). A header of the same name set with
    /// [`Self::with_header`] is an error: one of the two would be dropped in silence.
    pub fn with_backend_auth(mut self, auth: BackendAuth) -> Result<Self, MuxError> {
        let invalid = |message: String| MuxError::InvalidTarget {
            target: self.name.clone(),
            message,
        };
        match &self.kind {
            TargetKind::Http { headers, .. } | TargetKind::Sse { headers, .. } => {
                let name = auth.header_name();
                if headers.contains_key(&name) {
                    return Err(invalid(format!(
                        "the header {name:?} is set both in the target's headers and by \
                         policies.backendAuth; keep one"
                    )));
                }
            }
            TargetKind::Stdio { .. } => {
                return Err(invalid(
                    "policies.backendAuth applies to HTTP targets; give a stdio process its \
                     credentials in stdio.env"
                        .into(),
                ))
            }
            TargetKind::InProcess(_) => {
                return Err(invalid(
                    "policies.backendAuth of an in-process target is applied by its server".into(),
                ))
            }
        }
        self.backend_auth = Some(auth);
        Ok(self)
    }

    /// Bounds the handshake and every request to this target.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Exposes only the tools `filter` allows.
    pub fn with_filter(mut self, filter: ToolFilter) -> Self {
        self.filter = filter;
        self
    }

    /// The target's name (the prefix of its tools when there are several targets).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the protocol era spoken to the target (default [`TargetEra::Auto`]).
    pub fn with_era(mut self, era: TargetEra) -> Self {
        self.era = era;
        self
    }

    /// Opens a new MCP session to the target in its era; for `mcp` targets, also the HTTP
    /// client that can join a legacy session (`upstream::direct`). With [`TargetEra::Auto`],
    /// `first` is tried first (the era that worked last time) and then the other; the era
    /// that worked is returned.
    pub(crate) async fn connect(
        &self,
        client: UpstreamClient,
        first: Lifecycle,
    ) -> Result<Opened, MuxError> {
        let order = match (self.era, &self.kind) {
            // HTTP+SSE is a 2024-11-05 transport: there is no modern way to speak it.
            (_, TargetKind::Sse { .. }) | (TargetEra::Legacy, _) => vec![Lifecycle::Legacy],
            (TargetEra::Modern, _) => vec![Lifecycle::Modern],
            (TargetEra::Auto, _) => vec![first, first.other()],
        };
        let mut failures = Vec::new();
        for lifecycle in order {
            match self.connect_once(client.clone(), lifecycle).await {
                Ok(mut opened) => {
                    opened.lifecycle = lifecycle;
                    if !failures.is_empty() {
                        tracing::info!(mcp_target = %self.name, era = lifecycle.name(), "MCP target speaks the {} era", lifecycle.name());
                    }
                    return Ok(opened);
                }
                // A process that cannot start, or a host that does not answer in time, will
                // not do better in the other era.
                Err(e @ (MuxError::Spawn { .. } | MuxError::Timeout { .. })) => return Err(e),
                Err(e) => failures.push((lifecycle, e)),
            }
        }
        let message = failures
            .iter()
            .map(|(lifecycle, e)| match e {
                MuxError::Connect { message, .. } => format!("{}: {message}", lifecycle.name()),
                other => format!("{}: {other}", lifecycle.name()),
            })
            .collect::<Vec<_>>()
            .join("; then ");
        Err(MuxError::Connect {
            target: self.name.clone(),
            message,
        })
    }

    async fn connect_once(
        &self,
        client: UpstreamClient,
        lifecycle: Lifecycle,
    ) -> Result<Opened, MuxError> {
        let timeout = self.timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let fut = self.connect_inner(client, lifecycle);
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(MuxError::Timeout {
                target: self.name.clone(),
                timeout,
            }),
        }
    }

    async fn connect_inner(
        &self,
        client: UpstreamClient,
        lifecycle: Lifecycle,
    ) -> Result<Opened, MuxError> {
        let opened = |running, http, pid| Opened {
            running,
            http,
            pid,
            lifecycle,
        };
        let connect_err = |e: rmcp::service::ClientInitializeError| MuxError::Connect {
            target: self.name.clone(),
            message: e.to_string(),
        };
        match &self.kind {
            TargetKind::Stdio { cmd, args, env } => {
                let mut command = tokio::process::Command::new(cmd);
                command.args(args).envs(env);
                let (transport, stderr) = TokioChildProcess::builder(command)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|source| MuxError::Spawn {
                        target: self.name.clone(),
                        cmd: cmd.clone(),
                        source,
                    })?;
                if let Some(stderr) = stderr {
                    let name = self.name.clone();
                    // Drained until EOF, i.e. until the process exits: a full
                    // stderr pipe would otherwise block the child.
                    tokio::spawn(async move {
                        let mut lines = BufReader::new(stderr).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            tracing::info!(target: "mcp_mux::stderr", mcp_target = %name, "{line}");
                        }
                    });
                }
                let pid = transport.id();
                let transport = ordered(transport, &client);
                let running = lifecycle
                    .serve(client, transport)
                    .await
                    .map_err(connect_err)?;
                Ok(opened(running, None, pid))
            }
            TargetKind::Http { url, headers } => {
                let cfg = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(headers.clone());
                // Our reqwest 0.12 client (TLS, `SSL_CERT_FILE`), not rmcp's reqwest 0.13 one.
                let connect_timeout = self.timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
                let http = McpHttpClient::new(connect_timeout, self.backend_auth.clone());
                let transport = StreamableHttpClientTransport::with_client(http.clone(), cfg);
                let transport = ordered(transport, &client);
                let running = lifecycle
                    .serve(client, transport)
                    .await
                    .map_err(connect_err)?;
                Ok(opened(running, Some(http), None))
            }
            TargetKind::Sse { url, headers } => {
                let timeout = self.timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let auth = self.backend_auth.clone();
                let transport =
                    SseClientTransport::connect(&self.name, url, headers, auth, timeout)
                        .await
                        .map_err(|e| MuxError::Connect {
                            target: self.name.clone(),
                            message: e.to_string(),
                        })?;
                let transport = ordered(transport, &client);
                let running = client.serve(transport).await.map_err(connect_err)?;
                Ok(opened(running, None, None))
            }
            TargetKind::InProcess(factory) => {
                let (client_io, server_io) = tokio::io::duplex(DUPLEX_BUFFER);
                factory(server_io);
                let transport = ordered(client_io, &client);
                let running = lifecycle
                    .serve(client, transport)
                    .await
                    .map_err(connect_err)?;
                Ok(opened(running, None, None))
            }
        }
    }
}

/// `transport` with progress and log messages relayed on its read path (see [`OrderedRelay`]).
fn ordered<T, E, A>(
    transport: T,
    client: &UpstreamClient,
) -> OrderedRelay<impl rmcp::transport::Transport<rmcp::RoleClient, Error = E>>
where
    T: IntoTransport<rmcp::RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    OrderedRelay {
        inner: transport.into_transport(),
        target: client.target.clone(),
        progress: client.progress.clone(),
        calls: client.questions.clone(),
        notices: client.notices.clone(),
    }
}

/// `url` if it is an http(s) URL.
fn http_url(name: &str, url: String) -> Result<String, MuxError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(MuxError::InvalidTarget {
            target: name.to_owned(),
            message: format!("url {url:?} must start with http:// or https://"),
        })
    }
}

/// Builds `cfg`'s `policies.backendAuth`, if set. Its OAuth2 token requests go out with the
/// TLS roots of the target connections (`SSL_CERT_FILE` added) and the target's timeout as
/// their connect timeout.
pub fn backend_auth(cfg: &TargetConfig) -> Result<Option<BackendAuth>, MuxError> {
    let Some(config) = cfg.backend_auth() else {
        return Ok(None);
    };
    let invalid = |message: String| MuxError::InvalidTarget {
        target: cfg.name.clone(),
        message,
    };
    let place = "on an MCP target: the gateway shares one upstream session among its clients, \
                 and MCP forbids passing a client's token on (use key, oauth2, gcp or aws)";
    let connect_timeout = cfg.timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0);
    build_backend_auth(config, place, connect_timeout)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

/// Builds a `backendAuth` policy (see [`BackendAuth::new`] for `place`) whose OAuth2 token
/// requests use the gateway's TLS roots (with `SSL_CERT_FILE`'s) and `connect_timeout`.
pub fn build_backend_auth(
    config: &BackendAuthConfig,
    place: &str,
    connect_timeout: Duration,
) -> Result<BackendAuth, backend_auth::AuthError> {
    BackendAuth::new(config, place, || {
        netkit::reqwest_client(netkit::ReqwestOptions {
            connect_timeout,
            ..Default::default()
        })
        .map_err(|e| e.to_string())
    })
}

fn unsupported(cfg: &TargetConfig, kind: &'static str) -> MuxError {
    MuxError::Unsupported {
        target: cfg.name.clone(),
        kind,
    }
}

/// A connection just opened to a target.
pub(crate) struct Opened {
    pub(crate) running: Client,
    /// `mcp` targets: the HTTP client that can join a legacy session (`upstream::direct`).
    pub(crate) http: Option<McpHttpClient>,
    /// `stdio` targets: the process id, to tell a process that has exited before a request
    /// is sent to it.
    pub(crate) pid: Option<u32>,
    pub(crate) lifecycle: Lifecycle,
}

/// How a connection opens: `initialize` (2025 era) or `server/discover` (2026-07-28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Legacy,
    Modern,
}

impl Lifecycle {
    fn other(self) -> Self {
        match self {
            Self::Legacy => Self::Modern,
            Self::Modern => Self::Legacy,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Legacy => "legacy (initialize)",
            Self::Modern => "2026-07-28 (server/discover)",
        }
    }

    async fn serve<T, E, A>(
        self,
        client: UpstreamClient,
        transport: T,
    ) -> Result<Client, rmcp::service::ClientInitializeError>
    where
        T: IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        match self {
            Self::Legacy => client.serve(transport).await,
            Self::Modern => {
                let mode = ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                };
                client.serve_with_lifecycle(transport, mode).await
            }
        }
    }
}
