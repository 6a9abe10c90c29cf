//! A bind's limits on its clients: how big a request head may be, how long a client may take
//! to send it and its body, and how many connections and HTTP/2 streams it may hold open.
//! Each protects the gateway from one kind of greedy or slow client (slowloris, header floods,
//! connection floods from one address); the defaults are generous for real clients.

use std::time::Duration;

use crate::config::file::BindLimits;

/// Default largest request head.
pub const DEFAULT_MAX_HEADER_SIZE: u32 = 64 * 1024;
/// The smallest head limit hyper's HTTP/1 parser takes (it panics below).
pub const MIN_MAX_HEADER_SIZE: u64 = 8 * 1024;
/// The largest head limit accepted (HTTP/2 carries it in a 32-bit setting).
pub const MAX_MAX_HEADER_SIZE: u64 = 16 * 1024 * 1024;
/// Default time for the request headers.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time for a whole request body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default HTTP/2 streams per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Default open connections per bind.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
/// Default open connections per client address.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: u32 = 1024;

/// The limits of one bind, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head, in bytes (at least [`MIN_MAX_HEADER_SIZE`]).
    pub max_header_size: u32,
    /// Time for the request headers; `None`: no limit.
    pub header_read_timeout: Option<Duration>,
    /// Time for the whole request body, from the end of the headers; `None`: no limit.
    pub body_read_timeout: Option<Duration>,
    /// HTTP/2 streams one connection may have open.
    pub max_concurrent_streams: u32,
    /// Open connections on the bind; `None`: no limit.
    pub max_connections: Option<u32>,
    /// Open connections from one IP address; `None`: no limit.
    pub max_connections_per_client: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            body_read_timeout: Some(DEFAULT_BODY_READ_TIMEOUT),
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            max_connections_per_client: Some(DEFAULT_MAX_CONNECTIONS_PER_CLIENT),
        }
    }
}

/// A limit that cannot be used: the key (below `limits`) and why.
#[derive(Debug, PartialEq, Eq)]
pub struct LimitError {
    /// The key below `limits`.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Limits {
    /// The limits a bind's `limits` key asks for, defaults filled in.
    pub fn from_config(config: Option<&BindLimits>) -> Result<Self, LimitError> {
        let d = Limits::default();
        let Some(c) = config else {
            return Ok(d);
        };
        let BindLimits {
            max_header_size,
            header_read_timeout,
            body_read_timeout,
            max_concurrent_streams,
            max_connections,
            max_connections_per_client,
        } = c;
        let max_header_size = match max_header_size {
            None => d.max_header_size,
            Some(s) if (MIN_MAX_HEADER_SIZE..=MAX_MAX_HEADER_SIZE).contains(&s.0) => {
                u32::try_from(s.0).unwrap_or(d.max_header_size)
            }
            Some(s) => {
                return Err(LimitError {
                    key: "maxHeaderSize",
                    message: format!("{s} is out of range: between 8KiB and 16MiB"),
                })
            }
        };
        let timeout = |v: &Option<netkit::Duration>, default: Option<Duration>| match v {
            None => default,
            Some(t) if t.0.is_zero() => None,
            Some(t) => Some(t.0),
        };
        let count = |v: &Option<u32>, default: Option<u32>| match v {
            None => default,
            Some(0) => None,
            Some(n) => Some(*n),
        };
        let max_concurrent_streams = match max_concurrent_streams {
            None => d.max_concurrent_streams,
            Some(0) => {
                return Err(LimitError {
                    key: "maxConcurrentStreams",
                    message: "must be at least 1".into(),
                })
            }
            Some(n) => *n,
        };
        Ok(Limits {
            max_header_size,
            header_read_timeout: timeout(header_read_timeout, d.header_read_timeout),
            body_read_timeout: timeout(body_read_timeout, d.body_read_timeout),
            max_concurrent_streams,
            max_connections: count(max_connections, d.max_connections),
            max_connections_per_client: count(
                max_connections_per_client,
                d.max_connections_per_client,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_zero_turns_off() {
        assert_eq!(Limits::from_config(None), Ok(Limits::default()));
        let c: BindLimits = serde_json::from_value(serde_json::json!({
            "maxHeaderSize": "16KiB", "bodyReadTimeout": "0s", "maxConnectionsPerClient": 0,
            "maxConcurrentStreams": 7
        }))
        .expect("parses");
        let l = Limits::from_config(Some(&c)).expect("valid");
        assert_eq!(l.max_header_size, 16 * 1024);
        assert_eq!(l.body_read_timeout, None);
        assert_eq!(l.max_connections_per_client, None);
        assert_eq!(l.max_concurrent_streams, 7);
        assert_eq!(l.max_connections, Some(DEFAULT_MAX_CONNECTIONS));
        assert_eq!(l.header_read_timeout, Some(DEFAULT_HEADER_READ_TIMEOUT));
    }

    #[test]
    fn header_sizes_hyper_cannot_take_are_refused() {
        for bad in ["4KiB", "17MiB"] {
            let c: BindLimits = serde_json::from_value(serde_json::json!({ "maxHeaderSize": bad }))
                .expect("parses");
            let e = Limits::from_config(Some(&c)).expect_err(bad);
            assert_eq!(e.key, "maxHeaderSize");
        }
    }
}
