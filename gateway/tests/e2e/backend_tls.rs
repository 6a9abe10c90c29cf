//! `https` backends trusted through `SSL_CERT_FILE` (netkit's one TLS trust): a route with
//! `backendTLS`, an OpenAPI target whose `baseUrl` is https, an A2A target at an https URL.
//! The HTTPS server is a second gateway with a self-signed certificate (for `localhost` and
//! `127.0.0.1`) in front of a plain server; the gateway under test trusts it only when
//! `SSL_CERT_FILE` names that certificate.

use std::net::SocketAddr;

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;

use crate::mcp::{mcp_config, step};
use e2e::{bind, client, routes_config, self_signed, A2aAgent, AgentMode, Gateway, Upstream};

/// A gateway serving HTTPS (self-signed) in front of the plain `host:port` `plain`; and the
/// path of its certificate.
async fn https_front(plain: &str) -> (Gateway, std::path::PathBuf) {
    let (cert, key) = self_signed();
    let listener = "name: tls\nprotocol: HTTPS\ntls: { cert: cert.pem, key: key.pem }";
    let routes = format!("- name: all\n  backends: [{{ host: \"{plain}\" }}]\n");
    let config = format!("binds:\n{}", bind("port", &[(listener, &routes)]));
    let gw = Gateway::start_with(&config, move |dir| {
        std::fs::write(dir.join("cert.pem"), &cert).expect("cert");
        std::fs::write(dir.join("key.pem"), &key).expect("key");
    })
    .await;
    let cert_path = gw.dir().join("cert.pem");
    (gw, cert_path)
}

fn trusting(cert: &std::path::Path) -> [(&'static str, String); 1] {
    [("SSL_CERT_FILE", cert.display().to_string())]
}

/// A route whose backend is `host` with `backendTLS: tls`.
fn tls_route(host: &str, tls: &str) -> String {
    routes_config(&format!(
        "- name: r\n  backends: [{{ host: \"{host}\", policies: {{ backendTLS: {tls} }} }}]\n"
    ))
}

#[tokio::test]
async fn a_backend_tls_route_reaches_an_https_upstream_trusted_by_ssl_cert_file() {
    let up = Upstream::start("up").await;
    let (server, cert) = https_front(&up.host()).await;
    let c = client();
    // The default name is the host of `host:` (an IP: checked against the IP names).
    let by_ip = format!("127.0.0.1:{}", server.port());
    let gw = Gateway::start_with_env(&tls_route(&by_ip, "{}"), |_| {}, &trusting(&cert)).await;
    let r = c
        .get(gw.url("/over/tls?x=1"))
        .send()
        .await
        .expect("request");
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{body}\n{}", gw.stderr());
    assert_eq!(
        up.last().uri,
        "/over/tls?x=1",
        "reached through the HTTPS hop"
    );
    // `hostname` is sent as SNI and checked instead.
    let named = Gateway::start_with_env(
        &tls_route(&by_ip, "{ hostname: localhost }"),
        |_| {},
        &trusting(&cert),
    )
    .await;
    let r = c.get(named.url("/named")).send().await.expect("request");
    assert_eq!(r.status(), 200, "{}", named.stderr());
    assert_eq!(up.last().uri, "/named");
    let wrong = Gateway::start_with_env(
        &tls_route(&by_ip, "{ hostname: other.test }"),
        |_| {},
        &trusting(&cert),
    )
    .await;
    let r = c.get(wrong.url("/wrong")).send().await.expect("request");
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("certificate"), "names the problem: {body}");
}

#[tokio::test]
async fn a_backend_tls_route_without_the_ca_fails_with_502_naming_the_certificate() {
    let up = Upstream::start("up").await;
    let (server, _cert) = https_front(&up.host()).await;
    let host = format!("localhost:{}", server.port());
    let gw = Gateway::start(&tls_route(&host, "{}")).await;
    let r = client().get(gw.url("/x")).send().await.expect("request");
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap_or_default();
    assert!(
        body.contains("UnknownIssuer") || body.contains("certificate"),
        "the 502 names the certificate problem: {body}"
    );
    assert_eq!(up.hits(), 0, "nothing reached the upstream");
}

