//! The Inference Extension's endpoint-picker protocol on Envoy `ext_proc` v3 messages: what
//! the gateway puts in each [`ProcessingRequest`] and what it reads from each
//! [`ProcessingResponse`]. Pure functions over the `envoy-types` messages, so the client
//! ([`super::EndpointPicker`]) and the tests' picker agree on one encoding.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::{
    HeaderMap, HeaderValue, HeaderValueOption, Metadata,
};
use envoy_types::pb::envoy::service::ext_proc::v3::{
    processing_request, HeaderMutation, HttpBody, HttpHeaders, ImmediateResponse,
    ProcessingRequest, ProtocolConfiguration,
};
use envoy_types::pb::google::protobuf::{value::Kind, ListValue, Struct, Value};

/// The header (on the request, set by the picker) and dynamic-metadata key naming the chosen
/// endpoints, `ip:port[,ip:port…]`.
pub const DESTINATION_ENDPOINT: &str = "x-gateway-destination-endpoint";
/// The metadata namespace the picker writes its choice under, and the gateway the served
/// endpoint under.
pub const LB_NAMESPACE: &str = "envoy.lb";
/// The metadata namespace of the subset hint.
pub const SUBSET_NAMESPACE: &str = "envoy.lb.subset_hint";
/// The key, in [`SUBSET_NAMESPACE`], of the list of eligible `ip:port`.
pub const SUBSET_KEY: &str = "x-gateway-destination-endpoint-subset";
/// The key, in [`LB_NAMESPACE`], of the endpoint that served (on the response).
pub const SERVED_KEY: &str = "x-gateway-destination-endpoint-served";
/// The gRPC service name of ext_proc, also a `grpc.health.v1` service the picker reports.
pub const EXT_PROC_SERVICE: &str = "envoy.service.ext_proc.v3.ExternalProcessor";

/// The `ext_proc` body mode the Inference Extension runs the picker in.
const FULL_DUPLEX_STREAMED: i32 = 4;

/// A string as a protobuf `Value`.
pub fn string_value(s: impl Into<String>) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.into())),
    }
}

/// A header as `ext_proc` carries it: the bytes in `raw_value` (as Envoy sends them) and, when
/// they are text, in `value` too, so pickers reading either field see it.
pub fn header_value(key: &str, value: &[u8]) -> HeaderValue {
    HeaderValue {
        key: key.to_string(),
        value: std::str::from_utf8(value).unwrap_or_default().to_string(),
        raw_value: value.to_vec(),
    }
}

/// The value of an `ext_proc` header: `raw_value` when set, else `value`.
pub fn header_text(h: &HeaderValue) -> String {
    if h.raw_value.is_empty() {
        h.value.clone()
    } else {
        String::from_utf8_lossy(&h.raw_value).into_owned()
    }
}

