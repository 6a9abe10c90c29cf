//! CRUD, conflicts, patches, generation and /status, lists at a revision and in pages, with
//! the real `kube` client against the test API server over a real etcd.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Error;
use serde_json::json;
use support::*;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().cloned().collect::<BTreeMap<_, _>>()},
        "data": {"k": name},
    }))
    .unwrap()
}

fn status_code(e: &Error) -> Option<(u16, String)> {
    match e {
        Error::Api(s) => Some((s.code, s.reason.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn crud_conflicts_and_patches() {
    bounded(async {
        let etcd = etcd(1).await;
        let api_server = server(&etcd).await;
        let client = client(&api_server).await;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();

        let created = cms.create(&pp, &cm("a", &[("app", "x")])).await.unwrap();
        let meta = &created.metadata;
        assert_eq!(
            meta.namespace.as_deref(),
            Some("default"),
            "namespace from the path"
        );
        assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
        assert!(meta.creation_timestamp.is_some());
        assert_eq!(meta.generation, Some(1));
        let rv1: i64 = meta.resource_version.as_deref().unwrap().parse().unwrap();
        // resourceVersion is the etcd mod revision of the key.
        let (_, kv) = api_server
            .etcd()
            .get("/registry/core/configmaps/default/a")
            .await
            .unwrap();
        assert_eq!(kv.unwrap().mod_revision, rv1);

        let err = cms.create(&pp, &cm("a", &[])).await.unwrap_err();
        assert_eq!(status_code(&err), Some((409, "AlreadyExists".into())));

        // Update with the current resourceVersion succeeds; the stale one is a 409 Conflict.
        let mut fresh = created.clone();
        fresh.data = Some([("k".to_string(), "v2".to_string())].into());
        let updated = cms.replace("a", &pp, &fresh).await.unwrap();
        let rv2: i64 = updated
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(rv2 > rv1);
        let err = cms.replace("a", &pp, &fresh).await.unwrap_err();
        assert_eq!(status_code(&err), Some((409, "Conflict".into())));
        assert_eq!(cms.get("a").await.unwrap().data.unwrap()["k"], "v2");

        // The three patch types.
        let p = cms
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"m": "1"}})),
            )
            .await
            .unwrap();
        assert_eq!(p.data.as_ref().unwrap()["m"], "1");
        let jp: json_patch::Patch =
            serde_json::from_value(json!([{"op": "replace", "path": "/data/m", "value": "2"}]))
                .unwrap();
        let p = cms
            .patch("a", &PatchParams::default(), &Patch::<()>::Json(jp))
            .await
            .unwrap();
        assert_eq!(p.data.as_ref().unwrap()["m"], "2");
        let p = cms
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Strategic(json!({"metadata": {"labels": {"s": "1"}}})),
            )
            .await
            .unwrap();
        assert_eq!(p.metadata.labels.as_ref().unwrap()["s"], "1");
        // A patch pinning an old resourceVersion conflicts.
        let err = cms
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"resourceVersion": rv1.to_string()}, "data": {"z": "1"}}),
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(status_code(&err), Some((409, "Conflict".into())));
        // Server-side apply is refused plainly.
        let err = cms
            .patch(
                "a",
                &PatchParams::apply("t"),
                &Patch::Apply(
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(status_code(&err).map(|s| s.0), Some(415));
        // dryRun=All: checked and answered, not written.
        let dry = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let answered = cms.create(&dry, &cm("dry", &[])).await.unwrap();
        assert_eq!(answered.metadata.name.as_deref(), Some("dry"));
        assert!(cms.get_opt("dry").await.unwrap().is_none());
        let err = cms.create(&dry, &cm("a", &[])).await.unwrap_err();
        assert_eq!(status_code(&err), Some((409, "AlreadyExists".into())));
        let before = cms.get("a").await.unwrap();
        let dry_patch = PatchParams {
            dry_run: true,
            ..Default::default()
        };
        let p = cms
            .patch(
                "a",
                &dry_patch,
                &Patch::Merge(json!({"data": {"dry": "1"}})),
            )
            .await
            .unwrap();
        assert_eq!(p.data.as_ref().unwrap()["dry"], "1");
        let after = cms.get("a").await.unwrap();
        assert_eq!(
            after.metadata.resource_version,
            before.metadata.resource_version
        );
        assert!(!after.data.unwrap().contains_key("dry"));

        // Secrets: stringData folds into data.
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
        let s: Secret = serde_json::from_value(
            json!({"metadata": {"name": "s"}, "stringData": {"key": "abc"}}),
        )
        .unwrap();
        let s = secrets.create(&pp, &s).await.unwrap();
        assert_eq!(s.data.unwrap()["key"].0, b"abc");

        // kube-runtime's event Recorder writes events.k8s.io/v1 Events.
        let recorder = kube::runtime::events::Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: "switchboard".into(),
                instance: Some("r1".into()),
            },
        );
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: Some("a".into()),
            namespace: Some("default".into()),
            ..Default::default()
        };
        let ev = kube::runtime::events::Event {
            type_: kube::runtime::events::EventType::Normal,
            reason: "Translated".into(),
            note: Some("ok".into()),
            action: "Reconcile".into(),
            secondary: None,
        };
        recorder.publish(&ev, &reference).await.unwrap();
        recorder.publish(&ev, &reference).await.unwrap();
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(client.clone(), "default");
        let list = events.list(&ListParams::default()).await.unwrap();
        assert_eq!(list.items.len(), 1, "the second publish patches the series");
        assert_eq!(list.items[0].reason.as_deref(), Some("Translated"));

        // Delete answers the object; a second delete and a get are 404.
        cms.delete("a", &DeleteParams::default()).await.unwrap();
        let err = cms.get("a").await.unwrap_err();
        assert_eq!(status_code(&err), Some((404, "NotFound".into())));
        let err = cms.delete("a", &DeleteParams::default()).await.unwrap_err();
        assert_eq!(status_code(&err).map(|s| s.0), Some(404));

        // Cluster-scoped kinds have no namespace.
        let nss: Api<Namespace> = Api::all(client.clone());
        let ns = nss
            .create(
                &pp,
                &serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(ns.metadata.namespace, None);
        assert!(nss
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("team")));
    })
    .await
}

