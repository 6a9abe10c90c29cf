//! `switchboard run --kubernetes` against a control plane on loopback: a real three-member
//! etcd cluster (Debian's `etcd-server`), two test API servers over it (crate
//! `test-apiserver`), resources applied with the real `kubectl`, and three gateway replicas,
//! each listening on its own loopback address (127.0.0.1, .2, .3) on the Gateway's port.
//!
//! What a user relies on when Kubernetes drives many replicas: every replica serves the same
//! config after each change; only the lease holder writes status; a lost API server leaves the
//! last good config serving; a watch that cannot resume (compacted revision) relists; an MCP
//! session opened on one replica continues on another.

use std::time::{Duration, Instant};

use e2e::kube::KubeCluster;
use e2e::{client, free_port, workspace_bin, Gateway, Upstream};
use serde_json::{json, Value};

/// The session key every replica shares (from a Secret in a cluster; here in the settings).
const SESSION_KEY: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

/// How long a change may take to reach every replica.
const CONVERGE: Duration = Duration::from_secs(20);

/// The GatewayClass of our controller.
const CLASS: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: switchboard }
spec: { controllerName: switchboard.dev/gateway-controller }
"#;

/// A Gateway `namespace/edge` with one HTTP listener `http` on `port` (`allowed`: its
/// `allowedRoutes`, or empty for the default, routes of its own namespace).
fn gateway(namespace: &str, port: u16, allowed: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{ name: edge, namespace: {namespace} }}
spec:
  gatewayClassName: switchboard
  listeners:
  - {{ name: http, protocol: HTTP, port: {port}{allowed} }}
"#
    )
}

/// The Service `namespace/echo` (port 80) and the EndpointSlice with its one ready endpoint,
/// 127.0.0.1:`upstream_port`, as the endpoints controller would write it.
fn echo_service(namespace: &str, upstream_port: u16) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{ name: echo, namespace: {namespace} }}
spec:
  ports: [{{ name: http, port: 80, targetPort: {upstream_port} }}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: {namespace}
  labels: {{ kubernetes.io/service-name: echo }}
addressType: IPv4
ports: [{{ name: http, port: {upstream_port}, protocol: TCP }}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {{ ready: true }}
"#
    )
}

/// The GatewayClass, a Gateway with one HTTP listener on `port`, a Service `echo` whose one
/// ready endpoint is `upstream_port`, and an HTTPRoute sending `path` to it.
fn base(port: u16, upstream_port: u16, path: &str) -> String {
    [
        CLASS.to_string(),
        gateway("default", port, ""),
        echo_service("default", upstream_port),
        route(path),
    ]
    .join("---\n")
}

fn route(path: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: echo, namespace: default }}
spec:
  parentRefs: [{{ name: edge, sectionName: http }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: {path} }} }}]
    backendRefs: [{{ name: echo, port: 80 }}]
"#
    )
}

/// Replica `i`: API server `server`, loopback address 127.0.0.(i+1), a short lease.
async fn replica(cluster: &KubeCluster, i: usize, server: usize) -> Gateway {
    let settings =
        format!("config:\n  adminAddr: \"{{admin}}\"\n  sessionKey: \"{SESSION_KEY}\"\n");
    let args = [
        "--kubeconfig".to_string(),
        cluster.kubeconfig(server).display().to_string(),
        "--listen-address".to_string(),
        format!("127.0.0.{}", i + 1),
        "--identity".to_string(),
        format!("replica-{i}"),
        "--lease-duration".to_string(),
        "2s".to_string(),
        "--debounce".to_string(),
        "50ms".to_string(),
    ];
    Gateway::start_kubernetes(&settings, &args).await
}

fn listener_url(i: usize, port: u16, path: &str) -> String {
    format!("http://127.0.0.{}:{port}{path}", i + 1)
}

