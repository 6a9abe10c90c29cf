//! `kubectl` (v1.32, /usr/bin/kubectl or `$KUBECTL`) against the test API server, as a user
//! would drive it: apply the fixtures (built-in kinds, then the CRDs, then Gateway API
//! resources), `kubectl diff` and apply an edited copy (the strategic merge and merge patch paths), read back with
//! `get -o json`, delete with `delete -f`.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::*;

/// `$KUBECTL`, else /usr/bin/kubectl, else `kubectl` on PATH.
fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| {
        if Path::new("/usr/bin/kubectl").exists() {
            "/usr/bin/kubectl".into()
        } else {
            "kubectl".into()
        }
    })
}

struct Kubectl {
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(server: &test_apiserver::TestApiServer) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        server
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        Kubectl { dir }
    }

    /// Runs kubectl (a blocking child process, bounded by --request-timeout) and returns
    /// stdout; panics with stderr on failure.
    async fn run(&self, args: &[&str]) -> String {
        let out = self.output(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn output(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(kubectl_bin());
        cmd.args(args)
            .arg("--request-timeout=20s")
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            // Its discovery cache lives under HOME: a fresh one per test.
            .env("HOME", self.dir.path())
            .env_remove("KUBERNETES_SERVICE_HOST");
        tokio::task::spawn_blocking(move || cmd.output().expect("run kubectl"))
            .await
            .unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    async fn get_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&self.run(&a).await).expect("kubectl get -o json is JSON")
    }
}

