//! Translation rules, each from YAML of real Gateway API objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};

use super::build::{run_at, serve_at, Rejected};
use super::{ObjectRef, Translation};
use crate::kubernetes::snapshot::{Scope, Snapshot};

pub(super) const CONTROLLER: &str = "switchboard.dev/gateway-controller";

/// A class, a Gateway `infra/gw` with an HTTP listener `http` on 8080 (routes from `from`),
/// and a Service `apps/echo` with a ready and a not-ready endpoint.
fn base(from: &str) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{ name: switchboard, generation: 1 }}
spec: {{ controllerName: {CONTROLLER} }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{ name: other }}
spec: {{ controllerName: example.com/other }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{ name: gw, namespace: infra, generation: 3 }}
spec:
  gatewayClassName: switchboard
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
    allowedRoutes: {{ namespaces: {{ from: {from} }} }}
---
apiVersion: v1
kind: Service
metadata: {{ name: echo, namespace: apps }}
spec:
  ports: [{{ name: web, port: 80, targetPort: 9000 }}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-abc
  namespace: apps
  labels: {{ kubernetes.io/service-name: echo }}
addressType: IPv4
ports: [{{ name: web, port: 9000 }}]
endpoints:
- addresses: [10.0.0.1]
  conditions: {{ ready: true }}
- addresses: [10.0.0.2]
  conditions: {{ ready: false }}
- addresses: [10.0.0.3]
"#
    )
}

/// An HTTPRoute `ns/name` to Gateway `infra/gw` with a backendRef to `apps/echo:80`.
fn route(ns: &str, name: &str, extra_parent: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: {name}, namespace: {ns}, generation: 2 }}
spec:
  parentRefs: [{{ name: gw, namespace: infra {extra_parent} }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: /{name} }} }}]
    backendRefs: [{{ name: echo, namespace: apps, port: 80 }}]
"#
    )
}

const GRANT: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: routes-to-apps, namespace: apps }
spec:
  from:
  - { group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web }
  - { group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra }
  to: [{ group: "", kind: Service }]
"#;

pub(super) fn snapshot(yaml: &str) -> Snapshot {
    match Snapshot::from_yaml(yaml) {
        Ok(s) => s,
        Err(e) => panic!("fixture: {e}"),
    }
}

pub(super) fn t0() -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(1_000_000).expect("time"))
}

pub(super) fn translate(yaml: &str) -> Translation {
    run_at(&snapshot(yaml), &Scope::default(), &Rejected::new(), &t0())
}

pub(super) fn status<'a>(
    t: &'a Translation,
    group: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> &'a Value {
    t.status
        .get(&ObjectRef::new(group, kind, ns, name))
        .unwrap_or_else(|| panic!("no status for {kind} {ns}/{name}: {:?}", t.status))
}

pub(super) fn condition<'a>(conditions: &'a Value, type_: &str) -> &'a Value {
    conditions
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} in {conditions}"))
}

/// Our parent entry's condition `type_` of HTTPRoute `ns/name`.
pub(super) fn route_condition(t: &Translation, ns: &str, name: &str, type_: &str) -> Value {
    let s = status(t, "gateway.networking.k8s.io", "HTTPRoute", ns, name);
    let parent = s["parents"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["controllerName"] == CONTROLLER))
        .unwrap_or_else(|| panic!("no parent status in {s}"));
    condition(&parent["conditions"], type_).clone()
}

pub(super) fn file_json(t: &Translation) -> Value {
    serde_json::to_value(&t.file).expect("json")
}

