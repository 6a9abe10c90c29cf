//! A Rust port of the data of the Gateway API conformance suite (GATEWAY-HTTP profile, Gateway
//! API v1.5.1): its manifests (tests/conformance/) applied with `kubectl` to a test API server
//! over a real etcd, one `switchboard run --kubernetes` replica, and each test's table of
//! requests and expected answers run against the real data plane. This is not the official
//! Go suite: the tables are ported by reading the Go tests, and the harness differs where a
//! cluster cannot run here (see tests/conformance/README.md).
//!
//! What the harness does in place of a cluster:
//! - Deployments are applied as they are and never run (no kubelet): for each Deployment of
//!   the conformance namespaces that serves plain HTTP, one [`EchoBackend`] "pod" answers on a
//!   loopback address of its own (its pod IP, 127.81.x.y) on the ports the Services target
//!   (3000, 3001), and the harness writes, as the endpoints controller would, an EndpointSlice
//!   for every Service with a selector (the pods it selects, the Service's port names and
//!   target ports).
//! - `{GATEWAY_CLASS_NAME}` becomes `switchboard` and `{GATEWAY_CONTROLLER_NAME}` our
//!   controller name, as the suite substitutes them;
//!   the GatewayClass and the `tls-validity-checks-certificate` Secret, which the suite
//!   creates itself, are created by the harness.
//! - Each Gateway under test is served by a replica of its own (`--gateway NS/NAME`) on a
//!   loopback address of its own with the listener port as given (80), where a cluster would
//!   give each Gateway its own address; ports below 1024 need root or
//!   `net.ipv4.ip_unprivileged_port_start`.

pub mod cases;
pub mod echo;
pub mod status;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::kube::KubeCluster;
use crate::Gateway;
pub use cases::{get, Case, Redirect, INFRA};
pub use echo::EchoBackend;
pub use status::{cond, Cond, ListenerWant};

/// Our controller's name, which the GatewayClass names and the status carries.
pub const CONTROLLER_NAME: &str = "switchboard.dev/gateway-controller";
/// The GatewayClass the manifests' `{GATEWAY_CLASS_NAME}` becomes.
pub const GATEWAY_CLASS: &str = "switchboard";
/// The base manifests, as copied from the Gateway API repository.
pub const BASE_MANIFESTS: &str = include_str!("../../conformance/base-manifests.yaml");

/// How long statuses and routes may take to appear after a replica starts (the suite's
/// default `MaxTimeToConsistency` is 30 s; one replica on loopback needs far less).
pub const SETTLE: Duration = Duration::from_secs(15);
/// How long each case may take to become consistent once its statuses were checked.
pub const CASE_DEADLINE: Duration = Duration::from_secs(5);

/// Services whose pods speak something else than plain HTTP/1 (TLS, gRPC, TCP, DNS): no echo
/// backend stands in for them.
fn not_http(service: &str) -> bool {
    ["tls-", "grpc-", "tcp-", "coredns"]
        .iter()
        .any(|p| service.starts_with(p))
}

