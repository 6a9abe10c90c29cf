//! OpenAPI 3.0 / 3.1 documents → [`ApiModel`]; dispatches Swagger 2.0 to [`crate::swagger2`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::load::DocSet;
use crate::model::*;
use crate::schema::{Dialect, SchemaCompiler};

/// HTTP methods an OpenAPI path item may hold, in the order tools are generated.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Converts a loaded document set (any supported version) into the internal model.
pub fn convert(docs: &DocSet) -> Result<ApiModel> {
    convert_inner(docs, None)
}

/// Like [`convert`], but consumes the documents: path items are moved out of the document and
/// dropped as soon as they are converted, so the whole document and the whole model are never
/// in memory together (the peak for a 20 MB document drops by about a third).
pub fn convert_owned(mut docs: DocSet) -> Result<ApiModel> {
    let paths = docs.take_paths();
    convert_inner(&docs, paths)
}

/// The path items to convert: moved out of `taken`, or copied one at a time from the document.
pub(crate) fn path_items<'a>(
    docs: &'a DocSet,
    taken: Option<Map<String, Value>>,
) -> Box<dyn Iterator<Item = (String, Value)> + 'a> {
    match taken {
        Some(m) => Box::new(m.into_iter()),
        None => Box::new(
            docs.root_doc()
                .get("paths")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone()))),
        ),
    }
}