#[test]
fn route_attaches_with_ready_endpoints_only_and_statuses() {
    let t = translate(&(base("Same") + &route("infra", "r1", "") + GRANT));
    let file = file_json(&t);
    let bind = &file["binds"][0];
    assert_eq!(bind["port"], 8080);
    assert_eq!(bind["listeners"][0]["name"], "infra/gw/http");
    let r = &bind["listeners"][0]["routes"][0];
    assert_eq!(r["name"], "infra/r1/0");
    assert_eq!(r["matches"], json!([{ "path": { "prefix": "/r1" } }]));
    // 10.0.0.2 is not ready; 10.0.0.3 has no condition (ready, as the API advises).
    assert_eq!(
        r["backends"],
        json!([{ "host": "10.0.0.1:9000", "weight": 1 }, { "host": "10.0.0.3:9000", "weight": 1 }])
    );
    // Gateway and listener status, with observedGeneration.
    let gw = status(&t, "gateway.networking.k8s.io", "Gateway", "infra", "gw");
    let accepted = condition(&gw["conditions"], "Accepted");
    assert_eq!(accepted["status"], "True");
    assert_eq!(accepted["observedGeneration"], 3);
    assert_eq!(condition(&gw["conditions"], "Programmed")["status"], "True");
    let listener = &gw["listeners"][0];
    assert_eq!(listener["attachedRoutes"], 1);
    assert_eq!(
        listener["supportedKinds"],
        json!([{ "group": "gateway.networking.k8s.io", "kind": "HTTPRoute" }])
    );
    assert_eq!(
        condition(&listener["conditions"], "Conflicted")["status"],
        "False"
    );
    // Route status.
    let accepted = route_condition(&t, "infra", "r1", "Accepted");
    assert_eq!(accepted["status"], "True");
    assert_eq!(accepted["observedGeneration"], 2);
    assert_eq!(
        route_condition(&t, "infra", "r1", "ResolvedRefs")["status"],
        "True"
    );
    // Only our class is accepted.
    let class = status(
        &t,
        "gateway.networking.k8s.io",
        "GatewayClass",
        "",
        "switchboard",
    );
    assert_eq!(
        condition(&class["conditions"], "Accepted")["status"],
        "True"
    );
    assert!(t
        .status
        .get(&ObjectRef::new(
            "gateway.networking.k8s.io",
            "GatewayClass",
            "",
            "other"
        ))
        .is_none());
}

#[test]
fn cross_namespace_backend_ref_needs_a_reference_grant() {
    let without = translate(&(base("All") + &route("web", "r1", "")));
    let resolved = route_condition(&without, "web", "r1", "ResolvedRefs");
    assert_eq!(resolved["status"], "False");
    assert_eq!(resolved["reason"], "RefNotPermitted");
    // The refused ref's share answers 500, as the Gateway API says.
    assert_eq!(
        file_json(&without)["binds"][0]["listeners"][0]["routes"][0]["backends"],
        json!([{ "status": 500, "weight": 1 }])
    );

    let with = translate(&(base("All") + &route("web", "r1", "") + GRANT));
    assert_eq!(
        route_condition(&with, "web", "r1", "ResolvedRefs")["status"],
        "True"
    );
    let routes = &file_json(&with)["binds"][0]["listeners"][0]["routes"];
    assert_eq!(routes[0]["backends"][0]["host"], "10.0.0.1:9000");
}

#[test]
fn allowed_routes_same_and_all() {
    let same = translate(&(base("Same") + &route("web", "r1", "") + GRANT));
    let accepted = route_condition(&same, "web", "r1", "Accepted");
    assert_eq!(accepted["status"], "False");
    assert_eq!(accepted["reason"], "NotAllowedByListeners");
    let gw = status(&same, "gateway.networking.k8s.io", "Gateway", "infra", "gw");
    assert_eq!(gw["listeners"][0]["attachedRoutes"], 0);

    let all = translate(&(base("All") + &route("web", "r1", "") + GRANT));
    assert_eq!(
        route_condition(&all, "web", "r1", "Accepted")["status"],
        "True"
    );
    let gw = status(&all, "gateway.networking.k8s.io", "Gateway", "infra", "gw");
    assert_eq!(gw["listeners"][0]["attachedRoutes"], 1);
}

#[test]
fn allowed_routes_selector_reads_namespace_labels() {
    let selector = "Selector, selector: { matchLabels: { gateway-access: \"yes\" } }";
    let ns = |v: &str| {
        format!("\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{ name: web, labels: {{ gateway-access: \"{v}\" }} }}\n")
    };
    let yes = translate(&(base(selector) + &route("web", "r1", "") + GRANT + &ns("yes")));
    assert_eq!(
        route_condition(&yes, "web", "r1", "Accepted")["status"],
        "True"
    );
    let no = translate(&(base(selector) + &route("web", "r1", "") + GRANT + &ns("no")));
    assert_eq!(
        route_condition(&no, "web", "r1", "Accepted")["reason"],
        "NotAllowedByListeners"
    );
}

pub(super) const TWO_LISTENERS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: switchboard }
spec: { controllerName: switchboard.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra }
spec:
  gatewayClassName: switchboard
  listeners:
  - { name: wild, port: 80, protocol: HTTP, hostname: "*.example.com" }
  - { name: admin, port: 8081, protocol: HTTP }
  - { name: tcp, port: 9000, protocol: TCP }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: infra }
spec: { ports: [{ port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: infra, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ port: 8000 }]
endpoints: [{ addresses: [10.1.0.1] }]
"#;

pub(super) fn infra_route(name: &str, parent: &str, hostnames: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: {name}, namespace: infra }}
spec:
  parentRefs: [{{ name: gw {parent} }}]
  hostnames: {hostnames}
  rules: [{{ backendRefs: [{{ name: echo, port: 80 }}] }}]
