//! Streamed responses, event by event, never buffered beyond the event being received.
//!
//! [`ResponseStream`] takes the provider's body chunk by chunk ([`ResponseStream::push`])
//! and returns what to send to the client at once: the same bytes for a same-format stream
//! (only observed), or the translated events. Usage, the first token and how the stream
//! ended are kept for metering. The SSE split is `netkit::sse::EventFeed`, the workspace's
//! one push parser (it handles events split across any chunking).

mod blocks;
mod event_ends;
mod from_bedrock;
mod from_gemini;
mod observer;
mod reframe;
mod sse_out;
mod to_anthropic;
mod to_openai;
mod to_responses;

use bytes::Bytes;
use netkit::sse::EventFeed;

use crate::client_error::{error_event, responses_error_event, ErrorKind};
use crate::{ClientApi, Plan, ProviderApi, Usage};
use blocks::Blocks;
use event_ends::EventEnds;
use from_bedrock::FromBedrock;
use from_gemini::FromGemini;
pub(crate) use observer::responses_usage;
use observer::{Family, Observer};
use reframe::Reframe;
use to_anthropic::ToAnthropic;
use to_openai::ToOpenAi;
use to_responses::ToResponses;

/// The largest provider event read (a bigger one ends a translated stream with an error;
/// an observed stream still passes it through, unread).
pub const MAX_EVENT: usize = 4 << 20;

/// How a stream ended, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still going.
    InProgress,
    /// The provider's end marker was seen (`[DONE]`, `message_stop`, `response.completed`).
    Completed,
    /// The provider sent an error event; the client got it in its format.
    ProviderError(String),
    /// The provider sent something unreadable; the client got an error event.
    Malformed(String),
    /// The provider's body ended before the end marker; the client got an error event.
    Truncated,
    /// The gateway ended the stream ([`ResponseStream::abort`]): a read error, a stall.
    Aborted(String),
}

impl Outcome {
    fn message(&self) -> &str {
        match self {
            Outcome::ProviderError(m) | Outcome::Malformed(m) | Outcome::Aborted(m) => m,
            Outcome::Truncated => "the provider's stream ended before the response was complete",
            Outcome::InProgress | Outcome::Completed => "",
        }
    }
}

/// What the translators share: usage, the first token, the outcome.
#[derive(Debug)]
pub(crate) struct Meter {
    client: ClientApi,
    pub(crate) usage: Usage,
    pub(crate) outcome: Outcome,
    token_seen: bool,
    /// The first token went out during the current push.
    first_token_now: bool,
    /// The next `sequence_number` of a Responses stream the gateway writes (`None`: the
    /// client's stream is not one), error events included.
    pub(crate) seq: Option<u64>,
}

impl Meter {
    /// Notes output of a token (text, tool call name or arguments).
    pub(crate) fn token(&mut self) {
        if !self.token_seen {
            self.token_seen = true;
            self.first_token_now = true;
        }
    }

    pub(crate) fn token_seen(&self) -> bool {
        self.token_seen
    }

    /// Ends the client's stream with an error event.
    pub(crate) fn fail(&mut self, outcome: Outcome, kind: ErrorKind, out: &mut Vec<u8>) {
        match self.seq.as_mut() {
            Some(seq) => {
                out.extend_from_slice(&responses_error_event(kind, outcome.message(), *seq));
                *seq += 1;
            }
            None => out.extend_from_slice(&error_event(self.client, kind, outcome.message())),
        }
        self.outcome = outcome;
    }
}

enum Mode {
    Observe(Observer),
    Reframe(Reframe),
    ToAnthropic(ToAnthropic),
    ToOpenAi(ToOpenAi),
    ToResponses(ToResponses),
    FromGemini(FromGemini),
    /// Binary frames, not SSE: bypasses the event feed.
    FromBedrock(FromBedrock),
}

/// What one [`ResponseStream::push`] gives the gateway.
#[derive(Debug, Clone, Default)]
pub struct StreamOutput {
    /// The bytes to send to the client now (may be empty).
    pub bytes: Bytes,
    /// The first token of the response went out in these bytes (time to first token).
    pub first_token: bool,
}

/// One streamed response on its way from the provider to the client.
pub struct ResponseStream {
    feed: EventFeed,
    mode: Mode,
    meter: Meter,
    /// The last bytes passed through (observe mode): whether they ended an event.
    tail: [u8; 2],
    seen_bytes: bool,
    /// Observe mode: where the provider's events end.
    ends: EventEnds,
    /// Observe mode: the bytes of the event being received, sent once it is complete.
    held: Vec<u8>,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.mode {
            Mode::Observe(_) => "observe",
            Mode::Reframe(_) => "reframe",
            Mode::ToAnthropic(_) => "to anthropic",
            Mode::ToOpenAi(_) => "to openai",
            Mode::ToResponses(_) => "to responses",
            Mode::FromGemini(_) => "from gemini",
            Mode::FromBedrock(_) => "from bedrock",
        };
        f.debug_struct("ResponseStream")
            .field("mode", &mode)
            .field("meter", &self.meter)
            .finish_non_exhaustive()
    }
}

