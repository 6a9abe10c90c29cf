//! Logs and traces: `tracing` with text or JSON output, and OpenTelemetry spans exported over
//! OTLP/gRPC when `config.tracing` is set. W3C `traceparent` is continued from clients and passed
//! to upstreams.
//!
//! Every log line goes through one [`LogWriter`]: a thread that writes to stderr in batches, so
//! no Tokio worker makes a `write` syscall per line. The access log skips `tracing`'s formatter
//! ([`access_line`]). Colours only on a terminal, and never with `NO_COLOR` set.

pub mod access_line;
pub mod writer;

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{filter_fn, FilterExt as _};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::file::LogFormat;
use crate::model::Settings;
use access_line::{AccessLine, Shape};
pub use writer::LogWriter;

static OTEL_ON: AtomicBool = AtomicBool::new(false);

/// The process's log writer and the access line's format, once [`init`] ran.
static LOGS: OnceLock<(LogWriter, Shape)> = OnceLock::new();

/// Errors setting up telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("cannot set up OTLP export to {endpoint}: {cause}")]
    Exporter {
        /// Endpoint.
        endpoint: String,
        /// Cause.
        cause: String,
    },
    /// A global subscriber was already installed.
    #[error("logging was already initialised")]
    AlreadyInitialised,
    /// The log writer thread could not start.
    #[error("cannot start the log writer thread: {0}")]
    Writer(std::io::Error),
}

/// Keeps the trace pipeline and the log writer alive; when dropped (the end of `switchboard
/// run`, whatever ended it: a signal, an error), flushes spans, then writes every buffered log
/// line before the process exits.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    logs: LogWriter,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                tracing::error!("flushing traces failed: {e}");
            }
        }
        self.logs.shutdown();
    }
}

/// Whether log lines may carry ANSI colours: only when stderr is a terminal and `NO_COLOR`
/// (<https://no-color.org>) is unset or empty. A pipe, a file or a log collector gets plain text.
fn colours() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Writes one access line in the configured format through the log writer (before [`init`],
/// as in unit tests with their own subscriber: straight to stderr, as text).
pub fn write_access_line(line: &AccessLine<'_>) {
    match LOGS.get() {
        Some((writer, shape)) => access_line::with_line(line, *shape, |b| writer.append(b)),
        None => access_line::with_line(line, Shape::Text, |b| {
            use std::io::Write as _;
            let _ = std::io::stderr().write_all(b);
        }),
    }
}

/// Whether spans are exported (OpenTelemetry is on).
pub fn otel_on() -> bool {
    OTEL_ON.load(Ordering::Acquire)
}

/// `tracing_subscriber`'s JSON layer formats every span's fields when the span starts, for
/// lines that print spans; ours print none (`with_current_span(false)`), so it formats nothing.
struct NoSpanFields;

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: tracing_subscriber::fmt::format::Writer<'w>,
        _fields: R,
    ) -> std::fmt::Result {
        Ok(())
    }
}

