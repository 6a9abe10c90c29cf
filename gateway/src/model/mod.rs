//! The runtime model: one internal representation of the config that the data path reads.
//!
//! [`lower`] turns a validated [`crate::config::Source`] into a [`Model`], doing every semantic
//! check on the way (references, regexes, header syntax, policy combinations) and reporting all
//! problems together with their lines. A model is immutable; hot reload swaps whole models.

pub mod ai;
pub mod discovery;
pub mod guard;
pub mod health;
pub mod host;
pub mod limits;
mod lower;
pub mod matcher;
pub mod plan;
pub mod policy;
pub mod pool;
pub mod ratelimit;
pub mod route;
pub mod tls;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use lower::lower;

use crate::config::file::LogFormat;
use host::HostPattern;
use matcher::RouteTable;

/// Everything the process serves.
#[derive(Debug)]
pub struct Model {
    /// Process settings.
    pub settings: Settings,
    /// Listening sockets.
    pub binds: Vec<Arc<Bind>>,
    /// The routes' authentication policies, whose background work (JWKS fetches) starts when
    /// the model is applied.
    pub authenticators: Vec<Arc<authn::Authenticator>>,
}

/// Process settings; most are read only at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Admin endpoint address.
    pub admin_addr: SocketAddr,
    /// How long in-flight requests get on shutdown or when their bind is removed.
    pub drain_timeout: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: Option<String>,
    /// OTLP trace export.
    pub tracing: Option<TracingSettings>,
    /// Session key bytes, when configured.
    pub session_key: Option<[u8; 32]>,
    /// Worker threads; `None` means one per core.
    pub workers: Option<usize>,
}

/// OTLP export settings.
#[derive(Debug, Clone)]
pub struct TracingSettings {
    /// Collector endpoint.
    pub otlp_endpoint: String,
    /// Sampling ratio.
    pub sampling_ratio: f64,
}

/// One listening socket and the listeners sharing it.
#[derive(Debug)]
pub struct Bind {
    /// Socket address.
    pub addr: SocketAddr,
    /// TLS settings for `HTTPS` binds.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Listeners, most specific hostname first.
    pub listeners: Vec<Listener>,
    /// What its clients may send and hold open.
    pub limits: limits::Limits,
}

/// A listener: a hostname and its routes.
#[derive(Debug)]
pub struct Listener {
    /// Name from the config.
    pub name: Arc<str>,
    /// Which hosts it serves.
    pub hostname: HostPattern,
    /// Its routes.
    pub routes: RouteTable,
    /// The RFC 9728 documents of its `mcpAuthentication` routes, answered before any route
    /// is chosen.
    pub discovery: discovery::ProtectedResources,
}

impl Bind {
    /// Whether this bind serves TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The listener serving `host`, the most specific first; with no host, the first catch-all.
    pub fn listener_for(&self, host: Option<&str>) -> Option<&Listener> {
        self.listeners.iter().find(|l| match host {
            Some(h) => l.hostname.matches(h),
            None => l.hostname == HostPattern::Any,
        })
    }
}

/// Default admin address.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:15000";
/// Default drain time on shutdown.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default request body limit.
pub const DEFAULT_MAX_REQUEST_BODY: u64 = 4 << 20;

/// Checks and lowers the config file at `path`, reporting the errors of every stage together;
/// `build_mcp` builds the server of each `mcp` backend.
pub fn load(
    path: &std::path::Path,
    build_mcp: plan::BuildMcp,
) -> Result<(crate::config::Source, Model), crate::config::ConfigErrors> {
    from_checked(crate::config::Source::check_file(path), build_mcp)
}

/// Lowers a checked config. When the earlier stages failed, lowering still runs on the
/// best-effort config so its findings join theirs, except those that only repeat them.
pub fn from_checked(
    mut checked: crate::config::Checked,
    build_mcp: plan::BuildMcp,
) -> Result<(crate::config::Source, Model), crate::config::ConfigErrors> {
    let Some(source) = checked.source.take() else {
        return Err(checked.errors);
    };
    match lower(&source, build_mcp) {
        Ok(model) if checked.errors.is_empty() => Ok((source, model)),
        Ok(_) => Err(checked.errors),
        Err(found) => {
            let later: Vec<_> = found
                .0
                .into_iter()
                .filter(|d| !checked.echoes_earlier_error(&d.path))
                .collect();
            let mut all = std::mem::take(&mut checked.errors.0);
            all.extend(later);
            all.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.column.unwrap_or(0)));
            Err(crate::config::ConfigErrors(all))
        }
    }
}
