//! Routes a target's questions (elicitation, sampling) to the downstream client
//! whose request caused them.
//!
//! Upstream connections are shared by every client of the virtual server, so a
//! question must be matched to one in-flight call. Over Streamable HTTP the
//! target asks on the response stream of that call's POST, and rmcp tags the
//! question with the call's upstream request id ([`InboundStreamOrigin`]).
//! stdio and in-process transports carry no such tag; then the question goes to
//! the one call in flight on that target, and is refused when there are several
//! (asking the wrong user is worse than failing the call).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashbrown::HashMap;
use netkit::PairKey;
use rmcp::model::{ClientCapabilities, ErrorData, RequestId};
use rmcp::service::InboundStreamOrigin;
use tokio_util::sync::CancellationToken;

use crate::upstream::call::{Call, Downstream};
use crate::upstream::logging::LogInterest;

/// A question can beat the registration of the call that caused it (the
/// target asks before `send_request` returns); how long to wait for it.
const REGISTRATION_GRACE: Duration = Duration::from_millis(200);
const REGISTRATION_POLL: Duration = Duration::from_millis(10);

/// The client side of one in-flight call: who to ask, and whether they can answer.
#[derive(Clone)]
pub(crate) struct Asker {
    pub(crate) downstream: Arc<dyn Downstream>,
    pub(crate) capabilities: Arc<ClientCapabilities>,
    /// The call's cancellation: a question stops waiting when its call ends.
    pub(crate) cancel: CancellationToken,
    /// Which log messages of the target the client wants with this call.
    pub(crate) log_interest: LogInterest,
}

/// In-flight calls by (target, upstream request id).
#[derive(Default)]
pub(crate) struct QuestionRouter {
    calls: Mutex<HashMap<(String, RequestId), Asker>>,
}

/// One upstream request's place among the calls in flight: dropping it removes the call,
/// however the request ends (answered, failed, cancelled, or its future dropped).
pub(crate) struct Enrolled<'a> {
    router: &'a QuestionRouter,
    target: &'a str,
    id: RequestId,
}

impl Drop for Enrolled<'_> {
    fn drop(&mut self) {
        self.router.unregister(self.target, &self.id);
    }
}

impl Enrolled<'_> {
    /// Gives a call enrolled before it was sent ([`QuestionRouter::enrol_pending`]) the id
    /// its request went out with.
    pub(crate) fn identify(&mut self, id: RequestId) {
        let mut calls = self.router.lock();
        if let Some(asker) = calls.remove(&PairKey(self.target, &self.id)) {
            calls.insert((self.target.to_owned(), id.clone()), asker);
        }
        self.id = id;
    }
}

