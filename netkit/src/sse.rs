//! Server-sent events: one parser for the workspace, `eventsource-stream`, in two shapes.
//!
//! - As a stream adapter ([`Eventsource`]) for a body that is consumed (A2A and `sse`
//!   targets).
//! - As a push parser ([`EventFeed`]) for a body that is relayed as it arrives and only
//!   inspected on the side (the gateway's A2A route reads task ids from a copy): the relay
//!   must never wait on the parser, so chunks are pushed in and complete events come out at
//!   once, without an async task in between.
//!
//! Both bound one event's size with [`EventSize`], since `eventsource-stream` buffers an event
//! without limit.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

pub use eventsource_stream::{Event, EventStream, EventStreamError, Eventsource};

/// Counts the bytes an SSE parser retains for the current event (field lines joined by
/// newlines; comments and the blank line ending the event do not count), so a stream can be
/// cut once one event grows past a limit. Lines end with CRLF, LF or CR.
#[derive(Debug, Clone)]
pub struct EventSize {
    max: usize,
    retained: usize,
    line: usize,
    comment: bool,
    after_cr: bool,
}

impl EventSize {
    /// A counter that trips past `max` bytes in one event.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            retained: 0,
            line: 0,
            comment: false,
            after_cr: false,
        }
    }

    /// Feeds the next chunk of the stream; false once the current event is over the limit.
    pub fn observe(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    if self.line == 0 {
                        self.retained = 0;
                    } else if !self.comment {
                        self.retained = self.retained.saturating_add(self.line + 1);
                    }
                    self.line = 0;
                    self.comment = false;
                    self.after_cr = byte == b'\r';
                }
                _ => {
                    if self.line == 0 {
                        self.comment = byte == b':';
                    }
                    self.line += 1;
                }
            }
            if self.retained.saturating_add(self.line) > self.max {
                return false;
            }
        }
        true
    }
}

/// The chunks pushed into an [`EventFeed`] and not yet parsed.
#[derive(Default)]
struct Chunks(Arc<Mutex<VecDeque<Bytes>>>);

impl Stream for Chunks {
    type Item = Result<Bytes, std::convert::Infallible>;

    /// Pending when empty: the feed polls only right after a push, so nobody waits on it.
    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match queue.pop_front() {
            Some(chunk) => Poll::Ready(Some(Ok(chunk))),
            None => Poll::Pending,
        }
    }
}

/// A push parser: [`push`](Self::push) a chunk of an SSE body, get the events it completed.
/// It stops for good (every later push returns nothing) at an event over its size limit or a
/// body that is not UTF-8: inspecting is best effort and must not hold memory without bound.
pub struct EventFeed {
    queue: Arc<Mutex<VecDeque<Bytes>>>,
    events: EventStream<Chunks>,
    size: EventSize,
    stopped: bool,
}

impl EventFeed {
    /// A feed that stops at an event larger than `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        let chunks = Chunks::default();
        EventFeed {
            queue: chunks.0.clone(),
            events: chunks.eventsource(),
            size: EventSize::new(max_event),
            stopped: false,
        }
    }

    /// Whether the feed stopped (an event too large, or a parse error).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Parses `chunk` after the ones before it; the events it completed, in order.
    pub fn push(&mut self, chunk: Bytes) -> Vec<Event> {
        if self.stopped {
            return Vec::new();
        }
        if !self.size.observe(&chunk) {
            self.stop();
            return Vec::new();
        }
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(chunk);
        let mut out = Vec::new();
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        loop {
            match Pin::new(&mut self.events).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(event))) => out.push(event),
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                    self.stop();
                    break;
                }
                Poll::Pending => break,
            }
        }
        out
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_complete_across_chunks_and_line_endings() {
        let mut feed = EventFeed::new(1024);
        assert!(feed
            .push(Bytes::from_static(b"event: status\ndata: {\"a\""))
            .is_empty());
        let done = feed.push(Bytes::from_static(
            b":1}\n\n: ping\r\n\r\ndata: x\r\ndata: y\r\n",
        ));
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!(done[0].event, "status");
        assert_eq!(done[0].data, "{\"a\":1}");
        let done = feed.push(Bytes::from_static(b"\r\n"));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].event, "message");
        assert_eq!(done[0].data, "x\ny");
    }

    #[test]
    fn an_oversized_event_stops_the_feed() {
        let mut feed = EventFeed::new(16);
        assert!(feed
            .push(Bytes::from_static(b"data: 0123456789abcdef\n\n"))
            .is_empty());
        assert!(feed.stopped());
        assert!(feed.push(Bytes::from_static(b"data: small\n\n")).is_empty());
    }

    #[test]
    fn the_size_counts_one_event_at_a_time() {
        let mut size = EventSize::new(10);
        assert!(size.observe(b"data: 12\n\n"));
        assert!(
            size.observe(b": ping\r\n: ping\r\n"),
            "comments are not retained"
        );
        assert!(size.observe(b"data: 34\r\n\r\n"));
        assert!(!size.observe(b"data: 1234567890\n"));
    }
}
