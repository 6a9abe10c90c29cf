//! Questions to 2026-07-28 clients as MRTR round trips.
//!
//! A client of the stateless era cannot be sent requests, so when a target
//! asks (elicitation, sampling) during one of its calls, the call is parked:
//! the current response ends with `{"resultType": "input_required",
//! "inputRequests": {"1": <the question>}, "requestState": <token>}`, the
//! upstream call keeps waiting, and the client's retry (a new request with
//! `inputResponses` and the same `requestState`) hands the answer over and
//! becomes the response for the rest of the call: its progress, another
//! question, or the result. A call is one task across all its rounds;
//! [`Rounds`] is where that task sends, swapped at each retry.
//!
//! The token is 128 random bits naming the parked call in this process (it
//! cannot be forged or guessed; it expires after [`PARK_TTL`], when the call
//! is cancelled). Retries must reach the replica that parked the call, so
//! several replicas need session affinity on the client for these calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    ClientResult, ErrorData, InputRequest, InputRequiredResult, InputResponses, RequestId,
    ServerJsonRpcMessage, ServerRequest, ServerResult,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::session::{Rng, RngError};

/// How long a parked call waits for the client's retry.
pub(crate) const PARK_TTL: Duration = Duration::from_secs(600);
/// Prefix of the gateway's own `requestState` tokens; any other value belongs
/// to a target that returned `input_required` itself and passes through.
const TOKEN_PREFIX: &str = "sb-mrtr.";
/// The key of the one question in `inputRequests`.
const KEY: &str = "1";

/// Where the current round of a call sends.
struct Round {
    id: RequestId,
    notes: mpsc::UnboundedSender<ServerJsonRpcMessage>,
    terminal: Option<oneshot::Sender<ServerJsonRpcMessage>>,
}

/// A modern-era call's link to the response of its current round.
pub(crate) struct Rounds {
    /// Cancels the call (its upstream request) when the client goes away.
    pub(crate) call: CancellationToken,
    round: Mutex<Round>,
    parked: Arc<ParkedCalls>,
}

impl Rounds {
    pub(crate) fn new(
        id: RequestId,
        notes: mpsc::UnboundedSender<ServerJsonRpcMessage>,
        terminal: oneshot::Sender<ServerJsonRpcMessage>,
        call: CancellationToken,
        parked: Arc<ParkedCalls>,
    ) -> Arc<Self> {
        Arc::new(Self {
            call,
            round: Mutex::new(Round {
                id,
                notes,
                terminal: Some(terminal),
            }),
            parked,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Round> {
        self.round.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a notification on the current round's response; false if it is gone.
    pub(crate) fn notify(&self, message: ServerJsonRpcMessage) -> bool {
        self.lock().notes.send(message).is_ok()
    }

    /// Ends the call: `message(id)` answers the current round.
    pub(crate) fn finish(&self, message: impl FnOnce(RequestId) -> ServerJsonRpcMessage) {
        let mut round = self.lock();
        let id = round.id.clone();
        if let Some(terminal) = round.terminal.take() {
            let _ = terminal.send(message(id));
        }
    }

    /// Parks the call, ends the current round with `input_required`, and
    /// waits for the answer the client's retry brings.
    pub(crate) async fn ask(
        self: &Arc<Self>,
        request: ServerRequest,
        cancel: &CancellationToken,
    ) -> Result<ClientResult, ErrorData> {
        let (kind, input) = match request {
            ServerRequest::ElicitRequest(r) => (Kind::Elicit, InputRequest::Elicitation(r)),
            #[allow(deprecated)]
            ServerRequest::CreateMessageRequest(r) => {
                (Kind::Sample, InputRequest::CreateMessage(r))
            }
            _ => {
                return Err(ErrorData::invalid_request(
                    "only elicitation and sampling can be asked of a 2026-07-28 client",
                    None,
                ))
            }
        };
        let (answer_tx, answer) = oneshot::channel();
        let token = self
            .parked
            .park(Parked {
                rounds: self.clone(),
                answer: answer_tx,
            })
            .map_err(|e| {
                tracing::error!(error = %e, "MCP question not asked: no token for the parked call");
                ErrorData::internal_error("the gateway cannot park the call: no randomness", None)
            })?;
        let result = InputRequiredResult::new(
            Some(BTreeMap::from([(KEY.to_owned(), input)])),
            Some(token.clone()),
        );
        {
            let mut round = self.lock();
            let id = round.id.clone();
            let Some(terminal) = round.terminal.take() else {
                drop(round);
                self.parked.take(&token);
                return Err(ErrorData::invalid_request(
                    "the call already has a question waiting for the client; one at a time",
                    None,
                ));
            };
            let message =
                ServerJsonRpcMessage::response(ServerResult::InputRequiredResult(result), id);
            if terminal.send(message).is_err() {
                drop(round);
                self.parked.take(&token);
                return Err(ErrorData::internal_error(
                    "the client went away before it could be asked",
                    None,
                ));
            }
        }
        tracing::debug!("MCP call parked for the client's input (MRTR)");
        let value = tokio::select! {
            v = answer => v.map_err(|_| ErrorData::internal_error(
                "the client did not retry with an answer in time", None))?,
            () = cancel.cancelled() => {
                self.parked.take(&token);
                return Err(ErrorData::internal_error("the call was cancelled while waiting for the client", None));
            }
        };
        kind.parse(value)
    }
}

/// What the question asked, to read the answer back.
#[derive(Clone, Copy)]
enum Kind {
    Elicit,
    Sample,
}

impl Kind {
    fn parse(self, value: Value) -> Result<ClientResult, ErrorData> {
        let bad = |e: serde_json::Error| {
            ErrorData::invalid_params(format!("the client's answer does not parse: {e}"), None)
        };
        Ok(match self {
            Self::Elicit => ClientResult::ElicitResult(serde_json::from_value(value).map_err(bad)?),
            #[allow(deprecated)]
            Self::Sample => ClientResult::CreateMessageResult(Box::new(
                serde_json::from_value(value).map_err(bad)?,
            )),
        })
    }
}

/// A parked call: its rounds and where the answer goes.
struct Parked {
    rounds: Arc<Rounds>,
    answer: oneshot::Sender<Value>,
}

/// The calls of one endpoint waiting for a client's retry.
pub(crate) struct ParkedCalls {
    calls: Mutex<HashMap<String, Parked>>,
    /// Makes the tokens: whoever holds one can answer the call's question.
    rng: Rng,
}

/// Whether a `requestState` is one of the gateway's own.
pub(crate) fn is_gateway_token(state: &str) -> bool {
    state.starts_with(TOKEN_PREFIX)
}

impl ParkedCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Parked>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn new(rng: Rng) -> Self {
        Self {
            calls: Mutex::default(),
            rng,
        }
    }

    /// Parks a call under a new token, or fails when there is no randomness to make one
    /// (a guessable token would let anyone answer the question).
    fn park(self: &Arc<Self>, parked: Parked) -> Result<String, RngError> {
        let token = format!("{TOKEN_PREFIX}{}", self.rng.hex_id(16)?);
        self.lock().insert(token.clone(), parked);
        let calls = Arc::downgrade(self);
        let expiring = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PARK_TTL).await;
            let expired = calls.upgrade().and_then(|c| c.take(&expiring));
            if let Some(p) = expired {
                tracing::info!(
                    "MCP call cancelled: the client did not answer its question in time"
                );
                p.rounds.call.cancel();
            }
        });
        Ok(token)
    }

