//! OTLP span export that encodes each span on the thread that ends it.
//!
//! The SDK's batch processor moves every `SpanData` (a few hundred bytes plus its attribute
//! strings) through a channel to its own thread, where the OTLP exporter converts the batch into
//! protobuf structs, encodes them and hands the bytes to a tonic channel running on the service's
//! runtime. Measured on the API, that pipeline cost ~20 us of CPU per request (two spans), twice
//! what creating the spans costs. Here a span is encoded as it ends, straight from its data
//! (`otlp_wire`), into a buffer of the thread that ends it, so only bytes cross threads, and only
//! in runs of [`HAND_OFF_SPANS`]: the shared queue's lock is taken once per run, not once per
//! span. One exporter thread, with a runtime of its own, wraps the queued spans in an
//! `ExportTraceServiceRequest` and sends it over OTLP/HTTP (`otlp_http.rs`, the default) or
//! OTLP/gRPC (tonic); when a batch is due by time, a flush or shutdown,
//! it first collects what the threads still hold, so a span still goes out within the schedule
//! delay.
//!
//! Configured by the standard variables: `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` (`http/protobuf`
//! or `grpc`), `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`, `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`, and the batch
//! processor's `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE` and
//! `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`. No `http/json` and no compression: they are refused at start
//! rather than ignored. The spans of a failed export are dropped, as the SDK's
//! exporter does, and so are spans that find the queue full; both are counted and logged at most
//! every ten seconds. The limit, `OTEL_BSP_MAX_QUEUE_SIZE`, is checked per run, so the queue can
//! pass it by one run, and each thread holds up to a run besides.

use std::{
    cell::RefCell,
    collections::VecDeque,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::{BufMut, Bytes};
use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceResponse, common::v1 as common,
    resource::v1 as resource,
};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanProcessor},
};
use prost::{
    Message,
    encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len},
};

use crate::{
    TelemetryError,
    otlp_http::{HttpClient, RequestBody},
    otlp_wire::SpanView,
};

/// The gRPC method every OTLP trace receiver serves.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The OTLP transports (`OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `http/protobuf`: the specification's default, and the cheaper of the two here
    /// (`otlp_http.rs`).
    HttpProtobuf,
    /// `grpc`, through tonic.
    Grpc,
}

/// Where and how to export, from the environment.
#[derive(Debug, Clone)]
pub(crate) struct ExportConfig {
    protocol: Protocol,
    /// The full URL: for `http/protobuf`, `/v1/traces` included.
    endpoint: String,
    timeout: Duration,
    /// Checked once at start; sent with every request.
    headers: http::HeaderMap,
    schedule_delay: Duration,
    max_queue: usize,
    max_batch: usize,
}

fn var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

fn millis(names: &[&str], default: u64) -> Result<Duration, TelemetryError> {
    var(names).map_or(Ok(Duration::from_millis(default)), |v| {
        v.trim()
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| TelemetryError::Exporter(format!("{}: not milliseconds: {v}", names[0])))
    })
}

fn count(name: &str, default: usize) -> Result<usize, TelemetryError> {
    var(&[name]).map_or(Ok(default), |v| match v.trim().parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(TelemetryError::Exporter(format!(
            "{name}: not a positive count: {v}"
        ))),
    })
}

/// `%XX` escapes, as `OTEL_EXPORTER_OTLP_HEADERS` values are URL-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ExportConfig {
    pub(crate) fn from_env() -> Result<Self, TelemetryError> {
        let refuse = |name: &str, allowed: &[&str]| match var(&[name]) {
            Some(v) if !allowed.contains(&v.trim()) => Err(TelemetryError::Exporter(format!(
                "{name}={v} is not supported; use {}",
                allowed.join(" or ")
            ))),
            _ => Ok(()),
        };
        refuse("OTEL_EXPORTER_OTLP_PROTOCOL", &["http/protobuf", "grpc"])?;
        refuse(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            &["http/protobuf", "grpc"],
        )?;
        refuse("OTEL_EXPORTER_OTLP_COMPRESSION", &["none"])?;
        refuse("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", &["none"])?;
        let protocol = match var(&[
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ])
        .as_deref()
        .map(str::trim)
        {
            Some("grpc") => Protocol::Grpc,
            _ => Protocol::HttpProtobuf,
        };
        let endpoint = endpoint(
            protocol,
            var(&["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]),
            var(&["OTEL_EXPORTER_OTLP_ENDPOINT"]),
        );
        let mut headers = http::HeaderMap::new();
        for names in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            for pair in var(&[names]).unwrap_or_default().split(',') {
                if pair.trim().is_empty() {
                    continue;
                }
                let Some((k, v)) = pair.split_once('=') else {
                    return Err(TelemetryError::Exporter(format!(
                        "{names}: expected key=value pairs, got {pair}"
                    )));
                };
                let key = http::HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes());
                let value = http::HeaderValue::try_from(percent_decode(v.trim()));
                let (Ok(key), Ok(value)) = (key, value) else {
                    return Err(TelemetryError::Exporter(format!(
                        "{names}: not a valid header: {pair}"
                    )));
                };
                headers.insert(key, value);
            }
        }
        Ok(Self {
            protocol,
            endpoint,
            timeout: millis(
                &[
                    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                ],
                10_000,
            )?,
            headers,
            schedule_delay: millis(&["OTEL_BSP_SCHEDULE_DELAY"], 5_000)?,
            max_queue: count("OTEL_BSP_MAX_QUEUE_SIZE", 2_048)?,
            max_batch: count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?,
        })
    }
}

