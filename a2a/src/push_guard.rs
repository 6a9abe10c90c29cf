//! SSRF guard for push-notification webhook URLs.
//!
//! A client that registers a webhook makes the *agent* (or, with a webhook relay, the gateway)
//! POST to a URL of the client's choosing, from inside the network. The A2A spec (§13.2) asks
//! to refuse internal targets; a2a-js only checks literal addresses, so `internal.example` with
//! an A record of 10.0.0.5 passes it. This guard resolves the host and checks **every** address
//! (an attacker controls which one a client picks), including IPv4 addresses hidden in IPv6
//! forms (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
//! `2002::/16`).
//!
//! Limits: a check when the config is registered cannot stop DNS rebinding when the agent
//! connects later. [`CheckedWebhook::addrs`] lets a gateway-side sender pin the checked
//! addresses; enforcing egress for the agent itself needs the webhook relay (later work).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::Value;
use url::{Host, Url};

/// Why an address may not receive webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedRange {
    Loopback,
    Private,
    LinkLocal,
    Unspecified,
    Multicast,
    Broadcast,
    SharedCgnat,
    Reserved,
    CloudMetadata,
}

impl std::fmt::Display for BlockedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Loopback => "a loopback address (127.0.0.0/8, ::1)",
            Self::Private => "a private address (10/8, 172.16/12, 192.168/16, fc00::/7)",
            Self::LinkLocal => "a link-local address (169.254/16, fe80::/10)",
            Self::Unspecified => "an unspecified address (0.0.0.0/8, ::)",
            Self::Multicast => "a multicast address (224/4, ff00::/8)",
            Self::Broadcast => "the broadcast address (255.255.255.255)",
            Self::SharedCgnat => "a shared CGNAT address (100.64/10)",
            Self::Reserved => "a reserved address (240/4, fec0::/10)",
            Self::CloudMetadata => "a cloud metadata address (169.254.169.254, fd00:ec2::254)",
        })
    }
}

/// A refused webhook URL. Messages name the URL part at fault; never the token or credentials.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushUrlError {
    #[error("push notification config has no webhook `url`")]
    MissingUrl,
    #[error("webhook URL {url:?} is invalid: {reason}")]
    Invalid { url: String, reason: String },
    #[error("webhook URL {url:?} must use https")]
    HttpsRequired { url: String },
    #[error("webhook URL {url:?} must use http or https")]
    Scheme { url: String },
    #[error("webhook URL {url:?} has no host")]
    NoHost { url: String },
    #[error("webhook host {host:?} could not be resolved: {reason}")]
    Resolve { host: String, reason: String },
    #[error("webhook host {host:?} resolved to no address")]
    NoAddress { host: String },
    #[error("webhook host {host:?} resolves to {addr}, {range}; not allowed")]
    Blocked {
        host: String,
        addr: IpAddr,
        range: BlockedRange,
    },
}

/// Future returned by a [`Resolve`] implementation.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Name resolution, injectable so tests need no DNS.
pub trait Resolve: Send + Sync {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a>;
}

/// The system resolver through `tokio::net::lookup_host`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, port)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Guard settings.
#[derive(Debug, Clone)]
pub struct PushGuardConfig {
    /// Refuse plain `http` webhooks (default true; tests and labs turn it off).
    pub require_https: bool,
    /// Hosts exempt from the address checks: exact names (case-insensitive) or `*.suffix`.
    pub allow_hosts: Vec<String>,
    /// Address ranges exempt from the checks (e.g. an internal webhook relay's subnet).
    pub allow_cidrs: Vec<IpNet>,
    pub resolve_timeout: Duration,
}

impl Default for PushGuardConfig {
    fn default() -> Self {
        Self {
            require_https: true,
            allow_hosts: Vec::new(),
            allow_cidrs: Vec::new(),
            resolve_timeout: Duration::from_secs(5),
        }
    }
}

/// A webhook URL that passed the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedWebhook {
    pub url: Url,
    /// The addresses checked (empty when the host was allow-listed by name).
    pub addrs: Vec<IpAddr>,
    pub host_allow_listed: bool,
}

/// Checks webhook URLs against the SSRF rules.
#[derive(Clone)]
pub struct PushGuard {
    config: PushGuardConfig,
    resolver: Arc<dyn Resolve>,
}

impl PushGuard {
    /// A guard using the system resolver.
    pub fn new(config: PushGuardConfig) -> Self {
        Self::with_resolver(config, Arc::new(SystemResolver))
    }

    pub fn with_resolver(config: PushGuardConfig, resolver: Arc<dyn Resolve>) -> Self {
        Self { config, resolver }
    }

    /// Checks the webhook of a push config of either era (see [`webhook_url`]).
    pub async fn check_config(&self, config: &Value) -> Result<CheckedWebhook, PushUrlError> {
        let url = webhook_url(config).ok_or(PushUrlError::MissingUrl)?;
        self.check_url(url).await
    }

