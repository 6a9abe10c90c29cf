//! Tests of [`super`]: answers of each kind from a local server, limits, `SSL_CERT_FILE`.

use super::*;
use futures_util::StreamExt as _;
use rmcp::model::{ClientNotification, InitializedNotification, PingRequest, RequestId};

/// A server on 127.0.0.1 that answers every request with `status`, `content_type`, `body`
/// and the header `mcp-session-id: s1`; its URL.
async fn server(status: u16, content_type: Option<&'static str>, body: &'static str) -> Arc<str> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || async move {
        let mut r = http::Response::new(axum::body::Body::from(body));
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r.headers_mut()
            .insert(HEADER_SESSION_ID, HeaderValue::from_static("s1"));
        if let Some(ct) = content_type {
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        r
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.into()
}

fn client() -> McpHttpClient {
    McpHttpClient::new(Duration::from_secs(5), None)
}

fn ping() -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::request(
        ClientRequest::PingRequest(PingRequest::default()),
        RequestId::Number(1),
    )
}

async fn post(url: Arc<str>, message: ClientJsonRpcMessage, session: bool) -> PostResult {
    let session = session.then(|| Arc::from("s0"));
    client()
        .post_message(url, message, session, None, HashMap::new())
        .await
}

#[tokio::test]
async fn json_sse_and_accepted_answers() {
    let body = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
    let url = server(200, Some("Application/JSON; charset=utf-8"), body).await;
    match post(url, ping(), false).await {
        Ok(StreamableHttpPostResponse::Json(_, Some(s))) => assert_eq!(s, "s1"),
        other => panic!("{other:?}"),
    }
    let url = server(200, Some("text/event-stream"), "id: 7\ndata: {\"a\":1}\n\n").await;
    let Ok(StreamableHttpPostResponse::Sse(mut events, _)) = post(url, ping(), false).await else {
        panic!("not SSE")
    };
    let event = events.next().await.unwrap().unwrap();
    assert_eq!(event.data.as_deref(), Some("{\"a\":1}"));
    assert_eq!(event.id.as_deref(), Some("7"));
    let url = server(202, None, "").await;
    assert!(matches!(
        post(url, ping(), true).await,
        Ok(StreamableHttpPostResponse::Accepted)
    ));
    let note = ClientJsonRpcMessage::notification(ClientNotification::InitializedNotification(
        InitializedNotification::default(),
    ));
    let url = server(200, Some("text/plain"), "ok").await;
    assert!(matches!(
        post(url, note, true).await,
        Ok(StreamableHttpPostResponse::Accepted)
    ));
}

#[tokio::test]
async fn failures_keep_their_meaning() {
    let url = server(404, None, "").await;
    assert!(matches!(
        post(url, ping(), true).await,
        Err(StreamableHttpError::SessionExpired)
    ));
    let url = server(503, Some("text/plain"), "down").await;
    assert!(matches!(
        post(url, ping(), true).await,
        Err(StreamableHttpError::HttpStatus(e)) if e.status == 503
    ));
    let error = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"no"}}"#;
    let url = server(500, Some("application/json"), error).await;
    assert!(matches!(
        post(url, ping(), true).await,
        Ok(StreamableHttpPostResponse::Json(
            ServerJsonRpcMessage::Error(_),
            _
        ))
    ));
    let url = server(400, Some("text/html"), "<b>bad</b>").await;
    assert!(matches!(
        post(url.clone(), ping(), true).await,
        Err(StreamableHttpError::UnexpectedServerResponse(m)) if m.contains("<b>bad</b>")
    ));
    let mut headers = HashMap::new();
    headers.insert(
        HeaderName::from_static("mcp-session-id"),
        HeaderValue::from_static("x"),
    );
    let r = client()
        .post_message(url, ping(), None, None, headers)
        .await;
    assert!(matches!(
        r,
        Err(StreamableHttpError::ReservedHeaderConflict(_))
    ));
}

