//! A Rust echo backend that answers as the Gateway API conformance echo server
//! (`conformance/echo-basic` of kubernetes-sigs/gateway-api) does, so the ported tables can
//! check which Service and namespace answered and what the request looked like on arrival.
//!
//! Answer: `200`, `content-type: application/json`, a JSON object with `path` (the request
//! target, query included, as Go's `RequestURI`), `host`, `method`, `proto`, `headers` (name to
//! list of values, names as sent), `httpPort`, `namespace`, `ingress`, `service` and `pod`.
//! Like echo-basic, every `X-Echo-Set-Header: name:value,name2:value2` header of the request
//! becomes a response header (values of a repeated name joined with `,`), and `?delay=1s`
//! delays the answer.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::json;

/// Who an echo instance claims to be: the pod of a Deployment.
#[derive(Debug, Clone)]
pub struct EchoIdentity {
    /// Namespace of the Deployment (echo-basic's `NAMESPACE`).
    pub namespace: String,
    /// The Deployment's name (echo-basic's `SERVICE_NAME` is unset in the base manifests;
    /// the name says which Deployment answered).
    pub service: String,
    /// The pod name reported: `<deployment>-<hash>-<suffix>`, as a Deployment's pod is
    /// named; the tables match backends by this prefix, as the Go suite does.
    pub pod: String,
}

/// One running echo backend: a Deployment's one "pod".
#[derive(Debug, Clone)]
pub struct EchoBackend {
    /// Its identity.
    pub identity: EchoIdentity,
    /// The pod's IP: a loopback address of its own.
    pub ip: std::net::Ipv4Addr,
}

impl EchoBackend {
    /// Starts the pod of Deployment `namespace/deployment` on `ip`, answering on every port
    /// of `ports` (the container ports the Services target).
    pub async fn start(
        namespace: &str,
        deployment: &str,
        ip: std::net::Ipv4Addr,
        ports: &[u16],
    ) -> EchoBackend {
        let identity = EchoIdentity {
            namespace: namespace.to_string(),
            service: deployment.to_string(),
            pod: format!("{deployment}-7d9f8b6c5-rust1"),
        };
        for port in ports {
            let app = axum::Router::new()
                .fallback(echo)
                .with_state(identity.clone());
            crate::serve_router(app, &format!("{ip}:{port}")).await;
        }
        EchoBackend { identity, ip }
    }
}

async fn echo(State(id): State<EchoIdentity>, req: Request) -> Response {
    // As echo-basic: `?delay=DURATION` (`1s`, `500ms`) waits before answering.
    if let Some(delay) = req.uri().query().and_then(delay_of) {
        tokio::time::sleep(delay).await;
    }
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in req.headers() {
        if name == http::header::HOST {
            continue;
        }
        headers
            .entry(canonical(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let proto = match req.version() {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let body = json!({
        "path": path,
        "host": host,
        "method": req.method().as_str(),
        "proto": proto,
        "headers": headers,
        "httpPort": "3000",
        "namespace": id.namespace,
        "ingress": "",
        "service": id.service,
        "pod": id.pod,
    });
    let mut builder = Response::builder().status(200);
    for (name, value) in echo_set_headers(req.headers()) {
        builder = builder.header(name, value);
    }
    builder
        .header("content-type", "application/json")
        .header("x-content-type-options", "nosniff")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::from("bad X-Echo-Set-Header")))
}

/// The response headers asked for by `X-Echo-Set-Header` (echo-basic's
/// `writeEchoResponseHeaders`): `name:value` pairs separated by `,`; a repeated name's
/// values joined with `,`. Invalid names or values are left out.
fn echo_set_headers(headers: &http::HeaderMap) -> Vec<(http::HeaderName, http::HeaderValue)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for list in headers.get_all("x-echo-set-header") {
        let Ok(list) = list.to_str() else { continue };
        for kv in list.split(',') {
            let (name, value) = kv.trim().split_once(':').unwrap_or((kv.trim(), ""));
            match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, v)) => {
                    v.push(',');
                    v.push_str(value.trim());
                }
                None => out.push((name.to_string(), value.trim().to_string())),
            }
        }
    }
    out.into_iter()
        .filter_map(|(n, v)| {
            Some((
                http::HeaderName::from_bytes(n.as_bytes()).ok()?,
                http::HeaderValue::from_str(&v).ok()?,
            ))
        })
        .collect()
}

/// The `delay` query parameter as a duration (`1s`, `500ms`), if any.
fn delay_of(query: &str) -> Option<std::time::Duration> {
    let value = query.split('&').find_map(|kv| kv.strip_prefix("delay="))?;
    if let Some(ms) = value.strip_suffix("ms") {
        return ms.parse().ok().map(std::time::Duration::from_millis);
    }
    let s: f64 = value.strip_suffix('s')?.parse().ok()?;
    std::time::Duration::try_from_secs_f64(s).ok()
}

/// A header name as Go's `http.Header` keys it (`x-header-set` → `X-Header-Set`).
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_go_durations() {
        assert_eq!(
            delay_of("delay=1s"),
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(
            delay_of("a=b&delay=250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(delay_of("delay=soon"), None);
    }

    #[test]
    fn header_names_are_canonical_as_in_go() {
        assert_eq!(canonical("x-header-set"), "X-Header-Set");
        assert_eq!(canonical("Another-Header"), "Another-Header");
    }

    #[test]
    fn echo_set_header_joins_repeated_names() {
        let mut h = http::HeaderMap::new();
        h.append("x-echo-set-header", "A:1,b: 2".parse().unwrap());
        h.append("x-echo-set-header", "a:3".parse().unwrap());
        let got = echo_set_headers(&h);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, "1,3");
        assert_eq!(got[1].1, "2");
    }
}
