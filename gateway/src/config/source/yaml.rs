//! Stage 1: YAML to a tree with positions.
//!
//! The file is read with yaml-rust2's event parser (YAML 1.2; JSON is a subset, so `.json` files
//! take the same path and get lines too). Rules:
//! - one document per file; a second `---` document is an error;
//! - a key may appear once per mapping (a duplicate is an error at its line; the first one counts);
//! - keys are scalars, taken as strings (`1:` is the key `"1"`); complex keys are an error;
//! - plain (unquoted) scalars resolve by the YAML 1.2 core schema: `null`/`~`/empty, `true`/`false`,
//!   integers (decimal, `0o` octal, `0x` hex), floats; `.inf` and `.nan` stay strings (JSON has
//!   no such numbers). Quoted and block (`|`, `>`) scalars and `!!str` are strings. Other tags
//!   than the core ones (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`) are
//!   errors;
//! - anchors and aliases are supported: an alias is a copy of the anchored value (positions of
//!   the copy point at the anchored text). Merge keys (`<<: *base`) are not YAML 1.2 and are an
//!   error that says so.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::issues::Issues;
use super::paths::{child_key, Pos};

/// Deepest nesting of mappings and sequences accepted.
const MAX_DEPTH: usize = 128;
/// Most nodes that aliases may copy in one file (guards against "billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarKind {
    /// Unquoted: resolved by the core schema.
    Plain,
    /// Quoted, block, or tagged `!!str`: a string.
    Text,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Scalar {
        text: String,
        kind: ScalarKind,
        pos: Pos,
    },
    Seq {
        items: Vec<Node>,
        pos: Pos,
    },
    Map {
        entries: Vec<(String, Pos, Node)>,
        pos: Pos,
    },
}

impl Node {
    pub(super) fn pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, .. } | Node::Seq { pos, .. } | Node::Map { pos, .. } => *pos,
        }
    }

    fn size(&self) -> usize {
        match self {
            Node::Scalar { .. } => 1,
            Node::Seq { items, .. } => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map { entries, .. } => {
                1 + entries.iter().map(|(_, _, n)| n.size()).sum::<usize>()
            }
        }
    }
}

/// A fatal YAML error: where and what.
pub(super) struct Fatal(pub(super) Pos, pub(super) String);

type Events<'a> = Parser<std::str::Chars<'a>>;

/// Parses the single document of `text`. `Ok(None)` for a file without a document.
/// Non-fatal problems (duplicate keys, tags) go to `issues`.
pub(super) fn parse_yaml(text: &str, issues: &mut Issues) -> Result<Option<Node>, Fatal> {
    let text = protect_vars(text);
    let mut parser = Parser::new_from_str(&text);
    let mut yaml = Yaml {
        anchors: HashMap::new(),
        alias_nodes: 0,
        issues,
    };
    let mut root = None;
    loop {
        let (event, mark) = next(&mut parser)?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => return Ok(root),
            Event::DocumentStart => {
                if root.is_some() {
                    return Err(Fatal(
                        mark.into(),
                        "a second YAML document: a config file holds exactly one (remove the `---`)"
                            .into(),
                    ));
                }
                let (event, mark) = next(&mut parser)?;
                root = Some(yaml.node(&mut parser, event, mark, "", 0)?);
            }
            other => {
                return Err(Fatal(
                    mark.into(),
                    format!("unexpected YAML event {other:?}"),
                ))
            }
        }
    }
}

/// Stand-ins for the braces of `${VAR}` while YAML is parsed.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Replaces the braces of every `${NAME}` (NAME of ASCII letters, digits and `_`) with private-use
/// characters, so that an unquoted `${VAR}` is one plain scalar even inside a flow collection
/// (`{ value: ${KEY} }`), where YAML would otherwise end the scalar at `{`. Same number of
/// characters, so positions do not move. [`restore_vars`] undoes it in every scalar.
fn protect_vars(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("${") || text.contains([OPEN, CLOSE]) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i + 1]);
        let body = &rest[i + 2..];
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        if name_len > 0 && body[name_len..].starts_with('}') {
            out.push(OPEN);
            out.push_str(&body[..name_len]);
            out.push(CLOSE);
            rest = &body[name_len + 1..];
        } else {
            out.push('{');
            rest = body;
        }
    }
    out.push_str(rest);
    out.into()
}

fn restore_vars(text: String) -> String {
    if text.contains([OPEN, CLOSE]) {
        text.replace(OPEN, "{").replace(CLOSE, "}")
    } else {
        text
    }
}