/// The export URL, by the specification's rules: the traces variable is used as it is; the
/// general one is a base URL, under which `http/protobuf` posts to `/v1/traces`. Without either,
/// the collector's default port on this host.
fn endpoint(protocol: Protocol, traces: Option<String>, base: Option<String>) -> String {
    match (protocol, traces, base) {
        (_, Some(url), _) => url.trim().to_owned(),
        (Protocol::Grpc, None, base) => base.map_or_else(
            || "http://localhost:4317".to_owned(),
            |b| b.trim().to_owned(),
        ),
        (Protocol::HttpProtobuf, None, base) => {
            let base = base.map_or_else(
                || "http://localhost:4318".to_owned(),
                |b| b.trim().to_owned(),
            );
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                crate::otlp_http::TRACES_PATH
            )
        }
    }
}

/// The field of `ScopeSpans` that holds its spans.
const SCOPE_SPANS_SPANS: u32 = 2;

/// Encoded spans of one instrumentation scope: runs of `ScopeSpans.spans` fields, in order. A
/// thread's run of spans has one buffer; a batch takes such buffers whole, so the bytes of a
/// span are not copied again after it is encoded, except into tonic's send buffer over gRPC.
struct ScopeBuffer {
    scope: InstrumentationScope,
    runs: Vec<Vec<u8>>,
}

impl ScopeBuffer {
    fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }
}

/// The room a thread's run buffer starts with: a run of [`HAND_OFF_SPANS`] spans of the API
/// takes about 20 KiB.
const RUN_BUFFER_BYTES: usize = 32 * 1024;

/// Spans waiting to go out, at most `max_batch` per batch.
#[derive(Default)]
struct Batch {
    scopes: Vec<ScopeBuffer>,
    spans: usize,
}

impl Batch {
    fn scope(&mut self, scope: &InstrumentationScope) -> &mut ScopeBuffer {
        let at = match self.scopes.iter().position(|s| &s.scope == scope) {
            Some(at) => at,
            None => {
                self.scopes.push(ScopeBuffer {
                    scope: scope.clone(),
                    runs: Vec::new(),
                });
                self.scopes.len() - 1
            }
        };
        &mut self.scopes[at]
    }

    /// The buffer `scope`'s next spans are encoded into.
    fn buffer(&mut self, scope: &InstrumentationScope) -> &mut Vec<u8> {
        let runs = &mut self.scope(scope).runs;
        if runs.is_empty() {
            runs.push(Vec::with_capacity(RUN_BUFFER_BYTES));
        }
        let last = runs.len() - 1;
        &mut runs[last]
    }

    /// Encodes `span` onto its scope's run of spans.
    fn encode(&mut self, scope: &InstrumentationScope, span: &SpanView<'_>) {
        crate::otlp_wire::encode_span(SCOPE_SPANS_SPANS, span, self.buffer(scope));
        self.spans += 1;
    }

    /// Moves the spans of `other` (a thread's run) to the end of this batch: its buffers move,
    /// each replaced by an empty one from `spare` (or a new one), so no span is copied and the
    /// thread still has a buffer to encode into.
    fn append(&mut self, other: &mut Batch, spare: &mut Vec<Vec<u8>>) {
        for run in &mut other.scopes {
            for buffer in run.runs.iter_mut().filter(|b| !b.is_empty()) {
                let empty = spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(buffer.capacity()));
                let full = std::mem::replace(buffer, empty);
                self.scope(&run.scope).runs.push(full);
            }
        }
        self.spans += other.spans;
        other.spans = 0;
    }

    /// Empties the batch and keeps its buffers.
    fn clear(&mut self) {
        self.scopes
            .iter_mut()
            .flat_map(|s| &mut s.runs)
            .for_each(Vec::clear);
        self.spans = 0;
    }

    /// The batch's buffers, emptied, for [`Batch::append`] to give to threads.
    fn into_buffers(self) -> impl Iterator<Item = Vec<u8>> {
        self.scopes.into_iter().flat_map(|s| s.runs).map(|mut b| {
            b.clear();
            b
        })
    }

    /// The `ExportTraceServiceRequest` carrying this batch for `resource` (an encoded
    /// `Resource`), written in one pass: every length is known before the bytes, so `out` is
    /// told the request's size first, then given its fields and the runs of encoded spans, in
    /// order.
    fn write_request(&self, resource: &[u8], schema_url: &str, out: &mut impl RequestOut) {
        // A length-delimited field's size; its key and length written out; the whole field.
        let field_len = |tag: u32, len: usize| key_len(tag) + encoded_len_varint(len as u64) + len;
        let header = |tag: u32, len: usize, out: &mut Vec<u8>| {
            encode_key(tag, WireType::LengthDelimited, out);
            encode_varint(len as u64, out);
        };
        let field = |tag: u32, bytes: &[u8], out: &mut Vec<u8>| {
            header(tag, bytes.len(), out);
            out.extend_from_slice(bytes);
        };
        // `schema_url` fields (3 in both messages) are left out when empty, as prost does.
        let url_len = |url: &str| {
            if url.is_empty() {
                0
            } else {
                field_len(3, url.len())
            }
        };
        let scopes: Vec<(Vec<u8>, &str, usize)> = self
            .scopes
            .iter()
            .map(|s| {
                let scope = common::InstrumentationScope::from((&s.scope, None)).encode_to_vec();
                let url = s.scope.schema_url().unwrap_or_default();
                let len = field_len(1, scope.len()) + s.len() + url_len(url);
                (scope, url, len)
            })
            .collect();
        let resource_spans = field_len(1, resource.len())
            + scopes
                .iter()
                .map(|(_, _, len)| field_len(2, *len))
                .sum::<usize>()
            + url_len(schema_url);

        out.reserve(field_len(1, resource_spans));
        // The request's own fields, between the runs.
        let mut own = Vec::with_capacity(64 + resource.len());
        header(1, resource_spans, &mut own);
        field(1, resource, &mut own);
        for (at, ((scope, url, len), buffer)) in scopes.iter().zip(&self.scopes).enumerate() {
            header(2, *len, &mut own);
            field(1, scope, &mut own);
            out.put(&own);
            own.clear();
            for (run, bytes) in buffer.runs.iter().enumerate() {
                out.put_run(at, run, bytes);
            }
            if !url.is_empty() {
                field(3, url.as_bytes(), &mut own);
            }
        }
        if !schema_url.is_empty() {
            field(3, schema_url.as_bytes(), &mut own);
        }
        out.put(&own);
    }
}

