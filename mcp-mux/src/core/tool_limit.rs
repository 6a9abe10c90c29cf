//! Per-tool rate limits on `tools/call`: the hook the embedder (the gateway's `per: tool`
//! buckets) plugs in, and the JSON-RPC error a denied call gets.
//!
//! The limiter travels with each request, not with the multiplexer: the embedder puts a
//! [`ToolLimit`] in the HTTP request's extensions (the HTTP fronts and rmcp's request parts
//! carry it into the [`CallContext`]), so one multiplexer serves routes with different limits
//! and a config reload changes the limits without rebuilding it. Without one, a call costs a
//! single `Option` check.
//!
//! The check runs after the tool's name resolved to a target's tool that its filter allows:
//! unknown or filtered tools are refused as unknown before they can take a token, so a caller
//! cannot empty the bucket of a tool it may not call or learn from the limiter that a name
//! exists. A denied call ends with an error; the session and its other calls go on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ErrorCode, ErrorData};

use crate::core::context::CallContext;

/// JSON-RPC `error.code` of a call denied by a rate limit: in the range JSON-RPC leaves to
/// implementations (-32000 to -32099), chosen to read as HTTP's 429.
pub const RATE_LIMITED: i32 = -32029;

/// Decides whether one `tools/call` may go on.
pub trait ToolLimiter: Send + Sync {
    /// Takes a token for a call of `tool` (the name as the client sees it in `tools/list`);
    /// `Err(retry_after)` when the call must wait that long.
    fn check<'a>(
        &'a self,
        tool: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + 'a>>;
}

/// A [`ToolLimiter`] as a request extension.
#[derive(Clone)]
pub struct ToolLimit(pub Arc<dyn ToolLimiter>);

impl std::fmt::Debug for ToolLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToolLimit")
    }
}

impl ToolLimit {
    /// The limit carried by an HTTP request, if the embedder set one.
    pub fn of(extensions: &http::Extensions) -> Option<ToolLimit> {
        extensions.get::<ToolLimit>().cloned()
    }
}

/// Checks the call of `tool` against the request's limit, if it has one.
pub(crate) async fn check(context: &CallContext, tool: &str) -> Result<(), ErrorData> {
    let Some(limit) = &context.tool_limit else {
        return Ok(());
    };
    limit
        .0
        .check(tool)
        .await
        .map_err(|retry_after| rate_limited(tool, retry_after))
}

/// The error of a denied call: `data.retryAfter` in whole seconds (rounded up, at least 1, as
/// HTTP's `Retry-After`), `data.retryAfterMs` exact.
pub fn rate_limited(tool: &str, retry_after: Duration) -> ErrorData {
    let secs = (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1);
    let ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
    ErrorData::new(
        ErrorCode(RATE_LIMITED),
        format!("Rate limited: too many calls of tool {tool}; retry after {secs}s"),
        Some(serde_json::json!({ "tool": tool, "retryAfter": secs, "retryAfterMs": ms })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Deny;
    impl ToolLimiter for Deny {
        fn check<'a>(
            &'a self,
            tool: &'a str,
        ) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + 'a>> {
            Box::pin(async move {
                if tool == "slow" {
                    Err(Duration::from_millis(1500))
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test]
    async fn a_denied_call_is_a_rate_limit_error_with_its_wait() {
        let mut ctx = CallContext::detached();
        assert!(check(&ctx, "slow").await.is_ok(), "no limit: no check");
        ctx.tool_limit = Some(ToolLimit(Arc::new(Deny)));
        assert!(check(&ctx, "fast").await.is_ok());
        let e = check(&ctx, "slow").await.unwrap_err();
        assert_eq!(e.code.0, RATE_LIMITED);
        assert!(e.message.contains("retry after 2s"), "{}", e.message);
        let data = e.data.unwrap();
        assert_eq!(data["retryAfter"], 2);
        assert_eq!(data["retryAfterMs"], 1500);
        assert_eq!(data["tool"], "slow");
    }
}
