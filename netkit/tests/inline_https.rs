//! `https` through [`netkit::InlineClient`] end to end: a TLS server on 127.0.0.1 whose CA is
//! trusted through `SSL_CERT_FILE`. A test binary of its own, because the trust is read once
//! per process and must be set before the first `https` connect.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use netkit::{HyperOptions, InlineClient};

#[tokio::test]
async fn https_requests_share_one_tls_connection() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("netkit-inline-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    // Edition 2021: safe, and this binary has no other test running alongside.
    std::env::set_var(netkit::SSL_CERT_FILE, &ca);

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
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|_| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hello"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });

    let client = InlineClient::<Empty<Bytes>>::new(HyperOptions::default());
    for _ in 0..3 {
        let request = hyper::Request::get(format!("https://localhost:{port}/"))
            .body(Empty::new())
            .unwrap();
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| netkit::error_chain(&e))?;
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(body.to_bytes())
        };
        let body = tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .expect("no answer within 5 s")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&body[..], b"hello");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one TLS handshake for all"
    );
    let _ = std::fs::remove_dir_all(dir);
}
