//! Tests of [`super`] against real servers on 127.0.0.1: hyper's HTTP/1.1 server where it
//! behaves as servers do, raw TCP where the test needs a server that misbehaves on purpose.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;
use crate::error_chain;

type Reply = Response<BoxBody<Bytes, Infallible>>;

/// Bounds every wait of these tests: a hang fails instead of blocking the suite.
const LIMIT: Duration = Duration::from_secs(5);

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {LIMIT:?}"))
}

struct Server {
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A hyper HTTP/1.1 server answering every request with `handler`; it counts the connections
/// it accepts.
async fn serve<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let reply = handler(req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Server { url, accepted }
}

fn full(body: impl Into<Bytes>) -> BoxBody<Bytes, Infallible> {
    Full::new(body.into()).boxed()
}

/// Echoes the request's body after `you sent: `.
async fn echo(req: Request<Incoming>) -> Reply {
    let body = req.into_body().collect().await.unwrap().to_bytes();
    Response::new(full([&b"you sent: "[..], &body].concat()))
}

fn client() -> InlineClient<Full<Bytes>> {
    InlineClient::new(HyperOptions::default())
}

fn get(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::default()).unwrap()
}

async fn text(response: Response<InlineBody>) -> String {
    let body = within("body", response.into_body().collect()).await;
    String::from_utf8(body.unwrap().to_bytes().to_vec()).unwrap()
}

#[test]
fn clients_bodies_and_request_futures_can_move_between_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let client = client();
    send_sync(&client);
    send(&client.request(get("http://127.0.0.1:1/")));
    fn body_is_send_and_sync(b: InlineBody) -> impl Send + Sync {
        b
    }
    let _ = body_is_send_and_sync;
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let server = serve(echo).await;
    let client = client();
    for i in 0..5 {
        let request = Request::post(format!("{}/echo", server.url))
            .body(Full::new(Bytes::from(format!("call {i}"))))
            .unwrap();
        let response = within("response", client.request(request)).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(text(response).await, format!("you sent: call {i}"));
    }
    assert_eq!(
        server.accepted(),
        1,
        "every request after the first reuses it"
    );
    assert_eq!(client.idle_connections(), 1);
}

#[tokio::test]
async fn concurrent_requests_open_a_connection_each_then_reuse_them() {
    let server = serve(echo).await;
    let client = client();
    const N: usize = 4;
    for round in 0..2 {
        let calls = (0..N).map(|_| {
            let client = client.clone();
            let url = server.url.clone();
            async move { text(client.request(get(&url)).await.unwrap()).await }
        });
        let answers = within("round", futures_util::future::join_all(calls)).await;
        assert!(answers.iter().all(|a| a == "you sent: "), "{answers:?}");
        assert_eq!(server.accepted(), N, "round {round}");
        assert_eq!(client.idle_connections(), N, "round {round}");
    }
}

/// A server that answers one request per connection with keep-alive, then closes the idle
/// connection (as servers do at their keep-alive timeout) and says so on `closed`.
async fn closing_server() -> (Server, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let (closed_tx, closed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                read_head(&mut tcp).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(tcp);
                let _ = closed_tx.send(());
            });
        }
    });
    (Server { url, accepted }, closed)
}

/// Reads up to the end of a request head (these tests send no request bodies to raw servers).
async fn read_head(tcp: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// The next request after the server closed the idle connection still succeeds, on a new
/// connection: found closed at checkout (`probe`), or, when the close is noticed only once
/// the request is queued on it, by sending the request again.
#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    for probe in [true, false] {
        let (server, mut closed) = closing_server().await;
        let client = InlineClient::<Full<Bytes>>::build(HyperOptions::default(), probe);
        let first = within("first", client.request(get(&server.url)))
            .await
            .unwrap();
        assert_eq!(text(first).await, "ok");
        assert_eq!(client.idle_connections(), 1);
        within("close", closed.recv()).await;
        tokio::time::sleep(Duration::from_millis(50)).await; // the FIN reaches our socket
        let second = within("second", client.request(get(&server.url))).await;
        let second = second.unwrap_or_else(|e| panic!("probe {probe}: {}", error_chain(&e)));
        assert_eq!(text(second).await, "ok");
        assert_eq!(server.accepted(), 2, "probe {probe}");
    }
}

