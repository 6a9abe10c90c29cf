//! Swagger 2.0 documents → [`ApiModel`].
//!
//! The differences from 3.x handled here: `host`/`basePath`/`schemes` become one server,
//! `in: body` becomes the request body, `in: formData` parameters are gathered into an object
//! body (multipart when `consumes` says so or a parameter is a `file`), non-body parameters carry
//! their schema inline and `collectionFormat` instead of `style`/`explode`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::load::DocSet;
use crate::model::*;
use crate::parse::{
    api_key, choose_media, deref, deref_owned, path_items, path_template_names, security,
    string_list, value_str, METHODS,
};
use crate::schema::{Dialect, SchemaCompiler};

/// Keys of a 2.0 non-body parameter that are not part of its schema.
const NON_SCHEMA_KEYS: &[&str] = &[
    "name",
    "in",
    "required",
    "description",
    "collectionFormat",
    "allowEmptyValue",
];

/// Converts a Swagger 2.0 document; `taken` holds its `paths` when they were moved out (see
/// [`crate::parse::convert_owned`]).
pub fn convert(docs: &DocSet, taken: Option<Map<String, Value>>) -> Result<ApiModel> {
    let root = docs.root_doc();
    let file = docs.root().to_path_buf();
    let mut c = SchemaCompiler::new(docs, Dialect::Swagger2);
    let root_consumes = string_list(root.get("consumes"));
    let root_produces = string_list(root.get("produces"));
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
            for method in METHODS {
                let Some(op) = item.get(*method) else {
                    continue;
                };
                let consumes = match op.get("consumes") {
                    Some(v) => string_list(Some(v)),
                    None => root_consumes.clone(),
                };
                match operation(
                    &mut c, docs, &item_file, &item, &path, method, op, &consumes,
                ) {
                    Ok(mut o) => {
                        o.response_media_types = match op.get("produces") {
                            Some(v) => string_list(Some(v)),
                            None => root_produces.clone(),
                        };
                        operations.push(o)
                    }
                    Err(reason) => skipped.push(Skipped {
                        method: method.to_uppercase(),
                        path: path.clone(),
                        reason,
                    }),
                }
            }
        }
    }
    let mut schemes = BTreeMap::new();
    if let Some(Value::Object(defs)) = root.get("securityDefinitions") {
        for (name, s) in defs {
            let scheme = match s.get("type").and_then(value_str) {
                Some("basic") => SecurityScheme::Basic,
                Some("apiKey") => api_key(s),
                Some("oauth2") => match (
                    s.get("flow").and_then(value_str),
                    s.get("tokenUrl").and_then(value_str),
                ) {
                    (Some("application"), Some(u)) => SecurityScheme::OAuth2ClientCredentials {
                        token_url: u.to_string(),
                    },
                    // implicit, password, accessCode (or an application flow without a
                    // tokenUrl): only a token obtained elsewhere can be sent
                    (flow, _) => SecurityScheme::OAuth2 {
                        flows: flow.map(str::to_string).into_iter().collect(),
                    },
                },
                Some(other) => SecurityScheme::Unsupported(format!("type {other}")),
                None => SecurityScheme::Unsupported("a scheme without a type".into()),
            };
            schemes.insert(name.clone(), scheme);
        }
    }
    let mut servers = Vec::new();
    let base_path = root.get("basePath").and_then(value_str).unwrap_or("");
    match root.get("host").and_then(value_str) {
        Some(host) => {
            let scheme = string_list(root.get("schemes"))
                .into_iter()
                .find(|s| s == "https")
                .or_else(|| string_list(root.get("schemes")).into_iter().next())
                .unwrap_or_else(|| "https".into());
            servers.push(Server {
                url: format!("{scheme}://{host}{base_path}"),
                variables: BTreeMap::new(),
            });
        }
        None if !base_path.is_empty() => {
            servers.push(Server {
                url: base_path.to_string(),
                variables: BTreeMap::new(),
            });
        }
        None => {}
    }
    let mut warnings = docs.problems().to_vec();
    warnings.append(&mut c.warnings);
    Ok(ApiModel {
        version: SpecVersion::Swagger2,
        title: root
            .pointer("/info/title")
            .and_then(value_str)
            .unwrap_or("API")
            .to_string(),
        servers,
        operations,
        security_schemes: schemes,
        security: security(root.get("security")).unwrap_or_default(),
        defs: c.into_defs(),
        skipped,
        warnings,
    })
}

