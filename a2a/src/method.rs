//! The A2A operations, one enum for both protocol eras and all bindings.
//!
//! Policies (authorization, rate limits, task ownership, metrics) key on the operation, not on
//! its spelling: 0.3 `message/send`, 1.0 `SendMessage` and REST `POST /message:send` are the same
//! [`A2aMethod::SendMessage`]. The spelling that arrived is kept as [`Dialect`] so errors can be
//! shaped for the caller's version.

/// Which protocol era a method name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// 0.3 slash names (`message/send`); JSON-RPC `error.data` is free-form.
    V03,
    /// 1.0 PascalCase names (`SendMessage`); `error.data` carries a `google.rpc.ErrorInfo`.
    V1,
}

/// An A2A operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum A2aMethod {
    SendMessage,
    SendStreamingMessage,
    GetTask,
    /// 1.0 only.
    ListTasks,
    CancelTask,
    /// 0.3 `tasks/resubscribe`.
    SubscribeToTask,
    /// 0.3 `tasks/pushNotificationConfig/set`.
    CreatePushConfig,
    GetPushConfig,
    ListPushConfigs,
    DeletePushConfig,
    /// 0.3 `agent/getAuthenticatedExtendedCard`.
    GetExtendedAgentCard,
}

/// (method, 0.3 JSON-RPC name, 1.0 JSON-RPC name) — a2a.md §4.
const NAMES: &[(A2aMethod, Option<&str>, &str)] = &[
    (A2aMethod::SendMessage, Some("message/send"), "SendMessage"),
    (
        A2aMethod::SendStreamingMessage,
        Some("message/stream"),
        "SendStreamingMessage",
    ),
    (A2aMethod::GetTask, Some("tasks/get"), "GetTask"),
    (A2aMethod::ListTasks, None, "ListTasks"),
    (A2aMethod::CancelTask, Some("tasks/cancel"), "CancelTask"),
    (
        A2aMethod::SubscribeToTask,
        Some("tasks/resubscribe"),
        "SubscribeToTask",
    ),
    (
        A2aMethod::CreatePushConfig,
        Some("tasks/pushNotificationConfig/set"),
        "CreateTaskPushNotificationConfig",
    ),
    (
        A2aMethod::GetPushConfig,
        Some("tasks/pushNotificationConfig/get"),
        "GetTaskPushNotificationConfig",
    ),
    (
        A2aMethod::ListPushConfigs,
        Some("tasks/pushNotificationConfig/list"),
        "ListTaskPushNotificationConfigs",
    ),
    (
        A2aMethod::DeletePushConfig,
        Some("tasks/pushNotificationConfig/delete"),
        "DeleteTaskPushNotificationConfig",
    ),
    (
        A2aMethod::GetExtendedAgentCard,
        Some("agent/getAuthenticatedExtendedCard"),
        "GetExtendedAgentCard",
    ),
];

impl A2aMethod {
    /// All operations, for metric pre-registration.
    pub const ALL: [A2aMethod; 11] = [
        A2aMethod::SendMessage,
        A2aMethod::SendStreamingMessage,
        A2aMethod::GetTask,
        A2aMethod::ListTasks,
        A2aMethod::CancelTask,
        A2aMethod::SubscribeToTask,
        A2aMethod::CreatePushConfig,
        A2aMethod::GetPushConfig,
        A2aMethod::ListPushConfigs,
        A2aMethod::DeletePushConfig,
        A2aMethod::GetExtendedAgentCard,
    ];

    /// Looks up a JSON-RPC method name of either era (case-sensitive, as the specs are).
    pub fn from_jsonrpc_name(name: &str) -> Option<(A2aMethod, Dialect)> {
        NAMES.iter().find_map(|(m, v03, v1)| {
            if *v1 == name {
                Some((*m, Dialect::V1))
            } else if *v03 == Some(name) {
                Some((*m, Dialect::V03))
            } else {
                None
            }
        })
    }

