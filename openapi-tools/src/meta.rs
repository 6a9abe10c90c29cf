//! Meta-tool mode: three tools instead of one per operation, for APIs too large to list.
//!
//! * `search_operations {query, tag?, limit?}` ranks the operations by the query's words
//!   against each operation's tool name, summary, path, tags and description (rarer words
//!   weigh more) and returns at most `limit` (default 10, at most 50) names with their method,
//!   path and summary, plus how many matched in all.
//! * `describe_operation {name}` returns one operation's full tool definition: description,
//!   method and path, `inputSchema` (with its `$defs`), `outputSchema` and annotations.
//! * `call_operation {name, arguments}` runs the operation exactly as its own tool would: the
//!   arguments are validated against the same input schema, before any request.
//!
//! Only the operations the `tools:` selection lets through can be found, described or called,
//! so the selection is the authorisation boundary in both modes. An unknown operation name is a
//! tool result with `isError: true` (the meta-tool itself exists) that suggests close matches.

use std::collections::HashSet;
use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Map, Value};

use crate::response::tool_error;
use crate::toolset::OpenApiTools;

/// Name of the search meta-tool.
pub const SEARCH: &str = "search_operations";
/// Name of the describe meta-tool.
pub const DESCRIBE: &str = "describe_operation";
/// Name of the call meta-tool.
pub const CALL: &str = "call_operation";
/// Results returned by a search when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 10;
/// Upper bound on `limit`.
pub const MAX_LIMIT: usize = 50;

/// Field weights for ranking: a word in the tool name counts most.
const W_NAME: f64 = 3.0;
const W_SUMMARY: f64 = 2.0;
const W_PATH: f64 = 2.0;
const W_TAG: f64 = 1.5;
const W_DESCRIPTION: f64 = 1.0;

/// One operation's searchable words.
struct Entry {
    name: HashSet<String>,
    summary: HashSet<String>,
    path: HashSet<String>,
    tags: HashSet<String>,
    description: HashSet<String>,
    /// Tags as written, for the `tag` filter.
    raw_tags: Vec<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub score: f64,
}

/// The three meta-tools over one API's tool set.
pub struct MetaTools {
    tools: Arc<OpenApiTools>,
    index: Vec<Entry>,
    list: Vec<Tool>,
}

impl std::fmt::Debug for MetaTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaTools")
            .field("operations", &self.index.len())
            .finish()
    }
}

impl MetaTools {
    /// Indexes the operations of `tools` (only those the selection exposed).
    pub fn new(tools: Arc<OpenApiTools>) -> Self {
        let model = tools.model();
        let index = tools
            .tool_defs()
            .iter()
            .map(|d| {
                let op = &model.operations[d.op_index];
                Entry {
                    name: words(&d.tool.name),
                    summary: words(op.summary.as_deref().unwrap_or("")),
                    path: words(&op.path),
                    tags: op.tags.iter().flat_map(|t| words(t)).collect(),
                    description: words(op.description.as_deref().unwrap_or("")),
                    raw_tags: op.tags.clone(),
                }
            })
            .collect();
        let list = definitions(&model.title, tools.len());
        MetaTools { tools, index, list }
    }

    /// The three tool definitions.
    pub fn tools(&self) -> &[Tool] {
        &self.list
    }

    /// Ranks the operations for `query`; returns the best `limit` and the number that matched.
    /// An empty query lists operations in document order (filtered by `tag`).
    pub fn search(&self, query: &str, tag: Option<&str>, limit: usize) -> (Vec<Hit>, usize) {
        let limit = limit.clamp(1, MAX_LIMIT);
        let terms: Vec<String> = {
            let mut seen = HashSet::new();
            tokens(query).filter(|t| seen.insert(t.clone())).collect()
        };
        let allowed =
            |e: &Entry| tag.is_none_or(|t| e.raw_tags.iter().any(|x| x.eq_ignore_ascii_case(t)));
        let n = self.index.len() as f64;
        // document frequency per term, for the rarity weight
        let idf: Vec<f64> = terms
            .iter()
            .map(|t| {
                let df = self
                    .index
                    .iter()
                    .filter(|e| field_weight(e, t) > 0.0)
                    .count() as f64;
                ((n + 1.0) / (df + 0.5)).ln().max(0.1)
            })
            .collect();
        let mut scored: Vec<(f64, usize)> = self
            .index
            .iter()
            .enumerate()
            .filter(|(_, e)| allowed(e))
            .filter_map(|(i, e)| {
                if terms.is_empty() {
                    return Some((0.0, i));
                }
                let mut score = 0.0;
                let mut matched = 0;
                for (t, w) in terms.iter().zip(&idf) {
                    let f = field_weight(e, t);
                    if f > 0.0 {
                        matched += 1;
                        score += f * w;
                    }
                }
                // operations matching every word of the query come first
                (matched > 0).then(|| (score * (1.0 + matched as f64 / terms.len() as f64), i))
            })
            .collect();
        let total = scored.len();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let model = self.tools.model();
        let hits = scored
            .into_iter()
            .take(limit)
            .map(|(score, i)| {
                let d = &self.tools.tool_defs()[i];
                let op = &model.operations[d.op_index];
                Hit {
                    name: d.tool.name.to_string(),
                    method: op.method.clone(),
                    path: op.path.clone(),
                    summary: short_summary(op.summary.as_deref(), op.description.as_deref()),
                    score,
                }
            })
            .collect();
        (hits, total)
    }

