//! Header hygiene for proxied messages: hop-by-hop removal and `X-Forwarded-*`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection and never cross a proxy (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those named in `Connection`. `Transfer-Encoding` is
/// left to hyper, which frames the message anew on each side.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the names (standard names compare as
    // small integers) instead of nine hashed removals per message.
    let any = headers
        .keys()
        .any(|name| name == header::TRANSFER_ENCODING || HOP_BY_HOP.contains(name));
    if !any {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// Appends the client address to `X-Forwarded-For` and sets `X-Forwarded-Proto` and
/// `X-Forwarded-Host` (the host the client asked for) unless already present.
///
/// The prior hops may arrive as several `X-Forwarded-For` lines, each a comma list (RFC 9110
/// §5.3 makes them one list); all of them are kept, in order, so the upstream sees every hop
/// and not only the first line's.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client: IpAddr,
    tls: bool,
    host: Option<&HeaderValue>,
) {
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    const XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");
    const XFH: HeaderName = HeaderName::from_static("x-forwarded-host");
    let client = client.to_canonical();
    let mut prior = headers
        .get_all(&XFF)
        .iter()
        // A line that is not visible ASCII cannot be copied into a header value; it is dropped
        // rather than failing the request.
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .peekable();
    let value = if prior.peek().is_none() {
        client_address(client)
    } else {
        let mut xff = String::new();
        for hop in prior {
            xff.push_str(hop);
            xff.push_str(", ");
        }
        // Formatting into a String cannot fail.
        let _ = write!(xff, "{client}");
        HeaderValue::from_str(&xff).ok()
    };
    if let Some(v) = value {
        // `insert` replaces every prior line: the upstream gets one header.
        headers.insert(XFF, v);
    }
    headers.insert(
        XFP,
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    if !headers.contains_key(&XFH) {
        if let Some(v) = host {
            headers.insert(XFH, v.clone());
        }
    }
}

/// `client` as a header value, formatted once per client address and thread rather than once
/// per request: the requests of a keep-alive connection all come from one address.
fn client_address(client: IpAddr) -> Option<HeaderValue> {
    thread_local! {
        static LAST: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((ip, value)) = &*last {
            if *ip == client {
                return Some(value.clone());
            }
        }
        let value = HeaderValue::from_str(&client.to_string()).ok()?;
        *last = Some((client, value.clone()));
        Some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert!(h.get("x-secret").is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get("x-keep").is_some());
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        set_forwarded(
            &mut h,
            "127.0.0.1".parse().unwrap(),
            false,
            Some(&HeaderValue::from_static("a.test:8080")),
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "a.test:8080");
    }

    #[test]
    fn forwarded_for_keeps_every_prior_line_in_order() {
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.1, 10.0.0.2"),
        );
        h.append("x-forwarded-for", HeaderValue::from_static(" "));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.3,,2001:db8::1"),
        );
        set_forwarded(&mut h, "::ffff:127.0.0.1".parse().unwrap(), true, None);
        let all: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
        assert_eq!(
            all,
            ["10.0.0.1, 10.0.0.2, 10.0.0.3, 2001:db8::1, 127.0.0.1"],
            "one header: every prior hop in order, then the client"
        );
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn forwarded_for_without_prior_hops_is_the_client() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static(""));
        set_forwarded(&mut h, "192.0.2.7".parse().unwrap(), false, None);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        // The remembered address of the thread's last client is not reused for another.
        for client in ["192.0.2.8", "::ffff:192.0.2.7", "2001:db8::9", "192.0.2.8"] {
            let mut h = HeaderMap::new();
            set_forwarded(&mut h, client.parse().unwrap(), false, None);
            let expected = client.trim_start_matches("::ffff:");
            assert_eq!(h["x-forwarded-for"], expected, "{client}");
        }
    }
}
