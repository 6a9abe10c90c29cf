//! The crate's error type.
//!
//! Load-time problems (a document that cannot be read, parsed or understood) are `Error`s,
//! because the operator must fix the config. Per-call problems (bad arguments, upstream failures)
//! are *not* errors of this type: they become MCP tool results with `isError: true`, so the model
//! can read them and correct itself.

use std::path::PathBuf;

/// Everything that can go wrong while loading a document or building the tool set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The document (or a file it references) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The document is neither valid JSON nor valid YAML.
    #[error("cannot parse {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// The document parsed but is not an OpenAPI 3.0/3.1 or Swagger 2.0 document.
    #[error("unsupported document {path}: {message}")]
    Unsupported { path: PathBuf, message: String },
    /// A `$ref` points somewhere it may not (remote URL, outside the document's directory) or
    /// to something that does not exist.
    #[error("bad $ref {reference:?}: {message}")]
    Ref { reference: String, message: String },
    /// The configuration is inconsistent (bad base URL, unknown credential scheme, bad glob).
    #[error("invalid openapi-tools config: {0}")]
    Config(String),
    /// An `openapi.credentials` entry names no security scheme of the document, or its shape
    /// does not fit the scheme it names (see [`crate::auth::fits`]): it could never be sent.
    #[error("credentials.{name}: {message}")]
    Credential { name: String, message: String },
    /// The document could not be fetched from its URL (connection, status, size, timeout).
    #[error("cannot fetch {url}: {message}")]
    Fetch { url: String, message: String },
    /// The HTTP client could not be built (usually: `SSL_CERT_FILE` could not be used).
    #[error("cannot build HTTP client: {0}")]
    Http(#[from] netkit::ClientBuildError),
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
