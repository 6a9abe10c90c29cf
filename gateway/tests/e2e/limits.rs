//! A bind's `limits` against real misbehaving clients on raw sockets: an oversized request
//! head gets 431, a body trickled past `bodyReadTimeout` gets 408 and the connection closed in
//! bounded time, a head not sent within `headerReadTimeout` is cut off, connections over
//! `maxConnectionsPerClient` and `maxConnections` are closed as they arrive (counted in
//! `switchboard_connections_refused_total{bind,reason}`), and HTTP/2 clients are told
//! `maxConcurrentStreams`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use e2e::{raw_exchange, raw_status, routes_config, Gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::{start_with_up, ONE_ROUTE, STEP};

/// [`ONE_ROUTE`] on a bind with `limits` (a YAML flow mapping).
fn with_limits(limits: &str) -> String {
    routes_config(ONE_ROUTE).replace(
        "  address: 127.0.0.1\n",
        &format!("  address: 127.0.0.1\n  limits: {limits}\n"),
    )
}

async fn refused(gw: &Gateway, reason: &str) -> f64 {
    let bind = format!("127.0.0.1:{}", gw.port());
    gw.metric_or_zero(
        "switchboard_connections_refused_total",
        &[("bind", bind.as_str()), ("reason", reason)],
    )
    .await
}

/// A connection from the loopback address `from` (any of 127.0.0.0/8: another "client").
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("address"))
        .expect("bind the client address");
    tokio::time::timeout(STEP, socket.connect(to))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Whether the gateway closes `s` (EOF or reset) within `limit` without answering.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// A GET on `s` answered (any status): the connection is served.
async fn served(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET /x HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 256];
    match tokio::time::timeout(STEP, s.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => buf[..n].starts_with(b"HTTP/1.1 "),
        _ => false,
    }
}

#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let (_up, gw) = start_with_up(&with_limits("{ maxHeaderSize: 16KiB }")).await;
    let head = |size: usize| {
        format!(
            "GET /x HTTP/1.1\r\nhost: localhost\r\nx-big: {}\r\nconnection: close\r\n\r\n",
            "a".repeat(size)
        )
    };
    let resp = raw_exchange(gw.addr(), head(10 * 1024).as_bytes(), STEP).await;
    assert_eq!(raw_status(&resp), Some(200), "under the limit: {resp}");
    let resp = raw_exchange(gw.addr(), head(20 * 1024).as_bytes(), STEP).await;
    assert_eq!(raw_status(&resp), Some(431), "over the limit: {resp}");
    let bind = format!("127.0.0.1:{}", gw.port());
    let labels = [("bind", bind.as_str()), ("reason", "header_too_large")];
    let counted = gw
        .wait_metric("switchboard_connections_refused_total", &labels, 1.0, STEP)
        .await;
    assert_eq!(counted, 1.0, "{}", gw.metrics().await);

    // The default (64 KiB) takes a 40 KiB head and refuses a 100 KiB one.
    let (_up, gw) = start_with_up(&routes_config(ONE_ROUTE)).await;
    let resp = raw_exchange(gw.addr(), head(40 * 1024).as_bytes(), STEP).await;
    assert_eq!(raw_status(&resp), Some(200), "40 KiB by default: {resp}");
    let resp = raw_exchange(gw.addr(), head(100 * 1024).as_bytes(), STEP).await;
    assert_eq!(raw_status(&resp), Some(431), "100 KiB by default: {resp}");
}

/// Slowloris on the body: the headers arrive, then the body trickles. The client gets 408 and
/// the connection is closed once its waits add up to `bodyReadTimeout`, however it trickles.
#[tokio::test]
async fn a_trickled_body_is_cut_off_with_408() {
    let (up, gw) = start_with_up(&with_limits("{ bodyReadTimeout: 1s }")).await;
    let s = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut reader, mut writer) = s.into_split();
    writer
        .write_all(b"POST /slow HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100\r\n\r\n")
        .await
        .expect("write head");
    let started = Instant::now();
    let trickle = async {
        for _ in 0..50 {
            if writer.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Then hold the connection open, silent.
        tokio::time::sleep(STEP).await;
    };
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::select! {
        _ = read => {}
        _ = trickle => {}
        _ = tokio::time::sleep(STEP) => panic!("not cut off within {STEP:?}"),
    }
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(raw_status(&text), Some(408), "{text}");
    assert!(text.contains("bodyReadTimeout"), "{text}");
    assert!(
        elapsed < Duration::from_secs(6),
        "cut off after {elapsed:?}, for a 1 s budget"
    );
    drop(up);
}

/// A client that sends part of its head and stops is cut off after `headerReadTimeout`.
#[tokio::test]
async fn a_head_not_sent_in_time_is_cut_off() {
    let (_up, gw) = start_with_up(&with_limits("{ headerReadTimeout: 1s }")).await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /x HTTP/1.1\r\nhost: loc")
        .await
        .expect("write");
    let started = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let bind = format!("127.0.0.1:{}", gw.port());
    let labels = [("bind", bind.as_str()), ("reason", "header_timeout")];
    let counted = gw
        .wait_metric("switchboard_connections_refused_total", &labels, 1.0, STEP)
        .await;
    assert_eq!(counted, 1.0, "{}", gw.metrics().await);
}

