//! `mcpAuthentication` against a real authorization server and a real MCP OAuth client:
//!
//! - npm `oidc-provider` (tests/oidc/server.mjs, installed by scripts/test.sh into
//!   tests/oidc/node_modules) on loopback, issuing JWT access tokens for a resource indicator
//!   (RFC 8707) by the client-credentials grant, its keys at `/jwks`;
//! - the official Python MCP SDK's OAuth clients (tests/python/mcp_oauth_client.py), told only
//!   the MCP URL and how to authorize: they find the metadata from Switchboard's `401`, the
//!   authorization server from the metadata, get a token for the resource and call a tool.
//!   Once with the client-credentials grant (`ClientCredentialsOAuthProvider`), once with the
//!   authorization code grant with PKCE after dynamic client registration
//!   (`OAuthClientProvider`; the login and consent pages of oidc-provider filled in over HTTP
//!   by the script in place of a browser).
//!
//! The MCP target behind the gateway is guarded by its own token endpoint: it must see only the
//! gateway's `backendAuth` token, never the client's. The same stack ([`start_stack`]) serves
//! rmcp's own OAuth client in [`rmcp_client`].

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{free_port, routes_config, Gateway};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;

use crate::mcp::Remote;
use crate::mcp_backend_auth::{guarded, lock, CLIENT_ID, CLIENT_SECRET};

mod rmcp_client;

/// The `oidc-provider` server, killed on drop; its stdout lines collected.
struct Oidc {
    child: Child,
    issuer: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Oidc {
    /// The tokens the server issued, as it logged them: `{"event": "token", "grant",
    /// "resource", "scope"}`.
    fn token_events(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == "token")
            .collect()
    }

