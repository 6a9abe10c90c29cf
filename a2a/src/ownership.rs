//! Task ownership: only the caller that created a task may read, cancel, subscribe to or
//! configure pushes for it, and `ListTasks` shows each caller its own tasks (spec §13.1, MUST).
//!
//! With one shared upstream credential the agent cannot tell callers apart, so the gateway
//! enforces this. Two mechanisms:
//!
//! - [`OwnershipStore`]: task id → owner, learned from the agent's responses (task results and
//!   stream events, see [`crate::events`]), bounded in size and expiring after a TTL. Local to
//!   one replica: behind a load balancer, a task created through replica A is *unknown* on B
//!   ([`UnknownTasks`] decides), until the map is shared (later work).
//! - [`TaskIdSealer`]: stateless. The gateway hands clients a sealed task id
//!   `a2at1.<task id>.<HMAC(key, task id, owner)>` and unseals it on the way in; only the owner's
//!   identity makes the MAC verify, and any replica with the key can check it. It requires the
//!   gateway to rewrite task ids in every response, stream event and push delivery, and it
//!   cannot filter `ListTasks` (raw ids from the agent carry no owner): use it with identity
//!   forwarding for listing, or deny `ListTasks`.
//!
//! A caller asking for someone else's task gets TaskNotFound, never "forbidden": existence of
//! other callers' tasks is not revealed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde_json::Value;

use crate::errors::RpcError;

/// What to do with a task id the store has never seen (or has forgotten).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownTasks {
    /// Refuse: safe, but tasks outlive the store's TTL, a restart or another replica.
    #[default]
    Deny,
    /// Relay: for single-tenant routes and migrations.
    Allow,
}

/// The result of an access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Owner,
    NotOwner,
    Unknown,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OwnershipError {
    /// Another caller's task, an unknown task under [`UnknownTasks::Deny`], or a sealed id whose
    /// MAC does not verify for this caller: all answered as TaskNotFound.
    #[error("task not found: {task_id}")]
    NotFound { task_id: String },
    #[error("sealed task id is malformed")]
    MalformedSealedId,
    #[error("task list response is not {0}")]
    ListShape(&'static str),
    #[error("task list response is not valid JSON: {0}")]
    ListJson(String),
}

impl OwnershipError {
    /// The JSON-RPC error for the caller: TaskNotFound for every ownership failure.
    pub fn to_rpc(&self) -> RpcError {
        match self {
            Self::NotFound { task_id } => RpcError::task_not_found(task_id),
            Self::MalformedSealedId => RpcError::task_not_found("(malformed id)"),
            Self::ListShape(_) | Self::ListJson(_) => {
                RpcError::internal("agent returned an unreadable task list")
            }
        }
    }
}

struct Entry {
    owner: String,
    expires: Instant,
    /// Matches the newest queue entry for this key; older queue entries are stale.
    seq: u64,
}

struct Inner {
    map: HashMap<String, Entry>,
    /// Keys in recording order, so expiry and eviction pop from the front (the TTL is constant,
    /// so the front expires first).
    order: VecDeque<(String, u64)>,
    next_seq: u64,
}

/// Bounded, expiring map task id → owner identity, for one A2A route.
pub struct OwnershipStore {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl: Duration,
    unknown: UnknownTasks,
}

impl OwnershipStore {
    pub fn new(capacity: usize, ttl: Duration, unknown: UnknownTasks) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                next_seq: 0,
            }),
            capacity: capacity.max(1),
            ttl,
            unknown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent: recover it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `owner` for `task_id` (from a task result or stream event) and renews its TTL.
    /// The first owner wins: returns false, keeping the original, if another owner holds a live
    /// entry.
    pub fn record(&self, task_id: &str, owner: &str) -> bool {
        self.record_at(task_id, owner, Instant::now())
    }

    pub(crate) fn record_at(&self, task_id: &str, owner: &str, now: Instant) -> bool {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let expires = now + self.ttl;
        match inner.map.get_mut(task_id) {
            Some(e) if e.expires > now && e.owner != owner => return false,
            Some(e) => {
                e.owner = owner.to_owned();
                e.expires = expires;
                e.seq = seq;
            }
            None => {
                inner.map.insert(
                    task_id.to_owned(),
                    Entry {
                        owner: owner.to_owned(),
                        expires,
                        seq,
                    },
                );
            }
        }
        inner.order.push_back((task_id.to_owned(), seq));
        self.evict(inner, now);
        true
    }

    /// Drops expired entries and, above capacity, the least recently recorded ones.
    fn evict(&self, inner: &mut Inner, now: Instant) {
        while let Some((key, seq)) = inner.order.front() {
            let state = inner
                .map
                .get(key)
                .filter(|e| e.seq == *seq)
                .map(|e| e.expires > now);
            let over = inner.map.len() > self.capacity;
            match state {
                None => {} // stale queue entry: the key was re-recorded or removed
                Some(true) if !over => break,
                Some(_) => {
                    inner.map.remove(key);
                }
            }
            inner.order.pop_front();
        }
        // Re-recording one task many times leaves stale queue entries behind: compact.
        if inner.order.len() > self.capacity.saturating_mul(2) + 16 {
            let map = &inner.map;
            inner
                .order
                .retain(|(k, seq)| map.get(k).is_some_and(|e| e.seq == *seq));
        }
    }

    /// Who may access `task_id` relative to `caller`.
    pub fn access(&self, task_id: &str, caller: &str) -> Access {
        self.access_at(task_id, caller, Instant::now())
    }

    pub(crate) fn access_at(&self, task_id: &str, caller: &str, now: Instant) -> Access {
        match self.lock().map.get(task_id) {
            Some(e) if e.expires > now && e.owner == caller => Access::Owner,
            Some(e) if e.expires > now => Access::NotOwner,
            _ => Access::Unknown,
        }
    }

    /// Checks a get/cancel/subscribe/push-config request on `task_id` by `caller`.
    pub fn authorize(&self, task_id: &str, caller: &str) -> Result<(), OwnershipError> {
        match (self.access(task_id, caller), self.unknown) {
            (Access::Owner, _) | (Access::Unknown, UnknownTasks::Allow) => Ok(()),
            _ => Err(OwnershipError::NotFound {
                task_id: task_id.to_owned(),
            }),
        }
    }

    /// Filters a `ListTasks` response body to `caller`'s tasks (see [`filter_task_list`]).
    pub fn filter_list_response(
        &self,
        body: &[u8],
        caller: &str,
    ) -> Result<(Vec<u8>, usize), OwnershipError> {
        filter_task_list(body, |id| self.authorize(id, caller).is_ok())
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps only the tasks for which `keep(task id)` holds in a `ListTasks` response: a JSON-RPC
/// envelope (`result.tasks`) or a bare REST body (`tasks`). Returns the new body and the number
/// removed. `totalSize` is reduced by that number: it cannot be made exact without reading every
/// page, and leaving it would reveal how many tasks other callers have. Error envelopes pass.
pub fn filter_task_list(
    body: &[u8],
    keep: impl Fn(&str) -> bool,
) -> Result<(Vec<u8>, usize), OwnershipError> {
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| OwnershipError::ListJson(e.to_string()))?;
    let obj = v
        .as_object_mut()
        .ok_or(OwnershipError::ListShape("an object"))?;
    if obj.contains_key("error") && !obj.contains_key("result") {
        return Ok((body.to_vec(), 0));
    }
    let list = match obj.get_mut("result") {
        Some(result) => result
            .as_object_mut()
            .ok_or(OwnershipError::ListShape("an object in `result`"))?,
        None => obj,
    };
    let tasks = list
        .get_mut("tasks")
        .and_then(Value::as_array_mut)
        .ok_or(OwnershipError::ListShape("an object with a `tasks` array"))?;
    let before = tasks.len();
    tasks.retain(|t| t.get("id").and_then(Value::as_str).is_some_and(&keep));
    let removed = before - tasks.len();
    if let Some(total) = list.get_mut("totalSize") {
        if let Some(n) = total.as_u64() {
            *total = Value::from(n.saturating_sub(removed as u64));
        }
    }
    let out = serde_json::to_vec(&v).map_err(|e| OwnershipError::ListJson(e.to_string()))?;
    Ok((out, removed))
}

