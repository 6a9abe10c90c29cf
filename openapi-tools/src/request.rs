//! Tool arguments → HTTP request, with OpenAPI's parameter serialisation rules.
//!
//! Path values are percent-encoded with everything but RFC 3986 unreserved characters escaped,
//! so `/`, `?`, `#` and `%` in a value cannot change the path; `.` and `..` as a whole value are
//! refused, and the final URL's path is compared with the one we meant to build, so no URL
//! normalisation can move the request to another resource.
//!
//! Every request asks for JSON first ([`accept`]): results are for a model, JSON becomes
//! `structuredContent`, and a tool with an `outputSchema` cannot answer without it. An API that
//! lists `application/xml` before `application/json` and is sent no `Accept` would otherwise
//! reply XML.

use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use url::Url;

use crate::model::{BodyKind, Location, Operation, Parameter, Style};
use crate::tools::{Binding, ToolDef};

/// Everything except RFC 3986 unreserved characters is escaped in path values.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Cookie values: escape what RFC 6265 forbids in a cookie-octet (and `%` itself).
const COOKIE_VALUE: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');
/// Headers the caller may not set through a parameter.
const PROTECTED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "cookie",
    "upgrade",
];

/// Request parts added by authentication.
#[derive(Debug, Default, Clone)]
pub struct Extra {
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub cookies: Vec<(String, String)>,
}

/// Builds the request for `def` from validated `args`. Errors are messages for the model.
pub fn build(
    client: &reqwest::Client,
    base: &Url,
    op: &Operation,
    def: &ToolDef,
    args: &Map<String, Value>,
    extra: &Extra,
) -> Result<reqwest::RequestBuilder, String> {
    let mut path = op.path.clone();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut cookies: Vec<(String, String)> = Vec::new();
    let mut body_props = Map::new();
    let mut whole_body: Option<&Value> = None;
    for (arg, value) in args {
        match def.bindings.get(arg) {
            Some(Binding::Param(i)) => {
                let p = &op.parameters[*i];
                match p.location {
                    Location::Path => {
                        let rendered = path_value(p, value)?;
                        path = path.replace(&format!("{{{}}}", p.name), &rendered);
                    }
                    Location::Query => query_pairs(p, value, &mut query),
                    Location::Header => headers.push((p.name.clone(), header_value(p, value))),
                    Location::Cookie => {
                        cookies.push((p.name.clone(), scalar_or_join(p, value, ",")))
                    }
                }
            }
            Some(Binding::BodyProperty(k)) => {
                body_props.insert(k.clone(), value.clone());
            }
            Some(Binding::Body) => whole_body = Some(value),
            None => return Err(format!("unknown argument `{arg}`")),
        }
    }
    if path.contains('{') {
        return Err(format!("missing path parameter in {path}"));
    }
    let base_str = base.as_str().trim_end_matches('/');
    let expected_path = format!("{}{}", base.path().trim_end_matches('/'), path);
    let mut url =
        Url::parse(&format!("{base_str}{path}")).map_err(|e| format!("cannot build URL: {e}"))?;
    if url.path() != expected_path {
        return Err(format!(
            "path parameters would change the request path to {}",
            url.path()
        ));
    }
    query.extend(extra.query.iter().cloned());
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }
    let method = reqwest::Method::from_bytes(op.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client.request(method, url);
    if let Ok(v) = HeaderValue::from_str(&accept(&op.response_media_types)) {
        req = req.header(reqwest::header::ACCEPT, v);
    }
    for (name, value) in headers.iter().chain(extra.headers.iter()) {
        if PROTECTED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("header `{name}` may not be set"));
        }
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name `{name}`"))?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            format!("header `{name}`: value contains characters not allowed in HTTP headers")
        })?;
        req = req.header(n, v);
    }
    cookies.extend(extra.cookies.iter().cloned());
    if !cookies.is_empty() {
        let line = cookies
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, COOKIE_VALUE)))
            .collect::<Vec<_>>()
            .join("; ");
        let v = HeaderValue::from_str(&line).map_err(|_| "cookie value not allowed".to_string())?;
        req = req.header(reqwest::header::COOKIE, v);
    }
    let Some(body) = &op.body else { return Ok(req) };
    let value = match whole_body {
        Some(v) => v.clone(),
        None if !body_props.is_empty() => Value::Object(body_props),
        None => return Ok(req),
    };
    Ok(match body.kind {
        BodyKind::Json => req
            .header(reqwest::header::CONTENT_TYPE, &body.media_type)
            .body(value.to_string()),
        BodyKind::Form => {
            let pairs = form_pairs(&value);
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            req.header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encoded)
        }
        BodyKind::Multipart => req.multipart(multipart(def, &value)?),
        BodyKind::Text => {
            let text = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            req.header(reqwest::header::CONTENT_TYPE, &body.media_type)
                .body(text)
        }
        BodyKind::Binary => {
            let b64 = value.as_str().ok_or("body must be a base64 string")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("body is not valid base64: {e}"))?;
            req.header(reqwest::header::CONTENT_TYPE, &body.media_type)
                .body(bytes)
        }
    })
}

