//! Lowering `inferencePool` backends: endpoints (bare addresses expanded over `targetPorts`),
//! the picker, the destination mode.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::Lowering;
use crate::config::pool::{EndpointPickerConfig, InferencePoolConfig, PickerFailureMode};
use crate::model::pool::{DestinationMode, EppPicker, InferencePool, LoadPick, Picker};
use inference::load::LoadPickerConfig;

/// `endpointPicker.timeout` when unset.
pub(super) const DEFAULT_PICK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an endpoint picker's gRPC health is checked.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

impl Lowering<'_> {
    /// The `inferencePool` backend `backends[i]`, built on first use (one per backend, so its
    /// picker's channel and health are shared by every route).
    pub(super) fn named_pool(
        &mut self,
        i: usize,
        name: &str,
        cfg: &InferencePoolConfig,
    ) -> Option<Arc<InferencePool>> {
        if let Some(built) = self.pools.get(&i) {
            return built.clone();
        }
        let built = self
            .inference_pool(&format!("backends[{i}].inferencePool"), name, cfg)
            .map(Arc::new);
        self.pools.insert(i, built.clone());
        built
    }

    /// An `inferencePool` (a backend's, or an `ai` provider's) at `path`.
    pub(super) fn inference_pool(
        &mut self,
        path: &str,
        name: &str,
        cfg: &InferencePoolConfig,
    ) -> Option<InferencePool> {
        let errors = self.errors.len();
        let mut endpoints: Vec<SocketAddr> = Vec::new();
        for (k, e) in cfg.endpoints.iter().enumerate() {
            let at = format!("{path}.endpoints[{k}]");
            if let Ok(addr) = e.parse::<SocketAddr>() {
                endpoints.push(addr);
            } else if let Ok(ip) = e.parse::<IpAddr>() {
                if cfg.target_ports.is_empty() {
                    self.err(
                        at,
                        format!(
                            "{e:?} has no port: write ip:port, or list the ports in targetPorts"
                        ),
                    );
                }
                endpoints.extend(cfg.target_ports.iter().map(|p| SocketAddr::new(ip, *p)));
            } else {
                self.err(
                    at,
                    format!(
                        "invalid endpoint {e:?}: write ip:port (10.0.0.5:8000) or an IP address \
                         with targetPorts"
                    ),
                );
            }
        }
        for (k, p) in cfg.target_ports.iter().enumerate() {
            if *p == 0 {
                self.err(format!("{path}.targetPorts[{k}]"), "port 0 is not a port");
            }
        }
        let mut seen = std::collections::HashSet::new();
        endpoints.retain(|e| seen.insert(*e));
        let picker = match (&cfg.endpoint_picker, &cfg.load_picker) {
            (Some(epp), None) => self.epp_picker(path, cfg, epp, &endpoints),
            (None, Some(load)) => self.load_picker(path, name, load, &endpoints),
            (None, None) => {
                self.err(
                    path,
                    "an inferencePool needs a picker: endpointPicker (an EPP reached over \
                     ext_proc) or loadPicker (the built-in least-loaded one)",
                );
                None
            }
            (Some(_), Some(_)) => {
                self.err(
                    path,
                    "set one picker: endpointPicker or loadPicker, not both",
                );
                None
            }
        };
        if self.errors.len() > errors {
            return None;
        }
        Some(InferencePool {
            name: name.into(),
            endpoint_strings: endpoints.iter().map(SocketAddr::to_string).collect(),
            endpoints,
            picker: picker?,
            destination_mode: cfg.destination_mode,
        })
    }

    /// The `endpointPicker` of the pool at `path`.
    fn epp_picker(
        &mut self,
        path: &str,
        cfg: &InferencePoolConfig,
        epp: &EndpointPickerConfig,
        endpoints: &[SocketAddr],
    ) -> Option<Picker> {
        let errors = self.errors.len();
        if endpoints.is_empty() {
            if cfg.destination_mode == DestinationMode::Validated {
                self.err(
                    format!("{path}.endpoints"),
                    "destinationMode validated needs the pool's endpoints (or use destinationMode: passthrough)",
                );
            }
            if epp.failure_mode == PickerFailureMode::FailOpen {
                self.err(
                    format!("{path}.endpointPicker.failureMode"),
                    "FailOpen sends requests to a random endpoint of the pool: list endpoints",
                );
            }
        }
        if epp.host.contains('/')
            || epp
                .host
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            self.err(
                format!("{path}.endpointPicker.host"),
                format!(
                    "invalid picker address {:?}: write host:port, e.g. 127.0.0.1:9002",
                    epp.host
                ),
            );
        }
        let timeout = epp.timeout.map_or(DEFAULT_PICK_TIMEOUT, |d| d.0);
        if timeout.is_zero() {
            self.err(
                format!("{path}.endpointPicker.timeout"),
                "the pick timeout must be more than 0",
            );
        }
        if self.errors.len() > errors {
            return None;
        }
        let client = self
            .pickers
            .entry((epp.host.clone(), timeout))
            .or_insert_with(|| {
                inference::epp::EndpointPicker::new(inference::epp::PickerOptions {
                    host: epp.host.clone(),
                    timeout,
                    health_interval: HEALTH_INTERVAL,
                })
            })
            .clone();
        Some(Picker::Epp(EppPicker {
            client,
            failure_mode: epp.failure_mode,
        }))
    }

    /// The `loadPicker` of the pool `name` at `path`.
    fn load_picker(
        &mut self,
        path: &str,
        name: &str,
        load: &LoadPickerConfig,
        endpoints: &[SocketAddr],
    ) -> Option<Picker> {
        let errors = self.errors.len();
        if endpoints.is_empty() {
            self.err(
                format!("{path}.endpoints"),
                "loadPicker picks among the pool's endpoints: list them",
            );
        }
        for invalid in load.validate() {
            self.err(
                format!("{path}.loadPicker.{}", invalid.path),
                invalid.message,
            );
        }
        if self.errors.len() > errors {
            return None;
        }
        Some(Picker::Load(LoadPick::new(
            name.into(),
            load.clone(),
            endpoints.to_vec(),
        )))
    }
}
