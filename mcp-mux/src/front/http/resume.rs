//! Resumable SSE streams of legacy Streamable HTTP sessions (2025-03-26 and
//! later): a client whose stream breaks reconnects with `GET` and
//! `Last-Event-ID`, and gets what it missed, then the rest as it happens.
//!
//! Every event of such a stream (a request's response once it turned into SSE,
//! or a session's GET stream) carries the id `<stream>-<seq>`. The events are
//! kept ([`MAX_KEPT_EVENTS`], [`MAX_KEPT_BYTES`]) in a [`Replay`] that outlives
//! the HTTP response: a [`pump`] task feeds it from the request, and whichever
//! response is attached at the moment reads it. A client that goes away does not
//! cancel its request at once (the spec says disconnection is not cancellation);
//! only when nobody has resumed the stream for [`RESUME_WINDOW`] is the request
//! cancelled. A finished stream is kept for the same window, so a client that
//! lost the connection just before the result still gets it.
//!
//! Streams live in the replica that served them: a resumption must reach it
//! (session affinity with several replicas); elsewhere it is refused, clearly.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rmcp::model::ServerJsonRpcMessage;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::DropGuard;

use super::session::{Rng, RngError};

/// How long a stream whose client went away waits to be resumed before its request is
/// cancelled, and how long a finished stream's events are kept.
pub(crate) const RESUME_WINDOW: Duration = Duration::from_secs(30);
/// Most events kept per stream (the oldest are dropped first).
const MAX_KEPT_EVENTS: usize = 256;
/// Most bytes of events kept per stream.
const MAX_KEPT_BYTES: usize = 1 << 20;
/// Most streams kept per endpoint: beyond it, ended streams are forgotten early, oldest
/// first (a busy endpoint would otherwise hold every call's events for the whole window).
const MAX_STREAMS: usize = 4096;

/// The resumable streams of one endpoint.
pub(crate) struct Replays {
    inner: Mutex<Streams>,
    window: Duration,
    max_streams: usize,
}

struct Streams {
    by_id: HashMap<u64, Arc<Replay>>,
    /// Streams that ended, by when they are forgotten (in order: the window is fixed).
    ending: VecDeque<(Instant, u64)>,
    next_id: u64,
}

#[cfg(test)]
impl Default for Replays {
    fn default() -> Self {
        Self::with_window(RESUME_WINDOW, 0)
    }
}

/// Why a `Last-Event-ID` cannot be resumed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum ResumeError {
    #[error("Last-Event-ID {0:?} is not an event id of this gateway")]
    Malformed(String),
    #[error("the stream of event {0:?} is not kept here: it ended more than {1:?} ago, or another replica served it")]
    Unknown(String, Duration),
}

impl Replays {
    /// The streams of a new endpoint. Ids start at a random point, so a restarted replica
    /// does not take ids a client still holds for another stream.
    pub(crate) fn new(rng: &Rng) -> Result<Self, RngError> {
        let mut seed = [0u8; 8];
        rng.fill(&mut seed)?;
        Ok(Self::with_window(
            RESUME_WINDOW,
            u64::from_le_bytes(seed) >> 12,
        ))
    }

