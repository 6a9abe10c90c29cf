//! The official Python `openai` and `anthropic` SDKs as test clients
//! (`tests/python/llm_client.py`, SDKs pinned in tests/requirements-llm.txt): one request,
//! streamed or not, optionally with a tool definition; the script prints a JSON summary of what
//! the SDK parsed (text, tool calls, usage, stop reason, stream event types) or the error the
//! SDK raised, and the test asserts on it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::a2a::{python, run_python_script};

/// Which SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// `openai` (chat completions); `base_url` ends in `/v1`.
    OpenAi,
    /// `anthropic` (Messages); `base_url` is the origin (the SDK adds `/v1/messages`).
    Anthropic,
}

impl Sdk {
    fn arg(self) -> &'static str {
        match self {
            Sdk::OpenAi => "openai",
            Sdk::Anthropic => "anthropic",
        }
    }
}

/// One run's request.
#[derive(Clone, Debug)]
pub struct SdkRunOptions {
    /// `model`.
    pub model: String,
    /// Stream the answer (OpenAI: with `stream_options.include_usage`).
    pub stream: bool,
    /// Send the `get_weather(location)` tool definition.
    pub tool: bool,
    /// The user message.
    pub prompt: String,
    /// `max_tokens`.
    pub max_tokens: u32,
    /// The SDK's `max_retries` (0: every failure reaches the test).
    pub retries: u32,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Bound of the whole run, Python's start included.
    pub limit: Duration,
    /// The SDK's own `timeout` (default: `limit` less 5 s); a stalled stream raises after it.
    pub sdk_timeout: Option<Duration>,
    /// With [`Sdk::OpenAi`]: call the Responses API (`client.responses.create`, streamed
    /// with `client.responses.stream`) instead of chat completions.
    pub responses: bool,
}

impl SdkRunOptions {
    /// A short non-streamed request for `model`, no tool, no retries, bounded by 60 s.
    pub fn new(model: &str) -> SdkRunOptions {
        SdkRunOptions {
            model: model.to_string(),
            stream: false,
            tool: false,
            prompt: "Say hello in five words.".to_string(),
            max_tokens: 32,
            retries: 0,
            headers: Vec::new(),
            limit: Duration::from_secs(60),
            sdk_timeout: None,
            responses: false,
        }
    }

    /// Streamed.
    pub fn streamed(mut self) -> Self {
        self.stream = true;
        self
    }

    /// With the tool definition.
    pub fn with_tool(mut self) -> Self {
        self.tool = true;
        self
    }
}

/// What `llm_client.py` printed.
#[derive(Debug)]
pub struct SdkRun {
    /// Exit 0: the SDK returned without raising.
    pub success: bool,
    /// The summary: `{"sdk", "stream", "id", "model", "text", "tool_calls": [{"id", "name",
    /// "arguments"}], "usage": {"input_tokens", "output_tokens", "cached_tokens"},
    /// "stop_reason", "events": [type...], "error": null | {"class", "status", "message"}}`.
    pub summary: Value,
    /// Its stderr.
    pub stderr: String,
}

impl SdkRun {
    /// Panics with the output unless the SDK returned without raising.
    pub fn ok(self) -> SdkRun {
        assert!(
            self.success && self.summary["error"].is_null(),
            "llm_client.py failed: {}\nstderr:\n{}",
            self.summary,
            self.stderr
        );
        self
    }

    /// The assistant text.
    pub fn text(&self) -> &str {
        self.summary["text"].as_str().unwrap_or("")
    }

    /// The tool calls (`{"id", "name", "arguments"}`, arguments parsed to JSON).
    pub fn tool_calls(&self) -> Vec<Value> {
        self.summary["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// (input tokens, output tokens) as the SDK read them.
    pub fn usage(&self) -> (u64, u64) {
        let u = &self.summary["usage"];
        (
            u["input_tokens"].as_u64().unwrap_or(0),
            u["output_tokens"].as_u64().unwrap_or(0),
        )
    }

    /// `finish_reason` (OpenAI) or `stop_reason` (Anthropic).
    pub fn stop_reason(&self) -> &str {
        self.summary["stop_reason"].as_str().unwrap_or("")
    }

    /// The stream's event types as the SDK yielded them (chunks for OpenAI).
    pub fn events(&self) -> Vec<String> {
        self.summary["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The error the SDK raised, if any (`{"class", "status", "message"}`).
    pub fn error(&self) -> Option<&Value> {
        Some(&self.summary["error"]).filter(|e| !e.is_null())
    }
}

/// Panics with the install command unless both SDKs import (checked once).
pub fn require_sdks() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let res = CHECK.get_or_init(|| {
        let out = Command::new(python())
            .args(["-c", "import openai, anthropic"])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
            Err(e) => Err(format!("cannot run {}: {e}", python())),
        }
    });
    if let Err(e) = res {
        let req = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("requirements-llm.txt");
        panic!(
            "the LLM tests need the Python openai and anthropic SDKs; install them with:\n    \
             python3 -m pip install -r {}\n(or run scripts/test.sh). Import failed:\n{e}",
            req.display()
        );
    }
}

/// Runs `llm_client.py` with `sdk` against `base_url`, bounded by `opts.limit`.
pub async fn run_sdk_client(sdk: Sdk, base_url: &str, opts: &SdkRunOptions) -> SdkRun {
    require_sdks();
    let own = opts.sdk_timeout.unwrap_or_else(|| {
        opts.limit
            .saturating_sub(Duration::from_secs(5))
            .max(Duration::from_secs(1))
    });
    let mut argv: Vec<String> = vec![
        "--sdk".into(),
        if opts.responses && sdk == Sdk::OpenAi {
            "openai-responses".into()
        } else {
            sdk.arg().into()
        },
        "--base-url".into(),
        base_url.into(),
        "--model".into(),
        opts.model.clone(),
        "--prompt".into(),
        opts.prompt.clone(),
        "--max-tokens".into(),
        opts.max_tokens.to_string(),
        "--retries".into(),
        opts.retries.to_string(),
        "--timeout".into(),
        own.as_secs_f64().to_string(),
    ];
    if opts.stream {
        argv.push("--stream".into());
    }
    if opts.tool {
        argv.push("--tool".into());
    }
    for (k, v) in &opts.headers {
        argv.extend(["--header".to_string(), format!("{k}={v}")]);
    }
    let out = run_python_script("llm_client.py", &argv, opts.limit).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(|| {
            panic!("llm_client.py printed no JSON summary; stdout:\n{stdout}\nstderr:\n{stderr}")
        });
    SdkRun {
        success: out.status.success(),
        summary,
        stderr,
    }
}
