//! Building the front end's HTTP responses: a request's answer as JSON or as an SSE stream
//! ([`respond`]), and the plain, JSON-RPC and empty replies of everything else.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{header, HeaderValue, Response, StatusCode};
use rmcp::model::{ErrorData, JsonRpcError, RequestId, ServerJsonRpcMessage, ServerResult};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::era::{self, Era};
use super::{body, mrtr, resume, ResponseBody};

pub(super) type Reply = Response<ResponseBody>;

/// How a request's task delivers its final message.
pub(super) enum Finish {
    /// To the one response of the request.
    Direct(oneshot::Sender<ServerJsonRpcMessage>, RequestId),
    /// To the response of the call's current round (see [`mrtr`]).
    Rounds(Arc<mrtr::Rounds>),
}

impl Finish {
    pub(super) fn send(self, message: impl FnOnce(RequestId) -> ServerJsonRpcMessage) {
        match self {
            Self::Direct(tx, id) => {
                let _ = tx.send(message(id));
            }
            Self::Rounds(rounds) => rounds.finish(message),
        }
    }
}

/// A request's call (its result goes to the request's `result` channel), polled on the
/// task that accepted the request until it answers or starts streaming.
pub(super) type CallFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What comes first from a request's call.
enum First {
    /// The final message (or the call's end without one).
    Final(Result<ServerJsonRpcMessage, oneshot::error::RecvError>),
    /// A notification or question: the response becomes a stream.
    Note(ServerJsonRpcMessage),
}

/// The response of one request (or round): JSON when the final message comes
/// first, else SSE from the first notification on, ending with the final
/// message. `guard` cancels the request if the client goes away before that,
/// unless the stream is `resumable` (a legacy session's, see [`resume`]): then
/// only if nobody resumes it in time.
///
/// `call`, when given, is run right here: a call answered without streaming (the common
/// case) costs no task and no thread hand-off. Only a call still running once its response
/// has started (it streams, or a 2026-07-28 round ended while the call waits for input)
/// moves to a task of its own, so the response can be returned while it goes on.
pub(super) async fn respond(
    era: &Era,
    mut notes: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
    mut result: oneshot::Receiver<ServerJsonRpcMessage>,
    guard: tokio_util::sync::DropGuard,
    resumable: Option<(&Arc<resume::Replays>, Arc<str>)>,
    mut call: Option<CallFuture>,
) -> Reply {
    let first = loop {
        tokio::select! {
            biased;
            () = run(&mut call), if call.is_some() => call = None,
            done = &mut result => break First::Final(done),
            Some(note) = notes.recv() => break First::Note(note),
        }
    };
    if let Some(rest) = call {
        tokio::spawn(rest);
    }
    match first {
        First::Final(done) => {
            let Ok(msg) = done else {
                return jsonrpc_refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    ErrorData::internal_error("the request's task ended without a result", None),
                );
            };
            let mut queued = VecDeque::new();
            while let Ok(m) = notes.try_recv() {
                queued.push_back(body::sse_event(&m));
            }
            guard.disarm();
            if queued.is_empty() {
                let status = match &msg {
                    ServerJsonRpcMessage::Error(e) => era::error_status(e.error.code, era),
                    _ => StatusCode::OK,
                };
                return json_reply(status, &msg);
            }
            queued.push_back(body::sse_event(&msg));
            let (_, never) = oneshot::channel();
            sse_reply(body::SseStream::new(
                queued,
                notes,
                never,
                CancellationToken::new().drop_guard(),
            ))
        }
        First::Note(first) => {
            if let Some((replays, session)) = resumable {
                let (replay, events) = replays.open(&session);
                tokio::spawn(resume::pump(
                    replays.clone(),
                    replay,
                    first,
                    notes,
                    result,
                    guard,
                ));
                return sse_reply(body::SseStream::events(VecDeque::new(), events));
            }
            let queued = VecDeque::from([body::sse_event(&first)]);
            sse_reply(body::SseStream::new(queued, notes, result, guard))
        }
    }
}

/// Polls the call until it ends.
async fn run(call: &mut Option<CallFuture>) {
    if let Some(call) = call {
        call.await;
    }
}

pub(super) fn plain(status: StatusCode, text: &'static str) -> Reply {
    let mut r = Response::new(ResponseBody::full(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

pub(super) fn accepted() -> Reply {
    let mut r = Response::new(ResponseBody::empty());
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

/// The plain JSON reply of a request answered without a stream.
pub(super) fn result_reply(
    era: &Era,
    id: RequestId,
    result: Result<ServerResult, ErrorData>,
) -> Reply {
    match result {
        Ok(mut r) => {
            era::shape_result(&mut r, era);
            json_reply(StatusCode::OK, &ServerJsonRpcMessage::response(r, id))
        }
        Err(mut e) => {
            era::shape_error(&mut e, era);
            json_reply(
                era::error_status(e.code, era),
                &ServerJsonRpcMessage::error(e, Some(id)),
            )
        }
    }
}

pub(super) fn json_reply(status: StatusCode, msg: &ServerJsonRpcMessage) -> Reply {
    let body = serde_json::to_vec(msg).unwrap_or_default();
    let mut r = Response::new(ResponseBody::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(super) fn jsonrpc_refusal(
    status: StatusCode,
    id: Option<RequestId>,
    error: ErrorData,
) -> Reply {
    let body = serde_json::to_vec(&JsonRpcError::new(id, error)).unwrap_or_default();
    let mut r = Response::new(ResponseBody::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(super) fn sse_reply(stream: body::SseStream) -> Reply {
    let mut r = Response::new(ResponseBody::sse(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