"#
    )
}

#[test]
fn section_name_and_port_select_listeners() {
    let yaml = TWO_LISTENERS.to_string()
        + &infra_route("to-admin", ", sectionName: admin", "[]")
        + &infra_route("to-port", ", port: 8081", "[]")
        + &infra_route("to-none", ", sectionName: nope", "[]");
    let t = translate(&yaml);
    let file = file_json(&t);
    // Port 80 (wild) has no route; 8081 has the two.
    let binds = file["binds"].as_array().expect("binds");
    assert_eq!(binds.len(), 2, "{file}");
    assert_eq!(binds[0]["port"], 80);
    assert_eq!(binds[0]["listeners"][0]["routes"], json!([]));
    assert_eq!(binds[1]["port"], 8081);
    let names: Vec<&str> = binds[1]["listeners"][0]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["infra/to-admin/0", "infra/to-port/0"]);
    // Default path match is PathPrefix "/".
    assert_eq!(
        binds[1]["listeners"][0]["routes"][0]["matches"],
        json!([{ "path": { "prefix": "/" } }])
    );
    assert_eq!(
        route_condition(&t, "infra", "to-none", "Accepted")["reason"],
        "NoMatchingParent"
    );
    // The TCP listener is not accepted.
    let gw = status(&t, "gateway.networking.k8s.io", "Gateway", "infra", "gw");
    let tcp = &gw["listeners"][2];
    assert_eq!(
        condition(&tcp["conditions"], "Accepted")["reason"],
        "UnsupportedProtocol"
    );
    assert_eq!(
        condition(&gw["conditions"], "Accepted")["reason"],
        "ListenersNotValid"
    );
}

#[test]
fn hostnames_intersect_with_the_listener() {
    let yaml = TWO_LISTENERS.to_string()
        + &infra_route("some", ", sectionName: wild", "[foo.example.com, bar.org]")
        + &infra_route("none", ", sectionName: wild", "[bar.org]");
    let t = translate(&yaml);
    let file = file_json(&t);
    let routes = &file["binds"][0]["listeners"][0]["routes"];
    assert_eq!(routes[0]["name"], "infra/some/0");
    assert_eq!(routes[0]["hostnames"], json!(["foo.example.com"]));
    assert_eq!(routes.as_array().map(Vec::len), Some(1));
    assert_eq!(
        route_condition(&t, "infra", "none", "Accepted")["reason"],
        "NoMatchingListenerHostname"
    );
}

const POLICIES: &str = r#"
---
apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardPolicy
metadata: { name: bad, namespace: infra, generation: 4 }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: a }]
  policies: { retry: { attempts: many } }
---
apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardPolicy
metadata: { name: bad-cel, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: b }]
  policies: { authorization: { rules: [{ allow: "request.method ==" }] } }
---
apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardPolicy
metadata: { name: good, namespace: infra }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]
  policies:
    requestHeaderModifier: { set: { x-api-key: "${secret:creds/key}" } }
---
apiVersion: v1
kind: Secret
metadata: { name: creds, namespace: infra }
data: { key: c2VjcmV0LTE= }
"#;

