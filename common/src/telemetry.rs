//! Logs, traces and metrics, set up the same way in both services.
//!
//! - Logs: JSON lines filtered by `RUST_LOG` (default `info`), each carrying
//!   the fields of its spans (`request_id`, `trace_id`, route, ...).
//! - Traces: `tracing` spans become OpenTelemetry spans; with
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` set they are exported over OTLP/HTTP.
//!   W3C `traceparent` is honoured on the way in and sent on the way out,
//!   and every span carries the request id of the request it serves.
//! - Metrics: one process-wide Prometheus recorder.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanExporter, SpanProcessor};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::layer::{Context as LayerContext, Filter, Layer as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// Keeps the tracer provider alive; flushes pending spans when dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports every finished span now (tests read them right after).
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Adds the request id of the request being served to every span, so any
/// span found in a trace viewer leads back to the gateway's logs.
#[derive(Debug)]
struct RequestIdOnSpans;

impl SpanProcessor for RequestIdOnSpans {
    fn on_start(&self, span: &mut Span, _cx: &Context) {
        use opentelemetry::trace::Span as _;
        if let Some(id) = crate::request_id::current() {
            span.set_attribute(KeyValue::new("request_id", id));
        }
    }

    fn on_end(&self, _span: opentelemetry_sdk::trace::SpanData) {}

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// Sets up logs and traces for a service binary: OTLP export when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set, logs to stdout.
pub fn init(service_name: &'static str, service_version: &'static str) -> Telemetry {
    let exporter = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").and_then(|_| {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .inspect_err(|error| eprintln!("OTLP exporter not started: {error}"))
            .ok()
    });
    install(
        service_name,
        service_version,
        exporter,
        std::io::stdout,
        true,
    )
}

/// Sets up logs and traces with a given span exporter and log writer (tests
/// pass an in-memory exporter and a buffer). `batch` exports in the
/// background; otherwise each span is exported as it ends.
pub fn install<E, W>(
    service_name: &'static str,
    service_version: &'static str,
    exporter: Option<E>,
    writer: W,
    batch: bool,
) -> Telemetry
where
    E: SpanExporter + 'static,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(service_name)
        .with_attribute(KeyValue::new("service.version", service_version))
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    // Without an exporter no span leaves the process: no processor at all,
    // so ending a span builds nothing. Trace ids still reach the logs and
    // `traceparent` still travels to auth-service.
    let exporting = exporter.is_some();
    if let Some(exporter) = exporter {
        builder = builder.with_span_processor(RequestIdOnSpans);
        builder = if batch {
            builder.with_batch_exporter(exporter)
        } else {
            builder.with_simple_exporter(exporter)
        };
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(service_name);
    // Logs: what RUST_LOG asks for (default `info`).
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(true)
        .with_writer(writer)
        .with_filter(AskEveryTime(log_filter));
    // Traces: spans and events at `info` and above (the request's span gives
    // every log line its trace id and auth-service its `traceparent`), plus,
    // only when spans are exported, the `debug` client span of every
    // PostgreSQL and Redis call. Unexported, those spans would cost about a
    // tenth of a cart read's CPU for nothing (bench/FINDINGS.md).
    let trace_filter = filter_fn(move |metadata| {
        *metadata.level() <= Level::INFO || (exporting && is_client_span(metadata))
    });
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                // Each of these runs on every poll of every instrumented
                // future (enter/exit) or every span: a third of commerce's
                // CPU per cart read went to tracing before they were off
                // (bench/REPORT.md). Traces keep names, attributes, timing,
                // parents and source locations.
                .with_tracked_inactivity(false)
                .with_context_activation(false)
                .with_threads(false)
                .with_filter(AskEveryTime(trace_filter)),
        )
        .try_init();
    Telemetry { provider }
}

/// A per-layer filter that is asked about every span and event, never
/// answering "always" for a callsite.
///
/// Per-layer filters pass their verdict to their layer through a
/// thread-local, set by `enabled` and read by the next span or event. A
/// callsite whose interest is cached as "always" skips `enabled`, so it reads
/// whatever the last `enabled` call left there; and `log::log_enabled!`
/// (sqlx asks it after every query, through tracing-log's `LogTracer`) calls
/// `enabled` with no event after it. The next event, often the security line
/// right after a database call, was dropped (tokio-rs/tracing#2519). Asking
/// every time costs one cheap filter evaluation per event.
struct AskEveryTime<F>(F);

impl<S, F: Filter<S>> Filter<S> for AskEveryTime<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &LayerContext<'_, S>) -> bool {
        self.0.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() {
            Interest::sometimes()
        } else {
            interest
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &LayerContext<'_, S>) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.0.max_level_hint()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        self.0.on_new_span(attrs, id, ctx)
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        self.0.on_record(id, values, ctx)
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        self.0.on_enter(id, ctx)
    }

    fn on_exit(&self, id: &Id, ctx: LayerContext<'_, S>) {
        self.0.on_exit(id, ctx)
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        self.0.on_close(id, ctx)
    }
}

/// The client span of one database or Redis call (`db.system` set, level
/// `debug`).
fn is_client_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span()
        && *metadata.level() == Level::DEBUG
        && metadata.fields().field("db.system").is_some()
}

/// Logs for tests: silent unless `TEST_LOG` is set.
pub fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
        TELEMETRY.get_or_init(|| {
            install::<opentelemetry_otlp::SpanExporter, _>(
                "test",
                "0",
                None,
                std::io::stdout,
                false,
            )
        });
    }
}

/// W3C trace-context headers of the current span, for an outgoing request.
pub fn trace_headers() -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers))
    });
    headers
}

/// A counter and the values its one label takes (`""` and no values for a
/// counter without labels).
pub type CounterSeries = (&'static str, &'static str, &'static [&'static str]);

/// Registers every series of `counters` at zero, so the first scrape of a
/// fresh process already shows them (Prometheus practice: rates and
/// `absent()` alerts work before the first event). Adding zero changes
/// nothing, so calling it again is harmless.
pub fn register_counters_at_zero(counters: &[CounterSeries]) {
    metrics_handle();
    for (name, label, values) in counters {
        if values.is_empty() {
            metrics::counter!(*name).increment(0);
        }
        for value in *values {
            metrics::counter!(*name, *label => *value).increment(0);
        }
    }
}

/// The process-wide Prometheus recorder. Installing twice is impossible, so
/// every app built in one process (tests build many) shares one handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const LATENCY_BUCKETS: &[f64] = &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_ok() {
                // Without upkeep, histograms grow without bound.
                let upkeep = handle.clone();
                std::thread::Builder::new()
                    .name("metrics-upkeep".into())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(Duration::from_secs(5));
                            upkeep.run_upkeep();
                        }
                    })
                    .ok();
            }
            handle
        })
        .clone()
}

/// The database pool's state as gauges (read at scrape time).
pub fn record_pool_gauges(size: u32, idle: usize, max: u32) {
    let idle = idle as f64;
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set((f64::from(size) - idle).max(0.0));
    metrics::gauge!("db_pool_max_connections").set(f64::from(max));
}

/// Middleware: one server span per request (method, route template, status,
/// request id, trace id), joined to the caller's trace when a `traceparent`
/// came in, and the `http_requests_total` / `http_request_duration_seconds`
/// series.
pub async fn observe_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = crate::request_id::current().unwrap_or_default();
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    let started = Instant::now();
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    let status = response.status();
    let elapsed = started.elapsed();
    span.record("http.response.status_code", status.as_u16());
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        let elapsed_ms = elapsed.as_millis() as u64;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), elapsed_ms, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), elapsed_ms, "request served");
        }
    });
    response
}
