//! Gateway API conformance, GATEWAY-HTTP profile: a port of the suite's data, not the
//! official Go suite. The manifests of Gateway API v1.5.1 (tests/conformance/, applied with
//! `kubectl` as they are) and each test's table, ported from its Go source into Rust
//! (`e2e::conformance`), run against one `switchboard run --kubernetes` replica per Gateway
//! and Rust echo backends standing in for the Deployments. Each test prints
//! `conformance NAME: P/T checks passed`; status checks (the suite's Accepted, ResolvedRefs,
//! listener checks) count as checks beside the requests.
//!
//! Core tests of the profile are ported here and, those that check mostly status, in
//! `conformance_status`; the extended ones (filters, redirects other
//! than host and status, query and method matching) in `conformance_extended`. Failures the
//! port knows of are listed, with their reason, in [`KNOWN_FAILURES`]: every other failure
//! fails the test.

use e2e::conformance::status::{
    gateway_accepted, gateway_listeners, route_accepted, route_condition, route_resolved,
};
use e2e::conformance::{cond, get, Conformance, ListenerWant, Report, INFRA};

/// (test, check name prefix, reason): failures recorded as known, per test. Every other
/// failure fails its test; a known failure that passes is printed.
pub const KNOWN_FAILURES: &[(&str, &str, &str)] = &[];

/// Finishes `report` against the known failures of its test.
pub fn finish(report: &Report) {
    let known: Vec<(&str, &str)> = KNOWN_FAILURES
        .iter()
        .filter(|(t, _, _)| *t == report.test)
        .map(|(_, check, reason)| (*check, *reason))
        .collect();
    report.finish(&known);
}

/// Gateway `gw` (in gateway-conformance-infra) Accepted and Programmed, and `routes`
/// (namespace, name) Accepted by it and, when `resolved`, with ResolvedRefs True
/// (`GatewayAndHTTPRoutesMustBeAccepted`, `HTTPRouteMustHaveResolvedRefsConditionsTrue`).
pub async fn accepted(
    c: &Conformance,
    report: &mut Report,
    gw: &str,
    routes: &[(&str, &str)],
    resolved: bool,
) {
    let r = c.wait_for("gateway", INFRA, gw, gateway_accepted).await;
    report.record(format!("Gateway {gw} Accepted and Programmed"), r);
    for (ns, route) in routes {
        let r = c
            .wait_for("httproute", ns, route, |o| route_accepted(o, INFRA, gw))
            .await;
        report.record(format!("HTTPRoute {ns}/{route} Accepted"), r);
        if resolved {
            let r = c
                .wait_for("httproute", ns, route, |o| route_resolved(o, INFRA, gw))
                .await;
            report.record(format!("HTTPRoute {ns}/{route} ResolvedRefs"), r);
        }
    }
}

