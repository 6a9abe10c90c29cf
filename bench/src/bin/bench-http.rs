//! `bench-http`: plain HTTP proxy benchmark. In one run it measures a closed-loop load of small
//! GET requests (128-byte response bodies by default) against
//!
//! 1. the upstream directly,
//! 2. the upstream through Switchboard (`switchboard run -c <generated config>`),
//! 3. the upstream through nginx configured as the same reverse proxy,
//!
//! and prints requests/s, p50/p99 latency and the ratios against the direct call.
//!
//! This is a harness, not a test: numbers depend on the machine, and on a small machine the load
//! generator, the upstream and the proxy all share the same cores (the output says so).
//!
//! ```text
//! cargo build --release -p bench -p gateway
//! target/release/bench-http [--concurrency 32] [--duration 5s] [--only direct,switchboard,nginx]
//! ```

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use http::header::{CONTENT_TYPE, HOST};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Highest latency the histograms track; anything slower is clamped (and would be a failure).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

#[derive(Parser, Debug)]
#[command(
    name = "bench-http",
    about = "Plain HTTP proxy benchmark: direct vs Switchboard vs nginx, in one run"
)]
struct Args {
    /// Keep-alive connections held open by the load generator (closed loop: one request in
    /// flight per connection).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured time per target (`5s`, `500ms`, `1m`, or plain seconds).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up per target, before the measured window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Which targets to run, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,switchboard,nginx"
    )]
    only: Vec<Target>,
    /// The switchboard binary. Default: target/release/switchboard if it exists, else
    /// target/debug/switchboard.
    #[arg(long)]
    switchboard: Option<PathBuf>,
    /// The nginx binary. Default: `nginx` on PATH, else /usr/sbin/nginx. Skipped when absent.
    #[arg(long)]
    nginx: Option<PathBuf>,
    /// nginx `worker_processes` settings to run, comma separated (`1`, `2`, `auto`, ...).
    #[arg(long, value_delimiter = ',', default_value = "1,auto")]
    nginx_workers: Vec<String>,
    /// Rounds over all targets (interleaved, so drift hits every target alike). Each target's
    /// median round by throughput is reported, with the min-max spread.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Response body size of the upstream, in bytes.
    #[arg(long, default_value_t = 128)]
    body_size: usize,
    /// Also run `wrk` (when installed) against each target with the same connections and
    /// duration, as a cross-check of the built-in load generator.
    #[arg(long)]
    wrk: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    Direct,
    Switchboard,
    Nginx,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?}; use e.g. 500ms, 5s, 1m"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("duration must be positive, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.client_threads == 0 || args.rounds == 0 {
        bail!("--concurrency, --client-threads and --rounds must be at least 1");
    }
    for (flag, path) in [
        ("--switchboard", &args.switchboard),
        ("--nginx", &args.nginx),
    ] {
        if let Some(p) = path {
            if !p.is_file() {
                bail!("{flag} {}: no such file", p.display());
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("loadgen")
        .enable_all()
        .build()?;
    rt.block_on(async {
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("\ninterrupted; stopping child processes");
                Ok(())
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Orchestration
// ---------------------------------------------------------------------------------------------

/// One measured target.
struct Row {
    label: String,
    note: String,
    load: LoadResult,
    proxy: Option<ProcStats>,
    client_cores: f64,
    upstream_cores: f64,
    upstream_rps: f64,
    wrk: Option<WrkResult>,
}

async fn run(args: Args) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let upstream = Upstream::start(args.body_size)?;

    println!("bench-http: plain HTTP/1.1 reverse-proxy benchmark (loopback only)");
    println!(
        "machine: {cores} cores ({}), {}",
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        os_release()
    );
    println!(
        "load: {} keep-alive connections, closed loop, GET / -> {} B body; {:?} warm-up + {:?} measured per target",
        args.concurrency, args.body_size, args.warmup, args.duration
    );
    println!(
        "the load generator ({} tokio thread{}) and the upstream (in-process hyper 1, 1 dedicated thread) \
         share the {cores} cores with the proxy under test; compare ratios, not absolute numbers",
        args.client_threads,
        if args.client_threads == 1 { "" } else { "s" },
    );
    println!("upstream: http://{}", upstream.addr);

    let mut skipped: Vec<String> = Vec::new();
    let switchboard = if args.only.contains(&Target::Switchboard) {
        let bin = find_switchboard(args.switchboard.as_deref());
        match &bin {
            None => skipped.push(
                "switchboard: binary not found (build it: cargo build --release -p gateway, or pass --switchboard PATH)"
                    .into(),
            ),
            Some(b) => {
                println!("switchboard: {}", b.display());
                if is_debug_build(b) {
                    eprintln!("{}", debug_banner(b));
                }
            }
        }
        bin
    } else {
        None
    };
    let nginx = if args.only.contains(&Target::Nginx) {
        let bin = find_nginx(args.nginx.as_deref());
        match &bin {
            None => skipped.push(
                "nginx: not found on PATH or at /usr/sbin/nginx (apt-get install -y nginx-light, or pass --nginx PATH)"
                    .into(),
            ),
            Some(b) => println!("nginx: {} ({})", b.display(), nginx_version(b)),
        }
        bin
    } else {
        None
    };
    println!();

    // All rounds of one target, in the order the targets first ran.
    let mut by_target: Vec<(String, Vec<Row>)> = Vec::new();
    let mut push = |row: Row| match by_target.iter_mut().find(|(l, _)| *l == row.label) {
        Some((_, v)) => v.push(row),
        None => by_target.push((row.label.clone(), vec![row])),
    };

    for round in 1..=args.rounds {
        if args.rounds > 1 {
            eprintln!("round {round}/{}", args.rounds);
        }
        if args.only.contains(&Target::Direct) {
            let row = measure(
                &args,
                &upstream,
                "direct",
                String::new(),
                upstream.addr,
                None,
            )
            .await?;
            push(row);
        }

        if let Some(bin) = &switchboard {
            let proc = SwitchboardProc::start(bin, upstream.addr).await?;
            let note = if is_debug_build(bin) {
                "DEBUG BUILD: numbers are meaningless".to_string()
            } else {
                String::new()
            };
            let row = measure(
                &args,
                &upstream,
                "switchboard",
                note,
                proc.addr,
                Some(proc.guard.pid()),
            )
            .await;
            match &row {
                Err(e) => eprintln!("switchboard run failed: {e:#}\n{}", proc.log_tail()),
                Ok(r) if r.load.errors > 0 => eprintln!("switchboard log:\n{}", proc.log_tail()),
                Ok(_) => {}
            }
            push(row?);
            drop(proc);
        }

        if let Some(bin) = &nginx {
            for workers in &args.nginx_workers {
                let proc = NginxProc::start(bin, upstream.addr, workers).await?;
                let label = format!("nginx (workers {workers})");
                let note = format!("{} worker process(es)", proc.worker_count());
                let row = measure(
                    &args,
                    &upstream,
                    &label,
                    note,
                    proc.addr,
                    Some(proc.guard.pid()),
                )
                .await;
                match &row {
                    Err(e) => eprintln!("nginx run failed: {e:#}\n{}", proc.log_tail()),
                    Ok(r) if r.load.errors > 0 => {
                        eprintln!("nginx error log:\n{}", proc.log_tail())
                    }
                    Ok(_) => {}
                }
                push(row?);
                drop(proc);
            }
        }
    }

    // Report each target's median round by throughput, with the spread over rounds.
    let rows: Vec<(Row, f64, f64)> = by_target
        .into_iter()
        .map(|(_, mut v)| {
            let secs = args.duration.as_secs_f64();
            v.sort_by(|a, b| a.load.rps(secs).total_cmp(&b.load.rps(secs)));
            let (lo, hi) = (v[0].load.rps(secs), v[v.len() - 1].load.rps(secs));
            let mid = v.swap_remove(v.len() / 2);
            (mid, lo, hi)
        })
        .collect();
    print_summary(&args, cores, &rows, &skipped);
    Ok(())
}

/// Runs the warm-up and the measured window against `addr`, sampling CPU of the proxy (its
/// process tree), of the upstream thread and of this process at the window's edges.
async fn measure(
    args: &Args,
    upstream: &Upstream,
    label: &str,
    note: String,
    addr: SocketAddr,
    proxy_pid: Option<u32>,
) -> Result<Row> {
    // One request before the clock starts, so a broken target fails loudly.
    let (status, body) = http_get(addr, "/", Duration::from_secs(5))
        .await
        .with_context(|| format!("{label}: probe request to http://{addr}/"))?;
    if status != StatusCode::OK || body.len() != args.body_size {
        bail!(
            "{label}: probe GET http://{addr}/ answered {status} with {} bytes (expected 200 with {}): {:?}",
            body.len(),
            args.body_size,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }

    eprint!("running {label:<22} ... ");
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let end = measure_start + args.duration;
    let load = tokio::spawn(run_load(
        addr,
        args.concurrency,
        measure_start,
        end,
        args.body_size,
    ));

    tokio::time::sleep_until(measure_start).await;
    let c0 = CpuSample::take(upstream.tid(), proxy_pid);
    let u0 = upstream.requests.load(Ordering::Relaxed);
    tokio::time::sleep_until(end).await;
    let c1 = CpuSample::take(upstream.tid(), proxy_pid);
    let u1 = upstream.requests.load(Ordering::Relaxed);
    let load = load.await.context("load generator task")?;

    let secs = args.duration.as_secs_f64();
    let tck = clk_tck();
    let cores_of = |a: u64, b: u64| b.saturating_sub(a) as f64 / tck / secs;
    let upstream_cores = cores_of(c0.upstream_ticks, c1.upstream_ticks);
    let client_cores = cores_of(c0.self_ticks, c1.self_ticks) - upstream_cores;
    let proxy = proxy_pid.map(|_| ProcStats {
        cores: cores_of(c0.proxy_ticks, c1.proxy_ticks),
        rss_kib: c1.proxy_rss_kib,
    });

    let wrk = if args.wrk {
        run_wrk(addr, args).await
    } else {
        None
    };

    let row = Row {
        label: label.to_string(),
        note,
        upstream_rps: (u1 - u0) as f64 / secs,
        load,
        proxy,
        client_cores,
        upstream_cores,
        wrk,
    };
    eprintln!(
        "{:>9.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  errors {}",
        row.load.rps(secs),
        row.load.pct_us(50.0),
        row.load.pct_us(99.0),
        row.load.errors
    );
    if let Some(e) = &row.load.first_error {
        eprintln!("    first error: {e}");
    }
    Ok(row)
}

fn print_summary(args: &Args, cores: usize, rounds: &[(Row, f64, f64)], skipped: &[String]) {
    let secs = args.duration.as_secs_f64();
    let rows: Vec<&Row> = rounds.iter().map(|(r, _, _)| r).collect();
    let direct = rows.iter().copied().find(|r| r.label == "direct");
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "== results: {} connections, {:?} measured{}, {} B responses, {cores} cores shared by load generator + upstream + proxy ==",
        args.concurrency,
        args.duration,
        if args.rounds > 1 {
            format!(", median of {} rounds", args.rounds)
        } else {
            String::new()
        },
        args.body_size
    );
    let _ = writeln!(
        out,
        "{:<20} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}",
        "target",
        "req/s",
        "vs dir",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "+p50 µs",
        "+p99 µs",
        "errors",
        "proxy",
        "proxy µs",
        "proxy"
    );
    let _ = writeln!(
        out,
        "{:<20} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}",
        "", "", "", "", "", "", "", "", "", "cores", "CPU/req", "RSS MiB"
    );
    for r in rows.iter().copied() {
        let rps = r.load.rps(secs);
        let (ratio, dp50, dp99) = match direct {
            Some(d) if d.label != r.label => (
                format!("{:.2}x", rps / d.load.rps(secs)),
                format!("{:+.0}", r.load.pct_us(50.0) - d.load.pct_us(50.0)),
                format!("{:+.0}", r.load.pct_us(99.0) - d.load.pct_us(99.0)),
            ),
            Some(_) => ("1.00x".into(), "-".into(), "-".into()),
            None => ("n/a".into(), "n/a".into(), "n/a".into()),
        };
        let (pc, pcpu, prss) = match &r.proxy {
            Some(p) => (
                format!("{:.2}", p.cores),
                if rps > 0.0 {
                    format!("{:.1}", p.cores * 1e6 / rps)
                } else {
                    "-".into()
                },
                format!("{:.1}", p.rss_kib as f64 / 1024.0),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<20} {:>10.0} {:>8} {:>8.0} {:>8.0} {:>9.0} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}",
            r.label,
            rps,
            ratio,
            r.load.pct_us(50.0),
            r.load.pct_us(99.0),
            r.load.pct_us(99.9),
            dp50,
            dp99,
            r.load.errors,
            pc,
            pcpu,
            prss
        );
    }
    let _ = writeln!(out);
    for (r, lo, hi) in rounds {
        let _ = write!(
            out,
            "  {:<20} CPU: load generator {:.2} cores, upstream {:.2} cores; upstream saw {:.0} req/s; reconnects {}",
            r.label, r.client_cores, r.upstream_cores, r.upstream_rps, r.load.reconnects
        );
        if args.rounds > 1 {
            let _ = write!(out, "; req/s over rounds {lo:.0}..{hi:.0}");
        }
        if !r.note.is_empty() {
            let _ = write!(out, "; {}", r.note);
        }
        let _ = writeln!(out);
        if let Some(w) = &r.wrk {
            let _ = writeln!(
                out,
                "  {:<20} wrk cross-check: {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs",
                "", w.rps, w.p50_us, w.p99_us
            );
        }
    }
    for s in skipped {
        let _ = writeln!(out, "  skipped {s}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "notes: \"vs dir\" is throughput relative to the direct run; +p50/+p99 is latency added over direct."
    );
    let _ = writeln!(
        out,
        "       proxy cores = CPU time of the proxy's process tree / measured time; proxy µs CPU/req is its cost per request."
    );
    let _ = writeln!(
        out,
        "       Closed-loop load: latency percentiles do not include queueing a fixed-rate client would see (coordinated omission)."
    );
    let nginx_auto = rows
        .iter()
        .copied()
        .find(|r| r.label.contains("workers auto"));
    let _ = writeln!(
        out,
        "       Fairest nginx row: `workers auto` ({cores} worker processes): the same core budget as Switchboard, whose tokio \
         runtime runs one worker thread per core. `workers 1` is shown for reference; with the load generator and the \
         upstream on the same {cores} cores it can land either side of `auto` and varies most between runs (use --rounds)."
    );
    if let (Some(sb), Some(ng)) = (
        rows.iter().copied().find(|r| r.label == "switchboard"),
        nginx_auto.or_else(|| rows.iter().copied().find(|r| r.label.starts_with("nginx"))),
    ) {
        let _ = writeln!(
            out,
            "       switchboard vs {}: throughput {:.2}x, p50 {:+.0} µs, p99 {:+.0} µs",
            ng.label,
            sb.load.rps(secs) / ng.load.rps(secs).max(1e-9),
            sb.load.pct_us(50.0) - ng.load.pct_us(50.0),
            sb.load.pct_us(99.0) - ng.load.pct_us(99.0),
        );
    }
    print!("{out}");
}

// ---------------------------------------------------------------------------------------------
// Upstream: an in-process hyper 1 HTTP/1.1 server on its own thread and single-threaded runtime.
//
// In-process rather than a separate process: it costs the same in every scenario, needs no
// second binary or startup handshake, and its dedicated OS thread is scheduled by the kernel
// exactly as a one-thread process would be. Its CPU use is measured per thread (/proc).
// ---------------------------------------------------------------------------------------------

struct Upstream {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    tid: Arc<AtomicI64>,
}

impl Upstream {
    fn start(body_size: usize) -> Result<Self> {
        let std_listener = StdTcpListener::bind("127.0.0.1:0").context("binding the upstream")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let tid = Arc::new(AtomicI64::new(0));
        let body = Bytes::from(make_body(body_size));
        let (req_c, tid_c) = (requests.clone(), tid.clone());
        std::thread::Builder::new()
            .name("upstream".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_c.store(i64::from(unsafe { libc::gettid() }), Ordering::Relaxed);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("upstream runtime");
                rt.block_on(serve_upstream(std_listener, body, req_c));
            })?;
        Ok(Self {
            addr,
            requests,
            tid,
        })
    }

    fn tid(&self) -> i64 {
        self.tid.load(Ordering::Relaxed)
    }
}

fn make_body(n: usize) -> Vec<u8> {
    let pattern = b"switchboard-bench ";
    let mut v: Vec<u8> = pattern.iter().copied().cycle().take(n).collect();
    if let Some(last) = v.last_mut() {
        *last = b'\n';
    }
    v
}

async fn serve_upstream(listener: StdTcpListener, body: Bytes, requests: Arc<AtomicU64>) {
    let listener = TcpListener::from_std(listener).expect("upstream listener");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("upstream accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let requests = requests.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                requests.fetch_add(1, Ordering::Relaxed);
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header(CONTENT_TYPE, "text/plain")
                            .body(Full::new(body))
                            .expect("static response"),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Load generator: N keep-alive hyper 1 client connections, one request in flight each.
// ---------------------------------------------------------------------------------------------

struct LoadResult {
    hist: Histogram<u64>,
    ok: u64,
    errors: u64,
    reconnects: u64,
    first_error: Option<String>,
}

impl LoadResult {
    fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1_000, MAX_LATENCY_NS, 3).expect("histogram bounds"),
            ok: 0,
            errors: 0,
            reconnects: 0,
            first_error: None,
        }
    }

    fn merge(&mut self, o: LoadResult) {
        self.hist
            .add(&o.hist)
            .expect("histograms with equal bounds");
        self.ok += o.ok;
        self.errors += o.errors;
        self.reconnects += o.reconnects;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }

    fn error(&mut self, measured: bool, msg: impl FnOnce() -> String) {
        if measured {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(msg());
            }
        }
    }

    fn rps(&self, secs: f64) -> f64 {
        self.ok as f64 / secs
    }

    fn pct_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return f64::NAN;
        }
        self.hist.value_at_quantile(q / 100.0) as f64 / 1_000.0
    }
}

