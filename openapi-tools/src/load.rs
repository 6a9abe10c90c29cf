//! Reading documents from disk (JSON or YAML) and the set of files a document references.
//! Documents fetched from a URL ([`crate::source`]) share the bytes → JSON parser
//! ([`parse_bytes`]) and become a [`DocSet`] through [`DocSet::from_url_value`].
//!
//! Every file is parsed into a `serde_json::Value` so the rest of the crate sees one data model
//! whatever the source format. Files referenced by `$ref` are loaded eagerly at load time (never
//! at call time) and must live inside the root document's directory: a spec that says
//! `$ref: ../../etc/passwd` is refused rather than read. A referenced file that cannot be
//! loaded (missing, outside the directory, remote, unparsable) is recorded in
//! [`DocSet::problems`]; only the `$ref`s into it stay unresolved, the rest of the document
//! still converts (GitHub's GHEC description names a file its bundle does not ship).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::error::{Error, Result};

/// Upper bound on the number of extra files one document may pull in through `$ref`.
const MAX_FILES: usize = 256;
/// Upper bound on one file's (or fetched document's) size, so a mistaken path cannot make us
/// read a disk image.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The root document plus every local file it references, keyed by canonical path.
#[derive(Debug, Clone)]
pub struct DocSet {
    root: PathBuf,
    dir: PathBuf,
    files: HashMap<PathBuf, Arc<Value>>,
    /// Referenced files that could not be loaded (missing, outside the directory, remote,
    /// unparsable). Only the `$ref`s into them fail; the rest of the document still converts.
    problems: Vec<String>,
    /// Some `$ref` points into `#/paths/...`, so path items must stay in place.
    refs_into_paths: bool,
    /// The root was fetched from this URL: references to other documents are not followed.
    url: Option<String>,
}

impl DocSet {
    /// Loads `path` and, transitively, every relative file named in a `$ref`.
    pub fn load(path: &Path) -> Result<Self> {
        let root = path.canonicalize().map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = root
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let mut set = DocSet {
            root: root.clone(),
            dir,
            files: HashMap::new(),
            problems: Vec::new(),
            refs_into_paths: false,
            url: None,
        };
        let mut queue = vec![root];
        while let Some(file) = queue.pop() {
            if set.files.contains_key(&file) {
                continue;
            }
            if set.files.len() >= MAX_FILES {
                return Err(Error::Unsupported {
                    path: set.root.clone(),
                    message: format!("more than {MAX_FILES} referenced files"),
                });
            }
            let value = match read_file(&file) {
                Ok(v) => v,
                // the root document itself must load
                Err(e) if file == set.root => return Err(e),
                Err(e) => {
                    set.problems.push(e.to_string());
                    continue;
                }
            };
            let mut refs = Vec::new();
            set.refs_into_paths |= collect_file_refs(&value, &mut refs);
            refs.sort();
            refs.dedup();
            for r in refs {
                match set.file_for(&file, &r) {
                    Ok(target) if !set.files.contains_key(&target) => queue.push(target),
                    Ok(_) => {}
                    Err(e) => set.problems.push(e.to_string()),
                }
            }
            set.files.insert(file, Arc::new(value));
        }
        Ok(set)
    }

    /// Builds a set from an in-memory document; relative file refs are then refused.
    pub fn from_value(value: Value) -> Self {
        let root = PathBuf::from("/<inline>");
        let mut files = HashMap::new();
        files.insert(root.clone(), Arc::new(value));
        DocSet {
            root,
            dir: PathBuf::from("/<inline>/"),
            files,
            problems: Vec::new(),
            refs_into_paths: true,
            url: None,
        }
    }

    /// Builds a set from a document fetched from `url`. References to other documents
    /// (relative or remote) are not followed: each is recorded in [`problems`](Self::problems)
    /// and only the `$ref`s into it stay unresolved. The root is keyed by the URL, so error
    /// messages name it.
    pub fn from_url_value(value: Value, url: &str) -> Self {
        let root = PathBuf::from(url);
        let mut refs = Vec::new();
        let refs_into_paths = collect_file_refs(&value, &mut refs);
        refs.sort();
        refs.dedup();
        let mut set = DocSet {
            root: root.clone(),
            dir: root.clone(),
            files: HashMap::new(),
            problems: Vec::new(),
            refs_into_paths,
            url: Some(url.to_string()),
        };
        for r in refs {
            if let Err(e) = set.file_for(&root, &r) {
                set.problems.push(e.to_string());
            }
        }
        set.files.insert(root, Arc::new(value));
        set
    }

