//! Which `kubectl` the tests drive, and how old it is.
//!
//! kubectl 1.27 and later validate `apply` with the server's `/openapi/v3`, which this server
//! answers. Older ones (Debian bookworm's `kubernetes-client` is 1.20) fetch the protobuf
//! `/openapi/v2`, which it does not serve; for them `apply` runs with `--validate=false`, and
//! the server still refuses what it cannot store. Tests pass [`apply_flags`] after `apply`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `$KUBECTL`, else `/usr/bin/kubectl`, `/usr/local/bin/kubectl`, else `kubectl` on PATH.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBECTL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/kubectl", "/usr/local/bin/kubectl"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("kubectl")
}

/// The client's minor version (`32` for 1.32), if `kubectl version --client` says it.
pub fn minor_version() -> Option<u32> {
    static MINOR: OnceLock<Option<u32>> = OnceLock::new();
    *MINOR.get_or_init(|| {
        let out = std::process::Command::new(binary())
            .args(["version", "--client", "-o", "json"])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let minor = v["clientVersion"]["minor"].as_str()?;
        minor.trim_end_matches('+').parse().ok()
    })
}

/// Whether this kubectl validates against `/openapi/v3` (1.27 and later).
pub fn is_current() -> bool {
    minor_version().is_some_and(|m| m >= 27)
}

/// Flags to add to `kubectl apply` (and `create -f`) for this kubectl.
pub fn apply_flags() -> &'static [&'static str] {
    if is_current() {
        &[]
    } else {
        &["--validate=false"]
    }
}
