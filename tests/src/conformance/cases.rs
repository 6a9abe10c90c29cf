//! The ported tables: one [`Case`] per `http.ExpectedResponse` of a Gateway API conformance
//! test, and the comparison the Go suite makes (`CompareRoundTrip` of
//! conformance/utils/http/http.go at v1.5.1), against the real data plane.
//!
//! A case passes as in the suite's `MakeRequestAndExpectEventuallyConsistentResponse`: when
//! it has compared equal [`CONSECUTIVE`] times in a row before its deadline.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Consecutive passes that make a case pass (the suite's `RequiredConsecutiveSuccesses`).
pub const CONSECUTIVE: usize = 3;

/// The namespace most tables expect their backends in.
pub const INFRA: &str = "gateway-conformance-infra";

/// Where a redirect must point (the suite's `roundtripper.RedirectRequest`); `None` fields
/// take the suite's defaults: the host answered, the request's scheme and path.
#[derive(Debug, Clone, Default)]
pub struct Redirect {
    /// Expected scheme of `Location`.
    pub scheme: Option<&'static str>,
    /// Expected host (without port).
    pub host: Option<&'static str>,
    /// Expected port; when `None`, only the scheme's default port or none is accepted.
    pub port: Option<&'static str>,
    /// Expected path.
    pub path: Option<&'static str>,
}

/// One row of a table: a request and what must come back.
#[derive(Debug, Clone)]
pub struct Case {
    /// `Host` of the request; empty: the Gateway's address.
    pub host: String,
    /// Method; the suite's default is GET.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Response headers the backend is asked to set (`X-Echo-Set-Header`).
    pub backend_sets: Vec<(String, String)>,
    /// Acceptable status codes (default 200).
    pub statuses: Vec<u16>,
    /// Pod name prefix that must answer (the Service's name); empty: any.
    pub backend: String,
    /// Namespace that must answer (compared on 200, as the suite does).
    pub namespace: String,
    /// Path the backend must see (default: the request's).
    pub expected_path: Option<String>,
    /// `Host` the backend must see (default: not compared, as in the suite).
    pub expected_host: Option<String>,
    /// Request headers the backend must see (default: the request's own headers when no
    /// expected request is given, as in the suite).
    pub expected_headers: Option<Vec<(String, String)>>,
    /// Request headers the backend must not see.
    pub absent_request_headers: Vec<String>,
    /// Response headers the client must get.
    pub response_headers: Vec<(String, String)>,
    /// Response headers the client must not get.
    pub absent_response_headers: Vec<String>,
    /// Where a 3xx must point.
    pub redirect: Option<Redirect>,
    /// The certificate (DER) a TLS listener must present; the client then needs
    /// `tls_info(true)`.
    pub peer_certificate: Option<Vec<u8>>,
}

/// A GET of `path` (query included) expected to be answered 200.
pub fn get(path: &str) -> Case {
    Case {
        host: String::new(),
        method: "GET".into(),
        path: path.into(),
        headers: Vec::new(),
        backend_sets: Vec::new(),
        statuses: vec![200],
        backend: String::new(),
        namespace: String::new(),
        expected_path: None,
        expected_host: None,
        expected_headers: None,
        absent_request_headers: Vec::new(),
        response_headers: Vec::new(),
        absent_response_headers: Vec::new(),
        redirect: None,
        peer_certificate: None,
    }
}