/// The conformance test YAML `name` (from tests/conformance/tests/).
pub fn test_manifest(name: &str) -> String {
    let path = crate::tests_dir()
        .join("conformance/tests")
        .join(format!("{name}.yaml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A control plane holding the base manifests and some tests' manifests, with echo backends.
pub struct Conformance {
    /// The cluster.
    pub cluster: KubeCluster,
    /// Echo backends by `namespace/service`.
    pub backends: BTreeMap<String, EchoBackend>,
    /// The certificate (PEM) of Secret `tls-validity-checks-certificate`, which clients of
    /// the HTTPS listeners trust.
    pub validity_cert: String,
    /// The same certificate, DER: what the HTTPS listeners must present.
    pub validity_cert_der: Vec<u8>,
}

impl Conformance {
    /// Starts etcd and one API server, applies the GatewayClass, the base manifests, the
    /// suite's Secret and the tests' manifests `tests` (names without `.yaml`), then starts
    /// an echo backend and an EndpointSlice for every HTTP Service.
    pub async fn start(tests: &[&str]) -> Conformance {
        let cluster = KubeCluster::start(1, 1).await;
        cluster.apply(&format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{ name: {GATEWAY_CLASS} }}\nspec: {{ controllerName: {CONTROLLER_NAME} }}\n"
        ));
        cluster.apply(&class(BASE_MANIFESTS));
        // The Secrets the suite creates itself (suite.go), with the same names and SANs.
        let validity = tls_secret(
            INFRA,
            "tls-validity-checks-certificate",
            &["*", "*.org", "*.wildcard.org"],
        );
        let web = tls_secret("gateway-conformance-web-backend", "certificate", &["*"]);
        cluster.apply(&format!("---\n{}\n---\n{}\n", validity.1, web.1));
        for t in tests {
            cluster.apply(&class(&test_manifest(t)));
        }
        let mut conformance = Conformance {
            cluster,
            backends: BTreeMap::new(),
            validity_cert: validity.0,
            validity_cert_der: validity.2,
        };
        conformance.start_backends().await;
        conformance
    }

    /// One echo "pod" per Deployment of the conformance namespaces, on a loopback address of
    /// its own (its pod IP) and the ports the Services target; then, as the endpoints
    /// controller would, an EndpointSlice for every Service with a selector: the ready pods
    /// its selector picks, with the Service's port names and target ports.
    async fn start_backends(&mut self) {
        let get = |kind: &str| -> Vec<Value> {
            let out = self
                .cluster
                .kubectl(&["get", kind, "--all-namespaces", "-o", "json"], None);
            let list: Value = serde_json::from_str(&out).expect("kubectl get -o json");
            list["items"].as_array().cloned().unwrap_or_default()
        };
        let services: Vec<Value> = get("services")
            .into_iter()
            .filter(|s| {
                let ns = s["metadata"]["namespace"].as_str().unwrap_or("");
                ns.starts_with("gateway-conformance")
            })
            .collect();
        let mut target_ports: Vec<u16> = services
            .iter()
            .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["targetPort"].as_u64().and_then(|t| u16::try_from(t).ok()))
            .collect();
        target_ports.sort_unstable();
        target_ports.dedup();
        // (namespace, pod labels, pod IP) of each pod.
        let mut pods: Vec<(String, Value, Ipv4Addr)> = Vec::new();
        for d in get("deployments") {
            let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
            let name = d["metadata"]["name"].as_str().unwrap_or("");
            if !ns.starts_with("gateway-conformance") || not_http(name) {
                continue;
            }
            let ip = free_ip(81, target_ports.first().copied().unwrap_or(3000));
            let echo = EchoBackend::start(ns, name, ip, &target_ports).await;
            let labels = d["spec"]["template"]["metadata"]["labels"].clone();
            pods.push((ns.to_string(), labels, ip));
            self.backends.insert(format!("{ns}/{name}"), echo);
        }
        let mut slices = Vec::new();
        for svc in &services {
            let ns = svc["metadata"]["namespace"].as_str().unwrap_or("");
            let name = svc["metadata"]["name"].as_str().unwrap_or("");
            let Some(selector) = svc["spec"]["selector"].as_object() else {
                continue; // no selector: its EndpointSlices are the user's (or the test's)
            };
            let picked: Vec<Ipv4Addr> = pods
                .iter()
                .filter(|(pod_ns, labels, _)| {
                    pod_ns == ns && selector.iter().all(|(k, v)| labels[k] == *v)
                })
                .map(|(_, _, ip)| *ip)
                .collect();
            if picked.is_empty() {
                continue;
            }
            let ports: Vec<Value> = svc["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let port = p["targetPort"].as_u64().or(p["port"].as_u64()).unwrap_or(0);
                    json!({"name": p["name"].as_str().unwrap_or(""), "port": port, "protocol": "TCP"})
                })
                .collect();
            let endpoints: Vec<Value> = picked
                .iter()
                .map(|ip| json!({"addresses": [ip.to_string()], "conditions": {"ready": true, "serving": true, "terminating": false}}))
                .collect();
            slices.push(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{name}-rust"), "namespace": ns,
                             "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "ports": ports,
                "endpoints": endpoints,
            }));
        }
        // YAML documents (JSON is YAML); a leading `---` keeps kubectl from reading the
        // stream as a single JSON object.
        let docs: String = slices.iter().map(|s| format!("---\n{s}\n")).collect();
        self.cluster.apply(&docs);
    }

    /// The pod IP of Deployment `ns/name`'s echo.
    pub fn pod_ip(&self, ns: &str, name: &str) -> Ipv4Addr {
        self.backends
            .get(&format!("{ns}/{name}"))
            .map(|b| b.ip)
            .unwrap_or_else(|| panic!("no echo for Deployment {ns}/{name}"))
    }

    /// Starts a replica serving only `gateways` (names in gateway-conformance-infra) on a
    /// loopback address of its own, with its own status lease.
    pub async fn serve(&self, gateways: &[&str]) -> Replica {
        let ip = loopback_ip();
        let mut args = vec![
            "--kubeconfig".to_string(),
            self.cluster.kubeconfig(0).display().to_string(),
            "--listen-address".to_string(),
            ip.to_string(),
            "--identity".to_string(),
            format!("conformance-{ip}"),
            "--lease-name".to_string(),
            format!("conformance-{}", ip.to_string().replace('.', "-")),
            "--lease-duration".to_string(),
            "2s".to_string(),
            "--debounce".to_string(),
            "50ms".to_string(),
        ];
        for g in gateways {
            args.push("--gateway".to_string());
            args.push(format!("{INFRA}/{g}"));
        }
        let gateway = Gateway::start_kubernetes("config:\n  adminAddr: \"{admin}\"\n", &args).await;
        Replica { gateway, ip }
    }

    /// `kubectl get KIND NAME -n NS -o json`, or `Null` when it does not exist (yet).
    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Value {
        self.cluster
            .try_get_json(kind, ns, name)
            .unwrap_or(Value::Null)
    }

    /// Waits until `check` of object `kind ns/name` passes; the last failure otherwise.
    pub async fn wait_for(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        check: impl Fn(&Value) -> Result<(), String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let object = self.get(kind, ns, name);
            let result = if object.is_null() {
                Err(format!("{kind} {ns}/{name} not found"))
            } else {
                check(&object)
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("{kind} {ns}/{name}: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// A replica serving some Gateways.
pub struct Replica {
    /// The process.
    pub gateway: Gateway,
    /// Its listen address.
    pub ip: Ipv4Addr,
}

impl Replica {
    /// `IP:PORT` of its listener on `port`.
    pub fn addr(&self, port: u16) -> String {
        format!("{}:{port}", self.ip)
    }
}

/// A self-signed certificate for `sans` as a `kubernetes.io/tls` Secret `ns/name`:
/// (certificate PEM, Secret as JSON, certificate DER).
fn tls_secret(ns: &str, name: &str, sans: &[&str]) -> (String, String, Vec<u8>) {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(sans).expect("rcgen");
    let cert = ck.cert.pem();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": ns},
        "stringData": {"tls.crt": cert, "tls.key": ck.key_pair.serialize_pem()},
    });
    (cert, secret.to_string(), ck.cert.der().to_vec())
}

/// `{GATEWAY_CLASS_NAME}` and `{GATEWAY_CONTROLLER_NAME}` replaced by our class and
/// controller name, as the suite does.
fn class(yaml: &str) -> String {
    yaml.replace("{GATEWAY_CLASS_NAME}", GATEWAY_CLASS)
        .replace("{GATEWAY_CONTROLLER_NAME}", CONTROLLER_NAME)
}

/// A loopback address for a replica: 127.80.X.Y where port 80 is free.
fn loopback_ip() -> Ipv4Addr {
    free_ip(80, 80)
}

/// A loopback address 127.`second`.X.Y on which `port` is free, picked from a per-process
/// start so that no other replica or pod of this or another test process has it.
fn free_ip(second: u8, port: u16) -> Ipv4Addr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new(std::process::id().wrapping_mul(97)));
    for _ in 0..60_000 {
        let n = next.fetch_add(1, Ordering::Relaxed) % 60_000 + 1;
        let ip = Ipv4Addr::new(127, second, (n / 250) as u8, (n % 250 + 1) as u8);
        match std::net::TcpListener::bind((ip, port)) {
            Ok(_) => return ip,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => panic!(
                "binding {ip}:{port} was refused: the conformance manifests' listeners use \
                 port 80 and 443; run as root or lower net.ipv4.ip_unprivileged_port_start"
            ),
            Err(_) => continue,
        }
    }
    panic!("no free loopback address with port {port}")
}