#[allow(clippy::too_many_arguments)]
fn operation(
    c: &mut SchemaCompiler<'_>,
    docs: &DocSet,
    file: &Path,
    item: &Value,
    path: &str,
    method: &str,
    op: &Value,
    consumes: &[String],
) -> std::result::Result<Operation, String> {
    let mut raw_params: Vec<(std::path::PathBuf, Value)> = Vec::new();
    for list in [item.get("parameters"), op.get("parameters")] {
        let Some(Value::Array(list)) = list else {
            continue;
        };
        for raw in list {
            let (pfile, p) = deref(docs, file, raw).map_err(|e| e.to_string())?;
            let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
            raw_params.retain(|(_, q)| key(q) != key(&p));
            raw_params.push((pfile, p));
        }
    }
    let mut params = Vec::new();
    let mut body = None;
    let mut form_props = Map::new();
    let mut form_required = Vec::new();
    let mut has_file = false;
    for (pfile, p) in &raw_params {
        let name = p
            .get("name")
            .and_then(value_str)
            .ok_or("parameter without a name")?
            .to_string();
        let description = p.get("description").and_then(value_str).map(str::to_string);
        let required = p.get("required") == Some(&Value::Bool(true));
        let location = match p.get("in").and_then(value_str) {
            Some("body") => {
                let schema = p
                    .get("schema")
                    .map(|s| c.compile(pfile, s))
                    .unwrap_or_else(|| json!({}));
                let (media_type, kind) = choose_media(consumes.iter().map(String::as_str))
                    .unwrap_or_else(|| ("application/json".into(), BodyKind::Json));
                body = Some(RequestBody {
                    media_type,
                    kind,
                    required,
                    description,
                    schema,
                });
                continue;
            }
            Some("formData") => {
                has_file |= p.get("type").and_then(value_str) == Some("file");
                let mut schema = c.compile(pfile, &inline_schema(p));
                if let (Some(d), Value::Object(m)) = (&description, &mut schema) {
                    m.insert("description".into(), json!(d));
                }
                form_props.insert(name.clone(), schema);
                if required {
                    form_required.push(json!(name));
                }
                continue;
            }
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            other => return Err(format!("parameter {name}: unknown location {other:?}")),
        };
        if location == Location::Header
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            continue;
        }
        let (style, explode) = match p.get("collectionFormat").and_then(value_str) {
            Some("multi") => (Style::Form, true),
            Some("ssv") => (Style::SpaceDelimited, false),
            Some("tsv") => (Style::TabDelimited, false),
            Some("pipes") => (Style::PipeDelimited, false),
            _ if location == Location::Query => (Style::Form, false),
            _ => (Style::Simple, false),
        };
        params.push(Parameter {
            name,
            location,
            required: required || location == Location::Path,
            description,
            schema: c.compile(pfile, &inline_schema(p)),
            style,
            explode,
            json_content: false,
        });
    }
    for name in path_template_names(path) {
        if !params
            .iter()
            .any(|p| p.location == Location::Path && p.name == name)
        {
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
    if !form_props.is_empty() {
        let multipart = has_file
            || consumes
                .iter()
                .any(|m| m.starts_with("multipart/form-data"));
        let (media_type, kind) = if multipart {
            ("multipart/form-data".to_string(), BodyKind::Multipart)
        } else {
            (
                "application/x-www-form-urlencoded".to_string(),
                BodyKind::Form,
            )
        };
        let mut schema = json!({"type": "object", "properties": form_props});
        if !form_required.is_empty() {
            schema["required"] = Value::Array(form_required.clone());
        }
        body = Some(RequestBody {
            media_type,
            kind,
            required: !form_required.is_empty(),
            description: None,
            schema,
        });
    }
    let response_schema =
        success_schema(docs, file, op.get("responses")).map(|(f, s)| c.compile(&f, &s));
    Ok(Operation {
        method: method.to_uppercase(),
        path: path.to_string(),
        operation_id: op
            .get("operationId")
            .and_then(value_str)
            .map(str::to_string),
        summary: op.get("summary").and_then(value_str).map(str::to_string),
        description: op
            .get("description")
            .and_then(value_str)
            .map(str::to_string),
        tags: string_list(op.get("tags")),
        deprecated: op.get("deprecated") == Some(&Value::Bool(true)),
        parameters: params,
        body,
        response_schema,
        response_media_types: Vec::new(),
        security: security(op.get("security")),
        servers: Vec::new(),
    })
}

/// A 2.0 non-body parameter is its own schema, minus the parameter-only keys.
fn inline_schema(p: &Value) -> Value {
    let Some(obj) = p.as_object() else {
        return json!({});
    };
    Value::Object(
        obj.iter()
            .filter(|(k, _)| !NON_SCHEMA_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn success_schema(
    docs: &DocSet,
    file: &Path,
    responses: Option<&Value>,
) -> Option<(std::path::PathBuf, Value)> {
    let responses = responses?.as_object()?;
    let mut codes: Vec<&String> = responses.keys().filter(|k| k.starts_with('2')).collect();
    codes.sort();
    codes.extend(responses.keys().filter(|k| k.as_str() == "default"));
    let code = codes.first()?;
    let (rfile, r) = deref(docs, file, &responses[code.as_str()]).ok()?;
    r.get("schema").map(|s| (rfile, s.clone()))
}
