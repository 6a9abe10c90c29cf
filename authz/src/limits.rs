//! Bounds that keep compiling and evaluating a rule within the stack.
//!
//! The cel crate's ANTLR parser recurses deeply for each nesting level: in a debug build 15
//! nested parentheses overflow a 2 MiB stack (the size of a tokio worker's), which would abort
//! the gateway while it loads a config. So expressions are parsed on a thread of their own with
//! a large stack (reserved address space; only the pages used are touched), after a cheap check
//! of their length and bracket nesting, and the parsed tree's depth is bounded so that
//! evaluating it, which recurses once per level on the request's thread, stays shallow.

use cel::common::ast::{EntryExpr, Expr, IdedExpr};

/// Longest expression accepted, in bytes.
pub(crate) const MAX_SOURCE_LEN: usize = 4096;
/// Deepest nesting of `(`, `[` and `{` accepted.
pub(crate) const MAX_NESTING: usize = 24;
/// Deepest parsed tree accepted (what evaluation recurses through).
pub(crate) const MAX_DEPTH: usize = 48;
/// The stack of the thread that parses.
pub(crate) const COMPILE_STACK: usize = 64 << 20;

/// Why an expression is refused before or after parsing.
pub(crate) fn check_source(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE_LEN {
        return Err(format!("expression longer than {MAX_SOURCE_LEN} bytes"));
    }
    if nesting(source) > MAX_NESTING {
        return Err(format!("brackets nested deeper than {MAX_NESTING}"));
    }
    Ok(())
}

/// The deepest bracket nesting outside string literals (approximate for exotic literals: the
/// parse thread's stack and [`check_tree`] are what actually bound the work).
fn nesting(source: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' | '{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    max
}

/// Refuses a parsed tree deeper than [`MAX_DEPTH`]. Runs on the parse thread.
pub(crate) fn check_tree(expr: &IdedExpr) -> Result<(), String> {
    if depth(expr, 0) > MAX_DEPTH {
        return Err(format!("expression nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(())
}

fn depth(expr: &IdedExpr, at: usize) -> usize {
    let at = at + 1;
    if at > MAX_DEPTH {
        return at;
    }
    let children: Vec<&IdedExpr> = match &expr.expr {
        Expr::Unspecified | Expr::Literal(_) | Expr::Ident(_) => vec![],
        Expr::Select(s) => vec![&s.operand],
        Expr::Call(c) => c.target.iter().map(|t| &**t).chain(c.args.iter()).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(l) => l.elements.iter().collect(),
        Expr::Map(m) => m.entries.iter().flat_map(|e| entry(&e.expr)).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(|e| entry(&e.expr)).collect(),
    };
    children
        .into_iter()
        .map(|c| depth(c, at))
        .max()
        .unwrap_or(at)
}

fn entry(e: &EntryExpr) -> Vec<&IdedExpr> {
    match e {
        EntryExpr::StructField(f) => vec![&f.value],
        EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
    }
}
