//! Classifies an A2A JSON-RPC request body without building it as a JSON tree.
//!
//! Policies need the method, the id, the task and context ids, the tenant and any
//! push-notification webhook URL; message parts (base64 `raw` files, large `data`) are skipped
//! by serde's `IgnoredAny` as the parser passes them, so a 4 MiB request costs one scan and
//! no allocation for its payload. Fields of unexpected types are ignored rather than rejected:
//! the agent validates its own params, the gateway only peeks.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::errors::RpcError;
use crate::method::{A2aMethod, Dialect};

/// What the gateway learns from a JSON-RPC request.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonRpcPeek {
    /// The request id (string, number or null); `None` when absent.
    pub id: Option<Value>,
    pub method: A2aMethod,
    pub dialect: Dialect,
    /// The task the request names: `params.id` (get/cancel/subscribe), `params.taskId`
    /// (push configs), `params.message.taskId` (send), or a `tasks/{id}` resource name.
    pub task_id: Option<String>,
    /// `params.message.contextId`, or `params.contextId` (the `ListTasks` filter).
    pub context_id: Option<String>,
    /// `params.tenant` (1.0).
    pub tenant: Option<String>,
    /// Push config id: 0.3 `pushNotificationConfigId`, 1.0 `id` on push-config get/delete.
    pub push_config_id: Option<String>,
    /// Every push-notification webhook URL in the request, for the SSRF guard: inline
    /// `configuration.pushNotificationConfig` (0.3) / `configuration.taskPushNotificationConfig`
    /// (1.0) on sends, the config itself on push-config creation.
    pub push_urls: Vec<String>,
}

/// A rejected request: the error to answer with and the id to answer it under.
#[derive(Debug, Clone, PartialEq)]
pub struct PeekError {
    pub id: Option<Value>,
    pub error: RpcError,
}

impl PeekError {
    /// The JSON-RPC error response body (sent with HTTP 200).
    pub fn to_response_bytes(&self) -> Vec<u8> {
        self.error.to_response_bytes(self.id.as_ref())
    }
}

impl fmt::Display for PeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for PeekError {}

/// Classifies a JSON-RPC request body of at most `limit` bytes.
///
/// Errors: `-32600` for oversize bodies, batches (A2A rejects them), non-objects, a wrong
/// `jsonrpc`, a missing or non-string `method`, or an id of the wrong type; `-32700` for
/// malformed JSON; `-32601` for a method neither era defines.
pub fn peek_request(body: &[u8], limit: usize) -> Result<JsonRpcPeek, PeekError> {
    let fail = |id: Option<Value>, error: RpcError| PeekError { id, error };
    if body.len() > limit {
        return Err(fail(None, RpcError::body_too_large(limit)));
    }
    let parsed: Lenient<Envelope> =
        serde_json::from_slice(body).map_err(|e| fail(None, RpcError::parse_error(e)))?;
    match parsed.shape {
        Shape::Map => {}
        Shape::Seq => return Err(fail(None, RpcError::batch_not_supported())),
        Shape::Other => {
            return Err(fail(
                None,
                RpcError::invalid_request("Request must be a JSON object"),
            ))
        }
    }
    let env = parsed.value;
    let id = match env.id {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(v),
        Some(_) => {
            return Err(fail(
                None,
                RpcError::invalid_request("`id` must be a string, a number or null"),
            ))
        }
    };
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(fail(
            id,
            RpcError::invalid_request("`jsonrpc` must be \"2.0\""),
        ));
    }
    let Some(name) = env.method else {
        return Err(fail(
            id,
            RpcError::invalid_request("`method` is missing or not a string"),
        ));
    };
    let Some((method, dialect)) = A2aMethod::from_jsonrpc_name(&name) else {
        return Err(fail(id, RpcError::method_not_found(&name)));
    };
    let p = env.params.value;
    let from_name = p
        .name
        .as_deref()
        .or(p.parent.as_deref())
        .and_then(task_from_resource);
    let task_id = match method {
        A2aMethod::SendMessage | A2aMethod::SendStreamingMessage => {
            p.message.value.task_id.or(p.task_id)
        }
        m if m.is_push_config() => match dialect {
            Dialect::V1 => p.task_id.or(from_name),
            Dialect::V03 => p.task_id.or(p.id.clone()),
        },
        m if m.targets_existing_task() => p.id.clone().or(p.task_id).or(from_name),
        _ => None,
    };
    let push_config_id = match (method.is_push_config(), dialect) {
        (false, _) => None,
        (true, Dialect::V03) => p.push_config_id,
        (true, Dialect::V1) if method != A2aMethod::CreatePushConfig => {
            p.id.or_else(|| p.name.as_deref().and_then(config_from_resource))
        }
        (true, Dialect::V1) => p.config_id,
    };
    let mut push_urls = Vec::new();
    let cfg = p.configuration.value;
    for c in [cfg.push, cfg.task_push, p.push_config, p.config] {
        if let Some(url) = c.value.url.or(c.value.nested.and_then(|n| n.url)) {
            push_urls.push(url);
        }
    }
    if method == A2aMethod::CreatePushConfig {
        if let Some(url) = p.url {
            push_urls.push(url);
        }
    }
    Ok(JsonRpcPeek {
        id,
        method,
        dialect,
        task_id,
        context_id: p.message.value.context_id.or(p.context_id),
        tenant: p.tenant,
        push_config_id,
        push_urls,
    })
}

