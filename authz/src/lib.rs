//! Authorization rules for Switchboard: `authorization` on HTTP and A2A routes and
//! `mcpAuthorization` on MCP routes, as allow / deny / require CEL expressions over the caller
//! identity, the request and (on MCP) the tool, prompt or resource.
//!
//! Use: [`CompiledRules::compile`] once per config load (errors name the rule index), then
//! [`CompiledRules::evaluate`] per request or MCP call and [`CompiledRules::check_listing`] per
//! item of an MCP list. See docs/config.md (Authorization) for the rules' semantics and variables.

mod bind;
mod config;
mod engine;
mod input;
mod limits;
mod refs;

pub use config::{Rule, RuleKind, RuleSet};
pub use engine::{CompiledRules, EvalError, Outcome, Phase, Problem, Reason, RuleError};
pub use input::{
    ApiKeyView, BasicAuthView, IdentityView, Input, McpItem, McpKind, McpView, RequestView,
};

#[cfg(test)]
mod tests;
