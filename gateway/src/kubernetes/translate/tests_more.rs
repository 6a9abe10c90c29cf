//! More translation rules: TLS listeners, listener conflicts, GRPCRoutes, SwitchboardBackends,
//! route precedence, and a route rejected while lowering.

use base64::Engine;
use serde_json::json;

use super::build::serve_at;
use super::tests::{
    condition, file_json, infra_route, route_condition, snapshot, status, t0, translate,
    TWO_LISTENERS,
};
use super::ObjectRef;
use crate::kubernetes::snapshot::Scope;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A Gateway `infra/tls` with an HTTPS listener whose certificate is Secret `cert_ns/cert`.
fn https(cert_ns: &str, grant: bool) -> String {
    let (cert, key) = e2e::self_signed();
    let mut yaml = format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{ name: switchboard }}
spec: {{ controllerName: switchboard.dev/gateway-controller }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{ name: tls, namespace: infra }}
spec:
  gatewayClassName: switchboard
  listeners:
  - name: https
    port: 8443
    protocol: HTTPS
    tls: {{ certificateRefs: [{{ name: cert, namespace: {cert_ns} }}] }}
---
apiVersion: v1
kind: Secret
metadata: {{ name: cert, namespace: {cert_ns} }}
type: kubernetes.io/tls
data: {{ tls.crt: {}, tls.key: {} }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: r, namespace: infra }}
spec:
  parentRefs: [{{ name: tls }}]
  rules: [{{ filters: [{{ type: RequestRedirect, requestRedirect: {{ statusCode: 301 }} }}] }}]
"#,
        b64(&cert),
        b64(&key)
    );
    if grant {
        yaml.push_str(&format!(
            r#"
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {{ name: certs, namespace: {cert_ns} }}
spec:
  from: [{{ group: gateway.networking.k8s.io, kind: Gateway, namespace: infra }}]
  to: [{{ group: "", kind: Secret, name: cert }}]
"#
        ));
    }
    yaml
}

#[test]
fn https_listener_takes_its_certificate_from_a_secret_and_lowers() {
    let served = serve_at(
        &snapshot(&https("infra", false)),
        &Scope::default(),
        crate::mcp::build,
        &t0(),
    );
    let model = served
        .model
        .as_ref()
        .unwrap_or_else(|| panic!("{}", served.errors));
    assert!(model.binds[0].tls.is_some());
    let source = served.source.as_ref().expect("source");
    let tls = source.file.binds[0].listeners[0].tls.as_ref().expect("tls");
    assert!(tls.cert.starts_with("-----BEGIN CERTIFICATE"));
    // The key is redacted in /config.
    assert_eq!(
        source.redacted()["binds"][0]["listeners"][0]["tls"]["key"],
        "<redacted>"
    );
}

#[test]
fn a_certificate_in_another_namespace_needs_a_grant() {
    let t = translate(&https("certs", false));
    let gw = status(&t, "gateway.networking.k8s.io", "Gateway", "infra", "tls");
    let resolved = condition(&gw["listeners"][0]["conditions"], "ResolvedRefs");
    assert_eq!(resolved["reason"], "RefNotPermitted");
    assert_eq!(
        condition(&gw["conditions"], "Programmed")["status"],
        "False"
    );
    assert_eq!(file_json(&t)["binds"], json!([]));

    let t = translate(&https("certs", true));
    let gw = status(&t, "gateway.networking.k8s.io", "Gateway", "infra", "tls");
    assert_eq!(
        condition(&gw["listeners"][0]["conditions"], "ResolvedRefs")["status"],
        "True"
    );
    assert_eq!(file_json(&t)["binds"][0]["port"], 8443);
}

#[test]
fn http_and_https_on_one_port_conflict() {
    let yaml = https("infra", false)
        + r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: plain, namespace: infra, creationTimestamp: "2030-01-01T00:00:00Z" }
spec:
  gatewayClassName: switchboard
  listeners: [{ name: http, port: 8443, protocol: HTTP }]
