//! The access log line, formatted by hand from the request's record into a reused buffer.
//!
//! Why not a `tracing` event: its generic path (a visitor call and a `core::fmt` round per
//! field, ANSI styling, a span lookup) cost more than the rest of a plain proxied request. This
//! writes the same line the `tracing` formatter wrote (same fields, order and quoting, text or
//! JSON) with plain byte copies; numbers skip `core::fmt`, and strings are escaped by the slow
//! path only when they hold something to escape. The line never carries ANSI colours.
//!
//! Text: `TIME  INFO request{SPAN FIELDS}: access: request method=GET path=/p host="h" ...`,
//! where strings the gateway chose to print bare (`method`, `path`, `client`, `route`) are
//! quoted like the others when they hold a space, a quote, a backslash, a control or a non-ASCII
//! character, so a line always splits into `key=value` pairs.
//! JSON: `{"timestamp":..,"level":"INFO","message":"request","method":..,..,"target":"access"}`.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The fields of one access line.
#[derive(Debug, Clone, Default)]
pub struct AccessLine<'a> {
    /// When the line is written (the response ended).
    pub time: Option<SystemTime>,
    /// Request method, as the client sent it.
    pub method: &'a str,
    /// Request path, as the client sent it.
    pub path: &'a str,
    /// The request's host, when it named one.
    pub host: Option<&'a str>,
    /// The client's address.
    pub client: Option<SocketAddr>,
    /// The route key, when one matched.
    pub route: Option<&'a str>,
    /// The backend, when one was picked.
    pub backend: Option<&'a str>,
    /// Response status.
    pub status: u16,
    /// The request's `tracing` span is enabled, so the text line starts with its fields (as
    /// `tracing` printed an event's parent span).
    pub span_shown: bool,
    /// The status was recorded on the request's span (false when the client left first), so
    /// the text line's span prefix shows it.
    pub span_status: bool,
    /// Upstream attempts made.
    pub attempts: u32,
    /// Response body bytes.
    pub bytes: u64,
    /// Duration of the whole exchange, in milliseconds.
    pub duration_ms: f64,
    /// The response body ended normally.
    pub complete: bool,
    /// Why the gateway answered itself, if it did.
    pub error: Option<&'a str>,
    /// The authenticated caller's subject (JWT `sub`, API key name, user name); empty when
    /// the request was anonymous.
    pub subject: &'a str,
    /// A2A method, task id, context id and state (empty when none).
    pub a2a: [&'a str; 4],
    /// MCP method, tool and target (empty when none).
    pub mcp: [&'a str; 3],
    /// On routes to `ai` backends: the provider, model and token counts.
    pub ai: Option<AiFields<'a>>,
    /// On routes to `inferencePool` backends: the endpoint (`ip:port`) that served.
    pub endpoint: Option<&'a str>,
}

/// What the line says about an LLM call (OpenTelemetry GenAI attribute names).
#[derive(Debug, Clone, Copy)]
pub struct AiFields<'a> {
    /// The provider that answered (`gen_ai.provider`, its configured name).
    pub provider: &'a str,
    /// The model sent to it (`gen_ai.request.model`).
    pub model: &'a str,
    /// `gen_ai.usage.input_tokens`.
    pub input_tokens: u64,
    /// `gen_ai.usage.output_tokens`.
    pub output_tokens: u64,
    /// Providers tried before the one that answered.
    pub failovers: u32,
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `key=value` text, as `tracing_subscriber`'s default formatter writes it.
    Text,
    /// One JSON object per line, as its JSON formatter (flattened) writes it.
    Json,
}

