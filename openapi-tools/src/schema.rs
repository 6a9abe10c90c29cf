//! Schema normalisation: OpenAPI schema dialects in, JSON Schema 2020-12 out.
//!
//! Every `$ref` to a schema becomes `#/$defs/<Name>`; the target is normalised once and stored in
//! a shared table, registered *before* its body is walked, so a recursive schema (a tree, a
//! linked list, Microsoft Graph's mutual references) ends as a `$ref` back-edge instead of an
//! infinite expansion. Tools later copy into their input schema only the `$defs` they reach.
//!
//! Dialect fixes: 3.0/2.0 `nullable`/`x-nullable` become `"null"` in `type`, boolean
//! `exclusiveMinimum`/`exclusiveMaximum` become numeric, `example` becomes `examples`, Swagger's
//! `type: file` becomes a binary string; OpenAPI-only keywords (`discriminator`, `xml`,
//! `externalDocs`, `x-*`) are dropped. 3.1 schemas are already 2020-12 and pass through,
//! except for draft-4 boolean bounds, which real 3.1 documents still carry. Keyword values of
//! the wrong shape (`pattern: 0`, `type: {…}`, `minLength: -1`, seen in the corpus test's
//! public documents) are dropped, so one bad keyword cannot make a whole tool schema invalid.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::load::DocSet;

/// Which schema dialect the document speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Swagger 2.0 (JSON Schema draft 4 subset).
    Swagger2,
    /// OpenAPI 3.0.x.
    Oas30,
    /// OpenAPI 3.1.x (JSON Schema 2020-12).
    Oas31,
}

/// Nesting deeper than this without a `$ref` is cut (replaced by `{}`) rather than followed.
const MAX_DEPTH: usize = 64;

/// Keywords whose value is a single subschema.
const SCHEMA_KEYS: &[&str] = &[
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentSchema",
    "additionalItems",
];
/// Keywords whose value is an array of subschemas.
const SCHEMA_ARRAY_KEYS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to subschemas.
const SCHEMA_MAP_KEYS: &[&str] = &["properties", "patternProperties", "dependentSchemas"];
/// OpenAPI-only keywords that mean nothing to a JSON Schema validator or a model.
const DROPPED_KEYS: &[&str] = &[
    "discriminator",
    "xml",
    "externalDocs",
    "nullable",
    "x-nullable",
];

/// Normalises schemas of one document set and owns the shared `$defs` table.
pub struct SchemaCompiler<'a> {
    docs: &'a DocSet,
    dialect: Dialect,
    /// canonical "file#pointer" → def name
    names: HashMap<String, String>,
    used: HashSet<String>,
    defs: BTreeMap<String, Arc<Value>>,
    /// Problems found (unresolvable refs), reported but not fatal.
    pub warnings: Vec<String>,
}