#[tokio::test]
async fn generation_and_status_subresource() {
    bounded(async {
        let etcd = etcd(1).await;
        let api_server = server(&etcd).await;
        let client = client(&api_server).await;
        let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
            "status": {"replicas": 99},
        }))
        .unwrap();
        let d = deploys.create(&pp, &d).await.unwrap();
        assert_eq!(d.metadata.generation, Some(1));
        assert!(d.status.is_none(), "status is not set on create");

        // Metadata-only change: generation kept.
        let d = deploys
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"l": "1"}}})),
            )
            .await
            .unwrap();
        assert_eq!(d.metadata.generation, Some(1));
        // Spec change: generation bumped.
        let d = deploys
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 3}})),
            )
            .await
            .unwrap();
        assert_eq!(d.metadata.generation, Some(2));

        // /status changes only .status (the spec in the body is ignored), generation kept.
        let mut body = d.clone();
        body.status =
            Some(serde_json::from_value(json!({"replicas": 3, "observedGeneration": 2})).unwrap());
        body.spec.as_mut().unwrap().replicas = Some(7);
        let s = deploys.replace_status("web", &pp, &body).await.unwrap();
        assert_eq!(s.status.as_ref().unwrap().observed_generation, Some(2));
        assert_eq!(s.spec.as_ref().unwrap().replicas, Some(3));
        assert_eq!(s.metadata.generation, Some(2));
        let s = deploys
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"readyReplicas": 2}})),
            )
            .await
            .unwrap();
        assert_eq!(s.status.as_ref().unwrap().ready_replicas, Some(2));

        // A write to the main resource keeps the stored status.
        let mut main = s.clone();
        main.status = None;
        main.spec.as_mut().unwrap().replicas = Some(4);
        let m = deploys.replace("web", &pp, &main).await.unwrap();
        assert_eq!(m.status.as_ref().unwrap().ready_replicas, Some(2));
        assert_eq!(m.metadata.generation, Some(3));
        // A stale status write conflicts too.
        let err = deploys.replace_status("web", &pp, &body).await.unwrap_err();
        assert_eq!(status_code(&err), Some((409, "Conflict".into())));
        // ConfigMaps have no status subresource.
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        cms.create(&pp, &cm("c", &[])).await.unwrap();
        let err = cms.get_status("c").await.unwrap_err();
        assert_eq!(status_code(&err).map(|s| s.0), Some(404));
    })
    .await
}