"#;
    let t = translate(&yaml);
    let plain = status(&t, "gateway.networking.k8s.io", "Gateway", "infra", "plain");
    let conflicted = condition(&plain["listeners"][0]["conditions"], "Conflicted");
    assert_eq!(conflicted["status"], "True");
    assert_eq!(conflicted["reason"], "ProtocolConflict");
    let file = file_json(&t);
    assert_eq!(file["binds"].as_array().map(Vec::len), Some(1));
    assert_eq!(file["binds"][0]["listeners"][0]["protocol"], "HTTPS");
}

#[test]
fn grpc_routes_are_refused_until_backends_speak_http2() {
    let yaml = TWO_LISTENERS.to_string()
        + r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: admin }]
  rules:
  - matches:
    - method: { service: echo.Echo, method: Say }
    backendRefs: [{ name: echo, port: 80 }]
"#;
    let t = translate(&yaml);
    let file = file_json(&t);
    let routes = &file["binds"][1]["listeners"][0]["routes"];
    assert!(
        routes.as_array().is_none_or(|r| r.is_empty()),
        "no gRPC route is served: {routes}"
    );
    let s = status(&t, "gateway.networking.k8s.io", "GRPCRoute", "infra", "g");
    let accepted = condition(&s["parents"][0]["conditions"], "Accepted");
    assert_eq!(accepted["status"], "False");
    assert_eq!(accepted["reason"], "NotAllowedByListeners");
    assert!(accepted["message"]
        .as_str()
        .is_some_and(|m| m.contains("HTTP/2")));
}

#[test]
fn switchboard_backends_become_named_backends_with_their_policies() {
    let yaml = TWO_LISTENERS.to_string()
        + r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: tools, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: admin }]
  rules: [{ backendRefs: [{ group: switchboard.dev, kind: SwitchboardBackend, name: api }] }]
---
apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardBackend
metadata: { name: api, namespace: infra }
spec: { host: "10.3.0.1:8080" }
---
apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardBackend
metadata: { name: broken, namespace: infra }
spec: { host: "10.3.0.1:8080", mcp: { targets: "not a list" } }
---
apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardPolicy
metadata: { name: auth, namespace: infra }
spec:
  targetRefs: [{ group: switchboard.dev, kind: SwitchboardBackend, name: api }]
  policies: { backendAuth: { key: { header: x-api-key, value: k1 } } }
"#;
    let t = translate(&yaml);
    let file = file_json(&t);
    assert_eq!(
        file["backends"],
        json!([{ "name": "switchboardbackend/infra/api", "host": "10.3.0.1:8080",
                 "policies": { "backendAuth": { "key": { "header": "x-api-key", "value": "k1" } } } }])
    );
    assert_eq!(
        file["binds"][1]["listeners"][0]["routes"][0]["backends"],
        json!([{ "backend": "switchboardbackend/infra/api", "weight": 1 }])
    );
    let auth = status(&t, "switchboard.dev", "SwitchboardPolicy", "infra", "auth");
    assert_eq!(
        auth["ancestors"][0]["ancestorRef"]["kind"],
        "SwitchboardBackend"
    );
    let broken = status(
        &t,
        "switchboard.dev",
        "SwitchboardBackend",
        "infra",
        "broken",
    );
    let accepted = condition(&broken["conditions"], "Accepted");
    assert_eq!(accepted["status"], "False");
    assert!(
        accepted["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("spec.mcp.targets"),
        "{accepted}"
    );
}

#[test]
fn a_route_that_does_not_lower_is_rejected_alone() {
    let bad = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: admin }]
  rules:
  - matches: [{ path: { type: RegularExpression, value: "/(unclosed" } }]
    backendRefs: [{ name: echo, port: 80 }]
