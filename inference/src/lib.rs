//! The Gateway API Inference Extension for Switchboard: an `InferencePool` is a set of model
//! servers behind one backend, and a picker chooses the server for each request from their
//! live state (queue depth, KV-cache use, loaded adapters).
//!
//! Two pickers: an endpoint picker (EPP) deployed beside the pool and asked over Envoy's
//! `ext_proc` protocol, exactly as the Inference Extension specifies; and a built-in one that
//! scrapes each model server's Prometheus metrics and picks the least loaded, for users with no
//! EPP deployment.

pub mod epp;
pub mod load;