/// The common shape: one test manifest, one Gateway, routes in gateway-conformance-infra
/// accepted with resolved refs, then the table against the Gateway's port 80.
async fn table(
    test: &str,
    manifest: &str,
    gw: &str,
    routes: &[&str],
    cases: &[e2e::conformance::Case],
) {
    let c = Conformance::start(&[manifest]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new(test);
    let routes: Vec<(&str, &str)> = routes.iter().map(|r| (INFRA, *r)).collect();
    accepted(&c, &mut report, gw, &routes, true).await;
    report.run_cases(&replica.addr(80), cases).await;
    if report.results.iter().any(|(_, r)| r.is_err()) {
        eprintln!(
            "replica stderr (tail):\n{}",
            tail(&replica.gateway.stderr())
        );
    }
    finish(&report);
}

/// The last lines of a process's stderr.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

const V1: &str = "infra-backend-v1";
const V2: &str = "infra-backend-v2";
const V3: &str = "infra-backend-v3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_simple_same_namespace() {
    table(
        "HTTPRouteSimpleSameNamespace",
        "httproute-simple-same-namespace",
        "same-namespace",
        &["gateway-conformance-infra-test"],
        &[get("/").to(V1)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_matching() {
    table(
        "HTTPRouteMatching",
        "httproute-matching",
        "same-namespace",
        &["matching"],
        &[
            get("/").to(V1),
            get("/example").to(V1),
            get("/").header("Version", "one").to(V1),
            get("/v2").to(V2),
            get("/v2/example").to(V2),
            get("/").header("Version", "two").to(V2),
            get("/v2/").to(V2),
            get("/v2example").to(V1),
            get("/foo/v2/example").to(V1),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_matching_across_routes() {
    table(
        "HTTPRouteMatchingAcrossRoutes",
        "httproute-matching-across-routes",
        "same-namespace",
        &["matching-part1", "matching-part2"],
        &[
            get("/").host("example.com").to(V1),
            get("/example").host("example.com").to(V1),
            get("/example").host("example.net").to(V1),
            get("/example")
                .host("example.com")
                .header("Version", "one")
                .to(V1),
            get("/v2").host("example.com").to(V2),
            get("/v2").host("example.net").to(V1),
            get("/v2/example").host("example.com").to(V2),
            get("/").host("example.com").header("Version", "two").to(V2),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_header_matching() {
    table(
        "HTTPRouteHeaderMatching",
        "httproute-header-matching",
        "same-namespace",
        &["header-matching"],
        &[
            get("/").header("Version", "one").to(V1),
            get("/").header("Version", "two").to(V2),
            get("/")
                .header("Version", "two")
                .header("Color", "orange")
                .to(V1),
            get("/")
                .header("Version", "two")
                .header("Color", "blue")
                .to(V2),
            get("/").header("Color", "orange").status(404),
            get("/").header("Some-Other-Header", "one").status(404),
            get("/").header("Color", "blue").to(V1),
            get("/").header("Color", "green").to(V1),
            get("/").header("Color", "red").to(V2),
            get("/").header("Color", "yellow").to(V2),
            get("/").header("Color", "purple").status(404),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_exact_path_matching() {
    table(
        "HTTPRouteExactPathMatching",
        "httproute-exact-path-matching",
        "same-namespace",
        &["exact-matching"],
        &[
            get("/one").to(V1),
            get("/two").to(V2),
            get("/").status(404),
            get("/one/example").status(404),
            get("/two/").status(404),
            get("/Two").status(404),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_path_match_order() {
    table(
        "HTTPRoutePathMatchOrder",
        "httproute-path-match-order",
        "same-namespace",
        &["path-matching-order"],
        &[
            get("/match/exact/one").to(V3),
            get("/match/exact").to(V2),
            get("/match").to(V1),
            get("/match/prefix/one/any").to(V2),
            get("/match/prefix/any").to(V1),
            get("/match/any").to(V3),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_redirect_host_and_status() {
    use e2e::conformance::Redirect;
    let host = Redirect {
        host: Some("example.org"),
        ..Redirect::default()
    };
    table(
        "HTTPRouteRedirectHostAndStatus",
        "httproute-redirect-host-and-status",
        "same-namespace",
        &["redirect-host-and-status"],
        &[
            get("/hostname-redirect").redirect(302, host.clone()),
            get("/host-and-status").redirect(301, host),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_listener_hostname_matching() {
    let gw = "httproute-listener-hostname-matching";
    let c = Conformance::start(&[gw]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteListenerHostnameMatching");
    accepted(
        &c,
        &mut report,
        gw,
        &[
            (INFRA, "backend-v1"),
            (INFRA, "backend-v2"),
            (INFRA, "backend-v3"),
        ],
        true,
    )
    .await;
    report
        .run_cases(
            &replica.addr(80),
            &[
                get("/").host("bar.com").to(V1),
                get("/").host("foo.bar.com").to(V2),
                get("/").host("baz.bar.com").to(V3),
                get("/").host("boo.bar.com").to(V3),
                get("/").host("multiple.prefixes.bar.com").to(V3),
                get("/").host("multiple.prefixes.foo.com").to(V3),
                get("/").host("foo.com").status(404),
                get("/").host("no.matching.host").status(404),
            ],
        )
        .await;
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_hostname_intersection() {
    let gw = "httproute-hostname-intersection";
    let gw_all = "httproute-hostname-intersection-all";
    let c = Conformance::start(&[gw]).await;
    let replica = c.serve(&[gw]).await;
    let replica_all = c.serve(&[gw_all]).await;
    let mut report = Report::new("HTTPRouteHostnameIntersection");
    let routes = [
        "specific-host-matches-listener-specific-host",
        "specific-host-matches-listener-wildcard-host",
        "wildcard-host-matches-listener-specific-host",
        "wildcard-host-matches-listener-wildcard-host",
    ];
    let routes: Vec<(&str, &str)> = routes.iter().map(|r| (INFRA, *r)).collect();
    accepted(&c, &mut report, gw, &routes, true).await;
    report
        .run_cases(
            &replica.addr(80),
            &[
                get("/s1").host("very.specific.com").to(V1),
                get("/s1").host("very.specific.com:1234").to(V1),
                get("/s1").host("non.matching.com").status(404),
                get("/s1").host("foo.nonmatchingwildcard.io").status(404),
                get("/s1").host("foo.wildcard.io").status(404),
                get("/non-matching-prefix")
                    .host("very.specific.com")
                    .status(404),
                get("/s2").host("foo.wildcard.io").to(V2),
                get("/s2").host("bar.wildcard.io").to(V2),
                get("/s2").host("foo.bar.wildcard.io").to(V2),
                get("/s2").host("non.matching.com").status(404),
                get("/s2").host("wildcard.io").status(404),
                get("/s2").host("very.specific.com").status(404),
                get("/non-matching-prefix")
                    .host("foo.wildcard.io")
                    .status(404),
                get("/s3").host("very.specific.com").to(V3),
                get("/s3").host("non.matching.com").status(404),
                get("/s3").host("foo.specific.com").status(404),
                get("/s3").host("foo.wildcard.io").status(404),
                get("/non-matching-prefix")
                    .host("very.specific.com")
                    .status(404),
                get("/s4").host("foo.anotherwildcard.io").to(V1),
                get("/s4").host("bar.anotherwildcard.io").to(V1),
                get("/s4").host("foo.bar.anotherwildcard.io").to(V1),
                get("/s4").host("anotherwildcard.io").status(404),
                get("/s4").host("foo.wildcard.io").status(404),
                get("/s4").host("very.specific.com").status(404),
                get("/non-matching-prefix")
                    .host("foo.anotherwildcard.io")
                    .status(404),
            ],
        )
        .await;
    // Routes that do not intersect with any listener hostname.
    let r = c
        .wait_for("httproute", INFRA, "no-intersecting-hosts", |o| {
            route_condition(
                o,
                INFRA,
                gw,
                &cond("Accepted", "False", "NoMatchingListenerHostname"),
            )
        })
        .await;
    report.record(
        "HTTPRoute no-intersecting-hosts Accepted False NoMatchingListenerHostname",
        r,
    );
    let mut not_intersecting = Report::new("");
    not_intersecting
        .run_cases(
            &replica.addr(80),
            &[
                get("/s5").host("specific.but.wrong.com").status(404),
                get("/s5").host("wildcard.io").status(404),
            ],
        )
        .await;
    for (name, r) in not_intersecting.results {
        report.record(format!("no intersection: {name}"), r);
    }
    // Only Accepted routes are counted in attachedRoutes.
    let ok = vec![
        cond("Accepted", "True", ""),
        cond("ResolvedRefs", "True", ""),
    ];
    let listeners = [
        ListenerWant::http("listener-1", 2, ok.clone()),
        ListenerWant::http("listener-2", 1, ok.clone()),
        ListenerWant::http("listener-3", 1, ok),
    ];
    let r = c
        .wait_for("gateway", INFRA, gw, |o| gateway_listeners(o, &listeners))
        .await;
    report.record(
        "Gateway listeners' attachedRoutes count only Accepted routes",
        r,
    );
    // Routes intersecting with a listener without hostname.
    accepted(&c, &mut report, gw_all, &[(INFRA, gw_all)], true).await;
    let mut all = Report::new("");
    all.run_cases(
        &replica_all.addr(80),
        &[
            get("/").host("first.com").to(V2),
            get("/").host("sub.first.com").to(V2),
            get("/").host("second.com").to(V2),
            get("/").host("sub.second.com").to(V2),
            get("/").host("third.com").status(404),
            get("/").host("sub.third.com").status(404),
        ],
    )
    .await;
    for (name, r) in all.results {
        report.record(format!("unspecified listener hostname: {name}"), r);
    }
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_cross_namespace() {
    let gw = "backend-namespaces";
    let web = "gateway-conformance-web-backend";
    let c = Conformance::start(&["httproute-cross-namespace"]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteCrossNamespace");
    accepted(&c, &mut report, gw, &[(web, "cross-namespace")], true).await;
    report
        .run_cases(&replica.addr(80), &[get("/").to_ns("web-backend", web)])
        .await;
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_reference_grant() {
    let gw = "same-namespace";
    let web = "gateway-conformance-web-backend";
    let c = Conformance::start(&["httproute-reference-grant"]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteReferenceGrant");
    accepted(&c, &mut report, gw, &[(INFRA, "reference-grant")], true).await;
    report
        .run_cases(&replica.addr(80), &[get("/").to_ns("web-backend", web)])
        .await;
    c.cluster.kubectl(
        &["delete", "referencegrant", "reference-grant", "-n", web],
        None,
    );
    let mut after = Report::new("");
    after
        .run_cases(&replica.addr(80), &[get("/").status(500)])
        .await;
    for (name, r) in after.results {
        report.record(format!("after deleting the ReferenceGrant: {name}"), r);
    }
    finish(&report);
}

/// A route whose only backendRef is invalid: Accepted, ResolvedRefs False with `reason`, and
/// its requests answered 500.
async fn invalid_backend(
    test: &str,
    manifest: &str,
    route: &str,
    reason: &'static str,
    path: &str,
) {
    let gw = "same-namespace";
    let c = Conformance::start(&[manifest]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new(test);
    accepted(&c, &mut report, gw, &[(INFRA, route)], false).await;
    let want = cond("ResolvedRefs", "False", "");
    let r = c
        .wait_for("httproute", INFRA, route, |o| {
            route_condition(o, INFRA, gw, &want)?;
            route_condition(o, INFRA, gw, &cond("ResolvedRefs", "False", reason))
                .map_err(|e| format!("{e} (reason {reason} expected)"))
        })
        .await;
    report.record(format!("HTTPRoute {route} ResolvedRefs False {reason}"), r);
    report
        .run_cases(&replica.addr(80), &[get(path).status(500)])
        .await;
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_invalid_cross_namespace_backend_ref() {
    invalid_backend(
        "HTTPRouteInvalidCrossNamespaceBackendRef",
        "httproute-invalid-cross-namespace-backend-ref",
        "invalid-cross-namespace-backend-ref",
        "RefNotPermitted",
        "/",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_invalid_nonexistent_backendref() {
    invalid_backend(
        "HTTPRouteInvalidNonExistentBackendRef",
        "httproute-invalid-nonexistent-backendref",
        "invalid-nonexistent-backend-ref",
        "BackendNotFound",
        "/",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_invalid_backendref_unknown_kind() {
    invalid_backend(
        "HTTPRouteInvalidBackendRefUnknownKind",
        "httproute-invalid-backendref-unknown-kind",
        "invalid-backend-ref-unknown-kind",
        "InvalidKind",
        "/v2",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_with_attached_routes() {
    let one = "gateway-with-one-attached-route";
    let two = "gateway-with-two-attached-routes";
    let unresolved = "unresolved-gateway-with-one-attached-unresolved-route";
    let c = Conformance::start(&["gateway-with-attached-routes"]).await;
    let _replica = c.serve(&[one, two, unresolved]).await;
    let mut report = Report::new("GatewayWithAttachedRoutes");
    let ok = vec![
        cond("Accepted", "True", ""),
        cond("ResolvedRefs", "True", ""),
    ];
    for (gw, attached) in [(one, 1), (two, 2)] {
        let want = [ListenerWant::http("http", attached, ok.clone())];
        let r = c
            .wait_for("gateway", INFRA, gw, |o| gateway_listeners(o, &want))
            .await;
        report.record(
            format!("Gateway {gw}: listener http with {attached} attached"),
            r,
        );
    }
    let r = c
        .wait_for("httproute", INFRA, "http-route-not-accepted", |o| {
            route_condition(
                o,
                INFRA,
                two,
                &cond("Accepted", "False", "NoMatchingListenerHostname"),
            )
        })
        .await;
    report.record(
        "HTTPRoute http-route-not-accepted Accepted False NoMatchingListenerHostname",
        r,
    );
    let want = [ListenerWant::http(
        "tls",
        1,
        vec![
            cond("Programmed", "False", ""),
            cond("ResolvedRefs", "False", ""),
        ],
    )];
    let r = c
        .wait_for("gateway", INFRA, unresolved, |o| {
            gateway_listeners(o, &want)
        })
        .await;
    report.record(
        format!("Gateway {unresolved}: listener tls unresolved with 1 attached"),
        r,
    );
    let r = c
        .wait_for("httproute", INFRA, "http-route-4", |o| {
            route_condition(o, INFRA, unresolved, &cond("ResolvedRefs", "False", ""))
        })
        .await;
    report.record("HTTPRoute http-route-4 ResolvedRefs False", r);
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_weight() {
    use std::collections::BTreeMap;
    let gw = "same-namespace";
    let c = Conformance::start(&["httproute-weight"]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteWeight");
    accepted(&c, &mut report, gw, &[(INFRA, "weighted-backends")], true).await;
    let addr = replica.addr(80);
    report.run_cases(&addr, &[get("/").to_ns("", INFRA)]).await;
    // The suite's weight.TestWeightedDistribution: 500 requests, 10 at a time; each
    // backend's share within 5 points of its weight (70/30/0); retried up to 10 times there,
    // 3 times here.
    let want = [(V1, 0.7), (V2, 0.3), (V3, 0.0)];
    let http = e2e::client();
    let mut last = String::new();
    let mut passed = false;
    for _ in 0..3 {
        let mut seen: BTreeMap<String, f64> = BTreeMap::new();
        let mut errors = 0;
        for _ in 0..50 {
            let cases: Vec<_> = (0..10)
                .map(|i| get("/").header("X-Jitter", &i.to_string()).to_ns("", INFRA))
                .collect();
            let batch = cases.iter().map(|c| c.check_pod(&http, &addr));
            for r in futures_util::future::join_all(batch).await {
                match r {
                    Ok(pod) => *seen.entry(backend_of(&pod)).or_default() += 1.0,
                    Err(_) => errors += 1,
                }
            }
        }
        let shares: Vec<(String, f64)> = want
            .iter()
            .map(|(b, _)| (b.to_string(), seen.get(*b).copied().unwrap_or(0.0) / 500.0))
            .collect();
        last = format!("errors {errors}, shares {shares:?}, seen {seen:?}");
        passed = errors == 0
            && seen.keys().all(|k| want.iter().any(|(b, _)| b == k))
            && want
                .iter()
                .zip(&shares)
                .all(|((_, w), (_, got))| (got - w).abs() <= 0.05)
            && !seen.contains_key(V3);
        if passed {
            break;
        }
    }
    report.record(
        "requests are distributed by weight (70/30/0)",
        if passed { Ok(()) } else { Err(last) },
    );
    finish(&report);
}

/// `infra-backend-v1` of pod name `infra-backend-v1-7d9f8b6c5-rust1` (the suite's
/// `extractBackendName`: the name without its last two dash-separated parts).
fn backend_of(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    parts[..parts.len().saturating_sub(2)].join("-")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_service_types() {
    let gw = "same-namespace";
    let c = Conformance::start(&["httproute-service-types"]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteServiceTypes");
    accepted(&c, &mut report, gw, &[(INFRA, "service-types")], true).await;
    // The suite's setupEndpointSlices: the IPv4 EndpointSlices of the Services without a
    // selector get infra-backend-v1's pods as endpoints (here its one echo pod); the port of
    // the slices (3000) stays as the manifest gives it. No pod is IPv6: the -ip6 slices stay
    // empty, as in the suite on an IPv4 cluster.
    let pod = c.pod_ip(INFRA, V1);
    for slice in [
        "manual-endpointslices-ip4",
        "headless-manual-endpointslices-ip4",
    ] {
        let patch = serde_json::json!({"endpoints": [{"addresses": [pod.to_string()],
            "conditions": {"ready": true, "serving": true, "terminating": false}}]});
        c.cluster.kubectl(
            &[
                "patch",
                "endpointslice",
                slice,
                "-n",
                INFRA,
                "--type",
                "merge",
                "-p",
                &patch.to_string(),
            ],
            None,
        );
    }
    report
        .run_cases(
            &replica.addr(80),
            &[
                get("/manual-endpointslices").to(V1),
                get("/headless-manual-endpointslices").to(V1),
                get("/headless").to(V1),
            ],
        )
        .await;
    finish(&report);
}
