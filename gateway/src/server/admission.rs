//! Which connections a bind takes: at most `maxConnections` open at once, and at most
//! `maxConnectionsPerClient` from one IP address, so one client (or a flood of connections
//! from it) cannot use up the gateway's sockets and memory. A connection over a limit is
//! closed as it arrives, counted in `switchboard_connections_refused_total{bind,reason}` and
//! logged, at most once per [`LOG_EVERY`] per bind and reason so a flood does not flood the
//! log as well.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::model::limits::Limits;

/// Each refusal reason of a bind is logged at most this often (with the count since).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a connection, or what it sent, was refused: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The bind has `maxConnections` open.
    MaxConnections,
    /// The client's address has `maxConnectionsPerClient` open.
    MaxConnectionsPerClient,
    /// The request head was over `maxHeaderSize` (answered `431`).
    HeaderTooLarge,
    /// The request head did not arrive within `headerReadTimeout`.
    HeaderTimeout,
    /// The TLS handshake did not finish in time.
    TlsHandshakeTimeout,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::MaxConnectionsPerClient => "max_connections_per_client",
            Refusal::HeaderTooLarge => "header_too_large",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::TlsHandshakeTimeout => "tls_handshake_timeout",
        }
    }
}

/// Open connections of one bind, by client address.
#[derive(Default)]
struct Open {
    total: u32,
    by_client: HashMap<IpAddr, u32>,
}

/// The connection counts, refusal counters and log throttle of one bind.
pub struct Admission {
    bind: String,
    open: Mutex<Open>,
    metrics: Arc<Metrics>,
    /// Per reason: when it was last logged, and how many went unlogged since.
    logged: Mutex<HashMap<Refusal, (Instant, u64)>>,
}

/// One admitted connection; dropping it frees its place.
pub struct Ticket {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

impl Admission {
    /// The admission of the bind labelled `bind` (its address) in metrics and logs.
    pub fn new(bind: String, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Admission {
            bind,
            open: Mutex::default(),
            metrics,
            logged: Mutex::default(),
        })
    }

    /// Admits a connection from `client` under `limits`, or says which limit it is over
    /// (the refusal is already counted and logged).
    pub fn admit(self: &Arc<Self>, client: IpAddr, limits: &Limits) -> Result<Ticket, Refusal> {
        let refused = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let of_client = open.by_client.get(&client).copied().unwrap_or(0);
            if limits.max_connections.is_some_and(|max| open.total >= max) {
                Some(Refusal::MaxConnections)
            } else if limits
                .max_connections_per_client
                .is_some_and(|max| of_client >= max)
            {
                Some(Refusal::MaxConnectionsPerClient)
            } else {
                open.total += 1;
                *open.by_client.entry(client).or_insert(0) += 1;
                None
            }
        };
        match refused {
            Some(r) => {
                self.refused(r, client);
                Err(r)
            }
            None => Ok(Ticket {
                admission: self.clone(),
                client,
            }),
        }
    }

    /// Counts a refusal and logs it, unless this reason was logged less than [`LOG_EVERY`] ago.
    pub fn refused(&self, reason: Refusal, client: IpAddr) {
        self.metrics.connection_refused(&self.bind, reason.label());
        let now = Instant::now();
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        match logged.get_mut(&reason) {
            Some((last, unlogged)) if now.duration_since(*last) < LOG_EVERY => *unlogged += 1,
            entry => {
                let since = entry.map_or(0, |(_, n)| *n);
                logged.insert(reason, (now, 0));
                drop(logged);
                tracing::warn!(
                    bind = %self.bind,
                    %client,
                    reason = reason.label(),
                    more_since_last_line = since,
                    "connection refused (logged at most every {}s per reason)",
                    LOG_EVERY.as_secs()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: u32, per_client: u32) -> Limits {
        Limits {
            max_connections: Some(total),
            max_connections_per_client: Some(per_client),
            ..Limits::default()
        }
    }

    #[test]
    fn per_client_and_total_caps_hold_and_free_on_drop() {
        let a = Admission::new("127.0.0.1:1".into(), Arc::new(Metrics::new()));
        let one: IpAddr = "10.0.0.1".parse().expect("ip");
        let two: IpAddr = "10.0.0.2".parse().expect("ip");
        let l = limits(3, 2);
        let t1 = a.admit(one, &l).expect("first");
        let _t2 = a.admit(one, &l).expect("second");
        assert_eq!(
            a.admit(one, &l).err(),
            Some(Refusal::MaxConnectionsPerClient)
        );
        let _t3 = a.admit(two, &l).expect("another client");
        assert_eq!(a.admit(two, &l).err(), Some(Refusal::MaxConnections));
        drop(t1);
        let _t4 = a.admit(two, &l).expect("a place was freed");
        let text = a.metrics.encode();
        assert!(
            text.contains("switchboard_connections_refused_total{bind=\"127.0.0.1:1\",reason=\"max_connections_per_client\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn no_limits_admit_everything() {
        let a = Admission::new("b".into(), Arc::new(Metrics::new()));
        let l = Limits {
            max_connections: None,
            max_connections_per_client: None,
            ..Limits::default()
        };
        let ip: IpAddr = "::1".parse().expect("ip");
        let tickets: Vec<_> = (0..5000)
            .map(|_| a.admit(ip, &l).expect("admitted"))
            .collect();
        assert_eq!(tickets.len(), 5000);
    }
}
