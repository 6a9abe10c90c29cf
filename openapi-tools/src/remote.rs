//! An MCP server for a document fetched from a URL, loaded lazily and refreshed.
//!
//! [`RemoteOpenApiServer::new`] touches no network (it also runs for `switchboard validate`
//! and on every config reload). The document is fetched on the first `tools/list` or
//! `tools/call`; the tools built from it are kept and served by the ordinary
//! [`OpenApiServer`]. With `refresh` set, a list or call that finds the copy older than that
//! fetches it again first; a failed re-fetch logs a warning and keeps serving the last good
//! copy (and waits another `refresh` before trying again). When no copy was ever loaded, a
//! failed fetch is an MCP error naming the URL and the cause — the multiplexer then treats
//! the target as failing (`failureMode` decides) — and the next use tries again.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::config::OpenApiConfig;
use crate::error::{Error, Result};
use crate::server::OpenApiServer;
use crate::toolset::OpenApiTools;
use backend_auth::BackendAuth;

/// The tools built from one fetch, and when it was made.
struct Loaded {
    server: OpenApiServer,
    at: Instant,
}

struct Inner {
    url: String,
    config: OpenApiConfig,
    refresh: Option<Duration>,
    http: reqwest::Client,
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// One fetch at a time; callers that waited reuse its result.
    fetching: tokio::sync::Mutex<()>,
}

/// MCP server for an OpenAPI document at an `http(s)://` URL. Cheap to clone (shared state),
/// as `mcp-mux` clones a handler per connection.
#[derive(Clone)]
pub struct RemoteOpenApiServer {
    inner: Arc<Inner>,
    /// Given to the tools of each fetch (API calls only: the document is fetched without it).
    backend_auth: Option<BackendAuth>,
}

impl std::fmt::Debug for RemoteOpenApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOpenApiServer")
            .field("url", &self.inner.url)
            .field("loaded", &self.snapshot().is_some())
            .finish_non_exhaustive()
    }
}

impl RemoteOpenApiServer {
    /// The server for `config.spec`, which must be an `http(s)://` URL, without touching the
    /// network. Fails on what the config alone shows wrong: the URL, `baseUrl`, `timeout`,
    /// `refresh`.
    pub fn new(config: OpenApiConfig) -> Result<Self> {
        let url = crate::source::required_spec_url(&config)?;
        let parsed =
            url::Url::parse(&url).map_err(|e| Error::Config(format!("spec URL {url:?}: {e}")))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(Error::Config(format!("spec URL {url:?} has no host")));
        }
        if let Some(base) = &config.base_url {
            crate::toolset::check_base(base)?;
        }
        config.timeout()?;
        let refresh = config.refresh()?;
        Ok(RemoteOpenApiServer {
            inner: Arc::new(Inner {
                url,
                config,
                refresh,
                http: crate::source::fetch_client()?,
                loaded: RwLock::new(None),
                fetching: tokio::sync::Mutex::new(()),
            }),
            backend_auth: None,
        })
    }

    /// Sets `auth`'s credential on every request to the API (not on the document's fetch).
    pub fn with_backend_auth(mut self, auth: Option<BackendAuth>) -> Self {
        self.backend_auth = auth;
        self
    }

    /// The document's URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The tools as last loaded, if any (no fetch).
    pub fn loaded(&self) -> Option<Arc<OpenApiTools>> {
        self.snapshot().map(|l| l.server.tools().clone())
    }

    /// The tools, fetched first when missing or older than `refresh`.
    pub async fn tools(&self) -> Result<Arc<OpenApiTools>> {
        Ok(self.current().await?.server.tools().clone())
    }

    /// Fetches the document now; on failure the last good copy (if any) stays.
    pub async fn reload(&self) -> Result<()> {
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

    fn is_fresh(&self, l: &Loaded) -> bool {
        self.inner.refresh.is_none_or(|max| l.at.elapsed() < max)
    }

    /// The loaded copy, fetched when missing or stale. A failed re-fetch keeps the old copy
    /// (and waits `refresh` before trying again); with no copy it is an error.
    async fn current(&self) -> Result<Arc<Loaded>> {
        if let Some(l) = self.snapshot().filter(|l| self.is_fresh(l)) {
            return Ok(l);
        }
        let _guard = self.inner.fetching.lock().await;
        // Someone else may have fetched it while this call waited.
        if let Some(l) = self.snapshot().filter(|l| self.is_fresh(l)) {
            return Ok(l);
        }
        match self.fetch().await {
            Ok(l) => Ok(l),
            Err(e) => match self.snapshot() {
                Some(old) => {
                    tracing::warn!(url = %self.inner.url, error = %e,
                        "cannot refresh the OpenAPI document; keeping the last good copy");
                    let kept = Arc::new(Loaded {
                        server: old.server.clone(),
                        at: Instant::now(),
                    });
                    self.store(kept.clone());
                    Ok(kept)
                }
                None => Err(e),
            },
        }
    }

    /// Fetches, converts and stores the document (caller holds `fetching`).
    async fn fetch(&self) -> Result<Arc<Loaded>> {
        let tools = OpenApiTools::load_url_with(&self.inner.http, self.inner.config.clone())
            .await?
            .with_backend_auth(self.backend_auth.clone());
        for problem in &tools.model().warnings {
            tracing::debug!(url = %self.inner.url, %problem, "OpenAPI document warning");
        }
        tracing::info!(url = %self.inner.url, tools = tools.len(), "loaded the OpenAPI document");
        let loaded = Arc::new(Loaded {
            server: OpenApiServer::new(Arc::new(tools)),
            at: Instant::now(),
        });
        self.store(loaded.clone());
        Ok(loaded)
    }

    fn unavailable(&self, e: &Error) -> ErrorData {
        ErrorData::internal_error(
            format!(
                "cannot load the OpenAPI document from {}: {e}",
                self.inner.url
            ),
            None,
        )
    }
}

