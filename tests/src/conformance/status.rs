//! The status checks of the conformance suite (conformance/utils/kubernetes/helpers.go at
//! v1.5.1), read with `kubectl get -o json` from the test API server: what the lead replica's
//! status writer wrote.

use serde_json::Value;

use super::CONTROLLER_NAME;

/// A condition expected on an object: type, status and, when not empty, reason.
#[derive(Debug, Clone, Copy)]
pub struct Cond {
    /// `type`.
    pub type_: &'static str,
    /// `"True"` or `"False"`.
    pub status: &'static str,
    /// `reason`; `""`: any.
    pub reason: &'static str,
}

/// `Cond` shorthand.
pub const fn cond(type_: &'static str, status: &'static str, reason: &'static str) -> Cond {
    Cond {
        type_,
        status,
        reason,
    }
}

/// A listener's expected status (`GatewayStatusMustHaveListeners`).
#[derive(Debug, Clone)]
pub struct ListenerWant {
    /// Listener name.
    pub name: &'static str,
    /// `attachedRoutes`.
    pub attached: i64,
    /// Conditions that must be present (reason `""`: any).
    pub conditions: Vec<Cond>,
    /// Whether `supportedKinds` holds HTTPRoute; when false it must be empty.
    pub supports_http_route: bool,
}

impl ListenerWant {
    /// A listener that supports HTTPRoute.
    pub fn http(name: &'static str, attached: i64, conditions: Vec<Cond>) -> ListenerWant {
        ListenerWant {
            name,
            attached,
            conditions,
            supports_http_route: true,
        }
    }
}

/// Whether `conditions` hold `want` with `observedGeneration` equal to `generation`.
fn has(conditions: &Value, want: &Cond, generation: &Value) -> Result<(), String> {
    let list = conditions.as_array().cloned().unwrap_or_default();
    let Some(c) = list.iter().find(|c| c["type"] == want.type_) else {
        return Err(format!(
            "no {} condition in {}",
            want.type_,
            Value::Array(list)
        ));
    };
    if c["status"] != want.status || (!want.reason.is_empty() && c["reason"] != want.reason) {
        return Err(format!(
            "expected {} {} {}, got {} {} ({})",
            want.type_, want.status, want.reason, c["status"], c["reason"], c["message"]
        ));
    }
    if !generation.is_null() && c["observedGeneration"] != *generation {
        return Err(format!(
            "{} has observedGeneration {}, object generation {generation}",
            want.type_, c["observedGeneration"]
        ));
    }
    Ok(())
}

/// The Gateway is Accepted and Programmed, for its latest generation
/// (`GatewayMustHaveLatestConditions` and the Programmed wait of
/// `GatewayAndHTTPRoutesMustBeAccepted`).
pub fn gateway_accepted(gateway: &Value) -> Result<(), String> {
    let generation = &gateway["metadata"]["generation"];
    let conditions = &gateway["status"]["conditions"];
    has(conditions, &cond("Accepted", "True", ""), generation)?;
    has(conditions, &cond("Programmed", "True", ""), generation)
}

/// The route's parent status for Gateway `gw` (namespace `gw_ns`) written by our controller.
fn parent<'a>(route: &'a Value, gw_ns: &str, gw: &str) -> Result<&'a Value, String> {
    let route_ns = route["metadata"]["namespace"].as_str().unwrap_or("");
    route["status"]["parents"]
        .as_array()
        .and_then(|parents| {
            parents.iter().find(|p| {
                p["controllerName"] == CONTROLLER_NAME
                    && p["parentRef"]["name"] == gw
                    && p["parentRef"]["namespace"].as_str().unwrap_or(route_ns) == gw_ns
            })
        })
        .ok_or_else(|| {
            format!(
                "no parent status for Gateway {gw_ns}/{gw}: {}",
                route["status"]
            )
        })
}

/// The route has condition `want` on its parent `gw` (`HTTPRouteMustHaveCondition`).
pub fn route_condition(route: &Value, gw_ns: &str, gw: &str, want: &Cond) -> Result<(), String> {
    let p = parent(route, gw_ns, gw)?;
    has(&p["conditions"], want, &route["metadata"]["generation"])
}