/// The `Accept` header for an operation whose success responses list `media_types`.
///
/// The JSON types the document lists come first (no `q`, i.e. 1), then its other types at
/// `q=0.5`, then `*/*;q=0.1` so that a server which cannot produce any of them (an error page,
/// an incomplete document) still answers instead of refusing with 406. When the document lists
/// no JSON type, its own types come first and nothing JSON is asked for: the document says the
/// API does not produce it. When it lists no type at all (or only `*/*`), the header is
/// `application/json, */*;q=0.1`. Entries that cannot appear in a header (commas, control or
/// non-ASCII characters) are left out.
pub fn accept(media_types: &[String]) -> String {
    let usable = |m: &&String| {
        let m = m.trim();
        m.contains('/')
            && !m.contains(',')
            && m.bytes()
                .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    };
    let essence = |m: &str| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    let listed: Vec<&str> = media_types
        .iter()
        .filter(usable)
        .map(|m| m.trim())
        .filter(|m| essence(m) != "*/*")
        .collect();
    let (json, other): (Vec<&str>, Vec<&str>) = listed
        .iter()
        .partition(|m| crate::response::is_json_media(&essence(m)));
    let mut parts: Vec<String> = Vec::new();
    if json.is_empty() && other.is_empty() {
        parts.push("application/json".into());
    } else if json.is_empty() {
        parts.extend(other.iter().map(|m| m.to_string()));
    } else {
        parts.extend(json.iter().map(|m| m.to_string()));
        parts.extend(other.iter().map(|m| format!("{m};q=0.5")));
    }
    parts.push("*/*;q=0.1".into());
    parts.join(", ")
}

/// A scalar as OpenAPI writes it in a URL (strings raw, everything else as JSON text).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn scalar_or_join(p: &Parameter, v: &Value, sep: &str) -> String {
    if p.json_content {
        return v.to_string();
    }
    match v {
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(sep),
        Value::Object(m) => {
            let parts: Vec<String> = if p.explode {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", scalar(v)))
                    .collect()
            } else {
                m.iter().flat_map(|(k, v)| [k.clone(), scalar(v)]).collect()
            };
            parts.join(sep)
        }
        other => scalar(other),
    }
}

fn path_value(p: &Parameter, v: &Value) -> Result<String, String> {
    let enc = |s: &str| -> Result<String, String> {
        if s == "." || s == ".." {
            return Err(format!("path parameter `{}` may not be `{s}`", p.name));
        }
        Ok(utf8_percent_encode(s, PATH_VALUE).to_string())
    };
    let items: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .map(|i| enc(&scalar(i)))
            .collect::<Result<_, _>>()?,
        Value::Object(m) if !p.json_content => {
            let mut out = Vec::new();
            for (k, val) in m {
                if p.explode {
                    out.push(format!("{}={}", enc(k)?, enc(&scalar(val))?));
                } else {
                    out.push(enc(k)?);
                    out.push(enc(&scalar(val))?);
                }
            }
            out
        }
        other if p.json_content => vec![enc(&other.to_string())?],
        other => vec![enc(&scalar(other))?],
    };
    Ok(match p.style {
        Style::Label => format!(".{}", items.join(if p.explode { "." } else { "," })),
        Style::Matrix if p.explode && v.is_array() => {
            items.iter().map(|i| format!(";{}={i}", p.name)).collect()
        }
        Style::Matrix => format!(";{}={}", p.name, items.join(",")),
        _ => items.join(","),
    })
}