impl ServerHandler for RemoteOpenApiServer {
    fn get_info(&self) -> ServerConfig {
        match self.snapshot() {
            Some(l) => l.server.get_info(),
            None => ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
                .with_server_info(Implementation::new(
                    "openapi-tools",
                    env!("CARGO_PKG_VERSION"),
                )),
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        let loaded = self.current().await.map_err(|e| self.unavailable(&e))?;
        loaded.server.list_tools(request, context).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let loaded = self.current().await.map_err(|e| self.unavailable(&e))?;
        loaded.server.call_tool(request, context).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.snapshot()?.server.get_tool(name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback HTTP server answering every request with the status and body set last.
    pub(crate) struct SpecServer {
        addr: std::net::SocketAddr,
        answer: Arc<Mutex<(u16, Vec<u8>)>>,
        hits: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for SpecServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl SpecServer {
        pub(crate) async fn start() -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let answer = Arc::new(Mutex::new((503, Vec::new())));
            let hits = Arc::new(AtomicUsize::new(0));
            let (a, h) = (answer.clone(), hits.clone());
            let task = tokio::spawn(async move {
                while let Ok((mut conn, _)) = listener.accept().await {
                    let (a, h) = (a.clone(), h.clone());
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match conn.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        h.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = a.lock().expect("answer").clone();
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\
                             content-type: application/yaml\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = conn.write_all(head.as_bytes()).await;
                        let _ = conn.write_all(&body).await;
                        let _ = conn.shutdown().await;
                    });
                }
            });
            SpecServer {
                addr,
                answer,
                hits,
                task,
            }
        }

        pub(crate) fn url(&self) -> String {
            format!("http://{}/openapi.yaml", self.addr)
        }

        pub(crate) fn serve(&self, status: u16, body: Vec<u8>) {
            *self.answer.lock().expect("answer") = (status, body);
        }

        pub(crate) fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    fn doc(op: &str) -> Vec<u8> {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  /x:\n    get:\n      \
             operationId: {op}\n      responses: {{'200': {{description: ok}}}}\n"
        )
        .into_bytes()
    }

    fn names(tools: &OpenApiTools) -> Vec<String> {
        tools.names().map(str::to_owned).collect()
    }

    #[tokio::test]
    async fn lazy_first_fetch_then_refresh_keeps_the_last_good_copy() {
        let spec = SpecServer::start().await;
        let mut config = OpenApiConfig::new(spec.url());
        config.base_url = Some("http://127.0.0.1:9".into());
        config.refresh = Some("200ms".into());
        let server = RemoteOpenApiServer::new(config).expect("valid config");
        assert_eq!(spec.hits(), 0, "nothing is fetched before the first use");
        assert!(server.loaded().is_none());

        // First fetch fails: an error naming the URL and the cause; nothing kept.
        let err = server.tools().await.unwrap_err();
        assert!(err.to_string().contains("HTTP 503"), "{err}");
        let mcp = server.unavailable(&err);
        assert!(mcp.message.contains(&spec.url()), "{}", mcp.message);
        // ... and the next use tries again.
        spec.serve(200, doc("first"));
        assert_eq!(names(&server.tools().await.expect("loads")), ["first"]);
        let hits = spec.hits();
        assert_eq!(hits, 2);
        // Fresh: no fetch.
        assert_eq!(names(&server.tools().await.expect("cached")), ["first"]);
        assert_eq!(spec.hits(), hits);

        // Stale and the document is gone: the last good copy is served.
        spec.serve(500, b"down".to_vec());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(names(&server.tools().await.expect("kept")), ["first"]);
        assert_eq!(spec.hits(), hits + 1, "the stale copy was re-fetched");
        // The failure does not make every use re-fetch: the next try waits for `refresh`.
        assert_eq!(names(&server.tools().await.expect("kept")), ["first"]);
        assert_eq!(spec.hits(), hits + 1);

        // Stale again and a new document: it replaces the old one.
        spec.serve(200, doc("second"));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(names(&server.tools().await.expect("new")), ["second"]);
        assert_eq!(
            server.get_tool("second").map(|t| t.name.to_string()),
            Some("second".to_string())
        );
    }

    #[tokio::test]
    async fn without_refresh_the_document_is_fetched_once() {
        let spec = SpecServer::start().await;
        spec.serve(200, doc("only"));
        let mut config = OpenApiConfig::new(spec.url());
        config.base_url = Some("http://127.0.0.1:9".into());
        let server = RemoteOpenApiServer::new(config).expect("valid config");
        for _ in 0..3 {
            assert_eq!(names(&server.tools().await.expect("loads")), ["only"]);
        }
        assert_eq!(spec.hits(), 1);
        // An explicit reload still fetches, and a failed one keeps the copy.
        spec.serve(404, Vec::new());
        assert!(server.reload().await.is_err());
        assert_eq!(names(&server.loaded().expect("kept")), ["only"]);
    }

    #[test]
    fn config_errors_show_without_a_fetch() {
        assert!(RemoteOpenApiServer::new(OpenApiConfig::new("spec.yaml")).is_err());
        let mut c = OpenApiConfig::new("http://127.0.0.1:1/x.yaml");
        c.refresh = Some("often".into());
        assert!(RemoteOpenApiServer::new(c.clone()).is_err());
        c.refresh = None;
        c.base_url = Some("ftp://x".into());
        assert!(RemoteOpenApiServer::new(c.clone()).is_err());
        c.base_url = None;
        assert!(RemoteOpenApiServer::new(c).is_ok());
    }
}