const SEALED_PREFIX: &str = "a2at1.";

/// Seals task ids to their owner with HMAC-SHA256 (see the module docs for the trade-offs).
pub struct TaskIdSealer {
    key: hmac::Key,
}

impl TaskIdSealer {
    /// `secret` should be 32 random bytes, the same on every replica.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Length-prefixed fields so that ("ab", "c") and ("a", "bc") sign differently.
    fn message(task_id: &str, owner: &str) -> Vec<u8> {
        let mut m = Vec::with_capacity(16 + task_id.len() + owner.len());
        m.extend_from_slice(b"switchboard-a2a-task\0");
        m.extend_from_slice(&(task_id.len() as u64).to_be_bytes());
        m.extend_from_slice(task_id.as_bytes());
        m.extend_from_slice(owner.as_bytes());
        m
    }

    /// The id handed to the client for the agent's `task_id` owned by `owner`. Deterministic.
    pub fn seal(&self, task_id: &str, owner: &str) -> String {
        let tag = hmac::sign(&self.key, &Self::message(task_id, owner));
        format!(
            "{SEALED_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(task_id),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The agent's task id, if `sealed` was sealed for `caller`.
    pub fn unseal(&self, sealed: &str, caller: &str) -> Result<String, OwnershipError> {
        let rest = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(OwnershipError::MalformedSealedId)?;
        let (id_b64, tag_b64) = rest
            .split_once('.')
            .ok_or(OwnershipError::MalformedSealedId)?;
        let id_bytes = URL_SAFE_NO_PAD
            .decode(id_b64)
            .map_err(|_| OwnershipError::MalformedSealedId)?;
        let task_id = String::from_utf8(id_bytes).map_err(|_| OwnershipError::MalformedSealedId)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| OwnershipError::MalformedSealedId)?;
        hmac::verify(&self.key, &Self::message(&task_id, caller), &tag).map_err(|_| {
            OwnershipError::NotFound {
                task_id: sealed.to_owned(),
            }
        })?;
        Ok(task_id)
    }

    /// Whether a client-supplied id is a sealed one (others are raw agent ids).
    pub fn is_sealed(id: &str) -> bool {
        id.starts_with(SEALED_PREFIX)
    }
}

#[cfg(test)]
#[path = "ownership_tests.rs"]
mod tests;
