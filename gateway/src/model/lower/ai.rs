//! Lowering an `ai` backend: providers with their base URLs, credentials and TLS names, the
//! `models` table pointing at them, and `setAside`.

use std::collections::HashMap;
use std::sync::Arc;

use http::uri::{Authority, Scheme};
use http::Uri;

use super::Lowering;
use crate::config::ai::{AiBackendConfig, AiProvider, ProviderEndpoint, TokenLimitPer};
use crate::config::file;
use crate::model::ai::{
    AiBackend, BudgetLimit, BudgetPer, ModelRule, Price, Provider, ProviderKind, SetAsidePolicy,
    TokenBudgets, Unit, VertexPlace,
};
use crate::model::policy::UpstreamAuth;
use crate::model::ratelimit::{live_or_new, LiveCache, Store};
use crate::model::upstream::Upstream;

/// OpenAI's API, as its SDKs' default `base_url`.
const OPENAI_URL: &str = "https://api.openai.com/v1";
/// Anthropic's API (its paths start with `/v1`).
const ANTHROPIC_URL: &str = "https://api.anthropic.com";
/// Google's Gemini API (its paths start with `/v1beta`).
const GEMINI_URL: &str = "https://generativelanguage.googleapis.com";

/// The provider kind a provider sets: its key, wire format, `model` and `url`, and the
/// default URL.
struct KindSet {
    key: &'static str,
    kind: ProviderKind,
    model: Option<String>,
    url: Option<String>,
    default_url: Option<String>,
}

