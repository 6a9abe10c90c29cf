//! Documents fetched from an `http://` or `https://` URL.
//!
//! The fetch is bounded like a file read: [`FETCH_TIMEOUT`] for the whole exchange and
//! [`MAX_FILE_BYTES`] for the body. Redirects are followed only to the same origin (at most
//! five), so a spec host cannot bounce the gateway to another address. The bytes are parsed
//! by the same parser as files ([`parse_bytes`]: JSON or YAML). References from the fetched
//! document to other documents are not followed (see [`DocSet::from_url_value`]): bundle the
//! document, or load it from a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::OpenApiConfig;
use crate::error::{Error, Result};
use crate::load::{parse_bytes, DocSet, MAX_FILE_BYTES};
use crate::toolset::OpenApiTools;

/// Bound on one fetch of a document, from connecting to the end of the body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed (same origin only).
const MAX_REDIRECTS: usize = 5;

/// `spec` as a URL when it is one (`http://` or `https://`, any case), else `None` (a file).
pub fn spec_url(spec: &Path) -> Option<&str> {
    let s = spec.to_str()?;
    let (scheme, rest) = s.split_once("://")?;
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    (web && !rest.is_empty()).then_some(s)
}

/// The HTTP client used to fetch documents: [`FETCH_TIMEOUT`], same-origin redirects only.
pub fn fetch_client() -> Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    // netkit's client: the built-in roots plus `SSL_CERT_FILE`, like every client here.
    Ok(netkit::reqwest_client(netkit::ReqwestOptions {
        timeout: Some(FETCH_TIMEOUT),
        redirect: policy,
        ..Default::default()
    })?)
}

/// Fetches the body at `url`: a 2xx answer, at most [`MAX_FILE_BYTES`].
pub async fn fetch_bytes(client: &reqwest::Client, url: &str) -> Result<Vec<u8>> {
    let fail = |message: String| Error::Fetch {
        url: url.to_string(),
        message,
    };
    let mut resp = client
        .get(url)
        .header(
            http::header::ACCEPT,
            "application/json, application/yaml, text/yaml;q=0.9, */*;q=0.5",
        )
        .send()
        .await
        .map_err(|e| fail(describe(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        let to = resp
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Err(fail(format!(
            "HTTP {status}, redirected to {to} (only same-origin redirects are followed)"
        )));
    }
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let too_big = || fail(format!("larger than {MAX_FILE_BYTES} bytes"));
    if resp.content_length().is_some_and(|n| n > MAX_FILE_BYTES) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(describe(&e)))? {
        if (body.len() + chunk.len()) as u64 > MAX_FILE_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Fetches and parses the document at `url` (references to other documents not followed).
pub async fn fetch_docs(client: &reqwest::Client, url: &str) -> Result<DocSet> {
    let bytes = fetch_bytes(client, url).await?;
    docs_from_bytes(&bytes, url)
}

fn docs_from_bytes(bytes: &[u8], url: &str) -> Result<DocSet> {
    let value = parse_bytes(bytes).map_err(|message| Error::Parse {
        path: PathBuf::from(url),
        message,
    })?;
    Ok(DocSet::from_url_value(value, url))
}

impl OpenApiTools {
    /// Fetches `config.spec`, an `http(s)://` URL, and builds the tools.
    pub async fn load_url(config: OpenApiConfig) -> Result<Self> {
        Self::load_url_with(&fetch_client()?, config).await
    }

    /// [`load_url`](Self::load_url) with a given client (see [`fetch_client`]).
    pub async fn load_url_with(client: &reqwest::Client, config: OpenApiConfig) -> Result<Self> {
        let url = required_spec_url(&config)?;
        let bytes = fetch_bytes(client, &url).await?;
        // Parsing and converting a large document is CPU work: off the async workers.
        let task_url = url.clone();
        tokio::task::spawn_blocking(move || {
            let docs = docs_from_bytes(&bytes, &task_url)?;
            let model = crate::parse::convert_owned(docs)?;
            OpenApiTools::from_model(model, config)
        })
        .await
        .map_err(|e| Error::Fetch {
            url,
            message: format!("the conversion failed: {e}"),
        })?
    }
}

/// A reqwest error with its causes.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {FETCH_TIMEOUT:?}");
    }
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(&format!(": {s}"));
        src = s.source();
    }
    out
}

/// `config.spec` as an `http(s)://` URL, or a config error saying it is not one.
pub(crate) fn required_spec_url(config: &OpenApiConfig) -> Result<String> {
    config.spec_url().map(str::to_owned).ok_or_else(|| {
        Error::Config(format!(
            "spec {} is not an http:// or https:// URL",
            config.spec.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_detection() {
        for url in [
            "http://127.0.0.1:8080/openapi.yaml",
            "https://api.example.com/v1/spec.json",
            "HTTPS://API.EXAMPLE.COM/x",
        ] {
            assert_eq!(spec_url(Path::new(url)), Some(url));
        }
        for file in [
            "openapi.yaml",
            "./specs/http://x",
            "/etc/api.json",
            "http://",
            "ftp://host/x.yaml",
            "file:///tmp/x.yaml",
            "httpx://host/x",
        ] {
            assert_eq!(spec_url(Path::new(file)), None, "{file}");
        }
    }

    #[tokio::test]
    async fn fetches_a_yaml_document_and_refuses_errors() {
        let spec = std::fs::read(examples::petstore::spec_dir().join("openapi-3.0.yaml"))
            .expect("petstore spec");
        let server = crate::remote::tests::SpecServer::start().await;
        server.serve(200, spec);
        let mut config = OpenApiConfig::new(server.url());
        config.base_url = Some("http://127.0.0.1:9".into());
        let tools = OpenApiTools::load_url(config.clone()).await.expect("loads");
        assert!(tools.names().any(|n| n == "listPets"));

        server.serve(404, b"no".to_vec());
        let err = OpenApiTools::load_url(config.clone()).await.unwrap_err();
        assert!(err.to_string().contains("HTTP 404"), "{err}");
        assert!(err.to_string().contains(&server.url()), "{err}");

        server.serve(200, b"openapi: [unclosed".to_vec());
        let err = OpenApiTools::load_url(config.clone()).await.unwrap_err();
        assert!(matches!(err, Error::Parse { .. }), "{err}");

        let err = OpenApiTools::load_url(OpenApiConfig::new("a.yaml"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }
}
