//! Operation → MCP tool definition: input schema layout, output schema, description, annotations.
//!
//! See the crate docs for the input schema layout. The builder also records, for every
//! argument name, where its value goes ([`Binding`]), so the executor never has to guess.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Map, Value};

use crate::model::{ApiModel, BodyKind, Operation};
use crate::schema::{def_name_of, reachable_defs_of};

/// Where one tool argument goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// Parameter `index` of the operation.
    Param(usize),
    /// A property of an object body (flattened layout).
    BodyProperty(String),
    /// The whole body, under the `body` argument.
    Body,
}

/// A generated tool and what the executor needs to run it.
///
/// The schemas held here are *compact*: their `$ref`s point into `#/$defs` but the `$defs`
/// themselves are left out, since they live once in [`ApiModel::defs`]. [`ToolDef::materialize`]
/// adds the definitions each schema reaches, which is what goes on the wire. In a document like
/// Microsoft Graph almost every definition reaches every other, so copying them into each of
/// 11,000 tools at load time would take gigabytes; this way a tool is only expanded when it is
/// listed, described or first called.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// The tool with its compact input schema and no output schema (see above).
    pub tool: Tool,
    /// Index into [`ApiModel::operations`].
    pub op_index: usize,
    /// Argument name → destination.
    pub bindings: BTreeMap<String, Binding>,
    /// Whether the tool has an `outputSchema` (built from the operation on materialising).
    pub has_output_schema: bool,
}

impl ToolDef {
    /// The tool as clients see it: each schema with the `$defs` it reaches.
    pub fn materialize(&self, model: &ApiModel) -> Tool {
        let mut tool = self.tool.clone();
        tool.input_schema = Arc::new(with_defs(&self.tool.input_schema, model));
        if let Some(out) = self.compact_output_schema(model) {
            tool.output_schema = Some(Arc::new(with_defs(&out, model)));
        }
        tool
    }

    /// The output schema without its `$defs` (`None` when the tool has none).
    pub fn compact_output_schema(&self, model: &ApiModel) -> Option<JsonObject> {
        if !self.has_output_schema {
            return None;
        }
        output_schema(model, &model.operations[self.op_index])
    }

    /// The compact input schema's top-level `properties`.
    pub fn input_properties(&self) -> Option<&Map<String, Value>> {
        self.tool.input_schema.get("properties")?.as_object()
    }

    /// The full input schema (with `$defs`), as validation needs it.
    pub fn full_input_schema(&self, model: &ApiModel) -> Value {
        Value::Object(with_defs(&self.tool.input_schema, model))
    }
}

/// `schema` plus a `$defs` object holding every definition it reaches (none: unchanged).
fn with_defs(schema: &JsonObject, model: &ApiModel) -> JsonObject {
    let defs = reachable_defs_of(schema.values(), &model.defs);
    let mut out = schema.clone();
    if !defs.is_empty() {
        out.insert("$defs".into(), Value::Object(defs));
    }
    out
}

/// Limits applied while building tools.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    pub max_description: usize,
    pub output_schema: bool,
}

/// Builds the tool for `model.operations[op_index]` under `name`.
pub fn build(model: &ApiModel, op_index: usize, name: String, opts: BuildOptions) -> ToolDef {
    let op = &model.operations[op_index];
    let (properties, required, bindings) = layout(model, op);
    let mut input = Map::new();
    input.insert("type".into(), json!("object"));
    input.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        input.insert(
            "required".into(),
            Value::Array(required.into_iter().map(Value::String).collect()),
        );
    }
    input.insert("additionalProperties".into(), json!(false));
    let tool = Tool::new(name, description(op, opts.max_description), Arc::new(input))
        .with_annotations(annotations(op));
    ToolDef {
        tool,
        op_index,
        bindings,
        has_output_schema: opts.output_schema && has_output_schema(model, op),
    }
}

type Layout = (Map<String, Value>, Vec<String>, BTreeMap<String, Binding>);

/// Lays out parameters and body as top-level properties, resolving name clashes.
fn layout(model: &ApiModel, op: &Operation) -> Layout {
    let body_schema = op.body.as_ref().map(|b| inline(model, &b.schema));
    let flat_body = op
        .body
        .as_ref()
        .zip(body_schema.as_ref())
        .filter(|(b, s)| {
            b.kind != BodyKind::Text && b.kind != BodyKind::Binary && is_flattenable(s)
        })
        .and_then(|(_, s)| s.get("properties").and_then(Value::as_object));
    // Count every name that wants to be top-level.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for p in &op.parameters {
        *counts.entry(p.name.as_str()).or_default() += 1;
    }
    match flat_body {
        Some(props) => props
            .keys()
            .for_each(|k| *counts.entry(k.as_str()).or_default() += 1),
        None if op.body.is_some() => *counts.entry("body").or_default() += 1,
        None => {}
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut bindings = BTreeMap::new();
    for (i, p) in op.parameters.iter().enumerate() {
        let arg = if counts.get(p.name.as_str()).copied().unwrap_or(0) > 1 {
            format!("{}__{}", p.name, p.location.as_str())
        } else {
            p.name.clone()
        };
        let mut schema = p.schema.clone();
        let loc_note = format!("({} parameter)", p.location.as_str());
        let desc = match &p.description {
            Some(d) => format!("{d} {loc_note}"),
            None => loc_note,
        };
        if let Value::Object(m) = &mut schema {
            m.insert("description".into(), json!(desc));
        }
        if p.required {
            required.push(arg.clone());
        }
        properties.insert(arg.clone(), schema);
        bindings.insert(arg, Binding::Param(i));
    }
    if let (Some(body), Some(schema)) = (&op.body, &body_schema) {
        let binary_fields = body.kind == BodyKind::Multipart;
        match flat_body {
            Some(props) => {
                let body_required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (k, v) in props {
                    let v = if binary_fields {
                        base64_fields(v)
                    } else {
                        v.clone()
                    };
                    if body.required && body_required.contains(&k.as_str()) {
                        required.push(k.clone());
                    }
                    properties.insert(k.clone(), v);
                    bindings.insert(k.clone(), Binding::BodyProperty(k.clone()));
                }
            }
            None => {
                let mut s = match body.kind {
                    BodyKind::Binary => json!({"type": "string", "contentEncoding": "base64",
                        "description": format!("request body ({}), base64-encoded", body.media_type)}),
                    BodyKind::Text => json!({"type": "string",
                        "description": format!("request body ({})", body.media_type)}),
                    _ => schema.clone(),
                };
                if let (Some(d), Value::Object(m)) = (&body.description, &mut s) {
                    m.entry("description").or_insert(json!(d));
                }
                if body.required {
                    required.push("body".into());
                }
                properties.insert("body".into(), s);
                bindings.insert("body".into(), Binding::Body);
            }
        }
    }
    (properties, required, bindings)
}

