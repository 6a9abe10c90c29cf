//! Gateway API conformance, GATEWAY-HTTP profile (core), the tests that check mostly status:
//! invalid parentRefs and ReferenceGrants, invalid route kinds, `observedGeneration` bumps.
//! A port of the suite's data, not the official Go suite (see `conformance`); known failures
//! are in [`super::conformance::KNOWN_FAILURES`].

use e2e::conformance::status::{
    gateway_listeners, gateway_zero_routes, latest, route_condition, route_latest,
    route_no_accepted_parents, route_resolved,
};
use e2e::conformance::{cond, get, Conformance, ListenerWant, Report, INFRA};

use super::conformance::{accepted, finish};

const WEB: &str = "gateway-conformance-web-backend";
const APP: &str = "gateway-conformance-app-backend";

/// A route that no listener of Gateway `same-namespace` takes: the route's parent status says
/// `reason`, no parent accepted it, and the Gateway counts no route. When `resolved_first`,
/// the suite first waits for ResolvedRefs True on the route's parent.
async fn not_attached(
    test: &str,
    manifest: &str,
    (route_ns, route): (&str, &str),
    reason: &'static str,
    resolved_first: bool,
) {
    let gw = "same-namespace";
    let c = Conformance::start(&[manifest]).await;
    let _replica = c.serve(&[gw]).await;
    let mut report = Report::new(test);
    if resolved_first {
        let r = c
            .wait_for("httproute", route_ns, route, |o| {
                route_resolved(o, INFRA, gw)
            })
            .await;
        report.record(format!("HTTPRoute {route} ResolvedRefs"), r);
    }
    let r = c
        .wait_for("httproute", route_ns, route, |o| {
            route_condition(o, INFRA, gw, &cond("Accepted", "False", reason))
        })
        .await;
    report.record(format!("HTTPRoute {route} Accepted False {reason}"), r);
    let r = c
        .wait_for("httproute", route_ns, route, route_no_accepted_parents)
        .await;
    report.record(format!("HTTPRoute {route} has no accepted parent"), r);
    let r = c.wait_for("gateway", INFRA, gw, gateway_zero_routes).await;
    report.record(format!("Gateway {gw} has 0 routes attached"), r);
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_invalid_cross_namespace_parent_ref() {
    not_attached(
        "HTTPRouteInvalidCrossNamespaceParentRef",
        "httproute-invalid-cross-namespace-parent-ref",
        (WEB, "invalid-cross-namespace-parent-ref"),
        "NotAllowedByListeners",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_invalid_parentref_not_matching_section_name() {
    not_attached(
        "HTTPRouteInvalidParentRefNotMatchingSectionName",
        "httproute-invalid-parentref-not-matching-section-name",
        (INFRA, "httproute-listener-not-matching-section-name"),
        "NoMatchingParent",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_invalid_reference_grant() {
    let gw = "same-namespace";
    let route = "reference-grant";
    let c = Conformance::start(&["httproute-invalid-reference-grant"]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteInvalidReferenceGrant");
    accepted(&c, &mut report, gw, &[(INFRA, route)], false).await;
    let r = c
        .wait_for("httproute", INFRA, route, |o| {
            route_condition(
                o,
                INFRA,
                gw,
                &cond("ResolvedRefs", "False", "RefNotPermitted"),
            )
        })
        .await;
    report.record(
        format!("HTTPRoute {route} ResolvedRefs False RefNotPermitted"),
        r,
    );
    report
        .run_cases(&replica.addr(80), &[get("/").status(500)])
        .await;
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_partially_invalid_via_invalid_reference_grant() {
    let gw = "same-namespace";
    let route = "invalid-reference-grant";
    let c = Conformance::start(&["httproute-partially-invalid-via-invalid-reference-grant"]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRoutePartiallyInvalidViaInvalidReferenceGrant");
    accepted(&c, &mut report, gw, &[(INFRA, route)], false).await;
    let r = c
        .wait_for("httproute", INFRA, route, |o| {
            route_condition(
                o,
                INFRA,
                gw,
                &cond("ResolvedRefs", "False", "RefNotPermitted"),
            )
        })
        .await;
    report.record(
        format!("HTTPRoute {route} ResolvedRefs False RefNotPermitted"),
        r,
    );
    report
        .run_cases(
            &replica.addr(80),
            &[
                get("/v2").status(500),
                get("/").to_ns("app-backend-v1", APP),
            ],
        )
        .await;
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_observed_generation_bump() {
    let gw = "same-namespace";
    let route = "observed-generation-bump";
    let c = Conformance::start(&["httproute-observed-generation-bump"]).await;
    let _replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteObservedGenerationBump");
    let r = c.wait_for("httproute", INFRA, route, route_latest).await;
    report.record("conditions of the first generation", r);
    let before = c.get("httproute", INFRA, route)["metadata"]["generation"].clone();
    c.cluster.kubectl(
        &[
            "patch", "httproute", route, "-n", INFRA, "--type", "json", "-p",
            r#"[{"op":"replace","path":"/spec/rules/0/backendRefs/0/name","value":"infra-backend-v2"}]"#,
        ],
        None,
    );
    let r = c
        .wait_for("httproute", INFRA, route, |o| {
            route_condition(o, INFRA, gw, &cond("Accepted", "True", ""))?;
            route_resolved(o, INFRA, gw)?;
            route_latest(o)?;
            if o["metadata"]["generation"] == before {
                return Err(format!("generation still {before}"));
            }
            Ok(())
        })
        .await;
    report.record(
        "after a spec change: Accepted, ResolvedRefs, latest generation",
        r,
    );
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_observed_generation_bump() {
    let gw = "gateway-observed-generation-bump";
    let c = Conformance::start(&[gw]).await;
    let _replica = c.serve(&[gw]).await;
    let mut report = Report::new("GatewayObservedGenerationBump");
    let check = |o: &serde_json::Value| latest(o, &o["status"]["conditions"]);
    let r = c.wait_for("gateway", INFRA, gw, check).await;
    report.record("conditions of the first generation", r);
    let before = c.get("gateway", INFRA, gw)["metadata"]["generation"].clone();
    c.cluster.kubectl(
        &[
            "patch", "gateway", gw, "-n", INFRA, "--type", "json", "-p",
            r#"[{"op":"add","path":"/spec/listeners/-","value":{"name":"alternate","hostname":"foo.com","port":80,"protocol":"HTTP","allowedRoutes":{"namespaces":{"from":"All"}}}}]"#,
        ],
        None,
    );
    let r = c
        .wait_for("gateway", INFRA, gw, |o| {
            check(o)?;
            if o["metadata"]["generation"] == before {
                return Err(format!("generation still {before}"));
            }
            Ok(())
        })
        .await;
    report.record(
        "after adding a listener: conditions of the new generation",
        r,
    );
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatewayclass_observed_generation_bump() {
    let class = "gatewayclass-observed-generation-bump";
    let c = Conformance::start(&[class]).await;
    // Any replica: GatewayClasses are cluster-wide; this one serves no Gateway of it.
    let _replica = c.serve(&["same-namespace"]).await;
    let mut report = Report::new("GatewayClassObservedGenerationBump");
    let check = |o: &serde_json::Value| {
        let conditions = &o["status"]["conditions"];
        let has_accepted = conditions
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["type"] == "Accepted"));
        if !has_accepted {
            return Err(format!("no Accepted condition: {}", o["status"]));
        }
        latest(o, conditions)
    };
    let r = c.wait_for("gatewayclass", "", class, check).await;
    report.record("Accepted, of the first generation", r);
    let before = c.get("gatewayclass", "", class)["metadata"]["generation"].clone();
    c.cluster.kubectl(
        &[
            "patch",
            "gatewayclass",
            class,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"description":"new"}}"#,
        ],
        None,
    );
    let r = c
        .wait_for("gatewayclass", "", class, |o| {
            check(o)?;
            if o["metadata"]["generation"] == before {
                return Err(format!("generation still {before}"));
            }
            Ok(())
        })
        .await;
    report.record("after a spec change: Accepted, of the new generation", r);
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_invalid_route_kind() {
    let only = "gateway-only-invalid-route-kind";
    let both = "gateway-supported-and-invalid-route-kind";
    let c = Conformance::start(&["gateway-invalid-route-kind"]).await;
    let _replica = c.serve(&[only, both]).await;
    let mut report = Report::new("GatewayInvalidRouteKind");
    let invalid = vec![cond("ResolvedRefs", "False", "InvalidRouteKinds")];
    let want = [ListenerWant {
        supports_http_route: false,
        ..ListenerWant::http("http", 0, invalid.clone())
    }];
    let r = c
        .wait_for("gateway", INFRA, only, |o| gateway_listeners(o, &want))
        .await;
    report.record(
        format!("Gateway {only}: InvalidRouteKinds, no supportedKinds"),
        r,
    );
    let want = [ListenerWant::http("http", 0, invalid)];
    let r = c
        .wait_for("gateway", INFRA, both, |o| gateway_listeners(o, &want))
        .await;
    report.record(
        format!("Gateway {both}: InvalidRouteKinds, HTTPRoute supported"),
        r,
    );
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_modify_listeners() {
    let add = "gateway-add-listener";
    let remove = "gateway-remove-listener";
    let c = Conformance::start(&["gateway-modify-listeners"]).await;
    let _replica = c.serve(&[add, remove]).await;
    let mut report = Report::new("GatewayModifyListeners");
    let ok = vec![
        cond("Accepted", "True", ""),
        cond("ResolvedRefs", "True", ""),
    ];
    let gateway_latest = |o: &serde_json::Value| latest(o, &o["status"]["conditions"]);
    for gw in [add, remove] {
        let r = c.wait_for("gateway", INFRA, gw, gateway_latest).await;
        report.record(
            format!("Gateway {gw}: conditions of the first generation"),
            r,
        );
    }
    // A listener added becomes available for routes.
    let before = c.get("gateway", INFRA, add)["metadata"]["generation"].clone();
    c.cluster.kubectl(
        &[
            "patch", "gateway", add, "-n", INFRA, "--type", "json", "-p",
            r#"[{"op":"add","path":"/spec/listeners/-","value":{"name":"http","port":80,"protocol":"HTTP","hostname":"data.test.com","allowedRoutes":{"namespaces":{"from":"All"}}}}]"#,
        ],
        None,
    );
    let want = [
        ListenerWant::http("https", 1, ok.clone()),
        ListenerWant::http("http", 1, ok.clone()),
    ];
    let r = c
        .wait_for("gateway", INFRA, add, |o| {
            gateway_listeners(o, &want)?;
            gateway_latest(o)?;
            if o["metadata"]["generation"] == before {
                return Err(format!("generation still {before}"));
            }
            Ok(())
        })
        .await;
    report.record(
        format!("Gateway {add}: the added listener http has the route"),
        r,
    );
    // A listener removed stops taking routes.
    let before = c.get("gateway", INFRA, remove)["metadata"]["generation"].clone();
    let listeners = c.get("gateway", INFRA, remove)["spec"]["listeners"].clone();
    let https = listeners
        .as_array()
        .and_then(|l| l.iter().position(|x| x["name"] == "https"))
        .expect("listener https");
    c.cluster.kubectl(
        &[
            "patch",
            "gateway",
            remove,
            "-n",
            INFRA,
            "--type",
            "json",
            "-p",
            &format!(r#"[{{"op":"remove","path":"/spec/listeners/{https}"}}]"#),
        ],
        None,
    );
    let want = [ListenerWant::http("http", 1, ok)];
    let r = c
        .wait_for("gateway", INFRA, remove, |o| {
            gateway_listeners(o, &want)?;
            gateway_latest(o)?;
            if o["metadata"]["generation"] == before {
                return Err(format!("generation still {before}"));
            }
            Ok(())
        })
        .await;
    report.record(format!("Gateway {remove}: only listener http is left"), r);
    finish(&report);
}
