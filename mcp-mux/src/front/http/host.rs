//! The `Host` allow-list (`allowedHosts`), checked only when configured: a
//! request whose `Host` names another host is refused with 421, which stops DNS
//! rebinding against a gateway that browsers can reach under a name an attacker
//! controls. The port is part of the match only when an entry names one.

use http::{HeaderMap, Uri};

/// One allowed host, lowercase; `port: None` matches any port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    port: Option<u16>,
}

/// The allow-list of one endpoint; empty means no check.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostPolicy {
    allowed: Vec<Allowed>,
}

impl HostPolicy {
    /// From config entries: `mcp.example.com` (any port), `localhost:8080`, `[::1]:3000`,
    /// `localhost:*` (any port). Entries that do not parse are ignored with a warning.
    pub(crate) fn new(entries: &[String]) -> Self {
        let allowed = entries
            .iter()
            .filter_map(|e| {
                let parsed = split(e, true);
                if parsed.is_none() {
                    tracing::warn!(host = %e, "allowedHosts entry ignored: expected host[:port|:*]");
                }
                parsed
            })
            .collect();
        Self { allowed }
    }

    /// `Err(host)` when hosts are configured and the request's is not one of them (a
    /// request without a host is refused too).
    pub(crate) fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), String> {
        if self.allowed.is_empty() {
            return Ok(());
        }
        let text = match headers.get(http::header::HOST) {
            Some(v) => v.to_str().unwrap_or("<not ASCII>"),
            None => uri.authority().map_or("", |a| a.as_str()),
        };
        let ok = split(text, false).is_some_and(|host| {
            self.allowed
                .iter()
                .any(|a| a.host == host.host && (a.port.is_none() || a.port == host.port))
        });
        if ok {
            Ok(())
        } else {
            Err(text.to_owned())
        }
    }
}

/// The port part of an authority.
pub(super) enum Port {
    /// None written.
    Absent,
    /// `:*` (config entries only).
    Any,
    Is(u16),
}

/// Splits `host[:port]` into the lowercase host and its port; `:*` is accepted only in config
/// entries. An IPv6 literal keeps its brackets: `[::1]:8080`. Shared with the `Origin` check.
pub(super) fn authority(text: &str, allow_wildcard_port: bool) -> Option<(String, Port)> {
    let (host, port) = match text.rfind(':') {
        Some(i) if !text[i..].contains(']') => (&text[..i], Some(&text[i + 1..])),
        _ => (text, None),
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => Port::Absent,
        Some("*") if allow_wildcard_port => Port::Any,
        Some(p) => Port::Is(p.parse().ok()?),
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Parses `host[:port]`: a missing port or `:*` matches any.
fn split(text: &str, allow_wildcard_port: bool) -> Option<Allowed> {
    if text.is_empty() || text.contains(['/', '@', ' ']) {
        return None;
    }
    let (host, port) = authority(text, allow_wildcard_port)?;
    let port = match port {
        Port::Is(p) => Some(p),
        Port::Absent | Port::Any => None,
    };
    Some(Allowed { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(entries: &[&str], host: Option<&str>) -> bool {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(http::header::HOST, h.parse().expect("header"));
        }
        HostPolicy::new(&entries)
            .check(&headers, &Uri::from_static("/mcp"))
            .is_ok()
    }

    #[test]
    fn hosts_are_checked_only_when_configured() {
        assert!(check(&[], Some("evil.example")));
        assert!(check(&[], None));
        let list = ["mcp.example.com", "localhost:8080", "[::1]:*"];
        assert!(check(&list, Some("mcp.example.com")));
        assert!(check(&list, Some("MCP.example.com:443")));
        assert!(!check(&list, Some("evil.example")));
        assert!(!check(&list, Some("mcp.example.com.evil.example")));
        assert!(check(&list, Some("localhost:8080")));
        assert!(!check(&list, Some("localhost:8081")));
        assert!(!check(&list, Some("localhost")));
        assert!(check(&list, Some("[::1]:9000")));
        assert!(!check(&list, None), "no Host at all");
    }
}