/// The route is Accepted by `gw` (`GatewayAndHTTPRoutesMustBeAccepted`).
pub fn route_accepted(route: &Value, gw_ns: &str, gw: &str) -> Result<(), String> {
    route_condition(route, gw_ns, gw, &cond("Accepted", "True", ""))
}

/// The route's references resolved (`HTTPRouteMustHaveResolvedRefsConditionsTrue`).
pub fn route_resolved(route: &Value, gw_ns: &str, gw: &str) -> Result<(), String> {
    route_condition(route, gw_ns, gw, &cond("ResolvedRefs", "True", ""))
}

/// The Gateway's listeners have the wanted status: each named listener supports HTTPRoute,
/// has the conditions and the count of attached routes (`GatewayStatusMustHaveListeners`).
pub fn gateway_listeners(gateway: &Value, want: &[ListenerWant]) -> Result<(), String> {
    let listeners = gateway["status"]["listeners"]
        .as_array()
        .ok_or_else(|| format!("no listener status: {}", gateway["status"]))?;
    if listeners.len() != want.len() {
        return Err(format!(
            "expected {} listener statuses, got {}",
            want.len(),
            listeners.len()
        ));
    }
    for w in want {
        let l = listeners
            .iter()
            .find(|l| l["name"] == w.name)
            .ok_or_else(|| format!("no status for listener {}", w.name))?;
        let kinds = l["supportedKinds"].as_array().cloned().unwrap_or_default();
        let http_route = kinds.iter().any(|k| {
            k["kind"] == "HTTPRoute"
                && k["group"].as_str().unwrap_or("gateway.networking.k8s.io")
                    == "gateway.networking.k8s.io"
        });
        if (w.supports_http_route && !http_route) || (!w.supports_http_route && !kinds.is_empty()) {
            return Err(format!("listener {}: supportedKinds {kinds:?}", w.name));
        }
        if l["attachedRoutes"] != w.attached {
            return Err(format!(
                "listener {}: attachedRoutes {} (expected {})",
                w.name, l["attachedRoutes"], w.attached
            ));
        }
        for c in &w.conditions {
            has(&l["conditions"], c, &Value::Null)
                .map_err(|e| format!("listener {}: {e}", w.name))?;
        }
    }
    Ok(())
}

/// Every condition in `conditions` observed the object's current generation
/// (`ConditionsHaveLatestObservedGeneration`).
pub fn latest(object: &Value, conditions: &Value) -> Result<(), String> {
    let generation = &object["metadata"]["generation"];
    let list = conditions.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return Err("no conditions".to_string());
    }
    for c in &list {
        if c["observedGeneration"] != *generation {
            return Err(format!(
                "condition {} has observedGeneration {}, generation {generation}",
                c["type"], c["observedGeneration"]
            ));
        }
    }
    Ok(())
}

/// `HTTPRouteMustHaveLatestConditions`: every parent's conditions are of the current
/// generation.
pub fn route_latest(route: &Value) -> Result<(), String> {
    let parents = route["status"]["parents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if parents.is_empty() {
        return Err("no parent status".to_string());
    }
    parents
        .iter()
        .try_for_each(|p| latest(route, &p["conditions"]))
}

/// `HTTPRouteMustHaveNoAcceptedParents`: no parent status, or exactly one, not Accepted.
pub fn route_no_accepted_parents(route: &Value) -> Result<(), String> {
    let parents = route["status"]["parents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match parents.as_slice() {
        [] => Ok(()),
        [p] => {
            latest(route, &p["conditions"])?;
            has(
                &p["conditions"],
                &cond("Accepted", "False", ""),
                &Value::Null,
            )
        }
        more => Err(format!("{} parent statuses", more.len())),
    }
}

/// `GatewayMustHaveZeroRoutes`: conditions of the current generation; no listener status, or
/// one with no attached route.
pub fn gateway_zero_routes(gateway: &Value) -> Result<(), String> {
    latest(gateway, &gateway["status"]["conditions"])?;
    let listeners = gateway["status"]["listeners"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match listeners.as_slice() {
        [] => Ok(()),
        [l] if l["attachedRoutes"] == 0 => Ok(()),
        _ => Err(format!("listeners: {}", Value::Array(listeners))),
    }
}
