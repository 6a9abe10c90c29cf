//! The picker's `grpc.health.v1` checked on an interval, on the pick channel, while the
//! picker is in use (the task ends when the last handle to it is dropped, e.g. on reload).

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::{wire, Inner, PickerHealth};

pub(super) const UNKNOWN: u8 = 0;
const SERVING: u8 = 1;
const NOT_SERVING: u8 = 2;

pub(super) fn decode(v: u8) -> PickerHealth {
    match v {
        SERVING => PickerHealth::Serving,
        NOT_SERVING => PickerHealth::NotServing,
        _ => PickerHealth::Unknown,
    }
}

/// Starts the checks of `inner`'s picker; a check waits at most a second.
pub(super) fn spawn(inner: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let Some(picker) = inner.upgrade() else {
                return;
            };
            let Some(channel) = picker.channel.get().cloned() else {
                return;
            };
            let interval = picker.options.health_interval;
            let host = picker.options.host.clone();
            drop(picker);
            let state = check(channel).await;
            let Some(picker) = inner.upgrade() else {
                return;
            };
            let before = picker.health.swap(state, Ordering::Relaxed);
            if before != state {
                tracing::info!(picker = %host, health = ?decode(state), "endpoint picker health changed");
            }
            drop(picker);
            tokio::time::sleep(interval).await;
        }
    });
}

/// One check of the ext_proc service's health. A picker without a health service (or
/// without an entry for ext_proc) counts as serving: only its picks can tell.
async fn check(channel: tonic::transport::Channel) -> u8 {
    let mut client = HealthClient::new(channel);
    let req = HealthCheckRequest {
        service: wire::EXT_PROC_SERVICE.to_string(),
    };
    match tokio::time::timeout(Duration::from_secs(1), client.check(req)).await {
        Ok(Ok(resp)) if resp.get_ref().status == ServingStatus::Serving as i32 => SERVING,
        Ok(Ok(_)) => NOT_SERVING,
        Ok(Err(s)) if matches!(s.code(), tonic::Code::Unimplemented | tonic::Code::NotFound) => {
            SERVING
        }
        _ => NOT_SERVING,
    }
}
