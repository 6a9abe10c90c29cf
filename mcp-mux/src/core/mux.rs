//! [`Multiplexer`]: the virtual MCP server, an rmcp `ServerHandler` that
//! aggregates its targets.
//!
//! Clones share the upstream connections, so one multiplexer can serve every
//! downstream session of a route: a stdio target runs one process, not one per
//! client. Targets connect on first use and reconnect after their transport
//! dies.

mod bridge;
mod interest;
mod listing;
mod tasks;

use std::sync::{Arc, RwLock};

use futures_util::future::join_all;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, CompleteRequestParams, ErrorData, GetMeta as _,
    GetPromptRequestParams, Implementation, PaginatedRequestParams, ReadResourceRequestParams,
    Reference, Request, ResourceContents, ServerCapabilities, ServerConfig, ServerResult,
};

use crate::core::context::CallContext;

use crate::config::{FailureMode, McpBackendConfig};
use crate::core::lists::{resolve, Fanout, NameTable};
use crate::core::naming;
use crate::core::notices::Notices;
use crate::metrics::{MuxMetrics, NoMetrics};
use crate::policy::Item;
use crate::upstream::list_cache::ListKind;
use crate::upstream::list_cache::DEFAULT_LIST_CACHE_TTL;
use crate::upstream::list_cache::{Generation, ListCache, MergedLists};
use crate::upstream::logging::WantedLevel;
use crate::upstream::progress::ProgressRouter;
use crate::upstream::target::Target;
use crate::upstream::{Retry, TargetState, Upstream};
use crate::MuxError;
use authz::McpKind;

struct Inner {
    /// Shared with the probe of down targets, which ends when the multiplexer is dropped.
    upstreams: Arc<Vec<Arc<Upstream>>>,
    /// Started on first use, on the runtime serving it (a multiplexer may be built before any
    /// runtime exists, as the gateway loads its config first).
    probe: std::sync::Once,
    failure_mode: FailureMode,
    server_info: Implementation,
    names: NameTable,
    merged_info: RwLock<Option<ServerConfig>>,
    notices: Arc<Notices>,
    merged_lists: MergedLists,
    levels: Arc<WantedLevel>,
    /// Where the measurements go, for the front end's too (calls in flight).
    metrics: Arc<dyn MuxMetrics>,
}

/// The virtual MCP server. Serve it with rmcp like any `ServerHandler`.
#[derive(Clone)]
pub struct Multiplexer {
    inner: Arc<Inner>,
}

/// Builds a [`Multiplexer`].
pub struct MultiplexerBuilder {
    targets: Vec<Target>,
    failure_mode: FailureMode,
    metrics: Arc<dyn MuxMetrics>,
    server_info: Implementation,
    list_cache_ttl: std::time::Duration,
}

