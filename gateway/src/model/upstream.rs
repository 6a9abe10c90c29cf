//! Upstream addresses.

use http::uri::Authority;

/// A plain-HTTP upstream `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port` as written.
    pub authority: Authority,
}

impl Upstream {
    /// The address, when the host is an IP address (an inference pool's endpoints are).
    pub fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        self.authority.as_str().parse().ok()
    }

    /// Parses `host:port`; the port is required.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid host {s:?}: write host:port, e.g. 127.0.0.1:8080 or api.internal:80")
        };
        if s.contains('/') || s.contains('@') {
            return Err(bad());
        }
        let authority: Authority = s.parse().map_err(|_| bad())?;
        if authority.port_u16().is_none() || authority.host().is_empty() {
            return Err(bad());
        }
        Ok(Upstream { authority })
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.authority.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_host_port() {
        assert!(Upstream::parse("127.0.0.1:80").is_ok());
        assert!(Upstream::parse("[::1]:80").is_ok());
        assert!(Upstream::parse("a.b:8080").is_ok());
        assert!(Upstream::parse("a.b").is_err());
        assert!(Upstream::parse("http://a.b:80").is_err());
        assert!(Upstream::parse("a b:80").is_err());
    }
}
