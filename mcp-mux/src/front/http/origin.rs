//! The `Origin` allow-list: browsers' cross-origin requests are refused unless
//! their origin is listed, which stops DNS rebinding and cross-site calls to a
//! local gateway. Requests without `Origin` (native clients) always pass.

use http::HeaderMap;

use super::host::{authority, Port};

/// One allowed origin: scheme, host and port (`None` = any port).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    scheme: String,
    host: String,
    port: Option<u16>,
}

/// The allow-list of one endpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    any: bool,
    allowed: Vec<Allowed>,
}

impl OriginPolicy {
    /// From config entries: `*`, `https://app.example` (default port),
    /// `http://localhost:3000`, `http://localhost:*` (any port). Entries that do
    /// not parse are ignored with a warning.
    pub(crate) fn new(entries: &[String]) -> Self {
        let mut policy = Self::default();
        for e in entries {
            if e == "*" {
                policy.any = true;
                continue;
            }
            match parse(e, true) {
                Some(a) => policy.allowed.push(a),
                None => {
                    tracing::warn!(origin = %e, "allowedOrigins entry ignored: expected scheme://host[:port|:*]")
                }
            }
        }
        policy
    }

    /// `Err(origin)` when the request's `Origin` is present and not allowed.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(value) = headers.get(http::header::ORIGIN) else {
            return Ok(());
        };
        if self.any {
            return Ok(());
        }
        let text = value.to_str().unwrap_or("<not ASCII>");
        let Some(origin) = parse(text, false) else {
            return Err(text.to_owned());
        };
        let ok = self.allowed.iter().any(|a| {
            a.scheme == origin.scheme
                && a.host == origin.host
                && (a.port.is_none() || a.port == origin.port)
        });
        if ok {
            Ok(())
        } else {
            Err(text.to_owned())
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Parses `scheme://host[:port]`; `:*` is accepted only in config entries.
fn parse(text: &str, allow_wildcard_port: bool) -> Option<Allowed> {
    let (scheme, rest) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    let (host, port) = authority(rest, allow_wildcard_port)?;
    let port = match port {
        Port::Absent => default_port(&scheme),
        Port::Any => None,
        Port::Is(p) => Some(p),
    };
    Some(Allowed { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(entries: &[&str], origin: Option<&str>) -> bool {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        let mut headers = HeaderMap::new();
        if let Some(o) = origin {
            headers.insert(http::header::ORIGIN, o.parse().expect("header"));
        }
        OriginPolicy::new(&entries).check(&headers).is_ok()
    }

    #[test]
    fn no_origin_passes_and_unlisted_origins_are_refused() {
        assert!(check(&[], None));
        assert!(!check(&[], Some("https://evil.example")));
        assert!(!check(&[], Some("null")));
        assert!(check(&["*"], Some("https://evil.example")));
    }

    #[test]
    fn ports_default_by_scheme_and_wildcards_match_any() {
        let list = [
            "https://app.example",
            "http://localhost:*",
            "http://[::1]:8080",
        ];
        assert!(check(&list, Some("https://app.example")));
        assert!(check(&list, Some("https://APP.example:443")));
        assert!(!check(&list, Some("https://app.example:8443")));
        assert!(!check(&list, Some("http://app.example")));
        assert!(check(&list, Some("http://localhost:5173")));
        assert!(check(&list, Some("http://[::1]:8080")));
        assert!(!check(&list, Some("http://[::1]:8081")));
    }
}
