//! The hand-written access line against the line `tracing_subscriber` wrote for the same
//! request (the shapes users parse), plus escaping and timestamps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

/// A typical record: an MCP call through a matched route.
fn sample() -> AccessLine<'static> {
    AccessLine {
        time: Some(UNIX_EPOCH + Duration::new(1_748_781_296, 123_456_789)),
        method: "POST",
        path: "/mcp",
        host: Some("gw.example"),
        client: Some("127.0.0.1:40312".parse().unwrap()),
        route: Some("main/tools"),
        backend: Some("tools"),
        status: 200,
        span_shown: true,
        span_status: true,
        attempts: 1,
        bytes: 1234,
        duration_ms: 0.523,
        complete: true,
        error: None,
        subject: "alice",
        a2a: ["", "", "", ""],
        mcp: ["tools/call", "remote_add", "remote"],
        ai: None,
        endpoint: None,
    }
}

/// Captures what a `tracing_subscriber` formatter writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The line the gateway wrote before this formatter existed: its `request` span and its
/// `tracing::info!` event, through `tracing_subscriber`'s formatter (no colours, no time).
fn reference(l: &AccessLine<'_>, shape: Shape) -> String {
    let out = Capture::default();
    let w = out.clone();
    // `access=info` alone turns the `request` span off, as `warn,access=info` does.
    let filter = if l.span_shown { "info" } else { "access=info" };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_writer(move || w.clone());
    let dispatch = match shape {
        Shape::Text => tracing::Dispatch::new(builder.finish()),
        Shape::Json => tracing::Dispatch::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!(
            "request",
            http.method = %l.method,
            http.path = l.path,
            route = tracing::field::Empty,
            backend = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        if let Some(r) = l.route {
            span.record("route", r);
        }
        if let Some(b) = l.backend {
            span.record("backend", b);
        }
        if l.span_status {
            span.record("status", l.status);
        }
        tracing::info!(
            target: "access",
            parent: &span,
            method = %l.method,
            path = %l.path,
            host = l.host.unwrap_or("-"),
            client = %l.client.unwrap(),
            route = %l.route.unwrap_or("-"),
            backend = l.backend.unwrap_or("-"),
            status = l.status,
            attempts = l.attempts,
            bytes = l.bytes,
            duration_ms = l.duration_ms,
            complete = l.complete,
            error = l.error.unwrap_or(""),
            subject = l.subject,
            a2a.method = l.a2a[0],
            a2a.task_id = l.a2a[1],
            a2a.context_id = l.a2a[2],
            a2a.state = l.a2a[3],
            mcp.method = l.mcp[0],
            mcp.tool = l.mcp[1],
            mcp.target = l.mcp[2],
            "request"
        );
    });
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

fn mine(l: &AccessLine<'_>, shape: Shape) -> String {
    let mut out = Vec::new();
    l.write(shape, &mut out);
    String::from_utf8(out).unwrap()
}

/// The text line without its leading timestamp.
fn untimed_text(line: &str) -> &str {
    assert_eq!(&line[26..27], "Z", "{line}");
    line[27..].trim_start()
}

/// The JSON line without its timestamp member (the reference has none).
fn untimed_json(line: &str) -> String {
    let Some(start) = line.find("\"timestamp\":\"") else {
        return line.to_string();
    };
    let end = start + line[start + 13..].find('"').unwrap() + 15;
    format!("{}{}", &line[..start], &line[end..])
}

#[test]
fn text_line_is_exactly_what_tracing_wrote() {
    let l = sample();
    let line = mine(&l, Shape::Text);
    assert!(
        line.starts_with("2025-06-01T12:34:56.123456Z  INFO request{"),
        "{line}"
    );
    assert_eq!(
        line,
        "2025-06-01T12:34:56.123456Z  INFO request{http.method=POST http.path=\"/mcp\" \
         route=\"main/tools\" backend=\"tools\" status=200}: access: request method=POST \
         path=/mcp host=\"gw.example\" client=127.0.0.1:40312 route=main/tools \
         backend=\"tools\" status=200 attempts=1 bytes=1234 duration_ms=0.523 complete=true \
         error=\"\" subject=\"alice\" a2a.method=\"\" a2a.task_id=\"\" a2a.context_id=\"\" a2a.state=\"\" \
         mcp.method=\"tools/call\" mcp.tool=\"remote_add\" mcp.target=\"remote\"\n"
    );
    assert_eq!(untimed_text(&line), reference(&l, Shape::Text).trim_start());
}

#[test]
fn text_line_matches_tracing_for_unrouted_and_abandoned_requests() {
    // No route or backend matched.
    let unrouted = AccessLine {
        route: None,
        backend: None,
        host: None,
        status: 404,
        error: Some("no route for GET /nope"),
        mcp: ["", "", ""],
        ai: None,
        a2a: ["message/send", "t-1", "c-1", "completed"],
        duration_ms: 12.0,
        ..sample()
    };
    // The client left before the response began: the span never got its status.
    let abandoned = AccessLine {
        status: 499,
        span_status: false,
        complete: false,
        bytes: 0,
        error: Some("the client went away before the response began"),
        ..sample()
    };
    for l in [unrouted, abandoned] {
        let line = mine(&l, Shape::Text);
        assert_eq!(untimed_text(&line), reference(&l, Shape::Text).trim_start());
    }
}

#[test]
fn text_line_without_the_request_span_has_no_prefix() {
    // `logging.level: warn,access=info` turns the `request` span off: tracing then printed no
    // span prefix.
    let l = AccessLine {
        span_shown: false,
        ..sample()
    };
    let line = mine(&l, Shape::Text);
    assert!(
        line.contains("Z  INFO access: request method=POST path=/mcp "),
        "{line}"
    );
    assert_eq!(untimed_text(&line), reference(&l, Shape::Text).trim_start());
}

#[test]
fn text_escapes_quotes_and_newlines_like_tracing_and_keeps_one_line() {
    let l = AccessLine {
        path: "/a\"b\\c d",
        error: Some("upstream said \"no\"\nsecond line\u{1b}[31m"),
        host: Some("h\"ost"),
        mcp: ["tools/call", "to\"ol\n", "t"],
        ai: None,
        ..sample()
    };
    let line = mine(&l, Shape::Text);
    assert_eq!(line.matches('\n').count(), 1, "{line}");
    assert!(line.ends_with('\n'));
    assert!(
        !line.contains('\u{1b}'),
        "a control character got through: {line:?}"
    );
    assert!(line.contains(r#" path="/a\"b\\c d" "#), "{line}");
    assert!(
        line.contains(r#"error="upstream said \"no\"\nsecond line\u{1b}[31m""#),
        "{line}"
    );
    assert!(line.contains(r#"mcp.tool="to\"ol\n""#), "{line}");
    // Quoted fields are escaped exactly as tracing escaped them.
    let reference = reference(&l, Shape::Text);
    let theirs = reference.trim_start();
    let ours = untimed_text(&line);
    assert!(line.contains(r#" host="h\"ost" "#), "{line}");
    // From `host` on, every field is as tracing wrote it (only the bare path differs).
    let from_host = |s: &str| s[s.find(" host=").unwrap()..].to_string();
    assert_eq!(from_host(ours), from_host(theirs));
    assert_eq!(
        &ours[..ours.find(" path=").unwrap()],
        &theirs[..theirs.find(" path=").unwrap()],
        "the span prefix"
    );
}

#[test]
fn json_line_is_exactly_what_tracing_wrote() {
    let unrouted = AccessLine {
        route: None,
        backend: None,
        status: 404,
        error: Some("no route"),
        ..sample()
    };
    for l in [sample(), unrouted] {
        let line = mine(&l, Shape::Json);
        assert!(
            line.starts_with("{\"timestamp\":\"2025-06-01T12:34:56.123456Z\",\"level\":\"INFO\","),
            "{line}"
        );
        assert!(line.ends_with(",\"target\":\"access\"}\n"), "{line}");
        assert_eq!(
            untimed_json(&line),
            untimed_json(&reference(&l, Shape::Json))
        );
    }
}

#[test]
fn json_escapes_quotes_newlines_and_controls() {
    let l = AccessLine {
        path: "/a\"b\\c",
        error: Some("said \"no\"\nthen\t\u{1}\u{1b} é ✓"),
        mcp: ["tools/call", "x\r\u{8}\u{c}", ""],
        ai: None,
        ..sample()
    };
    let line = mine(&l, Shape::Json);
    assert_eq!(line.matches('\n').count(), 1, "{line}");
    assert!(!line.contains('\u{1b}'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["path"], "/a\"b\\c");
    assert_eq!(v["error"], "said \"no\"\nthen\t\u{1}\u{1b} é ✓");
    assert_eq!(v["mcp.tool"], "x\r\u{8}\u{c}");
    assert_eq!(v["status"], 200);
    assert_eq!(v["duration_ms"], 0.523);
    assert_eq!(v["complete"], true);
    assert_eq!(v["client"], "127.0.0.1:40312");
    // Byte for byte what serde_json (tracing's JSON formatter) writes.
    assert_eq!(
        untimed_json(&line),
        untimed_json(&reference(&l, Shape::Json))
    );
}

#[test]
fn timestamps_are_utc_with_microseconds() {
    for (secs, text) in [
        (0, "1970-01-01T00:00:00"),
        (951_782_400, "2000-02-29T00:00:00"),
        (1_700_000_000, "2023-11-14T22:13:20"),
        (4_102_444_799, "2099-12-31T23:59:59"),
    ] {
        assert_eq!(std::str::from_utf8(&civil(secs)).unwrap(), text);
    }
    let mut out = Vec::new();
    timestamp(UNIX_EPOCH + Duration::new(1_700_000_000, 7_000), &mut out);
    timestamp(
        UNIX_EPOCH + Duration::new(1_700_000_001, 999_999_999),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2023-11-14T22:13:20.000007Z2023-11-14T22:13:21.999999Z"
    );
    // Now, against tracing_subscriber's own timer.
    let mut ours = Vec::new();
    let now = SystemTime::now();
    timestamp(now, &mut ours);
    let mut theirs = String::new();
    use tracing_subscriber::fmt::time::FormatTime as _;
    tracing_subscriber::fmt::time::SystemTime
        .format_time(&mut tracing_subscriber::fmt::format::Writer::new(
            &mut theirs,
        ))
        .unwrap();
    assert_eq!(ours.len(), theirs.len(), "{theirs}");
    assert_eq!(&ours[..10], &theirs.as_bytes()[..10], "same day: {theirs}");
}

#[test]
fn the_reused_buffer_holds_one_line_at_a_time() {
    let a = with_line(&sample(), Shape::Text, <[u8]>::to_vec);
    let b = with_line(
        &AccessLine {
            path: "/other",
            ..sample()
        },
        Shape::Text,
        <[u8]>::to_vec,
    );
    assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 1);
    assert_eq!(b.iter().filter(|&&c| c == b'\n').count(), 1);
    assert!(String::from_utf8(b).unwrap().contains("path=/other "));
}
