//! Hostname intersection between a listener and a route, and label selectors.

use std::collections::BTreeMap;

use serde_json::Value;

/// Whether wildcard or exact `pattern` covers `host` (itself maybe a wildcard):
/// `*.example.com` covers `a.example.com`, `a.b.example.com` and `*.a.example.com`, not
/// `example.com`.
fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            let host_rest = host.strip_prefix('*').unwrap_or(host);
            (host_rest.len() > suffix.len() && host_rest.ends_with(suffix))
                || (host.starts_with('*') && host == pattern)
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// The hostnames a route gets on a listener: the route's hostnames that the listener's
/// covers (or the listener's, where a route wildcard covers it); all of the listener's when
/// the route names none. `None` when they do not intersect. An empty list means any host.
pub(super) fn intersect(listener: Option<&str>, route: &[String]) -> Option<Vec<String>> {
    let route: Vec<String> = route.iter().map(|h| h.to_ascii_lowercase()).collect();
    let Some(listener) = listener.map(str::to_ascii_lowercase) else {
        return Some(route);
    };
    if route.is_empty() {
        return Some(vec![listener]);
    }
    let mut out: Vec<String> = Vec::new();
    for h in &route {
        let pick = if covers(&listener, h) {
            h.clone()
        } else if covers(h, &listener) {
            listener.clone()
        } else {
            continue;
        };
        if !out.contains(&pick) {
            out.push(pick);
        }
    }
    out.sort();
    (!out.is_empty()).then_some(out)
}

/// Whether `labels` satisfy a label selector given as JSON (`matchLabels`,
/// `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`). A missing selector
/// selects nothing... except that an empty one selects everything, as in Kubernetes.
pub(super) fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    if selector.is_null() {
        return false;
    }
    let labels_ok = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let expressions_ok = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let have = labels.get(key);
            match e["operator"].as_str().unwrap_or("") {
                "In" => have.is_some_and(|v| values.contains(&v.as_str())),
                "NotIn" => have.is_none_or(|v| !values.contains(&v.as_str())),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        });
    labels_ok && expressions_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn intersection_follows_the_gateway_api() {
        // No listener hostname: the route's own.
        assert_eq!(
            intersect(None, &v(&["a.example.com"])),
            Some(v(&["a.example.com"]))
        );
        // No route hostnames: the listener's.
        assert_eq!(
            intersect(Some("*.example.com"), &[]),
            Some(v(&["*.example.com"]))
        );
        // Listener wildcard covers the route's exact names; the others are dropped.
        assert_eq!(
            intersect(
                Some("*.example.com"),
                &v(&["a.example.com", "other.org", "example.com"])
            ),
            Some(v(&["a.example.com"]))
        );
        // Route wildcard covering an exact listener: the listener's name.
        assert_eq!(
            intersect(Some("a.example.com"), &v(&["*.example.com"])),
            Some(v(&["a.example.com"]))
        );
        // Two wildcards: the narrower.
        assert_eq!(
            intersect(Some("*.example.com"), &v(&["*.a.example.com"])),
            Some(v(&["*.a.example.com"]))
        );
        assert_eq!(
            intersect(Some("*.example.com"), &v(&["*.example.com"])),
            Some(v(&["*.example.com"]))
        );
        // Disjoint.
        assert_eq!(
            intersect(Some("a.example.com"), &v(&["b.example.com"])),
            None
        );
        assert_eq!(
            intersect(Some("*.example.com"), &v(&["*.example.org"])),
            None
        );
    }

    #[test]
    fn selectors() {
        let labels: BTreeMap<String, String> = [("team".to_string(), "a".to_string())]
            .into_iter()
            .collect();
        let sel = serde_json::json!({"matchLabels": {"team": "a"}});
        assert!(selector_matches(&sel, &labels));
        let sel = serde_json::json!({"matchLabels": {"team": "b"}});
        assert!(!selector_matches(&sel, &labels));
        let sel = serde_json::json!({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "c"]}]});
        assert!(selector_matches(&sel, &labels));
        let sel = serde_json::json!({"matchExpressions": [{"key": "env", "operator": "Exists"}]});
        assert!(!selector_matches(&sel, &labels));
    }
}