/// Multipart file fields (`format: binary`) are passed as base64 strings.
fn base64_fields(v: &Value) -> Value {
    let is_binary = |s: &Value| {
        s.get("format") == Some(&json!("binary")) || s.get("contentMediaType").is_some()
    };
    if is_binary(v) {
        let mut out = v.clone();
        if let Value::Object(m) = &mut out {
            m.remove("format");
            m.insert("contentEncoding".into(), json!("base64"));
            let d = m
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("file");
            m.insert(
                "description".into(),
                json!(format!("{d} (file content, base64-encoded)")),
            );
        }
        return out;
    }
    if let Some(items) = v.get("items") {
        if is_binary(items) {
            let mut out = v.clone();
            out["items"] = base64_fields(items);
            return out;
        }
    }
    v.clone()
}

/// Follows a top-level `$ref` into the shared defs so the layout can see the properties.
pub fn inline(model: &ApiModel, schema: &Value) -> Value {
    inline_ref(model, schema).clone()
}

fn is_flattenable(s: &Value) -> bool {
    let Some(obj) = s.as_object() else {
        return false;
    };
    let object_typed = obj.get("type").is_none_or(|t| t == "object");
    let no_composition = ![
        "oneOf",
        "anyOf",
        "allOf",
        "not",
        "if",
        "$ref",
        "patternProperties",
    ]
    .iter()
    .any(|k| obj.contains_key(*k));
    let closed = obj
        .get("additionalProperties")
        .is_none_or(|a| a == &json!(false));
    object_typed
        && no_composition
        && closed
        && obj
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty())
}

/// Follows a top-level `$ref` without copying (for looking only).
fn inline_ref<'m>(model: &'m ApiModel, schema: &'m Value) -> &'m Value {
    let mut cur = schema;
    for _ in 0..8 {
        match def_name_of(cur).and_then(|n| model.defs.get(n)) {
            Some(body) => cur = body,
            None => break,
        }
    }
    cur
}

/// An `outputSchema` is emitted only for object responses (not unions, arrays or scalars).
fn has_output_schema(model: &ApiModel, op: &Operation) -> bool {
    let Some(s) = op.response_schema.as_ref() else {
        return false;
    };
    let Some(obj) = inline_ref(model, s).as_object() else {
        return false;
    };
    let is_object = obj.get("type") == Some(&json!("object"))
        || (obj.get("type").is_none() && obj.contains_key("properties"));
    is_object && !["oneOf", "anyOf"].iter().any(|k| obj.contains_key(*k))
}

fn output_schema(model: &ApiModel, op: &Operation) -> Option<JsonObject> {
    if !has_output_schema(model, op) {
        return None;
    }
    let obj = inline_ref(model, op.response_schema.as_ref()?).as_object()?;
    let mut out = obj.clone();
    // MCP requires `type: object` at the root of an output schema.
    out.insert("type".into(), json!("object"));
    Some(out)
}

/// Summary and description joined and cut to `max` characters (on a char boundary).
fn description(op: &Operation, max: usize) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(s) = op
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        parts.push(s);
    }
    if let Some(d) = op
        .description
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if Some(d) != parts.first().copied() {
            parts.push(d);
        }
    }
    let mut text = if parts.is_empty() {
        format!("{} {}", op.method, op.path)
    } else {
        parts.join("\n\n")
    };
    if op.deprecated {
        text.push_str("\n\n(deprecated)");
    }
    if text.chars().count() > max {
        text = text.chars().take(max.saturating_sub(1)).collect::<String>() + "…";
    }
    text
}

fn annotations(op: &Operation) -> ToolAnnotations {
    let mut a = ToolAnnotations::new().open_world(true);
    if let Some(s) = &op.summary {
        a.title = Some(s.chars().take(120).collect());
    }
    match op.method.as_str() {
        "GET" | "HEAD" | "OPTIONS" | "TRACE" => {
            a.read_only(true).destructive(false).idempotent(true)
        }
        "DELETE" => a.read_only(false).destructive(true).idempotent(true),
        "PUT" => a.read_only(false).idempotent(true),
        _ => a.read_only(false),
    }
}