/// The outcome of one table.
#[derive(Debug, Default)]
pub struct Report {
    /// The conformance test's short name.
    pub test: String,
    /// Checks by name, with the failure if any.
    pub results: Vec<(String, Result<(), String>)>,
}

impl Report {
    /// A report for conformance test `test`.
    pub fn new(test: &str) -> Report {
        Report {
            test: test.to_string(),
            results: Vec::new(),
        }
    }

    /// Records check `name`.
    pub fn record(&mut self, name: impl Into<String>, result: Result<(), String>) {
        self.results.push((name.into(), result));
    }

    /// Runs the cases against `addr` concurrently (as the suite's `t.Parallel()` subtests)
    /// and records each under its suite name.
    pub async fn run_cases(&mut self, addr: &str, cases: &[Case]) {
        self.run_cases_with(&crate::client(), addr, cases).await;
    }

    /// [`Report::run_cases`] with client `http` (one that trusts a listener's certificate),
    /// `addr` then a base URL such as `https://example.org:443`.
    pub async fn run_cases_with(&mut self, http: &reqwest::Client, addr: &str, cases: &[Case]) {
        let deadline = Instant::now() + CASE_DEADLINE;
        let runs = cases.iter().map(|c| c.check(http, addr, deadline));
        let results = futures_util::future::join_all(runs).await;
        for (i, (c, r)) in cases.iter().zip(results).enumerate() {
            self.record(c.name(i), r);
        }
    }

    /// Prints the counts and every failure, then fails unless every check outside `known`
    /// passed. `known` lists (check name prefix, reason) of failures the port records as
    /// known; a known failure that passes is printed so the list can shrink.
    pub fn finish(&self, known: &[(&str, &str)]) {
        let passed = self.results.iter().filter(|(_, r)| r.is_ok()).count();
        let total = self.results.len();
        eprintln!("conformance {}: {passed}/{total} checks passed", self.test);
        let mut unexpected = Vec::new();
        for (name, result) in &self.results {
            let reason = known
                .iter()
                .find(|(k, _)| name.starts_with(k))
                .map(|(_, r)| *r);
            match (result, reason) {
                (Err(e), Some(reason)) => eprintln!("  KNOWN FAILURE {name}: {e} ({reason})"),
                (Err(e), None) => {
                    eprintln!("  FAILED {name}: {e}");
                    unexpected.push(name.clone());
                }
                (Ok(()), Some(_)) => eprintln!("  known failure now passes: {name}"),
                (Ok(()), None) => {}
            }
        }
        assert!(
            unexpected.is_empty(),
            "conformance {}: {passed}/{total} passed; unexpected failures: {unexpected:#?}",
            self.test
        );
    }
}
