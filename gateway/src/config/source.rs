//! Loading a config file: YAML (or JSON) to a JSON value with positions, `${VAR}` expansion,
//! JSON Schema validation, and deserialization into [`ConfigFile`].
//!
//! Every stage collects all of its errors; the stages after a failing one still run where their
//! result means something, so one run of `switchboard validate` reports everything it can.
//!
//! # YAML
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
//!
//! # Key paths
//!
//! A key path names a value: keys joined with `.`, sequence indices in brackets, the empty string
//! for the whole document: `binds[0].listeners[0].routes[2].policies.retry.attempts`. A key made of
//! anything but ASCII letters, digits, `_` and `-` is written as a JSON string in brackets:
//! `policies.requestHeaderModifier.set["x.y"]`. [`Source::child_key`] and
//! [`Source::child_index`] build paths this way.
//!
//! # `${VAR}`
//!
//! `${VAR}` is replaced by the environment variable `VAR` in every scalar *value* (not in keys),
//! anywhere in the string and as often as it appears; `$${` is a literal `${`. `VAR` is
//! `[A-Za-z_][A-Za-z0-9_]*`. An unset variable is an error naming it. A plain scalar that is
//! exactly one `${VAR}` is resolved again after expansion, so `port: ${PORT}` is an integer (and
//! an empty variable there is `null`); every other scalar with `${` in it is a string.
//! Unlike YAML's rule for plain scalars, an unquoted `${VAR}` also works inside a flow
//! collection (`{ value: ${KEY} }`), as the examples in the design write it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError};
use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::diagnostic::{ConfigErrors, Diagnostic};
use super::file::ConfigFile;
use super::units::{BYTE_SIZE_PATTERN, DURATION_PATTERN};

/// The `$id` of the generated schema.
pub const SCHEMA_ID: &str = "urn:switchboard:config";

/// Placeholder written instead of a secret by [`Source::redacted`].
pub const REDACTED: &str = "<redacted>";

/// Deepest nesting of mappings and sequences accepted.
const MAX_DEPTH: usize = 128;
/// Most nodes that aliases may copy in one file (guards against "billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;
/// Longest value quoted in a message.
const MAX_PREVIEW: usize = 60;

/// A loaded, schema-valid config file, with what is needed to report later errors with lines.
#[derive(Clone)]
pub struct Source {
    /// The typed config (after `${VAR}` expansion).
    pub file: ConfigFile,
    /// The file it came from, as given.
    pub path: PathBuf,
    /// The directory relative paths in the file are resolved against (the file's directory).
    pub base_dir: PathBuf,
    /// Key path to the 1-based (line, column) of its key or sequence item.
    index: HashMap<String, Pos>,
    /// The document after expansion, before deserialization.
    raw: Value,
    /// Key paths whose value came from expanding a secret-looking variable.
    secret_paths: HashSet<String>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("base_dir", &self.base_dir)
            .field("file", &self.redacted())
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Reads and checks the file at `path`, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Source, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![Diagnostic::whole_file(
                path,
                format!("cannot read the config file: {e}"),
            )])
        })?;
        Source::from_str(&text, path, &|name| std::env::var(name).ok())
    }

    /// Checks `text` as the content of the file `path` (used in messages and for
    /// [`Source::base_dir`]), looking variables up with `env`.
    pub fn from_str(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Source, ConfigErrors> {
        let mut issues = Issues::default();

        // Stage 1: YAML to a tree with positions.
        let root = match parse_yaml(text, &mut issues) {
            Ok(Some(root)) => root,
            Ok(None) => {
                issues.push(
                    "",
                    Some(Pos { line: 1, column: 1 }),
                    "the config file is empty".into(),
                );
                return Err(issues.into_errors(path, &HashMap::new()));
            }
            Err(fatal) => {
                issues.push("", Some(fatal.0), fatal.1);
                return Err(issues.into_errors(path, &HashMap::new()));
            }
        };

        // Stage 2: `${VAR}` expansion while converting to JSON and indexing positions.
        let before_stage2 = issues.list.len();
        let mut conv = Converter {
            env,
            index: HashMap::new(),
            secret_paths: HashSet::new(),
            issues: &mut issues,
        };
        conv.index.insert(String::new(), root.pos());
        let raw = conv.convert(&root, "");
        let Converter {
            index,
            secret_paths,
            ..
        } = conv;

        // Stage 3: the schema.
        // Values that failed expansion are null now: their schema errors would only repeat that.
        let failed_before: Vec<String> = issues.list[before_stage2..]
            .iter()
            .map(|i| i.path.clone())
            .collect();
        let mut schema_issues = Issues::default();
        for error in validator().iter_errors(&raw) {
            report_schema_error(&error, &mut schema_issues);
        }
        schema_issues.drop_redundant_required();
        for issue in schema_issues.list {
            if !failed_before.iter().any(|p| is_within(&issue.path, p)) {
                issues.list.push(issue);
            }
        }
        if !issues.list.is_empty() {
            return Err(issues.into_errors(path, &index));
        }

        // Stage 4: the typed config.
        let file: ConfigFile = match serde_path_to_error::deserialize(&raw) {
            Ok(file) => file,
            Err(e) => {
                let key_path = serde_path(e.path());
                issues.push(&key_path, None, e.inner().to_string());
                return Err(issues.into_errors(path, &index));
            }
        };

        let base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Source {
            file,
            path: path.to_path_buf(),
            base_dir,
            index,
            raw,
            secret_paths,
        })
    }

    /// A diagnostic at `key_path` (see the module docs for the syntax) with the line and column of
    /// that key; when the exact path is not in the file (e.g. a defaulted value), those of its
    /// nearest ancestor that is.
    pub fn diagnostic(&self, key_path: &str, message: impl Into<String>) -> Diagnostic {
        let pos = lookup(&self.index, key_path);
        Diagnostic {
            file: self.path.clone(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            path: key_path.to_string(),
            message: message.into(),
        }
    }

    /// The key path of `key` inside the mapping at `parent`.
    pub fn child_key(parent: &str, key: &str) -> String {
        child_key(parent, key)
    }

    /// The key path of item `index` of the sequence at `parent`.
    pub fn child_index(parent: &str, index: usize) -> String {
        format!("{parent}[{index}]")
    }

    /// The document as JSON after `${VAR}` expansion, before deserialization (secrets included).
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The effective config (`self.file` as JSON, after `${VAR}` expansion, defaults not filled
    /// in) with secrets replaced by `"<redacted>"`, for logs and the admin `/config` endpoint.
    ///
    /// A string or number value is redacted when
    /// - it came from a `${VAR}` whose name (any case) contains `KEY`, `SECRET`, `PASSWORD`,
    ///   `TOKEN` or `CREDENTIAL`, wherever it is;
    /// - its key, or for an item of a list the list's key, contains (case-insensitively) `key`,
    ///   `secret`, `password`, `token` or `credential`: `config.sessionKey`, `keys[].key`,
    ///   `clientSecret`, an `env` entry `OPENAI_API_KEY`, a header `x-api-key` in
    ///   `requestHeaderModifier.set`... Not redacted although they match: the numbers
    ///   `maxTokens` and `tokensPerFill` (rate limits), `tls.key` (a file path) and keys ending in
    ///   `Url` (`tokenUrl`; a password in a URL is still hidden, see below);
    /// - it is a header value set by `requestHeaderModifier`/`responseHeaderModifier` for
    ///   `authorization`, `proxy-authorization` or `cookie`;
    /// - it is the `value` (or `regex`) next to a `name` or `header` that is such a header or
    ///   matches the key rule above (a header match on `x-api-key`, `backendAuth.key.value`);
    /// - it is a `value` anywhere under `backendAuth`, or under a key that matches the key rule.
    ///
    /// Not redacted: names (`name`, `header`), lists of header names (`remove`), and keys
    /// themselves. The password in a URL's `user:password@` is replaced too.
    pub fn redacted(&self) -> Value {
        let mut value = serde_json::to_value(&self.file).unwrap_or(Value::Null);
        redact(&mut value, "", &self.secret_paths, RedactCtx::default());
        value
    }
}

/// The JSON Schema of the config file, generated from [`ConfigFile`].
pub fn schema() -> Value {
    schema_ref().clone()
}

fn schema_ref() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = schemars::schema_for!(ConfigFile);
        let mut value = serde_json::to_value(&schema).expect("a schema serializes");
        if let Value::Object(map) = &mut value {
            map.insert("$id".into(), Value::String(SCHEMA_ID.into()));
            map.insert("title".into(), "Switchboard config file".into());
        }
        value
    })
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::validator_for(schema_ref()).expect("the generated config schema compiles")
    })
}

