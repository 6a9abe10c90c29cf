//! Loading a config file: YAML (or JSON) to a JSON value with positions, `${VAR}` expansion,
//! JSON Schema validation, and deserialization into [`ConfigFile`].
//!
//! Every stage collects all of its errors; the stages after a failing one still run where their
//! result means something, so one run of `switchboard validate` reports everything it can.
//!
//! The stages live in submodules: `yaml` (YAML events to a tree with positions), `expand`
//! (`${VAR}` expansion, scalar resolution and conversion to JSON), `schema_check` (the JSON
//! Schema and its errors in words), `paths` (key paths and positions), `issues` (collecting
//! errors) and `redact` (what [`Source::redacted`] hides).
//!
//! # Key paths
//!
//! A key path names a value: keys joined with `.`, sequence indices in brackets, the empty string
//! for the whole document: `binds[0].listeners[0].routes[2].policies.retry.attempts`. A key made of
//! anything but ASCII letters, digits, `_` and `-` is written as a JSON string in brackets:
//! `policies.requestHeaderModifier.set["x.y"]`. [`Source::child_key`] and
//! [`Source::child_index`] build paths this way.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diagnostic::{ConfigErrors, Diagnostic};
use super::file::ConfigFile;

mod expand;
mod issues;
mod partial;
mod paths;
mod redact;
mod schema_check;
#[cfg(test)]
mod tests;
mod yaml;

use expand::Converter;
use issues::Issues;
use paths::{child_key, is_within, lookup, serde_path, Pos};
use redact::{redact, RedactCtx};
use schema_check::{report_schema_error, validator};
use yaml::parse_yaml;

pub use schema_check::schema;

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

/// The outcome of checking a config file: the errors found so far and, unless the file is
/// beyond repair, a config to run the later checks on. When the schema stage failed, that config
/// is a best-effort one with the broken parts removed (see `partial.rs`), and must never be
/// served.
#[derive(Debug)]
pub struct Checked {
    /// The config, possibly best-effort (when `errors` is not empty).
    pub source: Option<Source>,
    /// Errors of the parsing, expansion and schema stages.
    pub errors: ConfigErrors,
    /// Key paths removed to make the best-effort config.
    removed: Vec<String>,
}

impl Checked {
    /// Whether a later finding at `key_path` would only repeat an error already reported
    /// (it sits at, inside or around a part that was removed).
    pub fn echoes_earlier_error(&self, key_path: &str) -> bool {
        partial::echoes_removal(key_path, &self.removed)
    }
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
        let checked = Source::check(text, path, env);
        match checked.source {
            Some(source) if checked.errors.is_empty() => Ok(source),
            _ => Err(checked.errors),
        }
    }

    /// Reads and checks the file at `path` like [`Source::load`], keeping a best-effort config
    /// when the schema stage fails (see [`Checked`]).
    pub fn check_file(path: &Path) -> Checked {
        match std::fs::read_to_string(path) {
            Ok(text) => Source::check(&text, path, &|name| std::env::var(name).ok()),
            Err(e) => Checked {
                source: None,
                errors: ConfigErrors(vec![Diagnostic::whole_file(
                    path,
                    format!("cannot read the config file: {e}"),
                )]),
                removed: Vec::new(),
            },
        }
    }

    /// Checks `text` like [`Source::from_str`], keeping a best-effort config when the schema
    /// stage fails so that later stages can still report their findings.
    pub fn check(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Checked {
        let fail = |errors: ConfigErrors| Checked {
            source: None,
            errors,
            removed: Vec::new(),
        };
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
                return fail(issues.into_errors(path, &HashMap::new()));
            }
            Err(fatal) => {
                issues.push("", Some(fatal.0), fatal.1);
                return fail(issues.into_errors(path, &HashMap::new()));
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
        let base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let build = |file: ConfigFile, index: HashMap<String, Pos>, raw: Value| Source {
            file,
            path: path.to_path_buf(),
            base_dir: base_dir.clone(),
            index,
            raw,
            secret_paths: secret_paths.clone(),
        };
        if !issues.list.is_empty() {
            // Keep what is intact so the semantic checks can still report on it.
            let broken: Vec<String> = issues.list.iter().map(|i| i.path.clone()).collect();
            let partial = partial::best_effort(&raw, &broken);
            let errors = issues.into_errors(path, &index);
            return match partial {
                Some((file, removed)) => Checked {
                    source: Some(build(file, index, raw)),
                    errors,
                    removed,
                },
                None => fail(errors),
            };
        }

        // Stage 4: the typed config.
        let file: ConfigFile = match serde_path_to_error::deserialize(&raw) {
            Ok(file) => file,
            Err(e) => {
                let key_path = serde_path(e.path());
                issues.push(&key_path, None, e.inner().to_string());
                return fail(issues.into_errors(path, &index));
            }
        };
        Checked {
            source: Some(build(file, index, raw)),
            errors: ConfigErrors(Vec::new()),
            removed: Vec::new(),
        }
    }

    /// A config made by a program instead of read from a file (the Kubernetes translator):
    /// `raw` is checked with the file's JSON Schema and deserialized, as a file's document is
    /// after `${VAR}` expansion. `label` stands where a file's path would in diagnostics; there
    /// are no lines, so errors carry key paths only. `secret_paths` are the key paths of
    /// values that came from secrets, redacted by [`Source::redacted`]. Relative paths in the
    /// config resolve against the working directory.
    pub fn generated(
        raw: Value,
        label: &Path,
        secret_paths: HashSet<String>,
    ) -> Result<Source, ConfigErrors> {
        let mut issues = Issues::default();
        for error in validator().iter_errors(&raw) {
            report_schema_error(&error, &mut issues);
        }
        issues.drop_redundant_required();
        if !issues.list.is_empty() {
            return Err(issues.into_errors(label, &HashMap::new()));
        }
        let file: ConfigFile = match serde_path_to_error::deserialize(&raw) {
            Ok(file) => file,
            Err(e) => {
                let key_path = serde_path(e.path());
                issues.push(&key_path, None, e.inner().to_string());
                return Err(issues.into_errors(label, &HashMap::new()));
            }
        };
        Ok(Source {
            file,
            path: label.to_path_buf(),
            base_dir: PathBuf::from("."),
            index: HashMap::new(),
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
    ///   `maxTokens` and `tokensPerFill` (rate limits), `tls.key` and
    ///   `backendAuth.gcp.credentialsFile` (file paths) and keys ending in `Url` (`tokenUrl`; a
    ///   password in a URL is still hidden, see below);
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
