//! The `backends[].mcp` config shape of DESIGN.md, embeddable in the gateway's
//! config file (camelCase keys, unknown keys rejected, JSON Schema derived).
//!
//! ```yaml
//! mcp:
//!   failureMode: failOpen            # or failClosed
//!   targets:
//!   - { name: time, stdio: { cmd: python3, args: [-m, mcp_server_time], env: { TZ: UTC } } }
//!   - { name: everything, mcp: { url: http://127.0.0.1:3001/mcp }, timeout: 10s }
//!   - name: petstore
//!     openapi: { spec: ./petstore.yaml, baseUrl: http://127.0.0.1:4010 }
//!     tools: { include: ["list*"], exclude: [deletePet] }
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::upstream::filter::ToolFilter;
use crate::upstream::target::validate_target_name;
use crate::MuxError;

/// A virtual MCP server: the `mcp` key of a backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpBackendConfig {
    /// The MCP servers aggregated behind this backend.
    pub targets: Vec<TargetConfig>,
    /// What a list does when one target fails.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Browser origins allowed to call this server (`https://app.example.com`,
    /// `http://localhost:*`). A request with any other `Origin` header is refused with 403,
    /// which stops DNS-rebinding and cross-site calls from browsers; requests without `Origin`
    /// (native clients) are not affected. Default: none, so every cross-origin browser request
    /// is refused. `["*"]` allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// `Host` header values allowed (`mcp.example.com` on any port, `localhost:8080`,
    /// `[::1]:*`). A request for any other host is refused with 421, which stops DNS
    /// rebinding against a gateway that browsers can reach. Default: on a bind whose address
    /// is loopback (127.0.0.0/8, `::1`), only loopback names (`localhost`, `127.0.0.1`,
    /// `[::1]`, any port); on other addresses, not checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// How long a session id stays valid after `initialize` (`30m`, `24h`; default 24h). Ids
    /// are sealed, not stored, so this is an absolute lifetime rather than an idle timeout:
    /// after it the client gets 404 and initializes again, as the spec expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_max_age: Option<Duration>,
    /// How long each target's first list pages are reused before asking it again (`5s` by
    /// default, `0s` to always ask). A target that announces a list change is asked again at
    /// once; this bounds staleness for targets that never do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_cache_ttl: Option<Duration>,
}

/// What a fanned-out list does when one target fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FailureMode {
    /// Skip the failing target; log and count the failure (default).
    #[default]
    FailOpen,
    /// Fail the whole list with an error that names the target.
    FailClosed,
}

/// Which protocol era the gateway speaks to a target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TargetEra {
    /// `initialize` first, which every 2025-era and dual-era server takes (and which never
    /// stalls a legacy server on an unknown method); a server that refuses it is asked
    /// `server/discover` (2026-07-28). The era that worked is tried first on reconnects.
    #[default]
    Auto,
    /// Always the `initialize` handshake and sessions (2025-11-25 and older).
    Legacy,
    /// Always `server/discover` and per-request metadata (2026-07-28).
    Modern,
}

/// One MCP target. Exactly one of `stdio`, `mcp`, `sse`, `openapi`, `a2a` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetConfig {
    /// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 32 characters; prefixes the
    /// target's tool and prompt names when the backend has several targets.
    pub name: String,
    /// A local process speaking MCP on stdin/stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdio: Option<StdioTargetConfig>,
    /// A remote Streamable HTTP MCP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<HttpTargetConfig>,
    /// A remote legacy HTTP+SSE MCP server (2024-11-05 transport).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<HttpTargetConfig>,
    /// An OpenAPI REST API exposed as tools (built by the `openapi-tools` crate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<OpenApiTargetConfig>,
    /// An A2A agent's skills exposed as tools (built by the `a2a` crate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a2a: Option<A2aTargetConfig>,
    /// Which protocol era to speak to the target (`auto` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub era: Option<TargetEra>,
    /// Longest wait for the handshake and for each request to this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Which of this target's tools are exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolFilter>,
    /// Policies of this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<TargetPolicies>,
}

/// `policies` of one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetPolicies {
    /// Credentials added to every request to the target (`key` or `oauth2`). Applies to
    /// `mcp`, `sse`, `openapi` and `a2a` targets; a `stdio` process takes its credentials
    /// from `stdio.env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_auth: Option<backend_auth::BackendAuthConfig>,
}

impl TargetConfig {
    /// The target's `policies.backendAuth`, if set.
    pub fn backend_auth(&self) -> Option<&backend_auth::BackendAuthConfig> {
        self.policies.as_ref()?.backend_auth.as_ref()
    }
}

/// `stdio: { cmd, args, env }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StdioTargetConfig {
    /// Program to run (looked up on `PATH`).
    pub cmd: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment variables (the rest is inherited).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Stop the process after this long without a request to it (`10m`); it starts again on
    /// the next use. Default: it runs until the gateway stops or the config drops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

/// `mcp: { url, headers }` and `sse: { url, headers }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpTargetConfig {
    /// Endpoint URL (`http://127.0.0.1:3001/mcp`).
    pub url: String,
    /// Headers sent with every request (e.g. an API key).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// `openapi: { spec, baseUrl, mode, credentials, ... }`: the `openapi-tools` crate's own config,
/// so every key it supports is available here, with one schema and one set of docs.
pub use openapi_tools::config::OpenApiConfig as OpenApiTargetConfig;

/// `a2a: { url }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct A2aTargetConfig {
    /// Base URL of the agent (its card is read from there).
    pub url: String,
}