"#;
    let yaml = TWO_LISTENERS.to_string() + &infra_route("good", ", sectionName: admin", "[]") + bad;
    let served = serve_at(
        &snapshot(&yaml),
        &Scope::default(),
        crate::mcp::build,
        &t0(),
    );
    assert!(served.model.is_some(), "{}", served.errors);
    let routes = &served.source.as_ref().expect("source").file.binds[1].listeners[0].routes;
    let names: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["infra/good/0"]);
    let s = served
        .status
        .get(&ObjectRef::new(
            "gateway.networking.k8s.io",
            "HTTPRoute",
            "infra",
            "bad",
        ))
        .expect("status");
    let accepted = condition(&s["parents"][0]["conditions"], "Accepted");
    assert_eq!(accepted["status"], "False");
    assert!(
        accepted["message"].as_str().unwrap_or("").contains("regex"),
        "{accepted}"
    );
    assert!(!served.errors.0.is_empty());
}

#[test]
fn older_routes_come_first_for_equal_matches() {
    let route = |name: &str, created: &str| {
        format!(
            r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: {name}, namespace: infra, creationTimestamp: "{created}" }}
spec:
  parentRefs: [{{ name: gw, sectionName: admin }}]
  rules: [{{ backendRefs: [{{ name: echo, port: 80 }}] }}]
"#
        )
    };
    let yaml = TWO_LISTENERS.to_string()
        + &route("a-newer", "2030-01-02T00:00:00Z")
        + &route("z-older", "2030-01-01T00:00:00Z");
    let t = translate(&yaml);
    let file = file_json(&t);
    let routes = &file["binds"][1]["listeners"][0]["routes"];
    assert_eq!(routes[0]["name"], "infra/z-older/0");
    assert_eq!(routes[1]["name"], "infra/a-newer/0");
    assert_eq!(
        route_condition(&t, "infra", "a-newer", "Accepted")["status"],
        "True"
    );
}

#[test]
fn a_pool_without_ready_pods_is_rejected_on_its_own_status() {
    let yaml = TWO_LISTENERS.to_string()
        + &infra_route("web", ", sectionName: admin", "[]")
        + r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: llm, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: admin }]
  rules:
  - matches: [{ path: { value: /v1 } }]
    backendRefs: [{ group: inference.networking.k8s.io, kind: InferencePool, name: empty }]
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: { name: empty, namespace: infra }
spec:
  selector: { matchLabels: { app: none } }
  targetPorts: [{ number: 8000 }]
  endpointPickerRef: { name: epp, port: { number: 9002 } }
"#;
    let served = serve_at(
        &snapshot(&yaml),
        &Scope::default(),
        crate::mcp::build,
        &t0(),
    );
    assert!(served.model.is_some(), "{}", served.errors);
    let pool = served
        .status
        .get(&ObjectRef::new(
            "inference.networking.k8s.io",
            "InferencePool",
            "infra",
            "empty",
        ))
        .expect("pool status");
    let accepted = condition(&pool["parents"][0]["conditions"], "Accepted");
    assert_eq!(accepted["status"], "False", "{pool}");
    let route = served
        .status
        .get(&ObjectRef::new(
            "gateway.networking.k8s.io",
            "HTTPRoute",
            "infra",
            "llm",
        ))
        .expect("route status");
    let resolved = condition(&route["parents"][0]["conditions"], "ResolvedRefs");
    assert_eq!(resolved["reason"], "BackendNotFound");
    // The route stays, its share of the pool answering 500.
    let routes = &served.source.as_ref().expect("source").file.binds[1].listeners[0].routes;
    let llm = routes
        .iter()
        .find(|r| r.name == "infra/llm/0")
        .expect("llm route");
    assert_eq!(llm.backends[0].status, Some(500));
    assert!(llm.backends[0].backend.is_none());
}