/// Installs the global subscriber. `RUST_LOG` wins over `config.logging.level`. Must run inside
/// a Tokio runtime when tracing is configured (the exporter uses it).
pub fn init(settings: &Settings) -> Result<TelemetryGuard, TelemetryError> {
    let directives = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => settings.log_level.clone().unwrap_or_else(|| "info".into()),
    };
    // One filter per layer (EnvFilter is not Clone): the same directives for both.
    let filter = || {
        EnvFilter::try_new(with_quiet_libraries(&directives))
            .unwrap_or_else(|_| EnvFilter::new(with_quiet_libraries("info")))
    };
    let logs = LogWriter::start(Box::new(std::io::stderr())).map_err(TelemetryError::Writer)?;
    let (fmt, shape) = match settings.log_format {
        LogFormat::Text => (
            tracing_subscriber::fmt::layer()
                .with_ansi(colours())
                .with_writer(logs.clone())
                .boxed(),
            Shape::Text,
        ),
        LogFormat::Json => (
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .fmt_fields(NoSpanFields)
                .with_ansi(false)
                .with_writer(logs.clone())
                .boxed(),
            Shape::Json,
        ),
    };
    let mut provider = None;
    let otel = match &settings.tracing {
        None => None,
        Some(t) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(t.otlp_endpoint.clone())
                .build()
                .map_err(|e| {
                    logs.shutdown();
                    TelemetryError::Exporter {
                        endpoint: t.otlp_endpoint.clone(),
                        cause: e.to_string(),
                    }
                })?;
            let p = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                    t.sampling_ratio,
                ))))
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("switchboard")
                        .build(),
                )
                .build();
            let tracer = p.tracer("switchboard");
            provider = Some(p);
            OTEL_ON.store(true, Ordering::Release);
            Some(tracing_opentelemetry::layer().with_tracer(tracer))
        }
    };
    // The log layer sees events only. Left to see spans, it would format every span's fields
    // when the span starts (the request span, the MCP request span: most of the cost of
    // logging a request), for prefixes that only the rare event inside a request prints.
    // With no layer interested in spans (tracing off), `info_span!` costs next to nothing.
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![fmt
        .with_filter(filter().and(filter_fn(|m| !m.is_span())))
        .boxed()];
    if let Some(otel) = otel {
        layers.push(otel.with_filter(filter()).boxed());
    }
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_err()
        || LOGS.set((logs.clone(), shape)).is_err()
    {
        logs.shutdown();
        return Err(TelemetryError::AlreadyInitialised);
    }
    Ok(TelemetryGuard { provider, logs })
}

/// Libraries whose `info` events describe their own workings, not the gateway's traffic, with
/// the level they log at unless the user's filter names them. rmcp logs "Service initialized
/// as server" with the client's whole peer info for every in-process MCP session (one per
/// client session and target), which would bury the one access line per request.
const QUIET_LIBRARIES: [(&str, &str); 1] = [("rmcp", "warn")];

/// `directives` with a `target=level` directive added for each of [`QUIET_LIBRARIES`] that
/// no directive of the user's names (`rmcp=debug`, `rmcp::service=info`, ...): the user's
/// choice wins, and a bare `debug` still quiets them (ask for them by name).
fn with_quiet_libraries(directives: &str) -> String {
    let named = |lib: &str| {
        directives.split(',').any(|d| {
            // A directive is `target[span{field}]=level`, `target=level`, or a bare level.
            let target = d.split(['=', '[']).next().unwrap_or("").trim();
            target == lib || target.starts_with(&format!("{lib}::"))
        })
    };
    let mut out = directives.trim().to_string();
    for (lib, level) in QUIET_LIBRARIES {
        if !named(lib) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{lib}={level}"));
        }
    }
    out
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Continues the client's trace (W3C `traceparent`) in `span` when tracing is on.
pub fn set_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !otel_on() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(cx);
}

/// Writes `span`'s context as `traceparent` when tracing is on, so the upstream's spans are its
/// children. When tracing is off, the client's `traceparent` passes through untouched.
pub fn inject_context(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if !OTEL_ON.load(Ordering::Acquire) {
        return;
    }
    let cx = span.context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

#[cfg(test)]
mod tests {
    use super::with_quiet_libraries;

    #[test]
    fn rmcp_is_quieted_unless_named() {
        assert_eq!(with_quiet_libraries("info"), "info,rmcp=warn");
        assert_eq!(with_quiet_libraries(" debug "), "debug,rmcp=warn");
        assert_eq!(
            with_quiet_libraries("warn,access=info"),
            "warn,access=info,rmcp=warn"
        );
        assert_eq!(with_quiet_libraries(""), "rmcp=warn");
        for named in [
            "info,rmcp=debug",
            "rmcp::service=info",
            "rmcp[span]=trace,info",
        ] {
            assert_eq!(with_quiet_libraries(named), named, "the user's choice wins");
        }
        // A target that only starts with the name is another library.
        assert_eq!(with_quiet_libraries("rmcpx=info"), "rmcpx=info,rmcp=warn");
    }

    #[test]
    fn the_result_is_a_valid_filter() {
        for d in ["info", "warn,access=info", "mcp_mux=debug,info"] {
            let f = with_quiet_libraries(d);
            assert!(
                tracing_subscriber::EnvFilter::try_new(&f).is_ok(),
                "{f} does not parse"
            );
        }
    }
}
