//! Errors collected by the stages, and how values are quoted in their messages.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use super::super::diagnostic::{ConfigErrors, Diagnostic};
use super::paths::{ancestor_ends, lookup, Pos};

/// Longest value quoted in a message.
pub(super) const MAX_PREVIEW: usize = 60;

pub(super) struct Issue {
    pub(super) path: String,
    /// Exact position when known better than the index (e.g. a scalar value).
    pub(super) pos: Option<Pos>,
    pub(super) message: String,
    /// For a missing required key: its name. For an unknown key: the known key suggested.
    pub(super) required: Option<String>,
    pub(super) suggested: Option<String>,
}

#[derive(Default)]
pub(super) struct Issues {
    pub(super) list: Vec<Issue>,
}

impl Issues {
    pub(super) fn push(&mut self, path: &str, pos: Option<Pos>, message: String) {
        self.list.push(Issue {
            path: path.to_string(),
            pos,
            message,
            required: None,
            suggested: None,
        });
    }

    /// Drops "missing required key `x`" where an unknown key of the same mapping was taken to be a
    /// misspelt `x` (the "did you mean" says it already).
    pub(super) fn drop_redundant_required(&mut self) {
        let suggested: HashSet<(String, String)> = self
            .list
            .iter()
            .filter_map(|i| {
                let s = i.suggested.as_ref()?;
                let parent = &i.path[..ancestor_ends(&i.path).last().copied().unwrap_or(0)];
                Some((parent.to_string(), s.clone()))
            })
            .collect();
        self.list.retain(|i| match &i.required {
            Some(r) => !suggested.contains(&(i.path.clone(), r.clone())),
            None => true,
        });
    }

    pub(super) fn into_errors(self, file: &Path, index: &HashMap<String, Pos>) -> ConfigErrors {
        let mut out: Vec<Diagnostic> = Vec::new();
        for issue in self.list {
            let pos = issue.pos.or_else(|| lookup(index, &issue.path));
            let d = Diagnostic {
                file: file.to_path_buf(),
                line: pos.map(|p| p.line),
                column: pos.map(|p| p.column),
                path: issue.path,
                message: issue.message,
            };
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out.sort_by(|a, b| {
            let key = |d: &Diagnostic| (d.line.unwrap_or(usize::MAX), d.column.unwrap_or(0));
            key(a).cmp(&key(b))
        });
        ConfigErrors(out)
    }
}

pub(super) fn preview_str(s: &str) -> String {
    preview(&Value::String(s.to_string()))
}

/// A value for a message: JSON, cut at about [`MAX_PREVIEW`] characters.
pub(super) fn preview(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    if text.chars().count() <= MAX_PREVIEW {
        text
    } else {
        let cut: String = text.chars().take(MAX_PREVIEW).collect();
        format!("{cut}…")
    }
}
