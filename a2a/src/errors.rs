//! Error objects in the caller's protocol: JSON-RPC `error` members and HTTP+JSON
//! `google.rpc.Status` bodies.
//!
//! DESIGN.md promises that every rejection is a clear error in the caller's protocol, never a
//! bare 500. 1.0 callers expect `error.data` to be an array holding a `google.rpc.ErrorInfo`
//! (`reason` = UPPER_SNAKE name, `domain` = `a2a-protocol.org`); 0.3 `data` was free-form, so
//! it is left out for 0.3 callers. JSON-RPC errors travel with HTTP 200 (as a2a-sdk does).

use serde_json::{json, Value};

use crate::method::Dialect;

/// `@type` of the `ErrorInfo` detail.
pub const ERROR_INFO_TYPE: &str = "type.googleapis.com/google.rpc.ErrorInfo";
/// `domain` of A2A `ErrorInfo` details.
pub const A2A_DOMAIN: &str = "a2a-protocol.org";

/// The JSON-RPC and A2A error kinds (a2a.md §6), with their codes and mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    Internal,
    TaskNotFound,
    TaskNotCancelable,
    PushNotificationNotSupported,
    UnsupportedOperation,
    ContentTypeNotSupported,
    InvalidAgentResponse,
    ExtendedAgentCardNotConfigured,
    ExtensionSupportRequired,
    VersionNotSupported,
}

impl ErrorKind {
    /// JSON-RPC `error.code`.
    pub fn code(self) -> i64 {
        match self {
            Self::ParseError => -32700,
            Self::InvalidRequest => -32600,
            Self::MethodNotFound => -32601,
            Self::InvalidParams => -32602,
            Self::Internal => -32603,
            Self::TaskNotFound => -32001,
            Self::TaskNotCancelable => -32002,
            Self::PushNotificationNotSupported => -32003,
            Self::UnsupportedOperation => -32004,
            Self::ContentTypeNotSupported => -32005,
            Self::InvalidAgentResponse => -32006,
            Self::ExtendedAgentCardNotConfigured => -32007,
            Self::ExtensionSupportRequired => -32008,
            Self::VersionNotSupported => -32009,
        }
    }

    /// `ErrorInfo.reason`: the UPPER_SNAKE name without "Error".
    pub fn reason(self) -> &'static str {
        match self {
            Self::ParseError => "PARSE_ERROR",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::MethodNotFound => "METHOD_NOT_FOUND",
            Self::InvalidParams => "INVALID_PARAMS",
            Self::Internal => "INTERNAL_ERROR",
            Self::TaskNotFound => "TASK_NOT_FOUND",
            Self::TaskNotCancelable => "TASK_NOT_CANCELABLE",
            Self::PushNotificationNotSupported => "PUSH_NOTIFICATION_NOT_SUPPORTED",
            Self::UnsupportedOperation => "UNSUPPORTED_OPERATION",
            Self::ContentTypeNotSupported => "CONTENT_TYPE_NOT_SUPPORTED",
            Self::InvalidAgentResponse => "INVALID_AGENT_RESPONSE",
            Self::ExtendedAgentCardNotConfigured => "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
            Self::ExtensionSupportRequired => "EXTENSION_SUPPORT_REQUIRED",
            Self::VersionNotSupported => "VERSION_NOT_SUPPORTED",
        }
    }

    /// HTTP status for the HTTP+JSON binding.
    pub fn http_status(self) -> u16 {
        match self {
            Self::ParseError
            | Self::InvalidRequest
            | Self::InvalidParams
            | Self::TaskNotCancelable
            | Self::PushNotificationNotSupported
            | Self::UnsupportedOperation
            | Self::ContentTypeNotSupported
            | Self::ExtendedAgentCardNotConfigured
            | Self::ExtensionSupportRequired
            | Self::VersionNotSupported => 400,
            Self::MethodNotFound | Self::TaskNotFound => 404,
            Self::Internal | Self::InvalidAgentResponse => 500,
        }
    }

    /// `google.rpc.Code` name for `error.status` in HTTP+JSON bodies.
    pub fn grpc_status(self) -> &'static str {
        match self {
            Self::ParseError
            | Self::InvalidRequest
            | Self::InvalidParams
            | Self::ContentTypeNotSupported => "INVALID_ARGUMENT",
            Self::MethodNotFound | Self::TaskNotFound => "NOT_FOUND",
            Self::TaskNotCancelable
            | Self::PushNotificationNotSupported
            | Self::UnsupportedOperation
            | Self::ExtendedAgentCardNotConfigured
            | Self::ExtensionSupportRequired
            | Self::VersionNotSupported => "FAILED_PRECONDITION",
            Self::Internal | Self::InvalidAgentResponse => "INTERNAL",
        }
    }
}

/// A JSON-RPC error object, ready to be wrapped in a response with the request's id.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub kind: ErrorKind,
    pub message: String,
    /// Shapes `data`; `None` (dialect unknown, e.g. unparseable body) is treated as 1.0,
    /// whose clients require `ErrorInfo` and 0.3 clients ignore it.
    pub dialect: Option<Dialect>,
}