impl ResponseStream {
    /// A stream for `plan` between a client of `client` and a provider of `provider`.
    /// `client_wants_usage`: the client's own `stream_options.include_usage` (see
    /// [`crate::RequestInfo`]); when false, the usage chunk the gateway asked for is kept
    /// from an OpenAI client.
    pub fn new(
        plan: Plan,
        client: ClientApi,
        provider: ProviderApi,
        client_wants_usage: bool,
    ) -> Self {
        let mode = match plan {
            Plan::OpenAiToAnthropic => Mode::ToOpenAi(ToOpenAi::new(client_wants_usage)),
            Plan::AnthropicToOpenAi => Mode::ToAnthropic(ToAnthropic::default()),
            Plan::ResponsesToAnthropic => Mode::ToResponses(ToResponses::new()),
            Plan::OpenAiToGemini => {
                Mode::FromGemini(FromGemini::new(Blocks::openai(client_wants_usage)))
            }
            Plan::AnthropicToGemini => Mode::FromGemini(FromGemini::new(Blocks::anthropic())),
            Plan::ResponsesToGemini => Mode::FromGemini(FromGemini::new(Blocks::responses())),
            Plan::OpenAiToBedrock => {
                Mode::FromBedrock(FromBedrock::new(Blocks::openai(client_wants_usage)))
            }
            Plan::AnthropicToBedrock => Mode::FromBedrock(FromBedrock::new(Blocks::anthropic())),
            Plan::ResponsesToBedrock => Mode::FromBedrock(FromBedrock::new(Blocks::responses())),
            Plan::Passthrough if provider == ProviderApi::OpenAiChat && !client_wants_usage => {
                Mode::Reframe(Reframe)
            }
            Plan::Passthrough => Mode::Observe(Observer::new(match provider {
                ProviderApi::OpenAiResponses => Family::OpenAiResponses,
                p if p.is_anthropic() => Family::Anthropic,
                _ => Family::OpenAiChat,
            })),
        };
        ResponseStream {
            feed: EventFeed::new(MAX_EVENT),
            mode,
            meter: Meter {
                client,
                usage: Usage::default(),
                outcome: Outcome::InProgress,
                token_seen: false,
                first_token_now: false,
                seq: matches!(
                    plan,
                    Plan::ResponsesToAnthropic | Plan::ResponsesToGemini | Plan::ResponsesToBedrock
                )
                .then_some(0),
            },
            tail: [b'\n', b'\n'],
            seen_bytes: false,
            ends: EventEnds::default(),
            held: Vec::new(),
        }
    }

    /// Usage so far (final once the stream completed).
    pub fn usage(&self) -> Usage {
        self.meter.usage
    }

    /// How the stream ended so far.
    pub fn outcome(&self) -> &Outcome {
        &self.meter.outcome
    }

    /// Whether the client's stream is over (completed or ended with an error event): later
    /// provider bytes are dropped.
    pub fn is_over(&self) -> bool {
        self.meter.outcome != Outcome::InProgress
    }

    /// The next chunk of the provider's body; what to send to the client now.
    pub fn push(&mut self, chunk: &Bytes) -> StreamOutput {
        self.meter.first_token_now = false;
        if matches!(self.mode, Mode::Observe(_)) {
            return self.observe(chunk);
        }
        if self.is_over() {
            return StreamOutput::default();
        }
        let mut out = Vec::new();
        if let Mode::FromBedrock(b) = &mut self.mode {
            b.push(chunk, &mut self.meter, &mut out);
            return StreamOutput {
                bytes: Bytes::from(out),
                first_token: self.meter.first_token_now,
            };
        }
        let skipped = self.feed.skipped();
        for event in self.feed.push(chunk) {
            self.event(&event.event, &event.data, &mut out);
            if self.is_over() {
                break;
            }
        }
        if self.feed.skipped() != skipped && !self.is_over() {
            let outcome = Outcome::Malformed(format!(
                "a provider event was larger than {MAX_EVENT} bytes"
            ));
            self.meter.fail(outcome, ErrorKind::Server, &mut out);
        }
        StreamOutput {
            bytes: Bytes::from(out),
            first_token: self.meter.first_token_now,
        }
    }

