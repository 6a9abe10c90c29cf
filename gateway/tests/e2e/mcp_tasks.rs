//! Tasks (SEP-2663) through the gateway: an rmcp target that runs `slow_sum` and
//! `wait_for_cancel` as tasks for clients that declare the extension, next to a target without
//! tasks. A client that declares tasks gets a routable task id, polls it to its result and
//! cancels another, and hears the target's `notifications/tasks` for its own tasks only; a
//! client that does not declare them gets the result directly.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::ProtocolVersion;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ClientCapabilities,
    ClientConfig, ContentBlock, CreateTaskResult, ErrorCode, ErrorData, GetTaskParams,
    GetTaskResult, Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, ServerNotification, TaskPayload, TaskStatus, TaskStatusNotification,
    TaskStatusNotificationParams, Tool, UpdateTaskParams,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt as _, NotificationContext, Peer, RequestContext,
    RoleClient, RoleServer,
};
use rmcp::task_manager::{TaskExit, TaskManager, TaskOptions};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServerHandler};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::mcp::{connect_as, mcp_config, object_schema, remote_server, serve_mcp, step};
use crate::mcp_upstream_interop::{call, text};
use e2e::Gateway;

/// A target whose tools run as tasks when the client asks for them.
#[derive(Clone, Default)]
struct Tasky {
    tasks: Arc<TaskManager>,
}

fn sum(request: &CallToolRequestParams) -> CallToolResult {
    let arg = |k: &str| {
        request
            .arguments
            .as_ref()
            .and_then(|a| a.get(k))
            .and_then(Value::as_f64)
            .unwrap_or_default()
    };
    CallToolResult::success(vec![ContentBlock::text(format!("{}", arg("a") + arg("b")))])
}

