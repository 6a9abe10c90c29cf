//! Where the gateway tells clients to reach an agent: the public base URL of an A2A route.
//!
//! The rewritten card is only as trustworthy as this URL. A configured public URL is preferred
//! because building it from the request's `Host` (or `X-Forwarded-*`) lets any client choose the
//! URLs that the card advertises — card poisoning, worse when a cache stores the card. The
//! request-derived form exists for development and for deployments that already pin `Host`.

use url::Url;

/// Why a public base URL could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublicUrlError {
    /// The configured or derived URL does not parse as an absolute URL.
    #[error("public URL {url:?} is not a valid absolute URL: {reason}")]
    Invalid { url: String, reason: String },
    /// Only `http` and `https` can front JSON-RPC and HTTP+JSON bindings.
    #[error("public URL {url:?} must use http or https, not {scheme:?}")]
    Scheme { url: String, scheme: String },
    /// A base URL with a query or fragment cannot have paths appended to it.
    #[error("public URL {url:?} must not carry a query or fragment")]
    QueryOrFragment { url: String },
    /// The request carried no usable host.
    #[error("request host {host:?} is empty or malformed")]
    Host { host: String },
}

/// Parses and normalises a public base URL: `http`/`https`, no query or fragment, no trailing
/// slash on the path (so `base + "/a2a/v1"` never doubles the slash).
pub fn parse_public_base(url: &str) -> Result<Url, PublicUrlError> {
    let mut parsed = Url::parse(url.trim()).map_err(|e| PublicUrlError::Invalid {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(PublicUrlError::Scheme {
            url: url.to_owned(),
            scheme: parsed.scheme().to_owned(),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(PublicUrlError::QueryOrFragment {
            url: url.to_owned(),
        });
    }
    let trimmed = parsed.path().trim_end_matches('/').to_owned();
    parsed.set_path(&trimmed);
    Ok(parsed)
}

/// The public base URL of an A2A route.
///
/// `configured` (the route's or listener's public URL) wins. Otherwise the URL is built from the
/// request: `scheme` (`http`/`https` as the listener serves it), `host` (the `Host` header or
/// HTTP/2 `:authority`, port included) and `route_prefix` (the matched path prefix, e.g.
/// `/agents/travel`). Callers must only pass a `host` they trust (see the module docs).
pub fn public_base_url(
    configured: Option<&str>,
    scheme: &str,
    host: &str,
    route_prefix: &str,
) -> Result<Url, PublicUrlError> {
    if let Some(url) = configured {
        return parse_public_base(url);
    }
    let host = host.trim();
    // A host with a path, userinfo or whitespace in it would smuggle URL parts into the card.
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '\\' | '@' | '?' | '#'))
    {
        return Err(PublicUrlError::Host {
            host: host.to_owned(),
        });
    }
    let prefix = route_prefix.trim_matches('/');
    let candidate = if prefix.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{prefix}")
    };
    let parsed = parse_public_base(&candidate)?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(PublicUrlError::Host {
            host: host.to_owned(),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_url_wins_and_loses_trailing_slash() {
        let url = public_base_url(
            Some("https://gw.example.com/agents/travel/"),
            "http",
            "evil.example",
            "/x",
        )
        .unwrap();
        assert_eq!(url.as_str(), "https://gw.example.com/agents/travel");
    }

    #[test]
    fn derived_from_request_parts() {
        let url = public_base_url(None, "http", "gw.local:8080", "/agents/travel/").unwrap();
        assert_eq!(url.as_str(), "http://gw.local:8080/agents/travel");
        let root = public_base_url(None, "https", "gw.local", "/").unwrap();
        assert_eq!(root.as_str(), "https://gw.local/");
    }

    #[test]
    fn host_smuggling_is_rejected() {
        for host in ["", "a b", "evil.com/x", "user@evil.com", "h?q", "h#f"] {
            assert!(
                matches!(
                    public_base_url(None, "http", host, "/a"),
                    Err(PublicUrlError::Host { .. })
                ),
                "{host:?} accepted"
            );
        }
    }

    #[test]
    fn bad_configured_urls() {
        assert!(matches!(
            parse_public_base("not a url"),
            Err(PublicUrlError::Invalid { .. })
        ));
        assert!(matches!(
            parse_public_base("ftp://gw/x"),
            Err(PublicUrlError::Scheme { .. })
        ));
        assert!(matches!(
            parse_public_base("https://gw/x?a=1"),
            Err(PublicUrlError::QueryOrFragment { .. })
        ));
    }
}