/// One client address may hold `maxConnectionsPerClient` connections; more are closed as they
/// arrive (other addresses are not affected), and a freed place can be taken again.
#[tokio::test]
async fn connections_per_client_are_capped() {
    let (_up, gw) = start_with_up(&with_limits("{ maxConnectionsPerClient: 3 }")).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from("127.0.0.1", gw.addr()).await;
        assert!(served(&mut s).await, "within the cap");
        held.push(s);
    }
    let mut fourth = connect_from("127.0.0.1", gw.addr()).await;
    assert!(
        closed_within(&mut fourth, STEP).await,
        "the fourth connection from one address is closed"
    );
    assert_eq!(refused(&gw, "max_connections_per_client").await, 1.0);
    let mut other = connect_from("127.0.0.2", gw.addr()).await;
    assert!(served(&mut other).await, "another client is not affected");
    let log = gw
        .stderr_once(|l| l.contains("max_connections_per_client"))
        .await;
    assert!(
        log.contains("max_connections_per_client"),
        "the refusal is logged: {log}"
    );

    drop(held.pop());
    let again = e2e::eventually(STEP, || async {
        let mut s = connect_from("127.0.0.1", gw.addr()).await;
        served(&mut s).await
    })
    .await;
    assert!(again, "a freed place is taken again");
}

/// `maxConnections` holds for the whole bind, whatever the addresses.
#[tokio::test]
async fn connections_per_bind_are_capped() {
    let (_up, gw) = start_with_up(&with_limits("{ maxConnections: 2 }")).await;
    let mut a = connect_from("127.0.0.1", gw.addr()).await;
    let mut b = connect_from("127.0.0.2", gw.addr()).await;
    assert!(served(&mut a).await && served(&mut b).await);
    let mut c = connect_from("127.0.0.3", gw.addr()).await;
    assert!(closed_within(&mut c, STEP).await, "the third is closed");
    assert_eq!(refused(&gw, "max_connections").await, 1.0);
}

/// An HTTP/2 client learns the stream cap and the head limit from the server's SETTINGS.
#[tokio::test]
async fn http2_clients_are_told_the_stream_cap() {
    let (_up, gw) = start_with_up(&with_limits(
        "{ maxConcurrentStreams: 7, maxHeaderSize: 32KiB }",
    ))
    .await;
    let settings = server_settings(gw.addr()).await;
    assert_eq!(
        settings.get(&0x3),
        Some(&7),
        "MAX_CONCURRENT_STREAMS: {settings:?}"
    );
    assert_eq!(
        settings.get(&0x6),
        Some(&(32 * 1024)),
        "MAX_HEADER_LIST_SIZE: {settings:?}"
    );
    let (_up, gw) = start_with_up(&routes_config(ONE_ROUTE)).await;
    let settings = server_settings(gw.addr()).await;
    assert_eq!(settings.get(&0x3), Some(&100), "the default: {settings:?}");
}

/// The server's first SETTINGS frame on a prior-knowledge HTTP/2 connection, by identifier.
async fn server_settings(addr: SocketAddr) -> std::collections::HashMap<u16, u32> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .expect("settings");
    let mut head = [0u8; 9];
    tokio::time::timeout(STEP, s.read_exact(&mut head))
        .await
        .expect("in time")
        .expect("frame header");
    assert_eq!(head[3], 4, "the server's first frame is SETTINGS");
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    tokio::time::timeout(STEP, s.read_exact(&mut payload))
        .await
        .expect("in time")
        .expect("payload");
    payload
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect()
}

/// On an MCP route the trickled body gets the 408 as a JSON-RPC error, in MCP's protocol.
#[tokio::test]
async fn a_trickled_mcp_body_gets_a_json_rpc_408() {
    let config = crate::mcp::mcp_config("failOpen", &crate::mcp::demo_target()).replace(
        "  address: 127.0.0.1\n",
        "  address: 127.0.0.1\n  limits: { bodyReadTimeout: 1s }\n",
    );
    let gw = Gateway::start(&config).await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(
        b"POST /mcp HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
          accept: application/json, text/event-stream\r\ncontent-length: 200\r\n\r\n{\"jsonrpc\"",
    )
    .await
    .expect("write");
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(raw_status(&text), Some(408), "{text}");
    assert!(text.contains("\"jsonrpc\":\"2.0\""), "{text}");
    assert!(text.contains("bodyReadTimeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(6));
}

/// A reload applies new limits to the connections accepted after it.
#[tokio::test]
async fn a_reload_applies_new_limits() {
    let (up, gw) = start_with_up(&with_limits("{ maxConnectionsPerClient: 1 }")).await;
    let mut first = connect_from("127.0.0.1", gw.addr()).await;
    assert!(served(&mut first).await);
    let mut second = connect_from("127.0.0.1", gw.addr()).await;
    assert!(closed_within(&mut second, STEP).await, "over the cap of 1");

    let template = with_limits("{ maxConnectionsPerClient: 2 }").replace("{up}", &up.host());
    gw.write_config(&template);
    let reloaded = gw
        .wait_metric(
            "switchboard_config_reloads_total",
            &[("result", "ok")],
            1.0,
            STEP,
        )
        .await;
    assert_eq!(reloaded, 1.0, "{}", gw.stderr());
    let mut second = connect_from("127.0.0.1", gw.addr()).await;
    assert!(served(&mut second).await, "the new cap of 2 applies");
    assert!(served(&mut first).await, "the old connection lives on");
}
