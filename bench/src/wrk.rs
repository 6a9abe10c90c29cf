//! Optional cross-check with `wrk` (`--wrk`): the same target, connections and duration measured
//! by an independent, widely used load generator, so a flaw in the built-in one would show as a
//! disagreement between the two.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

/// wrk's numbers for one target; NaN where its output could not be parsed.
pub struct WrkResult {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Runs wrk with `threads` threads and `connections` connections for `duration` (whole
/// seconds, at least 1: wrk takes no finer unit). `None`, with a message on stderr, when wrk is
/// missing or fails: the cross-check is optional and must not end the run.
pub async fn run_wrk(
    addr: SocketAddr,
    threads: usize,
    connections: usize,
    duration: Duration,
) -> Option<WrkResult> {
    let secs = duration.as_secs().max(1);
    let out = tokio::process::Command::new("wrk")
        .arg("-t")
        .arg(threads.to_string())
        .arg("-c")
        .arg(connections.to_string())
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
    Some(parse_wrk_output(&String::from_utf8_lossy(&out.stdout)))
}

/// Picks `Requests/sec` and the 50% / 99% lines of the `Latency Distribution` block out of
/// wrk's `--latency` report.
fn parse_wrk_output(text: &str) -> WrkResult {
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
    r
}

/// wrk prints latencies with a unit suffix (`812.00us`, `1.20ms`, `2.00s`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wrk_report() {
        let text = "Running 5s test @ http://127.0.0.1:1/\n\
                    \x20 1 threads and 32 connections\n\
                    \x20 Latency Distribution\n\
                    \x20    50%  812.00us\n\
                    \x20    75%    1.00ms\n\
                    \x20    99%    1.20ms\n\
                    \x20 100000 requests in 5.00s, 20.00MB read\n\
                    Requests/sec:  20000.50\n";
        let r = parse_wrk_output(text);
        assert_eq!(r.rps, 20000.5);
        assert_eq!(r.p50_us, 812.0);
        assert_eq!(r.p99_us, 1200.0);
        assert_eq!(parse_wrk_latency_us("2.00s"), Some(2e6));
        assert_eq!(parse_wrk_latency_us("12"), None);
    }
}