/// Where [`Batch::write_request`] writes an export request.
trait RequestOut {
    /// Called first, with the request's size in bytes.
    fn reserve(&mut self, len: usize);
    /// Bytes of the request's own fields.
    fn put(&mut self, bytes: &[u8]);
    /// Run `run` of the batch's scope `scope`, whose encoded spans are `bytes`.
    fn put_run(&mut self, scope: usize, run: usize, bytes: &[u8]);
}

/// gRPC: tonic's send buffer, reserved at the request's size (it starts at 8 KiB, and growing
/// it to a batch of a few hundred kilobytes reallocates and copies it about five times).
impl RequestOut for tonic::codec::EncodeBuf<'_> {
    fn reserve(&mut self, len: usize) {
        tonic::codec::EncodeBuf::reserve(self, len);
    }
    fn put(&mut self, bytes: &[u8]) {
        self.put_slice(bytes);
    }
    fn put_run(&mut self, _: usize, _: usize, bytes: &[u8]) {
        self.put_slice(bytes);
    }
}

/// OTLP/HTTP: the request as a body of parts, the runs not copied but shared with the batch.
struct HttpParts {
    batch: Arc<Batch>,
    body: RequestBody,
}

impl RequestOut for HttpParts {
    fn reserve(&mut self, _: usize) {}
    fn put(&mut self, bytes: &[u8]) {
        self.body.push(Bytes::copy_from_slice(bytes));
    }
    fn put_run(&mut self, scope: usize, run: usize, _: &[u8]) {
        self.body.push(Bytes::from_owner(RunBytes {
            batch: Arc::clone(&self.batch),
            scope,
            run,
        }));
    }
}

/// `batch`'s export request as an OTLP/HTTP body.
fn http_body(batch: &Arc<Batch>, resource: &[u8], schema_url: &str) -> RequestBody {
    let mut parts = HttpParts {
        batch: Arc::clone(batch),
        body: RequestBody::default(),
    };
    batch.write_request(resource, schema_url, &mut parts);
    parts.body
}

/// One run of a batch, as the bytes of a request body; the batch is whole again once every
/// part is dropped, and its buffers go back to the threads.
struct RunBytes {
    batch: Arc<Batch>,
    scope: usize,
    run: usize,
}

impl AsRef<[u8]> for RunBytes {
    fn as_ref(&self) -> &[u8] {
        &self.batch.scopes[self.scope].runs[self.run]
    }
}

/// Run buffers of sent batches kept for reuse: a batch of 4,096 spans of the API is 64 of them
/// (2 MiB at most, kept).
const MAX_SPARE_BUFFERS: usize = 64;

#[derive(Default)]
struct Queue {
    full: VecDeque<Batch>,
    current: Batch,
    /// Span buffers of sent batches, emptied, for the next batches: a buffer grown to a batch's
    /// size (a few hundred kilobytes) is not grown again, under the lock, for every batch.
    spare: Vec<Vec<u8>>,
    queued: usize,
    dropped: u64,
    /// Bumped by `force_flush`; the exporter answers by raising `flushed` to it.
    flush_requested: u64,
    flushed: u64,
}

/// Spans are handed from a thread's run to the shared queue this many at a time.
const HAND_OFF_SPANS: usize = 64;

/// A thread's spans not yet in the queue, shared with the exporter, which collects them.
type Run = Arc<Mutex<Batch>>;

struct Shared {
    queue: Mutex<Queue>,
    /// Every thread's run of spans not yet handed off, for the exporter to collect.
    runs: Mutex<Vec<Run>>,
    /// Set at shutdown; read by spans as they arrive, without the queue's lock: a span that
    /// finds it set is dropped (and counted) rather than left in a run nobody collects.
    closed: AtomicBool,
    max_queue: usize,
    max_batch: usize,
    /// The exporter waits here for a full batch, a flush or shutdown.
    work: Condvar,
    /// `force_flush` waits here for the exporter.
    done: Condvar,
}