impl RpcError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            dialect: None,
        }
    }

    /// Same error, shaped for `dialect`.
    pub fn for_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = Some(dialect);
        self
    }

    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::ParseError, format!("Invalid JSON: {detail}"))
    }
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }
    pub fn batch_not_supported() -> Self {
        Self::invalid_request("Batch requests are not supported")
    }
    pub fn body_too_large(limit: usize) -> Self {
        Self::invalid_request(format!("Request body exceeds the limit of {limit} bytes"))
    }
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorKind::MethodNotFound,
            format!("Method not found: {method}"),
        )
    }
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParams, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// Also the answer to a caller asking for someone else's task: existence is not revealed.
    pub fn task_not_found(task_id: &str) -> Self {
        Self::new(
            ErrorKind::TaskNotFound,
            format!("Task not found: {task_id}"),
        )
    }
    pub fn unsupported_operation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedOperation, message)
    }
    pub fn version_not_supported(version: &str) -> Self {
        Self::new(
            ErrorKind::VersionNotSupported,
            format!("A2A version '{version}' is not supported"),
        )
    }

    /// `error.data` for the dialect: an `ErrorInfo` array (1.0) or nothing (0.3).
    fn data(&self) -> Option<Value> {
        match self.dialect {
            Some(Dialect::V03) => None,
            _ => Some(json!([error_info(self.kind)])),
        }
    }

    /// The `error` member.
    pub fn to_value(&self) -> Value {
        let mut err = json!({"code": self.kind.code(), "message": self.message});
        if let (Some(data), Some(obj)) = (self.data(), err.as_object_mut()) {
            obj.insert("data".to_owned(), data);
        }
        err
    }

    /// A whole JSON-RPC response; `id` is the request's id or `null` when it was unreadable.
    pub fn to_response(&self, id: Option<&Value>) -> Value {
        json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": self.to_value()})
    }

    /// The response serialised, for an HTTP 200 body.
    pub fn to_response_bytes(&self, id: Option<&Value>) -> Vec<u8> {
        self.to_response(id).to_string().into_bytes()
    }

    /// The same error for the HTTP+JSON binding: (status, `google.rpc.Status` JSON body).
    pub fn to_rest(&self) -> (u16, Vec<u8>) {
        rest_error(self.kind, &self.message)
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.code())
    }
}

impl std::error::Error for RpcError {}

fn error_info(kind: ErrorKind) -> Value {
    json!({"@type": ERROR_INFO_TYPE, "reason": kind.reason(), "domain": A2A_DOMAIN})
}

/// An HTTP+JSON error: status and `{"error":{code,status,message,details:[ErrorInfo]}}`.
pub fn rest_error(kind: ErrorKind, message: &str) -> (u16, Vec<u8>) {
    let status = kind.http_status();
    let mut info = error_info(kind);
    if let Some(obj) = info.as_object_mut() {
        obj.insert("metadata".to_owned(), json!({}));
    }
    let body = json!({"error": {
        "code": status,
        "status": kind.grpc_status(),
        "message": message,
        "details": [info],
    }});
    (status, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_errors_carry_error_info() {
        let id = json!(7);
        let resp = RpcError::batch_not_supported().to_response(Some(&id));
        assert_eq!(resp["id"], 7);
        assert_eq!(resp["jsonrpc"], "2.0");
        assert_eq!(resp["error"]["code"], -32600);
        assert_eq!(resp["error"]["message"], "Batch requests are not supported");
        assert_eq!(resp["error"]["data"][0]["@type"], ERROR_INFO_TYPE);
        assert_eq!(resp["error"]["data"][0]["reason"], "INVALID_REQUEST");
        assert_eq!(resp["error"]["data"][0]["domain"], A2A_DOMAIN);
    }

    #[test]
    fn v03_errors_have_no_data_and_null_id_when_unknown() {
        let resp = RpcError::task_not_found("t1")
            .for_dialect(Dialect::V03)
            .to_response(None);
        assert_eq!(resp["id"], Value::Null);
        assert_eq!(resp["error"]["code"], -32001);
        assert!(resp["error"].get("data").is_none());
    }

    #[test]
    fn codes_match_the_spec_table() {
        let table = [
            (ErrorKind::ParseError, -32700),
            (ErrorKind::InvalidRequest, -32600),
            (ErrorKind::MethodNotFound, -32601),
            (ErrorKind::InvalidParams, -32602),
            (ErrorKind::Internal, -32603),
            (ErrorKind::TaskNotFound, -32001),
            (ErrorKind::TaskNotCancelable, -32002),
            (ErrorKind::PushNotificationNotSupported, -32003),
            (ErrorKind::UnsupportedOperation, -32004),
            (ErrorKind::ContentTypeNotSupported, -32005),
            (ErrorKind::InvalidAgentResponse, -32006),
            (ErrorKind::ExtendedAgentCardNotConfigured, -32007),
            (ErrorKind::ExtensionSupportRequired, -32008),
            (ErrorKind::VersionNotSupported, -32009),
        ];
        for (kind, code) in table {
            assert_eq!(kind.code(), code, "{kind:?}");
        }
    }

    #[test]
    fn rest_error_shape_matches_google_rpc_status() {
        let (status, body) = RpcError::task_not_found("abc").to_rest();
        assert_eq!(status, 404);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], 404);
        assert_eq!(v["error"]["status"], "NOT_FOUND");
        assert_eq!(v["error"]["message"], "Task not found: abc");
        assert_eq!(v["error"]["details"][0]["reason"], "TASK_NOT_FOUND");
        assert_eq!(v["error"]["details"][0]["metadata"], json!({}));
        let (status, _) = rest_error(ErrorKind::UnsupportedOperation, "no");
        assert_eq!(status, 400);
    }
}