/// A body dropped before its end whose rest comes at once (an SSE answer whose reader stopped
/// at the event it wanted) is read to its end in the background: its connection is reused.
#[tokio::test]
async fn a_body_dropped_before_a_short_end_keeps_its_connection() {
    let server = serve(|_| async {
        let chunks = futures_util::stream::iter(
            [&b"first"[..], &b"second"[..]]
                .map(|c| Ok::<_, Infallible>(Frame::data(Bytes::from(c)))),
        );
        Response::new(StreamBody::new(chunks).boxed())
    })
    .await;
    let client = client();
    let response = within("response", client.request(get(&server.url)))
        .await
        .unwrap();
    let mut body = response.into_body();
    let frame = within("frame", body.frame()).await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    drop(body);
    within("the drained connection back in the pool", async {
        while client.idle_connections() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let again = within("again", client.request(get(&server.url)))
        .await
        .unwrap();
    assert_eq!(text(again).await, "firstsecond");
    assert_eq!(server.accepted(), 1, "the drained connection served again");
}

/// A body dropped before its end whose rest does not come in time, or is too long to read,
/// closes its connection: the unread rest would be the next response's start.
#[tokio::test]
async fn a_body_dropped_before_a_slow_or_long_end_closes_its_connection() {
    let server = serve(|req: Request<Incoming>| async move {
        let slow = req.uri().path() == "/slow";
        let chunks = futures_util::stream::unfold(0, move |step| async move {
            let data = match step {
                0 => Bytes::from_static(b"first"),
                1 if slow => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    Bytes::from_static(b"late")
                }
                1 => Bytes::from(vec![b'x'; 256 << 10]),
                _ => return None,
            };
            Some((Ok::<_, Infallible>(Frame::data(data)), step + 1))
        });
        Response::new(StreamBody::new(chunks).boxed())
    })
    .await;
    let client = client();
    for (n, path) in ["/slow", "/long"].into_iter().enumerate() {
        let url = format!("{}{path}", server.url.trim_end_matches('/'));
        let response = within("response", client.request(get(&url))).await.unwrap();
        let mut body = response.into_body();
        let frame = within("frame", body.frame()).await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "first");
        drop(body);
        // Past the drain's deadline: nothing came back to the pool.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(client.idle_connections(), 0, "{path}: not reused");
        assert_eq!(server.accepted(), n + 1, "{path}: one connection each");
    }
}

/// The first chunk arrives while the server is still holding the rest (SSE depends on it);
/// the server sends the rest only once the test has read the first.
#[tokio::test]
async fn a_streamed_chunk_arrives_before_the_response_ends() {
    let (go_tx, go_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let go_rx = Arc::new(tokio::sync::Mutex::new(go_rx));
    let server = serve(move |_| {
        let go_rx = go_rx.clone();
        async move {
            let chunks = futures_util::stream::unfold(0, move |step| {
                let go_rx = go_rx.clone();
                async move {
                    let data = match step {
                        0 => "data: first\n\n",
                        1 => {
                            go_rx.lock().await.recv().await?;
                            "data: second\n\n"
                        }
                        _ => return None,
                    };
                    Some((
                        Ok::<_, Infallible>(Frame::data(Bytes::from(data))),
                        step + 1,
                    ))
                }
            });
            let mut response = Response::new(StreamBody::new(chunks).boxed());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            response
        }
    })
    .await;
    let client = client();
    let response = within("response", client.request(get(&server.url)))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = within("first chunk", body.frame()).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "data: first\n\n");
    go_tx.send(()).unwrap();
    let second = within("second chunk", body.frame()).await.unwrap().unwrap();
    assert_eq!(second.into_data().unwrap(), "data: second\n\n");
    assert!(within("end", body.frame()).await.is_none());
    assert_eq!(
        client.idle_connections(),
        1,
        "a body read to its end gives it back"
    );
}

/// What a caller keeps with a body (an in-flight guard) lives while the body streams and is
/// let go when it ends, not when the head arrives.
#[tokio::test]
async fn what_a_body_keeps_lives_until_its_end() {
    let (go_tx, go_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let go_rx = Arc::new(tokio::sync::Mutex::new(go_rx));
    let server = serve(move |_| {
        let go_rx = go_rx.clone();
        async move {
            let chunks = futures_util::stream::unfold(0, move |step| {
                let go_rx = go_rx.clone();
                async move {
                    if step == 1 {
                        go_rx.lock().await.recv().await?;
                    }
                    (step < 2).then(|| {
                        (
                            Ok::<_, Infallible>(Frame::data(Bytes::from("data: x\n\n"))),
                            step + 1,
                        )
                    })
                }
            });
            Response::new(StreamBody::new(chunks).boxed())
        }
    })
    .await;
    let client = client();
    let response = within("response", client.request(get(&server.url)))
        .await
        .unwrap();
    let mut body = response.into_body();
    let guard = Arc::new(());
    body.keep_until_end(Box::new(guard.clone()));
    within("first chunk", body.frame()).await.unwrap().unwrap();
    assert_eq!(Arc::strong_count(&guard), 2, "kept while the body streams");
    go_tx.send(()).unwrap();
    within("second chunk", body.frame()).await.unwrap().unwrap();
    assert!(within("end", body.frame()).await.is_none());
    assert_eq!(Arc::strong_count(&guard), 1, "let go at the end");
    drop(body);
}

#[tokio::test]
async fn a_connection_close_answer_is_not_reused() {
    let server = serve(|_| async {
        let mut response = Response::new(full("bye"));
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        response
    })
    .await;
    let client = client();
    for _ in 0..2 {
        let response = within("response", client.request(get(&server.url)))
            .await
            .unwrap();
        assert_eq!(text(response).await, "bye");
        assert_eq!(client.idle_connections(), 0);
    }
    assert_eq!(server.accepted(), 2);
}

/// A server that answers `head` and part of a body, then dies.
async fn dying_server(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            read_head(&mut tcp).await;
            let _ = tcp.write_all(answer).await;
            drop(tcp);
        }
    });
    url
}

