//! Watches with the real `kube` client: raw watch events and bookmarks, a compacted revision
//! answered with a 410 ERROR event, and kube's `runtime::watcher` relisting after it.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;
use support::*;
use tokio::sync::mpsc;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().cloned().collect::<BTreeMap<_, _>>()},
        "data": {"k": name},
    }))
    .unwrap()
}

fn rv(c: &ConfigMap) -> i64 {
    c.metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// The next non-bookmark event, within 10 s.
async fn next_event<S>(s: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures_util::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("watch event within 10 s")
            .expect("stream open")
            .expect("event decodes");
        if !matches!(ev, WatchEvent::Bookmark(_)) {
            return ev;
        }
    }
}

#[tokio::test]
async fn raw_watch_events_selectors_bookmarks_and_410() {
    bounded(async {
        let etcd = etcd(1).await;
        let api_server = server_with(&etcd, |c| c.bookmark_interval = Duration::from_millis(300)).await;
        let client = client(&api_server).await;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();
        let a = cms.create(&pp, &cm("a", &[("app", "x")])).await.unwrap();

        // From a revision: only what happened after it.
        let mut s = cms.watch(&WatchParams::default().disable_bookmarks(), &rv(&a).to_string()).await.unwrap().boxed();
        let b = cms.create(&pp, &cm("b", &[])).await.unwrap();
        match next_event(&mut s).await {
            WatchEvent::Added(o) => {
                assert_eq!(o.metadata.name.as_deref(), Some("b"));
                assert_eq!(rv(&o), rv(&b));
            }
            other => panic!("want ADDED b, got {other:?}"),
        }
        cms.patch("a", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "2"}}))).await.unwrap();
        assert!(matches!(next_event(&mut s).await, WatchEvent::Modified(o) if o.metadata.name.as_deref() == Some("a")));
        let deleted = cms.delete("b", &DeleteParams::default()).await.unwrap();
        assert!(deleted.is_left());
        let del_rv = api_server.etcd().current_revision().await.unwrap();
        match next_event(&mut s).await {
            WatchEvent::Deleted(o) => {
                assert_eq!(o.metadata.name.as_deref(), Some("b"));
                // The deletion's revision, so resuming from it does not replay the delete.
                assert_eq!(rv(&o), del_rv);
            }
            other => panic!("want DELETED b, got {other:?}"),
        }
        drop(s);

        // Without a resourceVersion: the current objects as ADDED first.
        let mut s = cms.watch(&WatchParams::default().disable_bookmarks(), "0").await.unwrap().boxed();
        assert!(matches!(next_event(&mut s).await, WatchEvent::Added(o) if o.metadata.name.as_deref() == Some("a")));
        drop(s);

        // Label selector: an object leaving the selection is DELETED for that watch.
        let now = api_server.etcd().current_revision().await.unwrap();
        let mut s = cms
            .watch(&WatchParams::default().labels("app=x").disable_bookmarks(), &now.to_string())
            .await
            .unwrap()
            .boxed();
        cms.create(&pp, &cm("c", &[("app", "y")])).await.unwrap();
        cms.patch("a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"app": "z"}}}))).await.unwrap();
        assert!(matches!(next_event(&mut s).await, WatchEvent::Deleted(o) if o.metadata.name.as_deref() == Some("a")));
        drop(s);

        // Bookmarks arrive and follow the store's revision even when nothing under the
        // watched prefix changes (etcd progress notifications).
        let start = api_server.etcd().current_revision().await.unwrap();
        let mut s = cms.watch(&WatchParams::default(), &start.to_string()).await.unwrap().boxed();
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), "default");
        secrets
            .create(&pp, &serde_json::from_value(json!({"metadata": {"name": "unrelated"}})).unwrap())
            .await
            .unwrap();
        let after = api_server.etcd().current_revision().await.unwrap();
        assert!(after > start);
        let mut bookmarks = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no bookmark reached revision {after} within 10 s ({bookmarks} bookmarks)"
            );
            let ev = tokio::time::timeout(Duration::from_secs(10), s.next())
                .await
                .expect("bookmark within 10 s")
                .unwrap()
                .unwrap();
            match ev {
                WatchEvent::Bookmark(bm) => {
                    bookmarks += 1;
                    let r: i64 = bm.metadata.resource_version.parse().unwrap();
                    assert!(r >= start);
                    if r >= after {
                        break;
                    }
                }
                other => panic!("only bookmarks expected, got {other:?}"),
            }
        }
        assert!(bookmarks >= 1);
        drop(s);

        // A compacted revision: one ERROR event with a 410 Status.
        let old = rv(&a);
        etcd.compact_now().await.unwrap();
        let mut s = cms.watch(&WatchParams::default(), &old.to_string()).await.unwrap().boxed();
        match next_event(&mut s).await {
            WatchEvent::Error(e) => {
                assert_eq!(e.code, 410);
                assert_eq!(e.reason, "Expired");
            }
            other => panic!("want ERROR 410, got {other:?}"),
        }

        // kill(): the open watch ends at once and new connections are refused.
        let now = api_server.etcd().current_revision().await.unwrap();
        let mut s = cms.watch(&WatchParams::default(), &now.to_string()).await.unwrap().boxed();
        api_server.kill();
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match s.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(WatchEvent::Bookmark(_))) => continue,
                    Some(Ok(other)) => panic!("no event expected after kill: {other:?}"),
                }
            }
        })
        .await;
        assert!(end.is_ok(), "the watch stream ends when the server is killed");
        assert!(matches!(cms.get("a").await, Err(kube::Error::HyperError(_) | kube::Error::Service(_))));
    })
    .await
}

