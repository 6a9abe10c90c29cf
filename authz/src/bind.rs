//! Turns an [`Input`] into CEL variables. Values borrow from the input (strings are not copied)
//! and only the variables the rule set reads are built; a tool call's `arguments`, which can be
//! large, only when a rule reads them.

use std::borrow::Cow;
use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use cel::Context;
use serde_json::{Map, Value};

use crate::input::{Input, McpItem, McpKind, RequestView};
use crate::refs::Needs;

type Boxed<'v> = Box<dyn Val + 'v>;

/// How `mcp.tool.arguments` is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arguments {
    /// The call's arguments (an empty map when it has none).
    Given,
    /// Left out of `mcp.tool`, so any read of them fails: used when filtering a list, where the
    /// arguments are not known yet.
    Unknown,
}

/// Adds the variables `needs` asks for to `ctx`.
pub(crate) fn bind<'v>(
    ctx: &mut Context<'_, 'v>,
    input: &Input<'v>,
    needs: &Needs,
    arguments: Arguments,
) {
    let id = &input.identity;
    if needs.jwt {
        let jwt = id.jwt.map(object).unwrap_or_else(|| empty_map());
        ctx.add_variable_as_val("jwt", jwt);
    }
    if needs.api_key {
        let (name, metadata) = match id.api_key {
            Some(k) => (
                k.name,
                k.metadata.map(object).unwrap_or_else(|| empty_map()),
            ),
            None => ("", empty_map()),
        };
        ctx.add_variable_as_val(
            "apiKey",
            fields([("name", string(name)), ("metadata", metadata)]),
        );
    }
    if needs.basic_auth {
        let username = id.basic_auth.map(|b| b.username).unwrap_or("");
        ctx.add_variable_as_val("basicAuth", fields([("username", string(username))]));
    }
    if needs.request {
        ctx.add_variable_as_val("request", request(&input.request));
    }
    if needs.mcp {
        let (method, item) = match &input.mcp {
            Some(m) => (m.method, m.item),
            None => ("", None),
        };
        let mcp = fields([
            ("method", string(method)),
            ("tool", mcp_item(item, McpKind::Tool, needs, arguments)),
            ("prompt", mcp_item(item, McpKind::Prompt, needs, arguments)),
            (
                "resource",
                mcp_item(item, McpKind::Resource, needs, arguments),
            ),
        ]);
        ctx.add_variable_as_val("mcp", mcp);
    }
}

/// `mcp.tool` / `mcp.prompt` / `mcp.resource`. The kinds the item is not have empty `target`
/// and `name` (and empty `arguments`), so that `deny: mcp.tool.name == "x"` simply does not
/// match a prompt instead of failing on it.
fn mcp_item<'v>(
    item: Option<McpItem<'v>>,
    kind: McpKind,
    needs: &Needs,
    arguments: Arguments,
) -> Boxed<'v> {
    let this = item.filter(|i| i.kind == kind);
    let (target, name) = this.map(|i| (i.target, i.name)).unwrap_or(("", ""));
    if kind != McpKind::Tool {
        return fields([("target", string(target)), ("name", string(name))]);
    }
    let mut map = vec![("target", string(target)), ("name", string(name))];
    match (this, arguments) {
        // A known tool whose arguments are not known yet: leave them out.
        (Some(_), Arguments::Unknown) => {}
        (Some(i), Arguments::Given) if needs.tool_arguments => map.push((
            "arguments",
            i.arguments.map(object).unwrap_or_else(|| empty_map()),
        )),
        _ => map.push(("arguments", empty_map())),
    }
    fields(map)
}

fn request<'v>(r: &RequestView<'v>) -> Boxed<'v> {
    let mut headers: HashMap<CelMapKey<'v>, Boxed<'v>> =
        HashMap::with_capacity(r.headers.keys_len());
    for name in r.headers.keys() {
        let mut values = r
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(first) = values.next() else { continue };
        let value: Cow<'v, str> = match values.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut joined = format!("{first}, {second}");
                for v in values {
                    joined.push_str(", ");
                    joined.push_str(v);
                }
                Cow::Owned(joined)
            }
        };
        headers.insert(
            CelMapKey::from(name.as_str()),
            Box::new(CelString::from(value)),
        );
    }
    let source = r.source_address.map(|a| a.to_string()).unwrap_or_default();
    fields([
        ("method", string(r.method)),
        ("path", string(r.path)),
        ("headers", Box::new(CelMap::from(headers)) as Boxed<'v>),
        ("sourceAddress", Box::new(CelString::from(source))),
    ])
}

fn string(s: &str) -> Boxed<'_> {
    Box::new(CelString::from(s))
}

fn empty_map<'v>() -> Boxed<'v> {
    Box::new(CelMap::from(HashMap::new()))
}

fn fields<'v>(entries: impl IntoIterator<Item = (&'static str, Boxed<'v>)>) -> Boxed<'v> {
    let map: HashMap<CelMapKey<'v>, Boxed<'v>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(map))
}

fn object(map: &Map<String, Value>) -> Boxed<'_> {
    let map: HashMap<CelMapKey<'_>, Boxed<'_>> = map
        .iter()
        .map(|(k, v)| (CelMapKey::from(k.as_str()), json(v)))
        .collect();
    Box::new(CelMap::from(map))
}

/// A JSON value as CEL sees it: integers that fit `i64` are `int` (so `amount < 100` works),
/// larger ones `uint`, others `double`.
pub(crate) fn json(value: &Value) -> Boxed<'_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => string(s),
        Value::Array(items) => Box::new(CelList::from(items.iter().map(json).collect::<Vec<_>>())),
        Value::Object(map) => object(map),
    }
}
