//! The `Host` allow-list (`allowedHosts`): a request whose `Host` names another
//! host is refused with 421, which stops DNS rebinding against a gateway that
//! browsers can reach under a name an attacker controls. The port is part of the
//! match only when an entry names one.
//!
//! Without `allowedHosts`, an endpoint served on a loopback address (127.0.0.0/8,
//! `::1`) accepts only loopback names (`localhost`, `127.x.y.z`, `[::1]`, any port),
//! as the MCP transport spec asks of local servers: a page on `attacker.example`
//! whose name the attacker re-points at 127.0.0.1 still sends `Host:
//! attacker.example`. On other addresses nothing is checked unless configured.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, Uri};

/// The address the connection's listening socket is bound to, as a request
/// extension: on a loopback address, the `Host` check is on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(pub SocketAddr);

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

    /// `Err(host)` when the request's host is not allowed: not one of the configured
    /// hosts, or, with none configured and `listen` a loopback address, not a loopback
    /// name. A request without a host is refused whenever a check applies.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        listen: Option<SocketAddr>,
    ) -> Result<(), String> {
        let loopback_only = listen.is_some_and(|a| a.ip().is_loopback());
        if self.allowed.is_empty() && !loopback_only {
            return Ok(());
        }
        let text = match headers.get(http::header::HOST) {
            Some(v) => v.to_str().unwrap_or("<not ASCII>"),
            None => uri.authority().map_or("", |a| a.as_str()),
        };
        let ok = split(text, false).is_some_and(|host| {
            if self.allowed.is_empty() {
                return is_loopback_name(&host.host);
            }
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

/// `localhost`, an IPv4 literal in 127.0.0.0/8, or `[::1]` (lowercase, as [`split`] leaves it).
fn is_loopback_name(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    literal.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
        check_on(entries, host, None)
    }

    fn check_on(entries: &[&str], host: Option<&str>, listen: Option<&str>) -> bool {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(http::header::HOST, h.parse().expect("header"));
        }
        let listen = listen.map(|l| l.parse().expect("socket address"));
        HostPolicy::new(&entries)
            .check(&headers, &Uri::from_static("/mcp"), listen)
            .is_ok()
    }

    #[test]
    fn loopback_listeners_accept_only_loopback_names_by_default() {
        for listen in ["127.0.0.1:8080", "127.0.0.2:1", "[::1]:3000"] {
            for host in [
                "localhost",
                "LOCALHOST:8080",
                "127.0.0.1",
                "127.0.0.1:9",
                "127.1.2.3:80",
                "[::1]",
                "[::1]:3000",
            ] {
                assert!(
                    check_on(&[], Some(host), Some(listen)),
                    "{host} on {listen}"
                );
            }
            for host in [
                "evil.example",
                "evil.example:8080",
                "localhost.evil.example",
                "127.0.0.1.evil.example",
                "10.0.0.1",
                "[::2]",
                "",
            ] {
                assert!(
                    !check_on(&[], Some(host), Some(listen)),
                    "{host} on {listen}"
                );
            }
            assert!(!check_on(&[], None, Some(listen)), "no Host on {listen}");
            // `allowedHosts` replaces the default.
            assert!(check_on(
                &["mcp.example"],
                Some("mcp.example"),
                Some(listen)
            ));
            assert!(!check_on(&["mcp.example"], Some("localhost"), Some(listen)));
        }
        for listen in ["0.0.0.0:8080", "[::]:8080", "10.1.2.3:80"] {
            assert!(
                check_on(&[], Some("evil.example"), Some(listen)),
                "{listen}"
            );
        }
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