#[tokio::test]
async fn kubectl_apply_get_edit_delete() {
    bounded(async {
        let bin = kubectl_bin();
        let found = Command::new(&bin).args(["version", "--client"]).output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "kubectl >= 1.27 is required ($KUBECTL, /usr/bin/kubectl or on PATH; tried {bin})"
        );
        let etcd = etcd(1).await;
        let api_server = server(&etcd).await;
        let k = Kubectl::new(&api_server);

        let version = k.run(&["version", "-o", "json"]).await;
        assert!(version.contains("switchboard-test-apiserver"), "{version}");
        let resources = k.run(&["api-resources"]).await;
        assert!(
            resources.contains("endpointslices") && resources.contains("leases"),
            "{resources}"
        );

        // Imperative creates (kubectl's typed client sends protobuf bodies).
        let out = k.run(&["create", "namespace", "imperative"]).await;
        assert!(out.contains("namespace/imperative created"), "{out}");
        k.run(&[
            "create",
            "configmap",
            "cm",
            "-n",
            "imperative",
            "--from-literal=a=b",
        ])
        .await;
        k.run(&[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "imperative",
            "--from-literal=token=t0k",
        ])
        .await;
        k.run(&["create", "serviceaccount", "bot", "-n", "imperative"])
            .await;
        let cm = k.get_json(&["configmap", "cm", "-n", "imperative"]).await;
        assert_eq!(cm["data"]["a"], "b");
        let secret = k.get_json(&["secret", "creds", "-n", "imperative"]).await;
        assert_eq!(secret["data"]["token"], "dDBr");
        assert_eq!(secret["type"], "Opaque");
        k.run(&["label", "configmap", "cm", "-n", "imperative", "env=test"])
            .await;
        let labelled = k
            .get_json(&["configmaps", "-n", "imperative", "-l", "env=test"])
            .await;
        assert_eq!(labelled["items"].as_array().unwrap().len(), 1);
        let refused = k
            .output(&["create", "deployment", "d", "--image=x", "-n", "imperative"])
            .await;
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("decodes protobuf bodies only for")
        );

        // Built-in kinds.
        let out = k.run(&["apply", "-f", &fixture("app.yaml")]).await;
        for want in [
            "namespace/demo created",
            "service/web created",
            "deployment.apps/web created",
            "secret/session-key created",
        ] {
            assert!(out.contains(want), "{out}");
        }
        let deploy = k.get_json(&["deployment", "web", "-n", "demo"]).await;
        assert_eq!(deploy["metadata"]["generation"], 1);
        assert!(deploy["metadata"]["annotations"]
            ["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string());
        let secret = k.get_json(&["secret", "session-key", "-n", "demo"]).await;
        assert_eq!(secret["data"]["key"], "YzJWamNtVjA=");

        // Edited and applied again: strategic merge patches.
        let app = std::fs::read_to_string(fixture("app.yaml")).unwrap();
        let edited = app
            .replace("value: one", "value: two")
            .replace("replicas: 2", "replicas: 3")
            .replace(
                "    targetPort: 8080\n",
                "    targetPort: 8080\n  - name: metrics\n    port: 9090\n",
            );
        let edited_path = k.write("app-edited.yaml", &edited);
        // kubectl diff (server-side dry run): exit 1 with the change, nothing written.
        let diff = k.output(&["diff", "-f", &edited_path]).await;
        let diff_out = String::from_utf8_lossy(&diff.stdout);
        assert_eq!(
            diff.status.code(),
            Some(1),
            "{diff_out}\n{}",
            String::from_utf8_lossy(&diff.stderr)
        );
        assert!(diff_out.contains("+          value: two"), "{diff_out}");
        let unchanged = k.get_json(&["deployment", "web", "-n", "demo"]).await;
        assert_eq!(unchanged["spec"]["replicas"], 2);
        let out = k.run(&["apply", "-f", &edited_path]).await;
        assert!(out.contains("deployment.apps/web configured"), "{out}");
        assert!(out.contains("service/web configured"), "{out}");
        assert!(out.contains("namespace/demo unchanged"), "{out}");
        let deploy = k.get_json(&["deployment", "web", "-n", "demo"]).await;
        assert_eq!(deploy["spec"]["replicas"], 3);
        assert_eq!(deploy["metadata"]["generation"], 2);
        let c = &deploy["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["env"][0]["value"], "two");
        assert_eq!(c["ports"][0]["containerPort"], 8080);
        let svc = k.get_json(&["service", "web", "-n", "demo"]).await;
        let ports: Vec<i64> = svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect();
        assert_eq!(ports, [80, 9090]);
        // Removing the port again (apply computes a delete directive from last-applied).
        let out = k.run(&["apply", "-f", &fixture("app.yaml")]).await;
        assert!(out.contains("service/web configured"), "{out}");
        let svc = k.get_json(&["service", "web", "-n", "demo"]).await;
        assert_eq!(svc["spec"]["ports"].as_array().unwrap().len(), 1);

        // CRDs, then Gateway API resources (a fresh kubectl discovery each run).
        let out = k.run(&["apply", "-f", &fixture("crds.yaml")]).await;
        assert_eq!(out.matches("created").count(), 11, "{out}");
        let crd = k
            .get_json(&["crd", "gateways.gateway.networking.k8s.io"])
            .await;
        assert!(crd["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Established"));
        let out = k.run(&["apply", "-f", &fixture("gateway.yaml")]).await;
        for want in [
            "gatewayclass.gateway.networking.k8s.io/switchboard created",
            "gateway.gateway.networking.k8s.io/edge created",
            "httproute.gateway.networking.k8s.io/web created",
        ] {
            assert!(out.contains(want), "{out}");
        }
        let gw = k.get_json(&["gateways", "-n", "demo"]).await;
        assert_eq!(gw["items"][0]["spec"]["listeners"][0]["port"], 8080);
        // Edited HTTPRoute: a merge patch (custom resources have no strategic merge).
        let gateway = std::fs::read_to_string(fixture("gateway.yaml")).unwrap();
        let edited = k.write(
            "gateway-edited.yaml",
            &gateway.replace("web.example.com", "www.example.com"),
        );
        let out = k.run(&["apply", "-f", &edited]).await;
        assert!(
            out.contains("httproute.gateway.networking.k8s.io/web configured"),
            "{out}"
        );
        assert!(
            out.contains("gateway.gateway.networking.k8s.io/edge unchanged"),
            "{out}"
        );
        let route = k.get_json(&["httproute", "web", "-n", "demo"]).await;
        assert_eq!(
            route["spec"]["hostnames"],
            serde_json::json!(["www.example.com"])
        );
        assert_eq!(route["metadata"]["generation"], 2);

        // Label selectors through kubectl, and an error as a Status.
        let svc = k
            .get_json(&["services", "-n", "demo", "-l", "app=web"])
            .await;
        assert_eq!(svc["items"].as_array().unwrap().len(), 1);
        let missing = k.output(&["get", "configmap", "nope", "-n", "demo"]).await;
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("configmaps \"nope\" not found"));

        // delete -f.
        let out = k.run(&["delete", "-f", &edited]).await;
        assert!(
            out.contains("httproute.gateway.networking.k8s.io \"web\" deleted"),
            "{out}"
        );
        let out = k.run(&["delete", "-f", &fixture("app.yaml")]).await;
        assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
        let left = k.get_json(&["deployments", "-A"]).await;
        assert_eq!(left["items"].as_array().unwrap().len(), 0);
        let gone = k.output(&["get", "httproute", "web", "-n", "demo"]).await;
        assert!(!gone.status.success());
    })
    .await
}