impl<'a> SchemaCompiler<'a> {
    /// A compiler for `docs` in `dialect`.
    pub fn new(docs: &'a DocSet, dialect: Dialect) -> Self {
        SchemaCompiler {
            docs,
            dialect,
            names: HashMap::new(),
            used: HashSet::new(),
            defs: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// The finished `$defs` table.
    pub fn into_defs(self) -> BTreeMap<String, Arc<Value>> {
        self.defs
    }

    /// Normalises `schema` found in file `file`.
    pub fn compile(&mut self, file: &Path, schema: &Value) -> Value {
        self.node(file, schema, 0)
    }

    /// Normalises `schema`, and when it is a bare `$ref` returns the referenced body instead,
    /// so that the caller can look at its properties (used for top-level bodies and params).
    pub fn compile_inline(&mut self, file: &Path, schema: &Value) -> Value {
        let compiled = self.compile(file, schema);
        self.inline_top(compiled, 0)
    }

    fn inline_top(&self, compiled: Value, depth: usize) -> Value {
        if depth > 8 {
            return compiled;
        }
        if let Some(name) = def_name_of(&compiled) {
            if let Some(body) = self.defs.get(name) {
                let mut body = (**body).clone();
                if let (Some(desc), Value::Object(m)) = (compiled.get("description"), &mut body) {
                    m.insert("description".into(), desc.clone());
                }
                return self.inline_top(body, depth + 1);
            }
        }
        compiled
    }

    /// Looks up a finished def body (None while it is still being built, i.e. on a cycle).
    pub fn def(&self, name: &str) -> Option<&Arc<Value>> {
        self.defs.get(name)
    }

    fn node(&mut self, file: &Path, schema: &Value, depth: usize) -> Value {
        let Value::Object(obj) = schema else {
            // `true`/`false` schemas are valid 2020-12; anything else is junk → accept anything.
            return if schema.is_boolean() {
                schema.clone()
            } else {
                json!({})
            };
        };
        if depth > MAX_DEPTH {
            return json!({});
        }
        if let Some(Value::String(r)) = obj.get("$ref") {
            let mut out = Map::new();
            match self.def_for_ref(file, r) {
                Some(name) => {
                    out.insert("$ref".into(), Value::String(format!("#/$defs/{name}")));
                }
                None => {
                    out.insert(
                        "description".into(),
                        json!(format!("unresolved reference {r}")),
                    );
                }
            }
            for k in ["description", "summary"] {
                if let Some(Value::String(d)) = obj.get(k) {
                    out.insert("description".into(), Value::String(d.clone()));
                }
            }
            if self.dialect == Dialect::Oas31 {
                // 3.1 allows real siblings next to $ref: keep them as an allOf.
                let rest: Map<String, Value> = obj
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "$ref" | "description" | "summary"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !rest.is_empty() {
                    let sib = self.node(file, &Value::Object(rest), depth + 1);
                    let r = out.remove("$ref").unwrap_or(Value::Null);
                    out.insert("allOf".into(), json!([{ "$ref": r }, sib]));
                }
            }
            if obj.get("nullable") == Some(&Value::Bool(true)) && self.dialect != Dialect::Oas31 {
                return json!({ "anyOf": [Value::Object(out), {"type": "null"}] });
            }
            return Value::Object(out);
        }
        let mut out = Map::new();
        for (k, v) in obj {
            if k.starts_with("x-") || DROPPED_KEYS.contains(&k.as_str()) {
                continue;
            }
            let nv = match k.as_str() {
                "items" => match v {
                    // draft-4 tuple form
                    Value::Array(items) => {
                        let list = items
                            .iter()
                            .map(|i| self.node(file, i, depth + 1))
                            .collect();
                        out.insert("prefixItems".into(), Value::Array(list));
                        continue;
                    }
                    other => self.node(file, other, depth + 1),
                },
                "example" if self.dialect != Dialect::Oas31 || !obj.contains_key("examples") => {
                    out.insert("examples".into(), json!([v]));
                    continue;
                }
                "example" => continue,
                "examples" if !v.is_array() => continue,
                "$defs" | "definitions" => continue,
                "$schema" | "$id" | "$anchor" | "$dynamicAnchor" => continue,
                key if SCHEMA_KEYS.contains(&key) => self.node(file, v, depth + 1),
                key if SCHEMA_ARRAY_KEYS.contains(&key) => match v {
                    Value::Array(a) => {
                        Value::Array(a.iter().map(|i| self.node(file, i, depth + 1)).collect())
                    }
                    _ => continue,
                },
                key if SCHEMA_MAP_KEYS.contains(&key) => match v {
                    Value::Object(m) => Value::Object(
                        m.iter()
                            .map(|(pk, pv)| (pk.clone(), self.node(file, pv, depth + 1)))
                            .collect(),
                    ),
                    _ => continue,
                },
                key => match clean_keyword(key, v) {
                    Some(v) => v,
                    None => continue,
                },
            };
            out.insert(k.clone(), nv);
        }
        if self.dialect != Dialect::Oas31 {
            fix_legacy(obj, &mut out);
        }
        // Draft-4 boolean bounds are invalid 2020-12; real 3.1 documents still carry them.
        fix_boolean_bounds(&mut out);
        self.merge_all_of(&mut out);
        Value::Object(out)
    }

    /// Returns the def name for a schema `$ref`, normalising its target on first sight.
    pub fn def_for_ref(&mut self, file: &Path, reference: &str) -> Option<String> {
        let (target_file, pointer, value) = match self.docs.resolve(file, reference) {
            Ok((f, p, v)) => (f, p, v.clone()),
            Err(e) => {
                self.warnings.push(e.to_string());
                return None;
            }
        };
        let key = format!("{}#{}", target_file.display(), pointer);
        if let Some(name) = self.names.get(&key) {
            return Some(name.clone());
        }
        let name = self.unique_name(&target_file, &pointer);
        self.names.insert(key, name.clone());
        let body = self.node(&target_file, &value, 0);
        self.defs.insert(name.clone(), Arc::new(body));
        Some(name)
    }

    fn unique_name(&mut self, file: &Path, pointer: &str) -> String {
        let last = pointer.rsplit('/').next().unwrap_or_default();
        let last = last.replace("~1", "/").replace("~0", "~");
        let mut base: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if base.is_empty() {
            base = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "schema".into());
        }
        let mut name = base.clone();
        let mut n = 2;
        while !self.used.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }

    /// Merges `allOf` members into their parent when every member is a plain object schema and
    /// no property is defined twice differently; otherwise the `allOf` stays as written.
    fn merge_all_of(&self, out: &mut Map<String, Value>) {
        let Some(Value::Array(members)) = out.get("allOf") else {
            return;
        };
        let mut resolved = Vec::with_capacity(members.len());
        for m in members {
            let body = match def_name_of(m) {
                Some(name) => match self.defs.get(name) {
                    Some(b) => (**b).clone(),
                    None => return, // cycle in progress: keep the allOf
                },
                None => m.clone(),
            };
            if !is_mergeable_object(&body) {
                return;
            }
            resolved.push(body);
        }
        let mut props = match out.remove("properties") {
            Some(Value::Object(p)) => p,
            _ => Map::new(),
        };
        let mut required: Vec<Value> = match out.remove("required") {
            Some(Value::Array(r)) => r,
            _ => Vec::new(),
        };
        let mut extra = Map::new();
        for body in resolved {
            let Value::Object(b) = body else { continue };
            for (k, v) in b {
                match k.as_str() {
                    "properties" => {
                        if let Value::Object(p) = v {
                            for (pk, pv) in p {
                                if let Some(existing) = props.get(&pk) {
                                    if *existing != pv {
                                        // conflicting property: merge with allOf to stay exact
                                        let merged = json!({ "allOf": [existing.clone(), pv] });
                                        props.insert(pk, merged);
                                        continue;
                                    }
                                }
                                props.insert(pk, pv);
                            }
                        }
                    }
                    "required" => {
                        if let Value::Array(r) = v {
                            for item in r {
                                if !required.contains(&item) {
                                    required.push(item);
                                }
                            }
                        }
                    }
                    "type" => {}
                    _ => {
                        if !out.contains_key(&k) {
                            extra.entry(k).or_insert(v);
                        }
                    }
                }
            }
        }
        out.remove("allOf");
        out.insert("type".into(), json!("object"));
        for (k, v) in extra {
            out.entry(k).or_insert(v);
        }
        if !props.is_empty() {
            out.insert("properties".into(), Value::Object(props));
        }
        if !required.is_empty() {
            out.insert("required".into(), Value::Array(required));
        }
    }
}

/// `Some("Pet")` for `{"$ref": "#/$defs/Pet"}` with no other keys that matter.
pub fn def_name_of(v: &Value) -> Option<&str> {
    let obj = v.as_object()?;
    if obj.keys().any(|k| k != "$ref" && k != "description") {
        return None;
    }
    obj.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

fn is_mergeable_object(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    let typed_object = match obj.get("type") {
        None => obj.contains_key("properties") || obj.contains_key("required"),
        Some(t) => t == "object",
    };
    typed_object
        && ![
            "oneOf",
            "anyOf",
            "allOf",
            "not",
            "$ref",
            "if",
            "additionalProperties",
            "unevaluatedProperties",
        ]
        .iter()
        .any(|k| obj.contains_key(*k))
}

/// 3.0 / 2.0 → 2020-12 fixes that need the original object.
fn fix_legacy(orig: &Map<String, Value>, out: &mut Map<String, Value>) {
    let nullable = orig.get("nullable") == Some(&Value::Bool(true))
        || orig.get("x-nullable") == Some(&Value::Bool(true));
    if orig.get("type") == Some(&json!("file")) {
        out.insert("type".into(), json!("string"));
        out.insert("format".into(), json!("binary"));
    }
    if nullable {
        match out.get("type").cloned() {
            Some(Value::String(t)) => {
                out.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(mut ts)) => {
                if !ts.contains(&json!("null")) {
                    ts.push(json!("null"));
                }
                out.insert("type".into(), Value::Array(ts));
            }
            _ => {}
        }
        if let Some(Value::Array(e)) = out.get_mut("enum") {
            if !e.contains(&Value::Null) {
                e.push(Value::Null);
            }
        }
    }
}

const TYPE_NAMES: &[&str] = &[
    "array", "boolean", "integer", "null", "number", "object", "string",
];

/// A keyword's value made valid 2020-12, or `None` to drop it. Real documents carry junk that
/// would make the whole tool schema invalid (`pattern: 0`, `type: {…}`, `required: true`,
/// `minLength: -1`): such a keyword is dropped, which only loosens validation. Keywords this
/// function does not know (and `x-` extensions, filtered earlier) pass through unchanged.
fn clean_keyword(key: &str, v: &Value) -> Option<Value> {
    let non_negative_int = |v: &Value| {
        v.as_u64().is_some() || v.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0)
    };
    let ok = match key {
        "type" => {
            return match v {
                Value::String(t) if TYPE_NAMES.contains(&t.as_str()) => Some(v.clone()),
                Value::Array(ts) => {
                    let mut out: Vec<Value> = Vec::new();
                    for t in ts {
                        if t.as_str().is_some_and(|t| TYPE_NAMES.contains(&t)) && !out.contains(t) {
                            out.push(t.clone());
                        }
                    }
                    (!out.is_empty()).then_some(Value::Array(out))
                }
                _ => None,
            }
        }
        "required" => {
            let Value::Array(items) = v else { return None };
            let mut out: Vec<Value> = Vec::new();
            for r in items {
                if r.is_string() && !out.contains(r) {
                    out.push(r.clone());
                }
            }
            return Some(Value::Array(out));
        }
        "enum" => v.is_array(),
        "pattern" | "format" | "title" | "description" | "$comment" | "contentMediaType"
        | "contentEncoding" => v.is_string(),
        "multipleOf" => v.as_f64().is_some_and(|f| f > 0.0),
        "minimum" | "maximum" => v.is_number(),
        // booleans are draft-4 style, rewritten by `fix_boolean_bounds`
        "exclusiveMinimum" | "exclusiveMaximum" => v.is_number() || v.is_boolean(),
        "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties"
        | "minContains" | "maxContains" => non_negative_int(v),
        "uniqueItems" | "readOnly" | "writeOnly" | "deprecated" => v.is_boolean(),
        "dependentRequired" => v.as_object().is_some_and(|m| {
            m.values()
                .all(|r| r.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
        }),
        _ => true,
    };
    ok.then(|| v.clone())
}

/// Draft-4 `exclusiveMinimum: true` + `minimum: n` → 2020-12 `exclusiveMinimum: n`.
fn fix_boolean_bounds(out: &mut Map<String, Value>) {
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(b)) = out.get(flag).cloned() {
            out.remove(flag);
            if b {
                if let Some(n) = out.remove(bound) {
                    out.insert(flag.into(), n);
                }
            }
        }
    }
}

