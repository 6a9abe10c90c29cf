//! The terminal of an `ai` backend: the client's LLM API call, detected by path, sent to the
//! first provider that can serve it (translated when the provider speaks another API), and
//! the answer brought back in the client's format, streamed event by event.
//!
//! Failover: a provider that refuses the connection, times out, answers 429 or 5xx, or whose
//! stream breaks before its first byte is set aside and the next candidate is tried (see
//! [`crate::model::ai`] for the order). Once the first byte went to the client the provider
//! is kept; a failure after that ends the stream with an error event in the client's format.
//! Every answer the gateway writes itself is in the client's format too.

mod answers;
mod attempt;
mod estimate;
mod guard;
mod meter;
mod request;
mod stream;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use llm::{ClientApi, ErrorKind, Outcome, Plan, ProviderApi, ResponseStream};
use netkit::InlineBody;
use tokio::time::Instant;

use super::access_log::AccessLog;
use super::error::ProxyError;
use super::exchange::Exchange;
use super::forward::AttemptBody;
use super::Proxy;
use crate::body::{Body, BoxError};
use crate::metrics::GenAiLabels;
use crate::model::ai::{
    price_for, Amounts, Candidate, Failure, NoCandidate, ProviderKind, Reservation, TokenBudgets,
};
use crate::model::plan::AiTerminal;
use answers::{
    copy_provider_headers, gateway_error, json_response, models_body, no_candidate, pass_response,
    set_retry_after,
};
pub use meter::{AiRecord, AiSlot};
use request::{collect_limited, read_request, take_budget};

/// The largest complete (non-streamed) provider response read.
const RESPONSE_LIMIT: usize = 64 << 20;
/// The most of a stream held back before its first token (past it, the stream is sent on
/// and failover is no longer possible).
const HELD_LIMIT: usize = 64 << 10;

impl Proxy {
    /// Serves a request on a route to an `ai` backend.
    pub(crate) async fn serve_ai(
        &self,
        plan: &AiTerminal,
        ex: &mut Exchange<'_>,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, ProxyError> {
        let slot = AiSlot::default();
        log.ai = Some(slot.clone());
        let rest = ex.below_prefix();
        let Some(client) = ClientApi::detect(&ex.parts.method, &rest) else {
            if plan.guard.is_some() && !ex.body_is_empty() {
                // The guard reads only the APIs it knows: nothing it cannot read passes.
                return Ok(gateway_error(
                    ClientApi::OpenAiChat,
                    StatusCode::NOT_FOUND,
                    &format!(
                        "{} is not an LLM API call this route's promptGuard can read; \
                         only the chat completions, Responses, embeddings and Messages \
                         APIs are served here",
                        rest
                    ),
                    log,
                ));
            }
            return self.ai_passthrough(plan, ex, log, rest).await;
        };
        if client == ClientApi::OpenAiModels {
            return Ok(json_response(StatusCode::OK, models_body(&plan.backend)));
        }
        let body = match read_request(ex).await {
            Ok(b) => b,
            Err(e) => return Ok(gateway_error(client, e.status(), &e.to_string(), log)),
        };
        let info = match llm::inspect_request(&body) {
            Ok(info) => info,
            Err(e) => return Ok(gateway_error(client, e.status(), &e.to_string(), log)),
        };
        let body = match &plan.guard {
            None => body,
            Some(g) => {
                if g.response.is_some() && info.stream && guard::stream_format(client).is_none() {
                    let message = format!(
                        "this route's promptGuard reads streamed responses of the chat \
                         completions and Messages APIs only; ask the {} API without stream",
                        client.name()
                    );
                    return Ok(gateway_error(
                        client,
                        StatusCode::BAD_REQUEST,
                        &message,
                        log,
                    ));
                }
                let genai = &self.metrics.genai;
                match guard::guard_request(g, genai, &ex.route.key, body).await {
                    Ok(b) => b,
                    Err(r) => return Ok(gateway_error(client, r.status, &r.message, log)),
                }
            }
        };
        let now = std::time::Instant::now();
        let mut pick = |n: u64| rand::random_range(0..n);
        let candidates = match plan.backend.candidates(
            client,
            info.model.as_deref(),
            &ex.parts.headers,
            now,
            &mut pick,
        ) {
            Ok(c) => c,
            Err(NoCandidate::NoApi { .. }) if client == ClientApi::AnthropicCountTokens => {
                // No provider counts them itself: the gateway's own estimate (the tokenizer
                // of `tokenRateLimit`), said to be one.
                let tokens = estimate::input_tokens(&body);
                let mut resp = json_response(
                    StatusCode::OK,
                    Bytes::from(format!("{{\"input_tokens\":{tokens}}}")),
                );
                resp.headers_mut().insert(
                    "x-switchboard-token-count",
                    HeaderValue::from_static("estimate; o200k_base"),
                );
                return Ok(resp);
            }
            Err(no) => return Ok(no_candidate(client, &no, log)),
        };
        let budget = match &plan.budgets {
            None => None,
            Some(budgets) => {
                match take_budget(budgets, plan, ex, &body, info.model.as_deref(), &candidates)
                    .await
                {
                    Ok(r) => Some((budgets.clone(), r)),
                    Err(wait) => {
                        self.metrics
                            .genai
                            .budget_refusals
                            .get_or_create(&crate::metrics::AttemptLabels {
                                route: ex.route.key.to_string(),
                                provider: "-".into(),
                                result: "refused".into(),
                            })
                            .inc();
                        let mut resp = gateway_error(
                            client,
                            StatusCode::TOO_MANY_REQUESTS,
                            &format!(
                                "token budget exhausted (tokenRateLimit); retry in {}s",
                                wait.as_secs().max(1)
                            ),
                            log,
                        );
                        set_retry_after(resp.headers_mut(), wait);
                        return Ok(resp);
                    }
                }
            }
        };
        let call = Call {
            proxy: self,
            plan,
            route: ex.route.key.clone(),
            client,
            client_model: info.model.as_deref().unwrap_or(""),
            body: &body,
            headers: std::mem::take(&mut ex.parts.headers),
            started: log.started,
            slot: &slot,
        };
        call.run(candidates, budget, log).await
    }

