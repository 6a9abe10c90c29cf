//! Request path normalization before routing.
//!
//! Routing on a raw path lets `/public/../admin` match a `/public` prefix while the upstream
//! resolves it to `/admin`. Dot segments (`.` and `..`, also percent-encoded as `%2e`) are
//! removed as RFC 3986 §5.2.4 says, before any route sees the path, and the normalized path is
//! what goes upstream. Percent-encoded unreserved characters (`%61` for `a`, RFC 3986
//! §6.2.2.2) are decoded first, so that `/%61pi` is routed (and authenticated) as the `/api`
//! an upstream that decodes paths would serve. Other percent-encodings (`%2F` among them) and
//! repeated slashes are left alone.

use http::uri::{PathAndQuery, Uri};

/// Returns the URI with unreserved characters decoded and dot segments removed from its
/// path, or `None` when nothing changes.
pub fn normalize_uri(uri: &Uri) -> Option<Uri> {
    let decoded = decode_unreserved(uri.path());
    let path = decoded.as_deref().unwrap_or(uri.path());
    let normalized = match (has_dot_segment(path), decoded.is_some()) {
        (true, _) => remove_dot_segments(path),
        (false, true) => path.to_owned(),
        (false, false) => return None,
    };
    let pq = match uri.query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

/// The path with `%XX` escapes of unreserved characters (letters, digits, `-._~`) decoded,
/// or `None` when it has none.
fn decode_unreserved(path: &str) -> Option<String> {
    if !path.contains('%') {
        return None;
    }
    // Bytes, not chars: a path may carry raw UTF-8 (the `http` crate lets bytes over 0x7F
    // through), which must go upstream as it came.
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| char::from(c).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(c);
                    changed = true;
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII escapes were replaced by ASCII bytes, so the rest is as valid as the input.
    changed.then(|| String::from_utf8(out).ok()).flatten()
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

    #[test]
    fn unreserved_escapes_decoded_others_kept() {
        assert_eq!(norm("/%61pi/x"), "/api/x");
        assert_eq!(norm("/%41%7e%2D%5f"), "/A~-_");
        assert_eq!(norm("/api%2Fx/%20/%25"), "/api%2Fx/%20/%25");
        assert_eq!(norm("/public/%2E%2e/%61dmin"), "/admin");
        assert_eq!(norm("/a%2"), "/a%2");
        assert_eq!(norm("/a%"), "/a%");
        assert_eq!(norm("/a%zz"), "/a%zz");
    }

    #[test]
    fn raw_utf8_in_a_path_is_kept_when_escapes_are_decoded() {
        let uri: Uri = "/caf\u{e9}/%61".parse().unwrap();
        assert_eq!(normalize_uri(&uri).unwrap().path(), "/caf\u{e9}/a");
    }
}
