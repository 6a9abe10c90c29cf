//! WebSocket upgrades on HTTP routes: a real WebSocket client (tokio-tungstenite) through the
//! real gateway to a real WebSocket server, and upstreams that refuse the upgrade.

use std::time::Duration;

use e2e::{fill, routes_config, Gateway, Upstream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::STEP;

/// A WebSocket server on 127.0.0.1:0 that echoes text and binary messages, answers the close
/// handshake and says `x-ws-server: echo` in its 101. Returns its address.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) =
                    tokio_tungstenite::accept_hdr_async(stream, add_server_header).await
                else {
                    return;
                };
                // A close frame is answered by tungstenite itself; the stream then ends.
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Says `x-ws-server: echo` in the server's 101. The signature is tungstenite's callback's,
/// whose error (an HTTP response) is large.
#[allow(clippy::result_large_err)]
fn add_server_header(_: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    resp.headers_mut()
        .insert("x-ws-server", http::HeaderValue::from_static("echo"));
    Ok(resp)
}

/// The next message from `ws`, bounded by [`STEP`].
async fn next<S>(ws: &mut S, what: &str) -> Option<Result<Message, tungstenite::Error>>
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(STEP, ws.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
}

#[tokio::test]
async fn websocket_messages_echo_through_a_route_and_close_cleanly() {
    let server = echo_server().await;
    let mirror = Upstream::start("mirror").await;
    let cfg = fill(
        &routes_config(
            r#"
- name: ws
  matches: [{ path: { prefix: /ws } }]
  policies:
    requestMirror: { backend: { host: "{mirror}" }, percentage: 100 }
    responseHeaderModifier: { set: { x-route: ws } }
  backends: [{ host: "{server}" }]
"#,
        ),
        &[
            ("server".into(), server.to_string()),
            ("mirror".into(), mirror.host()),
        ],
    );
    let gw = Gateway::start(&cfg).await;
    let url = format!("ws://127.0.0.1:{}/ws/echo", gw.port());
    let (mut ws, resp) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(&url))
        .await
        .expect("the handshake timed out")
        .unwrap_or_else(|e| panic!("handshake through the gateway: {e}\n{}", gw.stderr()));
    assert_eq!(resp.status(), 101);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("x-ws-server"), "echo", "the upstream's 101 headers");
    assert_eq!(header("x-route"), "ws", "the route's response headers");
    assert!(header("upgrade").eq_ignore_ascii_case("websocket"));

    let big: String = "0123456789".repeat(20_000);
    let messages = [
        Message::text("hello through the gateway"),
        Message::binary(vec![0u8, 1, 2, 254, 255]),
        Message::text(big),
        Message::binary(vec![7u8; 70_000]),
    ];
    for m in messages {
        tokio::time::timeout(STEP, ws.send(m.clone()))
            .await
            .expect("send timed out")
            .expect("send");
        match next(&mut ws, "echo").await {
            Some(Ok(echo)) => assert_eq!(echo, m, "the echo differs"),
            other => panic!("no echo: {other:?}"),
        }
    }

    tokio::time::timeout(STEP, ws.close(None))
        .await
        .expect("close timed out")
        .expect("close");
    match next(&mut ws, "the server's close frame").await {
        Some(Ok(Message::Close(_))) | None => {}
        other => panic!("expected the close handshake, got {other:?}"),
    }
    assert!(
        next(&mut ws, "the end of the stream").await.is_none(),
        "the stream goes on after the close handshake"
    );
    // The client closes its TCP connection too; the tunnel ends when both sides have.
    drop(ws);

    let ended = gw
        .wait_metric(
            "switchboard_upgrades_total",
            &[("route", "main/ws"), ("result", "ok")],
            1.0,
            STEP,
        )
        .await;
    assert_eq!(ended, 1.0, "{}", gw.metrics().await);
    let m = gw.metrics().await;
    crate::assert_requests_total(&m, "main/ws", 101, 1);
    assert_eq!(
        e2e::metric_value(&m, "switchboard_active_connections", &[]),
        Some(0.0),
        "the tunnel is no longer counted open: {m}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mirror.arrivals(), 0, "an upgrade request was mirrored");
}

#[tokio::test]
async fn an_upstream_that_refuses_the_upgrade_answers_the_client() {
    let up = Upstream::start("plain").await;
    let cfg = fill(
        &routes_config(
            r#"
- name: plain
  policies: { retry: { attempts: 2, codes: [503] } }
  backends: [{ host: "{up}" }]
"#,
        ),
        &[("up".into(), up.host())],
    );
    let gw = Gateway::start(&cfg).await;
    for (query, status) in [("", 200), ("?status=400", 400), ("?status=503", 503)] {
        let url = format!("ws://127.0.0.1:{}/chat{query}", gw.port());
        let hits = up.hits();
        let err = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(&url))
            .await
            .expect("the handshake timed out")
            .map(|_| ())
            .expect_err("an upstream without WebSocket cannot upgrade");
        let tungstenite::Error::Http(resp) = err else {
            panic!("{url}: expected the upstream's HTTP answer, got {err}");
        };
        assert_eq!(resp.status(), status, "{url}");
        assert_eq!(
            resp.headers().get("x-upstream").map(|v| v.as_bytes()),
            Some(&b"plain"[..]),
            "{url}: the upstream's own answer"
        );
        let body = resp.body().as_deref().unwrap_or_default();
        assert_eq!(body, b"plain", "{url}: the upstream's body");
        assert_eq!(
            up.hits(),
            hits + 1,
            "{url}: an upgrade request is sent once, never retried"
        );
        let seen = up.last();
        assert!(
            seen.header("upgrade").eq_ignore_ascii_case("websocket")
                && seen.header("connection").eq_ignore_ascii_case("upgrade"),
            "{url}: the upgrade headers did not reach the upstream: {:?}",
            seen.headers
        );
    }
}