impl MultiplexerBuilder {
    /// How long each target's first list pages are reused (default
    /// [`DEFAULT_LIST_CACHE_TTL`]; zero turns the cache off). A target's
    /// `list_changed` notification drops its pages at once.
    pub fn list_cache_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.list_cache_ttl = ttl;
        self
    }

    /// Adds a target.
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// Sets what lists do when a target fails (default `failOpen`).
    pub fn failure_mode(mut self, mode: FailureMode) -> Self {
        self.failure_mode = mode;
        self
    }

    /// Where request counts and up/down changes are reported.
    pub fn metrics(mut self, metrics: Arc<dyn MuxMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The `serverInfo` shown to clients when there are several targets.
    pub fn server_info(mut self, info: Implementation) -> Self {
        self.server_info = info;
        self
    }

    /// Checks the targets (at least one, unique names) and builds. Connects nothing.
    pub fn build(self) -> Result<Multiplexer, MuxError> {
        if self.targets.is_empty() {
            return Err(MuxError::NoTargets);
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.targets {
            if !seen.insert(t.name.clone()) {
                return Err(MuxError::DuplicateTarget(t.name.clone()));
            }
        }
        let progress = Arc::new(ProgressRouter::default());
        let notices = Arc::new(Notices::new(self.targets.len() > 1));
        let levels = Arc::new(WantedLevel::default());
        let generation = Arc::new(Generation::default());
        let ttl = self.list_cache_ttl;
        let upstreams: Vec<Arc<Upstream>> = self
            .targets
            .into_iter()
            .map(|t| {
                Arc::new(Upstream::new(
                    t,
                    self.metrics.clone(),
                    progress.clone(),
                    notices.clone(),
                    ListCache::new(ttl, generation.clone()),
                    levels.clone(),
                ))
            })
            .collect();
        Ok(Multiplexer {
            inner: Arc::new(Inner {
                upstreams: Arc::new(upstreams),
                probe: std::sync::Once::new(),
                failure_mode: self.failure_mode,
                server_info: self.server_info,
                names: NameTable::default(),
                merged_info: RwLock::new(None),
                notices,
                merged_lists: MergedLists::new(ttl, generation),
                levels,
                metrics: self.metrics,
            }),
        })
    }
}

impl Multiplexer {
    /// Starts a builder with no targets, `failOpen` and no metrics.
    pub fn builder() -> MultiplexerBuilder {
        MultiplexerBuilder {
            targets: Vec::new(),
            failure_mode: FailureMode::default(),
            metrics: Arc::new(NoMetrics),
            server_info: Implementation::new("switchboard", env!("CARGO_PKG_VERSION")),
            list_cache_ttl: DEFAULT_LIST_CACHE_TTL,
        }
    }

    /// Builds from config when every target is `stdio` or `mcp`. Backends with
    /// `openapi`/`a2a` targets use the builder and [`Target::in_process_from_config`].
    pub fn from_config(
        cfg: &McpBackendConfig,
        metrics: Arc<dyn MuxMetrics>,
    ) -> Result<Self, MuxError> {
        cfg.validate()?;
        let mut b = Self::builder()
            .failure_mode(cfg.failure_mode)
            .metrics(metrics)
            .list_cache_ttl(cfg.list_cache_ttl.map_or(DEFAULT_LIST_CACHE_TTL, |d| d.0));
        for t in &cfg.targets {
            b = b.target(Target::from_config(t)?);
        }
        b.build()
    }

    /// Each target's name and last observed state, in config order.
    pub fn target_states(&self) -> Vec<(String, TargetState)> {
        self.inner
            .upstreams
            .iter()
            .map(|u| (u.name().to_owned(), u.state()))
            .collect()
    }

    /// Where this multiplexer reports its measurements.
    pub(crate) fn metrics(&self) -> &Arc<dyn MuxMetrics> {
        &self.inner.metrics
    }

    /// Closes every connection (stdio processes are stopped and reaped).
    pub async fn shutdown(&self) {
        join_all(self.inner.upstreams.iter().map(|u| u.shutdown())).await;
    }

    /// Starts the background probe of down targets ([`crate::upstream::probe`]) once.
    fn start_probe(&self) {
        self.inner.probe.call_once(|| {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let upstreams = Arc::downgrade(&self.inner.upstreams);
                runtime.spawn(crate::upstream::probe(upstreams));
            }
        });
    }

    fn prefixed(&self) -> bool {
        self.inner.upstreams.len() > 1
    }

    fn fanout(&self) -> Fanout<'_> {
        Fanout {
            upstreams: &self.inner.upstreams,
            failure_mode: self.inner.failure_mode,
        }
    }

    fn default_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        .with_server_info(self.inner.server_info.clone())
    }

    /// Notifications for every client: `notifications/{tools,prompts,resources}/list_changed`
    /// when a target says its list changed or a target comes up or goes down, targets' log
    /// messages that belong to no call, and `notifications/resources/updated` (for the
    /// sessions subscribed to the URI: the receiver filters). A lagging receiver has missed
    /// some; for list changes one is enough to tell a client to list again.
    pub fn list_changes(
        &self,
    ) -> tokio::sync::broadcast::Receiver<rmcp::model::ServerNotification> {
        self.inner.notices.subscribe()
    }

    /// Connects every target (concurrently) and merges what they announced.
    ///
    /// Capabilities: tools always; prompts, resources, completions, logging and resource
    /// subscriptions if any target has them; list-changed always announced (the merged lists
    /// change when a target comes or goes); the tasks extension if any target has it. One target: its
    /// instructions and serverInfo pass through. Several: instructions concatenated under
    /// `[target]` headings, and the gateway's own serverInfo. Unreachable targets are left out.
    pub async fn server_config(&self) -> ServerConfig {
        self.start_probe();
        let infos = join_all(self.inner.upstreams.iter().map(|u| u.info())).await;
        let mut caps = ServerCapabilities::builder().enable_tools().build();
        let mut instructions = Vec::new();
        let mut single_info = None;
        for (up, info) in self.inner.upstreams.iter().zip(infos) {
            let Ok(Some(info)) = info else { continue };
            if info.capabilities.prompts.is_some() {
                caps.prompts = Some(Default::default());
            }
            if let Some(resources) = &info.capabilities.resources {
                let merged = caps.resources.get_or_insert_with(Default::default);
                if resources.subscribe == Some(true) {
                    merged.subscribe = Some(true);
                }
            }
            if info.capabilities.logging.is_some() {
                caps.logging = Some(Default::default());
            }
            if info.capabilities.supports_tasks() {
                caps.extensions.get_or_insert_with(Default::default).insert(
                    rmcp::model::TASKS_EXTENSION_ID.to_owned(),
                    Default::default(),
                );
            }
            if info.capabilities.completions.is_some() {
                caps.completions = Some(Default::default());
            }
            if let Some(text) = info
                .instructions
                .as_deref()
                .filter(|t| !t.trim().is_empty())
            {
                instructions.push(format!("[{}]\n{}", up.name(), text.trim()));
            }
            single_info = Some(info);
        }
        // The merged lists change when any target's does, and when a target comes or goes.
        if let Some(t) = caps.tools.as_mut() {
            t.list_changed = Some(true);
        }
        if let Some(p) = caps.prompts.as_mut() {
            p.list_changed = Some(true);
        }
        if let Some(r) = caps.resources.as_mut() {
            r.list_changed = Some(true);
        }
        let mut merged = self.default_info();
        merged.capabilities = caps;
        match (self.prefixed(), single_info) {
            (false, Some(info)) => {
                if let Some(server_info) = info.server_info {
                    merged.server_info = server_info;
                }
                merged.instructions = info.instructions;
            }
            _ => {
                merged.instructions = (!instructions.is_empty()).then(|| instructions.join("\n\n"));
            }
        }
        let mut slot = self
            .inner
            .merged_info
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *slot = Some(merged.clone());
        merged
    }

    fn upstream(&self, index: usize) -> &Arc<Upstream> {
        &self.inner.upstreams[index]
    }

    /// The target index and original URI behind an exposed resource URI.
    fn resolve_uri(&self, uri: &str) -> Option<(usize, String)> {
        if !self.prefixed() {
            return Some((0, uri.to_owned()));
        }
        let (target, original) = naming::unwrap_uri(uri)?;
        let index = self
            .inner
            .upstreams
            .iter()
            .position(|u| u.name() == target)?;
        Some((index, original.to_owned()))
    }

    fn wrap_uri(&self, index: usize, uri: &str) -> String {
        if self.prefixed() {
            naming::wrap_uri(self.upstream(index).name(), uri)
        } else {
            uri.to_owned()
        }
    }
}

