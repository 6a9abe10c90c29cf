//! TLS server settings for `HTTPS` binds: one certificate per listener, chosen by SNI.

use std::path::Path;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::host::HostPattern;

/// Certificates of the listeners of one bind, most specific hostname first.
#[derive(Debug)]
pub struct SniResolver {
    certs: Vec<(HostPattern, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(|n| n.to_ascii_lowercase());
        match name {
            Some(n) => self
                .certs
                .iter()
                .find(|(p, _)| p.matches(&n))
                .or_else(|| self.certs.first())
                .map(|(_, c)| c.clone()),
            None => self.certs.first().map(|(_, c)| c.clone()),
        }
    }
}

/// Loads a PEM certificate chain and private key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let cert_pem = std::fs::read(cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?;
    let key_pem =
        std::fs::read(key).map_err(|e| format!("cannot read key {}: {e}", key.display()))?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid certificate PEM in {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate found in {}", cert.display()));
    }
    let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("invalid key PEM in {}: {e}", key.display()))?
        .ok_or_else(|| format!("no private key found in {}", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("unsupported private key in {}: {e}", key.display()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

/// Builds a server config that picks a certificate by SNI and offers h2 and http/1.1 by ALPN.
pub fn server_config(
    mut certs: Vec<(HostPattern, Arc<CertifiedKey>)>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    certs.sort_by(|a, b| a.0.specificity_cmp(&b.0));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { certs }));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
