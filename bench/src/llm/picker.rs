//! A loopback endpoint picker for the `sb-epp` path: an Envoy `ext_proc` v3 server (the
//! Gateway API Inference Extension's protocol, envoy-types' generated server) that answers
//! every request, after its body, with the first endpoint of the subset hint, and the
//! response report with no change. It does the least a picker does, so the path's latency over
//! `switchboard` is the protocol's round trip, not a scheduler's thinking.

use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::{Context, Result};
use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::{
    ExternalProcessor, ExternalProcessorServer,
};
use envoy_types::pb::envoy::service::ext_proc::v3::{
    processing_request, processing_response, BodyResponse, CommonResponse, HeadersResponse,
    ProcessingRequest, ProcessingResponse,
};
use inference::epp::wire;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// A running picker; it stops when dropped.
pub struct Picker {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Picker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Picker {
    /// Starts the picker on a free loopback port.
    pub async fn start() -> Result<Picker> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the endpoint picker")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(ExternalProcessorServer::new(FirstOfSubset))
                .serve_with_incoming(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                )
                .await;
        });
        Ok(Picker { addr, task })
    }
}

struct FirstOfSubset;

type Out = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalProcessor for FirstOfSubset {
    type ProcessStream = Out;

    async fn process(
        &self,
        request: Request<Streaming<ProcessingRequest>>,
    ) -> Result<Response<Out>, Status> {
        let mut input = request.into_inner();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut choice = String::new();
            while let Ok(Some(msg)) = input.message().await {
                if let Some(subset) = wire::subset_hint(&msg) {
                    choice = subset.into_iter().next().unwrap_or_default();
                }
                let out: Vec<ProcessingResponse> = match msg.request {
                    Some(processing_request::Request::RequestHeaders(h)) if h.end_of_stream => {
                        vec![headers_response(&choice)]
                    }
                    Some(processing_request::Request::RequestBody(b)) if b.end_of_stream => {
                        vec![headers_response(&choice), body_response()]
                    }
                    Some(processing_request::Request::ResponseHeaders(_)) => {
                        vec![ProcessingResponse {
                            response: Some(processing_response::Response::ResponseHeaders(
                                HeadersResponse::default(),
                            )),
                            ..Default::default()
                        }]
                    }
                    _ => Vec::new(),
                };
                for m in out {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx)) as Out))
    }
}

/// The choice, in the header mutation and the dynamic metadata.
fn headers_response(choice: &str) -> ProcessingResponse {
    ProcessingResponse {
        dynamic_metadata: Some(wire::destination_metadata(choice)),
        response: Some(processing_response::Response::RequestHeaders(
            HeadersResponse {
                response: Some(CommonResponse {
                    header_mutation: Some(wire::set_headers(&[(
                        wire::DESTINATION_ENDPOINT,
                        choice,
                    )])),
                    clear_route_cache: true,
                    ..Default::default()
                }),
            },
        )),
        ..Default::default()
    }
}

/// The body left as it was.
fn body_response() -> ProcessingResponse {
    ProcessingResponse {
        response: Some(processing_response::Response::RequestBody(
            BodyResponse::default(),
        )),
        ..Default::default()
    }
}
