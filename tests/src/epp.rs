//! A test endpoint picker: a gRPC `ext_proc` v3 server (envoy-types' generated server trait)
//! that behaves like the Gateway API Inference Extension's conformance picker.
//!
//! - It picks from the addresses in the request header `test-epp-endpoint-selection`
//!   (comma-separated, order kept), keeping only those in the subset hint when the gateway
//!   sent one; nothing left is answered with an `ImmediateResponse` 503.
//! - `test-epp-shed: true` on the request (or [`TestPicker::set_shed`]) answers 429.
//! - The choice goes back in both the `x-gateway-destination-endpoint` header mutation and
//!   `dynamic_metadata["envoy.lb"]`, after the body when the headers did not end the stream
//!   (as the reference picker does), followed by the body, unchanged, in full-duplex mode.
//! - On the response it copies the served endpoint it receives into the response header
//!   `x-conformance-test-served-endpoint`.
//! - It serves `grpc.health.v1` (`liveness`, `readiness`, the ext_proc service) and records
//!   what it received, for tests to assert.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::{
    ExternalProcessor, ExternalProcessorServer,
};
use envoy_types::pb::envoy::service::ext_proc::v3::{
    body_mutation, processing_request, processing_response, BodyMutation, BodyResponse,
    CommonResponse, HeadersResponse, ImmediateResponse, ProcessingRequest, ProcessingResponse,
    StreamedBodyResponse,
};
use inference::epp::wire;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// The request header the conformance picker picks from.
pub const SELECTION_HEADER: &str = "test-epp-endpoint-selection";
/// The request header that makes it shed the request (429).
pub const SHED_HEADER: &str = "test-epp-shed";
/// The response header it copies the served endpoint into.
pub const SERVED_HEADER: &str = "x-conformance-test-served-endpoint";

/// What the picker received on one stream.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The request headers, pseudo-headers included, lowercase names.
    pub headers: Vec<(String, String)>,
    /// Whether the request headers message ended the stream.
    pub headers_ended_stream: bool,
    /// The request body, as streamed.
    pub body: Vec<u8>,
    /// The subset hint, when sent.
    pub subset: Option<Vec<String>>,
    /// The endpoints it answered with.
    pub picked: Option<String>,
    /// The served endpoint reported on the response.
    pub served: Option<String>,
}

impl Seen {
    /// A request header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where the picker puts its choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Answer {
    /// In the header mutation and the dynamic metadata (the protocol's way).
    #[default]
    Both,
    /// Only in the `x-gateway-destination-endpoint` header mutation.
    HeaderOnly,
    /// Only in `dynamic_metadata["envoy.lb"]`.
    MetadataOnly,
    /// The choice in the metadata, this other value in the header.
    HeaderSays(String),
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Arc<Mutex<Seen>>>>,
    shed: AtomicBool,
    ignore_subset: AtomicBool,
    stall: AtomicBool,
    answer: Mutex<Answer>,
}

/// A running test picker.
pub struct TestPicker {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    health: tonic_health::server::HealthReporter,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestPicker {
    /// Starts a picker on a free loopback port.
    pub async fn start() -> TestPicker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test picker");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let (reporter, health) = tonic_health::server::health_reporter();
        for name in ["", "liveness", "readiness", wire::EXT_PROC_SERVICE] {
            reporter
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let svc = Picker {
            shared: shared.clone(),
        };
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(health)
                .add_service(ExternalProcessorServer::new(svc))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await;
        });
        TestPicker {
            addr,
            shared,
            health: reporter,
            stop: Some(stop),
        }
    }

    /// Makes the picker's `grpc.health.v1` report the ext_proc service (and readiness) as
    /// serving or not; picks are still answered.
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        for name in ["readiness", wire::EXT_PROC_SERVICE] {
            self.health.set_service_status(name, status).await;
        }
    }

    /// Makes the picker read requests and never answer them (a hung picker, for the pick
    /// timeout).
    pub fn set_stall(&self, stall: bool) {
        self.shared.stall.store(stall, Ordering::Relaxed);
    }

    /// Where the picker puts its choice from now on.
    pub fn set_answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap_or_else(|e| e.into_inner()) = answer;
    }

    /// `ip:port` of the picker.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Makes every request shed (429) or not.
    pub fn set_shed(&self, shed: bool) {
        self.shared.shed.store(shed, Ordering::Relaxed);
    }

    /// Makes the picker ignore the subset hint (a misbehaving picker, to test that the
    /// gateway refuses endpoints outside a validated pool).
    pub fn set_ignore_subset(&self, ignore: bool) {
        self.shared.ignore_subset.store(ignore, Ordering::Relaxed);
    }

    /// What each stream received so far, in order of arrival.
    pub fn seen(&self) -> Vec<Seen> {
        let list = self.shared.seen.lock().unwrap_or_else(|e| e.into_inner());
        list.iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }
}

