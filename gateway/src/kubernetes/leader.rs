//! Leader election on a `coordination.k8s.io/v1` Lease, so that one replica at a time writes
//! status.
//!
//! Every replica serves traffic; only the lease holder patches `.status` on Gateways, routes and
//! policies, so replicas never fight over conditions. The lease is taken and renewed with a
//! `replace` that carries the `resourceVersion` read just before: two candidates that both see
//! an expired lease race on that write, the API server answers one of them `409 Conflict`, and
//! only the winner leads. (A merge patch, which some election crates use, lets both believe they
//! won.)
//!
//! Expiry is judged as client-go judges it: by how long the lease record has not changed on
//! this replica's own monotonic clock, never by comparing `renewTime` with the local wall clock,
//! so clock skew between nodes cannot make a live leader look expired.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// How a replica takes part in the election.
#[derive(Debug, Clone)]
pub struct ElectionParams {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (one per set of replicas serving the same Gateways).
    pub lease_name: String,
    /// This replica's identity: unique among the replicas (the pod name in a cluster).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
}

impl ElectionParams {
    /// How often the holder renews, and candidates retry: a third of the lease duration, as
    /// client-go's defaults (15 s lease, 10 s renew deadline, 2 s retry) keep renewal well
    /// inside the lease.
    fn retry_period(&self) -> Duration {
        (self.lease_duration / 3).max(Duration::from_millis(200))
    }
}

/// The last lease record seen, and when it was first seen in that state.
struct Observed {
    holder: String,
    renew_time: Option<MicroTime>,
    at: Instant,
}

/// One replica's view of the election.
pub struct LeaderElection {
    api: Api<Lease>,
    params: ElectionParams,
    observed: Option<Observed>,
    /// When this replica last renewed successfully, while it leads.
    renewed_at: Option<Instant>,
}

/// What one step of the election found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Leading,
    Following,
}

impl LeaderElection {
    /// A candidate that has not yet tried to take the lease.
    pub fn new(client: kube::Client, params: ElectionParams) -> Self {
        LeaderElection {
            api: Api::namespaced(client, &params.namespace),
            params,
            observed: None,
            renewed_at: None,
        }
    }

    /// Runs the election until `shutdown` fires, publishing whether this replica leads. On
    /// shutdown a leader releases the lease so another replica takes over at once instead of
    /// after the lease duration.
    pub async fn run(mut self, leading: watch::Sender<bool>, mut shutdown: watch::Receiver<bool>) {
        let period = self.params.retry_period();
        loop {
            let now_leading = match self.step().await {
                Ok(Step::Leading) => {
                    self.renewed_at = Some(Instant::now());
                    true
                }
                Ok(Step::Following) => {
                    self.renewed_at = None;
                    false
                }
                Err(e) => {
                    // A leader that cannot renew keeps leading until its lease would have run
                    // out, then stops: another replica may have taken over by then.
                    let still = self
                        .renewed_at
                        .is_some_and(|t| t.elapsed() < self.params.lease_duration);
                    tracing::warn!(lease = %self.params.lease_name, error = %e, still_leading = still, "cannot reach the lease");
                    if !still {
                        self.renewed_at = None;
                    }
                    still
                }
            };
            leading.send_if_modified(|was| {
                if *was != now_leading {
                    tracing::info!(
                        lease = %self.params.lease_name,
                        identity = %self.params.identity,
                        leading = now_leading,
                        "{}",
                        if now_leading { "took the status lease: this replica writes status" } else { "not the status lease holder: another replica writes status" }
                    );
                    *was = now_leading;
                    true
                } else {
                    false
                }
            });
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        if *leading.borrow() {
            if let Err(e) = self.release().await {
                tracing::warn!(lease = %self.params.lease_name, error = %e, "cannot release the lease on shutdown; it expires by itself");
            }
            leading.send_replace(false);
        }
    }

    /// Reads the lease and takes or renews it when it is ours or has expired.
    async fn step(&mut self) -> Result<Step, kube::Error> {
        let Some(lease) = self.api.get_opt(&self.params.lease_name).await? else {
            return self.create().await;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let now = Instant::now();
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != holder || o.renew_time != spec.renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: holder.clone(),
                renew_time: spec.renew_time.clone(),
                at: now,
            });
        }
        let ours = holder == self.params.identity;
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.params.lease_duration);
        let expired = holder.is_empty()
            || self
                .observed
                .as_ref()
                .is_some_and(|o| now.duration_since(o.at) >= duration);
        if !ours && !expired {
            return Ok(Step::Following);
        }
        let mut next = lease.clone();
        let stamp = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let mut spec = spec;
        if !ours {
            spec.acquire_time = Some(stamp.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.params.identity.clone());
        }
        spec.renew_time = Some(stamp);
        spec.lease_duration_seconds = Some(self.duration_seconds());
        next.spec = Some(spec);
        match self
            .api
            .replace(&self.params.lease_name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(Step::Leading),
            // Another replica wrote first: it leads.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Step::Following),
            Err(e) => Err(e),
        }
    }

    /// Creates the lease with this replica as holder; losing the creation race means following.
    async fn create(&mut self) -> Result<Step, kube::Error> {
        let stamp = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.params.lease_name.clone()),
                namespace: Some(self.params.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.params.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                acquire_time: Some(stamp.clone()),
                renew_time: Some(stamp),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Step::Leading),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Step::Following),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up: an empty holder, which every candidate treats as expired.
    async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.params.lease_name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.params.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = Some(String::new());
        spec.lease_duration_seconds = Some(1);
        self.api
            .replace(&self.params.lease_name, &PostParams::default(), &lease)
            .await?;
        tracing::info!(lease = %self.params.lease_name, "released the status lease");
        Ok(())
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.params.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_runs_well_inside_the_lease() {
        let p = ElectionParams {
            namespace: "default".into(),
            lease_name: "switchboard".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(15),
        };
        assert_eq!(p.retry_period(), Duration::from_secs(5));
        let short = ElectionParams {
            lease_duration: Duration::from_millis(300),
            ..p
        };
        assert_eq!(short.retry_period(), Duration::from_millis(200));
    }
}