#[test]
fn invalid_policies_are_reported_on_their_own_status_and_the_rest_lowers() {
    let yaml = TWO_LISTENERS.to_string()
        + &infra_route("a", ", sectionName: admin", "[]")
        + &infra_route("b", ", sectionName: admin", "[]")
        + POLICIES;
    let served = serve_at(
        &snapshot(&yaml),
        &Scope::default(),
        crate::mcp::build,
        &t0(),
    );
    let model = served
        .model
        .as_ref()
        .unwrap_or_else(|| panic!("no model: {}", served.errors));
    assert_eq!(model.binds.len(), 2);
    let st = |name: &str| {
        served
            .status
            .get(&ObjectRef::new(
                "switchboard.dev",
                "SwitchboardPolicy",
                "infra",
                name,
            ))
            .unwrap_or_else(|| panic!("no status for {name}"))
            .clone()
    };
    // A schema error, worded as for a file, at the resource's key path.
    let bad = condition(&st("bad")["conditions"], "Accepted").clone();
    assert_eq!(bad["status"], "False");
    assert_eq!(bad["observedGeneration"], 4);
    let message = bad["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("spec.policies.retry.attempts: "),
        "{message}"
    );
    // A lowering error (CEL) blames the policy, which is dropped; route b still serves.
    let bad_cel = condition(&st("bad-cel")["conditions"], "Accepted").clone();
    assert_eq!(bad_cel["status"], "False", "{bad_cel}");
    assert!(
        bad_cel["message"]
            .as_str()
            .unwrap_or("")
            .contains("authorization"),
        "{bad_cel}"
    );
    let good = st("good");
    assert_eq!(condition(&good["conditions"], "Accepted")["status"], "True");
    // GEP-713 ancestors: the Gateway it takes effect through.
    assert_eq!(
        good["ancestors"][0]["ancestorRef"],
        json!({ "group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "infra", "name": "gw" })
    );
    assert_eq!(good["ancestors"][0]["controllerName"], CONTROLLER);
    assert_eq!(
        condition(&good["ancestors"][0]["conditions"], "Accepted")["status"],
        "True"
    );
    let source = served.source.as_ref().expect("source");
    let routes = &source.file.binds[1].listeners[0].routes;
    assert_eq!(routes.len(), 2);
    for r in routes {
        let p = r
            .policies
            .as_ref()
            .expect("policies from the Gateway policy");
        assert!(p.authorization.is_none());
        let set = &p.request_header_modifier.as_ref().expect("rhm").set;
        assert_eq!(set.get("x-api-key").map(String::as_str), Some("secret-1"));
    }
    // The Secret's value is redacted in /config.
    let redacted = source.redacted();
    let v = &redacted["binds"][1]["listeners"][0]["routes"][0]["policies"]["requestHeaderModifier"]
        ["set"]["x-api-key"];
    assert_eq!(v, "<redacted>");
}

#[test]
fn a_missing_secret_is_resolved_refs_false() {
    let yaml = TWO_LISTENERS.to_string()
        + &infra_route("a", ", sectionName: admin", "[]")
        + &POLICIES.replace("creds/key", "nope/key");
    let t = translate(&yaml);
    let s = status(&t, "switchboard.dev", "SwitchboardPolicy", "infra", "good");
    let resolved = condition(&s["conditions"], "ResolvedRefs");
    assert_eq!(resolved["status"], "False");
    assert!(resolved["message"]
        .as_str()
        .unwrap_or("")
        .contains("Secret infra/nope not found"));
}

#[test]
fn output_is_deterministic_whatever_the_order() {
    let yaml = base("All") + &route("web", "r2", "") + &route("web", "r1", "") + GRANT;
    let a = translate(&yaml);
    let mut s = snapshot(&yaml);
    s.http_routes.reverse();
    s.endpoint_slices.reverse();
    let b = run_at(&s, &Scope::default(), &Rejected::new(), &t0());
    let (ja, jb) = (
        serde_json::to_string(&a.file).expect("json"),
        serde_json::to_string(&b.file).expect("json"),
    );
    assert_eq!(ja, jb);
    assert_eq!(a.status, b.status);
}

#[test]
fn unchanged_conditions_keep_their_transition_time() {
    let yaml = base("Same") + &route("infra", "r1", "") + GRANT;
    let mut s = snapshot(&yaml);
    let first = run_at(&s, &Scope::default(), &Rejected::new(), &t0());
    // Write the statuses back, as the API server would hold them.
    let gw_status = status(
        &first,
        "gateway.networking.k8s.io",
        "Gateway",
        "infra",
        "gw",
    )
    .clone();
    s.gateways[0].status = Some(serde_json::from_value(gw_status).expect("gateway status"));
    let route_status = status(
        &first,
        "gateway.networking.k8s.io",
        "HTTPRoute",
        "infra",
        "r1",
    )
    .clone();
    s.http_routes[0].status = Some(serde_json::from_value(route_status).expect("route status"));
    let class_status = status(
        &first,
        "gateway.networking.k8s.io",
        "GatewayClass",
        "",
        "switchboard",
    )
    .clone();
    s.gateway_classes[0].status = Some(serde_json::from_value(class_status).expect("class status"));
    let later = Time(k8s_openapi::jiff::Timestamp::from_second(2_000_000).expect("time"));
    let second = run_at(&s, &Scope::default(), &Rejected::new(), &later);
    assert_eq!(first.status, second.status);
}

#[test]
fn inference_pool_backend_ref_uses_ready_pods_and_the_picker_service() {
    let yaml = TWO_LISTENERS.to_string()
        + r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: llm, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: admin }]
  rules: [{ backendRefs: [{ group: inference.networking.k8s.io, kind: InferencePool, name: pool }] }]
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: { name: pool, namespace: infra, generation: 1 }
spec:
  selector: { matchLabels: { app: vllm } }
  targetPorts: [{ number: 8000 }]
  endpointPickerRef: { name: epp, port: { number: 9002 }, failureMode: FailOpen }
---
apiVersion: v1
kind: Service
metadata: { name: epp, namespace: infra }
spec: { clusterIP: 10.96.0.10, ports: [{ port: 9002 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: vllm-1, namespace: infra, labels: { app: vllm } }
status: { podIP: 10.2.0.1, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: vllm-2, namespace: infra, labels: { app: vllm } }
status: { podIP: 10.2.0.2, conditions: [{ type: Ready, status: "False" }] }
---
apiVersion: v1
kind: Pod
metadata: { name: other, namespace: infra, labels: { app: web } }
status: { podIP: 10.2.0.3, conditions: [{ type: Ready, status: "True" }] }
"#;
    let t = translate(&yaml);
    let file = file_json(&t);
    assert_eq!(
        file["backends"],
        json!([{ "name": "inferencepool/infra/pool", "inferencePool": {
            "endpoints": ["10.2.0.1"], "targetPorts": [8000],
            "endpointPicker": { "host": "10.96.0.10:9002", "failureMode": "FailOpen" },
            "destinationMode": "validated" } }])
    );
    assert_eq!(
        file["binds"][1]["listeners"][0]["routes"][0]["backends"],
        json!([{ "backend": "inferencepool/infra/pool", "weight": 1 }])
    );
    let pool = status(
        &t,
        "inference.networking.k8s.io",
        "InferencePool",
        "infra",
        "pool",
    );
    assert_eq!(pool["parents"][0]["parentRef"]["name"], "gw");
    assert_eq!(
        condition(&pool["parents"][0]["conditions"], "Accepted")["status"],
        "True"
    );
}

#[test]
fn filters_and_timeouts_become_route_policies() {
    let yaml = TWO_LISTENERS.to_string()
        + r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: f, namespace: infra }
spec:
  parentRefs: [{ name: gw, sectionName: admin }]
  rules:
  - name: main
    matches:
    - path: { type: Exact, value: /exact }
      method: GET
      headers: [{ name: x-env, value: prod }, { type: RegularExpression, name: x-v, value: "v[0-9]" }]
      queryParams: [{ name: q, value: "1" }]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: { add: [{ name: x-a, value: "1" }], remove: [x-b] }
    - type: URLRewrite
      urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } }
    timeouts: { request: 1m30s, backendRequest: 500ms }
    backendRefs: [{ name: echo, port: 80, weight: 3 }]
  - name: redirect
    matches: [{ path: { type: PathPrefix, value: /old } }]
    filters:
    - type: RequestRedirect
      requestRedirect: { scheme: https, statusCode: 301, path: { type: ReplaceFullPath, replaceFullPath: /new } }