impl QuestionRouter {
    /// Counts the request `id` on `target` among the calls in flight, for as long as the
    /// guard lives, if `call` has a client. Every such call is enrolled, not only those of
    /// clients that can answer questions: on transports that cannot tag a question (or a
    /// log message) with its call, "the one call in flight" must count them all.
    pub(crate) fn enrol<'a>(
        &'a self,
        target: &'a str,
        id: RequestId,
        call: Option<&Call>,
    ) -> Option<Enrolled<'a>> {
        self.register(target, id.clone(), call?.asker()?);
        Some(Enrolled {
            router: self,
            target,
            id,
        })
    }

    /// Like [`Self::enrol`], before the request is sent and its id known (then
    /// [`Enrolled::identify`]): a target that answers over a transport with no call tags
    /// (stdio, legacy SSE) may log before `send` returns, and its messages must find the call
    /// already counted.
    pub(crate) fn enrol_pending<'a>(
        &'a self,
        target: &'a str,
        call: Option<&Call>,
    ) -> Option<Enrolled<'a>> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let placeholder = RequestId::String(format!("switchboard-unsent-{n}").into());
        self.enrol(target, placeholder, call)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, RequestId), Asker>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, target: &str, id: RequestId, asker: Asker) {
        self.lock().insert((target.to_owned(), id), asker);
    }

    fn unregister(&self, target: &str, id: &RequestId) {
        self.lock().remove(&PairKey(target, id));
    }

    /// The client to ask for a question from `target` that arrived with `origin`.
    pub(crate) async fn find(
        &self,
        target: &str,
        origin: Option<&InboundStreamOrigin>,
    ) -> Result<Asker, ErrorData> {
        let deadline = tokio::time::Instant::now() + REGISTRATION_GRACE;
        loop {
            match self.find_now(target, origin) {
                Ok(asker) => return Ok(asker),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(REGISTRATION_POLL).await,
            }
        }
    }

    /// The one call in flight on `target`, if exactly one is: the only call a message that
    /// names none (a log message over stdio) can belong to.
    pub(crate) fn sole_call(&self, target: &str) -> Option<Asker> {
        let calls = self.lock();
        let mut on_target = calls.iter().filter(|((t, _), _)| t == target);
        match (on_target.next(), on_target.next()) {
            (Some((_, asker)), None) => Some(asker.clone()),
            _ => None,
        }
    }

    fn find_now(
        &self,
        target: &str,
        origin: Option<&InboundStreamOrigin>,
    ) -> Result<Asker, ErrorData> {
        let calls = self.lock();
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = origin {
            return calls.get(&PairKey(target, id)).cloned().ok_or_else(|| {
                ErrorData::invalid_request(
                    "the gateway has no client call in flight for the request this question belongs to",
                    None,
                )
            });
        }
        let mut on_target = calls.iter().filter(|((t, _), _)| t == target);
        match (on_target.next(), on_target.next()) {
            (Some((_, asker)), None) => Ok(asker.clone()),
            (None, _) => Err(ErrorData::invalid_request(
                "the gateway has no client call in flight on this connection to relay the question to",
                None,
            )),
            (Some(_), Some(_)) => Err(ErrorData::invalid_request(
                "several client calls are in flight on this connection and its transport cannot \
                 say which one asked; the gateway does not guess",
                None,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::call::BoxFuture;
    use rmcp::model::{ClientResult, ServerNotification, ServerRequest};

    /// A client that hears nothing and answers nothing: the router only stores it.
    struct Deaf;

    impl Downstream for Deaf {
        fn notify(&self, _n: ServerNotification) -> BoxFuture<'_, bool> {
            Box::pin(async { false })
        }

        fn ask<'a>(
            &'a self,
            _request: ServerRequest,
            _cancel: &'a CancellationToken,
        ) -> BoxFuture<'a, Result<ClientResult, ErrorData>> {
            Box::pin(async { Err(ErrorData::internal_error("deaf", None)) })
        }
    }

    fn asker() -> Asker {
        Asker {
            downstream: Arc::new(Deaf),
            capabilities: Arc::default(),
            cancel: CancellationToken::new(),
            log_interest: LogInterest::Unset,
        }
    }

    #[tokio::test]
    async fn tagged_questions_go_to_their_call_and_untagged_ones_only_when_unambiguous() {
        let router = QuestionRouter::default();
        let one = RequestId::Number(1);
        let origin = InboundStreamOrigin::OutboundRequest(one.clone());
        assert!(router.find("t", None).await.is_err(), "nothing in flight");
        router.register("t", one.clone(), asker());
        assert!(router.find("t", Some(&origin)).await.is_ok());
        assert!(router.find("t", None).await.is_ok(), "the only call on t");
        assert!(router.find("u", None).await.is_err(), "another target");
        router.register("t", RequestId::Number(2), asker());
        assert!(router.find("t", None).await.is_err(), "ambiguous");
        assert!(router.find("t", Some(&origin)).await.is_ok(), "tagged");
        router.unregister("t", &one);
        assert!(router.find("t", Some(&origin)).await.is_err(), "finished");
    }

    #[tokio::test]
    async fn an_enrolled_call_leaves_when_its_guard_drops() {
        let router = QuestionRouter::default();
        let call = Call {
            cancel: CancellationToken::new(),
            progress_token: None,
            downstream: Some(Arc::new(Deaf)),
            capabilities: Arc::default(),
            log_interest: LogInterest::Unset,
        };
        let enrolled = router.enrol("t", RequestId::Number(7), Some(&call));
        assert!(enrolled.is_some());
        assert!(router.sole_call("t").is_some(), "in flight while enrolled");
        drop(enrolled);
        assert!(router.sole_call("t").is_none(), "gone with the guard");
        let detached = Call {
            downstream: None,
            ..call
        };
        assert!(
            router
                .enrol("t", RequestId::Number(8), Some(&detached))
                .is_none(),
            "a call without a client is not enrolled"
        );
    }

    /// A call counted before it is sent is the sole call at once (a stdio target's log
    /// message can beat `send`), and found by its id once it has one.
    #[tokio::test]
    async fn a_call_enrolled_before_sending_is_found_then_and_by_its_id_after() {
        let router = QuestionRouter::default();
        let call = Call {
            cancel: CancellationToken::new(),
            progress_token: None,
            downstream: Some(Arc::new(Deaf)),
            capabilities: Arc::default(),
            log_interest: LogInterest::Unset,
        };
        let mut enrolled = router.enrol_pending("t", Some(&call)).expect("enrolled");
        assert!(router.sole_call("t").is_some(), "counted before it is sent");
        enrolled.identify(RequestId::Number(9));
        let tagged = InboundStreamOrigin::OutboundRequest(RequestId::Number(9));
        assert!(
            router.find_now("t", Some(&tagged)).is_ok(),
            "found by its id"
        );
        assert_eq!(router.lock().len(), 1, "one entry, re-keyed");
        drop(enrolled);
        assert!(router.sole_call("t").is_none(), "gone with the guard");
    }
}