    /// Runs a meta-tool; `None` when `name` is none of the three (a protocol error).
    pub async fn call(
        &self,
        name: &str,
        args: Option<Map<String, Value>>,
    ) -> Option<CallToolResult> {
        let args = args.unwrap_or_default();
        Some(match name {
            SEARCH => self.call_search(&args),
            DESCRIBE => self.call_describe(&args),
            CALL => self.call_operation(args).await,
            _ => return None,
        })
    }

    fn call_search(&self, args: &Map<String, Value>) -> CallToolResult {
        if let Err(e) = check_args(args, &["query", "tag", "limit"], &["query"]) {
            return e;
        }
        let Some(query) = args.get("query").and_then(Value::as_str) else {
            return tool_error("invalid arguments: query must be a string");
        };
        let tag = match args.get("tag") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.as_str()),
            Some(_) => return tool_error("invalid arguments: tag must be a string"),
        };
        let limit = match args.get("limit") {
            None | Some(Value::Null) => DEFAULT_LIMIT,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => n as usize,
                _ => {
                    return tool_error(format!(
                        "invalid arguments: limit must be an integer from 1 to {MAX_LIMIT}"
                    ))
                }
            },
        };
        let (hits, total) = self.search(query, tag, limit);
        let mut text = format!("{} of {total} matching operations:", hits.len());
        for h in &hits {
            text.push_str(&format!("\n{} — {} {}", h.name, h.method, h.path));
            if !h.summary.is_empty() {
                text.push_str(&format!(" — {}", h.summary));
            }
        }
        if hits.is_empty() {
            text = format!("no operation matches {query:?}; try other words");
        }
        let results: Vec<Value> = hits
            .iter()
            .map(|h| json!({"name": h.name, "method": h.method, "path": h.path, "summary": h.summary}))
            .collect();
        let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
        r.structured_content = Some(json!({"total": total, "results": results}));
        r
    }

    fn call_describe(&self, args: &Map<String, Value>) -> CallToolResult {
        if let Err(e) = check_args(args, &["name"], &["name"]) {
            return e;
        }
        let Some(name) = args.get("name").and_then(Value::as_str) else {
            return tool_error("invalid arguments: name must be a string");
        };
        let Some(tool) = self.tools.tool(name) else {
            return self.unknown(name);
        };
        let (method, path) = self
            .tools
            .tool_def(name)
            .map(|d| &self.tools.model().operations[d.op_index])
            .map(|op| (op.method.clone(), op.path.clone()))
            .unwrap_or_default();
        let mut out = json!({
            "name": tool.name,
            "method": method,
            "path": path,
            "description": tool.description,
            "inputSchema": Value::Object((*tool.input_schema).clone()),
        });
        if let Some(o) = &tool.output_schema {
            out["outputSchema"] = Value::Object((**o).clone());
        }
        if let Some(a) = &tool.annotations {
            out["annotations"] = serde_json::to_value(a).unwrap_or(Value::Null);
        }
        let text = serde_json::to_string_pretty(&out).unwrap_or_default();
        let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
        r.structured_content = Some(out);
        r
    }

    async fn call_operation(&self, mut args: Map<String, Value>) -> CallToolResult {
        if let Err(e) = check_args(&args, &["name", "arguments"], &["name"]) {
            return e;
        }
        let Some(Value::String(name)) = args.remove("name") else {
            return tool_error("invalid arguments: name must be a string");
        };
        let inner = match args.remove("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return tool_error("invalid arguments: arguments must be an object"),
        };
        match self.tools.call(&name, inner).await {
            Some(r) => r,
            None => self.unknown(&name),
        }
    }

    fn unknown(&self, name: &str) -> CallToolResult {
        let (hits, _) = self.search(name, None, 5);
        let mut msg = format!("no operation is named {name:?}");
        if !hits.is_empty() {
            let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
            msg.push_str(&format!("; close matches: {}", names.join(", ")));
        }
        msg.push_str(&format!(" (use {SEARCH} to find operations)"));
        tool_error(msg)
    }
}