#[test]
fn invalid_and_empty_refs_keep_their_share_as_500_and_503() {
    let yaml = TWO_LISTENERS.to_string()
        + r#"
---
apiVersion: v1
kind: Service
metadata: { name: idle, namespace: infra }
spec: { ports: [{ port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: admin }]
  rules:
  - backendRefs:
    - { name: echo, port: 80, weight: 2 }
    - { name: missing, port: 80, weight: 1 }
    - { name: idle, port: 80, weight: 1 }
    - { group: example.com, kind: Thing, name: x }
  - name: nothing
    matches: [{ path: { value: /nothing } }]
"#;
    let served = serve_at(
        &snapshot(&yaml),
        &Scope::default(),
        crate::mcp::build,
        &t0(),
    );
    let model = served
        .model
        .as_ref()
        .unwrap_or_else(|| panic!("{}", served.errors));
    let file = serde_json::to_value(&served.source.as_ref().expect("source").file).expect("json");
    let routes = &file["binds"][1]["listeners"][0]["routes"];
    assert_eq!(
        routes[0]["backends"],
        json!([{ "host": "10.1.0.1:8000", "weight": 2 }, { "status": 500, "weight": 1 },
               { "status": 503, "weight": 1 }, { "status": 500, "weight": 1 }])
    );
    assert_eq!(routes[1]["backends"], json!([{ "status": 500 }]));
    let s = served
        .status
        .get(&ObjectRef::new(
            "gateway.networking.k8s.io",
            "HTTPRoute",
            "infra",
            "split",
        ))
        .expect("status");
    assert_eq!(
        condition(&s["parents"][0]["conditions"], "ResolvedRefs")["reason"],
        "BackendNotFound"
    );
    // The model keeps every share: 2 + 1 + 1 + 1.
    let parts = http::Request::builder()
        .uri("/x")
        .body(())
        .expect("request")
        .into_parts()
        .0;
    let selected = model.binds[1].listeners[0]
        .routes
        .select(None, &parts)
        .expect("a route");
    assert_eq!(selected.route.backends.len(), 4);
    assert_eq!(selected.route.total_weight, 5);
}

#[test]
fn gateways_sharing_a_port_and_hostname_share_a_listener() {
    let yaml = TWO_LISTENERS.to_string()
        + r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: second, namespace: infra, creationTimestamp: "2030-01-01T00:00:00Z" }
spec:
  gatewayClassName: switchboard
  listeners: [{ name: http, port: 8081, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: on-second, namespace: infra }
spec:
  parentRefs: [{ name: second }]
  rules: [{ matches: [{ path: { value: /second } }], backendRefs: [{ name: echo, port: 80 }] }]
"# + &infra_route("on-first", ", sectionName: admin", "[]");
    let t = translate(&yaml);
    let file = file_json(&t);
    let listeners = file["binds"][1]["listeners"].as_array().expect("listeners");
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0]["name"], "infra/gw/admin");
    let names: Vec<&str> = listeners[0]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["infra/on-first/0", "infra/on-second/0"]);
    let second = status(
        &t,
        "gateway.networking.k8s.io",
        "Gateway",
        "infra",
        "second",
    );
    assert_eq!(second["listeners"][0]["attachedRoutes"], 1);
    assert_eq!(
        condition(&second["conditions"], "Programmed")["status"],
        "True"
    );
}

#[test]
fn https_gateways_with_different_certificates_on_one_hostname_conflict() {
    let first = https("infra", false);
    // The same fixture again under another name: a new certificate.
    let second = https("infra", false)
        .split("\n---\n")
        .filter(|d| d.contains("kind: Gateway\n") || d.contains("kind: Secret"))
        .map(|d| {
            d.replace("name: tls,", "name: tls2,")
                .replace("name: cert", "name: cert2")
        })
        .map(|d| d.replace("creationTimestamp", "x"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let second = second.replace(
        "metadata: { name: tls2, namespace: infra }",
        "metadata: { name: tls2, namespace: infra, creationTimestamp: \"2030-01-01T00:00:00Z\" }",
    );
    let t = translate(&format!("{first}\n---\n{second}"));
    let tls2 = status(&t, "gateway.networking.k8s.io", "Gateway", "infra", "tls2");
    let conflicted = condition(&tls2["listeners"][0]["conditions"], "Conflicted");
    assert_eq!(conflicted["reason"], "HostnameConflict", "{tls2}");
    let tls = status(&t, "gateway.networking.k8s.io", "Gateway", "infra", "tls");
    assert_eq!(
        condition(&tls["listeners"][0]["conditions"], "Conflicted")["status"],
        "False"
    );
}