/// Locks `m`; a panic elsewhere while holding it leaves spans, not broken invariants.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether shutdown has begun; if so, the arriving span is counted as dropped.
    fn refuses_span(&self) -> bool {
        let closed = self.is_closed();
        if closed {
            self.lock().dropped += 1;
        }
        closed
    }

    /// Moves `run` into the queue, in whole: dropped (and counted) when the queue is full. A
    /// batch that would pass `max_batch` is closed first. Shutdown is checked where spans arrive
    /// (`refuses_span`), as the exporter's last collection hands off after shutdown.
    fn hand_off(&self, run: &mut Batch) {
        if run.spans == 0 {
            return;
        }
        let mut guard = self.lock();
        let q = &mut *guard;
        if q.queued >= self.max_queue {
            q.dropped += run.spans as u64;
            run.clear();
            return;
        }
        q.queued += run.spans;
        let mut closed = false;
        if q.current.spans > 0 && q.current.spans + run.spans > self.max_batch {
            q.full.push_back(std::mem::take(&mut q.current));
            closed = true;
        }
        q.current.append(run, &mut q.spare);
        if q.current.spans >= self.max_batch {
            q.full.push_back(std::mem::take(&mut q.current));
            closed = true;
        }
        drop(guard);
        if closed {
            self.work.notify_one();
        }
    }

    /// Hands off every thread's run, and forgets the runs of threads that have exited.
    fn collect_runs(&self) {
        let runs = {
            let mut list = lock(&self.runs);
            let runs = list.clone();
            // Held only by the list and this copy: its thread has exited and can add no more
            // spans, so this is its last collection. (Forgetting a run after collecting it
            // could lose what its thread added in between.)
            list.retain(|run| Arc::strong_count(run) > 2);
            runs
        };
        for run in &runs {
            self.hand_off(&mut lock(run));
        }
    }

    /// Waits on `signal` (`work` or `done`) for at most `timeout`.
    fn wait<'a>(
        signal: &Condvar,
        queue: MutexGuard<'a, Queue>,
        timeout: Duration,
    ) -> MutexGuard<'a, Queue> {
        signal
            .wait_timeout(queue, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

/// The span processor and exporter in one: see the module documentation.
pub(crate) struct OtlpProcessor {
    sink: SpanSink,
    config: ExportConfig,
    /// The encoded `Resource` and its schema URL.
    resource: Arc<(Vec<u8>, String)>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for OtlpProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpProcessor")
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

/// Where finished spans go to be exported: the processor's queue, also fed by the request spans
/// of `spans.rs`, which never pass through the SDK.
#[derive(Clone)]
pub(crate) struct SpanSink {
    shared: Arc<Shared>,
}

thread_local! {
    /// This thread's run of spans, one per sink (a process has one; tests make more).
    static RUNS: RefCell<Vec<(Weak<Shared>, Run)>> = const { RefCell::new(Vec::new()) };
}

impl SpanSink {
    fn new(max_queue: usize, max_batch: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                runs: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
                max_queue,
                max_batch,
                work: Condvar::new(),
                done: Condvar::new(),
            }),
        }
    }

    /// Encodes `span` (sampled spans only) onto this thread's run, which goes to the queue once
    /// it holds [`HAND_OFF_SPANS`] (or a batch, if smaller).
    pub(crate) fn push(&self, scope: &InstrumentationScope, span: &SpanView<'_>) {
        if !span.context.is_sampled() {
            return;
        }
        let pushed = RUNS.try_with(|runs| {
            let mut runs = runs.borrow_mut();
            let mut run = lock(self.run(&mut runs));
            // Read under the run's lock, which the exporter's last collection takes after
            // setting `closed`: a span is either in that collection or counted here.
            if self.shared.refuses_span() {
                return;
            }
            run.encode(scope, span);
            if run.spans >= HAND_OFF_SPANS.min(self.shared.max_batch) {
                self.shared.hand_off(&mut run);
            }
        });
        // The thread is exiting and its run is gone: this span goes to the queue alone.
        if pushed.is_err() && !self.shared.refuses_span() {
            let mut alone = Batch::default();
            alone.encode(scope, span);
            self.shared.hand_off(&mut alone);
        }
    }

    /// This thread's run for this sink, from the thread's `runs`; made and registered on first
    /// use. Borrowed, not cloned: a span pays no reference count for it.
    fn run<'a>(&self, runs: &'a mut Vec<(Weak<Shared>, Run)>) -> &'a Run {
        let me = Arc::as_ptr(&self.shared);
        let at = match runs.iter().position(|(sink, _)| sink.as_ptr() == me) {
            Some(at) => at,
            None => {
                runs.retain(|(sink, _)| sink.strong_count() > 0);
                let run = Arc::new(Mutex::new(Batch::default()));
                lock(&self.shared.runs).push(Arc::clone(&run));
                runs.push((Arc::downgrade(&self.shared), run));
                runs.len() - 1
            }
        };
        &runs[at].1
    }
}

#[cfg(test)]
impl SpanSink {
    /// A sink with no exporter behind it.
    pub(crate) fn detached() -> Self {
        Self::new(2_048, 512)
    }

