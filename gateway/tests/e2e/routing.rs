//! Route selection: precedence, hostnames, listeners, weights.

use e2e::{bind, client, routes_config};

use crate::{assert_requests_total, get, start_gateway, upstream_errors};

/// Routes of `main`, each to an upstream of its own.
const PRECEDENCE: &str = r#"
# Less specific routes come first in the file, so file order cannot explain the results.
- name: regex
  matches: [{ path: { regex: "/r/[0-9]+" } }]
  backends: [{ host: "{regex}" }]
- name: r-prefix
  matches: [{ path: { prefix: /r } }]
  backends: [{ host: "{r_prefix}" }]
- name: api
  matches: [{ path: { prefix: /api } }]
  backends: [{ host: "{api}" }]
- name: api-v1
  matches: [{ path: { prefix: /api/v1/ } }]
  backends: [{ host: "{api_v1}" }]
- name: items
  matches: [{ path: { exact: /api/v1/items } }]
  backends: [{ host: "{items}" }]
- name: m-any
  matches: [{ path: { prefix: /m } }]
  backends: [{ host: "{m_any}" }]
- name: m-post
  matches: [{ path: { prefix: /m }, method: POST }]
  backends: [{ host: "{m_post}" }]
- name: h-none
  matches: [{ path: { prefix: /h } }]
  backends: [{ host: "{h_none}" }]
- name: h-one
  matches: [{ path: { prefix: /h }, headers: [{ name: x-a, value: "1" }] }]
  backends: [{ host: "{h_one}" }]
- name: h-two
  matches:
  - path: { prefix: /h }
    headers: [{ name: X-A, value: "1" }, { name: x-b, regex: "b+" }]
  backends: [{ host: "{h_two}" }]
- name: q-none
  matches: [{ path: { prefix: /q } }]
  backends: [{ host: "{q_none}" }]
- name: q-v2
  matches: [{ path: { prefix: /q }, query: [{ name: v, value: "2" }] }]
  backends: [{ host: "{q_v2}" }]
"#;

const NAMES: [&str; 12] = [
    "regex", "r_prefix", "api", "api_v1", "items", "m_any", "m_post", "h_none", "h_one", "h_two",
    "q_none", "q_v2",
];

