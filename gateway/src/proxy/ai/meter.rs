//! What an LLM call leaves behind: the access log's fields and the GenAI metrics, recorded
//! once when the response ends (a stream's last byte, or the client leaving).

use std::sync::{Arc, Mutex};

use llm::Usage;
use tokio::time::Instant;

use crate::metrics::{GenAiLabels, Metrics, TokenLabels};
use crate::model::ai::{Amounts, Price, Reservation, TokenBudgets};
use crate::telemetry::access_line::AiFields;

/// The access log's view of an LLM call, filled in as it goes.
#[derive(Debug, Default)]
pub struct AiRecord {
    /// The provider that answered (or was tried last).
    pub provider: Option<Arc<str>>,
    /// The model sent to it.
    pub model: String,
    /// Tokens, once known.
    pub usage: Usage,
    /// Providers tried before it.
    pub failovers: u32,
}

impl AiRecord {
    /// The access line's fields, once a provider was tried.
    pub fn fields(&self) -> Option<AiFields<'_>> {
        Some(AiFields {
            provider: self.provider.as_deref()?,
            model: &self.model,
            input_tokens: self.usage.input,
            output_tokens: self.usage.output,
            failovers: self.failovers,
        })
    }
}

/// Shared between the terminal, the response body and the access log.
pub type AiSlot = Arc<Mutex<AiRecord>>;

/// Records one LLM response's metrics and log fields, once.
pub(super) struct Meter {
    metrics: Arc<Metrics>,
    labels: GenAiLabels,
    /// The request's arrival.
    started: Instant,
    first_token: Option<Instant>,
    slot: AiSlot,
    done: bool,
    /// The model's price, when the backend's `pricing` has one.
    price: Option<Price>,
    /// What `tokenRateLimit` took up front, settled with the real usage.
    budget: Option<(Arc<TokenBudgets>, Reservation)>,
}

impl Meter {
    /// Prices the response with `price` and settles `budget` when it ends.
    pub(super) fn with_costs(
        mut self,
        price: Option<Price>,
        budget: Option<(Arc<TokenBudgets>, Reservation)>,
    ) -> Self {
        self.price = price;
        self.budget = budget;
        self
    }

    /// Takes back the budget reservation (the provider failed before answering: the next
    /// one's meter gets it).
    pub(super) fn take_budget(&mut self) -> Option<(Arc<TokenBudgets>, Reservation)> {
        self.budget.take()
    }

    pub(super) fn new(
        metrics: Arc<Metrics>,
        labels: GenAiLabels,
        started: Instant,
        slot: AiSlot,
    ) -> Self {
        Meter {
            metrics,
            labels,
            started,
            first_token: None,
            slot,
            done: false,
            price: None,
            budget: None,
        }
    }

    /// The first token went to the client now.
    pub(super) fn first_token(&mut self) {
        if self.first_token.is_none() {
            let now = Instant::now();
            self.first_token = Some(now);
            self.metrics
                .genai
                .time_to_first_token
                .get_or_create(&self.labels)
                .observe((now - self.started).as_secs_f64());
        }
    }

    /// The response ended with `usage`: duration, tokens and time per output token.
    pub(super) fn finish(&mut self, usage: Usage) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let now = Instant::now();
        let genai = &self.metrics.genai;
        genai
            .request_duration
            .get_or_create(&self.labels)
            .observe((now - self.started).as_secs_f64());
        let types = [
            ("input", usage.input, true),
            ("output", usage.output, true),
            ("cache_read", usage.cache_read, usage.cache_read > 0),
            (
                "cache_creation",
                usage.cache_creation,
                usage.cache_creation > 0,
            ),
            ("reasoning", usage.reasoning, usage.reasoning > 0),
        ];
        for (kind, count, shown) in types {
            if !shown {
                continue;
            }
            genai
                .token_usage
                .get_or_create(&TokenLabels {
                    route: self.labels.route.clone(),
                    provider: self.labels.provider.clone(),
                    gen_ai_provider_name: self.labels.gen_ai_provider_name.clone(),
                    gen_ai_request_model: self.labels.gen_ai_request_model.clone(),
                    gen_ai_token_type: kind.to_string(),
                })
                .observe(count as f64);
        }
        if let Some(first) = self.first_token {
            if usage.output > 1 {
                let per = (now - first).as_secs_f64() / (usage.output - 1) as f64;
                genai
                    .time_per_output_token
                    .get_or_create(&self.labels)
                    .observe(per);
            }
        }
        let micro_usd = self.price.as_ref().map_or(0, |p| p.micro_usd(&usage));
        if self.price.is_some() {
            genai
                .cost
                .get_or_create(&self.labels)
                .inc_by(micro_usd as f64 / 1e6);
        }
        if let Some((budgets, reservation)) = self.budget.take() {
            let actual = Amounts {
                tokens: usage.input + usage.output,
                micro_usd,
            };
            budgets.settle(reservation, actual);
        }
        if let Ok(mut record) = self.slot.lock() {
            record.usage = usage;
        }
    }

    /// Counts a stream that broke after its first byte.
    pub(super) fn stream_error(&self, why: &str) {
        self.metrics
            .genai
            .stream_error(&self.labels.route, &self.labels.provider, why);
    }
}
