//! The tool set as an rmcp `ServerHandler`, so it can be mounted in-process or served alone.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::config::ToolMode;
use crate::meta::MetaTools;
use crate::toolset::OpenApiTools;

/// MCP server exposing one API's tools: one per operation, or the three meta-tools when the
/// config says `mode: meta`.
#[derive(Debug, Clone)]
pub struct OpenApiServer {
    tools: Arc<OpenApiTools>,
    meta: Option<Arc<MetaTools>>,
    list: Arc<Vec<Tool>>,
}

impl OpenApiServer {
    pub fn new(tools: Arc<OpenApiTools>) -> Self {
        if tools.config().mode == ToolMode::Meta {
            let meta = MetaTools::new(tools.clone());
            let list = Arc::new(meta.tools().to_vec());
            return OpenApiServer {
                tools,
                meta: Some(Arc::new(meta)),
                list,
            };
        }
        let list = Arc::new(tools.tools());
        OpenApiServer {
            tools,
            meta: None,
            list,
        }
    }

    /// The tool set served.
    pub fn tools(&self) -> &Arc<OpenApiTools> {
        &self.tools
    }
}

impl ServerHandler for OpenApiServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("openapi-tools", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items((*self.list).clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match &self.meta {
            Some(meta) => meta.call(&request.name, request.arguments).await,
            None => self.tools.call(&request.name, request.arguments).await,
        };
        match result {
            Some(result) => Ok(result.into()),
            None => Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            )),
        }
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        match &self.meta {
            Some(_) => self.list.iter().find(|t| t.name == name).cloned(),
            None => self.tools.tool(name),
        }
    }
}
