//! Content negotiation and output schemas against a real REST server on loopback whose
//! document lists `application/xml` before `application/json`, and which, like many servers,
//! answers in its first type unless the `Accept` header prefers another (issue 12).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use openapi_tools::config::OpenApiConfig;
use openapi_tools::toolset::OpenApiTools;
use rmcp::model::CallToolResult;
use serde_json::{json, Map, Value};

/// OpenAPI 3.0: `getThing` lists XML first; `getNote`, `getCount` and `getEmpty` promise a
/// JSON object but the server answers text, a JSON array and 204 with no body.
const OPENAPI: &str = r##"
openapi: 3.0.3
info: { title: xml first, version: "1" }
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses:
        "200":
          description: the thing
          content:
            application/xml: { schema: { $ref: "#/components/schemas/Thing" } }
            application/json: { schema: { $ref: "#/components/schemas/Thing" } }
  /note:
    get:
      operationId: getNote
      responses:
        "200":
          description: a note
          content:
            application/json:
              schema: { type: object, properties: { text: { type: string } } }
  /count:
    get:
      operationId: getCount
      responses:
        "200":
          description: a count
          content:
            application/json:
              schema: { type: object, properties: { n: { type: integer } } }
  /empty:
    get:
      operationId: getEmpty
      responses:
        "200":
          description: a status
          content:
            application/json:
              schema: { type: object, properties: { ok: { type: boolean } } }
components:
  schemas:
    Thing:
      type: object
      required: [id, name]
      properties: { id: { type: string }, name: { type: string } }
"##;

/// Swagger 2.0: the same `getThing`, its media types in the root `produces`.
const SWAGGER: &str = r##"{
  "swagger": "2.0",
  "info": {"title": "xml first", "version": "1"},
  "produces": ["application/xml", "application/json"],
  "paths": {"/things/{id}": {"get": {
    "operationId": "getThing",
    "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}],
    "responses": {"200": {"description": "the thing", "schema": {
      "type": "object", "required": ["id", "name"],
      "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}}}}}
}"##;

/// The `Accept` header of every request, in order.
type Seen = Arc<Mutex<Vec<String>>>;

/// The q-value `accept` gives `media` (exact match, `type/*` or `*/*`; 0 when none matches).
fn quality(accept: &str, media: &str) -> f32 {
    let (top, _) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(u8, f32)> = None;
    for part in accept.split(',') {
        let mut fields = part.split(';').map(str::trim);
        let range = fields.next().unwrap_or_default().to_ascii_lowercase();
        let q = fields
            .find_map(|f| f.strip_prefix("q="))
            .and_then(|q| q.parse().ok())
            .unwrap_or(1.0);
        let specificity = if range == media {
            3
        } else if range == format!("{top}/*") {
            2
        } else if range == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// XML unless the request's `Accept` ranks JSON strictly higher (no header: XML).
async fn thing(State(seen): State<Seen>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Ok(mut s) = seen.lock() {
        s.push(accept.clone().unwrap_or_default());
    }
    let prefers_json = accept
        .as_deref()
        .is_some_and(|a| quality(a, "application/json") > quality(a, "application/xml"));
    if prefers_json {
        (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"id":"7","name":"seven"}"#,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/xml")],
            "<Thing><id>7</id><name>seven</name></Thing>",
        )
            .into_response()
    }
}

async fn serve() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/things/{id}", get(thing))
        .route(
            "/note",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "remember the milk") }),
        )
        .route(
            "/count",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], "[1, 2, 3]") }),
        )
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

fn load(dir: &tempfile::TempDir, file: &str, text: &str, addr: SocketAddr) -> OpenApiTools {
    let path = dir.path().join(file);
    std::fs::write(&path, text).expect("write spec");
    let mut cfg = OpenApiConfig::new(path);
    cfg.base_url = Some(format!("http://{addr}"));
    cfg.timeout = Some("5s".into());
    OpenApiTools::load(cfg).expect("load spec")
}

async fn call(t: &OpenApiTools, name: &str, args: Value) -> CallToolResult {
    let args: Map<String, Value> = serde_json::from_value(args).expect("object");
    t.call(name, Some(args)).await.expect("tool exists")
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn json_is_asked_for_first_and_becomes_structured_content() {
    let (addr, seen) = serve().await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (file, text_) in [("openapi.yaml", OPENAPI), ("swagger.json", SWAGGER)] {
        let t = load(&dir, file, text_, addr);
        let tool = t.tool("getThing").expect("getThing");
        assert!(
            tool.output_schema.is_some(),
            "{file}: getThing has an outputSchema"
        );
        let r = call(&t, "getThing", json!({"id": "7"})).await;
        assert_eq!(r.is_error, Some(false), "{file}: {}", text(&r));
        assert_eq!(
            r.structured_content,
            Some(json!({"id": "7", "name": "seven"})),
            "{file}: the JSON reply is the structured result: {}",
            text(&r)
        );
        let accept = seen.lock().expect("seen").pop().unwrap_or_default();
        assert_eq!(
            accept, "application/json, application/xml;q=0.5, */*;q=0.1",
            "{file}: JSON first, the document's other type next, anything last"
        );
    }
}

#[tokio::test]
async fn a_reply_that_is_not_a_json_object_is_an_error_for_a_tool_with_an_output_schema() {
    let (addr, _) = serve().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let t = load(&dir, "openapi.yaml", OPENAPI, addr);
    assert!(t.tool("getNote").expect("getNote").output_schema.is_some());

    let r = call(&t, "getNote", json!({})).await;
    assert_eq!(r.is_error, Some(true), "text/plain is no structured result");
    assert!(r.structured_content.is_none());
    let msg = text(&r);
    assert!(
        msg.contains("text/plain") && msg.contains("output schema"),
        "the error names the media type that came back: {msg}"
    );
    assert!(
        msg.contains("remember the milk"),
        "the body is still shown: {msg}"
    );

    let r = call(&t, "getCount", json!({})).await;
    assert_eq!(
        r.is_error,
        Some(true),
        "a JSON array is no object: {}",
        text(&r)
    );
    assert!(text(&r).contains("JSON array"), "{}", text(&r));

    let r = call(&t, "getEmpty", json!({})).await;
    assert_eq!(r.is_error, Some(true), "no body is no object: {}", text(&r));
    assert!(text(&r).contains("empty body"), "{}", text(&r));
}

#[tokio::test]
async fn tools_without_an_output_schema_still_answer_in_text() {
    let (addr, _) = serve().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nooutput.yaml");
    std::fs::write(&path, OPENAPI).expect("write spec");
    let mut cfg = OpenApiConfig::new(path);
    cfg.base_url = Some(format!("http://{addr}"));
    cfg.output_schema = Some(false);
    let t = OpenApiTools::load(cfg).expect("load");
    assert!(t.tool("getNote").expect("getNote").output_schema.is_none());
    let r = call(&t, "getNote", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(text(&r), "remember the milk");
}