/// A `requestMirror` to a named backend with `backendTLS` sends its copies over https with the
/// route backends' client, trusting `SSL_CERT_FILE` like them; the main request is unaffected.
#[tokio::test]
async fn a_mirror_to_a_backend_tls_backend_gets_its_copies_over_https() {
    let main = Upstream::start("main").await;
    let copies = Upstream::start("copies").await;
    let (server, cert) = https_front(&copies.host()).await;
    let config = routes_config(&format!(
        "- name: r\n  policies: {{ requestMirror: {{ backend: {{ backend: secure }} }} }}\n  \
         backends: [{{ host: \"{}\" }}]\n",
        main.host()
    )) + &format!(
        "backends:\n- name: secure\n  host: \"127.0.0.1:{}\"\n  policies: {{ backendTLS: {{}} }}\n",
        server.port()
    );
    let gw = Gateway::start_with_env(&config, |_| {}, &trusting(&cert)).await;
    let r = client()
        .post(gw.url("/copied?x=1"))
        .body("payload")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap_or_default(), "main");
    assert_eq!(
        copies.wait_hits(1, crate::STEP).await,
        1,
        "the copy came through the HTTPS hop\n{}",
        gw.stderr()
    );
    let copy = copies.last();
    assert_eq!(copy.uri, "/copied?x=1");
    assert_eq!(copy.body.as_deref(), Some(&b"payload"[..]));
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn connect(gw: &Gateway) -> Client {
    let transport = StreamableHttpClientTransport::from_uri(gw.url("/mcp"));
    step("initialize", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\nstderr:\n{}", gw.stderr()))
}

#[tokio::test]
async fn an_openapi_target_with_an_https_base_url_trusts_ssl_cert_file() {
    let api: SocketAddr = examples::petstore::spawn().await.expect("petstore server");
    let (server, cert) = https_front(&api.to_string()).await;
    let spec = examples::petstore::spec_dir().join("openapi-3.0.yaml");
    let target = format!(
        "- {{ name: petstore, openapi: {{ spec: \"{}\", baseUrl: \"https://localhost:{}\" }} }}",
        spec.display(),
        server.port()
    );
    let config = mcp_config("failClosed", &target);
    let call = |gw: Gateway| async move {
        let c = connect(&gw).await;
        let tools = step("tools/list", c.list_all_tools())
            .await
            .unwrap_or_else(|e| panic!("tools/list: {e}\n{}", gw.stderr()));
        let list = tools
            .iter()
            .find(|t| t.name.contains("list"))
            .unwrap_or_else(|| panic!("a list tool: {tools:?}"))
            .name
            .to_string();
        let r = step(
            "call",
            c.call_tool(rmcp::model::CallToolRequestParams::new(list)),
        )
        .await
        .unwrap_or_else(|e| panic!("call: {e}\n{}", gw.stderr()));
        let _ = c.cancel().await;
        (r, gw)
    };
    let (trusted, _gw) =
        call(Gateway::start_with_env(&config, |_| {}, &trusting(&cert)).await).await;
    assert_ne!(trusted.is_error, Some(true), "{trusted:?}");
    let (untrusted, _gw) = call(Gateway::start(&config).await).await;
    assert_eq!(untrusted.is_error, Some(true), "{untrusted:?}");
    let text = format!("{untrusted:?}");
    assert!(
        text.contains("certificate") || text.contains("UnknownIssuer"),
        "{text}"
    );
}

#[tokio::test]
async fn an_a2a_target_at_an_https_url_trusts_ssl_cert_file() {
    let agent = A2aAgent::start(AgentMode::Echo).await;
    let plain = agent.base().trim_start_matches("http://").to_owned();
    let (server, cert) = https_front(&plain).await;
    let target = format!(
        "- {{ name: agent, a2a: {{ url: \"https://localhost:{}\" }} }}",
        server.port()
    );
    let config = mcp_config("failClosed", &target);
    let gw = Gateway::start_with_env(&config, |_| {}, &trusting(&cert)).await;
    let c = connect(&gw).await;
    let tools = step("tools/list", c.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}\n{}", gw.stderr()));
    assert!(!tools.is_empty(), "the agent's skills are tools");
    let _ = c.cancel().await;

    let gw = Gateway::start(&config).await;
    let c = connect(&gw).await;
    let listed = step("tools/list", c.list_all_tools()).await;
    assert!(
        listed.is_err(),
        "failClosed: an untrusted agent fails the list"
    );
    let says_why = |log: &str| log.contains("certificate") || log.contains("UnknownIssuer");
    let log = gw.stderr_once(says_why).await;
    assert!(says_why(&log), "the log says why: {log}");
}