/// Sends `notifications/tasks` (on the session's stream) once task `id` has ended.
fn announce_end(tasks: Arc<TaskManager>, id: String, peer: Peer<RoleServer>) {
    tokio::spawn(async move {
        for _ in 0..400 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            match tasks.get_task(&id) {
                Ok(task) if task.status().is_terminal() => {
                    let notice =
                        TaskStatusNotification::new(TaskStatusNotificationParams::new(task));
                    let _ = peer
                        .send_notification(ServerNotification::TaskStatusNotification(notice))
                        .await;
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
}

impl ServerHandler for Tasky {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let ab = json!({"a": {"type": "number"}, "b": {"type": "number"}});
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("slow_sum", "Adds a and b, slowly.", object_schema(ab)),
            Tool::new(
                "wait_for_cancel",
                "Runs until cancelled.",
                object_schema(json!({})),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let as_task = context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        let name = request.name.to_string();
        if !as_task {
            return match name.as_str() {
                "slow_sum" => Ok(sum(&request).into()),
                _ => Err(ErrorData::invalid_params("this tool needs tasks", None)),
            };
        }
        let tasks = self.tasks.clone();
        let task = self.tasks.spawn(TaskOptions::default(), move |ctx| {
            Box::pin(async move {
                if name == "wait_for_cancel" {
                    ctx.cancelled().await;
                    return Err(TaskExit::Cancelled);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(sum(&request))
            })
        });
        announce_end(tasks, task.task_id.clone(), context.peer.clone());
        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.tasks
            .get_task(&request.task_id)
            .map(GetTaskResult::new)
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.tasks.cancel_task(&request.task_id)
    }
}

/// A client that declares the tasks extension, and passes on the task notices it hears.
#[derive(Clone, Default)]
struct TaskClient {
    heard: Option<mpsc::UnboundedSender<TaskStatusNotificationParams>>,
}

impl ClientHandler for TaskClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_tasks().build(),
            Implementation::new("task-client", "1.0.0"),
        )
    }

    async fn on_task_status(
        &self,
        params: TaskStatusNotificationParams,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(heard) = &self.heard {
            let _ = heard.send(params);
        }
    }
}

/// The gateway with `tasky` (speaking `era` to it) and `remote`.
async fn gateway_with(era: &str) -> Gateway {
    let targets = format!(
        "- {{ name: tasky, mcp: {{ url: \"{}\" }}, era: {era} }}\n- {{ name: remote, mcp: {{ url: \"{}\" }} }}",
        serve_mcp(Tasky::default()).await,
        remote_server().await
    );
    Gateway::start(&mcp_config("failClosed", &targets)).await
}

async fn gateway() -> Gateway {
    gateway_with("auto").await
}

/// Polls `id` until its status is terminal (at most 10 s).
async fn settle(
    client: &rmcp::service::RunningService<rmcp::RoleClient, TaskClient>,
    id: &str,
) -> GetTaskResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = step("tasks/get", client.get_task(GetTaskParams::new(id)))
            .await
            .unwrap_or_else(|e| panic!("tasks/get {id}: {e}"));
        assert_eq!(
            r.task.task.task_id, id,
            "the id comes back as the client knows it"
        );
        if !matches!(
            r.task.status(),
            TaskStatus::Working | TaskStatus::InputRequired
        ) {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_task_is_polled_to_its_result_and_another_cancelled() {
    let gw = gateway().await;
    let client = connect_as(&gw, TaskClient::default()).await;
    let caps = client.peer_info().map(|i| i.capabilities.clone());
    assert!(
        caps.as_ref().is_some_and(|c| c.supports_tasks()),
        "the gateway announces the extension its target has: {caps:?}"
    );
    let started = step(
        "slow_sum",
        client.call_tool_once(call("tasky_slow_sum", json!({"a": 2, "b": 3}))),
    )
    .await
    .unwrap_or_else(|e| panic!("slow_sum: {e}\nstderr:\n{}", gw.stderr()));
    let CallToolResponse::Task(created) = started else {
        panic!("a task was expected: {started:?}");
    };
    let id = created.task.task_id.clone();
    assert!(id.starts_with("tasky_"), "routable id: {id}");
    let done = settle(&client, &id).await;
    let TaskPayload::Completed { result } = &done.task.payload else {
        panic!("not completed: {done:?}");
    };
    let result: CallToolResult =
        serde_json::from_value(Value::Object(result.clone())).expect("a tool result");
    assert_eq!(text(&result), "5");

    let started = step(
        "wait_for_cancel",
        client.call_tool_once(call("tasky_wait_for_cancel", json!({}))),
    )
    .await
    .expect("wait_for_cancel");
    let CallToolResponse::Task(created) = started else {
        panic!("a task was expected: {started:?}");
    };
    let id = created.task.task_id;
    step(
        "tasks/cancel",
        client.cancel_task(CancelTaskParams::new(&id)),
    )
    .await
    .unwrap_or_else(|e| panic!("tasks/cancel: {e}\nstderr:\n{}", gw.stderr()));
    assert_eq!(
        settle(&client, &id).await.task.status(),
        TaskStatus::Cancelled
    );

    for unknown in ["nobody_x", "no-delimiter"] {
        let err = step("unknown task", client.get_task(GetTaskParams::new(unknown)))
            .await
            .expect_err("unknown task");
        let rmcp::ServiceError::McpError(e) = err else {
            panic!("not an MCP error: {err}");
        };
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{e:?}");
    }
    let _ = client.cancel().await;
}

/// A target's `notifications/tasks` reach the session whose call created the task, with the
/// task id that session knows, and no other session.
#[tokio::test]
async fn a_task_notice_reaches_only_the_session_that_created_the_task() {
    let gw = gateway().await;
    let (owner_tx, mut owner_heard) = mpsc::unbounded_channel();
    let owner = connect_as(
        &gw,
        TaskClient {
            heard: Some(owner_tx),
        },
    )
    .await;
    let (other_tx, mut other_heard) = mpsc::unbounded_channel();
    let other = connect_as(
        &gw,
        TaskClient {
            heard: Some(other_tx),
        },
    )
    .await;
    let started = step(
        "slow_sum",
        owner.call_tool_once(call("tasky_slow_sum", json!({"a": 20, "b": 22}))),
    )
    .await
    .unwrap_or_else(|e| panic!("slow_sum: {e}\nstderr:\n{}", gw.stderr()));
    let CallToolResponse::Task(created) = started else {
        panic!("a task was expected: {started:?}");
    };
    let notice = tokio::time::timeout(Duration::from_secs(10), owner_heard.recv())
        .await
        .unwrap_or_else(|_| panic!("no task notice within 10 s\nstderr:\n{}", gw.stderr()))
        .expect("the client is still there");
    assert_eq!(notice.task.task.task_id, created.task.task_id);
    assert_eq!(notice.status(), TaskStatus::Completed);
    let TaskPayload::Completed { result } = &notice.payload else {
        panic!("not completed: {notice:?}");
    };
    assert_eq!(result["content"][0]["text"], "42", "{result:?}");
    // The notice went out once the task ended; the other session had every chance to get it.
    let leaked = tokio::time::timeout(Duration::from_millis(300), other_heard.recv()).await;
    assert!(leaked.is_err(), "another session heard it: {leaked:?}");
    let _ = owner.cancel().await;
    let _ = other.cancel().await;
}

#[tokio::test]
async fn a_client_without_tasks_gets_the_result_directly() {
    let gw = gateway().await;
    let client = connect_as(&gw, ()).await;
    let r = step(
        "slow_sum",
        client.call_tool(call("tasky_slow_sum", json!({"a": 4, "b": 5}))),
    )
    .await
    .unwrap_or_else(|e| panic!("slow_sum: {e}\nstderr:\n{}", gw.stderr()));
    assert_eq!(text(&r), "9");
    let _ = client.cancel().await;
}

/// A 2026-07-28 client (capabilities in each request's `_meta`) of a target the gateway speaks
/// 2026-07-28 to (where rmcp writes the gateway's own capabilities into each request, and the
/// task offer must replace them).
#[tokio::test]
async fn a_modern_client_runs_a_task_on_a_modern_target() {
    let gw = gateway_with("modern").await;
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    let mode = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let client = step(
        "discover",
        TaskClient::default().serve_with_lifecycle(transport, mode),
    )
    .await
    .unwrap_or_else(|e| panic!("discover: {e}\n{}", gw.stderr()));
    let started = step(
        "slow_sum",
        client.call_tool_once(call("tasky_slow_sum", json!({"a": 1, "b": 6}))),
    )
    .await
    .unwrap_or_else(|e| panic!("slow_sum: {e}\nstderr:\n{}", gw.stderr()));
    let CallToolResponse::Task(created) = started else {
        panic!("a task was expected: {started:?}");
    };
    let done = settle(&client, &created.task.task_id).await;
    let TaskPayload::Completed { result } = &done.task.payload else {
        panic!("not completed: {done:?}");
    };
    assert_eq!(result["content"][0]["text"], "7", "{result:?}");
    let _ = client.cancel().await;
}