impl AccessLine<'_> {
    /// Appends the line (with its newline) to `out`.
    pub fn write(&self, shape: Shape, out: &mut Vec<u8>) {
        match shape {
            Shape::Text => self.write_text(out),
            Shape::Json => self.write_json(out),
        }
    }

    fn write_text(&self, out: &mut Vec<u8>) {
        timestamp(self.time.unwrap_or_else(SystemTime::now), out);
        out.extend_from_slice(b"  INFO ");
        if self.span_shown {
            out.extend_from_slice(b"request{http.method=");
            bare(self.method, out);
            out.extend_from_slice(b" http.path=");
            quoted(self.path, out);
            if let Some(route) = self.route {
                out.extend_from_slice(b" route=");
                quoted(route, out);
            }
            if let Some(backend) = self.backend {
                out.extend_from_slice(b" backend=");
                quoted(backend, out);
            }
            if self.span_status {
                out.extend_from_slice(b" status=");
                number(self.status.into(), out);
            }
            out.extend_from_slice(b"}: ");
        }
        out.extend_from_slice(b"access: request method=");
        bare(self.method, out);
        out.extend_from_slice(b" path=");
        bare(self.path, out);
        out.extend_from_slice(b" host=");
        quoted(self.host.unwrap_or("-"), out);
        out.extend_from_slice(b" client=");
        client(self.client, out);
        out.extend_from_slice(b" route=");
        bare(self.route.unwrap_or("-"), out);
        out.extend_from_slice(b" backend=");
        quoted(self.backend.unwrap_or("-"), out);
        out.extend_from_slice(b" status=");
        number(self.status.into(), out);
        out.extend_from_slice(b" attempts=");
        number(self.attempts.into(), out);
        out.extend_from_slice(b" bytes=");
        number(self.bytes, out);
        out.extend_from_slice(b" duration_ms=");
        let _ = write!(out, "{:?}", self.duration_ms);
        out.extend_from_slice(if self.complete {
            b" complete=true error="
        } else {
            b" complete=false error="
        });
        quoted(self.error.unwrap_or(""), out);
        for (name, value) in self.strings() {
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            quoted(value, out);
        }
        if let Some(endpoint) = self.endpoint {
            out.extend_from_slice(b" endpoint=");
            quoted(endpoint, out);
        }
        if let Some(ai) = &self.ai {
            out.extend_from_slice(b" gen_ai.provider=");
            quoted(ai.provider, out);
            out.extend_from_slice(b" gen_ai.request.model=");
            quoted(ai.model, out);
            out.extend_from_slice(b" gen_ai.usage.input_tokens=");
            number(ai.input_tokens, out);
            out.extend_from_slice(b" gen_ai.usage.output_tokens=");
            number(ai.output_tokens, out);
            out.extend_from_slice(b" ai.failovers=");
            number(ai.failovers.into(), out);
        }
        out.push(b'\n');
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(self.time.unwrap_or_else(SystemTime::now), out);
        out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\",\"method\":");
        json_str(self.method, out);
        out.extend_from_slice(b",\"path\":");
        json_str(self.path, out);
        out.extend_from_slice(b",\"host\":");
        json_str(self.host.unwrap_or("-"), out);
        out.extend_from_slice(b",\"client\":\"");
        client(self.client, out);
        out.extend_from_slice(b"\",\"route\":");
        json_str(self.route.unwrap_or("-"), out);
        out.extend_from_slice(b",\"backend\":");
        json_str(self.backend.unwrap_or("-"), out);
        out.extend_from_slice(b",\"status\":");
        number(self.status.into(), out);
        out.extend_from_slice(b",\"attempts\":");
        number(self.attempts.into(), out);
        out.extend_from_slice(b",\"bytes\":");
        number(self.bytes, out);
        out.extend_from_slice(b",\"duration_ms\":");
        if self.duration_ms.is_finite() {
            let _ = write!(out, "{:?}", self.duration_ms);
        } else {
            out.extend_from_slice(b"null");
        }
        out.extend_from_slice(if self.complete {
            b",\"complete\":true,\"error\":"
        } else {
            b",\"complete\":false,\"error\":"
        });
        json_str(self.error.unwrap_or(""), out);
        for (name, value) in self.strings() {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            json_str(value, out);
        }
        if let Some(endpoint) = self.endpoint {
            out.extend_from_slice(b",\"endpoint\":");
            json_str(endpoint, out);
        }
        if let Some(ai) = &self.ai {
            out.extend_from_slice(b",\"gen_ai.provider\":");
            json_str(ai.provider, out);
            out.extend_from_slice(b",\"gen_ai.request.model\":");
            json_str(ai.model, out);
            out.extend_from_slice(b",\"gen_ai.usage.input_tokens\":");
            number(ai.input_tokens, out);
            out.extend_from_slice(b",\"gen_ai.usage.output_tokens\":");
            number(ai.output_tokens, out);
            out.extend_from_slice(b",\"ai.failovers\":");
            number(ai.failovers.into(), out);
        }
        out.extend_from_slice(b",\"target\":\"access\"}\n");
    }

    /// The caller, A2A and MCP fields, by name, in the line's order.
    fn strings(&self) -> [(&'static str, &str); 8] {
        let [a2a_method, task, context, state] = self.a2a;
        let [mcp_method, tool, target] = self.mcp;
        [
            ("subject", self.subject),
            ("a2a.method", a2a_method),
            ("a2a.task_id", task),
            ("a2a.context_id", context),
            ("a2a.state", state),
            ("mcp.method", mcp_method),
            ("mcp.tool", tool),
            ("mcp.target", target),
        ]
    }
}

