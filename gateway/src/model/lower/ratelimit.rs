//! Lowering `localRateLimit` and `rateLimit`: checks with key paths, limiters built once per
//! load (or taken over from the live model, see [`crate::model::ratelimit`]).

use std::sync::Arc;

use ratelimit::{Bucket, LimitConfig, Per, RateLimitConfig, StoreConfig};

use super::Lowering;
use crate::config::file;
use crate::metrics::Metrics;
use crate::model::ratelimit::{
    local_limiter, GlobalLimit, GlobalLimits, Limits, LocalLimit, Store,
};

/// A route's limits, split by where they are checked.
#[derive(Default)]
pub(super) struct RouteRateLimits {
    /// `per: route` and `per: identity`: the route phase, per HTTP request.
    pub route: Option<Arc<Limits>>,
    /// `per: tool`: inside the virtual MCP server, per `tools/call`.
    pub tools: Option<Arc<Limits>>,
    /// Key paths of the `per: tool` entries, for the error when the route has a backend
    /// that is not `mcp`.
    pub tool_paths: Vec<String>,
}

/// The entries of one scope being gathered.
#[derive(Default)]
struct Scope {
    local: Vec<LocalLimit>,
    global: Vec<GlobalLimit>,
}

impl Lowering<'_> {
    /// The `localRateLimit` and `rateLimit` of the route `route_key` (policy block at `ppath`).
    pub(super) fn rate_limits(
        &mut self,
        ppath: &str,
        route_key: &str,
        p: &file::Policies,
    ) -> RouteRateLimits {
        let mut out = RouteRateLimits::default();
        let (mut route, mut tools) = (Scope::default(), Scope::default());
        if let Some(list) = &p.local_rate_limit {
            let path = format!("{ppath}.localRateLimit");
            self.invalid(&path, "", ratelimit::config::validate_local(list));
            if list.is_empty() {
                self.err(
                    &path,
                    "an empty list limits nothing: add a bucket or remove the key",
                );
            }
            for (i, entry) in list.iter().enumerate() {
                let Some((bucket, per)) = bucket(entry) else {
                    continue;
                };
                let limit = LocalLimit {
                    per,
                    limiter: local_limiter(route_key, i, bucket, per),
                };
                if per == Per::Tool {
                    out.tool_paths.push(format!("{path}[{i}].per"));
                    tools.local.push(limit);
                } else {
                    route.local.push(limit);
                }
            }
        }
        let mut store = None;
        if let Some(global) = &p.rate_limit {
            let path = format!("{ppath}.rateLimit");
            self.invalid(&path, ".", global.validate());
            let RateLimitConfig {
                store: StoreConfig::Redis(redis),
                failure_mode,
                limits,
            } = global;
            for (i, entry) in limits.iter().enumerate() {
                let Some((bucket, per)) = bucket(entry) else {
                    continue;
                };
                let limit = GlobalLimit {
                    per,
                    id: format!("{route_key}/{i}"),
                    bucket,
                };
                if per == Per::Tool {
                    out.tool_paths.push(format!("{path}.limits[{i}].per"));
                    tools.global.push(limit);
                } else {
                    route.global.push(limit);
                }
            }
            if ratelimit::redis_store::check_url(&redis.url).is_ok() {
                store = Some((Store::shared(redis, &Metrics::global()), *failure_mode));
            }
        }
        out.route = limits(route_key, route, store.clone());
        out.tools = limits(route_key, tools, store);
        out
    }

    /// Records the crate's findings, whose paths are relative to the policy at `path`.
    fn invalid(&mut self, path: &str, sep: &str, found: Vec<ratelimit::config::Invalid>) {
        for i in found {
            let sep = if i.path.starts_with('[') { "" } else { sep };
            self.err(format!("{path}{sep}{}", i.path), i.message);
        }
    }
}

fn bucket(entry: &LimitConfig) -> Option<(Bucket, Per)> {
    Bucket::from_config(entry).map(|b| (b, entry.per))
}

/// The compiled limits of one scope, or `None` when it has none (nothing then runs).
fn limits(
    route: &str,
    scope: Scope,
    store: Option<(Arc<Store>, ratelimit::FailureMode)>,
) -> Option<Arc<Limits>> {
    let Scope { local, global } = scope;
    if local.is_empty() && global.is_empty() {
        return None;
    }
    let global = match store {
        Some((store, failure_mode)) if !global.is_empty() => Some(GlobalLimits {
            store,
            failure_mode,
            limits: global,
        }),
        _ => None,
    };
    let metrics = Metrics::global();
    let (local_counts, global_counts) = metrics.ratelimit_decisions(route);
    Some(Arc::new(Limits {
        route: route.into(),
        local,
        global,
        local_counts,
        global_counts,
    }))
}
