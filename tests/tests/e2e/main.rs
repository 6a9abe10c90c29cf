//! End-to-end tests: each starts the real `switchboard` binary against in-process upstreams.
//!
//! Build the binary first: `cargo build -p gateway --bin switchboard`.

mod admin;
mod bad_input;
mod config_errors;
mod policies;
mod proxy;
mod reload;
mod routing;
mod shutdown;
mod streaming;
mod tracing;

use std::time::Duration;

use e2e::{fill, Upstream};

/// Upper bound for any single awaited step of a test.
pub const STEP: Duration = Duration::from_secs(15);

/// Starts one upstream per name.
pub async fn upstreams(names: &[&str]) -> Vec<Upstream> {
    let mut v = Vec::new();
    for n in names {
        v.push(Upstream::start(n).await);
    }
    v
}

/// Fills `{NAME}` with the host of the upstream of that name (names given in `names` order).
pub fn with_hosts(template: &str, names: &[&str], ups: &[Upstream]) -> String {
    let vars: Vec<(String, String)> = names
        .iter()
        .zip(ups)
        .map(|(n, u)| (n.to_string(), u.host()))
        .collect();
    fill(template, &vars)
}

/// GET and return (status, body).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = tokio::time::timeout(STEP, client.get(url).send())
        .await
        .unwrap_or_else(|_| panic!("GET {url} timed out"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}
