//! Lowering `authorization` and `mcpAuthorization`: CEL rules compiled once per config load,
//! each rule that does not compile an error at its own key
//! (`...policies.mcpAuthorization.rules[2].deny`).

use std::sync::Arc;

use super::Lowering;
use crate::config::file;
use crate::model::policy::Authorize;

impl Lowering<'_> {
    /// `authorization` of the route whose policy block is at `path`; `None` without rules.
    /// On an `a2a` route the rules run as A2A rules (same variables; other metrics label).
    pub(super) fn authorization(
        &mut self,
        path: &str,
        p: &file::Policies,
    ) -> Option<Arc<Authorize>> {
        let set = p.authorization.as_ref()?;
        let phase = if p.a2a.is_some() {
            authz::Phase::A2a
        } else {
            authz::Phase::Http
        };
        let rules = self.compile_rules(&format!("{path}.authorization"), set, phase)?;
        Some(Arc::new(Authorize { rules, phase }))
    }

    /// `mcpAuthorization` of the route `route` whose policy block is at `path`, as the MCP
    /// policy its `mcp` backends get; `None` without rules. (Only `mcp` backends take it: the
    /// placement checks refuse it elsewhere.)
    pub(super) fn mcp_policy(
        &mut self,
        path: &str,
        p: &file::Policies,
        route: &str,
    ) -> Option<Arc<mcp_mux::McpPolicy>> {
        let set = p.mcp_authorization.as_ref()?;
        let rules =
            self.compile_rules(&format!("{path}.mcpAuthorization"), set, authz::Phase::Mcp)?;
        Some(Arc::new(mcp_mux::McpPolicy {
            route: route.into(),
            authorization: Some(Arc::new(rules)),
        }))
    }

    /// Compiles `set` (at `path`) for `phase`; each rule that does not compile is an error at
    /// `path.rules[i].<kind>`. An empty set is `None`: nothing to check.
    fn compile_rules(
        &mut self,
        path: &str,
        set: &authz::RuleSet,
        phase: authz::Phase,
    ) -> Option<authz::CompiledRules> {
        match authz::CompiledRules::compile(set, phase) {
            Ok(rules) if rules.is_empty() => None,
            Ok(rules) => Some(rules),
            Err(errors) => {
                for e in errors {
                    self.err(
                        format!("{path}.rules[{}].{}", e.rule, e.kind.key()),
                        e.problem.to_string(),
                    );
                }
                None
            }
        }
    }
}
