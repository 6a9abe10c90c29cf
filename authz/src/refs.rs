//! What an expression reads, found by walking its parsed AST once at compile time.
//!
//! The cel crate's own `Program::references()` lists comprehension variables (`g` in
//! `jwt.groups.exists(g, g == "admin")`) as if they were top-level variables, and it drops the
//! field names, so this module walks the AST itself: it keeps the names bound by macros in scope,
//! and records every `root.field.field` chain. Those chains let [`check`] reject unknown
//! variables and misspelt fields of the fixed-shape variables, and tell the evaluator which
//! variables it must build (see [`Needs`]), in particular whether a rule reads the tool call's
//! `arguments`, which can be large.

use cel::common::ast::{EntryExpr, Expr, IdedExpr};

use crate::engine::Phase;

/// A `root.a.b` chain an expression reads, starting at a top-level identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path {
    /// The identifier: `jwt`, `request`, `mcp`, ...
    pub root: String,
    /// The selected fields after it, outermost last.
    pub fields: Vec<String>,
    /// The chain is a presence test, `has(root.a.b)`, on its last field.
    pub test: bool,
}

/// Every top-level chain in `expr`, in no particular order.
pub(crate) fn paths(expr: &IdedExpr) -> Vec<Path> {
    let mut out = Vec::new();
    walk(expr, &mut Vec::new(), &mut out);
    out
}

fn walk<'e>(expr: &'e IdedExpr, bound: &mut Vec<&'e str>, out: &mut Vec<Path>) {
    match &expr.expr {
        Expr::Unspecified | Expr::Literal(_) => {}
        Expr::Ident(_) | Expr::Select(_) => chain(expr, bound, out),
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                walk(target, bound, out);
            }
            for arg in &call.args {
                walk(arg, bound, out);
            }
        }
        Expr::Comprehension(comp) => {
            // The range and the initial accumulator are outside the loop's scope.
            walk(&comp.iter_range, bound, out);
            walk(&comp.accu_init, bound, out);
            let depth = bound.len();
            bound.push(&comp.iter_var);
            if let Some(v2) = &comp.iter_var2 {
                bound.push(v2);
            }
            bound.push(&comp.accu_var);
            walk(&comp.loop_cond, bound, out);
            walk(&comp.loop_step, bound, out);
            walk(&comp.result, bound, out);
            bound.truncate(depth);
        }
        Expr::List(list) => {
            for e in &list.elements {
                walk(e, bound, out);
            }
        }
        Expr::Map(map) => entries(map.entries.iter().map(|e| &e.expr), bound, out),
        Expr::Struct(s) => entries(s.entries.iter().map(|e| &e.expr), bound, out),
    }
}

fn entries<'e>(
    entries: impl Iterator<Item = &'e EntryExpr>,
    bound: &mut Vec<&'e str>,
    out: &mut Vec<Path>,
) {
    for entry in entries {
        match entry {
            EntryExpr::StructField(f) => walk(&f.value, bound, out),
            EntryExpr::MapEntry(m) => {
                walk(&m.key, bound, out);
                walk(&m.value, bound, out);
            }
        }
    }
}

/// Records `a.b.c` (or `has(a.b.c)`) when it starts at an identifier; otherwise walks the
/// operand that the fields are selected from.
fn chain<'e>(expr: &'e IdedExpr, bound: &mut Vec<&'e str>, out: &mut Vec<Path>) {
    let mut fields = Vec::new();
    let mut test = false;
    let mut cur = expr;
    loop {
        match &cur.expr {
            Expr::Select(s) => {
                if fields.is_empty() {
                    test = s.test;
                }
                fields.push(s.field.clone());
                cur = &s.operand;
            }
            Expr::Ident(name) => {
                // `@`-names are the accumulators macros generate.
                if name.starts_with('@') || bound.iter().any(|b| b == name) {
                    return;
                }
                fields.reverse();
                out.push(Path {
                    root: name.clone(),
                    fields,
                    test,
                });
                return;
            }
            _ => return walk(cur, bound, out),
        }
    }
}