#[tokio::test]
async fn route_precedence() {
    let (ups, gw) = start_gateway(&NAMES, &routes_config(PRECEDENCE)).await;
    let c = client();
    let who = |path: &'static str| {
        let c = c.clone();
        let url = gw.url(path);
        async move { get(&c, &url).await }
    };
    // Exact beats prefix; the longer prefix beats the shorter; prefixes are segment-aware.
    assert_eq!(who("/api/v1/items").await, (200, "items".into()));
    assert_eq!(who("/api/v1/items/x").await, (200, "api_v1".into()));
    assert_eq!(who("/api/v1").await, (200, "api_v1".into()));
    assert_eq!(who("/api/v1x").await, (200, "api".into()));
    assert_eq!(who("/api").await, (200, "api".into()));
    assert_eq!(who("/api/x?y=1").await, (200, "api".into()));
    let (status, body) = who("/apix").await;
    assert_eq!(status, 404, "/apix must not match prefix /api: {body}");
    assert!(
        body.contains("no route matched GET /apix"),
        "404 body: {body:?}"
    );
    // Regex is anchored on the whole path, and beats a prefix (exact, then regex, then prefix).
    assert_eq!(who("/r/123").await, (200, "regex".into()));
    assert_eq!(who("/r/abc").await, (200, "r_prefix".into()));
    assert_eq!(who("/r/123/x").await, (200, "r_prefix".into()));

    // Dot segments are removed before routing (reqwest would resolve them itself: raw TCP).
    let mut conn = e2e::RawConn::connect(gw.addr()).await;
    for (path, status, body) in [
        ("/api/../secret", 404, "no route matched GET /secret"),
        ("/api/%2e%2e/secret", 404, "no route matched GET /secret"),
        ("/api/./v1/items", 200, "items"),
        ("/x/../api/v1/items", 200, "items"),
    ] {
        let r = conn.get(path).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert!(r.body.contains(body), "{path}: {r:?}");
    }
    assert_eq!(
        ups[4].last().uri,
        "/api/v1/items",
        "the normalized path goes upstream"
    );

    // A method condition beats none.
    let r = c.post(gw.url("/m/x")).body("b").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "m_post");
    assert_eq!(who("/m/x").await, (200, "m_any".into()));

    // More header conditions beat fewer; header names are case-insensitive.
    let h = |a: Option<&'static str>, b: Option<&'static str>| {
        let mut rb = c.get(gw.url("/h"));
        if let Some(a) = a {
            rb = rb.header("x-a", a);
        }
        if let Some(b) = b {
            rb = rb.header("x-b", b);
        }
        async move { rb.send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(h(Some("1"), Some("bbb")).await, "h_two");
    assert_eq!(h(Some("1"), Some("c")).await, "h_one");
    assert_eq!(h(Some("1"), None).await, "h_one");
    assert_eq!(h(Some("2"), Some("b")).await, "h_none");
    assert_eq!(h(None, None).await, "h_none");

    // Query conditions.
    assert_eq!(who("/q?v=2").await, (200, "q_v2".into()));
    assert_eq!(who("/q?a=1&v=2").await, (200, "q_v2".into()));
    assert_eq!(who("/q?v=3").await, (200, "q_none".into()));
    assert_eq!(who("/q").await, (200, "q_none".into()));

    // No match: 404 naming method and path.
    let r = c.delete(gw.url("/nothing/here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("no route matched DELETE /nothing/here"));
}

#[tokio::test]
async fn route_hostnames_and_listener_hostnames() {
    let names = ["exact", "wild", "any", "api_l", "fallback_l", "only"];
    let main = r#"
- name: any
  backends: [{ host: "{any}" }]
- name: wild
  hostnames: ["*.example.test"]
  backends: [{ host: "{wild}" }]
- name: exact
  hostnames: [a.example.test]
  backends: [{ host: "{exact}" }]
"#;
    // Listeners with a hostname, each with one route `r` to the upstream `{NAME}`.
    let to = |name: &str| format!("- name: r\n  backends: [{{ host: \"{{{name}}}\" }}]");
    let cfg = routes_config(main)
        + &bind(
            "port2",
            &[
                ("name: fallback\nhostname: \"*\"", &to("fallback_l")),
                ("name: api\nhostname: api.test", &to("api_l")),
            ],
        )
        + &bind("port3", &[("name: only\nhostname: only.test", &to("only"))]);
    let (ups, gw) = start_gateway(&names, &cfg).await;
    let c = client();
    let with_host = |port: u16, host: &'static str| {
        let rb = c
            .get(format!("http://127.0.0.1:{port}/p"))
            .header("host", host);
        async move {
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let p = gw.port();
    assert_eq!(with_host(p, "a.example.test").await.1, "exact");
    assert_eq!(with_host(p, "A.Example.Test:8080").await.1, "exact");
    assert_eq!(with_host(p, "b.example.test").await.1, "wild");
    assert_eq!(with_host(p, "example.test").await.1, "any");
    assert_eq!(with_host(p, "other.test").await.1, "any");

    let p2 = gw.port_of("port2");
    assert_eq!(with_host(p2, "api.test").await.1, "api_l");
    assert_eq!(with_host(p2, "www.test").await.1, "fallback_l");
    let m = gw.metrics().await;
    assert_requests_total(&m, "api/r", 200, 1);
    assert_requests_total(&m, "fallback/r", 200, 1);

    let p3 = gw.port_of("port3");
    assert_eq!(with_host(p3, "only.test").await.1, "only");
    let (status, body) = with_host(p3, "else.test").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(ups[5].hits(), 1);
}

#[tokio::test]
async fn weighted_backends() {
    let names = ["heavy", "light", "zero", "z1", "z2"];
    let cfg = routes_config(
        r#"
- name: split
  matches: [{ path: { prefix: /split } }]
  backends:
  - { host: "{heavy}", weight: 3 }
  - { host: "{light}", weight: 1 }
  - { host: "{zero}", weight: 0 }
- name: none
  matches: [{ path: { prefix: /none } }]
  backends:
  - { host: "{z1}", weight: 0 }
  - { host: "{z2}", weight: 0 }
"#,
    );
    let (ups, gw) = start_gateway(&names, &cfg).await;
    let c = client();
    let (mut heavy, mut light) = (0, 0);
    for _ in 0..200 {
        match get(&c, &gw.url("/split")).await.1.as_str() {
            "heavy" => heavy += 1,
            "light" => light += 1,
            other => panic!("unexpected backend {other}"),
        }
    }
    // Expected 150:50; the bounds are about 5 standard deviations wide.
    assert!((120..=180).contains(&heavy), "heavy {heavy}, light {light}");
    assert_eq!(heavy + light, 200);
    assert_eq!(ups[2].hits(), 0, "a weight-0 backend got traffic");

    let (status, body) = get(&c, &gw.url("/none")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("weight 0"), "{body}");
    assert_eq!(ups[3].hits() + ups[4].hits(), 0);
    assert_eq!(upstream_errors(&gw, "main/none", "no_backend").await, 1.0);
}

/// A backend that refuses connections five times in a row leaves the rotation; with no other
/// backend left the route answers 503 instead of trying it again.
#[tokio::test]
async fn refusing_backends_are_ejected() {
    let (dead_port, _dead_socket) = e2e::refused_port();
    let dead = format!("127.0.0.1:{dead_port}");
    let cfg = routes_config(&format!(
        r#"
- name: mixed
  matches: [{{ path: {{ prefix: /mixed }} }}]
  backends:
  - {{ host: "{dead}", weight: 1 }}
  - {{ host: "{{live}}", weight: 1 }}
- name: alone
  matches: [{{ path: {{ prefix: /alone }} }}]
  backends: [{{ host: "{dead}" }}]
"#
    ));
    let (ups, gw) = start_gateway(&["live"], &cfg).await;
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(get(&c, &gw.url("/mixed")).await.0);
    }
    let bad = statuses.iter().filter(|s| **s == 502).count();
    assert_eq!(
        bad, 5,
        "exactly the failures that eject the dead backend: {statuses:?}"
    );
    assert!(
        statuses[statuses.len() - 20..].iter().all(|s| *s == 200),
        "{statuses:?}"
    );
    assert_eq!(ups[0].hits(), 55);

    for _ in 0..5 {
        assert_eq!(get(&c, &gw.url("/alone")).await.0, 502);
    }
    let (status, body) = get(&c, &gw.url("/alone")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ejected"), "{body}");
}

/// A `status:` entry answers its share itself (the Kubernetes source's 500 for a backendRef
/// that does not resolve), also to a request with a body, and the connection stays usable.
#[tokio::test]
async fn status_entries_answer_their_share() {
    let cfg = routes_config(
        r#"
- name: half
  matches: [{ path: { prefix: /half } }]
  backends:
  - { host: "{up}", weight: 1 }
  - { status: 500, weight: 1 }
- name: broken
  matches: [{ path: { prefix: /broken } }]
  backends: [{ status: 500 }]
"#,
    );
    let (ups, gw) = start_gateway(&["up"], &cfg).await;
    let c = client();
    let (mut up, mut failed) = (0, 0);
    for _ in 0..100 {
        let (status, body) = get(&c, &gw.url("/half")).await;
        match status {
            200 => up += 1,
            500 => failed += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(up + failed, 100);
    // Expected 50:50; the bounds are about 5 standard deviations wide.
    assert!((25..=75).contains(&up), "up {up}, 500 {failed}");
    assert_eq!(ups[0].hits(), up);
    for _ in 0..3 {
        let resp = c
            .post(gw.url("/broken"))
            .body(vec![b'x'; 100_000])
            .send()
            .await
            .expect("response");
        assert_eq!(resp.status().as_u16(), 500);
        assert!(resp
            .text()
            .await
            .expect("body")
            .contains("does not resolve"));
    }
}
