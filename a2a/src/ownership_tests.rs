use serde_json::json;

use super::*;
use crate::errors::ErrorKind;

const TTL: Duration = Duration::from_secs(60);

fn store(capacity: usize, unknown: UnknownTasks) -> OwnershipStore {
    OwnershipStore::new(capacity, TTL, unknown)
}

#[test]
fn owner_gets_access_others_get_task_not_found() {
    let s = store(10, UnknownTasks::Deny);
    assert!(s.record("t1", "alice"));
    assert_eq!(s.access("t1", "alice"), Access::Owner);
    assert_eq!(s.access("t1", "bob"), Access::NotOwner);
    assert!(s.authorize("t1", "alice").is_ok());
    let err = s.authorize("t1", "bob").unwrap_err();
    assert_eq!(err.to_rpc().kind, ErrorKind::TaskNotFound);
    // Unknown task under Deny looks exactly like someone else's.
    assert_eq!(
        s.authorize("t2", "bob").unwrap_err().to_rpc(),
        RpcError::task_not_found("t2")
    );
}

#[test]
fn first_owner_wins() {
    let s = store(10, UnknownTasks::Deny);
    assert!(s.record("t1", "alice"));
    assert!(!s.record("t1", "mallory"));
    assert_eq!(s.access("t1", "alice"), Access::Owner);
    assert!(s.record("t1", "alice"), "the owner may re-record");
}

#[test]
fn unknown_tasks_may_be_allowed() {
    let s = store(10, UnknownTasks::Allow);
    assert!(s.authorize("never-seen", "bob").is_ok());
    s.record("t1", "alice");
    assert!(s.authorize("t1", "bob").is_err(), "known tasks stay owned");
}

#[test]
fn entries_expire_after_ttl() {
    let s = store(10, UnknownTasks::Deny);
    let t0 = Instant::now();
    s.record_at("t1", "alice", t0);
    assert_eq!(s.access_at("t1", "alice", t0 + TTL / 2), Access::Owner);
    assert_eq!(s.access_at("t1", "alice", t0 + TTL), Access::Unknown);
    // After expiry another caller may claim the id (the agent reused it).
    assert!(s.record_at("t1", "bob", t0 + TTL + Duration::from_secs(1)));
    // Expired entries are dropped when later records pass them.
    s.record_at("t2", "x", t0 + TTL * 3);
    assert_eq!(s.len(), 1);
}

#[test]
fn capacity_evicts_least_recently_recorded() {
    let s = store(3, UnknownTasks::Deny);
    let t0 = Instant::now();
    for (i, t) in ["a", "b", "c"].iter().enumerate() {
        s.record_at(t, "o", t0 + Duration::from_millis(i as u64));
    }
    // Re-recording "a" makes "b" the oldest.
    s.record_at("a", "o", t0 + Duration::from_millis(5));
    s.record_at("d", "o", t0 + Duration::from_millis(6));
    assert_eq!(s.len(), 3);
    assert_eq!(s.access("b", "o"), Access::Unknown);
    for t in ["a", "c", "d"] {
        assert_eq!(s.access(t, "o"), Access::Owner, "{t}");
    }
}

#[test]
fn repeated_records_do_not_grow_without_bound() {
    let s = store(4, UnknownTasks::Deny);
    for _ in 0..10_000 {
        s.record("hot", "o");
    }
    assert_eq!(s.len(), 1);
    assert!(s.lock().order.len() <= 4 * 2 + 16);
}

fn list_v1() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "result": {
        "tasks": [
            {"id": "t1", "contextId": "c", "status": {"state": "TASK_STATE_COMPLETED"}},
            {"id": "t2", "contextId": "c", "status": {"state": "TASK_STATE_WORKING"}},
            {"id": "t3", "contextId": "c", "status": {"state": "TASK_STATE_WORKING"}},
            {"noId": true}
        ],
        "nextPageToken": "", "pageSize": 50, "totalSize": 4}})
}

#[test]
fn list_tasks_is_filtered_to_the_caller() {
    let s = store(10, UnknownTasks::Deny);
    s.record("t1", "alice");
    s.record("t2", "bob");
    s.record("t3", "alice");
    let body = serde_json::to_vec(&list_v1()).unwrap();
    let (out, removed) = s.filter_list_response(&body, "alice").unwrap();
    assert_eq!(removed, 2);
    let v: Value = serde_json::from_slice(&out).unwrap();
    let ids: Vec<_> = v["result"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t1", "t3"]);
    assert_eq!(v["result"]["totalSize"], 2);
    assert_eq!(v["result"]["pageSize"], 50);
}

#[test]
fn rest_list_and_error_envelopes() {
    let rest = json!({"tasks": [{"id": "t1"}, {"id": "t2"}], "totalSize": 2, "nextPageToken": ""});
    let (out, removed) = filter_task_list(rest.to_string().as_bytes(), |id| id == "t2").unwrap();
    assert_eq!(removed, 1);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["tasks"], json!([{"id": "t2"}]));

    let err = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "x"}});
    let bytes = err.to_string().into_bytes();
    assert_eq!(
        filter_task_list(&bytes, |_| false).unwrap(),
        (bytes.clone(), 0)
    );

    assert!(matches!(
        filter_task_list(b"{]", |_| true),
        Err(OwnershipError::ListJson(_))
    ));
    assert!(matches!(
        filter_task_list(b"{\"result\":{\"tasks\":5}}", |_| true),
        Err(OwnershipError::ListShape(_))
    ));
    assert!(matches!(
        filter_task_list(b"[]", |_| true),
        Err(OwnershipError::ListShape(_))
    ));
}

#[test]
fn sealed_ids_verify_only_for_their_owner() {
    let sealer = TaskIdSealer::new(&[7; 32]);
    let sealed = sealer.seal("task-42", "alice");
    assert!(TaskIdSealer::is_sealed(&sealed));
    assert_eq!(sealed, sealer.seal("task-42", "alice"), "deterministic");
    assert_eq!(sealer.unseal(&sealed, "alice").unwrap(), "task-42");
    assert!(matches!(
        sealer.unseal(&sealed, "bob"),
        Err(OwnershipError::NotFound { .. })
    ));
    // Another key (another deployment) does not verify.
    assert!(TaskIdSealer::new(&[8; 32])
        .unseal(&sealed, "alice")
        .is_err());
}

#[test]
fn sealed_ids_resist_tampering() {
    let sealer = TaskIdSealer::new(b"k");
    let sealed = sealer.seal("task-42", "alice");
    // Swap in another task id with alice's tag.
    let tag = sealed.rsplit('.').next().unwrap();
    let forged = format!("a2at1.{}.{tag}", URL_SAFE_NO_PAD.encode("task-43"));
    assert!(matches!(
        sealer.unseal(&forged, "alice"),
        Err(OwnershipError::NotFound { .. })
    ));
    // Field boundaries are unambiguous: ("ab","c") vs ("a","bc").
    let ab_c = sealer.seal("ab", "c");
    let forged = format!(
        "a2at1.{}.{}",
        URL_SAFE_NO_PAD.encode("a"),
        ab_c.rsplit('.').next().unwrap()
    );
    assert!(sealer.unseal(&forged, "bc").is_err());
    for bad in [
        "",
        "a2at1.",
        "a2at1.x",
        "a2at1.!!.!!",
        "raw-id",
        "a2at1.__8.AA",
    ] {
        assert!(sealer.unseal(bad, "alice").is_err(), "{bad:?}");
    }
}