#[tokio::test]
async fn lists_paginate_filter_and_read_at_a_revision() {
    bounded(async {
        let etcd = etcd(1).await;
        let api_server = server(&etcd).await;
        let client = client(&api_server).await;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let other: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
        let all: Api<ConfigMap> = Api::all(client.clone());
        let pp = PostParams::default();
        for i in 0..7 {
            let tier = if i % 2 == 0 { "even" } else { "odd" };
            cms.create(&pp, &cm(&format!("cm-{i}"), &[("tier", tier)]))
                .await
                .unwrap();
        }
        other
            .create(&pp, &cm("elsewhere", &[("tier", "even")]))
            .await
            .unwrap();

        // The list's resourceVersion is the revision it read at.
        let current = api_server.etcd().current_revision().await.unwrap();
        let list = cms.list(&ListParams::default()).await.unwrap();
        assert_eq!(list.items.len(), 7);
        assert_eq!(
            list.metadata.resource_version.as_deref(),
            Some(current.to_string().as_str())
        );
        assert_eq!(
            all.list(&ListParams::default()).await.unwrap().items.len(),
            8
        );

        // Pages of 3 at one revision: a write between pages is not seen.
        let first = cms.list(&ListParams::default().limit(3)).await.unwrap();
        assert_eq!(first.items.len(), 3);
        let token = first.metadata.continue_.clone().expect("continue token");
        assert_eq!(first.metadata.remaining_item_count, Some(4));
        cms.create(&pp, &cm("cm-late", &[])).await.unwrap();
        let mut names: Vec<String> = first
            .items
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        let mut tok = Some(token);
        while let Some(t) = tok {
            let page = cms
                .list(&ListParams::default().limit(3).continue_token(&t))
                .await
                .unwrap();
            assert_eq!(
                page.metadata.resource_version,
                first.metadata.resource_version
            );
            names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
            tok = page.metadata.continue_.filter(|t| !t.is_empty());
        }
        let want: Vec<String> = (0..7).map(|i| format!("cm-{i}")).collect();
        assert_eq!(names, want);

        // Selectors.
        let even = all
            .list(&ListParams::default().labels("tier=even"))
            .await
            .unwrap();
        assert_eq!(even.items.len(), 5);
        let set = cms
            .list(&ListParams::default().labels("tier in (odd),tier notin (even)"))
            .await
            .unwrap();
        assert_eq!(set.items.len(), 3);
        let named = all
            .list(&ListParams::default().fields("metadata.name=elsewhere"))
            .await
            .unwrap();
        assert_eq!(named.items.len(), 1);
        let ns = all
            .list(&ListParams::default().fields("metadata.namespace=other"))
            .await
            .unwrap();
        assert_eq!(ns.items.len(), 1);
        // deletecollection with a selector.
        let gone = other
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels("tier=even"),
            )
            .await
            .unwrap();
        assert_eq!(gone.left().map(|l| l.items.len()), Some(1));
        assert!(other
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty());
        other
            .create(&pp, &cm("elsewhere", &[("tier", "even")]))
            .await
            .unwrap();
        let paged_filtered = cms
            .list(&ListParams::default().labels("tier=even").limit(2))
            .await
            .unwrap();
        assert_eq!(paged_filtered.items.len(), 2);
        assert!(paged_filtered.metadata.continue_.is_some());

        // resourceVersion (Exact) reads the old state; after compaction it is 410, as is an
        // old continue token.
        cms.delete("cm-0", &DeleteParams::default()).await.unwrap();
        let at = first.metadata.resource_version.clone().unwrap();
        let old = cms
            .list(
                &ListParams::default()
                    .at(&at)
                    .matching(kube::api::VersionMatch::Exact),
            )
            .await
            .unwrap();
        assert!(old
            .items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("cm-0")));
        let now = cms.list(&ListParams::default()).await.unwrap();
        assert!(!now
            .items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("cm-0")));
        let retry = cms.list(&ListParams::default().limit(3)).await.unwrap();
        let stale_token = retry.metadata.continue_.clone().unwrap();
        cms.create(&pp, &cm("cm-after", &[])).await.unwrap();
        etcd.compact_now().await.unwrap();
        let err = cms
            .list(
                &ListParams::default()
                    .at(&at)
                    .matching(kube::api::VersionMatch::Exact),
            )
            .await
            .unwrap_err();
        assert_eq!(status_code(&err).map(|s| s.0), Some(410));
        let err = cms
            .list(&ListParams::default().limit(3).continue_token(&stale_token))
            .await
            .unwrap_err();
        assert_eq!(status_code(&err), Some((410, "Expired".into())));
        // NotOlderThan an old revision reads the latest.
        let any = cms
            .list(
                &ListParams::default()
                    .at(&at)
                    .matching(kube::api::VersionMatch::NotOlderThan),
            )
            .await
            .unwrap();
        assert!(any
            .items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("cm-after")));
    })
    .await
}