/// Vertex AI's endpoint for `location`: regional, or the global one.
fn vertex_url(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_string()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// A cloud region, location or project id as it may appear in a host name or path.
fn cloud_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Provider names follow target names: they appear in metric labels and log fields.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl Lowering<'_> {
    /// The `ai` backend at `path` (`backends[i].ai`), or `None` after recording its errors.
    pub(super) fn ai_backend(
        &mut self,
        path: &str,
        name: &str,
        c: &AiBackendConfig,
    ) -> Option<Arc<AiBackend>> {
        let errors_before = self.errors.len();
        if c.groups.is_empty() {
            self.err(
                format!("{path}.groups"),
                "an ai backend needs at least one group",
            );
        }
        let mut by_name: HashMap<&str, Arc<Provider>> = HashMap::new();
        let mut groups = Vec::new();
        for (g, group) in c.groups.iter().enumerate() {
            if group.providers.is_empty() {
                self.err(
                    format!("{path}.groups[{g}].providers"),
                    "a group needs at least one provider",
                );
            }
            let mut providers = Vec::new();
            for (i, p) in group.providers.iter().enumerate() {
                let ppath = format!("{path}.groups[{g}].providers[{i}]");
                let Some(provider) = self.ai_provider(&ppath, p) else {
                    continue;
                };
                if by_name.insert(&p.name, provider.clone()).is_some() {
                    self.err(
                        format!("{ppath}.name"),
                        format!("duplicate provider name {:?} in this backend", p.name),
                    );
                }
                providers.push(provider);
            }
            groups.push(providers);
        }
        let mut models = Vec::new();
        for (i, m) in c.models.iter().enumerate() {
            let mpath = format!("{path}.models[{i}]");
            if m.name.is_empty() {
                self.err(format!("{mpath}.name"), "a model name cannot be empty");
            }
            match by_name.get(m.provider.as_str()) {
                Some(p) => {
                    let mut headers = Vec::new();
                    for (name, value) in &m.headers {
                        let parsed = (
                            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                            http::HeaderValue::from_str(value),
                        );
                        match parsed {
                            (Ok(n), Ok(v)) => headers.push((n, v)),
                            _ => self.err(
                                format!("{mpath}.headers.{name}"),
                                "not a valid header name and value",
                            ),
                        }
                    }
                    models.push(ModelRule {
                        pattern: m.name.clone(),
                        provider: p.clone(),
                        model: m.model.clone(),
                        headers,
                    });
                }
                None => {
                    let known: Vec<&str> = by_name.keys().copied().collect();
                    self.err(
                        format!("{mpath}.provider"),
                        format!(
                            "no provider named {:?} in this backend{}",
                            m.provider,
                            super::suggest(&m.provider, &known)
                        ),
                    );
                }
            }
        }
        let mut pricing = Vec::new();
        for (i, p) in c.pricing.iter().enumerate() {
            let ppath = format!("{path}.pricing[{i}]");
            let prices = [
                ("input", Some(p.input)),
                ("output", Some(p.output)),
                ("cacheRead", p.cache_read),
                ("cacheCreation", p.cache_creation),
            ];
            for (key, v) in prices {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    self.err(
                        format!("{ppath}.{key}"),
                        "a price must be a number of dollars, 0 or more",
                    );
                }
            }
            pricing.push(Price {
                pattern: p.model.clone(),
                input: p.input,
                output: p.output,
                cache_read: p.cache_read.unwrap_or(p.input),
                cache_creation: p.cache_creation.unwrap_or(p.input),
            });
        }
        let defaults = SetAsidePolicy::default();
        let set_aside = SetAsidePolicy {
            default: c
                .set_aside
                .as_ref()
                .and_then(|s| s.default)
                .map_or(defaults.default, |d| d.0),
            max: c
                .set_aside
                .as_ref()
                .and_then(|s| s.max)
                .map_or(defaults.max, |d| d.0),
        };
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Arc::new(AiBackend {
            name: name.into(),
            groups,
            models,
            set_aside,
            stream_idle: c
                .stream_idle_timeout
                .map(|d| d.0)
                .filter(|d| !d.is_zero())
                .unwrap_or(crate::model::ai::DEFAULT_STREAM_IDLE),
            pricing,
        }))
    }

    fn ai_provider(&mut self, path: &str, p: &AiProvider) -> Option<Arc<Provider>> {
        if !valid_name(&p.name) {
            self.err(
                format!("{path}.name"),
                format!(
                    "provider name {:?} must be lowercase letters, digits and '-' \
                     (at most 63, not starting or ending with '-')",
                    p.name
                ),
            );
        }
        let AiProvider {
            name: _,
            weight,
            openai,
            anthropic,
            openai_compatible,
            azure_openai,
            gemini,
            vertex,
            bedrock,
            inference_pool,
            policies,
        } = p;
        let endpoint = |e: &ProviderEndpoint| (e.model.clone(), e.url.clone());
        let mut set: Vec<KindSet> = Vec::new();
        let mut push =
            |key, kind, (model, url): (Option<String>, Option<String>), default: Option<&str>| {
                set.push(KindSet {
                    key,
                    kind,
                    model,
                    url,
                    default_url: default.map(str::to_string),
                });
            };
        if let Some(e) = openai {
            push(
                "openai",
                ProviderKind::OpenAi,
                endpoint(e),
                Some(OPENAI_URL),
            );
        }
        if let Some(e) = anthropic {
            push(
                "anthropic",
                ProviderKind::Anthropic,
                endpoint(e),
                Some(ANTHROPIC_URL),
            );
        }
        if let Some(e) = openai_compatible {
            push("openaiCompatible", ProviderKind::OpenAi, endpoint(e), None);
        }
        if let Some(e) = azure_openai {
            push("azureOpenai", ProviderKind::OpenAi, endpoint(e), None);
        }
        if let Some(g) = gemini {
            push(
                "gemini",
                ProviderKind::Gemini,
                (g.model.clone(), g.url.clone()),
                Some(GEMINI_URL),
            );
        }
        let mut vertex_place = None;
        if let Some(v) = vertex {
            let default = vertex_url(&v.location);
            let kind = match v.publisher {
                crate::config::ai::VertexPublisher::Google => ProviderKind::Vertex,
                crate::config::ai::VertexPublisher::Anthropic => ProviderKind::VertexAnthropic,
            };
            push(
                "vertex",
                kind,
                (v.model.clone(), v.url.clone()),
                Some(&default),
            );
            vertex_place = Some(VertexPlace {
                project: v.project.clone(),
                location: v.location.clone(),
            });
        }
        let mut aws_region = None;
        if let Some(b) = bedrock {
            let default = format!("https://bedrock-runtime.{}.amazonaws.com", b.region);
            push(
                "bedrock",
                ProviderKind::Bedrock,
                (b.model.clone(), b.url.clone()),
                Some(&default),
            );
            aws_region = Some(b.region.clone());
        }
        // A pool speaks OpenAI's API under `/v1`; its base URL names the first endpoint, for
        // the places a fixed upstream appears (each attempt goes where the picker says).
        let mut pool = None;
        if let Some(cfg) = inference_pool {
            let built = self.inference_pool(&format!("{path}.inferencePool"), &p.name, cfg)?;
            let label = built
                .endpoint_strings
                .first()
                .cloned()
                .unwrap_or_else(|| "inference-pool.invalid:80".to_string());
            push(
                "inferencePool",
                ProviderKind::OpenAi,
                (None, Some(format!("http://{label}/v1"))),
                None,
            );
            pool = Some(Arc::new(built));
            if policies.as_ref().is_some_and(|p| p.backend_tls.is_some()) {
                self.err(
                    format!("{path}.policies.backendTLS"),
                    "backendTLS is not supported on inferencePool providers yet",
                );
                return None;
            }
        }
        let set_count = set.len();
        if set_count == 0 {
            self.err(
                path,
                "a provider needs one of openai, anthropic, gemini, vertex, bedrock, \
                 azureOpenai, openaiCompatible or inferencePool",
            );
            return None;
        }
        if set_count > 1 {
            self.err(path, "a provider takes only one provider kind");
            return None;
        }
        let KindSet {
            key,
            kind,
            model,
            url,
            default_url,
        } = set.pop()?;
        if let Some(v) = &vertex_place {
            for (name, value) in [("project", &v.project), ("location", &v.location)] {
                if !cloud_name(value) {
                    self.err(
                        format!("{path}.vertex.{name}"),
                        format!("{name} {value:?} must be lowercase letters, digits and '-'"),
                    );
                    return None;
                }
            }
        }
        if let Some(region) = &aws_region {
            if !cloud_name(region) {
                self.err(
                    format!("{path}.bedrock.region"),
                    format!("region {region:?} must be an AWS region such as us-east-1"),
                );
                return None;
            }
        }
        let url = match (url.as_deref(), default_url.as_deref()) {
            (Some(u), _) => u,
            (None, Some(d)) => d,
            (None, None) => {
                let example = if key == "azureOpenai" {
                    "the resource's endpoint, e.g. https://RESOURCE.openai.azure.com"
                } else {
                    "the server's base URL, e.g. http://127.0.0.1:8000/v1"
                };
                self.err(
                    format!("{path}.{key}.url"),
                    format!("{key} needs url: {example}"),
                );
                return None;
            }
        };
        let (upstream, https, mut base_path) = match parse_base_url(url) {
            Ok(parts) => parts,
            Err(e) => {
                self.err(format!("{path}.{key}.url"), e);
                return None;
            }
        };
        if key == "azureOpenai" && base_path.is_empty() {
            // Azure OpenAI's v1 API: OpenAI's paths under `/openai/v1`, the deployment as
            // `model`.
            base_path = "/openai/v1".to_string();
        }
        let mut policies = policies.clone().unwrap_or_default();
        if let (Some(region), Some(backend_auth::BackendAuthConfig::Aws(aws))) =
            (&aws_region, policies.backend_auth.as_mut())
        {
            if !self.bedrock_signing(path, region, aws) {
                return None;
            }
        }
        let auth = match &policies.backend_auth {
            None => None,
            Some(backend_auth::BackendAuthConfig::Passthrough(_)) => {
                Some(UpstreamAuth::Passthrough)
            }
            Some(config) => {
                let built = mcp_mux::build_backend_auth(
                    config,
                    "on a provider",
                    mcp_mux::DEFAULT_CONNECT_TIMEOUT,
                );
                match built {
                    Ok(a) => Some(UpstreamAuth::Credential(a)),
                    Err(e) => {
                        self.err(format!("{path}.policies.backendAuth"), e.to_string());
                        return None;
                    }
                }
            }
        };
        let tls_name = match &policies.backend_tls {
            Some(t) => self
                .backend_tls(&format!("{path}.policies.backendTLS"), t)?
                .server_name(&upstream),
            None => crate::model::policy::BackendTls::default().server_name(&upstream),
        };
        if policies.backend_tls.is_some() && !https {
            self.err(
                format!("{path}.policies.backendTLS"),
                "backendTLS is set but the url is http://; write https://",
            );
        }
        Some(Arc::new(Provider {
            name: p.name.as_str().into(),
            kind,
            upstream,
            tls: https.then_some(tls_name),
            base_path,
            model: model.clone(),
            weight: weight.unwrap_or(1),
            auth,
            vertex: vertex_place,
            state: Arc::default(),
            pool,
        }))
    }

    /// A `bedrock` provider's `aws` signing: service `bedrock`, the provider's region (filled
    /// in when absent). False after recording a conflict.
    fn bedrock_signing(
        &mut self,
        path: &str,
        region: &str,
        aws: &mut backend_auth::AwsConfig,
    ) -> bool {
        let at = format!("{path}.policies.backendAuth.aws");
        match &aws.region {
            Some(r) if r != region => {
                self.err(
                    format!("{at}.region"),
                    format!("{r:?} is not the provider's region {region:?}: leave it out"),
                );
                return false;
            }
            _ => aws.region = Some(region.to_string()),
        }
        match &aws.service {
            Some(s) if s != "bedrock" => {
                self.err(
                    format!("{at}.service"),
                    format!("Bedrock signs as service \"bedrock\", not {s:?}: leave it out"),
                );
                false
            }
            _ => {
                aws.service = Some("bedrock".into());
                true
            }
        }
    }
}

