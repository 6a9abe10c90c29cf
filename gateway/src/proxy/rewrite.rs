//! Path and URL changes: `urlRewrite` before forwarding and `requestRedirect` answers.

use http::{HeaderValue, Uri};

use crate::model::matcher::{PathMatcher, RequestMatch};
use crate::model::policy::{PathRewrite, Redirect};

/// The new path after a rewrite, given the match that selected the route.
pub fn rewrite_path(path: &str, rewrite: &PathRewrite, matched: &RequestMatch) -> String {
    match rewrite {
        PathRewrite::Full(full) => full.clone(),
        PathRewrite::Prefix(replacement) => match &matched.path {
            PathMatcher::Prefix(prefix) => replace_prefix(path, prefix, replacement),
            // Lowering rejects prefix rewrites on other match kinds; keep the path if it happens.
            _ => path.to_string(),
        },
    }
}

/// Replaces the matched segment prefix, never producing `//` at the seam.
fn replace_prefix(path: &str, prefix: &str, replacement: &str) -> String {
    let rest = if prefix == "/" {
        path
    } else {
        path.get(prefix.len()..).unwrap_or("")
    };
    let repl = replacement.trim_end_matches('/');
    if rest.is_empty() || rest == "/" && repl.is_empty() {
        if repl.is_empty() {
            "/".to_string()
        } else {
            repl.to_string()
        }
    } else {
        format!("{repl}{rest}")
    }
}

/// Builds a new path-and-query with `path` and the original query.
pub fn with_query(path: &str, uri: &Uri) -> String {
    match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

/// The `Location` of a redirect.
pub fn redirect_location(
    r: &Redirect,
    req: &http::request::Parts,
    request_tls: bool,
    matched: &RequestMatch,
) -> Option<HeaderValue> {
    let request_scheme = if request_tls { "https" } else { "http" };
    let scheme = r.scheme.as_deref().unwrap_or(request_scheme);
    let authority: Option<http::uri::Authority> =
        crate::model::host::request_authority(req).and_then(|a| a.parse().ok());
    let req_host = authority
        .as_ref()
        .map(|a| a.host().to_string())
        .unwrap_or_default();
    let host = r.hostname.clone().unwrap_or(req_host);
    if host.is_empty() {
        // No Host header (HTTP/1.0) and no hostname in the policy: no valid Location exists.
        return None;
    }
    // Gateway API: an explicit port wins; when the scheme changes without one, the scheme's
    // well-known port applies; otherwise keep the request's port.
    let port = match (r.port, &r.scheme) {
        (Some(p), _) => Some(p),
        (None, Some(s)) if s != request_scheme => None,
        (None, _) => authority.as_ref().and_then(|a| a.port_u16()),
    };
    let port = port.filter(|p| !matches!((scheme, p), ("http", 80) | ("https", 443)));
    let path = match &r.path {
        Some(p) => rewrite_path(req.uri.path(), p, matched),
        None => req.uri.path().to_string(),
    };
    let path_and_query = with_query(&path, &req.uri);
    let location = match port {
        Some(p) => format!("{scheme}://{host}:{p}{path_and_query}"),
        None => format!("{scheme}://{host}{path_and_query}"),
    };
    HeaderValue::from_str(&location).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_replacement_seams() {
        assert_eq!(replace_prefix("/api/users", "/api", "/"), "/users");
        assert_eq!(replace_prefix("/api", "/api", "/"), "/");
        assert_eq!(replace_prefix("/api/", "/api", "/"), "/");
        assert_eq!(replace_prefix("/api/users", "/api", "/v2"), "/v2/users");
        assert_eq!(replace_prefix("/api/users", "/api", "/v2/"), "/v2/users");
        assert_eq!(replace_prefix("/api", "/api", "/v2"), "/v2");
        assert_eq!(replace_prefix("/x", "/", "/app"), "/app/x");
    }

    fn parts(uri: &str, host: &str) -> http::request::Parts {
        http::Request::builder()
            .uri(uri)
            .header("host", host)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn any_match() -> RequestMatch {
        RequestMatch {
            path: PathMatcher::prefix("/old"),
            method: None,
            headers: vec![],
            query: vec![],
        }
    }

    #[test]
    fn redirect_locations() {
        let m = any_match();
        let base = Redirect {
            scheme: None,
            hostname: None,
            port: None,
            path: None,
            status: http::StatusCode::FOUND,
        };
        let req = parts("/old/a?x=1", "gw.test:8080");
        let loc = |r: &Redirect| {
            redirect_location(r, &req, false, &m)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(loc(&base), "http://gw.test:8080/old/a?x=1");
        let https = Redirect {
            scheme: Some("https".into()),
            ..base.clone()
        };
        assert_eq!(loc(&https), "https://gw.test/old/a?x=1");
        let full = Redirect {
            path: Some(PathRewrite::Full("/new".into())),
            ..base.clone()
        };
        assert_eq!(loc(&full), "http://gw.test:8080/new?x=1");
        let prefix = Redirect {
            path: Some(PathRewrite::Prefix("/new".into())),
            hostname: Some("b.test".into()),
            port: Some(9000),
            ..base.clone()
        };
        assert_eq!(loc(&prefix), "http://b.test:9000/new/a?x=1");
    }
}