type WatcherItem = Result<watcher::Event<ConfigMap>, String>;

async fn recv(rx: &mut mpsc::UnboundedReceiver<WatcherItem>) -> WatcherItem {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("watcher event within 20 s")
        .expect("watcher running")
}

#[tokio::test]
async fn kube_watcher_relists_after_compaction() {
    bounded(async {
        let etcd = etcd(1).await;
        let first = server(&etcd).await;
        let addr = first.addr();
        let kubeconfig = first.kubeconfig_yaml();
        let client = client_for(&kubeconfig).await;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let pp = PostParams::default();
        cms.create(&pp, &cm("one", &[])).await.unwrap();

        // kube's watcher as a controller runs it (pages of 500, bookmarks, backoff).
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stream = watcher(cms.clone(), watcher::Config::default()).default_backoff();
        let task = tokio::spawn(async move {
            let mut stream = stream.boxed();
            while let Some(ev) = stream.next().await {
                let _ = tx.send(ev.map_err(|e| format!("{e:?}")));
            }
        });
        let mut inits = 0;
        // Init, InitApply(one), InitDone.
        loop {
            match recv(&mut rx).await {
                Ok(watcher::Event::Init) => inits += 1,
                Ok(watcher::Event::InitDone) => break,
                _ => {}
            }
        }
        assert_eq!(inits, 1);
        cms.create(&pp, &cm("two", &[])).await.unwrap();
        loop {
            if let Ok(watcher::Event::Apply(o)) = recv(&mut rx).await {
                assert_eq!(o.metadata.name.as_deref(), Some("two"));
                break;
            }
        }

        // The API server dies; meanwhile another one takes writes and etcd compacts past the
        // watcher's revision.
        first.kill();
        let other = server(&etcd).await;
        let other_cms: Api<ConfigMap> =
            Api::namespaced(client_for(&other.kubeconfig_yaml()).await, "default");
        other_cms.create(&pp, &cm("three", &[])).await.unwrap();
        other_cms
            .delete("one", &DeleteParams::default())
            .await
            .unwrap();
        etcd.compact_now().await.unwrap();
        // It comes back on the same address: the watcher resumes from its old revision, gets
        // the 410 ERROR event and relists.
        let _back = server_with(&etcd, |c| c.listen = addr).await;
        let mut saw_410 = false;
        let mut relisted = Vec::new();
        loop {
            match recv(&mut rx).await {
                Err(e) if e.contains("code: 410") => saw_410 = true,
                Err(e) => eprintln!("watcher error: {e}"),
                Ok(watcher::Event::Init) => inits += 1,
                Ok(watcher::Event::InitApply(o)) => relisted.push(o.metadata.name.unwrap()),
                Ok(watcher::Event::InitDone) if inits == 2 => break,
                _ => {}
            }
        }
        assert!(saw_410, "the watcher saw the 410");
        relisted.sort();
        assert_eq!(relisted, ["three", "two"]);
        task.abort();

        // The streaming-list initial strategy (sendInitialEvents + the initial-events-end
        // bookmark) also gets to InitDone with the current objects.
        let back_cms: Api<ConfigMap> = Api::namespaced(client_for(&kubeconfig).await, "default");
        let mut s = watcher(back_cms, watcher::Config::default().streaming_lists()).boxed();
        let mut initial = Vec::new();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(20), s.next())
                .await
                .expect("streaming list event within 20 s")
                .expect("stream open")
                .expect("no error");
            match ev {
                watcher::Event::InitApply(o) => initial.push(o.metadata.name.unwrap()),
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
        initial.sort();
        assert_eq!(initial, ["three", "two"]);

        // A metadata-only watcher (Api<PartialObjectMeta<K>>): objects as PartialObjectMetadata.
        let meta_client = client_for(&kubeconfig).await;
        let meta_cms: Api<kube::core::PartialObjectMeta<ConfigMap>> =
            Api::namespaced(meta_client.clone(), "default");
        let mut s = watcher(meta_cms, watcher::Config::default()).boxed();
        let mut names = Vec::new();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(20), s.next())
                .await
                .expect("metadata watcher event within 20 s")
                .expect("stream open")
                .expect("no error");
            match ev {
                watcher::Event::InitApply(o) => {
                    assert_eq!(
                        o.types.as_ref().map(|t| t.kind.as_str()),
                        Some("PartialObjectMetadata")
                    );
                    names.push(o.metadata.name.unwrap());
                }
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
        names.sort();
        assert_eq!(names, ["three", "two"]);
        let plain: Api<ConfigMap> = Api::namespaced(meta_client, "default");
        let pom = plain.get_metadata("two").await.unwrap();
        assert_eq!(pom.types.unwrap().kind, "PartialObjectMetadata");
    })
    .await
}