thread_local! {
    /// The line being built on this thread; kept between requests so a line costs no allocation.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    /// The last second formatted on this thread (`YYYY-MM-DDTHH:MM:SS`), with its Unix time.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// Formats `line` into this thread's reused buffer and hands the bytes to `sink`.
pub fn with_line<R>(line: &AccessLine<'_>, shape: Shape, sink: impl FnOnce(&[u8]) -> R) -> R {
    LINE.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            line.write(shape, &mut buf);
            let r = sink(&buf);
            if buf.capacity() > 64 << 10 {
                // A huge error message: do not keep its buffer for every later line.
                *buf = Vec::with_capacity(512);
            }
            r
        }
        Err(_) => {
            // Re-entered from within `sink` (it should not be): a fresh buffer.
            let mut buf = Vec::with_capacity(512);
            line.write(shape, &mut buf);
            sink(&buf)
        }
    })
}

/// `2025-06-01T12:34:56.123456Z`, as `tracing_subscriber`'s default timer writes it (UTC,
/// microseconds). The date and time of day are cached per thread for the current second.
fn timestamp(t: SystemTime, out: &mut Vec<u8>) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (cached, mut text) = SECOND.with(Cell::get);
    if cached != secs {
        text = civil(secs);
        SECOND.with(|c| c.set((secs, text)));
    }
    out.extend_from_slice(&text);
    out.push(b'.');
    let micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut v = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` for a Unix time (proleptic Gregorian, UTC; years up to 9999).
fn civil(secs: u64) -> [u8; 19] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = (yoe + era * 400 + i64::from(month <= 2)).clamp(0, 9999);
    let mut t = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            t[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year as u64);
    put(5, 2, month as u64);
    put(8, 2, day as u64);
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    t
}

/// A decimal number without `core::fmt`.
fn number(mut v: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn client(addr: Option<SocketAddr>, out: &mut Vec<u8>) {
    match addr {
        Some(a) => {
            let _ = write!(out, "{a}");
        }
        None => out.push(b'-'),
    }
}

/// Printable ASCII other than a quote or a backslash: written as is by both formats' fast paths.
fn plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

/// A value the text line prints bare (as the `tracing` formatter printed `Display` fields), or
/// quoted when it would not stay one `key=value` token.
fn bare(s: &str, out: &mut Vec<u8>) {
    if !s.is_empty() && s.bytes().all(|b| plain(b) && b != b' ') {
        out.extend_from_slice(s.as_bytes());
    } else {
        quoted(s, out);
    }
}

/// A quoted string, as Rust's `Debug` for `str` writes it (what `tracing` printed).
fn quoted(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(plain) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{s:?}");
    }
}

/// A JSON string, escaped as `serde_json` escapes it.
fn json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
#[path = "access_line_tests.rs"]
mod tests;