    /// Moves the root document's `paths` object out, so a converter can drop each path item
    /// once converted. `None` (and nothing moved) when some `$ref` points into `paths`.
    pub fn take_paths(&mut self) -> Option<Map<String, Value>> {
        if self.refs_into_paths {
            return None;
        }
        let root = Arc::get_mut(self.files.get_mut(&self.root)?)?;
        match root.as_object_mut()?.remove("paths") {
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                if let Some(obj) = root.as_object_mut() {
                    obj.insert("paths".into(), other);
                }
                None
            }
            None => None,
        }
    }

    /// Referenced files that could not be loaded, one message each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Path of the root document (the key under which it is stored).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The root document.
    pub fn root_doc(&self) -> &Value {
        self.files.get(&self.root).map_or(&Value::Null, |v| v)
    }

    /// Resolves `reference` as written in file `from` to (file, JSON pointer, value).
    pub fn resolve<'a>(
        &'a self,
        from: &Path,
        reference: &str,
    ) -> Result<(PathBuf, String, &'a Value)> {
        let (file_part, pointer) = match reference.split_once('#') {
            Some((f, p)) => (f, p.to_string()),
            None => (reference, String::new()),
        };
        let file = if file_part.is_empty() {
            from.to_path_buf()
        } else {
            self.file_for(from, reference)?
        };
        let doc = self.files.get(&file).ok_or_else(|| Error::Ref {
            reference: reference.to_string(),
            message: "file not loaded".into(),
        })?;
        let pointer = decode_pointer(&pointer);
        let value = doc.pointer(&pointer).ok_or_else(|| Error::Ref {
            reference: reference.to_string(),
            message: "target does not exist".into(),
        })?;
        Ok((file, pointer, value))
    }

    /// Maps the file part of a `$ref` to a canonical path inside the document directory.
    fn file_for(&self, from: &Path, reference: &str) -> Result<PathBuf> {
        let file_part = reference.split('#').next().unwrap_or_default();
        let bad = |message: &str| Error::Ref {
            reference: reference.to_string(),
            message: message.to_string(),
        };
        if file_part.contains("://") {
            return Err(bad("remote references are disabled"));
        }
        if let Some(url) = &self.url {
            return Err(bad(&format!(
                "references to other documents are not followed in a document fetched from \
                 {url} (bundle it into one document)"
            )));
        }
        let base = from.parent().unwrap_or(&self.dir);
        let decoded = percent_encoding::percent_decode_str(file_part).decode_utf8_lossy();
        let joined = base.join(decoded.as_ref());
        let canonical = joined
            .canonicalize()
            .map_err(|e| bad(&format!("cannot open: {e}")))?;
        if !canonical.starts_with(&self.dir) {
            return Err(bad("file is outside the document's directory"));
        }
        Ok(canonical)
    }
}

/// JSON pointers in `$ref`s may be percent-encoded (`#/paths/~1pets%7Bid%7D`).
fn decode_pointer(p: &str) -> String {
    percent_encoding::percent_decode_str(p)
        .decode_utf8_lossy()
        .into_owned()
}

/// Finds every `$ref` with a file part so the files can be loaded up front; returns whether
/// any `$ref` points into a `paths` object.
fn collect_file_refs(v: &Value, out: &mut Vec<String>) -> bool {
    match v {
        Value::Object(m) => {
            let mut into_paths = false;
            if let Some(Value::String(r)) = m.get("$ref") {
                if !r.starts_with('#') && !r.contains("://") {
                    out.push(r.clone());
                }
                into_paths = r.contains("#/paths");
            }
            m.values()
                .fold(into_paths, |acc, c| collect_file_refs(c, out) | acc)
        }
        Value::Array(a) => a
            .iter()
            .fold(false, |acc, c| collect_file_refs(c, out) | acc),
        _ => false,
    }
}

fn read_file(path: &Path) -> Result<Value> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            message: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    parse_bytes(&bytes).map_err(|message| Error::Parse {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses a document's bytes (from a file or a URL): UTF-8 (a leading byte-order mark is
/// skipped), then JSON or YAML as [`parse_text`] does.
pub fn parse_bytes(bytes: &[u8]) -> std::result::Result<Value, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    parse_text(text)
}

/// Parses JSON, falling back to YAML (a superset in practice) when JSON fails.
pub fn parse_text(text: &str) -> std::result::Result<Value, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str(text) {
            return Ok(v);
        }
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let first = docs.into_iter().next().ok_or("empty document")?;
    yaml_to_json(first, 0)
}

