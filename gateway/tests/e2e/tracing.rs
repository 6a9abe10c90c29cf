//! OpenTelemetry: spans exported over OTLP/gRPC to a real collector endpoint, continuing the
//! client's W3C trace, and the upstream seeing the gateway's span as its parent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{client, routes_config, with_settings};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::{get_with, start_with_up, STEP};

/// An OTLP trace collector that keeps every span it receives.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn start_collector() -> (Collector, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let collector = Collector::default();
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    (collector, addr)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn spans_are_exported_and_continue_the_client_trace() {
    let (collector, otlp) = start_collector().await;
    let template = with_settings(
        &format!(r#"tracing: {{ otlpEndpoint: "http://{otlp}" }}"#),
        &routes_config(
            r#"
- name: traced
  backends: [{ host: "{up}" }]
"#,
        ),
    );
    let (up, mut gw) = start_with_up(&template).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{client_span}-01");
    let r = get_with(
        &client(),
        &gw.url("/hello"),
        &[("traceparent", &traceparent)],
    )
    .await;
    assert_eq!(r.status(), 200);

    // The upstream is a child of the gateway's span in the same trace.
    let seen = up.last().header("traceparent");
    let parts: Vec<&str> = seen.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {seen:?}");
    assert_eq!(parts[1], trace_id, "the client's trace continues upstream");
    assert_ne!(
        parts[2], client_span,
        "the upstream's parent is the gateway's span"
    );

    // Shutdown flushes the batch exporter.
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_exit(STEP).await.is_some(), "gateway did not exit");
    let deadline = tokio::time::Instant::now() + STEP;
    let spans = loop {
        let spans = collector.spans.lock().unwrap().clone();
        if spans.iter().any(|s| s.name == "upstream") || tokio::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .unwrap_or_else(|| panic!("no request span in {spans:?}"));
    let upstream = spans
        .iter()
        .find(|s| s.name == "upstream")
        .unwrap_or_else(|| panic!("no upstream span in {spans:?}"));
    assert_eq!(hex(&request.trace_id), trace_id);
    assert_eq!(hex(&request.parent_span_id), client_span);
    assert_eq!(hex(&upstream.trace_id), trace_id);
    assert_eq!(upstream.parent_span_id, request.span_id);
    assert_eq!(
        hex(&upstream.span_id),
        parts[2],
        "the upstream saw the upstream span's id"
    );
}