/// The request-headers message: the pseudo-headers Envoy sends (`:method`, `:path`,
/// `:authority`, `:scheme`) then the request's headers; `end_of_stream` when no body follows.
/// The first message of the stream also carries the protocol configuration (full-duplex
/// streamed request body) and, when the pool's endpoints are known, the subset hint.
pub fn request_headers(
    pseudo: &[(&str, &str)],
    headers: &http::HeaderMap,
    end_of_stream: bool,
    subset: Option<&[String]>,
) -> ProcessingRequest {
    let mut list: Vec<HeaderValue> = pseudo
        .iter()
        .map(|(k, v)| header_value(k, v.as_bytes()))
        .collect();
    list.extend(
        headers
            .iter()
            .map(|(k, v)| header_value(k.as_str(), v.as_bytes())),
    );
    let metadata_context = subset.map(|endpoints| {
        let list = Value {
            kind: Some(Kind::ListValue(ListValue {
                values: endpoints.iter().map(string_value).collect(),
            })),
        };
        let hint = Struct {
            fields: HashMap::from([(SUBSET_KEY.to_string(), list)]),
        };
        Metadata {
            filter_metadata: HashMap::from([(SUBSET_NAMESPACE.to_string(), hint)]),
            ..Default::default()
        }
    });
    ProcessingRequest {
        metadata_context,
        protocol_config: Some(ProtocolConfiguration {
            request_body_mode: FULL_DUPLEX_STREAMED,
            response_body_mode: 0,
            send_body_without_waiting_for_header_response: true,
        }),
        request: Some(processing_request::Request::RequestHeaders(HttpHeaders {
            headers: Some(HeaderMap { headers: list }),
            end_of_stream,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// One chunk of the request body.
pub fn request_body(chunk: &[u8], end_of_stream: bool) -> ProcessingRequest {
    ProcessingRequest {
        request: Some(processing_request::Request::RequestBody(HttpBody {
            body: chunk.to_vec(),
            end_of_stream,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The response-headers message, with the endpoint that served in
/// `metadata_context["envoy.lb"]["x-gateway-destination-endpoint-served"]`. It ends the
/// response side (the picker is not sent the response body).
pub fn response_headers(served: &str, status: u16, headers: &http::HeaderMap) -> ProcessingRequest {
    let mut list = vec![header_value(":status", status.to_string().as_bytes())];
    list.extend(
        headers
            .iter()
            .map(|(k, v)| header_value(k.as_str(), v.as_bytes())),
    );
    let lb = Struct {
        fields: HashMap::from([(SERVED_KEY.to_string(), string_value(served))]),
    };
    ProcessingRequest {
        metadata_context: Some(Metadata {
            filter_metadata: HashMap::from([(LB_NAMESPACE.to_string(), lb)]),
            ..Default::default()
        }),
        request: Some(processing_request::Request::ResponseHeaders(HttpHeaders {
            headers: Some(HeaderMap { headers: list }),
            end_of_stream: true,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The subset hint of a request, if it carries one: the `ip:port` strings listed.
pub fn subset_hint(req: &ProcessingRequest) -> Option<Vec<String>> {
    let hint = req
        .metadata_context
        .as_ref()?
        .filter_metadata
        .get(SUBSET_NAMESPACE)?;
    match &hint.fields.get(SUBSET_KEY)?.kind {
        Some(Kind::ListValue(l)) => Some(
            l.values
                .iter()
                .filter_map(|v| match &v.kind {
                    Some(Kind::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The served endpoint a response-headers message carries, if any.
pub fn served_endpoint(req: &ProcessingRequest) -> Option<String> {
    let lb = req
        .metadata_context
        .as_ref()?
        .filter_metadata
        .get(LB_NAMESPACE)?;
    match &lb.fields.get(SERVED_KEY)?.kind {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The choice in dynamic metadata: `dynamic_metadata["envoy.lb"]["x-gateway-destination-endpoint"]`.
pub fn metadata_destination(dynamic: Option<&Struct>) -> Option<String> {
    let lb = dynamic?.fields.get(LB_NAMESPACE)?;
    let Some(Kind::StructValue(lb)) = &lb.kind else {
        return None;
    };
    match &lb.fields.get(DESTINATION_ENDPOINT)?.kind {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The dynamic metadata a picker answers with for `endpoints`.
pub fn destination_metadata(endpoints: &str) -> Struct {
    let lb = Struct {
        fields: HashMap::from([(DESTINATION_ENDPOINT.to_string(), string_value(endpoints))]),
    };
    Struct {
        fields: HashMap::from([(
            LB_NAMESPACE.to_string(),
            Value {
                kind: Some(Kind::StructValue(lb)),
            },
        )]),
    }
}

/// A header mutation setting each `(name, value)`, overwriting.
pub fn set_headers(pairs: &[(&str, &str)]) -> HeaderMutation {
    HeaderMutation {
        set_headers: pairs
            .iter()
            .map(|(k, v)| HeaderValueOption {
                header: Some(header_value(k, v.as_bytes())),
                // OVERWRITE_IF_EXISTS_OR_ADD
                append_action: 2,
                ..Default::default()
            })
            .collect(),
        remove_headers: Vec::new(),
    }
}

/// The headers a mutation sets, as `(name, value)`, in order.
pub fn mutation_pairs(m: &HeaderMutation) -> Vec<(String, String)> {
    m.set_headers
        .iter()
        .filter_map(|o| o.header.as_ref())
        .map(|h| (h.key.to_ascii_lowercase(), header_text(h)))
        .collect()
}

/// A picker's local answer, as the gateway relays it to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Immediate {
    /// The HTTP status (`503` when nothing is ready, `429` to shed load); 500 when the picker
    /// gave none or one outside 200..=599.
    pub status: u16,
    /// Headers to set on the answer.
    pub headers: Vec<(String, String)>,
    /// The answer's body.
    pub body: Vec<u8>,
}

impl From<&ImmediateResponse> for Immediate {
    fn from(r: &ImmediateResponse) -> Self {
        let status = r
            .status
            .as_ref()
            .and_then(|s| u16::try_from(s.code).ok())
            .filter(|c| (200..=599).contains(c))
            .unwrap_or(500);
        Immediate {
            status,
            headers: r.headers.as_ref().map(mutation_pairs).unwrap_or_default(),
            body: r.body.clone(),
        }
    }
}

/// Splits `ip:port[,ip:port…]` into its entries, in order, trimmed, empty ones dropped.
pub fn split_endpoints(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_hint_round_trips() {
        let subset = vec!["10.0.0.1:80".to_string(), "10.0.0.2:80".to_string()];
        let req = request_headers(
            &[(":path", "/")],
            &http::HeaderMap::new(),
            false,
            Some(&subset),
        );
        assert_eq!(subset_hint(&req), Some(subset));
        let bare = request_headers(&[], &http::HeaderMap::new(), true, None);
        assert_eq!(subset_hint(&bare), None);
    }

    #[test]
    fn served_and_destination_round_trip() {
        let req = response_headers("10.0.0.1:80", 200, &http::HeaderMap::new());
        assert_eq!(served_endpoint(&req).as_deref(), Some("10.0.0.1:80"));
        let md = destination_metadata("a:1,b:2");
        assert_eq!(metadata_destination(Some(&md)).as_deref(), Some("a:1,b:2"));
    }

    #[test]
    fn endpoint_lists_keep_their_order() {
        assert_eq!(
            split_endpoints(" 10.0.0.2:80, 10.0.0.1:81,,"),
            vec!["10.0.0.2:80", "10.0.0.1:81"]
        );
    }
}