    /// The JSON-RPC name in `dialect`; `None` for operations 0.3 lacks (`ListTasks`).
    pub fn jsonrpc_name(self, dialect: Dialect) -> Option<&'static str> {
        let (_, v03, v1) = NAMES.iter().find(|(m, _, _)| *m == self)?;
        match dialect {
            Dialect::V1 => Some(v1),
            Dialect::V03 => *v03,
        }
    }

    /// A stable label for metrics and logs (`switchboard_a2a_requests_total{method}`): the 1.0
    /// name, whatever dialect or binding the request used, so dashboards need one series each.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(m, _, _)| *m == self)
            .map_or("Unknown", |(_, _, v1)| v1)
    }

    /// The response is an SSE stream: no body buffering, idle timeout instead of total timeout,
    /// counted once for rate limits.
    pub fn is_streaming(self) -> bool {
        matches!(self, Self::SendStreamingMessage | Self::SubscribeToTask)
    }

    /// The request names an existing task, so ownership must be checked before relaying.
    pub fn targets_existing_task(self) -> bool {
        matches!(
            self,
            Self::GetTask
                | Self::CancelTask
                | Self::SubscribeToTask
                | Self::CreatePushConfig
                | Self::GetPushConfig
                | Self::ListPushConfigs
                | Self::DeletePushConfig
        )
    }

    /// The request may carry a push-notification webhook URL that must pass the SSRF guard
    /// (`SendMessage` through its inline `configuration`).
    pub fn may_carry_push_config(self) -> bool {
        matches!(
            self,
            Self::SendMessage | Self::SendStreamingMessage | Self::CreatePushConfig
        )
    }

    /// Push-config operations, which take the task id from `taskId` rather than `id` in 1.0.
    pub fn is_push_config(self) -> bool {
        matches!(
            self,
            Self::CreatePushConfig
                | Self::GetPushConfig
                | Self::ListPushConfigs
                | Self::DeletePushConfig
        )
    }
}

impl std::fmt::Display for A2aMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v03_name_maps_to_its_v1_operation() {
        let pairs = [
            ("message/send", "SendMessage"),
            ("message/stream", "SendStreamingMessage"),
            ("tasks/get", "GetTask"),
            ("tasks/cancel", "CancelTask"),
            ("tasks/resubscribe", "SubscribeToTask"),
            (
                "tasks/pushNotificationConfig/set",
                "CreateTaskPushNotificationConfig",
            ),
            (
                "tasks/pushNotificationConfig/get",
                "GetTaskPushNotificationConfig",
            ),
            (
                "tasks/pushNotificationConfig/list",
                "ListTaskPushNotificationConfigs",
            ),
            (
                "tasks/pushNotificationConfig/delete",
                "DeleteTaskPushNotificationConfig",
            ),
            ("agent/getAuthenticatedExtendedCard", "GetExtendedAgentCard"),
        ];
        for (old, new) in pairs {
            let (m_old, d_old) = A2aMethod::from_jsonrpc_name(old).unwrap();
            let (m_new, d_new) = A2aMethod::from_jsonrpc_name(new).unwrap();
            assert_eq!(m_old, m_new, "{old} vs {new}");
            assert_eq!((d_old, d_new), (Dialect::V03, Dialect::V1));
            assert_eq!(m_old.as_str(), new);
            assert_eq!(m_old.jsonrpc_name(Dialect::V03), Some(old));
        }
        assert_eq!(
            A2aMethod::from_jsonrpc_name("ListTasks"),
            Some((A2aMethod::ListTasks, Dialect::V1))
        );
        assert_eq!(A2aMethod::ListTasks.jsonrpc_name(Dialect::V03), None);
    }

    #[test]
    fn unknown_and_miscased_names_are_not_methods() {
        for name in [
            "",
            "sendMessage",
            "tasks/send",
            "message/Send",
            "tasks/list",
        ] {
            assert_eq!(A2aMethod::from_jsonrpc_name(name), None, "{name}");
        }
    }

    #[test]
    fn streaming_methods() {
        let streaming: Vec<_> = A2aMethod::ALL.iter().filter(|m| m.is_streaming()).collect();
        assert_eq!(
            streaming,
            [
                &A2aMethod::SendStreamingMessage,
                &A2aMethod::SubscribeToTask
            ]
        );
    }

    #[test]
    fn all_lists_every_named_operation_once() {
        assert_eq!(A2aMethod::ALL.len(), NAMES.len());
        for m in A2aMethod::ALL {
            assert!(m.jsonrpc_name(Dialect::V1).is_some(), "{m:?}");
        }
    }
}