    /// The spans queued so far, threads' runs included, as `ScopeSpans.spans` fields.
    pub(crate) fn queued(&self) -> Vec<u8> {
        self.shared.collect_runs();
        let q = self.shared.lock();
        q.current
            .scopes
            .iter()
            .flat_map(|s| s.runs.iter().flatten().copied())
            .collect()
    }
}

impl OtlpProcessor {
    pub(crate) fn sink(&self) -> SpanSink {
        self.sink.clone()
    }

    /// Checks the endpoint; the exporter thread starts with the resource (`set_resource`).
    pub(crate) fn new(config: ExportConfig) -> Result<Self, TelemetryError> {
        match config.protocol {
            Protocol::HttpProtobuf => {
                HttpClient::new(&config.endpoint, config.headers.clone(), config.timeout)?;
            }
            Protocol::Grpc => {
                tonic::transport::Endpoint::from_shared(config.endpoint.clone())
                    .map_err(|e| TelemetryError::Exporter(format!("{}: {e}", config.endpoint)))?;
            }
        }
        Ok(Self {
            sink: SpanSink::new(config.max_queue, config.max_batch),
            config,
            resource: Arc::default(),
            worker: Mutex::new(None),
        })
    }

    fn start_worker(&self) {
        let mut worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner);
        if worker.is_some() {
            return;
        }
        let exporter = Exporter {
            shared: Arc::clone(&self.sink.shared),
            config: self.config.clone(),
            resource: Arc::clone(&self.resource),
        };
        match std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || exporter.run())
        {
            Ok(handle) => *worker = Some(handle),
            Err(e) => {
                tracing::error!(error.message = %e, "Cannot start the span exporter thread; spans are dropped.")
            }
        }
    }
}

impl SpanProcessor for OtlpProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        self.sink
            .push(&span.instrumentation_scope, &SpanView::from(&span));
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut q = self.sink.shared.lock();
        q.flush_requested += 1;
        let wanted = q.flush_requested;
        self.sink.shared.work.notify_one();
        let deadline = Instant::now() + self.config.timeout;
        while q.flushed < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(OTelSdkError::Timeout(self.config.timeout));
            }
            q = Shared::wait(&self.sink.shared.done, q, left);
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.sink.shared.closed.store(true, Ordering::Release);
        // Taken between the store and the notification, so that an exporter about to wait sees
        // the flag first.
        drop(self.sink.shared.lock());
        self.sink.shared.work.notify_one();
        let handle = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // The exporter's last sends are bounded by the export timeout.
        if let Some(handle) = handle {
            handle.join().map_err(|_| {
                OTelSdkError::InternalFailure("the exporter thread panicked".into())
            })?;
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let r = opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema::from(
            resource,
        );
        // Encoded once: every export request carries the same resource.
        self.resource = Arc::new((
            resource::Resource {
                attributes: r.attributes.0,
                ..Default::default()
            }
            .encode_to_vec(),
            r.schema_url.unwrap_or_default(),
        ));
        self.start_worker();
    }
}

/// The exporter thread's state.
struct Exporter {
    shared: Arc<Shared>,
    config: ExportConfig,
    /// The encoded `Resource` and its schema URL.
    resource: Arc<(Vec<u8>, String)>,
}

