//! The few gauges of a model server's Prometheus metrics that tell its load, read from the text
//! exposition format (`text/plain; version=0.0.4`, and OpenMetrics text, which only adds
//! `# EOF` and comments).
//!
//! Why by hand: only three families matter out of hundreds (vLLM exposes dozens of histograms),
//! so lines whose name is not wanted are skipped after reading the name, with no allocation.
//! The kept crate `prometheus-parse` (0.2.5) reads names with the regex `\w+`, which stops at
//! the `:` of `vllm:num_requests_waiting`, and builds every family into maps.
//!
//! Read: `name value`, `name{labels} value`, and either with a trailing timestamp (ignored).
//! Samples of a family are combined over label sets (several engines or models in one
//! server): counts of requests are added, the KV-cache ratio takes the largest (the fullest
//! engine is the one about to preempt). `NaN`, `±Inf` and negative counts are not load: such
//! a sample is ignored. A line that does not parse is skipped; nothing here panics.

/// The load of one model server at one scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    /// Requests waiting for a slot: vLLM `vllm:num_requests_waiting`, llama.cpp
    /// `llamacpp:requests_deferred`. `None`: the server exposes neither.
    pub queue: Option<f64>,
    /// Requests being processed: vLLM `vllm:num_requests_running`, llama.cpp
    /// `llamacpp:requests_processing`.
    pub running: Option<f64>,
    /// KV-cache use from 0 to 1: vLLM `vllm:kv_cache_usage_perc` (`vllm:gpu_cache_usage_perc`
    /// before vLLM 0.10), llama.cpp `llamacpp:kv_cache_usage_ratio`.
    pub kv_cache: Option<f64>,
}

impl Load {
    /// Whether any load gauge was found: a text with none is not a model server's metrics
    /// (a wrong `path` or `port`), and counts as a failed scrape.
    pub fn is_known(&self) -> bool {
        self.queue.is_some() || self.running.is_some() || self.kv_cache.is_some()
    }
}

/// What a wanted family feeds.
#[derive(Clone, Copy)]
enum Gauge {
    Queue,
    Running,
    KvCache,
}

/// The families read, by exact name.
const FAMILIES: &[(&str, Gauge)] = &[
    ("vllm:num_requests_waiting", Gauge::Queue),
    ("llamacpp:requests_deferred", Gauge::Queue),
    ("vllm:num_requests_running", Gauge::Running),
    ("llamacpp:requests_processing", Gauge::Running),
    ("vllm:kv_cache_usage_perc", Gauge::KvCache),
    ("vllm:gpu_cache_usage_perc", Gauge::KvCache),
    ("llamacpp:kv_cache_usage_ratio", Gauge::KvCache),
];

/// The load gauges found in `text` (absent ones are `None`).
pub fn parse_load(text: &str) -> Load {
    let mut load = Load::default();
    for line in text.lines() {
        let Some((gauge, value)) = sample(line) else {
            continue;
        };
        match gauge {
            Gauge::Queue => add(&mut load.queue, value),
            Gauge::Running => add(&mut load.running, value),
            Gauge::KvCache => {
                if value <= 1.0 {
                    load.kv_cache = Some(load.kv_cache.map_or(value, |k| k.max(value)));
                }
            }
        }
    }
    load
}

fn add(slot: &mut Option<f64>, value: f64) {
    *slot = Some(slot.unwrap_or(0.0) + value);
}

/// One sample line of a wanted family, with a finite, non-negative value.
fn sample(line: &str) -> Option<(Gauge, f64)> {
    let line = line.trim_start_matches([' ', '\t']);
    if line.starts_with('#') {
        return None;
    }
    let name_len = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(name_len);
    let gauge = FAMILIES.iter().find(|(n, _)| *n == name)?.1;
    let rest = match rest.strip_prefix('{') {
        Some(labels) => &labels[labels_end(labels)?..],
        None => rest,
    };
    // The value follows at least one blank; a timestamp may follow it.
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let value = rest.split_ascii_whitespace().next()?;
    let value: f64 = value.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((gauge, value))
}

