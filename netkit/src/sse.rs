//! Server-sent events: one parser for the workspace, `eventsource-stream`, in two shapes.
//!
//! - As a stream adapter ([`Eventsource`]) for a body that is consumed (A2A and `sse`
//!   targets), with [`EventSize`] to cut the stream at an event over a limit.
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
/// newlines; comments and the blank line ending the event do not count, but a line being
/// received does, comment or not, since the parser holds it until its end), so a stream can be
/// cut once one event grows past a limit. Lines end with CRLF, LF or CR.
#[derive(Debug, Clone)]
pub struct EventSize {
    max: usize,
    retained: usize,
    line: usize,
    comment: bool,
    after_cr: bool,
}

/// What one byte did to an [`EventSize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The current event is within the limit.
    Within,
    /// The current event is over the limit.
    Over,
    /// The byte ended a blank line: the event is over (and the count back at zero).
    EventEnd,
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
    pub fn observe(&mut self, mut chunk: &[u8]) -> bool {
        // Every byte is counted (no early return), so the count stays right after a false.
        // The bytes between line ends are taken a run at a time: within a run the count only
        // grows, so the run is over the limit exactly when its last byte is.
        let mut within = true;
        while !chunk.is_empty() {
            let run = memchr::memchr2(b'\r', b'\n', chunk).unwrap_or(chunk.len());
            if run > 0 {
                within &= self.add_to_line(&chunk[..run]) != Step::Over;
                chunk = &chunk[run..];
            }
            if let Some((&end, rest)) = chunk.split_first() {
                within &= self.step(end) != Step::Over;
                chunk = rest;
            }
        }
        within
    }

    /// [`Self::step`] for each byte of `run`, which has no line end, at once.
    fn add_to_line(&mut self, run: &[u8]) -> Step {
        self.after_cr = false;
        if self.line == 0 {
            self.comment = run.first() == Some(&b':');
        }
        self.line += run.len();
        if self.retained.saturating_add(self.line) > self.max {
            Step::Over
        } else {
            Step::Within
        }
    }

    /// The index of the first byte of `chunk` that takes the current event over the limit;
    /// the bytes up to it (included) are counted, the rest are not.
    fn over_at(&mut self, chunk: &[u8]) -> Option<usize> {
        chunk.iter().position(|&byte| self.step(byte) == Step::Over)
    }

    /// The index just past the blank line that ends the current event, if `chunk` has it; the
    /// bytes up to there are counted, the rest are not.
    fn event_end(&mut self, chunk: &[u8]) -> Option<usize> {
        let at = chunk
            .iter()
            .position(|&byte| self.step(byte) == Step::EventEnd)?;
        Some(at + 1)
    }

    fn step(&mut self, byte: u8) -> Step {
        // The LF of a CRLF: the CR ended the line already.
        let crlf_tail = std::mem::take(&mut self.after_cr) && byte == b'\n';
        if !crlf_tail {
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    if self.line == 0 {
                        self.retained = 0;
                        return Step::EventEnd;
                    }
                    if !self.comment {
                        self.retained = self.retained.saturating_add(self.line + 1);
                    }
                    self.line = 0;
                    self.comment = false;
                }
                _ => {
                    if self.line == 0 {
                        self.comment = byte == b':';
                    }
                    self.line += 1;
                }
            }
        }
        if self.retained.saturating_add(self.line) > self.max {
            Step::Over
        } else {
            Step::Within
        }
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
///
/// Inspecting is best effort and must neither hold memory without bound nor give up on a
/// long stream because of one bad event, so:
/// - an event over the size limit is skipped whole (its bytes are dropped up to the blank
///   line that ends it, and counted in [`skipped`](Self::skipped)), and the events after it are
///   read as usual;
/// - bytes that are not UTF-8 become U+FFFD, as the SSE standard's decoding says
///   (`eventsource-stream` alone would wait for them to become valid, keeping every later
///   byte), so the event holding them reads as text that is not what was meant, and the next
///   one is unaffected.
pub struct EventFeed {
    queue: Arc<Mutex<VecDeque<Bytes>>>,
    events: EventStream<Chunks>,
    size: EventSize,
    /// The start of a UTF-8 sequence that the next chunk completes.
    partial_char: Vec<u8>,
    /// Inside an event over the limit, dropping its bytes.
    skipping: bool,
    skipped: u64,
}