fn unexpected(target: &str, method: &'static str) -> ErrorData {
    MuxError::UnexpectedResponse {
        target: target.to_owned(),
        method,
    }
    .into()
}

impl Multiplexer {
    /// The merged capabilities, instructions and serverInfo as last computed by
    /// [`Self::server_config`] (defaults before the first computation).
    pub fn cached_server_config(&self) -> ServerConfig {
        let slot = self
            .inner
            .merged_info
            .read()
            .unwrap_or_else(|e| e.into_inner());
        slot.clone().unwrap_or_else(|| self.default_info())
    }

    /// Serves one request of the virtual server (every method but the
    /// lifecycle ones, `initialize` and `server/discover`, which belong to the
    /// transport in front).
    pub async fn handle(
        &self,
        request: ClientRequest,
        ctx: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        self.start_probe();
        // A caller with rules gets its own filtered list, never the merged page shared by all
        // (each target's page is still cached).
        let shared = ctx.caller.is_none();
        let Some(kind) = self.merged_first_page(&request).filter(|_| shared) else {
            return self.dispatch(request, ctx).await;
        };
        let merged = &self.inner.merged_lists;
        if let Some(page) = merged.get(kind) {
            return Ok(page);
        }
        let generation = merged.generation();
        let result = self.dispatch(request, ctx).await;
        if let Ok(page) = &result {
            // Kept only if made from every target's cached page (a failed or skipped target
            // has none, and the merged page must not hide its recovery).
            let oldest = self
                .inner
                .upstreams
                .iter()
                .map(|u| u.list_fetched_at(kind))
                .try_fold(None::<std::time::Instant>, |oldest, at| {
                    at.map(|at| Some(oldest.map_or(at, |o| o.min(at))))
                });
            if let Some(Some(oldest)) = oldest {
                merged.put(kind, generation, oldest, page);
            }
        }
        result
    }

