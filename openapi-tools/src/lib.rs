//! OpenAPI 3.0/3.1 and Swagger 2.0 documents converted to MCP tools, validated and executed.
//!
//! Pipeline: [`load`] reads the document (JSON or YAML) and every local file it `$ref`s (or
//! [`source`] fetches it from a URL) →
//! [`parse`] / [`swagger2`] convert it into one [`model`] with schemas normalised to JSON Schema
//! 2020-12 by [`schema`] → [`naming`] + [`tools`] build one MCP tool per selected operation →
//! [`toolset::OpenApiTools`] validates arguments ([`validate`]), builds the request
//! ([`request`], [`auth`]) and maps the response ([`response`]). [`server::OpenApiServer`] is the
//! rmcp `ServerHandler` the gateway mounts in-process; with `mode: meta` it serves the three
//! [`meta`] tools (search, describe, call) instead of one tool per operation.
//! [`remote::RemoteOpenApiServer`] serves a document fetched from a URL: on first use, again
//! every `refresh`, keeping the last good copy when a fetch fails.
//!
//! ```no_run
//! # async fn demo() -> Result<(), openapi_tools::Error> {
//! use openapi_tools::{config::OpenApiConfig, toolset::OpenApiTools};
//! let mut cfg = OpenApiConfig::new("petstore.yaml");
//! cfg.base_url = Some("http://127.0.0.1:4010".into());
//! let tools = OpenApiTools::load(cfg)?;
//! let result = tools.call("getPet", serde_json::from_str(r#"{"petId": "1"}"#).ok()).await;
//! # Ok(()) }
//! ```
//!
//! # Input schema layout
//!
//! Every tool's `inputSchema` is a plain object (never a top-level union, which some clients
//! reject) with `additionalProperties: false`, so a misspelt argument is reported instead of
//! silently dropped:
//!
//! * **Parameters** (path, query, header, cookie) are top-level properties under their own
//!   name, with their schema (enum, default, format, …) and their description followed by the
//!   location, e.g. `"The pet's id (path parameter)"`. Path parameters are always required;
//!   others when the document says so. Header parameters `Accept`, `Content-Type` and
//!   `Authorization` are ignored, as the OpenAPI specification says.
//! * **A JSON, form-urlencoded or multipart body whose schema is a closed object with
//!   properties** (after following a top-level `$ref` and merging `allOf`) is *flattened*: each
//!   body property is a top-level property; the body's `required` list applies when the body
//!   itself is required. Multipart file fields (`format: binary`) become base64 strings
//!   (`contentEncoding: base64`).
//! * **Any other body** (arrays, unions, free-form objects, scalars) is the single argument
//!   `body`. `text/*` bodies are a string sent as is; other media types (`application/octet-stream`,
//!   `image/png`, …) are a base64 string sent as raw bytes.
//! * **Clashes**: when a name is wanted by more than one item (a query `name` and a body
//!   property `name`, a path `id` and a header `id`, a parameter called `body` next to a
//!   non-flattened body), every *parameter* with that name is renamed `name__location`
//!   (`name__query`, `id__path`), and the body property (or `body`) keeps the plain name.
//! * **Schemas** referenced with `$ref` are kept as `$defs` with `#/$defs/Name` references;
//!   each tool carries only the definitions it reaches. Recursive schemas are therefore finite.
//!   When the body media type list offers several choices, JSON wins, then form-urlencoded,
//!   multipart, binary and text.
//!
//! # Results
//!
//! Requests ask for JSON first ([`request::accept`]). See [`response`]: JSON →
//! `structuredContent` (non-objects wrapped as `{"data": …}`) plus a text copy; `outputSchema`
//! is emitted only when the 2xx JSON schema is an object, and such a tool's success that is not
//! a JSON object is an `isError: true` result (it could not carry the structured content the
//! schema promises). 4xx/5xx, network errors, timeouts, invalid arguments and unbuildable
//! requests are results with `isError: true`; only an unknown tool name is a JSON-RPC error
//! (`-32602`).

pub mod auth;
pub mod config;
pub mod error;
pub mod load;
pub mod meta;
pub mod model;
pub mod naming;
pub mod parse;
pub mod remote;
pub mod request;
pub mod response;
pub mod schema;
pub mod server;
pub mod source;
pub mod swagger2;
pub mod tools;
pub mod toolset;
pub mod validate;

pub use error::{Error, Result};