impl EventFeed {
    /// A feed that skips any event larger than `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        let chunks = Chunks::default();
        EventFeed {
            queue: chunks.0.clone(),
            events: chunks.eventsource(),
            size: EventSize::new(max_event),
            partial_char: Vec::new(),
            skipping: false,
            skipped: 0,
        }
    }

    /// How many events were skipped for being over the size limit.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Parses `chunk` after the ones before it; the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.skipping {
                let Some(end) = self.size.event_end(rest) else {
                    break;
                };
                self.skipping = false;
                rest = &rest[end..];
                continue;
            }
            match self.size.over_at(rest) {
                None => {
                    self.parse(rest, &mut out);
                    break;
                }
                Some(at) => {
                    // The events that end before the oversized one are complete: read them,
                    // then drop what the parser holds of this one.
                    self.parse(&rest[..at], &mut out);
                    self.restart();
                    self.skipping = true;
                    self.skipped += 1;
                    rest = &rest[at + 1..];
                }
            }
        }
        out
    }

    /// Hands `bytes` to the parser (as UTF-8, see the type's doc) and collects what it completes.
    fn parse(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        let text = self.decode(bytes);
        if text.is_empty() {
            return;
        }
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Bytes::from(text));
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        loop {
            match Pin::new(&mut self.events).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(event))) => out.push(event),
                // Not reached (every line of UTF-8 text parses, and the chunks never end); if it
                // were, the parser starts over rather than stop reading the stream.
                Poll::Ready(Some(Err(_)) | None) => {
                    self.restart();
                    break;
                }
                Poll::Pending => break,
            }
        }
    }

    /// `bytes` after the partial character of the last chunk, as UTF-8 with each invalid
    /// sequence replaced by U+FFFD; a sequence cut at the end waits for the next chunk.
    fn decode(&mut self, bytes: &[u8]) -> String {
        let joined;
        let mut input = if self.partial_char.is_empty() {
            bytes
        } else {
            joined = [std::mem::take(&mut self.partial_char).as_slice(), bytes].concat();
            joined.as_slice()
        };
        let mut text = String::with_capacity(input.len());
        loop {
            match std::str::from_utf8(input) {
                Ok(valid) => {
                    text.push_str(valid);
                    return text;
                }
                Err(e) => {
                    let (valid, after) = input.split_at(e.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            input = &after[bad..];
                        }
                        None => {
                            self.partial_char = after.to_vec();
                            return text;
                        }
                    }
                }
            }
        }
    }

    /// A fresh parser: what the old one held of an event is dropped.
    fn restart(&mut self) {
        let chunks = Chunks::default();
        self.queue = chunks.0.clone();
        self.events = chunks.eventsource();
        self.partial_char.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn events_complete_across_chunks_and_line_endings() {
        let mut feed = EventFeed::new(1024);
        assert!(feed.push(b"event: status\ndata: {\"a\"").is_empty());
        let done = feed.push(b":1}\n\n: ping\r\n\r\ndata: x\r\ndata: y\r\n");
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!(done[0].event, "status");
        assert_eq!(done[0].data, "{\"a\":1}");
        let done = feed.push(b"\r\n");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].event, "message");
        assert_eq!(done[0].data, "x\ny");
        let done = feed.push(b"data: cr\r\rdata: lf\n\n");
        assert_eq!(data(&done), ["cr", "lf"], "CR alone ends lines too");
    }

    #[test]
    fn an_oversized_event_is_skipped_and_the_next_ones_are_read() {
        let mut feed = EventFeed::new(16);
        // One chunk: a small event, the start of a big one.
        let done = feed.push(b"data: before\n\ndata: 0123456789");
        assert_eq!(data(&done), ["before"]);
        assert_eq!(feed.skipped(), 0);
        assert!(feed.push(b"abcdef\r\ndata: more of it").is_empty());
        assert_eq!(feed.skipped(), 1);
        // Its end (CRLF split across chunks), then events read as usual.
        assert!(feed.push(b"\r\n\r").is_empty());
        let done = feed.push(b"\ndata: after\r\n\r\n");
        assert_eq!(data(&done), ["after"]);
        // Two oversized events and small ones in one chunk.
        let done = feed.push(
            b"data: 0123456789abcdef\n\ndata: a\n\n: a very long comment line\n\ndata: b\n\n",
        );
        assert_eq!(data(&done), ["a", "b"]);
        assert_eq!(feed.skipped(), 3);
    }

    #[test]
    fn bytes_that_are_not_utf8_spoil_their_event_only() {
        let mut feed = EventFeed::new(1024);
        let done = feed.push(b"data: \xff\xfe!\n\ndata: ok\n\n");
        assert_eq!(data(&done), ["\u{fffd}\u{fffd}!", "ok"]);
        // A character split across chunks is whole.
        let e_acute = "é".as_bytes();
        assert!(feed
            .push(&[b"data: caf".as_slice(), &e_acute[..1]].concat())
            .is_empty());
        let done = feed.push(&[&e_acute[1..], b"\n\n".as_slice()].concat());
        assert_eq!(data(&done), ["café"]);
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
        assert!(!size.observe(b"data: 1\n"), "still the same event");
        assert!(size.observe(b"\ndata: 1\n\n"), "the next event");
    }

    /// `observe` takes runs between line ends at once; it must count exactly as feeding
    /// the bytes one at a time does, wherever the chunks are cut.
    #[test]
    fn observing_runs_counts_as_byte_by_byte() {
        const ALPHABET: &[u8] = b"ab: \r\n\n\n";
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for round in 0..2_000 {
            let max = 1 + next(24);
            let stream: Vec<u8> = (0..next(120))
                .map(|_| ALPHABET[next(ALPHABET.len())])
                .collect();
            let (mut runs, mut bytes) = (EventSize::new(max), EventSize::new(max));
            let mut rest = stream.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(1 + next(rest.len()));
                let mut expected = true;
                for &byte in chunk {
                    expected &= bytes.step(byte) != Step::Over;
                }
                assert_eq!(runs.observe(chunk), expected, "round {round}: {stream:?}");
                let state = |s: &EventSize| (s.retained, s.line, s.comment, s.after_cr);
                assert_eq!(state(&runs), state(&bytes), "round {round}: {stream:?}");
                rest = tail;
            }
        }
    }
}
