//! Reading an LLM request: the body, a provider's whole
//! answer, and the budget its estimate takes.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use netkit::InlineBody;

use super::estimate;
use crate::model::ai::{price_for, Amounts, BudgetPer, Candidate, Reservation, TokenBudgets};
use crate::model::plan::AiTerminal;
use crate::proxy::error::ProxyError;
use crate::proxy::exchange::{Exchange, RequestBody};

/// The request body, read whole (the route's body limit applies while it streams).
pub(super) async fn read_request(ex: &mut Exchange<'_>) -> Result<Bytes, ProxyError> {
    match ex.take_body() {
        RequestBody::Read(b) => Ok(b),
        other => other
            .into_stream()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| {
                if let Some(limit) = crate::body::is_body_too_large(&*e) {
                    ProxyError::BodyTooLarge { limit }
                } else if let Some(after) = crate::body::is_body_read_timeout(&*e) {
                    ProxyError::BodyReadTimeout { after }
                } else {
                    ProxyError::BadRequest(format!(
                        "reading the request body: {}",
                        netkit::error_chain(&*e)
                    ))
                }
            }),
    }
}

/// A provider's complete body, up to `limit` bytes, each read within `idle`.
pub(super) async fn collect_limited(
    mut body: InlineBody,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, String> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(format!("nothing for {idle:?}")),
            Ok(None) => return Ok(Bytes::from(out)),
            Ok(Some(Err(e))) => return Err(netkit::error_chain(&e)),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > limit {
                        return Err(format!("larger than {limit} bytes"));
                    }
                    out.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Takes the request's estimate from each `tokenRateLimit` bucket it draws from, or says how
/// long until it could.
pub(super) async fn take_budget(
    budgets: &TokenBudgets,
    plan: &AiTerminal,
    ex: &Exchange<'_>,
    body: &[u8],
    client_model: Option<&str>,
    candidates: &[Candidate<'_>],
) -> Result<Reservation, Duration> {
    let tokens = estimate::input_tokens(body);
    // Priced as the first candidate's model; the provider that answers settles it.
    let model = candidates
        .first()
        .and_then(|c| c.model)
        .or(client_model)
        .unwrap_or("");
    let input_only = llm::Usage {
        input: tokens,
        ..llm::Usage::default()
    };
    let micro_usd = price_for(&plan.backend.pricing, model).map_or(0, |p| p.micro_usd(&input_only));
    let caller = match &ex.identity {
        Some(identity) => identity.subject().to_string(),
        None => ex.conn.remote.ip().to_string(),
    };
    let key_for = |per: BudgetPer| match per {
        BudgetPer::Route => String::new(),
        BudgetPer::Identity => caller.clone(),
        BudgetPer::Model => client_model.unwrap_or("").to_string(),
    };
    budgets
        .take(
            key_for,
            Amounts { tokens, micro_usd },
            std::time::Instant::now(),
        )
        .await
}
