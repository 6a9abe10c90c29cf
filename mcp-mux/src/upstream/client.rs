//! The client half of each upstream connection, an rmcp `ClientHandler`: it
//! identifies the gateway to the target, announces its list changes and resource
//! updates to every client (see `core::notices`), and passes the target's
//! questions (elicitation, sampling, roots) to the downstream client whose call
//! caused them, returning the answer.

#![allow(deprecated)] // Sampling, roots and logging are deprecated by 2026-07-28 but still relayed.

use std::sync::Arc;

use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientResult, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationCapability, ErrorData,
    FormElicitationCapability, Implementation, ListRootsRequest, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, Request,
    ResourceUpdatedNotificationParam, RootsCapabilities, ServerRequest,
    TaskStatusNotificationParams, UrlElicitationCapability,
};
use rmcp::service::{InboundStreamOrigin, NotificationContext, RequestContext, RoleClient};
use rmcp::ClientHandler;

use crate::upstream::announce::{Announce, Changed};
use crate::upstream::list_cache::{list_changed, ListCache};
use crate::upstream::progress::ProgressRouter;
use crate::upstream::questions::{Asker, QuestionRouter};

#[derive(Clone)]
pub(crate) struct UpstreamClient {
    pub(crate) target: String,
    pub(crate) progress: Arc<ProgressRouter>,
    pub(crate) questions: Arc<QuestionRouter>,
    pub(crate) notices: Arc<dyn Announce>,
    pub(crate) lists: Arc<ListCache>,
}

/// A question kind the downstream client must have declared support for.
#[derive(Clone, Copy)]
pub(crate) enum Ability {
    FormElicitation,
    UrlElicitation,
    Sampling,
    Roots,
}

impl Ability {
    /// What kind of question `request` is; `None` for requests that are not questions.
    pub(crate) fn of(request: &ServerRequest) -> Option<Self> {
        #[allow(deprecated)]
        match request {
            ServerRequest::ElicitRequest(r) => Some(match &r.params {
                ElicitRequestParams::UrlElicitationParams { .. } => Self::UrlElicitation,
                _ => Self::FormElicitation,
            }),
            ServerRequest::CreateMessageRequest(_) => Some(Self::Sampling),
            ServerRequest::ListRootsRequest(_) => Some(Self::Roots),
            _ => None,
        }
    }

    fn declared_by(self, caps: &ClientCapabilities) -> bool {
        match self {
            // An empty `elicitation: {}` means form mode (2025-06-18 clients).
            Self::FormElicitation => caps.elicitation.is_some(),
            Self::UrlElicitation => caps.elicitation.as_ref().is_some_and(|e| e.url.is_some()),
            Self::Sampling => caps.sampling.is_some(),
            Self::Roots => caps.roots.is_some(),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::FormElicitation => "elicitation",
            Self::UrlElicitation => "URL elicitation",
            Self::Sampling => "sampling",
            Self::Roots => "roots",
        }
    }
}

impl UpstreamClient {
    /// Relays `request` to the client whose call it belongs to and returns its answer.
    async fn relay(
        &self,
        ability: Ability,
        request: ServerRequest,
        context: &RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        let origin = context.extensions.get::<InboundStreamOrigin>();
        let asker = self
            .questions
            .find(&self.target, origin)
            .await
            .inspect_err(|e| {
                tracing::warn!(mcp_target = %self.target, question = ability.name(), error = %e.message, "target's question not relayed");
            })?;
        ask_client(
            &self.target,
            &asker,
            ability,
            request,
            context.ct.cancelled(),
        )
        .await
    }
}

/// Asks `asker` the target's question and returns the answer. The question ends with
/// whichever ends first: the client's call, or `withdrawn` (the target's own cancellation).
pub(crate) async fn ask_client(
    target: &str,
    asker: &Asker,
    ability: Ability,
    request: ServerRequest,
    withdrawn: impl std::future::Future<Output = ()>,
) -> Result<ClientResult, ErrorData> {
    if !ability.declared_by(&asker.capabilities) {
        return Err(ErrorData::invalid_request(
            format!(
                "the client of this call did not declare {} support",
                ability.name()
            ),
            None,
        ));
    }
    tracing::debug!(mcp_target = %target, question = ability.name(), "relaying the target's question to the client");
    let cancel = asker.cancel.child_token();
    let ask = asker.downstream.ask(request, &cancel);
    tokio::pin!(ask);
    tokio::select! {
        answer = &mut ask => answer,
        () = withdrawn => {
            cancel.cancel();
            ask.await
        }
    }
}

fn wrong_answer(expected: &str) -> ErrorData {
    ErrorData::internal_error(
        format!("the client answered with something other than a {expected} result"),
        None,
    )
}

impl ClientHandler for UpstreamClient {
    // Progress and log messages are relayed by the transport wrapper, in order with
    // responses (see `OrderedRelay`); nothing to do here.
    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
    }

    async fn on_logging_message(
        &self,
        _params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.notices.resource_updated(&self.target, &params.uri);
    }

    async fn on_task_status(
        &self,
        params: TaskStatusNotificationParams,
        _context: NotificationContext<RoleClient>,
    ) {
        self.notices.task_status(&self.target, params);
    }

    // Roots belong to a client, and this connection serves many: the question goes to the
    // client whose call asks, like elicitation. Asked outside any call, it is refused.
    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self.relay(Ability::Roots, request, &context).await? {
            ClientResult::ListRootsResult(r) => Ok(r),
            _ => Err(wrong_answer("roots")),
        }
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ability = match &request {
            ElicitRequestParams::UrlElicitationParams { .. } => Ability::UrlElicitation,
            _ => Ability::FormElicitation,
        };
        let request = ServerRequest::ElicitRequest(Request::new(request));
        match self.relay(ability, request, &context).await? {
            ClientResult::ElicitResult(r) => Ok(r),
            _ => Err(wrong_answer("elicitation")),
        }
    }

    // The cached pages go first, so a client told to list again gets the new list.
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        list_changed(&self.lists, &*self.notices, Changed::Tools);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        list_changed(&self.lists, &*self.notices, Changed::Prompts);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        list_changed(&self.lists, &*self.notices, Changed::Resources);
    }

    // Sampling is deprecated by the 2026-07-28 revision (SEP-2577) but is how
    // 2025-era servers ask for a completion; relayed like elicitation.
    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let request = ServerRequest::CreateMessageRequest(Request::new(params));
        match self.relay(Ability::Sampling, request, &context).await? {
            ClientResult::CreateMessageResult(r) => Ok(*r),
            _ => Err(wrong_answer("sampling")),
        }
    }

    #[allow(deprecated)]
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            capabilities(),
            Implementation::new("switchboard-mcp-mux", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// What the gateway declares to every target. Elicitation, sampling and roots are relayed to
/// the client of the call that asks, which must itself support them (checked per question).
/// Roots' list changes are not claimed: they belong to one client, and a connection serves
/// many. Tasks neither: a call declares them when its client does (`mux::tasks`).
pub(crate) fn capabilities() -> ClientCapabilities {
    let elicitation = ElicitationCapability::new()
        .with_form(FormElicitationCapability::new())
        .with_url(UrlElicitationCapability::new());
    let mut capabilities = ClientCapabilities::builder()
        .enable_sampling()
        .enable_elicitation_with(elicitation)
        .build();
    capabilities.roots = Some(RootsCapabilities::default());
    capabilities
}
