//! The Kubernetes source's output served by the real binary: Gateway API objects translated
//! into a config, written as a file, loaded and served on loopback (the same representation a
//! hand-written file has).

use e2e::{client, free_port, Gateway};
use gateway::config::file::ProcessConfig;
use gateway::kubernetes::{translate, Scope, Snapshot};

use crate::{get, upstreams};

/// A Service `apps/NAME` whose one ready endpoint is `addr` (and one not ready).
fn service(name: &str, addr: &str) -> String {
    let (ip, port) = addr.rsplit_once(':').expect("host:port");
    format!(
        r#"
---
apiVersion: v1
kind: Service
metadata: {{ name: {name}, namespace: apps }}
spec: {{ ports: [{{ name: http, port: 80 }}] }}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{ name: {name}-1, namespace: apps, labels: {{ kubernetes.io/service-name: {name} }} }}
addressType: IPv4
ports: [{{ name: http, port: {port} }}]
endpoints:
- {{ addresses: ["{ip}"], conditions: {{ ready: true }} }}
- {{ addresses: ["127.0.0.2"], conditions: {{ ready: false }} }}
"#
    )
}

#[tokio::test]
async fn translated_gateway_api_objects_serve_on_loopback() {
    let ups = upstreams(&["alpha", "beta"]).await;
    let port = free_port();
    let mut yaml = format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{ name: switchboard }}
spec: {{ controllerName: switchboard.dev/gateway-controller }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{ name: gw, namespace: apps }}
spec:
  gatewayClassName: switchboard
  listeners: [{{ name: http, port: {port}, protocol: HTTP }}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: web, namespace: apps }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: /alpha }} }}]
    backendRefs: [{{ name: alpha, port: 80 }}]
  - matches: [{{ path: {{ type: PathPrefix, value: /beta }} }}]
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {{ set: [{{ name: x-served-by, value: switchboard }}] }}
    backendRefs: [{{ name: beta, port: 80 }}]
  - matches: [{{ path: {{ type: PathPrefix, value: /missing }} }}]
    backendRefs: [{{ name: nowhere, port: 80 }}]
"#
    );
    yaml.push_str(&service("alpha", &ups[0].host()));
    yaml.push_str(&service("beta", &ups[1].host()));
    let snapshot = Snapshot::from_yaml(&yaml).expect("fixture");
    let scope = Scope {
        listen_address: Some("127.0.0.1".into()),
        process: Some(ProcessConfig {
            admin_addr: Some("{admin}".into()),
            ..ProcessConfig::default()
        }),
        ..Scope::default()
    };
    let translation = translate(&snapshot, &scope);
    let config = serde_json::to_string_pretty(&translation.file).expect("json");
    let gw = Gateway::start(&config).await;
    let c = client();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    assert_eq!(get(&c, &url("/alpha/x")).await, (200, "alpha".to_string()));
    let resp = c.get(url("/beta")).send().await.expect("response");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-served-by"], "switchboard");
    assert_eq!(resp.text().await.expect("body"), "beta");
    // The unresolved backendRef's share answers 500, as the Gateway API says.
    assert_eq!(get(&c, &url("/missing")).await.0, 500);
    // No rule matches: 404.
    assert_eq!(get(&c, &url("/other")).await.0, 404);
    drop(gw);
}