"#;
    let t = translate(&yaml);
    let file = file_json(&t);
    let routes = &file["binds"][1]["listeners"][0]["routes"];
    assert_eq!(routes[0]["name"], "infra/f/main");
    assert_eq!(
        routes[0]["matches"],
        json!([{ "path": { "exact": "/exact" }, "method": "GET",
                 "headers": [{ "name": "x-env", "value": "prod" }, { "name": "x-v", "regex": "v[0-9]" }],
                 "query": [{ "name": "q", "value": "1" }] }])
    );
    assert_eq!(
        routes[0]["policies"],
        json!({ "requestHeaderModifier": { "add": { "x-a": "1" }, "remove": ["x-b"] },
                "urlRewrite": { "path": { "prefix": "/new" } },
                "timeout": { "request": "90s", "backendRequest": "500ms" } })
    );
    assert_eq!(
        routes[0]["backends"],
        json!([{ "host": "10.1.0.1:8000", "weight": 3 }])
    );
    assert_eq!(routes[1]["name"], "infra/f/redirect");
    assert_eq!(
        routes[1]["policies"]["requestRedirect"],
        json!({ "scheme": "https", "statusCode": 301, "path": { "full": "/new" } })
    );
    assert_eq!(routes[1]["backends"], json!([]));
}

#[test]
fn a_translated_snapshot_lowers_into_a_model() {
    let yaml = base("All") + &route("web", "r1", "") + GRANT;
    let served = serve_at(
        &snapshot(&yaml),
        &Scope::default(),
        crate::mcp::build,
        &t0(),
    );
    assert!(served.errors.0.is_empty(), "{}", served.errors);
    let model = served.model.expect("model");
    assert_eq!(model.binds.len(), 1);
    assert_eq!(model.binds[0].addr.port(), 8080);
    assert_eq!(model.binds[0].listeners.len(), 1);
}
