//! An incremental Server-Sent Events parser for the client side of the stream measurements: it
//! is fed the body's chunks as they arrive and hands back each event the moment its closing
//! blank line has been read, so "time to the first event" is the time to the bytes that complete
//! it, not to the end of the chunk or of the stream.
//!
//! Follows the WHATWG rules the gateway and the agents rely on: lines end with `\n`, `\r\n` or a
//! bare `\r` (sse-starlette uses `\r\n`); `:` starts a comment (keep-alive pings); several `data:`
//! lines are joined with `\n`; one space after the colon is dropped; a blank line dispatches the
//! event, and an event without data is not dispatched.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Parser state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    /// The last byte seen was a `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                b'\n' => self.end_line(&mut out),
                _ => self.line.push(b),
            }
        }
        out
    }

    /// Whether a partial line or event is pending (bytes after the last dispatched event).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            let event = self.event.take();
            if let Some(data) = self.data.take() {
                out.push(SseEvent {
                    event: event.unwrap_or_else(|| "message".into()),
                    data,
                });
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": ping\n\nevent: message\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: "message".into(),
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                event: "message".into(),
                data: "x\ny".into(),
            },
        ]
    }

    #[test]
    fn events_in_one_chunk() {
        let mut p = SseParser::new();
        assert_eq!(p.push(STREAM.as_bytes()), expected());
        assert!(!p.has_partial());
    }

    #[test]
    fn every_line_ending() {
        for eol in ["\r\n", "\r"] {
            let text = STREAM.replace('\n', eol);
            let mut p = SseParser::new();
            assert_eq!(p.push(text.as_bytes()), expected(), "line end {eol:?}");
        }
    }

    #[test]
    fn first_event_is_dispatched_at_its_blank_line_whatever_the_split() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = STREAM.replace('\n', eol);
            let bytes = text.as_bytes();
            // The first event is complete at the end of its blank line (at its `\r` for
            // `\r\n`) and not one byte earlier, wherever the chunks are cut.
            let data_at = text.find(&format!("{{\"a\":1}}{eol}{eol}")).unwrap();
            let first_end = data_at + 7 + 2 * eol.len() - usize::from(eol == "\r\n");
            for cut in 0..=bytes.len() {
                let mut p = SseParser::new();
                let mut got = p.push(&bytes[..cut]);
                assert_eq!(got.is_empty(), cut < first_end, "eol {eol:?} cut {cut}");
                got.extend(p.push(&bytes[cut..]));
                assert_eq!(got, expected(), "eol {eol:?} cut {cut}");
            }
        }
    }

    #[test]
    fn byte_by_byte_and_comments_only() {
        let mut p = SseParser::new();
        let mut got = Vec::new();
        for b in STREAM.as_bytes() {
            got.extend(p.push(std::slice::from_ref(b)));
        }
        assert_eq!(got, expected());
        assert!(p.push(b": keep-alive\n\n: again\r\n\r\n").is_empty());
        assert!(p.push(b"data: half").is_empty());
        assert!(p.has_partial());
    }

    #[test]
    fn event_name_and_no_space() {
        let mut p = SseParser::new();
        let got = p.push(b"event:error\ndata:{}\n\n");
        assert_eq!(
            got,
            vec![SseEvent {
                event: "error".into(),
                data: "{}".into()
            }]
        );
    }
}
