//! The [`Multiplexer`] as an rmcp `ServerHandler`, for in-process use and for
//! transports rmcp serves (stdio, a duplex pipe in tests). The gateway's HTTP
//! endpoint does not go through here: it uses [`crate::front::http`].
//!
//! What this path relays besides answers: progress, log messages and questions of the
//! client's own calls, tasks, and the merged lists' `list_changed` notices (from
//! `notifications/initialized` on). Not here: per-client log levels, resource subscriptions
//! and log messages that belong to no call, which need per-session state the HTTP front keeps.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelTaskRequest, ClientRequest,
    CompleteRequestParams, CompleteResult, ErrorData, GetPromptRequestParams, GetPromptResponse,
    GetTaskParams, GetTaskRequest, GetTaskResult, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
    ServerNotification, ServerResult, UpdateTaskParams, UpdateTaskRequest,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleServer};
use rmcp::ServerHandler;
use tokio::sync::broadcast::error::RecvError;

use std::sync::Arc;

use rmcp::model::{ClientResult, ProtocolVersion, ServerRequest};
use tokio_util::sync::CancellationToken;

use crate::core::context::{CallContext, Downstream};
use crate::core::mux::Multiplexer;
use crate::core::notices::Changed;
use crate::upstream::call::BoxFuture;
use crate::upstream::logging::LogInterest;

/// An rmcp session's client: notifications and questions go through its peer.
impl Downstream for Peer<RoleServer> {
    fn notify(&self, n: ServerNotification) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.send_notification(n).await.is_ok() })
    }

    fn ask<'a>(
        &'a self,
        request: ServerRequest,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ClientResult, ErrorData>> {
        Box::pin(async move {
            tokio::select! {
                r = self.send_request(request) => r.map_err(|e| match e {
                    rmcp::ServiceError::McpError(e) => e,
                    other => ErrorData::internal_error(format!("asking the client failed: {other}"), None),
                }),
                () = cancel.cancelled() => Err(ErrorData::internal_error(
                    "the client went away before answering",
                    None,
                )),
            }
        })
    }
}

impl CallContext {
    /// The context of a request that arrived through rmcp.
    pub fn from_rmcp(ctx: &RequestContext<RoleServer>) -> Self {
        Self {
            cancel: ctx.ct.clone(),
            progress_token: ctx.meta.get_progress_token(),
            downstream: Some(Arc::new(ctx.peer.clone())),
            protocol_version: ctx
                .protocol_version()
                .unwrap_or(ProtocolVersion::LATEST_WITH_INITIALIZE),
            client_capabilities: Arc::new(ctx.client_capabilities().unwrap_or_default()),
            record: None,
            log_interest: LogInterest::Unset,
            // Served over HTTP by rmcp, the request's parts carry the embedder's limit.
            tool_limit: ctx
                .extensions
                .get::<http::request::Parts>()
                .and_then(|p| crate::core::tool_limit::ToolLimit::of(&p.extensions)),
            // In-process and stdio clients bring no HTTP request to check rules against.
            caller: None,
        }
    }
}

fn cursor(p: Option<PaginatedRequestParams>) -> Option<String> {
    p.and_then(|p| p.cursor)
}

fn wrong(method: &str) -> ErrorData {
    ErrorData::internal_error(format!("unexpected result type for {method}"), None)
}

impl ServerHandler for Multiplexer {
    fn get_info(&self) -> ServerConfig {
        self.cached_server_config()
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        self.server_config().await;
        self.negotiate_initialize(&request)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        tokio::spawn(relay_list_changes(self.list_changes(), context.peer));
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Multiplexer::list_tools(self, cursor(request), None).await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let ctx = CallContext::from_rmcp(&context);
        match Multiplexer::call_tool(self, request, &ctx).await? {
            ServerResult::CallToolResult(r) => Ok(CallToolResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(CallToolResponse::InputRequired(r)),
            ServerResult::CreateTaskResult(r) => Ok(CallToolResponse::Task(r)),
            _ => Err(wrong("tools/call")),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Multiplexer::list_prompts(self, cursor(request), None).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let ctx = CallContext::from_rmcp(&context);
        match Multiplexer::get_prompt(self, request, &ctx).await? {
            ServerResult::GetPromptResult(r) => Ok(GetPromptResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            _ => Err(wrong("prompts/get")),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Multiplexer::list_resources(self, cursor(request), None).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Multiplexer::list_resource_templates(self, cursor(request), None).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let ctx = CallContext::from_rmcp(&context);
        match Multiplexer::read_resource(self, request, &ctx).await? {
            ServerResult::ReadResourceResult(r) => Ok(ReadResourceResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(ReadResourceResponse::InputRequired(r)),
            _ => Err(wrong("resources/read")),
        }
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let request = ClientRequest::GetTaskRequest(GetTaskRequest::new(request));
        match self
            .task_request(request, &CallContext::from_rmcp(&context))
            .await?
        {
            ServerResult::GetTaskResult(r) => Ok(r),
            _ => Err(wrong("tasks/get")),
        }
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let request = ClientRequest::UpdateTaskRequest(UpdateTaskRequest::new(request));
        self.task_request(request, &CallContext::from_rmcp(&context))
            .await
            .map(drop)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let request = ClientRequest::CancelTaskRequest(CancelTaskRequest::new(request));
        self.task_request(request, &CallContext::from_rmcp(&context))
            .await
            .map(drop)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let ctx = CallContext::from_rmcp(&context);
        match Multiplexer::complete(self, request, &ctx).await? {
            ServerResult::CompleteResult(r) => Ok(r),
            _ => Err(wrong("completion/complete")),
        }
    }
}

/// How often an idle relay checks whether its client is gone.
const CLOSED_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends the merged lists' changes to `peer` until it goes away. A relay that lagged behind
/// the broadcast may have missed one, so it announces all three lists changed.
async fn relay_list_changes(
    mut notices: tokio::sync::broadcast::Receiver<ServerNotification>,
    peer: Peer<RoleServer>,
) {
    let mut check = tokio::time::interval(CLOSED_CHECK);
    loop {
        let batch = tokio::select! {
            notice = notices.recv() => match notice {
                Ok(n @ (ServerNotification::ToolListChangedNotification(_)
                | ServerNotification::PromptListChangedNotification(_)
                | ServerNotification::ResourceListChangedNotification(_))) => vec![n],
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => [Changed::Tools, Changed::Prompts, Changed::Resources]
                    .map(Changed::notification)
                    .to_vec(),
                Err(RecvError::Closed) => return,
            },
            _ = check.tick() => {
                if peer.is_transport_closed() {
                    return;
                }
                continue;
            }
        };
        for notice in batch {
            if peer.send_notification(notice).await.is_err() {
                return;
            }
        }
    }
}
