//! Shared by the integration tests: a real etcd, a test API server, and a real `kube` client
//! built from the kubeconfig the server writes (so the kubeconfig's shape is tested too).

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use test_apiserver::{Config, EtcdCluster, TestApiServer};

/// Every test's own bound.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `f` within `TEST_TIMEOUT`.
pub async fn bounded<F: Future<Output = T>, T>(f: F) -> T {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test exceeded its time bound")
}

pub async fn etcd(members: usize) -> EtcdCluster {
    EtcdCluster::start(members)
        .await
        .expect("start etcd (is /usr/bin/etcd installed? scripts/test.sh installs etcd-server)")
}

pub async fn server(etcd: &EtcdCluster) -> TestApiServer {
    TestApiServer::start(etcd.endpoints())
        .await
        .expect("start test API server")
}

pub async fn server_with(etcd: &EtcdCluster, f: impl FnOnce(&mut Config)) -> TestApiServer {
    let mut config = Config::new(etcd.endpoints());
    f(&mut config);
    TestApiServer::start_with(config)
        .await
        .expect("start test API server")
}

/// A kube client from the server's kubeconfig.
pub async fn client(server: &TestApiServer) -> kube::Client {
    client_for(&server.kubeconfig_yaml()).await
}

pub async fn client_for(kubeconfig: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kube config from kubeconfig");
    kube::Client::try_from(config).expect("kube client")
}

/// Polls `f` until it returns Some, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The documents of a YAML file as JSON values (fixtures).
pub fn yaml_docs(path: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml_rust2::YamlLoader::load_from_str(&text)
        .expect("fixture YAML parses")
        .iter()
        .filter(|d| !d.is_null())
        .map(to_json)
        .collect()
}

fn to_json(y: &yaml_rust2::Yaml) -> serde_json::Value {
    use serde_json::Value;
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(s) => s.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.clone()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), to_json(v))))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// A fixture's path.
pub fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}