impl Lowering<'_> {
    /// A route's `tokenRateLimit`, at `ppath.tokenRateLimit`.
    pub(super) fn token_budgets(
        &mut self,
        ppath: &str,
        route_key: &str,
        p: &file::Policies,
    ) -> Option<Arc<TokenBudgets>> {
        let config = p.token_rate_limit.as_ref()?;
        let base = format!("{ppath}.tokenRateLimit");
        if config.limits.is_empty() {
            self.err(
                format!("{base}.limits"),
                "an empty list limits nothing: add a bucket or remove the key",
            );
        }
        let mut limits = Vec::new();
        for (i, e) in config.limits.iter().enumerate() {
            let at = format!("{base}.limits[{i}]");
            let per = match e.per {
                TokenLimitPer::Route => BudgetPer::Route,
                TokenLimitPer::Identity => BudgetPer::Identity,
                TokenLimitPer::Model => BudgetPer::Model,
            };
            let dollars = |v: f64| -> Option<u64> {
                (v.is_finite() && v > 0.0).then(|| (v * 1e6).round() as u64)
            };
            let (unit, max, per_fill) =
                match (e.max_tokens, e.tokens_per_fill, e.max_cost, e.cost_per_fill) {
                    (Some(m), Some(f), None, None) => (Unit::Tokens, Some(m), Some(f)),
                    (None, None, Some(m), Some(f)) => (Unit::MicroUsd, dollars(m), dollars(f)),
                    _ => {
                        self.err(
                            &at,
                            "write maxTokens and tokensPerFill (a token budget), or maxCost and \
                         costPerFill (a spend budget in US dollars)",
                        );
                        continue;
                    }
                };
            let id = format!("{route_key}/tokens/{i}");
            match (max, per_fill) {
                (Some(max), Some(per_fill)) => {
                    match budget_limit(unit, max, per_fill, e.fill_interval.0, per, id) {
                        Some(l) => limits.push(l),
                        None => self.err(&at, "sizes and the fill interval must be above 0"),
                    }
                }
                _ => self.err(&at, "sizes must be above 0"),
            }
        }
        let global = match &config.store {
            None => None,
            Some(ratelimit::StoreConfig::Redis(redis)) => {
                match ratelimit::redis_store::check_url(&redis.url) {
                    Ok(()) => Some((
                        Store::shared(redis, &crate::metrics::Metrics::global()),
                        config.failure_mode,
                    )),
                    Err(e) => {
                        self.err(format!("{base}.store.redis.url"), e);
                        None
                    }
                }
            }
        };
        Some(Arc::new(TokenBudgets { limits, global }))
    }
}

