//! The RFC 9728 protected resource metadata a listener serves for its `mcpAuthentication`
//! routes.
//!
//! A route matches `/mcp`, but its metadata lives elsewhere on the same host:
//! `/.well-known/oauth-protected-resource/mcp` (the well-known prefix inserted before the path
//! of the configured `resource`). So the documents are not served by the route: each listener
//! holds a table, built when the config is lowered, from well-known path to document, and the
//! proxy answers from it before choosing a route. A route whose own match covers such a path
//! (a catch-all `/`) never sees those requests.
//!
//! The bare `/.well-known/oauth-protected-resource` (the root form clients try last) is served
//! too when it is unambiguous: when every `mcpAuthentication` route of the listener publishes
//! the same document.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use authn::mcp::{ProtectedResource, WELL_KNOWN};

/// A listener's metadata documents by request path.
#[derive(Debug, Default)]
pub struct ProtectedResources {
    by_path: HashMap<String, Arc<str>>,
}

impl ProtectedResources {
    /// The table of a listener's `mcpAuthentication` routes (each with the key path of its
    /// `resource`, for errors). Two routes may share a path only with the same document;
    /// otherwise the error names the second route's `resource`.
    pub fn build(routes: Vec<(String, ProtectedResource)>) -> Result<Self, (String, String)> {
        let mut by_path: HashMap<String, Arc<str>> = HashMap::new();
        for (at, pr) in &routes {
            if let Some(prev) = by_path.get(&pr.path) {
                if **prev != *pr.document {
                    return Err((
                        at.clone(),
                        format!(
                            "another route of this listener publishes different metadata at {}: \
                             give each resource its own URL, or the same mcpAuthentication",
                            pr.path
                        ),
                    ));
                }
                continue;
            }
            by_path.insert(pr.path.clone(), pr.document.as_str().into());
        }
        let distinct: HashSet<&str> = by_path.values().map(|d| &**d).collect();
        if distinct.len() == 1 {
            if let Some(only) = by_path.values().next().cloned() {
                by_path.entry(WELL_KNOWN.to_string()).or_insert(only);
            }
        }
        Ok(ProtectedResources { by_path })
    }

    /// The document served at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&str> {
        if self.by_path.is_empty() {
            return None;
        }
        self.by_path.get(path).map(|d| &**d)
    }

    /// Whether the listener serves no metadata.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(resource: &str, path: &str) -> ProtectedResource {
        ProtectedResource {
            resource: resource.into(),
            path: format!("{WELL_KNOWN}{path}"),
            url: format!("https://gw{WELL_KNOWN}{path}"),
            document: format!("{{\"resource\":\"{resource}\"}}"),
        }
    }

    #[test]
    fn one_resource_is_served_at_its_path_and_the_root() {
        let t =
            ProtectedResources::build(vec![("a".into(), pr("https://gw/mcp", "/mcp"))]).unwrap();
        assert!(t.get("/.well-known/oauth-protected-resource/mcp").is_some());
        assert_eq!(
            t.get("/.well-known/oauth-protected-resource"),
            t.get("/.well-known/oauth-protected-resource/mcp")
        );
        assert!(t
            .get("/.well-known/oauth-protected-resource/mcp/")
            .is_none());
        assert!(t.get("/mcp").is_none());
    }

    #[test]
    fn two_resources_have_no_root_document() {
        let t = ProtectedResources::build(vec![
            ("a".into(), pr("https://gw/a", "/a")),
            ("b".into(), pr("https://gw/b", "/b")),
            // The same document twice (one route per method, say) is fine.
            ("c".into(), pr("https://gw/b", "/b")),
        ])
        .unwrap();
        assert!(t.get("/.well-known/oauth-protected-resource/a").is_some());
        assert!(t.get("/.well-known/oauth-protected-resource/b").is_some());
        assert!(t.get("/.well-known/oauth-protected-resource").is_none());
    }

    #[test]
    fn different_documents_at_one_path_are_an_error() {
        let mut other = pr("https://gw/a", "/a");
        other.document = "{}".into();
        let err = ProtectedResources::build(vec![
            ("a".into(), pr("https://gw/a", "/a")),
            ("b".into(), other),
        ])
        .unwrap_err();
        assert_eq!(err.0, "b");
    }
}