impl Drop for TestPicker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Picker {
    shared: Arc<Shared>,
}

type Out = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalProcessor for Picker {
    type ProcessStream = Out;

    async fn process(
        &self,
        request: Request<Streaming<ProcessingRequest>>,
    ) -> Result<Response<Out>, Status> {
        let mut input = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let seen = Arc::new(Mutex::new(Seen::default()));
        self.shared
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(seen.clone());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = input.message().await {
                if shared.stall.load(Ordering::Relaxed) {
                    continue;
                }
                for out in handle(&shared, &seen, msg) {
                    if tx.send(Ok(out)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx)) as Out))
    }
}

/// The picker's answers to one message.
fn handle(shared: &Shared, seen: &Mutex<Seen>, msg: ProcessingRequest) -> Vec<ProcessingResponse> {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let subset = wire::subset_hint(&msg);
    let served = wire::served_endpoint(&msg);
    match msg.request {
        Some(processing_request::Request::RequestHeaders(h)) => {
            seen.subset = subset;
            seen.headers = h
                .headers
                .map(|m| m.headers)
                .unwrap_or_default()
                .iter()
                .map(|h| (h.key.to_ascii_lowercase(), wire::header_text(h)))
                .collect();
            seen.headers_ended_stream = h.end_of_stream;
            if h.end_of_stream {
                decide(shared, &mut seen, false)
            } else {
                Vec::new()
            }
        }
        Some(processing_request::Request::RequestBody(b)) => {
            seen.body.extend_from_slice(&b.body);
            if b.end_of_stream {
                decide(shared, &mut seen, true)
            } else {
                Vec::new()
            }
        }
        Some(processing_request::Request::ResponseHeaders(_)) => {
            let served = served.unwrap_or_default();
            seen.served = Some(served.clone());
            vec![ProcessingResponse {
                response: Some(processing_response::Response::ResponseHeaders(
                    HeadersResponse {
                        response: Some(CommonResponse {
                            header_mutation: Some(wire::set_headers(&[(SERVED_HEADER, &served)])),
                            ..Default::default()
                        }),
                    },
                )),
                ..Default::default()
            }]
        }
        _ => Vec::new(),
    }
}

/// The choice for the request `seen` holds, after its headers (and body, when `with_body`).
fn decide(shared: &Shared, seen: &mut Seen, with_body: bool) -> Vec<ProcessingResponse> {
    if shared.shed.load(Ordering::Relaxed) || seen.header(SHED_HEADER) == Some("true") {
        return vec![immediate(429, "shed by the test picker")];
    }
    let wanted = wire::split_endpoints(seen.header(SELECTION_HEADER).unwrap_or_default());
    let chosen: Vec<String> = match &seen.subset {
        Some(subset) if !shared.ignore_subset.load(Ordering::Relaxed) => {
            wanted.into_iter().filter(|e| subset.contains(e)).collect()
        }
        _ => wanted,
    };
    if chosen.is_empty() {
        return vec![immediate(503, "no eligible endpoint")];
    }
    let value = chosen.join(",");
    seen.picked = Some(value.clone());
    let answer = shared
        .answer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (header, metadata) = match answer {
        Answer::Both => (Some(value.clone()), Some(value)),
        Answer::HeaderOnly => (Some(value), None),
        Answer::MetadataOnly => (None, Some(value)),
        Answer::HeaderSays(other) => (Some(other), Some(value)),
    };
    let mut out = vec![ProcessingResponse {
        dynamic_metadata: metadata.as_deref().map(wire::destination_metadata),
        response: Some(processing_response::Response::RequestHeaders(
            HeadersResponse {
                response: Some(CommonResponse {
                    header_mutation: header
                        .as_deref()
                        .map(|h| wire::set_headers(&[(wire::DESTINATION_ENDPOINT, h)])),
                    clear_route_cache: true,
                    ..Default::default()
                }),
            },
        )),
        ..Default::default()
    }];
    if with_body {
        out.push(ProcessingResponse {
            response: Some(processing_response::Response::RequestBody(BodyResponse {
                response: Some(CommonResponse {
                    body_mutation: Some(BodyMutation {
                        mutation: Some(body_mutation::Mutation::StreamedResponse(
                            StreamedBodyResponse {
                                body: seen.body.clone(),
                                end_of_stream: true,
                                ..Default::default()
                            },
                        )),
                    }),
                    ..Default::default()
                }),
            })),
            ..Default::default()
        });
    }
    out
}

fn immediate(status: i32, body: &str) -> ProcessingResponse {
    ProcessingResponse {
        response: Some(processing_response::Response::ImmediateResponse(
            ImmediateResponse {
                status: Some(HttpStatus { code: status }),
                headers: Some(wire::set_headers(&[("x-test-picker", "immediate")])),
                body: body.as_bytes().to_vec(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}