impl Exporter {
    fn run(self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error.message = %e, "Cannot start the span exporter's runtime; spans are dropped.");
                return;
            }
        };
        let mut transport = match self.config.protocol {
            Protocol::HttpProtobuf => match HttpClient::new(
                &self.config.endpoint,
                self.config.headers.clone(),
                self.config.timeout,
            ) {
                Ok(client) => Transport::Http(client),
                Err(_) => return, // checked in `OtlpProcessor::new`
            },
            Protocol::Grpc => {
                match tonic::transport::Endpoint::from_shared(self.config.endpoint.clone()) {
                    Ok(endpoint) => {
                        let _entered = runtime.enter();
                        Transport::Grpc(tonic::client::Grpc::new(
                            endpoint
                                .timeout(self.config.timeout)
                                .connect_timeout(self.config.timeout)
                                .connect_lazy(),
                        ))
                    }
                    Err(_) => return, // checked in `OtlpProcessor::new`
                }
            }
        };
        let mut next_flush = Instant::now() + self.config.schedule_delay;
        let mut lost = Lost::default();
        loop {
            // What is due is decided once, under one lock: a shutdown or flush that comes later
            // is answered by the next pass, after its spans were collected.
            let (due, flush_to, stop) = {
                let mut q = self.shared.lock();
                while q.full.is_empty()
                    && !self.shared.is_closed()
                    && q.flush_requested == q.flushed
                    && Instant::now() < next_flush
                {
                    let wait = next_flush.saturating_duration_since(Instant::now());
                    q = Shared::wait(&self.shared.work, q, wait);
                }
                let stop = self.shared.is_closed();
                let due = stop || q.flush_requested > q.flushed || Instant::now() >= next_flush;
                (due, q.flush_requested, stop)
            };
            // Spans still in the threads' runs go out with a batch that is due.
            if due {
                self.shared.collect_runs();
            }
            let (batches, dropped) = {
                let mut q = self.shared.lock();
                let mut batches: Vec<Batch> = q.full.drain(..).collect();
                if due && q.current.spans > 0 {
                    batches.push(std::mem::take(&mut q.current));
                }
                q.queued -= batches.iter().map(|b| b.spans).sum::<usize>();
                (batches, std::mem::take(&mut q.dropped))
            };
            if Instant::now() >= next_flush {
                next_flush = Instant::now() + self.config.schedule_delay;
            }
            lost.queue_full += dropped;
            // At shutdown the batches left share one export timeout: a collector that does not
            // answer must not hold the process's exit for a timeout per batch.
            let deadline = stop.then(|| tokio::time::Instant::now() + self.config.timeout);
            let mut spare = Vec::new();
            for batch in batches {
                let batch = Arc::new(batch);
                let spans = batch.spans as u64;
                let send = self.send(&mut transport, Arc::clone(&batch));
                let sent = match deadline {
                    // The timer needs the runtime: it is made inside `block_on`.
                    Some(deadline) => runtime
                        .block_on(async { tokio::time::timeout_at(deadline, send).await })
                        .unwrap_or_else(|_| {
                            Err("shutting down: the export timeout has passed".to_owned())
                        }),
                    None => runtime.block_on(send),
                };
                if let Err(e) = sent {
                    lost.failed += spans;
                    lost.error = Some(e);
                }
                // The request, and with it every handle on the batch, is gone once sent.
                if let Ok(batch) = Arc::try_unwrap(batch) {
                    spare.extend(batch.into_buffers());
                }
            }
            lost.report(&self.config.endpoint, stop);
            let mut q = self.shared.lock();
            q.flushed = flush_to;
            q.spare.append(&mut spare);
            // Steady export needs one or two; the buffers of a backlog (a slow collector, a
            // large queue) are freed rather than kept.
            q.spare.truncate(MAX_SPARE_BUFFERS);
            drop(q);
            self.shared.done.notify_all();
            if stop {
                return;
            }
        }
    }

    /// Sends `batch`; returns why it was not taken. Spans the collector took only in part are
    /// logged, whichever the transport.
    async fn send(&self, transport: &mut Transport, batch: Arc<Batch>) -> Result<(), String> {
        let (resource, schema_url) = &*self.resource;
        let answer = match transport {
            Transport::Http(client) => {
                client
                    .export(|| http_body(&batch, resource, schema_url))
                    .await
            }
            Transport::Grpc(client) => self
                .send_grpc(
                    client,
                    ExportRequest {
                        batch,
                        resource: Arc::clone(&self.resource),
                    },
                )
                .await
                .map_err(|e| e.message().to_owned()),
        }?;
        if let Some(partial) = answer.partial_success {
            if partial.rejected_spans > 0 {
                tracing::warn!(spans.rejected = partial.rejected_spans, error.message = %partial.error_message, "The collector rejected spans.");
            }
        }
        Ok(())
    }

    async fn send_grpc(
        &self,
        client: &mut tonic::client::Grpc<tonic::transport::Channel>,
        body: ExportRequest,
    ) -> Result<ExportTraceServiceResponse, tonic::Status> {
        client
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(body);
        // Headers first: the timeout is a header (`grpc-timeout`) too.
        *request.metadata_mut() =
            tonic::metadata::MetadataMap::from_headers(self.config.headers.clone());
        request.set_timeout(self.config.timeout);
        let response = client
            .unary(
                request,
                tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
                BatchCodec,
            )
            .await?;
        Ok(response.into_inner())
    }
}

/// How the exporter reaches the collector.
enum Transport {
    Http(HttpClient),
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
}

/// How often lost spans are logged: a collector that is down fails every batch, and a line per
/// batch would flood the service's logs.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Spans lost since the last report.
#[derive(Default)]
struct Lost {
    failed: u64,
    queue_full: u64,
    error: Option<String>,
    reported: Option<Instant>,
}

impl Lost {
    /// Logs what was lost, at most once per [`REPORT_EVERY`] (and always when `last`); returns
    /// whether it did.
    fn report(&mut self, endpoint: &str, last: bool) -> bool {
        let due = last || self.reported.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        if !due || self.failed + self.queue_full == 0 {
            return false;
        }
        tracing::warn!(
            spans.failed = self.failed,
            spans.queue_full = self.queue_full,
            error.message = self.error.as_deref().unwrap_or(""),
            endpoint,
            "Spans were dropped: the collector did not take them, or the export queue was full."
        );
        *self = Self {
            reported: Some(Instant::now()),
            ..Self::default()
        };
        true
    }
}

/// An export request as the codec writes it: a batch and the resource it is sent for.
struct ExportRequest {
    batch: Arc<Batch>,
    resource: Arc<(Vec<u8>, String)>,
}

/// Writes a batch straight into tonic's send buffer; decodes the collector's answer.
struct BatchCodec;

impl tonic::codec::Codec for BatchCodec {
    type Encode = ExportRequest;
    type Decode = ExportTraceServiceResponse;
    type Encoder = BatchCodec;
    type Decoder = BatchCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BatchCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        BatchCodec
    }
}

impl tonic::codec::Encoder for BatchCodec {
    type Item = ExportRequest;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: ExportRequest,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        let (resource, schema_url) = &*item.resource;
        item.batch.write_request(resource, schema_url, dst);
        Ok(())
    }
}