/// A create that retries a connection broken by an API server's death (the pool may hand out a
/// connection the front has just closed).
async fn create_retrying(api: &Api<ConfigMap>, name: &str) {
    for _ in 0..20 {
        match api.create(&PostParams::default(), &cm(name, &[])).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) => panic!("create {name}: {s:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("create {name}: no API server reachable through the front");
}

#[tokio::test]
async fn a_watch_behind_a_front_moves_to_another_api_server_without_relisting() {
    bounded(async {
        let etcd = etcd(3).await;
        let a = server(&etcd).await;
        let b = server(&etcd).await;
        let a_addr = a.addr();
        let front = test_apiserver::ApiFrontend::start(vec![a.addr(), b.addr()])
            .await
            .unwrap();
        let cms: Api<ConfigMap> =
            Api::namespaced(client_for(&front.kubeconfig_yaml()).await, "default");
        create_retrying(&cms, "before").await;

        let (tx, mut rx) = mpsc::unbounded_channel();
        let stream = watcher(cms.clone(), watcher::Config::default()).default_backoff();
        let task = tokio::spawn(async move {
            let mut stream = stream.boxed();
            while let Some(ev) = stream.next().await {
                let _ = tx.send(ev.map_err(|e| format!("{e:?}")));
            }
        });
        loop {
            if let Ok(watcher::Event::InitDone) = recv(&mut rx).await {
                break;
            }
        }
        // Kill A, then (with A back on its address) B: whichever held the watch died, and the
        // watch resumed on the other server from the same resourceVersion (same etcd): the
        // changes arrive, with neither a 410 nor a relist.
        a.kill();
        create_retrying(&cms, "x1").await;
        let wait_for = async |rx: &mut mpsc::UnboundedReceiver<WatcherItem>, want: &str| loop {
            match recv(rx).await {
                Ok(watcher::Event::Apply(o)) if o.metadata.name.as_deref() == Some(want) => return,
                Ok(watcher::Event::Init) => panic!("the watcher relisted"),
                Err(e) if e.contains("code: 410") => panic!("the watcher got a 410: {e}"),
                _ => {}
            }
        };
        wait_for(&mut rx, "x1").await;
        let _a2 = server_with(&etcd, |c| c.listen = a_addr).await;
        b.kill();
        create_retrying(&cms, "x2").await;
        wait_for(&mut rx, "x2").await;
        task.abort();
    })
    .await
}