    fn take(&self, token: &str) -> Option<Parked> {
        self.lock().remove(token)
    }

    /// The client's retry: installs the new round and hands over the answer.
    /// Returns the call's cancellation token, for the new response to hold.
    pub(crate) fn resume(
        &self,
        token: &str,
        responses: Option<&InputResponses>,
        id: RequestId,
        notes: mpsc::UnboundedSender<ServerJsonRpcMessage>,
        terminal: oneshot::Sender<ServerJsonRpcMessage>,
    ) -> Result<CancellationToken, ErrorData> {
        let answer = responses.and_then(|r| r.get(KEY)).cloned().ok_or_else(|| {
            ErrorData::invalid_params(
                format!(
                    "the retry must carry inputResponses[\"{KEY}\"], the answer to the question"
                ),
                None,
            )
        })?;
        let parked = self.take(token).ok_or_else(|| {
            ErrorData::invalid_params(
                "unknown or expired requestState: the call it named is over (answered, cancelled, \
                 timed out, or parked on another replica); send the request again",
                None,
            )
        })?;
        {
            let mut round = parked.rounds.lock();
            *round = Round {
                id,
                notes,
                terminal: Some(terminal),
            };
        }
        let call = parked.rounds.call.clone();
        if parked.answer.send(answer).is_err() {
            return Err(ErrorData::internal_error("the parked call ended", None));
        }
        Ok(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ElicitationAction, Request};

    fn elicit() -> ServerRequest {
        let params = serde_json::from_value(serde_json::json!({
            "mode": "form", "message": "name?",
            "requestedSchema": {"type": "object", "properties": {"n": {"type": "string"}}}
        }))
        .expect("params");
        ServerRequest::ElicitRequest(Request::new(params))
    }

    #[tokio::test]
    async fn a_question_ends_the_round_and_the_retry_brings_the_answer() {
        let parked = Arc::new(ParkedCalls::new(Rng::system()));
        let (notes, _notes_rx) = mpsc::unbounded_channel();
        let (terminal, first) = oneshot::channel();
        let rounds = Rounds::new(
            RequestId::Number(1),
            notes.clone(),
            terminal,
            CancellationToken::new(),
            parked.clone(),
        );
        let asking = {
            let rounds = rounds.clone();
            tokio::spawn(async move { rounds.ask(elicit(), &CancellationToken::new()).await })
        };
        let first = first.await.expect("round 1 ends");
        let value = serde_json::to_value(&first).expect("json");
        assert_eq!(value["id"], 1);
        assert_eq!(value["result"]["resultType"], "input_required", "{value}");
        assert_eq!(
            value["result"]["inputRequests"]["1"]["method"],
            "elicitation/create"
        );
        let token = value["result"]["requestState"]
            .as_str()
            .expect("token")
            .to_owned();
        assert!(is_gateway_token(&token));

        let (terminal, second) = oneshot::channel();
        let responses = InputResponses::from([(
            KEY.to_owned(),
            serde_json::json!({"action": "accept", "content": {"n": "Ada"}}),
        )]);
        parked
            .resume(
                &token,
                Some(&responses),
                RequestId::Number(2),
                notes,
                terminal,
            )
            .expect("resumed");
        let answer = asking.await.expect("task").expect("answer");
        let ClientResult::ElicitResult(answer) = answer else {
            panic!("not an elicit result");
        };
        assert_eq!(answer.action, ElicitationAction::Accept);
        rounds.finish(|id| ServerJsonRpcMessage::response(ServerResult::empty(()), id));
        let done = serde_json::to_value(second.await.expect("round 2 ends")).expect("json");
        assert_eq!(done["id"], 2, "the result answers the retry's id");
        let again = parked.resume(
            &token,
            Some(&responses),
            RequestId::Number(3),
            mpsc::unbounded_channel().0,
            oneshot::channel().0,
        );
        assert!(again.is_err(), "a token works once");
    }
}
