//! Tasks (SEP-2663, the `io.modelcontextprotocol/tasks` extension): a target may answer a
//! `tools/call` with a task handle, which the client then polls (`tasks/get`), answers
//! (`tasks/update`) and cancels (`tasks/cancel`).
//!
//! - The gateway announces the extension when any target does.
//! - A call carries the extension upstream only when the client declared it: as the request's
//!   `_meta` client capabilities, which a target reads instead of the connection's (the
//!   gateway's connection serves many clients and declares no tasks). So a target never hands
//!   a task to a client that could not poll it.
//! - With several targets, task ids are made routable as `{target}_{id}` (target names have no
//!   `_`), as tool names are; with one target they pass unchanged. `tasks/*` requests are sent
//!   to the target the id names, with its own id.
//! - A target's `notifications/tasks` go to the legacy session whose call created the task
//!   (on its GET stream, from the replica that holds the target's session; see
//!   [`crate::core::notices::Notices::task_status`]). 2026-07-28 clients poll: `subscriptions/listen`
//!   has no task filter yet.
//! - A task is not bound to the client that created it beyond its id being unguessable (ids
//!   are the target's; a target's own ids are typically UUIDs).

use rmcp::model::{ClientCapabilities, ClientRequest, ErrorData, GetMeta as _, ServerResult};

use super::Multiplexer;
use crate::core::context::CallContext;
use crate::core::naming::{self, DELIMITER};
use crate::upstream::{Retry, Upstream};

/// The client capabilities a task-carrying request declares upstream: the gateway's own, with
/// the tasks extension added.
fn with_tasks() -> ClientCapabilities {
    let mut caps = crate::upstream::client::capabilities();
    caps.extensions.get_or_insert_with(Default::default).insert(
        rmcp::model::TASKS_EXTENSION_ID.to_owned(),
        Default::default(),
    );
    caps
}

impl Multiplexer {
    /// The client capabilities a call to `up` declares in its `_meta`: ones that let the
    /// target answer with a task when the client declared the extension and the target
    /// announced it, else none (the connection's apply).
    pub(super) async fn task_offer(
        &self,
        up: &Upstream,
        ctx: &CallContext,
    ) -> Option<ClientCapabilities> {
        if !ctx.client_capabilities.supports_tasks() {
            return None;
        }
        let info = up.info().await.ok().flatten()?;
        info.capabilities.supports_tasks().then(with_tasks)
    }

    /// Makes the task id in a call's result routable (several targets).
    pub(super) fn expose_task(&self, index: usize, result: &mut ServerResult) {
        if !self.prefixed() {
            return;
        }
        let id = match result {
            ServerResult::CreateTaskResult(r) => &mut r.task.task_id,
            ServerResult::GetTaskResult(r) => &mut r.task.task.task_id,
            _ => return,
        };
        *id = naming::wrap_task_id(self.upstream(index).name(), id);
    }

    /// The target index and the target's own id behind an exposed task id.
    fn resolve_task(&self, exposed: &str) -> Result<(usize, String), ErrorData> {
        if !self.prefixed() {
            return Ok((0, exposed.to_owned()));
        }
        let unknown = || ErrorData::invalid_params(format!("Unknown task: {exposed}"), None);
        let (target, id) = exposed.split_once(DELIMITER).ok_or_else(unknown)?;
        let index = self
            .inner
            .upstreams
            .iter()
            .position(|u| u.name() == target)
            .ok_or_else(unknown)?;
        Ok((index, id.to_owned()))
    }

    /// `tasks/get`, `tasks/update` or `tasks/cancel`, sent to the task's target.
    pub(crate) async fn task_request(
        &self,
        mut request: ClientRequest,
        ctx: &CallContext,
    ) -> Result<ServerResult, ErrorData> {
        let (method, task_id, meta) = match &mut request {
            ClientRequest::GetTaskRequest(r) => {
                ("tasks/get", &mut r.params.task_id, &mut r.params.meta)
            }
            ClientRequest::UpdateTaskRequest(r) => {
                ("tasks/update", &mut r.params.task_id, &mut r.params.meta)
            }
            ClientRequest::CancelTaskRequest(r) => {
                ("tasks/cancel", &mut r.params.task_id, &mut r.params.meta)
            }
            other => {
                return Err(ErrorData::invalid_request(
                    format!("{} is not a task request", other.method()),
                    None,
                ))
            }
        };
        let (index, id) = self.resolve_task(task_id)?;
        *task_id = id;
        // The client's `_meta` belongs to its hop; the target needs to see the extension
        // (set as the request's `_meta`, which rmcp and the direct path both send).
        *meta = None;
        request.get_meta_mut().set_client_capabilities(with_tasks());
        let up = self.upstream(index);
        ctx.routed_to(up.name());
        // A poll may be sent again; an update or a cancel only if it never left.
        let retry = match method {
            "tasks/get" => Retry::Idempotent,
            _ => Retry::IfUnsent,
        };
        let mut result = up
            .request(request, method, Some(&ctx.upstream()), retry)
            .await?;
        self.expose_task(index, &mut result);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_requests_declare_the_extension_with_the_gateways_capabilities() {
        let caps = with_tasks();
        assert!(caps.supports_tasks());
        assert!(
            caps.elicitation.is_some(),
            "the gateway's own capabilities are kept"
        );
    }
}