async fn run_load(
    addr: SocketAddr,
    concurrency: usize,
    measure_start: Instant,
    end: Instant,
    body_size: usize,
) -> LoadResult {
    let host = addr.to_string();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(connection_loop(addr, host, measure_start, end, body_size))
        })
        .collect();
    let mut total = LoadResult::new();
    for t in tasks {
        match t.await {
            Ok(r) => total.merge(r),
            Err(e) => total.error(true, || format!("load task failed: {e}")),
        }
    }
    total
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection_loop(
    addr: SocketAddr,
    host: String,
    measure_start: Instant,
    end: Instant,
    body_size: usize,
) -> LoadResult {
    let mut res = LoadResult::new();
    let mut sender: Option<SendRequest<Empty<Bytes>>> = None;
    let deadline = end + Duration::from_secs(10);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let measured = now >= measure_start;
        let s = match &mut sender {
            Some(s) => s,
            None => match tokio::time::timeout_at(end, connect(addr)).await {
                Ok(Ok(s)) => sender.insert(s),
                Ok(Err(e)) => {
                    res.error(measured, || format!("connect to {addr}: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => break,
            },
        };
        if s.ready().await.is_err() {
            // The server closed the idle connection; not an error of a request.
            sender = None;
            res.reconnects += 1;
            continue;
        }
        let req = Request::get("/")
            .header(HOST, host.as_str())
            .body(Empty::<Bytes>::new())
            .expect("static request");
        let t0 = Instant::now();
        let outcome = tokio::time::timeout_at(deadline, async {
            let resp = s.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body.len()))
        })
        .await;
        let t1 = Instant::now();
        let measured = t0 >= measure_start && t1 <= end;
        match outcome {
            Ok(Ok((status, len))) if status == StatusCode::OK && len == body_size => {
                if measured {
                    let ns = (t1 - t0).as_nanos().min(u128::from(MAX_LATENCY_NS)) as u64;
                    res.hist.saturating_record(ns);
                    res.ok += 1;
                }
            }
            Ok(Ok((status, len))) => {
                res.error(measured, || {
                    format!("unexpected response: {status}, {len} bytes")
                });
            }
            Ok(Err(e)) => {
                res.error(measured, || format!("request failed: {e}"));
                sender = None;
                res.reconnects += 1;
            }
            Err(_) => {
                res.error(measured, || "request timed out".into());
                sender = None;
            }
        }
    }
    res
}

