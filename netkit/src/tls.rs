//! Which servers every HTTP client of the gateway trusts (route backends with `backendTLS`,
//! MCP, OpenAPI and A2A targets, OAuth2 token endpoints): Mozilla's roots (webpki-roots) plus the
//! PEM bundle named by `SSL_CERT_FILE`, if set, *in addition* (unlike OpenSSL, which replaces
//! its bundle with it).
//!
//! The file is read once per process, on the first `https` connect or the first reqwest client
//! built: an `http`-only hyper client never depends on it, and a bad file fails every TLS connect with an error
//! that names the file rather than silently trusting fewer roots than configured.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;

/// The environment variable naming extra trusted root certificates (PEM).
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// The clients' TLS settings could not be built; usually `SSL_CERT_FILE` could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientBuildError {
    #[error("{SSL_CERT_FILE}={path}: {reason}")]
    ExtraRoots { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

type Roots = Result<Arc<[CertificateDer<'static>]>, ClientBuildError>;

/// The certificates of `SSL_CERT_FILE` (none when it is unset or empty), read once.
fn extra_roots() -> Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let path = std::env::var_os(SSL_CERT_FILE).filter(|p| !p.is_empty());
            let Some(path) = path else {
                return Ok(Arc::from(Vec::new()));
            };
            let certs = read_pem_bundle(Path::new(&path))?;
            tracing::info!(
                file = %Path::new(&path).display(),
                certificates = certs.len(),
                "trusting the certificates of {SSL_CERT_FILE} in addition to the built-in roots"
            );
            Ok(Arc::from(certs))
        })
        .clone()
}

/// Every certificate of the PEM bundle at `path`; an error naming the file if it cannot be
/// read or holds none.
fn read_pem_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientBuildError> {
    let fail = |reason: String| ClientBuildError::ExtraRoots {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a PEM bundle: {e}")))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// The rustls settings of every `https` connection (ring, TLS 1.2 and 1.3, ALPN HTTP/1.1),
/// built once. The provider is named rather than installed process-wide, so no caller can
/// panic for want of a default `CryptoProvider`.
pub fn rustls_config() -> Result<Arc<rustls::ClientConfig>, ClientBuildError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, ClientBuildError>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let extra = extra_roots()?;
            let path = || std::env::var(SSL_CERT_FILE).unwrap_or_default();
            for cert in extra.iter() {
                roots
                    .add(cert.clone())
                    .map_err(|e| ClientBuildError::ExtraRoots {
                        path: path(),
                        reason: format!("a certificate is not usable as a root: {e}"),
                    })?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| ClientBuildError::Build(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_pem_bundle_names_the_file() {
        let dir = std::env::temp_dir().join(format!("netkit-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let e = read_pem_bundle(&missing).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let e = read_pem_bundle(&empty).unwrap_err();
        assert!(e.to_string().contains("SSL_CERT_FILE") && e.to_string().contains("empty.pem"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