    /// The list kind of `request` if it asks for the first page of a merged list.
    fn merged_first_page(&self, request: &ClientRequest) -> Option<ListKind> {
        if self.inner.upstreams.len() < 2 {
            return None;
        }
        let first = |p: &Option<PaginatedRequestParams>| {
            p.as_ref().and_then(|p| p.cursor.as_ref()).is_none()
        };
        match request {
            ClientRequest::ListToolsRequest(r) if first(&r.params) => Some(ListKind::Tools),
            ClientRequest::ListPromptsRequest(r) if first(&r.params) => Some(ListKind::Prompts),
            ClientRequest::ListResourcesRequest(r) if first(&r.params) => Some(ListKind::Resources),
            ClientRequest::ListResourceTemplatesRequest(r) if first(&r.params) => {
                Some(ListKind::ResourceTemplates)
            }
            _ => None,
        }
    }

    #[allow(deprecated)] // logging/setLevel: deprecated by 2026-07-28, still served.
    async fn dispatch(
        &self,
        request: ClientRequest,
        ctx: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        let cursor = |p: Option<PaginatedRequestParams>| p.and_then(|p| p.cursor);
        let caller = ctx.caller.as_deref();
        match request {
            ClientRequest::PingRequest(_) => Ok(ServerResult::empty(())),
            ClientRequest::ListToolsRequest(r) => self
                .list_tools(cursor(r.params), caller)
                .await
                .map(Into::into),
            ClientRequest::CallToolRequest(r) => self.call_tool(r.params, ctx).await,
            ClientRequest::ListPromptsRequest(r) => self
                .list_prompts(cursor(r.params), caller)
                .await
                .map(Into::into),
            ClientRequest::GetPromptRequest(r) => self.get_prompt(r.params, ctx).await,
            ClientRequest::ListResourcesRequest(r) => self
                .list_resources(cursor(r.params), caller)
                .await
                .map(Into::into),
            ClientRequest::ListResourceTemplatesRequest(r) => self
                .list_resource_templates(cursor(r.params), caller)
                .await
                .map(Into::into),
            ClientRequest::ReadResourceRequest(r) => self.read_resource(r.params, ctx).await,
            ClientRequest::CompleteRequest(r) => self.complete(r.params, ctx).await,
            ClientRequest::SetLevelRequest(r) => {
                self.set_level(r.params.level).await;
                Ok(ServerResult::empty(()))
            }
            ClientRequest::SubscribeRequest(r) => self.subscribe(&r.params.uri, ctx).await,
            ClientRequest::UnsubscribeRequest(r) => self.unsubscribe(&r.params.uri, ctx).await,
            r @ (ClientRequest::GetTaskRequest(_)
            | ClientRequest::UpdateTaskRequest(_)
            | ClientRequest::CancelTaskRequest(_)) => self.task_request(r, ctx).await,
            other => Err(ErrorData::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                format!("Method not found: {}", other.method()),
                None,
            )),
        }
    }

    /// Whether the route's rules deny the caller `item` for `method` (a call, get, read...).
    /// No rules (no caller): never, and nothing is evaluated.
    pub(crate) fn denied(&self, ctx: &CallContext, method: &str, item: Item<'_>) -> bool {
        ctx.caller
            .as_ref()
            .is_some_and(|c| !c.allows(method, item, &**self.metrics()))
    }

    /// Whether `up` may answer with `input_required` that the gateway must do with the client
    /// (a 2026-07-28 target, a 2025-era client; see [`bridge`]). The request is then kept for
    /// the rounds; otherwise it is not copied.
    fn may_ask_for_input(&self, up: &Upstream, ctx: &CallContext) -> bool {
        up.may_speak_modern() && bridge::client_is_legacy(ctx)
    }

    /// `completion/complete`, routed to the target that owns the prompt or resource.
    pub async fn complete(
        &self,
        mut request: CompleteRequestParams,
        context: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        let index = match &mut request.r#ref {
            Reference::Prompt(p) => {
                let resolved = resolve(
                    &self.inner.upstreams,
                    &self.inner.names,
                    ListKind::Prompts,
                    &p.name,
                )
                .await;
                let unknown =
                    || ErrorData::invalid_params(format!("Unknown prompt: {}", p.name), None);
                let Some((index, original)) = resolved else {
                    return Err(unknown());
                };
                let target = self.upstream(index).name();
                let item = Item::new(McpKind::Prompt, target, &original);
                if self.denied(context, "completion/complete", item) {
                    return Err(unknown());
                }
                p.name = original;
                index
            }
            Reference::Resource(r) => {
                let unknown = || {
                    ErrorData::invalid_params(format!("Unknown resource template: {}", r.uri), None)
                };
                let Some((index, original)) = self.resolve_uri(&r.uri) else {
                    return Err(unknown());
                };
                let target = self.upstream(index).name();
                let item = Item::new(McpKind::Resource, target, &original);
                if self.denied(context, "completion/complete", item) {
                    return Err(unknown());
                }
                r.uri = original;
                index
            }
            _ => {
                return Err(ErrorData::invalid_params(
                    "unsupported completion reference type",
                    None,
                ))
            }
        };
        let up = self.upstream(index);
        context.routed_to(up.name());
        request.meta = None;
        let r = up
            .request(
                ClientRequest::CompleteRequest(Request::new(request)),
                "completion/complete",
                Some(&context.upstream()),
                Retry::Idempotent,
            )
            .await?;
        match r {
            ServerResult::CompleteResult(_) => Ok(r),
            _ => Err(unexpected(up.name(), "completion/complete")),
        }
    }

    pub async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        let unknown = || ErrorData::invalid_params(format!("Unknown tool: {}", request.name), None);
        let resolved = resolve(
            &self.inner.upstreams,
            &self.inner.names,
            ListKind::Tools,
            &request.name,
        )
        .await;
        let Some((index, original)) = resolved else {
            return Err(unknown());
        };
        let up = self.upstream(index);
        context.routed_to(up.name());
        if !up.target.filter.allows(&original) {
            return Err(unknown());
        }
        // A tool the caller may not call is answered as one that does not exist.
        let item = Item {
            arguments: request.arguments.as_ref(),
            ..Item::new(McpKind::Tool, up.name(), &original)
        };
        if self.denied(context, "tools/call", item) {
            return Err(unknown());
        }
        crate::core::tool_limit::check(context, &request.name).await?;
        request.name = original.into();
        // The downstream `_meta` (progress token, protocol keys) belongs to the
        // downstream hop; rmcp sets the upstream's own.
        request.meta = None;
        let again = self.may_ask_for_input(up, context).then(|| request.clone());
        let mut upstream_request = ClientRequest::CallToolRequest(Request::new(request));
        if let Some(caps) = self.task_offer(up, context).await {
            upstream_request
                .get_meta_mut()
                .set_client_capabilities(caps);
        }
        let r = up
            .request(
                upstream_request,
                "tools/call",
                Some(&context.upstream()),
                Retry::IfUnsent,
            )
            .await?;
        let r = match again {
            Some(params) => {
                let request = ClientRequest::CallToolRequest(Request::new(params));
                Box::pin(bridge::complete(up, request, "tools/call", r, context)).await?
            }
            None => r,
        };
        match r {
            ServerResult::CallToolResult(_) | ServerResult::InputRequiredResult(_) => Ok(r),
            mut r @ ServerResult::CreateTaskResult(_) => {
                self.expose_task(index, &mut r);
                Ok(r)
            }
            _ => Err(unexpected(up.name(), "tools/call")),
        }
    }

    pub async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        context: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        let resolved = resolve(
            &self.inner.upstreams,
            &self.inner.names,
            ListKind::Prompts,
            &request.name,
        )
        .await;
        let unknown =
            || ErrorData::invalid_params(format!("Unknown prompt: {}", request.name), None);
        let Some((index, original)) = resolved else {
            return Err(unknown());
        };
        let up = self.upstream(index);
        context.routed_to(up.name());
        if self.denied(
            context,
            "prompts/get",
            Item::new(McpKind::Prompt, up.name(), &original),
        ) {
            return Err(unknown());
        }
        request.name = original;
        request.meta = None;
        let again = self.may_ask_for_input(up, context).then(|| request.clone());
        let r = up
            .request(
                ClientRequest::GetPromptRequest(Request::new(request)),
                "prompts/get",
                Some(&context.upstream()),
                Retry::Idempotent,
            )
            .await?;
        let r = match again {
            Some(params) => {
                let request = ClientRequest::GetPromptRequest(Request::new(params));
                Box::pin(bridge::complete(up, request, "prompts/get", r, context)).await?
            }
            None => r,
        };
        match r {
            ServerResult::GetPromptResult(_) | ServerResult::InputRequiredResult(_) => Ok(r),
            _ => Err(unexpected(up.name(), "prompts/get")),
        }
    }

    pub async fn read_resource(
        &self,
        mut request: ReadResourceRequestParams,
        context: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        let unknown =
            || ErrorData::resource_not_found(format!("Unknown resource: {}", request.uri), None);
        let Some((index, original)) = self.resolve_uri(&request.uri) else {
            return Err(unknown());
        };
        let up = self.upstream(index);
        context.routed_to(up.name());
        let item = Item::new(McpKind::Resource, up.name(), &original);
        if self.denied(context, "resources/read", item) {
            return Err(unknown());
        }
        request.uri = original;
        request.meta = None;
        let again = self.may_ask_for_input(up, context).then(|| request.clone());
        let r = up
            .request(
                ClientRequest::ReadResourceRequest(Request::new(request)),
                "resources/read",
                Some(&context.upstream()),
                Retry::Idempotent,
            )
            .await?;
        let r = match again {
            Some(params) => {
                let request = ClientRequest::ReadResourceRequest(Request::new(params));
                Box::pin(bridge::complete(up, request, "resources/read", r, context)).await?
            }
            None => r,
        };
        match r {
            ServerResult::ReadResourceResult(mut r) => {
                for c in &mut r.contents {
                    match c {
                        ResourceContents::TextResourceContents { uri, .. }
                        | ResourceContents::BlobResourceContents { uri, .. } => {
                            *uri = self.wrap_uri(index, uri);
                        }
                        _ => {}
                    }
                }
                Ok(ServerResult::ReadResourceResult(r))
            }
            r @ ServerResult::InputRequiredResult(_) => Ok(r),
            _ => Err(unexpected(up.name(), "resources/read")),
        }
    }
}
