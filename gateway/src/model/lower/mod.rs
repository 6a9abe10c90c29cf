//! Lowering the config file into the runtime model, with every semantic check.
//!
//! Each check that fails records a diagnostic at its key path and lowering goes on, so one run
//! reports every problem in the file.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use regex::Regex;

use super::discovery::ProtectedResources;
use super::host::HostPattern;
use super::plan::BuildMcp;
use super::policy::Timeouts;
use super::upstream::Upstream;
use super::{
    Bind, Listener, Model, Settings, TracingSettings, DEFAULT_ADMIN_ADDR, DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_MAX_REQUEST_BODY,
};
use crate::config::file::{self, ListenerProtocol};
use crate::config::{ConfigErrors, Diagnostic, Source};

mod ai;
mod applies;
mod guard;
mod plan;
mod policies;
mod pool;
mod ratelimit;
mod routes;
mod rules;

/// Lowers a loaded config into the runtime model, or returns every problem found. `build_mcp`
/// builds the server of each `mcp` backend.
pub fn lower(source: &Source, build_mcp: BuildMcp) -> Result<Model, ConfigErrors> {
    let mut cx = Lowering {
        source,
        build_mcp,
        errors: Vec::new(),
        named: HashMap::new(),
        session_key: None,
        authenticators: Vec::new(),
        protected_resources: Vec::new(),
        ai_backends: HashMap::new(),
        pools: HashMap::new(),
        pickers: HashMap::new(),
    };
    let model = cx.model();
    if cx.errors.is_empty() {
        Ok(model)
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

struct Lowering<'a> {
    source: &'a Source,
    build_mcp: BuildMcp,
    errors: Vec<Diagnostic>,
    named: HashMap<&'a str, (usize, &'a file::NamedBackend)>,
    /// `config.sessionKey`, which MCP backends seal their session ids with.
    session_key: Option<[u8; 32]>,
    /// Every route's authentication policy built so far.
    authenticators: Vec<Arc<authn::Authenticator>>,
    /// The `mcpAuthentication` metadata of the routes of the listener being lowered, with the
    /// key path of each `resource`; taken into the listener's table when its routes are done.
    protected_resources: Vec<(String, authn::mcp::ProtectedResource)>,
    /// The `ai` backends built so far, by index in `backends`: one per backend, whatever
    /// number of routes use it, so its providers' state (set aside, load) is shared. `None`:
    /// it had errors, already reported.
    ai_backends: HashMap<usize, Option<Arc<super::ai::AiBackend>>>,
    /// The `inferencePool` backends built so far, by index in `backends` (as `ai_backends`).
    pools: HashMap<usize, Option<Arc<super::pool::InferencePool>>>,
    /// The endpoint pickers built so far, by address and timeout: pools that name the same
    /// picker share its client (one HTTP/2 channel, one health check).
    pickers: HashMap<(String, std::time::Duration), inference::epp::EndpointPicker>,
}

/// Where a policy block sits; some policies are only meaningful at route level.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Route,
    Backend,
}

impl<'a> Lowering<'a> {
    pub(super) fn err(&mut self, path: impl AsRef<str>, msg: impl Into<String>) {
        let d = self.source.diagnostic(path.as_ref(), msg);
        self.errors.push(d);
    }

    fn model(&mut self) -> Model {
        let file = &self.source.file;
        let settings = self.settings(file.config.as_ref());
        self.session_key = settings.session_key;
        for (i, b) in file.backends.iter().enumerate() {
            let path = format!("backends[{i}]");
            if self.named.insert(b.name.as_str(), (i, b)).is_some() {
                self.err(
                    format!("{path}.name"),
                    format!("duplicate backend name {:?}", b.name),
                );
            }
            self.named_backend_kind(&path, b);
            if let (None, None, Some(ai)) = (&b.host, &b.mcp, &b.ai) {
                // Checked (and built) even when no route uses it yet.
                self.named_ai(i, b, ai);
            }
            if let (None, None, None, Some(pool)) = (&b.host, &b.mcp, &b.ai, &b.inference_pool) {
                self.named_pool(i, &b.name, pool);
            }
        }
        let default_body = file
            .config
            .as_ref()
            .and_then(|c| c.max_request_body)
            .map_or(DEFAULT_MAX_REQUEST_BODY, |b| b.0);
        let mut seen_addrs: HashMap<SocketAddr, usize> = HashMap::new();
        let mut binds = Vec::new();
        for (i, b) in file.binds.iter().enumerate() {
            let path = format!("binds[{i}]");
            if let Some(bind) = self.bind(&path, b, default_body) {
                if bind.addr.port() != 0 {
                    if let Some(prev) = seen_addrs.insert(bind.addr, i) {
                        self.err(
                            format!("{path}.port"),
                            format!("{} is already used by binds[{prev}]", bind.addr),
                        );
                    }
                }
                binds.push(Arc::new(bind));
            }
        }
        Model {
            settings,
            binds,
            authenticators: std::mem::take(&mut self.authenticators),
        }
    }

