//! The endpoint-picker (EPP) client: the Inference Extension's protocol on Envoy `ext_proc`
//! v3 over gRPC, one bidirectional `Process` stream per request.
//!
//! Per request: the request headers (with `end_of_stream` false when a body follows, and the
//! subset hint when the pool's endpoints are known), then the body in full-duplex streamed
//! mode; the picker answers after the body (as the reference picker does) with a headers
//! response naming the endpoints and, optionally, the body again (possibly rewritten). The
//! stream stays open while the upstream serves: the response headers go to the picker with the
//! endpoint that served, and the picker's header mutations for the response come back
//! ([`Session::served`]).
//!
//! One tonic `Channel` per picker (HTTP/2, reused by every request), connected on first use;
//! a background task checks the picker's `grpc.health.v1` on an interval so a caller that
//! fails open skips a dead picker without waiting for its timeout.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_client::ExternalProcessorClient;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    body_mutation, processing_response, ProcessingRequest, ProcessingResponse,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;

mod health;
pub mod wire;

pub use wire::Immediate;

/// The size of the body chunks sent to the picker.
const BODY_CHUNK: usize = 64 * 1024;

/// The longest the response waits for the picker's answer to the response report (or the
/// pick timeout when shorter): the report is informational, and a picker that does not
/// answer it must not hold every response back for a whole pick timeout.
pub const REPORT_LIMIT: Duration = Duration::from_secs(1);

/// Why a pick failed (the caller's failure mode decides what the client gets).
#[derive(Debug, thiserror::Error)]
pub enum EppError {
    /// The last health check said the picker is not serving.
    #[error("endpoint picker {0} is not serving (health check)")]
    Unhealthy(String),
    /// The picker's address is not a valid URI authority.
    #[error("endpoint picker address {0:?} is invalid")]
    BadAddress(String),
    /// No answer within the pick timeout.
    #[error("endpoint picker {host} did not answer within {after:?}")]
    Timeout {
        /// The picker.
        host: String,
        /// The timeout.
        after: Duration,
    },
    /// The gRPC call failed (connection refused, stream reset, error status).
    #[error("endpoint picker {host}: {status}")]
    Grpc {
        /// The picker.
        host: String,
        /// What gRPC said.
        status: Box<tonic::Status>,
    },
    /// The picker answered, but not with a choice the protocol allows.
    #[error("endpoint picker {host}: {message}")]
    Protocol {
        /// The picker.
        host: String,
        /// What was wrong.
        message: String,
    },
}

/// Settings of one picker.
#[derive(Debug, Clone)]
pub struct PickerOptions {
    /// `ip:port` (or `host:port`) of the picker's gRPC server (plain HTTP/2).
    pub host: String,
    /// The limit on a pick (from opening the stream to the choice), and on the response-side
    /// exchange (there at most [`REPORT_LIMIT`]).
    pub timeout: Duration,
    /// How often the picker's health is checked.
    pub health_interval: Duration,
}

/// What the client knows of the picker's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerHealth {
    /// Not checked yet.
    Unknown,
    /// Serving (or it offers no health service: then only picks tell).
    Serving,
    /// Not serving, or unreachable.
    NotServing,
}

/// An endpoint picker, shared by every request to its pool.
#[derive(Debug, Clone)]
pub struct EndpointPicker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: PickerOptions,
    channel: OnceLock<Channel>,
    health: AtomicU8,
}