/// Collects the `$defs` reachable from `schema` (transitively) out of `table`.
pub fn reachable_defs(schema: &Value, table: &BTreeMap<String, Arc<Value>>) -> Map<String, Value> {
    reachable_defs_of(std::iter::once(schema), table)
}

/// [`reachable_defs`] for several roots (e.g. the values of a schema object).
pub fn reachable_defs_of<'v>(
    roots: impl Iterator<Item = &'v Value>,
    table: &BTreeMap<String, Arc<Value>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let mut stack = Vec::new();
    roots.for_each(|r| collect_refs(r, &mut stack));
    while let Some(name) = stack.pop() {
        if out.contains_key(&name) {
            continue;
        }
        if let Some(body) = table.get(&name) {
            collect_refs(body, &mut stack);
            out.insert(name, (**body).clone());
        }
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                if let Some(n) = r.strip_prefix("#/$defs/") {
                    out.push(n.to_string());
                }
            }
            m.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(
        doc: Value,
        dialect: Dialect,
        schema: Value,
    ) -> (Value, BTreeMap<String, Arc<Value>>) {
        let docs = DocSet::from_value(doc);
        let root = docs.root().to_path_buf();
        let mut c = SchemaCompiler::new(&docs, dialect);
        let out = c.compile(&root, &schema);
        (out, c.into_defs())
    }

    #[test]
    fn recursive_schema_terminates() {
        let doc = json!({"components": {"schemas": {"Node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}}}});
        let (out, defs) = compile(
            doc,
            Dialect::Oas30,
            json!({"$ref": "#/components/schemas/Node"}),
        );
        assert_eq!(out, json!({"$ref": "#/$defs/Node"}));
        assert_eq!(
            defs["Node"]["properties"]["children"]["items"],
            json!({"$ref": "#/$defs/Node"})
        );
    }

    #[test]
    fn nullable_and_exclusive() {
        let (out, _) = compile(
            json!({}),
            Dialect::Oas30,
            json!({"type": "integer", "nullable": true, "minimum": 1, "exclusiveMinimum": true, "example": 3}),
        );
        assert_eq!(
            out,
            json!({"type": ["integer", "null"], "exclusiveMinimum": 1, "examples": [3]})
        );
    }

    #[test]
    fn all_of_merged() {
        let doc = json!({"components": {"schemas": {
            "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}}}});
        let (out, _) = compile(
            doc,
            Dialect::Oas30,
            json!({"allOf": [{"$ref": "#/components/schemas/Base"},
                {"type": "object", "properties": {"name": {"type": "string"}}}]}),
        );
        assert_eq!(out["properties"]["id"], json!({"type": "integer"}));
        assert_eq!(out["properties"]["name"], json!({"type": "string"}));
        assert_eq!(out["required"], json!(["id"]));
        assert!(out.get("allOf").is_none());
    }

    #[test]
    fn junk_keywords_dropped() {
        let (out, _) = compile(
            json!({}),
            Dialect::Oas31,
            json!({"type": "object", "required": [1, "a", "a"], "properties": {
                "a": {"type": "string", "pattern": 0, "minLength": -1, "maxLength": 3},
                "b": {"type": {"type": "string"}, "enum": "x", "exclusiveMaximum": true, "maximum": 5},
                "c": {"type": ["int", "string", "string", "null"]}}}),
        );
        assert_eq!(out["required"], json!(["a"]));
        assert_eq!(
            out["properties"]["a"],
            json!({"type": "string", "maxLength": 3})
        );
        assert_eq!(out["properties"]["b"], json!({"exclusiveMaximum": 5}));
        assert_eq!(out["properties"]["c"]["type"], json!(["string", "null"]));
        assert!(jsonschema::meta::is_valid(&out));
        let (file, _) = compile(json!({}), Dialect::Swagger2, json!({"type": "file"}));
        assert_eq!(file, json!({"type": "string", "format": "binary"}));
    }

    #[test]
    fn all_of_with_union_kept() {
        let (out, _) = compile(
            json!({}),
            Dialect::Oas31,
            json!({"allOf": [{"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"type": "object"}]}),
        );
        assert!(out.get("allOf").is_some());
    }
}
