//! The compiled tool set of one API: tool list, lookup, validation and execution.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use jsonschema::Validator;
use rmcp::model::{CallToolResult, Tool};
use serde_json::{Map, Value};
use url::Url;

use crate::auth::Authenticator;
use crate::config::OpenApiConfig;
use crate::error::{Error, Result};
use crate::load::DocSet;
use crate::model::{ApiModel, Operation, Skipped};
use crate::naming::{assign, NameRequest};
use crate::response::{map, tool_error};
use crate::tools::{build, BuildOptions, ToolDef};
use backend_auth::BackendAuth;

/// Default cap on response bodies read per call.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// A REST API as a set of MCP tools, ready to list and call. Cheap to share behind an `Arc`.
pub struct OpenApiTools {
    model: ApiModel,
    tools: Vec<ToolDef>,
    by_name: HashMap<String, usize>,
    /// Compiled lazily: building thousands of validators up front would dominate load time.
    validators: Vec<OnceLock<std::result::Result<Validator, String>>>,
    config: OpenApiConfig,
    client: reqwest::Client,
    auth: Authenticator,
    /// The target's `backendAuth`: a header set on every request, over any the document's
    /// security gave.
    backend_auth: Option<BackendAuth>,
    filtered: Vec<Skipped>,
}

impl std::fmt::Debug for OpenApiTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiTools")
            .field("title", &self.model.title)
            .field("tools", &self.tools.len())
            .finish()
    }
}

impl OpenApiTools {
    /// Loads `config.spec` and builds the tools.
    pub fn load(config: OpenApiConfig) -> Result<Self> {
        let docs = DocSet::load(&config.spec)?;
        let model = crate::parse::convert_owned(docs)?;
        Self::from_model(model, config)
    }

