//! Two API servers over one three-member etcd cluster: each sees the other's writes, watches
//! and CRDs (Gateway API types from the `gateway-api` crate, an InferencePool as a dynamic
//! object); one etcd member stopped and everything still works; Lease leader election with
//! `kube-leader-election` across the two servers.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use gateway_api::apis::standard::gateways::Gateway;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, PostParams, WatchEvent, WatchParams,
};
use kube_leader_election::{LeaseLock, LeaseLockParams, LeaseLockResult};
use serde_json::json;
use support::*;
use test_apiserver::{Config, TestApiServer};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": name}})).unwrap()
}

#[tokio::test]
async fn two_servers_one_etcd_cluster_and_a_member_down() {
    bounded(async {
        let mut etcd = etcd(3).await;
        let a = server(&etcd).await;
        // B prefers the last member first: the two servers talk to different members.
        let mut endpoints = etcd.endpoints();
        endpoints.reverse();
        let b = TestApiServer::start_with(Config::new(endpoints)).await.unwrap();
        let ca = client(&a).await;
        let cb = client(&b).await;
        let pp = PostParams::default();

        // Writes through A are read and watched through B.
        let cms_a: Api<ConfigMap> = Api::namespaced(ca.clone(), "default");
        let cms_b: Api<ConfigMap> = Api::namespaced(cb.clone(), "default");
        let now = a.etcd().current_revision().await.unwrap();
        let mut watch_b = cms_b
            .watch(&WatchParams::default().disable_bookmarks(), &now.to_string())
            .await
            .unwrap()
            .boxed();
        let x = cms_a.create(&pp, &cm("x")).await.unwrap();
        let seen = cms_b.get("x").await.unwrap();
        assert_eq!(seen.metadata.resource_version, x.metadata.resource_version);
        match tokio::time::timeout(Duration::from_secs(10), watch_b.next()).await {
            Ok(Some(Ok(WatchEvent::Added(o)))) => assert_eq!(o.metadata.name.as_deref(), Some("x")),
            other => panic!("B's watch: want ADDED x, got {other:?}"),
        }

        // CRDs created through A are served by B (B learns them from its etcd watch).
        let crds: Api<CustomResourceDefinition> = Api::all(ca.clone());
        for doc in yaml_docs(&fixture("crds.yaml")) {
            let crd: CustomResourceDefinition = serde_json::from_value(doc).unwrap();
            crds.create(&pp, &crd).await.unwrap();
        }
        eventually(10, || async {
            b.registry()
                .find("inference.networking.k8s.io", "v1", "inferencepools")
                .map(|_| ())
        })
        .await;
        let gws_b: Api<Gateway> = Api::namespaced(cb.clone(), "default");
        let gw: Gateway = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge"},
            "spec": {"gatewayClassName": "switchboard",
                     "listeners": [{"name": "http", "protocol": "HTTP", "port": 8080}]},
        }))
        .unwrap();
        gws_b.create(&pp, &gw).await.unwrap();
        let gws_a: Api<Gateway> = Api::namespaced(ca.clone(), "default");
        let got = gws_a.get("edge").await.unwrap();
        assert_eq!(got.spec.gateway_class_name, "switchboard");
        assert_eq!(got.metadata.generation, Some(1));
        // Status through A's /status, seen by B; generation kept.
        let st = gws_a
            .patch_status(
                "edge",
                &Default::default(),
                &kube::api::Patch::Merge(json!({"status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})),
            )
            .await
            .unwrap();
        assert_eq!(st.metadata.generation, Some(1));
        let on_b = gws_b.get("edge").await.unwrap();
        assert_eq!(on_b.status.unwrap().conditions.unwrap()[0].type_, "Accepted");
        // A server started after the CRDs exist serves them from its first request.
        let c = server(&etcd).await;
        let gws_c: Api<Gateway> = Api::namespaced(client(&c).await, "default");
        assert_eq!(gws_c.get("edge").await.unwrap().spec.gateway_class_name, "switchboard");
        drop(c);
        // Another served version of the same CRD reads the same object under its apiVersion.
        let beta = ApiResource::from_gvk(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1beta1", "Gateway"));
        let as_beta: Api<DynamicObject> = Api::namespaced_with(cb.clone(), "default", &beta);
        let got = as_beta.get("edge").await.unwrap();
        assert_eq!(got.types.unwrap().api_version, "gateway.networking.k8s.io/v1beta1");
        // The crate's ReferenceGrant is v1 (no status subresource).
        let grants: Api<gateway_api::apis::standard::referencegrants::ReferenceGrant> =
            Api::namespaced(cb.clone(), "default");
        let grant = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant",
            "metadata": {"name": "allow"},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "apps"}],
                     "to": [{"group": "", "kind": "Service"}]},
        }))
        .unwrap();
        grants.create(&pp, &grant).await.unwrap();
        assert!(grants.get_status("allow").await.is_err());
        // An InferencePool as a dynamic object.
        let gvk = GroupVersionKind::gvk("inference.networking.k8s.io", "v1", "InferencePool");
        let ar = ApiResource::from_gvk(&gvk);
        let pools_a: Api<DynamicObject> = Api::namespaced_with(ca.clone(), "default", &ar);
        let mut pool = DynamicObject::new("pool", &ar);
        pool.data = json!({"spec": {"selector": {"matchLabels": {"app": "vllm"}}, "targetPorts": [{"number": 8000}]}});
        pools_a.create(&pp, &pool).await.unwrap();
        let pools_b: Api<DynamicObject> = Api::namespaced_with(cb.clone(), "default", &ar);
        assert_eq!(pools_b.get("pool").await.unwrap().data["spec"]["targetPorts"][0]["number"], 8000);

        // Leader election over Leases through the two servers: one holder.
        let lock_a = LeaseLock::new(ca.clone(), "default", LeaseLockParams {
            lease_name: "switchboard-status".into(),
            holder_id: "replica-a".into(),
            lease_ttl: Duration::from_secs(15),
        });
        let lock_b = LeaseLock::new(cb.clone(), "default", LeaseLockParams {
            lease_name: "switchboard-status".into(),
            holder_id: "replica-b".into(),
            lease_ttl: Duration::from_secs(15),
        });
        assert!(matches!(lock_a.try_acquire_or_renew().await.unwrap(), LeaseLockResult::Acquired(_)));
        assert!(matches!(lock_b.try_acquire_or_renew().await.unwrap(), LeaseLockResult::NotAcquired(_)));
        assert!(matches!(lock_a.try_acquire_or_renew().await.unwrap(), LeaseLockResult::Acquired(_)));

        // The member both servers may talk to first dies: both fail over.
        etcd.stop_member(0);
        cms_a.create(&pp, &cm("after-a")).await.unwrap();
        cms_b.create(&pp, &cm("after-b")).await.unwrap();
        assert_eq!(cms_b.get("after-a").await.unwrap().data.unwrap()["k"], "after-a");
        assert_eq!(cms_a.get("after-b").await.unwrap().data.unwrap()["k"], "after-b");
        // B's watch (its stream on the last member) goes on.
        let mut names = Vec::new();
        while names.len() < 2 {
            match tokio::time::timeout(Duration::from_secs(10), watch_b.next()).await {
                Ok(Some(Ok(WatchEvent::Added(o)))) => names.push(o.metadata.name.unwrap()),
                other => panic!("B's watch after the member stopped: {other:?}"),
            }
        }
        assert_eq!(names, ["after-a", "after-b"]);
        // A watch through A (first endpoint dead) works too.
        let now = a.etcd().current_revision().await.unwrap();
        let mut watch_a = cms_a
            .watch(&WatchParams::default().disable_bookmarks(), &now.to_string())
            .await
            .unwrap()
            .boxed();
        cms_b.create(&pp, &cm("late")).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), watch_a.next()).await {
            Ok(Some(Ok(WatchEvent::Added(o)))) => assert_eq!(o.metadata.name.as_deref(), Some("late")),
            other => panic!("A's watch: {other:?}"),
        }
    })
    .await
}