    /// Everything the server printed, for failure messages.
    fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oidc_dir() -> PathBuf {
    e2e::tests_dir().join("oidc")
}

/// Starts tests/oidc/server.mjs for `resource`; panics with the install command when
/// `oidc-provider` is not installed.
fn start_oidc(resource: &str) -> Oidc {
    let dir = oidc_dir();
    assert!(
        dir.join("node_modules/oidc-provider/package.json").exists(),
        "npm oidc-provider is not installed in {}: run scripts/test.sh (or `npm ci` there)",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .arg(resource)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node (Node 20+ is needed): {e}"));
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = lines.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(tx) = tx.take() {
                let _ = tx.send(line.clone());
            }
            kept.lock().unwrap().push(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("oidc-provider did not start within 20 s");
    let v: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{first:?}: {e}"));
    Oidc {
        child,
        issuer: v["issuer"].as_str().unwrap().to_string(),
        lines,
    }
}

/// oidc-provider, the guarded MCP target and the gateway in front of it with
/// `mcpAuthentication` for `resource` (the gateway's MCP URL) trusting `issuer`.
struct Stack {
    resource: String,
    issuer: String,
    oidc: Oidc,
    gw: Gateway,
    /// What the guarded target saw.
    idp: crate::mcp_backend_auth::Shared,
}

/// What a test run left to check.
struct Run {
    /// What the client printed.
    out: Value,
    resource: String,
    issuer: String,
    oidc: Oidc,
    gw: Gateway,
    idp: crate::mcp_backend_auth::Shared,
}

/// Starts oidc-provider, the guarded MCP target and the gateway, then runs the Python client
/// with `auth` (`[CLIENT_ID, SECRET]` or `["--code", USER]`), calling `add` with 20 and 22.
async fn run_client(auth: [&str; 2]) -> Run {
    e2e::mcp_py::require_mcp_sdk();
    let Stack {
        resource,
        issuer,
        oidc,
        gw,
        idp,
    } = start_stack().await;
    let out = e2e::a2a::run_python_script(
        "mcp_oauth_client.py",
        &[
            resource.clone(),
            auth[0].into(),
            auth[1].into(),
            "add".into(),
            r#"{"a": 20, "b": 22}"#.into(),
        ],
        Duration::from_secs(45),
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the client failed:\n{stderr}\nstdout: {stdout}\ngateway:\n{}\noidc: {:?}",
        gw.stderr(),
        oidc.output()
    );
    let out: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{stdout:?}: {e}\n{stderr}"));
    Run {
        out,
        resource,
        issuer,
        oidc,
        gw,
        idp,
    }
}

/// Starts oidc-provider, the guarded MCP target (`add`, `whoami`) and the gateway.
async fn start_stack() -> Stack {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let oidc = start_oidc(&resource);
    let issuer = oidc.issuer.clone();

    let svc = StreamableHttpService::new(
        || Ok(Remote),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let (target, idp) = guarded(axum::Router::new().nest_service("/mcp", svc)).await;
    let routes = format!(
        r#"
- name: mcp
  matches: [{{ path: {{ prefix: /mcp }} }}]
  policies:
    mcpAuthentication:
      resource: "{resource}"
      authorizationServers: ["{issuer}"]
      scopes: [mcp:tools]
      jwks: {{ url: "{issuer}/jwks" }}
  backends: [{{ backend: tools }}]
"#
    );
    let cfg = format!(
        "{}backends:\n- name: tools\n  mcp:\n    targets:\n    - name: remote\n      mcp: {{ url: \"http://{target}/mcp\" }}\n      policies:\n        backendAuth:\n          oauth2: {{ tokenUrl: \"http://{target}/token\", clientId: {CLIENT_ID}, clientSecret: {CLIENT_SECRET}, scopes: [mcp.tools] }}\n",
        routes_config(&routes)
    )
    .replace("{port}", &port.to_string());
    let gw = Gateway::start(&cfg).await;
    Stack {
        resource,
        issuer,
        oidc,
        gw,
        idp,
    }
}

/// What both grants must show: discovery from the 401, a token for the resource with the
/// scope the 401 asked for, obtained by `grant`, the call through, the target never seeing
/// the client's token.
async fn check(run: &Run, grant: &str) {
    let Run {
        out,
        resource,
        issuer,
        oidc,
        gw,
        idp,
    } = run;
    let resource = resource.as_str();
    let issuer = issuer.as_str();
    // Discovered from the 401 alone: the metadata, then the server it names.
    assert_eq!(out["resourceMetadata"]["resource"], resource);
    assert_eq!(
        out["resourceMetadata"]["authorization_servers"][0]
            .as_str()
            .map(|s| s.trim_end_matches('/')),
        Some(issuer)
    );
    assert_eq!(
        out["authorizationServer"]
            .as_str()
            .map(|s| s.trim_end_matches('/')),
        Some(issuer)
    );
    assert_got_the_401(gw).await;
    // The token the server issued: for this resource, with the scope the 401 asked for.
    assert_token_for(&out["claims"], resource, issuer);
    assert_token_asked(oidc, grant, resource);
    // The call went through, and the target saw only the gateway's own token.
    assert!(out["tools"].as_array().unwrap().iter().any(|t| t == "add"));
    assert_eq!(out["text"], serde_json::json!(["42"]));
    let seen = lock(idp).seen.clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|a| a == "Bearer tok-1"),
        "the target saw the client's token: {seen:?}"
    );
}

/// The claims of an access token issued for `resource` by `issuer`, with the `mcp:tools` scope
/// the gateway's 401 asked for.
fn assert_token_for(claims: &Value, resource: &str, issuer: &str) {
    assert_eq!(claims["aud"], resource, "{claims}");
    assert_eq!(claims["iss"], issuer, "{claims}");
    assert!(
        claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .any(|s| s == "mcp:tools"),
        "{claims}"
    );
}

/// The gateway refused a request to the MCP route for its missing token (the client's first).
async fn assert_got_the_401(gw: &Gateway) {
    assert!(
        gw.metric_or_zero(
            "switchboard_authn_failures_total",
            &[
                ("route", "main/mcp"),
                ("method", "mcp"),
                ("reason", "missing")
            ],
        )
        .await
            >= 1.0,
        "the client never got the 401"
    );
}

/// oidc-provider issued a token with `grant` for `resource`.
fn assert_token_asked(oidc: &Oidc, grant: &str, resource: &str) {
    let asked = oidc.token_events();
    assert!(
        asked
            .iter()
            .any(|v| v["grant"] == grant && v["resource"] == resource),
        "the client did not ask for a token for the resource: {asked:?}"
    );
}

#[tokio::test]
async fn client_credentials_discovered_from_the_401_with_oidc_provider() {
    let run = run_client(["mcp-client", "mcp-secret"]).await;
    check(&run, "client_credentials").await;
    assert_eq!(run.out["claims"]["sub"], "mcp-client");
}

#[tokio::test]
async fn authorization_code_with_pkce_discovered_from_the_401_with_oidc_provider() {
    let run = run_client(["--code", "alice"]).await;
    check(&run, "authorization_code").await;
    // The signed-in user is the caller the gateway saw.
    assert_eq!(run.out["claims"]["sub"], "alice");
    run.gw
        .stderr_once(|l| l.contains("access: request") && l.contains("subject=\"alice\""))
        .await;
}