/// Waits until GET `url` answers `status`; returns the body.
async fn wait_status(url: &str, status: u16, gw: &Gateway) -> String {
    let http = client();
    let deadline = Instant::now() + CONVERGE;
    loop {
        let last = match http.get(url).send().await {
            Ok(r) if r.status().as_u16() == status => return r.text().await.unwrap_or_default(),
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            panic!(
                "{url} never answered {status} (last: {last}); gateway stderr:\n{}",
                gw.stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The replica's `/config` without what differs per replica by design here: its process
/// settings (admin address) and the address its binds listen on (127.0.0.1, .2, .3; in a
/// cluster every pod has the same settings and listens on 0.0.0.0, so the whole documents
/// are equal there).
async fn config_of(gw: &Gateway) -> String {
    let mut config: Value = client()
        .get(gw.admin_url("/config"))
        .send()
        .await
        .expect("GET /config")
        .json()
        .await
        .expect("/config body");
    config
        .as_object_mut()
        .expect("/config is an object")
        .remove("config");
    for bind in config["binds"].as_array_mut().into_iter().flatten() {
        bind.as_object_mut().expect("bind").remove("address");
    }
    config.to_string()
}

/// Waits until every replica's `/config` is the same document; returns it.
async fn converged(replicas: &[&Gateway]) -> String {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let mut configs = Vec::new();
        for gw in replicas {
            configs.push(config_of(gw).await);
        }
        if configs.windows(2).all(|w| w[0] == w[1]) {
            return configs.swap_remove(0);
        }
        assert!(
            Instant::now() < deadline,
            "replicas did not converge:\n{}",
            configs.join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The condition `type` of the route's parent status written by our controller.
fn route_condition(route: &Value, ty: &str) -> Option<Value> {
    route["status"]["parents"]
        .as_array()?
        .iter()
        .find(|p| p["controllerName"] == "switchboard.dev/gateway-controller")?["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_follow_the_api_servers_and_survive_losing_one() {
    let mut cluster = KubeCluster::start(3, 2).await;
    let echo = Upstream::start("echo-a").await;
    let port = free_port();
    cluster.apply(&base(port, echo.addr.port(), "/echo"));

    // Replica 0 watches API server 0; replicas 1 and 2 watch API server 1.
    let r0 = replica(&cluster, 0, 0).await;
    let r1 = replica(&cluster, 1, 1).await;
    let r2 = replica(&cluster, 2, 1).await;
    let all = [&r0, &r1, &r2];
    for (i, gw) in all.iter().enumerate() {
        let body = wait_status(&listener_url(i, port, "/echo/a"), 200, gw).await;
        assert_eq!(body, "echo-a", "replica {i}");
    }
    let first = converged(&all).await;
    assert!(first.contains("/echo"), "{first}");

    // Status: Accepted on the route's parent, written by exactly one replica (the lease holder).
    let deadline = Instant::now() + CONVERGE;
    loop {
        let route = cluster.get_json("httproute", "default", "echo");
        if let Some(c) = route_condition(&route, "Accepted") {
            assert_eq!(c["status"], "True", "{route}");
            assert_eq!(
                c["observedGeneration"], route["metadata"]["generation"],
                "{route}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no Accepted condition: {route}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut leaders = Vec::new();
    for (i, gw) in all.iter().enumerate() {
        let leading = gw
            .metric_or_zero("switchboard_kubernetes_leader", &[])
            .await;
        let writes = gw
            .metric_or_zero(
                "switchboard_kubernetes_status_writes_total",
                &[("result", "ok")],
            )
            .await;
        if leading == 1.0 {
            leaders.push(i);
        } else {
            assert_eq!(
                writes, 0.0,
                "replica {i} does not hold the lease but wrote status"
            );
        }
    }
    assert_eq!(leaders.len(), 1, "exactly one lease holder: {leaders:?}");

    // A change reaches every replica; the old path is gone everywhere.
    cluster.apply(&route("/v2"));
    for (i, gw) in all.iter().enumerate() {
        wait_status(&listener_url(i, port, "/v2/x"), 200, gw).await;
        wait_status(&listener_url(i, port, "/echo/a"), 404, gw).await;
    }
    let second = converged(&all).await;
    assert_ne!(first, second);

    // API server 1 goes away: replicas 1 and 2 keep serving the last good config.
    cluster.kill_server(1);
    cluster.apply(&route("/v3"));
    wait_status(&listener_url(0, port, "/v3/x"), 200, &r0).await;
    for (i, gw) in [(1, &r1), (2, &r2)] {
        let body = wait_status(&listener_url(i, port, "/v2/x"), 200, gw).await;
        assert_eq!(body, "echo-a");
    }

    // More changes, then etcd compacts past every revision replicas 1 and 2 saw: when API
    // server 1 returns, their watches cannot resume (410) and relist.
    cluster.apply(&route("/v4"));
    wait_status(&listener_url(0, port, "/v4/x"), 200, &r0).await;
    cluster.etcd.compact_now().await.expect("compact etcd");
    cluster.restart_server(1).await;
    for (i, gw) in [(1, &r1), (2, &r2)] {
        wait_status(&listener_url(i, port, "/v4/x"), 200, gw).await;
        let relists = gw
            .wait_metric(
                "switchboard_kubernetes_relists_total",
                &[("kind", "HTTPRoute")],
                1.0,
                CONVERGE,
            )
            .await;
        assert!(
            relists >= 1.0,
            "replica {i} did not relist: {}",
            gw.stderr()
        );
    }
    let last = converged(&all).await;
    assert!(last.contains("/v4"), "{last}");
}

/// A SwitchboardBackend with the stdio MCP demo server, routed at `/mcp` on `port`.
fn mcp_resources(port: u16) -> String {
    let backend = format!(
        r#"apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardBackend
metadata: {{ name: tools, namespace: default }}
spec:
  mcp:
    targets:
    - {{ name: demo, stdio: {{ cmd: "{cmd}" }} }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: tools, namespace: default }}
spec:
  parentRefs: [{{ name: edge }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: /mcp }} }}]
    backendRefs: [{{ group: switchboard.dev, kind: SwitchboardBackend, name: tools }}]
"#,
        cmd = workspace_bin("mcp-mux-demo-stdio").display()
    );
    [CLASS.to_string(), gateway("default", port, ""), backend].join("---\n")
}

async fn mcp_post(url: &str, session: Option<&str>, body: &Value) -> (u16, Option<String>, String) {
    let mut req = client()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let r = req.send().await.expect("POST /mcp");
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, id, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_session_continues_on_another_replica() {
    let cluster = KubeCluster::start(3, 1).await;
    let port = free_port();
    cluster.apply(&mcp_resources(port));
    let mut r0 = replica(&cluster, 0, 0).await;
    let r1 = replica(&cluster, 1, 0).await;
    let url0 = listener_url(0, port, "/mcp");
    let url1 = listener_url(1, port, "/mcp");
    let ping = json!({"jsonrpc": "2.0", "id": 0, "method": "ping"});
    // Wait until both replicas route /mcp (an unknown session is refused, not 404).
    for (url, gw) in [(&url0, &r0), (&url1, &r1)] {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let (status, _, _) = mcp_post(url, None, &ping).await;
            if status != 404 && status != 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{url} not routed: {}",
                gw.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "0"}}});
    let (status, session, body) = mcp_post(&url0, None, &init).await;
    assert_eq!(status, 200, "{body}");
    let session = session.expect("session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = mcp_post(&url0, Some(&session), &initialized).await;
    assert_eq!(status, 202);

    // The replica that opened the session is deleted; the next call lands on another one.
    r0.signal(libc::SIGKILL);
    let _ = r0.wait_exit(Duration::from_secs(5)).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "moved"}}});
    let (status, _, body) = mcp_post(&url1, Some(&session), &call).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("moved"), "{body}");
    assert!(!body.contains("\"error\""), "{body}");
}

