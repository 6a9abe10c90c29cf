//! `https` MCP targets: one gateway serves an MCP backend on an HTTPS listener with a
//! self-signed certificate, a second gateway federates it as an `mcp` target. The second
//! trusts the certificate only when told to (`SSL_CERT_FILE`, whose certificates mcp-mux adds
//! to the built-in webpki roots): without it the target fails with a certificate error
//! instead of being reached.

use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::json;

use crate::mcp::{demo_target, mcp_config, step, ROUTES};
use e2e::{bind, self_signed, Gateway};

/// A gateway serving the demo stdio target's tools over HTTPS at `/mcp`; and its cert's path.
async fn https_mcp_server() -> (Gateway, std::path::PathBuf) {
    let (cert, key) = self_signed();
    let listener = "name: tls\nprotocol: HTTPS\ntls: { cert: cert.pem, key: key.pem }";
    let plain = mcp_config("failClosed", &demo_target());
    let backends = &plain[plain.find("\nbackends:").expect("backends section") + 1..];
    let config = format!("binds:\n{}{backends}", bind("port", &[(listener, ROUTES)]));
    let gw = Gateway::start_with(&config, move |dir| {
        std::fs::write(dir.join("cert.pem"), &cert).expect("cert");
        std::fs::write(dir.join("key.pem"), &key).expect("key");
    })
    .await;
    let cert_path = gw.dir().join("cert.pem");
    (gw, cert_path)
}

fn secure_target(port: u16) -> String {
    format!("- {{ name: secure, mcp: {{ url: \"https://localhost:{port}/mcp\" }}, timeout: 10s }}")
}

#[tokio::test]
async fn an_https_target_is_reached_when_its_certificate_is_trusted() {
    let (server, cert) = https_mcp_server().await;
    let front = Gateway::start_with_env(
        &mcp_config("failClosed", &secure_target(server.port())),
        |_| {},
        &[("SSL_CERT_FILE", cert.display().to_string())],
    )
    .await;
    let transport = StreamableHttpClientTransport::from_uri(front.url("/mcp"));
    let client = step("initialize", ().serve(transport))
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}\n{}", front.stderr()));
    let tools = step("tools/list", client.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}\n{}", front.stderr()));
    assert!(
        tools.iter().any(|t| t.name == "echo"),
        "one target, names unchanged: {:?}",
        tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
    );
    let args = json!({"message": "over tls"});
    let r = step(
        "call echo",
        client.call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("call echo: {e}\n{}", front.stderr()));
    let text = r
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone());
    assert_eq!(text.as_deref(), Some("over tls"));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn an_https_target_with_an_untrusted_certificate_fails_clearly() {
    let (server, _cert) = https_mcp_server().await;
    let front = Gateway::start(&mcp_config("failClosed", &secure_target(server.port()))).await;
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let post = |body: String, session: Option<String>| {
        let mut req = e2e::client()
            .post(front.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.body(body).send()
    };
    let r = step("initialize", post(init.to_owned(), None))
        .await
        .expect("initialize");
    let session = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_owned();
    let body = step("tools/list", post(list, session))
        .await
        .expect("tools/list")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("\"error\""),
        "failClosed: the list fails: {body}"
    );
    assert!(
        body.contains("secure"),
        "the error names the target: {body}"
    );
    let says_why =
        |log: &str| log.to_lowercase().contains("certificate") || log.contains("UnknownIssuer");
    let log = front.stderr_once(says_why).await;
    assert!(says_why(&log), "the log says why (certificate): {log}");
}
