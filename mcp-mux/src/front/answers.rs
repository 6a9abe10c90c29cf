//! Requests the gateway sends to an HTTP client on a response stream
//! (elicitation, sampling), and the client's answers, which arrive later as
//! POSTs of their own.
//!
//! The two halves meet here: [`PendingAnswers::ask`] mints an id, parks a
//! oneshot under `(session, id)` and waits; [`PendingAnswers::answer`] is what
//! the POST handler calls with the client's response. The map lives in one
//! process, so the answer must reach the replica that asked. Clients send it
//! on the session whose stream carried the question, and a load balancer with
//! session affinity keeps that true; without it, the question times out with
//! the call that caused it (documented in docs/config.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rmcp::model::{ClientResult, ErrorData, RequestId};
use tokio::sync::oneshot;

/// Most questions waiting for answers at once, over all sessions: a bound on
/// memory if clients never answer (each waiting call holds one).
const MAX_PENDING: usize = 10_000;

type Answer = Result<ClientResult, ErrorData>;

/// Questions sent to clients and not answered yet.
#[derive(Default)]
pub(crate) struct PendingAnswers {
    next: AtomicU64,
    waiting: Mutex<HashMap<(String, RequestId), oneshot::Sender<Answer>>>,
}

/// Whether a POSTed response matched a question.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    Unknown,
}

impl PendingAnswers {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, RequestId), oneshot::Sender<Answer>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves an id for a question on `session`; the answer arrives on the
    /// receiver. The reservation ends when the receiver is dropped and the
    /// next [`Self::answer`] or [`Self::forget`] for it runs.
    pub(crate) fn ask(
        &self,
        session: &str,
    ) -> Result<(RequestId, oneshot::Receiver<Answer>), ErrorData> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = RequestId::String(format!("sb-{n}").into());
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.lock();
        if waiting.len() >= MAX_PENDING {
            waiting.retain(|_, tx| !tx.is_closed());
            if waiting.len() >= MAX_PENDING {
                return Err(ErrorData::internal_error(
                    "too many questions to clients are waiting for answers",
                    None,
                ));
            }
        }
        waiting.insert((session.to_owned(), id.clone()), tx);
        Ok((id, rx))
    }

    /// Hands the client's answer to the question `id` of `session`.
    pub(crate) fn answer(&self, session: &str, id: RequestId, answer: Answer) -> Delivery {
        let waiting = self.lock().remove(&(session.to_owned(), id));
        match waiting.map(|tx| tx.send(answer)) {
            Some(Ok(())) => Delivery::Delivered,
            _ => Delivery::Unknown,
        }
    }

    /// Drops a question nobody waits for any more.
    pub(crate) fn forget(&self, session: &str, id: &RequestId) {
        self.lock().remove(&(session.to_owned(), id.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ElicitResult, ElicitationAction};

    #[tokio::test]
    async fn an_answer_reaches_the_question_of_its_session_only() {
        let pending = PendingAnswers::default();
        let (id, rx) = pending.ask("s1").expect("room");
        let accept = || {
            Ok(ClientResult::ElicitResult(ElicitResult::new(
                ElicitationAction::Accept,
            )))
        };
        assert_eq!(
            pending.answer("s2", id.clone(), accept()),
            Delivery::Unknown
        );
        assert_eq!(
            pending.answer("s1", id.clone(), accept()),
            Delivery::Delivered
        );
        assert!(matches!(rx.await, Ok(Ok(ClientResult::ElicitResult(_)))));
        assert_eq!(
            pending.answer("s1", id, accept()),
            Delivery::Unknown,
            "answered once"
        );
    }

    #[test]
    fn ids_are_unique_and_forgotten_questions_are_gone() {
        let pending = PendingAnswers::default();
        let (a, _rx_a) = pending.ask("s").expect("room");
        let (b, rx_b) = pending.ask("s").expect("room");
        assert_ne!(a, b);
        drop(rx_b);
        pending.forget("s", &b);
        assert_eq!(pending.lock().len(), 1);
    }
}
