//! Which providers serve a request, in the order they are tried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llm::{ClientApi, ProviderApi};

use super::{AiBackend, Failure, Provider};

/// A provider that may serve the request, with what to send it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The provider.
    pub provider: &'a Arc<Provider>,
    /// The API it is called with.
    pub api: ProviderApi,
    /// The model name to send; `None` keeps the client's.
    pub model: Option<&'a str>,
}

/// Why no provider can serve a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoCandidate {
    /// `models` is set and no entry matches the client's model name.
    UnknownModel {
        /// The name the client sent (empty when none).
        model: String,
    },
    /// No provider that may serve the model speaks an API this request can be carried to.
    NoApi {
        /// The client's API.
        client: ClientApi,
    },
    /// Every provider that could serve it is set aside.
    SetAside {
        /// Until the first one comes back.
        retry_after: Duration,
        /// Rate limited when all of them were; unavailable otherwise.
        failure: Failure,
    },
}

impl AiBackend {
    /// The providers that may serve a request of `client` for `model`, in the order to try
    /// them. `pick(n)` returns a number below `n` (random in service, fixed in tests).
    pub fn candidates(
        &self,
        client: ClientApi,
        model: Option<&str>,
        headers: &http::HeaderMap,
        now: Instant,
        pick: &mut dyn FnMut(u64) -> u64,
    ) -> Result<Vec<Candidate<'_>>, NoCandidate> {
        let allowed = self.allowed(model, headers)?;
        let mut able: Vec<Candidate<'_>> = allowed
            .into_iter()
            .filter_map(|(provider, model)| {
                let api = provider.kind.api_for(client)?;
                Some(Candidate {
                    provider,
                    api,
                    model,
                })
            })
            .collect();
        if able.is_empty() {
            return Err(NoCandidate::NoApi { client });
        }
        let mut soonest: Option<Duration> = None;
        let mut all_rate_limited = true;
        able.retain(|c| match c.provider.state.set_aside_until(now) {
            None => true,
            Some((left_ms, why)) => {
                let left = Duration::from_millis(left_ms);
                soonest = Some(soonest.map_or(left, |s| s.min(left)));
                all_rate_limited &= why == Failure::RateLimited;
                false
            }
        });
        if able.is_empty() {
            return Err(NoCandidate::SetAside {
                retry_after: soonest.unwrap_or_default(),
                failure: if all_rate_limited {
                    Failure::RateLimited
                } else {
                    Failure::Unavailable
                },
            });
        }
        let mut ordered = Vec::with_capacity(able.len());
        for group in &self.groups {
            let mut members: Vec<Candidate<'_>> = Vec::new();
            able.retain(|c| {
                let here = group.iter().any(|p| Arc::ptr_eq(p, c.provider));
                if here {
                    members.push(c.clone());
                }
                !here
            });
            order_group(&mut members, pick);
            ordered.extend(members);
        }
        Ok(ordered)
    }

    /// The providers that may serve `model`, with the model name each is sent.
    fn allowed(
        &self,
        model: Option<&str>,
        headers: &http::HeaderMap,
    ) -> Result<Vec<Allowed<'_>>, NoCandidate> {
        if self.models.is_empty() {
            return Ok(self
                .groups
                .iter()
                .flatten()
                .filter(|p| p.weight > 0)
                .map(|p| (p, p.model.as_deref()))
                .collect());
        }
        let name = model.unwrap_or("");
        let Some(first) = self.models.iter().find(|r| r.matches(name, headers)) else {
            return Err(NoCandidate::UnknownModel {
                model: name.to_string(),
            });
        };
        // Every entry with the same name (and headers): a failover list for that name.
        Ok(self
            .models
            .iter()
            .filter(|r| r.same_choice(first))
            .map(|r| {
                let sent = r.model.as_deref().or(r.provider.model.as_deref());
                (&r.provider, sent)
            })
            .collect())
    }
}

/// A provider that may serve the model, with the model name it is sent.
type Allowed<'a> = (&'a Arc<Provider>, Option<&'a str>);

/// Orders one group: the better of two drawn by weight first, then the rest by load score.
fn order_group(members: &mut Vec<Candidate<'_>>, pick: &mut dyn FnMut(u64) -> u64) {
    if members.len() < 2 {
        return;
    }
    let weight = |c: &Candidate<'_>| u64::from(c.provider.weight.max(1));
    let score = |c: &Candidate<'_>| c.provider.state.score(c.provider.weight);
    let a = draw(members, None, pick, weight);
    let b = draw(members, Some(a), pick, weight);
    let first = if score(&members[b]) < score(&members[a]) {
        b
    } else {
        a
    };
    let head = members.remove(first);
    members.sort_by(|x, y| score(x).total_cmp(&score(y)));
    members.insert(0, head);
}

/// An index drawn with probability proportional to weight, never `except`.
fn draw(
    members: &[Candidate<'_>],
    except: Option<usize>,
    pick: &mut dyn FnMut(u64) -> u64,
    weight: impl Fn(&Candidate<'_>) -> u64,
) -> usize {
    let total: u64 = members
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != except)
        .map(|(_, c)| weight(c))
        .sum();
    let mut at = pick(total.max(1));
    for (i, c) in members.iter().enumerate() {
        if Some(i) == except {
            continue;
        }
        let w = weight(c);
        if at < w {
            return i;
        }
        at -= w;
    }
    // Only reached when `pick` returned `n` or more.
    members.len() - 1 - usize::from(except == Some(members.len() - 1))
}