/// The offset just past the `}` that closes a label set (`s` starts after its `{`), quoted
/// values (with `\"` and `\\` escapes) skipped; `None` when it is not closed on this line.
fn labels_end(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match (in_quotes, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_quotes = false,
            (false, _, b'"') => in_quotes = true,
            (false, _, b'}') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vLLM 0.11 (V1 engine) scrape, shortened: two engines (data parallel), histograms,
    /// counters and process metrics around the three gauges.
    const VLLM: &str = r#"# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 12034.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 5.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.4375
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.3125
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 58213.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 412.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 412.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 91.2
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
"#;

    /// `llama-server --metrics` (b6000-era), in its order and with its HELP texts.
    const LLAMACPP: &str =
        "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n\
# TYPE llamacpp:prompt_tokens_total counter\n\
llamacpp:prompt_tokens_total 4096\n\
# HELP llamacpp:prompt_seconds_total Prompt process time\n\
# TYPE llamacpp:prompt_seconds_total counter\n\
llamacpp:prompt_seconds_total 1.52\n\
# HELP llamacpp:n_decode_total Total number of llama_decode() calls\n\
# TYPE llamacpp:n_decode_total counter\n\
llamacpp:n_decode_total 380\n\
# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.\n\
# TYPE llamacpp:kv_cache_usage_ratio gauge\n\
llamacpp:kv_cache_usage_ratio 0.25\n\
# HELP llamacpp:kv_cache_tokens KV-cache tokens.\n\
# TYPE llamacpp:kv_cache_tokens gauge\n\
llamacpp:kv_cache_tokens 1024\n\
# HELP llamacpp:requests_processing Number of requests processing.\n\
# TYPE llamacpp:requests_processing gauge\n\
llamacpp:requests_processing 4\n\
# HELP llamacpp:requests_deferred Number of requests deferred.\n\
# TYPE llamacpp:requests_deferred gauge\n\
llamacpp:requests_deferred 6\n";

    #[test]
    fn vllm_gauges_are_summed_over_engines_and_the_cache_takes_the_fullest() {
        let load = parse_load(VLLM);
        assert_eq!(load.queue, Some(3.0));
        assert_eq!(load.running, Some(12.0));
        assert_eq!(load.kv_cache, Some(0.4375));
    }

    #[test]
    fn llamacpp_gauges_are_read() {
        let load = parse_load(LLAMACPP);
        assert_eq!(
            load,
            Load {
                queue: Some(6.0),
                running: Some(4.0),
                kv_cache: Some(0.25)
            }
        );
    }

    #[test]
    fn older_vllm_names_its_cache_gauge_gpu_cache_usage_perc() {
        let text = "# TYPE vllm:gpu_cache_usage_perc gauge\n\
                    vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.5\n\
                    vllm:num_requests_waiting{model_name=\"m\"} 0\n";
        let load = parse_load(text);
        assert_eq!(load.kv_cache, Some(0.5));
        assert_eq!(load.queue, Some(0.0));
        assert_eq!(load.running, None);
    }

    #[test]
    fn timestamps_crlf_tabs_and_openmetrics_eof_are_accepted() {
        let text = "vllm:num_requests_waiting{model_name=\"m\"} 4 1733580000000\r\n\
                    \tvllm:num_requests_running\t2\r\n\
                    # EOF\r\n";
        let load = parse_load(text);
        assert_eq!(load.queue, Some(4.0));
        assert_eq!(load.running, Some(2.0));
    }

    #[test]
    fn label_values_may_hold_braces_quotes_and_commas() {
        let text = r#"vllm:num_requests_waiting{model_name="a}b\"c,d\\",engine="0",} 5"#;
        assert_eq!(parse_load(text).queue, Some(5.0));
    }

    #[test]
    fn names_must_match_exactly() {
        let text = "vllm:num_requests_waiting_total 9\n\
                    xvllm:num_requests_waiting 9\n\
                    vllm:num_requests_waiting 1\n";
        assert_eq!(parse_load(text).queue, Some(1.0));
    }

    #[test]
    fn nan_inf_and_negative_samples_are_not_load() {
        let text = "vllm:num_requests_waiting{engine=\"0\"} NaN\n\
                    vllm:num_requests_waiting{engine=\"1\"} +Inf\n\
                    vllm:num_requests_waiting{engine=\"2\"} -Inf\n\
                    vllm:num_requests_waiting{engine=\"3\"} -2\n\
                    vllm:num_requests_waiting{engine=\"4\"} 2\n\
                    vllm:kv_cache_usage_perc 1.5\n\
                    vllm:num_requests_running NaN\n";
        let load = parse_load(text);
        assert_eq!(load.queue, Some(2.0));
        assert_eq!(load.running, None);
        assert_eq!(load.kv_cache, None);
    }

    #[test]
    fn bad_lines_are_skipped_and_the_rest_is_read() {
        let text = "vllm:num_requests_waiting{model_name=\"unterminated 3\n\
                    vllm:num_requests_waiting{model_name=\"x\"}3\n\
                    vllm:num_requests_waiting\n\
                    vllm:num_requests_waiting three\n\
                    vllm:num_requests_waiting{} 1\n\
                    \u{feff}garbage \u{1F600} {{{ \"\n\
                    vllm:num_requests_running 2";
        let load = parse_load(text);
        assert_eq!(load.queue, Some(1.0));
        assert_eq!(load.running, Some(2.0));
    }

    #[test]
    fn a_text_without_load_gauges_is_not_known() {
        assert!(!parse_load("").is_known());
        assert!(!parse_load("# HELP up\nup 1\nhttp_requests_total{code=\"200\"} 3\n").is_known());
        assert!(parse_load(LLAMACPP).is_known());
    }

    /// Any input, cut anywhere, parses without panicking.
    #[test]
    fn truncated_input_never_panics() {
        let all = format!("{VLLM}{LLAMACPP}");
        for cut in 0..all.len() {
            if all.is_char_boundary(cut) {
                let _ = parse_load(&all[..cut]);
                let _ = parse_load(&all[cut..]);
            }
        }
    }
}