/// Which transport a [`TargetConfig`] selects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetKindConfig<'a> {
    Stdio(&'a StdioTargetConfig),
    Mcp(&'a HttpTargetConfig),
    Sse(&'a HttpTargetConfig),
    OpenApi(&'a OpenApiTargetConfig),
    A2a(&'a A2aTargetConfig),
}

impl TargetConfig {
    /// The one transport this target selects; an error if none or several.
    pub fn kind(&self) -> Result<TargetKindConfig<'_>, MuxError> {
        let mut kinds = Vec::new();
        if let Some(c) = &self.stdio {
            kinds.push(TargetKindConfig::Stdio(c));
        }
        if let Some(c) = &self.mcp {
            kinds.push(TargetKindConfig::Mcp(c));
        }
        if let Some(c) = &self.sse {
            kinds.push(TargetKindConfig::Sse(c));
        }
        if let Some(c) = &self.openapi {
            kinds.push(TargetKindConfig::OpenApi(c));
        }
        if let Some(c) = &self.a2a {
            kinds.push(TargetKindConfig::A2a(c));
        }
        match kinds.as_slice() {
            [one] => Ok(*one),
            [] => Err(MuxError::InvalidTarget {
                target: self.name.clone(),
                message: "set exactly one of stdio, mcp, sse, openapi, a2a (none is set)".into(),
            }),
            _ => Err(MuxError::InvalidTarget {
                target: self.name.clone(),
                message: "set exactly one of stdio, mcp, sse, openapi, a2a (several are set)"
                    .into(),
            }),
        }
    }
}

impl McpBackendConfig {
    /// Checks names (syntax, uniqueness) and that each target picks one transport.
    pub fn validate(&self) -> Result<(), MuxError> {
        if self.targets.is_empty() {
            return Err(MuxError::NoTargets);
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.targets {
            validate_target_name(&t.name).map_err(|reason| MuxError::InvalidTargetName {
                name: t.name.clone(),
                reason,
            })?;
            if !seen.insert(t.name.as_str()) {
                return Err(MuxError::DuplicateTarget(t.name.clone()));
            }
            if matches!(t.kind()?, TargetKindConfig::Sse(_)) && t.era == Some(TargetEra::Modern) {
                return Err(MuxError::InvalidTarget {
                    target: t.name.clone(),
                    message: "era: modern cannot apply to an `sse` target (HTTP+SSE is a \
                              2024-11-05 transport); use `mcp` for a 2026-07-28 server"
                        .into(),
                });
            }
        }
        Ok(())
    }
}

/// Durations of targets (`timeout`, `idleTimeout`…): netkit's, the grammar of the whole
/// gateway config (a whole number and a unit, at most ten years).
pub use netkit::{Duration, DURATION_PATTERN, MAX_DURATION};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_design_shape() {
        let json = serde_json::json!({
            "failureMode": "failClosed",
            "targets": [
                {"name": "time", "stdio": {"cmd": "python3", "args": ["-m", "x"], "env": {"TZ": "UTC"}}},
                {"name": "everything", "mcp": {"url": "http://127.0.0.1:3001/mcp"}, "timeout": "10s"},
                {"name": "legacy", "sse": {"url": "http://127.0.0.1:3002/sse"}},
                {"name": "petstore", "openapi": {"spec": "./p.yaml", "baseUrl": "http://x"},
                 "tools": {"include": ["list*"], "exclude": ["deletePet"]},
                 "policies": {"backendAuth": {"key": {"header": "x", "value": "y"}}}},
                {"name": "travel", "a2a": {"url": "http://127.0.0.1:9999"}}
            ]
        });
        let c: McpBackendConfig = serde_json::from_value(json).expect("parse");
        c.validate().expect("valid");
        assert_eq!(c.failure_mode, FailureMode::FailClosed);
        assert_eq!(
            c.targets[1].timeout,
            Some(Duration(std::time::Duration::from_secs(10)))
        );
        assert!(matches!(
            c.targets[3].kind(),
            Ok(TargetKindConfig::OpenApi(_))
        ));
    }

    #[test]
    fn rejects_bad_configs() {
        let unknown =
            serde_json::json!({"targets": [{"name": "a", "stdio": {"cmd": "x"}, "bogus": 1}]});
        assert!(serde_json::from_value::<McpBackendConfig>(unknown).is_err());
        let two: McpBackendConfig = serde_json::from_value(serde_json::json!({"targets": [
            {"name": "a", "stdio": {"cmd": "x"}, "mcp": {"url": "http://x"}}]}))
        .expect("parse");
        assert!(two.validate().is_err());
        let bad_name: McpBackendConfig = serde_json::from_value(
            serde_json::json!({"targets": [{"name": "A_b", "stdio": {"cmd": "x"}}]}),
        )
        .expect("parse");
        assert!(matches!(
            bad_name.validate(),
            Err(MuxError::InvalidTargetName { .. })
        ));
        let dup: McpBackendConfig = serde_json::from_value(serde_json::json!({"targets": [
            {"name": "a", "stdio": {"cmd": "x"}}, {"name": "a", "stdio": {"cmd": "y"}}]}))
        .expect("parse");
        assert!(matches!(dup.validate(), Err(MuxError::DuplicateTarget(_))));
        let schema = schemars::schema_for!(McpBackendConfig);
        assert!(serde_json::to_string(&schema)
            .expect("schema")
            .contains("failOpen"));
    }
}