/// Rejects unknown and missing arguments, listing each (the meta-tools' own schemas are tiny,
/// so this is checked by hand rather than with a compiled validator).
fn check_args(
    args: &Map<String, Value>,
    known: &[&str],
    required: &[&str],
) -> Result<(), CallToolResult> {
    let mut errs: Vec<String> = args
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| format!("{k}: unknown argument"))
        .collect();
    errs.extend(
        required
            .iter()
            .filter(|r| !args.contains_key(**r))
            .map(|r| format!("{r}: required")),
    );
    if errs.is_empty() {
        Ok(())
    } else {
        Err(tool_error(format!(
            "invalid arguments:\n- {}",
            errs.join("\n- ")
        )))
    }
}

/// Best weight among the fields that contain `term` (exact word, or a prefix of one for terms
/// of 3+ characters at half weight); 0 when none does.
fn field_weight(e: &Entry, term: &str) -> f64 {
    let fields = [
        (&e.name, W_NAME),
        (&e.summary, W_SUMMARY),
        (&e.path, W_PATH),
        (&e.tags, W_TAG),
        (&e.description, W_DESCRIPTION),
    ];
    let mut best: f64 = 0.0;
    for (set, w) in fields {
        if set.contains(term) {
            best = best.max(w);
        } else if term.len() >= 3 && set.iter().any(|x| x.starts_with(term)) {
            best = best.max(w / 2.0);
        }
    }
    best
}

/// Lower-case words of a text, camelCase and snake_case split: `listPetsByTag` → list, pets, by, tag.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .flat_map(split_camel)
        .map(|w| w.to_lowercase())
        .filter(|w| w.len() >= 2)
}

fn words(text: &str) -> HashSet<String> {
    tokens(text).collect()
}

fn split_camel(word: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    for w in chars.windows(2) {
        let ((_, a), (j, b)) = (w[0], w[1]);
        if (a.is_lowercase() || a.is_ascii_digit()) && b.is_uppercase() {
            out.push(&word[start..j]);
            start = j;
        }
    }
    if start < word.len() {
        out.push(&word[start..]);
    }
    out
}

/// The summary, else the description's first line, cut to 160 characters.
fn short_summary(summary: Option<&str>, description: Option<&str>) -> String {
    let s = summary
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| description.and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty())))
        .unwrap_or("");
    if s.chars().count() > 160 {
        s.chars().take(159).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

fn definitions(title: &str, count: usize) -> Vec<Tool> {
    let read_only = ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false);
    vec![
        Tool::new(
            SEARCH,
            format!(
                "Search the {count} operations of the {title} API by keywords (e.g. \"list \
                 repository issues\"). Returns the best matches (name, method, path, summary); \
                 then use {DESCRIBE} for an operation's arguments and {CALL} to run it."
            ),
            object(json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words describing what you want to do"},
                    "tag": {"type": "string", "description": "Only operations with this tag"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT, "description": "How many results to return"}
                },
                "required": ["query"],
                "additionalProperties": false
            })),
        )
        .with_annotations(read_only.clone()),
        Tool::new(
            DESCRIBE,
            format!(
                "Describe one operation of the {title} API: what it does, its HTTP method and \
                 path, and the JSON Schema of the arguments {CALL} takes for it."
            ),
            object(json!({
                "type": "object",
                "properties": {"name": {"type": "string", "description": format!("Operation name from {SEARCH}")}},
                "required": ["name"],
                "additionalProperties": false
            })),
        )
        .with_annotations(read_only),
        Tool::new(
            CALL,
            format!(
                "Call one operation of the {title} API with arguments matching its input schema \
                 (see {DESCRIBE}). Invalid arguments are reported field by field and nothing is sent."
            ),
            object(json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Operation name"},
                    "arguments": {"type": "object", "description": "The operation's arguments"}
                },
                "required": ["name"],
                "additionalProperties": false
            })),
        )
        .with_annotations(ToolAnnotations::new().open_world(true)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_splits_case_and_separators() {
        let t: Vec<String> = tokens("listPetsByTag /repos/{owner}/issue_comments v2API").collect();
        assert_eq!(
            t,
            ["list", "pets", "by", "tag", "repos", "owner", "issue", "comments", "v2", "api"]
        );
    }

    #[test]
    fn summary_falls_back_to_description() {
        assert_eq!(
            short_summary(None, Some("\n  First line\nsecond")),
            "First line"
        );
        assert_eq!(short_summary(Some(" S "), Some("D")), "S");
        assert_eq!(short_summary(None, None), "");
    }
}
