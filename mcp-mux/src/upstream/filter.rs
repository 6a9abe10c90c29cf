//! `tools: {include, exclude}` glob filters of a target.
//!
//! Globs are deliberately tiny (`*` any run, `?` one character) so that what
//! an operator writes in YAML means the same thing everywhere; no regex
//! surprises, no dependency.

use serde::{Deserialize, Serialize};

/// Which of a target's tools are exposed. Empty `include` means all; `exclude` wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolFilter {
    /// Globs of tool names to expose (`*` and `?`); empty = every tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Globs of tool names to hide; applied after `include`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl ToolFilter {
    /// Whether the upstream tool `name` (its original name) is exposed.
    ///
    /// Applied to both `tools/list` and `tools/call`, so a hidden tool cannot
    /// be reached by guessing its name.
    pub fn allows(&self, name: &str) -> bool {
        let included = self.include.is_empty() || self.include.iter().any(|g| glob(g, name));
        included && !self.exclude.iter().any(|g| glob(g, name))
    }
}

/// Matches `text` against a glob of `*` and `?` (iterative, linear backtracking).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("list*", "listPets"));
        assert!(glob("*Pet*", "getPetById"));
        assert!(glob("get?", "getX"));
        assert!(!glob("get?", "get"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "acbd"));
        assert!(glob("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn include_then_exclude() {
        let f = ToolFilter {
            include: vec!["list*".into(), "getPet*".into()],
            exclude: vec!["listSecrets".into()],
        };
        assert!(f.allows("listPets"));
        assert!(f.allows("getPetById"));
        assert!(!f.allows("listSecrets"));
        assert!(!f.allows("deletePet"));
        assert!(ToolFilter::default().allows("anything"));
    }
}