    fn settings(&mut self, c: Option<&file::ProcessConfig>) -> Settings {
        let default = file::ProcessConfig::default();
        let c = c.unwrap_or(&default);
        let admin = c.admin_addr.as_deref().unwrap_or(DEFAULT_ADMIN_ADDR);
        let admin_addr = admin.parse().unwrap_or_else(|_| {
            self.err(
                "config.adminAddr",
                format!("invalid address {admin:?}: write ip:port, e.g. 127.0.0.1:15000"),
            );
            SocketAddr::from(([127, 0, 0, 1], 15000))
        });
        let session_key = c.session_key.as_deref().and_then(|k| match decode_key(k) {
            Ok(k) => Some(k),
            Err(msg) => {
                self.err("config.sessionKey", msg);
                None
            }
        });
        let tracing = c.tracing.as_ref().map(|t| {
            if !(t.otlp_endpoint.starts_with("http://") || t.otlp_endpoint.starts_with("https://"))
            {
                self.err(
                    "config.tracing.otlpEndpoint",
                    "the OTLP endpoint must be an http:// or https:// URL",
                );
            }
            let ratio = t.sampling_ratio.unwrap_or(1.0);
            if !(0.0..=1.0).contains(&ratio) {
                self.err(
                    "config.tracing.samplingRatio",
                    "must be between 0.0 and 1.0",
                );
            }
            TracingSettings {
                otlp_endpoint: t.otlp_endpoint.clone(),
                sampling_ratio: ratio.clamp(0.0, 1.0),
            }
        });
        let logging = c.logging.clone().unwrap_or_default();
        if let Some(level) = &logging.level {
            if let Err(e) = tracing_subscriber::EnvFilter::try_new(level) {
                self.err(
                    "config.logging.level",
                    format!("invalid log filter {level:?}: {e}"),
                );
            }
        }
        Settings {
            admin_addr,
            drain_timeout: c.drain_timeout.map_or(DEFAULT_DRAIN_TIMEOUT, |d| d.0),
            log_format: logging.format.unwrap_or_default(),
            log_level: logging.level,
            tracing,
            session_key,
            workers: c.workers.filter(|w| *w > 0).map(usize::from),
        }
    }

    fn named_backend_kind(&mut self, path: &str, b: &file::NamedBackend) {
        let kinds = [
            b.host.is_some(),
            b.mcp.is_some(),
            b.ai.is_some(),
            b.inference_pool.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => self.err(
                path,
                "a backend needs exactly one of host, mcp, ai or inferencePool",
            ),
            _ => self.err(
                path,
                "a backend takes only one of host, mcp, ai or inferencePool",
            ),
        }
        if let Some(h) = &b.host {
            if let Err(e) = Upstream::parse(h) {
                self.err(format!("{path}.host"), e);
            }
        }
    }

    /// The `ai` backend `backends[i]`, built on first use.
    fn named_ai(
        &mut self,
        i: usize,
        nb: &file::NamedBackend,
        ai: &crate::config::ai::AiBackendConfig,
    ) -> Option<Arc<super::ai::AiBackend>> {
        if let Some(built) = self.ai_backends.get(&i) {
            return built.clone();
        }
        let built = self.ai_backend(&format!("backends[{i}].ai"), &nb.name, ai);
        self.ai_backends.insert(i, built.clone());
        built
    }

