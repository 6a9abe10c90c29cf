//! CORS: preflights answered by the gateway, allow headers added to actual responses.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::model::policy::Cors;

/// What the gateway does with a request under a CORS policy.
pub enum CorsDecision {
    /// Not a CORS request, or the origin is not allowed: proxy without CORS headers.
    Pass,
    /// An allowed cross-origin request: proxy, then add these headers to the response.
    Allow(HeaderMap),
    /// A preflight: answer now with this status and these headers.
    Preflight(StatusCode, HeaderMap),
}

/// Decides how to treat a request given the route's CORS policy.
pub fn decide(cors: &Cors, req: &http::request::Parts) -> CorsDecision {
    let Some(origin) = req
        .headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return CorsDecision::Pass;
    };
    let preflight = req.method == Method::OPTIONS
        && req
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let allowed = cors.allow_origins.iter().any(|p| p.matches(origin));
    if !allowed {
        return if preflight {
            // No allow headers: the browser refuses the actual request.
            CorsDecision::Preflight(StatusCode::FORBIDDEN, HeaderMap::new())
        } else {
            CorsDecision::Pass
        };
    }
    let mut h = HeaderMap::new();
    let wildcard_origin = cors
        .allow_origins
        .iter()
        .any(|p| matches!(p, crate::model::policy::OriginPattern::Any));
    if wildcard_origin && !cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if cors.allow_credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !preflight {
        if let Some(expose) = &cors.expose_headers {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        return CorsDecision::Allow(h);
    }

    let requested_method = req
        .headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    let safelisted = matches!(requested_method.as_str(), "GET" | "HEAD" | "POST");
    let method_ok = cors.any_method || safelisted || cors.allow_methods.contains(&requested_method);
    let requested_headers: Vec<String> = req
        .headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let headers_ok = cors.any_header
        || requested_headers
            .iter()
            .all(|r| cors.allow_headers.iter().any(|a| a == r));
    if !method_ok || !headers_ok {
        return CorsDecision::Preflight(StatusCode::FORBIDDEN, HeaderMap::new());
    }
    let methods = if cors.any_method {
        requested_method.clone()
    } else if cors.allow_methods.is_empty() {
        "GET, HEAD, POST".to_string()
    } else {
        cors.allow_methods.join(", ")
    };
    if let Ok(v) = HeaderValue::from_str(&methods) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    let headers = if cors.any_header {
        requested_headers.join(", ")
    } else {
        cors.allow_headers.join(", ")
    };
    if !headers.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&headers) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    if let Some(age) = cors.max_age {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    CorsDecision::Preflight(StatusCode::NO_CONTENT, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::OriginPattern;

    fn cors() -> Cors {
        Cors {
            allow_origins: vec![OriginPattern::parse("https://app.test").unwrap()],
            allow_methods: vec!["PUT".into()],
            allow_headers: vec!["x-token".into()],
            expose_headers: Some(HeaderValue::from_static("x-total")),
            allow_credentials: true,
            max_age: Some(600),
            ..Default::default()
        }
    }

    fn req(method: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn preflight_allowed() {
        let r = req(
            "OPTIONS",
            &[
                ("origin", "https://app.test"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "X-Token"),
            ],
        );
        let CorsDecision::Preflight(status, h) = decide(&cors(), &r) else {
            panic!("expected preflight")
        };
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(h["access-control-allow-origin"], "https://app.test");
        assert_eq!(h["access-control-allow-methods"], "PUT");
        assert_eq!(h["access-control-allow-headers"], "x-token");
        assert_eq!(h["access-control-max-age"], "600");
        assert_eq!(h["access-control-allow-credentials"], "true");
    }

    #[test]
    fn preflight_refused() {
        let bad_origin = req(
            "OPTIONS",
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "PUT"),
            ],
        );
        assert!(matches!(
            decide(&cors(), &bad_origin),
            CorsDecision::Preflight(StatusCode::FORBIDDEN, _)
        ));
        let bad_method = req(
            "OPTIONS",
            &[
                ("origin", "https://app.test"),
                ("access-control-request-method", "DELETE"),
            ],
        );
        assert!(matches!(
            decide(&cors(), &bad_method),
            CorsDecision::Preflight(StatusCode::FORBIDDEN, _)
        ));
    }

    #[test]
    fn actual_request() {
        let r = req("GET", &[("origin", "https://app.test")]);
        let CorsDecision::Allow(h) = decide(&cors(), &r) else {
            panic!("expected allow")
        };
        assert_eq!(h["access-control-expose-headers"], "x-total");
        assert!(matches!(
            decide(&cors(), &req("GET", &[])),
            CorsDecision::Pass
        ));
    }
}
