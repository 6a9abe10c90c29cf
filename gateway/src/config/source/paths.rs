//! Key paths (the syntax is in the [parent module's docs](super)) and positions in the file.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn child_key(parent: &str, key: &str) -> String {
    if is_plain_key(key) {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        format!("{parent}[{quoted}]")
    }
}

/// Byte offsets where the segments of `path` after the first start, i.e. the ends of its proper
/// ancestors (not counting the empty root).
pub(super) fn ancestor_ends(path: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in path.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '.' | '[' if i > 0 => ends.push(i),
            _ => {}
        }
    }
    ends
}

/// Whether `path` is `ancestor` or below it.
pub(super) fn is_within(path: &str, ancestor: &str) -> bool {
    if ancestor.is_empty() {
        return true;
    }
    match path.strip_prefix(ancestor) {
        Some("") => true,
        Some(rest) => rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

pub(super) fn lookup(index: &HashMap<String, Pos>, path: &str) -> Option<Pos> {
    if let Some(p) = index.get(path) {
        return Some(*p);
    }
    ancestor_ends(path)
        .into_iter()
        .rev()
        .find_map(|end| index.get(&path[..end]).copied())
        .or_else(|| index.get("").copied())
}

/// The key path of a `serde_path_to_error` path (for errors from deserialization).
pub(super) fn serde_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        out = match segment {
            serde_path_to_error::Segment::Seq { index } => format!("{out}[{index}]"),
            serde_path_to_error::Segment::Map { key } => child_key(&out, key),
            serde_path_to_error::Segment::Enum { variant } => child_key(&out, variant),
            serde_path_to_error::Segment::Unknown => out,
        };
    }
    out
}