// ---------------------------------------------------------------------------------------------
// Positions, key paths, issues

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn child_key(parent: &str, key: &str) -> String {
    if is_plain_key(key) {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        format!("{parent}[{quoted}]")
    }
}

/// Byte offsets where the segments of `path` after the first start, i.e. the ends of its proper
/// ancestors (not counting the empty root).
fn ancestor_ends(path: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in path.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '.' | '[' if i > 0 => ends.push(i),
            _ => {}
        }
    }
    ends
}

/// Whether `path` is `ancestor` or below it.
fn is_within(path: &str, ancestor: &str) -> bool {
    if ancestor.is_empty() {
        return true;
    }
    match path.strip_prefix(ancestor) {
        Some("") => true,
        Some(rest) => rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

fn lookup(index: &HashMap<String, Pos>, path: &str) -> Option<Pos> {
    if let Some(p) = index.get(path) {
        return Some(*p);
    }
    ancestor_ends(path)
        .into_iter()
        .rev()
        .find_map(|end| index.get(&path[..end]).copied())
        .or_else(|| index.get("").copied())
}

struct Issue {
    path: String,
    /// Exact position when known better than the index (e.g. a scalar value).
    pos: Option<Pos>,
    message: String,
    /// For a missing required key: its name. For an unknown key: the known key suggested.
    required: Option<String>,
    suggested: Option<String>,
}

#[derive(Default)]
struct Issues {
    list: Vec<Issue>,
}

impl Issues {
    fn push(&mut self, path: &str, pos: Option<Pos>, message: String) {
        self.list.push(Issue {
            path: path.to_string(),
            pos,
            message,
            required: None,
            suggested: None,
        });
    }

    /// Drops "missing required key `x`" where an unknown key of the same mapping was taken to be a
    /// misspelt `x` (the "did you mean" says it already).
    fn drop_redundant_required(&mut self) {
        let suggested: HashSet<(String, String)> = self
            .list
            .iter()
            .filter_map(|i| {
                let s = i.suggested.as_ref()?;
                let parent = &i.path[..ancestor_ends(&i.path).last().copied().unwrap_or(0)];
                Some((parent.to_string(), s.clone()))
            })
            .collect();
        self.list.retain(|i| match &i.required {
            Some(r) => !suggested.contains(&(i.path.clone(), r.clone())),
            None => true,
        });
    }

    fn into_errors(self, file: &Path, index: &HashMap<String, Pos>) -> ConfigErrors {
        let mut out: Vec<Diagnostic> = Vec::new();
        for issue in self.list {
            let pos = issue.pos.or_else(|| lookup(index, &issue.path));
            let d = Diagnostic {
                file: file.to_path_buf(),
                line: pos.map(|p| p.line),
                column: pos.map(|p| p.column),
                path: issue.path,
                message: issue.message,
            };
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out.sort_by(|a, b| {
            let key = |d: &Diagnostic| (d.line.unwrap_or(usize::MAX), d.column.unwrap_or(0));
            key(a).cmp(&key(b))
        });
        ConfigErrors(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Stage 1: YAML

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScalarKind {
    /// Unquoted: resolved by the core schema.
    Plain,
    /// Quoted, block, or tagged `!!str`: a string.
    Text,
}

#[derive(Debug, Clone)]
enum Node {
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
    fn pos(&self) -> Pos {
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
struct Fatal(Pos, String);

type Events<'a> = Parser<std::str::Chars<'a>>;

/// Parses the single document of `text`. `Ok(None)` for a file without a document.
/// Non-fatal problems (duplicate keys, tags) go to `issues`.
fn parse_yaml(text: &str, issues: &mut Issues) -> Result<Option<Node>, Fatal> {
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

/// The YAML 1.2 core schema for a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if is_decimal_int(s) {
        if let Ok(n) = s.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = s.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    for (prefix, radix) in [("0o", 8), ("0x", 16)] {
        if let Some(digits) = s.strip_prefix(prefix) {
            if !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)) {
                if let Ok(n) = u64::from_str_radix(digits, radix) {
                    return Value::Number(n.into());
                }
            }
        }
    }
    if is_core_float(s) {
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

fn is_decimal_int(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        }
    };
    mantissa_ok && exponent_ok
}

// ---------------------------------------------------------------------------------------------
// Stage 2: `${VAR}` expansion, conversion to JSON, the index

fn is_secret_word(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["key", "secret", "password", "token", "credential"]
        .iter()
        .any(|w| lower.contains(w))
}

struct Expansion {
    text: String,
    /// The whole input was one `${VAR}`.
    single_var: bool,
    /// Some variable had a secret-looking name.
    secret: bool,
}

/// Expands `${VAR}` in `s`; `Err` holds every problem found.
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expansion, Vec<String>> {
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut vars = 0;
    let mut escapes = 0;
    let mut secret = false;
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            escapes += 1;
            rest = tail;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                errors.push(format!(
                    "unterminated `${{` in {} (write `$${{` for a literal `${{`)",
                    preview_str(s)
                ));
                return Err(errors);
            };
            let name = &body[..end];
            vars += 1;
            if !is_var_name(name) {
                errors.push(format!(
                    "invalid environment variable name `{name}` in `${{{name}}}` (letters, digits \
                     and `_`, not starting with a digit; write `$${{` for a literal `${{`)"
                ));
            } else {
                match env(name) {
                    Some(value) => {
                        secret |= is_secret_word(name);
                        out.push_str(&value);
                    }
                    None => errors.push(format!("environment variable {name} is not set")),
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if !errors.is_empty() {
        return Err(errors);
    }
    let single_var = vars == 1 && escapes == 0 && s.starts_with("${") && s.ends_with('}') && {
        let inner = &s[2..s.len() - 1];
        !inner.contains('}')
    };
    Ok(Expansion {
        text: out,
        single_var,
        secret,
    })
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Converter<'e, 'i> {
    env: &'e dyn Fn(&str) -> Option<String>,
    index: HashMap<String, Pos>,
    secret_paths: HashSet<String>,
    issues: &'i mut Issues,
}

impl Converter<'_, '_> {
    fn convert(&mut self, node: &Node, path: &str) -> Value {
        match node {
            Node::Scalar { text, kind, pos } => {
                if !text.contains('$') {
                    return match kind {
                        ScalarKind::Plain => resolve_plain(text),
                        ScalarKind::Text => Value::String(text.clone()),
                    };
                }
                match expand(text, self.env) {
                    Ok(exp) => {
                        if exp.secret {
                            self.secret_paths.insert(path.to_string());
                        }
                        if *kind == ScalarKind::Plain && (exp.single_var || !text.contains("${")) {
                            resolve_plain(&exp.text)
                        } else {
                            Value::String(exp.text)
                        }
                    }
                    Err(errors) => {
                        for message in errors {
                            self.issues.push(path, Some(*pos), message);
                        }
                        Value::Null
                    }
                }
            }
            Node::Seq { items, .. } => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let item_path = format!("{path}[{i}]");
                        self.index.insert(item_path.clone(), item.pos());
                        self.convert(item, &item_path)
                    })
                    .collect(),
            ),
            Node::Map { entries, .. } => {
                let mut map = Map::new();
                for (key, key_pos, value) in entries {
                    let key_path = child_key(path, key);
                    self.index.insert(key_path.clone(), *key_pos);
                    let v = self.convert(value, &key_path);
                    map.insert(key.clone(), v);
                }
                Value::Object(map)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stage 3: schema errors in words

fn instance_key_path(error: &ValidationError<'_>) -> String {
    let mut path = String::new();
    for segment in error.instance_path().iter() {
        path = match segment {
            LocationSegment::Property(key) => child_key(&path, &key),
            LocationSegment::Index(i) => format!("{path}[{i}]"),
        };
    }
    path
}

fn preview_str(s: &str) -> String {
    preview(&Value::String(s.to_string()))
}

/// A value for a message: JSON, cut at about [`MAX_PREVIEW`] characters.
fn preview(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    if text.chars().count() <= MAX_PREVIEW {
        text
    } else {
        let cut: String = text.chars().take(MAX_PREVIEW).collect();
        format!("{cut}…")
    }
}

fn type_word(t: JsonType) -> &'static str {
    match t {
        JsonType::Array => "a list",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Null => "null",
        JsonType::Number => "a number",
        JsonType::Object => "a mapping",
        JsonType::String => "a string",
    }
}

/// `found a string "x"`, `found a mapping`.
fn found(value: &Value) -> String {
    match value {
        Value::Null => "found null".into(),
        Value::Bool(b) => format!("found a boolean ({b})"),
        Value::Number(n) if n.is_f64() => format!("found a number ({n})"),
        Value::Number(n) => format!("found an integer ({n})"),
        Value::String(_) => format!("found a string ({})", preview(value)),
        Value::Array(_) => "found a list".into(),
        Value::Object(_) => "found a mapping".into(),
    }
}

fn join_words(words: &[String], last: &str) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
    }
}

fn expected_types(kind: &TypeKind) -> Vec<JsonType> {
    let mut types: Vec<JsonType> = match kind {
        TypeKind::Single(t) => vec![*t],
        TypeKind::Multiple(set) => set.iter().collect(),
    };
    if types.len() > 1 {
        types.retain(|t| *t != JsonType::Null);
    }
    // An integer is a number too: "a number" says enough.
    if types.contains(&JsonType::Number) {
        types.retain(|t| *t != JsonType::Integer);
    }
    types
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known key closest to `key`, when it is close (edit distance at most 2, case ignored).
fn suggest<'k>(key: &str, known: impl IntoIterator<Item = &'k str>) -> Option<String> {
    let lower = key.to_lowercase();
    known
        .into_iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2 && *d < k.chars().count().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// The `properties` of the schema object that holds the keyword at `schema_path`.
fn known_keys(schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .rsplit_once('/')
        .map(|(p, _)| p)
        .unwrap_or_default();
    schema_ref()
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().collect())
        .unwrap_or_default()
}

fn unknown_key_issue(parent: &str, key: &str, known: &[String], note: Option<&str>) -> Issue {
    let suggested = suggest(key, known.iter().map(String::as_str));
    let mut message = format!("unknown key `{key}`");
    match &suggested {
        Some(s) => message.push_str(&format!(", did you mean `{s}`?")),
        None if !known.is_empty() && known.len() <= 8 && note.is_none() => {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            message.push_str(&format!(" (known keys: {})", list.join(", ")));
        }
        None => {}
    }
    if let Some(note) = note {
        message.push_str(&format!(" ({note})"));
    }
    Issue {
        path: child_key(parent, key),
        pos: None,
        message,
        required: None,
        suggested,
    }
}

fn report_schema_error(error: &ValidationError<'_>, out: &mut Issues) {
    let path = instance_key_path(error);
    let instance: &Value = error.instance();
    let message = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let known = known_keys(error.schema_path().as_str());
            for key in unexpected {
                out.list.push(unknown_key_issue(&path, key, &known, None));
            }
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_string();
            out.list.push(Issue {
                path,
                pos: None,
                message: format!("missing required key `{name}`"),
                required: Some(name),
                suggested: None,
            });
            return;
        }
        ValidationErrorKind::Type { kind } => {
            let words: Vec<String> = expected_types(kind)
                .into_iter()
                .map(|t| type_word(t).to_string())
                .collect();
            format!("expected {}, {}", join_words(&words, "or"), found(instance))
        }
        ValidationErrorKind::Pattern { pattern } => pattern_message(pattern, instance),
        ValidationErrorKind::Minimum { limit } => {
            format!("{} is less than the minimum {limit}", preview(instance))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{} is greater than the maximum {limit}", preview(instance))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{} must be greater than {limit}", preview(instance))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{} must be less than {limit}", preview(instance))
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!(
                "expected {}, found {}",
                preview(expected_value),
                preview(instance)
            )
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(preview).collect())
                .unwrap_or_default();
            format!(
                "expected one of {}, found {}",
                join_words(&options, "or"),
                preview(instance)
            )
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            report_alternatives(error, &path, context, out);
            return;
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!(
                "{} matches more than one of the allowed forms",
                preview(instance)
            )
        }
        _ => {
            let text = error.to_string();
            if text.chars().count() > 2 * MAX_PREVIEW {
                let cut: String = text.chars().take(2 * MAX_PREVIEW).collect();
                format!("{cut}…")
            } else {
                text
            }
        }
    };
    out.push(&path, None, message);
}

fn pattern_message(pattern: &str, instance: &Value) -> String {
    if pattern == DURATION_PATTERN {
        format!(
            "invalid duration {}: write a whole number and a unit: ms, s, m or h (e.g. 500ms, 5s, 1m)",
            preview(instance)
        )
    } else if pattern == BYTE_SIZE_PATTERN {
        format!(
            "invalid size {}: write a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB \
             (e.g. 4MiB)",
            preview(instance)
        )
    } else {
        format!(
            "{} does not match the pattern `{pattern}`",
            preview(instance)
        )
    }
}

/// `anyOf` / `oneOf` where no alternative matched: find the one the author meant and report its
/// errors, or say what the alternatives are.
fn report_alternatives(
    error: &ValidationError<'_>,
    path: &str,
    context: &[Vec<ValidationError<'static>>],
    out: &mut Issues,
) {
    let here = error.instance_path().as_str();
    let instance: &Value = error.instance();
    let at_here = |branch: &[ValidationError<'static>]| {
        branch
            .iter()
            .filter(|e| e.instance_path().as_str() == here)
            .count()
    };

    // Alternatives that are constants (enums): list them.
    let mut constants = Vec::new();
    let all_constant = !context.is_empty()
        && context.iter().all(|branch| {
            let mut found_const = false;
            for e in branch {
                match e.kind() {
                    ValidationErrorKind::Constant { expected_value } => {
                        constants.push(preview(expected_value));
                        found_const = true;
                    }
                    ValidationErrorKind::Enum { options } => {
                        if let Some(a) = options.as_array() {
                            constants.extend(a.iter().map(preview));
                        }
                        found_const = true;
                    }
                    _ => {}
                }
            }
            found_const
        });
    if all_constant {
        constants.dedup();
        out.push(
            path,
            None,
            format!(
                "expected one of {}, found {}",
                join_words(&constants, "or"),
                preview(instance)
            ),
        );
        return;
    }

    let type_mismatch = |branch: &[ValidationError<'static>]| {
        branch.iter().any(|e| {
            e.instance_path().as_str() == here
                && matches!(e.kind(), ValidationErrorKind::Type { .. })
        })
    };
    let candidates: Vec<&Vec<ValidationError<'static>>> =
        context.iter().filter(|b| !type_mismatch(b)).collect();

    if candidates.is_empty() {
        let mut words: Vec<String> = Vec::new();
        for e in context.iter().flatten() {
            if let ValidationErrorKind::Type { kind } = e.kind() {
                if e.instance_path().as_str() == here {
                    for t in expected_types(kind) {
                        let w = type_word(t).to_string();
                        if !words.contains(&w) && t != JsonType::Null {
                            words.push(w);
                        }
                    }
                }
            }
        }
        out.push(
            path,
            None,
            format!("expected {}, {}", join_words(&words, "or"), found(instance)),
        );
        return;
    }
    if candidates.len() == 1 {
        for e in candidates[0] {
            report_schema_error(e, out);
        }
        return;
    }

    // The right type for several: prefer one whose errors are all deeper down (its shape matched).
    if let Some(deep) = candidates
        .iter()
        .filter(|b| at_here(b) == 0)
        .min_by_key(|b| b.len())
    {
        for e in deep.iter() {
            report_schema_error(e, out);
        }
        return;
    }

    // Tagged alternatives (`exact` | `prefix` | `regex`): each is a mapping of one required key.
    if let Some(tags) = tagged_alternatives(error.schema_path().as_str()) {
        let quoted: Vec<String> = tags.iter().map(|t| format!("`{t}`")).collect();
        let expected = format!("expected exactly one of {}", join_words(&quoted, "or"));
        let keys: Vec<&String> = instance
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let present: Vec<String> = keys
            .iter()
            .filter(|k| tags.contains(k))
            .map(|k| format!("`{k}`"))
            .collect();
        let unknown: Vec<&&String> = keys.iter().filter(|k| !tags.contains(k)).collect();
        if present.len() > 1 {
            out.push(
                path,
                None,
                format!("{expected}, found {}", join_words(&present, "and")),
            );
        }
        for key in &unknown {
            out.list
                .push(unknown_key_issue(path, key, &tags, Some(&expected)));
        }
        if present.is_empty() && unknown.is_empty() {
            out.push(path, None, expected);
        }
        return;
    }

    // Otherwise the alternative with the fewest complaints about this value itself.
    if let Some(best) = candidates.iter().min_by_key(|b| at_here(b)) {
        for e in best.iter() {
            report_schema_error(e, out);
        }
    }
}

/// Follows a local `$ref` (`#/$defs/...`).
fn resolve_ref(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| schema_ref().pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

/// When the `anyOf`/`oneOf` at `schema_path` is a choice of mappings that each have exactly one
/// (required) key, those keys.
fn tagged_alternatives(schema_path: &str) -> Option<Vec<String>> {
    let branches = schema_ref().pointer(schema_path)?.as_array()?;
    let mut tags = Vec::new();
    for branch in branches {
        let branch = resolve_ref(branch);
        let required = branch.get("required")?.as_array()?;
        let props = branch.get("properties")?.as_object()?;
        match (required.as_slice(), props.len()) {
            ([key], 1) => tags.push(key.as_str()?.to_string()),
            _ => return None,
        }
    }
    (tags.len() > 1).then_some(tags)
}

// ---------------------------------------------------------------------------------------------
// Stage 4 helper

fn serde_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        out = match segment {
            serde_path_to_error::Segment::Seq { index } => format!("{out}[{index}]"),
            serde_path_to_error::Segment::Map { key } => child_key(&out, key),
            serde_path_to_error::Segment::Enum { variant } => child_key(&out, variant),
            serde_path_to_error::Segment::Unknown => out,
        };
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Redaction

#[derive(Default, Clone, Copy)]
struct RedactCtx {
    /// The key of this value (or of the list it is in) looks secret.
    secret_key: bool,
    /// Under `backendAuth` or a secret-looking key: `value` fields are secrets.
    secret_scope: bool,
    /// Inside a header map of a header modifier (`add`/`set`).
    header_map: bool,
}

const SECRET_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || is_secret_word(name)
}

/// Keys that contain a secret word but hold no secret.
fn is_structural(parent_path: &str, key: &str) -> bool {
    matches!(key, "maxTokens" | "tokensPerFill")
        || key.ends_with("Url")
        || (key == "key" && parent_path.ends_with("tls"))
}

fn redact(value: &mut Value, path: &str, secret_paths: &HashSet<String>, ctx: RedactCtx) {
    match value {
        Value::String(_) | Value::Number(_) => {
            if ctx.secret_key || secret_paths.contains(path) {
                *value = Value::String(REDACTED.into());
            } else if let Value::String(s) = value {
                if let Some(clean) = redact_url_password(s) {
                    *s = clean;
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                redact(item, &format!("{path}[{i}]"), secret_paths, ctx);
            }
        }
        Value::Object(map) => {
            let names_secret = ["name", "header"].iter().any(|k| {
                map.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(is_secret_header)
            });
            let is_header_modifier =
                path.ends_with("requestHeaderModifier") || path.ends_with("responseHeaderModifier");
            for (key, child) in map.iter_mut() {
                let child_path = child_key(path, key);
                let structural = is_structural(path, key);
                let secret_key = !structural
                    && (is_secret_word(key)
                        || (ctx.header_map && is_secret_header(key))
                        || (matches!(key.as_str(), "value" | "regex")
                            && (names_secret || ctx.secret_scope)));
                let child_ctx = RedactCtx {
                    secret_key,
                    secret_scope: ctx.secret_scope
                        || key == "backendAuth"
                        || (!structural && is_secret_word(key)),
                    header_map: is_header_modifier && matches!(key.as_str(), "add" | "set"),
                };
                redact(child, &child_path, secret_paths, child_ctx);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// `scheme://user:password@host...` with the password replaced.
fn redact_url_password(s: &str) -> Option<String> {
    let scheme_end = s.find("://")?;
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let colon = userinfo.find(':')?;
    if colon + 1 == userinfo.len() {
        return None;
    }
    Some(format!(
        "{}{}:{REDACTED}{}",
        &s[..scheme_end + 3],
        &userinfo[..colon],
        &s[scheme_end + 3 + at..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Source, ConfigErrors> {
        Source::from_str(text, Path::new("conf/gw.yaml"), &env_of(vars))
    }

    fn load_ok(text: &str, vars: &[(&str, &str)]) -> Source {
        load(text, vars).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
    }

    fn errors(text: &str, vars: &[(&str, &str)]) -> Vec<Diagnostic> {
        match load(text, vars) {
            Ok(_) => panic!("expected errors"),
            Err(e) => e.0,
        }
    }

    /// (line, path, message) of each diagnostic.
    fn summary(diags: &[Diagnostic]) -> Vec<(usize, String, String)> {
        diags
            .iter()
            .map(|d| (d.line.unwrap_or(0), d.path.clone(), d.message.clone()))
            .collect()
    }

    const DESIGN_EXAMPLE: &str = r#"
config:                                  # process settings, read at start
  adminAddr: 127.0.0.1:15000             # admin endpoints, below
  sessionKey: ${SWITCHBOARD_SESSION_KEY} # 32 random bytes, base64; seals MCP session ids; same on all replicas
  tracing: { otlpEndpoint: http://127.0.0.1:4317, samplingRatio: 1.0 }
binds:
- port: 8080
  address: 0.0.0.0                       # optional
  listeners:
  - name: main
    protocol: HTTP                       # HTTP | HTTPS (tls: {cert, key})
    hostname: "*"                        # optional
    routes:
    - name: tools
      matches: [{ path: { prefix: /mcp } }]
      policies: { cors: { allowOrigins: ["*"] } }
      backends: [{ backend: tools }]     # reference to a named backend
    - name: travel-agent
      matches: [{ path: { prefix: /agents/travel } }]
      policies:
        a2a: {}
        urlRewrite: { path: { prefix: / } }
      backends: [{ host: 127.0.0.1:9999 }]
    - name: api
      matches:
      - path: { prefix: /api }
        method: GET
        headers: [{ name: x-env, value: prod }]   # exact; `regex:` instead of `value:` too
        query: [{ name: v, value: "2" }]
      policies:
        requestHeaderModifier: { add: { x-a: "1" }, set: { x-b: "2" }, remove: [x-c] }
        responseHeaderModifier: { set: { x-served-by: switchboard } }
        timeout: { request: 5s, backendRequest: 2s }
        retry: { attempts: 2, backoff: 100ms, codes: [502, 503] }
        requestMirror: { backend: { host: 127.0.0.1:9100 }, percentage: 10 }
      backends:
      - { host: 127.0.0.1:8081, weight: 3 }
      - { host: 127.0.0.1:8082, weight: 1 }
    - name: old
      matches: [{ path: { exact: /old } }]
      policies: { requestRedirect: { path: { full: /new }, statusCode: 301 } }
backends:
- name: tools
  mcp:
    targets:
    - { name: time, stdio: { cmd: python3, args: [-m, mcp_server_time], env: { TZ: UTC } } }
    - { name: everything, mcp: { url: http://127.0.0.1:3001/mcp } }
    - { name: legacy, sse: { url: http://127.0.0.1:3002/sse } }
    - name: petstore
      openapi: { spec: ./petstore.yaml, baseUrl: http://127.0.0.1:4010 }
      tools: { include: ["list*", "getPet*"], exclude: [deletePet] }
      policies: { backendAuth: { key: { header: x-api-key, value: ${PETSTORE_KEY} } } }
    - { name: travel, a2a: { url: http://127.0.0.1:9999 } }   # an A2A agent's skills as tools
"#;

    const DESIGN_ENV: &[(&str, &str)] = &[
        (
            "SWITCHBOARD_SESSION_KEY",
            "c2Vzc2lvbi1rZXktc2Vzc2lvbi1rZXktc2Vzc2lvbiE=",
        ),
        ("PETSTORE_KEY", "pet-secret-123"),
    ];

    #[test]
    fn design_example_loads() {
        let source = load_ok(DESIGN_EXAMPLE, DESIGN_ENV);
        let file = &source.file;
        assert_eq!(source.base_dir, Path::new("conf"));
        assert_eq!(file.binds.len(), 1);
        assert_eq!(file.binds[0].port, 8080);
        let routes = &file.binds[0].listeners[0].routes;
        assert_eq!(routes.len(), 4);
        let retry = routes[2].policies.as_ref().unwrap().retry.as_ref().unwrap();
        assert_eq!(retry.attempts, Some(2));
        assert_eq!(retry.codes, vec![502, 503]);
        assert_eq!(
            retry.backoff.unwrap().0,
            std::time::Duration::from_millis(100)
        );
        assert_eq!(
            file.config.as_ref().unwrap().session_key.as_deref(),
            Some(DESIGN_ENV[0].1)
        );
        // Placeholders (`mcp`) are kept as JSON, expanded.
        let mcp = file.backends[0].mcp.as_ref().unwrap();
        assert_eq!(
            mcp["targets"][3]["policies"]["backendAuth"]["key"]["value"],
            "pet-secret-123"
        );
        // Quoted "2" stays a string.
        assert_eq!(routes[2].matches[0].query[0].value.as_deref(), Some("2"));
        // Lines of keys and items.
        let d = source.diagnostic(
            "binds[0].listeners[0].routes[2].policies.retry.attempts",
            "x",
        );
        assert_eq!((d.line, d.column), (Some(34), Some(18)));
        let d = source.diagnostic("binds[0].listeners[0].routes[1]", "x");
        assert_eq!((d.line, d.column), (Some(18), Some(7)));
        assert_eq!(
            d.to_string(),
            "conf/gw.yaml:18:7: binds[0].listeners[0].routes[1]: x"
        );
    }

    #[test]
    fn diagnostic_falls_back_to_nearest_ancestor() {
        let source = load_ok(DESIGN_EXAMPLE, DESIGN_ENV);
        // `protocol` is absent from the second route; `retry.attempts` absent from route 0.
        let d = source.diagnostic(
            "binds[0].listeners[0].routes[0].policies.retry.attempts",
            "m",
        );
        assert_eq!(d.line, Some(16), "the line of `policies`");
        assert_eq!(
            d.path,
            "binds[0].listeners[0].routes[0].policies.retry.attempts"
        );
        let d = source.diagnostic("binds[5].port", "m");
        assert_eq!(d.line, Some(6), "the line of `binds`");
        let d = source.diagnostic("", "m");
        assert_eq!(d.line, Some(2));
        let d = source.diagnostic(
            r#"binds[0].listeners[0].routes[2].policies.requestHeaderModifier.set["x.y"]"#,
            "m",
        );
        assert_eq!(d.line, Some(31));
        let d = source.diagnostic(
            "binds[0].listeners[0].routes[2].policies.requestHeaderModifier.set.x-b",
            "m",
        );
        assert_eq!((d.line, d.column), (Some(31), Some(60)));
    }

    #[test]
    fn reports_every_error_with_line_and_path() {
        let text = "\
config:
  sessionKey: ${SESSION_KEY}
  drainTimeout: 5 sec
binds:
- port: eighty
  listeners:
  - protocol: HTTP
    routes:
    - name: api
      policies:
        retry: { atempts: 2 }
      backends: [{ host: 127.0.0.1:8081 }]
";
        let diags = errors(text, &[]);
        assert_eq!(
            summary(&diags),
            vec![
                (
                    2,
                    "config.sessionKey".into(),
                    "environment variable SESSION_KEY is not set".into()
                ),
                (
                    3,
                    "config.drainTimeout".into(),
                    "invalid duration \"5 sec\": write a whole number and a unit: ms, s, m or h \
                     (e.g. 500ms, 5s, 1m)"
                        .into()
                ),
                (
                    5,
                    "binds[0].port".into(),
                    "expected an integer, found a string (\"eighty\")".into()
                ),
                (
                    7,
                    "binds[0].listeners[0]".into(),
                    "missing required key `name`".into()
                ),
                (
                    11,
                    "binds[0].listeners[0].routes[0].policies.retry.atempts".into(),
                    "unknown key `atempts`, did you mean `attempts`?".into()
                ),
            ]
        );
        // Columns: the value for the variable, the key for an unknown key, the item's first key.
        assert_eq!(diags[0].column, Some(15));
        assert_eq!(diags[3].column, Some(5));
        assert_eq!(diags[4].column, Some(18));
        let all = ConfigErrors(diags).to_string();
        assert!(all.starts_with("5 errors in conf/gw.yaml\nconf/gw.yaml:2:15: config.sessionKey: "));
    }

    #[test]
    fn messages_for_enums_tagged_choices_sizes_and_ranges() {
        let text = r#"
config:
  maxRequestBody: 4 MB
  logging: { format: xml }
binds:
- port: 70000
  listeners:
  - name: l
    protocol: HTTPX
    routes:
    - name: r
      matches: [{ path: { prefx: / } }, { path: { exact: /a, prefix: /b } }, { path: { exact: 5 } }]
      backends: [{ host: h, weight: -1 }]
"#;
        let got = summary(&errors(text, &[]));
        let want: Vec<(usize, &str, &str)> = vec![
            (3, "config.maxRequestBody", "invalid size \"4 MB\": write a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB (e.g. 4MiB)"),
            (4, "config.logging.format", "expected one of \"text\" or \"json\", found \"xml\""),
            (6, "binds[0].port", "70000 is greater than the maximum 65535"),
            (9, "binds[0].listeners[0].protocol", "expected one of \"HTTP\", \"HTTPS\", \"TCP\" or \"TLS\", found \"HTTPX\""),
            (12, "binds[0].listeners[0].routes[0].matches[0].path.prefx", "unknown key `prefx`, did you mean `prefix`? (expected exactly one of `exact`, `prefix` or `regex`)"),
            (12, "binds[0].listeners[0].routes[0].matches[1].path", "expected exactly one of `exact`, `prefix` or `regex`, found `exact` and `prefix`"),
            (12, "binds[0].listeners[0].routes[0].matches[2].path.exact", "expected a string, found an integer (5)"),
            (13, "binds[0].listeners[0].routes[0].backends[0].weight", "-1 is less than the minimum 0"),
        ];
        let want: Vec<(usize, String, String)> = want
            .into_iter()
            .map(|(l, p, m)| (l, p.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unknown_key_replaces_missing_required_and_long_values_are_cut() {
        let long = "x".repeat(200);
        let text =
            format!("config:\n  tracing: {{ otlpEndpont: x }}\n  adminAddr: [{long}]\nbindz: []\n");
        let diags = errors(&text, &[]);
        let got = summary(&diags);
        assert_eq!(
            got[0],
            (
                2,
                "config.tracing.otlpEndpont".into(),
                "unknown key `otlpEndpont`, did you mean `otlpEndpoint`?".into()
            )
        );
        assert_eq!(got[1].0, 3);
        assert_eq!(got[1].2, "expected a string, found a list");
        assert_eq!(
            got[2],
            (
                4,
                "bindz".into(),
                "unknown key `bindz`, did you mean `binds`?".into()
            )
        );
        assert_eq!(got.len(), 3);
        let text = format!("binds: [{{ port: 1, listeners: [], address: {{ a: \"{long}\" }} }}]\n");
        let diags = errors(&text, &[]);
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.len() < 150, "{}", diags[0].message);
        let text = format!("binds: [{{ port: 1, listeners: [], address: {{ a: \"{long}\" }} }}]\n");
        let d = &errors(&text, &[])[0];
        assert_eq!(d.message, "expected a string, found a mapping");
        let text = format!("config: {{ drainTimeout: \"{long}\" }}\n");
        let d = &errors(&text, &[])[0];
        assert!(
            d.message.contains('…') && d.message.chars().count() < 160,
            "{}",
            d.message
        );
    }

    #[test]
    fn env_expansion_resolves_types_escapes_and_concatenates() {
        let text = r#"
config:
  adminAddr: ${HOST}:${ADMIN_PORT}
  logging: { level: "$${NOT_EXPANDED} costs $5, ${LEVEL}" }
binds:
- port: ${PORT}
  address: "${ADDR}"
  listeners:
  - name: l
    routes:
    - name: r
      policies:
        retry: { attempts: ${ATTEMPTS} }
        cors:
          allowCredentials: ${CREDS}
          allowOrigins: [$${X}]
"#;
        let vars = [
            ("HOST", "127.0.0.1"),
            ("ADMIN_PORT", "15001"),
            ("LEVEL", "debug"),
            ("PORT", "8080"),
            ("ADDR", "0.0.0.0"),
            ("ATTEMPTS", "3"),
            ("CREDS", "true"),
        ];
        let source = load_ok(text, &vars);
        let config = source.file.config.as_ref().unwrap();
        assert_eq!(config.admin_addr.as_deref(), Some("127.0.0.1:15001"));
        assert_eq!(
            config.logging.as_ref().unwrap().level.as_deref(),
            Some("${NOT_EXPANDED} costs $5, debug")
        );
        assert_eq!(source.file.binds[0].port, 8080);
        assert_eq!(source.raw()["binds"][0]["port"], serde_json::json!(8080));
        let policies = source.file.binds[0].listeners[0].routes[0]
            .policies
            .as_ref()
            .unwrap();
        assert_eq!(policies.retry.as_ref().unwrap().attempts, Some(3));
        let cors = policies.cors.as_ref().unwrap();
        assert_eq!(cors.allow_credentials, Some(true));
        assert_eq!(cors.allow_origins, vec!["${X}".to_string()]);

        // A quoted `${PORT}` stays a string, which the schema rejects for a port.
        let d = errors("binds: [{ port: \"${PORT}\", listeners: [] }]\n", &vars);
        assert_eq!(
            d[0].message,
            "expected an integer, found a string (\"8080\")"
        );
    }

    #[test]
    fn env_expansion_errors_name_the_variable_and_line() {
        let text = "\
config:
  adminAddr: ${A}:${B}
  sessionKey: \"${OK}\"
binds:
- port: ${PORT}
  address: \"${oops\"
  listeners: [{ name: \"${1X}\" }]
";
        let diags = errors(text, &[("OK", "k"), ("B", "1")]);
        assert_eq!(
            summary(&diags),
            vec![
                (
                    2,
                    "config.adminAddr".into(),
                    "environment variable A is not set".into()
                ),
                (
                    5,
                    "binds[0].port".into(),
                    "environment variable PORT is not set".into()
                ),
                (
                    6,
                    "binds[0].address".into(),
                    "unterminated `${` in \"${oops\" (write `$${` for a literal `${`)".into()
                ),
                (
                    7,
                    "binds[0].listeners[0].name".into(),
                    "invalid environment variable name `1X` in `${1X}` (letters, digits and `_`, \
                     not starting with a digit; write `$${` for a literal `${`)"
                        .into()
                ),
            ]
        );
        // No schema error repeats the failed values (port and name would be null).
        assert_eq!(diags.len(), 4);
        assert_eq!(diags[1].column, Some(9));
    }

    #[test]
    fn expand_unit() {
        let env = env_of(&[("A", "1"), ("B", "two"), ("EMPTY", "")]);
        let e = expand("${A}", &env).unwrap();
        assert_eq!((e.text.as_str(), e.single_var), ("1", true));
        let e = expand("${A}${B}", &env).unwrap();
        assert_eq!((e.text.as_str(), e.single_var), ("1two", false));
        let e = expand("x-${A}-$${B}-$$-$", &env).unwrap();
        assert_eq!(e.text, "x-1-${B}-$$-$");
        assert_eq!(expand("${EMPTY}", &env).unwrap().text, "");
        assert_eq!(
            expand("${C}/${D}", &env).err().unwrap(),
            vec![
                "environment variable C is not set".to_string(),
                "environment variable D is not set".to_string()
            ]
        );
        assert!(!expand("${A}", &env).unwrap().secret);
        let env = env_of(&[("MY_API_KEY", "k"), ("DB_Password", "p")]);
        assert!(expand("${MY_API_KEY}", &env).unwrap().secret);
        assert!(expand("x${DB_Password}", &env).unwrap().secret);
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        use serde_json::json;
        for (text, want) in [
            ("", json!(null)),
            ("~", json!(null)),
            ("NULL", json!(null)),
            ("True", json!(true)),
            ("false", json!(false)),
            ("yes", json!("yes")),
            ("42", json!(42)),
            ("-7", json!(-7)),
            ("+7", json!(7)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("1.5", json!(1.5)),
            ("-.5", json!(-0.5)),
            ("1.", json!(1.0)),
            ("1e3", json!(1000.0)),
            (".", json!(".")),
            (".inf", json!(".inf")),
            (".nan", json!(".nan")),
            ("1_000", json!("1_000")),
            ("0x", json!("0x")),
            ("5s", json!("5s")),
            ("127.0.0.1", json!("127.0.0.1")),
            ("e3", json!("e3")),
        ] {
            assert_eq!(resolve_plain(text), want, "{text:?}");
        }
    }

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

    #[test]
    fn deserialization_errors_after_the_schema_have_paths() {
        // The schema's pattern accepts it; the number does not fit.
        let text = "config:\n  drainTimeout: 99999999999999999999999s\n";
        let d = errors(text, &[]);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].line, d[0].path.as_str()),
            (Some(2), "config.drainTimeout")
        );
        assert!(
            d[0].message.starts_with("invalid duration"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn schema_is_valid_and_rejects_bad_ports() {
        let schema = schema();
        jsonschema::meta::validate(&schema).expect("a valid JSON Schema");
        assert_eq!(schema["$id"], SCHEMA_ID);
        assert!(schema["title"].is_string());
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(!validator.is_valid(&serde_json::json!({"binds": [{"port": "x"}]})));
        assert!(validator.is_valid(&serde_json::json!({"binds": [{"port": 1, "listeners": []}]})));
    }

    #[test]
    fn redaction_hides_secrets_and_keeps_names() {
        let mut vars = DESIGN_ENV.to_vec();
        vars.push(("UPSTREAM_TOKEN", "tok-123"));
        let text = DESIGN_EXAMPLE.replace(
            "      backends: [{ backend: tools }]",
            "      backends: [{ backend: tools }]\n      \
             policies: { requestHeaderModifier: { set: { authorization: \"Bearer ${UPSTREAM_TOKEN}\", x-api-key: k1, x-plain: v }, remove: [x-api-key] } }",
        ).replacen("      policies: { cors: { allowOrigins: [\"*\"] } }\n", "", 1);
        let source = load_ok(&text, &vars);
        let r = source.redacted();
        assert_eq!(r["config"]["sessionKey"], REDACTED);
        assert_eq!(r["config"]["adminAddr"], "127.0.0.1:15000");
        let set = &r["binds"][0]["listeners"][0]["routes"][0]["policies"]["requestHeaderModifier"];
        assert_eq!(set["set"]["authorization"], REDACTED);
        assert_eq!(set["set"]["x-api-key"], REDACTED);
        assert_eq!(set["set"]["x-plain"], "v");
        assert_eq!(set["remove"][0], "x-api-key");
        let target = &r["backends"][0]["mcp"]["targets"][3]["policies"]["backendAuth"]["key"];
        assert_eq!(target["value"], REDACTED);
        assert_eq!(target["header"], "x-api-key");
        let api = &r["binds"][0]["listeners"][0]["routes"][2]["matches"][0]["headers"][0];
        assert_eq!(api["name"], "x-env");
        assert_eq!(api["value"], "prod");
        let text = serde_json::to_string(&r).unwrap();
        for secret in ["pet-secret-123", "tok-123", DESIGN_ENV[0].1, "k1"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        // The Debug form is redacted too.
        assert!(!format!("{source:?}").contains("pet-secret-123"));
    }

    #[test]
    fn redaction_rules_for_env_values_and_structure() {
        let text = "\
config:
  adminAddr: ${ADMIN_SECRET}
  tracing: { otlpEndpoint: \"http://user:hunter2@collector:4317/x\" }
binds:
- port: 1
  listeners:
  - name: l
    tls: { cert: ./c.pem, key: ./k.pem }
    routes:
    - name: r
      matches: [{ headers: [{ name: Authorization, value: Bearer abc }] }]
      policies:
        apiKeyAuth: { header: x-api-key, keys: [{ name: ci, key: ci-key, metadata: { team: infra } }] }
        localRateLimit: [{ maxTokens: 10, tokensPerFill: 10, fillInterval: 1s }]
        backendAuth: { oauth2: { clientId: id, clientSecret: s3 } }
";
        let source = load_ok(text, &[("ADMIN_SECRET", "0.0.0.0:1")]);
        let r = source.redacted();
        assert_eq!(r["config"]["adminAddr"], REDACTED);
        assert_eq!(
            r["config"]["tracing"]["otlpEndpoint"],
            "http://user:<redacted>@collector:4317/x"
        );
        let listener = &r["binds"][0]["listeners"][0];
        assert_eq!(listener["tls"]["key"], "./k.pem");
        let route = &listener["routes"][0];
        assert_eq!(route["matches"][0]["headers"][0]["name"], "Authorization");
        assert_eq!(route["matches"][0]["headers"][0]["value"], REDACTED);
        let p = &route["policies"];
        assert_eq!(p["apiKeyAuth"]["header"], "x-api-key");
        assert_eq!(p["apiKeyAuth"]["keys"][0]["name"], "ci");
        assert_eq!(p["apiKeyAuth"]["keys"][0]["key"], REDACTED);
        assert_eq!(p["apiKeyAuth"]["keys"][0]["metadata"]["team"], "infra");
        assert_eq!(p["localRateLimit"][0]["maxTokens"], 10);
        assert_eq!(p["backendAuth"]["oauth2"]["clientId"], "id");
        assert_eq!(p["backendAuth"]["oauth2"]["clientSecret"], REDACTED);
    }

    #[test]
    fn load_reads_files_and_reports_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.yaml");
        std::fs::write(&path, "binds: [{ port: 9, listeners: [] }]\n").unwrap();
        let source = Source::load(&path).unwrap();
        assert_eq!(source.file.binds[0].port, 9);
        assert_eq!(source.base_dir, dir.path());
        let missing = dir.path().join("missing.yaml");
        let err = Source::load(&missing).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].line, None);
        assert!(err.to_string().starts_with(&format!(
            "{}: cannot read the config file: ",
            missing.display()
        )));
        let source = Source::from_str("binds: []", Path::new("gw.yaml"), &env_of(&[])).unwrap();
        assert_eq!(source.base_dir, Path::new("."));
    }

    #[test]
    fn key_paths() {
        assert_eq!(child_key("", "binds"), "binds");
        assert_eq!(child_key("a", "x-b_c"), "a.x-b_c");
        assert_eq!(child_key("a", "x.y"), r#"a["x.y"]"#);
        assert_eq!(Source::child_index("a", 3), "a[3]");
        assert_eq!(ancestor_ends(r#"a.b[0]["x.[y"].c"#), vec![1, 3, 6, 14]);
        assert!(is_within("a.b[0]", "a.b"));
        assert!(is_within("a.b", "a.b"));
        assert!(!is_within("a.bc", "a.b"));
        assert!(is_within("a", ""));
        assert_eq!(
            suggest("atempts", ["attempts", "backoff"]),
            Some("attempts".into())
        );
        assert_eq!(suggest("Port", ["port"]), Some("port".into()));
        assert_eq!(suggest("zz", ["ab"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