    /// A request on the route that is not an LLM API call: passed to the first provider in
    /// service, untouched but for the credential.
    async fn ai_passthrough(
        &self,
        plan: &AiTerminal,
        ex: &mut Exchange<'_>,
        log: &mut AccessLog,
        rest: String,
    ) -> Result<Response<Body>, ProxyError> {
        let now = std::time::Instant::now();
        let Some(provider) = plan
            .backend
            .groups
            .iter()
            .flatten()
            .find(|p| p.weight > 0 && p.state.set_aside_until(now).is_none())
        else {
            return Err(ProxyError::NoBackend {
                route: ex.route.key.to_string(),
                why: "every provider is set aside after failing",
            });
        };
        if let Ok(mut r) = log.ai.as_ref().map_or(Err(()), |s| s.lock().map_err(drop)) {
            r.provider = Some(provider.name.clone());
        }
        let mut path = provider.path_for(&rest);
        if let Some(q) = ex.parts.uri.query() {
            path.push('?');
            path.push_str(q);
        }
        let headers = attempt::provider_headers(&ex.parts.headers, provider, false, false);
        let body = if ex.body_is_empty() {
            AttemptBody::Buffered(Bytes::new())
        } else {
            AttemptBody::Stream(ex.take_body().into_stream())
        };
        let method = ex.parts.method.clone();
        let route = ex.route.key.clone();
        let outcome = attempt::send(
            self,
            &route,
            plan,
            provider,
            method,
            path,
            headers,
            body,
            log.started,
            log,
        )
        .await;
        match outcome {
            attempt::Outcome::Answered(resp) => Ok(pass_response(resp)),
            attempt::Outcome::Refused { status, body } => Ok(json_response(status, body)),
            attempt::Outcome::Failed(f) => {
                log.error = Some(f.message.clone());
                Ok(match f.body {
                    Some(body) => json_response(f.status, body),
                    None => super::error::text_response(f.status, &f.message),
                })
            }
            attempt::Outcome::Expired(e) => Err(e),
        }
    }
}

/// One LLM API call on its way through the candidates.
struct Call<'a> {
    proxy: &'a Proxy,
    plan: &'a AiTerminal,
    route: std::sync::Arc<str>,
    client: ClientApi,
    client_model: &'a str,
    body: &'a Bytes,
    headers: HeaderMap,
    started: Instant,
    slot: &'a AiSlot,
}