impl tonic::codec::Decoder for BatchCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("undecodable collector answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::{
        collector::trace::v1::ExportTraceServiceRequest, trace::v1 as proto,
    };

    use super::*;

    #[test]
    fn a_collector_that_never_answers_holds_shutdown_for_one_timeout() {
        use opentelemetry::trace::{Tracer as _, TracerProvider as _};

        // Connections queue in the listener's backlog and never get an answer.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let timeout = Duration::from_millis(500);
        let address = silent.local_addr().unwrap();
        for (protocol, endpoint) in [
            (
                Protocol::HttpProtobuf,
                format!("http://{address}/v1/traces"),
            ),
            (Protocol::Grpc, format!("http://{address}")),
        ] {
            let config = ExportConfig {
                protocol,
                endpoint,
                timeout,
                headers: http::HeaderMap::new(),
                schedule_delay: Duration::from_secs(60),
                max_queue: 100,
                max_batch: 2,
            };
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_span_processor(OtlpProcessor::new(config).unwrap())
                .build();
            let tracer = provider.tracer("test");
            // Four batches; the first one or two go out (and hang) before shutdown.
            for _ in 0..8 {
                tracer.in_span("work", |_| {});
            }

            let started = Instant::now();
            provider.shutdown().unwrap();

            // A timeout per batch would be 4 x 500 ms, plus the one sending when shutdown came.
            assert!(
                started.elapsed() < timeout * 3,
                "{protocol:?}: shutdown took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn an_http_export_posts_the_batch_and_gives_its_buffers_back() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let received = Arc::new(Mutex::new(Vec::new()));
            let keep = Arc::clone(&received);
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: Bytes| async move {
                    lock(&keep).push(body);
                    ExportTraceServiceResponse::default().encode_to_vec()
                }),
            );
            tokio::spawn(async move { axum::serve(listener, app).await });

            let scope = InstrumentationScope::builder("api").build();
            let mut run = Batch::default();
            for name in ["a", "b"] {
                let span = proto::Span {
                    name: name.into(),
                    ..Default::default()
                };
                prost::encoding::message::encode(SCOPE_SPANS_SPANS, &span, run.buffer(&scope));
                run.spans += 1;
            }
            let mut batch = Batch::default();
            batch.append(&mut run, &mut Vec::new());
            let batch = Arc::new(batch);
            let mut client = HttpClient::new(
                &format!("http://{address}/v1/traces"),
                http::HeaderMap::new(),
                Duration::from_secs(5),
            )
            .unwrap();

            client.export(|| http_body(&batch, &[], "")).await.unwrap();

            assert_eq!(
                Arc::strong_count(&batch),
                1,
                "every part of the body is dropped once sent: the runs can go back to the threads"
            );
            let bodies = lock(&received).clone();
            assert_eq!(bodies.len(), 1);
            let request = ExportTraceServiceRequest::decode(bodies[0].clone()).unwrap();
            let names: Vec<&str> = request.resource_spans[0].scope_spans[0]
                .spans
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            assert_eq!(names, ["a", "b"]);
        });
    }

    #[test]
    fn the_endpoint_follows_the_protocol_and_the_variable_it_came_from() {
        let url = |s: &str| Some(s.to_owned());
        let http = Protocol::HttpProtobuf;
        assert_eq!(
            endpoint(http, None, None),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            endpoint(http, None, url("http://collector:4318/")),
            "http://collector:4318/v1/traces",
            "a base URL gets the signal's path"
        );
        assert_eq!(
            endpoint(http, url("http://c:9/custom"), url("http://other:1")),
            "http://c:9/custom",
            "the traces variable is the whole URL, and wins"
        );
        assert_eq!(
            endpoint(Protocol::Grpc, None, None),
            "http://localhost:4317"
        );
        assert_eq!(
            endpoint(Protocol::Grpc, None, url("http://collector:4317")),
            "http://collector:4317"
        );
    }

    fn sampled_span() -> SpanData {
        use opentelemetry::trace::{
            SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
        };
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(2),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "work".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: opentelemetry_sdk::trace::SpanEvents::default(),
            links: opentelemetry_sdk::trace::SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[test]
    fn threads_hand_off_runs_and_what_they_still_hold_is_collected() {
        let sink = SpanSink::new(1_000, 100);
        // Joined, not scoped: a join waits for the thread's locals to be destroyed too.
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let span = sampled_span();
                    for _ in 0..HAND_OFF_SPANS + 6 {
                        sink.push(&span.instrumentation_scope, &SpanView::from(&span));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let span = sampled_span();
        {
            let q = sink.shared.lock();
            assert_eq!(
                q.queued,
                3 * HAND_OFF_SPANS,
                "one run per thread handed off"
            );
            assert!(
                q.full.iter().all(|b| b.spans <= 100),
                "batches stay within the maximum"
            );
        }
        // The threads have exited; their last spans are still collected, and then forgotten.
        sink.shared.collect_runs();
        assert_eq!(sink.shared.lock().queued, 3 * (HAND_OFF_SPANS + 6));
        assert!(lock(&sink.shared.runs).is_empty());
        let queued: usize = {
            let q = sink.shared.lock();
            q.full.iter().chain([&q.current]).map(|b| b.spans).sum()
        };
        assert_eq!(queued, 3 * (HAND_OFF_SPANS + 6), "no span lost on the way");

        // At shutdown what runs hold still goes out; a span that comes later is dropped and
        // counted, not left in a run.
        for _ in 0..5 {
            sink.push(&span.instrumentation_scope, &SpanView::from(&span));
        }
        sink.shared.closed.store(true, Ordering::Release);
        sink.push(&span.instrumentation_scope, &SpanView::from(&span));
        sink.shared.collect_runs();
        let q = sink.shared.lock();
        assert_eq!(q.queued, 3 * (HAND_OFF_SPANS + 6) + 5);
        assert_eq!(q.dropped, 1);
    }

    #[test]
    fn a_full_queue_drops_whole_runs_and_counts_them() {
        let sink = SpanSink::new(HAND_OFF_SPANS, 512);
        let span = sampled_span();
        for _ in 0..3 * HAND_OFF_SPANS {
            sink.push(&span.instrumentation_scope, &SpanView::from(&span));
        }
        let q = sink.shared.lock();
        assert_eq!(
            (q.queued, q.dropped),
            (HAND_OFF_SPANS, 2 * HAND_OFF_SPANS as u64)
        );
    }

    #[test]
    fn lost_spans_are_reported_once_per_interval_and_at_the_end() {
        let mut lost = Lost::default();
        assert!(!lost.report("http://collector", false), "nothing lost yet");
        lost.failed += 512;
        assert!(lost.report("http://collector", false));
        lost.failed += 512;
        lost.queue_full += 3;
        assert!(
            !lost.report("http://collector", false),
            "within the interval"
        );
        assert!(
            lost.report("http://collector", true),
            "the last report always goes out"
        );
        assert_eq!(lost.failed + lost.queue_full, 0);
    }

    #[test]
    fn headers_are_url_decoded() {
        assert_eq!(percent_decode("Basic%20dXNlcjpwYXNz"), "Basic dXNlcjpwYXNz");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn a_batch_is_a_request_the_collector_decodes() {
        let api = InstrumentationScope::builder("api")
            .with_version("1")
            .build();
        let other = InstrumentationScope::builder("other")
            .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
            .build();
        let span = |name: &str| proto::Span {
            name: name.into(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        let encoded = |name: &str| {
            let mut out = Vec::new();
            prost::encoding::message::encode(SCOPE_SPANS_SPANS, &span(name), &mut out);
            out
        };
        // Spans reach a batch in threads' runs, appended whole.
        let mut run = Batch::default();
        let add = |run: &mut Batch, scope, name| {
            run.buffer(scope).extend_from_slice(&encoded(name));
            run.spans += 1;
        };
        let mut batch = Batch::default();
        let mut spare = vec![Vec::with_capacity(7)];
        add(&mut run, &api, "a");
        add(&mut run, &other, "b");
        batch.append(&mut run, &mut spare);
        assert!(spare.is_empty(), "the spare buffer went back to the run");
        assert_eq!(run.spans, 0);
        assert!(
            run.scopes
                .iter()
                .flat_map(|s| &s.runs)
                .all(|b| b.is_empty() && b.capacity() > 0),
            "the run is left empty buffers to encode into"
        );
        add(&mut run, &api, "c");
        batch.append(&mut run, &mut spare);
        assert_eq!(batch.spans, 3);
        let resource = resource::Resource {
            attributes: vec![common::KeyValue {
                key: "service.name".into(),
                value: Some(common::AnyValue {
                    value: Some(common::any_value::Value::StringValue("api".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };

        /// The request as written, and the runs that came whole.
        #[derive(Default)]
        struct Written {
            bytes: Vec<u8>,
            reserved: usize,
            runs: Vec<(usize, usize)>,
        }
        impl RequestOut for Written {
            fn reserve(&mut self, len: usize) {
                self.reserved = len;
            }
            fn put(&mut self, bytes: &[u8]) {
                self.bytes.extend_from_slice(bytes);
            }
            fn put_run(&mut self, scope: usize, run: usize, bytes: &[u8]) {
                self.runs.push((scope, run));
                self.bytes.extend_from_slice(bytes);
            }
        }
        let mut written = Written::default();
        batch.write_request(
            &resource.encode_to_vec(),
            "https://opentelemetry.io/schemas/1.26.0",
            &mut written,
        );
        let Written {
            bytes,
            reserved,
            runs,
        } = written;
        assert_eq!(runs, [(0, 0), (0, 1), (1, 0)], "every run, in order, whole");
        let request = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();

        assert_eq!(request.resource_spans.len(), 1);
        let rs = &request.resource_spans[0];
        assert_eq!(rs.resource.as_ref(), Some(&resource));
        assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.26.0");
        let scopes: Vec<(&str, &str, Vec<&str>)> = rs
            .scope_spans
            .iter()
            .map(|s| {
                let scope = s.scope.as_ref().unwrap();
                (
                    scope.name.as_str(),
                    scope.version.as_str(),
                    s.spans.iter().map(|sp| sp.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            scopes,
            [("api", "1", vec!["a", "c"]), ("other", "", vec!["b"])]
        );
        assert_eq!(rs.scope_spans[0].spans[0], span("a"));
        assert_eq!(
            (
                rs.scope_spans[0].schema_url.as_str(),
                rs.scope_spans[1].schema_url.as_str()
            ),
            ("", "https://opentelemetry.io/schemas/1.30.0")
        );
        // The lengths written up front are the lengths of what follows, to the byte.
        assert_eq!(bytes.len(), request.encoded_len());
        assert_eq!(
            reserved,
            bytes.len(),
            "the buffer is reserved at the request's size"
        );
    }
}