    fn bind(&mut self, path: &str, b: &'a file::Bind, default_body: u64) -> Option<Bind> {
        let ip: IpAddr = match b.address.as_deref().unwrap_or("0.0.0.0").parse() {
            Ok(ip) => ip,
            Err(_) => {
                self.err(
                    format!("{path}.address"),
                    "invalid address: write an IP address such as 0.0.0.0, 127.0.0.1 or ::",
                );
                return None;
            }
        };
        if b.listeners.is_empty() {
            self.err(
                format!("{path}.listeners"),
                "a bind needs at least one listener",
            );
        }
        let mut names = HashSet::new();
        let mut hosts = HashMap::new();
        let mut listeners = Vec::new();
        let mut certs = Vec::new();
        let mut protocols = HashSet::new();
        for (j, l) in b.listeners.iter().enumerate() {
            let lpath = format!("{path}.listeners[{j}]");
            if !names.insert(l.name.as_str()) {
                self.err(
                    format!("{lpath}.name"),
                    format!("duplicate listener name {:?} in this bind", l.name),
                );
            }
            let hostname = match HostPattern::parse(l.hostname.as_deref().unwrap_or("*")) {
                Ok(h) => h,
                Err(e) => {
                    self.err(format!("{lpath}.hostname"), e);
                    HostPattern::Any
                }
            };
            if let Some(prev) = hosts.insert(hostname.to_string(), j) {
                self.err(
                    format!("{lpath}.hostname"),
                    format!(
                        "hostname {hostname} is already served by listeners[{prev}] of this bind"
                    ),
                );
            }
            protocols.insert(l.protocol);
            match (l.protocol, &l.tls) {
                (ListenerProtocol::Tcp | ListenerProtocol::Tls, _) => {
                    self.err(
                        format!("{lpath}.protocol"),
                        "not supported yet: protocol TCP and TLS (use HTTP or HTTPS)",
                    );
                }
                (ListenerProtocol::Https, None) => {
                    self.err(
                        format!("{lpath}.tls"),
                        "protocol HTTPS needs tls: {cert, key}",
                    );
                }
                (ListenerProtocol::Http, Some(_)) => {
                    self.err(
                        format!("{lpath}.tls"),
                        "tls is set but the protocol is HTTP; use protocol: HTTPS",
                    );
                }
                (ListenerProtocol::Https, Some(t)) => {
                    match super::tls::load_certified_key_from(
                        &self.source.base_dir,
                        &t.cert,
                        &t.key,
                    ) {
                        Ok(ck) => certs.push((hostname.clone(), ck)),
                        Err(e) => self.err(format!("{lpath}.tls"), e),
                    }
                }
                (ListenerProtocol::Http, None) => {}
            }
            let routes = self.routes(&lpath, l, default_body);
            let protected = std::mem::take(&mut self.protected_resources);
            let discovery = match ProtectedResources::build(protected) {
                Ok(table) => table,
                Err((at, msg)) => {
                    self.err(at, msg);
                    ProtectedResources::default()
                }
            };
            listeners.push(Listener {
                name: l.name.as_str().into(),
                hostname,
                routes,
                discovery,
            });
        }
        if protocols.contains(&ListenerProtocol::Http)
            && protocols.contains(&ListenerProtocol::Https)
        {
            self.err(
                format!("{path}.listeners"),
                "HTTP and HTTPS listeners cannot share a port; use two binds",
            );
        }
        listeners.sort_by(|a, b| a.hostname.specificity_cmp(&b.hostname));
        let tls = if protocols.contains(&ListenerProtocol::Https) && !certs.is_empty() {
            match super::tls::server_config(certs) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.err(format!("{path}.listeners"), e);
                    None
                }
            }
        } else {
            None
        };
        let limits = match super::limits::Limits::from_config(b.limits.as_ref()) {
            Ok(l) => l,
            Err(e) => {
                self.err(format!("{path}.limits.{}", e.key), e.message);
                super::limits::Limits::default()
            }
        };
        Some(Bind {
            addr: SocketAddr::new(ip, b.port),
            tls,
            listeners,
            limits,
        })
    }
}

pub(super) fn timeouts(t: Option<&file::Timeout>) -> Timeouts {
    Timeouts {
        request: t
            .and_then(|t| t.request)
            .map(|d| d.0)
            .filter(|d| !d.is_zero()),
        backend_request: t
            .and_then(|t| t.backend_request)
            .map(|d| d.0)
            .filter(|d| !d.is_zero()),
    }
}

pub(super) fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid regular expression: {e}"))
}

pub(super) fn decode_key(k: &str) -> Result<[u8; 32], String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(k.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k.trim()))
        .map_err(|_| "sessionKey must be base64 (try: openssl rand -base64 32)".to_string())?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "sessionKey must be 32 bytes, got {} (try: openssl rand -base64 32)",
            b.len()
        )
    })
}

/// ` (did you mean "x"?)` when a known name is close.
pub(super) fn suggest(name: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