    /// Checks one webhook URL: scheme, then every resolved address unless allow-listed.
    pub async fn check_url(&self, raw: &str) -> Result<CheckedWebhook, PushUrlError> {
        let url = Url::parse(raw).map_err(|e| PushUrlError::Invalid {
            url: raw.to_owned(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "https" => {}
            "http" if !self.config.require_https => {}
            "http" => {
                return Err(PushUrlError::HttpsRequired {
                    url: raw.to_owned(),
                })
            }
            _ => {
                return Err(PushUrlError::Scheme {
                    url: raw.to_owned(),
                })
            }
        }
        let host = url.host().ok_or_else(|| PushUrlError::NoHost {
            url: raw.to_owned(),
        })?;
        let (host_name, addrs) = match host {
            Host::Ipv4(v4) => (v4.to_string(), vec![IpAddr::V4(v4)]),
            Host::Ipv6(v6) => (v6.to_string(), vec![IpAddr::V6(v6)]),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if self.host_allowed(&name) {
                    return Ok(CheckedWebhook {
                        url,
                        addrs: Vec::new(),
                        host_allow_listed: true,
                    });
                }
                let port = url.port_or_known_default().unwrap_or(443);
                let addrs = self.resolve(&name, port).await?;
                (name, addrs)
            }
        };
        if addrs.is_empty() {
            return Err(PushUrlError::NoAddress { host: host_name });
        }
        for addr in &addrs {
            if self.config.allow_cidrs.iter().any(|net| net.contains(addr)) {
                continue;
            }
            if let Some(range) = blocked_range(*addr) {
                return Err(PushUrlError::Blocked {
                    host: host_name,
                    addr: *addr,
                    range,
                });
            }
        }
        Ok(CheckedWebhook {
            url,
            addrs,
            host_allow_listed: false,
        })
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, PushUrlError> {
        let fail = |reason: String| PushUrlError::Resolve {
            host: host.to_owned(),
            reason,
        };
        match tokio::time::timeout(
            self.config.resolve_timeout,
            self.resolver.resolve(host, port),
        )
        .await
        {
            Ok(Ok(addrs)) => Ok(addrs),
            Ok(Err(e)) => Err(fail(e.to_string())),
            Err(_) => Err(fail(format!(
                "timed out after {:?}",
                self.config.resolve_timeout
            ))),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.config.allow_hosts.iter().any(|pattern| {
            let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => host == pattern,
            }
        })
    }
}

/// The webhook URL of a push config of either era: 1.0 `TaskPushNotificationConfig.url`, 0.3
/// `PushNotificationConfig.url`, or nested in `pushNotificationConfig` (0.3
/// `tasks/pushNotificationConfig/set` params, 0.3 `TaskPushNotificationConfig`) or `config`.
pub fn webhook_url(config: &Value) -> Option<&str> {
    config
        .get("url")
        .or_else(|| config.pointer("/pushNotificationConfig/url"))
        .or_else(|| config.pointer("/config/url"))
        .or_else(|| config.pointer("/config/pushNotificationConfig/url"))
        .and_then(Value::as_str)
}

/// The blocked range an address falls in, if any.
pub fn blocked_range(addr: IpAddr) -> Option<BlockedRange> {
    match addr {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<BlockedRange> {
    let [a, b, _, _] = ip.octets();
    Some(if ip == Ipv4Addr::new(169, 254, 169, 254) {
        BlockedRange::CloudMetadata
    } else if ip.is_broadcast() {
        BlockedRange::Broadcast
    } else if a == 0 {
        BlockedRange::Unspecified
    } else if ip.is_loopback() {
        BlockedRange::Loopback
    } else if ip.is_private() {
        BlockedRange::Private
    } else if ip.is_link_local() {
        BlockedRange::LinkLocal
    } else if a == 100 && (64..128).contains(&b) {
        BlockedRange::SharedCgnat
    } else if ip.is_multicast() {
        BlockedRange::Multicast
    } else if a >= 240 {
        BlockedRange::Reserved
    } else {
        return None;
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<BlockedRange> {
    let seg = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(BlockedRange::CloudMetadata);
    }
    if ip.is_unspecified() {
        return Some(BlockedRange::Unspecified);
    }
    if ip.is_loopback() {
        return Some(BlockedRange::Loopback);
    }
    // IPv4 inside IPv6: mapped ::ffff:0:0/96, compatible ::/96, NAT64 64:ff9b::/96, 6to4.
    let low32 = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    if seg[..5] == [0; 5] && (seg[5] == 0xffff || seg[5] == 0) {
        return blocked_v4(low32);
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return blocked_v4(low32);
    }
    if seg[0] == 0x2002 {
        let v4 = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        return blocked_v4(v4);
    }
    Some(match seg[0] {
        s if s & 0xfe00 == 0xfc00 => BlockedRange::Private,
        s if s & 0xffc0 == 0xfe80 => BlockedRange::LinkLocal,
        s if s & 0xffc0 == 0xfec0 => BlockedRange::Reserved,
        s if s & 0xff00 == 0xff00 => BlockedRange::Multicast,
        _ => return None,
    })
}

#[cfg(test)]
#[path = "push_guard_tests.rs"]
mod tests;
