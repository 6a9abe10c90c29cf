//! The HTTP client builders of the workspace, so every client trusts the same servers
//! ([`crate::tls`]: the built-in roots plus `SSL_CERT_FILE`) and bounds its connects:
//!
//! - [`reqwest_client`] for request/response clients (OpenAPI and A2A targets, `sse` targets,
//!   OAuth2 token requests, document fetches);
//! - [`crate::inline::InlineClient`], built from [`HyperOptions`] on the pooled
//!   [`crate::connector::Connector`], for the hot paths that stream bodies through (gateway
//!   route backends, `mcp` targets): it drives its connections on the caller's task.

use std::sync::Arc;
use std::time::Duration;

use crate::error_chain;
use crate::tls::{rustls_config, ClientBuildError};

/// Settings of a reqwest client; the defaults suit a client that calls one API.
#[derive(Debug)]
pub struct ReqwestOptions {
    /// Bounds the TCP connect plus the TLS handshake.
    pub connect_timeout: Duration,
    /// Bounds a whole request, response body included (`None`: the caller bounds it).
    pub timeout: Option<Duration>,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per host.
    pub pool_max_idle_per_host: usize,
    /// Redirects followed. Default: none, because a redirect could carry a target's
    /// credentials to a host that was not configured.
    pub redirect: reqwest::redirect::Policy,
}

impl Default for ReqwestOptions {
    fn default() -> Self {
        ReqwestOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: None,
            pool_idle_timeout: DEFAULT_POOL_IDLE,
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE,
            redirect: reqwest::redirect::Policy::none(),
        }
    }
}

/// Connect timeout when the caller names none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection is kept when the caller does not say.
pub const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle pooled connections kept per host when the caller does not say: enough for bursts of
/// concurrent calls.
pub const DEFAULT_POOL_MAX_IDLE: usize = 256;

/// A reqwest client with [`crate::tls`]'s trust (the same rustls settings as the hyper
/// connector, HTTP/2 offered too), `TCP_NODELAY` (requests are small and latency-bound), and
/// `options`. An error names `SSL_CERT_FILE` when that file is the reason.
pub fn reqwest_client(options: ReqwestOptions) -> Result<reqwest::Client, ClientBuildError> {
    let mut tls = rustls::ClientConfig::clone(&*rustls_config()?);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .tcp_nodelay(true)
        .connect_timeout(options.connect_timeout)
        .pool_idle_timeout(options.pool_idle_timeout)
        .pool_max_idle_per_host(options.pool_max_idle_per_host)
        .redirect(options.redirect);
    if let Some(t) = options.timeout {
        builder = builder.timeout(t);
    }
    builder
        .build()
        .map_err(|e| ClientBuildError::Build(error_chain(&e)))
}

/// Settings of an [`crate::inline::InlineClient`].
#[derive(Debug, Clone)]
pub struct HyperOptions {
    /// Bounds the TCP connect plus the TLS handshake.
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per host and thread (see [`crate::inline`]).
    pub pool_max_idle_per_host: usize,
    /// The TLS server name when it is not the URI's host ([`Connector::with_server_name`]).
    pub server_name: Option<Arc<str>>,
    /// Acknowledge every read at once ([`Connector::with_quick_ack`]); on by default.
    pub quick_ack: bool,
}

impl Default for HyperOptions {
    fn default() -> Self {
        HyperOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE,
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE,
            server_name: None,
            quick_ack: true,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inline::InlineClient;
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Empty};

    /// A TLS server on loopback with a certificate for `names`, answering `hello` once.
    pub(crate) async fn tls_server(names: &[&str]) -> (std::net::SocketAddr, String) {
        let ck = rcgen::generate_simple_self_signed(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let cert_pem = ck.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 1024];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (addr, cert_pem)
    }

    fn get(uri: http::Uri) -> http::Request<Empty<Bytes>> {
        http::Request::get(uri).body(Empty::new()).unwrap()
    }

    /// Without the server's CA (no `SSL_CERT_FILE` in unit tests), the client refuses the
    /// certificate and says so: the error chain names the certificate problem.
    #[tokio::test]
    async fn an_untrusted_certificate_is_refused_by_name() {
        let (addr, _) = tls_server(&["localhost"]).await;
        let client = InlineClient::<Empty<Bytes>>::new(HyperOptions::default());
        let uri: http::Uri = format!("https://localhost:{}/", addr.port())
            .parse()
            .unwrap();
        let err = client.request(get(uri)).await.expect_err("untrusted");
        let text = error_chain(&err);
        assert!(
            text.contains("UnknownIssuer") || text.contains("certificate"),
            "{text}"
        );
    }

    /// The server name override is what is checked: an address URI with `server_name`
    /// `localhost` fails on trust (the name matched), while a wrong name fails on the name.
    #[tokio::test]
    async fn the_server_name_override_is_sent_and_checked() {
        let (addr, _) = tls_server(&["localhost"]).await;
        let uri: http::Uri = format!("https://127.0.0.1:{}/", addr.port())
            .parse()
            .unwrap();
        let bad = InlineClient::<Empty<Bytes>>::new(HyperOptions {
            server_name: Some("not a name".into()),
            ..HyperOptions::default()
        });
        let err = error_chain(&bad.request(get(uri.clone())).await.expect_err("bad name"));
        assert!(err.contains("not a valid TLS server name"), "{err}");
    }

    /// Plain `http` works through the same client, with no TLS involved.
    #[tokio::test]
    async fn plain_http_needs_no_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        });
        let client = InlineClient::<Empty<Bytes>>::new(HyperOptions::default());
        let uri: http::Uri = format!("http://{addr}/").parse().unwrap();
        let resp = client.request(get(uri)).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
    }

    #[test]
    fn reqwest_clients_build_with_the_shared_trust() {
        let client = reqwest_client(ReqwestOptions::default());
        assert!(client.is_ok(), "{:?}", client.err());
    }
}