/// The route in `apps` to the Service `echo` in `backends`, sent before its Gateway exists.
fn cross_namespace_route() -> &'static str {
    r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: apps }
spec:
  parentRefs: [{ name: edge, namespace: infra }]
  rules:
  - name: all
    matches: [{ path: { type: PathPrefix, value: /shop } }]
    backendRefs: [{ name: echo, namespace: backends, port: 80 }]
"#
}

fn gateway_and_backend(port: u16, upstream_port: u16) -> String {
    [
        CLASS.to_string(),
        gateway(
            "infra",
            port,
            ", allowedRoutes: { namespaces: { from: All } }",
        ),
        echo_service("backends", upstream_port),
    ]
    .join("---\n")
}

const GRANT: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: { name: apps-to-echo, namespace: backends }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps }]
  to: [{ group: "", kind: Service, name: echo }]
"#;

/// A policy whose `timeout` does not parse, attached to the route's only rule.
const BAD_POLICY: &str = r#"apiVersion: switchboard.dev/v1alpha1
kind: SwitchboardPolicy
metadata: { name: broken, namespace: apps }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: shop }]
  policies: { timeout: { request: soon } }
"#;

/// Waits until `get()` gives a condition `ty` of status `want`; returns that condition.
async fn wait_condition(
    what: &str,
    get: impl Fn() -> Option<Value>,
    want: &str,
    gw: &Gateway,
) -> Value {
    let deadline = Instant::now() + CONVERGE;
    loop {
        if let Some(c) = get() {
            if c["status"] == want {
                return c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no condition with status {want} (last {:?}); stderr:\n{}",
            get(),
            gw.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_does_not_matter_grants_count_and_a_bad_policy_stays_alone() {
    let cluster = KubeCluster::start(1, 1).await;
    let echo = Upstream::start("echo-b").await;
    let port = free_port();
    // The route first, then the replica, then the Gateway and its backend; the grant last.
    cluster.apply(cross_namespace_route());
    let gw = replica(&cluster, 0, 0).await;
    cluster.apply(&gateway_and_backend(port, echo.addr.port()));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");

    // Attached, but the Service is in another namespace with no grant: the rule answers 500,
    // and the route's status says why.
    let route_status = |ty: &'static str| {
        let route = cluster.get_json("httproute", "apps", "shop");
        move || route_condition(&route, ty)
    };
    let refs = wait_condition(
        "ResolvedRefs without a grant",
        || route_status("ResolvedRefs")(),
        "False",
        &gw,
    )
    .await;
    assert_eq!(refs["reason"], "RefNotPermitted", "{refs}");
    let accepted = route_status("Accepted")().expect("Accepted condition");
    assert_eq!(accepted["status"], "True", "{accepted}");
    wait_status(&listener_url(0, port, "/shop"), 500, &gw).await;

    // A keep-alive connection opened now is still served after the grant changes the config.
    let mut conn = e2e::RawConn::connect(addr).await;
    assert_eq!(conn.get("/shop").await.status, 500);
    cluster.apply(GRANT);
    wait_condition(
        "ResolvedRefs with the grant",
        || route_status("ResolvedRefs")(),
        "True",
        &gw,
    )
    .await;
    let deadline = Instant::now() + CONVERGE;
    loop {
        let r = conn.get("/shop/cart").await;
        if r.status == 200 {
            assert_eq!(r.body, "echo-b");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the grant never took effect: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An invalid policy is refused on its own status; the route keeps serving.
    cluster.apply(BAD_POLICY);
    let policy = wait_condition(
        "the broken policy",
        || {
            // The policy's own conditions, or those of its GEP-713 ancestor entries.
            let p = cluster.get_json("switchboardpolicy", "apps", "broken");
            let own = p["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ancestors = p["status"]["ancestors"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            own.into_iter()
                .chain(
                    ancestors
                        .iter()
                        .flat_map(|a| a["conditions"].as_array().cloned().unwrap_or_default()),
                )
                .find(|c| c["type"] == "Accepted")
        },
        "False",
        &gw,
    )
    .await;
    assert!(
        policy["message"]
            .as_str()
            .is_some_and(|m| m.contains("soon")),
        "the message names the bad value: {policy}"
    );
    assert_eq!(conn.get("/shop/cart").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_manifests_apply_and_hold_the_current_crds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kubernetes");
    // The CRD file is `switchboard crds` of this build, so the example cannot drift.
    let shipped = std::fs::read_to_string(dir.join("05-crds.yaml")).expect("05-crds.yaml");
    let built = e2e::run_switchboard(&["crds"], &dir);
    assert!(built.status.success(), "{}", built.stderr);
    assert!(
        shipped == built.stdout,
        "examples/kubernetes/05-crds.yaml is stale: regenerate it with `switchboard crds > examples/kubernetes/05-crds.yaml`"
    );

    let cluster = KubeCluster::start(1, 1).await;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in &files {
        let out = cluster.kubectl(&["apply", "-f", &file.display().to_string()], None);
        assert!(!out.is_empty(), "{}: {out}", file.display());
    }
    let deployment = cluster.get_json("deployment", "switchboard-system", "switchboard");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].clone();
    assert_eq!(args[1], "--kubernetes", "{args}");
    let class = cluster.kubectl(&["get", "gatewayclass", "switchboard", "-o", "json"], None);
    assert!(
        class.contains("switchboard.dev/gateway-controller"),
        "{class}"
    );
}

#[test]
fn a_settings_file_with_routes_is_refused_in_kubernetes_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("settings.yaml");
    std::fs::write(
        &file,
        "binds:\n- port: 8080\n  listeners:\n  - name: main\n    routes: []\n",
    )
    .expect("write");
    let out = e2e::run_switchboard(
        &["run", "--kubernetes", "-c", &file.display().to_string()],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("keep only the `config:` section"),
        "{}",
        out.stderr
    );
}

/// The ReferenceGrant CRD of a cluster whose Gateway API predates v1.5: v1beta1 only.
const BETA_ONLY_GRANT_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: referencegrants.gateway.networking.k8s.io }
spec:
  group: gateway.networking.k8s.io
  scope: Namespaced
  names: { kind: ReferenceGrant, listKind: ReferenceGrantList, plural: referencegrants, singular: referencegrant }
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1beta1_reference_grant_counts_where_v1_is_not_served() {
    let cluster = KubeCluster::start(1, 1).await;
    cluster.apply(BETA_ONLY_GRANT_CRD);
    let echo = Upstream::start("echo-c").await;
    let port = free_port();
    cluster.apply(&gateway_and_backend(port, echo.addr.port()));
    cluster.apply(cross_namespace_route());
    cluster.apply(&GRANT.replace(
        "gateway.networking.k8s.io/v1\n",
        "gateway.networking.k8s.io/v1beta1\n",
    ));
    let gw = replica(&cluster, 0, 0).await;
    let body = wait_status(&listener_url(0, port, "/shop"), 200, &gw).await;
    assert_eq!(body, "echo-c");
}
