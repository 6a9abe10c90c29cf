//! [`LoadPicker::pick`] and [`LoadPicker::begin`] on snapshots published by hand (no scrape
//! task); the scrape task itself is tested against loopback model servers in
//! `inference/tests/load_picker.rs`.

use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A picker over `ports` with no scrape task and the default `staleAfter` (3s).
fn picker(ports: &[u16]) -> LoadPicker {
    let endpoints: Vec<_> = ports.iter().map(|p| addr(*p)).collect();
    let n = endpoints.len();
    LoadPicker {
        shared: Arc::new(Shared {
            pool: Arc::from("test"),
            index: endpoints.iter().enumerate().map(|(i, a)| (*a, i)).collect(),
            in_flight: (0..n).map(|_| AtomicI64::new(0)).collect(),
            snapshot: ArcSwap::from_pointee(vec![EndpointState::default(); n]),
            endpoints,
            stale_after: Duration::from_secs(3),
        }),
        task: None,
    }
}

/// Publishes fresh loads `(queue, running, kv)`, one per endpoint.
fn publish(p: &LoadPicker, loads: &[(f64, f64, f64)]) {
    let now = Instant::now();
    let states = loads
        .iter()
        .enumerate()
        .map(|(i, (q, r, k))| EndpointState {
            scraped: Some(Scraped {
                load: Load {
                    queue: Some(*q),
                    running: Some(*r),
                    kv_cache: Some(*k),
                },
                at: now,
                in_flight: p.shared.in_flight[i].load(Ordering::Relaxed),
            }),
            error: None,
            attempted: true,
        })
        .collect();
    p.shared.snapshot.store(Arc::new(states));
}

#[test]
fn the_least_loaded_comes_first_and_the_rest_follow_for_retries() {
    let p = picker(&[1, 2, 3]);
    publish(&p, &[(2.0, 0.0, 0.0), (0.0, 4.0, 0.5), (0.0, 1.0, 0.9)]);
    assert_eq!(p.pick(None).unwrap(), [addr(3), addr(2), addr(1)]);
}

#[test]
fn the_subset_restricts_the_choice() {
    let p = picker(&[1, 2, 3]);
    publish(&p, &[(2.0, 0.0, 0.0), (0.0, 4.0, 0.5), (0.0, 1.0, 0.9)]);
    let subset = [addr(1), addr(2), addr(2), addr(9)];
    assert_eq!(p.pick(Some(&subset)).unwrap(), [addr(2), addr(1)]);
    assert_eq!(p.pick(Some(&[])), Err(NoEndpoint::OutsideSubset));
    assert_eq!(p.pick(Some(&[addr(9)])), Err(NoEndpoint::OutsideSubset));
}

#[test]
fn an_empty_pool_has_no_endpoint() {
    let p = picker(&[]);
    assert_eq!(p.pick(None), Err(NoEndpoint::EmptyPool));
}

/// Thirty requests between two scrapes on three equal servers: ten each, because each pick
/// sees the requests begun before it.
#[test]
fn in_flight_requests_spread_a_burst_between_scrapes() {
    let p = picker(&[1, 2, 3]);
    publish(&p, &[(0.0, 2.0, 0.1), (0.0, 2.0, 0.1), (0.0, 2.0, 0.1)]);
    let guards: Vec<InFlight> = (0..30).map(|_| p.begin(p.pick(None).unwrap()[0])).collect();
    let in_flight: Vec<u64> = p.status().iter().map(|s| s.in_flight).collect();
    assert_eq!(in_flight, [10, 10, 10]);
    drop(guards);
    assert!(p.status().iter().all(|s| s.in_flight == 0));
}

/// The idle server takes the burst until it is as busy as the other (3 running), then they
/// alternate: 4 and 1. Without in-flight counting all 5 would go to the idle one.
#[test]
fn a_burst_fills_the_least_loaded_server_up_to_the_others() {
    let p = picker(&[1, 2]);
    publish(&p, &[(0.0, 0.0, 0.0), (0.0, 3.0, 0.0)]);
    let _guards: Vec<InFlight> = (0..5).map(|_| p.begin(p.pick(None).unwrap()[0])).collect();
    let in_flight: Vec<u64> = p.status().iter().map(|s| s.in_flight).collect();
    assert_eq!(in_flight, [4, 1]);
}

/// With no scrape at all, the pool degrades to least requests in flight, random among equals.
#[test]
fn without_metrics_the_order_is_by_in_flight_then_random() {
    let p = picker(&[1, 2, 3]);
    let _g1 = p.begin(addr(1));
    let _g2 = p.begin(addr(1));
    let _g3 = p.begin(addr(2));
    assert_eq!(p.pick(None).unwrap(), [addr(3), addr(2), addr(1)]);
    let mut firsts = std::collections::HashSet::new();
    let q = picker(&[1, 2, 3]);
    for _ in 0..200 {
        firsts.insert(q.pick(None).unwrap()[0]);
    }
    assert_eq!(firsts.len(), 3);
    assert!(q.status().iter().all(|s| !s.fresh && s.load.is_none()));
}

#[test]
fn a_guard_for_an_address_outside_the_pool_counts_nothing() {
    let p = picker(&[1]);
    let g = p.begin(addr(2));
    assert_eq!(p.status()[0].in_flight, 0);
    drop(g);
    assert_eq!(p.status()[0].in_flight, 0);
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let err = LoadPicker::start("p", &LoadPickerConfig::default(), vec![addr(1)]).unwrap_err();
    assert!(matches!(err, StartError::NoRuntime), "{err}");
}

#[tokio::test]
async fn duplicate_endpoints_are_kept_once() {
    let p = LoadPicker::start(
        "p",
        &LoadPickerConfig::default(),
        vec![addr(1), addr(2), addr(1)],
    )
    .unwrap();
    assert_eq!(p.endpoints(), [addr(1), addr(2)]);
    assert_eq!(p.pick(None).unwrap().len(), 2);
}

/// The gateway keeps pickers in shared config and guards across a response's streaming.
#[test]
fn pickers_and_guards_cross_tasks() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<LoadPicker>();
    shared::<InFlight>();
    shared::<EndpointStatus>();
}