impl Case {
    /// Sets the request's `Host`.
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.into();
        self
    }
    /// Sets the method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.into();
        self
    }
    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Asks the backend to answer with this header.
    pub fn backend_sets(mut self, name: &str, value: &str) -> Self {
        self.backend_sets.push((name.into(), value.into()));
        self
    }
    /// Must be answered by Service `backend` of gateway-conformance-infra.
    pub fn to(self, backend: &str) -> Self {
        self.to_ns(backend, INFRA)
    }
    /// Must be answered by Service `backend` of `namespace`.
    pub fn to_ns(mut self, backend: &str, namespace: &str) -> Self {
        self.backend = backend.into();
        self.namespace = namespace.into();
        self
    }
    /// Must be answered with `status` (and nothing else is compared unless it is 200).
    pub fn status(mut self, status: u16) -> Self {
        self.statuses = vec![status];
        self
    }
    /// The backend must see this path.
    pub fn expect_path(mut self, path: &str) -> Self {
        self.expected_path = Some(path.into());
        self
    }
    /// The backend must see this `Host`.
    pub fn expect_host(mut self, host: &str) -> Self {
        self.expected_host = Some(host.into());
        self
    }
    /// The backend must see this request header (an expected request replaces the default
    /// "the request's own headers").
    pub fn expect_header(mut self, name: &str, value: &str) -> Self {
        self.expected_headers
            .get_or_insert_with(Vec::new)
            .push((name.into(), value.into()));
        self
    }
    /// The backend must not see this request header.
    pub fn expect_absent(mut self, name: &str) -> Self {
        self.absent_request_headers.push(name.into());
        self.expected_headers.get_or_insert_with(Vec::new);
        self
    }
    /// The client must get this response header.
    pub fn response_header(mut self, name: &str, value: &str) -> Self {
        self.response_headers.push((name.into(), value.into()));
        self
    }
    /// The client must not get this response header.
    pub fn response_absent(mut self, name: &str) -> Self {
        self.absent_response_headers.push(name.into());
        self
    }
    /// Must redirect with `status` to `redirect`.
    pub fn redirect(mut self, status: u16, redirect: Redirect) -> Self {
        self.statuses = vec![status];
        self.redirect = Some(redirect);
        self
    }

    /// The TLS listener must present this certificate (DER).
    pub fn peer_certificate(mut self, der: Vec<u8>) -> Self {
        self.peer_certificate = Some(der);
        self
    }

    /// The suite's test case name (`GetTestCaseName`).
    pub fn name(&self, i: usize) -> String {
        let headers = if self.headers.is_empty() {
            ""
        } else {
            " with headers"
        };
        let req = format!("{i} request to '{}{}'{headers}", self.host, self.path);
        if self.backend.is_empty() {
            format!("{req} should receive one of {:?}", self.statuses)
        } else {
            format!("{req} should go to {}", self.backend)
        }
    }

    /// One round trip to the Gateway at `addr` (`IP:PORT`), compared; `Err` says why not.
    pub async fn check_once(&self, http: &reqwest::Client, addr: &str) -> Result<(), String> {
        self.exchange(http, addr).await.map(|_| ())
    }

    /// One round trip, compared; the pod that answered (the suite's weighted sender).
    pub async fn check_pod(&self, http: &reqwest::Client, addr: &str) -> Result<String, String> {
        let echo = self.exchange(http, addr).await?;
        Ok(echo["pod"].as_str().unwrap_or("").to_string())
    }

    /// One round trip, compared; the echo's JSON when the answer was a 200.
    async fn exchange(&self, http: &reqwest::Client, addr: &str) -> Result<Value, String> {
        // `addr` is `IP:PORT` (plain HTTP) or a base URL such as `https://example.org:443`.
        let url = if addr.contains("://") {
            format!("{addr}{}", self.path)
        } else {
            format!("http://{addr}{}", self.path)
        };
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .map_err(|e| format!("method {}: {e}", self.method))?;
        let mut req = http.request(method, &url);
        if !self.host.is_empty() {
            req = req.header("host", &self.host);
        }
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        if !self.backend_sets.is_empty() {
            let list: Vec<String> = self
                .backend_sets
                .iter()
                .map(|(n, v)| format!("{n}:{v}"))
                .collect();
            req = req.header("X-Echo-Set-Header", list.join(","));
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("request failed: {}", chain(&e)))?;
        if let Some(want) = &self.peer_certificate {
            let got = res
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|t| t.peer_certificate());
            if got != Some(want.as_slice()) {
                return Err("the listener presented another certificate than its Secret's".into());
            }
        }
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        if !self.statuses.contains(&status) {
            return Err(format!(
                "expected status one of {:?}, got {status}: {}",
                self.statuses,
                snippet(&body)
            ));
        }
        if status == 200 {
            let echo: Value = serde_json::from_str(&body)
                .map_err(|_| format!("200 without echo JSON: {}", snippet(&body)))?;
            self.compare_echo(&echo, &headers)?;
            Ok(echo)
        } else if (300..400).contains(&status) {
            self.compare_redirect(&headers).map(|()| Value::Null)
        } else {
            Ok(Value::Null)
        }
    }

    fn compare_echo(
        &self,
        echo: &Value,
        headers: &reqwest::header::HeaderMap,
    ) -> Result<(), String> {
        let path = self.expected_path.as_deref().unwrap_or(&self.path);
        if echo["path"] != path {
            return Err(format!("expected path {path}, got {}", echo["path"]));
        }
        // The expected request's method defaults to GET when an expected request is given;
        // otherwise it is the request's own.
        let method = if self.expected_path.is_some()
            || self.expected_headers.is_some()
            || self.expected_host.is_some()
        {
            "GET"
        } else {
            &self.method
        };
        if let Some(host) = &self.expected_host {
            if echo["host"] != host.as_str() {
                return Err(format!("expected host {host}, got {}", echo["host"]));
            }
        }
        if echo["method"] != method {
            return Err(format!("expected method {method}, got {}", echo["method"]));
        }
        if echo["namespace"] != self.namespace.as_str() {
            return Err(format!(
                "expected namespace {:?}, got {}",
                self.namespace, echo["namespace"]
            ));
        }
        let wanted = self.expected_headers.as_ref().unwrap_or(&self.headers);
        for (name, value) in wanted {
            match echo_header(echo, name) {
                None => {
                    return Err(format!(
                        "expected request header {name} to be set: {}",
                        echo["headers"]
                    ))
                }
                Some(got) if got != *value => {
                    return Err(format!(
                        "expected request header {name}: {value}, got {got}"
                    ))
                }
                Some(_) => {}
            }
        }
        for name in &self.absent_request_headers {
            if let Some(got) = echo_header(echo, name) {
                return Err(format!("expected request header {name} absent, got {got}"));
            }
        }
        for (name, value) in &self.response_headers {
            let got: Vec<&str> = headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if got.is_empty() {
                return Err(format!("expected response header {name} to be set"));
            }
            if got.join(",") != *value {
                return Err(format!(
                    "expected response header {name}: {value}, got {}",
                    got.join(",")
                ));
            }
        }
        for name in &self.absent_response_headers {
            if let Some(v) = headers.get(name.as_str()) {
                return Err(format!("expected response header {name} absent, got {v:?}"));
            }
        }
        let pod = echo["pod"].as_str().unwrap_or("");
        if !pod.starts_with(&self.backend) {
            return Err(format!(
                "expected pod name to start with {}, got {pod}",
                self.backend
            ));
        }
        Ok(())
    }

    fn compare_redirect(&self, headers: &reqwest::header::HeaderMap) -> Result<(), String> {
        let Some(want) = &self.redirect else {
            return Ok(());
        };
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .ok_or("redirect without Location")?;
        let url = reqwest::Url::parse(location)
            .map_err(|e| format!("Location {location:?} is not an absolute URL: {e}"))?;
        let got_host = url.host_str().unwrap_or("");
        if let Some(host) = want.host {
            if host != got_host {
                return Err(format!(
                    "expected redirect host {host:?}, got {got_host:?} ({location})"
                ));
            }
        }
        let scheme = want.scheme.unwrap_or("http");
        if url.scheme() != scheme {
            return Err(format!(
                "expected redirect scheme {scheme}, got {} ({location})",
                url.scheme()
            ));
        }
        // The explicit port of Location (the url crate hides a scheme's default port, which
        // the suite accepts as "not set").
        let got_port = url.port().map(|p| p.to_string()).unwrap_or_default();
        match want.port {
            Some(port) if port != got_port => {
                return Err(format!("expected redirect port {port:?}, got {got_port:?} ({location})"))
            }
            Some(_) => {}
            None if !got_port.is_empty() => {
                return Err(format!(
                    "for scheme {scheme} expected the default port or none, got {got_port:?} ({location})"
                ))
            }
            None => {}
        }
        let request_path = self.path.split('?').next().unwrap_or("");
        let path = want.path.unwrap_or(request_path);
        if url.path() != path {
            return Err(format!(
                "expected redirect path {path:?}, got {:?} ({location})",
                url.path()
            ));
        }
        Ok(())
    }

    /// Repeats [`Case::check_once`] until it passes [`CONSECUTIVE`] times in a row or
    /// `deadline` passes; the last failure otherwise.
    pub async fn check(
        &self,
        http: &reqwest::Client,
        addr: &str,
        deadline: Instant,
    ) -> Result<(), String> {
        let mut streak = 0;
        loop {
            match self.check_once(http, addr).await {
                Ok(()) => {
                    streak += 1;
                    if streak >= CONSECUTIVE {
                        return Ok(());
                    }
                }
                Err(e) => {
                    streak = 0;
                    if Instant::now() > deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// A request header as the echo saw it, values joined with `,` (name compared without case).
fn echo_header(echo: &Value, name: &str) -> Option<String> {
    let map = echo["headers"].as_object()?;
    let (_, values) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
    let values: Vec<&str> = values
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(values.join(","))
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn snippet(body: &str) -> String {
    body.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::EchoBackend;

    /// An echo pod of `ns/deploy` on a free loopback port; its `IP:PORT`.
    async fn echo(ns: &str, deploy: &str) -> String {
        let port = crate::free_port();
        let b = EchoBackend::start(ns, deploy, std::net::Ipv4Addr::LOCALHOST, &[port]).await;
        format!("{}:{port}", b.ip)
    }

    #[tokio::test]
    async fn the_comparison_fails_on_each_kind_of_difference() {
        let addr = echo(INFRA, "infra-backend-v1").await;
        let http = crate::client();
        let ok = get("/a?b=c")
            .header("X-A", "1")
            .backend_sets("X-R", "2")
            .response_header("X-R", "2")
            .to("infra-backend-v1");
        assert_eq!(ok.check_once(&http, &addr).await, Ok(()));
        let bad = [
            get("/a").to("infra-backend-v2"),
            get("/a").to_ns("infra-backend-v1", "gateway-conformance-web-backend"),
            get("/a").status(404),
            get("/a").expect_path("/b").to("infra-backend-v1"),
            get("/a")
                .expect_path("/a")
                .expect_header("X-Missing", "1")
                .to("infra-backend-v1"),
            get("/a")
                .header("X-A", "1")
                .expect_path("/a")
                .expect_absent("X-A")
                .to("infra-backend-v1"),
            get("/a").response_header("X-R", "2").to("infra-backend-v1"),
            get("/a")
                .backend_sets("X-R", "2")
                .response_absent("X-R")
                .to("infra-backend-v1"),
            get("/a")
                .method("POST")
                .expect_path("/a")
                .to("infra-backend-v1"),
        ];
        for (i, case) in bad.iter().enumerate() {
            assert!(
                case.check_once(&http, &addr).await.is_err(),
                "case {i} passed: {case:?}"
            );
        }
    }
}
