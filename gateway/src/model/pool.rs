//! `inferencePool` backends as the data path sees them: the pool's endpoints and its picker.
//!
//! The picker is an enum so that kinds of picker can be added beside the endpoint picker
//! (EPP) reached over `ext_proc`; each kind says, per request, where the request goes.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use inference::load::{LoadPicker, LoadPickerConfig};

pub use crate::config::pool::{DestinationMode, PickerFailureMode};

/// One `inferencePool` backend, shared by every route that uses it.
#[derive(Debug)]
pub struct InferencePool {
    /// The backend's name (metrics, logs).
    pub name: Arc<str>,
    /// The model servers, in config order (`targetPorts` expanded).
    pub endpoints: Vec<SocketAddr>,
    /// The same, as `ip:port` strings: the subset hint sent to the picker.
    pub endpoint_strings: Vec<String>,
    /// How the endpoint of each request is chosen.
    pub picker: Picker,
    /// Whether an endpoint outside [`Self::endpoints`] may be used.
    pub destination_mode: DestinationMode,
}

/// How a pool's endpoint is chosen.
#[derive(Debug)]
pub enum Picker {
    /// An endpoint picker (EPP) asked over Envoy `ext_proc`.
    Epp(EppPicker),
    /// The built-in least-loaded picker, fed by the model servers' metrics.
    Load(LoadPick),
}

/// The built-in load picker of a pool. Its scrape task needs the runtime: a pool built in a
/// running gateway (a reload) starts scraping at once; one built before the runtime (the first
/// config load, `switchboard validate`) starts on its first request, which then goes by the
/// gateway's own in-flight counts until the first scrape round.
pub struct LoadPick {
    pool: Arc<str>,
    config: LoadPickerConfig,
    endpoints: Vec<SocketAddr>,
    started: OnceLock<Result<Arc<LoadPicker>, String>>,
}

impl std::fmt::Debug for LoadPick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadPick")
            .field("pool", &self.pool)
            .field("started", &self.started.get().is_some())
            .finish_non_exhaustive()
    }
}

impl LoadPick {
    /// The picker of `pool` over `endpoints`; started now when a runtime is running.
    pub fn new(pool: Arc<str>, config: LoadPickerConfig, endpoints: Vec<SocketAddr>) -> Self {
        let pick = LoadPick {
            pool,
            config,
            endpoints,
            started: OnceLock::new(),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = pick.picker();
        }
        pick
    }

    /// The running picker (started on first use, its endpoints' gauges exported from then
    /// on), or why it could not start.
    pub fn picker(&self) -> Result<&LoadPicker, &str> {
        self.started
            .get_or_init(|| {
                let picker = LoadPicker::start(&self.pool, &self.config, self.endpoints.clone())
                    .map_err(|e| e.to_string())?;
                let picker = Arc::new(picker);
                crate::metrics::Metrics::global()
                    .pools
                    .endpoints
                    .watch(Arc::downgrade(&picker));
                Ok(picker)
            })
            .as_ref()
            .map(|p| &**p)
            .map_err(String::as_str)
    }
}

/// An endpoint picker and what to do when it fails.
#[derive(Debug)]
pub struct EppPicker {
    /// The client, with its shared channel and health state.
    pub client: inference::epp::EndpointPicker,
    /// `failureMode`.
    pub failure_mode: PickerFailureMode,
}

impl InferencePool {
    /// Whether `endpoint` may be used: always in `passthrough` mode, else only the pool's.
    pub fn allows(&self, endpoint: &SocketAddr) -> bool {
        self.destination_mode == DestinationMode::Passthrough || self.endpoints.contains(endpoint)
    }

    /// A random endpoint of the pool (fail-open), if it has any.
    pub fn random_endpoint(&self) -> Option<SocketAddr> {
        if self.endpoints.is_empty() {
            return None;
        }
        let i = rand::random_range(0..self.endpoints.len());
        self.endpoints.get(i).copied()
    }
}