fn query_pairs(p: &Parameter, v: &Value, out: &mut Vec<(String, String)>) {
    if p.json_content {
        out.push((p.name.clone(), v.to_string()));
        return;
    }
    match (v, p.style) {
        (Value::Object(m), Style::DeepObject) => {
            for (k, val) in m {
                match val {
                    Value::Array(items) => {
                        for i in items {
                            out.push((format!("{}[{k}]", p.name), scalar(i)));
                        }
                    }
                    other => out.push((format!("{}[{k}]", p.name), scalar(other))),
                }
            }
        }
        (Value::Object(m), _) if p.explode => {
            out.extend(m.iter().map(|(k, val)| (k.clone(), scalar(val))));
        }
        (Value::Array(items), Style::Form) if p.explode => {
            out.extend(items.iter().map(|i| (p.name.clone(), scalar(i))));
        }
        (Value::Array(_), style) => {
            let sep = match style {
                Style::SpaceDelimited => " ",
                Style::PipeDelimited => "|",
                Style::TabDelimited => "\t",
                _ => ",",
            };
            out.push((p.name.clone(), scalar_or_join(p, v, sep)));
        }
        _ => out.push((p.name.clone(), scalar_or_join(p, v, ","))),
    }
}

fn header_value(p: &Parameter, v: &Value) -> String {
    scalar_or_join(p, v, ",")
}

fn form_pairs(v: &Value) -> Vec<(String, String)> {
    let Value::Object(m) = v else {
        return vec![("body".into(), scalar(v))];
    };
    let mut out = Vec::new();
    for (k, val) in m {
        match val {
            Value::Array(items) => out.extend(items.iter().map(|i| (k.clone(), scalar(i)))),
            Value::Object(_) => out.push((k.clone(), val.to_string())),
            other => out.push((k.clone(), scalar(other))),
        }
    }
    out
}

fn multipart(def: &ToolDef, v: &Value) -> Result<reqwest::multipart::Form, String> {
    let Value::Object(m) = v else {
        return Err("multipart body must be an object".into());
    };
    let props = def.input_properties();
    let is_file = |k: &str| {
        props.and_then(|p| p.get(k)).is_some_and(|s| {
            s.get("contentEncoding") == Some(&Value::String("base64".into()))
                || s.pointer("/items/contentEncoding") == Some(&Value::String("base64".into()))
        })
    };
    let mut form = reqwest::multipart::Form::new();
    for (k, val) in m {
        let values: Vec<&Value> = match val {
            Value::Array(items) if is_file(k) => items.iter().collect(),
            other => vec![other],
        };
        for item in values {
            if is_file(k) {
                let b64 = item
                    .as_str()
                    .ok_or_else(|| format!("`{k}` must be a base64 string"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format!("`{k}` is not valid base64: {e}"))?;
                let part = reqwest::multipart::Part::bytes(bytes)
                    .file_name(k.clone())
                    .mime_str("application/octet-stream")
                    .map_err(|e| e.to_string())?;
                form = form.part(k.clone(), part);
            } else {
                let text = match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                form = form.text(k.clone(), text);
            }
        }
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::accept;

    fn of(types: &[&str]) -> String {
        accept(&types.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn accept_prefers_json() {
        assert_eq!(
            of(&["application/xml", "application/json"]),
            "application/json, application/xml;q=0.5, */*;q=0.1"
        );
        assert_eq!(
            of(&["text/csv", "application/vnd.api+json"]),
            "application/vnd.api+json, text/csv;q=0.5, */*;q=0.1"
        );
        // nothing listed (or only `*/*`): JSON, else anything
        assert_eq!(of(&[]), "application/json, */*;q=0.1");
        assert_eq!(of(&["*/*"]), "application/json, */*;q=0.1");
        // no JSON listed: the document's own types, not a JSON it says it never sends
        assert_eq!(of(&["image/png"]), "image/png, */*;q=0.1");
        // what cannot go in a header is left out
        assert_eq!(
            of(&["application/json", "a/b, c/d", "x/\u{e9}", "bad\r\n/x"]),
            "application/json, */*;q=0.1"
        );
    }
}