#[tokio::test]
async fn a_server_that_dies_mid_response_gives_an_error_not_a_hang() {
    let client = client();
    let url = dying_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b").await;
    let response = within("response", client.request(get(&url))).await.unwrap();
    let err = within("body", response.into_body().collect())
        .await
        .expect_err("cut short");
    assert!(!error_chain(&err).is_empty());
    assert_eq!(client.idle_connections(), 0);

    let url = dying_server(b"HTTP/1.1 200 OK\r\ncontent-le").await;
    let err = within("response", client.request(get(&url)))
        .await
        .expect_err("no head");
    assert!(!err.unsent(), "the request was written: {err:?}");
    assert!(
        error_chain(&err).contains(url.trim_start_matches("http://")),
        "{}",
        error_chain(&err)
    );
}

/// A request future dropped while it waits for the answer closes its connection (the server
/// sees the end of the stream) and leaves nothing in the pool.
#[tokio::test]
async fn a_request_dropped_halfway_leaves_nothing_behind() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (eof_tx, eof) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        read_head(&mut tcp).await;
        // Never answers; waits for the client to go away.
        let mut buf = [0u8; 64];
        let n = tcp.read(&mut buf).await.unwrap_or(0);
        let _ = eof_tx.send(n);
    });
    let client = client();
    let abandoned =
        tokio::time::timeout(Duration::from_millis(200), client.request(get(&url))).await;
    assert!(abandoned.is_err(), "the server never answers");
    assert_eq!(
        within("eof", eof).await.unwrap(),
        0,
        "the connection was closed"
    );
    assert_eq!(client.idle_connections(), 0);
}

