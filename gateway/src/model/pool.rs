//! `inferencePool` backends as the data path sees them: the pool's endpoints and its picker.
//!
//! The picker is an enum so that kinds of picker can be added beside the endpoint picker
//! (EPP) reached over `ext_proc`; each kind says, per request, where the request goes.

use std::net::SocketAddr;
use std::sync::Arc;

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