/// YAML nests deeper than any sane spec only when something is wrong (or hostile).
const MAX_DEPTH: usize = 256;

fn yaml_to_json(y: Yaml, depth: usize) -> std::result::Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nesting deeper than {MAX_DEPTH}"));
    }
    Ok(match y {
        Yaml::Null | Yaml::BadValue => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::Real(s) => match s.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(s),
        },
        Yaml::String(s) => Value::String(s),
        Yaml::Array(a) => Value::Array(
            a.into_iter()
                .map(|c| yaml_to_json(c, depth + 1))
                .collect::<std::result::Result<_, _>>()?,
        ),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Null => "null".into(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                m.insert(key, yaml_to_json(v, depth + 1)?);
            }
            Value::Object(m)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keys_and_numbers() {
        let v = parse_text("a: 1\nb: 2.5\n200: ok\nc: [x, true, ~]\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": 2.5, "200": "ok", "c": ["x", true, null]})
        );
    }

    #[test]
    fn unreadable_referenced_files_are_problems_not_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("api.json");
        std::fs::write(
            &root,
            r##"{"openapi": "3.0.3", "paths": {"/a": {"get": {"responses": {"200": {
                "description": "ok", "content": {"application/json": {"schema":
                {"$ref": "missing.yaml#/X"}}}}}}}},
                "components": {"schemas": {"Y": {"$ref": "../outside.json"}}}}"##,
        )
        .expect("write");
        let mut docs = DocSet::load(&root).expect("the document still loads");
        assert_eq!(docs.problems().len(), 2, "{:?}", docs.problems());
        assert!(
            docs.problems()[0].contains("missing.yaml")
                || docs.problems()[1].contains("missing.yaml")
        );
        // no ref points into `paths`: they can be moved out, and are then gone from the document
        let paths = docs.take_paths().expect("paths");
        assert!(paths.contains_key("/a"));
        assert!(docs.root_doc().get("paths").is_none());
    }

    #[test]
    fn paths_stay_when_referenced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("api.json");
        std::fs::write(
            &root,
            r##"{"paths": {"/a": {"parameters": [{"name": "x", "in": "query"}]},
                "/b": {"parameters": [{"$ref": "#/paths/~1a/parameters/0"}]}}}"##,
        )
        .expect("write");
        let mut docs = DocSet::load(&root).expect("load");
        assert!(docs.take_paths().is_none());
        assert!(docs.root_doc().get("paths").is_some());
    }

    #[test]
    fn bytes_json_and_yaml() {
        let json = parse_bytes(b"\xef\xbb\xbf{\"openapi\": \"3.0.3\", \"paths\": {}}").unwrap();
        assert_eq!(json, serde_json::json!({"openapi": "3.0.3", "paths": {}}));
        let yaml = parse_bytes(b"openapi: 3.1.0\npaths:\n  /a: {}\n").unwrap();
        assert_eq!(
            yaml,
            serde_json::json!({"openapi": "3.1.0", "paths": {"/a": {}}})
        );
        assert!(parse_bytes(b"a: \xff\xfe").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn fetched_documents_refuse_other_documents() {
        let doc = serde_json::json!({"openapi": "3.0.3", "paths": {}, "components": {"schemas": {
            "A": {"$ref": "schemas.yaml#/A"}, "B": {"$ref": "https://x.test/b.json"},
            "C": {"$ref": "#/components/schemas/A"}}}});
        let docs = DocSet::from_url_value(doc, "http://127.0.0.1:1/api.json");
        assert_eq!(docs.problems().len(), 1, "{:?}", docs.problems());
        assert!(docs.problems()[0].contains("schemas.yaml"));
        assert!(docs.problems()[0].contains("http://127.0.0.1:1/api.json"));
        assert_eq!(docs.root(), Path::new("http://127.0.0.1:1/api.json"));
        let root = docs.root().to_path_buf();
        let (_, _, v) = docs
            .resolve(&root, "#/components/schemas/C")
            .expect("local refs resolve");
        assert_eq!(v["$ref"], "#/components/schemas/A");
        assert!(docs.resolve(&root, "schemas.yaml#/A").is_err());
    }

    #[test]
    fn json_first() {
        assert_eq!(
            parse_text("{\"a\": [1]}").unwrap(),
            serde_json::json!({"a": [1]})
        );
    }
}
