//! Linux `/proc` sampling: CPU ticks and RSS of processes and threads, and the machine
//! description for the header.
//!
//! Read straight from `/proc` rather than via `getrusage`: the harness needs the CPU of one
//! thread of its own (the upstream) and of a separate process tree (the proxy and, for nginx,
//! its workers), which `getrusage` cannot give while they run.

/// A proxy's resource use over the measured window.
pub struct ProcStats {
    /// CPU time of the proxy's process tree divided by the window: cores kept busy
    /// (`user_cores + sys_cores`).
    pub cores: f64,
    /// The part of `cores` spent in user space (`utime`): the proxy's own code.
    pub user_cores: f64,
    /// The part of `cores` spent in the kernel on the proxy's behalf (`stime`): syscalls,
    /// socket work, wake-ups. Reported apart because a proxy can trade one for the other.
    pub sys_cores: f64,
    /// Resident memory of the process tree at the end of the window.
    pub rss_kib: u64,
}

impl ProcStats {
    /// The proxy's use between two samples taken `secs` apart.
    pub fn between(c0: &CpuSample, c1: &CpuSample, secs: f64) -> Self {
        let cores_of = |a: u64, b: u64| b.saturating_sub(a) as f64 / clk_tck() / secs;
        let user_cores = cores_of(c0.proxy_user_ticks, c1.proxy_user_ticks);
        let sys_cores = cores_of(c0.proxy_sys_ticks, c1.proxy_sys_ticks);
        Self {
            cores: user_cores + sys_cores,
            user_cores,
            sys_cores,
            rss_kib: c1.proxy_rss_kib,
        }
    }

    /// CPU µs per request, as `(user, system, total)`, for `requests` completed in a window of
    /// `secs`; `None` when nothing completed.
    pub fn per_request_us(&self, requests: u64, secs: f64) -> Option<CpuPerRequest> {
        if requests == 0 {
            return None;
        }
        let us = |cores: f64| cores * secs * 1e6 / requests as f64;
        Some(CpuPerRequest {
            user: us(self.user_cores),
            sys: us(self.sys_cores),
            total: us(self.cores),
        })
    }
}

/// A proxy's CPU time per request, µs, split as `/proc/<pid>/stat` splits it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuPerRequest {
    pub user: f64,
    pub sys: f64,
    pub total: f64,
}

/// Cumulative CPU ticks at one instant; two samples bracket the measured window.
pub struct CpuSample {
    /// This whole process: load generator plus upstream.
    pub self_ticks: u64,
    pub upstream_ticks: u64,
    /// The proxy and its descendants (nginx workers, LiteLLM's), user + system; 0 without a
    /// proxy.
    pub proxy_ticks: u64,
    /// The user-space part of `proxy_ticks` (`utime`).
    pub proxy_user_ticks: u64,
    /// The kernel part of `proxy_ticks` (`stime`).
    pub proxy_sys_ticks: u64,
    pub proxy_rss_kib: u64,
}

impl CpuSample {
    /// Samples now. Unreadable files count as 0 rather than failing: a sample is a diagnostic
    /// and should not abort a run that already produced its throughput numbers.
    pub fn take(upstream_tid: i64, proxy_pid: Option<u32>) -> Self {
        let self_ticks = stat_ticks("/proc/self/stat").unwrap_or(0);
        let upstream_ticks =
            stat_ticks(&format!("/proc/self/task/{upstream_tid}/stat")).unwrap_or(0);
        let (mut user, mut sys, mut proxy_rss_kib) = (0, 0, 0);
        if let Some(pid) = proxy_pid {
            for p in process_tree(pid) {
                let (u, s) = stat_cpu(&format!("/proc/{p}/stat")).unwrap_or((0, 0));
                user += u;
                sys += s;
                proxy_rss_kib += rss_kib(p).unwrap_or(0);
            }
        }
        Self {
            self_ticks,
            upstream_ticks,
            proxy_ticks: user + sys,
            proxy_user_ticks: user,
            proxy_sys_ticks: sys,
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
    let (u, s) = stat_cpu(path)?;
    Some(u + s)
}

/// `(utime, stime)` in clock ticks: CPU spent in user space and in the kernel.
fn stat_cpu(path: &str) -> Option<(u64, u64)> {
    parse_cpu(&std::fs::read_to_string(path).ok()?)
}

/// `(utime, stime)` from the text of a stat file.
fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After `(comm)`: [0] state, [1] ppid, ... [11] utime, [12] stime.
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
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

/// `root` and all its descendants, at any depth (LiteLLM's workers under its supervisor,
/// nginx's under its master), from one scan of `/proc`.
pub fn process_tree(root: u32) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![root];
    };
    let parents: Vec<(u32, u32)> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let ppid = stat_fields(&format!("/proc/{pid}/stat"))?
                .get(1)?
                .parse::<u32>()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|&&(pid, ppid)| ppid == parent && pid != root)
                .map(|&(pid, _)| pid),
        );
        i += 1;
    }
    tree
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_apart_even_with_a_tricky_comm() {
        // Fields 14 and 15 of proc(5) are utime and stime; `comm` may hold spaces and `)`.
        let stat = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 173 29 0 0 20 0 4 0";
        assert_eq!(parse_cpu(stat), Some((173, 29)));
        assert_eq!(parse_cpu("4242 (x) S 1"), None);
    }

    #[test]
    fn per_request_cpu_splits_user_and_system() {
        let s = ProcStats {
            cores: 0.75,
            user_cores: 0.5,
            sys_cores: 0.25,
            rss_kib: 0,
        };
        // 2 s window, 10,000 requests: 0.5 core * 2 s / 1e4 = 100 µs user per request.
        let per = s.per_request_us(10_000, 2.0);
        assert_eq!(
            per,
            Some(CpuPerRequest {
                user: 100.0,
                sys: 50.0,
                total: 150.0
            })
        );
        assert_eq!(s.per_request_us(0, 2.0), None);
    }

    #[test]
    fn the_process_tree_reaches_grandchildren() {
        // sh -> sh -> sleep: the sleep is two levels below the root.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sh -c 'sleep 30 & wait' & wait"])
            .spawn()
            .expect("sh");
        let root = child.id();
        let mut tree = Vec::new();
        for _ in 0..200 {
            tree = process_tree(root);
            if tree.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for &p in tree.iter().rev() {
            // SAFETY: kill(2) on our own child and its descendants, found just above.
            unsafe {
                libc::kill(p as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = child.wait();
        assert_eq!(tree.len(), 3, "{tree:?}");
        assert_eq!(tree[0], root);
    }

    #[test]
    fn this_process_has_cpu_figures() {
        // Burn a little CPU so utime is likely non-zero; the point is that the file parses.
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(stat_cpu("/proc/self/stat").is_some());
    }
}
