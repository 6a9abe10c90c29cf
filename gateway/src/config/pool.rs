//! The `inferencePool` backend of the config file: the model servers of a Gateway API
//! Inference Extension `InferencePool` and the picker that chooses one per request.
//!
//! Lowered by `model::lower::pool`, served by `proxy::pool`; docs/config.md
//! ("inferencePool backends") documents every key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::Duration;

/// An `inferencePool` backend: model servers behind one name, one of them chosen per request
/// by a picker. Exactly one picker kind is set: `endpointPicker` or `loadPicker`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferencePoolConfig {
    /// The model servers: `ip:port`, or a bare IP address that is served on each of
    /// `targetPorts`. Sent to the picker as the subset hint; with `destinationMode:
    /// validated`, the only endpoints a request may go to. May be empty only with
    /// `destinationMode: passthrough` and `failureMode: FailClose` (the picker alone knows
    /// the servers).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// The ports of the model servers (the Inference Extension's `targetPorts`), for the
    /// bare IP addresses in `endpoints`; several ports on one address are several endpoints
    /// (data parallelism).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_ports: Vec<u16>,
    /// An endpoint picker (EPP) reached over Envoy `ext_proc` (gRPC), as the Inference
    /// Extension specifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_picker: Option<EndpointPickerConfig>,
    /// The built-in picker: the least loaded of `endpoints`, judged from each model server's
    /// own Prometheus metrics (vLLM, llama.cpp server), scraped on an interval; for users
    /// with no endpoint picker deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_picker: Option<inference::load::LoadPickerConfig>,
    /// What to do with an endpoint the picker names that is not in `endpoints`:
    /// `validated` (default) refuses the request with 503; `passthrough` sends it there.
    /// (`loadPicker` only ever picks from `endpoints`.)
    #[serde(default)]
    pub destination_mode: DestinationMode,
}

/// `inferencePool.endpointPicker`: the picker service.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPickerConfig {
    /// `ip:port` (or `host:port`) of the picker's gRPC server (plain HTTP/2).
    pub host: String,
    /// What a request gets when the picker is down, unreachable, times out or answers
    /// nonsense: `FailClose` (default, as the Inference Extension's API says) answers 503;
    /// `FailOpen` sends it to a random endpoint of the pool.
    #[serde(default)]
    pub failure_mode: PickerFailureMode,
    /// The limit on one pick (the picker's answer after the request's headers and body).
    /// Default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// `endpointPicker.failureMode`, spelled as in the Inference Extension's `InferencePool`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PickerFailureMode {
    /// Answer 503.
    #[default]
    FailClose,
    /// Send the request to a random endpoint of the pool.
    FailOpen,
}

/// `inferencePool.destinationMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DestinationMode {
    /// Only endpoints of the pool; another is refused with 503 (the reason is logged).
    #[default]
    Validated,
    /// Any endpoint the picker names.
    Passthrough,
}