fn next(parser: &mut Events<'_>) -> Result<(Event, Marker), Fatal> {
    parser.next_token().map_err(|e| {
        Fatal(
            Pos::from(*e.marker()),
            format!("invalid YAML: {}", e.info()),
        )
    })
}

struct Yaml<'i> {
    anchors: HashMap<usize, Node>,
    alias_nodes: usize,
    issues: &'i mut Issues,
}

fn is_core_tag(tag: &Tag) -> bool {
    tag.handle == "tag:yaml.org,2002:"
        && matches!(
            tag.suffix.as_str(),
            "str" | "int" | "float" | "bool" | "null" | "map" | "seq"
        )
}

fn tag_name(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

impl Yaml<'_> {
    fn check_tag(&mut self, tag: &Option<Tag>, path: &str, pos: Pos) {
        if let Some(tag) = tag {
            if !is_core_tag(tag) {
                self.issues.push(
                    path,
                    Some(pos),
                    format!("unsupported YAML tag `{}`", tag_name(tag)),
                );
            }
        }
    }

    fn node(
        &mut self,
        parser: &mut Events<'_>,
        event: Event,
        mark: Marker,
        path: &str,
        depth: usize,
    ) -> Result<Node, Fatal> {
        let pos = Pos::from(mark);
        if depth > MAX_DEPTH {
            return Err(Fatal(
                pos,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.check_tag(&tag, path, pos);
                let forced_str = tag
                    .as_ref()
                    .is_some_and(|t| is_core_tag(t) && t.suffix == "str");
                let kind = if style == TScalarStyle::Plain && !forced_str {
                    ScalarKind::Plain
                } else {
                    ScalarKind::Text
                };
                let text = restore_vars(text);
                (Node::Scalar { text, kind, pos }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(&tag, path, pos);
                let mut items = Vec::new();
                loop {
                    let (event, mark) = next(parser)?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    let item_path = format!("{path}[{}]", items.len());
                    items.push(self.node(parser, event, mark, &item_path, depth + 1)?);
                }
                (Node::Seq { items, pos }, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(&tag, path, pos);
                let mut entries: Vec<(String, Pos, Node)> = Vec::new();
                loop {
                    let (event, mark) = next(parser)?;
                    if event == Event::MappingEnd {
                        break;
                    }
                    let key_pos = Pos::from(mark);
                    let key_node = self.node(parser, event, mark, path, depth + 1)?;
                    let (key, key_plain) = match key_node {
                        Node::Scalar { text, kind, .. } => (Some(text), kind == ScalarKind::Plain),
                        _ => (None, false),
                    };
                    let (event, mark) = next(parser)?;
                    let key_path = child_key(path, key.as_deref().unwrap_or("?"));
                    let value = self.node(parser, event, mark, &key_path, depth + 1)?;
                    let Some(key) = key else {
                        self.issues.push(
                            path,
                            Some(key_pos),
                            "a mapping key must be a plain or quoted string, not a mapping or list"
                                .into(),
                        );
                        continue;
                    };
                    if key == "<<" && key_plain {
                        self.issues.push(
                            &key_path,
                            Some(key_pos),
                            "YAML merge keys (`<<`) are not supported: repeat the keys, or use an \
                             alias (`*name`) for a whole value"
                                .into(),
                        );
                        continue;
                    }
                    if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| *k == key) {
                        self.issues.push(
                            &key_path,
                            Some(key_pos),
                            format!(
                                "duplicate key `{key}` (first at line {}); a key may appear once",
                                first.line
                            ),
                        );
                        continue;
                    }
                    entries.push((key, key_pos, value));
                }
                // A block mapping's start is marked at its first `:`; its first key is where a
                // reader looks (a flow mapping's `{` comes first and stays).
                let pos = match entries.first() {
                    Some((_, first, _)) if (first.line, first.column) < (pos.line, pos.column) => {
                        *first
                    }
                    _ => pos,
                };
                (Node::Map { entries, pos }, anchor)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return Err(Fatal(pos, "alias to an anchor that is not complete".into()));
                };
                self.alias_nodes += node.size();
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(Fatal(
                        pos,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} values"),
                    ));
                }
                return Ok(node.clone());
            }
            other => {
                return Err(Fatal(pos, format!("unexpected YAML event {other:?}")));
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::{env_of, errors, load_ok, summary};
    use super::super::Source;

    #[test]
    fn yaml_syntax_error_reports_its_line() {
        let text = "binds: []\nconfig:\n  adminAddr: a: b\n";
        let diags = errors(text, &[]);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].line, Some(3));
        assert!(
            diags[0].message.starts_with("invalid YAML: "),
            "{}",
            diags[0].message
        );
        let diags = errors("binds:\n- port: 1\n  listeners: [\n", &[]);
        assert_eq!(diags.len(), 1);
        assert!(diags[0].line.unwrap() >= 3, "{:?}", diags[0]);
    }

    #[test]
    fn duplicate_keys_are_errors_at_their_line() {
        let text = "\
binds:
- port: 1
  listeners: []
  port: 2
config: {}
config: { adminAddr: x }
";
        let diags = errors(text, &[]);
        assert_eq!(
            summary(&diags),
            vec![
                (
                    4,
                    "binds[0].port".into(),
                    "duplicate key `port` (first at line 2); a key may appear once".into()
                ),
                (
                    6,
                    "config".into(),
                    "duplicate key `config` (first at line 5); a key may appear once".into()
                ),
            ]
        );
        assert_eq!(diags[0].column, Some(3));
    }

    #[test]
    fn json_input_works_with_lines() {
        let text = "{\n  \"config\": {\"adminAddr\": \"127.0.0.1:1\"},\n  \"binds\": [\n    {\n      \"port\": 8080,\n      \"listeners\": [{\"name\": \"main\", \"routes\": []}]\n    }\n  ]\n}\n";
        let source = Source::from_str(text, Path::new("gw.json"), &env_of(&[])).unwrap();
        assert_eq!(source.file.binds[0].port, 8080);
        let d = source.diagnostic("binds[0].port", "m");
        assert_eq!((d.line, d.column), (Some(5), Some(7)));
        let d = source.diagnostic("binds[0].listeners[0].name", "m");
        assert_eq!(d.line, Some(6));

        let bad = text.replace("\"port\": 8080", "\"port\": 8080, \"prot\": 1");
        let diags = Source::from_str(&bad, Path::new("gw.json"), &env_of(&[]))
            .unwrap_err()
            .0;
        assert_eq!(
            summary(&diags),
            vec![(
                5,
                "binds[0].prot".into(),
                "unknown key `prot`, did you mean `port`?".into()
            )]
        );
        // Tabs as JSON whitespace.
        let tabbed = "{\n\t\"binds\": [\n\t\t{\"port\": 1, \"listeners\": []}\n\t]\n}\n";
        let source = Source::from_str(tabbed, Path::new("gw.json"), &env_of(&[])).unwrap();
        assert_eq!(source.file.binds[0].port, 1);
    }

    #[test]
    fn documents_aliases_merge_keys_and_tags() {
        // One document only.
        let d = errors("binds: []\n---\nbinds: []\n", &[]);
        assert_eq!((d[0].line, d.len()), (Some(2), 1));
        assert!(d[0].message.contains("second YAML document"));
        // A leading `---` is fine; so is an alias.
        let text = "\
---
binds:
- port: 1
  listeners:
  - name: a
    routes:
    - name: r
      policies: &common { retry: { attempts: 2 } }
    - name: s
      policies: *common
";
        let source = load_ok(text, &[]);
        let routes = &source.file.binds[0].listeners[0].routes;
        assert_eq!(
            routes[1]
                .policies
                .as_ref()
                .unwrap()
                .retry
                .as_ref()
                .unwrap()
                .attempts,
            Some(2)
        );
        // Merge keys are rejected with a reason.
        let text = "base: &b { port: 1 }\n";
        let d = errors(&format!("{text}binds:\n- <<: *b\n  listeners: []\n"), &[]);
        assert!(
            d.iter()
                .any(|d| d.line == Some(3) && d.message.contains("merge keys")),
            "{d:?}"
        );
        // `!!str` makes a string; unknown tags are errors.
        let d = errors("config: { adminAddr: !!str 1 }\nbinds: !custom []\n", &[]);
        assert_eq!(
            summary(&d),
            vec![(2, "binds".into(), "unsupported YAML tag `!custom`".into())]
        );
        // Empty file.
        let d = errors("# nothing\n", &[]);
        assert_eq!(d[0].message, "the config file is empty");
        // A root that is not a mapping.
        let d = errors("- 1\n", &[]);
        assert_eq!(d[0].message, "expected a mapping, found a list");
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let d = errors(&text, &[]);
        assert!(d[0].message.contains("aliases expand"), "{d:?}");
    }
}
