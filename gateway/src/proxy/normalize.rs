//! Request path normalization before routing.
//!
//! Routing on a raw path lets `/public/../admin` match a `/public` prefix while the upstream
//! resolves it to `/admin`. Dot segments (`.` and `..`, also percent-encoded as `%2e`) are
//! removed as RFC 3986 §5.2.4 says, before any route sees the path, and the normalized path is
//! what goes upstream. Other percent-encodings and repeated slashes are left alone.

use http::uri::{PathAndQuery, Uri};

/// Returns the URI with dot segments removed from its path, or `None` when nothing changes.
pub fn normalize_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    if !has_dot_segment(path) {
        return None;
    }
    let normalized = remove_dot_segments(path);
    let pq = match uri.query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

fn is_dot(seg: &str) -> bool {
    seg == "." || seg.eq_ignore_ascii_case("%2e")
}

fn is_dot_dot(seg: &str) -> bool {
    matches!(
        seg.to_ascii_lowercase().as_str(),
        ".." | "%2e%2e" | ".%2e" | "%2e."
    )
}

fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| is_dot(s) || is_dot_dot(s))
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        if is_dot(seg) {
            if i == last {
                out.push("");
            }
        } else if is_dot_dot(seg) {
            out.pop();
            if i == last {
                out.push("");
            }
        } else {
            out.push(seg);
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        let uri: Uri = p.parse().unwrap();
        normalize_uri(&uri).map_or(p.to_string(), |u| u.to_string())
    }

    #[test]
    fn dot_segments_removed() {
        assert_eq!(norm("/public/../admin"), "/admin");
        assert_eq!(norm("/a/./b"), "/a/b");
        assert_eq!(norm("/a/b/.."), "/a/");
        assert_eq!(norm("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(norm("/public/%2e%2E/admin?x=1"), "/admin?x=1");
        assert_eq!(norm("/a/.b/..c"), "/a/.b/..c");
        assert_eq!(norm("/plain"), "/plain");
        assert_eq!(norm("/a/."), "/a/");
    }
}
