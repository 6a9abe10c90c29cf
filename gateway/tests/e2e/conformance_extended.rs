//! Gateway API conformance, GATEWAY-HTTP profile, extended features (query and method
//! matching, header modifiers, redirects, path and host rewrite, timeouts, named rules,
//! listener ports): a port of the suite's data, not the
//! official Go suite (see `conformance`). Known failures are in
//! [`super::conformance::KNOWN_FAILURES`].

use e2e::conformance::{get, Case, Conformance, Redirect, Report, INFRA};

use super::conformance::{accepted, finish, tail};

const V1: &str = "infra-backend-v1";
const V2: &str = "infra-backend-v2";
const V3: &str = "infra-backend-v3";

/// One manifest, Gateway `same-namespace`, one route accepted with resolved refs, the table.
async fn same_namespace(test: &str, manifest: &str, route: &str, cases: &[Case]) {
    let gw = "same-namespace";
    let c = Conformance::start(&[manifest]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new(test);
    accepted(&c, &mut report, gw, &[(INFRA, route)], true).await;
    report.run_cases(&replica.addr(80), cases).await;
    if report.results.iter().any(|(_, r)| r.is_err()) {
        eprintln!(
            "replica stderr (tail):\n{}",
            tail(&replica.gateway.stderr())
        );
    }
    finish(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_query_param_matching() {
    same_namespace(
        "HTTPRouteQueryParamMatching",
        "httproute-query-param-matching",
        "query-param-matching",
        &[
            get("/?animal=whale").to(V1),
            get("/?animal=dolphin").to(V2),
            get("/?animal=dolphin&color=blue").to(V3),
            get("/?ANIMAL=Whale").to(V3),
            get("/?animal=whale&otherparam=irrelevant").to(V1),
            get("/?animal=dolphin&color=yellow").to(V2),
            get("/?color=blue").status(404),
            get("/?animal=dog").status(404),
            get("/?animal=whaledolphin").status(404),
            get("/").status(404),
            // Combinations of query param matching with other core matches.
            get("/path1?animal=whale").to(V1),
            get("/?animal=whale").header("version", "one").to(V2),
            get("/path2?animal=whale").header("version", "two").to(V3),
            // Match of the same query param across rules.
            get("/path3?animal=shark").to(V1),
            get("/path4?animal=kraken")
                .header("version", "three")
                .to(V1),
            // Matches must all hold.
            get("/?animal=shark").status(404),
            get("/path4?animal=kraken").status(404),
            // Precedence between rules.
            get("/path5?animal=hydra").to(V1),
            get("/?animal=hydra").header("version", "four").to(V3),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_method_matching() {
    same_namespace(
        "HTTPRouteMethodMatching",
        "httproute-method-matching",
        "method-matching",
        &[
            get("/").method("POST").to(V1),
            get("/").method("GET").to(V2),
            get("/").method("HEAD").status(404),
            // Combinations with core matches.
            get("/path1").method("GET").to(V1),
            get("/").method("PUT").header("version", "one").to(V2),
            get("/path2").method("POST").header("version", "two").to(V3),
            // Match of the same method across rules.
            get("/path3").method("PATCH").to(V1),
            get("/path4")
                .method("DELETE")
                .header("version", "three")
                .to(V1),
            // Matches must all hold.
            get("/").method("PUT").status(404),
            get("/path4").method("DELETE").status(404),
            // Precedence between rules.
            get("/path5").method("PATCH").to(V1),
            get("/").method("PATCH").header("version", "four").to(V2),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_request_header_modifier() {
    same_namespace(
        "HTTPRouteRequestHeaderModifier",
        "httproute-request-header-modifier",
        "request-header-modifier",
        &[
            get("/set")
                .header("Some-Other-Header", "val")
                .expect_path("/set")
                .expect_header("Some-Other-Header", "val")
                .expect_header("X-Header-Set", "set-overwrites-values")
                .to(V1),
            get("/set")
                .header("Some-Other-Header", "val")
                .header("X-Header-Set", "some-other-value")
                .expect_path("/set")
                .expect_header("Some-Other-Header", "val")
                .expect_header("X-Header-Set", "set-overwrites-values")
                .to(V1),
            get("/add")
                .header("Some-Other-Header", "val")
                .expect_path("/add")
                .expect_header("Some-Other-Header", "val")
                .expect_header("X-Header-Add", "add-appends-values")
                .to(V1),
            get("/add")
                .header("Some-Other-Header", "val")
                .header("X-Header-Add", "some-other-value")
                .expect_path("/add")
                .expect_header("Some-Other-Header", "val")
                .expect_header("X-Header-Add", "some-other-value,add-appends-values")
                .to(V1),
            get("/remove")
                .header("X-Header-Remove", "val")
                .expect_path("/remove")
                .expect_absent("X-Header-Remove")
                .to(V1),
            get("/multiple")
                .header("X-Header-Set-2", "set-val-2")
                .header("X-Header-Add-2", "add-val-2")
                .header("X-Header-Remove-2", "remove-val-2")
                .header("Another-Header", "another-header-val")
                .expect_path("/multiple")
                .expect_header("X-Header-Set-1", "header-set-1")
                .expect_header("X-Header-Set-2", "header-set-2")
                .expect_header("X-Header-Add-1", "header-add-1")
                .expect_header("X-Header-Add-2", "add-val-2,header-add-2")
                .expect_header("X-Header-Add-3", "header-add-3")
                .expect_header("Another-Header", "another-header-val")
                .expect_absent("X-Header-Remove-1")
                .expect_absent("X-Header-Remove-2")
                .to(V1),
            get("/case-insensitivity")
                .header("x-header-set", "original-val-set")
                .header("x-header-add", "original-val-add")
                .header("x-header-remove", "original-val-remove")
                .header("Another-Header", "another-header-val")
                .expect_path("/case-insensitivity")
                .expect_header("X-Header-Set", "header-set")
                .expect_header("X-Header-Add", "original-val-add,header-add")
                .expect_header("Another-Header", "another-header-val")
                .expect_absent("x-header-remove")
                .expect_absent("X-Header-Remove")
                .to(V1),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_response_header_modifier() {
    same_namespace(
        "HTTPRouteResponseHeaderModifier",
        "httproute-response-header-modifier",
        "response-header-modifier",
        &[
            get("/set")
                .backend_sets("Some-Other-Header", "val")
                .response_header("Some-Other-Header", "val")
                .response_header("X-Header-Set", "set-overwrites-values")
                .to(V1),
            get("/set")
                .backend_sets("Some-Other-Header", "val")
                .backend_sets("X-Header-Set", "some-other-value")
                .response_header("Some-Other-Header", "val")
                .response_header("X-Header-Set", "set-overwrites-values")
                .to(V1),
            get("/add")
                .backend_sets("Some-Other-Header", "val")
                .response_header("Some-Other-Header", "val")
                .response_header("X-Header-Add", "add-appends-values")
                .to(V1),
            get("/add")
                .backend_sets("Some-Other-Header", "val")
                .backend_sets("X-Header-Add", "some-other-value")
                .response_header("Some-Other-Header", "val")
                .response_header("X-Header-Add", "some-other-value,add-appends-values")
                .to(V1),
            get("/remove")
                .backend_sets("X-Header-Remove", "val")
                .response_absent("X-Header-Remove")
                .to(V1),
            get("/multiple")
                .backend_sets("X-Header-Set-2", "set-val-2")
                .backend_sets("X-Header-Add-2", "add-val-2")
                .backend_sets("X-Header-Remove-2", "remove-val-2")
                .backend_sets("Another-Header", "another-header-val")
                .backend_sets("X-Header-Remove-1", "val")
                .response_header("X-Header-Set-1", "header-set-1")
                .response_header("X-Header-Set-2", "header-set-2")
                .response_header("X-Header-Add-1", "header-add-1")
                .response_header("X-Header-Add-2", "add-val-2,header-add-2")
                .response_header("X-Header-Add-3", "header-add-3")
                .response_header("Another-Header", "another-header-val")
                .response_absent("X-Header-Remove-1")
                .response_absent("X-Header-Remove-2")
                .to(V1),
            get("/case-insensitivity")
                .backend_sets("x-header-set", "original-val-set")
                .backend_sets("x-header-add", "original-val-add")
                .backend_sets("x-header-remove", "original-val-remove")
                .backend_sets("Another-Header", "another-header-val")
                .response_header("X-Header-Set", "header-set")
                .response_header("X-Header-Add", "original-val-add,header-add")
                .response_header("X-Lowercase-Add", "lowercase-add")
                .response_header("X-Mixedcase-Add-1", "mixedcase-add-1")
                .response_header("X-Mixedcase-Add-2", "mixedcase-add-2")
                .response_header("X-Uppercase-Add", "uppercase-add")
                .response_header("Another-Header", "another-header-val")
                .response_absent("x-header-remove")
                .response_absent("X-Header-Remove")
                .to(V1),
            get("/response-and-request-header-modifiers")
                .header("X-Header-Remove", "remove-val")
                .header("X-Header-Add-Append", "append-val-1")
                .header("X-Header-Echo", "echo")
                .backend_sets("X-Header-Set-2", "set-val-2")
                .backend_sets("X-Header-Add-2", "add-val-2")
                .backend_sets("X-Header-Remove-2", "remove-val-2")
                .backend_sets("Another-Header", "another-header-val")
                .backend_sets("X-Header-Remove-1", "remove-val-1")
                .backend_sets("X-Header-Echo", "echo")
                .expect_path("/response-and-request-header-modifiers")
                .expect_header("X-Header-Add", "header-val-1")
                .expect_header("X-Header-Set", "set-overwrites-values")
                .expect_header("X-Header-Add-Append", "append-val-1,header-val-2")
                .expect_header("X-Header-Echo", "echo")
                .expect_absent("X-Header-Remove")
                .response_header("X-Header-Set-1", "header-set-1")
                .response_header("X-Header-Set-2", "header-set-2")
                .response_header("X-Header-Add-1", "header-add-1")
                .response_header("X-Header-Add-2", "add-val-2,header-add-2")
                .response_header("Another-Header", "another-header-val")
                .response_header("X-Header-Echo", "echo")
                .response_absent("X-Header-Remove-1")
                .response_absent("X-Header-Remove-2")
                .to(V1),
        ],
    )
    .await;
}

fn redirect(
    scheme: Option<&'static str>,
    host: Option<&'static str>,
    port: Option<&'static str>,
    path: Option<&'static str>,
) -> Redirect {
    Redirect {
        scheme,
        host,
        port,
        path,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_redirect_path() {
    let org = Some("example.org");
    same_namespace(
        "HTTPRouteRedirectPath",
        "httproute-redirect-path",
        "redirect-path",
        &[
            get("/original-prefix/lemon").redirect(
                302,
                redirect(None, None, None, Some("/replacement-prefix/lemon")),
            ),
            get("/full/path/original").redirect(
                302,
                redirect(None, None, None, Some("/full-path-replacement")),
            ),
            get("/path-and-host")
                .redirect(302, redirect(None, org, None, Some("/replacement-prefix"))),
            get("/path-and-status")
                .redirect(301, redirect(None, None, None, Some("/replacement-prefix"))),
            get("/full-path-and-host")
                .redirect(302, redirect(None, org, None, Some("/replacement-full"))),
            get("/full-path-and-status")
                .redirect(301, redirect(None, None, None, Some("/replacement-full"))),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_redirect_port() {
    let org = Some("example.org");
    let port = Some("8083");
    same_namespace(
        "HTTPRouteRedirectPort",
        "httproute-redirect-port",
        "redirect-port",
        &[
            get("/port").redirect(302, redirect(None, None, port, None)),
            get("/port-and-host").redirect(302, redirect(None, org, port, None)),
            get("/port-and-status").redirect(301, redirect(None, None, port, None)),
            get("/port-and-host-and-status").redirect(302, redirect(None, org, port, None)),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_redirect_scheme() {
    let org = Some("example.org");
    let https = Some("https");
    same_namespace(
        "HTTPRouteRedirectScheme",
        "httproute-redirect-scheme",
        "redirect-scheme",
        &[
            get("/scheme").redirect(302, redirect(https, None, None, None)),
            get("/scheme-and-host").redirect(302, redirect(https, org, None, None)),
            get("/scheme-and-status").redirect(301, redirect(https, None, None, None)),
            get("/scheme-and-host-and-status").redirect(302, redirect(https, org, None, None)),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_rewrite_path() {
    same_namespace(
        "HTTPRouteRewritePath",
        "httproute-rewrite-path",
        "rewrite-path",
        &[
            get("/prefix/one/two").expect_path("/one/two").to(V1),
            get("/strip-prefix/three").expect_path("/three").to(V1),
            get("/strip-prefix").expect_path("/").to(V1),
            get("/full/one/two").expect_path("/one").to(V1),
            get("/full/rewrite-path-and-modify-headers/test")
                .header("X-Header-Remove", "remove-val")
                .header("X-Header-Add-Append", "append-val-1")
                .header("X-Header-Set", "set-val")
                .expect_path("/test")
                .expect_header("X-Header-Add", "header-val-1")
                .expect_header("X-Header-Add-Append", "append-val-1,header-val-2")
                .expect_header("X-Header-Set", "set-overwrites-values")
                .expect_absent("X-Header-Remove")
                .to(V1),
            get("/prefix/rewrite-path-and-modify-headers/one")
                .header("X-Header-Remove", "remove-val")
                .header("X-Header-Add-Append", "append-val-1")
                .header("X-Header-Set", "set-val")
                .expect_path("/prefix/one")
                .expect_header("X-Header-Add", "header-val-1")
                .expect_header("X-Header-Add-Append", "append-val-1,header-val-2")
                .expect_header("X-Header-Set", "set-overwrites-values")
                .expect_absent("X-Header-Remove")
                .to(V1),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_303_307_308_redirects() {
    // Three tests of the suite (HTTPRoute303Redirect, HTTPRoute307Redirect,
    // HTTPRoute308Redirect), one table each, run in sequence.
    for (test, manifest, route, case) in [
        (
            "HTTPRoute303Redirect",
            "httproute-303-redirect",
            "303-redirect",
            get("/see-other")
                .method("POST")
                .redirect(303, redirect(None, None, None, Some("/see-other"))),
        ),
        (
            "HTTPRoute307Redirect",
            "httproute-307-redirect",
            "307-redirect",
            get("/temporary").redirect(307, redirect(None, None, None, Some("/temporary"))),
        ),
        (
            "HTTPRoute308Redirect",
            "httproute-308-redirect",
            "308-redirect",
            get("/permanent").redirect(308, redirect(None, None, None, Some("/permanent"))),
        ),
    ] {
        same_namespace(test, manifest, route, &[case]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_rewrite_host() {
    same_namespace(
        "HTTPRouteRewriteHost",
        "httproute-rewrite-host",
        "rewrite-host",
        &[
            get("/one")
                .host("rewrite.example")
                .expect_path("/one")
                .expect_host("one.example.org")
                .to(V1),
            get("/two")
                .host("rewrite.example")
                .expect_path("/two")
                .expect_host("example.org")
                .to(V2),
            get("/rewrite-host-and-modify-headers")
                .host("rewrite.example")
                .header("X-Header-Remove", "remove-val")
                .header("X-Header-Add-Append", "append-val-1")
                .expect_path("/rewrite-host-and-modify-headers")
                .expect_host("test.example.org")
                .expect_header("X-Header-Add", "header-val-1")
                .expect_header("X-Header-Add-Append", "append-val-1,header-val-2")
                .expect_header("X-Header-Set", "set-overwrites-values")
                .expect_absent("X-Header-Remove")
                .to(V2),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_timeouts() {
    // HTTPRouteRequestTimeout and HTTPRouteBackendRequestTimeout, in sequence.
    same_namespace(
        "HTTPRouteRequestTimeout",
        "httproute-timeout-request",
        "request-timeout",
        &[
            get("/request-timeout").to_ns("", INFRA),
            get("/request-timeout?delay=1s").status(504),
            get("/disable-request-timeout?delay=1s").to_ns("", INFRA),
        ],
    )
    .await;
    same_namespace(
        "HTTPRouteBackendRequestTimeout",
        "httproute-timeout-backend-request",
        "backend-request-timeout",
        &[
            get("/backend-timeout").to_ns("", INFRA),
            get("/backend-timeout?delay=1s").status(504),
            get("/disable-backend-timeout?delay=1s").to_ns("", INFRA),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_named_rule() {
    same_namespace(
        "HTTPRouteNamedRule",
        "httproute-named-rule",
        "http-named-rules",
        &[
            get("/named").to_ns("", INFRA),
            get("/unnamed").to_ns("", INFRA),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_listener_port_matching() {
    let gw = "httproute-listener-port-matching";
    let c = Conformance::start(&[gw]).await;
    let replica = c.serve(&[gw]).await;
    let mut report = Report::new("HTTPRouteListenerPortMatching");
    let routes = [
        (INFRA, "backend-v1"),
        (INFRA, "backend-v2"),
        (INFRA, "backend-v3"),
    ];
    accepted(&c, &mut report, gw, &routes, true).await;
    // Each request goes to the Gateway's port that its Host names (80 when none).
    for (i, (port, case)) in [
        (80, get("/").host("foo.com").to(V1)),
        (8080, get("/").host("foo.com:8080").to(V2)),
        (8080, get("/").host("bar.com:8080").to(V2)),
        (8090, get("/").host("foo.com:8090").to(V3)),
        (8090, get("/").host("bar.com:8090").status(404)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut one = Report::new("");
        one.run_cases(&replica.addr(port), &[case]).await;
        for (name, r) in one.results {
            report.record(format!("{i}{}", name.trim_start_matches('0')), r);
        }
    }
    finish(&report);
}