fn convert_inner(docs: &DocSet, taken: Option<Map<String, Value>>) -> Result<ApiModel> {
    let root = docs.root_doc();
    let unsupported = |message: String| Error::Unsupported {
        path: docs.root().to_path_buf(),
        message,
    };
    if let Some(v) = root.get("swagger").and_then(value_str) {
        if v.starts_with("2.") {
            return crate::swagger2::convert(docs, taken);
        }
        return Err(unsupported(format!("swagger version {v}")));
    }
    let version = match root.get("openapi").and_then(value_str) {
        Some(v) if v.starts_with("3.0") => SpecVersion::OpenApi30,
        Some(v) if v.starts_with("3.1") || v.starts_with("3.2") => SpecVersion::OpenApi31,
        Some(v) => return Err(unsupported(format!("openapi version {v}"))),
        None => {
            return Err(unsupported(
                "no `openapi` or `swagger` version field".into(),
            ))
        }
    };
    let dialect = if version == SpecVersion::OpenApi30 {
        Dialect::Oas30
    } else {
        Dialect::Oas31
    };
    let file = docs.root().to_path_buf();
    let mut c = SchemaCompiler::new(docs, dialect);
    let mut operations = Vec::new();
    let mut skipped = Vec::new();
    {
        for (path, item) in path_items(docs, taken) {
            let (item_file, item) = match deref_owned(docs, &file, item) {
                Ok(x) => x,
                Err(e) => {
                    skipped.push(Skipped {
                        method: "*".into(),
                        path: path.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let ctx = ItemCtx {
                docs,
                file: &item_file,
                item: &item,
                path: &path,
            };
            for method in METHODS {
                let Some(op) = item.get(*method) else {
                    continue;
                };
                match operation(&mut c, &ctx, method, op) {
                    Ok(o) => operations.push(o),
                    Err(reason) => skipped.push(Skipped {
                        method: method.to_uppercase(),
                        path: path.clone(),
                        reason,
                    }),
                }
            }
        }
    }
    let schemes = root
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
        .map(|m| security_schemes(docs, &file, m))
        .unwrap_or_default();
    let mut warnings = docs.problems().to_vec();
    warnings.append(&mut c.warnings);
    Ok(ApiModel {
        version,
        title: root
            .pointer("/info/title")
            .and_then(value_str)
            .unwrap_or("API")
            .to_string(),
        servers: servers(root.get("servers")),
        operations,
        security_schemes: schemes,
        security: security(root.get("security")).unwrap_or_default(),
        defs: c.into_defs(),
        skipped,
        warnings,
    })
}

struct ItemCtx<'a> {
    docs: &'a DocSet,
    file: &'a Path,
    item: &'a Value,
    path: &'a str,
}

fn operation(
    c: &mut SchemaCompiler<'_>,
    ctx: &ItemCtx<'_>,
    method: &str,
    op: &Value,
) -> std::result::Result<Operation, String> {
    let mut params: Vec<Parameter> = Vec::new();
    for list in [ctx.item.get("parameters"), op.get("parameters")] {
        let Some(Value::Array(list)) = list else {
            continue;
        };
        for raw in list {
            let (pfile, p) = deref(ctx.docs, ctx.file, raw).map_err(|e| e.to_string())?;
            if let Some(param) = parameter(c, &pfile, &p)? {
                // operation-level parameters override path-level ones with the same name+location
                params.retain(|q| !(q.name == param.name && q.location == param.location));
                params.push(param);
            }
        }
    }
    for name in path_template_names(ctx.path) {
        if !params
            .iter()
            .any(|p| p.location == Location::Path && p.name == name)
        {
            // Undeclared template variable: still make it a required string argument,
            // since the request cannot be built without it.
            params.push(Parameter {
                name,
                location: Location::Path,
                required: true,
                description: None,
                schema: json!({"type": "string"}),
                style: Style::Simple,
                explode: false,
                json_content: false,
            });
        }
    }
    let body = match op.get("requestBody") {
        Some(raw) => {
            let (bfile, b) = deref(ctx.docs, ctx.file, raw).map_err(|e| e.to_string())?;
            request_body(c, &bfile, &b)
        }
        None => None,
    };
    let response_schema =
        success_response(ctx.docs, ctx.file, op.get("responses")).map(|(f, s)| c.compile(&f, &s));
    let response_media_types = success_media_types(ctx.docs, ctx.file, op.get("responses"));
    let mut op_servers = servers(op.get("servers"));
    if op_servers.is_empty() {
        op_servers = servers(ctx.item.get("servers"));
    }
    Ok(Operation {
        method: method.to_uppercase(),
        path: ctx.path.to_string(),
        operation_id: op
            .get("operationId")
            .and_then(value_str)
            .map(str::to_string),
        summary: op.get("summary").and_then(value_str).map(str::to_string),
        description: op
            .get("description")
            .or_else(|| ctx.item.get("description"))
            .and_then(value_str)
            .map(str::to_string),
        tags: string_list(op.get("tags")),
        deprecated: op.get("deprecated") == Some(&Value::Bool(true)),
        parameters: params,
        body,
        response_schema,
        response_media_types,
        security: security(op.get("security")),
        servers: op_servers,
    })
}

/// One 3.x parameter; `Ok(None)` for parameters the spec says to ignore.
fn parameter(
    c: &mut SchemaCompiler<'_>,
    file: &Path,
    p: &Value,
) -> std::result::Result<Option<Parameter>, String> {
    let name = p
        .get("name")
        .and_then(value_str)
        .ok_or("parameter without a name")?;
    let location = match p.get("in").and_then(value_str) {
        Some("path") => Location::Path,
        Some("query") => Location::Query,
        Some("header") => Location::Header,
        Some("cookie") => Location::Cookie,
        other => return Err(format!("parameter {name}: unknown location {other:?}")),
    };
    if location == Location::Header
        && ["accept", "content-type", "authorization"].contains(&name.to_ascii_lowercase().as_str())
    {
        // OpenAPI: these header parameters are ignored (the body / auth define them).
        return Ok(None);
    }
    let (schema, json_content) = match (p.get("schema"), p.get("content")) {
        (Some(s), _) => (c.compile(file, s), false),
        (None, Some(Value::Object(content))) => {
            let s = content
                .values()
                .next()
                .and_then(|m| m.get("schema"))
                .cloned()
                .unwrap_or(json!({}));
            (c.compile(file, &s), true)
        }
        _ => (json!({}), false),
    };
    let style = match p.get("style").and_then(value_str) {
        Some("form") => Style::Form,
        Some("spaceDelimited") => Style::SpaceDelimited,
        Some("pipeDelimited") => Style::PipeDelimited,
        Some("deepObject") => Style::DeepObject,
        Some("label") => Style::Label,
        Some("matrix") => Style::Matrix,
        Some("simple") => Style::Simple,
        _ => match location {
            Location::Query | Location::Cookie => Style::Form,
            _ => Style::Simple,
        },
    };
    let explode = p
        .get("explode")
        .and_then(Value::as_bool)
        .unwrap_or(style == Style::Form);
    Ok(Some(Parameter {
        name: name.to_string(),
        location,
        required: location == Location::Path || p.get("required") == Some(&Value::Bool(true)),
        description: p.get("description").and_then(value_str).map(str::to_string),
        schema,
        style,
        explode,
        json_content,
    }))
}

fn request_body(c: &mut SchemaCompiler<'_>, file: &Path, b: &Value) -> Option<RequestBody> {
    let content = b.get("content")?.as_object()?;
    let (media, kind) = choose_media(content.keys().map(String::as_str))?;
    let schema = content
        .get(&media)
        .and_then(|m| m.get("schema"))
        .map(|s| c.compile(file, s))
        .unwrap_or_else(|| json!({}));
    Some(RequestBody {
        media_type: media,
        kind,
        required: b.get("required") == Some(&Value::Bool(true)),
        description: b.get("description").and_then(value_str).map(str::to_string),
        schema,
    })
}

/// Picks the body media type a tool will send: JSON, then forms, then text, then raw bytes.
pub fn choose_media<'a>(types: impl Iterator<Item = &'a str>) -> Option<(String, BodyKind)> {
    let mut best: Option<(u8, String, BodyKind)> = None;
    for t in types {
        let lower = t.to_ascii_lowercase();
        let essence = lower.split(';').next().unwrap_or_default().trim();
        let (rank, kind) = if essence == "application/json" {
            (0, BodyKind::Json)
        } else if essence.ends_with("+json") || essence.ends_with("/json") {
            (1, BodyKind::Json)
        } else if essence == "application/x-www-form-urlencoded" {
            (2, BodyKind::Form)
        } else if essence == "multipart/form-data" {
            (3, BodyKind::Multipart)
        } else if essence.starts_with("text/") {
            (5, BodyKind::Text)
        } else if essence == "*/*" {
            (6, BodyKind::Json)
        } else {
            (4, BodyKind::Binary)
        };
        if best.as_ref().is_none_or(|(r, _, _)| rank < *r) {
            let media = if essence == "*/*" {
                "application/json".to_string()
            } else {
                t.to_string()
            };
            best = Some((rank, media, kind));
        }
    }
    best.map(|(_, m, k)| (m, k))
}

/// Finds the success response's JSON schema: 200, 201, other 2xx, `2XX`, then `default`.
fn success_response(
    docs: &DocSet,
    file: &Path,
    responses: Option<&Value>,
) -> Option<(PathBuf, Value)> {
    let responses = responses?.as_object()?;
    let mut codes: Vec<&String> = responses.keys().filter(|k| k.starts_with('2')).collect();
    codes.sort();
    codes.extend(responses.keys().filter(|k| k.as_str() == "default"));
    for code in codes {
        let Ok((rfile, r)) = deref(docs, file, &responses[code.as_str()]) else {
            continue;
        };
        let Some(content) = r.get("content").and_then(Value::as_object) else {
            if code.starts_with('2') {
                return None; // a 2xx without a body: no output schema
            }
            continue;
        };
        for (media, m) in content {
            if choose_media(std::iter::once(media.as_str())).map(|(_, k)| k) == Some(BodyKind::Json)
            {
                if let Some(s) = m.get("schema") {
                    return Some((rfile, s.clone()));
                }
            }
        }
        return None;
    }
    None
}

/// The media types of every 2xx response (`default`'s when no 2xx has content), without
/// repeats: what a successful call may answer with.
fn success_media_types(docs: &DocSet, file: &Path, responses: Option<&Value>) -> Vec<String> {
    let Some(responses) = responses.and_then(Value::as_object) else {
        return Vec::new();
    };
    let content_types = |code: &str| -> Vec<String> {
        deref(docs, file, &responses[code])
            .ok()
            .and_then(|(_, r)| {
                r.get("content")
                    .and_then(Value::as_object)
                    .map(|c| c.keys().cloned().collect())
            })
            .unwrap_or_default()
    };
    let mut out: Vec<String> = Vec::new();
    for code in responses.keys().filter(|k| k.starts_with('2')) {
        for media in content_types(code) {
            if !out.contains(&media) {
                out.push(media);
            }
        }
    }
    if out.is_empty() && responses.contains_key("default") {
        out = content_types("default");
    }
    out
}

/// Follows a non-schema `$ref` (parameter, body, response, path item) to its object.
pub fn deref(docs: &DocSet, file: &Path, v: &Value) -> Result<(PathBuf, Value)> {
    deref_owned(docs, file, v.clone())
}

/// [`deref`] of a value the caller owns (returned as is when it is not a `$ref`).
pub fn deref_owned(docs: &DocSet, file: &Path, v: Value) -> Result<(PathBuf, Value)> {
    let mut file = file.to_path_buf();
    let mut cur = v;
    for _ in 0..16 {
        let Some(r) = cur.get("$ref").and_then(value_str) else {
            return Ok((file, cur));
        };
        let (f, _, target) = docs.resolve(&file, r)?;
        file = f;
        cur = target.clone();
    }
    Err(Error::Ref {
        reference: cur
            .get("$ref")
            .and_then(value_str)
            .unwrap_or_default()
            .to_string(),
        message: "reference chain too long (cycle?)".into(),
    })
}

fn servers(v: Option<&Value>) -> Vec<Server> {
    let Some(Value::Array(list)) = v else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|s| {
            let url = s.get("url").and_then(value_str)?.to_string();
            let variables = s
                .get("variables")
                .and_then(Value::as_object)
                .map(|vars| {
                    vars.iter()
                        .filter_map(|(k, v)| Some((k.clone(), scalar_string(v.get("default")?)?)))
                        .collect()
                })
                .unwrap_or_default();
            Some(Server { url, variables })
        })
        .collect()
}

/// `security` arrays: `None` when absent (inherit), `Some` (maybe empty) when present.
pub fn security(v: Option<&Value>) -> Option<Vec<SecurityRequirement>> {
    let Value::Array(list) = v? else { return None };
    Some(
        list.iter()
            .filter_map(Value::as_object)
            .map(|req| {
                req.iter()
                    .map(|(k, scopes)| (k.clone(), string_list(Some(scopes))))
                    .collect()
            })
            .collect(),
    )
}

fn security_schemes(
    docs: &DocSet,
    file: &Path,
    m: &Map<String, Value>,
) -> BTreeMap<String, SecurityScheme> {
    let mut out = BTreeMap::new();
    for (name, raw) in m {
        let Ok((_, s)) = deref(docs, file, raw) else {
            continue;
        };
        let t = s.get("type").and_then(value_str).unwrap_or_default();
        let scheme = match t {
            "apiKey" => api_key(&s),
            "http" => match s
                .get("scheme")
                .and_then(value_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("basic") => SecurityScheme::Basic,
                Some("bearer") => SecurityScheme::Bearer,
                Some(other) => SecurityScheme::Unsupported(format!("http scheme {other}")),
                None => SecurityScheme::Unsupported("http without a scheme".into()),
            },
            "oauth2" => match s
                .pointer("/flows/clientCredentials/tokenUrl")
                .and_then(value_str)
            {
                Some(url) => SecurityScheme::OAuth2ClientCredentials {
                    token_url: url.to_string(),
                },
                None => SecurityScheme::OAuth2 {
                    flows: s
                        .get("flows")
                        .and_then(Value::as_object)
                        .map(|f| f.keys().cloned().collect())
                        .unwrap_or_default(),
                },
            },
            "openIdConnect" => SecurityScheme::OpenIdConnect,
            "" => SecurityScheme::Unsupported("a scheme without a type".into()),
            other => SecurityScheme::Unsupported(format!("type {other}")),
        };
        out.insert(name.clone(), scheme);
    }
    out
}

/// An `apiKey` scheme (same shape in 2.0 and 3.x).
pub fn api_key(s: &Value) -> SecurityScheme {
    let name = s
        .get("name")
        .and_then(value_str)
        .unwrap_or_default()
        .to_string();
    match s.get("in").and_then(value_str) {
        Some("header") => SecurityScheme::ApiKey {
            name,
            location: Location::Header,
        },
        Some("query") => SecurityScheme::ApiKey {
            name,
            location: Location::Query,
        },
        Some("cookie") => SecurityScheme::ApiKey {
            name,
            location: Location::Cookie,
        },
        Some(other) => SecurityScheme::Unsupported(format!("apiKey in {other}")),
        None => SecurityScheme::Unsupported("apiKey without `in`".into()),
    }
}

/// `{name}` variables of a path template, in order.
pub fn path_template_names(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push(rest[start + 1..start + end].to_string());
        rest = &rest[start + end + 1..];
    }
    out
}

pub fn value_str(v: &Value) -> Option<&str> {
    v.as_str()
}

pub fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_preference() {
        let pick = |v: &[&str]| choose_media(v.iter().copied()).map(|(m, _)| m);
        assert_eq!(
            pick(&["text/plain", "application/json"]).as_deref(),
            Some("application/json")
        );
        assert_eq!(
            pick(&["multipart/form-data", "application/x-www-form-urlencoded"]).as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            pick(&["application/octet-stream"]).as_deref(),
            Some("application/octet-stream")
        );
    }

    #[test]
    fn template_names() {
        assert_eq!(path_template_names("/a/{x}/b/{y}.json"), vec!["x", "y"]);
    }
}