/// Names CEL itself resolves: type names (`type(x) == string`) and the `optional` namespace.
const BUILTIN_IDENTS: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "dyn",
    "int",
    "list",
    "map",
    "null_type",
    "optional",
    "string",
    "type",
    "uint",
];

/// The fields of a fixed-shape object: the variable `root` after `fields`. `None` for free-form
/// maps (`jwt` claims, `apiKey.metadata`, `request.headers`, `mcp.tool.arguments`) and scalars.
fn known_fields(root: &str, fields: &[String]) -> Option<&'static [&'static str]> {
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    match (root, fields.as_slice()) {
        ("apiKey", []) => Some(&["name", "metadata"]),
        ("basicAuth", []) => Some(&["username"]),
        ("request", []) => Some(&["method", "path", "headers", "sourceAddress"]),
        ("mcp", []) => Some(&["method", "tool", "prompt", "resource"]),
        ("mcp", ["tool"]) => Some(&["target", "name", "arguments"]),
        ("mcp", ["prompt" | "resource"]) => Some(&["target", "name"]),
        _ => None,
    }
}

/// Why a chain may not be read in a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Not a variable at all (e.g. a typo, `jtw.sub`).
    UnknownVariable(String),
    /// A variable of another phase (`mcp` outside `mcpAuthorization`).
    NotInPhase(String),
    /// A field a fixed-shape variable does not have (`request.header`).
    UnknownField {
        path: String,
        known: &'static [&'static str],
    },
}

/// Checks that `path` names a variable `phase` provides, and a field it has.
pub(crate) fn check(phase: Phase, path: &Path) -> Result<(), PathError> {
    let root = path.root.as_str();
    match root {
        "jwt" | "apiKey" | "basicAuth" | "request" => {}
        "mcp" if phase == Phase::Mcp => {}
        "mcp" => return Err(PathError::NotInPhase(root.to_owned())),
        _ if BUILTIN_IDENTS.contains(&root) => return Ok(()),
        _ => return Err(PathError::UnknownVariable(root.to_owned())),
    }
    for depth in 0..path.fields.len() {
        let Some(known) = known_fields(root, &path.fields[..depth]) else {
            break;
        };
        if !known.contains(&path.fields[depth].as_str()) {
            let mut shown = vec![root];
            shown.extend(path.fields[..=depth].iter().map(String::as_str));
            return Err(PathError::UnknownField {
                path: shown.join("."),
                known,
            });
        }
    }
    Ok(())
}

/// The variables a compiled rule set must be given, so that evaluation builds only those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    pub jwt: bool,
    pub api_key: bool,
    pub basic_auth: bool,
    pub request: bool,
    pub mcp: bool,
    /// `mcp.tool.arguments` may be read (also when `mcp` or `mcp.tool` is used whole).
    pub tool_arguments: bool,
    /// The arguments are used in a way that does not fail when they are unknown (`mcp` or
    /// `mcp.tool` used whole, `has(mcp.tool.arguments)`), so listing cannot evaluate the rule.
    pub arguments_opaque: bool,
}

impl Needs {
    pub(crate) fn add(&mut self, path: &Path) {
        let f: Vec<&str> = path.fields.iter().map(String::as_str).collect();
        match path.root.as_str() {
            "jwt" => self.jwt = true,
            "apiKey" => self.api_key = true,
            "basicAuth" => self.basic_auth = true,
            "request" => self.request = true,
            "mcp" => {
                self.mcp = true;
                match f.as_slice() {
                    [] | ["tool"] => {
                        self.tool_arguments = true;
                        self.arguments_opaque = true;
                    }
                    ["tool", "arguments"] if path.test => {
                        self.tool_arguments = true;
                        self.arguments_opaque = true;
                    }
                    ["tool", "arguments", ..] => self.tool_arguments = true,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    pub(crate) fn union(self, o: Needs) -> Needs {
        Needs {
            jwt: self.jwt || o.jwt,
            api_key: self.api_key || o.api_key,
            basic_auth: self.basic_auth || o.basic_auth,
            request: self.request || o.request,
            mcp: self.mcp || o.mcp,
            tool_arguments: self.tool_arguments || o.tool_arguments,
            arguments_opaque: self.arguments_opaque || o.arguments_opaque,
        }
    }
}