impl Call<'_> {
    /// Tries the candidates in order until one answers.
    async fn run(
        &self,
        candidates: Vec<Candidate<'_>>,
        mut budget: Option<(std::sync::Arc<TokenBudgets>, Reservation)>,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, ProxyError> {
        // Whatever ends the call without a response to meter gives the budget back.
        let give_back = |budget: &mut Option<(std::sync::Arc<TokenBudgets>, Reservation)>| {
            if let Some((budgets, r)) = budget.take() {
                budgets.settle(r, Amounts::default());
            }
        };
        let genai = &self.proxy.metrics.genai;
        let mut last: Option<Response<Body>> = None;
        let mut failovers = 0u32;
        for c in candidates {
            let provider = c.provider;
            let model = c.model.unwrap_or(self.client_model);
            if let Ok(mut r) = self.slot.lock() {
                r.provider = Some(provider.name.clone());
                r.model = model.to_string();
                r.failovers = failovers;
            }
            let prepared = Plan::new(self.client, c.api).and_then(|plan| {
                let opts = llm::TranslateOptions::default();
                let mut req =
                    llm::prepare_request(plan, self.client, c.api, self.body, c.model, &opts)?;
                if provider.kind == ProviderKind::VertexAnthropic {
                    // The model goes in the path, the API version in the body.
                    req.body = llm::vertex_anthropic_body(&req.body)?;
                }
                Ok((plan, req))
            });
            let (llm_plan, req) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    // Another provider may take it as it is (a passthrough).
                    tracing::debug!(provider = %provider.name, error = %e, "provider cannot take this request");
                    last = Some(gateway_error(self.client, e.status(), &e.to_string(), log));
                    continue;
                }
            };
            let headers = attempt::provider_headers(&self.headers, provider, true, req.stream);
            let in_flight = provider.state.start();
            let outcome = attempt::send(
                self.proxy,
                &self.route,
                self.plan,
                provider,
                Method::POST,
                provider.request_path(&req.path, model, req.stream),
                headers,
                AttemptBody::Buffered(req.body),
                self.started,
                log,
            )
            .await;
            let failed = match outcome {
                attempt::Outcome::Answered(resp) => {
                    in_flight.answered();
                    let labels = GenAiLabels {
                        route: self.route.to_string(),
                        provider: provider.name.to_string(),
                        gen_ai_provider_name: provider.kind.system().to_string(),
                        gen_ai_request_model: model.to_string(),
                    };
                    let price = price_for(&self.plan.backend.pricing, model).cloned();
                    let meter = meter::Meter::new(
                        self.proxy.metrics.clone(),
                        labels,
                        self.started,
                        self.slot.clone(),
                    )
                    .with_costs(price, budget.take());
                    let answer = Answer {
                        llm_plan,
                        api: c.api,
                        client_wants_usage: req.client_wants_usage,
                    };
                    match self.answer(answer, resp, meter).await {
                        Ok(resp) => {
                            provider.state.restore();
                            genai.attempt(&self.route, &provider.name, "ok");
                            return Ok(resp);
                        }
                        Err((f, mut meter)) => {
                            budget = meter.take_budget();
                            f
                        }
                    }
                }
                attempt::Outcome::Refused { status, body } => {
                    in_flight.answered();
                    genai.attempt(&self.route, &provider.name, "client_error");
                    let (status, _, body) =
                        llm::translate_error_body(self.client, c.api, status, &body);
                    log.error = Some(llm::read_error_body(status, &body).1);
                    give_back(&mut budget);
                    return Ok(json_response(status, body));
                }
                attempt::Outcome::Failed(f) => f,
                attempt::Outcome::Expired(e) => {
                    genai.attempt(&self.route, &provider.name, "timeout");
                    give_back(&mut budget);
                    return Ok(gateway_error(self.client, e.status(), &e.to_string(), log));
                }
            };
            genai.attempt(&self.route, &provider.name, failed.result);
            if let Some((rest, why)) = failed.set_aside {
                provider
                    .state
                    .set_aside(std::time::Instant::now(), rest, why);
                let cause = match why {
                    Failure::RateLimited => "rate_limited",
                    Failure::Unavailable => "unavailable",
                };
                genai.set_aside(&self.route, &provider.name, cause);
                tracing::warn!(
                    route = %self.route,
                    provider = %provider.name,
                    error = %failed.message,
                    "LLM provider set aside for {rest:?}; trying the next one"
                );
            } else {
                tracing::warn!(route = %self.route, provider = %provider.name, error = %failed.message, "LLM provider failed; trying the next one");
            }
            last = Some(self.failed_answer(c.api, &failed, log));
            failovers += 1;
        }
        give_back(&mut budget);
        if let Ok(mut r) = self.slot.lock() {
            r.failovers = failovers.saturating_sub(1);
        }
        Ok(last.unwrap_or_else(|| {
            gateway_error(
                self.client,
                StatusCode::SERVICE_UNAVAILABLE,
                "no provider could serve the request",
                log,
            )
        }))
    }

    /// What the client gets when `failed` was the last provider.
    fn failed_answer(
        &self,
        api: ProviderApi,
        failed: &attempt::Failed,
        log: &mut AccessLog,
    ) -> Response<Body> {
        log.error = Some(failed.message.clone());
        let mut resp = match &failed.body {
            Some(body) => {
                let (status, _, body) =
                    llm::translate_error_body(self.client, api, failed.status, body);
                json_response(status, body)
            }
            None => {
                let kind = ErrorKind::from_status(failed.status);
                let (status, _, body) =
                    llm::error_response(self.client, failed.status, kind, &failed.message);
                json_response(status, body)
            }
        };
        if let Some(after) = failed.retry_after {
            set_retry_after(resp.headers_mut(), after);
        }
        resp
    }

    /// The client's response from a provider's 2xx, or the failure that sends the request to
    /// the next provider (a stream that broke before its first byte, an unreadable body).
    async fn answer(
        &self,
        a: Answer,
        resp: Response<InlineBody>,
        mut meter: meter::Meter,
    ) -> Result<Response<Body>, (attempt::Failed, meter::Meter)> {
        let (parts, mut body) = resp.into_parts();
        // SSE, or Bedrock's binary event stream; the client gets SSE either way.
        let is_stream = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(llm::is_stream_content_type);
        let idle = self.plan.backend.stream_idle;
        let failed = |message: String| attempt::Failed {
            result: "stream_failed",
            set_aside: Some((self.plan.backend.set_aside.default, Failure::Unavailable)),
            status: StatusCode::BAD_GATEWAY,
            body: None,
            message,
            retry_after: None,
        };
        if !is_stream {
            let bytes = match collect_limited(body, RESPONSE_LIMIT, idle).await {
                Ok(b) => b,
                Err(e) => {
                    return Err((
                        failed(format!("reading the provider's response: {e}")),
                        meter,
                    ))
                }
            };
            let (client_body, usage) = match llm::translate_response(a.llm_plan, a.api, &bytes) {
                Ok(translated) => translated,
                Err(e) => return Err((failed(e.to_string()), meter)),
            };
            meter.finish(usage);
            let guard = self.plan.guard.as_ref().and_then(|g| g.response.as_ref());
            let client_body = match guard {
                None => client_body,
                Some(g) => {
                    let genai = &self.proxy.metrics.genai;
                    match guard::guard_response(g, genai, &self.route, client_body) {
                        Ok(b) => b,
                        Err(r) => {
                            let (status, _, body) = llm::error_response(
                                self.client,
                                r.status,
                                ErrorKind::from_status(r.status),
                                &r.message,
                            );
                            return Ok(json_response(status, body));
                        }
                    }
                }
            };
            let mut out = json_response(parts.status, client_body);
            copy_provider_headers(&parts.headers, out.headers_mut());
            return Ok(out);
        }
        let mut stream = ResponseStream::new(a.llm_plan, self.client, a.api, a.client_wants_usage);
        // Failover is possible until the first byte goes to the client, so what comes before
        // the first token (a role chunk, `message_start`) is held, and a stream that stalls,
        // breaks or fails before its first token is another provider's to serve.
        let mut held = Vec::new();
        loop {
            let frame = match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => {
                    return Err((
                        failed(format!("the provider's stream sent no token for {idle:?}")),
                        meter,
                    ))
                }
                Ok(None) => {
                    let tail = stream.finish();
                    if stream.outcome() != &Outcome::Completed {
                        return Err((
                            failed("the provider's stream ended before its first token".into()),
                            meter,
                        ));
                    }
                    held.extend_from_slice(&tail);
                    break;
                }
                Ok(Some(Err(e))) => {
                    return Err((
                        failed(format!(
                            "the provider's stream failed before its first token: {}",
                            netkit::error_chain(&e)
                        )),
                        meter,
                    ))
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let out = stream.push(&data);
            if !out.first_token
                && matches!(
                    stream.outcome(),
                    Outcome::ProviderError(_) | Outcome::Malformed(_)
                )
            {
                let message = format!(
                    "the provider's stream failed before its first token: {:?}",
                    stream.outcome()
                );
                return Err((failed(message), meter));
            }
            held.extend_from_slice(&out.bytes);
            if out.first_token {
                meter.first_token();
                break;
            }
            if stream.is_over() || held.len() > HELD_LIMIT {
                break;
            }
        }
        let first = Bytes::from(held);
        let inner: Body = body.map_err(|e| -> BoxError { Box::new(e) }).boxed();
        let guard = self
            .plan
            .guard
            .as_ref()
            .and_then(|g| g.response.as_ref())
            .zip(guard::stream_format(self.client))
            .map(|(g, format)| {
                let metrics = self.proxy.metrics.genai.clone();
                guard::StreamGuard::new(g, format, metrics, self.route.clone())
            });
        let client_body = stream::TranslatedStream::new(inner, stream, first, idle, meter, guard);
        let mut out = Response::new(client_body.boxed());
        *out.status_mut() = parts.status;
        copy_provider_headers(&parts.headers, out.headers_mut());
        let h = out.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(llm::EVENT_STREAM),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Ok(out)
    }
}

/// What reading a provider's answer needs to know of the request.
struct Answer {
    llm_plan: Plan,
    api: ProviderApi,
    client_wants_usage: bool,
}
