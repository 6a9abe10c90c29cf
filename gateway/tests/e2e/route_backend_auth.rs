//! `policies.backendAuth` on HTTP routes and their backends: static keys replace the client's
//! header and stay off mirrored copies, a backend's `passthrough` undoes its route's key,
//! OAuth2 tokens come from a loopback token endpoint (a refused one is replaced, and the request
//! sent once more when its body can be), and a token endpoint that is down is a 502 counted as
//! `backend_auth`.

use axum::routing::any;

use e2e::{client, routes_config, Gateway};

use crate::mcp_backend_auth::{guarded, lock, Shared, CLIENT_ID, CLIENT_SECRET};
use crate::{get_with, start_gateway, upstream_errors};

#[tokio::test]
async fn keys_replace_the_clients_header_for_the_backend_only() {
    let cfg = routes_config(
        r#"
- name: key
  matches: [{ path: { prefix: /key } }]
  policies:
    backendAuth: { key: { header: x-api-key, value: k-route } }
    requestMirror: { backend: { host: "{mirror}" }, percentage: 100 }
  backends: [{ host: "{main}" }]
- name: bearer
  matches: [{ path: { prefix: /bearer } }]
  policies: { backendAuth: { key: tok-static } }
  backends: [{ host: "{main}" }]
- name: pass
  matches: [{ path: { prefix: /pass } }]
  policies: { backendAuth: { key: tok-static } }
  backends: [{ host: "{main}", policies: { backendAuth: { passthrough: {} } } }]
"#,
    );
    let (ups, gw) = start_gateway(&["main", "mirror"], &cfg).await;
    let (main, mirror) = (&ups[0], &ups[1]);
    let c = client();

    let r = get_with(&c, &gw.url("/key/a"), &[("x-api-key", "client-key")]).await;
    assert_eq!(r.status(), 200);
    let seen = main.last();
    assert_eq!(seen.header("x-api-key"), "k-route");
    assert_eq!(seen.headers.get_all("x-api-key").iter().count(), 1);
    assert_eq!(
        mirror.wait_hits(1, std::time::Duration::from_secs(5)).await,
        1
    );
    assert_eq!(
        mirror.last().header("x-api-key"),
        "client-key",
        "the mirror gets the request as the client sent it, not the backend's key"
    );

    let r = get_with(
        &c,
        &gw.url("/bearer"),
        &[("authorization", "Bearer client")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(main.last().header("authorization"), "Bearer tok-static");

    let r = get_with(&c, &gw.url("/pass"), &[("authorization", "Bearer client")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        main.last().header("authorization"),
        "Bearer client",
        "the backend's passthrough undoes the route's key"
    );
}

/// An HTTP API at `/api` behind the OAuth2 guard, with its token endpoint at `/token`.
async fn guarded_api() -> (String, Shared) {
    let (addr, idp) = guarded(axum::Router::new().route("/api", any(|| async { "ok" }))).await;
    (addr.to_string(), idp)
}

#[tokio::test]
async fn oauth2_tokens_reach_the_backend_and_a_refused_one_is_replaced() {
    let (api, idp) = guarded_api().await;
    let (dead, _dead_socket) = e2e::refused_port();
    let oauth2 = |token_url: &str| {
        format!(
            "{{ oauth2: {{ tokenUrl: \"{token_url}\", clientId: {CLIENT_ID}, \
             clientSecret: {CLIENT_SECRET}, scopes: [mcp.tools] }} }}"
        )
    };
    let cfg = routes_config(&format!(
        r#"
- name: api
  matches: [{{ path: {{ prefix: /api }} }}]
  policies: {{ backendAuth: {} }}
  backends: [{{ host: "{api}" }}]
- name: down
  matches: [{{ path: {{ prefix: /down }} }}]
  policies: {{ backendAuth: {}, urlRewrite: {{ path: {{ full: /api }} }} }}
  backends: [{{ host: "{api}" }}]
"#,
        oauth2(&format!("http://{api}/token")),
        oauth2(&format!("http://127.0.0.1:{dead}/token")),
    ));
    let gw = Gateway::start(&cfg).await;
    let c = client();
    let status = |r: reqwest::Response| r.status().as_u16();

    for _ in 0..3 {
        assert_eq!(status(get_with(&c, &gw.url("/api"), &[]).await), 200);
    }
    assert_eq!(lock(&idp).issued, ["tok-1"], "one token for every request");
    assert!(lock(&idp).seen.iter().all(|a| a == "Bearer tok-1"));

    // The API stops accepting tok-1: a request whose body can be sent again (none here) is
    // sent once more with tok-2, and the client never sees the 401.
    lock(&idp).valid.clear();
    assert_eq!(status(get_with(&c, &gw.url("/api"), &[]).await), 200);
    assert_eq!(lock(&idp).issued, ["tok-1", "tok-2"]);
    let tail: Vec<String> = lock(&idp).seen.iter().rev().take(2).cloned().collect();
    assert_eq!(tail, ["Bearer tok-2", "Bearer tok-1"]);

    // A streamed body cannot be sent twice: that request gets the 401, the next one tok-3.
    lock(&idp).valid.clear();
    let chunks = [Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"payload",
    ))];
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = c.post(gw.url("/api")).body(streamed).send().await;
    assert_eq!(r.expect("POST /api").status(), 401);
    assert_eq!(status(get_with(&c, &gw.url("/api"), &[]).await), 200);
    assert_eq!(lock(&idp).issued, ["tok-1", "tok-2", "tok-3"]);
    assert_eq!(
        lock(&idp).seen.last().map(String::as_str),
        Some("Bearer tok-3")
    );

    let seen_before = lock(&idp).seen.len();
    let r = get_with(&c, &gw.url("/down"), &[]).await;
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap_or_default();
    assert!(
        body.contains("no credential for upstream") && body.contains("token endpoint"),
        "{body}"
    );
    assert_eq!(
        lock(&idp).seen.len(),
        seen_before,
        "nothing was sent without a token"
    );
    assert_eq!(upstream_errors(&gw, "main/down", "backend_auth").await, 1.0);
}
