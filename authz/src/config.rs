//! The config shape of a rule set, shared by `authorization` (HTTP and A2A routes) and
//! `mcpAuthorization` (MCP routes): `{ rules: [{ allow: '<cel>' }, { deny: '<cel>' }, ...] }`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Rules deciding whether a request (or, on MCP routes, a tool / prompt / resource) is allowed.
///
/// Precedence: any matching `deny` denies; then every `require` must be true; then, if there is
/// at least one `allow` rule, at least one must match. A set of only `deny` / `require` rules
/// allows everything they do not stop; an empty set allows everything. A rule whose evaluation
/// fails (missing key, wrong type) never grants access: a failing `deny` or `require` denies, a
/// failing `allow` does not match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSet {
    /// The rules; their order only matters for which rule is reported.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule: exactly one of `allow`, `deny` or `require`, each a CEL expression that must
/// evaluate to a bool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Rule {
    /// Allows when true (if any `allow` rule exists, one of them must be true).
    Allow(String),
    /// Denies when true, whatever the other rules say.
    Deny(String),
    /// Denies when false.
    Require(String),
}

/// Which of the three a rule is; used in reasons and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// An `allow` rule.
    Allow,
    /// A `deny` rule.
    Deny,
    /// A `require` rule.
    Require,
}

impl RuleKind {
    /// The config key of this kind of rule (`allow`, `deny`, `require`), for key paths such as
    /// `policies.mcpAuthorization.rules[2].deny`.
    pub fn key(self) -> &'static str {
        match self {
            RuleKind::Allow => "allow",
            RuleKind::Deny => "deny",
            RuleKind::Require => "require",
        }
    }
}

impl std::fmt::Display for RuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl Rule {
    /// The rule's kind and its expression.
    pub fn parts(&self) -> (RuleKind, &str) {
        match self {
            Rule::Allow(e) => (RuleKind::Allow, e),
            Rule::Deny(e) => (RuleKind::Deny, e),
            Rule::Require(e) => (RuleKind::Require, e),
        }
    }
}