/// The live in-memory limit of the same route, place and settings when a model still holds
/// one (a reload keeps the balances), else a new one.
fn budget_limit(
    unit: Unit,
    max: u64,
    per_fill: u64,
    interval: std::time::Duration,
    per: BudgetPer,
    id: String,
) -> Option<Arc<BudgetLimit>> {
    static CACHE: LiveCache<BudgetLimit> = std::sync::OnceLock::new();
    let limit = BudgetLimit::new(unit, max, per_fill, interval, per, id)?;
    let key = format!(
        "{}\u{0}{unit:?}/{max}/{per_fill}/{interval:?}/{per:?}",
        limit.id
    );
    Some(live_or_new(&CACHE, key, || Arc::new(limit)))
}

/// `http(s)://host[:port][/path]` into the upstream, whether it is https, and the path
/// without a trailing `/`.
fn parse_base_url(url: &str) -> Result<(Upstream, bool, String), String> {
    let bad = |why: &str| format!("invalid url {url:?}: {why}");
    let uri: Uri = url
        .parse()
        .map_err(|e| bad(&format!("{e}; write e.g. https://api.example.com/v1")))?;
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => return Err(bad("the scheme must be http:// or https://")),
    };
    let authority: Authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("credentials in the URL: use policies.backendAuth"));
    }
    if uri.query().is_some() {
        return Err(bad("a base URL takes no query"));
    }
    let base_path = uri.path().trim_end_matches('/').to_string();
    Ok((Upstream { authority }, https, base_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let (u, https, path) = parse_base_url("https://api.openai.com/v1").unwrap();
        assert_eq!(u.authority.as_str(), "api.openai.com");
        assert!(https);
        assert_eq!(path, "/v1");
        let (u, https, path) = parse_base_url("http://127.0.0.1:8000/").unwrap();
        assert_eq!(u.authority.as_str(), "127.0.0.1:8000");
        assert!(!https);
        assert_eq!(path, "");
        assert!(parse_base_url("ftp://x/").is_err());
        assert!(parse_base_url("127.0.0.1:8000").is_err());
        assert!(parse_base_url("https://user:pw@x/").is_err());
        assert!(parse_base_url("https://x/v1?k=1").is_err());
    }

    #[test]
    fn provider_names() {
        assert!(valid_name("local-1"));
        assert!(!valid_name("Local"));
        assert!(!valid_name("-a"));
        assert!(!valid_name(""));
    }
}