/// A target nobody listens on fails with a client error that says the call never left, so
/// the caller may send it elsewhere or again; one that answers is not `unsent`.
#[tokio::test]
async fn a_refused_connection_is_unsent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url: Arc<str> = format!("http://{}/mcp", listener.local_addr().unwrap()).into();
    drop(listener);
    match post(url, ping(), true).await {
        Err(StreamableHttpError::Client(e)) => {
            assert!(e.unsent(), "{e}");
            assert!(e.to_string().contains("refused"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_sse_event_ends_the_stream() {
    let url = server(200, Some("text/event-stream"), "data: 0123456789abcdef\n\n").await;
    let mut events = client()
        .get_stream_with_max_sse_event_size(url, None, None, None, HashMap::new(), 8)
        .await
        .unwrap();
    assert!(events.next().await.unwrap().is_err());
    assert!(events.next().await.is_none());
}

#[test]
fn event_size_counts_like_the_parser() {
    let mut size = EventSize::new(12);
    // 11 retained bytes, then a blank line ends the event.
    assert!(size.observe(b"data: 1234\r\n\r\n"));
    assert!(size.observe(b"data: 1234\n"));
    assert!(!size.observe(b"data: 5\n"));
}

#[test]
fn scope_is_read_quoted_or_not() {
    let quoted = r#"Bearer error="insufficient_scope", scope="a b""#;
    assert_eq!(scope_of(quoted).as_deref(), Some("a b"));
    assert_eq!(scope_of("Bearer scope=read, x=1").as_deref(), Some("read"));
    assert_eq!(scope_of("Bearer"), None);
}

/// Calls reuse one kept-alive connection (with Nagle on at the server, as `axum::serve`
/// leaves it: see `connector` for why that is safe).
#[tokio::test]
async fn sequential_posts_share_one_connection() {
    use axum::serve::ListenerExt as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url: Arc<str> = format!("http://{}/mcp", listener.local_addr().unwrap()).into();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let app = axum::Router::new().fallback(|| async {
        let mut r = http::Response::new(axum::body::Body::from(
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        ));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client();
    for _ in 0..5 {
        let r = client
            .post_message(url.clone(), ping(), None, None, HashMap::new())
            .await;
        assert!(matches!(r, Ok(StreamableHttpPostResponse::Json(..))));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn redirects_are_followed_only_within_the_origin() {
    let from: Uri = "http://127.0.0.1:8080/mcp".parse().unwrap();
    let at = |location: &'static str| {
        let mut h = HeaderMap::new();
        h.insert(LOCATION, HeaderValue::from_static(location));
        same_origin_location(&from, &h).map(|u| u.to_string())
    };
    assert_eq!(
        at("/v2/mcp").as_deref(),
        Some("http://127.0.0.1:8080/v2/mcp")
    );
    assert_eq!(
        at("http://127.0.0.1:8080/x").as_deref(),
        Some("http://127.0.0.1:8080/x")
    );
    assert_eq!(at("http://127.0.0.1:8081/x"), None);
    assert_eq!(at("https://127.0.0.1:8080/x"), None);
    assert_eq!(at("//evil.example/x"), None);
    let from: Uri = "https://a.example/mcp".parse().unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        LOCATION,
        HeaderValue::from_static("https://A.example:443/m"),
    );
    assert!(same_origin_location(&from, &h).is_some());
}

/// Once rmcp's transport has opened a session through this client, the session's route is
/// known, so calls can join the session directly.
#[tokio::test]
async fn the_session_rmcp_opens_is_recorded() {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpClientTransport, StreamableHttpServerConfig};
    use rmcp::ServiceExt as _;

    #[derive(Clone)]
    struct Empty;
    impl rmcp::ServerHandler for Empty {}

    let svc = rmcp::transport::StreamableHttpService::new(
        || Ok(Empty),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().nest_service("/mcp", svc);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = client();
    assert!(http.session_route().is_none());
    let transport = StreamableHttpClientTransport::with_client(
        http.clone(),
        StreamableHttpClientTransportConfig::with_uri(url.as_str()),
    );
    let running = ().serve(transport).await.unwrap();
    let route = http.session_route().expect("the session is recorded");
    assert!(route.session_id.is_some());
    let _ = running.cancel().await;
}