#[tokio::test]
async fn expired_idle_connections_are_purged_when_the_pool_is_touched() {
    let (a, b) = (serve(echo).await, serve(echo).await);
    let client = InlineClient::<Full<Bytes>>::new(HyperOptions {
        pool_idle_timeout: Duration::from_millis(100),
        ..HyperOptions::default()
    });
    text(within("a", client.request(get(&a.url))).await.unwrap()).await;
    assert_eq!(client.idle_connections(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    text(within("b", client.request(get(&b.url))).await.unwrap()).await;
    assert_eq!(
        client.idle_connections(),
        1,
        "a's expired connection is gone"
    );
    text(
        within("a again", client.request(get(&a.url)))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.accepted(), 2, "an expired connection is not reused");
}

#[tokio::test]
async fn max_idle_per_host_bounds_the_pool() {
    let server = serve(echo).await;
    let client = InlineClient::<Full<Bytes>>::new(HyperOptions {
        pool_max_idle_per_host: 2,
        ..HyperOptions::default()
    });
    let calls =
        (0..4).map(|_| async { text(client.request(get(&server.url)).await.unwrap()).await });
    within("calls", futures_util::future::join_all(calls)).await;
    assert_eq!(server.accepted(), 4);
    assert_eq!(client.idle_connections(), 2);
}

#[tokio::test]
async fn failures_before_sending_say_so() {
    let client = client();
    let err = client
        .request(get("/relative"))
        .await
        .expect_err("relative");
    assert!(err.unsent() && err.is_connect(), "{err:?}");
    let err = client
        .request(get("ftp://127.0.0.1/"))
        .await
        .expect_err("ftp");
    assert!(err.to_string().contains("not http or https"), "{err}");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = within("refused", client.request(get(&format!("http://{addr}/")))).await;
    let err = err.expect_err("nothing listens");
    assert!(err.is_connect() && err.unsent(), "{err:?}");
    let chain = error_chain(&err);
    assert!(
        chain.contains(&addr.to_string()) && chain.contains("refused"),
        "{chain}"
    );
}

/// `https` goes through the connector's TLS: an untrusted certificate fails the connect,
/// and the error chain names the certificate problem.
#[tokio::test]
async fn https_connects_through_the_connectors_tls() {
    let (addr, _) = crate::client::tests::tls_server(&["localhost"]).await;
    let client = InlineClient::<Empty<Bytes>>::new(HyperOptions::default());
    let uri = format!("https://localhost:{}/", addr.port());
    let request = Request::get(uri).body(Empty::new()).unwrap();
    let err = within("tls", client.request(request))
        .await
        .expect_err("untrusted");
    assert!(err.is_connect(), "{err:?}");
    let chain = error_chain(&err);
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );
}

#[test]
fn requests_go_out_in_origin_form_with_a_host() {
    let mut request = get("http://example.com:8080/a/b?c=d");
    let key = key_of(request.uri()).unwrap();
    set_host(&mut request, &key);
    assert_eq!(origin_form(request.uri()), "/a/b?c=d");
    assert_eq!(request.headers()[HOST], "example.com:8080");
    let mut request = get("https://example.com:443");
    let key = key_of(request.uri()).unwrap();
    set_host(&mut request, &key);
    assert_eq!(origin_form(request.uri()), "/");
    assert_eq!(request.headers()[HOST], "example.com");
}

/// A `101 Switching Protocols` hands the connection over, as hyper_util's client did (the
/// gateway's WebSocket routes depend on it): bytes written after it reach the server's echo.
#[tokio::test]
async fn an_upgrade_hands_the_connection_over() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let service = service_fn(|mut req: Request<Incoming>| async move {
            tokio::spawn(async move {
                let Ok(upgraded) = hyper::upgrade::on(&mut req).await else {
                    return;
                };
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 4];
                if io.read_exact(&mut buf).await.is_ok() {
                    let _ = io.write_all(&buf).await;
                }
            });
            let mut response = Response::new(Empty::<Bytes>::new());
            *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
            headers.insert(http::header::UPGRADE, HeaderValue::from_static("echo"));
            Ok::<_, Infallible>(response)
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades()
            .await;
    });
    let client = client();
    let request = Request::get(&url)
        .header(http::header::CONNECTION, "upgrade")
        .header(http::header::UPGRADE, "echo")
        .body(Full::default())
        .unwrap();
    let mut response = within("101", client.request(request)).await.unwrap();
    assert_eq!(response.status(), 101);
    let upgraded = within("upgrade", hyper::upgrade::on(&mut response))
        .await
        .unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    within("echo", io.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(client.idle_connections(), 0);
}

/// A body dropped unfinished while its runtime shuts down (a task holding it is cancelled)
/// starts one background drain at most: the drain's own body, cancelled at spawn, does not start
/// another (that recursed until the stack overflowed).
#[test]
fn a_body_dropped_as_its_runtime_shuts_down_does_not_drain_forever() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = serve(|_| async {
            let chunks = futures_util::stream::unfold(0, |step| async move {
                if step > 0 {
                    std::future::pending::<()>().await;
                }
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"first"))),
                    1,
                ))
            });
            Response::new(StreamBody::new(chunks).boxed())
        })
        .await;
        let response = within("response", client().request(get(&server.url)))
            .await
            .unwrap();
        let mut body = response.into_body();
        within("frame", body.frame()).await.unwrap().unwrap();
        // Held by a task that never ends: the runtime's shutdown drops it.
        tokio::spawn(async move {
            let _body = body;
            std::future::pending::<()>().await;
        });
        std::mem::forget(server);
    });
    drop(runtime);
}

/// A connection given back on one worker thread is reused there and not by another thread's
/// runtime, whose use of it would route every readiness event through the first worker.
#[test]
fn idle_connections_are_reused_on_the_thread_that_gave_them_back() {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = serve(echo).await;
            url_tx
                .send((server.url.clone(), server.accepted.clone()))
                .unwrap();
            let _ = stop_rx.await;
        });
    });
    let (url, accepted) = url_rx.recv().unwrap();
    let client = client();
    // Each call runs on a worker-like thread of its own: one single-threaded runtime.
    let call_on = |worker: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        std::thread::Builder::new()
            .name(worker.into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for _ in 0..2 {
                        let response = within("response", client.request(get(&url))).await.unwrap();
                        assert_eq!(text(response).await, "you sent: ");
                    }
                });
                // The runtime (and the driver the connection is registered with) stays
                // alive in the thread until it ends, after the assertions below ran.
                rt
            })
            .unwrap()
            .join()
            .unwrap()
    };
    let first = call_on("worker-a");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "worker a reuses its connection"
    );
    assert_eq!(client.idle_connections(), 1);
    let second = call_on("worker-b");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "worker b opened its own connection instead of worker a's"
    );
    assert_eq!(client.idle_connections(), 2);
    drop((first, second));
    let _ = stop_tx.send(());
    server_thread.join().unwrap();
}
