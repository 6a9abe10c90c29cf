//! Command-line options of `switchboard run --kubernetes`.

use std::path::PathBuf;
use std::time::Duration;

use super::snapshot::DEFAULT_CONTROLLER_NAME;

/// Where the Kubernetes resources come from and which of them this replica serves.
#[derive(Debug, Clone, clap::Args)]
pub struct KubernetesOptions {
    /// Take listeners, routes, backends and policies from a Kubernetes API server (Gateway API
    /// resources, InferencePools and Switchboard's CRDs) instead of the config file; `-c`, when
    /// given, then holds only process settings (its `config:` section).
    #[arg(long)]
    pub kubernetes: bool,
    /// Kubeconfig file; default: `$KUBECONFIG`, `~/.kube/config`, then the in-cluster service
    /// account.
    #[arg(long, env = "SWITCHBOARD_KUBECONFIG", requires = "kubernetes")]
    pub kubeconfig: Option<PathBuf>,
    /// `controllerName` of the GatewayClasses this replica serves.
    #[arg(long, default_value = DEFAULT_CONTROLLER_NAME, requires = "kubernetes")]
    pub controller_name: String,
    /// Serve only these GatewayClasses (repeatable); default: every class whose
    /// `controllerName` is ours.
    #[arg(long = "gateway-class", value_name = "NAME", requires = "kubernetes")]
    pub gateway_classes: Vec<String>,
    /// Serve only these Gateways, as `NAMESPACE/NAME` (repeatable); default: every Gateway of a
    /// served class.
    #[arg(long = "gateway", value_name = "NAMESPACE/NAME", value_parser = parse_namespaced, requires = "kubernetes")]
    pub gateways: Vec<(String, String)>,
    /// Address the Gateways' listeners bind on (each replica serves every listener port).
    #[arg(long, value_name = "IP", requires = "kubernetes")]
    pub listen_address: Option<std::net::IpAddr>,
    /// This replica's name in the status lease; unique per replica (set it to the pod name).
    #[arg(long, env = "POD_NAME", requires = "kubernetes")]
    pub identity: Option<String>,
    /// Namespace of the status lease (set it to the pod's namespace).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "default",
        requires = "kubernetes"
    )]
    pub lease_namespace: String,
    /// Name of the status lease; replicas with the same lease take turns writing status.
    #[arg(long, default_value = "switchboard-status", requires = "kubernetes")]
    pub lease_name: String,
    /// How long the status lease holds without renewal, e.g. `15s`.
    #[arg(long, default_value = "15s", value_parser = parse_duration, requires = "kubernetes")]
    pub lease_duration: Duration,
    /// How long to wait after a change for more changes before translating, e.g. `100ms`:
    /// `kubectl apply` of many objects becomes one reload.
    #[arg(long, default_value = "100ms", value_parser = parse_duration, requires = "kubernetes")]
    pub debounce: Duration,
}

impl KubernetesOptions {
    /// The options when none is given (a plain `switchboard -c FILE`).
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            options: KubernetesOptions,
        }
        <Only as clap::Parser>::parse_from(["switchboard"]).options
    }

    /// The identity to use in the lease: the given one, or the host name and process id.
    pub fn identity(&self) -> String {
        if let Some(id) = &self.identity {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "switchboard".to_string());
        format!("{host}-{}", std::process::id())
    }
}

fn parse_namespaced(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("`{s}` is not NAMESPACE/NAME")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    s.parse::<crate::config::units::Duration>()
        .map(|d| d.0)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_are_namespace_slash_name() {
        assert_eq!(
            parse_namespaced("infra/edge"),
            Ok(("infra".to_string(), "edge".to_string()))
        );
        for bad in ["edge", "/edge", "infra/", "a/b/c"] {
            assert!(parse_namespaced(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_use_the_config_syntax() {
        assert_eq!(parse_duration("150ms"), Ok(Duration::from_millis(150)));
        assert!(parse_duration("soon").is_err());
    }
}
