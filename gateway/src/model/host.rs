//! Host name patterns for listeners and routes: exact names, `*.` wildcards and `*`.

use std::borrow::Cow;
use std::cmp::Ordering;

/// A host name pattern, lower-cased at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Matches every host.
    Any,
    /// Matches this exact name.
    Exact(String),
    /// `*.example.com`: matches any name with at least one more label before `.example.com`.
    /// Holds the suffix including the leading dot.
    Wildcard(String),
}

impl HostPattern {
    /// Parses a pattern, or says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let p = pattern.trim().to_ascii_lowercase();
        if p.is_empty() || p == "*" {
            return Ok(HostPattern::Any);
        }
        let (wild, name) = match p.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        let valid = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(format!(
                "invalid hostname {pattern:?}: use a DNS name such as api.example.com, a wildcard such as *.example.com, or *"
            ));
        }
        Ok(if wild {
            HostPattern::Wildcard(format!(".{name}"))
        } else {
            HostPattern::Exact(name.to_string())
        })
    }

    /// Whether `host` (lower-case, port removed) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(name) => name == host,
            HostPattern::Wildcard(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
        }
    }

    /// Precedence: exact names first, then wildcards with longer suffixes, then `*`.
    pub fn specificity_cmp(&self, other: &Self) -> Ordering {
        fn rank(p: &HostPattern) -> (u8, usize) {
            match p {
                HostPattern::Exact(n) => (2, n.len()),
                HostPattern::Wildcard(s) => (1, s.len()),
                HostPattern::Any => (0, 0),
            }
        }
        rank(other).cmp(&rank(self))
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Exact(n) => f.write_str(n),
            HostPattern::Wildcard(s) => write!(f, "*{s}"),
        }
    }
}

/// The authority a request names, as sent: the URI's (HTTP/2 `:authority`, absolute-form) or
/// else the `Host` header.
pub fn request_authority(req: &http::request::Parts) -> Option<&str> {
    req.uri.authority().map(|a| a.as_str()).or_else(|| {
        req.headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
    })
}

/// The host a request names ([`request_authority`]), lower-cased, without port. IPv6 literals
/// keep their brackets. Borrowed from the request when it is lower-case already, as nearly
/// every client sends it.
pub fn request_host(req: &http::request::Parts) -> Option<Cow<'_, str>> {
    request_authority(req).map(|raw| {
        let host = strip_port(raw);
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        }
    })
}

fn strip_port(authority: &str) -> &str {
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].chars().all(|c| c.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_documented() {
        let exact = HostPattern::parse("API.example.com").unwrap();
        assert!(exact.matches("api.example.com"));
        assert!(!exact.matches("x.api.example.com"));
        let wild = HostPattern::parse("*.example.com").unwrap();
        assert!(wild.matches("a.example.com"));
        assert!(wild.matches("a.b.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(HostPattern::parse("*").unwrap().matches("anything"));
        assert!(HostPattern::parse("bad host").is_err());
        assert!(HostPattern::parse("a..b").is_err());
    }

    #[test]
    fn exact_beats_wildcard_beats_any() {
        let mut v = [
            HostPattern::Any,
            HostPattern::parse("*.example.com").unwrap(),
            HostPattern::parse("a.example.com").unwrap(),
            HostPattern::parse("*.b.example.com").unwrap(),
        ];
        v.sort_by(|a, b| a.specificity_cmp(b));
        assert_eq!(
            v.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["a.example.com", "*.b.example.com", "*.example.com", "*"]
        );
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("a.example.com:8080"), "a.example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("host"), "host");
    }
}