    /// Builds the tools of an already converted model.
    pub fn from_model(model: ApiModel, config: OpenApiConfig) -> Result<Self> {
        if let Some(base) = &config.base_url {
            check_base(base)?;
        }
        crate::auth::check(&model.security_schemes, &config.credentials)?;
        let max_name = config.max_name_length.unwrap_or(64);
        let reqs: Vec<NameRequest<'_>> = model
            .operations
            .iter()
            .map(|op| NameRequest {
                override_name: name_override(&config, op),
                operation_id: op.operation_id.as_deref(),
                method: &op.method,
                path: &op.path,
            })
            .collect();
        let names = assign(&reqs, max_name);
        let opts = BuildOptions {
            max_description: config.max_description_length.unwrap_or(1024),
            output_schema: config.output_schema.unwrap_or(true),
        };
        let mut tools = Vec::new();
        let mut filtered = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            let op = &model.operations[i];
            if !config.tools.allows(op, &name) {
                filtered.push(Skipped {
                    method: op.method.clone(),
                    path: op.path.clone(),
                    reason: format!("not selected ({name})"),
                });
                continue;
            }
            tools.push(build(&model, i, name, opts));
        }
        let by_name = tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.tool.name.to_string(), i))
            .collect();
        // netkit's client: the built-in roots plus `SSL_CERT_FILE`; no redirects.
        let client = netkit::reqwest_client(netkit::ReqwestOptions {
            timeout: Some(config.timeout()?),
            ..Default::default()
        })?;
        Ok(OpenApiTools {
            validators: tools.iter().map(|_| OnceLock::new()).collect(),
            tools,
            by_name,
            auth: Authenticator::new(config.credentials.clone()),
            backend_auth: None,
            config,
            client,
            model,
            filtered,
        })
    }

    /// Sets `auth`'s credential on every request to the API (the `backendAuth` policy of
    /// the target), replacing a header of the same name that `credentials` gave.
    pub fn with_backend_auth(mut self, auth: Option<BackendAuth>) -> Self {
        self.backend_auth = auth;
        self
    }

    /// The converted document.
    pub fn model(&self) -> &ApiModel {
        &self.model
    }

    /// The configuration the tools were built with.
    pub fn config(&self) -> &OpenApiConfig {
        &self.config
    }

    /// Every tool's internal definition, in document order.
    pub fn tool_defs(&self) -> &[ToolDef] {
        &self.tools
    }

    /// The MCP tool definitions, in document order, each with the `$defs` it reaches.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools
            .iter()
            .map(|t| t.materialize(&self.model))
            .collect()
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether the selection left no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Tool names, in document order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.tool.name.as_ref())
    }

    /// One tool definition by name, as clients see it (with its `$defs`).
    pub fn tool(&self, name: &str) -> Option<Tool> {
        self.tool_def(name).map(|t| t.materialize(&self.model))
    }

    /// One tool's internal definition (compact schemas, argument bindings) by name.
    pub fn tool_def(&self, name: &str) -> Option<&ToolDef> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// Operations that are not tools: unconvertible ones and those the selection left out.
    pub fn not_exposed(&self) -> Vec<Skipped> {
        self.model
            .skipped
            .iter()
            .chain(self.filtered.iter())
            .cloned()
            .collect()
    }

    /// Validates the tool's input schema (compiling its validator if needed).
    pub fn check_schema(&self, name: &str) -> std::result::Result<(), String> {
        let i = *self.by_name.get(name).ok_or("unknown tool")?;
        self.validator(i).map(|_| ())
    }

    fn validator(&self, i: usize) -> std::result::Result<&Validator, String> {
        self.validators[i]
            .get_or_init(|| crate::validate::compile(&self.tools[i].full_input_schema(&self.model)))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Calls a tool. `None` when no tool has that name (a protocol error for the caller);
    /// every other failure is a result with `isError: true`.
    pub async fn call(
        &self,
        name: &str,
        args: Option<Map<String, Value>>,
    ) -> Option<CallToolResult> {
        let i = *self.by_name.get(name)?;
        Some(self.call_index(i, args.unwrap_or_default()).await)
    }

    async fn call_index(&self, i: usize, args: Map<String, Value>) -> CallToolResult {
        let def = &self.tools[i];
        let op = &self.model.operations[def.op_index];
        let args_value = Value::Object(args);
        match self.validator(i) {
            Ok(v) => {
                let errs = crate::validate::errors(v, &args_value);
                if !errs.is_empty() {
                    return tool_error(format!(
                        "invalid arguments (no request was sent):\n- {}",
                        errs.join("\n- ")
                    ));
                }
            }
            Err(e) => return tool_error(e),
        }
        let Value::Object(args) = args_value else {
            return tool_error("arguments must be an object");
        };
        let base = match self.base_url(op) {
            Ok(b) => b,
            Err(e) => return tool_error(e),
        };
        let extra = match self.auth.apply(&self.model, op, &self.client, &base).await {
            Ok(x) => x,
            Err(e) => return tool_error(format!("authentication failed: {e}")),
        };
        let req = match crate::request::build(&self.client, &base, op, def, &args, &extra) {
            Ok(r) => r,
            Err(e) => {
                return tool_error(format!(
                    "cannot build the request (no request was sent): {e}"
                ))
            }
        };
        let uri = format!("{}{}", base.as_str().trim_end_matches('/'), op.path);
        let sent = match backend_auth::send(self.backend_auth.as_ref(), req).await {
            Ok(sent) => sent,
            Err(e) => {
                return tool_error(format!("authentication failed (no request was sent): {e}"))
            }
        };
        match sent {
            Ok(resp) => {
                let cap = self
                    .config
                    .max_response_bytes
                    .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
                map(resp, cap, &uri, def.has_output_schema).await
            }
            Err(e) => tool_error(describe_send_error(&e, &op.method, &uri)),
        }
    }

    /// Config `baseUrl`, else the operation's or the document's first server.
    fn base_url(&self, op: &Operation) -> std::result::Result<Url, String> {
        if let Some(b) = &self.config.base_url {
            return Url::parse(b).map_err(|e| format!("bad baseUrl: {e}"));
        }
        let server = op.servers.first().or_else(|| self.model.servers.first());
        let Some(server) = server else {
            return Err("the document has no servers; set baseUrl in the config".into());
        };
        let rendered = server.render(&self.config.server_variables);
        let url = Url::parse(&rendered).map_err(|_| {
            format!("server URL {rendered:?} is not absolute; set baseUrl in the config")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("server URL {rendered:?} is not http(s)"));
        }
        Ok(url)
    }
}

fn name_override<'a>(config: &'a OpenApiConfig, op: &Operation) -> Option<&'a str> {
    let key = format!("{} {}", op.method, op.path);
    op.operation_id
        .as_ref()
        .and_then(|id| config.names.get(id))
        .or_else(|| config.names.get(&key))
        .map(String::as_str)
}

pub(crate) fn check_base(base: &str) -> Result<()> {
    let url = Url::parse(base).map_err(|e| Error::Config(format!("baseUrl {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "baseUrl {base:?} must be http or https"
        )));
    }
    Ok(())
}

fn describe_send_error(e: &reqwest::Error, method: &str, uri: &str) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut cause = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause.push_str(&format!(": {s}"));
        src = s.source();
    }
    format!("{method} {uri} {kind}: {cause}")
}

/// Shared handle used by the MCP server.
pub type SharedTools = Arc<OpenApiTools>;
