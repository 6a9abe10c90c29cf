//! Linux `/proc` sampling: CPU ticks and RSS of processes and threads, and the machine
//! description for the header.
//!
//! Read straight from `/proc` rather than via `getrusage`: the harness needs the CPU of one
//! thread of its own (the upstream) and of a separate process tree (the proxy and, for nginx,
//! its workers), which `getrusage` cannot give while they run.

/// A proxy's resource use over the measured window.
pub struct ProcStats {
    /// CPU time of the proxy's process tree divided by the window: cores kept busy.
    pub cores: f64,
    /// Resident memory of the process tree at the end of the window.
    pub rss_kib: u64,
}

/// Cumulative CPU ticks at one instant; two samples bracket the measured window.
pub struct CpuSample {
    /// This whole process: load generator plus upstream.
    pub self_ticks: u64,
    pub upstream_ticks: u64,
    /// The proxy and its direct children (nginx workers); 0 without a proxy.
    pub proxy_ticks: u64,
    pub proxy_rss_kib: u64,
}

impl CpuSample {
    /// Samples now. Unreadable files count as 0 rather than failing: a sample is a diagnostic
    /// and should not abort a run that already produced its throughput numbers.
    pub fn take(upstream_tid: i64, proxy_pid: Option<u32>) -> Self {
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

/// Clock ticks per second, the unit of the CPU times in `/proc/*/stat` (100 if unknown, the
/// usual Linux value).
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The fields of a /proc stat file after the `(comm)` field.
///
/// Split after the last `)` because `comm` may itself contain spaces and parentheses.
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

/// Pids whose parent is `parent` (one level: enough for nginx's master and workers).
pub fn child_pids(parent: u32) -> Vec<u32> {
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

/// Resident memory of one process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU model name, for the header: numbers are only comparable on the same hardware.
pub fn cpu_model() -> Option<String> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// `Linux <kernel release>`, for the header.
pub fn os_release() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("Linux {kernel}")
}
