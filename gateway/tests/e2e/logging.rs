//! The default log: one access line per request and the gateway's own events, without the
//! libraries' chatter. rmcp logs every in-process MCP session it starts ("Service initialized
//! as server", with the client's whole peer info) at `info`; the gateway lowers rmcp to `warn`
//! unless the filter names it.

use std::time::Duration;

use e2e::Gateway;
use serde_json::json;

use crate::mcp::{call_ok, connect, mcp_config, petstore_target};

/// rmcp's line for each session it starts.
const RMCP_SESSION_LINE: &str = "Service initialized";

/// A gateway with one in-process MCP target (the petstore's OpenAPI tools) and `RUST_LOG` set
/// to `rust_log` (empty: the config's default level, `info`); one MCP client session makes a
/// call through it. Returns the gateway's stderr once the call's access line is in it.
async fn stderr_after_one_session(rust_log: &str) -> String {
    let petstore = examples::petstore::spawn().await.expect("petstore server");
    let gw = Gateway::start_with_env(
        &mcp_config("failClosed", &petstore_target(petstore)),
        |_| {},
        &[("RUST_LOG", rust_log.to_string())],
    )
    .await;
    let c = connect(&gw).await;
    // One target: its tool names pass unprefixed.
    call_ok(&c, "listPets", json!({})).await;
    let _ = c.cancel().await;
    let logged = e2e::eventually(Duration::from_secs(5), || async {
        gw.stderr().contains("access")
    })
    .await;
    assert!(logged, "no access line; stderr:\n{}", gw.stderr());
    gw.stderr()
}

#[tokio::test]
async fn default_log_has_no_rmcp_session_lines() {
    for rust_log in ["", "info"] {
        let stderr = stderr_after_one_session(rust_log).await;
        assert!(
            !stderr.contains(RMCP_SESSION_LINE),
            "RUST_LOG={rust_log:?}: rmcp's session lines are in the default log:\n{stderr}"
        );
    }
}

/// The user's filter wins when it names rmcp; this also proves the line above would be there
/// if the gateway did not quiet rmcp.
#[tokio::test]
async fn a_filter_naming_rmcp_gets_its_lines() {
    let stderr = stderr_after_one_session("info,rmcp=info").await;
    assert!(
        stderr.contains(RMCP_SESSION_LINE),
        "RUST_LOG=info,rmcp=info: no rmcp session line:\n{stderr}"
    );
}