/// What the gateway tells the picker about one request.
#[derive(Debug, Clone, Copy)]
pub struct PickRequest<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path` (with the query).
    pub path: &'a str,
    /// `:authority`.
    pub authority: &'a str,
    /// `:scheme` of the client's request.
    pub scheme: &'a str,
    /// The request's headers.
    pub headers: &'a http::HeaderMap,
    /// The request's body, whole.
    pub body: &'a [u8],
    /// The pool's endpoints (`ip:port`), sent as the subset hint when known.
    pub subset: Option<&'a [String]>,
}

/// The picker's answer to a request.
#[derive(Debug)]
pub enum Decision {
    /// Send the request to these endpoints.
    Route(Box<Pick>),
    /// Answer the client with this (`503` when nothing is ready, `429` to shed load).
    Answer(Immediate),
}

/// A choice of endpoints, and the open stream the response is reported on.
#[derive(Debug)]
pub struct Pick {
    /// The endpoints, `ip:port`, in order: the first serves, the rest are walked on retries.
    /// When the header mutation and the dynamic metadata disagree, the **dynamic metadata
    /// wins**: it is the structured, namespaced form the Inference Extension's protocol
    /// defines for load balancers (Envoy's `original_dst` reads it), while the header is also
    /// visible to (and may be rewritten by) other filters. The difference is logged.
    pub endpoints: Vec<String>,
    /// Headers the picker sets on the request (`x-gateway-destination-endpoint` among them),
    /// to apply before it goes upstream.
    pub set_headers: Vec<(String, String)>,
    /// Headers the picker removes from the request.
    pub remove_headers: Vec<String>,
    /// The body the picker sent back in full-duplex mode, when it sent one: it replaces the
    /// request's (a picker may rewrite the model name).
    pub body: Option<Vec<u8>>,
    /// The open stream, for [`Session::served`].
    pub session: Session,
}

/// The stream of one request, kept open until the response is reported.
#[derive(Debug)]
pub struct Session {
    host: String,
    timeout: Duration,
    tx: UnboundedSender<ProcessingRequest>,
    rx: Streaming<ProcessingResponse>,
}

impl EndpointPicker {
    /// A picker; nothing is connected until the first pick.
    pub fn new(options: PickerOptions) -> Self {
        EndpointPicker {
            inner: Arc::new(Inner {
                options,
                channel: OnceLock::new(),
                health: AtomicU8::new(health::UNKNOWN),
            }),
        }
    }

    /// The picker's address.
    pub fn host(&self) -> &str {
        &self.inner.options.host
    }

    /// What the last health check said.
    pub fn health(&self) -> PickerHealth {
        health::decode(self.inner.health.load(Ordering::Relaxed))
    }

    /// The shared channel, created (lazily connecting) on first use, when the health checks
    /// start too. Needs a Tokio runtime.
    fn channel(&self) -> Result<Channel, EppError> {
        if let Some(c) = self.inner.channel.get() {
            return Ok(c.clone());
        }
        let o = &self.inner.options;
        let endpoint = Endpoint::from_shared(format!("http://{}", o.host))
            .map_err(|_| EppError::BadAddress(o.host.clone()))?
            .connect_timeout(o.timeout);
        let channel = endpoint.connect_lazy();
        if self.inner.channel.set(channel).is_ok() {
            health::spawn(Arc::downgrade(&self.inner));
        }
        self.inner
            .channel
            .get()
            .cloned()
            .ok_or_else(|| EppError::BadAddress(o.host.clone()))
    }

    /// Asks the picker where `req` goes, within the pick timeout.
    pub async fn pick(&self, req: PickRequest<'_>) -> Result<Decision, EppError> {
        let host = self.host().to_string();
        if self.health() == PickerHealth::NotServing {
            return Err(EppError::Unhealthy(host));
        }
        let channel = self.channel()?;
        let after = self.inner.options.timeout;
        match tokio::time::timeout(after, exchange(channel, &host, after, req)).await {
            Ok(result) => result,
            Err(_) => Err(EppError::Timeout { host, after }),
        }
    }
}

/// The request side of the stream, until the picker's choice.
async fn exchange(
    channel: Channel,
    host: &str,
    timeout: Duration,
    req: PickRequest<'_>,
) -> Result<Decision, EppError> {
    let grpc = |status: tonic::Status| EppError::Grpc {
        host: host.to_string(),
        status: Box::new(status),
    };
    let protocol = |message: String| EppError::Protocol {
        host: host.to_string(),
        message,
    };
    let (tx, rx) = unbounded_channel();
    let has_body = !req.body.is_empty();
    let pseudo = [
        (":method", req.method),
        (":path", req.path),
        (":authority", req.authority),
        (":scheme", req.scheme),
    ];
    let mut messages = vec![wire::request_headers(
        &pseudo,
        req.headers,
        !has_body,
        req.subset,
    )];
    let chunks: Vec<&[u8]> = req.body.chunks(BODY_CHUNK).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        messages.push(wire::request_body(chunk, i + 1 == chunks.len()));
    }
    for m in messages {
        // The receiver lives in the call below; it cannot be gone yet.
        let _ = tx.send(m);
    }
    let mut client = ExternalProcessorClient::new(channel);
    let mut rx = client
        .process(UnboundedReceiverStream::new(rx))
        .await
        .map_err(grpc)?
        .into_inner();

    let mut headers_done = false;
    let mut body_done = !has_body;
    let mut header_choice = None;
    let mut metadata_choice = None;
    let mut set_headers = Vec::new();
    let mut remove_headers = Vec::new();
    let mut body: Option<Vec<u8>> = None;
    while !(headers_done && body_done) {
        let Some(msg) = rx.message().await.map_err(grpc)? else {
            if headers_done {
                // The picker closed its side after choosing: the body goes as it was.
                break;
            }
            return Err(protocol(
                "closed the stream without choosing an endpoint".into(),
            ));
        };
        if let Some(d) = wire::metadata_destination(msg.dynamic_metadata.as_ref()) {
            metadata_choice = Some(d);
        }
        match msg.response {
            Some(processing_response::Response::ImmediateResponse(r)) => {
                return Ok(Decision::Answer(Immediate::from(&r)));
            }
            Some(processing_response::Response::RequestHeaders(h)) => {
                headers_done = true;
                if let Some(m) = h.response.and_then(|c| c.header_mutation) {
                    for (k, v) in wire::mutation_pairs(&m) {
                        if k == wire::DESTINATION_ENDPOINT {
                            header_choice = Some(v.clone());
                        }
                        set_headers.push((k, v));
                    }
                    remove_headers.extend(m.remove_headers);
                }
            }
            Some(processing_response::Response::RequestBody(b)) => {
                match b
                    .response
                    .and_then(|c| c.body_mutation)
                    .and_then(|m| m.mutation)
                {
                    Some(body_mutation::Mutation::StreamedResponse(s)) => {
                        body.get_or_insert_with(Vec::new).extend_from_slice(&s.body);
                        if s.end_of_stream {
                            body_done = true;
                        }
                    }
                    Some(body_mutation::Mutation::Body(b)) => {
                        body = Some(b);
                        body_done = true;
                    }
                    Some(body_mutation::Mutation::ClearBody(true)) => {
                        body = Some(Vec::new());
                        body_done = true;
                    }
                    // No mutation: the body goes as it was.
                    _ => body_done = true,
                }
            }
            // Nothing else is expected before the choice; ignored as Envoy would.
            _ => {}
        }
    }
    let chosen = match (&metadata_choice, &header_choice) {
        (Some(m), Some(h)) if m != h => {
            tracing::debug!(picker = host, metadata = %m, header = %h, "picker's metadata and header name different endpoints; following the metadata");
            m
        }
        (Some(m), _) => m,
        (None, Some(h)) => h,
        (None, None) => {
            return Err(protocol(format!(
                "answered without {} (header or dynamic metadata)",
                wire::DESTINATION_ENDPOINT
            )))
        }
    };
    let endpoints = wire::split_endpoints(chosen);
    if endpoints.is_empty() {
        return Err(protocol(format!(
            "named no endpoint in {}",
            wire::DESTINATION_ENDPOINT
        )));
    }
    Ok(Decision::Route(Box::new(Pick {
        endpoints,
        set_headers,
        remove_headers,
        body,
        session: Session {
            host: host.to_string(),
            timeout,
            tx,
            rx,
        },
    })))
}

impl Session {
    /// Reports the response: its status and headers, with the endpoint that `served`
    /// (`ip:port`) in `metadata_context`; returns the headers the picker sets on the response.
    /// The stream is closed afterwards.
    pub async fn served(
        mut self,
        served: &str,
        status: u16,
        headers: &http::HeaderMap,
    ) -> Result<Vec<(String, String)>, EppError> {
        let host = self.host.clone();
        if self
            .tx
            .send(wire::response_headers(served, status, headers))
            .is_err()
        {
            // The call is over (the picker closed it): nothing to report to.
            return Ok(Vec::new());
        }
        let after = self.timeout.min(REPORT_LIMIT);
        let answer = async {
            loop {
                match self.rx.message().await {
                    Ok(Some(msg)) => match msg.response {
                        Some(processing_response::Response::ResponseHeaders(h)) => {
                            return Ok(h
                                .response
                                .and_then(|c| c.header_mutation)
                                .map(|m| wire::mutation_pairs(&m))
                                .unwrap_or_default());
                        }
                        // The request side's leftovers, or nothing to relay on a response
                        // already under way.
                        _ => continue,
                    },
                    Ok(None) => return Ok(Vec::new()),
                    Err(status) => {
                        return Err(EppError::Grpc {
                            host: host.clone(),
                            status: Box::new(status),
                        })
                    }
                }
            }
        };
        match tokio::time::timeout(after, answer).await {
            Ok(r) => r,
            Err(_) => Err(EppError::Timeout {
                host: self.host.clone(),
                after,
            }),
        }
    }
}
