//! Route matching with Gateway API HTTPRoute precedence.
//!
//! Every (route, match) pair becomes one [`MatchEntry`]; entries are sorted once at load by
//! precedence, and a request takes the first entry that matches. Precedence, continuing on ties:
//! route hostname (exact, then longer wildcard, then none), path kind (exact, then regex, then
//! prefix, as Envoy Gateway orders them: a regex is more specific than a catch-all prefix),
//! longer path value, a method condition, more header conditions, more query conditions,
//! then the order in the file.

use std::cmp::Ordering;
use std::sync::Arc;

use regex::Regex;

use super::host::HostPattern;
use super::route::Route;

/// How a request path is matched.
#[derive(Debug, Clone)]
pub enum PathMatcher {
    /// Equal to this path.
    Exact(String),
    /// Starts with these whole segments. Stored without a trailing `/` (except the root `/`).
    Prefix(String),
    /// The whole path matches (anchored at load).
    Regex(Regex),
}

impl PathMatcher {
    /// Builds a segment-aware prefix matcher: `/api/` and `/api` are the same prefix.
    pub fn prefix(p: &str) -> Self {
        let trimmed = p.trim_end_matches('/');
        PathMatcher::Prefix(if trimmed.is_empty() {
            "/".to_string()
        } else {
            trimmed.to_string()
        })
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(p) => p == path,
            PathMatcher::Prefix(p) => {
                p == "/"
                    || (path.starts_with(p.as_str())
                        && matches!(path.as_bytes().get(p.len()), None | Some(b'/')))
            }
            PathMatcher::Regex(r) => r.is_match(path),
        }
    }

    fn rank(&self) -> (u8, usize) {
        match self {
            PathMatcher::Exact(p) => (3, p.len()),
            PathMatcher::Regex(r) => (2, r.as_str().len()),
            PathMatcher::Prefix(p) => (1, p.len()),
        }
    }
}

/// Exact or regex condition on a header or query value.
#[derive(Debug, Clone)]
pub enum ValueMatcher {
    /// Equal to this value.
    Exact(String),
    /// Whole value matches (anchored at load).
    Regex(Regex),
}

impl ValueMatcher {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatcher::Exact(v) => v == value,
            ValueMatcher::Regex(r) => r.is_match(value),
        }
    }
}

/// One match of a route: all conditions must hold.
#[derive(Debug, Clone)]
pub struct RequestMatch {
    /// Path condition.
    pub path: PathMatcher,
    /// Method condition.
    pub method: Option<http::Method>,
    /// Header conditions (names lower-case).
    pub headers: Vec<(http::HeaderName, ValueMatcher)>,
    /// Query parameter conditions.
    pub query: Vec<(String, ValueMatcher)>,
}

impl RequestMatch {
    /// Whether the request matches. `path` is the decoded-as-sent path without the query.
    pub fn matches(&self, req: &http::request::Parts) -> bool {
        if !self.path.matches(req.uri.path()) {
            return false;
        }
        if let Some(m) = &self.method {
            if req.method != m {
                return false;
            }
        }
        let headers_ok = self.headers.iter().all(|(name, cond)| {
            req.headers
                .get_all(name)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| cond.matches(v)))
        });
        if !headers_ok {
            return false;
        }
        if self.query.is_empty() {
            return true;
        }
        let query = req.uri.query().unwrap_or("");
        self.query
            .iter()
            .all(|(name, cond)| query_pairs(query).any(|(k, v)| k == *name && cond.matches(&v)))
    }

    fn precedence_cmp(&self, other: &Self) -> Ordering {
        other
            .path
            .rank()
            .cmp(&self.path.rank())
            .then_with(|| other.method.is_some().cmp(&self.method.is_some()))
            .then_with(|| other.headers.len().cmp(&self.headers.len()))
            .then_with(|| other.query.len().cmp(&self.query.len()))
    }
}

/// Splits a query string into decoded pairs.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|s| !s.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One (route, match) pair in precedence order.
#[derive(Debug, Clone)]
pub struct MatchEntry {
    /// Route hostnames; empty means any host the listener serves.
    pub hostnames: Arc<[HostPattern]>,
    /// The conditions.
    pub matcher: RequestMatch,
    /// The route it selects.
    pub route: Arc<Route>,
    /// Position in the file, the last tie-break.
    pub order: usize,
}

impl MatchEntry {
    fn best_host(&self) -> HostPattern {
        let mut v: Vec<_> = self.hostnames.to_vec();
        v.sort_by(|a, b| a.specificity_cmp(b));
        v.into_iter().next().unwrap_or(HostPattern::Any)
    }
}

/// The routes of one listener, sorted by precedence.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    entries: Vec<MatchEntry>,
}

/// The outcome of matching: the route and the match that selected it.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'a> {
    /// The route.
    pub route: &'a Arc<Route>,
    /// The match that selected it (its path condition drives prefix rewrites).
    pub matched: &'a RequestMatch,
}

impl RouteTable {
    /// Sorts entries by precedence.
    pub fn new(mut entries: Vec<MatchEntry>) -> Self {
        entries.sort_by(|a, b| {
            a.best_host()
                .specificity_cmp(&b.best_host())
                .then_with(|| a.matcher.precedence_cmp(&b.matcher))
                .then_with(|| a.order.cmp(&b.order))
        });
        RouteTable { entries }
    }

    /// The first route, in precedence order, whose hostnames and conditions match.
    pub fn select<'a>(
        &'a self,
        host: Option<&str>,
        req: &http::request::Parts,
    ) -> Option<Selected<'a>> {
        self.entries
            .iter()
            .find(|e| {
                (e.hostnames.is_empty()
                    || host.is_some_and(|h| e.hostnames.iter().any(|p| p.matches(h))))
                    && e.matcher.matches(req)
            })
            .map(|e| Selected {
                route: &e.route,
                matched: &e.matcher,
            })
    }

    /// Number of entries (route × match).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> http::request::Parts {
        http::Request::builder()
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn prefix_is_segment_aware() {
        let p = PathMatcher::prefix("/api/");
        assert!(p.matches("/api"));
        assert!(p.matches("/api/x"));
        assert!(!p.matches("/apix"));
        assert!(PathMatcher::prefix("/").matches("/anything"));
    }

    #[test]
    fn query_pairs_decode() {
        let v: Vec<_> = query_pairs("a=1&b=x%20y&c&d=%zz&e=a+b").collect();
        assert_eq!(v[0], ("a".into(), "1".into()));
        assert_eq!(v[1], ("b".into(), "x y".into()));
        assert_eq!(v[2], ("c".into(), "".into()));
        assert_eq!(v[3], ("d".into(), "%zz".into()));
        assert_eq!(v[4], ("e".into(), "a b".into()));
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn query_condition() {
        let m = RequestMatch {
            path: PathMatcher::prefix("/"),
            method: None,
            headers: vec![],
            query: vec![("v".into(), ValueMatcher::Exact("2".into()))],
        };
        assert!(m.matches(&parts("/x?a=1&v=2")));
        assert!(!m.matches(&parts("/x?v=3")));
        assert!(!m.matches(&parts("/x")));
    }
}