/// One GET on a fresh connection, for probes and readiness checks.
async fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(StatusCode, Bytes)> {
    tokio::time::timeout(timeout, async {
        let mut s = connect(addr).await?;
        let req = Request::get(path)
            .header(HOST, addr.to_string())
            .body(Empty::<Bytes>::new())?;
        let resp = s.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    })
    .await
    .map_err(|_| anyhow!("timed out after {timeout:?}"))?
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// Kills its child on drop (also when unwinding from a panic): SIGTERM, then SIGKILL after 3 s.
struct ChildGuard {
    name: &'static str,
    child: Child,
}

impl ChildGuard {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not exit on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port: bind 127.0.0.1:0, read the port, release it.
fn free_port() -> Result<u16> {
    let l = StdTcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn tail(path: &Path, max_lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let lines: Vec<&str> = s.lines().collect();
            let from = lines.len().saturating_sub(max_lines);
            format!(
                "--- last lines of {} ---\n{}",
                path.display(),
                lines[from..].join("\n")
            )
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Polls until `check` succeeds, the child exits, or 30 s pass.
async fn wait_ready<F, Fut>(guard: &mut ChildGuard, log: &Path, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    loop {
        if let Some(status) = guard.child.try_wait()? {
            bail!(
                "{} exited with {status} before it was ready\n{}",
                guard.name,
                tail(log, 40)
            );
        }
        if check().await {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("{} was not ready after 30 s\n{}", guard.name, tail(log, 40));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn find_switchboard(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        roots.push(PathBuf::from(t));
    }
    // The target dir this binary was built into: <target>/<profile>/bench-http.
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(Path::to_path_buf))
    {
        roots.push(dir);
    }
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    roots.push(PathBuf::from("target"));
    ["release", "debug"].iter().find_map(|profile| {
        roots
            .iter()
            .map(|r| r.join(profile).join("switchboard"))
            .find(|c| c.is_file())
    })
}

fn is_debug_build(bin: &Path) -> bool {
    bin.components().any(|c| c.as_os_str() == "debug")
}

fn debug_banner(bin: &Path) -> String {
    let line = "!".repeat(100);
    format!(
        "{line}\n!! WARNING: {} is a DEBUG build. Its numbers are meaningless for performance.\n\
         !! Build the release binary first: cargo build --release -p gateway\n{line}",
        bin.display()
    )
}

struct SwitchboardProc {
    addr: SocketAddr,
    log: PathBuf,
    guard: ChildGuard,
    _dir: tempfile::TempDir,
}

impl SwitchboardProc {
    async fn start(bin: &Path, upstream: SocketAddr) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("bench-switchboard-")
            .tempdir()?;
        let port = free_port()?;
        let admin_port = free_port()?;
        let config = dir.path().join("switchboard.yaml");
        std::fs::write(
            &config,
            format!(
                "# generated by bench-http\n\
                 config:\n  adminAddr: 127.0.0.1:{admin_port}\n\
                 binds:\n\
                 - port: {port}\n  address: 127.0.0.1\n  listeners:\n  - name: bench\n    routes:\n\
                 \x20   - name: bench\n      matches: [{{ path: {{ prefix: / }} }}]\n      backends: [{{ host: {upstream} }}]\n"
            ),
        )?;
        let log = dir.path().join("switchboard.log");
        let logf = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .arg("run")
            .arg("-c")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut guard = ChildGuard {
            name: "switchboard",
            child,
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let admin: SocketAddr = ([127, 0, 0, 1], admin_port).into();
        // Ready when the admin endpoint says so; the proxy port answering is accepted too.
        wait_ready(&mut guard, &log, || async move {
            let ready = matches!(
                http_get(admin, "/readyz", Duration::from_secs(1)).await,
                Ok((StatusCode::OK, _))
            );
            ready
                || matches!(
                    http_get(addr, "/", Duration::from_secs(1)).await,
                    Ok((StatusCode::OK, _))
                )
        })
        .await
        .with_context(|| format!("starting {} run -c {}", bin.display(), config.display()))?;
        Ok(Self {
            addr,
            log,
            guard,
            _dir: dir,
        })
    }

    fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }
}

fn find_nginx(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nginx"))
        .chain(["/usr/sbin/nginx", "/usr/local/nginx/sbin/nginx"].map(PathBuf::from))
        .find(|c| c.is_file())
}

struct NginxProc {
    addr: SocketAddr,
    log: PathBuf,
    guard: ChildGuard,
    _dir: tempfile::TempDir,
}

impl NginxProc {
    async fn start(bin: &Path, upstream: SocketAddr, workers: &str) -> Result<Self> {
        if workers != "auto" && workers.parse::<u32>().map_or(true, |n| n == 0) {
            bail!("--nginx-workers: expected a positive number or `auto`, got {workers:?}");
        }
        let dir = tempfile::Builder::new().prefix("bench-nginx-").tempdir()?;
        let d = dir.path().display().to_string();
        let port = free_port()?;
        let conf = dir.path().join("nginx.conf");
        let log = dir.path().join("error.log");
        std::fs::write(
            &conf,
            format!(
                r#"# generated by bench-http: the same plain reverse proxy as the Switchboard run
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    upstream bench_upstream {{
        server {upstream};
        keepalive 64;
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"#
            ),
        )?;
        let mut cmd = Command::new(bin);
        cmd.arg("-p").arg(dir.path());
        if nginx_supports_e(bin) {
            // Where nginx logs before it reads the config (default: /var/log/nginx/error.log).
            cmd.arg("-e").arg(&log);
        }
        cmd.arg("-c")
            .arg(&conf)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log"))?);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut guard = ChildGuard {
            name: "nginx",
            child,
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_ready(&mut guard, &log, || async move {
            matches!(
                http_get(addr, "/", Duration::from_secs(1)).await,
                Ok((StatusCode::OK, _))
            )
        })
        .await
        .with_context(|| format!("starting {} -c {}", bin.display(), conf.display()))?;
        Ok(Self {
            addr,
            log,
            guard,
            _dir: dir,
        })
    }

    fn worker_count(&self) -> usize {
        child_pids(self.guard.pid()).len()
    }

    fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }
}

fn nginx_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned();
            Some(text.trim().split_once("version: ")?.1.to_string())
        })
        .unwrap_or_else(|| "unknown version".into())
}

/// nginx 1.19.5+ has `-e file` for the startup error log.
fn nginx_supports_e(bin: &Path) -> bool {
    Command::new(bin)
        .arg("-h")
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.contains("-e filename")
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// /proc sampling (Linux): CPU ticks and RSS of processes and threads
// ---------------------------------------------------------------------------------------------

struct ProcStats {
    cores: f64,
    rss_kib: u64,
}

struct CpuSample {
    self_ticks: u64,
    upstream_ticks: u64,
    proxy_ticks: u64,
    proxy_rss_kib: u64,
}

impl CpuSample {
    fn take(upstream_tid: i64, proxy_pid: Option<u32>) -> Self {
        let self_ticks = stat_ticks("/proc/self/stat").unwrap_or(0);
        let upstream_ticks =
            stat_ticks(&format!("/proc/self/task/{upstream_tid}/stat")).unwrap_or(0);
        let (mut proxy_ticks, mut proxy_rss_kib) = (0, 0);
        if let Some(pid) = proxy_pid {
            let mut pids = vec![pid];
            pids.extend(child_pids(pid));
            for p in pids {
                proxy_ticks += stat_ticks(&format!("/proc/{p}/stat")).unwrap_or(0);
                proxy_rss_kib += rss_kib(p).unwrap_or(0);
            }
        }
        Self {
            self_ticks,
            upstream_ticks,
            proxy_ticks,
            proxy_rss_kib,
        }
    }
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The fields of a /proc stat file after the `(comm)` field.
fn stat_fields(path: &str) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime in clock ticks.
fn stat_ticks(path: &str) -> Option<u64> {
    let f = stat_fields(path)?;
    // After `(comm)`: [0] state, [1] ppid, ... [11] utime, [12] stime.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn child_pids(parent: u32) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat_fields(&format!("/proc/{pid}/stat")).and_then(|f| f.get(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_model() -> Option<String> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn os_release() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("Linux {kernel}")
}

// ---------------------------------------------------------------------------------------------
// Optional cross-check with wrk
// ---------------------------------------------------------------------------------------------

struct WrkResult {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn run_wrk(addr: SocketAddr, args: &Args) -> Option<WrkResult> {
    let secs = args.duration.as_secs().max(1);
    let out = tokio::process::Command::new("wrk")
        .arg("-t")
        .arg(args.client_threads.to_string())
        .arg("-c")
        .arg(args.concurrency.to_string())
        .arg("-d")
        .arg(format!("{secs}s"))
        .arg("--latency")
        .arg(format!("http://{addr}/"))
        .stdin(Stdio::null())
        .output()
        .await;
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!("wrk failed: {}", String::from_utf8_lossy(&o.stderr));
            return None;
        }
        Err(e) => {
            eprintln!("wrk not run: {e}");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut r = WrkResult {
        rps: f64::NAN,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
    };
    let mut in_dist = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Latency Distribution") {
            in_dist = true;
        } else if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().unwrap_or(f64::NAN);
        } else if in_dist {
            let mut it = t.split_whitespace();
            match (it.next(), it.next().and_then(parse_wrk_latency_us)) {
                (Some("50%"), Some(v)) => r.p50_us = v,
                (Some("99%"), Some(v)) => r.p99_us = v,
                _ => {}
            }
        }
    }
    Some(r)
}

fn parse_wrk_latency_us(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    Some(num.parse::<f64>().ok()? * scale)
}