    /// Observe mode: `chunk` is passed on as it came, an event at a time (the bytes of an
    /// event still being received are held, see [`event_ends`]), each event read on the side.
    /// An unreadable event is not sent: the stream ends there with an error event.
    fn observe(&mut self, chunk: &Bytes) -> StreamOutput {
        if self.is_over() {
            return StreamOutput::default();
        }
        // What an earlier chunk held: the start of the event this chunk continues.
        let prev = std::mem::take(&mut self.held);
        // The chunk's bytes that end a complete event (sent now).
        let mut upto = 0;
        let mut pos = 0;
        loop {
            let end = self.ends.next_end(&chunk[pos..]).map(|e| pos + e);
            let piece = &chunk[pos..end.unwrap_or(chunk.len())];
            if let Mode::Observe(observer) = &mut self.mode {
                for event in self.feed.push(piece) {
                    observer.event(&event.event, &event.data, &mut self.meter);
                    if matches!(self.meter.outcome, Outcome::Malformed(_)) {
                        break;
                    }
                }
            }
            if matches!(self.meter.outcome, Outcome::Malformed(_)) {
                let first_token = self.meter.first_token_now;
                let mut out = Vec::new();
                if upto > 0 {
                    out.extend_from_slice(&prev);
                    out.extend_from_slice(&chunk[..upto]);
                    self.note_sent(&out);
                }
                let outcome = std::mem::replace(&mut self.meter.outcome, Outcome::InProgress);
                out.extend_from_slice(&self.end_with(outcome, ErrorKind::Server));
                return StreamOutput {
                    bytes: Bytes::from(out),
                    first_token,
                };
            }
            let Some(end) = end else { break };
            upto = end;
            pos = end;
            if self.is_over() {
                // What follows the end is dropped (held, never sent).
                break;
            }
        }
        // An event too large to hold is passed on unread, as it comes.
        if prev.len() + chunk.len() - upto > MAX_EVENT {
            upto = chunk.len();
        }
        let bytes = if prev.is_empty() && upto == chunk.len() {
            chunk.clone()
        } else if upto == 0 {
            self.held = prev;
            Bytes::new()
        } else {
            let mut out = prev;
            out.extend_from_slice(&chunk[..upto]);
            Bytes::from(out)
        };
        self.held.extend_from_slice(&chunk[upto..]);
        self.note_sent(&bytes);
        StreamOutput {
            bytes,
            first_token: self.meter.first_token_now,
        }
    }

    /// Observe mode: `bytes` went to the client (the end of an event or not, for
    /// [`Self::end_with`]).
    fn note_sent(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.seen_bytes = true;
            self.tail = match bytes.len() {
                1 => [self.tail[1], bytes[0]],
                n => [bytes[n - 2], bytes[n - 1]],
            };
        }
    }

    /// One provider event (name, data), for callers that split the stream themselves.
    pub fn push_event(&mut self, name: &str, data: &str) -> StreamOutput {
        self.meter.first_token_now = false;
        let mut out = Vec::new();
        if !self.is_over() || matches!(self.mode, Mode::Observe(_)) {
            self.event(name, data, &mut out);
        }
        StreamOutput {
            bytes: Bytes::from(out),
            first_token: self.meter.first_token_now,
        }
    }

    fn event(&mut self, name: &str, data: &str, out: &mut Vec<u8>) {
        // An event without data (a keep-alive some servers send) carries nothing to read.
        if data.trim().is_empty() {
            return;
        }
        match &mut self.mode {
            Mode::Observe(o) => o.event(name, data, &mut self.meter),
            Mode::Reframe(r) => r.event(name, data, &mut self.meter, out),
            Mode::ToAnthropic(t) => t.event(data, &mut self.meter, out),
            Mode::ToOpenAi(t) => t.event(name, data, &mut self.meter, out),
            Mode::ToResponses(t) => t.event(name, data, &mut self.meter, out),
            Mode::FromGemini(t) => t.event(data, &mut self.meter, out),
            // Fed bytes by `push` only: its frames are not SSE events.
            Mode::FromBedrock(_) => {}
        }
    }

    /// The provider's body ended. Returns the last bytes for the client: nothing after a
    /// complete stream, else an error event in the client's format (never a silent cut).
    pub fn finish(&mut self) -> Bytes {
        if !self.is_over() {
            let mut out = Vec::new();
            match &mut self.mode {
                Mode::ToAnthropic(t) => t.finish(&mut self.meter, &mut out),
                Mode::FromBedrock(b) => b.finish(&mut self.meter, &mut out),
                _ => {}
            }
            if self.is_over() {
                return Bytes::from(out);
            }
        }
        self.end_with(Outcome::Truncated, ErrorKind::Server)
    }

    /// The gateway gives up on the stream (a read error, a stall): an error event in the
    /// client's format, unless the stream is already over.
    pub fn abort(&mut self, kind: ErrorKind, message: &str) -> Bytes {
        self.end_with(Outcome::Aborted(message.to_string()), kind)
    }

    fn end_with(&mut self, outcome: Outcome, kind: ErrorKind) -> Bytes {
        if self.is_over() {
            return Bytes::new();
        }
        let mut out = Vec::new();
        // The start of an event never completed is not sent.
        self.held = Vec::new();
        // Passed-through bytes may stop inside an event (one too large to hold): end it
        // first, so the error event is read on its own.
        if matches!(self.mode, Mode::Observe(_))
            && self.seen_bytes
            && self.tail != *b"\n\n"
            && self.tail != *b"\r\r"
        {
            out.extend_from_slice(b"\n\n");
        }
        self.meter.fail(outcome, kind, &mut out);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests;