/// `tasks/{id}` or `tasks/{id}/pushNotificationConfigs/{cid}` → `{id}`.
fn task_from_resource(name: &str) -> Option<String> {
    let rest = name.strip_prefix("tasks/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// `tasks/{id}/pushNotificationConfigs/{cid}` → `{cid}`.
fn config_from_resource(name: &str) -> Option<String> {
    let (_, cid) = name.split_once("/pushNotificationConfigs/")?;
    (!cid.is_empty() && !cid.contains('/')).then(|| cid.to_owned())
}

// ---- lenient peek deserialisation ----

#[derive(Default)]
enum Shape {
    Map,
    Seq,
    #[default]
    Other,
}

/// Deserialises any JSON value: objects fill `T` field by field, anything else is skipped.
#[derive(Default)]
struct Lenient<T> {
    value: T,
    shape: Shape,
}

trait Fields: Default {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

impl<'de, T: Fields> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Fields> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut value = T::default();
                while let Some(key) = map.next_key::<String>()? {
                    value.field(&key, &mut map)?;
                }
                Ok(Lenient {
                    value,
                    shape: Shape::Map,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient {
                    value: T::default(),
                    shape: Shape::Seq,
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient::default())
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A string field that ignores values of other types.
fn string_field<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    Ok(map.next_value::<Value>()?.as_str().map(str::to_owned))
}

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

#[derive(Default)]
struct Envelope {
    jsonrpc: Option<String>,
    id: Option<Value>,
    method: Option<String>,
    params: Lenient<Params>,
}

impl Fields for Envelope {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "jsonrpc" => self.jsonrpc = string_field(map)?,
            "id" => self.id = Some(map.next_value()?),
            "method" => self.method = string_field(map)?,
            "params" => self.params = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

#[derive(Default)]
struct Params {
    id: Option<String>,
    task_id: Option<String>,
    context_id: Option<String>,
    name: Option<String>,
    parent: Option<String>,
    tenant: Option<String>,
    url: Option<String>,
    config_id: Option<String>,
    push_config_id: Option<String>,
    message: Lenient<Message>,
    configuration: Lenient<Configuration>,
    push_config: Lenient<PushConfig>,
    config: Lenient<PushConfig>,
}

impl Fields for Params {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = string_field(map)?,
            "taskId" => self.task_id = string_field(map)?,
            "contextId" => self.context_id = string_field(map)?,
            "name" => self.name = string_field(map)?,
            "parent" => self.parent = string_field(map)?,
            "tenant" => self.tenant = string_field(map)?,
            "url" => self.url = string_field(map)?,
            "configId" => self.config_id = string_field(map)?,
            "pushNotificationConfigId" => self.push_config_id = string_field(map)?,
            "message" => self.message = map.next_value()?,
            "configuration" => self.configuration = map.next_value()?,
            "pushNotificationConfig" => self.push_config = map.next_value()?,
            "config" => self.config = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

#[derive(Default)]
struct Message {
    task_id: Option<String>,
    context_id: Option<String>,
}

impl Fields for Message {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "taskId" => self.task_id = string_field(map)?,
            "contextId" => self.context_id = string_field(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

#[derive(Default)]
struct Configuration {
    push: Lenient<PushConfig>,
    task_push: Lenient<PushConfig>,
}

impl Fields for Configuration {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "pushNotificationConfig" => self.push = map.next_value()?,
            "taskPushNotificationConfig" => self.task_push = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// A push config of any era: `url` directly, or one level down in `pushNotificationConfig`.
#[derive(Default)]
struct PushConfig {
    url: Option<String>,
    nested: Option<NestedPush>,
}

#[derive(Default)]
struct NestedPush {
    url: Option<String>,
}

impl Fields for NestedPush {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "url" => self.url = string_field(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Fields for PushConfig {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "url" => self.url = string_field(map)?,
            "pushNotificationConfig" => {
                self.nested = Some(map.next_value::<Lenient<NestedPush>>()?.value)
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "jsonrpc_tests.rs"]
mod tests;