    fn with_window(window: Duration, first_id: u64) -> Self {
        Self {
            inner: Mutex::new(Streams {
                by_id: HashMap::new(),
                ending: VecDeque::new(),
                next_id: first_id,
            }),
            window,
            max_streams: MAX_STREAMS,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Streams> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new stream of `session`, and the receiver of its events for the response.
    pub(crate) fn open(&self, session: &str) -> (Arc<Replay>, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut streams = self.lock();
        let now = Instant::now();
        while let Some(&(at, id)) = streams.ending.front() {
            if at > now && streams.by_id.len() < self.max_streams {
                break;
            }
            streams.ending.pop_front();
            streams.by_id.remove(&id);
        }
        streams.next_id += 1;
        let replay = Arc::new(Replay {
            id: streams.next_id,
            session: Arc::from(session),
            state: Mutex::new(State {
                next_seq: 1,
                kept: VecDeque::new(),
                kept_bytes: 0,
                dropped_through: 0,
                listener: Some(tx),
                finished: false,
            }),
            reattached: Notify::new(),
            window: self.window,
        });
        streams.by_id.insert(replay.id, replay.clone());
        (replay, rx)
    }

    /// `replay` ended (its request finished, or nobody resumed it): forgotten after the window.
    pub(crate) fn retire(&self, replay: &Replay) {
        {
            let mut state = replay.lock();
            state.finished = true;
            state.listener = None;
        }
        let at = Instant::now() + self.window;
        self.lock().ending.push_back((at, replay.id));
    }

    /// Resumes `session`'s stream after `last_event_id`: the events kept after it, and the
    /// receiver of the rest (closed at once if the stream has ended). The response that was
    /// reading the stream, if any, ends.
    pub(crate) fn resume(
        &self,
        session: &str,
        last_event_id: &str,
    ) -> Result<(VecDeque<Bytes>, mpsc::UnboundedReceiver<Bytes>), ResumeError> {
        let malformed = || ResumeError::Malformed(last_event_id.to_owned());
        let (stream, seq) = last_event_id.split_once('-').ok_or_else(malformed)?;
        let stream: u64 = stream.parse().map_err(|_| malformed())?;
        let seq: u64 = seq.parse().map_err(|_| malformed())?;
        let replay = self
            .lock()
            .by_id
            .get(&stream)
            .filter(|r| &*r.session == session)
            .cloned()
            .ok_or_else(|| ResumeError::Unknown(last_event_id.to_owned(), self.window))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = replay.lock();
        if state.dropped_through > seq {
            tracing::warn!(
                lost = state.dropped_through - seq,
                "MCP stream resumed after events no longer kept; the client misses them"
            );
        }
        let backlog = state
            .kept
            .iter()
            .filter(|(s, _)| *s > seq)
            .map(|(_, b)| b.clone())
            .collect();
        if !state.finished {
            state.listener = Some(tx);
        }
        drop(state);
        replay.reattached.notify_waiters();
        tracing::debug!(%last_event_id, "MCP stream resumed");
        Ok((backlog, rx))
    }
}

/// One resumable stream: its kept events and the response reading it now, if any.
pub(crate) struct Replay {
    id: u64,
    session: Arc<str>,
    state: Mutex<State>,
    reattached: Notify,
    window: Duration,
}

struct State {
    next_seq: u64,
    kept: VecDeque<(u64, Bytes)>,
    kept_bytes: usize,
    /// The last sequence number no longer kept (0: none dropped).
    dropped_through: u64,
    listener: Option<mpsc::UnboundedSender<Bytes>>,
    finished: bool,
}

impl Replay {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `msg` to the stream: kept, and sent to the attached response if there is one.
    pub(crate) fn push(&self, msg: &ServerJsonRpcMessage) {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        let json = serde_json::to_string(msg).unwrap_or_default();
        let event = Bytes::from(format!(
            "id: {}-{seq}\nevent: message\ndata: {json}\n\n",
            self.id
        ));
        state.kept_bytes += event.len();
        state.kept.push_back((seq, event.clone()));
        while state.kept.len() > MAX_KEPT_EVENTS
            || (state.kept_bytes > MAX_KEPT_BYTES && state.kept.len() > 1)
        {
            if let Some((s, b)) = state.kept.pop_front() {
                state.kept_bytes -= b.len();
                state.dropped_through = s;
            }
        }
        let gone = state
            .listener
            .as_ref()
            .is_some_and(|l| l.send(event).is_err());
        if gone {
            state.listener = None;
        }
    }

    /// Resolves once nobody has read the stream for the resume window.
    pub(crate) async fn abandoned(&self) {
        loop {
            let reattached = self.reattached.notified();
            tokio::pin!(reattached);
            reattached.as_mut().enable();
            let listener = self.lock().listener.clone();
            if let Some(l) = listener {
                tokio::select! {
                    () = l.closed() => {}
                    () = &mut reattached => continue,
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.window) => return,
                () = reattached => {}
            }
        }
    }
}

/// Feeds a request's messages into `replay`, then its result: `first` (the message that
/// turned the response into a stream), the rest of `notes`, and the final message. If the
/// stream is abandoned first, `cancel_on_drop` cancels the request.
pub(crate) async fn pump(
    replays: Arc<Replays>,
    replay: Arc<Replay>,
    first: ServerJsonRpcMessage,
    mut notes: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
    mut result: oneshot::Receiver<ServerJsonRpcMessage>,
    cancel_on_drop: DropGuard,
) {
    replay.push(&first);
    let abandoned = replay.abandoned();
    tokio::pin!(abandoned);
    loop {
        tokio::select! {
            biased;
            Some(m) = notes.recv() => replay.push(&m),
            outcome = &mut result => {
                cancel_on_drop.disarm();
                while let Ok(m) = notes.try_recv() {
                    replay.push(&m);
                }
                if let Ok(m) = outcome {
                    replay.push(&m);
                }
                break;
            }
            () = &mut abandoned => {
                tracing::info!(window = ?replays.window, "MCP client went away and did not resume its stream; request cancelled");
                drop(cancel_on_drop);
                break;
            }
        }
    }
    replays.retire(&replay);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{RequestId, ServerResult};

    fn message(n: i64) -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::response(ServerResult::empty(()), RequestId::Number(n))
    }

    fn id_of(event: &Bytes) -> String {
        let text = String::from_utf8_lossy(event);
        text.lines()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn a_resumed_stream_replays_what_followed_the_last_event_then_goes_on() {
        let replays = Replays::default();
        let (replay, mut first) = replays.open("s");
        replay.push(&message(1));
        replay.push(&message(2));
        let seen = first.recv().await.expect("event");
        drop(first); // the client goes away after one event
        replay.push(&message(3));
        let last = id_of(&seen);
        assert!(matches!(
            replays.resume("other", &last),
            Err(ResumeError::Unknown(..))
        ));
        assert!(matches!(
            replays.resume("s", "nope"),
            Err(ResumeError::Malformed(_))
        ));
        let (backlog, mut rest) = replays.resume("s", &last).expect("resume");
        let ids: Vec<String> = backlog.iter().map(id_of).collect();
        let stream = last.split('-').next().unwrap_or_default();
        assert_eq!(ids, [format!("{stream}-2"), format!("{stream}-3")]);
        replay.push(&message(4));
        assert_eq!(
            rest.recv().await.map(|e| id_of(&e)),
            Some(format!("{stream}-4"))
        );
        replays.retire(&replay);
        assert_eq!(rest.recv().await, None, "ended");
        let (backlog, mut after_end) = replays.resume("s", &last).expect("kept after the end");
        assert_eq!(backlog.len(), 3);
        assert_eq!(after_end.recv().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_nobody_resumes_is_abandoned_after_the_window() {
        let replays = Arc::new(Replays::with_window(Duration::from_secs(5), 0));
        let (replay, rx) = replays.open("s");
        let cancel = tokio_util::sync::CancellationToken::new();
        let (_notes_tx, notes) = mpsc::unbounded_channel();
        let (_result_tx, result) = oneshot::channel();
        let task = tokio::spawn(pump(
            replays.clone(),
            replay,
            message(1),
            notes,
            result,
            cancel.clone().drop_guard(),
        ));
        drop(rx);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!cancel.is_cancelled(), "still within the window");
        tokio::time::sleep(Duration::from_secs(2)).await;
        task.await.expect("pump");
        assert!(cancel.is_cancelled(), "abandoned: the request is cancelled");
    }

    #[tokio::test]
    async fn ended_streams_are_forgotten_early_when_there_are_too_many() {
        let replays = Replays {
            max_streams: 2,
            ..Replays::default()
        };
        let (first, _rx) = replays.open("s");
        first.push(&message(1));
        replays.retire(&first);
        let first_event = format!("{}-1", first.id);
        let (live, _live_rx) = replays.open("s");
        live.push(&message(1));
        assert!(
            replays.resume("s", &first_event).is_ok(),
            "two streams: both kept"
        );
        let (_third, _third_rx) = replays.open("s");
        assert!(
            matches!(
                replays.resume("s", &first_event),
                Err(ResumeError::Unknown(..))
            ),
            "the ended one made room"
        );
        let live_event = format!("{}-1", live.id);
        assert!(
            replays.resume("s", &live_event).is_ok(),
            "live streams stay"
        );
    }

    #[tokio::test]
    async fn old_events_are_dropped_beyond_the_limit() {
        let replays = Replays::default();
        let (replay, _rx) = replays.open("s");
        for n in 0..(MAX_KEPT_EVENTS as i64 + 10) {
            replay.push(&message(n));
        }
        let first = format!("{}-1", replay.id);
        let (backlog, _) = replays.resume("s", &first).expect("resume");
        assert_eq!(backlog.len(), MAX_KEPT_EVENTS);
    }
}
