//! Tasks (SEP-2663) through the multiplexer served by rmcp (the embedder's path): an
//! in-process target that runs `slow_sum` as a task for clients that declare the extension,
//! next to a target without tasks, and a client that polls the task to its result.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{bounded, connect_with, schema, text, Fixture};
use mcp_mux::{Multiplexer, Target};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, CreateTaskResult, ErrorData, GetTaskParams, GetTaskResult, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, TaskPayload,
    TaskStatus, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{TaskManager, TaskOptions};
use rmcp::{ClientHandler, ServerHandler};

#[derive(Clone, Default)]
struct Tasky {
    tasks: Arc<TaskManager>,
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
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "slow_sum",
            "Adds 2 and 3, slowly.",
            schema(),
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = || CallToolResult::success(vec![ContentBlock::text("5")]);
        if !context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks())
        {
            return Ok(result().into());
        }
        let task = self.tasks.spawn(TaskOptions::default(), move |_| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(result())
            })
        });
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
}

#[derive(Clone)]
struct TaskClient;

impl ClientHandler for TaskClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_tasks().build(),
            Implementation::new("task-client", "1.0.0"),
        )
    }
}

#[tokio::test]
async fn a_task_is_polled_through_the_rmcp_served_multiplexer() {
    let mux = Multiplexer::builder()
        .target(Target::in_process("tasky", Tasky::default()).expect("tasky"))
        .target(Target::in_process("plain", Fixture::new("plain", &["echo"])).expect("plain"))
        .build()
        .expect("build");
    let client = connect_with(&mux, TaskClient).await;
    let announced = client.peer_info().map(|i| i.capabilities.supports_tasks());
    assert_eq!(announced, Some(true));

    let started = bounded(client.call_tool_once(CallToolRequestParams::new("tasky_slow_sum")))
        .await
        .expect("call");
    let CallToolResponse::Task(created) = started else {
        panic!("a task was expected: {started:?}");
    };
    let id = created.task.task_id;
    assert!(id.starts_with("tasky_"), "{id}");
    let done = bounded(async {
        loop {
            let r = client
                .get_task(GetTaskParams::new(&id))
                .await
                .expect("tasks/get");
            if r.task.status() == TaskStatus::Completed {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let TaskPayload::Completed { result } = done.task.payload else {
        panic!("not completed");
    };
    let result: CallToolResult =
        serde_json::from_value(serde_json::Value::Object(result)).expect("a tool result");
    assert_eq!(text(&result), "5");
    let _ = client.cancel().await;
    bounded(mux.shutdown()).await;
}
