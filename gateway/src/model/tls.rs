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

/// Whether a `tls.cert` or `tls.key` value is the PEM text itself rather than a path (the
/// Kubernetes source puts a Secret's `tls.crt` and `tls.key` there; nothing is written to disk).
pub fn is_inline_pem(value: &str) -> bool {
    value.trim_start().starts_with("-----BEGIN")
}

/// Loads a PEM certificate chain and private key, each from a file or, when
/// [`is_inline_pem`], from the value itself (`base_dir` resolves relative paths).
pub fn load_certified_key_from(
    base_dir: &Path,
    cert: &str,
    key: &str,
) -> Result<Arc<CertifiedKey>, String> {
    let read = |value: &str, what: &str| -> Result<(Vec<u8>, String), String> {
        if is_inline_pem(value) {
            Ok((value.as_bytes().to_vec(), format!("the inline {what}")))
        } else {
            let path = base_dir.join(value);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
            Ok((bytes, path.display().to_string()))
        }
    };
    let (cert_pem, cert_name) = read(cert, "certificate")?;
    let (key_pem, key_name) = read(key, "key")?;
    certified_key(&cert_pem, &cert_name, &key_pem, &key_name)
}

/// Loads a PEM certificate chain and private key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let cert_pem = std::fs::read(cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?;
    let key_pem =
        std::fs::read(key).map_err(|e| format!("cannot read key {}: {e}", key.display()))?;
    certified_key(
        &cert_pem,
        &cert.display().to_string(),
        &key_pem,
        &key.display().to_string(),
    )
}

fn certified_key(
    cert_pem: &[u8],
    cert: &str,
    key_pem: &[u8],
    key: &str,
) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<_> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid certificate PEM in {}: {e}", cert))?;
    if chain.is_empty() {
        return Err(format!("no certificate found in {}", cert));
    }
    let key_der = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("invalid key PEM in {}: {e}", key))?
        .ok_or_else(|| format!("no private key found in {}", key))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("unsupported private key in {}: {e}", key))?;
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
